//! `peer_quality_stats` and `webhook_events` against the fake: the ground truth by primary key
//! on a first sync and incrementally, the request count against the optimum, the API's window
//! rules, and what 404s, empty answers and bad bodies do.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use chrono::{DateTime, Utc};
use fake_100ms::{Override, RequestRecord};
use serde_json::{json, Value};

use crate::harness::{catalog, Harness, Run};

const STATS: &str = "peer_quality_stats";
const WEBHOOKS: &str = "webhook_events";

/// A fake whose newest data is older than the connector's safety margin.
fn settled() -> Harness {
    let h = Harness::default_scale();
    h.fake.advance_clock(Duration::from_secs(300));
    h
}

/// Reads `stream` incrementally with `config`; returns the run and the fake's requests.
fn sync(
    h: &Harness,
    config: &Value,
    stream: &str,
    state: Option<&Value>,
) -> (Run, Vec<RequestRecord>) {
    h.fake.reset_requests();
    let run = h.read(config, &catalog(&[stream], "incremental"), state);
    assert!(run.success(), "{}", run.describe());
    assert_eq!(run.statuses(stream), ["STARTED", "RUNNING", "COMPLETE"]);
    (run, h.fake.requests())
}

fn on_route<'a>(requests: &'a [RequestRecord], route: &str) -> Vec<&'a RequestRecord> {
    requests.iter().filter(|r| r.route == route).collect()
}

fn time(v: &Value) -> Option<DateTime<Utc>> {
    v.as_str()?.parse().ok()
}

/// When the API says a session ended: its last change or its last peer's leaving.
fn ended_at(session: &Value) -> Option<DateTime<Utc>> {
    let leaves = session["peers"]
        .as_object()
        .into_iter()
        .flat_map(|m| m.values())
        .filter_map(|p| time(&p["left_at"]));
    leaves.chain(time(&session["updated_at"])).max()
}

/// Peers of the ended sessions the fake lists, per session id.
fn ended_peers(h: &Harness) -> BTreeMap<String, usize> {
    h.fake
        .raw("sessions")
        .iter()
        .filter(|s| s["active"] == false)
        .map(|s| {
            let peers = s["peers"].as_object().map_or(0, |m| m.len());
            (s["id"].as_str().unwrap().to_owned(), peers)
        })
        .collect()
}

fn query(r: &RequestRecord, key: &str) -> Option<String> {
    r.query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == key).then(|| v.replace("%3A", ":"))
    })
}

#[test]
fn peer_stats_equal_the_ground_truth_at_one_request_per_peer() {
    let h = settled();
    let config = h.config();
    let (first, requests) = sync(&h, &config, STATS, None);
    let expected = h.fake.expected_keys(STATS);
    assert!(!expected.is_empty());
    assert_eq!(first.unique_keys(STATS), expected);

    // One request per peer of every ended session, and one per 100 sessions listed.
    let peers = ended_peers(&h);
    let candidates: usize = peers.values().sum();
    let asked = on_route(&requests, STATS);
    assert_eq!(asked.len(), candidates);
    assert!(asked.iter().all(|r| r.status == 200 || r.status == 404));
    let listing = on_route(&requests, "sessions").len();
    assert_eq!(listing, peers.len() / 100 + 1);
    let missing = candidates - expected.len();
    eprintln!(
        "peer_quality_stats, first sync: {} requests ({listing} listing, {candidates} peers); \
         {missing} peers ({:.1} %) without stats",
        requests.len(),
        100.0 * missing as f64 / candidates as f64
    );
    assert!(missing > 0, "the fake should have peers without stats");

    // Every record carries its session's end and a summary of each direction and kind.
    let ends: BTreeMap<String, DateTime<Utc>> = h
        .fake
        .raw("sessions")
        .iter()
        .filter_map(|s| Some((s["id"].as_str()?.to_owned(), ended_at(s)?)))
        .collect();
    for record in first.records(STATS) {
        let session = record["session_id"].as_str().unwrap();
        assert_eq!(time(&record["session_ended_at"]), Some(ends[session]));
        for direction in ["publisher", "subscriber"] {
            for kind in ["audio", "video"] {
                let figures = &record["summary"][direction][kind];
                assert!(figures["tracks"].is_u64(), "{figures}");
            }
        }
        let video = &record["summary"]["publisher"]["video"];
        assert!(video["rtt_ms_p50"].as_f64() <= video["rtt_ms_p95"].as_f64());
        assert!(
            video["packet_loss_percent_mean"].as_f64() <= video["packet_loss_percent_max"].as_f64()
        );
    }

    // A session that ends between syncs brings its peers' stats in the next one.
    let changes = h.fake.apply_changes(0.01);
    h.fake.advance_clock(Duration::from_secs(600));
    let (second, requests) = sync(&h, &config, STATS, Some(&first.state_file()));
    let new = changes.get(STATS).cloned().unwrap_or_default();
    assert!(!new.is_empty());
    assert_eq!(second.unique_keys(STATS), new);
    let ended_now: usize = changes["sessions"]
        .iter()
        .filter_map(|id| ended_peers(&h).get(id).copied())
        .sum();
    assert_eq!(on_route(&requests, STATS).len(), ended_now);
    eprintln!(
        "peer_quality_stats, second sync (1 % new): {} requests ({} listing, {ended_now} peers)",
        requests.len(),
        on_route(&requests, "sessions").len()
    );

    // Nothing new: the lookback re-reads no session already read.
    let (third, requests) = sync(&h, &config, STATS, Some(&second.state_file()));
    assert!(third.records(STATS).is_empty());
    assert!(on_route(&requests, STATS).is_empty());
}

#[test]
fn peer_stats_keep_to_their_days_and_zero_turns_them_off() {
    let h = settled();
    let mut config = h.config();
    config["peer_quality_stats_days"] = json!(7);
    let before = h.fake.now();
    let (run, requests) = sync(&h, &config, STATS, None);
    let after = h.fake.now();
    let horizon = |now: DateTime<Utc>| now - chrono::Duration::days(7);
    for record in run.records(STATS) {
        assert!(time(&record["session_ended_at"]).unwrap() > horizon(before));
    }
    // Every peer of a session that ended clearly inside the seven days is there.
    let inside: BTreeSet<String> = h
        .fake
        .raw("sessions")
        .iter()
        .filter(|s| ended_at(s).is_some_and(|t| t > horizon(after) && s["active"] == false))
        .map(|s| s["id"].as_str().unwrap().to_owned())
        .collect();
    let expected: BTreeSet<String> = h
        .fake
        .expected_keys(STATS)
        .into_iter()
        .filter(|k| inside.contains(k.split('|').next().unwrap()))
        .collect();
    assert!(run.unique_keys(STATS).is_superset(&expected));
    assert!(expected.len() * 2 < h.fake.expected_keys(STATS).len());
    assert!(on_route(&requests, STATS).len() < ended_peers(&h).values().sum::<usize>() / 2);
    // The sessions are listed from the start of the seven days (less a day the API's clock
    // may lag, and the longest session), not from the start date. (The connector counts on
    // its own clock here, which the fake's runs five minutes ahead of.)
    let listing = on_route(&requests, "sessions");
    let after = time(&json!(query(listing[0], "after").unwrap())).unwrap();
    let reach = chrono::Duration::days(7 + 1) + chrono::Duration::hours(12);
    assert!(
        after >= before - reach - chrono::Duration::minutes(10),
        "{after}"
    );
    assert!(listing.len() < ended_peers(&h).len() / 100 + 1);
    eprintln!(
        "peer_quality_stats, 7 days, first sync: {} requests ({} listing, {} peers)",
        requests.len(),
        listing.len(),
        on_route(&requests, STATS).len()
    );

    config["peer_quality_stats_days"] = json!(0);
    let (off, requests) = sync(&h, &config, STATS, Some(&run.state_file()));
    assert!(off.records(STATS).is_empty());
    assert!(requests.is_empty(), "{} requests", requests.len());
    assert!(off
        .logs()
        .iter()
        .any(|l| l.contains("turns this stream off")));
    // The state stays as it was.
    assert_eq!(
        off.states(STATS).last().unwrap()["stream"]["stream_state"],
        run.states(STATS).last().unwrap()["stream"]["stream_state"]
    );
}

#[test]
fn peer_stats_skip_404s_and_empty_reports_and_fail_on_bad_bodies() {
    let h = settled();
    let config = h.config();
    let not_found = Override::Status {
        status: 404,
        body: json!({"code": 404, "message": "Peer stats not found"}).to_string(),
        retry_after: None,
    };
    h.fake
        .set_override("/v2/analytics/peer-stats", not_found, None);
    let (run, _) = sync(&h, &config, STATS, None);
    assert!(run.records(STATS).is_empty());
    let peers: usize = ended_peers(&h).values().sum();
    assert!(
        run.logs()
            .iter()
            .any(|l| l.contains(&format!("{peers} peers asked for, {peers} without stats"))),
        "{:?}",
        run.logs()
    );

    h.fake.clear_overrides();
    let empty = json!({"peer_id": "p", "session_id": "s", "publisher": {"video": [], "audio": []},
        "subscriber": {"video": [], "audio": []}});
    h.fake.set_override(
        "/v2/analytics/peer-stats",
        Override::Body(empty.to_string()),
        None,
    );
    let (run, _) = sync(&h, &config, STATS, None);
    assert!(run.records(STATS).is_empty());
    assert!(run
        .logs()
        .iter()
        .any(|l| l.contains(&format!("{peers} with an empty report"))));

    h.fake.clear_overrides();
    h.fake.set_override(
        "/v2/analytics/peer-stats",
        Override::Body("<html>502 Bad Gateway</html>".into()),
        None,
    );
    h.fake.reset_requests();
    let run = h.read(&config, &catalog(&[STATS], "incremental"), None);
    assert!(!run.success());
    assert_eq!(run.statuses(STATS).last().unwrap(), "INCOMPLETE");
    let errors = run.errors();
    assert_eq!(errors[0]["failure_type"], "system_error", "{errors:?}");
    assert!(errors[0]["message"]
        .as_str()
        .unwrap_or_default()
        .contains("peer-stats"));
}

/// The windows (`after`, `before`) of the listings of `/sessions` with `active=<active>` and a
/// window: their first pages (no `start`). The live listing, with no window, is left out.
fn session_windows(requests: &[RequestRecord], active: &str) -> BTreeSet<(String, String)> {
    on_route(requests, "sessions")
        .into_iter()
        .filter(|r| query(r, "start").is_none() && query(r, "active").as_deref() == Some(active))
        .filter_map(|r| Some((query(r, "after")?, query(r, "before").unwrap_or_default())))
        .collect()
}

/// Every ended-sessions listing is one slice of the sessions stream, listed beside the same
/// slice's live sessions: nothing listed the ended sessions a second time.
fn assert_one_listing_of_ended_sessions(requests: &[RequestRecord]) {
    let ended = session_windows(requests, "false");
    assert!(!ended.is_empty());
    assert_eq!(ended, session_windows(requests, "true"));
}

#[test]
fn peer_stats_and_events_fan_out_over_the_sessions_the_sessions_stream_lists() {
    let h = settled();
    let config = h.config();
    let streams = ["sessions", STATS, "analytics_events"];
    let sync_all = |state: Option<&Value>| {
        h.fake.reset_requests();
        let run = h.read(&config, &catalog(&streams, "incremental"), state);
        assert!(run.success(), "{}", run.describe());
        (run, h.fake.requests())
    };
    let (first, requests) = sync_all(None);
    for stream in streams {
        assert_eq!(
            first.unique_keys(stream),
            h.fake.expected_keys(stream),
            "{stream}"
        );
    }
    assert_one_listing_of_ended_sessions(&requests);
    let report = |sync: &str, requests: &[RequestRecord]| {
        eprintln!(
            "with sessions and analytics_events, {sync}: sessions {}, peer_quality_stats {}",
            on_route(requests, "sessions").len(),
            on_route(requests, STATS).len()
        );
    };
    report("first sync", &requests);
    // The sessions stream listed no session before the start date for the feed, or emitted one.
    let start: DateTime<Utc> = config["start_date"].as_str().unwrap().parse().unwrap();
    assert!(first
        .records("sessions")
        .iter()
        .all(|s| time(&s["created_at"]).unwrap() > start));

    // A session that ends between syncs brings its peers' stats and its events in the next one.
    let changes = h.fake.apply_changes(0.01);
    h.fake.advance_clock(Duration::from_secs(600));
    let (second, requests) = sync_all(Some(&first.state_file()));
    for stream in [STATS, "analytics_events"] {
        let new = changes.get(stream).cloned().unwrap_or_default();
        assert!(!new.is_empty(), "{stream}: the fake changed nothing");
        assert_eq!(second.unique_keys(stream), new, "{stream}");
    }
    assert!(second
        .unique_keys("sessions")
        .is_superset(&changes["sessions"]));
    assert_one_listing_of_ended_sessions(&requests);
    report("1 % new", &requests);
    // The live listing (live peers' and events' partitions) aside, `/sessions` costs what the
    // sessions stream's window does: one page each for its live and its ended sessions.
    let live_listing = on_route(&requests, "sessions")
        .iter()
        .filter(|r| query(r, "after").is_none())
        .count();
    assert_eq!(live_listing, 1);
    assert_eq!(on_route(&requests, "sessions").len(), 3);
}

#[test]
fn peer_stats_list_the_ended_sessions_themselves_when_the_sessions_stream_fails() {
    let h = settled();
    // The sessions stream's first page (peer stats wait for its listing) is not JSON.
    h.fake.set_override(
        "/v2/sessions",
        Override::Body("<html>maintenance</html>".into()),
        Some(1),
    );
    let run = h.read(
        &h.config(),
        &catalog(&["sessions", STATS], "full_refresh"),
        None,
    );
    assert!(!run.success());
    assert_eq!(run.statuses("sessions").last().unwrap(), "INCOMPLETE");
    assert_eq!(run.statuses(STATS), ["STARTED", "RUNNING", "COMPLETE"]);
    assert_eq!(run.unique_keys(STATS), h.fake.expected_keys(STATS));
    assert!(
        run.logs()
            .iter()
            .any(|l| l.contains("the sessions stream stopped before it had listed every session")),
        "{:?}",
        run.logs()
    );
}

/// How many deliveries the fake has in `[start, end]` (the query's window, both ends in).
fn deliveries_in(h: &Harness, start: DateTime<Utc>, end: DateTime<Utc>) -> usize {
    h.fake
        .raw(WEBHOOKS)
        .iter()
        .filter(|e| time(&e["event_timestamp"]).is_some_and(|t| t >= start && t <= end))
        .count()
}

/// Checks every webhook request keeps the API's window rules and returns the windows asked
/// for, with their pages.
fn windows(requests: &[RequestRecord]) -> BTreeMap<(String, String), usize> {
    let mut out = BTreeMap::new();
    for r in on_route(requests, WEBHOOKS) {
        assert_eq!(r.status, 200, "{}?{}", r.path, r.query);
        let (Some(start), Some(end)) = (query(r, "start_time"), query(r, "end_time")) else {
            continue; // The clock probe: the default window.
        };
        let (s, e): (DateTime<Utc>, DateTime<Utc>) = (start.parse().unwrap(), end.parse().unwrap());
        assert!(e - s <= chrono::Duration::days(14), "{start}..{end}");
        assert_eq!(query(r, "limit").as_deref(), Some("100"));
        *out.entry((start, end)).or_default() += 1;
    }
    out
}

/// The fewest requests the webhook windows a sync asked for can take: the clock probe, then
/// each window's deliveries at 100 a page (one page for an empty window).
pub fn webhook_optimum(h: &Harness, requests: &[RequestRecord]) -> u64 {
    let pages: usize = windows(requests)
        .keys()
        .map(|(start, end)| {
            deliveries_in(h, start.parse().unwrap(), end.parse().unwrap())
                .div_ceil(100)
                .max(1)
        })
        .sum();
    1 + pages as u64
}

#[test]
fn webhook_events_equal_the_ground_truth_at_one_request_per_page() {
    let h = settled();
    let config = h.config();
    let (first, requests) = sync(&h, &config, WEBHOOKS, None);
    let expected = h.fake.expected_keys(WEBHOOKS);
    assert!(expected.len() > 1000);
    assert_eq!(first.unique_keys(WEBHOOKS), expected);
    let windows1 = windows(&requests);
    assert!(windows1.len() >= 3, "{windows1:?}");
    for ((start, end), pages) in &windows1 {
        let n = deliveries_in(&h, start.parse().unwrap(), end.parse().unwrap());
        assert_eq!(*pages, n.div_ceil(100).max(1), "{start}..{end}: {n} events");
    }
    let total = on_route(&requests, WEBHOOKS).len();
    assert_eq!(total, 1 + windows1.values().sum::<usize>());
    // One checkpoint per window.
    assert_eq!(first.states(WEBHOOKS).len(), windows1.len());
    // The start date lies 90 days back: the retention clamps it, with a WARN.
    assert!(first
        .of_type("LOG")
        .iter()
        .any(|m| m["log"]["level"] == "WARN"
            && m["log"]["message"]
                .as_str()
                .unwrap()
                .contains("30-day retention")));

    let changes = h.fake.apply_changes(0.01);
    h.fake.advance_clock(Duration::from_secs(600));
    let (second, requests) = sync(&h, &config, WEBHOOKS, Some(&first.state_file()));
    let new = changes.get(WEBHOOKS).cloned().unwrap_or_default();
    assert!(!new.is_empty());
    assert_eq!(
        second.unique_keys(WEBHOOKS),
        new,
        "re-read the lookback, emitted only the new"
    );
    let windows2 = windows(&requests);
    assert_eq!(windows2.len(), 1);
    eprintln!(
        "webhook_events: first sync {total} requests for {} events; second sync (1 % new) {} requests for {} events",
        expected.len(),
        on_route(&requests, WEBHOOKS).len(),
        new.len()
    );

    let (third, _) = sync(&h, &config, WEBHOOKS, Some(&second.state_file()));
    assert!(third.records(WEBHOOKS).is_empty());
}

#[test]
fn webhook_events_of_an_account_without_webhooks_stay_empty_and_say_why() {
    let h = settled();
    let empty = json!({"events": [], "pagination": {"current_page": 1, "page_size": 100,
        "total_pages": 0, "total_items": 0, "has_next": false, "has_prev": false},
        "summary": {"total_events": 0}});
    h.fake.set_override(
        "/v2/analytics/webhooks",
        Override::Body(empty.to_string()),
        None,
    );
    let (run, _) = sync(&h, &h.config(), WEBHOOKS, None);
    assert!(run.records(WEBHOOKS).is_empty());
    assert!(run
        .logs()
        .iter()
        .any(|l| l.contains("no webhooks configured")));
    assert!(!run.states(WEBHOOKS).is_empty());
}

#[test]
fn a_repeated_webhook_page_stops_the_stream_instead_of_looping() {
    let h = settled();
    let page = json!({"events": [{"event_id": "e1", "event_name": "peer.join.success",
        "room_id": "r", "event_timestamp": (h.fake.now() - chrono::Duration::days(1)).to_rfc3339(),
        "payload": {}}],
        "pagination": {"current_page": 1, "page_size": 100, "total_pages": 9, "total_items": 900,
            "has_next": true, "has_prev": false}});
    h.fake.set_override(
        "/v2/analytics/webhooks",
        Override::Body(page.to_string()),
        None,
    );
    h.fake.reset_requests();
    let run = h.read(&h.config(), &catalog(&[WEBHOOKS], "incremental"), None);
    assert!(!run.success());
    assert_eq!(run.errors()[0]["failure_type"], "system_error");
    assert!(run.errors()[0]["message"]
        .as_str()
        .unwrap_or_default()
        .contains("repeats"));
    assert!(h.fake.requests().len() <= 3, "{}", h.fake.requests().len());
}

/// One GET to the fake, its status.
fn status_of(h: &Harness, path_and_query: &str) -> u16 {
    let addr = h
        .fake
        .base_url()
        .trim_start_matches("http://")
        .trim_end_matches("/v2")
        .to_owned();
    let token = h.fake.mint_token(Duration::from_secs(600));
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    write!(
        stream,
        "GET {path_and_query} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn the_fake_enforces_the_documented_rules() {
    let h = settled();
    let at = |days: i64| {
        (h.fake.now() - chrono::Duration::days(days))
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    };
    let hooks = "/v2/analytics/webhooks";
    assert_eq!(status_of(&h, hooks), 200);
    assert_eq!(
        status_of(
            &h,
            &format!("{hooks}?start_time={}&end_time={}", at(20), at(5))
        ),
        400
    );
    assert_eq!(
        status_of(
            &h,
            &format!("{hooks}?start_time={}&end_time={}", at(31), at(20))
        ),
        400
    );
    assert_eq!(
        status_of(
            &h,
            &format!("{hooks}?start_time={}&end_time={}", at(20), at(7))
        ),
        200
    );
    assert_eq!(status_of(&h, &format!("{hooks}?limit=0")), 400);
    assert_eq!(status_of(&h, &format!("{hooks}?limit=101")), 400);
    assert_eq!(status_of(&h, &format!("{hooks}?page=0")), 400);

    let stats = "/v2/analytics/peer-stats";
    let live = h
        .fake
        .raw("sessions")
        .into_iter()
        .find(|s| s["active"] == true)
        .unwrap();
    let peer = live["peers"]
        .as_object()
        .unwrap()
        .keys()
        .next()
        .unwrap()
        .clone();
    let session = live["id"].as_str().unwrap();
    assert_eq!(status_of(&h, &format!("{stats}?session_id={session}")), 400);
    // A live session has no stats yet.
    assert_eq!(
        status_of(&h, &format!("{stats}?session_id={session}&peer_id={peer}")),
        404
    );
    let key = h.fake.expected_keys(STATS).into_iter().next().unwrap();
    let (session, peer) = key.split_once('|').unwrap();
    assert_eq!(
        status_of(&h, &format!("{stats}?session_id={session}&peer_id={peer}")),
        200
    );
}
