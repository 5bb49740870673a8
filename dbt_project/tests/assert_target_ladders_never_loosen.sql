-- A stricter rung of a target ladder must never be looser than the rung below it (a higher threshold
-- for lower_is_better indicators, a lower one for higher_is_better indicators), and
-- ranks run 1..n without gaps: fct_city_indicator_annual finds the next target at rank + 1.

with

targets as (

    select * from {{ ref('dim_indicator_target') }}

),

indicators as (

    select * from {{ ref('dim_indicator') }}

),

ranked as (

    select
        targets.indicator_code,
        targets.target_code,
        targets.threshold,
        targets.strictness_rank,
        indicators.direction,
        lag(targets.threshold) over (
            partition by targets.indicator_code order by targets.strictness_rank
        ) as looser_threshold,
        row_number() over (
            partition by targets.indicator_code order by targets.strictness_rank
        ) as position_on_ladder

    from targets
    inner join indicators
        on targets.indicator_code = indicators.indicator_code

)

select *
from ranked
where
    (direction = 'lower_is_better' and threshold > looser_threshold)
    or (direction = 'higher_is_better' and threshold < looser_threshold)
    or strictness_rank != position_on_ladder
