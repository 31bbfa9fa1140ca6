-- One row per day (UTC), SDK, OS and error code among error events: failed joins and the
-- other errors (failed publishes, subscribes and connects, disconnections).
--
-- The failure rate is per day only: a successful join is a peer in a session, and peers
-- carry no SDK or OS, so it cannot be split the way the failures are. The `day_*` columns
-- repeat on each row of a day; do not sum them.
with errors as (
    select
        *,
        cast(occurred_at as date) as event_date,
        coalesce(sdk, 'unknown') as sdk_or_unknown,
        coalesce(os, 'unknown') as os_or_unknown
    from {{ ref('stg_100ms__error_events') }}
),

grouped as (
    select
        event_date,
        sdk_or_unknown as sdk,
        os_or_unknown as os,
        error_code,
        max(error_name) as error_name,
        sum(case when is_join_failure then 1 else 0 end) as failed_joins,
        sum(case when is_join_failure then 0 else 1 end) as other_errors,
        sum(case when event_type = 'client.publish.failed' then 1 else 0 end) as failed_publishes,
        sum(case when event_type = 'client.subscribe.failed' then 1 else 0 end)
            as failed_subscribes,
        sum(case when event_type = 'client.disconnected' then 1 else 0 end) as disconnections,
        sum(case when is_terminal then 1 else 0 end) as terminal_errors,
        count(distinct user_id) as affected_users
    from errors
    group by event_date, sdk_or_unknown, os_or_unknown, error_code
),

failed_joins_per_day as (
    select event_date, sum(failed_joins) as day_failed_joins
    from grouped
    group by event_date
),

joins_per_day as (
    select cast(joined_at as date) as event_date, count(*) as day_successful_joins
    from {{ ref('stg_100ms__session_peers') }}
    group by cast(joined_at as date)
)

select
    grouped.*,
    failed.day_failed_joins,
    coalesce(joins.day_successful_joins, 0) as day_successful_joins,
    -- Null on a day without any join, failed or not.
    failed.day_failed_joins * 1.0
        / nullif(failed.day_failed_joins + coalesce(joins.day_successful_joins, 0), 0)
        as day_join_failure_rate
from grouped
inner join failed_joins_per_day as failed on failed.event_date = grouped.event_date
left join joins_per_day as joins on joins.event_date = grouped.event_date
