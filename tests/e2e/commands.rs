//! `spec`, `check` and `discover`, and bad input to each.

use serde_json::{json, Value};

use crate::cat::{one_of_violations, schema_violations, unmarked_secrets};
use crate::harness::{Harness, ALL_STREAMS};

fn spec_json() -> Value {
    serde_json::from_str(include_str!("../../spec.json")).unwrap()
}

#[test]
fn spec_prints_spec_json_exactly() {
    let h = Harness::default_scale();
    let run = h.spec();
    assert!(run.success(), "{}", run.describe());
    assert_eq!(run.messages.len(), 1);
    assert_eq!(run.messages[0]["type"], "SPEC");
    assert_eq!(run.messages[0]["spec"], spec_json());
}

#[test]
fn spec_follows_the_acceptance_rules() {
    let spec = spec_json();
    let connection = &spec["connectionSpecification"];
    let mut problems = Vec::new();
    schema_violations(connection, "", &mut problems);
    one_of_violations(connection, "", &mut problems);
    unmarked_secrets(connection, "", &mut problems);
    assert!(problems.is_empty(), "{problems:?}");
    // The date-time fields carry a pattern that the CAT recognises.
    for field in ["start_date", "end_date"] {
        let f = &connection["properties"][field];
        assert_eq!(f["format"], "date-time");
        assert!(f["pattern"]
            .as_str()
            .unwrap()
            .starts_with("^[0-9]{4}-[0-9]{2}-[0-9]{2}T"));
    }
    jsonschema::draft7::new(connection).expect("the spec is a valid draft-07 schema");
}

#[test]
fn sample_configs_validate_against_the_spec() {
    let h = Harness::default_scale();
    let spec = spec_json();
    let validator = jsonschema::draft7::options()
        .should_validate_formats(true)
        .build(&spec["connectionSpecification"])
        .unwrap();
    assert!(validator.is_valid(&h.config()));
    let token = json!({"credentials": {"auth_type": "management_token", "management_token": "t"},
                       "start_date": "2024-01-01T00:00:00Z"});
    assert!(validator.is_valid(&token));
    assert!(!validator.is_valid(
        &json!({"credentials": {"auth_type": "management_token", "management_token": "t"}})
    ));
}

#[test]
fn check_succeeds_with_good_credentials() {
    let h = Harness::default_scale();
    let run = h.check(&h.config());
    assert!(run.success(), "{}", run.describe());
    let status = run.of_type("CONNECTION_STATUS");
    assert_eq!(status.len(), 1);
    assert_eq!(status[0]["connectionStatus"]["status"], "SUCCEEDED");
}

#[test]
fn check_with_a_wrong_secret_fails_cleanly() {
    let h = Harness::default_scale();
    let mut config = h.config();
    config["credentials"]["app_secret"] = json!("not-the-secret-xyz");
    let run = h.check(&config);
    assert!(
        run.success(),
        "check exits 0 when it can report: {}",
        run.describe()
    );
    let status = run.of_type("CONNECTION_STATUS");
    assert_eq!(status.len(), 1);
    assert_eq!(status[0]["connectionStatus"]["status"], "FAILED");
    let message = status[0]["connectionStatus"]["message"].as_str().unwrap();
    assert!(message.contains("app_secret"), "{message}");
    assert!(!run.stdout.contains("not-the-secret-xyz"));
}

#[test]
fn check_with_a_ready_token() {
    let h = Harness::default_scale();
    let token = h.fake.mint_token(std::time::Duration::from_secs(3600));
    let mut config = h.config();
    config["credentials"] = json!({"auth_type": "management_token", "management_token": token});
    let run = h.check(&config);
    run.assert_no_secrets(std::slice::from_ref(&token));
    assert_eq!(
        run.of_type("CONNECTION_STATUS")[0]["connectionStatus"]["status"],
        "SUCCEEDED"
    );
}

#[test]
fn check_with_an_expired_token_says_so() {
    let h = Harness::default_scale();
    let token = h.fake.mint_token(std::time::Duration::ZERO);
    let mut config = h.config();
    config["credentials"] = json!({"auth_type": "management_token", "management_token": token});
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let run = h.check(&config);
    run.assert_no_secrets(std::slice::from_ref(&token));
    let status = &run.of_type("CONNECTION_STATUS")[0]["connectionStatus"];
    assert_eq!(status["status"], "FAILED");
    assert!(
        status["message"].as_str().unwrap().contains("expired"),
        "{status}"
    );
}

#[test]
fn check_reports_bad_config_as_failed() {
    let h = Harness::default_scale();
    let path = h.write_text("bad.json", "{not json");
    let run = h.run(&["check", "--config", path.to_str().unwrap()]);
    assert!(run.success());
    let status = &run.of_type("CONNECTION_STATUS")[0]["connectionStatus"];
    assert_eq!(status["status"], "FAILED");
    assert!(status["message"]
        .as_str()
        .unwrap()
        .contains("not valid JSON"));
}

#[test]
fn bad_configs_are_config_errors_for_discover_and_read() {
    let h = Harness::default_scale();
    let good = h.config();
    let mut cases: Vec<(&str, Value)> = Vec::new();
    let mut no_start = good.clone();
    no_start.as_object_mut().unwrap().remove("start_date");
    cases.push(("start_date", no_start));
    let mut bad_date = good.clone();
    bad_date["start_date"] = json!("01/02/2024");
    cases.push(("RFC 3339", bad_date));
    let mut bad_auth = good.clone();
    bad_auth["credentials"]["auth_type"] = json!("basic");
    cases.push(("auth_type", bad_auth));
    let mut plain_http = good.clone();
    plain_http["api_base_url"] = json!("http://api.100ms.live/v2");
    cases.push(("loopback", plain_http));
    for (expected, config) in cases {
        for run in [
            h.discover(&config),
            h.read(
                &config,
                &crate::harness::catalog(&["rooms"], "full_refresh"),
                None,
            ),
        ] {
            assert!(!run.success(), "{expected}");
            let errors = run.errors();
            assert_eq!(errors.len(), 1, "{expected}: {}", run.describe());
            assert_eq!(errors[0]["failure_type"], "config_error");
            assert!(
                errors[0]["message"].as_str().unwrap().contains(expected),
                "{}",
                errors[0]
            );
            assert!(run.records("rooms").is_empty());
        }
    }
    let not_json = h.write_text("not-json.json", "]");
    let run = h.run(&["discover", "--config", not_json.to_str().unwrap()]);
    assert_eq!(run.errors()[0]["failure_type"], "config_error");
}

#[test]
fn discover_lists_every_stream_by_the_rules() {
    let h = Harness::default_scale();
    let run = h.discover(&h.config());
    assert!(run.success(), "{}", run.describe());
    let catalogs = run.of_type("CATALOG");
    assert_eq!(catalogs.len(), 1);
    let streams = catalogs[0]["catalog"]["streams"].as_array().unwrap();
    let names: Vec<&str> = streams
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ALL_STREAMS);
    for stream in streams {
        let name = stream["name"].as_str().unwrap();
        let schema = &stream["json_schema"];
        jsonschema::draft7::new(schema).unwrap_or_else(|e| panic!("{name}: {e}"));
        let mut problems = Vec::new();
        schema_violations(schema, "", &mut problems);
        assert!(problems.is_empty(), "{name}: {problems:?}");
        assert!(!stream["supported_sync_modes"]
            .as_array()
            .unwrap()
            .is_empty());
        for key in stream["source_defined_primary_key"].as_array().unwrap() {
            let field = key[0].as_str().unwrap();
            let prop = &schema["properties"][field];
            assert!(
                prop.is_object(),
                "{name}: primary key {field} not in schema"
            );
            let types = prop["type"].to_string();
            assert!(
                !types.contains("object") && !types.contains("array") && !types.contains("null"),
                "{name}.{field}: {types}"
            );
        }
        let incremental = stream["supported_sync_modes"]
            .as_array()
            .unwrap()
            .contains(&json!("incremental"));
        assert_eq!(stream["is_resumable"], incremental, "{name}");
        assert_eq!(stream["source_defined_cursor"], incremental, "{name}");
        if incremental {
            let cursor = stream["default_cursor_field"][0].as_str().unwrap();
            assert!(
                schema["properties"][cursor].is_object(),
                "{name}: cursor {cursor} not in schema"
            );
        }
    }
}

/// The README's configuration table lists exactly the spec's fields, with the same required
/// flags and defaults, so the two never drift apart.
#[test]
fn readme_config_table_matches_the_spec() {
    let readme = include_str!("../../README.md");
    let section = readme.split("## Configuration").nth(1).unwrap();
    let rows: Vec<Vec<String>> = section
        .lines()
        .skip_while(|l| !l.starts_with("| field"))
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .map(|l| l.split('|').map(|c| c.trim().to_owned()).collect())
        .collect();
    let spec = spec_json();
    let connection = &spec["connectionSpecification"];
    let properties = connection["properties"].as_object().unwrap();
    let required: Vec<&str> = connection["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let documented: Vec<String> = rows
        .iter()
        .map(|r| r[1].trim_matches('`').to_owned())
        .collect();
    let mut specified: Vec<String> = properties.keys().cloned().collect();
    let mut sorted = documented.clone();
    sorted.sort();
    specified.sort();
    assert_eq!(sorted, specified, "README fields vs spec.json fields");
    for row in &rows {
        let name = row[1].trim_matches('`');
        let prop = &properties[name];
        assert_eq!(
            row[3] == "yes",
            required.contains(&name),
            "{name}: required"
        );
        let default = match &prop["default"] {
            Value::Null => String::new(),
            Value::String(s) => format!("`{s}`"),
            other => format!("`{other}`"),
        };
        assert_eq!(row[4], default, "{name}: default");
        let kind = match prop["format"].as_str() {
            Some("date-time") => "date-time".to_owned(),
            _ => prop["type"].as_str().unwrap().to_owned(),
        };
        assert_eq!(row[2], kind, "{name}: type");
    }
}
