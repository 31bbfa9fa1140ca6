{#
  The few SQL constructs that differ between warehouses, each behind `adapter.dispatch`.
  The `default__` versions are DuckDB's. To run the models elsewhere, add e.g.
  `snowflake__json_text` in your own project (dispatch config `source_100ms`) rather than
  editing the models.
#}

{# A JSON value's member as text; `path` is a dotted path such as 'agent.sdk'. #}
{% macro json_text(column, path) %}
  {{ return(adapter.dispatch('json_text', 'source_100ms')(column, path)) }}
{% endmacro %}

{% macro default__json_text(column, path) -%}
  json_extract_string({{ column }}, '$.{{ path }}')
{%- endmacro %}

{#
  The FROM-clause fragment that joins each row to the elements of its JSON array column,
  exposing every element as `<alias>.value`. Rows whose array is null or empty drop out.
#}
{% macro json_array_elements(column, alias) %}
  {{ return(adapter.dispatch('json_array_elements', 'source_100ms')(column, alias)) }}
{% endmacro %}

{% macro default__json_array_elements(column, alias) -%}
  cross join json_each({{ column }}) as {{ alias }}
{%- endmacro %}

{#
  A timestamp column or an RFC 3339 string as a naive timestamp in UTC. PyAirbyte's DuckDB
  cache stores naive UTC timestamps already; Airbyte's DuckDB destination may hold strings
  or zoned values. The profile pins the session time zone to UTC, so naive values stay put.
#}
{% macro utc_timestamp(expression) %}
  {{ return(adapter.dispatch('utc_timestamp', 'source_100ms')(expression)) }}
{% endmacro %}

{% macro default__utc_timestamp(expression) -%}
  timezone('UTC', cast({{ expression }} as timestamptz))
{%- endmacro %}

{# Seconds from `start` to `finish`, with their sub-second part. #}
{% macro seconds_between(start, finish) %}
  {{ return(adapter.dispatch('seconds_between', 'source_100ms')(start, finish)) }}
{% endmacro %}

{% macro default__seconds_between(start, finish) -%}
  (date_diff('microsecond', {{ start }}, {{ finish }}) / 1000000.0)
{%- endmacro %}
