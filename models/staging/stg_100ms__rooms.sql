-- One row per room: its latest version. The API sends Go's zero time (year 1) as
-- `updated_at` of a room never updated; that becomes null.
with latest as (
    {{ dedupe(source('airbyte_100ms', 'rooms'), 'id', 'updated_at desc') }}
)

select
    id as room_id,
    name as room_name,
    enabled as is_enabled,
    region,
    template_id,
    large_room as is_large_room,
    size as max_peers,
    max_duration_seconds,
    -- `recording` is the list endpoint's older spelling of `recording_info`.
    cast(coalesce(
        {{ json_text('recording_info', 'enabled') }}, {{ json_text('recording', 'enabled') }}
    ) as boolean) as is_recording_enabled,
    {{ utc_timestamp('created_at') }} as created_at,
    case
        when {{ utc_timestamp('updated_at') }} > cast('1970-01-01' as timestamp)
            then {{ utc_timestamp('updated_at') }}
    end as updated_at,
    {{ utc_timestamp('_airbyte_extracted_at') }} as extracted_at
from latest
