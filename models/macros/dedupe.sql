{#
  One row per key: the latest version of each record.

  Incremental syncs append, so a record the connector emits again (a live session, an
  unfinished recording, every row of a stream read whole) is in the raw table once per
  sync. The latest version is the one extracted last (`_airbyte_extracted_at`); `tiebreak`
  orders versions extracted in the same millisecond (e.g. by the record's own cursor), and
  `_airbyte_raw_id` makes the choice deterministic when all else is equal.
#}
{% macro dedupe(relation, key, tiebreak=none) -%}
select * from (
    select
        *,
        row_number() over (
            partition by {{ key }}
            order by _airbyte_extracted_at desc
                {%- if tiebreak %}, {{ tiebreak }}{% endif %}, _airbyte_raw_id desc
        ) as _version_rank
    from {{ relation }}
) as versions
where _version_rank = 1
{%- endmacro %}
