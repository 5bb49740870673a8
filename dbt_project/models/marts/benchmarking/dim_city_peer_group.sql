-- One row per city: its peer group, population size class x income group (DESIGN.md "Peer groups").
-- A city without a population is in size class 'unknown', without an income group in income 'unknown';
-- it still gets a peer group (e.g. unknown__high) so that it is benchmarked and flagged, never dropped.

with

cities as (

    select * from {{ ref('dim_city') }}

),

classified as (

    select
        city_id,
        city_name,
        population,
        {{ population_size_class('population') }} as population_size_class,
        coalesce(income_group, 'unknown') as income_group

    from cities

),

grouped as (

    select
        city_id,
        city_name,
        population,
        population_size_class,
        income_group,
        population_size_class || '__' || income_group as peer_group_id,
        {{ population_size_class_label('population_size_class') }} || ', ' || income_group || ' income'
            as peer_group_label

    from classified

)

select
    cast(city_id as varchar) as city_id,
    cast(city_name as varchar) as city_name,
    cast(population as bigint) as population,
    cast(population_size_class as varchar) as population_size_class,
    cast(income_group as varchar) as income_group,
    cast(peer_group_id as varchar) as peer_group_id,
    cast(peer_group_label as varchar) as peer_group_label,
    cast(count(*) over (partition by peer_group_id) as integer) as peer_group_city_count

from grouped
