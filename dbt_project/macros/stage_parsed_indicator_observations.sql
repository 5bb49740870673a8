{#
    The staging of every indicator source: "parsed indicator observations" is one contract
    (docs/architecture.md), so every source is renamed and cast the same way. Each staging model
    stays the one place that calls source() for its source and passes the relation in.

    left_out_share: the share of the feed's rows behind the figure that its validation left out
    (a flagged notice, docs/feed_validation.md); NULL when nothing was left out, and in partitions
    parsed before the column existed (the zero-row _schema.parquet carries it).

    No de-duplication here: when several periods or feeds deliver the same city, indicator and
    year, int_indicator_observations_deduplicated_to_city_annual keeps one, across all sources,
    with one rule.
#}
{% macro stage_parsed_indicator_observations(source_relation) %}
with

source as (

    select * from {{ source_relation }}

),

renamed as (

    select
        cast(source as varchar) as source_name,
        cast(feed_id as varchar) as feed_id,
        cast(period as varchar) as ingest_period,
        cast(city_id as varchar) as city_id,
        cast(indicator_code as varchar) as indicator_code,
        cast(year as integer) as observation_year,
        cast(value as {{ type_double() }}) as observed_value,
        cast(unit as varchar) as canonical_unit,
        cast(basis as varchar) as basis,
        cast(source_value as {{ type_double() }}) as source_value,
        cast(source_unit as varchar) as source_unit,
        cast(source_ref as varchar) as source_ref,
        cast(note as varchar) as source_note,
        cast(payload_sha256 as varchar) as payload_sha256,
        cast(source_row as bigint) as payload_row_number,
        cast(left_out_share as {{ type_double() }}) as left_out_share

    from source

)

select * from renamed
{% endmacro %}
