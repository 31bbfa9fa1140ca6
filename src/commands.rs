//! `spec`, `check` and `discover`, and the dispatch of every command. Each ends in an
//! [`Outcome`]; errors that escape become one TRACE ERROR in `main`.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::cli::Command;
use crate::config::{load_config, SPEC_JSON};
use crate::engine::{parse_page, Envelope};
use crate::error::{Error, Result};
use crate::output::Output;
use crate::protocol::{AirbyteStream, Catalog, ConnectionStatus, Message, Status, SyncMode};
use crate::read::{build_client, Outcome, Silent};
use crate::streams::STREAMS;

/// `check` gives up after this long, whatever the API does.
const CHECK_TIME_BOX: Duration = Duration::from_secs(60);
/// The longest `check` waits between retries in all: well inside the time box, so a rate
/// limit is reported as one rather than as silence.
const CHECK_RETRY_TIME: Duration = Duration::from_secs(30);
/// Rooms `check` asks for: inside every page-size range the API documents.
const CHECK_PAGE_SIZE: usize = 10;

pub async fn run(command: Command, output: Arc<Output>) -> Result<Outcome> {
    match command {
        Command::Spec => spec(&output).map(|()| Outcome::Complete),
        Command::Check { config } => check(&config, &output).await.map(|()| Outcome::Complete),
        Command::Discover { config } => {
            load_config(&config)?;
            discover(&output).map(|()| Outcome::Complete)
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

fn spec(output: &Output) -> Result<()> {
    let spec: Value = serde_json::from_str(SPEC_JSON).map_err(|e| Error::Response {
        endpoint: "spec.json".into(),
        detail: e.to_string(),
    })?;
    Ok(output.message(&Message::Spec { spec })?)
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
