-- One row per practice, targeted indicator and period (month, or year for annual-only
-- indicators): the city's value against its synthetic counterfactual, split at the practice's
-- start so that a chart marks it (actual_before_start / actual_from_start). The city's values are
-- there even when the estimate is 'insufficient' (synthetic_value is then NULL).

with

series as (

    select * from {{ ref('int_practice_impacts_estimated') }}
    where row_kind = 'series'

),

estimates as (

    select * from {{ ref('int_practice_impacts_estimated') }}
    where row_kind = 'estimate'

),

cities as (

    select * from {{ ref('dim_city') }}

)

select
    cast(series.practice_id as varchar) as practice_id,
    cast(series.indicator_code as varchar) as indicator_code,
    cast(series.city_id as varchar) as city_id,
    cast(cities.city_name as varchar) as city_name,
    cast(estimates.grain as varchar) as grain,
    cast(series.start_date as date) as start_date,
    cast(series.period_start as date) as period_start,
    cast(series.is_post as boolean) as is_post,
    cast(series.actual_value as {{ type_double() }}) as actual_value,
    cast(series.synthetic_value as {{ type_double() }}) as synthetic_value,
    cast(series.actual_value - series.synthetic_value as {{ type_double() }}) as gap,
    cast(case when not series.is_post then series.actual_value end as {{ type_double() }}) as actual_before_start,
    cast(case when series.is_post then series.actual_value end as {{ type_double() }}) as actual_from_start,
    cast(estimates.evidence_grade as varchar) as evidence_grade

from series
inner join estimates
    on
        series.practice_id = estimates.practice_id
        and series.indicator_code = estimates.indicator_code
left join cities
    on series.city_id = cities.city_id
