-- One row per station, pollutant and calendar month (of the local date), with the completeness
-- rule applied and explained. A station-month counts as a monthly mean only when at least
-- var('min_valid_day_share_per_month') of the month's days are valid days (each with at least
-- var('min_valid_hours_per_day') valid hours). Station-months below the rule are kept, with the
-- reason in completeness_issue. Monthly means are what the practice impact estimates are fitted
-- on: an effect shows within months, and a few annual points cannot separate it from noise.

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
        {{ month_start_date('local_date') }} as month_start,
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
        month_start,
        count(*) as reported_day_count,
        count(case when is_valid_day then 1 end) as valid_day_count,
        avg(case when is_valid_day then daily_mean_concentration end) as monthly_mean_concentration

    from dated
    group by
        station_key,
        source_name,
        station_id,
        city_id,
        pollutant,
        month_start

),

month_lengths as (

    select
        *,
        {{ days_in_month('month_start') }} as days_in_month

    from aggregated

),

shares as (

    select
        *,
        cast(valid_day_count as {{ type_double() }}) / days_in_month as valid_day_share

    from month_lengths

)

select
    station_key,
    source_name,
    station_id,
    city_id,
    pollutant,
    month_start,
    cast(extract(year from month_start) as integer) as measurement_year,
    cast(extract(month from month_start) as integer) as measurement_month,
    days_in_month,
    reported_day_count,
    valid_day_count,
    valid_day_share,
    monthly_mean_concentration,
    valid_day_share >= {{ var('min_valid_day_share_per_month') }} as meets_completeness_rule,
    case
        when valid_day_share < {{ var('min_valid_day_share_per_month') }}
            then
                {{ percent_text('valid_day_share') }}
                || '% valid days (rule: {{ rule_percent("min_valid_day_share_per_month") }}%)'
    end as completeness_issue

from shares
