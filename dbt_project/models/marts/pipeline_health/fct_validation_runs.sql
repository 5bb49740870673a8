select
    suite_name,
    run_label,
    validated_at,
    validated_row_count,
    is_success,
    failed_expectation_count,
    failure_summary,
    case when suite_name like 'parsed\_\_%' escape '\' then 'ingest' else 'publish' end as gate

from {{ ref('stg_ops__validation_runs') }}
