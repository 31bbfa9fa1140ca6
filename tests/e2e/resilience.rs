//! Faults, rate limits, hostile responses and credentials (issue 4): the connector keeps going
//! where going on is right, stops clearly where it is not, and loses nothing either way.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::time::Duration;

use fake_100ms::{max_requests_in_any_second, FakeConfig, Faults, Override};
use serde_json::{json, Value};

use crate::harness::{catalog, Harness, Run, ALL_STREAMS, INCREMENTAL_STREAMS};

fn retries_logged(run: &Run) -> usize {
    run.logs().iter().filter(|l| l.contains("; retry ")).count()
}

#[test]
fn injected_faults_change_nothing_in_the_result() {
    let h = Harness::new(FakeConfig {
        faults: Faults {
            p429: 0.2,
            retry_after_share: 0.5,
            retry_after_secs: 1,
            p5xx: 0.1,
            pdrop: 0.02,
            pslow: 0.05,
            slow: Duration::from_millis(300),
            ..Faults::default()
        },
        ..FakeConfig::default()
    });
    let mut config = h.config();
    config["max_retries"] = json!(20);
    let run = h.read(&config, &catalog(&ALL_STREAMS, "full_refresh"), None);
    assert!(run.success(), "{}", run.describe());
    for stream in ALL_STREAMS {
        assert_eq!(
            run.unique_keys(stream),
            h.fake.expected_keys(stream),
            "{stream}"
        );
    }
    let retries = retries_logged(&run);
    let faults = h.fake.requests().iter().filter(|r| r.status != 200).count();
    eprintln!("faults injected: {faults}, retries logged: {retries}");
    assert!(
        retries > 0 && retries >= faults / 2,
        "retries {retries}, faults {faults}"
    );
}

#[test]
fn the_rate_limit_holds_across_streams_and_partitions() {
    let _alone = crate::harness::exclusive();
    let h = Harness::default_scale();
    let mut config = h.config();
    config["requests_per_second"] = json!(20);
    config["max_concurrent_requests"] = json!(16);
    let run = h.read(
        &config,
        &catalog(
            &[
                "rooms",
                "analytics_events",
                "active_room_peers",
                "templates",
            ],
            "full_refresh",
        ),
        None,
    );
    assert!(run.success(), "{}", run.describe());
    let requests = h.fake.requests();
    let peak = max_requests_in_any_second(&requests);
    eprintln!("{} requests, peak {peak} in one second", requests.len());
    assert!(requests.len() > 40, "too few requests to tell");
    assert!(peak <= 21, "{peak} requests in one second at 20/s");
}

#[test]
fn a_server_side_rate_limit_is_waited_out() {
    let h = Harness::new(FakeConfig {
        rate_limit_rps: Some(15),
        ..FakeConfig::default()
    });
    let run = h.read(
        &h.config(),
        &catalog(&["rooms", "analytics_events"], "full_refresh"),
        None,
    );
    assert!(run.success(), "{}", run.describe());
    for stream in ["rooms", "analytics_events"] {
        assert_eq!(
            run.unique_keys(stream),
            h.fake.expected_keys(stream),
            "{stream}"
        );
    }
}

#[test]
fn waiting_on_a_rate_limit_keeps_the_orchestrator_informed() {
    let h = Harness::default_scale();
    h.fake.set_override(
        "/v2/templates",
        Override::Status {
            status: 429,
            body: r#"{"code":429,"message":"rate limit exceeded, retry after 45 seconds"}"#.into(),
            retry_after: Some("2".into()),
        },
        Some(1),
    );
    let run = h.read(&h.config(), &catalog(&["templates"], "full_refresh"), None);
    assert!(run.success(), "{}", run.describe());
    let limited: Vec<&Value> = run
        .of_type("TRACE")
        .into_iter()
        .filter(|m| m["trace"]["stream_status"]["reasons"][0]["type"] == "RATE_LIMITED")
        .collect();
    assert!(!limited.is_empty(), "no RATE_LIMITED status while waiting");
    assert_eq!(limited[0]["trace"]["stream_status"]["status"], "RUNNING");
    assert!(
        run.took >= Duration::from_secs(2),
        "Retry-After was not honoured"
    );
    assert_eq!(run.keys("templates"), h.fake.expected_keys("templates"));
}

#[test]
fn faults_that_outlast_the_budget_fail_one_stream_and_lose_nothing() {
    let h = Harness::new(FakeConfig {
        faults: Faults {
            latency: Duration::from_millis(20),
            ..Faults::default()
        },
        ..FakeConfig::default()
    });
    h.fake.advance_clock(Duration::from_secs(300));
    let mut config = h.config();
    config["max_retries"] = json!(2);
    let streams = ["sessions", "rooms"];
    let mut child = h.spawn_read(&config, &catalog(&streams, "incremental"));
    let mut lines = Vec::new();
    let mut broke = false;
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        // After the first checkpoint of sessions, its listing starts failing for good.
        if !broke && line.contains("\"STATE\"") && line.contains("\"sessions\"") {
            broke = true;
            h.fake.set_override(
                "/v2/sessions",
                Override::Status {
                    status: 503,
                    body: r#"{"code":503,"message":"unavailable"}"#.into(),
                    retry_after: None,
                },
                None,
            );
        }
        lines.push(line);
    }
    let status = child.wait().unwrap();
    let failed = Run::parse(status, lines.join("\n"), String::new(), Duration::ZERO);
    failed.assert_no_secrets(&h.secrets());
    assert!(broke, "sessions never checkpointed");
    assert!(!status.success(), "a failed stream must fail the process");
    let errors = failed.errors();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0]["failure_type"], "transient_error");
    assert_eq!(errors[0]["stream_descriptor"]["name"], "sessions");
    assert_eq!(failed.statuses("sessions").last().unwrap(), "INCOMPLETE");
    assert_eq!(failed.statuses("rooms").last().unwrap(), "COMPLETE");

    h.fake.clear_overrides();
    let resumed = h.read(
        &h.config(),
        &catalog(&streams, "incremental"),
        Some(&failed.state_file()),
    );
    assert!(resumed.success(), "{}", resumed.describe());
    let union: BTreeSet<String> = failed
        .keys("sessions")
        .union(&resumed.keys("sessions"))
        .cloned()
        .collect();
    assert_eq!(union, h.fake.expected_keys("sessions"));
}

#[test]
fn expiring_minted_tokens_are_renewed_without_losing_a_page() {
    // Minted tokens are backdated 10 s against clock skew, so at 12 s they expire a second or
    // two after minting: several times over a sync that the rate limit stretches to seconds.
    let h = Harness::new(FakeConfig {
        token_max_age: Some(Duration::from_secs(12)),
        faults: Faults {
            latency: Duration::from_millis(15),
            ..Faults::default()
        },
        ..FakeConfig::default()
    });
    let mut config = h.config();
    config["requests_per_second"] = json!(40);
    let run = h.read(
        &config,
        &catalog(&["sessions", "analytics_events"], "full_refresh"),
        None,
    );
    assert!(run.success(), "{}", run.describe());
    for stream in ["sessions", "analytics_events"] {
        assert_eq!(
            run.unique_keys(stream),
            h.fake.expected_keys(stream),
            "{stream}"
        );
    }
    assert!(
        h.fake.requests().iter().any(|r| r.status == 401),
        "no token expired during the sync"
    );
}

#[test]
fn an_expired_ready_token_is_a_config_error() {
    let h = Harness::default_scale();
    let token = h.fake.mint_token(Duration::ZERO);
    std::thread::sleep(Duration::from_millis(1100));
    let mut config = h.config();
    config["credentials"] = json!({"auth_type": "management_token", "management_token": token});
    let run = h.read(&config, &catalog(&["rooms"], "full_refresh"), None);
    run.assert_no_secrets(&[token]);
    assert!(!run.success());
    let errors = run.errors();
    assert_eq!(errors[0]["failure_type"], "config_error");
    assert!(errors[0]["message"].as_str().unwrap().contains("expired"));
}

#[test]
fn a_wrong_secret_fails_read_with_a_config_error() {
    let h = Harness::default_scale();
    let mut config = h.config();
    config["credentials"]["app_secret"] = json!("wrong-secret-123");
    let run = h.read(
        &config,
        &catalog(&["rooms", "sessions"], "full_refresh"),
        None,
    );
    run.assert_no_secrets(&["wrong-secret-123".to_owned()]);
    assert!(!run.success());
    for error in run.errors() {
        assert_eq!(error["failure_type"], "config_error", "{error}");
    }
    assert!(run.of_type("RECORD").is_empty());
}

#[test]
fn hostile_bodies_fail_their_stream_clearly() {
    let cases = [
        (
            "invalid JSON",
            r#"{"limit": 100, "data": [{"id": "#.to_owned(),
            "not JSON",
        ),
        (
            "an HTML page",
            "<html><body>Bad gateway</body></html>".to_owned(),
            "HTML",
        ),
        ("an empty body", String::new(), "not JSON"),
        (
            "a wrong type",
            r#"{"limit": 100, "data": {"id": "x"}}"#.to_owned(),
            "data is an object",
        ),
        (
            "a wrong item",
            r#"{"limit": 100, "data": [42]}"#.to_owned(),
            "data[0] is a number",
        ),
        (
            "a repeated cursor",
            format!(
                r#"{{"limit": 100, "data": [{}], "last": "same"}}"#,
                vec![r#"{"id":"x"}"#; 100].join(",")
            ),
            "twice",
        ),
    ];
    for (what, body, expected) in cases {
        let h = Harness::default_scale();
        h.fake
            .set_override("/v2/recordings", Override::Body(body), None);
        let run = h.read(
            &h.config(),
            &catalog(&["recordings", "templates"], "full_refresh"),
            None,
        );
        assert!(!run.success(), "{what}");
        let errors = run.errors();
        assert_eq!(errors.len(), 1, "{what}: {errors:?}");
        assert_eq!(
            errors[0]["stream_descriptor"]["name"], "recordings",
            "{what}"
        );
        assert_eq!(errors[0]["failure_type"], "system_error", "{what}");
        let message = errors[0]["message"].as_str().unwrap();
        assert!(message.contains(expected), "{what}: {message}");
        assert_eq!(
            run.statuses("templates").last().unwrap(),
            "COMPLETE",
            "{what}"
        );
        assert!(!run.stderr.contains("panicked"), "{what}: {}", run.stderr);
    }
}

#[test]
fn a_body_far_larger_than_asked_for_is_refused() {
    let h = Harness::default_scale();
    let item = r#"{"id":"0123456789abcdef01234567","padding":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}"#;
    let body = format!(
        r#"{{"limit":100,"data":[{}]}}"#,
        vec![item; 300_000].join(",")
    );
    h.fake
        .set_override("/v2/recordings", Override::Body(body), None);
    let run = h.read(&h.config(), &catalog(&["recordings"], "full_refresh"), None);
    assert!(!run.success());
    assert!(
        run.errors()[0]["message"]
            .as_str()
            .unwrap()
            .contains("larger than"),
        "{}",
        run.describe()
    );
}

#[test]
fn a_room_gone_mid_sync_is_skipped_with_a_warning() {
    let h = Harness::default_scale();
    let live: Vec<String> = h
        .fake
        .raw("sessions")
        .iter()
        .filter(|s| s["active"] == true)
        .map(|s| s["room_id"].as_str().unwrap().to_owned())
        .collect();
    let gone = &live[0];
    h.fake.set_override(
        &format!("/v2/active-rooms/{gone}/peers"),
        Override::Status {
            status: 404,
            body: r#"{"code":404,"message":"Room not found"}"#.into(),
            retry_after: None,
        },
        None,
    );
    h.fake.set_override(
        "/v2/analytics/events",
        Override::Status {
            status: 404,
            body: r#"{"code":404,"message":"Room not found"}"#.into(),
            retry_after: None,
        },
        Some(1),
    );
    let run = h.read(
        &h.config(),
        &catalog(&["active_room_peers", "analytics_events"], "full_refresh"),
        None,
    );
    assert!(run.success(), "{}", run.describe());
    assert_eq!(
        run.statuses("active_room_peers").last().unwrap(),
        "COMPLETE"
    );
    assert!(run.logs().iter().any(|l| l.contains("skipped room")));
    let peers = run.keys("active_room_peers");
    assert!(!peers.is_empty());
    assert!(run
        .records("active_room_peers")
        .iter()
        .all(|p| p["room_id"] != gone.as_str()));
}

#[test]
fn debug_logs_redact_credentials() {
    let h = Harness::default_scale();
    let config = h.write("debug-config.json", &h.config());
    let catalog_path = h.write(
        "debug-catalog.json",
        &catalog(&["templates"], "full_refresh"),
    );
    let run = h.run(&[
        "read",
        "--debug",
        "--config",
        config.to_str().unwrap(),
        "--catalog",
        catalog_path.to_str().unwrap(),
    ]);
    assert!(run.success(), "{}", run.describe());
    let debug: Vec<&Value> = run
        .of_type("LOG")
        .into_iter()
        .filter(|m| m["log"]["level"] == "DEBUG")
        .collect();
    assert!(!debug.is_empty());
    assert!(run.stdout.contains("Bearer **REDACTED**"));
}

#[test]
fn incremental_state_of_every_stream_survives_faults() {
    let h = Harness::new(FakeConfig {
        faults: Faults {
            p5xx: 0.15,
            pdrop: 0.03,
            ..Faults::default()
        },
        ..FakeConfig::default()
    });
    h.fake.advance_clock(Duration::from_secs(300));
    let mut config = h.config();
    config["max_retries"] = json!(20);
    let run = h.read(&config, &catalog(&INCREMENTAL_STREAMS, "incremental"), None);
    assert!(run.success(), "{}", run.describe());
    for stream in INCREMENTAL_STREAMS {
        assert_eq!(
            run.unique_keys(stream),
            h.fake.expected_keys(stream),
            "{stream}"
        );
    }
}

#[test]
fn an_undeclared_field_is_reported_once_per_stream() {
    let h = Harness::default_scale();
    let templates: Vec<Value> = h
        .fake
        .raw("templates")
        .into_iter()
        .take(3)
        .map(|mut t| {
            t["brandNewField"] = json!(1);
            t
        })
        .collect();
    let body = json!({"limit": 100, "data": templates, "last": "000000000000000000000000"});
    h.fake
        .set_override("/v2/templates", Override::Body(body.to_string()), None);
    let run = h.read(&h.config(), &catalog(&["templates"], "full_refresh"), None);
    assert!(run.success(), "{}", run.describe());
    assert_eq!(run.records("templates").len(), 3);
    let warnings: Vec<&Value> = run
        .of_type("LOG")
        .into_iter()
        .filter(|m| {
            m["log"]["level"] == "WARN"
                && m["log"]["message"]
                    .as_str()
                    .unwrap()
                    .contains("brandNewField")
        })
        .collect();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert_eq!(run.records("templates")[0]["brandNewField"], 1);
}
