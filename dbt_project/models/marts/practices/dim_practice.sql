-- One row per practice of the practices registry (every feed's latest snapshot): what a city
-- did, where and since when, with its category's name and domain.

with

practices as (

    select * from {{ ref('stg_practices__practices') }}

),

categories as (

    select * from {{ ref('practice_categories') }}

),

cities as (

    select * from {{ ref('dim_city') }}

)

select
    cast(practices.practice_id as varchar) as practice_id,
    cast(practices.city_id as varchar) as city_id,
    cast(cities.city_name as varchar) as city_name,
    cast(cities.country_name as varchar) as country_name,
    cast(practices.practice_title as varchar) as title,
    cast(practices.domain as varchar) as domain,
    cast(practices.category as varchar) as category,
    cast(categories.category_name as varchar) as category_name,
    cast(practices.indicator_codes as varchar) as indicator_codes,
    cast(practices.start_date as date) as start_date,
    cast(practices.end_date as date) as end_date,
    cast(practices.practice_scope as varchar) as scope,
    cast(practices.practice_description as varchar) as description,
    cast(practices.source_url as varchar) as source_url,
    cast(practices.contact as varchar) as contact,
    cast(practices.is_demo as boolean) as is_demo,
    cast(practices.feed_id as varchar) as feed_id

from practices
left join categories
    on practices.category = categories.category
left join cities
    on practices.city_id = cities.city_id
