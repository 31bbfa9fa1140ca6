-- Error events (`client.join.failed`, `client.publish.failed`, `client.subscribe.failed`,
-- `client.connect.failed`, `client.disconnected`), typed, with the client's agent (SDK,
-- OS, device) unnested. A failed join may have no session.
select
    event_id,
    event_type,
    event_type = 'client.join.failed' as is_join_failure,
    occurred_at,
    room_id,
    session_id,
    peer_id,
    user_id,
    {{ json_text('data_json', 'role') }} as role,
    {{ json_text('data_json', 'template_id') }} as template_id,
    cast({{ json_text('data_json', 'error_code') }} as integer) as error_code,
    {{ json_text('data_json', 'error_name') }} as error_name,
    {{ json_text('data_json', 'error_message') }} as error_message,
    cast({{ json_text('data_json', 'is_terminal') }} as boolean) as is_terminal,
    {{ json_text('data_json', 'action') }} as action,
    cast({{ json_text('data_json', 'retries_join') }} as integer) as join_retries,
    {{ json_text('data_json', 'agent.sdk') }} as sdk,
    {{ json_text('data_json', 'agent.sdk_version') }} as sdk_version,
    {{ json_text('data_json', 'agent.os') }} as os,
    {{ json_text('data_json', 'agent.os_version') }} as os_version,
    nullif({{ json_text('data_json', 'agent.device_model') }}, '') as device_model,
    {{ json_text('data_json', 'agent.framework') }} as framework,
    cast({{ json_text('data_json', 'agent.is_prebuilt') }} as boolean) as is_prebuilt
from {{ ref('base_100ms__analytics_events') }}
where event_family = 'error'
