-- The analytics events, deduplicated, with their raw `data`: what the staging models of
-- events share. Ephemeral (inlined where used, never a relation of its own), so that `data`
-- and what it may hold (a recording's presigned URL grants access to the file) stays in the
-- raw table.
{{ config(materialized='ephemeral') }}

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
