//! Months of hourly syncs, compressed: what a sync costs as the account grows, and what the
//! API shows late or outside any session (API notes §5, items 19–20).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use fake_100ms::{FakeConfig, Scale};
use serde_json::{json, Value};

use crate::harness::{catalog, Harness, Run, INCREMENTAL_STREAMS};
use crate::incremental::session_floor;

fn settled(scale: Scale) -> Harness {
    let h = Harness::new(FakeConfig {
        scale,
        ..FakeConfig::default()
    });
    h.fake.advance_clock(Duration::from_secs(300));
    h
}

/// Reads `streams` incrementally, and counts the analytics requests the fake saw.
fn sync(h: &Harness, config: &Value, streams: &[&str], state: Option<&Value>) -> (Run, u64) {
    h.fake.reset_requests();
    let run = h.read(config, &catalog(streams, "incremental"), state);
    assert!(run.success(), "{}", run.describe());
    let events = h
        .fake
        .requests()
        .iter()
        .filter(|r| r.route == "analytics_events")
        .count() as u64;
    (run, events)
}

#[test]
fn a_busy_room_costs_what_is_new_not_what_it_keeps() {
    let _alone = crate::harness::exclusive();
    let h = settled(Scale::busy_rooms());
    let config = h.config();
    let stream = ["analytics_events"];
    let total = h.fake.expected_keys("analytics_events").len();
    assert!(total >= 100_000, "{total} events");
    let (first, first_requests) = sync(&h, &config, &stream, None);
    assert_eq!(
        first.unique_keys("analytics_events"),
        h.fake.expected_keys("analytics_events")
    );

    let new = h.fake.add_live_events(5);
    h.fake.advance_clock(Duration::from_secs(120));
    let (second, second_requests) = sync(&h, &config, &stream, Some(&first.state_file()));
    let second_floor = session_floor(&h, chrono::Duration::minutes(16));
    let got = second.unique_keys("analytics_events");
    assert!(got.is_superset(&new), "new events missing");
    let repeats = got.difference(&new).count();

    h.fake.advance_clock(Duration::from_secs(60));
    let (third, third_requests) = sync(&h, &config, &stream, Some(&second.state_file()));
    let third_floor = session_floor(&h, chrono::Duration::minutes(16));
    let third_repeats = third.unique_keys("analytics_events").len();
    eprintln!(
        "busy rooms, {total} events: analytics requests sync 1 {first_requests}; \
         sync 2 {second_requests} (floor {second_floor}, repeats {repeats}); \
         sync 3 {third_requests} (floor {third_floor}, repeats {third_repeats})"
    );
    for (requests, floor) in [
        (second_requests, second_floor),
        (third_requests, third_floor),
    ] {
        assert!(
            requests as f64 <= 1.5 * floor as f64,
            "{requests} analytics requests, floor {floor}"
        );
    }
    // The lookback reads the last 15 minutes again, but what it already emitted unchanged is
    // not emitted again.
    assert_eq!(repeats, 0);
    assert_eq!(third_repeats, 0);
    // And the state that buys this stays small.
    let state = third.state_file().to_string();
    assert!(state.len() < 4096, "{} bytes: {state}", state.len());
}

#[test]
fn join_failures_of_no_session_arrive_when_the_sweep_is_due() {
    let h = settled(Scale::times(0.2));
    let mut every_sync = h.config();
    every_sync["join_failure_sweep_hours"] = json!(0);
    let daily = h.config();
    let stream = ["analytics_events"];
    let (first, _) = sync(&h, &daily, &stream, None);

    let failures = h.fake.add_join_failures(4);
    h.fake.advance_clock(Duration::from_secs(120));
    // Swept on every sync: they arrive at once, and nothing else does.
    let (swept, _) = sync(&h, &every_sync, &stream, Some(&first.state_file()));
    assert_eq!(swept.unique_keys("analytics_events"), failures);
    for event in swept.records("analytics_events") {
        assert_eq!(event["session_id"], Value::Null, "{event}");
        assert_eq!(event["type"], "client.join.failed");
    }
    // And a sweep that finds them again emits none of them twice.
    let (again, _) = sync(&h, &every_sync, &stream, Some(&swept.state_file()));
    assert!(again.keys("analytics_events").is_empty());

    // Swept daily: not before the day is out, then all of them.
    let (early, _) = sync(&h, &daily, &stream, Some(&first.state_file()));
    assert!(early.keys("analytics_events").is_disjoint(&failures));
    // A day later (the connector does not trust a server clock a day off its own, so the
    // state's last sweep is moved a day back instead of the fake's clock a day on).
    let mut state = early.state_file();
    for entry in state.as_array_mut().unwrap() {
        let sweep = &mut entry["stream"]["stream_state"]["sweep"];
        let ran_at: chrono::DateTime<chrono::Utc> =
            sweep["ran_at"].as_str().unwrap().parse().unwrap();
        sweep["ran_at"] = json!((ran_at - chrono::Duration::hours(24)).to_rfc3339());
    }
    let (late, requests) = sync(&h, &daily, &stream, Some(&state));
    assert!(late.unique_keys("analytics_events").is_superset(&failures));
    let rooms = h.fake.expected_keys("rooms").len() as u64;
    assert!(
        requests >= rooms,
        "the sweep read {requests} pages for {rooms} rooms"
    );
}

#[test]
fn what_the_api_shows_late_arrives_in_the_next_sync() {
    let h = settled(Scale::times(0.2));
    let config = h.config();
    let (first, _) = sync(&h, &config, &INCREMENTAL_STREAMS, None);
    // Created up to ten minutes ago, listed only five minutes from now.
    let late = h.fake.add_late_arrivals(Duration::from_secs(300));
    h.fake.advance_clock(Duration::from_secs(60));
    let (before, _) = sync(&h, &config, &INCREMENTAL_STREAMS, Some(&first.state_file()));
    h.fake.advance_clock(Duration::from_secs(300));
    let (after, _) = sync(
        &h,
        &config,
        &INCREMENTAL_STREAMS,
        Some(&before.state_file()),
    );

    let mut repeated: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for (stream, keys) in &late {
        let stream = stream.as_str();
        let union: BTreeSet<String> = before
            .unique_keys(stream)
            .union(&after.unique_keys(stream))
            .cloned()
            .collect();
        assert!(union.is_superset(keys), "{stream}: late records missing");
        let twice: BTreeSet<String> = before
            .keys(stream)
            .intersection(&after.keys(stream))
            .cloned()
            .collect();
        repeated.insert(stream, twice);
    }
    eprintln!("emitted again: {repeated:?}");
    // The recording whose transcript was listed late is emitted again, with it; nothing else
    // older than the lookback is.
    let recording = &repeated["recordings"];
    assert_eq!(recording.len(), 1, "{repeated:?}");
    for stream in INCREMENTAL_STREAMS.iter().filter(|s| **s != "recordings") {
        assert!(
            repeated.get(stream).is_none_or(BTreeSet::is_empty),
            "{stream}"
        );
    }
    let id = recording.iter().next().unwrap();
    let emitted = after
        .records("recordings")
        .into_iter()
        .find(|r| key(r) == *id)
        .unwrap();
    let assets: BTreeSet<String> = emitted["recording_assets"]
        .as_array()
        .unwrap()
        .iter()
        .map(key)
        .collect();
    let listed: BTreeSet<String> = h
        .fake
        .raw("recording_assets")
        .iter()
        .filter(|a| a["job_id"].as_str() == Some(id.as_str()))
        .map(key)
        .collect();
    assert_eq!(assets, listed, "the late asset is not attached");
}

fn key(v: &Value) -> String {
    v["id"].as_str().unwrap_or_default().to_owned()
}

#[test]
fn a_start_date_two_thousand_years_early_costs_a_few_requests() {
    let h = settled(Scale::times(0.2));
    let mut config = h.config();
    config["start_date"] = json!("0000-01-01T00:00:00Z");
    h.fake.reset_requests();
    let run = h.read(&config, &catalog(&["sessions"], "incremental"), None);
    assert!(run.success(), "{}", run.describe());
    assert_eq!(
        run.unique_keys("sessions"),
        h.fake.expected_keys("sessions")
    );
    let requests = h.fake.requests().len();
    // Empty slices quadruple: about a dozen of them cross two thousand years, and each slice
    // lists live and ended sessions apart.
    eprintln!("a start in year 0000: {requests} sessions requests");
    assert!(requests <= 30, "{requests} requests");
}
