-- For each city, its k most similar cities (var peer_count, default 8) by Gower distance over
-- log population, log density, log GDP per capita (numeric: |a - b| / range over all cities) and
-- climate zone and region (categorical: 0 same, 1 different).
-- A feature missing on either side is left out of that pair's mean; a pair sharing no feature has
-- no distance and is never a peer, so a city with no context at all has no peers (and is nobody's).
-- Equal distances are ordered by peer city_id, so the k kept are deterministic.

with

cities as (

    select * from {{ ref('dim_city') }}

),

features as (

    select
        city_id,
        city_name,
        population,
        population_density,
        gdp_per_capita_ppp,
        climate_zone,
        region,
        case when population > 0 then {{ natural_log('population') }} end as log_population,
        case when population_density > 0 then {{ natural_log('population_density') }} end as log_density,
        case when gdp_per_capita_ppp > 0 then {{ natural_log('gdp_per_capita_ppp') }} end as log_gdp

    from cities

),

feature_ranges as (

    select
        max(log_population) - min(log_population) as population_range,
        max(log_density) - min(log_density) as density_range,
        max(log_gdp) - min(log_gdp) as gdp_range

    from features

),

-- Per-feature distances in [0, 1]; NULL when the feature is missing on either side. A numeric
-- feature with a range of 0 (every city equal) contributes 0, never a division by zero.
feature_distances as (

    select
        city.city_id,
        city.city_name,
        peer.city_id as peer_city_id,
        peer.city_name as peer_city_name,
        city.population,
        peer.population as peer_population,
        city.population_density,
        peer.population_density as peer_population_density,
        city.gdp_per_capita_ppp,
        peer.gdp_per_capita_ppp as peer_gdp_per_capita_ppp,
        city.climate_zone,
        peer.climate_zone as peer_climate_zone,
        city.region,
        peer.region as peer_region,
        case
            when city.log_population is not null and peer.log_population is not null
                then
                    coalesce(
                        abs(city.log_population - peer.log_population) / nullif(feature_ranges.population_range, 0), 0
                    )
        end as population_distance,
        case
            when city.log_density is not null and peer.log_density is not null
                then coalesce(abs(city.log_density - peer.log_density) / nullif(feature_ranges.density_range, 0), 0)
        end as density_distance,
        case
            when city.log_gdp is not null and peer.log_gdp is not null
                then coalesce(abs(city.log_gdp - peer.log_gdp) / nullif(feature_ranges.gdp_range, 0), 0)
        end as gdp_distance,
        case
            when city.climate_zone is not null and peer.climate_zone is not null
                then case when city.climate_zone = peer.climate_zone then 0.0 else 1.0 end
        end as climate_distance,
        case
            when city.region is not null and peer.region is not null
                then case when city.region = peer.region then 0.0 else 1.0 end
        end as region_distance

    from features as city
    inner join features as peer
        on city.city_id <> peer.city_id
    cross join feature_ranges

),

pair_distances as (

    select
        *,
        (case when population_distance is null then 0 else 1 end)
        + (case when density_distance is null then 0 else 1 end)
        + (case when gdp_distance is null then 0 else 1 end)
        + (case when climate_distance is null then 0 else 1 end)
        + (case when region_distance is null then 0 else 1 end) as shared_feature_count,
        coalesce(population_distance, 0)
        + coalesce(density_distance, 0)
        + coalesce(gdp_distance, 0)
        + coalesce(climate_distance, 0)
        + coalesce(region_distance, 0) as distance_sum

    from feature_distances

),

ranked as (

    select
        *,
        distance_sum / shared_feature_count as gower_distance,
        row_number() over (
            partition by city_id
            order by distance_sum / shared_feature_count, peer_city_id
        ) as peer_rank

    from pair_distances
    where shared_feature_count > 0

),

nearest as (

    select * from ranked
    where peer_rank <= {{ var('peer_count', 8) }}

),

-- Why two cities are peers: the features on which they are close (numeric distance at most
-- var peer_similar_feature_distance, default 0.1 of the range) or the same.
reasons as (

    select
        *,
        case
            when population_distance <= {{ var('peer_similar_feature_distance', 0.1) }}
                then
                    'similar size (' || {{ compact_number('population') }} || ' vs '
                    || {{ compact_number('peer_population') }} || ')'
        end as size_reason,
        case
            when density_distance <= {{ var('peer_similar_feature_distance', 0.1) }}
                then
                    'similar density (' || {{ compact_number('population_density') }} || ' vs '
                    || {{ compact_number('peer_population_density') }} || ' per km²)'
        end as density_reason,
        case
            when gdp_distance <= {{ var('peer_similar_feature_distance', 0.1) }}
                then
                    'similar income (GDP per capita ' || {{ compact_number('gdp_per_capita_ppp') }} || ' vs '
                    || {{ compact_number('peer_gdp_per_capita_ppp') }} || ')'
        end as income_reason,
        case when climate_distance = 0 then 'same climate (' || climate_zone || ')' end as climate_reason,
        case when region_distance = 0 then 'same region (' || region || ')' end as region_reason,
        case when population_distance <= {{ var('peer_similar_feature_distance', 0.1) }} then 'similar size' end
            as size_word,
        case when density_distance <= {{ var('peer_similar_feature_distance', 0.1) }} then 'similar density' end
            as density_word,
        case when gdp_distance <= {{ var('peer_similar_feature_distance', 0.1) }} then 'similar income' end
            as income_word,
        case when climate_distance = 0 then 'same climate' end as climate_word,
        case when region_distance = 0 then 'same region' end as region_word

    from nearest

)

select
    cast(city_id as varchar) as city_id,
    cast(city_name as varchar) as city_name,
    cast(peer_rank as integer) as peer_rank,
    cast(peer_city_id as varchar) as peer_city_id,
    cast(peer_city_name as varchar) as peer_city_name,
    cast(gower_distance as {{ type_double() }}) as gower_distance,
    cast(1 - gower_distance as {{ type_double() }}) as similarity,
    cast(shared_feature_count as integer) as shared_feature_count,
    cast(population_distance as {{ type_double() }}) as population_distance,
    cast(density_distance as {{ type_double() }}) as density_distance,
    cast(gdp_distance as {{ type_double() }}) as gdp_distance,
    cast(climate_distance as {{ type_double() }}) as climate_distance,
    cast(region_distance as {{ type_double() }}) as region_distance,
    cast(population_distance / nullif(distance_sum, 0) as {{ type_double() }}) as population_share,
    cast(density_distance / nullif(distance_sum, 0) as {{ type_double() }}) as density_share,
    cast(gdp_distance / nullif(distance_sum, 0) as {{ type_double() }}) as gdp_share,
    cast(climate_distance / nullif(distance_sum, 0) as {{ type_double() }}) as climate_share,
    cast(region_distance / nullif(distance_sum, 0) as {{ type_double() }}) as region_share,
    cast(
        coalesce(
            nullif(concat_ws(', ', size_reason, density_reason, income_reason, climate_reason, region_reason), ''),
            'nearest match on the context known for both cities'
        ) as varchar
    ) as similarity_reason,
    cast(
        coalesce(
            nullif(concat_ws(', ', size_word, density_word, income_word, climate_word, region_word), ''),
            'nearest match'
        ) as varchar
    ) as similar_on

from reasons
