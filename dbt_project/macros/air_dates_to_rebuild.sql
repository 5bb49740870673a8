{#
    Which local dates an incremental air model must rebuild: those of the parsed air files written
    since its last run. Every row of the model carries `rebuilt_at`, when the run that wrote it
    started, in whole seconds; a parsed file modified at or after that second of the model's
    latest run (a new day, or a rerun or backfill that replaced a partition) is "changed". File
    times have whole seconds too, so a file of that very second is read again, never missed. Only the changed files are
    read here, and only the dates between their first and last local date are rebuilt; the filter
    on local_date reaches the Parquet scans, so untouched days' row groups are not read.

    Returns {"first": date text or none, "last": ..., "rebuilt_at": timestamp text}. `first` is
    none when nothing changed. Deleting a parsed file is not seen: rebuild with --full-refresh.
#}
{% macro air_dates_to_rebuild(sources) %}
    {%- set globs = [] -%}
    {%- for source_name in sources -%}
        {%- do globs.append("'" ~ env_var('CITYPEERS_HOME') ~ "/parsed/" ~ source_name ~ "/**/*.parquet'") -%}
    {%- endfor -%}
    {%- set files_sql -%}
        select filename, last_modified from read_blob([{{ globs | join(', ') }}])
    {%- endset -%}
    {%- set result = {"first": none, "last": none, "rebuilt_at": none} -%}
    {%- if execute -%}
        {%- set started = run_query("select date_trunc('second', now())::timestamp::varchar") -%}
        {%- do result.update({"rebuilt_at": started.columns[0].values()[0]}) -%}
        {%- if is_incremental() -%}
            {%- set changed = run_query(
                "select filename from (" ~ files_sql ~ ") where last_modified::timestamp >= "
                ~ "(select coalesce(max(rebuilt_at), timestamp '-infinity') from " ~ this ~ ")"
            ).columns[0].values() -%}
            {%- if changed | length > 0 -%}
                {%- set quoted = [] -%}
                {%- for filename in changed -%}
                    {%- do quoted.append("'" ~ filename ~ "'") -%}
                {%- endfor -%}
                {%- set dates = run_query(
                    "select min(local_date)::varchar, max(local_date)::varchar from read_parquet(["
                    ~ quoted | join(', ') ~ "], union_by_name = true)"
                ) -%}
                {%- do result.update({"first": dates.columns[0].values()[0], "last": dates.columns[1].values()[0]}) -%}
                {%- do log("air models: " ~ changed | length ~ " parsed file(s) changed since the last build; "
                           ~ "rebuilding local dates " ~ result.first ~ " to " ~ result.last, info=true) -%}
            {%- else -%}
                {%- do log("air models: no parsed air file changed since the last build", info=true) -%}
            {%- endif -%}
        {%- endif -%}
    {%- endif -%}
    {{ return(result) }}
{% endmacro %}
