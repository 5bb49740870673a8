-- One row per practice and targeted indicator: the estimated effect against a synthetic control
-- of the practice's city, always with its uncertainty (interval, pre-period fit, placebo p-value)
-- and an evidence grade from written rules (docs/architecture.md "Evidence grades"). Too little
-- data is the grade 'insufficient' with the reason, and no number.

with

estimates as (

    select * from {{ ref('int_practice_impacts_estimated') }}
    where row_kind = 'estimate'

),

donors as (

    select * from {{ ref('int_practice_impacts_estimated') }}
    where row_kind = 'donor' and donor_weight > 0

),

practices as (

    select * from {{ ref('dim_practice') }}

),

indicators as (

    select * from {{ ref('dim_indicator') }}

),

cities as (

    select * from {{ ref('dim_city') }}

),

donor_lists as (

    select
        donors.practice_id,
        donors.indicator_code,
        {{ ordered_string_agg(
            "coalesce(cities.city_name, donors.donor_city_id) || ' ' || cast(round(donors.donor_weight, 2) as varchar)",
            'donors.donor_weight desc, donors.donor_city_id',
            '; '
        ) }} as donors

    from donors
    left join cities
        on donors.donor_city_id = cities.city_id
    group by
        donors.practice_id,
        donors.indicator_code

),

described as (

    select
        estimates.*,
        practices.city_name,
        practices.title,
        practices.domain,
        practices.category,
        practices.category_name,
        practices.is_demo,
        indicators.indicator_name,
        indicators.canonical_unit as unit,
        indicators.direction,
        {{ indicator_short_label('indicators.pollutant', 'indicators.indicator_name') }} as indicator_label,
        donor_lists.donors

    from estimates
    inner join practices
        on estimates.practice_id = practices.practice_id
    left join indicators
        on estimates.indicator_code = indicators.indicator_code
    left join donor_lists
        on
            estimates.practice_id = donor_lists.practice_id
            and estimates.indicator_code = donor_lists.indicator_code

)

select
    cast(practice_id as varchar) as practice_id,
    cast(city_id as varchar) as city_id,
    cast(city_name as varchar) as city_name,
    cast(title as varchar) as title,
    cast(domain as varchar) as domain,
    cast(category as varchar) as category,
    cast(category_name as varchar) as category_name,
    cast(indicator_code as varchar) as indicator_code,
    cast(indicator_name as varchar) as indicator_name,
    cast(unit as varchar) as unit,
    cast(direction as varchar) as direction,
    cast(start_date as date) as start_date,
    cast(grain as varchar) as grain,
    cast(pre_points as integer) as pre_points,
    cast(post_points as integer) as post_points,
    cast(candidate_donor_count as integer) as candidate_donor_count,
    cast(donor_count as integer) as donor_count,
    cast(donors as varchar) as donors,
    cast(effect as {{ type_double() }}) as effect,
    cast(effect_lower as {{ type_double() }}) as effect_lower,
    cast(effect_upper as {{ type_double() }}) as effect_upper,
    cast(effect_pct as {{ type_double() }}) as effect_pct,
    cast(effect_pct_lower as {{ type_double() }}) as effect_pct_lower,
    cast(effect_pct_upper as {{ type_double() }}) as effect_pct_upper,
    cast(interval_method as varchar) as interval_method,
    cast(interval_level as {{ type_double() }}) as interval_level,
    cast(effect_pct_by_post_year as varchar) as effect_pct_by_post_year,
    cast(pre_rmspe as {{ type_double() }}) as pre_rmspe,
    cast(pre_rmspe_pct as {{ type_double() }}) as pre_rmspe_pct,
    cast(post_pre_rmspe_ratio as {{ type_double() }}) as post_pre_rmspe_ratio,
    cast(placebo_p_value as {{ type_double() }}) as placebo_p_value,
    cast(placebo_count as integer) as placebo_count,
    cast(evidence_grade as varchar) as evidence_grade,
    cast(grade_reason as varchar) as grade_reason,
    -- "-15% NO2 (-19% to -11%), moderate evidence" or "evidence insufficient"
    cast(
        case
            when evidence_grade = 'insufficient' or effect_pct is null then 'evidence insufficient'
            else
                {{ signed_percent_text('effect_pct') }} || ' ' || indicator_label || ' ('
                || {{ signed_percent_text('effect_pct_lower') }} || ' to '
                || {{ signed_percent_text('effect_pct_upper') }} || '), ' || evidence_grade || ' evidence'
        end
        as varchar
    ) as effect_summary,
    cast(is_demo as boolean) as is_demo

from described
