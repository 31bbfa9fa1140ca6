-- Recording events (`beam.recording.success`: a recorder finished and uploaded a file),
-- typed. The presigned URL is left out: it grants access to the file.
select
    event_id,
    event_type,
    occurred_at,
    room_id,
    session_id,
    peer_id,
    {{ json_text('data_json', 'beam_id') }} as beam_id,
    {{ json_text('data_json', 'template_id') }} as template_id,
    {{ utc_timestamp(json_text('data_json', 'started_at')) }} as recording_started_at,
    {{ utc_timestamp(json_text('data_json', 'stopped_at')) }} as recording_stopped_at,
    {{ utc_timestamp(json_text('data_json', 'session_started_at')) }} as session_started_at,
    cast({{ json_text('data_json', 'duration') }} as bigint) as duration_seconds,
    cast({{ json_text('data_json', 'size') }} as bigint) as size_bytes,
    cast({{ json_text('data_json', 'max_width') }} as integer) as max_width,
    cast({{ json_text('data_json', 'max_height') }} as integer) as max_height,
    {{ json_text('data_json', 'recording_path') }} as recording_path
from {{ ref('base_100ms__analytics_events') }}
where event_family = 'recording'
