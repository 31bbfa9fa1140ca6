//! Schema drift: a field the API sends that the stream's schema does not declare is reported
//! once per stream and field per sync, so users hear of API changes before their dashboards do.
//! Only top-level fields are compared; nested objects are open by design.

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, OnceLock};

use serde_json::Value;

use super::StreamDef;

/// Declared top-level fields of each stream, parsed once from its schema.
fn declared(def: &StreamDef) -> &'static HashSet<String> {
    static DECLARED: OnceLock<Mutex<HashMap<&'static str, &'static HashSet<String>>>> =
        OnceLock::new();
    let mut map = DECLARED
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    map.entry(def.name).or_insert_with(|| {
        let schema: Value = serde_json::from_str(def.schema).unwrap_or(Value::Null);
        let fields = schema["properties"]
            .as_object()
            .map(|p| p.keys().cloned().collect())
            .unwrap_or_default();
        Box::leak(Box::new(fields))
    })
}

/// Fields already reported, per stream.
fn reported() -> &'static Mutex<HashSet<(&'static str, String)>> {
    static REPORTED: OnceLock<Mutex<HashSet<(&'static str, String)>>> = OnceLock::new();
    REPORTED.get_or_init(Default::default)
}

/// Checks a record against its stream's declared fields. Cheap when nothing drifted: one set
/// lookup per field, no lock.
pub struct DriftCheck {
    stream: &'static str,
    declared: &'static HashSet<String>,
}

impl DriftCheck {
    pub fn new(def: &StreamDef) -> DriftCheck {
        DriftCheck {
            stream: def.name,
            declared: declared(def),
        }
    }

    pub fn check(&self, record: &Value) {
        let Some(object) = record.as_object() else {
            return;
        };
        if self.declared.is_empty() {
            return;
        }
        for key in object.keys() {
            if self.declared.contains(key) {
                continue;
            }
            let first = reported()
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert((self.stream, key.clone()));
            if first {
                tracing::warn!(
                    "{}: the API sent a field the schema does not declare, {key:?}; it is passed through, but the schema may need updating",
                    self.stream
                );
            }
        }
    }
}
