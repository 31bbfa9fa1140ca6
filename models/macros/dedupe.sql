{#
  One row per key: the first by `order`, from a relation or a parenthesised query.
#}
{% macro first_per_key(relation, key, order) -%}
select * from (
    select
        *,
        row_number() over (partition by {{ key }} order by {{ order }}) as _key_rank
    from {{ relation }}
) as ranked
where _key_rank = 1
{%- endmacro %}

{#
  One row per key: the latest version of each record.

  Incremental syncs append, so a record the connector emits again (a live session, an
  unfinished recording, every row of a stream read whole) is in the raw table once per
  sync. The latest version is the one extracted last (`_airbyte_extracted_at`); `tiebreak`
  orders versions extracted in the same millisecond (e.g. by the record's own cursor), and
  `_airbyte_raw_id` makes the choice deterministic when all else is equal.
#}
{% macro dedupe(relation, key, tiebreak=none) -%}
{{ first_per_key(
    relation, key,
    '_airbyte_extracted_at desc' ~ (', ' ~ tiebreak if tiebreak else '') ~ ', _airbyte_raw_id desc'
) }}
{%- endmacro %}
