//! Unit tests of the async client, on paused time, against a server of canned answers.
//!
//! Paused time jumps to the next pending timer whenever the runtime has nothing to run, and
//! whether an exchange waiting on the socket counts as idle depends on when the I/O driver is
//! polled. So that the virtual clock never depends on that, the client under test runs over a
//! `reqwest` client with no timers at all (no timeouts, no idle-pool sweep; see
//! [`Client::with_http`]); everything else is the production code. The only tokio timers left
//! are the client's own waits, so the virtual time a request takes is exactly the sum of its
//! backoff and `Retry-After` waits. (With the production timeouts the tests pass too, today;
//! this keeps them from relying on it.)
//!
//! The rate limiter is governor's, which waits on its own real-time clock and timer, not on
//! tokio's: its test measures real time and asserts only the lower bound the quota implies.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::Url;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::time::Instant;

use super::{Auth, Client, ClientOptions, HttpError, Observer, RequestStats};
use crate::credentials::{Credentials, Secret};

const STREAM: &str = "rooms";

/// One canned HTTP/1.1 answer.
struct Canned {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: String,
}

fn answer(status: u16) -> Canned {
    Canned {
        status,
        headers: Vec::new(),
        body: format!(r#"{{"code":{status},"message":"canned {status}"}}"#),
    }
}

fn retry_after(status: u16, secs: u64) -> Canned {
    Canned {
        headers: vec![("retry-after", secs.to_string())],
        ..answer(status)
    }
}

/// What the server saw of one request.
struct Seen {
    authorization: Option<String>,
}

/// A server on 127.0.0.1 that answers each connection with the next canned answer, then
/// closes it, so every attempt is one connection and one answer in order. Past the last
/// answer it sends 418, which the client takes as a plain failure.
struct CannedServer {
    base: Url,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl CannedServer {
    async fn start(answers: Vec<Canned>) -> CannedServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = Url::parse(&format!("http://{}/v2", listener.local_addr().unwrap())).unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        tokio::spawn(async move {
            let mut answers = answers.into_iter();
            while let Ok((mut socket, _)) = listener.accept().await {
                let head = read_head(&mut socket).await;
                log.lock().unwrap().push(Seen {
                    authorization: header(&head, "authorization"),
                });
                let canned = answers.next().unwrap_or_else(|| answer(418));
                let _ = socket.write_all(&render(&canned)).await;
                let _ = socket.shutdown().await;
            }
        });
        CannedServer { base, seen }
    }

    fn requests(&self) -> usize {
        self.seen.lock().unwrap().len()
    }

    fn authorizations(&self) -> Vec<Option<String>> {
        let seen = self.seen.lock().unwrap();
        seen.iter().map(|s| s.authorization.clone()).collect()
    }
}

async fn read_head(socket: &mut tokio::net::TcpStream) -> String {
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match socket.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&head).into_owned()
}

fn header(head: &str, name: &str) -> Option<String> {
    head.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.trim()
            .eq_ignore_ascii_case(name)
            .then(|| value.trim().to_owned())
    })
}

fn render(canned: &Canned) -> Vec<u8> {
    let mut text = format!(
        "HTTP/1.1 {} Canned\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n",
        canned.status,
        canned.body.len()
    );
    for (name, value) in &canned.headers {
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    text.push_str("\r\n");
    text.push_str(&canned.body);
    text.into_bytes()
}

/// Every wait the client announced, with whether it was for a rate limit.
#[derive(Default)]
struct Waits(Mutex<Vec<(Duration, bool)>>);

impl Observer for Waits {
    fn waiting(&self, _stream: &str, wait: Duration, rate_limited: bool) {
        self.0.lock().unwrap().push((wait, rate_limited));
    }
}

fn options(server: &CannedServer) -> ClientOptions {
    ClientOptions {
        base_url: server.base.clone(),
        // High enough that the limiter never holds up the retry tests.
        requests_per_second: 1000.0,
        max_concurrent_requests: 2,
        max_retries: 5,
        initial_backoff: Duration::from_secs(1),
        max_total_time: Duration::from_secs(600),
        secrets: vec!["app-secret".into()],
    }
}

fn minted() -> Auth {
    Auth::new(&Credentials::AppCredentials {
        access_key: "64a1f0c2e4b0a1b2c3d4e5f6".into(),
        secret: Secret::new("app-secret"),
    })
    .unwrap()
}

/// A client as production builds it, but over a `reqwest` client with no timers (see the
/// module's doc).
fn client(options: ClientOptions, auth: Auth, observer: Arc<Waits>) -> Client {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .pool_max_idle_per_host(0)
        .pool_idle_timeout(None)
        .build()
        .unwrap();
    Client::with_http(options, auth, observer, http).unwrap()
}

fn stats(client: &Client) -> RequestStats {
    client.stats().get(STREAM).copied().unwrap_or_default()
}

#[tokio::test(start_paused = true)]
async fn server_errors_are_retried_with_exponential_backoff() {
    let server =
        CannedServer::start(vec![answer(500), answer(503), answer(502), answer(200)]).await;
    let waits = Arc::new(Waits::default());
    let client = client(options(&server), minted(), waits.clone());
    let started = Instant::now();

    let response = client.get(STREAM, "/rooms", &[]).await.unwrap();

    let elapsed = started.elapsed();
    assert_eq!(
        &response.body[..],
        br#"{"code":200,"message":"canned 200"}"#
    );
    assert_eq!(server.requests(), 4);
    let s = stats(&client);
    assert_eq!((s.requests, s.retries), (4, 3));
    // Steps of 1, 2 and 4 s, each waited between half of it and all of it (equal jitter).
    assert!(elapsed >= Duration::from_millis(3500), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(7), "{elapsed:?}");
    let waits = waits.0.lock().unwrap();
    assert_eq!(waits.len(), 3);
    let bounds = [(500, 1000), (1000, 2000), (2000, 4000)];
    for ((wait, rate_limited), (low, high)) in waits.iter().zip(bounds) {
        assert!(!rate_limited);
        let ms = wait.as_millis();
        assert!((low..high).contains(&ms), "{ms} ms not in [{low}, {high})");
    }
}

#[tokio::test(start_paused = true)]
async fn retry_after_is_honoured() {
    let server = CannedServer::start(vec![retry_after(429, 7), answer(200)]).await;
    let waits = Arc::new(Waits::default());
    let client = client(options(&server), minted(), waits.clone());
    let started = Instant::now();

    client.get(STREAM, "/rooms", &[]).await.unwrap();

    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_secs(7), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(8), "{elapsed:?}");
    assert_eq!(*waits.0.lock().unwrap(), [(Duration::from_secs(7), true)]);
    assert_eq!(stats(&client).retries, 1);
}

#[tokio::test(start_paused = true)]
async fn long_waits_are_announced_in_slices() {
    let server = CannedServer::start(vec![retry_after(503, 50), answer(200)]).await;
    let waits = Arc::new(Waits::default());
    let client = client(options(&server), minted(), waits.clone());

    client.get(STREAM, "/rooms", &[]).await.unwrap();

    let left: Vec<u64> = waits
        .0
        .lock()
        .unwrap()
        .iter()
        .map(|w| w.0.as_secs())
        .collect();
    assert_eq!(left, [50, 30, 10]);
}

#[tokio::test(start_paused = true)]
async fn rate_limiting_that_outlasts_the_retries_is_a_typed_error() {
    let server = CannedServer::start((0..3).map(|_| answer(429)).collect()).await;
    let waits = Arc::new(Waits::default());
    let client = client(
        ClientOptions {
            max_retries: 2,
            ..options(&server)
        },
        minted(),
        waits.clone(),
    );

    let err = client.get(STREAM, "/rooms", &[]).await.unwrap_err();

    match err {
        HttpError::RateLimited {
            attempts, endpoint, ..
        } => {
            assert_eq!(attempts, 3);
            assert_eq!(endpoint, "GET /rooms");
        }
        other => panic!("expected RateLimited, got {other:?}"),
    }
    assert_eq!(server.requests(), 3);
    assert_eq!(stats(&client).retries, 2);
    assert!(waits.0.lock().unwrap().iter().all(|&(_, limited)| limited));
}

#[tokio::test(start_paused = true)]
async fn a_wait_beyond_the_time_budget_ends_the_request_at_once() {
    let server = CannedServer::start(vec![retry_after(503, 30), answer(200)]).await;
    let waits = Arc::new(Waits::default());
    let client = client(
        ClientOptions {
            max_total_time: Duration::from_secs(10),
            ..options(&server)
        },
        minted(),
        waits.clone(),
    );
    let started = Instant::now();

    let err = client.get(STREAM, "/rooms", &[]).await.unwrap_err();

    assert!(
        matches!(err, HttpError::Exhausted { attempts: 1, .. }),
        "{err:?}"
    );
    assert_eq!(started.elapsed(), Duration::ZERO);
    assert_eq!(server.requests(), 1);
    assert!(waits.0.lock().unwrap().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_refused_minted_token_is_minted_again_once() {
    let server = CannedServer::start(vec![answer(401), answer(200)]).await;
    let client = client(options(&server), minted(), Arc::default());

    client.get(STREAM, "/rooms", &[]).await.unwrap();

    let sent = server.authorizations();
    assert_eq!(sent.len(), 2);
    assert!(sent
        .iter()
        .all(|a| a.as_deref().is_some_and(|a| a.starts_with("Bearer "))));
    assert_ne!(
        sent[0], sent[1],
        "the retry must carry a newly minted token"
    );
    let s = stats(&client);
    assert_eq!((s.requests, s.retries), (2, 0));
}

#[tokio::test(start_paused = true)]
async fn a_second_refusal_is_unauthorized() {
    let server = CannedServer::start(vec![answer(401), answer(403), answer(200)]).await;
    let client = client(options(&server), minted(), Arc::default());

    let err = client.get(STREAM, "/rooms", &[]).await.unwrap_err();

    assert!(
        matches!(err, HttpError::Unauthorized { status: 403, .. }),
        "{err:?}"
    );
    assert_eq!(server.requests(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_refused_ready_token_is_not_retried() {
    let server = CannedServer::start(vec![answer(401), answer(200)]).await;
    let ready = Auth::new(&Credentials::ManagementToken(Secret::new("ready"))).unwrap();
    let client = client(options(&server), ready, Arc::default());

    let err = client.get(STREAM, "/rooms", &[]).await.unwrap_err();

    assert!(
        matches!(err, HttpError::Unauthorized { status: 401, .. }),
        "{err:?}"
    );
    assert_eq!(server.requests(), 1);
    assert_eq!(server.authorizations(), [Some("Bearer ready".to_owned())]);
}

#[tokio::test(start_paused = true)]
async fn the_limiter_spaces_requests() {
    const REQUESTS: u32 = 4;
    const RATE: f64 = 20.0;
    let server = CannedServer::start((0..REQUESTS).map(|_| answer(200)).collect()).await;
    let client = client(
        ClientOptions {
            requests_per_second: RATE,
            ..options(&server)
        },
        minted(),
        Arc::default(),
    );
    // Governor's clock is real time (see the module's doc).
    let started = std::time::Instant::now();

    for _ in 0..REQUESTS {
        client.get(STREAM, "/rooms", &[]).await.unwrap();
    }

    let elapsed = started.elapsed();
    let spacing = Duration::from_secs_f64(f64::from(REQUESTS - 1) / RATE);
    // A millisecond of slack for governor's clock and std's being read at different moments.
    assert!(
        elapsed + Duration::from_millis(1) >= spacing,
        "{elapsed:?} < {spacing:?}"
    );
    assert_eq!(server.requests(), REQUESTS as usize);
}
