{#
    A fetch in words for the data health dashboard: 'changed' (new bytes, or the period's first
    fetch), 'unchanged' (a 304, or the same bytes again) or 'not recorded' (a manifest written
    before fetches recorded it); NULL when there was no fetch.
#}
{% macro fetch_change(is_changed, fetched_at) -%}
    case
        when {{ is_changed }} then 'changed'
        when not {{ is_changed }} then 'unchanged'
        when {{ fetched_at }} is not null then 'not recorded'
    end
{%- endmacro %}
