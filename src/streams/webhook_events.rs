//! `webhook_events`: the delivery log of the webhooks the customer configured, one record per
//! delivered event.
//!
//! It carries what the analytics events do not: peer join and leave, session open and close,
//! recording and streaming lifecycles. `GET /analytics/webhooks` filters on time
//! (`start_time`/`end_time`, windows of at most 14 days within the last 30) and pages by number;
//! the engine reads it in windows from the cursor (see `engine/webhooks.rs`). The payload is
//! kept as given; `event_name`, `room_id` and `event_timestamp` sit at the top level (taken
//! from the payload's `original_event_name` and `event_data` when the API leaves them out).

use serde_json::Value;

use crate::engine::{Cursor, Envelope, Partition, Partitions, Path, Records, Request, StreamDef};

pub static WEBHOOK_EVENTS: StreamDef = StreamDef {
    name: "webhook_events",
    primary_key: &["event_id"],
    schema: include_str!("../../schemas/webhook_events.json"),
    request: Request {
        path: Path::Fixed("/analytics/webhooks"),
        params: &[],
        envelope: Envelope::PageNumbers,
    },
    partitions: Partitions::None,
    cursor: Cursor::Webhooks {
        field: "event_timestamp",
    },
    attach: None,
    records: Records::Map(lift),
};

fn lift(event: &mut Value, _: &Partition) {
    let payload = event.get("payload");
    let data = payload.and_then(|p| p.get("event_data"));
    let from_payload = [
        (
            "event_name",
            payload.and_then(|p| p.get("original_event_name")),
        ),
        ("room_id", data.and_then(|d| d.get("room_id"))),
        ("event_timestamp", data.and_then(|d| d.get("timestamp"))),
    ]
    .map(|(field, value)| (field, value.filter(|v| v.is_string()).cloned()));
    let Some(fields) = event.as_object_mut() else {
        return;
    };
    for (field, value) in from_payload {
        if fields.get(field).is_none_or(Value::is_null) {
            fields.insert(field.into(), value.unwrap_or(Value::Null));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn top_level_fields_win_and_missing_ones_come_from_the_payload() {
        let mut e = json!({"event_id": "e", "event_name": "peer.join.success",
            "payload": {"original_event_name": "other", "event_data": {"room_id": "r", "timestamp": "2024-01-01T00:00:00Z"}}});
        lift(&mut e, &Partition::default());
        assert_eq!(e["event_name"], "peer.join.success");
        assert_eq!(e["room_id"], "r");
        assert_eq!(e["event_timestamp"], "2024-01-01T00:00:00Z");
        let mut bare = json!({"event_id": "e"});
        lift(&mut bare, &Partition::default());
        assert!(bare["room_id"].is_null());
    }
}
