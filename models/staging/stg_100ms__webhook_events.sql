-- One row per webhook event the API logged as delivered to the customer's endpoint (peer
-- join and leave, session open and close, recording lifecycle), with what it is about as
-- typed columns. `is_failed_delivery`: the delivery failed (`error_reason`). The endpoint's
-- URL is left out: a webhook URL often carries a shared secret. The API keeps 30 days.
with latest as (
    {{ dedupe(source('airbyte_100ms', 'webhook_events'), 'event_id', 'event_timestamp desc') }}
)

select
    event_id,
    coalesce(event_name, {{ json_text('payload', 'original_event_name') }}) as event_name,
    {{ utc_timestamp('event_timestamp') }} as occurred_at,
    coalesce(room_id, {{ json_text('payload', 'event_data.data.room_id') }}) as room_id,
    {{ json_text('payload', 'event_data.data.room_name') }} as room_name,
    {{ json_text('payload', 'event_data.data.session_id') }} as session_id,
    {{ json_text('payload', 'event_data.data.peer_id') }} as peer_id,
    {{ json_text('payload', 'event_data.data.user_id') }} as user_id,
    {{ json_text('payload', 'event_data.data.role') }} as role,
    {{ utc_timestamp(json_text('payload', 'event_data.data.joined_at')) }} as peer_joined_at,
    {{ utc_timestamp(json_text('payload', 'event_data.data.left_at')) }} as peer_left_at,
    {{ number_or_null(json_text('payload', 'event_data.data.duration')) }} as peer_duration_seconds,
    {{ utc_timestamp(json_text('payload', 'event_data.data.session_started_at')) }}
        as session_started_at,
    {{ utc_timestamp(json_text('payload', 'event_data.data.session_stopped_at')) }}
        as session_stopped_at,
    {{ json_text('payload', 'event_data.data.recording_id') }} as recording_id,
    {{ json_text('payload', 'event_data.data.recording_path') }} as recording_path,
    {{ json_text('payload', 'error_reason') }} is not null as is_failed_delivery,
    {{ json_text('payload', 'error_reason') }} as error_reason,
    {{ utc_timestamp('_airbyte_extracted_at') }} as extracted_at
from latest
