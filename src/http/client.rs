//! The HTTP client: `GET path?query` → body bytes, with everything a well-behaved API client
//! owes the server in between.
//!
//! Order of operations for every attempt, retries included: take a slot among the requests in
//! flight, wait for the shared rate limiter, send with a fresh-enough token, classify the
//! answer. The slot is given back before any backoff sleep, so a sleeping retry never blocks
//! other work. Long waits are slept in slices, and the [`Observer`] hears of each slice, so the
//! orchestrator keeps getting heartbeats while the connector is rate limited.

use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use bytes::{Bytes, BytesMut};
use chrono::{DateTime, Utc};
use governor::clock::{Clock, DefaultClock};
use governor::{Quota, RateLimiter};
use reqwest::Url;
use serde_json::Value;
use tokio::sync::Semaphore;

use super::retry::{classify, parse_retry_after, Backoff, Verdict};
use super::{Auth, HttpError};

/// Larger bodies are refused: a hostile or broken server must not exhaust memory.
pub const MAX_BODY_BYTES: usize = 32 * 1024 * 1024;
/// No request, retries included, takes longer than this in all.
const MAX_TOTAL_TIME: Duration = Duration::from_secs(600);
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
    /// Strings never to repeat in an error message.
    pub secrets: Vec<String>,
}

pub struct Response {
    pub body: Bytes,
    /// The server's clock, from its `Date` header.
    pub server_time: Option<DateTime<Utc>>,
}

#[derive(Debug, Default, Clone, Copy)]
pub struct RequestStats {
    pub requests: u64,
    pub retries: u64,
}

type Limiter = RateLimiter<
    governor::state::NotKeyed,
    governor::state::InMemoryState,
    DefaultClock,
    governor::middleware::NoOpMiddleware<<DefaultClock as Clock>::Instant>,
>;

pub struct Client {
    http: reqwest::Client,
    base: String,
    auth: Auth,
    limiter: Limiter,
    limiter_clock: DefaultClock,
    in_flight: Semaphore,
    max_retries: u32,
    initial_backoff: Duration,
    secrets: Vec<String>,
    observer: Arc<dyn Observer>,
    /// Server clock minus local clock, in milliseconds.
    clock_offset_ms: AtomicI64,
    jitter_state: AtomicU64,
    stats: Mutex<BTreeMap<String, RequestStats>>,
}

/// What one attempt came to.
enum Attempt {
    Done(Response),
    Wait {
        after: Option<Duration>,
        rate_limited: bool,
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
            .connect_timeout(CONNECT_TIMEOUT)
            .read_timeout(READ_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .user_agent(concat!("source-100ms/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| HttpError::Setup(e.to_string()))?;
        let period = Duration::from_secs_f64(1.0 / options.requests_per_second);
        // A burst of one: requests are spaced evenly, so no one-second window ever sees more
        // than the configured rate plus one.
        let quota = Quota::with_period(period)
            .ok_or_else(|| HttpError::Setup("requests_per_second is too high".into()))?
            .allow_burst(NonZeroU32::MIN);
        let limiter_clock = DefaultClock::default();
        let seed = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0x9e37_79b9, |d| d.as_nanos() as u64)
            | 1;
        Ok(Client {
            http,
            base: options.base_url.as_str().trim_end_matches('/').to_owned(),
            auth,
            limiter: RateLimiter::direct_with_clock(quota, limiter_clock.clone()),
            limiter_clock,
            in_flight: Semaphore::new(options.max_concurrent_requests.max(1)),
            max_retries: options.max_retries,
            initial_backoff: options.initial_backoff,
            secrets: options
                .secrets
                .into_iter()
                .filter(|s| !s.is_empty())
                .collect(),
            observer,
            clock_offset_ms: AtomicI64::new(0),
            jitter_state: AtomicU64::new(seed),
            stats: Mutex::new(BTreeMap::new()),
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
        let endpoint = format!("GET {path}");
        let started = Instant::now();
        let mut backoff = Backoff::new(self.initial_backoff);
        let mut reauthenticated = false;
        let mut attempts = 0u32;
        loop {
            attempts += 1;
            self.count(stream, |s| s.requests += 1);
            let token = self.auth.token()?;
            let outcome = self.attempt(&url, &endpoint, query, token.expose()).await?;
            let (after, rate_limited, reason) = match outcome {
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
                        message: self.scrub(&message),
                        hint: self.auth.rejection_hint(),
                    });
                }
                Attempt::Wait {
                    after,
                    rate_limited,
                    reason,
                } => (after, rate_limited, reason),
            };
            let wait = after.unwrap_or_else(|| backoff.next_delay(self.random_unit()));
            if attempts > self.max_retries || started.elapsed() + wait > MAX_TOTAL_TIME {
                return Err(HttpError::Exhausted {
                    endpoint,
                    attempts,
                    last: self.scrub(&reason),
                });
            }
            self.count(stream, |s| s.retries += 1);
            tracing::info!(
                "{endpoint} ({stream}): {reason}; retry {attempts} of {} in {:.1} s",
                self.max_retries,
                wait.as_secs_f64()
            );
            self.sleep_with_heartbeat(stream, wait, rate_limited).await;
        }
    }

    async fn attempt(
        &self,
        url: &str,
        endpoint: &str,
        query: &[(&str, String)],
        token: &str,
    ) -> Result<Attempt, HttpError> {
        let _slot = self
            .in_flight
            .acquire()
            .await
            .map_err(|_| HttpError::Setup("the request semaphore was closed".into()))?;
        self.wait_for_rate_limiter().await;
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
            Err(e) => {
                return Ok(Attempt::Wait {
                    after: None,
                    rate_limited: false,
                    reason: describe_transport_error(&e),
                })
            }
        };
        let status = response.status().as_u16();
        let server_time = self.observe_server_clock(response.headers());
        tracing::debug!(
            "{endpoint} query={query:?} authorization=\"Bearer **REDACTED**\" -> {status} in {} ms",
            sent.elapsed().as_millis()
        );
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, SystemTime::now()));
        let verdict = classify(status);
        let body = match read_body(response, endpoint).await {
            Ok(body) => body,
            Err(BodyError::TooLarge(e)) => return Err(e),
            Err(BodyError::Transport(reason)) => {
                return Ok(Attempt::Wait {
                    after: None,
                    rate_limited: false,
                    reason,
                })
            }
        };
        Ok(match verdict {
            Verdict::Success => Attempt::Done(Response { body, server_time }),
            Verdict::RateLimited => Attempt::Wait {
                after: retry_after,
                rate_limited: true,
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
                rate_limited: false,
                reason: format!("{status}: {}", describe_body(&body)),
            },
            Verdict::Reauthenticate => Attempt::Reauthenticate {
                status,
                message: describe_body(&body),
            },
            Verdict::Fail => {
                return Err(HttpError::Status {
                    status,
                    endpoint: endpoint.to_owned(),
                    message: self.scrub(&describe_body(&body)),
                })
            }
        })
    }

    async fn wait_for_rate_limiter(&self) {
        while let Err(not_until) = self.limiter.check() {
            tokio::time::sleep(not_until.wait_time_from(self.limiter_clock.now())).await;
        }
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

    fn observe_server_clock(&self, headers: &reqwest::header::HeaderMap) -> Option<DateTime<Utc>> {
        let date = headers.get(reqwest::header::DATE)?.to_str().ok()?;
        let server = DateTime::parse_from_rfc2822(date).ok()?.with_timezone(&Utc);
        // The Date header is truncated to the second, so the estimate errs on the early side,
        // which only makes the sync's upper bound more conservative.
        let offset = (server - Utc::now()).num_milliseconds();
        self.clock_offset_ms.store(offset, Ordering::Relaxed);
        Some(server)
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
    fn scrub(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for secret in &self.secrets {
            out = out.replace(secret.as_str(), "**REDACTED**");
        }
        if let Ok(token) = self.auth.token() {
            out = out.replace(token.expose(), "**REDACTED**");
        }
        out
    }
}

enum BodyError {
    TooLarge(HttpError),
    Transport(String),
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
            Err(e) => return Err(BodyError::Transport(describe_transport_error(&e))),
        }
    }
}

/// A network fault in words, without the URL (which reqwest would otherwise print).
fn describe_transport_error(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else if e.is_body() || e.is_decode() {
        "connection broke while reading the response"
    } else {
        "connection failed"
    };
    let mut source = std::error::Error::source(e);
    let mut root = None;
    while let Some(s) = source {
        root = Some(s.to_string());
        source = s.source();
    }
    match root {
        Some(r) => format!("{kind} ({r})"),
        None => kind.to_owned(),
    }
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
