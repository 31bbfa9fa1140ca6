-- One row per sample of each track of each peer's call-quality report: the API's parallel
-- arrays (`time_series.timestamps`, `bitrate`, `packet_loss_percent`, …) unnested side by
-- side, by position. `direction` is `publisher` (a track the peer sent) or `subscriber` (one
-- it received); `media_kind` is the array the track sits in (`audio`, `video`); a simulcast
-- layer (`rid`) is a track of its own. A value that is missing or not a number is null.
--
-- A table, not a view like the other staging models: unnesting JSON is the costly part of
-- the package, so it is done once per build rather than once per model and test that reads it.
{{ config(materialized='table') }}

{# What identifies a track, then a sample's position in it. #}
{% set track_columns = [
    'session_id', 'peer_id', 'room_id', 'direction', 'media_kind', 'track_index',
    'track_id', 'track_type', 'rid',
] %}
{% set metrics = [
    'bitrate', 'fps', 'packet_loss_percent', 'rtt_ms', 'jitter_ms', 'freeze_count',
    'concealed_samples',
] %}

with reports as (
    {{ dedupe(
        source('airbyte_100ms', 'peer_quality_stats'), 'session_id, peer_id',
        'session_ended_at desc'
    ) }}
),

tracks as (
{%- for direction, kind in peer_quality_arrays() %}
    select
        reports.session_id,
        reports.peer_id,
        reports.room_id,
        '{{ direction }}' as direction,
        '{{ kind }}' as media_kind,
        {{ json_element_position('track') }} as track_index,
        track.value as track_json
    from reports
    {{ json_array_elements(json_member(direction, kind), 'track') }}
    {% if not loop.last %}union all{% endif %}
{%- endfor %}
),

series as (
    select
        {{ track_columns[:6] | join(',\n        ') }},
        {{ json_text('track_json', 'track_id') }} as track_id,
        {{ json_text('track_json', 'type') }} as track_type,
        {{ json_text('track_json', 'rid') }} as rid,
        {{ json_member('track_json', 'time_series.timestamps') }} as timestamps_json,
        {%- for metric in metrics %}
        {{ json_member('track_json', 'time_series.' ~ metric) }} as {{ metric }}_json
        {%- if not loop.last %},{% endif %}
        {%- endfor %}
    from tracks
),

samples as (
    select
        series.*,
        {{ json_element_position('sample') }} as sample_index
    from series
    {{ json_array_elements('series.timestamps_json', 'sample') }}
)

select
    {{ track_columns | join(',\n    ') }},
    sample_index,
    {{ epoch_ms_to_timestamp(
        number_or_null(json_array_text_at('timestamps_json', 'sample_index'))
    ) }} as sampled_at,
    {%- for metric in metrics %}
    {{ number_or_null(json_array_text_at(metric ~ '_json', 'sample_index')) }} as {{ metric }}
    {%- if not loop.last %},{% endif %}
    {%- endfor %}
from samples
