-- One row per analytics event, with the fields every family shares and its family:
-- `track` (track.*), `recording` (beam.recording.*) or `error` (client.*: failed joins,
-- publishes, subscribes and connects, disconnections). The family models
-- (stg_100ms__track_events, …_recording_events, …_error_events) type the rest of `data`.
select
    event_id,
    event_type,
    event_family,
    occurred_at,
    room_id,
    session_id,
    peer_id,
    user_id,
    extracted_at
from {{ ref('base_100ms__analytics_events') }}
