//! `fake-100ms`: serves the fake 100ms API and prints a ready-to-use connector config.

use std::time::Duration;

use clap::Parser;
use fake_100ms::{FakeApi, FakeConfig, Faults, Scale, Variants};

/// A local fake of the 100ms REST API v2.
#[derive(Parser)]
#[command(name = "fake-100ms", version)]
struct Args {
    /// Port to listen on (127.0.0.1); 0 picks a free one.
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// Seed of the generated data.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Multiplies the default data set size.
    #[arg(long, default_value_t = 1.0)]
    scale: f64,
    /// Latency added to every response, in milliseconds.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Probability of a random 429.
    #[arg(long, default_value_t = 0.0)]
    p429: f64,
    /// Probability of a random 500/502/503.
    #[arg(long, default_value_t = 0.0)]
    p5xx: f64,
    /// Server-side limit: requests beyond N per trailing second get 429.
    #[arg(long)]
    rate_limit_rps: Option<u32>,
    /// The API's clock at start-up (RFC 3339); with a fixed seed, the same data every run.
    #[arg(long)]
    epoch: Option<chrono::DateTime<chrono::Utc>>,
    /// Moves the API's clock this many seconds past the generated data, so none of it is
    /// within a connector's safety margin of "now" (the printed counts are then exact for an
    /// incremental first read too).
    #[arg(long, default_value_t = 0)]
    settle_secs: u64,
    /// Doc variant: the sessions list takes `limit` 10–20 only (400 above).
    #[arg(long)]
    sessions_limit_max_20: bool,
    /// Doc variant: an unfiltered sessions list returns active sessions only.
    #[arg(long)]
    sessions_active_by_default: bool,
    /// Doc variant: session and live peers carry their id only as the map key.
    #[arg(long)]
    peers_keyed_only: bool,
    /// Doc variant: rooms and templates carry storage credentials (secrets included).
    #[arg(long)]
    storage_credentials: bool,
    /// Every doc variant at once.
    #[arg(long)]
    all_variants: bool,
}

impl Args {
    fn variants(&self) -> Variants {
        if self.all_variants {
            return Variants::all();
        }
        Variants {
            sessions_limit_max_20: self.sessions_limit_max_20,
            sessions_active_by_default: self.sessions_active_by_default,
            peers_keyed_only: self.peers_keyed_only,
            storage_credentials: self.storage_credentials,
        }
    }
}

fn main() {
    let args = Args::parse();
    let api = FakeApi::start(FakeConfig {
        seed: args.seed,
        scale: Scale::times(args.scale),
        port: args.port,
        faults: Faults {
            p429: args.p429,
            retry_after_share: 0.5,
            p5xx: args.p5xx,
            latency: Duration::from_millis(args.latency_ms),
            ..Faults::default()
        },
        rate_limit_rps: args.rate_limit_rps,
        epoch: args.epoch,
        variants: args.variants(),
        ..FakeConfig::default()
    });
    // Before all the generated data (it spans the last 90 days).
    api.advance_clock(Duration::from_secs(args.settle_secs));
    let start = api.now() - chrono::Duration::days(91);
    let config = serde_json::json!({
        "credentials": {
            "auth_type": "app_credentials",
            "app_access_key": api.access_key(),
            "app_secret": api.app_secret(),
        },
        "start_date": start.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        "api_base_url": api.base_url(),
        // Peer stats of every ended session (they span 25 days), as the counts below assume.
        "peer_quality_stats_days": 30,
    });
    println!("{config}");
    // The ground truth, for tests in other languages: records per stream.
    let streams = [
        "sessions",
        "rooms",
        "active_room_peers",
        "templates",
        "template_settings",
        "template_destinations",
        "analytics_events",
        "recordings",
        "recording_assets",
        "peer_quality_stats",
        "webhook_events",
    ];
    let counts: serde_json::Map<String, serde_json::Value> = streams
        .iter()
        .map(|s| (s.to_string(), api.expected_keys(s).len().into()))
        .collect();
    println!("{}", serde_json::json!({ "expected_records": counts }));
    // Serve until a signal's default action ends the process.
    loop {
        std::thread::park();
    }
}
