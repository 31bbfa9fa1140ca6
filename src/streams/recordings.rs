//! `recordings` (recording jobs) and `recording_assets` (the files they produce).
//!
//! Both list newest first with no time filter: paging stops once past the cursor. A recording
//! keeps changing until it is `completed` or `failed`, so unfinished ones are remembered in the
//! state and emitted again until they finish; assets do not change once listed.

use serde_json::Value;

use crate::engine::{Cursor, Envelope, Partitions, Path, Records, Request, StreamDef};

pub static RECORDINGS: StreamDef = StreamDef {
    name: "recordings",
    primary_key: &["id"],
    schema: include_str!("../../schemas/recordings.json"),
    request: Request {
        path: Path::Fixed("/recordings"),
        params: &[],
        envelope: Envelope::Data,
    },
    partitions: Partitions::None,
    cursor: Cursor::Created {
        field: "created_at",
        server_filter: false,
        still_changing: Some(is_unfinished),
    },
    records: Records::AsIs,
};

pub static RECORDING_ASSETS: StreamDef = StreamDef {
    name: "recording_assets",
    primary_key: &["id"],
    schema: include_str!("../../schemas/recording_assets.json"),
    request: Request {
        path: Path::Fixed("/recording-assets"),
        params: &[],
        envelope: Envelope::Data,
    },
    partitions: Partitions::None,
    cursor: Cursor::Created {
        field: "created_at",
        server_filter: false,
        still_changing: None,
    },
    records: Records::AsIs,
};

fn is_unfinished(recording: &Value) -> bool {
    !matches!(
        recording.get("status").and_then(Value::as_str),
        Some("completed" | "failed")
    )
}
