//! `recordings` (recording jobs) and `recording_assets` (the files they produce).
//!
//! Both list newest first with no time filter: paging stops once past the cursor. A recording
//! keeps changing until it is `completed` or `failed`, so unfinished ones are remembered in the
//! state and emitted again until they finish; assets do not change once listed.
//!
//! The recordings list omits what `GET /recordings/{id}` adds (`recording_assets`). Rather than
//! a request per recording, the assets listing is read in step with the recordings (one request
//! per 100 assets) and each recording gets its assets, unless the API sent its own. Figures
//! derived from them get names of their own, never an API field's: `assets_duration` (of the
//! room composite, else the longest asset) and `assets_size` (the bytes of all its assets,
//! chat and transcripts included). A `duration` or `size` the API sends is kept as sent.

use serde_json::Value;

use crate::engine::{
    Attach, Cursor, Envelope, Partition, Partitions, Path, Records, Request, StreamDef,
};

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
        // Assets can appear after a recording completed: read it again for the lookback.
        updated: Some("updated_at"),
        session_feed: false,
    },
    attach: Some(Attach {
        path: "/recording-assets",
        parent_field: "job_id",
        into: "recording_assets",
        created_field: "created_at",
    }),
    records: Records::Map(summarise_assets),
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
        updated: None,
        session_feed: false,
    },
    attach: None,
    records: Records::AsIs,
};

fn is_unfinished(recording: &Value) -> bool {
    !matches!(
        recording.get("status").and_then(Value::as_str),
        Some("completed" | "failed")
    )
}

/// `assets_duration` and `assets_size` from the recording's assets; null when there are none
/// yet.
fn summarise_assets(recording: &mut Value, _: &Partition) {
    let assets = recording
        .get("recording_assets")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let int = |a: &Value, f: &str| a.get(f).and_then(Value::as_i64);
    let composite = assets
        .iter()
        .find(|a| a.get("type").and_then(Value::as_str) == Some("room-composite"))
        .and_then(|a| int(a, "duration"));
    let duration = composite.or_else(|| assets.iter().filter_map(|a| int(a, "duration")).max());
    let size =
        (!assets.is_empty()).then(|| assets.iter().filter_map(|a| int(a, "size")).sum::<i64>());
    if let Some(recording) = recording.as_object_mut() {
        recording.insert(
            "assets_duration".into(),
            duration.map_or(Value::Null, Value::from),
        );
        recording.insert("assets_size".into(), size.map_or(Value::Null, Value::from));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn assets_duration_and_size_come_from_the_assets() {
        let mut r = json!({"id": "r", "recording_assets": [
            {"type": "chat", "duration": 0, "size": 74},
            {"type": "room-composite", "duration": 55, "size": 26361961},
            {"type": "transcript", "duration": 56, "size": 50}
        ]});
        summarise_assets(&mut r, &Partition::default());
        assert_eq!(r["assets_duration"], 55);
        assert_eq!(r["assets_size"], 26362085);
        let mut r = json!({"id": "r", "recording_assets": []});
        summarise_assets(&mut r, &Partition::default());
        assert_eq!(r["assets_duration"], Value::Null);
        assert_eq!(r["assets_size"], Value::Null);
    }

    #[test]
    fn the_api_values_are_kept() {
        let api = json!({"id": "r", "duration": 54, "size": 26361961,
            "recording_assets": [{"type": "room-composite", "duration": 55, "size": 26361961},
                                 {"type": "chat", "duration": 0, "size": 74}]});
        let mut r = api.clone();
        summarise_assets(&mut r, &Partition::default());
        for field in ["duration", "size", "recording_assets"] {
            assert_eq!(r[field], api[field], "{field}");
        }
        assert_eq!(r["assets_size"], 26362035);
    }

    #[test]
    fn only_completed_and_failed_are_final() {
        for (status, unfinished) in [
            ("completed", false),
            ("failed", false),
            ("running", true),
            ("post_processing", true),
        ] {
            assert_eq!(
                is_unfinished(&json!({"status": status})),
                unfinished,
                "{status}"
            );
        }
    }
}
