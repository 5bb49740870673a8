with

indicators as (

    select * from {{ ref('indicators') }}

),

targets as (

    select * from {{ ref('indicator_targets') }}

),

reference_thresholds as (

    select
        indicator_code,
        max(case when target_code = 'who_2021_aqg' then threshold end) as who_2021_guideline,
        max(case when target_code = 'eu_2030_limit' then threshold end) as eu_2030_limit

    from targets
    group by indicator_code

)

select
    cast(indicators.indicator_code as varchar) as indicator_code,
    cast(indicators.domain as varchar) as domain,
    cast(indicators.indicator_name as varchar) as indicator_name,
    cast(indicators.pollutant as varchar) as pollutant,
    cast(indicators.canonical_unit as varchar) as canonical_unit,
    cast(indicators.unit_label as varchar) as unit_label,
    cast(indicators.direction as varchar) as direction,
    cast(indicators.normalised_by as varchar) as normalised_by,
    cast(indicators.is_scored as boolean) as is_scored,
    cast(indicators.score_optimum as {{ type_double() }}) as score_optimum,
    cast(indicators.score_green_threshold as {{ type_double() }}) as score_green_threshold,
    cast(indicators.score_red_threshold as {{ type_double() }}) as score_red_threshold,
    cast(indicators.score_lower_bound as {{ type_double() }}) as score_lower_bound,
    cast(indicators.plausible_min as {{ type_double() }}) as plausible_min,
    cast(indicators.plausible_max as {{ type_double() }}) as plausible_max,
    cast(indicators.iso37120_clause as varchar) as iso37120_clause,
    cast(indicators.sdg11_indicator as varchar) as sdg11_indicator,
    cast(reference_thresholds.who_2021_guideline as {{ type_double() }}) as who_2021_guideline,
    cast(reference_thresholds.eu_2030_limit as {{ type_double() }}) as eu_2030_limit

from indicators
left join reference_thresholds
    on indicators.indicator_code = reference_thresholds.indicator_code
