-- One row per practice and indicator it targets: the practice's ';'-joined indicator_codes split
-- into rows (the codes were checked against the catalogue at the ingest gate).

with

practices as (

    select * from {{ ref('stg_practices__practices') }}

),

split as (

    select
        feed_id,
        practice_id,
        city_id,
        start_date,
        end_date,
        {{ split_to_rows('indicator_codes', ';') }} as indicator_code

    from practices

)

select
    feed_id,
    practice_id,
    cast(indicator_code as varchar) as indicator_code,
    city_id,
    start_date,
    end_date

from split
