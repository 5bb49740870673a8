-- Composite scores per city and year: one row per domain and one 'overall' row.
-- A domain score is the mean of the normalised scores (0-100) of its indicators with a valid value,
-- computed only when they cover at least var score_min_domain_coverage (default 80%) of the
-- domain's scorable indicators (scored, with an optimum and a lower bound); otherwise NULL, with the
-- coverage shown. An indicator without score bounds cannot be scored and is left out of both.
-- Overall = the mean of the domain scores available that year (at least one); each domain counts
-- once, whatever its number of indicators.

with

benchmark as (

    select * from {{ ref('fct_city_benchmark') }}

),

indicators as (

    select * from {{ ref('dim_indicator') }}

),

scorable_domains as (

    select
        domain,
        count(*) as scorable_indicator_count

    from indicators
    where
        is_scored
        and score_optimum is not null
        and score_lower_bound is not null
        and score_optimum <> score_lower_bound
    group by domain

),

city_years as (

    select distinct
        city_id,
        city_name,
        year

    from benchmark

),

indicator_scores as (

    select
        city_id,
        year,
        domain,
        indicator_code,
        score

    from benchmark
    where is_valid and score is not null

),

domain_parts as (

    select
        city_id,
        year,
        domain,
        count(*) as indicator_count,
        avg(score) as mean_score,
        {{ ordered_string_agg('indicator_code', 'indicator_code') }} as indicators_used

    from indicator_scores
    group by city_id, year, domain

),

domain_scores as (

    select
        city_years.city_id,
        city_years.city_name,
        city_years.year,
        scorable_domains.domain,
        scorable_domains.scorable_indicator_count,
        domain_parts.mean_score,
        domain_parts.indicators_used,
        coalesce(domain_parts.indicator_count, 0) as indicator_count,
        coalesce(domain_parts.indicator_count, 0) * 1.0 / scorable_domains.scorable_indicator_count as coverage

    from city_years
    cross join scorable_domains
    left join domain_parts
        on
            city_years.city_id = domain_parts.city_id
            and city_years.year = domain_parts.year
            and scorable_domains.domain = domain_parts.domain

),

domain_rows as (

    select
        city_id,
        city_name,
        year,
        'domain' as score_level,
        domain,
        case when coverage >= {{ var('score_min_domain_coverage', 0.8) }} then mean_score end as score,
        coverage >= {{ var('score_min_domain_coverage', 0.8) }} as meets_coverage_rule,
        coverage,
        indicator_count,
        scorable_indicator_count,
        indicators_used,
        case when coverage >= {{ var('score_min_domain_coverage', 0.8) }} then 1 else 0 end as domain_count,
        cast(null as varchar) as domains_used

    from domain_scores

),

overall_rows as (

    select
        city_id,
        city_name,
        year,
        'overall' as score_level,
        'overall' as domain,
        avg(score) as score,
        count(score) > 0 as meets_coverage_rule,
        count(score) * 1.0 / count(*) as coverage,
        sum(case when score is not null then indicator_count else 0 end) as indicator_count,
        sum(scorable_indicator_count) as scorable_indicator_count,
        {{ ordered_string_agg('case when score is not null then indicators_used end', 'domain', ', ') }}
            as indicators_used,
        count(score) as domain_count,
        {{ ordered_string_agg('case when score is not null then domain end', 'domain', ', ') }} as domains_used

    from domain_rows
    group by city_id, city_name, year

),

scores as (

    select * from domain_rows
    union all
    select * from overall_rows

)

select
    cast(city_id as varchar) as city_id,
    cast(city_name as varchar) as city_name,
    cast(year as integer) as year,
    cast(score_level as varchar) as score_level,
    cast(domain as varchar) as domain,
    cast(score as {{ type_double() }}) as score,
    cast(meets_coverage_rule as boolean) as meets_coverage_rule,
    cast(coverage as {{ type_double() }}) as coverage,
    cast(indicator_count as integer) as indicator_count,
    cast(scorable_indicator_count as integer) as scorable_indicator_count,
    cast(indicators_used as varchar) as indicators_used,
    cast(domain_count as integer) as domain_count,
    cast(domains_used as varchar) as domains_used

from scores
