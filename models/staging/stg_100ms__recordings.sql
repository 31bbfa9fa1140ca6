-- One row per recording job: its latest version (unfinished jobs are emitted again by
-- each sync until they complete or fail). Sizes come from the assets, not from here.
with latest as (
    {{ dedupe(source('airbyte_100ms', 'recordings'), 'id', 'updated_at desc') }}
)

select
    id as recording_id,
    room_id,
    session_id,
    status,
    status = 'failed' as is_failed,
    status in ('completed', 'failed') as is_finished,
    nullif(started_by, '') as started_by_peer_id,
    {{ utc_timestamp('created_at') }} as created_at,
    {{ utc_timestamp('started_at') }} as started_at,
    {{ utc_timestamp('stopped_at') }} as stopped_at,
    {{ utc_timestamp('updated_at') }} as updated_at,
    {{ utc_timestamp('_airbyte_extracted_at') }} as extracted_at
from latest
