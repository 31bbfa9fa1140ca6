-- One row per destination of a template (HLS, RTMP, browser recording, transcription), as
-- of the latest sync that saw it. Under append, a destination removed from its template
-- keeps its last row: compare `extracted_at` with the template's.
with latest as (
    {{ dedupe(
        source('airbyte_100ms', 'template_destinations'),
        'template_id, destination_type, destination_key'
    ) }}
)

select
    template_id,
    destination_type,
    destination_key,
    name as destination_name,
    role,
    maxduration as max_duration_seconds,
    autostoptimeout as auto_stop_timeout_seconds,
    recordingenabled as is_recording_enabled,
    playlisttype as playlist_type,
    {{ utc_timestamp('_airbyte_extracted_at') }} as extracted_at
from latest
