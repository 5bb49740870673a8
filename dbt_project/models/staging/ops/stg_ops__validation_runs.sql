with

source as (

    select * from {{ source('ops', 'validation_runs') }}

)

select
    cast(suite as varchar) as suite_name,
    cast(run_label as varchar) as run_label,
    cast(validated_at as timestamp) as validated_at,
    cast(row_count as bigint) as validated_row_count,
    cast(success as boolean) as is_success,
    cast(failed_expectations as integer) as failed_expectation_count,
    cast(failures as varchar) as failure_summary

from source
