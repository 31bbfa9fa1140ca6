//! Customers' secrets never reach a record.
//!
//! Room and template responses can carry the customer's cloud-storage credentials: a room's
//! `recording_info.upload_info.credentials {key, secret}`, a template's
//! `settings.recording.upload.credentials {key, secretKey}`, and destinations' upload
//! credentials (100ms docs, create and update examples; whether a GET returns them is not
//! documented, so every stream that could carry them is masked). A warehouse is no place for
//! them, so each such value is replaced by [`MASK`] before the record is written:
//!
//! - anywhere, a field whose name contains `secret` or `password` (`secret`, `secretKey`,
//!   `secret_key`, …);
//! - inside an object named `credentials`, every field but the key id (`key`, `key_id`,
//!   `access_key`, `accessKeyId`), which identifies the credential without granting anything;
//! - inside `upload` and `upload_info`, also fields named like a token or a private key;
//! - inside `headers` (a room's webhook), values of headers that authenticate.
//!
//! Nulls stay null: there is nothing to hide, and the record still says the field was empty.

use serde_json::Value;

use crate::engine::Partition;

/// What a secret value becomes.
pub const MASK: &str = "**MASKED**";

/// Fields of a `credentials` object that name a credential without being one (lowercased).
const KEY_IDS: [&str; 6] = [
    "key",
    "key_id",
    "keyid",
    "access_key",
    "accesskey",
    "accesskeyid",
];

/// The kind of object a field sits in, which decides what counts as a secret there.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Within {
    Plain,
    Upload,
    Credentials,
    Headers,
}

impl Within {
    fn of(name: &str) -> Within {
        match name {
            "credentials" => Within::Credentials,
            "upload" | "upload_info" => Within::Upload,
            "headers" => Within::Headers,
            _ => Within::Plain,
        }
    }
}

/// Replaces every secret value in `record` by [`MASK`].
pub fn mask_secrets(record: &mut Value) {
    walk(record, Within::Plain);
}

/// [`mask_secrets`] as a stream's record function.
pub fn mask_record(record: &mut Value, _: &Partition) {
    mask_secrets(record);
}

fn walk(value: &mut Value, within: Within) {
    match value {
        Value::Object(fields) => {
            for (name, field) in fields.iter_mut() {
                if field.is_null() {
                    continue;
                }
                let inner = Within::of(name);
                // A credential given as one string (a service-account JSON, say) is one secret.
                let opaque_credentials =
                    inner == Within::Credentials && !field.is_object() && !field.is_array();
                if opaque_credentials || is_secret(name, within) {
                    *field = Value::String(MASK.to_owned());
                } else {
                    walk(field, inner);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|item| walk(item, within)),
        _ => {}
    }
}

fn is_secret(name: &str, within: Within) -> bool {
    let name = name.to_ascii_lowercase();
    let has = |words: &[&str]| words.iter().any(|w| name.contains(w));
    has(&["secret", "password"])
        || match within {
            Within::Plain => false,
            Within::Credentials => !KEY_IDS.contains(&name.as_str()),
            Within::Upload => has(&["token", "private"]),
            Within::Headers => has(&["auth", "token", "key", "cookie", "signature"]),
        }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn masked(mut v: Value) -> Value {
        mask_secrets(&mut v);
        v
    }

    #[test]
    fn room_upload_credentials_keep_the_key_id_only() {
        let room = masked(json!({
            "id": "r", "name": "secret-room",
            "recording_info": {"enabled": true, "upload_info": {
                "type": "s3", "location": "bucket", "prefix": "p", "options": {"region": "ap-south-1"},
                "credentials": {"key": "AKIAEXAMPLE", "secret": "wJalrXUtnFEMI"}}}
        }));
        let upload = &room["recording_info"]["upload_info"];
        assert_eq!(upload["credentials"]["key"], "AKIAEXAMPLE");
        assert_eq!(upload["credentials"]["secret"], MASK);
        assert_eq!(upload["location"], "bucket");
        assert_eq!(upload["options"]["region"], "ap-south-1");
        // A value that merely looks secret is not a field named so.
        assert_eq!(room["name"], "secret-room");
    }

    #[test]
    fn template_secret_keys_are_masked_at_any_depth() {
        let template = masked(json!({
            "settings": {"recording": {"upload": {"credentials": {"key": "k", "secretKey": "s1"}}}},
            "destinations": {"hlsDestinations": {"d": {"name": "d",
                "upload": {"location": "b", "sas_token": "s2", "credentials": {"key": "k", "secret_key": "s3", "accountName": "acct"}}}}},
            "recordings": [{"name": "default", "secret": "s4"}]
        }));
        let text = template.to_string();
        for secret in ["s1", "s2", "s3", "s4", "acct"] {
            assert!(
                !text.contains(&format!("\"{secret}\"")),
                "{secret} in {text}"
            );
        }
        assert_eq!(
            template["destinations"]["hlsDestinations"]["d"]["upload"]["location"],
            "b"
        );
        assert_eq!(
            template["settings"]["recording"]["upload"]["credentials"]["key"],
            "k"
        );
    }

    #[test]
    fn opaque_credentials_and_webhook_auth_headers_are_masked() {
        let v = masked(json!({
            "upload": {"credentials": "{\"private_key\": \"-----BEGIN\"}"},
            "webhook": {"url": "https://example.com/hook",
                        "headers": {"Authorization": "Bearer abc", "X-Tenant": "acme"}}
        }));
        assert_eq!(v["upload"]["credentials"], MASK);
        assert_eq!(v["webhook"]["headers"]["Authorization"], MASK);
        assert_eq!(v["webhook"]["headers"]["X-Tenant"], "acme");
        assert_eq!(v["webhook"]["url"], "https://example.com/hook");
    }

    #[test]
    fn nulls_and_unrelated_records_are_untouched() {
        let original = json!({
            "id": "t", "settings": {"recording": null, "retry": {}},
            "recording_info": {"enabled": false, "upload_info": {"credentials": {"key": null, "secret": null}}},
            "peers": [{"id": "p", "metadata": "{\"isHandRaised\":false}"}]
        });
        assert_eq!(masked(original.clone()), original);
    }
}
