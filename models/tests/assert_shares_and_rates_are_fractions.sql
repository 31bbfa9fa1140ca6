-- Shares and rates lie in [0, 1], and a share is null exactly when there is nothing to
-- divide by.
select 'recording_coverage' as model, room_id as row_key, recorded_share as value
from {{ ref('recording_coverage') }}
where recorded_share < 0 or recorded_share > 1
    or (recorded_share is null) <> (sessions = 0)
union all
select 'join_failures', cast(event_date as varchar), day_join_failure_rate
from {{ ref('join_failures') }}
where day_join_failure_rate < 0 or day_join_failure_rate > 1
    or (day_join_failure_rate is null) <> (day_failed_joins + day_successful_joins = 0)
union all
select 'call_quality', cast(quality_date as varchar) || ' ' || room_id || ' ' || sdk || ' ' || os,
       lossy_share
from {{ ref('call_quality') }}
where lossy_share < 0 or lossy_share > 1
    or (lossy_share is null) <> (loss_measured_minutes = 0)
    or freezes_per_peer_hour < 0
    or (freezes_per_peer_hour is null) <> (peer_minutes = 0)
    or lossy_peer_minutes > loss_measured_minutes + 1e-9
    or loss_measured_minutes > peer_minutes + 1e-9
