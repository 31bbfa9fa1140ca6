-- One row per peer seen live, as of the latest sync that saw it (`seen_at`). The stream is
-- live state read whole each sync: under append, a peer who has since left keeps the row
-- of the last sync that saw it. `stg_100ms__session_peers` is the record of attendance.
with latest as (
    {{ dedupe(source('airbyte_100ms', 'active_room_peers'), 'id') }}
)

select
    id as peer_id,
    room_id,
    session_id,
    name as peer_name,
    user_id,
    role,
    {{ utc_timestamp('joined_at') }} as joined_at,
    {{ utc_timestamp('_airbyte_extracted_at') }} as seen_at
from latest
