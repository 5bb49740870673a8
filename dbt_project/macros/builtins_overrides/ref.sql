{#
  ref() without the database (catalog) part.

  dbt-duckdb names relations "<database>"."<schema>"."<name>", where <database> is the stem of the
  warehouse file ("build" for build.duckdb). DuckDB stores a view's SQL as written, so a view that
  selects from "build"."main"."x" breaks as soon as the file is published under another name
  (citypeers.duckdb): Catalog "build" does not exist. Leaving the catalog out makes every reference
  resolve in whatever file it is opened from. Single-database warehouses only; revisit if models
  ever ref across attached databases.
#}
{% macro ref() %}
    {%- set relation = builtins.ref(*varargs, **kwargs) -%}
    {%- if relation is not none and relation.include is defined -%}
        {%- do return(relation.include(database=false)) -%}
    {%- endif -%}
    {%- do return(relation) -%}
{% endmacro %}
