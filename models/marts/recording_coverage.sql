-- One row per room that has a session or a room record: the share of its sessions that
-- were recorded, and the recording jobs that failed or left failed files.
with sessions as (
    select
        room_id,
        count(*) as sessions,
        sum(case when is_recorded then 1 else 0 end) as recorded_sessions
    from {{ ref('session_attendance') }}
    group by room_id
),

recordings as (
    select
        recordings.room_id,
        count(*) as recordings,
        sum(case when recordings.is_failed then 1 else 0 end) as failed_recordings,
        sum(case when not recordings.is_finished then 1 else 0 end) as unfinished_recordings,
        sum(case when failed_assets.recording_id is not null then 1 else 0 end)
            as recordings_with_failed_assets
    from {{ ref('stg_100ms__recordings') }} as recordings
    left join (
        select distinct recording_id
        from {{ ref('stg_100ms__recording_assets') }}
        where is_failed
    ) as failed_assets on failed_assets.recording_id = recordings.recording_id
    group by recordings.room_id
),

room_ids as (
    select room_id from {{ ref('stg_100ms__rooms') }}
    union
    select room_id from sessions
)

select
    room_ids.room_id,
    rooms.room_name,
    coalesce(sessions.sessions, 0) as sessions,
    coalesce(sessions.recorded_sessions, 0) as recorded_sessions,
    -- Null for a room without sessions.
    sessions.recorded_sessions * 1.0 / nullif(sessions.sessions, 0) as recorded_share,
    coalesce(recordings.recordings, 0) as recordings,
    coalesce(recordings.failed_recordings, 0) as failed_recordings,
    coalesce(recordings.unfinished_recordings, 0) as unfinished_recordings,
    coalesce(recordings.recordings_with_failed_assets, 0) as recordings_with_failed_assets
from room_ids
left join {{ ref('stg_100ms__rooms') }} as rooms on rooms.room_id = room_ids.room_id
left join sessions on sessions.room_id = room_ids.room_id
left join recordings on recordings.room_id = room_ids.room_id
