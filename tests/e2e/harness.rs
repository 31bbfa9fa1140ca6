//! The end-to-end harness: a fake 100ms API on loopback, the real binary run against it, and
//! every line it prints checked against the Airbyte protocol before a test looks at it.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use fake_100ms::{FakeApi, FakeConfig};
use serde_json::{json, Value};

pub const BIN: &str = env!("CARGO_BIN_EXE_source-100ms");
/// No run of the binary in a test may take longer.
const RUN_TIMEOUT: Duration = Duration::from_secs(240);

/// Taken by the tests that time the connector (the rate limit) and by the heaviest one (busy
/// rooms), so that the one never measures while the other loads the two cores.
pub fn exclusive() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

pub struct Harness {
    pub fake: FakeApi,
    dir: PathBuf,
}

impl Harness {
    pub fn new(config: FakeConfig) -> Harness {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "source-100ms-e2e-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("temp dir");
        Harness {
            fake: FakeApi::start(config),
            dir,
        }
    }

    pub fn default_scale() -> Harness {
        Harness::new(FakeConfig::default())
    }

    /// A config for the fake: app credentials, a start date before all its data, no rate
    /// limit to speak of, short backoffs, peer stats of every session the fake has (its
    /// sessions span 25 days).
    pub fn config(&self) -> Value {
        json!({
            "credentials": {
                "auth_type": "app_credentials",
                "app_access_key": self.fake.access_key(),
                "app_secret": self.fake.app_secret(),
            },
            "start_date": (self.fake.now() - chrono::Duration::days(90)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "api_base_url": self.fake.base_url(),
            "requests_per_second": 1000,
            "max_concurrent_requests": 8,
            "retry_initial_backoff_secs": 0.01,
            "peer_quality_stats_days": 30,
        })
    }

    pub fn write(&self, name: &str, value: &Value) -> PathBuf {
        let path = self.dir.join(name);
        std::fs::write(&path, value.to_string()).expect("write temp file");
        path
    }

    pub fn write_text(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.join(name);
        std::fs::write(&path, text).expect("write temp file");
        path
    }

    pub fn run(&self, args: &[&str]) -> Run {
        run_binary(args, &self.secrets())
    }

    pub fn spec(&self) -> Run {
        self.run(&["spec"])
    }

    pub fn check(&self, config: &Value) -> Run {
        let path = self.write("check-config.json", config);
        self.run(&["check", "--config", path.to_str().unwrap()])
    }

    pub fn discover(&self, config: &Value) -> Run {
        let path = self.write("discover-config.json", config);
        self.run(&["discover", "--config", path.to_str().unwrap()])
    }

    pub fn read(&self, config: &Value, catalog: &Value, state: Option<&Value>) -> Run {
        let config = self.write("config.json", config);
        let catalog = self.write("catalog.json", catalog);
        let mut args = vec![
            "read".to_owned(),
            "--config".to_owned(),
            config.to_str().unwrap().to_owned(),
            "--catalog".to_owned(),
            catalog.to_str().unwrap().to_owned(),
        ];
        if let Some(state) = state {
            let state = self.write("state.json", state);
            args.extend(["--state".to_owned(), state.to_str().unwrap().to_owned()]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.run(&args)
    }

    /// Starts `read` without waiting, its stdout piped, for tests that act mid-sync.
    pub fn spawn_read(&self, config: &Value, catalog: &Value) -> std::process::Child {
        let config = self.write("spawned-config.json", config);
        let catalog = self.write("spawned-catalog.json", catalog);
        Command::new(BIN)
            .args(["read", "--config", config.to_str().unwrap()])
            .args(["--catalog", catalog.to_str().unwrap()])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the connector")
    }

    /// Credentials that must never be printed.
    pub fn secrets(&self) -> Vec<String> {
        vec![self.fake.app_secret().to_owned()]
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub const ALL_STREAMS: [&str; 11] = [
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

pub const INCREMENTAL_STREAMS: [&str; 8] = [
    "sessions",
    "rooms",
    "templates",
    "analytics_events",
    "recordings",
    "recording_assets",
    "peer_quality_stats",
    "webhook_events",
];

/// A configured catalog of `streams`, each in `mode` (as PyAirbyte builds it).
pub fn catalog(streams: &[&str], mode: &str) -> Value {
    json!({
        "streams": streams.iter().map(|name| json!({
            "stream": {"name": name, "json_schema": {}, "supported_sync_modes": ["full_refresh", "incremental"]},
            "sync_mode": mode,
            "destination_sync_mode": if mode == "incremental" { "append_dedup" } else { "overwrite" },
            "cursor_field": null,
            "primary_key": null,
            "generation_id": null, "minimum_generation_id": null, "sync_id": null,
        })).collect::<Vec<_>>()
    })
}

/// The primary key of each stream, as `expected_keys` spells it.
pub fn primary_key(stream: &str) -> &'static [&'static str] {
    match stream {
        "template_settings" => &["template_id"],
        "template_destinations" => &["template_id", "destination_type", "destination_key"],
        "peer_quality_stats" => &["session_id", "peer_id"],
        "webhook_events" => &["event_id"],
        _ => &["id"],
    }
}

pub fn key_of(record: &Value, stream: &str) -> String {
    primary_key(stream)
        .iter()
        .map(|k| {
            record[k]
                .as_str()
                .unwrap_or_else(|| panic!("{stream}: key {k} missing in {record}"))
                .to_owned()
        })
        .collect::<Vec<_>>()
        .join("|")
}

pub struct Run {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
    pub messages: Vec<Value>,
    pub took: Duration,
}

pub fn run_binary(args: &[&str], secrets: &[String]) -> Run {
    let mut command = Command::new(BIN);
    command.args(args);
    run_command(command, secrets)
}

/// Runs the connector however `command` starts it (the binary, or its Docker image), with a
/// time limit, and checks what it printed.
pub fn run_command(mut command: Command, secrets: &[String]) -> Run {
    let started = Instant::now();
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the connector");
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let out_reader = std::thread::spawn(move || {
        let mut s = String::new();
        out.read_to_string(&mut s).unwrap();
        s
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        err.read_to_string(&mut s).unwrap();
        s
    });
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > RUN_TIMEOUT {
            let _ = child.kill();
            panic!("the connector hung: {command:?} ran over {RUN_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let stdout = out_reader.join().unwrap();
    let stderr = err_reader.join().unwrap();
    let run = Run::parse(status, stdout, stderr, started.elapsed());
    run.assert_no_secrets(secrets);
    run
}

impl Run {
    /// Parses stdout and checks every line against the protocol, whatever the test.
    pub fn parse(status: ExitStatus, stdout: String, stderr: String, took: Duration) -> Run {
        let mut messages = Vec::new();
        for (i, line) in stdout.lines().enumerate() {
            let message: Value = serde_json::from_str(line).unwrap_or_else(|e| {
                panic!("stdout line {i} is not JSON ({e}): {line}\nstderr: {stderr}")
            });
            assert_valid_message(&message);
            messages.push(message);
        }
        Run {
            status,
            stdout,
            stderr,
            messages,
            took,
        }
    }

    pub fn assert_no_secrets(&self, secrets: &[String]) {
        for text in [&self.stdout, &self.stderr] {
            for secret in secrets {
                assert!(!text.contains(secret.as_str()), "a secret was printed");
            }
            // Minted management tokens are JWTs, whose header always starts like this.
            assert!(
                !text.contains("eyJ0eXAi") && !text.contains("eyJhbGci"),
                "a token was printed"
            );
        }
    }

    pub fn of_type(&self, kind: &str) -> Vec<&Value> {
        self.messages.iter().filter(|m| m["type"] == kind).collect()
    }

    pub fn records(&self, stream: &str) -> Vec<&Value> {
        self.messages
            .iter()
            .filter(|m| m["type"] == "RECORD" && m["record"]["stream"] == stream)
            .map(|m| &m["record"]["data"])
            .collect()
    }

    pub fn keys(&self, stream: &str) -> BTreeSet<String> {
        self.records(stream)
            .iter()
            .map(|r| key_of(r, stream))
            .collect()
    }

    /// Asserts no record of `stream` was emitted twice, and returns their keys.
    pub fn unique_keys(&self, stream: &str) -> BTreeSet<String> {
        let records = self.records(stream);
        let keys = self.keys(stream);
        assert_eq!(records.len(), keys.len(), "{stream}: duplicate records");
        keys
    }

    pub fn states(&self, stream: &str) -> Vec<&Value> {
        self.messages
            .iter()
            .filter(|m| {
                m["type"] == "STATE" && m["state"]["stream"]["stream_descriptor"]["name"] == stream
            })
            .map(|m| &m["state"])
            .collect()
    }

    /// The newest state of every stream, as the state file of the next run.
    pub fn state_file(&self) -> Value {
        let mut latest: BTreeMap<String, Value> = BTreeMap::new();
        for m in self.of_type("STATE") {
            let name = m["state"]["stream"]["stream_descriptor"]["name"]
                .as_str()
                .unwrap()
                .to_owned();
            latest.insert(name, m["state"].clone());
        }
        Value::Array(latest.into_values().collect())
    }

    pub fn statuses(&self, stream: &str) -> Vec<String> {
        self.messages
            .iter()
            .filter(|m| m["type"] == "TRACE" && m["trace"]["type"] == "STREAM_STATUS")
            .filter(|m| m["trace"]["stream_status"]["stream_descriptor"]["name"] == stream)
            .filter(|m| m["trace"]["stream_status"]["reasons"].is_null())
            .map(|m| {
                m["trace"]["stream_status"]["status"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect()
    }

    pub fn errors(&self) -> Vec<&Value> {
        self.messages
            .iter()
            .filter(|m| m["type"] == "TRACE" && m["trace"]["type"] == "ERROR")
            .map(|m| &m["trace"]["error"])
            .collect()
    }

    pub fn logs(&self) -> Vec<String> {
        self.of_type("LOG")
            .iter()
            .map(|m| m["log"]["message"].as_str().unwrap_or_default().to_owned())
            .collect()
    }

    pub fn success(&self) -> bool {
        self.status.success()
    }

    pub fn describe(&self) -> String {
        let errors: Vec<String> = self.errors().iter().map(|e| e.to_string()).collect();
        format!(
            "exit {:?}; errors {errors:?}; stderr {}",
            self.status.code(),
            self.stderr
        )
    }
}

fn protocol_validator() -> &'static jsonschema::Validator {
    static VALIDATOR: OnceLock<jsonschema::Validator> = OnceLock::new();
    VALIDATOR.get_or_init(|| {
        // A copy of the official protocol schema, kept in the repository so CI needs nothing else.
        let path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("integration_tests/airbyte_protocol.yaml");
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let yaml: Value = serde_yaml::from_str(&text).unwrap();
        let schema = json!({
            "$schema": "http://json-schema.org/draft-07/schema#",
            "definitions": yaml["definitions"],
            "$ref": "#/definitions/AirbyteMessage",
        });
        jsonschema::draft7::new(&schema).expect("the protocol schema compiles")
    })
}

/// Checks one message against `airbyte_protocol.yaml`, and that its type and payload agree
/// (the schema alone does not tie them).
pub fn assert_valid_message(message: &Value) {
    let errors: Vec<String> = protocol_validator()
        .iter_errors(message)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "invalid message {message}: {errors:?}");
    let payload = match message["type"].as_str().unwrap() {
        "RECORD" => "record",
        "STATE" => "state",
        "LOG" => "log",
        "SPEC" => "spec",
        "CONNECTION_STATUS" => "connectionStatus",
        "CATALOG" => "catalog",
        "TRACE" => "trace",
        "CONTROL" => "control",
        other => panic!("unexpected message type {other}"),
    };
    let object = message.as_object().unwrap();
    assert!(
        object.contains_key(payload),
        "{} without {payload}: {message}",
        message["type"]
    );
    assert_eq!(
        object.len(),
        2,
        "a message carries exactly its payload: {message}"
    );
    if payload == "state" {
        assert_eq!(message["state"]["type"], "STREAM");
        assert!(message["state"]["sourceStats"]["recordCount"].is_f64());
    }
    if payload == "record" {
        assert!(message["record"]["emitted_at"].is_i64());
    }
}
