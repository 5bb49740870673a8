-- One row per city, scored indicator and year: the value against its peer group, its similar
-- cities and every city; its score, traffic light and target ladder; and its trend.
-- Valid = meets the completeness rule and quality_flag 'ok'. Every row is shown, but ranks,
-- percentiles, z-scores, peer statistics, year-on-year changes and trends use valid rows only:
-- a flagged row gets NULL there and never shifts anyone else's rank.

with

annual as (

    select * from {{ ref('fct_city_indicator_annual') }}

),

indicators as (

    select * from {{ ref('dim_indicator') }}
    where is_scored

),

targets as (

    select * from {{ ref('dim_indicator_target') }}

),

peer_groups as (

    select * from {{ ref('dim_city_peer_group') }}

),

similar_cities as (

    select * from {{ ref('fct_city_peers') }}

),

observations as (

    select
        annual.city_id,
        coalesce(peer_groups.city_name, annual.city_id) as city_name,
        annual.indicator_code,
        indicators.indicator_name,
        indicators.domain,
        indicators.direction,
        annual.year,
        annual.value,
        annual.unit,
        indicators.unit_label,
        annual.quality_flag,
        annual.quality_note,
        coalesce(peer_groups.peer_group_id, 'unknown__unknown') as peer_group_id,
        coalesce(peer_groups.peer_group_label, 'unknown size, unknown income') as peer_group_label,
        coalesce(annual.meets_completeness_rule and annual.quality_flag = 'ok', false) as is_valid,
        {{ better_first_key('annual.value', 'indicators.direction') }} as better_first_key,
        indicators.score_optimum,
        indicators.score_lower_bound,
        indicators.score_green_threshold,
        indicators.score_red_threshold

    from annual
    inner join indicators
        on annual.indicator_code = indicators.indicator_code
    left join peer_groups
        on annual.city_id = peer_groups.city_id

),

valid_observations as (

    select * from observations
    where is_valid and value is not null

),

peer_group_statistics as (

    select
        indicator_code,
        year,
        peer_group_id,
        count(*) as peer_group_valid_count,
        {{ quantile_cont('value', 0.5) }} as peer_group_median,
        {{ quantile_cont('value', 0.25) }} as peer_group_p25,
        {{ quantile_cont('value', 0.75) }} as peer_group_p75

    from valid_observations
    group by indicator_code, year, peer_group_id

),

-- rank: 1 = best, tied values share the best rank. Counts of tied values give the mid-rank
-- percentile: 100 * (worse + (tied others) / 2) / (n - 1), 100 = best, NULL for a group of one.
window_positions as (

    select
        city_id,
        indicator_code,
        year,
        rank() over (
            partition by indicator_code, year, peer_group_id order by better_first_key
        ) as peer_group_rank,
        count(*) over (
            partition by indicator_code, year, peer_group_id, better_first_key
        ) as peer_group_tied_count,
        rank() over (partition by indicator_code, year order by better_first_key) as overall_rank,
        count(*) over (partition by indicator_code, year) as overall_valid_count,
        count(*) over (partition by indicator_code, year, better_first_key) as overall_tied_count,
        avg(value) over (partition by indicator_code, year) as overall_mean,
        stddev_samp(value) over (partition by indicator_code, year) as overall_stddev

    from valid_observations
    where better_first_key is not null

),

-- The city among itself and its similar cities (fct_city_peers) with a valid value that year.
similar_city_positions as (

    select
        city.city_id,
        city.indicator_code,
        city.year,
        count(peer.city_id) + 1 as similar_valid_count,
        sum(case when peer.better_first_key < city.better_first_key then 1 else 0 end) + 1 as similar_rank,
        sum(case when peer.better_first_key = city.better_first_key then 1 else 0 end) as similar_tied_others

    from valid_observations as city
    left join similar_cities
        on city.city_id = similar_cities.city_id
    left join valid_observations as peer
        on
            similar_cities.peer_city_id = peer.city_id
            and city.indicator_code = peer.indicator_code
            and city.year = peer.year
    where city.better_first_key is not null
    group by city.city_id, city.indicator_code, city.year

),

-- Target ladder: met at or below the threshold (lower_is_better), at or above (higher_is_better).
highest_target_ranks as (

    select
        observations.city_id,
        observations.indicator_code,
        observations.year,
        max(targets.strictness_rank) as highest_target_met_rank

    from observations
    inner join targets
        on
            observations.indicator_code = targets.indicator_code
            and (
                (observations.direction = 'lower_is_better' and observations.value <= targets.threshold)
                or (observations.direction = 'higher_is_better' and observations.value >= targets.threshold)
            )
    group by observations.city_id, observations.indicator_code, observations.year

),

-- Theil-Sen as of each year: the median of the slopes between every two valid years up to and
-- including that year (scipy.stats.theilslopes), given at least 3 valid years.
valid_year_pairs as (

    select
        earlier.city_id,
        earlier.indicator_code,
        later.year as later_year,
        (later.value - earlier.value) / (later.year - earlier.year) as pair_slope

    from valid_observations as earlier
    inner join valid_observations as later
        on
            earlier.city_id = later.city_id
            and earlier.indicator_code = later.indicator_code
            and earlier.year < later.year

),

trends as (

    select
        observations.city_id,
        observations.indicator_code,
        observations.year,
        {{ quantile_cont('valid_year_pairs.pair_slope', 0.5) }} as median_pair_slope

    from observations
    inner join valid_year_pairs
        on
            observations.city_id = valid_year_pairs.city_id
            and observations.indicator_code = valid_year_pairs.indicator_code
            and observations.year >= valid_year_pairs.later_year
    group by observations.city_id, observations.indicator_code, observations.year

),

trend_points as (

    select
        observations.city_id,
        observations.indicator_code,
        observations.year,
        count(valid_observations.year) as trend_point_count

    from observations
    left join valid_observations
        on
            observations.city_id = valid_observations.city_id
            and observations.indicator_code = valid_observations.indicator_code
            and observations.year >= valid_observations.year
    group by observations.city_id, observations.indicator_code, observations.year

),

assembled as (

    select
        observations.*,
        peer_group_statistics.peer_group_valid_count,
        peer_group_statistics.peer_group_median,
        peer_group_statistics.peer_group_p25,
        peer_group_statistics.peer_group_p75,
        window_positions.peer_group_rank,
        similar_city_positions.similar_valid_count,
        similar_city_positions.similar_rank,
        window_positions.overall_valid_count,
        window_positions.overall_rank,
        highest_target_ranks.highest_target_met_rank,
        trend_points.trend_point_count,
        case
            when peer_group_statistics.peer_group_valid_count > 1
                then 100.0 * (
                    peer_group_statistics.peer_group_valid_count - window_positions.peer_group_rank
                    - (window_positions.peer_group_tied_count - 1) / 2.0
                ) / (peer_group_statistics.peer_group_valid_count - 1)
        end as peer_group_percentile,
        case
            when similar_city_positions.similar_valid_count > 1
                then 100.0 * (
                    similar_city_positions.similar_valid_count - similar_city_positions.similar_rank
                    - similar_city_positions.similar_tied_others / 2.0
                ) / (similar_city_positions.similar_valid_count - 1)
        end as similar_percentile,
        case
            when window_positions.overall_valid_count > 1
                then 100.0 * (
                    window_positions.overall_valid_count - window_positions.overall_rank
                    - (window_positions.overall_tied_count - 1) / 2.0
                ) / (window_positions.overall_valid_count - 1)
        end as overall_percentile,
        (observations.value - window_positions.overall_mean) / nullif(window_positions.overall_stddev, 0) as z_score,
        case
            when observations.score_optimum <> observations.score_lower_bound
                then
                    100.0 * (observations.value - observations.score_lower_bound)
                    / (observations.score_optimum - observations.score_lower_bound)
        end as unclamped_score,
        coalesce(highest_target_ranks.highest_target_met_rank, 0) + 1 as next_target_rank,
        case when observations.is_valid then observations.value - previous_year.value end as yoy_change,
        case when trend_points.trend_point_count >= 3 then trends.median_pair_slope end as trend_slope

    from observations
    left join peer_group_statistics
        on
            observations.indicator_code = peer_group_statistics.indicator_code
            and observations.year = peer_group_statistics.year
            and observations.peer_group_id = peer_group_statistics.peer_group_id
    left join window_positions
        on
            observations.city_id = window_positions.city_id
            and observations.indicator_code = window_positions.indicator_code
            and observations.year = window_positions.year
    left join similar_city_positions
        on
            observations.city_id = similar_city_positions.city_id
            and observations.indicator_code = similar_city_positions.indicator_code
            and observations.year = similar_city_positions.year
    left join highest_target_ranks
        on
            observations.city_id = highest_target_ranks.city_id
            and observations.indicator_code = highest_target_ranks.indicator_code
            and observations.year = highest_target_ranks.year
    left join valid_observations as previous_year
        on
            observations.city_id = previous_year.city_id
            and observations.indicator_code = previous_year.indicator_code
            and observations.year - 1 = previous_year.year
    left join trends
        on
            observations.city_id = trends.city_id
            and observations.indicator_code = trends.indicator_code
            and observations.year = trends.year
    left join trend_points
        on
            observations.city_id = trend_points.city_id
            and observations.indicator_code = trend_points.indicator_code
            and observations.year = trend_points.year

),

with_targets as (

    select
        assembled.*,
        highest_target.target_code as highest_target_met,
        highest_target.target_name as highest_target_met_name,
        next_target.target_code as next_target,
        next_target.target_name as next_target_name,
        next_target.threshold as next_target_threshold,
        -- Distance still to go, positive in either direction.
        case assembled.direction
            when 'lower_is_better' then assembled.value - next_target.threshold
            when 'higher_is_better' then next_target.threshold - assembled.value
        end as gap_to_next_target,
        -- The trend's yearly move in the better direction (> 0 = improving).
        case assembled.direction
            when 'lower_is_better' then -assembled.trend_slope
            when 'higher_is_better' then assembled.trend_slope
        end as trend_improvement_per_year

    from assembled
    left join targets as highest_target
        on
            assembled.indicator_code = highest_target.indicator_code
            and assembled.highest_target_met_rank = highest_target.strictness_rank
    left join targets as next_target
        on
            assembled.indicator_code = next_target.indicator_code
            and assembled.next_target_rank = next_target.strictness_rank

)

select
    cast(city_id as varchar) as city_id,
    cast(city_name as varchar) as city_name,
    cast(indicator_code as varchar) as indicator_code,
    cast(indicator_name as varchar) as indicator_name,
    cast(domain as varchar) as domain,
    cast(direction as varchar) as direction,
    cast(year as integer) as year,
    cast(value as {{ type_double() }}) as value,
    cast(unit as varchar) as unit,
    cast(unit_label as varchar) as unit_label,
    cast(quality_flag as varchar) as quality_flag,
    cast(quality_note as varchar) as quality_note,
    cast(is_valid as boolean) as is_valid,
    cast(peer_group_id as varchar) as peer_group_id,
    cast(peer_group_label as varchar) as peer_group_label,
    cast(coalesce(peer_group_valid_count, 0) as integer) as peer_group_valid_count,
    cast(peer_group_median as {{ type_double() }}) as peer_group_median,
    cast(peer_group_p25 as {{ type_double() }}) as peer_group_p25,
    cast(peer_group_p75 as {{ type_double() }}) as peer_group_p75,
    cast(case when is_valid then peer_group_rank end as integer) as peer_group_rank,
    cast(case when is_valid then peer_group_percentile end as {{ type_double() }}) as peer_group_percentile,
    cast(similar_valid_count as integer) as similar_cities_valid_count,
    cast(similar_rank as integer) as similar_cities_rank,
    cast(similar_percentile as {{ type_double() }}) as similar_cities_percentile,
    cast(overall_valid_count as integer) as overall_valid_count,
    cast(overall_rank as integer) as overall_rank,
    cast(overall_percentile as {{ type_double() }}) as overall_percentile,
    cast(z_score as {{ type_double() }}) as z_score,
    cast(
        case
            when unclamped_score < 0 then 0
            when unclamped_score > 100 then 100
            else unclamped_score
        end as {{ type_double() }}
    ) as score,
    cast(
        case
            when score_green_threshold is null or score_red_threshold is null then null
            when direction = 'lower_is_better'
                then case
                    when value <= score_green_threshold then 'green'
                    when value >= score_red_threshold then 'red'
                    else 'amber'
                end
            when direction = 'higher_is_better'
                then case
                    when value >= score_green_threshold then 'green'
                    when value <= score_red_threshold then 'red'
                    else 'amber'
                end
        end as varchar
    ) as traffic_light,
    cast(highest_target_met as varchar) as highest_target_met,
    cast(highest_target_met_name as varchar) as highest_target_met_name,
    cast(next_target as varchar) as next_target,
    cast(next_target_name as varchar) as next_target_name,
    cast(next_target_threshold as {{ type_double() }}) as next_target_threshold,
    cast(gap_to_next_target as {{ type_double() }}) as gap_to_next_target,
    cast(yoy_change as {{ type_double() }}) as yoy_change,
    cast(trend_slope as {{ type_double() }}) as trend_slope_per_year,
    cast(trend_point_count as integer) as trend_point_count,
    cast(trend_improvement_per_year as {{ type_double() }}) as trend_improvement_per_year,
    cast(
        case when is_valid and trend_improvement_per_year > 0 then gap_to_next_target / trend_improvement_per_year end
        as {{ type_double() }}
    ) as years_to_next_target

from with_targets
