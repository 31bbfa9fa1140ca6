//! Full-refresh reads of every stream against the fake's ground truth.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::harness::{catalog, Harness, Run, ALL_STREAMS};

/// Each stream's JSON Schema, as `discover` gives it.
pub fn discovered_schemas(h: &Harness) -> BTreeMap<String, Value> {
    let run = h.discover(&h.config());
    run.of_type("CATALOG")[0]["catalog"]["streams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap().to_owned(),
                s["json_schema"].clone(),
            )
        })
        .collect()
}

/// Every record of `stream` in `run` validates against `schema`, formats included.
pub fn assert_records_valid(run: &Run, stream: &str, schema: &Value) {
    let validator = jsonschema::draft7::options()
        .should_validate_formats(true)
        .build(schema)
        .unwrap();
    for record in run.records(stream) {
        let errors: Vec<String> = validator
            .iter_errors(record)
            .map(|e| format!("{e} at {}", e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{stream}: {errors:?} in {record}");
    }
}

#[test]
fn full_read_matches_the_ground_truth() {
    let h = Harness::default_scale();
    let run = h.read(&h.config(), &catalog(&ALL_STREAMS, "full_refresh"), None);
    assert!(run.success(), "{}", run.describe());
    assert!(run.errors().is_empty());
    let schemas = discovered_schemas(&h);
    for stream in ALL_STREAMS {
        let keys = run.unique_keys(stream);
        let expected = h.fake.expected_keys(stream);
        assert!(!expected.is_empty(), "{stream}: the fake has no data");
        assert_eq!(
            keys, expected,
            "{stream}: records differ from the ground truth"
        );

        assert_records_valid(&run, stream, &schemas[stream]);

        assert_eq!(
            run.statuses(stream),
            ["STARTED", "RUNNING", "COMPLETE"],
            "{stream}"
        );
        let states = run.states(stream);
        assert!(!states.is_empty(), "{stream}: no state");
        let counted: f64 = states
            .iter()
            .map(|s| s["sourceStats"]["recordCount"].as_f64().unwrap())
            .sum();
        assert_eq!(
            counted as usize,
            run.records(stream).len(),
            "{stream}: recordCount"
        );
    }
}

#[test]
fn analytics_events_report_an_estimate_from_the_api_totals() {
    let h = Harness::default_scale();
    let run = h.read(
        &h.config(),
        &catalog(&["analytics_events"], "full_refresh"),
        None,
    );
    assert!(run.success(), "{}", run.describe());
    let estimates: Vec<u64> = run
        .of_type("TRACE")
        .into_iter()
        .filter(|m| m["trace"]["type"] == "ESTIMATE")
        .map(|m| {
            assert_eq!(m["trace"]["estimate"]["name"], "analytics_events");
            assert_eq!(m["trace"]["estimate"]["type"], "STREAM");
            m["trace"]["estimate"]["row_estimate"].as_u64().unwrap()
        })
        .collect();
    let actual = h.fake.expected_keys("analytics_events").len() as u64;
    // Extrapolated from the first rooms' totals: the right order of magnitude, early.
    let first = *estimates.first().expect("no ESTIMATE trace");
    assert!(
        (actual / 5..=actual * 5).contains(&first),
        "estimate {first}, actual {actual}"
    );
    let first_record = run
        .messages
        .iter()
        .position(|m| m["type"] == "RECORD")
        .unwrap();
    let first_estimate = run
        .messages
        .iter()
        .position(|m| m["type"] == "TRACE" && m["trace"]["type"] == "ESTIMATE")
        .unwrap();
    assert!(
        first_estimate < first_record + 200,
        "the estimate came late"
    );
}

#[test]
fn any_subset_of_streams_reads_each_endpoint_once() {
    let h = Harness::default_scale();
    let streams = [
        "template_destinations",
        "recording_assets",
        "recordings",
        "rooms",
    ];
    let run = h.read(&h.config(), &catalog(&streams, "full_refresh"), None);
    assert!(run.success(), "{}", run.describe());
    for stream in streams {
        assert_eq!(
            run.unique_keys(stream),
            h.fake.expected_keys(stream),
            "{stream}"
        );
    }
    let pages = |s: &str| (h.fake.raw(s).len() / 100 + 1) as u64;
    let requests = |route: &str| {
        h.fake
            .requests()
            .iter()
            .filter(|r| r.route == route)
            .count() as u64
    };
    assert_eq!(requests("templates"), pages("templates"));
    assert_eq!(requests("recording_assets"), pages("recording_assets"));
    assert_eq!(requests("recordings"), pages("recordings"));
    assert_eq!(requests("rooms"), 2);
    assert_eq!(requests("sessions") + requests("analytics_events"), 0);
}

#[test]
fn a_full_sync_reads_each_endpoint_once_at_the_optimum() {
    let h = Harness::default_scale();
    let run = h.read(&h.config(), &catalog(&ALL_STREAMS, "full_refresh"), None);
    assert!(run.success(), "{}", run.describe());
    for stream in ALL_STREAMS {
        assert_eq!(
            run.unique_keys(stream),
            h.fake.expected_keys(stream),
            "{stream}"
        );
    }
    // Requests per endpoint, as the API saw them.
    let mut requests: BTreeMap<&str, u64> = BTreeMap::new();
    for r in h.fake.requests() {
        *requests.entry(r.route).or_default() += 1;
    }
    // A full last page cannot tell that nothing follows: one more (empty) request does.
    let pages = |n: usize| (n / 100 + 1) as u64;
    let raw = |s: &str| h.fake.raw(s);
    let count = |s: &str, f: &dyn Fn(&Value) -> bool| raw(s).iter().filter(|v| f(v)).count();
    let enabled = count("rooms", &|r| r["enabled"] == true);
    let disabled = count("rooms", &|r| r["enabled"] == false);
    let live = count("sessions", &|s| s["active"] == true);
    let ended = count("sessions", &|s| s["active"] == false);
    let live_rooms = run
        .records("active_room_peers")
        .iter()
        .map(|p| p["room_id"].to_string())
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    let mut events_per_room: BTreeMap<String, usize> = raw("rooms")
        .iter()
        .map(|r| (r["id"].as_str().unwrap().to_owned(), 0))
        .collect();
    for event in raw("analytics_events") {
        *events_per_room
            .entry(event["data"]["room_id"].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    let event_pages: u64 = events_per_room
        .values()
        .map(|&n| n.div_ceil(100).max(1) as u64)
        .sum();
    let ended_peers: u64 = raw("sessions")
        .iter()
        .filter(|s| s["active"] == false)
        .map(|s| s["peers"].as_object().map_or(0, |m| m.len()) as u64)
        .sum();
    let optimum: BTreeMap<&str, u64> = [
        // Enabled and disabled rooms, listed apart, once for `rooms` and the events' rooms.
        ("rooms", pages(enabled) + pages(disabled)),
        // `sessions` lists live and ended sessions in its window, and its listing feeds
        // `peer_quality_stats` the ended sessions; the live sessions the events and live
        // peers fan out over are listed once for both.
        ("sessions", pages(live) + pages(ended) + pages(live)),
        ("active_room_peers", live_rooms as u64),
        // Once for templates, their settings and their destinations.
        ("templates", pages(raw("templates").len())),
        ("recordings", pages(raw("recordings").len())),
        // Once for the recordings' assets and `recording_assets`.
        ("recording_assets", pages(raw("recording_assets").len())),
        // Each room's events, 100 a page; an empty `next` ends a room on its last page.
        ("analytics_events", event_pages),
        // One request per peer of each ended session.
        ("peer_quality_stats", ended_peers),
        // The clock probe, then each window's pages.
        (
            "webhook_events",
            crate::quality::webhook_optimum(&h, &h.fake.requests()),
        ),
    ]
    .into_iter()
    .collect();
    eprintln!("endpoint                requests  optimum");
    for (route, best) in &optimum {
        let used = requests.get(route).copied().unwrap_or(0);
        eprintln!("{route:<24}{used:>8}{best:>9}");
    }
    for (route, best) in &optimum {
        assert_eq!(requests.get(route).copied().unwrap_or(0), *best, "{route}");
    }
    assert_eq!(requests.get("other"), None);
}

#[test]
fn records_carry_the_documented_normalisations() {
    let h = Harness::default_scale();
    let run = h.read(
        &h.config(),
        &catalog(
            &["sessions", "analytics_events", "active_room_peers"],
            "full_refresh",
        ),
        None,
    );
    assert!(run.success(), "{}", run.describe());
    let raw: BTreeMap<String, Value> = h
        .fake
        .raw("sessions")
        .into_iter()
        .map(|s| (s["id"].as_str().unwrap().to_owned(), s))
        .collect();
    for session in run.records("sessions") {
        let api = &raw[session["id"].as_str().unwrap()];
        let peers = session["peers"].as_array().expect("peers is an array");
        assert_eq!(peers.len(), api["peers"].as_object().map_or(0, |m| m.len()));
        let active = session["active"] == true;
        for peer in peers {
            assert_eq!(
                peer["duration"].is_null(),
                peer["left_at"].is_null(),
                "{peer}"
            );
        }
        assert_eq!(
            session["stopped_at"].is_null(),
            active || peers.is_empty(),
            "{session}"
        );
        let total: i64 = peers.iter().filter_map(|p| p["duration"].as_i64()).sum();
        assert_eq!(session["total_peer_duration"], total);
    }
    for event in run.records("analytics_events") {
        assert!(event["room_id"].is_string(), "{event}");
        assert_eq!(event["room_id"], event["data"]["room_id"]);
    }
    for peer in run.records("active_room_peers") {
        assert!(
            peer["room_id"].is_string() && peer["session_id"].is_string(),
            "{peer}"
        );
    }
}

#[test]
fn an_invalid_catalog_is_a_trace_error() {
    let h = Harness::default_scale();
    let bad = json!({"streams": [{"stream": {"name": "__AIRBYTE__stream_that_does_not_exist", "json_schema": {}, "supported_sync_modes": ["full_refresh"]}, "sync_mode": "INVALID", "destination_sync_mode": "INVALID"}]});
    let run = h.read(&h.config(), &bad, None);
    assert!(!run.success());
    assert_eq!(run.errors().len(), 1);
    assert_eq!(run.errors()[0]["failure_type"], "config_error");
    let not_json = h.write_text("catalog-not-json.json", "{");
    let config = h.write("c.json", &h.config());
    let run = h.run(&[
        "read",
        "--config",
        config.to_str().unwrap(),
        "--catalog",
        not_json.to_str().unwrap(),
    ]);
    assert!(!run.success());
    assert_eq!(run.errors()[0]["failure_type"], "config_error");
}

#[test]
fn an_unknown_stream_fails_alone() {
    let h = Harness::default_scale();
    let run = h.read(
        &h.config(),
        &catalog(&["no_such_stream", "templates"], "full_refresh"),
        None,
    );
    assert!(!run.success(), "the sync must exit non-zero");
    let errors = run.errors();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0]["stream_descriptor"]["name"], "no_such_stream");
    assert_eq!(
        run.statuses("templates"),
        ["STARTED", "RUNNING", "COMPLETE"]
    );
    assert_eq!(run.keys("templates"), h.fake.expected_keys("templates"));
}

#[test]
fn incremental_asked_of_a_full_refresh_stream_reads_it_whole() {
    let h = Harness::default_scale();
    let streams = [
        "active_room_peers",
        "template_settings",
        "template_destinations",
    ];
    let run = h.read(
        &h.config(),
        &catalog(&streams, "incremental"),
        Some(&json!([])),
    );
    assert!(run.success(), "{}", run.describe());
    for stream in streams {
        assert_eq!(
            run.unique_keys(stream),
            h.fake.expected_keys(stream),
            "{stream}"
        );
    }
}

#[test]
fn sequential_full_reads_return_the_same_records() {
    let h = Harness::default_scale();
    let streams = ["rooms", "templates", "recordings"];
    let first = h.read(&h.config(), &catalog(&streams, "full_refresh"), None);
    let second = h.read(&h.config(), &catalog(&streams, "full_refresh"), None);
    for stream in streams {
        assert_eq!(first.keys(stream), second.keys(stream), "{stream}");
    }
    let last_first = first
        .of_type("RECORD")
        .iter()
        .map(|m| m["record"]["emitted_at"].as_i64().unwrap())
        .max()
        .unwrap();
    let first_second = second
        .of_type("RECORD")
        .iter()
        .map(|m| m["record"]["emitted_at"].as_i64().unwrap())
        .min()
        .unwrap();
    assert!(last_first <= first_second);
}
