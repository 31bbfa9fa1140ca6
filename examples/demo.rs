//! The demo: a full sync of every stream against the project's fake 100ms API, with a summary.
//!
//! `cargo run --release --example demo` builds the connector, starts the fake API on loopback,
//! runs `check`, `discover` and `read` exactly as an orchestrator would, writes the raw messages
//! to `out/demo/`, and prints what came out. No credentials, nothing to install.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use fake_100ms::{FakeApi, FakeConfig};
use serde_json::{json, Value};

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let built = Command::new(cargo)
        .args(["build", "--release", "--quiet", "--bin", "source-100ms"])
        .current_dir(root)
        .status()
        .expect("run cargo build");
    assert!(built.success(), "building the connector failed");
    let binary = root.join("target/release/source-100ms");

    let fake = FakeApi::start(FakeConfig::default());
    let out = root.join("out/demo");
    std::fs::create_dir_all(&out).expect("create out/demo");
    let config = json!({
        "credentials": {"auth_type": "app_credentials", "app_access_key": fake.access_key(), "app_secret": fake.app_secret()},
        "start_date": (fake.now() - chrono::Duration::days(60)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "api_base_url": fake.base_url(),
    });
    let config_path = write(&out, "config.json", &config);
    println!("fake 100ms API at {}", fake.base_url());

    let check = run(
        &binary,
        &["check", "--config", path(&config_path)],
        &out.join("check.jsonl"),
    );
    let status = check
        .iter()
        .find(|m| m["type"] == "CONNECTION_STATUS")
        .map(|m| m["connectionStatus"]["status"].clone());
    println!("check:    {}", status.unwrap_or(Value::Null));

    let discover = run(
        &binary,
        &["discover", "--config", path(&config_path)],
        &out.join("discover.jsonl"),
    );
    let streams: Vec<String> = discover
        .iter()
        .find(|m| m["type"] == "CATALOG")
        .map(|m| {
            m["catalog"]["streams"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s["name"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default();
    println!("discover: {} streams", streams.len());

    let catalog = json!({"streams": streams.iter().map(|name| json!({
        "stream": {"name": name, "json_schema": {}, "supported_sync_modes": ["full_refresh"]},
        "sync_mode": "full_refresh", "destination_sync_mode": "overwrite"})).collect::<Vec<_>>()});
    let catalog_path = write(&out, "catalog.json", &catalog);
    let started = std::time::Instant::now();
    let read = run(
        &binary,
        &[
            "read",
            "--config",
            path(&config_path),
            "--catalog",
            path(&catalog_path),
        ],
        &out.join("read.jsonl"),
    );
    let took = started.elapsed();

    let mut records: BTreeMap<&str, usize> = BTreeMap::new();
    for m in read.iter().filter(|m| m["type"] == "RECORD") {
        *records
            .entry(m["record"]["stream"].as_str().unwrap())
            .or_default() += 1;
    }
    // The connector closes a read with one line per stream: "name: N records, M requests, …".
    let mut summary: BTreeMap<String, (String, String)> = BTreeMap::new();
    for m in read.iter().filter(|m| m["type"] == "LOG") {
        let line = m["log"]["message"].as_str().unwrap_or_default();
        if let Some((name, rest)) = line.split_once(": ") {
            let parts: Vec<&str> = rest.split(", ").collect();
            if parts.len() == 4 && parts[1].ends_with(" requests") {
                summary.insert(
                    name.to_owned(),
                    (
                        parts[1].trim_end_matches(" requests").to_owned(),
                        parts[3].to_owned(),
                    ),
                );
            }
        }
    }
    let errors: Vec<&Value> = read
        .iter()
        .filter(|m| m["type"] == "TRACE" && m["trace"]["type"] == "ERROR")
        .collect();

    println!();
    println!(
        "{:<24}{:>9}{:>10}{:>9}",
        "stream", "records", "requests", "time"
    );
    for name in &streams {
        let (requests, secs) = summary.get(name).cloned().unwrap_or_default();
        println!(
            "{name:<24}{:>9}{requests:>10}{secs:>9}",
            records.get(name.as_str()).copied().unwrap_or(0)
        );
    }
    let total: usize = records.values().sum();
    println!(
        "{:<24}{total:>9}{:>10}{:>8.1}s",
        "total",
        fake.requests().len(),
        took.as_secs_f64()
    );
    println!();
    call_quality(&read);
    println!("errors: {}", errors.len());
    println!("raw messages: {}", out.display());
    if !errors.is_empty() {
        std::process::exit(1);
    }
}

/// What the two quality streams tell: how many calls had bad video, and what the webhook log
/// holds.
fn call_quality(read: &[Value]) {
    let data = |stream: &str| -> Vec<&Value> {
        read.iter()
            .filter(|m| m["type"] == "RECORD" && m["record"]["stream"] == stream)
            .map(|m| &m["record"]["data"])
            .collect()
    };
    let stats = data("peer_quality_stats");
    let lossy = stats
        .iter()
        .filter(|r| {
            r["summary"]["subscriber"]["video"]["packet_loss_percent_mean"]
                .as_f64()
                .is_some_and(|loss| loss > 5.0)
        })
        .count();
    println!(
        "call quality: {lossy} of {} peers saw over 5 % packet loss on the video they received",
        stats.len()
    );
    let mut events: BTreeMap<&str, usize> = BTreeMap::new();
    for e in data("webhook_events") {
        *events
            .entry(e["event_name"].as_str().unwrap_or("?"))
            .or_default() += 1;
    }
    println!("webhook log:  {events:?}");
    println!();
}

fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

fn write(dir: &Path, name: &str, value: &Value) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_string_pretty(value).unwrap()).expect("write");
    path
}

/// Runs the connector, keeps its stdout in `keep`, and returns the parsed messages.
fn run(binary: &Path, args: &[&str], keep: &Path) -> Vec<Value> {
    let output = Command::new(binary)
        .args(args)
        .output()
        .expect("run the connector");
    std::fs::write(keep, &output.stdout).expect("write output");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}
