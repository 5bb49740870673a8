-- For each city and scored indicator, whom to learn from: up to 3 similar cities (fct_city_peers)
-- that do better in the same year, and up to 3 that improved fastest.
-- The year is the city's latest year with a valid value for the indicator; the evidence is each
-- peer's row for that same year, so values compare like with like.
-- "Does better": the peer's value that year is valid and better in the indicator's direction;
-- the most similar first. "Improved fastest": the peer's Theil-Sen trend (valid years up to that
-- year, at least 3) moves in the better direction (> 0); the fastest first. A peer that is
-- getting worse, or has fewer than 3 valid years, is never offered as a fast improver.
-- Every row carries what the peer did: its practices that target the indicator or sit in the
-- indicator's domain (dim_practice), each with its estimated effect on this indicator and the
-- evidence grade where one was estimated (fct_practice_impact), also appended to the reason.

with

benchmark as (

    select * from {{ ref('fct_city_benchmark') }}

),

peers as (

    select * from {{ ref('fct_city_peers') }}

),

indicators as (

    select * from {{ ref('dim_indicator') }}

),

practices as (

    select * from {{ ref('dim_practice') }}

),

practice_impacts as (

    select * from {{ ref('fct_practice_impact') }}

),

practice_indicators as (

    select * from {{ ref('stg_practices__practice_indicators') }}

),

-- Each peer city's practices relevant to an indicator: targeting it, or in its domain.
peer_practices as (

    select
        practices.city_id,
        indicators.indicator_code,
        practices.practice_id,
        practices.category_name || ' since ' || substring(cast(practices.start_date as varchar), 1, 7)
        || coalesce(', ' || practice_impacts.effect_summary, '') as practice_text,
        case practice_impacts.evidence_grade
            when 'strong' then 4 when 'moderate' then 3 when 'weak' then 2 when 'insufficient' then 1 else 0
        end as grade_rank,
        practice_impacts.evidence_grade

    from practices
    cross join indicators
    left join practice_indicators
        on
            practices.practice_id = practice_indicators.practice_id
            and indicators.indicator_code = practice_indicators.indicator_code
    left join practice_impacts
        on
            practices.practice_id = practice_impacts.practice_id
            and indicators.indicator_code = practice_impacts.indicator_code
    where practice_indicators.practice_id is not null or practices.domain = indicators.domain

),

peer_practice_lists as (

    select
        city_id,
        indicator_code,
        count(*) as practice_count,
        max(grade_rank) as best_grade_rank,
        {{ ordered_string_agg('practice_text', 'grade_rank desc, practice_id', '; ') }} as practices_text

    from peer_practices
    group by
        city_id,
        indicator_code

),

latest_valid_years as (

    select
        city_id,
        indicator_code,
        max(year) as year

    from benchmark
    where is_valid
    group by city_id, indicator_code

),

city_rows as (

    select benchmark.*
    from benchmark
    inner join latest_valid_years
        on
            benchmark.city_id = latest_valid_years.city_id
            and benchmark.indicator_code = latest_valid_years.indicator_code
            and benchmark.year = latest_valid_years.year

),

candidates as (

    select
        city_rows.city_id,
        city_rows.city_name,
        city_rows.indicator_code,
        city_rows.indicator_name,
        city_rows.direction,
        city_rows.year,
        city_rows.value as city_value,
        city_rows.trend_slope_per_year as city_trend_slope_per_year,
        city_rows.unit,
        peers.peer_city_id,
        peers.peer_city_name,
        peers.similarity,
        peers.similar_on,
        peer_rows.value as peer_value,
        peer_rows.is_valid as peer_is_valid,
        peer_rows.quality_flag as peer_quality_flag,
        peer_rows.trend_slope_per_year as peer_trend_slope_per_year,
        peer_rows.trend_improvement_per_year as peer_trend_improvement_per_year,
        peer_rows.trend_point_count as peer_trend_point_count,
        coalesce(indicators.unit_label, city_rows.unit) as unit_label,
        {{ better_first_key('peer_rows.value', 'city_rows.direction') }}
        < {{ better_first_key('city_rows.value', 'city_rows.direction') }} as peer_does_better

    from city_rows
    inner join peers
        on city_rows.city_id = peers.city_id
    inner join benchmark as peer_rows
        on
            peers.peer_city_id = peer_rows.city_id
            and city_rows.indicator_code = peer_rows.indicator_code
            and city_rows.year = peer_rows.year
    left join indicators
        on city_rows.indicator_code = indicators.indicator_code

),

does_better as (

    select
        *,
        'does_better' as opportunity_type,
        row_number() over (
            partition by city_id, indicator_code
            order by similarity desc, peer_city_id asc
        ) as opportunity_rank,
        peer_city_name || ' (similar: ' || similar_on || ') has ' || {{ value_text('peer_value') }} || ' '
        || unit_label || ' against your ' || {{ value_text('city_value') }} || ' in '
        || cast(year as varchar) as opportunity_reason

    from candidates
    where peer_is_valid and peer_does_better

),

improved_fastest as (

    select
        *,
        'improved_fastest' as opportunity_type,
        row_number() over (
            partition by city_id, indicator_code
            order by peer_trend_improvement_per_year desc, similarity desc, peer_city_id asc
        ) as opportunity_rank,
        peer_city_name || ' (similar: ' || similar_on || ') '
        || case when direction = 'lower_is_better' then 'cut it by ' else 'raised it by ' end
        || {{ value_text('peer_trend_improvement_per_year') }} || ' ' || unit_label || ' a year over '
        || cast(peer_trend_point_count as varchar) || ' valid years to ' || cast(year as varchar)
        || ' (your trend: '
        || coalesce(
            case
                when round(city_trend_slope_per_year, 1) = 0 then 'flat'
                else
                    case when city_trend_slope_per_year > 0 then '+' else '' end
                    || {{ value_text('city_trend_slope_per_year') }} || ' a year'
            end,
            'fewer than 3 valid years'
        )
        || ')' as opportunity_reason

    from candidates
    where peer_trend_improvement_per_year > 0

),

ranked_opportunities as (

    select * from does_better
    where opportunity_rank <= 3
    union all
    select * from improved_fastest
    where opportunity_rank <= 3

),

opportunities as (

    select
        ranked_opportunities.*,
        ranked_opportunities.opportunity_reason
        || coalesce('; ' || peer_practice_lists.practices_text, '') as reason,
        peer_practice_lists.practices_text as peer_practices,
        coalesce(peer_practice_lists.practice_count, 0) as peer_practice_count,
        case peer_practice_lists.best_grade_rank
            when 4 then 'strong' when 3 then 'moderate' when 2 then 'weak' when 1 then 'insufficient'
        end as peer_best_evidence_grade

    from ranked_opportunities
    left join peer_practice_lists
        on
            ranked_opportunities.peer_city_id = peer_practice_lists.city_id
            and ranked_opportunities.indicator_code = peer_practice_lists.indicator_code

)

select
    cast(city_id as varchar) as city_id,
    cast(city_name as varchar) as city_name,
    cast(indicator_code as varchar) as indicator_code,
    cast(indicator_name as varchar) as indicator_name,
    cast(year as integer) as year,
    cast(opportunity_type as varchar) as opportunity_type,
    cast(opportunity_rank as integer) as opportunity_rank,
    cast(peer_city_id as varchar) as peer_city_id,
    cast(peer_city_name as varchar) as peer_city_name,
    cast(similarity as {{ type_double() }}) as similarity,
    cast(similar_on as varchar) as similar_on,
    cast(city_value as {{ type_double() }}) as city_value,
    cast(peer_value as {{ type_double() }}) as peer_value,
    cast(unit as varchar) as unit,
    cast(peer_quality_flag as varchar) as peer_quality_flag,
    cast(city_trend_slope_per_year as {{ type_double() }}) as city_trend_slope_per_year,
    cast(peer_trend_slope_per_year as {{ type_double() }}) as peer_trend_slope_per_year,
    cast(peer_trend_point_count as integer) as peer_trend_point_count,
    cast(reason as varchar) as reason,
    cast(opportunity_reason as varchar) as comparison_reason,
    cast(peer_practices as varchar) as peer_practices,
    cast(peer_practice_count as integer) as peer_practice_count,
    cast(peer_best_evidence_grade as varchar) as peer_best_evidence_grade

from opportunities
