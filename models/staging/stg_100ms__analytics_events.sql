-- One row per analytics event, with the fields every family shares and its family:
-- `track` (track.*), `recording` (beam.recording.*) or `error` (client.*: failed joins,
-- publishes and subscribes, disconnections). The family models type the rest of `data`.
with latest as (
    {{ dedupe(source('airbyte_100ms', 'analytics_events'), 'id') }}
)

select
    id as event_id,
    {{ adapter.quote('type') }} as event_type,
    case
        when {{ adapter.quote('type') }} like 'track.%' then 'track'
        when {{ adapter.quote('type') }} like 'beam.recording.%' then 'recording'
        when {{ adapter.quote('type') }} like 'client.%' then 'error'
        else 'other'
    end as event_family,
    {{ utc_timestamp(adapter.quote('timestamp')) }} as occurred_at,
    coalesce(room_id, {{ json_text('data', 'room_id') }}) as room_id,
    -- Null for a peer who failed to join before any session existed.
    coalesce(session_id, {{ json_text('data', 'session_id') }}) as session_id,
    {{ json_text('data', 'peer_id') }} as peer_id,
    {{ json_text('data', 'user_id') }} as user_id,
    data as data_json,
    {{ utc_timestamp('_airbyte_extracted_at') }} as extracted_at
from latest
