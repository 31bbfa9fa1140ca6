-- Call quality tells one story with the connector's own summary:
-- - per peer, direction and kind, the unnested samples are the summary's: as many, the
--   same highest packet loss, the same total freezes (the summary is the connector's, over
--   the same report, computed without SQL);
-- - the mart's freezes are every freeze of the received video, none lost or counted twice;
-- - its covered minutes are at least, for each peer, the span of its longest track (first
--   to last sample): no stretch lost between samples. (The bound from above, presence, is
--   assert_call_quality_covers_no_more_than_presence.)
with samples as (
    select
        session_id,
        peer_id,
        direction,
        media_kind,
        count(*) as samples,
        max(packet_loss_percent) as loss_max,
        sum(freeze_count) as freezes
    from {{ ref('stg_100ms__peer_quality_samples') }}
    group by session_id, peer_id, direction, media_kind
),

summary as (
{%- for direction, kind in peer_quality_arrays() %}
    select
        session_id,
        peer_id,
        '{{ direction }}' as direction,
        '{{ kind }}' as media_kind,
        {{ direction }}_{{ kind }}_samples as samples,
        {{ direction }}_{{ kind }}_packet_loss_percent_max as loss_max,
        {{ direction }}_{{ kind }}_freeze_count_total as freezes
    from {{ ref('stg_100ms__peer_quality_stats') }}
    {% if not loop.last %}union all{% endif %}
{%- endfor %}
),

summary_mismatches as (
    select
        'summary' as check_name,
        summary.session_id || ' ' || summary.peer_id || ' ' || summary.direction || ' '
            || summary.media_kind as row_key
    from summary
    left join samples
        on samples.session_id = summary.session_id
        and samples.peer_id = summary.peer_id
        and samples.direction = summary.direction
        and samples.media_kind = summary.media_kind
    where coalesce(samples.samples, 0) <> coalesce(summary.samples, 0)
        or abs(coalesce(samples.loss_max, -1) - coalesce(summary.loss_max, -1)) > 1e-9
        or abs(coalesce(samples.freezes, -1) - coalesce(summary.freezes, -1)) > 1e-9
),

timed as (
    select * from {{ ref('stg_100ms__peer_quality_samples') }} where sampled_at is not null
),

track_spans as (
    select
        session_id,
        peer_id,
        {{ seconds_between('min(sampled_at)', 'max(sampled_at)') }} as span_seconds
    from timed
    group by session_id, peer_id, direction, media_kind, track_index
),

longest_tracks as (
    select sum(longest) / 60.0 as minutes
    from (
        select session_id, peer_id, max(span_seconds) as longest
        from track_spans
        group by session_id, peer_id
    ) as per_peer
),

mart as (
    select
        sum(peer_minutes) as peer_minutes,
        sum(subscribed_video_freezes) as freezes
    from {{ ref('call_quality') }}
),

received_freezes as (
    select coalesce(sum(freeze_count), 0) as freezes
    from timed
    where direction = 'subscriber' and media_kind = 'video'
)

select check_name, row_key from summary_mismatches
union all
select 'freezes', cast(mart.freezes as varchar) || ' vs ' || cast(received_freezes.freezes as varchar)
from mart, received_freezes
where abs(coalesce(mart.freezes, 0) - received_freezes.freezes) > 1e-9
union all
select 'covered minutes', cast(mart.peer_minutes as varchar) || ' < ' || cast(longest_tracks.minutes as varchar)
from mart, longest_tracks
where coalesce(mart.peer_minutes, 0) + 1e-6 < coalesce(longest_tracks.minutes, 0)
