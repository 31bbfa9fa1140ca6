//! Benchmarks of whole syncs: the release binary against the fake 100ms API over loopback.
//!
//! `cargo bench --bench sync` runs every section; name sections to run some
//! (`cargo bench --bench sync -- cpu memory latency rate requests hourly busy startup peer`). Each figure is
//! the median of a few runs, and each bound is measured in the same run as what it bounds; the
//! tables are what `BENCHMARKS.md` records.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use fake_100ms::{FakeApi, FakeConfig, Faults, Scale};
use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_source-100ms");
const RUNS: usize = 3;
/// Every stream, as `discover` lists them.
const STREAMS: [&str; 9] = [
    "sessions",
    "rooms",
    "active_room_peers",
    "templates",
    "template_settings",
    "template_destinations",
    "analytics_events",
    "recordings",
    "recording_assets",
];

/// What one run of the connector cost.
#[derive(Clone, Copy, Debug, Default)]
struct Cost {
    wall: Duration,
    cpu: Duration,
    peak_rss_kib: u64,
    records: u64,
}

/// `getrusage`'s record, as Linux lays it out on 64-bit targets.
#[repr(C)]
#[derive(Default)]
struct Rusage {
    utime: [i64; 2],
    stime: [i64; 2],
    maxrss: i64,
    rest: [i64; 13],
}

extern "C" {
    /// Waits for one child and reports what it used: the only way to read a child's peak RSS
    /// after it exits, without a dependency for one call.
    fn wait4(pid: i32, status: *mut i32, options: i32, usage: *mut Rusage) -> i32;
    fn waitid(idtype: u32, id: u32, info: *mut u8, options: i32) -> i32;
    fn getrusage(who: i32, usage: *mut Rusage) -> i32;
}

/// CPU this process (the fake API, serving) has used so far.
fn own_cpu() -> Duration {
    let mut usage = Rusage::default();
    // SAFETY: RUSAGE_SELF = 0; `usage` is valid for writes.
    unsafe { getrusage(0, &mut usage) };
    seconds(usage.utime) + seconds(usage.stime)
}

/// Reaps `child`, returning its exit status, what CPU it used and its peak RSS in KiB.
///
/// The peak comes from polling `VmHWM` (the kernel's high-water mark, which only grows): the
/// `ru_maxrss` that `wait4` reports would be the parent's, since the child was spawned by a
/// vfork that shares the parent's memory until `exec`.
fn wait_with_usage(child: std::process::Child) -> (i32, Rusage, u64) {
    let pid = child.id() as i32;
    let status_file = format!("/proc/{pid}/status");
    let peak = std::thread::spawn(move || {
        let mut peak = 0;
        // The file stays readable until the child is reaped, which happens after this ends.
        while let Ok(text) = std::fs::read_to_string(&status_file) {
            let Some(hwm) = text.lines().find_map(|l| l.strip_prefix("VmHWM:")) else {
                break; // a zombie: the process has exited
            };
            let kib: u64 = hwm
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse()
                .unwrap_or(0);
            peak = peak.max(kib);
            std::thread::sleep(Duration::from_millis(10));
        }
        peak
    });
    let (mut status, mut usage) = (0, Rusage::default());
    // Wait for the exit without reaping, so the poller sees the last VmHWM; then reap.
    let mut info = [0u64; 16];
    // SAFETY: P_PID = 1, WEXITED | WNOWAIT; `info` is a large enough siginfo_t buffer.
    unsafe { waitid(1, pid as u32, info.as_mut_ptr().cast(), 4 | 0x0100_0000) };
    let peak = peak.join().unwrap();
    // SAFETY: the pid is our own unreaped child; `status` and `usage` are valid for writes.
    let waited = unsafe { wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(waited, pid, "wait4 failed");
    (status, usage, peak)
}

fn seconds(tv: [i64; 2]) -> Duration {
    Duration::from_secs(tv[0] as u64) + Duration::from_micros(tv[1] as u64)
}

struct Bench {
    fake: FakeApi,
    dir: PathBuf,
}

impl Bench {
    fn new(config: FakeConfig) -> Bench {
        let dir = std::env::temp_dir().join(format!("source-100ms-bench-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let fake = FakeApi::start(config);
        fake.advance_clock(Duration::from_secs(300));
        Bench { fake, dir }
    }

    fn config(&self, extra: Value) -> Value {
        let mut config = json!({
            "credentials": {"auth_type": "app_credentials", "app_access_key": self.fake.access_key(), "app_secret": self.fake.app_secret()},
            "start_date": (self.fake.now() - chrono::Duration::days(91)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "api_base_url": self.fake.base_url(),
            "requests_per_second": 100000.0,
            "max_concurrent_requests": 8,
        });
        for (k, v) in extra.as_object().unwrap() {
            config[k] = v.clone();
        }
        config
    }

    fn write(&self, name: &str, value: &Value) -> String {
        let path = self.dir.join(name);
        std::fs::write(&path, value.to_string()).unwrap();
        path.to_str().unwrap().to_owned()
    }

    /// One `read`; stdout is counted (records) and the last state kept, off the child's CPU.
    fn read(
        &self,
        config: &Value,
        streams: &[&str],
        mode: &str,
        state: Option<&Value>,
    ) -> (Cost, Value) {
        let catalog = json!({"streams": streams.iter().map(|s| json!({
            "stream": {"name": s, "json_schema": {}, "supported_sync_modes": ["full_refresh", "incremental"]},
            "sync_mode": mode, "destination_sync_mode": "append"})).collect::<Vec<_>>()});
        let mut args = vec![
            "read".to_owned(),
            "--config".into(),
            self.write("config.json", config),
            "--catalog".into(),
            self.write("catalog.json", &catalog),
        ];
        if let Some(state) = state {
            args.extend(["--state".into(), self.write("state.json", state)]);
        }
        let started = Instant::now();
        let mut child = Command::new(BIN)
            .args(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            let (mut records, mut states) = (0u64, BTreeMap::<String, Value>::new());
            for line in BufReader::with_capacity(1 << 20, stdout).lines() {
                let line = line.unwrap();
                if line.starts_with("{\"type\":\"RECORD\"") {
                    records += 1;
                } else if line.starts_with("{\"type\":\"STATE\"") {
                    let m: Value = serde_json::from_str(&line).unwrap();
                    let name = m["state"]["stream"]["stream_descriptor"]["name"]
                        .as_str()
                        .unwrap()
                        .to_owned();
                    states.insert(name, m["state"].clone());
                }
            }
            (records, Value::Array(states.into_values().collect()))
        });
        let (status, usage, peak_rss_kib) = wait_with_usage(child);
        let wall = started.elapsed();
        assert_eq!(status, 0, "the connector failed: {args:?}");
        let (records, state) = reader.join().unwrap();
        let cost = Cost {
            wall,
            cpu: seconds(usage.utime) + seconds(usage.stime),
            peak_rss_kib,
            records,
        };
        (cost, state)
    }

    fn median_read(&self, config: &Value, streams: &[&str]) -> Cost {
        let mut runs: Vec<Cost> = (0..RUNS)
            .map(|_| self.read(config, streams, "full_refresh", None).0)
            .collect();
        runs.sort_by_key(|c| c.wall);
        runs[RUNS / 2]
    }

    fn requests(&self) -> BTreeMap<String, u64> {
        let mut per_stream = BTreeMap::new();
        for r in self.fake.requests() {
            *per_stream.entry(r.route.to_owned()).or_insert(0) += 1;
        }
        self.fake.reset_requests();
        per_stream
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The work no connector can avoid: parse the API's pages, serialise the RECORD lines.
fn physical_limit(fake: &FakeApi, stream: &str) -> (Duration, u64) {
    let items = fake.raw(stream);
    let pages: Vec<Vec<u8>> = items
        .chunks(100)
        .map(|page| serde_json::to_vec(&json!({"limit": 100, "data": page, "last": "x"})).unwrap())
        .collect();
    let mut best = Duration::MAX;
    for _ in 0..RUNS {
        let started = Instant::now();
        let mut out = std::io::BufWriter::with_capacity(256 << 10, std::io::sink());
        for bytes in &pages {
            let page: Value = serde_json::from_slice(bytes).unwrap();
            for data in page["data"].as_array().unwrap() {
                let line = json!({"type": "RECORD", "record": {"stream": stream, "data": data, "emitted_at": 0}});
                serde_json::to_writer(&mut out, &line).unwrap();
                out.write_all(b"\n").unwrap();
            }
        }
        out.flush().unwrap();
        best = best.min(started.elapsed());
    }
    (best, items.len() as u64)
}

fn cpu(scale: f64) {
    println!("\n## CPU-bound: Scale::times({scale}), no latency, no rate limit\n");
    let bench = Bench::new(FakeConfig {
        scale: Scale::times(scale),
        ..FakeConfig::default()
    });
    println!("| stream | records | wall ms | records/s | CPU s per 100k | limit CPU s per 100k | ratio | fake + reader CPU s per 100k |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    let config = bench.config(json!({}));
    for stream in ["sessions", "analytics_events", "recordings", "rooms"] {
        let fake_before = own_cpu();
        let cost = bench.median_read(&config, &[stream]);
        let fake_cpu = (own_cpu() - fake_before) / RUNS as u32;
        let (mut limit, n) = physical_limit(&bench.fake, stream);
        if stream == "recordings" {
            // Each recording carries its assets, read from their own listing.
            limit += physical_limit(&bench.fake, "recording_assets").0;
        }
        let per_100k = |d: Duration, n: u64| d.as_secs_f64() * 100_000.0 / n as f64;
        println!(
            "| {stream} | {} | {:.0} | {:.0} | {:.3} | {:.3} | {:.2}× | {:.3} |",
            cost.records,
            ms(cost.wall),
            cost.records as f64 / cost.wall.as_secs_f64(),
            per_100k(cost.cpu, cost.records),
            per_100k(limit, n),
            per_100k(cost.cpu, cost.records) / per_100k(limit, n),
            per_100k(fake_cpu, cost.records),
        );
    }
    let all = bench.median_read(&config, &STREAMS);
    println!(
        "| every stream | {} | {:.0} | {:.0} | {:.3} | | |",
        all.records,
        ms(all.wall),
        all.records as f64 / all.wall.as_secs_f64(),
        all.cpu.as_secs_f64() * 100_000.0 / all.records as f64
    );
}

fn memory() {
    println!("\n## Peak RSS of the connector, every stream\n");
    println!("| data | records | peak RSS MiB |");
    println!("|---|---:|---:|");
    let mut peaks = Vec::new();
    for scale in [7.0, 70.0] {
        let bench = Bench::new(FakeConfig {
            scale: Scale::times(scale),
            ..FakeConfig::default()
        });
        let config = bench.config(json!({}));
        let cost = bench.median_read(
            &config,
            &[
                "sessions",
                "analytics_events",
                "recordings",
                "recording_assets",
                "rooms",
            ],
        );
        println!(
            "| Scale::times({scale}) | {} | {:.1} |",
            cost.records,
            cost.peak_rss_kib as f64 / 1024.0
        );
        peaks.push(cost.peak_rss_kib as f64);
    }
    println!(
        "\n10× the data uses {:.2}× the memory.",
        peaks[1] / peaks[0]
    );
}

fn latency() {
    println!("\n## Latency-bound: 50 ms a request, no rate limit, 8 concurrent requests\n");
    let bench = Bench::new(FakeConfig {
        scale: Scale::times(5.0),
        faults: Faults {
            latency: Duration::from_millis(50),
            ..Faults::default()
        },
        ..FakeConfig::default()
    });
    println!("| streams | requests | wall s | bound s | ratio |");
    println!("|---|---:|---:|---:|---:|");
    let config = bench.config(json!({"max_concurrent_requests": 8}));
    for (label, streams, concurrent) in [
        ("sessions (one newest-first list)", &["sessions"][..], 1.0),
        (
            "analytics_events (300 rooms)",
            &["analytics_events"][..],
            8.0,
        ),
        ("every stream", &STREAMS[..], 8.0),
    ] {
        bench.fake.reset_requests();
        let cost = bench.read(&config, streams, "full_refresh", None).0;
        let requests: u64 = bench.requests().values().sum();
        let bound = requests as f64 / concurrent * 0.05;
        println!(
            "| {label} | {requests} | {:.2} | {bound:.2} | {:.2}× |",
            cost.wall.as_secs_f64(),
            cost.wall.as_secs_f64() / bound
        );
    }
}

fn rate() {
    println!("\n## Rate-bound: requests_per_second R, work of N requests\n");
    let bench = Bench::new(FakeConfig::default());
    println!("| R | N | wall s | N ÷ R s | ratio |");
    println!("|---:|---:|---:|---:|---:|");
    for r in [20.0, 50.0] {
        let config = bench.config(json!({"requests_per_second": r}));
        bench.fake.reset_requests();
        let cost = bench
            .read(
                &config,
                &["analytics_events", "sessions"],
                "full_refresh",
                None,
            )
            .0;
        let n: u64 = bench.requests().values().sum();
        let bound = n as f64 / r;
        println!(
            "| {r} | {n} | {:.2} | {bound:.2} | {:.2}× |",
            cost.wall.as_secs_f64(),
            cost.wall.as_secs_f64() / bound
        );
    }
}

fn requests() {
    println!("\n## Requests per stream, default scale\n");
    let bench = Bench::new(FakeConfig::default());
    let config = bench.config(json!({}));
    let streams = STREAMS;
    bench.fake.reset_requests();
    let mut full = BTreeMap::new();
    for s in streams {
        bench.read(&config, &[s], "full_refresh", None);
        full.insert(s, bench.requests().values().sum::<u64>());
    }
    let mut first = BTreeMap::new();
    let mut second = BTreeMap::new();
    for s in streams {
        let (_, state) = bench.read(&config, &[s], "incremental", None);
        first.insert(s, bench.requests().values().sum::<u64>());
        bench.read(&config, &[s], "incremental", Some(&state));
        second.insert(s, bench.requests().values().sum::<u64>());
    }
    println!("| stream | records | full refresh | first incremental | nothing new |");
    println!("|---|---:|---:|---:|---:|");
    for s in streams {
        println!(
            "| {s} | {} | {} | {} | {} |",
            bench.fake.expected_keys(s).len(),
            full[s],
            first[s],
            second[s]
        );
    }
}

/// An hourly incremental sync of every stream at the default scale: the first, one an hour
/// later with 1% new, and one with nothing new. Requests per endpoint, as the fake saw them.
fn hourly() {
    println!("\n## An hourly sync, default scale (requests per endpoint)\n");
    let bench = Bench::new(FakeConfig::default());
    let config = bench.config(json!({}));
    let streams = STREAMS;
    bench.fake.reset_requests();
    let (_, state) = bench.read(&config, &streams, "incremental", None);
    let first = bench.requests();
    bench.fake.apply_changes(0.01);
    bench.fake.advance_clock(Duration::from_secs(3600));
    let (_, state) = bench.read(&config, &streams, "incremental", Some(&state));
    let changed = bench.requests();
    bench.fake.advance_clock(Duration::from_secs(3600));
    bench.read(&config, &streams, "incremental", Some(&state));
    let quiet = bench.requests();
    println!("| endpoint | first sync | an hour later, 1% new | an hour later, nothing new |");
    println!("|---|---:|---:|---:|");
    let get = |m: &BTreeMap<String, u64>, k: &str| m.get(k).copied().unwrap_or(0);
    for route in first.keys() {
        println!(
            "| {route} | {} | {} | {} |",
            get(&first, route),
            get(&changed, route),
            get(&quiet, route)
        );
    }
}

/// Few rooms, 100,000 events, most in two live sessions: analytics requests of three syncs
/// against the floor (one request per 100 events of each session that can have new events),
/// the events emitted again, and the time.
fn busy() {
    println!("\n## Busy rooms: analytics requests against the floor\n");
    let bench = Bench::new(FakeConfig {
        scale: Scale::busy_rooms(),
        ..FakeConfig::default()
    });
    let config = bench.config(json!({}));
    let stream = ["analytics_events"];
    let floor = |fake: &FakeApi| -> u64 {
        let now = fake.now();
        let mut per_session: BTreeMap<String, u64> = BTreeMap::new();
        for e in fake.raw("analytics_events") {
            if let Some(s) = e["data"]["session_id"].as_str() {
                *per_session.entry(s.to_owned()).or_default() += 1;
            }
        }
        fake.raw("sessions")
            .iter()
            .filter(|s| {
                let updated = s["updated_at"]
                    .as_str()
                    .and_then(|t| t.parse::<chrono::DateTime<chrono::Utc>>().ok());
                s["active"] == true
                    || updated.is_some_and(|u| u >= now - chrono::Duration::minutes(16))
            })
            .map(|s| {
                per_session
                    .get(s["id"].as_str().unwrap_or(""))
                    .copied()
                    .unwrap_or(0)
                    .div_ceil(100)
                    .max(1)
            })
            .sum()
    };
    bench.fake.reset_requests();
    let (first, state) = bench.read(&config, &stream, "incremental", None);
    let first_requests = get_route(&bench, "analytics_events");
    bench.fake.add_live_events(5);
    bench.fake.advance_clock(Duration::from_secs(120));
    let (second, state) = bench.read(&config, &stream, "incremental", Some(&state));
    let second_requests = get_route(&bench, "analytics_events");
    let second_floor = floor(&bench.fake);
    bench.fake.advance_clock(Duration::from_secs(60));
    let (third, _) = bench.read(&config, &stream, "incremental", Some(&state));
    let third_requests = get_route(&bench, "analytics_events");
    let third_floor = floor(&bench.fake);
    println!("| sync | events emitted | analytics requests | floor | ratio | wall s |");
    println!("|---|---:|---:|---:|---:|---:|");
    for (name, cost, requests, floor) in [
        ("1 (first)", first, first_requests, 0),
        ("2 (5 new events)", second, second_requests, second_floor),
        ("3 (nothing new)", third, third_requests, third_floor),
    ] {
        let ratio = if floor == 0 {
            "–".to_owned()
        } else {
            format!("{:.2}×", requests as f64 / floor as f64)
        };
        println!(
            "| {name} | {} | {requests} | {} | {ratio} | {:.2} |",
            cost.records,
            if floor == 0 {
                "–".to_owned()
            } else {
                floor.to_string()
            },
            cost.wall.as_secs_f64()
        );
    }
    println!(
        "\nRepeats: sync 2 emitted {} events for 5 new ones; sync 3 emitted {}.",
        second.records, third.records
    );
}

fn get_route(bench: &Bench, route: &str) -> u64 {
    bench.requests().get(route).copied().unwrap_or(0)
}

fn startup() {
    println!("\n## Start-up and size\n");
    let mut walls: Vec<Duration> = (0..11)
        .map(|_| {
            let started = Instant::now();
            let out = Command::new(BIN).arg("spec").output().unwrap();
            assert!(out.status.success());
            started.elapsed()
        })
        .collect();
    walls.sort();
    let size = std::fs::metadata(BIN).unwrap().len();
    println!(
        "`spec` wall time, median of 11: {:.1} ms; binary: {:.1} MiB (stripped, {BIN})",
        ms(walls[5]),
        size as f64 / (1 << 20) as f64
    );
}

/// The Airbyte low-code connector for 100ms, run by `source-declarative-manifest` from the
/// PyAirbyte virtual environment `.ci/packaging.sh` makes, on the same data.
fn peer() {
    println!("\n## The peer: Airbyte's low-code connector (airbyte-cdk), same data\n");
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let runner = root.join("target/pyairbyte-venv/bin/source-declarative-manifest");
    if !runner.exists() {
        println!(
            "skipped: {} is missing (run .ci/packaging.sh first)",
            runner.display()
        );
        return;
    }
    let bench = Bench::new(FakeConfig::default());
    let manifest_text =
        std::fs::read_to_string(root.join("benches/peer/source-100ms-manifest.yaml")).unwrap();
    let base = bench.fake.base_url().trim_end_matches("/v2").to_owned();
    let manifest: Value =
        serde_yaml::from_str(&manifest_text.replace("https://api.100ms.live", &base)).unwrap();
    let token = bench.fake.mint_token(Duration::from_secs(24 * 3600));
    let start = (bench.fake.now() - chrono::Duration::days(91))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let peer_config = json!({"management_token": token, "start_date": start, "__injected_declarative_manifest": manifest});
    let streams = [
        "sessions",
        "rooms",
        "templates",
        "recordings",
        "analytics_events",
    ];
    let catalog = json!({"streams": streams.iter().map(|s| json!({
        "stream": {"name": s, "json_schema": {}, "supported_sync_modes": ["full_refresh"]},
        "sync_mode": "full_refresh", "destination_sync_mode": "overwrite"})).collect::<Vec<_>>()});
    let config_path = bench.write("peer-config.json", &peer_config);
    let catalog_path = bench.write("peer-catalog.json", &catalog);
    bench.fake.reset_requests();
    let started = Instant::now();
    let mut child = Command::new(&runner)
        .args(["read", "--config", &config_path, "--catalog", &catalog_path])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut counts = BTreeMap::<String, u64>::new();
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Ok(m) = serde_json::from_str::<Value>(&line) {
                if m["type"] == "RECORD" {
                    *counts
                        .entry(m["record"]["stream"].as_str().unwrap_or("").to_owned())
                        .or_default() += 1;
                }
            }
        }
        counts
    });
    let (status, _, peer_peak_kib) = wait_with_usage(child);
    let peer_wall = started.elapsed();
    let peer_counts = reader.join().unwrap();
    let peer_requests: u64 = bench.requests().values().sum();
    let peer_records: u64 = peer_counts.values().sum();
    let config = bench.config(json!({}));
    let ours = bench.read(&config, &streams, "full_refresh", None).0;
    let our_requests: u64 = bench.requests().values().sum();
    println!("| connector | records | wall s | records/s | requests | peak RSS MiB |");
    println!("|---|---:|---:|---:|---:|---:|");
    println!("| airbyte-cdk low-code (exit status {status}) | {peer_records} | {:.2} | {:.0} | {peer_requests} | {:.0} |", peer_wall.as_secs_f64(), peer_records as f64 / peer_wall.as_secs_f64(), peer_peak_kib as f64 / 1024.0);
    println!(
        "| source-100ms | {} | {:.2} | {:.0} | {our_requests} | {:.1} |",
        ours.records,
        ours.wall.as_secs_f64(),
        ours.records as f64 / ours.wall.as_secs_f64(),
        ours.peak_rss_kib as f64 / 1024.0
    );
    println!("\nPer stream, the peer emitted: {peer_counts:?}");
}

fn main() {
    let asked: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let wants = |s: &str| asked.is_empty() || asked.iter().any(|a| a == s);
    println!(
        "# source-100ms benchmarks ({} CPUs)",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    if wants("startup") {
        startup();
    }
    if wants("requests") {
        requests();
    }
    if wants("hourly") {
        hourly();
    }
    if wants("busy") {
        busy();
    }
    if wants("rate") {
        rate();
    }
    if wants("latency") {
        latency();
    }
    if wants("cpu") {
        cpu(70.0);
    }
    if wants("memory") {
        memory();
    }
    if wants("peer") {
        peer();
    }
}
