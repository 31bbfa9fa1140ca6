//! Servers that misbehave on purpose (issue 12, and the refused page size of issue 11): a proxy
//! that echoes the request's token, a landing page at the wrong URL, a redirect, a broken
//! clock, a paginator that never ends, a page size the API refuses. Each server is a few lines
//! of canned HTTP/1.1 on 127.0.0.1, and every run still goes through the harness's protocol and
//! secret checks.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use crate::harness::{catalog, run_binary, Run};

const ACCESS_KEY: &str = "64a1f0c2e4b0a1b2c3d4e5f6";
const SECRET: &str = "misbehaving-secret-0123456789abcdef";

/// One request as a misbehaving server saw it.
#[derive(Clone, Debug)]
struct Request {
    path: String,
    query: BTreeMap<String, String>,
    /// Lower-case names.
    headers: BTreeMap<String, String>,
}

impl Request {
    fn param(&self, key: &str) -> Option<&str> {
        self.query.get(key).map(String::as_str)
    }
}

struct Reply {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: String,
}

impl Reply {
    fn json(status: u16, body: Value) -> Reply {
        Reply::text(status, "application/json", body.to_string())
    }

    fn text(status: u16, content_type: &str, body: impl Into<String>) -> Reply {
        Reply {
            status,
            headers: vec![("Content-Type", content_type.to_owned())],
            body: body.into(),
        }
    }

    fn header(mut self, name: &'static str, value: impl Into<String>) -> Reply {
        self.headers.push((name, value.into()));
        self
    }
}

type Handler = dyn Fn(&Request) -> Reply + Send + Sync;

/// A server on 127.0.0.1 that answers every request with whatever its handler says, one
/// request per connection.
struct Server {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Request>>>,
    stop: Arc<AtomicBool>,
}

impl Server {
    fn start(handler: impl Fn(&Request) -> Reply + Send + Sync + 'static) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let handler: Arc<Handler> = Arc::new(handler);
        let (log, stopped) = (seen.clone(), stop.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stopped.load(Ordering::Relaxed) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let (handler, log) = (handler.clone(), log.clone());
                std::thread::spawn(move || serve(stream, &*handler, &log));
            }
        });
        Server { addr, seen, stop }
    }

    fn base_url(&self) -> String {
        format!("http://{}/v2", self.addr)
    }

    fn requests(&self) -> Vec<Request> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wakes the accepting thread so it sees the flag.
        let _ = TcpStream::connect(self.addr);
    }
}

fn serve(mut stream: TcpStream, handler: &Handler, log: &Mutex<Vec<Request>>) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut start = [0u8; 4];
    if stream.read_exact(&mut start).is_err() {
        return;
    }
    if &start != b"GET " {
        // Not HTTP (a TLS handshake, say): answer in plain HTTP, as a plain server would.
        let _ = stream.write_all(
            b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        );
        return;
    }
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    let target = line.split_whitespace().next().unwrap_or_default();
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let mut headers = BTreeMap::new();
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).unwrap_or(0) == 0 || header.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_owned());
        }
    }
    let request = Request {
        path: path.to_owned(),
        query: query
            .split('&')
            .filter_map(|pair| pair.split_once('='))
            .map(|(k, v)| (decode(k), decode(v)))
            .collect(),
        headers,
    };
    log.lock().unwrap().push(request.clone());
    let reply = handler(&request);
    let mut head = format!(
        "HTTP/1.1 {} Canned\r\nContent-Length: {}\r\nConnection: close\r\n",
        reply.status,
        reply.body.len()
    );
    for (name, value) in &reply.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(reply.body.as_bytes());
}

/// Percent-decoding, enough for the query parameters the connector sends.
fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (b'+', _) => {
                out.push(b' ');
                i += 1;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A config for a misbehaving server: app credentials, a start date a month ago, one retry.
fn config(base_url: &str) -> Value {
    json!({
        "credentials": {
            "auth_type": "app_credentials",
            "app_access_key": ACCESS_KEY,
            "app_secret": SECRET,
        },
        "start_date": (Utc::now() - chrono::Duration::days(30)).to_rfc3339(),
        "api_base_url": base_url,
        "requests_per_second": 1000,
        "max_retries": 1,
        "retry_initial_backoff_secs": 0.01,
    })
}

/// Files for one run of the binary, removed afterwards.
struct Scratch {
    dir: PathBuf,
}

impl Scratch {
    fn new() -> Scratch {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "source-100ms-misbehaving-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("temp dir");
        Scratch { dir }
    }

    fn file(&self, name: &str, value: &Value) -> String {
        let path = self.dir.join(name);
        std::fs::write(&path, value.to_string()).expect("write temp file");
        path.to_str().unwrap().to_owned()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn check(config: &Value, secrets: &[&str]) -> Run {
    let scratch = Scratch::new();
    let config = scratch.file("config.json", config);
    run_binary(&["check", "--config", &config], &owned(secrets))
}

fn read(config: &Value, catalog: &Value, state: Option<&Value>) -> Run {
    let scratch = Scratch::new();
    let config = scratch.file("config.json", config);
    let catalog = scratch.file("catalog.json", catalog);
    let mut args = vec!["read", "--config", &config, "--catalog", &catalog];
    let state = state.map(|s| scratch.file("state.json", s));
    if let Some(state) = &state {
        args.extend(["--state", state]);
    }
    run_binary(&args, &owned(&[SECRET]))
}

fn owned(secrets: &[&str]) -> Vec<String> {
    secrets.iter().map(|s| (*s).to_owned()).collect()
}

/// The status and message `check` reported.
fn connection_status(run: &Run) -> (String, String) {
    assert!(
        run.success(),
        "check exits 0 when it can report: {}",
        run.describe()
    );
    let status = &run.of_type("CONNECTION_STATUS")[0]["connectionStatus"];
    (
        status["status"].as_str().unwrap().to_owned(),
        status["message"].as_str().unwrap_or_default().to_owned(),
    )
}

fn warnings(run: &Run) -> Vec<String> {
    run.of_type("LOG")
        .iter()
        .filter(|m| m["log"]["level"] == "WARN")
        .map(|m| m["log"]["message"].as_str().unwrap().to_owned())
        .collect()
}

fn object_id(i: usize) -> String {
    format!("{:024x}", 0x6500_0000_0000_0000_0000_0000u128 + i as u128)
}

/// Rooms `0..count`, the first `enabled` of them enabled, created and updated an hour ago.
fn rooms(count: usize, enabled: usize) -> Vec<Value> {
    let at = (Utc::now() - chrono::Duration::hours(1)).to_rfc3339();
    (0..count)
        .map(|i| {
            json!({"id": object_id(i), "name": format!("room-{i}"), "enabled": i < enabled,
                   "created_at": at, "updated_at": at})
        })
        .collect()
}

/// A `{limit, data, last}` listing of `objects` as the API pages it: newest (largest id)
/// first, `start` exclusive, `enabled` filtered when asked.
fn list_page(objects: &[Value], request: &Request) -> Reply {
    let limit: usize = request
        .param("limit")
        .and_then(|l| l.parse().ok())
        .unwrap_or(10);
    let mut matching: Vec<&Value> = objects
        .iter()
        .filter(|o| match request.param("enabled") {
            Some(enabled) => o["enabled"] == (enabled == "true"),
            None => true,
        })
        .collect();
    matching.sort_by(|a, b| b["id"].as_str().cmp(&a["id"].as_str()));
    if let Some(start) = request.param("start") {
        matching.retain(|o| o["id"].as_str().unwrap() < start);
    }
    let page: Vec<&Value> = matching.into_iter().take(limit).collect();
    let last = page.last().map_or(json!(null), |o| o["id"].clone());
    Reply::json(200, json!({"limit": limit, "data": page, "last": last}))
}

#[test]
fn an_echoed_token_is_scrubbed_from_logs_and_errors() {
    // A proxy that fails once, then answers in plain text, both times quoting the request's
    // Authorization header.
    let calls = AtomicUsize::new(0);
    let server = Server::start(move |request| {
        let auth = request.headers.get("authorization").cloned();
        let auth = auth.unwrap_or_default();
        if calls.fetch_add(1, Ordering::Relaxed) % 2 == 0 {
            Reply::json(
                503,
                json!({"code": 503, "message": format!("upstream refused {auth}")}),
            )
        } else {
            Reply::text(200, "text/plain", format!("proxy says: you sent {auth}"))
        }
    });
    let run = read(
        &config(&server.base_url()),
        &catalog(&["rooms"], "full_refresh"),
        None,
    );
    assert!(!run.success());
    let retry = run.logs().into_iter().find(|l| l.contains("; retry "));
    let retry = retry.expect("a retry line");
    assert!(
        retry.contains("upstream refused Bearer **REDACTED**"),
        "{retry}"
    );
    let errors = run.errors();
    assert_eq!(errors.len(), 1, "{errors:?}");
    let message = errors[0]["message"].as_str().unwrap();
    assert!(message.contains("not JSON"), "{message}");
    assert!(
        message.contains("you sent Bearer **REDACTED**"),
        "{message}"
    );

    // A ready management token, which has no JWT shape to recognise, echoed in a 401 and in
    // the retry line of a 503.
    let token = "mgmt-7c3e9a1f5b2d8e4a";
    let calls = AtomicUsize::new(0);
    let server = Server::start(move |request| {
        let auth = request.headers.get("authorization").cloned();
        let auth = auth.unwrap_or_default();
        let status = if calls.fetch_add(1, Ordering::Relaxed) == 0 {
            503
        } else {
            401
        };
        Reply::json(
            status,
            json!({"code": status,
                   "message": format!("bad token {auth} ({})", auth.get(7..).unwrap_or_default())}),
        )
    });
    let mut with_token = config(&server.base_url());
    with_token["credentials"] = json!({"auth_type": "management_token", "management_token": token});
    let run = check(&with_token, &[token]);
    let (status, message) = connection_status(&run);
    assert_eq!(status, "FAILED");
    assert!(message.contains("**REDACTED**"), "{message}");
    assert!(run.logs().iter().any(|l| l.contains("; retry ")));
}

#[test]
fn check_fails_on_what_read_could_not_parse() {
    let cases = [
        (
            "text/html",
            "<!doctype html><html><body>Welcome to our landing page</body></html>",
            "HTML",
        ),
        ("text/plain", "OK", "not JSON"),
        (
            "application/json",
            r#"{"data": "not-a-list"}"#,
            "data is a string",
        ),
    ];
    for (content_type, body, expected) in cases {
        let server = Server::start(move |_| Reply::text(200, content_type, body));
        let (status, message) = connection_status(&check(&config(&server.base_url()), &[]));
        assert_eq!(status, "FAILED", "{body}");
        assert!(message.contains(expected), "{body}: {message}");
        assert!(message.contains("api_base_url"), "{body}: {message}");
    }
    // The shape the API documents still passes.
    let server = Server::start(|request| list_page(&rooms(3, 3), request));
    let (status, message) = connection_status(&check(&config(&server.base_url()), &[]));
    assert_eq!(status, "SUCCEEDED", "{message}");
}

#[test]
fn a_base_url_with_a_query_or_fragment_is_refused() {
    let server = Server::start(|request| list_page(&rooms(3, 3), request));
    for url in [
        format!("{}?x=1#frag", server.base_url()),
        format!("{}#frag", server.base_url()),
    ] {
        let config = config(&url);
        let (status, message) = connection_status(&check(&config, &[]));
        assert_eq!(status, "FAILED", "{url}");
        assert!(message.contains("api_base_url"), "{url}: {message}");
        assert!(message.contains("query"), "{url}: {message}");
        let run = read(&config, &catalog(&["rooms"], "full_refresh"), None);
        assert!(!run.success(), "{url}");
        assert_eq!(run.errors()[0]["failure_type"], "config_error", "{url}");
    }
    assert!(
        server.requests().is_empty(),
        "a refused config sent a request"
    );
}

#[test]
fn redirects_are_refused_and_named() {
    // Plain http to an address the config itself would refuse (TEST-NET-3, never reached).
    let server = Server::start(|_| {
        Reply::text(
            302,
            "text/html",
            "<a href=\"http://203.0.113.7/v2/rooms\">moved</a>",
        )
        .header("Location", "http://203.0.113.7/v2/rooms")
    });
    let run = read(
        &config(&server.base_url()),
        &catalog(&["rooms"], "full_refresh"),
        None,
    );
    assert!(!run.success());
    let errors = run.errors();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0]["failure_type"], "config_error");
    let message = errors[0]["message"].as_str().unwrap();
    assert!(message.contains("redirect"), "{message}");
    assert!(message.contains("http://203.0.113.7/v2/rooms"), "{message}");
    assert!(run.of_type("RECORD").is_empty());
    let requests = server.requests();
    assert_eq!(requests.len(), 1, "the redirect was followed or retried");
    assert_eq!(requests[0].path, "/v2/rooms");

    let (status, message) = connection_status(&check(&config(&server.base_url()), &[]));
    assert_eq!(status, "FAILED");
    assert!(message.contains("redirect"), "{message}");
}

#[test]
fn a_future_start_date_is_a_config_error() {
    let server = Server::start(|request| list_page(&rooms(3, 3), request));
    let mut config = config(&server.base_url());
    config["start_date"] = json!((Utc::now() + chrono::Duration::days(30)).to_rfc3339());
    let (status, message) = connection_status(&check(&config, &[]));
    assert_eq!(status, "FAILED");
    assert!(message.contains("start_date"), "{message}");
    assert!(message.contains("future"), "{message}");
    let run = read(&config, &catalog(&["rooms"], "incremental"), None);
    assert!(!run.success());
    let errors = run.errors();
    assert_eq!(errors[0]["failure_type"], "config_error");
    assert!(errors[0]["message"]
        .as_str()
        .unwrap()
        .contains("start_date"));
    assert!(server.requests().is_empty());
}

#[test]
fn a_server_clock_far_from_ours_is_not_trusted() {
    for date in [
        "Fri, 31 Dec 9999 23:59:59 GMT",
        "Thu, 01 Jan 1970 00:00:00 GMT",
    ] {
        let server =
            Server::start(move |request| list_page(&rooms(3, 2), request).header("Date", date));
        let before = Utc::now();
        let run = read(
            &config(&server.base_url()),
            &catalog(&["rooms"], "incremental"),
            None,
        );
        assert!(run.success(), "{date}: {}", run.describe());
        // 1970 would have put every room after the window, and emitted nothing.
        assert_eq!(run.unique_keys("rooms").len(), 3, "{date}");
        // 9999 would have pinned the cursor there for good.
        let states = run.states("rooms");
        let cursor = states.last().unwrap()["stream"]["stream_state"]["cursor"]
            .as_str()
            .unwrap();
        let cursor: DateTime<Utc> = cursor.parse().unwrap();
        assert!(
            cursor > before - chrono::Duration::minutes(5) && cursor <= Utc::now(),
            "{date}: cursor {cursor}"
        );
        let clock: Vec<String> = warnings(&run)
            .into_iter()
            .filter(|w| w.contains("clock"))
            .collect();
        assert_eq!(
            clock.len(),
            1,
            "{date}: one warning however many requests: {clock:?}"
        );
        assert!(server.requests().len() >= 2, "{date}");
    }
}

#[test]
fn a_future_state_cursor_reads_nothing_and_warns() {
    let server = Server::start(|request| list_page(&rooms(3, 2), request));
    let future = "2999-12-31T00:00:00Z";
    let state = json!([{"type": "STREAM", "stream": {"stream_descriptor": {"name": "rooms"},
                        "stream_state": {"cursor": future}}}]);
    let run = read(
        &config(&server.base_url()),
        &catalog(&["rooms"], "incremental"),
        Some(&state),
    );
    assert!(run.success(), "{}", run.describe());
    assert!(run.records("rooms").is_empty());
    let states = run.states("rooms");
    assert_eq!(states.len(), 1);
    assert_eq!(states[0]["stream"]["stream_state"]["cursor"], future);
    let warned = warnings(&run)
        .into_iter()
        .any(|w| w.starts_with("rooms:") && w.contains("in the future"));
    assert!(warned, "{:?}", run.logs());
}

#[test]
fn pages_repeating_the_same_ids_under_fresh_tokens_stop() {
    // The same hundred sessions on every page, each under a new `last` token.
    let created = (Utc::now() - chrono::Duration::hours(1)).to_rfc3339();
    let sessions: Vec<Value> = (0..100)
        .map(|i| {
            json!({"id": object_id(i), "room_id": object_id(1000), "active": false,
                        "created_at": created, "updated_at": created})
        })
        .collect();
    let pages = AtomicUsize::new(0);
    let server = Server::start(move |_| {
        let n = pages.fetch_add(1, Ordering::Relaxed);
        Reply::json(
            200,
            json!({"limit": 100, "data": sessions, "last": format!("fresh-token-{n}")}),
        )
    });
    let run = read(
        &config(&server.base_url()),
        &catalog(&["sessions"], "full_refresh"),
        None,
    );
    assert!(!run.success());
    let errors = run.errors();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0]["failure_type"], "system_error");
    let message = errors[0]["message"].as_str().unwrap();
    assert!(
        message.contains("only the 100 objects of the page before"),
        "{message}"
    );
    assert_eq!(run.unique_keys("sessions").len(), 100);
    assert_eq!(server.requests().len(), 2);
}

#[test]
fn a_stream_named_twice_is_read_once_or_refused() {
    let server = Server::start(|request| list_page(&rooms(3, 2), request));
    let twice = catalog(&["rooms", "rooms"], "full_refresh");
    let run = read(&config(&server.base_url()), &twice, None);
    assert!(run.success(), "{}", run.describe());
    assert_eq!(run.unique_keys("rooms").len(), 3);
    assert_eq!(run.statuses("rooms"), ["STARTED", "RUNNING", "COMPLETE"]);
    let warned = warnings(&run)
        .into_iter()
        .any(|w| w.contains("\"rooms\" twice"));
    assert!(warned, "{:?}", run.logs());
    // One listing per `enabled` value, not two.
    assert_eq!(server.requests().len(), 2);

    let mut conflicting = catalog(&["rooms"], "full_refresh");
    let incremental = catalog(&["rooms"], "incremental")["streams"][0].clone();
    conflicting["streams"]
        .as_array_mut()
        .unwrap()
        .push(incremental);
    let run = read(&config(&server.base_url()), &conflicting, None);
    assert!(!run.success());
    let errors = run.errors();
    assert_eq!(errors[0]["failure_type"], "config_error");
    let message = errors[0]["message"].as_str().unwrap();
    assert!(message.contains("\"rooms\" twice"), "{message}");
    assert!(run.of_type("RECORD").is_empty());
}

#[test]
fn a_rate_limited_check_says_so() {
    let server = Server::start(|_| {
        Reply::json(429, json!({"code": 429, "message": "too many requests"}))
            .header("Retry-After", "120")
    });
    let (status, message) = connection_status(&check(&config(&server.base_url()), &[]));
    assert_eq!(status, "FAILED");
    assert!(message.contains("rate limited"), "{message}");
    assert!(!message.contains("did not answer"), "{message}");
}

#[test]
fn a_host_that_does_not_exist_is_named_as_a_dns_failure() {
    // `.invalid` never resolves (RFC 6761), and the resolver says so without asking the
    // network; the final dot keeps search domains out of it.
    let config = config("https://api.100ms.invalid./v2");
    let (status, message) = connection_status(&check(&config, &[]));
    assert_eq!(status, "FAILED");
    assert!(message.contains("DNS"), "{message}");
    assert!(message.contains("api_base_url"), "{message}");
    assert!(!message.contains("requests_per_second"), "{message}");
    let run = read(&config, &catalog(&["rooms"], "full_refresh"), None);
    assert!(!run.success());
    let errors = run.errors();
    assert_eq!(errors[0]["failure_type"], "config_error");
    assert!(errors[0]["message"].as_str().unwrap().contains("DNS"));
}

#[test]
fn a_refused_connection_and_a_failed_handshake_say_so() {
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let (status, message) =
        connection_status(&check(&config(&format!("http://127.0.0.1:{port}/v2")), &[]));
    assert_eq!(status, "FAILED");
    assert!(message.contains("refused"), "{message}");
    assert!(!message.contains("requests_per_second"), "{message}");

    // https to a server that speaks plain HTTP.
    let server = Server::start(|request| list_page(&rooms(3, 3), request));
    let https = format!("https://{}/v2", server.addr);
    let (status, message) = connection_status(&check(&config(&https), &[]));
    assert_eq!(status, "FAILED");
    assert!(message.contains("TLS"), "{message}");
    assert!(!message.contains("requests_per_second"), "{message}");
}

#[test]
fn a_page_size_the_api_refuses_is_lowered_once_for_the_run() {
    // An API that enforces the 10–20 range one of its doc pages gives.
    let all = rooms(45, 30);
    let server = Server::start(move |request| {
        let limit: usize = request
            .param("limit")
            .and_then(|l| l.parse().ok())
            .unwrap_or(0);
        if !(10..=20).contains(&limit) {
            return Reply::json(
                400,
                json!({"code": 400, "message": "Invalid query param",
                       "details": ["limit must be between 10 and 20"]}),
            );
        }
        list_page(&all, request)
    });
    let run = read(
        &config(&server.base_url()),
        &catalog(&["rooms"], "full_refresh"),
        None,
    );
    assert!(run.success(), "{}", run.describe());
    assert_eq!(run.unique_keys("rooms").len(), 45);
    let requests = server.requests();
    assert!(requests.iter().all(|r| r.path == "/v2/rooms"));
    let limits: Vec<(String, String)> = requests
        .iter()
        .map(|r| {
            let param = |k| r.param(k).unwrap_or_default().to_owned();
            (param("enabled"), param("limit"))
        })
        .collect();
    // One refusal, then 20 a page for both listings of the path; the short pages (10 and 15
    // of 20) end their listings without asking for an empty one.
    let expected = [
        ("true", "100"),
        ("true", "20"),
        ("true", "20"),
        ("false", "20"),
    ];
    let expected: Vec<(String, String)> = expected
        .iter()
        .map(|(e, l)| ((*e).to_owned(), (*l).to_owned()))
        .collect();
    assert_eq!(limits, expected);
    let lowered: Vec<String> = warnings(&run)
        .into_iter()
        .filter(|w| w.contains("limit"))
        .collect();
    assert_eq!(lowered.len(), 1, "{lowered:?}");
    assert!(lowered[0].contains("20 objects a page"), "{lowered:?}");
    let summary = run
        .logs()
        .into_iter()
        .find(|l| l.starts_with("rooms: ") && l.contains(" records, "));
    let summary = summary.expect("a summary line");
    assert!(
        summary.contains("4 requests (1 refused for their page size)"),
        "{summary}"
    );
}
