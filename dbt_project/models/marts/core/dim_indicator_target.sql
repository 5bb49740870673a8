with

targets as (

    select * from {{ ref('indicator_targets') }}

)

select
    cast(indicator_code as varchar) as indicator_code,
    cast(target_code as varchar) as target_code,
    cast(target_name as varchar) as target_name,
    cast(target_body as varchar) as target_body,
    cast(threshold as {{ type_double() }}) as threshold,
    cast(strictness_rank as integer) as strictness_rank

from targets
