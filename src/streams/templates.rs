//! `templates`, and the two streams derived from the same listing: `template_settings` (one
//! record per template) and `template_destinations` (one record per destination).
//!
//! Templates are the one camelCase resource. Their `destinations` are maps keyed by destination
//! name (or a UUID) under each destination type; they are flattened into records keyed by
//! template, type and map key, so no record needs a request of its own. The entry's own `name`
//! is kept as the API sent it: the docs show it equal to the key, but nothing promises that.
//! All three streams can carry the customer's storage credentials, which are masked
//! ([`super::credentials`]).

use serde_json::{Map, Value};

use super::credentials::{mask_record, mask_secrets};
use crate::engine::{Cursor, Envelope, Partition, Partitions, Path, Records, Request, StreamDef};

const LIST: Request = Request {
    path: Path::Fixed("/templates"),
    params: &[],
    envelope: Envelope::Data,
};

pub static TEMPLATES: StreamDef = StreamDef {
    name: "templates",
    primary_key: &["id"],
    schema: include_str!("../../schemas/templates.json"),
    request: LIST,
    partitions: Partitions::None,
    cursor: Cursor::Updated {
        field: "updatedAt",
        fields: &["createdAt", "updatedAt"],
    },
    attach: None,
    records: Records::Map(mask_record),
};

pub static TEMPLATE_SETTINGS: StreamDef = StreamDef {
    name: "template_settings",
    primary_key: &["template_id"],
    schema: include_str!("../../schemas/template_settings.json"),
    request: LIST,
    partitions: Partitions::None,
    cursor: Cursor::None,
    attach: None,
    records: Records::FlatMap(settings),
};

pub static TEMPLATE_DESTINATIONS: StreamDef = StreamDef {
    name: "template_destinations",
    // The map key, not `name`: keys are unique within a type, names need not be.
    primary_key: &["template_id", "destination_type", "destination_key"],
    schema: include_str!("../../schemas/template_destinations.json"),
    request: LIST,
    partitions: Partitions::None,
    cursor: Cursor::None,
    attach: None,
    records: Records::FlatMap(destinations),
};

fn template_id(template: &Map<String, Value>) -> Option<Value> {
    template
        .get("id")
        .or_else(|| template.get("_id"))
        .filter(|v| v.is_string())
        .cloned()
}

/// The template's settings at the top level, with its id, name and roles.
fn settings(template: Value, _: &Partition, out: &mut Vec<Value>) {
    let Value::Object(mut template) = template else {
        return;
    };
    let Some(id) = template_id(&template) else {
        return;
    };
    let mut record = match template.remove("settings") {
        Some(Value::Object(settings)) => settings,
        _ => Map::new(),
    };
    record.insert("template_id".into(), id);
    record.insert(
        "template_name".into(),
        template.remove("name").unwrap_or(Value::Null),
    );
    record.insert(
        "roles".into(),
        template.remove("roles").unwrap_or(Value::Null),
    );
    let mut record = Value::Object(record);
    mask_secrets(&mut record);
    out.push(record);
}

/// One record per entry of each destination map: its map key in `destination_key`, and in
/// `name` when the entry has no name of its own.
fn destinations(template: Value, _: &Partition, out: &mut Vec<Value>) {
    let Value::Object(mut template) = template else {
        return;
    };
    let Some(id) = template_id(&template) else {
        return;
    };
    let Some(Value::Object(kinds)) = template.remove("destinations") else {
        return;
    };
    for (kind, entries) in kinds {
        let Value::Object(entries) = entries else {
            continue;
        };
        for (key, config) in entries {
            let mut record = match config {
                Value::Object(config) => config,
                _ => Map::new(),
            };
            record.insert("template_id".into(), id.clone());
            record.insert("destination_type".into(), Value::String(kind.clone()));
            if record.get("name").is_none_or(Value::is_null) {
                record.insert("name".into(), Value::String(key.clone()));
            }
            record.insert("destination_key".into(), Value::String(key));
            let mut record = Value::Object(record);
            mask_secrets(&mut record);
            out.push(record);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn template() -> Value {
        json!({
            "id": "t1", "name": "tmpl", "roles": {"host": {"name": "host"}},
            "settings": {"region": "in", "recording": null, "retry": {}},
            "destinations": {
                "hlsDestinations": {"d1": {"name": "d1", "role": "__internal_recorder"}},
                "rtmpDestinations": {"r1": {"name": "other", "rtmpUrls": []}, "r2": {}},
                "browserRecordings": {}
            },
            "createdAt": "2022-09-07T11:31:33.618Z", "updatedAt": "2022-09-07T11:31:33.618Z"
        })
    }

    #[test]
    fn settings_record_per_template() {
        let mut out = Vec::new();
        settings(template(), &Partition::default(), &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0]["template_id"], "t1");
        assert_eq!(out[0]["template_name"], "tmpl");
        assert_eq!(out[0]["region"], "in");
        assert_eq!(out[0]["roles"]["host"]["name"], "host");
    }

    #[test]
    fn destinations_keep_their_map_key_and_their_own_name() {
        let mut out = Vec::new();
        destinations(template(), &Partition::default(), &mut out);
        let keys: Vec<_> = out
            .iter()
            .map(|r| {
                format!(
                    "{}|{}|{}|{}",
                    r["template_id"], r["destination_type"], r["destination_key"], r["name"]
                )
            })
            .collect();
        assert_eq!(keys.len(), 3, "{keys:?}");
        // The API's name is kept; the key, its own field, is what tells entries apart.
        assert!(keys.contains(&r#""t1"|"rtmpDestinations"|"r1"|"other""#.to_owned()));
        // An entry without a name is named by its key.
        assert!(keys.contains(&r#""t1"|"rtmpDestinations"|"r2"|"r2""#.to_owned()));
        let hls = out
            .iter()
            .find(|r| r["destination_type"] == "hlsDestinations")
            .unwrap();
        assert_eq!(hls["role"], "__internal_recorder");
    }

    #[test]
    fn storage_secrets_are_masked_in_all_three_streams() {
        let mut t = template();
        t["settings"]["recording"] = json!({"upload": {"type": "s3", "location": "b",
            "credentials": {"key": "AKIA", "secretKey": "planted-1"}}});
        t["destinations"]["hlsDestinations"]["d1"]["upload"] =
            json!({"credentials": {"key": "AKIA", "secret": "planted-2"}});
        let mut out = Vec::new();
        settings(t.clone(), &Partition::default(), &mut out);
        destinations(t.clone(), &Partition::default(), &mut out);
        let mut whole = t;
        mask_record(&mut whole, &Partition::default());
        out.push(whole);
        for record in &out {
            let text = record.to_string();
            assert!(!text.contains("planted-"), "{text}");
        }
        assert_eq!(out[0]["recording"]["upload"]["credentials"]["key"], "AKIA");
    }

    #[test]
    fn empty_or_missing_destinations_yield_nothing() {
        for d in [json!({}), json!(null)] {
            let mut t = template();
            t["destinations"] = d;
            let mut out = Vec::new();
            destinations(t, &Partition::default(), &mut out);
            assert!(out.is_empty());
        }
    }
}
