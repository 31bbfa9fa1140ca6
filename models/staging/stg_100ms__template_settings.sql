-- One row per template's settings, as of the latest sync. Only where recordings are
-- uploaded is kept of the recording settings: they can carry storage credentials.
with latest as (
    {{ dedupe(source('airbyte_100ms', 'template_settings'), 'template_id') }}
)

select
    template_id,
    template_name,
    region,
    {{ json_text('recording', 'upload.type') }} as recording_upload_type,
    {{ json_text('recording', 'upload.location') }} as recording_upload_location,
    cast({{ json_text('roomstate', 'enabled') }} as boolean) as is_room_state_enabled,
    {{ utc_timestamp('_airbyte_extracted_at') }} as extracted_at
from latest
