//! `analytics_events`: track, recording and error events, per room.
//!
//! The API needs a `room_id`, pages with an opaque `next` token, returns events oldest first
//! and keeps them 30 days. It has no time filter, so after the first sync the engine reads only
//! the sessions that can have new events, and sweeps rooms for events of no session now and
//! then. `room_id` and `session_id` are lifted from `data` to the top level.

use serde_json::Value;

use crate::engine::{Cursor, Envelope, Partition, Partitions, Path, Records, Request, StreamDef};

pub static ANALYTICS_EVENTS: StreamDef = StreamDef {
    name: "analytics_events",
    primary_key: &["id"],
    schema: include_str!("../../schemas/analytics_events.json"),
    request: Request {
        path: Path::Fixed("/analytics/events"),
        params: &[],
        envelope: Envelope::Events,
    },
    partitions: Partitions::None,
    cursor: Cursor::Events { field: "timestamp" },
    attach: None,
    records: Records::Map(lift_ids),
};

fn lift_ids(event: &mut Value, partition: &Partition) {
    let data = event.get("data");
    let room = data
        .and_then(|d| d.get("room_id"))
        .cloned()
        .filter(Value::is_string)
        .or_else(|| partition.room_id.clone().map(Value::String))
        .unwrap_or(Value::Null);
    let session = data
        .and_then(|d| d.get("session_id"))
        .cloned()
        .filter(Value::is_string)
        .unwrap_or(Value::Null);
    if let Some(event) = event.as_object_mut() {
        event.insert("room_id".into(), room);
        event.insert("session_id".into(), session);
    }
}
