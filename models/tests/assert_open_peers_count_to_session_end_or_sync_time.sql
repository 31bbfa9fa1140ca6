-- A peer still in the room counts up to the session's end when the session has ended, and
-- for a live session up to the last time a sync read it: the raw table's latest
-- `_airbyte_extracted_at` for that session, computed here without the staging dedupe.
with last_read as (
    select id as session_id, max({{ utc_timestamp('_airbyte_extracted_at') }}) as last_read_at
    from {{ source('airbyte_100ms', 'sessions') }}
    group by id
)

select peers.peer_id, peers.session_id, peers.counted_until, last_read.last_read_at
from {{ ref('stg_100ms__session_peers') }} as peers
inner join {{ ref('stg_100ms__sessions') }} as sessions on sessions.session_id = peers.session_id
inner join last_read on last_read.session_id = peers.session_id
where peers.counted_until < peers.joined_at
    or (peers.is_open and sessions.is_active and peers.counted_until <> last_read.last_read_at)
    or (peers.is_open and not sessions.is_active
        and peers.counted_until <> greatest(peers.joined_at, sessions.ended_at))
    or (not peers.is_open and peers.counted_until <> peers.left_at)
