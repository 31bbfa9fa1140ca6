-- One row per peer per session, unnested from the session's `peers` array.
--
-- A peer who has not left (no `left_at`) is counted up to the session's end when the
-- session has ended, else up to the sync time of the session's latest version: the
-- duration of a peer still in the room grows with every sync. `is_open` marks such peers.
with sessions as (
    select * from {{ ref('stg_100ms__sessions') }}
),

peers as (
    select
        {{ json_text('peer.value', 'id') }} as peer_id,
        sessions.session_id,
        sessions.room_id,
        {{ json_text('peer.value', 'name') }} as peer_name,
        {{ json_text('peer.value', 'role') }} as role,
        -- `user` is the API's deprecated duplicate of `user_id`.
        coalesce(
            {{ json_text('peer.value', 'user_id') }}, {{ json_text('peer.value', 'user') }}
        ) as user_id,
        {{ utc_timestamp(json_text('peer.value', 'joined_at')) }} as joined_at,
        {{ utc_timestamp(json_text('peer.value', 'left_at')) }} as left_at,
        case when sessions.is_active then sessions.extracted_at else sessions.ended_at end
            as session_counted_until
    from sessions
    {{ json_array_elements('sessions.peers_json', 'peer') }}
),

counted as (
    select
        *,
        left_at is null as is_open,
        -- Never before the join, whatever the clocks say.
        greatest(joined_at, coalesce(left_at, session_counted_until)) as counted_until
    from peers
)

select
    peer_id,
    session_id,
    room_id,
    peer_name,
    role,
    user_id,
    joined_at,
    left_at,
    is_open,
    counted_until,
    {{ seconds_between('joined_at', 'counted_until') }} as duration_seconds
from counted
