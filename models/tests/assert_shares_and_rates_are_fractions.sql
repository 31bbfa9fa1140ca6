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
