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
    cast(indicators.direction as varchar) as direction,
    cast(indicators.iso37120_clause as varchar) as iso37120_clause,
    cast(indicators.sdg11_indicator as varchar) as sdg11_indicator,
    cast(reference_thresholds.who_2021_guideline as {{ type_double() }}) as who_2021_guideline,
    cast(reference_thresholds.eu_2030_limit as {{ type_double() }}) as eu_2030_limit

from indicators
left join reference_thresholds
    on indicators.indicator_code = reference_thresholds.indicator_code
