-- One row per session: when it started and ended, who came and for how long, whether it
-- was recorded and how big its recordings' files are.
--
-- total_peer_seconds: the sum of the peers' durations (the API docs' "session duration");
-- wall_clock_seconds: first join to last leave (the product pages' "duration"). A peer
-- still in the room counts up to the session's end, or for a live session up to the sync
-- time (see stg_100ms__session_peers), so a live session's figures grow with each sync.
with sessions as (
    select * from {{ ref('stg_100ms__sessions') }}
),

peers as (
    select
        session_id,
        count(*) as peers,
        count(distinct user_id) as distinct_users,
        sum(case when is_open then 1 else 0 end) as peers_still_in,
        sum(duration_seconds) as total_peer_seconds,
        min(joined_at) as first_joined_at,
        max(counted_until) as last_left_at
    from {{ ref('stg_100ms__session_peers') }}
    group by session_id
),

recordings as (
    select
        session_id,
        count(*) as recordings,
        sum(case when is_failed then 1 else 0 end) as failed_recordings
    from {{ ref('stg_100ms__recordings') }}
    group by session_id
),

assets as (
    select
        session_id,
        count(*) as recording_assets,
        sum(size_bytes) as recording_assets_bytes
    from {{ ref('stg_100ms__recording_assets') }}
    group by session_id
)

select
    sessions.session_id,
    sessions.room_id,
    cast(sessions.started_at as date) as session_date,
    sessions.started_at,
    sessions.ended_at,
    sessions.is_active,
    sessions.extracted_at,
    coalesce(peers.peers, 0) as peers,
    coalesce(peers.distinct_users, 0) as distinct_users,
    coalesce(peers.peers_still_in, 0) as peers_still_in,
    coalesce(peers.total_peer_seconds, 0) as total_peer_seconds,
    coalesce(peers.total_peer_seconds, 0) / 60.0 as total_peer_minutes,
    peers.first_joined_at,
    peers.last_left_at,
    coalesce({{ seconds_between('peers.first_joined_at', 'peers.last_left_at') }}, 0)
        as wall_clock_seconds,
    -- Recorded: at least one recording job that did not fail.
    coalesce(recordings.recordings, 0) > coalesce(recordings.failed_recordings, 0) as is_recorded,
    coalesce(recordings.recordings, 0) as recordings,
    coalesce(recordings.failed_recordings, 0) as failed_recordings,
    coalesce(assets.recording_assets, 0) as recording_assets,
    coalesce(assets.recording_assets_bytes, 0) as recording_assets_bytes
from sessions
left join peers on peers.session_id = sessions.session_id
left join recordings on recordings.session_id = sessions.session_id
left join assets on assets.session_id = sessions.session_id
