//! What the people who run the connector touch: the Docker image, `metadata.yaml`, and the
//! acceptance-test fixtures in `integration_tests/`, used here exactly as Airbyte's suite uses
//! them.
//!
//! The image tests need a built image and a Docker engine, which `cargo test` alone has not:
//! `.ci/packaging.sh` builds the image and runs them with `SOURCE_100MS_IMAGE` set. Without
//! it they say so on stderr and check nothing else.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use chrono::{DateTime, Utc};
use fake_100ms::FakeConfig;
use serde_json::{json, Value};

use crate::harness::{catalog, run_command, Harness, Run, ALL_STREAMS, INCREMENTAL_STREAMS};

const VERSION: &str = env!("CARGO_PKG_VERSION");

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn text(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn json_file(path: &str) -> Value {
    serde_json::from_str(&text(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The value of `KEY=value` or `KEY="value"` after `instruction` in the Dockerfile.
fn dockerfile_value(dockerfile: &str, instruction: &str, key: &str) -> Option<String> {
    dockerfile
        .lines()
        .filter_map(|l| l.trim().strip_prefix(instruction))
        .filter_map(|rest| rest.trim().strip_prefix(key)?.strip_prefix('='))
        .map(|v| v.trim().trim_matches('"').to_owned())
        .next()
}

#[test]
fn metadata_and_dockerfile_agree_with_the_crate() {
    let metadata: Value = serde_yaml::from_str(&text("metadata.yaml")).unwrap();
    let data = &metadata["data"];
    assert_eq!(data["dockerImageTag"], VERSION);
    assert_eq!(data["dockerRepository"], "airbyte/source-100ms");
    assert_eq!(data["connectorType"], "source");
    assert!(data["definitionId"]
        .as_str()
        .is_some_and(|id| id.len() == 36));
    assert!(data["documentationUrl"].as_str().is_some());
    let hosts = data["allowedHosts"]["hosts"].as_array().unwrap();
    assert!(hosts.iter().any(|h| h == "api.100ms.live"));

    let dockerfile = text("Dockerfile");
    assert_eq!(
        dockerfile_value(&dockerfile, "LABEL", "io.airbyte.version").as_deref(),
        Some(VERSION)
    );
    assert_eq!(
        dockerfile_value(&dockerfile, "LABEL", "io.airbyte.name").as_deref(),
        data["dockerRepository"].as_str()
    );
    let entrypoint = dockerfile_value(&dockerfile, "ENV", "AIRBYTE_ENTRYPOINT").unwrap();
    assert!(entrypoint.starts_with('/'), "the entrypoint is absolute");
    assert!(
        dockerfile.contains(&format!("ENTRYPOINT [\"{entrypoint}\"]")),
        "ENTRYPOINT and AIRBYTE_ENTRYPOINT differ"
    );
    assert!(dockerfile.contains("USER airbyte"));
    let config: Value = serde_yaml::from_str(&text("acceptance-test-config.yml")).unwrap();
    assert_eq!(
        config["connector_image"],
        format!("airbyte/source-100ms:{VERSION}")
    );
}

/// The fake that `expected_records.jsonl` was taken from.
fn fixture_fake() -> Harness {
    let epoch: DateTime<Utc> = "2026-01-01T00:00:00Z".parse().unwrap();
    Harness::new(FakeConfig {
        epoch: Some(epoch),
        ..FakeConfig::default()
    })
}

/// A fixture config pointed at this test's fake.
fn fixture_config(h: &Harness, path: &str) -> Value {
    let mut config = json_file(path);
    config["api_base_url"] = json!(h.fake.base_url());
    // The default rate suits the real API; here it would only slow the test down.
    config["requests_per_second"] = json!(1000);
    config
}

#[test]
fn the_acceptance_fixtures_drive_the_connector() {
    let h = fixture_fake();
    let config = fixture_config(&h, "integration_tests/sample_config.json");
    let status =
        |run: &Run| run.of_type("CONNECTION_STATUS")[0]["connectionStatus"]["status"].clone();
    assert_eq!(status(&h.check(&config)), "SUCCEEDED");
    let invalid = fixture_config(&h, "integration_tests/invalid_config.json");
    assert_eq!(status(&h.check(&invalid)), "FAILED");

    let configured = json_file("integration_tests/configured_catalog.json");
    let discovered = h.discover(&config);
    let discovered = &discovered.of_type("CATALOG")[0]["catalog"]["streams"];
    let names = |streams: &Value, key: &str| -> BTreeSet<String> {
        streams
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.pointer(key).unwrap().as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        names(&configured["streams"], "/stream/name"),
        names(discovered, "/name"),
        "the configured catalog covers every stream"
    );
    for stream in configured["streams"].as_array().unwrap() {
        let incremental = stream["sync_mode"] == "incremental";
        let name = stream["stream"]["name"].as_str().unwrap();
        assert_eq!(incremental, INCREMENTAL_STREAMS.contains(&name), "{name}");
    }

    let run = h.read(&config, &configured, None);
    assert!(run.success(), "{}", run.describe());
    for line in text("integration_tests/expected_records.jsonl").lines() {
        let expected: Value = serde_json::from_str(line).unwrap();
        let stream = expected["stream"].as_str().unwrap();
        assert!(
            run.records(stream).contains(&&expected["data"]),
            "{stream}: an expected record is missing or differs: {}",
            expected["data"]
        );
    }

    let sample = h.read(
        &config,
        &configured,
        Some(&json_file("integration_tests/sample_state.json")),
    );
    assert!(sample.success(), "{}", sample.describe());
    assert!(sample.of_type("RECORD").len() < run.of_type("RECORD").len());

    let future = h.read(
        &config,
        &configured,
        Some(&json_file("integration_tests/abnormal_state.json")),
    );
    assert!(future.success(), "{}", future.describe());
    assert!(future.of_type("RECORD").iter().all(|r| {
        // Live state is read whole whatever the state says.
        let stream = r["record"]["stream"].as_str().unwrap();
        !INCREMENTAL_STREAMS.contains(&stream)
    }));
    for stream in INCREMENTAL_STREAMS {
        let states = future.states(stream);
        assert_eq!(
            states.last().unwrap()["stream"]["stream_state"]["cursor"],
            "2999-12-31T00:00:00Z",
            "{stream}"
        );
    }
}

/// The image under test, when `.ci/packaging.sh` built one.
fn image() -> Option<String> {
    let image = std::env::var("SOURCE_100MS_IMAGE").ok();
    if image.is_none() {
        eprintln!("skipped: SOURCE_100MS_IMAGE is not set (.ci/packaging.sh builds the image and sets it)");
    }
    image
}

/// Runs the image as an orchestrator does: host network (the fake listens on loopback), the
/// config and catalog mounted.
fn run_image(h: &Harness, image: &str, dir: &Path, args: &[&str]) -> Run {
    let mut command = Command::new("docker");
    command
        .args(["run", "--rm", "--network", "host", "-v"])
        .arg(format!("{}:/data:ro", dir.display()))
        .arg(image)
        .args(args);
    run_command(command, &h.secrets())
}

fn docker(args: &[&str]) -> String {
    let out = Command::new("docker").args(args).output().expect("docker");
    assert!(
        out.status.success(),
        "docker {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn the_image_runs_every_command_like_the_binary() {
    let Some(image) = image() else { return };
    let h = Harness::default_scale();
    let dir: PathBuf = h
        .write("config.json", &h.config())
        .parent()
        .unwrap()
        .to_owned();
    h.write("catalog.json", &catalog(&ALL_STREAMS, "full_refresh"));
    // The container's user reads these.
    Command::new("chmod")
        .args(["-R", "a+rX"])
        .arg(&dir)
        .status()
        .unwrap();

    let spec = run_image(&h, &image, &dir, &["spec"]);
    assert_eq!(spec.of_type("SPEC")[0]["spec"], json_file("spec.json"));
    let check = run_image(
        &h,
        &image,
        &dir,
        &["check", "--config", "/data/config.json"],
    );
    assert_eq!(
        check.of_type("CONNECTION_STATUS")[0]["connectionStatus"]["status"],
        "SUCCEEDED",
        "{}",
        check.describe()
    );
    let discover = run_image(
        &h,
        &image,
        &dir,
        &["discover", "--config", "/data/config.json"],
    );
    assert_eq!(
        discover.of_type("CATALOG")[0]["catalog"]["streams"]
            .as_array()
            .unwrap()
            .len(),
        ALL_STREAMS.len()
    );
    let read = run_image(
        &h,
        &image,
        &dir,
        &[
            "read",
            "--config",
            "/data/config.json",
            "--catalog",
            "/data/catalog.json",
        ],
    );
    assert!(read.success(), "{}", read.describe());
    for stream in ALL_STREAMS {
        assert_eq!(
            read.unique_keys(stream),
            h.fake.expected_keys(stream),
            "{stream}"
        );
    }
}

#[test]
fn the_image_follows_airbyte_conventions() {
    let Some(image) = image() else { return };
    let inspect: Value = serde_json::from_str(&docker(&["image", "inspect", &image])).unwrap();
    let config = &inspect[0]["Config"];
    let entrypoint = config["Entrypoint"][0].as_str().unwrap();
    assert!(entrypoint.starts_with('/'));
    assert_eq!(config["Entrypoint"].as_array().unwrap().len(), 1);
    let env: Vec<&str> = config["Env"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        env.contains(&format!("AIRBYTE_ENTRYPOINT={entrypoint}").as_str()),
        "{env:?}"
    );
    assert_eq!(config["Labels"]["io.airbyte.name"], "airbyte/source-100ms");
    assert_eq!(config["Labels"]["io.airbyte.version"], VERSION);
    assert_eq!(config["User"], "airbyte");
    // /airbyte and /tmp belong to that user (uid 1000), so the connector can write there.
    let container = docker(&["create", &image]);
    let listing = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "docker export {} | tar -tvf - --numeric-owner",
            container.trim()
        ))
        .output()
        .unwrap();
    docker(&["rm", container.trim()]);
    let listing = String::from_utf8_lossy(&listing.stdout);
    for dir in ["airbyte/", "tmp/"] {
        assert!(
            listing
                .lines()
                .any(|l| l.ends_with(&format!(" {dir}")) && l.contains(" 1000/1000 ")),
            "{dir} is not owned by the airbyte user:\n{listing}"
        );
    }
    let probe = Command::new("docker")
        .args([
            "run",
            "--rm",
            "--network",
            "none",
            "--entrypoint",
            entrypoint,
            &image,
            "--version",
        ])
        .output()
        .unwrap();
    assert!(probe.status.success());
    assert!(String::from_utf8_lossy(&probe.stdout).contains(VERSION));
    let size: u64 = docker(&["image", "inspect", "--format", "{{.Size}}", &image])
        .trim()
        .parse()
        .unwrap();
    assert!(size < 32 << 20, "the image is {size} bytes");
}
