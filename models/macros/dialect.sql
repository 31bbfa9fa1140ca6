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

{# A JSON value's member as JSON (an object or array stays one); `path` as for json_text. #}
{% macro json_member(column, path) %}
  {{ return(adapter.dispatch('json_member', 'source_100ms')(column, path)) }}
{% endmacro %}

{% macro default__json_member(column, path) -%}
  json_extract({{ column }}, '$.{{ path }}')
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

{# The 0-based position in its array of an element that json_array_elements exposed. #}
{% macro json_element_position(alias) %}
  {{ return(adapter.dispatch('json_element_position', 'source_100ms')(alias)) }}
{% endmacro %}

{% macro default__json_element_position(alias) -%}
  cast({{ alias }}.key as integer)
{%- endmacro %}

{#
  The element at a 0-based `position` of a JSON array as text: null when the array is null,
  shorter, or holds a JSON null there. (Parallel arrays, such as a time series' timestamps
  and values, are read by the position of one in the other.)
#}
{% macro json_array_text_at(column, position) %}
  {{ return(adapter.dispatch('json_array_text_at', 'source_100ms')(column, position)) }}
{% endmacro %}

{% macro default__json_array_text_at(column, position) -%}
  ({{ column }} ->> {{ position }})
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

{# `seconds` (any number, sub-second part kept to the microsecond) after a timestamp. #}
{% macro add_seconds(timestamp, seconds) %}
  {{ return(adapter.dispatch('add_seconds', 'source_100ms')(timestamp, seconds)) }}
{% endmacro %}

{% macro default__add_seconds(timestamp, seconds) -%}
  ({{ timestamp }} + to_microseconds(cast(round({{ seconds }} * 1000000) as bigint)))
{%- endmacro %}

{# Milliseconds since the Unix epoch (a number) as a naive timestamp in UTC. #}
{% macro epoch_ms_to_timestamp(expression) %}
  {{ return(adapter.dispatch('epoch_ms_to_timestamp', 'source_100ms')(expression)) }}
{% endmacro %}

{% macro default__epoch_ms_to_timestamp(expression) -%}
  epoch_ms(cast(round({{ expression }}) as bigint))
{%- endmacro %}

{#
  Text as a double, or null when it is not a number (a gap the API filled with something
  else must not fail the build; the connector's summary leaves such samples out too).
#}
{% macro number_or_null(expression) %}
  {{ return(adapter.dispatch('number_or_null', 'source_100ms')(expression)) }}
{% endmacro %}

{% macro default__number_or_null(expression) -%}
  try_cast({{ expression }} as double)
{%- endmacro %}
