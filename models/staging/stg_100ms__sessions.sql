-- One row per session: its latest version. `ended_at` is the API's `updated_at` once the
-- session is no longer active (the API documents `updated_at` as the end of a closed
-- session); `extracted_at` is when the sync read this version, the "now" of a live session.
with latest as (
    {{ dedupe(source('airbyte_100ms', 'sessions'), 'id', 'updated_at desc') }}
)

select
    id as session_id,
    room_id,
    customer_id,
    app_id,
    coalesce(active, false) as is_active,
    {{ utc_timestamp('created_at') }} as started_at,
    {{ utc_timestamp('updated_at') }} as updated_at,
    case when not coalesce(active, false) then {{ utc_timestamp('updated_at') }} end as ended_at,
    {{ utc_timestamp('_airbyte_extracted_at') }} as extracted_at,
    peers as peers_json
from latest
