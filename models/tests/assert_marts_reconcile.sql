-- The marts tell one story: daily usage adds up to the sessions it groups, and recording
-- coverage to the same sessions and recorded sessions.
with attendance as (
    select count(*) as sessions, sum(total_peer_minutes) as peer_minutes,
           sum(case when is_recorded then 1 else 0 end) as recorded
    from {{ ref('session_attendance') }}
),

daily as (
    select sum(sessions) as sessions, sum(peer_minutes) as peer_minutes,
           sum(recorded_sessions) as recorded
    from {{ ref('daily_usage') }}
),

coverage as (
    select sum(sessions) as sessions, sum(recorded_sessions) as recorded
    from {{ ref('recording_coverage') }}
)

select attendance.*, daily.sessions as daily_sessions, coverage.sessions as coverage_sessions
from attendance, daily, coverage
where attendance.sessions <> daily.sessions
    or attendance.sessions <> coverage.sessions
    or attendance.recorded <> daily.recorded
    or attendance.recorded <> coverage.recorded
    or abs(attendance.peer_minutes - daily.peer_minutes) > 0.001
