-- One row per UTC day, room, SDK and OS with call-quality stats: how much of the peers' time
-- had packet loss over 5 %, and how often the video they watched froze.
--
-- - A sample stands for the time up to its track's next sample. The last sample of a track
--   stands for one step of that track (the median gap between its samples), but not past the
--   peer's leave (`counted_until` of stg_100ms__session_peers: `left_at`, or the session's
--   end); a track with a single sample stands up to the peer's leave.
-- - A peer's time is covered while at least one of its tracks (sent or received, audio or
--   video, each simulcast layer) has a sample standing; its loss at that time is the worst
--   loss among those tracks' samples, over 5 % makes it lossy. Both directions are the
--   peer's own link to the SFU. A stretch where no standing sample has a loss reading is
--   covered but not measured, and left out of `lossy_share`.
-- - Freezes are those of the video the peer received (`subscriber` video tracks: what the
--   viewer saw freeze), per hour of the peer's covered time.
-- - The day is the UTC day of the sample (a covered stretch belongs to the day it starts),
--   so a call over midnight counts on both days.
-- - SDK and OS: the peer-stats report carries no client agent. Only error events do, so a
--   peer takes the agent of its earliest error event that has one, else 'unknown'. Peers
--   with an SDK are thus peers who had an error: their quality is no sample of all peers.
{% set track_key = 'session_id, peer_id, direction, media_kind, track_index' %}
with samples as (
    select * from {{ ref('stg_100ms__peer_quality_samples') }}
    where sampled_at is not null
),

ordered as (
    select
        {{ track_key }},
        sampled_at,
        packet_loss_percent,
        lead(sampled_at) over (
            partition by {{ track_key }} order by sampled_at, sample_index
        ) as next_sampled_at
    from samples
),

steps as (
    select
        {{ track_key }},
        percentile_cont(0.5) within group (
            order by {{ seconds_between('sampled_at', 'next_sampled_at') }}
        ) as median_step_seconds
    from ordered
    where next_sampled_at is not null
    group by {{ track_key }}
),

-- Each sample with the end of the time it stands for.
intervals as (
    select
        ordered.session_id,
        ordered.peer_id,
        ordered.sampled_at,
        ordered.packet_loss_percent,
        case
            when ordered.next_sampled_at is not null then ordered.next_sampled_at
            when steps.median_step_seconds is null
                then greatest(ordered.sampled_at, coalesce(peers.counted_until, ordered.sampled_at))
            when peers.counted_until is null
                then {{ add_seconds('ordered.sampled_at', 'steps.median_step_seconds') }}
            else greatest(ordered.sampled_at, least(
                peers.counted_until,
                {{ add_seconds('ordered.sampled_at', 'steps.median_step_seconds') }}
            ))
        end as stands_until
    from ordered
    left join steps
        {%- for column in track_key.split(', ') %}
        {{ 'on' if loop.first else 'and' }} steps.{{ column }} = ordered.{{ column }}
        {%- endfor %}
    left join {{ ref('stg_100ms__session_peers') }} as peers
        on peers.session_id = ordered.session_id and peers.peer_id = ordered.peer_id
),

-- The peer's time cut wherever one of its samples starts or stops standing: within a
-- stretch, the same samples stand.
breakpoints as (
    select session_id, peer_id, sampled_at as breakpoint_at
    from intervals
    where stands_until > sampled_at
    union
    select session_id, peer_id, stands_until
    from intervals
    where stands_until > sampled_at
),

stretches as (
    select
        session_id,
        peer_id,
        breakpoint_at as starts_at,
        lead(breakpoint_at) over (partition by session_id, peer_id order by breakpoint_at)
            as ends_at
    from breakpoints
),

covered as (
    select
        stretches.session_id,
        stretches.peer_id,
        stretches.starts_at,
        {{ seconds_between('stretches.starts_at', 'stretches.ends_at') }} as seconds,
        -- Null when no standing sample has a loss reading.
        max(intervals.packet_loss_percent) as worst_loss_percent
    from stretches
    inner join intervals
        on intervals.session_id = stretches.session_id
        and intervals.peer_id = stretches.peer_id
        and intervals.sampled_at <= stretches.starts_at
        and intervals.stands_until >= stretches.ends_at
    where stretches.ends_at is not null
    group by stretches.session_id, stretches.peer_id, stretches.starts_at, stretches.ends_at
),

peer_days as (
    select
        session_id,
        peer_id,
        cast(starts_at as date) as quality_date,
        seconds as covered_seconds,
        case when worst_loss_percent is not null then seconds else 0 end as measured_seconds,
        case when worst_loss_percent > 5 then seconds else 0 end as lossy_seconds,
        cast(0 as double) as freezes
    from covered
    union all
    select
        session_id,
        peer_id,
        cast(sampled_at as date),
        0,
        0,
        0,
        coalesce(freeze_count, 0)
    from samples
    where direction = 'subscriber' and media_kind = 'video'
),

reported_peers as (
    select distinct session_id, peer_id, room_id from samples
),

agent_events as (
    select peer_id, sdk, os, occurred_at, event_id
    from {{ ref('stg_100ms__error_events') }}
    where peer_id is not null and sdk is not null
),

-- Each peer's earliest error event with an agent.
agents as (
    {{ first_per_key('agent_events', 'peer_id', 'occurred_at, event_id') }}
),

grouped as (
    select
        peer_days.quality_date,
        reported_peers.room_id,
        coalesce(agents.sdk, 'unknown') as sdk,
        coalesce(agents.os, 'unknown') as os,
        count(distinct peer_days.session_id) as sessions,
        -- A peer id is one peer in one session (a re-join is a new peer).
        count(distinct peer_days.peer_id) as peers,
        sum(peer_days.covered_seconds) as covered_seconds,
        sum(peer_days.measured_seconds) as measured_seconds,
        sum(peer_days.lossy_seconds) as lossy_seconds,
        sum(peer_days.freezes) as subscribed_video_freezes
    from peer_days
    inner join reported_peers
        on reported_peers.session_id = peer_days.session_id
        and reported_peers.peer_id = peer_days.peer_id
    left join agents on agents.peer_id = peer_days.peer_id
    group by
        peer_days.quality_date,
        reported_peers.room_id,
        coalesce(agents.sdk, 'unknown'),
        coalesce(agents.os, 'unknown')
)

select
    grouped.quality_date,
    grouped.room_id,
    rooms.room_name,
    grouped.sdk,
    grouped.os,
    grouped.sessions,
    grouped.peers,
    grouped.covered_seconds / 60.0 as peer_minutes,
    grouped.measured_seconds / 60.0 as loss_measured_minutes,
    grouped.lossy_seconds / 60.0 as lossy_peer_minutes,
    -- Null when no minute of the group has a loss reading.
    grouped.lossy_seconds / nullif(grouped.measured_seconds, 0) as lossy_share,
    grouped.subscribed_video_freezes,
    -- Null for a group without covered time.
    grouped.subscribed_video_freezes * 3600.0 / nullif(grouped.covered_seconds, 0)
        as freezes_per_peer_hour
from grouped
left join {{ ref('stg_100ms__rooms') }} as rooms on rooms.room_id = grouped.room_id
