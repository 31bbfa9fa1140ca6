//! End-to-end checks of the fake over real sockets, with a tiny blocking HTTP/1.1 client.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use fake_100ms::{
    max_requests_in_any_second, EmptyPage, FakeApi, FakeConfig, Faults, Override, Scale, Variants,
};
use serde_json::{json, Value};

struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Resp {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("bad json {e}: {}", self.body))
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One keep-alive connection.
struct Conn {
    reader: BufReader<TcpStream>,
}

impl Conn {
    fn open(api: &FakeApi) -> Conn {
        let addr = api
            .base_url()
            .trim_start_matches("http://")
            .trim_end_matches("/v2")
            .to_string();
        let s = TcpStream::connect(addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        Conn {
            reader: BufReader::new(s),
        }
    }

    fn get(&mut self, path: &str, token: Option<&str>) -> Resp {
        let mut req =
            format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: application/json\r\n");
        if let Some(t) = token {
            req.push_str(&format!("Authorization: Bearer {t}\r\n"));
        }
        req.push_str("\r\n");
        self.reader
            .get_mut()
            .write_all(req.as_bytes())
            .expect("write");
        let mut line = String::new();
        if self.reader.read_line(&mut line).unwrap_or(0) == 0 {
            return Resp {
                status: 0,
                headers: Vec::new(),
                body: String::new(),
            };
        }
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .expect("status")
            .parse()
            .expect("status");
        let mut headers = Vec::new();
        loop {
            line.clear();
            self.reader.read_line(&mut line).expect("header");
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            let (k, v) = l.split_once(':').expect("header line");
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
        let len: usize = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
            .map(|(_, v)| v.parse().expect("content-length"))
            .expect("content-length header");
        let mut body = vec![0; len];
        self.reader.read_exact(&mut body).expect("body");
        Resp {
            status,
            headers,
            body: String::from_utf8(body).expect("utf8"),
        }
    }
}

fn get(api: &FakeApi, path: &str, token: &str) -> Resp {
    Conn::open(api).get(path, Some(token))
}

fn small() -> Scale {
    Scale {
        templates: 4,
        rooms: 12,
        sessions: 150,
        recordings: 30,
        ..Scale::default()
    }
}

fn start(scale: Scale) -> (FakeApi, String) {
    let api = FakeApi::start(FakeConfig {
        scale,
        ..FakeConfig::default()
    });
    let token = api.mint_token(Duration::from_secs(3600));
    (api, token)
}

/// Walks a cursor list; checks order, `last` and uniqueness along the way.
fn walk(api: &FakeApi, token: &str, path: &str, limit: usize) -> Vec<String> {
    let mut conn = Conn::open(api);
    let mut ids: Vec<String> = Vec::new();
    let mut start: Option<String> = None;
    let sep = if path.contains('?') { '&' } else { '?' };
    loop {
        let url = match &start {
            None => format!("{path}{sep}limit={limit}"),
            Some(s) => format!("{path}{sep}limit={limit}&start={s}"),
        };
        let r = conn.get(&url, Some(token));
        assert_eq!(r.status, 200, "{url}: {}", r.body);
        let v = r.json();
        assert_eq!(v["limit"], json!(limit));
        let data = match &v["data"] {
            Value::Null => {
                assert!(
                    v.get("last").is_none(),
                    "empty page must not carry last: {v}"
                );
                break;
            }
            Value::Array(a) => a.clone(),
            other => panic!("data is {other}"),
        };
        let page: Vec<String> = data
            .iter()
            .map(|o| o["id"].as_str().unwrap().to_string())
            .collect();
        assert!(!page.is_empty());
        assert_eq!(v["last"].as_str(), page.last().map(String::as_str));
        ids.extend(page);
        start = v["last"].as_str().map(str::to_string);
    }
    for w in ids.windows(2) {
        assert!(w[0] > w[1], "not newest first: {} then {}", w[0], w[1]);
    }
    ids
}

fn set(ids: &[String]) -> BTreeSet<String> {
    let s: BTreeSet<String> = ids.iter().cloned().collect();
    assert_eq!(s.len(), ids.len(), "duplicates");
    s
}

#[test]
fn cursor_lists_walk_everything_exactly_once_newest_first() {
    let (api, token) = start(Scale::default());
    for (path, stream, limit) in [
        ("/v2/rooms", "rooms", 10),
        ("/v2/sessions", "sessions", 100),
        ("/v2/templates", "templates", 10),
        ("/v2/recordings", "recordings", 100),
        ("/v2/recording-assets", "recording_assets", 100),
    ] {
        let ids = walk(&api, &token, path, limit);
        assert_eq!(set(&ids), api.expected_keys(stream), "{stream}");
    }
    let keys = |s: &str| api.expected_keys(s).len();
    assert_eq!(keys("sessions"), 1506);
    assert_eq!(keys("rooms"), 60);
    assert_eq!(keys("templates"), 12);
    assert_eq!(keys("template_settings"), 12);
    assert_eq!(keys("recordings"), 300);
    assert!(keys("recording_assets") > 500);
    assert!(keys("analytics_events") > 10_000);
    assert!(keys("active_room_peers") >= 6);
    assert!(keys("template_destinations") > 0);
    // Lists never embed assets; templates are camelCase; peers are a map.
    let rec = &api.raw("recordings")[0];
    assert!(rec.get("recording_assets").is_none());
    let t = &api.raw("templates")[0];
    assert!(
        t.get("createdAt").is_some()
            && t.get("customerId").is_some()
            && t["roles"].get("__internal_recorder").is_some()
    );
    assert!(api.raw("sessions")[0]["peers"].is_object());
}

#[test]
fn start_is_exclusive_and_filters_narrow_lists() {
    let (api, token) = start(small());
    let page = get(&api, "/v2/rooms?limit=10", &token).json();
    let data = page["data"].as_array().unwrap();
    let fifth = data[4]["id"].as_str().unwrap();
    let next = get(&api, &format!("/v2/rooms?limit=10&start={fifth}"), &token).json();
    assert_eq!(next["data"][0]["id"], data[5]["id"]);

    // after/before on created_at, inclusive, any RFC 3339 form.
    let sessions = api.raw("sessions");
    let created = |v: &Value| {
        chrono::DateTime::parse_from_rfc3339(v["created_at"].as_str().unwrap()).unwrap()
    };
    let mut times: Vec<_> = sessions.iter().map(created).collect();
    times.sort();
    let (lo, hi) = (times[20], times[100]);
    let want: BTreeSet<String> = sessions
        .iter()
        .filter(|s| created(s) >= lo && created(s) <= hi)
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect();
    let after = lo.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true);
    let before = hi
        .with_timezone(&chrono::FixedOffset::east_opt(3600).unwrap())
        .to_rfc3339()
        .replace('+', "%2B");
    let got = walk(
        &api,
        &token,
        &format!("/v2/sessions?after={after}&before={before}"),
        100,
    );
    assert_eq!(set(&got), want);
    let bad = get(&api, "/v2/sessions?after=yesterday", &token);
    assert_eq!(bad.status, 400);
    assert_eq!(bad.json()["message"], "Invalid query param");

    // room_id / active filters.
    let room = sessions[0]["room_id"].as_str().unwrap();
    let of_room = walk(&api, &token, &format!("/v2/sessions?room_id={room}"), 10);
    assert!(!of_room.is_empty());
    assert_eq!(
        set(&of_room),
        sessions
            .iter()
            .filter(|s| s["room_id"] == room)
            .map(|s| s["id"].as_str().unwrap().to_string())
            .collect()
    );
    let active = walk(&api, &token, "/v2/sessions?active=true", 10);
    assert_eq!(active.len(), 6);
    let disabled = walk(&api, &token, "/v2/rooms?enabled=false", 10);
    let all_rooms = api.raw("rooms");
    assert_eq!(
        disabled.len(),
        all_rooms.iter().filter(|r| r["enabled"] == false).count()
    );
    let name = all_rooms[3]["name"].as_str().unwrap();
    let by_name = get(&api, &format!("/v2/rooms?name={name}"), &token).json();
    assert_eq!(by_name["data"][0]["id"], all_rooms[3]["id"]);
    // Recording assets by type.
    let transcripts = walk(&api, &token, "/v2/recording-assets?type=chat", 100);
    assert_eq!(
        transcripts.len(),
        api.raw("recording_assets")
            .iter()
            .filter(|a| a["type"] == "chat")
            .count()
    );
}

#[test]
fn limits_and_empty_pages() {
    let (api, token) = start(small());
    for bad in [
        "/v2/rooms?limit=9",
        "/v2/sessions?limit=101",
        "/v2/templates?limit=x",
    ] {
        let r = get(&api, bad, &token);
        assert_eq!(r.status, 400, "{bad}");
        assert_eq!(
            r.json(),
            json!({"code": 400, "message": "Invalid query param", "details": ["limit must be between 10 and 100"]})
        );
    }
    let r = get(
        &api,
        "/v2/recordings?start=000000000000000000000000",
        &token,
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.json(), json!({"limit": 10, "data": null}));
    assert_eq!(get(&api, "/v2/rooms?start=nope", &token).status, 400);
    drop(api);

    for (mode, want) in [
        (EmptyPage::EmptyArray, json!({"limit": 20, "data": []})),
        (EmptyPage::Missing, json!({"limit": 20})),
    ] {
        let api = FakeApi::start(FakeConfig {
            scale: small(),
            empty_page: mode,
            ..FakeConfig::default()
        });
        let token = api.mint_token(Duration::from_secs(60));
        let r = get(
            &api,
            "/v2/sessions?limit=20&start=000000000000000000000000",
            &token,
        );
        assert_eq!(r.json(), want);
    }
}

#[test]
fn authentication_is_enforced() {
    use jsonwebtoken::{encode, EncodingKey, Header};
    let (api, good) = start(small());
    let now = chrono::Utc::now().timestamp();
    let sign = |claims: Value, secret: &str| {
        encode(
            &Header::default(),
            &claims,
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .unwrap()
    };
    let claims = |ty: &str, version: i64| {
        json!({"access_key": api.access_key(), "type": ty, "version": version,
               "iat": now - 10, "nbf": now - 10, "exp": now + 600, "jti": "x"})
    };
    assert_eq!(get(&api, "/v2/rooms", &good).status, 200);
    assert_eq!(
        get(
            &api,
            "/v2/rooms",
            &sign(claims("management", 2), api.app_secret())
        )
        .status,
        200
    );
    let cases = [
        sign(claims("management", 2), "not-the-secret"),
        sign(claims("app", 2), api.app_secret()),
        sign(claims("management", 1), api.app_secret()),
        api.mint_token(Duration::ZERO),
        "garbage".to_string(),
    ];
    for t in cases {
        let r = get(&api, "/v2/rooms", &t);
        assert_eq!(r.status, 401);
        let v = r.json();
        assert_eq!(v["code"], 401);
        assert_eq!(v["message"], "Token validation error");
        assert!(v["details"][0].is_string());
    }
    let r = Conn::open(&api).get("/v2/rooms", None);
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["details"], json!(["not found"]));
    drop(api);

    let api = FakeApi::start(FakeConfig {
        scale: small(),
        token_max_age: Some(Duration::from_secs(5)),
        ..FakeConfig::default()
    });
    // mint_token backdates iat by 10 s, like the SDK, so it is already "too old" here.
    assert_eq!(
        get(&api, "/v2/rooms", &api.mint_token(Duration::from_secs(60))).status,
        401
    );
    let fresh = sign(
        json!({"access_key": api.access_key(), "type": "management", "version": 2,
               "iat": now, "nbf": now, "exp": now + 600}),
        api.app_secret(),
    );
    assert_eq!(get(&api, "/v2/rooms", &fresh).status, 200);
}

#[test]
fn analytics_events_paginate_ascending_with_opaque_tokens() {
    let (api, token) = start(small());
    let mut all = BTreeSet::new();
    let mut conn = Conn::open(&api);
    for room in api.raw("rooms") {
        let room_id = room["id"].as_str().unwrap();
        let mut next = String::new();
        let mut last_ts = String::new();
        let mut total = None;
        loop {
            let url = if next.is_empty() {
                format!("/v2/analytics/events?room_id={room_id}&limit=7")
            } else {
                format!("/v2/analytics/events?room_id={room_id}&limit=7&start={next}")
            };
            let r = conn.get(&url, Some(&token));
            assert_eq!(r.status, 200, "{}", r.body);
            let v = r.json();
            assert_eq!(v["limit"], 7);
            let t = v["total"].as_u64().unwrap();
            assert_eq!(*total.get_or_insert(t), t);
            let events = v["events"].as_array().cloned().unwrap_or_default();
            for e in &events {
                assert_eq!(e["version"], "2.0");
                assert_eq!(e["data"]["room_id"], room_id);
                let ts =
                    chrono::DateTime::parse_from_rfc3339(e["timestamp"].as_str().unwrap()).unwrap();
                if !last_ts.is_empty() {
                    assert!(
                        ts >= chrono::DateTime::parse_from_rfc3339(&last_ts).unwrap(),
                        "ascending"
                    );
                }
                last_ts = e["timestamp"].as_str().unwrap().to_string();
                assert!(
                    all.insert(e["id"].as_str().unwrap().to_string()),
                    "duplicate event"
                );
            }
            next = v["next"].as_str().unwrap().to_string();
            if next.is_empty() {
                break;
            }
            assert_eq!(events.len(), 7);
        }
    }
    assert_eq!(all, api.expected_keys("analytics_events"));

    let room = api.raw("sessions")[0]["room_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(get(&api, "/v2/analytics/events", &token).status, 400);
    for limit in [0, 101] {
        let path = format!("/v2/analytics/events?room_id={room}&limit={limit}");
        assert_eq!(get(&api, &path, &token).status, 400, "limit {limit}");
    }
    let first = get(
        &api,
        &format!("/v2/analytics/events?room_id={room}&limit=1"),
        &token,
    )
    .json();
    let tok = first["next"].as_str().unwrap().to_string();
    assert!(!tok.is_empty());
    let mut garbled = tok.clone();
    let i = garbled.len() - 12;
    garbled.replace_range(i..i + 1, if &tok[i..i + 1] == "a" { "b" } else { "a" });
    assert_eq!(
        get(
            &api,
            &format!("/v2/analytics/events?room_id={room}&start={garbled}"),
            &token
        )
        .status,
        400
    );
    assert_eq!(
        get(
            &api,
            &format!("/v2/analytics/events?room_id={room}&start=hello"),
            &token
        )
        .status,
        400
    );
}

#[test]
fn active_room_peers_map_or_404() {
    let (api, token) = start(small());
    let mut seen = BTreeSet::new();
    let mut live = 0;
    for room in api.raw("rooms") {
        let r = get(
            &api,
            &format!("/v2/active-rooms/{}/peers", room["id"].as_str().unwrap()),
            &token,
        );
        match r.status {
            200 => {
                live += 1;
                let v = r.json();
                for (id, p) in v["peers"].as_object().unwrap() {
                    assert_eq!(p["id"], id.as_str());
                    assert!(p["joined_at"].is_string() && p["metadata"].is_string());
                    seen.insert(id.clone());
                }
            }
            404 => assert_eq!(r.json()["code"], 404),
            s => panic!("status {s}"),
        }
    }
    assert_eq!(live, 6);
    assert_eq!(seen, api.expected_keys("active_room_peers"));
}

#[test]
fn overrides_faults_and_request_log() {
    let (api, token) = start(small());
    api.set_override(
        "/v2/recordings",
        Override::Status {
            status: 503,
            body: r#"{"code":503,"message":"x"}"#.into(),
            retry_after: Some("2".into()),
        },
        Some(2),
    );
    for _ in 0..2 {
        let r = get(&api, "/v2/recordings", &token);
        assert_eq!(r.status, 503);
        assert_eq!(r.header("retry-after"), Some("2"));
    }
    assert_eq!(get(&api, "/v2/recordings", &token).status, 200);
    api.set_override(
        "/v2/rooms",
        Override::Body("{\"limit\":10,\"data\":null}".into()),
        None,
    );
    assert_eq!(
        get(&api, "/v2/rooms?limit=10", &token).body,
        "{\"limit\":10,\"data\":null}"
    );
    api.set_override("/v2/sessions", Override::Drop, Some(1));
    assert_eq!(get(&api, "/v2/sessions", &token).status, 0);
    assert_eq!(get(&api, "/v2/sessions", &token).status, 200);
    // Overrides come after auth.
    assert_eq!(get(&api, "/v2/rooms", "bad").status, 401);
    api.clear_overrides();
    let r = get(&api, "/v2/nope", &token);
    assert_eq!(r.status, 404);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert!(r.header("date").unwrap().ends_with("GMT"));

    let log = api.requests();
    let statuses: Vec<u16> = log.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [503, 503, 200, 200, 0, 200, 401, 404]);
    assert_eq!(log[0].route, "recordings");
    assert_eq!(log[4].route, "sessions");
    assert_eq!(log[7].route, "other");
    assert_eq!(log[3].query, "limit=10");
    api.reset_requests();

    api.set_faults(Faults {
        p429: 1.0,
        retry_after_share: 1.0,
        retry_after_secs: 3,
        ..Faults::default()
    });
    let r = get(&api, "/v2/rooms", &token);
    assert_eq!(r.status, 429);
    assert_eq!(r.header("retry-after"), Some("3"));
    assert_eq!(
        r.json(),
        json!({"code": 429, "message": "rate limit exceeded, retry after 45 seconds"})
    );
    api.set_faults(Faults {
        p5xx: 1.0,
        ..Faults::default()
    });
    let r = get(&api, "/v2/rooms", &token);
    assert!([500, 502, 503].contains(&r.status));
    assert_eq!(r.json()["code"], r.status);
    api.set_faults(Faults {
        pdrop: 1.0,
        ..Faults::default()
    });
    assert_eq!(get(&api, "/v2/rooms", &token).status, 0);
    api.set_faults(Faults {
        latency: Duration::from_millis(150),
        ..Faults::default()
    });
    let t = std::time::Instant::now();
    assert_eq!(get(&api, "/v2/rooms", &token).status, 200);
    assert!(t.elapsed() >= Duration::from_millis(150));
    api.set_faults(Faults::default());

    api.reset_requests();
    api.set_rate_limit(Some(5));
    let mut conn = Conn::open(&api);
    let codes: Vec<u16> = (0..12)
        .map(|_| conn.get("/v2/templates", Some(&token)).status)
        .collect();
    assert_eq!(codes.iter().filter(|&&c| c == 200).count(), 5, "{codes:?}");
    let limited = conn.get("/v2/templates", Some(&token));
    assert_eq!(limited.status, 429);
    assert_eq!(limited.header("retry-after"), Some("1"));
    assert_eq!(max_requests_in_any_second(&api.requests()), 13);
    api.set_rate_limit(None);
    assert_eq!(conn.get("/v2/templates", Some(&token)).status, 200);
}

#[test]
fn apply_changes_are_served() {
    let (api, token) = start(small());
    let before_sessions = api.expected_keys("sessions").len();
    api.advance_clock(Duration::from_secs(3600));
    let changes = api.apply_changes(0.02);
    for stream in [
        "sessions",
        "rooms",
        "recordings",
        "recording_assets",
        "analytics_events",
        "templates",
    ] {
        let keys = changes
            .get(stream)
            .unwrap_or_else(|| panic!("no {stream} changes"));
        assert!(!keys.is_empty());
        assert!(keys.is_subset(&api.expected_keys(stream)), "{stream}");
    }
    assert_eq!(api.expected_keys("sessions").len(), before_sessions + 3);
    let served = set(&walk(&api, &token, "/v2/sessions", 100));
    assert!(changes["sessions"].is_subset(&served));
    let served = set(&walk(&api, &token, "/v2/recording-assets", 100));
    assert!(changes["recording_assets"].is_subset(&served));
    // The ended session is no longer live; its peers left.
    assert_eq!(walk(&api, &token, "/v2/sessions?active=true", 10).len(), 5);
    // New objects are created within the last 30 s of the fake clock.
    let now = api.now();
    for s in api
        .raw("sessions")
        .iter()
        .filter(|s| changes["sessions"].contains(s["id"].as_str().unwrap()))
    {
        let t = chrono::DateTime::parse_from_rfc3339(s["updated_at"].as_str().unwrap()).unwrap();
        assert!(t <= now && now - t.with_timezone(&chrono::Utc) < chrono::Duration::seconds(31));
    }
    // The Date header follows the fake clock.
    let date = get(&api, "/v2/templates", &token)
        .header("date")
        .unwrap()
        .to_string();
    let parsed = chrono::DateTime::parse_from_rfc2822(&date).unwrap();
    assert!(
        (parsed.with_timezone(&chrono::Utc) - now)
            .num_seconds()
            .abs()
            < 5
    );
}

#[test]
fn same_seed_same_data() {
    let a = FakeApi::start(FakeConfig {
        seed: 5,
        scale: small(),
        ..FakeConfig::default()
    });
    let b = FakeApi::start(FakeConfig {
        seed: 5,
        scale: small(),
        ..FakeConfig::default()
    });
    let c = FakeApi::start(FakeConfig {
        seed: 6,
        scale: small(),
        ..FakeConfig::default()
    });
    // Everything is relative to start-up time, so compare the random part of ids and the names.
    let shape = |api: &FakeApi| -> Vec<(String, String)> {
        api.raw("rooms")
            .iter()
            .map(|r| {
                (
                    r["id"].as_str().unwrap()[8..].to_string(),
                    r["name"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    let mut sa = shape(&a);
    let mut sb = shape(&b);
    sa.sort();
    sb.sort();
    assert_eq!(sa, sb);
    for s in [
        "sessions",
        "analytics_events",
        "recording_assets",
        "template_destinations",
    ] {
        assert_eq!(a.expected_keys(s).len(), b.expected_keys(s).len(), "{s}");
    }
    let mut sc = shape(&c);
    sc.sort();
    assert_ne!(sa, sc);
}

#[test]
fn many_concurrent_keep_alive_connections() {
    let (api, token) = start(small());
    std::thread::scope(|s| {
        for _ in 0..24 {
            s.spawn(|| {
                let mut conn = Conn::open(&api);
                for _ in 0..10 {
                    assert_eq!(conn.get("/v2/sessions?limit=50", Some(&token)).status, 200);
                }
            });
        }
    });
    assert_eq!(api.requests().len(), 240);
}

// ---------------------------------------------------------------- doc variants

fn start_with(variants: Variants) -> (FakeApi, String) {
    let epoch = "2026-01-01T00:00:00Z".parse().unwrap();
    let api = FakeApi::start(FakeConfig {
        scale: small(),
        epoch: Some(epoch),
        variants,
        ..FakeConfig::default()
    });
    let token = api.mint_token(Duration::from_secs(3600));
    (api, token)
}

#[test]
fn variants_keep_the_ground_truth() {
    let (plain, _) = start_with(Variants::default());
    let (all, _) = start_with(Variants::all());
    for stream in [
        "sessions",
        "rooms",
        "active_room_peers",
        "templates",
        "template_settings",
        "template_destinations",
        "recordings",
        "recording_assets",
        "analytics_events",
    ] {
        assert_eq!(
            plain.expected_keys(stream),
            all.expected_keys(stream),
            "{stream}"
        );
    }
    assert!(plain.planted_secrets().is_empty());
}

#[test]
fn sessions_limit_max_20_refuses_larger_pages_naming_limit() {
    let (api, token) = start_with(Variants::each()[0].1);
    let r = get(&api, "/v2/sessions?limit=100", &token);
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json(),
        json!({"code": 400, "message": "Invalid query param", "details": ["limit must be between 10 and 20"]})
    );
    assert_eq!(get(&api, "/v2/sessions?limit=21", &token).status, 400);
    let ids = walk(&api, &token, "/v2/sessions", 20);
    assert_eq!(set(&ids), api.expected_keys("sessions"));
    // Other lists keep the v2 reference's range.
    assert_eq!(get(&api, "/v2/rooms?limit=100", &token).status, 200);
}

#[test]
fn sessions_active_by_default_hides_ended_sessions_unless_asked() {
    let (api, token) = start_with(Variants::each()[1].1);
    let active = set(&walk(&api, &token, "/v2/sessions", 100));
    assert!(!active.is_empty());
    for s in api.raw("sessions") {
        let id = s["id"].as_str().unwrap();
        assert_eq!(active.contains(id), s["active"] == true, "{id}");
    }
    let ended = set(&walk(&api, &token, "/v2/sessions?active=false", 100));
    let both: BTreeSet<String> = active.union(&ended).cloned().collect();
    assert_eq!(both, api.expected_keys("sessions"));
}

#[test]
fn peers_keyed_only_drops_the_id_from_peer_values() {
    let (api, token) = start_with(Variants::each()[2].1);
    let page = get(&api, "/v2/sessions?limit=10", &token).json();
    for session in page["data"].as_array().unwrap() {
        for (key, peer) in session["peers"].as_object().unwrap() {
            assert!(peer.get("id").is_none(), "{key}: {peer}");
            assert!(peer["joined_at"].is_string());
        }
    }
    let live = api.raw("sessions");
    let room = live.iter().find(|s| s["active"] == true).unwrap()["room_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let peers = get(&api, &format!("/v2/active-rooms/{room}/peers"), &token).json();
    let peers = peers["peers"].as_object().unwrap();
    assert!(!peers.is_empty());
    assert!(peers.values().all(|p| p.get("id").is_none()));
}

#[test]
fn storage_credentials_plant_distinct_secrets_in_rooms_and_templates() {
    let (api, token) = start_with(Variants::each()[3].1);
    let secrets = api.planted_secrets();
    assert!(secrets.len() >= 5, "{secrets:?}");
    let rooms = get(&api, "/v2/rooms?limit=100", &token).body;
    let templates = get(&api, "/v2/templates?limit=100", &token).body;
    let mut kinds = BTreeSet::new();
    for s in &secrets {
        assert!(
            rooms.contains(s.as_str()) || templates.contains(s.as_str()),
            "{s}"
        );
        kinds.insert(s.split('-').nth(1).unwrap().to_owned());
    }
    assert_eq!(
        kinds,
        ["destination", "room", "template"]
            .map(str::to_owned)
            .into_iter()
            .collect()
    );
    let room = api
        .raw("rooms")
        .into_iter()
        .find(|r| r["recording_info"]["upload_info"].is_object())
        .unwrap();
    let credentials = &room["recording_info"]["upload_info"]["credentials"];
    assert!(credentials["key"].is_string() && credentials["secret"].is_string());
}
