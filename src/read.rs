//! The `read` command: the configured catalog and the state in, every configured stream read
//! concurrently, each framed by STARTED, RUNNING and COMPLETE or INCOMPLETE.
//!
//! Input is checked before anything is read: a catalog or state that does not parse stops the
//! sync with a config error and no partial output. A stream that fails ends INCOMPLETE with a
//! TRACE ERROR naming it (its last checkpoint already printed), the others go on, and the
//! process exits non-zero at the end, as the platform expects.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use serde_json::Value;

use crate::config::{read_file, Config};
use crate::engine::{
    listings_for, read_stream, session_feed, timestamp, Context, SavedState, SessionFeed, StreamDef,
};
use crate::error::{Error, Result};
use crate::http::{Auth, Client, ClientOptions, Observer, MAX_CLOCK_SKEW, MAX_TOTAL_TIME};
use crate::output::{report, Output};
use crate::protocol::{ConfiguredCatalog, Message, StateMessage, StreamState, SyncMode, Trace};
use crate::streams;

/// How often a long read reports its progress.
const PROGRESS_INTERVAL: Duration = Duration::from_secs(10);

/// How a command ended: everything done, or a stream that did not complete (reported already),
/// which exits non-zero as the platform expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Complete,
    Incomplete,
}

/// Builds the client `read` uses.
pub fn client(config: &Config, observer: Arc<dyn Observer>) -> Result<Client> {
    build_client(config, config.max_retries, MAX_TOTAL_TIME, observer)
}

pub fn build_client(
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

/// Hears of waits and says nothing (`check` has no stream to keep alive).
pub struct Silent;

impl Observer for Silent {
    fn waiting(&self, _: &str, _: Duration, _: bool) {}
}

/// One stream the catalog selects, as it will be read.
struct Selected {
    def: &'static StreamDef,
    incremental: bool,
    state: SavedState,
}

/// Reads the catalog's streams.
pub async fn read(
    config: Config,
    catalog_path: &Path,
    state_path: Option<&Path>,
    output: Arc<Output>,
) -> Result<Outcome> {
    let catalog = parse_catalog(&read_file(catalog_path, "catalog")?)?;
    let states = match state_path {
        Some(path) => parse_state(&read_file(path, "state")?)?,
        None => BTreeMap::new(),
    };
    let (selected, all_known) = select(&catalog, &states, &output)?;
    let heartbeat = Arc::new(Heartbeat {
        output: output.clone(),
    });
    let defs: Vec<&StreamDef> = selected.iter().map(|s| s.def).collect();
    let mut ctx = Context {
        client: Arc::new(client(&config, heartbeat)?),
        listings: listings_for(&defs),
        sessions: SessionFeed::default(),
        output: output.clone(),
        start_date: config.start_date,
        end_date: config.end_date,
        max_concurrency: config.max_concurrent_requests,
        lookback: config.lookback,
        sweep_every: config.join_failure_sweep,
        peer_quality_stats_days: config.peer_quality_stats_days,
    };
    // How far back the ended sessions are listed follows from the settings and the states.
    let reads: Vec<_> = selected.iter().map(|s| (s.def, &s.state)).collect();
    ctx.sessions = session_feed(&ctx, &reads);
    let ctx = Arc::new(ctx);
    let all_complete = read_all(&ctx, selected).await? && all_known;
    output.flush()?;
    Ok(if all_complete {
        Outcome::Complete
    } else {
        Outcome::Incomplete
    })
}

/// The catalog's streams with their states, checked before anything is read; and whether the
/// connector knows every stream the catalog names (an unknown one is reported INCOMPLETE).
fn select(
    catalog: &ConfiguredCatalog,
    states: &BTreeMap<String, Value>,
    output: &Output,
) -> Result<(Vec<Selected>, bool)> {
    let mut selected: Vec<Selected> = Vec::new();
    let mut all_known = true;
    for configured in &catalog.streams {
        let name = configured.stream.name.as_str();
        let Some(def) = streams::find(name) else {
            all_known = false;
            let unknown = Error::config(format!(
                "The catalog names a stream this connector does not have: {name:?}. Run \
                 discover for the list of streams."
            ));
            report(output, &unknown, Some(name));
            output.message(&Message::Trace {
                trace: Trace::status(name, StreamState::Incomplete),
            })?;
            continue;
        };
        // Incremental asked of a stream without a cursor is read whole (PyAirbyte asks so).
        let incremental =
            configured.sync_mode == SyncMode::Incremental && def.cursor.field().is_some();
        if let Some(first) = selected.iter().find(|s| s.def.name == def.name) {
            duplicate(name, first.incremental, incremental)?;
            continue;
        }
        let state = match (incremental, states.get(def.name)) {
            (true, Some(state)) => {
                let parsed = SavedState::parse(def, Some(state))?;
                warn_if_future(def.name, state);
                parsed
            }
            _ => SavedState::Fresh,
        };
        selected.push(Selected {
            def,
            incremental,
            state,
        });
    }
    Ok((selected, all_known))
}

/// Reads every selected stream concurrently, then logs a summary line per stream. Returns
/// whether every stream completed.
async fn read_all(ctx: &Arc<Context>, selected: Vec<Selected>) -> Result<bool> {
    let started = Instant::now();
    let names: Vec<&'static str> = selected.iter().map(|s| s.def.name).collect();
    let progress = tokio::spawn(report_progress(ctx.clone(), names));
    let mut tasks = Vec::new();
    for Selected {
        def,
        incremental,
        state,
    } in selected
    {
        let ctx = ctx.clone();
        tasks.push(tokio::spawn(async move {
            let began = Instant::now();
            let ok = read_framed(ctx, def, incremental, state).await;
            (def.name, ok, began.elapsed())
        }));
    }
    let mut all_complete = true;
    let mut summaries = Vec::new();
    for task in tasks {
        match task.await {
            Ok((name, ok, took)) => {
                all_complete &= ok?;
                summaries.push((name, took));
            }
            Err(e) => {
                all_complete = false;
                tracing::error!("a stream task ended abnormally: {e}");
            }
        }
    }
    progress.abort();
    let stats = ctx.client.stats();
    for (name, took) in summaries {
        let s = stats.get(name).copied().unwrap_or_default();
        let refused = match s.refused_page_sizes {
            0 => String::new(),
            n => format!(" ({n} refused for their page size)"),
        };
        tracing::info!(
            "{name}: {} records, {} requests{refused}, {} retries, {:.1} s",
            ctx.output.records_emitted(name),
            s.requests,
            s.retries,
            took.as_secs_f64()
        );
    }
    tracing::info!("read finished in {:.1} s", started.elapsed().as_secs_f64());
    Ok(all_complete)
}

/// A stream the catalog names twice. Twice the same way is harmless, and it is read once with
/// a warning; a full refresh and an incremental read of one stream cannot both be done, and
/// guessing which was meant could cost a full re-read or a skipped one, so that is a config
/// error.
fn duplicate(name: &str, first_incremental: bool, incremental: bool) -> Result<()> {
    let mode = |incremental| {
        if incremental {
            "incremental"
        } else {
            "full_refresh"
        }
    };
    if first_incremental != incremental {
        return Err(Error::config(format!(
            "The catalog names the stream {name:?} twice, once {} and once {}; keep one entry.",
            mode(first_incremental),
            mode(incremental)
        )));
    }
    tracing::warn!(
        "the catalog names the stream {name:?} twice ({}); it is read once",
        mode(incremental)
    );
    Ok(())
}

/// A cursor no trusted clock could have written yet: the stream reads nothing until its time
/// comes (the acceptance tests expect exactly that of a far-future state), which the user
/// should hear of. Within [`MAX_CLOCK_SKEW`] it may come from an API clock ahead of ours.
fn warn_if_future(stream: &str, state: &Value) {
    let Some(cursor) = timestamp(state, "cursor") else {
        return;
    };
    let now = Utc::now();
    if cursor > now + MAX_CLOCK_SKEW {
        tracing::warn!(
            "{stream}: the state's cursor {cursor} is in the future (it is now {now}); nothing \
             newer than it is read until then. Reset the stream's state if that is not meant."
        );
    }
}

/// Reads one stream between its status messages. `Ok(false)` when the stream failed (and was
/// reported); `Err` only when stdout itself failed.
async fn read_framed(
    ctx: Arc<Context>,
    def: &'static StreamDef,
    incremental: bool,
    state: SavedState,
) -> Result<bool> {
    let status = |s| Message::Trace {
        trace: Trace::status(def.name, s),
    };
    ctx.output.message(&status(StreamState::Started))?;
    ctx.output.message(&status(StreamState::Running))?;
    match read_stream(ctx.clone(), def, incremental, state).await {
        Ok(()) => {
            ctx.output.message(&status(StreamState::Complete))?;
            Ok(true)
        }
        Err(e) if e.is_broken_pipe() => Err(e),
        Err(e) => {
            report(&ctx.output, &e, Some(def.name));
            ctx.output.message(&status(StreamState::Incomplete))?;
            Ok(false)
        }
    }
}

/// Tells the orchestrator the sync is alive while requests wait out a rate limit.
struct Heartbeat {
    output: Arc<Output>,
}

impl Observer for Heartbeat {
    fn waiting(&self, stream: &str, wait: Duration, rate_limited: bool) {
        if rate_limited && crate::streams::find(stream).is_some() {
            let reset = crate::protocol::now_millis() + wait.as_millis() as i64;
            let _ = self.output.message(&Message::Trace {
                trace: Trace::rate_limited(stream, reset),
            });
        }
    }
}

async fn report_progress(ctx: Arc<Context>, names: Vec<&'static str>) {
    let started = Instant::now();
    loop {
        tokio::time::sleep(PROGRESS_INTERVAL).await;
        let stats = ctx.client.stats();
        let requests: u64 = stats.values().map(|s| s.requests).sum();
        let counts: Vec<String> = names
            .iter()
            .map(|n| format!("{n} {}", ctx.output.records_emitted(n)))
            .collect();
        tracing::info!(
            "progress after {:.0} s: {}; {requests} requests ({:.1}/s)",
            started.elapsed().as_secs_f64(),
            counts.join(", "),
            requests as f64 / started.elapsed().as_secs_f64()
        );
    }
}

fn parse_catalog(text: &str) -> Result<ConfiguredCatalog> {
    serde_json::from_str(text).map_err(|e| {
        Error::config(format!(
            "The configured catalog is not valid ({e}). Each stream needs \"stream\": {{\"name\": …}} \
             and \"sync_mode\": \"full_refresh\" or \"incremental\"."
        ))
    })
}

/// The state file, in any form orchestrators use: empty, `null`, `[]`, an array of STREAM or
/// GLOBAL state messages, or a legacy object keyed by stream name.
pub fn parse_state(text: &str) -> Result<BTreeMap<String, Value>> {
    let malformed = |detail: String| {
        Error::config(format!(
            "The state is malformed ({detail}). It must be the JSON array of state messages \
             the connector printed, e.g. [{{\"type\":\"STREAM\",\"stream\":{{\"stream_descriptor\":\
             {{\"name\":\"rooms\"}},\"stream_state\":{{…}}}}}}]."
        ))
    };
    let mut states = BTreeMap::new();
    if text.trim().is_empty() {
        return Ok(states);
    }
    let value: Value = serde_json::from_str(text).map_err(|e| malformed(e.to_string()))?;
    let messages = match value {
        Value::Null => return Ok(states),
        Value::Array(items) => items,
        Value::Object(map) if map.contains_key("type") || map.contains_key("stream") => {
            vec![Value::Object(map)]
        }
        Value::Object(legacy) => {
            for (name, state) in legacy {
                states.insert(name, state);
            }
            return Ok(states);
        }
        other => return Err(malformed(format!("found {other}"))),
    };
    for (i, item) in messages.into_iter().enumerate() {
        let message: StateMessage =
            serde_json::from_value(item).map_err(|e| malformed(format!("element {i}: {e}")))?;
        let entries = match (message.stream, message.global) {
            (Some(stream), _) => vec![stream],
            (None, Some(global)) => global.stream_states,
            (None, None) if message.data.is_some() => {
                tracing::warn!(
                    "ignoring a LEGACY state message: this connector keeps per-stream state"
                );
                Vec::new()
            }
            (None, None) => {
                return Err(malformed(format!(
                    "element {i} has neither \"stream\" nor \"global\" (type {:?})",
                    message.kind
                )))
            }
        };
        for entry in entries {
            if let Some(state) = entry.stream_state {
                states.insert(entry.stream_descriptor.name, state);
            }
        }
    }
    Ok(states)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_forms_mean_no_state() {
        for text in ["", "  ", "null", "[]", "{}"] {
            assert!(parse_state(text).unwrap().is_empty(), "{text:?}");
        }
    }

    #[test]
    fn stream_and_global_states_are_read() {
        let text = r#"[
            {"type":"STREAM","stream":{"stream_descriptor":{"name":"rooms","namespace":null},"stream_state":{"cursor":"a"}},"global_":null,"data":null},
            {"type":"GLOBAL","global":{"shared_state":null,"stream_states":[{"stream_descriptor":{"name":"sessions"},"stream_state":{"cursor":"b"}}]}}
        ]"#;
        let states = parse_state(text).unwrap();
        assert_eq!(states["rooms"]["cursor"], "a");
        assert_eq!(states["sessions"]["cursor"], "b");
    }

    #[test]
    fn unknown_streams_in_state_are_kept_aside() {
        let text = r#"[{"type":"STREAM","stream":{"stream_descriptor":{"name":"gone"},"stream_state":{"x":1}}}]"#;
        assert!(parse_state(text).unwrap().contains_key("gone"));
    }

    #[test]
    fn malformed_state_is_a_config_error() {
        for text in ["{nope", "[1]", "[{\"type\":\"STREAM\"}]", "42"] {
            let err = parse_state(text).unwrap_err();
            assert!(matches!(err, Error::Config(_)), "{text}: {err}");
            assert!(err.to_string().contains("state"));
        }
    }

    #[test]
    fn a_stream_named_twice_in_two_modes_is_a_config_error() {
        assert!(duplicate("rooms", true, true).is_ok());
        assert!(duplicate("rooms", false, false).is_ok());
        let err = duplicate("rooms", false, true).unwrap_err();
        assert!(matches!(err, Error::Config(_)));
        assert!(err.to_string().contains("\"rooms\" twice"), "{err}");
    }

    #[test]
    fn invalid_sync_mode_is_a_config_error() {
        let err = parse_catalog(
            r#"{"streams":[{"stream":{"name":"__AIRBYTE__stream_that_does_not_exist"},"sync_mode":"INVALID","destination_sync_mode":"INVALID"}]}"#,
        )
        .unwrap_err();
        assert!(matches!(err, Error::Config(_)));
    }

    proptest::proptest! {
        #[test]
        fn any_state_parses_or_fails_as_config(value in crate::test_support::arb_json()) {
            for text in [value.to_string(), format!("[{{\"type\":\"STREAM\",\"stream\":{value}}}]")] {
                if let Err(e) = parse_state(&text) {
                    proptest::prop_assert!(matches!(e, Error::Config(_)), "{}", e);
                }
            }
        }

        #[test]
        fn any_catalog_parses_or_fails_as_config(value in crate::test_support::arb_json()) {
            for text in [value.to_string(), format!("{{\"streams\":[{value}]}}")] {
                if let Err(e) = parse_catalog(&text) {
                    proptest::prop_assert!(matches!(e, Error::Config(_)), "{}", e);
                }
            }
        }
    }
}
