-- One row per day and room with at least one session: how much the platform was used.
-- A session belongs to the day (UTC) it started, with all its peer-minutes, even when it
-- runs past midnight.
with sessions as (
    select * from {{ ref('session_attendance') }}
),

users as (
    select
        sessions.session_date,
        sessions.room_id,
        count(distinct peers.user_id) as distinct_users
    from sessions
    inner join {{ ref('stg_100ms__session_peers') }} as peers
        on peers.session_id = sessions.session_id
    group by sessions.session_date, sessions.room_id
),

per_day as (
    select
        session_date,
        room_id,
        count(*) as sessions,
        sum(case when is_active then 1 else 0 end) as live_sessions,
        sum(peers) as peers,
        sum(total_peer_minutes) as peer_minutes,
        sum(case when is_recorded then 1 else 0 end) as recorded_sessions
    from sessions
    group by session_date, room_id
)

select
    per_day.session_date,
    per_day.room_id,
    rooms.room_name,
    per_day.sessions,
    per_day.live_sessions,
    coalesce(users.distinct_users, 0) as distinct_users,
    per_day.peers,
    per_day.peer_minutes,
    per_day.recorded_sessions
from per_day
left join users
    on users.session_date = per_day.session_date and users.room_id = per_day.room_id
left join {{ ref('stg_100ms__rooms') }} as rooms on rooms.room_id = per_day.room_id
