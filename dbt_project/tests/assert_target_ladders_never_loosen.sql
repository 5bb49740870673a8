-- A stricter rung of a target ladder must never have a higher threshold than a looser one, and
-- ranks run 1..n without gaps: fct_city_indicator_annual finds the next target at rank + 1.

with

targets as (

    select * from {{ ref('dim_indicator_target') }}

),

ranked as (

    select
        indicator_code,
        target_code,
        threshold,
        strictness_rank,
        lag(threshold) over (
            partition by indicator_code order by strictness_rank
        ) as looser_threshold,
        row_number() over (
            partition by indicator_code order by strictness_rank
        ) as position_on_ladder

    from targets

)

select *
from ranked
where
    threshold > looser_threshold
    or strictness_rank != position_on_ladder
