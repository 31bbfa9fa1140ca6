//! A faithful fake of the 100ms REST API v2 (`/v2/...`), for the connector's tests, benchmarks and demo.
//!
//! [`FakeApi::start`] generates a deterministic data set (from [`FakeConfig::seed`] and [`Scale`]),
//! serves it on `127.0.0.1` from a dedicated thread, and exposes the ground truth
//! ([`FakeApi::expected_keys`], [`FakeApi::raw`]) plus knobs for faults, rate limits,
//! overrides and simulated activity ([`FakeApi::apply_changes`]).

mod auth;
mod model;
mod quality;
mod rng;
mod server;
mod ts;
mod variants;

pub use variants::Variants;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tokio::sync::Notify;

use crate::model::Data;
use crate::rng::Rng;

/// How big the generated data set is.
#[derive(Clone, Debug, PartialEq)]
pub struct Scale {
    pub templates: usize,
    pub rooms: usize,
    /// Ended sessions (the live ones come on top, see `active_sessions`).
    pub sessions: usize,
    pub active_sessions: usize,
    /// Average; each session has 1..=2× this many peers.
    pub peers_per_session: usize,
    /// Average; each session has 0..=2× this many analytics events.
    pub events_per_session: usize,
    /// When not 0, each live session has exactly this many events (a busy workload).
    pub events_per_live_session: usize,
    pub recordings: usize,
    /// Average; each completed recording has 1..=2×−1 assets.
    pub assets_per_recording: usize,
}

impl Default for Scale {
    fn default() -> Scale {
        Scale {
            templates: 12,
            rooms: 60,
            sessions: 1500,
            active_sessions: 6,
            peers_per_session: 4,
            events_per_session: 8,
            events_per_live_session: 0,
            recordings: 300,
            assets_per_recording: 3,
        }
    }
}

impl Scale {
    /// Few rooms and over 100,000 analytics events, most of them in two live sessions: the
    /// account where reading events costs the most.
    pub fn busy_rooms() -> Scale {
        Scale {
            templates: 2,
            rooms: 6,
            sessions: 300,
            active_sessions: 2,
            peers_per_session: 4,
            events_per_session: 20,
            events_per_live_session: 48_000,
            recordings: 10,
            assets_per_recording: 2,
        }
    }

    /// The default scale with every count multiplied by `f` (per-session/per-recording
    /// averages and the number of live sessions stay as they are).
    pub fn times(f: f64) -> Scale {
        let d = Scale::default();
        let m = |n: usize| ((n as f64 * f).round() as usize).max(1);
        Scale {
            templates: m(d.templates),
            rooms: m(d.rooms),
            sessions: m(d.sessions),
            recordings: m(d.recordings),
            ..d
        }
    }
}

/// How `data` looks on an empty page (also applied to `events` of analytics).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum EmptyPage {
    /// `{"limit":10,"data":null}` (Go's nil slice), no `last`.
    #[default]
    Null,
    /// `{"limit":10,"data":[]}`, no `last`.
    EmptyArray,
    /// `{"limit":10}`.
    Missing,
}

/// Randomly injected failures, drawn per request from a seeded PRNG.
#[derive(Clone, Debug, Default)]
pub struct Faults {
    /// Probability of a 429 `rate limit exceeded, retry after 45 seconds`.
    pub p429: f64,
    /// Share of those 429s that carry a `Retry-After` header.
    pub retry_after_share: f64,
    /// `Retry-After` value in seconds (1 when 0).
    pub retry_after_secs: u64,
    /// Probability of a 500/502/503.
    pub p5xx: f64,
    /// Probability the connection is closed without a response.
    pub pdrop: f64,
    /// Probability a response is delayed by `slow`.
    pub pslow: f64,
    pub slow: Duration,
    /// Added to every response.
    pub latency: Duration,
}

pub struct FakeConfig {
    pub seed: u64,
    pub scale: Scale,
    pub access_key: String,
    pub app_secret: String,
    /// 0 = ephemeral; the fake always binds 127.0.0.1.
    pub port: u16,
    pub faults: Faults,
    /// A request beyond N admitted in the trailing second gets 429 with `Retry-After: 1`.
    pub rate_limit_rps: Option<u32>,
    /// Rejects (401) tokens whose `iat` is older than this (real clock).
    pub token_max_age: Option<Duration>,
    pub empty_page: EmptyPage,
    /// The API's clock at start-up (real time when `None`); it runs on from there. A fixed
    /// epoch with a fixed seed serves the same data every time, as fixtures need.
    pub epoch: Option<DateTime<Utc>>,
    /// Where the docs allow two behaviours, which one to serve (the default fake's otherwise).
    pub variants: Variants,
}

impl Default for FakeConfig {
    fn default() -> FakeConfig {
        FakeConfig {
            seed: 1,
            scale: Scale::default(),
            access_key: "64a1f0c2e4b0a1b2c3d4e5f6".into(),
            app_secret: "fake-app-secret-0123456789abcdef".into(),
            port: 0,
            faults: Faults::default(),
            rate_limit_rps: None,
            token_max_age: None,
            empty_page: EmptyPage::Null,
            epoch: None,
            variants: Variants::default(),
        }
    }
}

/// A canned answer for requests under a path prefix.
#[derive(Clone, Debug)]
pub enum Override {
    Status {
        status: u16,
        body: String,
        retry_after: Option<String>,
    },
    /// 200 with this raw body.
    Body(String),
    /// Close the connection without answering.
    Drop,
}

/// One request as the fake saw it.
#[derive(Clone, Debug)]
pub struct RequestRecord {
    pub at: Instant,
    pub path: String,
    pub query: String,
    /// 0 when the connection was dropped.
    pub status: u16,
    /// `rooms`, `sessions`, `active_room_peers`, `templates`, `recordings`,
    /// `recording_assets`, `analytics_events`, `peer_quality_stats`, `webhook_events` or
    /// `other`.
    pub route: &'static str,
}

/// The largest number of requests inside any sliding one-second window.
pub fn max_requests_in_any_second(reqs: &[RequestRecord]) -> usize {
    let mut at: Vec<Instant> = reqs.iter().map(|r| r.at).collect();
    at.sort_unstable();
    let (mut best, mut lo) = (0, 0);
    for hi in 0..at.len() {
        while at[hi].duration_since(at[lo]) >= Duration::from_secs(1) {
            lo += 1;
        }
        best = best.max(hi - lo + 1);
    }
    best
}

pub(crate) struct OverrideRule {
    pub prefix: String,
    pub answer: Override,
    pub remaining: Option<usize>,
}

/// State shared by the handle and the server thread.
pub(crate) struct Shared {
    pub data: RwLock<Data>,
    pub scale: Scale,
    pub clock_offset_ns: AtomicI64,
    pub access_key: String,
    pub app_secret: String,
    pub token_max_age: Option<Duration>,
    pub empty_page: EmptyPage,
    pub faults: Mutex<Faults>,
    pub fault_rng: Mutex<Rng>,
    pub rate_limit: Mutex<(Option<u32>, VecDeque<Instant>)>,
    pub overrides: Mutex<Vec<OverrideRule>>,
    pub log: Mutex<Vec<RequestRecord>>,
    pub shutdown: Notify,
    pub token_key: u64,
    pub jti_seq: AtomicU64,
}

impl Shared {
    /// The fake's clock, in nanoseconds since the epoch.
    pub(crate) fn now_ns(&self) -> i64 {
        ts::from_datetime(Utc::now()) + self.clock_offset_ns.load(Ordering::Relaxed)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A running fake. Dropping it stops the server.
pub struct FakeApi {
    shared: Arc<Shared>,
    addr: SocketAddr,
    thread: Option<JoinHandle<()>>,
}

impl FakeApi {
    /// Generates the data, starts the server on its own thread and returns once it listens.
    pub fn start(cfg: FakeConfig) -> FakeApi {
        let real_now = ts::from_datetime(Utc::now());
        let now = cfg.epoch.map_or(real_now, ts::from_datetime);
        let mut data = Data::generate(cfg.seed, &cfg.scale, now);
        data.set_variants(cfg.variants);
        let shared = Arc::new(Shared {
            data: RwLock::new(data),
            scale: cfg.scale.clone(),
            clock_offset_ns: AtomicI64::new(now - real_now),
            access_key: cfg.access_key,
            app_secret: cfg.app_secret,
            token_max_age: cfg.token_max_age,
            empty_page: cfg.empty_page,
            faults: Mutex::new(cfg.faults),
            fault_rng: Mutex::new(Rng::new(cfg.seed ^ 0xFA17)),
            rate_limit: Mutex::new((cfg.rate_limit_rps, VecDeque::new())),
            overrides: Mutex::new(Vec::new()),
            log: Mutex::new(Vec::new()),
            shutdown: Notify::new(),
            token_key: rng::mix(cfg.seed ^ 0x70CE),
            jti_seq: AtomicU64::new(0),
        });
        let listener = std::net::TcpListener::bind(("127.0.0.1", cfg.port))
            .unwrap_or_else(|e| panic!("fake-100ms: cannot bind 127.0.0.1:{}: {e}", cfg.port));
        let addr = listener.local_addr().expect("local addr");
        listener.set_nonblocking(true).expect("nonblocking");
        let sh = shared.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("fake-100ms".into())
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("tokio runtime");
                rt.block_on(async move {
                    let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                    let _ = tx.send(());
                    server::serve(listener, sh).await;
                });
            })
            .expect("spawn fake-100ms thread");
        rx.recv().expect("fake-100ms server thread failed to start");
        FakeApi {
            shared,
            addr,
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:PORT/v2`
    pub fn base_url(&self) -> String {
        format!("http://{}/v2", self.addr)
    }

    pub fn access_key(&self) -> &str {
        &self.shared.access_key
    }

    pub fn app_secret(&self) -> &str {
        &self.shared.app_secret
    }

    /// A valid management token (iat = now − 10 s, exp = now + ttl). A zero `ttl` gives a
    /// token that expired an hour ago. The server allows 30 s of leeway on `exp`.
    pub fn mint_token(&self, ttl: Duration) -> String {
        let n = self.shared.jti_seq.fetch_add(1, Ordering::Relaxed);
        let jti = rng::uuid_str(Rng::new(n ^ self.shared.token_key).uuid());
        auth::mint(&self.shared.access_key, &self.shared.app_secret, ttl, jti)
    }

    /// The fake's clock (real time plus everything passed to [`FakeApi::advance_clock`]).
    pub fn now(&self) -> DateTime<Utc> {
        ts::to_datetime(self.shared.now_ns())
    }

    pub fn advance_clock(&self, by: Duration) {
        self.shared
            .clock_offset_ns
            .fetch_add(by.as_nanos() as i64, Ordering::Relaxed);
    }

    pub fn set_faults(&self, f: Faults) {
        *lock(&self.shared.faults) = f;
    }

    pub fn set_rate_limit(&self, rps: Option<u32>) {
        let mut rl = lock(&self.shared.rate_limit);
        rl.0 = rps;
        rl.1.clear();
    }

    /// Requests whose path starts with `path_prefix` get `o`, `times` times (None = forever).
    /// Checked after authentication; the most recently set matching rule wins.
    pub fn set_override(&self, path_prefix: &str, o: Override, times: Option<usize>) {
        lock(&self.shared.overrides).push(OverrideRule {
            prefix: path_prefix.to_string(),
            answer: o,
            remaining: times,
        });
    }

    pub fn clear_overrides(&self) {
        lock(&self.shared.overrides).clear();
    }

    /// Primary keys of every record a correct full sync emits, per stream
    /// (`peer_quality_stats`: `session_id|peer_id` of every ended session, whatever the
    /// connector's day limit).
    pub fn expected_keys(&self, stream: &str) -> BTreeSet<String> {
        let now = self.shared.now_ns();
        let data = self.data();
        match stream {
            "peer_quality_stats" => quality::stats_keys(&data, now).into_iter().collect(),
            "webhook_events" => quality::webhooks_kept(&data, now)
                .iter()
                .map(|e| quality::delivery_id(&data, e))
                .collect(),
            _ => data.expected_keys(stream, now),
        }
    }

    /// The API objects as the API serves them (lists newest first; events per room, ascending).
    pub fn raw(&self, stream: &str) -> Vec<serde_json::Value> {
        let now = self.shared.now_ns();
        let data = self.data();
        match stream {
            "peer_quality_stats" => quality::stats_raw(&data, now),
            "webhook_events" => quality::webhooks_kept(&data, now)
                .iter()
                .map(|e| quality::delivery_json(&data, e))
                .collect(),
            _ => data.raw(stream, now),
        }
    }

    /// Simulates activity at [`FakeApi::now`]; returns the keys of new or changed records.
    pub fn apply_changes(&self, fraction: f64) -> BTreeMap<String, BTreeSet<String>> {
        let now = self.shared.now_ns();
        self.with_derived(|d| d.apply_changes(fraction, now, &self.shared.scale))
    }

    /// Adds `n` events to the live sessions, just before [`FakeApi::now`]; returns their ids.
    pub fn add_live_events(&self, n: usize) -> BTreeSet<String> {
        let now = self.shared.now_ns();
        self.data_mut().add_live_events(n, now)
    }

    /// Adds `n` join failures of no session in a room with no live session; returns their ids.
    pub fn add_join_failures(&self, n: usize) -> BTreeSet<String> {
        let now = self.shared.now_ns();
        self.data_mut().add_join_failures(n, now)
    }

    /// Adds sessions, recordings and assets created up to ten minutes ago that the API lists
    /// only `hidden` from now (and a completed recording with one late asset); returns the keys
    /// of what is new or changed, per stream.
    pub fn add_late_arrivals(&self, hidden: Duration) -> BTreeMap<String, BTreeSet<String>> {
        let now = self.shared.now_ns();
        let scale = self.shared.scale.clone();
        self.with_derived(|d| d.add_late_arrivals(now, hidden.as_nanos() as i64, &scale))
    }

    /// Runs a change of the data, adding to what it reports the records of the streams derived
    /// from the data (peer stats, webhook deliveries) that it made new.
    fn with_derived(
        &self,
        change: impl FnOnce(&mut Data) -> BTreeMap<String, BTreeSet<String>>,
    ) -> BTreeMap<String, BTreeSet<String>> {
        const DERIVED: [&str; 2] = ["peer_quality_stats", "webhook_events"];
        let before: Vec<BTreeSet<String>> = DERIVED.iter().map(|s| self.expected_keys(s)).collect();
        let mut changed = change(&mut self.data_mut());
        for (stream, before) in DERIVED.iter().zip(before) {
            let new: BTreeSet<String> = self
                .expected_keys(stream)
                .difference(&before)
                .cloned()
                .collect();
            if !new.is_empty() {
                changed.entry((*stream).to_owned()).or_default().extend(new);
            }
        }
        changed
    }

    fn data_mut(&self) -> std::sync::RwLockWriteGuard<'_, Data> {
        self.shared.data.write().unwrap_or_else(|e| e.into_inner())
    }

    /// The customer secrets the data carries under [`Variants::storage_credentials`]
    /// (none otherwise): no connector output may contain any of them.
    pub fn planted_secrets(&self) -> Vec<String> {
        self.data().planted_secrets()
    }

    /// Every request seen (since the last [`FakeApi::reset_requests`]), in order.
    pub fn requests(&self) -> Vec<RequestRecord> {
        lock(&self.shared.log).clone()
    }

    pub fn reset_requests(&self) {
        lock(&self.shared.log).clear();
    }

    fn data(&self) -> std::sync::RwLockReadGuard<'_, Data> {
        self.shared.data.read().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for FakeApi {
    fn drop(&mut self) {
        self.shared.shutdown.notify_one();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
