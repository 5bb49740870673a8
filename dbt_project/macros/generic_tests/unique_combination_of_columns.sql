{#
  Fails for every combination of the given columns that occurs more than once (a grain test).
  Written here because the project takes no packages from the dbt hub.
#}
{% test unique_combination_of_columns(model, combination_of_columns) %}

select
    {{ combination_of_columns | join(', ') }},
    count(*) as row_count
from {{ model }}
group by {{ combination_of_columns | join(', ') }}
having count(*) > 1

{% endtest %}
