//! The Airbyte protocol messages this connector speaks, as plain serde types.
//!
//! Written from `airbyte_protocol.yaml` (release 0.18.0). Output types serialise exactly as the
//! protocol says (integer `emitted_at`, `connectionStatus` in camelCase, protocol log levels);
//! input types (catalog, state) deserialise leniently: unknown keys and nulls are ignored, as the
//! protocol asks for forwards compatibility. RECORD messages are not here: they are the hot path
//! and [`crate::output`] writes them without building a message value.
//!
//! No I/O happens in this module.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Every non-record message the connector prints.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Message {
    Log {
        log: Log,
    },
    Spec {
        spec: Value,
    },
    ConnectionStatus {
        #[serde(rename = "connectionStatus")]
        connection_status: ConnectionStatus,
    },
    Catalog {
        catalog: Catalog,
    },
    Trace {
        trace: Trace,
    },
}

/// The protocol's log levels that the connector uses: one per `tracing` level. The protocol's
/// `FATAL` is never sent, failures are TRACE ERROR messages; `WARNING` is not a protocol level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

#[derive(Debug, Serialize)]
pub struct Log {
    pub level: LogLevel,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Status {
    Succeeded,
    Failed,
}

#[derive(Debug, Serialize)]
pub struct ConnectionStatus {
    pub status: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct Catalog {
    pub streams: Vec<AirbyteStream>,
}

/// A stream as `discover` describes it.
#[derive(Debug, Serialize)]
pub struct AirbyteStream {
    pub name: &'static str,
    pub json_schema: Value,
    pub supported_sync_modes: Vec<SyncMode>,
    pub source_defined_cursor: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub default_cursor_field: Vec<&'static str>,
    pub source_defined_primary_key: Vec<Vec<&'static str>>,
    pub is_resumable: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncMode {
    FullRefresh,
    Incremental,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureType {
    SystemError,
    ConfigError,
    TransientError,
}

#[derive(Debug, Serialize)]
pub struct Trace {
    #[serde(rename = "type")]
    pub kind: TraceType,
    pub emitted_at: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<TraceError>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream_status: Option<StreamStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub estimate: Option<Estimate>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TraceType {
    Error,
    StreamStatus,
    Estimate,
}

#[derive(Debug, Serialize)]
pub struct TraceError {
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub internal_message: Option<String>,
    pub failure_type: FailureType,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream_descriptor: Option<StreamDescriptor>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamDescriptor {
    pub name: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum StreamState {
    Started,
    Running,
    Complete,
    Incomplete,
}

#[derive(Debug, Serialize)]
pub struct StreamStatus {
    pub stream_descriptor: StreamDescriptor,
    pub status: StreamState,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<StatusReason>,
}

/// Why a stream is RUNNING without records: only `RATE_LIMITED` exists in the protocol.
#[derive(Debug, Serialize)]
pub struct StatusReason {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub rate_limited: RateLimited,
}

#[derive(Debug, Serialize)]
pub struct RateLimited {
    /// When the wait ends, epoch milliseconds.
    pub quota_reset: i64,
}

#[derive(Debug, Serialize)]
pub struct Estimate {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub row_estimate: u64,
}

impl Trace {
    fn new(kind: TraceType) -> Trace {
        Trace {
            kind,
            emitted_at: now_millis(),
            error: None,
            stream_status: None,
            estimate: None,
        }
    }

    pub fn error(error: TraceError) -> Trace {
        Trace {
            error: Some(error),
            ..Trace::new(TraceType::Error)
        }
    }

    pub fn status(stream: &str, status: StreamState) -> Trace {
        Trace {
            stream_status: Some(StreamStatus {
                stream_descriptor: StreamDescriptor {
                    name: stream.to_owned(),
                },
                status,
                reasons: Vec::new(),
            }),
            ..Trace::new(TraceType::StreamStatus)
        }
    }

    pub fn rate_limited(stream: &str, quota_reset: i64) -> Trace {
        let mut trace = Trace::status(stream, StreamState::Running);
        if let Some(status) = trace.stream_status.as_mut() {
            status.reasons.push(StatusReason {
                kind: "RATE_LIMITED",
                rate_limited: RateLimited { quota_reset },
            });
        }
        trace
    }

    pub fn estimate(stream: &str, rows: u64) -> Trace {
        Trace {
            estimate: Some(Estimate {
                name: stream.to_owned(),
                kind: "STREAM",
                row_estimate: rows,
            }),
            ..Trace::new(TraceType::Estimate)
        }
    }
}

/// Milliseconds since the Unix epoch, as `emitted_at` wants them.
pub fn now_millis() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

// ---------------------------------------------------------------------------------------------
// Input: the configured catalog and the state.

/// The configured catalog `read` receives. Unknown keys are ignored.
#[derive(Debug, Deserialize)]
pub struct ConfiguredCatalog {
    pub streams: Vec<ConfiguredStream>,
}

#[derive(Debug, Deserialize)]
pub struct ConfiguredStream {
    pub stream: ConfiguredStreamInfo,
    pub sync_mode: SyncMode,
}

#[derive(Debug, Deserialize)]
pub struct ConfiguredStreamInfo {
    pub name: String,
}

/// One element of the state array, in any of the shapes orchestrators send: the CDK's
/// `{"type":"STREAM","stream":{…}}`, PyAirbyte's with `"global_": null` and friends, or GLOBAL.
#[derive(Debug, Deserialize)]
pub struct StateMessage {
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub stream: Option<StreamStateEntry>,
    #[serde(default)]
    pub global: Option<GlobalState>,
    #[serde(default)]
    pub data: Option<Value>,
}

#[derive(Debug, Deserialize)]
pub struct StreamStateEntry {
    pub stream_descriptor: StreamDescriptor,
    #[serde(default)]
    pub stream_state: Option<Value>,
}

#[derive(Debug, Deserialize)]
pub struct GlobalState {
    #[serde(default)]
    pub stream_states: Vec<StreamStateEntry>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_status_is_camel_case() {
        let msg = Message::ConnectionStatus {
            connection_status: ConnectionStatus {
                status: Status::Failed,
                message: Some("no".into()),
            },
        };
        let json = serde_json::to_string(&msg).unwrap();
        assert_eq!(
            json,
            r#"{"type":"CONNECTION_STATUS","connectionStatus":{"status":"FAILED","message":"no"}}"#
        );
    }

    #[test]
    fn log_levels_are_protocol_levels() {
        let msg = Message::Log {
            log: Log {
                level: LogLevel::Warn,
                message: "m".into(),
            },
        };
        assert_eq!(
            serde_json::to_string(&msg).unwrap(),
            r#"{"type":"LOG","log":{"level":"WARN","message":"m"}}"#
        );
    }

    #[test]
    fn rate_limited_status_carries_reason() {
        let json = serde_json::to_value(Message::Trace {
            trace: Trace::rate_limited("rooms", 42),
        })
        .unwrap();
        assert_eq!(json["trace"]["type"], "STREAM_STATUS");
        assert_eq!(json["trace"]["stream_status"]["status"], "RUNNING");
        assert_eq!(
            json["trace"]["stream_status"]["reasons"][0]["rate_limited"]["quota_reset"],
            42
        );
        assert!(json["trace"]["emitted_at"].is_i64());
    }

    #[test]
    fn pyairbyte_state_shape_parses() {
        let raw = r#"{"type":"STREAM","stream":{"stream_descriptor":{"name":"rooms","namespace":null},
            "stream_state":{"cursor":"x"}},"global_":null,"data":null,
            "sourceStats":{"recordCount":5.0,"rejectedRecordCount":null},"destinationStats":null}"#;
        let msg: StateMessage = serde_json::from_str(raw).unwrap();
        let stream = msg.stream.unwrap();
        assert_eq!(stream.stream_descriptor.name, "rooms");
        assert_eq!(stream.stream_state.unwrap()["cursor"], "x");
    }

    #[test]
    fn invalid_sync_mode_is_rejected() {
        let raw = r#"{"streams":[{"stream":{"name":"x"},"sync_mode":"INVALID","destination_sync_mode":"INVALID"}]}"#;
        assert!(serde_json::from_str::<ConfiguredCatalog>(raw).is_err());
    }
}
