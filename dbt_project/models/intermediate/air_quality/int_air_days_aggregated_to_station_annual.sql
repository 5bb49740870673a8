-- One row per station, pollutant and calendar year (of the local date), with the completeness
-- rule applied and explained. A station-year counts as an annual mean only when
--   * at least var('min_valid_day_share') of the days in the year are valid days, AND
--   * every calendar quarter has at least var('min_valid_day_share_per_quarter') of its days valid
--     (no season missing: a year measured only from March on, or only in January and February,
--     is not an annual mean however many days it has).
-- Station-years below the rule are kept, with the reason in completeness_issue.

with

days as (

    select * from {{ ref('int_air_readings_aggregated_to_daily') }}

),

dated as (

    select
        station_key,
        source_name,
        station_id,
        city_id,
        pollutant,
        cast(extract(year from local_date) as integer) as measurement_year,
        cast(extract(quarter from local_date) as integer) as measurement_quarter,
        is_valid_day,
        daily_mean_concentration

    from days

),

aggregated as (

    select
        station_key,
        source_name,
        station_id,
        city_id,
        pollutant,
        measurement_year,
        count(*) as reported_day_count,
        count(case when is_valid_day then 1 end) as valid_day_count,
        count(case when is_valid_day and measurement_quarter = 1 then 1 end) as q1_valid_day_count,
        count(case when is_valid_day and measurement_quarter = 2 then 1 end) as q2_valid_day_count,
        count(case when is_valid_day and measurement_quarter = 3 then 1 end) as q3_valid_day_count,
        count(case when is_valid_day and measurement_quarter = 4 then 1 end) as q4_valid_day_count,
        avg(case when is_valid_day then daily_mean_concentration end) as annual_mean_concentration

    from dated
    group by
        station_key,
        source_name,
        station_id,
        city_id,
        pollutant,
        measurement_year

),

leap_years as (

    select
        *,
        case
            when
                mod(measurement_year, 4) = 0
                and (mod(measurement_year, 100) != 0 or mod(measurement_year, 400) = 0)
                then 1
            else 0
        end as leap_day_count

    from aggregated

),

quarter_lengths as (

    -- Days per calendar quarter: Q1 90 (91 in a leap year), Q2 91, Q3 92, Q4 92.
    select
        *,
        91 as q2_day_count,
        92 as q3_day_count,
        92 as q4_day_count,
        365 + leap_day_count as days_in_year,
        90 + leap_day_count as q1_day_count

    from leap_years

),

shares as (

    select
        *,
        cast(valid_day_count as {{ type_double() }}) / days_in_year as valid_day_share,
        cast(q1_valid_day_count as {{ type_double() }}) / q1_day_count as q1_valid_day_share,
        cast(q2_valid_day_count as {{ type_double() }}) / q2_day_count as q2_valid_day_share,
        cast(q3_valid_day_count as {{ type_double() }}) / q3_day_count as q3_valid_day_share,
        cast(q4_valid_day_count as {{ type_double() }}) / q4_day_count as q4_valid_day_share

    from quarter_lengths

),

rules as (

    select
        *,
        valid_day_share >= {{ var('min_valid_day_share') }} as meets_annual_share_rule,
        q1_valid_day_share >= {{ var('min_valid_day_share_per_quarter') }} as q1_meets_rule,
        q2_valid_day_share >= {{ var('min_valid_day_share_per_quarter') }} as q2_meets_rule,
        q3_valid_day_share >= {{ var('min_valid_day_share_per_quarter') }} as q3_meets_rule,
        q4_valid_day_share >= {{ var('min_valid_day_share_per_quarter') }} as q4_meets_rule

    from shares

),

quarter_issues as (

    select
        *,
        case
            when not q1_meets_rule then 'Q1 only ' || {{ percent_text('q1_valid_day_share') }} || '% covered'
        end as q1_issue,
        case
            when not q2_meets_rule then 'Q2 only ' || {{ percent_text('q2_valid_day_share') }} || '% covered'
        end as q2_issue,
        case
            when not q3_meets_rule then 'Q3 only ' || {{ percent_text('q3_valid_day_share') }} || '% covered'
        end as q3_issue,
        case
            when not q4_meets_rule then 'Q4 only ' || {{ percent_text('q4_valid_day_share') }} || '% covered'
        end as q4_issue

    from rules

),

explained as (

    select
        *,
        meets_annual_share_rule
        and q1_meets_rule
        and q2_meets_rule
        and q3_meets_rule
        and q4_meets_rule as meets_completeness_rule,
        case
            when not meets_annual_share_rule
                then
                    {{ percent_text('valid_day_share') }}
                    || '% valid days (rule: {{ rule_percent("min_valid_day_share") }}%)'
        end as annual_share_issue,
        case
            when not (q1_meets_rule and q2_meets_rule and q3_meets_rule and q4_meets_rule)
                -- "Q1 only 10% covered, Q2 only 0% covered (rule: 50% each quarter)"
                then substring(
                    coalesce(', ' || q1_issue, '')
                    || coalesce(', ' || q2_issue, '')
                    || coalesce(', ' || q3_issue, '')
                    || coalesce(', ' || q4_issue, ''),
                    3
                )
                || ' (rule: {{ rule_percent("min_valid_day_share_per_quarter") }}% each quarter)'
        end as quarter_coverage_issue

    from quarter_issues

)

select
    station_key,
    source_name,
    station_id,
    city_id,
    pollutant,
    measurement_year,
    days_in_year,
    reported_day_count,
    valid_day_count,
    valid_day_share,
    q1_day_count,
    q1_valid_day_count,
    q1_valid_day_share,
    q2_day_count,
    q2_valid_day_count,
    q2_valid_day_share,
    q3_day_count,
    q3_valid_day_count,
    q3_valid_day_share,
    q4_day_count,
    q4_valid_day_count,
    q4_valid_day_share,
    annual_mean_concentration,
    meets_completeness_rule,
    case
        when annual_share_issue is not null and quarter_coverage_issue is not null
            then annual_share_issue || '; ' || quarter_coverage_issue
        else coalesce(annual_share_issue, quarter_coverage_issue)
    end as completeness_issue

from explained
