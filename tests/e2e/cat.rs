//! The Connector Acceptance Tests' static rules for specs and stream schemas (Airbyte notes
//! §3.1 and §3.3), as functions returning the list of violations.

use serde_json::Value;

const FORBIDDEN: [&str; 10] = [
    "not",
    "anyOf",
    "patternProperties",
    "prefixItems",
    "allOf",
    "if",
    "then",
    "else",
    "dependentSchemas",
    "dependentRequired",
];

/// Rules every schema obeys: no `$ref` or forbidden keywords, `additionalProperties` only
/// `true`, `type` arrays as `[X]` or `[X, "null"]`, no empty objects unless described as
/// maps, array items of a single type.
pub fn schema_violations(schema: &Value, path: &str, out: &mut Vec<String>) {
    let Value::Object(map) = schema else { return };
    for (key, value) in map {
        let here = format!("{path}/{key}");
        if key == "$ref" {
            out.push(format!("{here}: $ref"));
        }
        if FORBIDDEN.contains(&key.as_str()) {
            out.push(format!("{here}: forbidden keyword"));
        }
        if key == "additionalProperties" && value != &Value::Bool(true) {
            out.push(format!("{here}: additionalProperties must be true"));
        }
    }
    if let Some(Value::Array(types)) = map.get("type") {
        let ok = types.len() == 1 || (types.len() == 2 && types[1] == "null" && types[0] != "null");
        if !ok {
            out.push(format!("{path}: type array {types:?}"));
        }
    }
    let is_object = match map.get("type") {
        Some(Value::String(t)) => t == "object",
        Some(Value::Array(t)) => t.iter().any(|t| t == "object"),
        _ => false,
    };
    if is_object && !path.is_empty() {
        let has_props = map
            .get("properties")
            .and_then(Value::as_object)
            .is_some_and(|p| !p.is_empty());
        // Maps keyed by ids are open objects that say what their values are.
        let has_map = map.get("additionalProperties") == Some(&Value::Bool(true))
            && map
                .get("description")
                .and_then(Value::as_str)
                .is_some_and(|d| d.contains("map"));
        if !has_props && !has_map && !map.contains_key("oneOf") {
            out.push(format!("{path}: object with no properties"));
        }
    }
    if let Some(items) = map.get("items") {
        if !items.is_object() {
            out.push(format!("{path}: items must be one schema"));
        }
    }
    if let Some(Value::Object(props)) = map.get("properties") {
        for (name, prop) in props {
            schema_violations(prop, &format!("{path}/properties/{name}"), out);
        }
    }
    for key in ["items", "additionalProperties"] {
        if let Some(sub) = map.get(key) {
            schema_violations(sub, &format!("{path}/{key}"), out);
        }
    }
    if let Some(Value::Array(variants)) = map.get("oneOf") {
        for (i, v) in variants.iter().enumerate() {
            schema_violations(v, &format!("{path}/oneOf/{i}"), out);
        }
    }
}

/// `test_oneof_usage`: the parent is an object, every variant has properties, exactly one
/// shared property is a `const` in every variant.
pub fn one_of_violations(schema: &Value, path: &str, out: &mut Vec<String>) {
    let Value::Object(map) = schema else { return };
    if let Some(Value::Array(variants)) = map.get("oneOf") {
        if map.get("type") != Some(&Value::String("object".into())) {
            out.push(format!("{path}: oneOf parent is not an object"));
        }
        let props: Vec<&serde_json::Map<String, Value>> = variants
            .iter()
            .filter_map(|v| v["properties"].as_object())
            .collect();
        if props.len() != variants.len() {
            out.push(format!("{path}: a oneOf variant has no properties"));
        }
        let shared: Vec<&String> = props[0]
            .keys()
            .filter(|k| props.iter().all(|p| p.contains_key(*k)))
            .collect();
        let consts: Vec<&&String> = shared
            .iter()
            .filter(|k| props.iter().all(|p| p[k.as_str()].get("const").is_some()))
            .collect();
        if consts.len() != 1 {
            out.push(format!("{path}: {} shared const properties", consts.len()));
        }
    }
    if let Some(Value::Object(props)) = map.get("properties") {
        for (name, prop) in props {
            one_of_violations(prop, &format!("{path}/{name}"), out);
        }
    }
}

/// `test_secret_is_properly_marked`, for the names the CAT checks plus ours.
pub fn unmarked_secrets(schema: &Value, path: &str, out: &mut Vec<String>) {
    const SECRET_NAMES: [&str; 6] = [
        "secret",
        "token",
        "app_secret",
        "management_token",
        "password",
        "key",
    ];
    let Value::Object(map) = schema else { return };
    if let Some(Value::Object(props)) = map.get("properties") {
        for (name, prop) in props {
            if SECRET_NAMES.contains(&name.as_str())
                && prop.get("const").is_none()
                && prop["airbyte_secret"] != true
            {
                out.push(format!("{path}/{name} is not marked airbyte_secret"));
            }
            unmarked_secrets(prop, &format!("{path}/{name}"), out);
        }
    }
    if let Some(Value::Array(variants)) = map.get("oneOf") {
        for v in variants {
            unmarked_secrets(v, path, out);
        }
    }
}
