//! `templates`, and the two streams derived from the same listing: `template_settings` (one
//! record per template) and `template_destinations` (one record per destination).
//!
//! Templates are the one camelCase resource. Their `destinations` are maps keyed by destination
//! name under each destination type; they are flattened into records keyed by template, type
//! and name, so no record needs a request of its own.

use serde_json::{Map, Value};

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
    records: Records::AsIs,
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
    primary_key: &["template_id", "destination_type", "name"],
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
    out.push(Value::Object(record));
}

/// One record per entry of each destination map.
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
        for (name, config) in entries {
            let mut record = match config {
                Value::Object(config) => config,
                _ => Map::new(),
            };
            record.insert("template_id".into(), id.clone());
            record.insert("destination_type".into(), Value::String(kind.clone()));
            record.insert("name".into(), Value::String(name));
            out.push(Value::Object(record));
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
    fn destinations_flattened_with_map_key_as_name() {
        let mut out = Vec::new();
        destinations(template(), &Partition::default(), &mut out);
        let keys: Vec<_> = out
            .iter()
            .map(|r| {
                format!(
                    "{}|{}|{}",
                    r["template_id"], r["destination_type"], r["name"]
                )
            })
            .collect();
        assert_eq!(keys.len(), 3, "{keys:?}");
        assert!(keys.contains(&r#""t1"|"rtmpDestinations"|"r1""#.to_owned()));
        let hls = out
            .iter()
            .find(|r| r["destination_type"] == "hlsDestinations")
            .unwrap();
        assert_eq!(hls["role"], "__internal_recorder");
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
