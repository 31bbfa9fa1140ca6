-- One row per peer per ended session with call-quality stats: the connector's summary
-- flattened, per direction (`publisher`: the tracks the peer sent; `subscriber`: the tracks
-- it received) and media kind (`audio`, `video`), over every sample of every track of that
-- kind. A figure no sample has (freezes of audio) is null. The series themselves, one row
-- per sample, are in stg_100ms__peer_quality_samples.
--
-- The stream covers the sessions that ended within `peer_quality_stats_days` (default 7)
-- of each sync, and only peers with a report: a peer who never published has none.
with latest as (
    {{ dedupe(
        source('airbyte_100ms', 'peer_quality_stats'), 'session_id, peer_id',
        'session_ended_at desc'
    ) }}
)

select
    session_id,
    peer_id,
    room_id,
    {{ utc_timestamp('session_ended_at') }} as session_ended_at,
{%- for direction, kind in peer_quality_arrays() %}
    {%- set prefix = direction ~ '.' ~ kind ~ '.' %}
    {%- set column = direction ~ '_' ~ kind ~ '_' %}
    cast({{ json_text('summary', prefix ~ 'tracks') }} as integer) as {{ column }}tracks,
    cast({{ json_text('summary', prefix ~ 'samples') }} as integer) as {{ column }}samples,
    {%- for figure in [
        'packet_loss_percent_mean', 'packet_loss_percent_max', 'rtt_ms_p50', 'rtt_ms_p95',
        'freeze_count_total', 'bitrate_mean'
    ] %}
    {{ number_or_null(json_text('summary', prefix ~ figure)) }} as {{ column }}{{ figure }},
    {%- endfor %}
{%- endfor %}
    {{ utc_timestamp('_airbyte_extracted_at') }} as extracted_at
from latest
