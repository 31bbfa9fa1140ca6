-- Track events (a peer's audio, video or screen track added, updated, removed), typed.
select
    event_id,
    event_type,
    occurred_at,
    room_id,
    session_id,
    peer_id,
    user_id,
    {{ json_text('data_json', 'user_name') }} as user_name,
    {{ json_text('data_json', 'role') }} as role,
    {{ json_text('data_json', 'track_id') }} as track_id,
    {{ json_text('data_json', 'stream_id') }} as stream_id,
    {{ json_text('data_json', 'type') }} as track_type,
    {{ json_text('data_json', 'source') }} as track_source,
    cast({{ json_text('data_json', 'mute') }} as boolean) as is_muted,
    {{ utc_timestamp(json_text('data_json', 'started_at')) }} as track_started_at,
    {{ utc_timestamp(json_text('data_json', 'stopped_at')) }} as track_stopped_at
from {{ ref('base_100ms__analytics_events') }}
where event_family = 'track'
