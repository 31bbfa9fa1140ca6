-- Durations add up: no peer has a negative one, a session's total is the sum of its
-- peers', and its wall-clock span covers its longest peer.
with peers as (
    select session_id, sum(duration_seconds) as summed, max(duration_seconds) as longest
    from {{ ref('stg_100ms__session_peers') }}
    group by session_id
)

select sessions.session_id, sessions.total_peer_seconds, sessions.wall_clock_seconds,
       peers.summed, peers.longest
from {{ ref('session_attendance') }} as sessions
left join peers on peers.session_id = sessions.session_id
where abs(sessions.total_peer_seconds - coalesce(peers.summed, 0)) > 0.001
    or sessions.wall_clock_seconds + 0.001 < coalesce(peers.longest, 0)
    or sessions.total_peer_seconds < 0
    or exists (
        select 1 from {{ ref('stg_100ms__session_peers') }} as negative
        where negative.session_id = sessions.session_id and negative.duration_seconds < 0
    )
