-- The call-quality minutes never exceed the time the peers were in their sessions: a
-- sample stands no later than its peer's leave (or its track's next sample), so covered
-- time can pass presence only if the API's samples start before the peer joined. A warning:
-- that would be the API's clocks, not a broken model, though a sum over 100 % of presence
-- here also catches stretches counted twice.
{{ config(severity='warn') }}

with reported as (
    select distinct session_id, peer_id
    from {{ ref('stg_100ms__peer_quality_samples') }}
    where sampled_at is not null
),

presence as (
    select sum(peers.duration_seconds) / 60.0 as minutes
    from {{ ref('stg_100ms__session_peers') }} as peers
    inner join reported
        on reported.session_id = peers.session_id and reported.peer_id = peers.peer_id
),

covered as (
    select sum(peer_minutes) as minutes from {{ ref('call_quality') }}
)

select covered.minutes as covered_minutes, presence.minutes as presence_minutes
from covered, presence
where covered.minutes > presence.minutes + 1e-6
