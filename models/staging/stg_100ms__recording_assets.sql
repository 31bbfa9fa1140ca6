-- One row per file a recording produced (composite, chat, transcript, …).
with latest as (
    {{ dedupe(source('airbyte_100ms', 'recording_assets'), 'id') }}
)

select
    id as asset_id,
    job_id as recording_id,
    room_id,
    session_id,
    {{ adapter.quote('type') }} as asset_type,
    status,
    status = 'failed' as is_failed,
    size as size_bytes,
    duration as duration_seconds,
    path as storage_path,
    {{ utc_timestamp('created_at') }} as created_at,
    {{ utc_timestamp('_airbyte_extracted_at') }} as extracted_at
from latest
