//! The first check of every config: `spec.json`'s `connectionSpecification`, compiled once with
//! the `jsonschema` crate, and each violation told as a sentence naming the field.
//!
//! The spec is the truth for types, patterns, bounds, `const`/`enum` values and what is required;
//! `config.rs` keeps only what a schema cannot say. Two choices keep this validator agreeing
//! with the others that read the same spec (PyAirbyte before a read, the acceptance tests):
//! - no reference is ever fetched: the crate's `resolve-http` and `resolve-file` features are
//!   off, the validator is built `offline()` (so a feature turned on elsewhere in the tree
//!   changes nothing), and the spec has no `$ref` anyway;
//! - `format` is an annotation, not an assertion (Python's `jsonschema.validate` does not assert
//!   it either): every date-time field carries a `pattern` that says its shape, and
//!   `config.rs` parses the value for what a pattern cannot (month 13, hour 25).
//!
//! What is allowed is read from the spec node that failed (type, bounds, `const`, `enum`,
//! `examples`, the `oneOf` branches' titles), so a new field gets readable errors for free. A
//! value is quoted back only where no `airbyte_secret` field could hold it and when it contains
//! none of the config's secrets.

use std::sync::OnceLock;

use jsonschema::error::ValidationErrorKind;
use jsonschema::{ValidationError, Validator};
use serde_json::Value;

use super::SPEC_JSON;
use crate::error::{Error, Result};

/// Checks a config against the spec; the error names every field that breaks it, once each.
pub(super) fn check(config: &Value) -> Result<()> {
    compiled_spec()?.check(config)
}

/// The connection specification and its validator, built on first use.
struct CompiledSpec {
    schema: Value,
    validator: Validator,
}

fn compiled_spec() -> Result<&'static CompiledSpec> {
    static SPEC: OnceLock<Result<CompiledSpec, String>> = OnceLock::new();
    SPEC.get_or_init(|| {
        let spec: Value = serde_json::from_str(SPEC_JSON).map_err(|e| e.to_string())?;
        CompiledSpec::compile(spec["connectionSpecification"].clone())
    })
    .as_ref()
    .map_err(|e| {
        // Only a build that embeds a broken spec.json gets here; a unit test rules that out.
        Error::config(format!(
            "This build of the connector embeds a spec.json it cannot use ({e}); the config \
             was not checked."
        ))
    })
}

impl CompiledSpec {
    fn compile(schema: Value) -> Result<CompiledSpec, String> {
        let validator = jsonschema::draft7::options()
            .offline()
            .should_validate_formats(false)
            .build(&schema)
            .map_err(|e| e.to_string())?;
        Ok(CompiledSpec { schema, validator })
    }

    fn check(&self, config: &Value) -> Result<()> {
        let secrets = raw_secrets(config);
        let mut told: Vec<String> = Vec::new();
        let mut sentences: Vec<String> = Vec::new();
        for error in self.validator.iter_errors(config) {
            for (field, sentence) in self.describe(&error, &secrets) {
                if !told.contains(&field) {
                    told.push(field);
                    sentences.push(sentence);
                }
            }
        }
        if sentences.is_empty() {
            Ok(())
        } else {
            Err(Error::config(sentences.join(" ")))
        }
    }

    /// The sentences for one violation, each with the dotted path of the field it is about.
    fn describe(&self, error: &ValidationError<'_>, secrets: &[&str]) -> Vec<(String, String)> {
        let field = dotted(error.instance_path().as_str());
        let node = self.node(parent(error.schema_path().as_str()));
        let given = || quote(error.instance(), node, secrets);
        let sentence = match error.kind() {
            ValidationErrorKind::Required { property } => {
                let name = property.as_str().unwrap_or_default();
                let field = join(&field, name);
                let wanted = allowed(&node["properties"][name]);
                return vec![(
                    field.clone(),
                    format!("The config has no {field}: it must be {wanted}."),
                )];
            }
            ValidationErrorKind::OneOfNotValid { context } => {
                return self.describe_one_of(&field, node, error.instance(), context, secrets)
            }
            ValidationErrorKind::Type { .. }
            | ValidationErrorKind::Pattern { .. }
            | ValidationErrorKind::Minimum { .. }
            | ValidationErrorKind::Maximum { .. }
            | ValidationErrorKind::MinLength { .. }
            | ValidationErrorKind::Enum { .. }
            | ValidationErrorKind::Constant { .. } => {
                format!(
                    "{} must be {}, not {}.",
                    subject(&field),
                    allowed(node),
                    given()
                )
            }
            _ => format!("{}: {}.", subject(&field), error.masked()),
        };
        vec![(field, sentence)]
    }

    /// A `oneOf` of objects told apart by a `const` discriminator (`credentials.auth_type`):
    /// a missing or unknown discriminator lists the choices; a known one reports the errors of
    /// its own branch only, not a dump of every branch.
    fn describe_one_of(
        &self,
        field: &str,
        node: &Value,
        instance: &Value,
        context: &[Vec<ValidationError<'static>>],
        secrets: &[&str],
    ) -> Vec<(String, String)> {
        let branches = branches(node);
        let Some(discriminator) = branches.first().map(|b| b.discriminator.clone()) else {
            return vec![(
                field.to_owned(),
                format!("{} must be {}.", subject(field), allowed(node)),
            )];
        };
        let choices = || {
            let choices: Vec<String> = branches
                .iter()
                .map(|b| format!("{} ({})", b.value, b.title))
                .collect();
            or_list(&choices)
        };
        if !instance.is_object() {
            let sentence = format!(
                "{} must be {}, not {}.",
                subject(field),
                allowed(node),
                quote(instance, node, secrets)
            );
            return vec![(field.to_owned(), sentence)];
        }
        let discriminator_field = join(field, &discriminator);
        let Some(given) = instance.get(&discriminator) else {
            return vec![(
                discriminator_field.clone(),
                format!(
                    "The config has no {discriminator_field}: it must be {}.",
                    choices()
                ),
            )];
        };
        match branches.iter().position(|b| &b.value == given) {
            Some(index) => context
                .get(index)
                .into_iter()
                .flatten()
                .flat_map(|e| self.describe(e, secrets))
                .collect(),
            None => vec![(
                discriminator_field.clone(),
                format!(
                    "{discriminator_field} must be {}, not {}.",
                    choices(),
                    quote(given, &Value::Null, secrets)
                ),
            )],
        }
    }

    /// The schema node at a JSON pointer of the connection specification.
    fn node(&self, pointer: &str) -> &Value {
        self.schema.pointer(pointer).unwrap_or(&Value::Null)
    }
}

/// One `oneOf` branch: the `const` its discriminator property takes, and its title.
struct Branch {
    discriminator: String,
    value: Value,
    title: String,
    required: Vec<String>,
}

fn branches(node: &Value) -> Vec<Branch> {
    let Some(list) = node["oneOf"].as_array() else {
        return Vec::new();
    };
    list.iter()
        .filter_map(|branch| {
            let properties = branch["properties"].as_object()?;
            let (discriminator, value) = properties
                .iter()
                .find_map(|(name, p)| Some((name.clone(), p.get("const")?.clone())))?;
            let required = branch["required"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .filter(|name| *name != discriminator)
                .map(str::to_owned)
                .collect();
            Some(Branch {
                discriminator,
                value,
                title: branch["title"].as_str().unwrap_or_default().to_owned(),
                required,
            })
        })
        .collect()
}

/// What a spec node allows, in words: "a whole number between 0 and 1440", "an RFC 3339
/// date-time such as …", "\"app_credentials\"", "an object whose auth_type is …".
fn allowed(node: &Value) -> String {
    let branches = branches(node);
    if let Some(first) = branches.first() {
        let choices: Vec<String> = branches
            .iter()
            .map(|b| format!("{} ({}, with {})", b.value, b.title, and_list(&b.required)))
            .collect();
        return format!(
            "an object whose {} is {}",
            first.discriminator,
            or_list(&choices)
        );
    }
    if let Some(value) = node.get("const") {
        return value.to_string();
    }
    if let Some(values) = node["enum"].as_array() {
        let values: Vec<String> = values.iter().map(Value::to_string).collect();
        return format!("one of {}", or_list(&values));
    }
    let mut words = match node.get("pattern").and_then(Value::as_str) {
        Some(pattern) => {
            let shape = match node["format"].as_str() {
                Some("date-time") => "an RFC 3339 date-time (date, time and time zone)".to_owned(),
                _ => format!("a string matching the pattern {pattern}"),
            };
            if pattern.split('|').any(|alternative| alternative == "^$") {
                format!("{shape} or an empty string")
            } else {
                shape
            }
        }
        None => type_words(node),
    };
    match (node.get("minimum"), node.get("maximum")) {
        (Some(min), Some(max)) => words.push_str(&format!(" between {min} and {max}")),
        (Some(min), None) => words.push_str(&format!(" of at least {min}")),
        (None, Some(max)) => words.push_str(&format!(" of at most {max}")),
        (None, None) => {}
    }
    if let Some(example) = node["examples"].get(0) {
        words.push_str(&format!(", such as {example}"));
    }
    words
}

fn type_words(node: &Value) -> String {
    let one = |t: &str| match t {
        "string" if node["minLength"].as_u64().is_some_and(|n| n > 0) => "a non-empty string",
        "string" => "a string",
        "integer" => "a whole number",
        "number" => "a number",
        "object" => "an object",
        "array" => "a list",
        "boolean" => "true or false",
        "null" => "null",
        _ => "a value",
    };
    match &node["type"] {
        Value::String(t) => one(t).to_owned(),
        Value::Array(types) => {
            let types: Vec<String> = types
                .iter()
                .filter_map(Value::as_str)
                .map(|t| one(t).to_owned())
                .collect();
            or_list(&types)
        }
        _ => "a value".to_owned(),
    }
}

/// The value given, quoted only when that cannot leak a secret; otherwise its kind.
fn quote(value: &Value, node: &Value, secrets: &[&str]) -> String {
    let kind = match value {
        Value::Null => return "null".to_owned(),
        Value::String(s) if s.is_empty() => return "an empty string".to_owned(),
        Value::Bool(_) => "true or false",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    };
    let text = value.to_string();
    let is_secret = may_hold_a_secret(node) || secrets.iter().any(|secret| text.contains(secret));
    let is_short_scalar = !value.is_array() && !value.is_object() && text.chars().count() <= 64;
    if is_short_scalar && !is_secret {
        text
    } else {
        kind.to_owned()
    }
}

/// Whether a spec node or anything inside it is marked `airbyte_secret`: a value that fails
/// there (a whole credentials object, a token given as a number) may be the secret itself.
fn may_hold_a_secret(node: &Value) -> bool {
    match node {
        Value::Object(map) => {
            map.get("airbyte_secret") == Some(&Value::Bool(true))
                || map.values().any(may_hold_a_secret)
        }
        Value::Array(items) => items.iter().any(may_hold_a_secret),
        _ => false,
    }
}

/// The secret strings of a config as given, before any check, so no message can quote one.
fn raw_secrets(config: &Value) -> Vec<&str> {
    ["app_secret", "management_token"]
        .iter()
        .filter_map(|key| config.get("credentials")?.get(*key)?.as_str())
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect()
}

/// A JSON pointer to a config field as a dotted path: `/credentials/app_secret` →
/// `credentials.app_secret`.
fn dotted(pointer: &str) -> String {
    pointer
        .split('/')
        .skip(1)
        .map(|segment| segment.replace("~1", "/").replace("~0", "~"))
        .collect::<Vec<_>>()
        .join(".")
}

fn join(parent: &str, child: &str) -> String {
    if parent.is_empty() {
        child.to_owned()
    } else {
        format!("{parent}.{child}")
    }
}

/// The pointer of the schema node a keyword belongs to: `/properties/x/maximum` → `/properties/x`.
fn parent(pointer: &str) -> &str {
    pointer.rsplit_once('/').map_or("", |(parent, _)| parent)
}

fn subject(field: &str) -> String {
    if field.is_empty() {
        "The config".to_owned()
    } else {
        field.to_owned()
    }
}

fn or_list(items: &[String]) -> String {
    list(items, "or")
}

fn and_list(items: &[String]) -> String {
    list(items, "and")
}

fn list(items: &[String], conjunction: &str) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} {conjunction} {last}", init.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use serde_json::json;

    fn base() -> Value {
        json!({
            "credentials": {"auth_type": "app_credentials", "app_access_key": "k", "app_secret": "s3cret"},
            "start_date": "2024-01-01T00:00:00Z"
        })
    }

    /// The message of the config error a config gets; anything else fails the test.
    fn message(config: Value) -> String {
        match Config::parse(&config.to_string()) {
            Err(Error::Config(message)) => message,
            other => panic!("expected a config error, got {other:?}"),
        }
    }

    fn with(field: &str, value: Value) -> Value {
        let mut config = base();
        config[field] = value;
        config
    }

    fn with_credentials(credentials: Value) -> Value {
        with("credentials", credentials)
    }

    #[test]
    fn the_embedded_spec_compiles_once() {
        let first = compiled_spec().expect("spec.json compiles");
        let second = compiled_spec().expect("spec.json compiles");
        assert!(std::ptr::eq(first, second));
        assert!(first.validator.is_valid(&base()));
    }

    #[test]
    fn a_wrong_type_names_the_field_and_the_type() {
        assert_eq!(
            message(with("requests_per_second", json!("fast"))),
            "requests_per_second must be a number between 0.1 and 100000, not \"fast\"."
        );
        assert_eq!(
            message(with("lookback_window_minutes", json!(1.5))),
            "lookback_window_minutes must be a whole number between 0 and 1440, not 1.5."
        );
        assert_eq!(
            Config::parse("[1]").unwrap_err().to_string(),
            "The config must be an object, not a list."
        );
    }

    #[test]
    fn a_pattern_is_told_in_words_with_an_example() {
        assert_eq!(
            message(with("start_date", json!("2024-01-01"))),
            "start_date must be an RFC 3339 date-time (date, time and time zone), such as \
             \"2024-01-01T00:00:00Z\", not \"2024-01-01\"."
        );
    }

    #[test]
    fn bounds_name_the_field_and_both_limits() {
        assert_eq!(
            message(with("max_concurrent_requests", json!(0))),
            "max_concurrent_requests must be a whole number between 1 and 64, not 0."
        );
        assert_eq!(
            message(with("lookback_window_minutes", json!(1441))),
            "lookback_window_minutes must be a whole number between 0 and 1440, not 1441."
        );
        assert_eq!(
            message(with("retry_initial_backoff_secs", json!(0))),
            "retry_initial_backoff_secs must be a number between 0.001 and 60, not 0."
        );
    }

    #[test]
    fn a_null_is_not_an_absent_field() {
        assert_eq!(
            message(with("max_retries", Value::Null)),
            "max_retries must be a whole number between 0 and 20, not null."
        );
    }

    #[test]
    fn a_missing_required_field_is_named_with_what_it_must_be() {
        let mut config = base();
        config.as_object_mut().unwrap().remove("start_date");
        assert_eq!(
            message(config),
            "The config has no start_date: it must be an RFC 3339 date-time (date, time and \
             time zone), such as \"2024-01-01T00:00:00Z\"."
        );
        let mut config = base();
        config.as_object_mut().unwrap().remove("credentials");
        let message = message(config);
        assert!(message.starts_with("The config has no credentials: it must be an object whose auth_type is \"app_credentials\""), "{message}");
    }

    #[test]
    fn every_broken_field_is_named_once() {
        let mut config = with("max_retries", json!(21));
        config["end_date"] = json!(true);
        let message = message(config);
        assert!(message.contains("max_retries must be"), "{message}");
        assert!(message.contains("end_date must be"), "{message}");
        assert_eq!(message.matches("end_date").count(), 1, "{message}");
    }

    #[test]
    fn an_unknown_auth_type_lists_the_choices_not_both_branches() {
        assert_eq!(
            message(with_credentials(
                json!({"auth_type": "oauth", "token": "x"})
            )),
            "credentials.auth_type must be \"app_credentials\" (App access key and secret) or \
             \"management_token\" (Management token), not \"oauth\"."
        );
        assert_eq!(
            message(with_credentials(json!({"app_secret": "s3cret"}))),
            "The config has no credentials.auth_type: it must be \"app_credentials\" (App \
             access key and secret) or \"management_token\" (Management token)."
        );
    }

    #[test]
    fn a_chosen_auth_type_reports_its_own_branch_only() {
        assert_eq!(
            message(with_credentials(json!({"auth_type": "management_token"}))),
            "The config has no credentials.management_token: it must be a non-empty string."
        );
        assert_eq!(
            message(with_credentials(
                json!({"auth_type": "app_credentials", "app_access_key": "k", "app_secret": ""})
            )),
            "credentials.app_secret must be a non-empty string, not an empty string."
        );
        let message = message(with_credentials(json!("s3cret")));
        assert!(message.starts_with("credentials must be an object whose auth_type is \"app_credentials\" (App access key and secret, with app_access_key and app_secret) or \"management_token\" (Management token, with management_token), not a string."), "{message}");
    }

    #[test]
    fn a_secret_is_never_quoted_even_where_it_fails() {
        let token =
            with_credentials(json!({"auth_type": "management_token", "management_token": 12345}));
        let message_for_token = message(token);
        assert_eq!(
            message_for_token,
            "credentials.management_token must be a non-empty string, not a number."
        );
        // A secret pasted into another field is not quoted back either.
        let message = message(with("start_date", json!("s3cret")));
        assert!(message.starts_with("start_date must be"), "{message}");
        assert!(!message.contains("s3cret"), "{message}");
    }

    #[test]
    fn an_empty_end_date_is_allowed_by_the_spec_and_means_none() {
        let config = Config::parse(&with("end_date", json!("")).to_string()).unwrap();
        assert!(config.end_date.is_none());
        assert_eq!(
            message(with("end_date", json!(" "))),
            "end_date must be an RFC 3339 date-time (date, time and time zone) or an empty \
             string, such as \"2024-12-31T23:59:59Z\", not \" \"."
        );
    }

    #[test]
    fn enum_and_const_name_the_allowed_values() {
        let spec = CompiledSpec::compile(json!({
            "type": "object",
            "properties": {
                "mode": {"type": "string", "enum": ["fast", "safe"]},
                "version": {"const": 2}
            }
        }))
        .unwrap();
        let error = spec
            .check(&json!({"mode": "quick", "version": 3}))
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "mode must be one of \"fast\" or \"safe\", not \"quick\". version must be 2, not 3."
        );
    }

    #[test]
    fn the_spec_and_the_code_agree_on_the_sample_configs() {
        for config in [
            base(),
            with("end_date", json!("2024-06-01T00:00:00+02:00")),
            with("max_concurrent_requests", json!(2.0)),
            with_credentials(json!({"auth_type": "management_token", "management_token": "t"})),
        ] {
            let parsed = Config::parse(&config.to_string());
            assert!(parsed.is_ok(), "{config}: {parsed:?}");
            assert!(compiled_spec().unwrap().validator.is_valid(&config));
        }
    }
}
