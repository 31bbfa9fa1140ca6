-- One row per template: its latest version (templates are camelCase in the API; the
-- sync lower-cases the column names).
with latest as (
    {{ dedupe(source('airbyte_100ms', 'templates'), 'id', 'updatedat desc') }}
)

select
    id as template_id,
    name as template_name,
    {{ adapter.quote('default') }} as is_default,
    customerid as customer_id,
    {{ utc_timestamp('createdat') }} as created_at,
    {{ utc_timestamp('updatedat') }} as updated_at,
    {{ utc_timestamp('_airbyte_extracted_at') }} as extracted_at
from latest
