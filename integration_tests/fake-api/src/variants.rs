//! Doc variants: where the 100ms docs leave a behaviour open, the fake makes one choice by
//! default and each switch here makes the other (research notes §5, items 15–21). The ground
//! truth does not move with them: a correct connector reads the same records either way.

use serde_json::{json, Map, Value};

use crate::rng::{hex, mix};

/// Switches for the behaviours a 100ms doc page allows but the default fake does not show.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Variants {
    /// The sessions list takes `limit` 10–20 only (the range on the session doc page) and
    /// answers a larger one with 400 `Invalid query param`, `details` naming `limit`.
    pub sessions_limit_max_20: bool,
    /// An unfiltered sessions list returns active sessions only (`active`: "Default: true").
    pub sessions_active_by_default: bool,
    /// Session peers and live peers carry their id only as the map key (the legacy example).
    pub peers_keyed_only: bool,
    /// Rooms and templates carry cloud-storage credentials, as the create/update examples
    /// show: rooms' `recording_info.upload_info.credentials {key, secret}`, templates'
    /// `settings.recording.upload.credentials {key, secretKey}` and destinations' `upload`
    /// with credentials. Each secret is distinct ([`crate::FakeApi::planted_secrets`]).
    pub storage_credentials: bool,
}

impl Variants {
    /// Every variant at once.
    pub fn all() -> Variants {
        Variants {
            sessions_limit_max_20: true,
            sessions_active_by_default: true,
            peers_keyed_only: true,
            storage_credentials: true,
        }
    }

    /// Each variant alone, by name.
    pub fn each() -> [(&'static str, Variants); 4] {
        let none = Variants::default();
        [
            (
                "sessions_limit_max_20",
                Variants {
                    sessions_limit_max_20: true,
                    ..none
                },
            ),
            (
                "sessions_active_by_default",
                Variants {
                    sessions_active_by_default: true,
                    ..none
                },
            ),
            (
                "peers_keyed_only",
                Variants {
                    peers_keyed_only: true,
                    ..none
                },
            ),
            (
                "storage_credentials",
                Variants {
                    storage_credentials: true,
                    ..none
                },
            ),
        ]
    }

    /// The largest sessions `limit` the API accepts.
    pub(crate) fn sessions_limit_max(&self) -> usize {
        if self.sessions_limit_max_20 {
            20
        } else {
            100
        }
    }
}

/// A planted secret: recognisable in a failure message, distinct per object.
pub(crate) fn secret(salt: u64, kind: &str, i: usize) -> String {
    let kind_hash = kind.bytes().fold(0x5EC2_E75E, |h, b| mix(h ^ u64::from(b)));
    let h = mix(salt ^ mix(i as u64) ^ kind_hash);
    format!("fake-{kind}-secret-{}", hex(&h.to_be_bytes()))
}

/// An access key id: kept in records, so not planted among the secrets.
fn key_id(salt: u64, i: usize) -> String {
    format!(
        "AKIAFAKE{}",
        hex(&mix(salt ^ i as u64).to_be_bytes()[..4]).to_uppercase()
    )
}

fn upload(salt: u64, kind: &str, i: usize, secret_field: &str) -> Value {
    json!({
        "type": "s3", "location": "fake-customer-bucket", "prefix": format!("{kind}/{i}"),
        "options": {"region": "ap-south-1"},
        "credentials": {"key": key_id(salt, i), secret_field: secret(salt, kind, i)},
    })
}

/// Adds the credentials of [`Variants::storage_credentials`] to a template: on its recording
/// upload (when it has one) and on each of its destinations.
pub(crate) fn plant_template_credentials(template: &mut Value, salt: u64, i: usize) {
    if let Some(up) = template.pointer_mut("/settings/recording/upload") {
        if let Some(up) = up.as_object_mut() {
            up.insert(
                "credentials".into(),
                json!({"key": key_id(salt, i), "secretKey": secret(salt, "template", i)}),
            );
        }
    }
    let Some(Value::Object(kinds)) = template.get_mut("destinations") else {
        return;
    };
    let mut n = 0;
    for entries in kinds.values_mut() {
        for entry in entries
            .as_object_mut()
            .into_iter()
            .flat_map(Map::values_mut)
        {
            if let Some(entry) = entry.as_object_mut() {
                entry.insert(
                    "upload".into(),
                    upload(salt, "destination", i * 100 + n, "secretKey"),
                );
                n += 1;
            }
        }
    }
}

/// The credentials of a room's `upload_info`, under [`Variants::storage_credentials`].
pub(crate) fn room_credentials(salt: u64, room: usize) -> Value {
    json!({"key": key_id(salt, room), "secret": secret(salt, "room", room)})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_distinct_and_keys_are_not_secrets() {
        let mut seen: Vec<String> = (0..50)
            .flat_map(|i| [secret(7, "room", i), secret(7, "template", i)])
            .collect();
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), 100);
        assert!(!key_id(7, 1).contains("secret"));
    }
}
