{#
  The columns together identify a row: no two rows share the same values of all of them
  (a composite primary key). Returns the offending combinations.
#}
{% test unique_combination(model, columns) %}
select {{ columns | join(', ') }}, count(*) as rows_sharing_the_key
from {{ model }}
group by {{ columns | join(', ') }}
having count(*) > 1
{% endtest %}
