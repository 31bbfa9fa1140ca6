-- Deduplication drops versions, never records: each staging model has exactly one row per
-- distinct key of its raw table.
{% set keyed = [
    ('stg_100ms__sessions', 'sessions', 'id'),
    ('stg_100ms__rooms', 'rooms', 'id'),
    ('stg_100ms__recordings', 'recordings', 'id'),
    ('stg_100ms__recording_assets', 'recording_assets', 'id'),
    ('stg_100ms__analytics_events', 'analytics_events', 'id'),
    ('stg_100ms__templates', 'templates', 'id'),
    ('stg_100ms__template_settings', 'template_settings', 'template_id'),
    ('stg_100ms__active_room_peers', 'active_room_peers', 'id'),
    ('stg_100ms__peer_quality_stats', 'peer_quality_stats', "session_id || '|' || peer_id"),
    ('stg_100ms__webhook_events', 'webhook_events', 'event_id'),
] %}
select * from (
{%- for model, table, key in keyed %}
    select
        '{{ model }}' as model,
        (select count(distinct {{ key }}) from {{ source('airbyte_100ms', table) }}) as raw_keys,
        (select count(*) from {{ ref(model) }}) as staged_rows
    {% if not loop.last %}union all{% endif %}
{%- endfor %}
) as counts
where raw_keys <> staged_rows
