//! `spec`, `check` and `discover`, and the dispatch of every command. Each returns whether the
//! process should exit successfully; errors that escape become one TRACE ERROR in `main`.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::cli::Command;
use crate::config::{Config, SPEC_JSON};
use crate::engine::{parse_page, Envelope};
use crate::error::{Error, Result};
use crate::http::{Auth, Client, ClientOptions, Observer, MAX_TOTAL_TIME};
use crate::output::Output;
use crate::protocol::{AirbyteStream, Catalog, ConnectionStatus, Message, Status, SyncMode, Trace};
use crate::streams::STREAMS;

/// `check` gives up after this long, whatever the API does.
const CHECK_TIME_BOX: Duration = Duration::from_secs(60);
/// The longest `check` waits between retries in all: well inside the time box, so a rate
/// limit is reported as one rather than as silence.
const CHECK_RETRY_TIME: Duration = Duration::from_secs(30);
/// Rooms `check` asks for: inside every page-size range the API documents.
const CHECK_PAGE_SIZE: usize = 10;

pub async fn run(command: Command, output: Arc<Output>) -> Result<bool> {
    match command {
        Command::Spec => spec(&output).map(|()| true),
        Command::Check { config } => check(&config, &output).await.map(|()| true),
        Command::Discover { config } => {
            load_config(&config)?;
            discover(&output).map(|()| true)
        }
        Command::Read {
            config,
            catalog,
            state,
        } => {
            let config = load_config(&config)?;
            crate::read::read(config, &catalog, state.as_deref(), output).await
        }
    }
}

/// Reads a file the orchestrator handed over; a missing or unreadable one is a config error.
pub fn read_file(path: &Path, what: &str) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| {
        Error::config(format!(
            "Cannot read the {what} file {}: {e}.",
            path.display()
        ))
    })
}

pub fn load_config(path: &Path) -> Result<Config> {
    Config::parse(&read_file(path, "config")?)
}

fn spec(output: &Output) -> Result<()> {
    let spec: Value = serde_json::from_str(SPEC_JSON).map_err(|e| Error::Response {
        endpoint: "spec.json".into(),
        detail: e.to_string(),
    })?;
    Ok(output.message(&Message::Spec { spec })?)
}

/// Builds the client `read` uses.
pub fn client(config: &Config, observer: Arc<dyn Observer>) -> Result<Client> {
    build_client(config, config.max_retries, MAX_TOTAL_TIME, observer)
}

fn build_client(
    config: &Config,
    max_retries: u32,
    max_total_time: Duration,
    observer: Arc<dyn Observer>,
) -> Result<Client> {
    let auth = Auth::new(&config.credentials)?;
    let options = ClientOptions {
        base_url: config.api_base_url.clone(),
        requests_per_second: config.requests_per_second,
        max_concurrent_requests: config.max_concurrent_requests,
        max_retries,
        initial_backoff: config.retry_initial_backoff,
        max_total_time,
        secrets: config.secrets().into_iter().map(str::to_owned).collect(),
    };
    Ok(Client::new(options, auth, observer)?)
}

struct Silent;

impl Observer for Silent {
    fn waiting(&self, _: &str, _: Duration, _: bool) {}
}

/// One small request proves the URL, the credentials and the API answer, and its answer is
/// read as `read` would read it: a landing page, plain text or a body of the wrong shape is a
/// FAILED check, not a success that every sync then contradicts. Every failure is a FAILED
/// status with the reason: `check` exits 0 unless it could not report at all.
async fn check(config_path: &Path, output: &Output) -> Result<()> {
    let outcome = match load_config(config_path) {
        Err(e) => Err(e),
        Ok(config) => {
            let attempt = async {
                let retries = config.max_retries.min(2);
                let client = build_client(&config, retries, CHECK_RETRY_TIME, Arc::new(Silent))?;
                let query = [("limit", CHECK_PAGE_SIZE.to_string())];
                let response = client.get("check", "/rooms", &query).await?;
                parse_page(Envelope::Data, &response.body, Some(CHECK_PAGE_SIZE)).map_err(
                    |detail| Error::Response {
                        endpoint: "GET /rooms".into(),
                        detail: client.scrub(&format!(
                            "{detail}. Is api_base_url the address of the 100ms API (the \
                             default is {})?",
                            crate::config::DEFAULT_BASE_URL
                        )),
                    },
                )?;
                Ok::<_, Error>(())
            };
            match tokio::time::timeout(CHECK_TIME_BOX, attempt).await {
                Ok(result) => result,
                Err(_) => Err(Error::config(format!(
                    "The 100ms API did not answer within {} s; check api_base_url and the network.",
                    CHECK_TIME_BOX.as_secs()
                ))),
            }
        }
    };
    let connection_status = match outcome {
        Ok(()) => ConnectionStatus {
            status: Status::Succeeded,
            message: None,
        },
        Err(e) => ConnectionStatus {
            status: Status::Failed,
            message: Some(e.to_string()),
        },
    };
    Ok(output.message(&Message::ConnectionStatus { connection_status })?)
}

/// The catalog. Needs no network: the streams are known ahead.
fn discover(output: &Output) -> Result<()> {
    let mut streams = Vec::with_capacity(STREAMS.len());
    for def in STREAMS {
        let json_schema: Value = serde_json::from_str(def.schema).map_err(|e| Error::Response {
            endpoint: format!("the embedded schema of {}", def.name),
            detail: e.to_string(),
        })?;
        let cursor = def.cursor.field();
        streams.push(AirbyteStream {
            name: def.name,
            json_schema,
            supported_sync_modes: match cursor {
                Some(_) => vec![SyncMode::FullRefresh, SyncMode::Incremental],
                None => vec![SyncMode::FullRefresh],
            },
            source_defined_cursor: cursor.is_some(),
            default_cursor_field: cursor.into_iter().collect(),
            source_defined_primary_key: def.primary_key.iter().map(|k| vec![*k]).collect(),
            is_resumable: cursor.is_some(),
        });
    }
    Ok(output.message(&Message::Catalog {
        catalog: Catalog { streams },
    })?)
}

/// Prints `error` as the protocol's TRACE ERROR.
pub fn report(output: &Output, error: &Error, stream: Option<&str>) {
    let trace = Trace::error(crate::protocol::TraceError {
        message: error.to_string(),
        internal_message: None,
        failure_type: error.failure_type(),
        stream_descriptor: stream.map(|name| crate::protocol::StreamDescriptor {
            name: name.to_owned(),
        }),
    });
    let _ = output.message(&Message::Trace { trace });
}
