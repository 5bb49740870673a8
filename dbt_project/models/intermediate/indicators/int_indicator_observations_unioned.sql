{{ config(materialized='view') }}

-- Every indicator source's observations in one shape (the staging models share one macro).
-- Adding an indicator source: one more CTE and one more union here.

with

indicator_template as (

    select * from {{ ref('stg_indicator_template__observations') }}

),

gtfs as (

    select * from {{ ref('stg_gtfs__observations') }}

),

gbfs as (

    select * from {{ ref('stg_gbfs__observations') }}

),

sdmx_csv as (

    select * from {{ ref('stg_sdmx_csv__observations') }}

),

wide_table as (

    select * from {{ ref('stg_wide_table__observations') }}

),

unioned as (

    select * from indicator_template
    union all
    select * from gtfs
    union all
    select * from gbfs
    union all
    select * from sdmx_csv
    union all
    select * from wide_table

)

select
    source_name,
    feed_id,
    ingest_period,
    city_id,
    indicator_code,
    observation_year,
    observed_value,
    canonical_unit,
    basis,
    source_value,
    source_unit,
    source_ref,
    source_note,
    payload_sha256,
    payload_row_number,
    left_out_share

from unioned
