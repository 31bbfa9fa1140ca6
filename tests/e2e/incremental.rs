//! Incremental reads: state that is exact across syncs, crashes and resumes (Airbyte notes
//! §3.6), and cheap when nothing changed.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::time::Duration;

use fake_100ms::FakeConfig;
use serde_json::{json, Value};

use crate::harness::{catalog, Harness, Run, INCREMENTAL_STREAMS};

/// A fake whose newest data is older than the connector's safety margin.
fn settled() -> Harness {
    let h = Harness::default_scale();
    h.fake.advance_clock(Duration::from_secs(300));
    h
}

fn incremental(h: &Harness, state: Option<&Value>) -> Run {
    h.fake.reset_requests();
    let run = h.read(
        &h.config(),
        &catalog(&INCREMENTAL_STREAMS, "incremental"),
        state,
    );
    assert!(run.success(), "{}", run.describe());
    run
}

#[test]
fn first_incremental_read_is_complete_and_second_differs() {
    let h = settled();
    let first = incremental(&h, Some(&json!([])));
    for stream in INCREMENTAL_STREAMS {
        assert_eq!(
            first.unique_keys(stream),
            h.fake.expected_keys(stream),
            "{stream}"
        );
        assert!(!first.states(stream).is_empty(), "{stream}: no state");
    }
    let second = incremental(&h, Some(&first.state_file()));
    let all = |run: &Run| -> BTreeSet<String> {
        INCREMENTAL_STREAMS
            .iter()
            .flat_map(|s| run.keys(s))
            .collect()
    };
    assert_ne!(
        all(&first),
        all(&second),
        "the second read must not repeat the first"
    );
}

#[test]
fn nothing_new_costs_a_request_or_two_per_stream() {
    let h = settled();
    let first = incremental(&h, None);
    let second = incremental(&h, Some(&first.state_file()));
    let requests = requests_per_endpoint(&h);
    eprintln!("second sync with nothing new: {requests:?}");
    // Sessions: the live and the ended ones of the sessions stream's window (the ended ones
    // also feed peer stats and events) and every live one, for live peers and events; enabled
    // and disabled rooms are two listings; the webhook log is a clock probe and one page of the
    // one window.
    for (endpoint, most) in [
        ("sessions", 3),
        ("templates", 1),
        ("recording_assets", 1),
        ("rooms", 2),
        ("webhook_events", 2),
    ] {
        assert!(
            requests[endpoint] <= most,
            "{endpoint}: {}",
            requests[endpoint]
        );
    }
    // No session ended: no peer's stats are asked for.
    assert_eq!(requests.get("peer_quality_stats"), None);
    // Unfinished recordings are read again until they finish.
    assert!(
        requests["recordings"] <= 3,
        "recordings: {}",
        requests["recordings"]
    );
    // Analytics events: new rooms (two listings), then each session that can have new events
    // (live, or ended since the cursor less the lookback), 100 events a page.
    let events = requests["analytics_events"];
    let floor = session_floor(&h, chrono::Duration::minutes(16));
    assert!(
        events <= 4 + floor + 1,
        "analytics_events: {events} requests, floor {floor}"
    );
    let records: usize = INCREMENTAL_STREAMS
        .iter()
        .map(|s| second.records(s).len())
        .sum();
    assert!(records < first.of_type("RECORD").len() / 10);
}

/// Requests per endpoint since the fake's log was last reset, as the API saw them.
fn requests_per_endpoint(h: &Harness) -> BTreeMap<&'static str, u64> {
    let mut out = BTreeMap::new();
    for r in h.fake.requests() {
        *out.entry(r.route).or_default() += 1;
    }
    out
}

/// The analytics requests a sync that reads by session cannot do without: one per 100 events
/// (at least one) of each session live now or ended within `lookback` (with slack).
pub fn session_floor(h: &Harness, lookback: chrono::Duration) -> u64 {
    let now = h.fake.now();
    let mut events: BTreeMap<String, u64> = BTreeMap::new();
    for event in h.fake.raw("analytics_events") {
        if let Some(session) = event["data"]["session_id"].as_str() {
            *events.entry(session.to_owned()).or_default() += 1;
        }
    }
    h.fake
        .raw("sessions")
        .iter()
        .filter(|s| {
            let updated = s["updated_at"]
                .as_str()
                .and_then(|t| t.parse::<chrono::DateTime<chrono::Utc>>().ok());
            s["active"] == true || updated.is_some_and(|u| u >= now - lookback)
        })
        .map(|s| {
            let n = events.get(s["id"].as_str().unwrap()).copied().unwrap_or(0);
            n.div_ceil(100).max(1)
        })
        .sum()
}

#[test]
fn a_far_future_state_reads_nothing_and_keeps_its_state() {
    let h = settled();
    let future = "2999-12-31T00:00:00Z";
    let state: Vec<Value> = INCREMENTAL_STREAMS
        .iter()
        .map(|s| json!({"type": "STREAM", "stream": {"stream_descriptor": {"name": s}, "stream_state": {"cursor": future}}}))
        .collect();
    let run = incremental(&h, Some(&Value::Array(state)));
    assert!(
        run.of_type("RECORD").is_empty(),
        "records after a future state"
    );
    for stream in INCREMENTAL_STREAMS {
        let states = run.states(stream);
        assert!(!states.is_empty(), "{stream}: no state");
        assert_eq!(
            states.last().unwrap()["stream"]["stream_state"]["cursor"],
            future,
            "{stream}"
        );
    }
}

#[test]
fn changes_arrive_exactly_in_the_next_sync() {
    let h = settled();
    let first = incremental(&h, None);
    let first_requests = requests_per_endpoint(&h);
    let was_active: BTreeSet<String> = first
        .records("sessions")
        .iter()
        .filter(|s| s["active"] == true)
        .map(|s| s["id"].as_str().unwrap().to_owned())
        .collect();
    let was_unfinished: BTreeSet<String> = first
        .records("recordings")
        .iter()
        .filter(|r| !matches!(r["status"].as_str(), Some("completed" | "failed")))
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect();
    assert!(!was_active.is_empty() && !was_unfinished.is_empty());

    let changes = h.fake.apply_changes(0.01);
    h.fake.advance_clock(Duration::from_secs(600));
    let second = incremental(&h, Some(&first.state_file()));
    let changed = |s: &str| changes.get(s).cloned().unwrap_or_default();
    let mut expected: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for stream in INCREMENTAL_STREAMS {
        expected.insert(stream, changed(stream));
    }
    // Live sessions and unfinished recordings are emitted again every sync until they settle.
    expected
        .get_mut("sessions")
        .unwrap()
        .extend(was_active.iter().cloned());
    expected
        .get_mut("recordings")
        .unwrap()
        .extend(was_unfinished.iter().cloned());
    for stream in INCREMENTAL_STREAMS {
        assert!(
            !changed(stream).is_empty(),
            "{stream}: the fake changed nothing"
        );
        assert_eq!(second.unique_keys(stream), expected[stream], "{stream}");
    }
    // A percent of new data costs about a percent of the first sync's requests, plus the
    // per-stream floor of a sync with nothing new.
    let before = first_requests;
    let after = requests_per_endpoint(&h);
    eprintln!("requests, first sync: {before:?}\nrequests, 1% new: {after:?}");
    for (endpoint, most) in [
        // Live and ended sessions in the window (the ended ones feed peer stats and events),
        // and the live ones for live peers and events.
        ("sessions", 4),
        ("rooms", 2),
        ("templates", 1),
        ("recordings", 3),
        ("recording_assets", 3),
        // The clock probe and the pages of one window.
        ("webhook_events", 3),
    ] {
        assert!(
            after[endpoint] <= most,
            "{endpoint}: {} requests",
            after[endpoint]
        );
    }
    // Peer stats: one request per peer of each session that ended.
    let ended_peers: u64 = h
        .fake
        .raw("sessions")
        .iter()
        .filter(|s| s["active"] == false && changed("sessions").contains(s["id"].as_str().unwrap()))
        .map(|s| s["peers"].as_object().map_or(0, |m| m.len()) as u64)
        .sum();
    assert!(ended_peers > 0);
    assert_eq!(after["peer_quality_stats"], ended_peers);
    assert!(after["analytics_events"] < before["analytics_events"] / 2);
    // The session that ended arrives in its final form.
    let ended: Vec<&Value> = second
        .records("sessions")
        .into_iter()
        .filter(|s| was_active.contains(s["id"].as_str().unwrap()) && s["active"] == false)
        .collect();
    assert!(!ended.is_empty(), "no session was seen ending");
    for s in ended {
        assert!(s["stopped_at"].is_string(), "{s}");
        assert!(s["wall_clock_duration"].is_i64(), "{s}");
    }
    // And a third sync, with nothing changed, emits only what is still live or unfinished:
    // records within the lookback are read again, but emitted only if they changed.
    let third = incremental(&h, Some(&second.state_file()));
    let unsettled = |stream: &str, live: &dyn Fn(&Value) -> bool| -> BTreeSet<String> {
        let records = second.records(stream);
        let ids = records
            .iter()
            .filter(|r| live(r))
            .map(|r| r["id"].as_str().unwrap().to_owned());
        ids.collect()
    };
    for stream in INCREMENTAL_STREAMS {
        let expected = match stream {
            "sessions" => unsettled(stream, &|s| s["active"] == true),
            "recordings" => unsettled(stream, &|r| {
                !matches!(r["status"].as_str(), Some("completed" | "failed"))
            }),
            _ => BTreeSet::new(),
        };
        assert_eq!(third.keys(stream), expected, "{stream}");
    }
}

#[test]
fn reads_resumed_from_sampled_checkpoints_miss_nothing() {
    let h = settled();
    let first = h.read(&h.config(), &catalog(&["sessions"], "incremental"), None);
    assert!(first.success(), "{}", first.describe());
    let total = first.records("sessions").len() as f64;
    let states = first.states("sessions");
    assert!(
        states.len() >= 3,
        "the first sync should checkpoint per slice, got {}",
        states.len()
    );
    let mut cumulative = 0.0;
    for state in &states[..states.len() - 1] {
        cumulative += state["sourceStats"]["recordCount"].as_f64().unwrap();
        let file = json!([{"type": "STREAM", "stream": state["stream"]}]);
        let resumed = h.read(
            &h.config(),
            &catalog(&["sessions"], "incremental"),
            Some(&file),
        );
        assert!(resumed.success(), "{}", resumed.describe());
        let got = resumed.records("sessions").len() as f64;
        assert!(
            got >= total - cumulative,
            "resumed at {cumulative}: {got} < {total} - {cumulative}"
        );
        let union: BTreeSet<String> = first.keys("sessions").into_iter().collect();
        assert!(resumed.keys("sessions").is_subset(&union));
    }
}

#[test]
fn a_killed_sync_resumes_from_its_last_state_without_loss() {
    let h = Harness::new(FakeConfig {
        faults: fake_100ms::Faults {
            latency: Duration::from_millis(30),
            ..Default::default()
        },
        ..FakeConfig::default()
    });
    h.fake.advance_clock(Duration::from_secs(300));
    let mut child = h.spawn_read(&h.config(), &catalog(&INCREMENTAL_STREAMS, "incremental"));
    let mut lines = Vec::new();
    let reader = BufReader::new(child.stdout.take().unwrap());
    for line in reader.lines() {
        let line = line.unwrap();
        let is_state = line.starts_with("{\"type\":\"STATE\"");
        lines.push(line);
        if is_state {
            child.kill().unwrap();
            break;
        }
    }
    let _ = child.wait();
    let killed = Run::parse(
        std::process::ExitStatus::default(),
        lines.join("\n"),
        String::new(),
        Duration::ZERO,
    );
    assert!(!killed.of_type("STATE").is_empty());
    let resumed = incremental(&h, Some(&killed.state_file()));
    for stream in INCREMENTAL_STREAMS {
        let union: BTreeSet<String> = killed
            .keys(stream)
            .union(&resumed.keys(stream))
            .cloned()
            .collect();
        assert_eq!(
            union,
            h.fake.expected_keys(stream),
            "{stream}: lost records"
        );
    }
}
