-- One row per practice, targeted indicator and candidate donor city: why it was a candidate
-- (similar city, peer group), whether it was eligible (and why not), its weight in the synthetic
-- control, and its placebo ratio (its own post/pre RMSPE ratio when treated as if it had adopted
-- the practice): the placebo distribution the p-value ranks the city in.

with

donors as (

    select * from {{ ref('int_practice_impacts_estimated') }}
    where row_kind = 'donor'

),

pools as (

    select * from {{ ref('int_practice_donor_pools') }}

),

cities as (

    select * from {{ ref('dim_city') }}

)

select
    cast(donors.practice_id as varchar) as practice_id,
    cast(donors.indicator_code as varchar) as indicator_code,
    cast(donors.city_id as varchar) as city_id,
    cast(donors.donor_city_id as varchar) as donor_city_id,
    cast(cities.city_name as varchar) as donor_city_name,
    cast(pools.is_similar_city as boolean) as is_similar_city,
    cast(pools.is_in_peer_group as boolean) as is_in_peer_group,
    cast(donors.is_eligible as boolean) as is_eligible,
    cast(donors.exclusion_reason as varchar) as exclusion_reason,
    cast(donors.left_out_reason as varchar) as left_out_reason,
    cast(donors.donor_weight as {{ type_double() }}) as donor_weight,
    cast(donors.placebo_ratio as {{ type_double() }}) as placebo_ratio

from donors
left join pools
    on
        donors.practice_id = pools.practice_id
        and donors.indicator_code = pools.indicator_code
        and donors.donor_city_id = pools.donor_city_id
left join cities
    on donors.donor_city_id = cities.city_id
