//! The HTTP client: `GET path?query` → body bytes, with everything a well-behaved API client
//! owes the server in between.
//!
//! Order of operations for every attempt, retries included: take a slot among the requests in
//! flight, wait for the shared rate limiter, send with a fresh-enough token, classify the
//! answer. The slot is given back before any backoff sleep, so a sleeping retry never blocks
//! other work. Long waits are slept in slices, and the [`Observer`] hears of each slice, so the
//! orchestrator keeps getting heartbeats while the connector is rate limited.
//!
//! Whatever the server sends is suspect: its text is scrubbed of credentials before it reaches
//! an error or a log line, its redirects are refused, and its clock is believed only when it is
//! within [`MAX_CLOCK_SKEW`] of ours.

use std::collections::{BTreeMap, HashMap};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use bytes::{Bytes, BytesMut};
use chrono::{DateTime, Utc};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use reqwest::header::HeaderMap;
use reqwest::Url;
use serde_json::Value;
use tokio::sync::Semaphore;
// Tokio's clock, not std's: the retry budget is spent by tokio sleeps, so it is counted on the
// clock they run on (the same as std's in production; the paused one in unit tests).
use tokio::time::Instant;

use super::fault::{root_cause, NetworkFault};
use super::retry::{classify, mentions_limit, parse_retry_after, Backoff, Verdict};
use super::{Auth, HttpError, MAX_CLOCK_SKEW};

/// Larger bodies are refused: a hostile or broken server must not exhaust memory.
pub const MAX_BODY_BYTES: usize = 32 * 1024 * 1024;
/// No request, retries included, takes longer than this in all, unless the options say less.
pub const MAX_TOTAL_TIME: Duration = Duration::from_secs(600);
/// The most of a `Location` header an error quotes.
const MAX_LOCATION_CHARS: usize = 200;
/// Heartbeat period while waiting.
const WAIT_SLICE: Duration = Duration::from_secs(20);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const READ_TIMEOUT: Duration = Duration::from_secs(60);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(180);

/// Hears about waits, so the read loop can tell the orchestrator the sync is alive.
pub trait Observer: Send + Sync {
    fn waiting(&self, stream: &str, wait: Duration, rate_limited: bool);
}

pub struct ClientOptions {
    pub base_url: Url,
    pub requests_per_second: f64,
    pub max_concurrent_requests: usize,
    pub max_retries: u32,
    pub initial_backoff: Duration,
    /// No request waits for retries beyond this in all (at most [`MAX_TOTAL_TIME`]).
    pub max_total_time: Duration,
    /// Strings never to repeat in an error message.
    pub secrets: Vec<String>,
}

#[derive(Debug)]
pub struct Response {
    pub body: Bytes,
    /// The server's clock, from its `Date` header.
    pub server_time: Option<DateTime<Utc>>,
}

#[derive(Debug, Default, Clone, Copy)]
pub struct RequestStats {
    pub requests: u64,
    pub retries: u64,
    /// Requests the API refused for their page size (each sent again with a smaller one).
    pub refused_page_sizes: u64,
}

pub struct Client {
    http: reqwest::Client,
    base: String,
    /// The host of the base URL, for messages about it.
    host: String,
    auth: Auth,
    limiter: DefaultDirectRateLimiter,
    in_flight: Semaphore,
    max_retries: u32,
    initial_backoff: Duration,
    max_total_time: Duration,
    secrets: Vec<String>,
    observer: Arc<dyn Observer>,
    /// Server clock minus local clock, in milliseconds.
    clock_offset_ms: AtomicI64,
    /// Whether the user was told the server's clock is not trusted.
    clock_distrusted: AtomicBool,
    jitter_state: AtomicU64,
    stats: Mutex<BTreeMap<String, RequestStats>>,
    /// The largest page size each path accepted, once it refused a larger one: learned once
    /// per run, shared by every listing of the path.
    page_sizes: Mutex<HashMap<String, usize>>,
}

/// Why an attempt is worth repeating.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cause {
    RateLimited,
    /// 408 or 5xx.
    Server,
    Network(NetworkFault),
}

impl Cause {
    fn is_retriable(self) -> bool {
        match self {
            Cause::Network(fault) => fault.is_retriable(),
            Cause::RateLimited | Cause::Server => true,
        }
    }

    /// The error once retrying is over; `last` is already scrubbed.
    fn give_up(self, endpoint: String, attempts: u32, last: String) -> HttpError {
        match self {
            Cause::RateLimited => HttpError::RateLimited {
                endpoint,
                attempts,
                last,
            },
            Cause::Server => HttpError::Exhausted {
                endpoint,
                attempts,
                last,
            },
            Cause::Network(fault) => HttpError::Unreachable {
                endpoint,
                attempts,
                fault,
                detail: last,
            },
        }
    }
}

/// What the server answered, before any judgement of it.
struct Answer {
    status: u16,
    headers: HeaderMap,
    /// Empty for a redirect, whose body is never read.
    body: Bytes,
    server_time: Option<DateTime<Utc>>,
}

/// What one attempt came to.
enum Attempt {
    Done(Response),
    Wait {
        after: Option<Duration>,
        cause: Cause,
        /// Scrubbed.
        reason: String,
    },
    Reauthenticate {
        status: u16,
        message: String,
    },
}

impl Client {
    pub fn new(
        options: ClientOptions,
        auth: Auth,
        observer: Arc<dyn Observer>,
    ) -> Result<Client, HttpError> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(CONNECT_TIMEOUT)
            .read_timeout(READ_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .user_agent(concat!("source-100ms/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| HttpError::Setup(e.to_string()))?;
        Client::with_http(options, auth, observer, http)
    }

    /// A client over `http`, which must follow no redirects; [`Client::new`] builds the one
    /// every sync uses, the unit tests one without timeouts (see `super::tests`).
    pub(super) fn with_http(
        options: ClientOptions,
        auth: Auth,
        observer: Arc<dyn Observer>,
        http: reqwest::Client,
    ) -> Result<Client, HttpError> {
        let period = Duration::from_secs_f64(1.0 / options.requests_per_second);
        // A burst of one: requests are spaced evenly, so no one-second window ever sees more
        // than the configured rate plus one.
        let quota = Quota::with_period(period)
            .ok_or_else(|| HttpError::Setup("requests_per_second is too high".into()))?
            .allow_burst(NonZeroU32::MIN);
        let seed = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0x9e37_79b9, |d| d.as_nanos() as u64)
            | 1;
        Ok(Client {
            http,
            base: options.base_url.as_str().trim_end_matches('/').to_owned(),
            host: options.base_url.host_str().unwrap_or_default().to_owned(),
            auth,
            limiter: RateLimiter::direct(quota),
            in_flight: Semaphore::new(options.max_concurrent_requests.max(1)),
            max_retries: options.max_retries,
            initial_backoff: options.initial_backoff,
            max_total_time: options.max_total_time.min(MAX_TOTAL_TIME),
            secrets: options
                .secrets
                .into_iter()
                .filter(|s| !s.is_empty())
                .collect(),
            observer,
            clock_offset_ms: AtomicI64::new(0),
            clock_distrusted: AtomicBool::new(false),
            jitter_state: AtomicU64::new(seed),
            stats: Mutex::new(BTreeMap::new()),
            page_sizes: Mutex::new(HashMap::new()),
        })
    }

    /// `GET {base}{path}?{query}` on behalf of `stream`, retried as the policy allows.
    pub async fn get(
        &self,
        stream: &str,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<Response, HttpError> {
        let url = format!("{}{}", self.base, path);
        // Paths can carry ids that came from the server.
        let endpoint = self.scrub(&format!("GET {path}"));
        let started = Instant::now();
        let mut backoff = Backoff::new(self.initial_backoff);
        let mut reauthenticated = false;
        let mut attempts = 0u32;
        loop {
            attempts += 1;
            self.count(stream, |s| s.requests += 1);
            let token = self.auth.token()?;
            let outcome = match self.attempt(&url, &endpoint, query, token.expose()).await {
                Err(e @ HttpError::PageSizeRefused { .. }) => {
                    self.count(stream, |s| s.refused_page_sizes += 1);
                    return Err(e);
                }
                other => other?,
            };
            let (after, cause, reason) = match outcome {
                Attempt::Done(response) => return Ok(response),
                Attempt::Reauthenticate { status, message } => {
                    if !reauthenticated && self.auth.invalidate(&token) {
                        reauthenticated = true;
                        tracing::info!("{endpoint} answered {status}: minting a new management token and retrying once");
                        continue;
                    }
                    return Err(HttpError::Unauthorized {
                        status,
                        endpoint,
                        message,
                        hint: self.auth.rejection_hint(),
                    });
                }
                Attempt::Wait {
                    after,
                    cause,
                    reason,
                } => (after, cause, reason),
            };
            let wait = after.unwrap_or_else(|| backoff.next_delay(self.random_unit()));
            if !cause.is_retriable()
                || attempts > self.max_retries
                || started.elapsed() + wait > self.max_total_time
            {
                return Err(cause.give_up(endpoint, attempts, reason));
            }
            self.count(stream, |s| s.retries += 1);
            tracing::info!(
                "{endpoint} ({stream}): {reason}; retry {attempts} of {} in {:.1} s",
                self.max_retries,
                wait.as_secs_f64()
            );
            self.sleep_with_heartbeat(stream, wait, cause == Cause::RateLimited)
                .await;
        }
    }

    /// One request and what it comes to: the exchange, then the judgement of the answer.
    async fn attempt(
        &self,
        url: &str,
        endpoint: &str,
        query: &[(&str, String)],
        token: &str,
    ) -> Result<Attempt, HttpError> {
        match self.exchange(url, endpoint, query, token).await? {
            Ok(answer) => self.judge(answer, endpoint, query),
            Err(e) => Ok(self.network_fault(&e)),
        }
    }

    /// The I/O of one attempt: a slot among the requests in flight, the rate limiter, the
    /// request, and the body (bounded). A transport failure is the inner error, to be judged
    /// as a network fault; the outer one ends the request.
    async fn exchange(
        &self,
        url: &str,
        endpoint: &str,
        query: &[(&str, String)],
        token: &str,
    ) -> Result<Result<Answer, reqwest::Error>, HttpError> {
        let _slot = self
            .in_flight
            .acquire()
            .await
            .map_err(|_| HttpError::Setup("the request semaphore was closed".into()))?;
        self.limiter.until_ready().await;
        let sent = Instant::now();
        let result = self
            .http
            .get(url)
            .query(query)
            .bearer_auth(token)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await;
        let response = match result {
            Ok(r) => r,
            Err(e) => return Ok(Err(e)),
        };
        let status = response.status().as_u16();
        let server_time = self.observe_server_clock(response.headers());
        tracing::debug!(
            "{endpoint} query={} authorization=\"Bearer **REDACTED**\" -> {status} in {} ms",
            self.scrub(&format!("{query:?}")),
            sent.elapsed().as_millis()
        );
        let headers = response.headers().clone();
        // A redirect is refused whatever it says, so its body is not worth the wait.
        let body = if classify(status) == Verdict::Redirect {
            Bytes::new()
        } else {
            match read_body(response, endpoint).await {
                Ok(body) => body,
                Err(BodyError::TooLarge(e)) => return Err(e),
                Err(BodyError::Transport(e)) => return Ok(Err(e)),
            }
        };
        Ok(Ok(Answer {
            status,
            headers,
            body,
            server_time,
        }))
    }

    /// The verdict on an answer, as the action the retry loop takes: done, wait and retry,
    /// re-authenticate, or fail with a typed error. No I/O.
    fn judge(
        &self,
        answer: Answer,
        endpoint: &str,
        query: &[(&str, String)],
    ) -> Result<Attempt, HttpError> {
        let Answer {
            status,
            headers,
            body,
            server_time,
        } = answer;
        let retry_after = headers
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, SystemTime::now()));
        Ok(match classify(status) {
            Verdict::Success => Attempt::Done(Response { body, server_time }),
            Verdict::RateLimited => Attempt::Wait {
                after: retry_after,
                cause: Cause::RateLimited,
                reason: format!(
                    "rate limited (429{})",
                    retry_after.map_or(String::new(), |d| format!(
                        ", Retry-After {} s",
                        d.as_secs()
                    ))
                ),
            },
            Verdict::Retry => Attempt::Wait {
                after: retry_after,
                cause: Cause::Server,
                reason: format!("{status}: {}", self.server_text(&body)),
            },
            Verdict::Reauthenticate => Attempt::Reauthenticate {
                status,
                message: self.server_text(&body),
            },
            Verdict::Redirect => {
                return Err(HttpError::Redirected {
                    status,
                    endpoint: endpoint.to_owned(),
                    location: self.scrub(&describe_location(&headers)),
                })
            }
            Verdict::Fail => return Err(self.refusal(status, endpoint, query, &body)),
        })
    }

    /// The error for a status retrying cannot change: a page size refused, or any other.
    fn refusal(
        &self,
        status: u16,
        endpoint: &str,
        query: &[(&str, String)],
        body: &[u8],
    ) -> HttpError {
        let message = self.server_text(body);
        let limit = query.iter().find(|(key, _)| *key == "limit");
        match limit {
            Some((_, limit)) if status == 400 && mentions_limit(&message) => {
                HttpError::PageSizeRefused {
                    endpoint: endpoint.to_owned(),
                    limit: limit.clone(),
                    message,
                }
            }
            _ => HttpError::Status {
                status,
                endpoint: endpoint.to_owned(),
                message,
            },
        }
    }

    /// A failed exchange, as a wait before the next attempt (or the end, when retrying
    /// cannot help).
    fn network_fault(&self, error: &reqwest::Error) -> Attempt {
        let fault = NetworkFault::of(error);
        let reason = match fault {
            NetworkFault::NoSuchHost => format!("{fault}: no such host as {}", self.host),
            _ => match root_cause(error) {
                Some(cause) => format!("{fault} ({cause})"),
                None => fault.to_string(),
            },
        };
        Attempt::Wait {
            after: None,
            cause: Cause::Network(fault),
            reason: self.scrub(&reason),
        }
    }

    /// A body as an error message may quote it, scrubbed.
    fn server_text(&self, body: &[u8]) -> String {
        self.scrub(&describe_body(body))
    }

    async fn sleep_with_heartbeat(&self, stream: &str, wait: Duration, rate_limited: bool) {
        let mut left = wait;
        while !left.is_zero() {
            self.observer.waiting(stream, left, rate_limited);
            let slice = left.min(WAIT_SLICE);
            tokio::time::sleep(slice).await;
            left -= slice;
        }
    }

    /// Now, by the server's clock when it has told us its time, else by ours.
    pub fn server_now(&self) -> DateTime<Utc> {
        Utc::now() + chrono::Duration::milliseconds(self.clock_offset_ms.load(Ordering::Relaxed))
    }

    /// The server's time from its `Date` header, when it is near enough ours to believe.
    fn observe_server_clock(&self, headers: &HeaderMap) -> Option<DateTime<Utc>> {
        let date = headers.get(reqwest::header::DATE)?.to_str().ok()?;
        let server = DateTime::parse_from_rfc2822(date).ok()?.with_timezone(&Utc);
        let local = Utc::now();
        let offset = server - local;
        if offset.abs() > MAX_CLOCK_SKEW {
            if !self.clock_distrusted.swap(true, Ordering::Relaxed) {
                tracing::warn!(
                    "the API's clock says {server}, more than a day from this machine's ({local}); it is not trusted, and this sync's window ends by the local clock"
                );
            }
            return None;
        }
        // The Date header is truncated to the second, so the estimate errs on the early side,
        // which only makes the sync's upper bound more conservative.
        self.clock_offset_ms
            .store(offset.num_milliseconds(), Ordering::Relaxed);
        Some(server)
    }

    /// The page size `path` accepts, once it has refused a larger one this run.
    pub fn page_size_for(&self, path: &str) -> Option<usize> {
        let sizes = self.page_sizes.lock().unwrap_or_else(|e| e.into_inner());
        sizes.get(path).copied()
    }

    /// Remembers that `path` takes pages of at most `size`. Returns whether this lowered what
    /// was known (false when another listing learned as much already).
    pub fn limit_page_size(&self, path: &str, size: usize) -> bool {
        let mut sizes = self.page_sizes.lock().unwrap_or_else(|e| e.into_inner());
        let known = sizes.entry(path.to_owned()).or_insert(usize::MAX);
        let lowered = size < *known;
        *known = (*known).min(size);
        lowered
    }

    /// Requests and retries so far, per stream.
    pub fn stats(&self) -> BTreeMap<String, RequestStats> {
        self.stats.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn count(&self, stream: &str, f: impl FnOnce(&mut RequestStats)) {
        let mut stats = self.stats.lock().unwrap_or_else(|e| e.into_inner());
        match stats.get_mut(stream) {
            Some(s) => f(s),
            None => f(stats.entry(stream.to_owned()).or_default()),
        }
    }

    /// xorshift64: jitter needs spread, not cryptographic randomness.
    fn random_unit(&self) -> f64 {
        let mut x = self.jitter_state.load(Ordering::Relaxed);
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.jitter_state.store(x, Ordering::Relaxed);
        (x >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Removes every credential from text that may have come from the server or a URL.
    pub fn scrub(&self, text: &str) -> String {
        let token = self.auth.token().ok();
        let secrets = self.secrets.iter().map(String::as_str);
        super::scrub::scrub(text, secrets.chain(token.as_ref().map(|t| t.expose())))
    }
}

enum BodyError {
    TooLarge(HttpError),
    Transport(reqwest::Error),
}

async fn read_body(mut response: reqwest::Response, endpoint: &str) -> Result<Bytes, BodyError> {
    let too_large = || {
        BodyError::TooLarge(HttpError::TooLarge {
            endpoint: endpoint.to_owned(),
            limit: MAX_BODY_BYTES,
        })
    };
    if response
        .content_length()
        .is_some_and(|n| n > MAX_BODY_BYTES as u64)
    {
        return Err(too_large());
    }
    let mut body = BytesMut::with_capacity(response.content_length().unwrap_or(16 * 1024) as usize);
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > MAX_BODY_BYTES {
                    return Err(too_large());
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(body.freeze()),
            Err(e) => return Err(BodyError::Transport(e)),
        }
    }
}

/// Where a redirect points, as far as an error message needs: never more than
/// [`MAX_LOCATION_CHARS`], and printable.
fn describe_location(headers: &HeaderMap) -> String {
    let Some(location) = headers.get(reqwest::header::LOCATION) else {
        return "nowhere (no Location header)".to_owned();
    };
    let text = String::from_utf8_lossy(location.as_bytes());
    text.chars()
        .take(MAX_LOCATION_CHARS)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// The `message` of a 100ms error body, or a short, printable excerpt of whatever came.
pub fn describe_body(body: &[u8]) -> String {
    if let Ok(v) = serde_json::from_slice::<Value>(body) {
        if let Some(message) = v.get("message").and_then(Value::as_str) {
            let details = v
                .get("details")
                .and_then(Value::as_array)
                .map(|d| {
                    d.iter()
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join("; ")
                })
                .filter(|d| !d.is_empty());
            return match details {
                Some(d) => format!("{message} ({d})"),
                None => message.to_owned(),
            };
        }
    }
    let text = String::from_utf8_lossy(&body[..body.len().min(200)]);
    let trimmed = text.trim_start();
    if trimmed.is_empty() {
        "an empty body".to_owned()
    } else if trimmed.starts_with('<') {
        "an HTML page instead of JSON".to_owned()
    } else {
        trimmed
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credentials::{Credentials, Secret};

    fn judge(
        status: u16,
        headers: &[(&'static str, &str)],
        body: &str,
    ) -> Result<Attempt, HttpError> {
        let options = ClientOptions {
            base_url: Url::parse("http://127.0.0.1:9/v2").unwrap(),
            requests_per_second: 10.0,
            max_concurrent_requests: 1,
            max_retries: 1,
            initial_backoff: Duration::from_secs(1),
            max_total_time: MAX_TOTAL_TIME,
            secrets: Vec::new(),
        };
        struct Silent;
        impl Observer for Silent {
            fn waiting(&self, _: &str, _: Duration, _: bool) {}
        }
        let auth = Auth::new(&Credentials::ManagementToken(Secret::new("a-ready-token"))).unwrap();
        let client = Client::new(options, auth, Arc::new(Silent)).unwrap();
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.insert(*name, value.parse().unwrap());
        }
        let answer = Answer {
            status,
            headers: map,
            body: Bytes::copy_from_slice(body.as_bytes()),
            server_time: None,
        };
        client.judge(answer, "GET /rooms", &[("limit", "100".to_owned())])
    }

    #[test]
    fn answers_are_judged_without_io() {
        assert!(matches!(judge(200, &[], "{}"), Ok(Attempt::Done(_))));
        assert!(matches!(
            judge(429, &[("retry-after", "3")], ""),
            Ok(Attempt::Wait { after: Some(d), cause: Cause::RateLimited, .. }) if d == Duration::from_secs(3)
        ));
        assert!(matches!(
            judge(503, &[], ""),
            Ok(Attempt::Wait {
                after: None,
                cause: Cause::Server,
                ..
            })
        ));
        assert!(matches!(
            judge(403, &[], ""),
            Ok(Attempt::Reauthenticate { status: 403, .. })
        ));
        assert!(matches!(
            judge(302, &[("location", "https://elsewhere.example/")], ""),
            Err(HttpError::Redirected { status: 302, location, .. }) if location == "https://elsewhere.example/"
        ));
        assert!(matches!(
            judge(400, &[], r#"{"message":"limit must be between 10 and 20"}"#),
            Err(HttpError::PageSizeRefused { limit, .. }) if limit == "100"
        ));
        assert!(matches!(
            judge(404, &[], r#"{"message":"Room not found"}"#),
            Err(HttpError::Status { status: 404, .. })
        ));
    }

    #[test]
    fn describe_body_prefers_the_api_message() {
        assert_eq!(
            describe_body(
                br#"{"code":401,"message":"Token validation error","details":["not found"]}"#
            ),
            "Token validation error (not found)"
        );
        assert_eq!(
            describe_body(br#"{"code":404,"message":"Room not found"}"#),
            "Room not found"
        );
        assert_eq!(
            describe_body(b"<html><body>502</body></html>"),
            "an HTML page instead of JSON"
        );
        assert_eq!(describe_body(b""), "an empty body");
        assert_eq!(describe_body(b"oops\nbad"), "oops bad");
    }
}
