-- One row per practice, targeted indicator and candidate donor city: the cities a synthetic
-- control of the practice's city may be built from, and whether each one is eligible.
-- The rule (docs/architecture.md "Practice impact estimates"):
--   * candidates are the city's similar cities (all of its fct_city_peers rows) and the other
--     cities of its peer group (dim_city_peer_group: size class x income group), so that the
--     counterfactual is made of cities an official would accept as comparable;
--   * a candidate is not eligible when it adopted a practice of the same category whose active
--     period overlaps var('practice_window_months') months before or after the practice's start:
--     its own practice would bias the counterfactual. Such rows are kept with the reason.
-- Whether a donor has the data (a valid value in every period of the fit) is decided by the
-- estimator, which reports how many candidates it dropped for that.
-- This model reads the published peer marts so that the donors are the peers an official sees.

with

practices as (

    select * from {{ ref('stg_practices__practices') }}

),

practice_indicators as (

    select * from {{ ref('stg_practices__practice_indicators') }}

),

peers as (

    select * from {{ ref('fct_city_peers') }}

),

peer_groups as (

    select * from {{ ref('dim_city_peer_group') }}

),

similar_city_candidates as (

    select
        practices.practice_id,
        peers.peer_city_id as donor_city_id,
        true as is_similar_city,
        false as is_in_peer_group

    from practices
    inner join peers
        on practices.city_id = peers.city_id

),

peer_group_candidates as (

    select
        practices.practice_id,
        members.city_id as donor_city_id,
        false as is_similar_city,
        true as is_in_peer_group

    from practices
    inner join peer_groups as own_group
        on practices.city_id = own_group.city_id
    inner join peer_groups as members
        on
            own_group.peer_group_id = members.peer_group_id
            and own_group.city_id != members.city_id

),

candidates as (

    select
        practice_id,
        donor_city_id,
        {{ dbt.bool_or('is_similar_city') }} as is_similar_city,
        {{ dbt.bool_or('is_in_peer_group') }} as is_in_peer_group

    from (
        select * from similar_city_candidates
        union all
        select * from peer_group_candidates
    ) as unioned
    group by
        practice_id,
        donor_city_id

),

-- Same-category practices of other cities active within the window around the start.
same_category_adoptions as (

    select
        treated.practice_id,
        adopter.city_id as donor_city_id,
        min(adopter.practice_id) as blocking_practice_id,
        min(adopter.start_date) as blocking_start_date

    from practices as treated
    inner join practices as adopter
        on
            treated.category = adopter.category
            and treated.city_id != adopter.city_id
            and adopter.start_date
            < {{ dbt.dateadd('month', var('practice_window_months'), 'treated.start_date') }}
            and coalesce(
                adopter.end_date,
                {{ dbt.dateadd('month', var('practice_window_months'), 'treated.start_date') }}
            )
            >= {{ dbt.dateadd('month', -1 * var('practice_window_months'), 'treated.start_date') }}
    group by
        treated.practice_id,
        adopter.city_id

)

select
    practice_indicators.practice_id,
    practice_indicators.indicator_code,
    practices.city_id,
    practices.category,
    candidates.donor_city_id,
    candidates.is_similar_city,
    candidates.is_in_peer_group,
    same_category_adoptions.blocking_practice_id is null as is_eligible,
    case
        when same_category_adoptions.blocking_practice_id is not null
            then
                'adopted a practice of the same category (' || practices.category || ', '
                || same_category_adoptions.blocking_practice_id || ' from '
                || cast(same_category_adoptions.blocking_start_date as varchar)
                || ') within {{ var("practice_window_months") }} months of the start'
    end as exclusion_reason

from practice_indicators
inner join practices
    on practice_indicators.practice_id = practices.practice_id
inner join candidates
    on practice_indicators.practice_id = candidates.practice_id
left join same_category_adoptions
    on
        candidates.practice_id = same_category_adoptions.practice_id
        and candidates.donor_city_id = same_category_adoptions.donor_city_id
