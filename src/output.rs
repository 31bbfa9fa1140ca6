//! The one writer of stdout: one Airbyte message a line.
//!
//! Records go straight from the parsed page into a large buffer (no message value is built for
//! them); every other message is flushed at once, so a STATE is durable as soon as it is printed
//! and LOG and STREAM_STATUS lines reach the orchestrator while the sync waits. The writer also
//! keeps, per stream, the count of records since that stream's last STATE, which becomes its
//! `sourceStats.recordCount`: counting under the same lock as writing keeps it exact when many
//! tasks emit records of one stream at once.

use std::io::{self, BufWriter, Write};
use std::sync::Mutex;

use serde::Serialize;
use serde_json::Value;

use crate::error::Error;
use crate::protocol::{now_millis, Message, Trace};

/// 256 KiB: large enough that a record rarely costs a system call, small enough to stay cheap.
const BUFFER_BYTES: usize = 256 * 1024;

pub struct Output {
    inner: Mutex<Inner>,
}

struct Inner {
    writer: BufWriter<Box<dyn Write + Send>>,
    streams: Vec<StreamCounters>,
}

struct StreamCounters {
    name: String,
    since_state: u64,
    total: u64,
    last_state: Option<String>,
}

impl Output {
    pub fn new(sink: Box<dyn Write + Send>) -> Output {
        Output {
            inner: Mutex::new(Inner {
                writer: BufWriter::with_capacity(BUFFER_BYTES, sink),
                streams: Vec::new(),
            }),
        }
    }

    pub fn stdout() -> Output {
        Output::new(Box::new(io::stdout()))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave a half-written line worse than the
        // panic itself; keep writing rather than poisoning every later message.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Writes one RECORD line.
    pub fn record(&self, stream: &str, data: &Value) -> io::Result<()> {
        let emitted_at = now_millis();
        let mut inner = self.lock();
        let inner = &mut *inner;
        let w = &mut inner.writer;
        w.write_all(b"{\"type\":\"RECORD\",\"record\":{\"stream\":")?;
        serde_json::to_writer(&mut *w, stream)?;
        w.write_all(b",\"data\":")?;
        serde_json::to_writer(&mut *w, data)?;
        writeln!(w, ",\"emitted_at\":{emitted_at}}}}}")?;
        let counters = counters(&mut inner.streams, stream);
        counters.since_state += 1;
        counters.total += 1;
        Ok(())
    }

    /// Writes a STREAM STATE with the exact count of records since the stream's previous state,
    /// and flushes. A state equal to the previous one with no records between is not repeated.
    pub fn state(&self, stream: &str, state: &Value) -> io::Result<()> {
        let serialized = serde_json::to_string(state)?;
        let mut inner = self.lock();
        let inner = &mut *inner;
        let counters = counters(&mut inner.streams, stream);
        if counters.since_state == 0 && counters.last_state.as_deref() == Some(&serialized) {
            return Ok(());
        }
        let line = StateLine {
            kind: "STATE",
            state: StateBody {
                kind: "STREAM",
                stream: StreamBody {
                    stream_descriptor: Descriptor { name: stream },
                    stream_state: state,
                },
                source_stats: Stats {
                    record_count: counters.since_state as f64,
                },
            },
        };
        counters.since_state = 0;
        counters.last_state = Some(serialized);
        serde_json::to_writer(&mut inner.writer, &line)?;
        inner.writer.write_all(b"\n")?;
        inner.writer.flush()
    }

    /// Writes any other message and flushes, so the orchestrator sees it now.
    pub fn message(&self, message: &Message) -> io::Result<()> {
        let mut inner = self.lock();
        serde_json::to_writer(&mut inner.writer, message)?;
        inner.writer.write_all(b"\n")?;
        inner.writer.flush()
    }

    /// Records emitted for `stream` since the process started.
    pub fn records_emitted(&self, stream: &str) -> u64 {
        let mut inner = self.lock();
        counters(&mut inner.streams, stream).total
    }

    pub fn flush(&self) -> io::Result<()> {
        self.lock().writer.flush()
    }
}

fn counters<'a>(streams: &'a mut Vec<StreamCounters>, name: &str) -> &'a mut StreamCounters {
    // Nine streams at most: a linear scan beats hashing the name.
    match streams.iter().position(|s| s.name == name) {
        Some(i) => &mut streams[i],
        None => {
            streams.push(StreamCounters {
                name: name.to_owned(),
                since_state: 0,
                total: 0,
                last_state: None,
            });
            streams.last_mut().expect("just pushed")
        }
    }
}

#[derive(Serialize)]
struct StateLine<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    state: StateBody<'a>,
}

#[derive(Serialize)]
struct StateBody<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    stream: StreamBody<'a>,
    #[serde(rename = "sourceStats")]
    source_stats: Stats,
}

#[derive(Serialize)]
struct StreamBody<'a> {
    stream_descriptor: Descriptor<'a>,
    stream_state: &'a Value,
}

#[derive(Serialize)]
struct Descriptor<'a> {
    name: &'a str,
}

#[derive(Serialize)]
struct Stats {
    #[serde(rename = "recordCount")]
    record_count: f64,
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

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;
    use std::sync::Arc;

    /// A sink tests can read back.
    #[derive(Clone, Default)]
    pub struct Captured(pub Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Captured {
        pub fn lines(&self) -> Vec<Value> {
            let bytes = self.0.lock().unwrap().clone();
            String::from_utf8(bytes)
                .unwrap()
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect()
        }
    }

    #[test]
    fn record_count_resets_at_each_state() {
        let sink = Captured::default();
        let out = Output::new(Box::new(sink.clone()));
        out.record("rooms", &json!({"id": "a"})).unwrap();
        out.record("rooms", &json!({"id": "b"})).unwrap();
        out.record("sessions", &json!({"id": "c"})).unwrap();
        out.state("rooms", &json!({"cursor": 1})).unwrap();
        out.state("sessions", &json!({})).unwrap();
        out.record("rooms", &json!({"id": "d"})).unwrap();
        out.state("rooms", &json!({"cursor": 2})).unwrap();
        let states: Vec<_> = sink
            .lines()
            .into_iter()
            .filter(|l| l["type"] == "STATE")
            .collect();
        let counts: Vec<_> = states
            .iter()
            .map(|s| s["state"]["sourceStats"]["recordCount"].as_f64().unwrap())
            .collect();
        assert_eq!(counts, vec![2.0, 1.0, 1.0]);
        assert_eq!(states[0]["state"]["type"], "STREAM");
        assert_eq!(
            states[0]["state"]["stream"]["stream_descriptor"]["name"],
            "rooms"
        );
    }

    #[test]
    fn record_count_is_printed_as_a_float() {
        let sink = Captured::default();
        let out = Output::new(Box::new(sink.clone()));
        out.state("rooms", &json!({})).unwrap();
        let raw = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
        assert!(raw.contains("\"recordCount\":0.0"), "{raw}");
    }

    #[test]
    fn identical_state_without_records_is_not_repeated() {
        let sink = Captured::default();
        let out = Output::new(Box::new(sink.clone()));
        out.state("rooms", &json!({"cursor": 1})).unwrap();
        out.state("rooms", &json!({"cursor": 1})).unwrap();
        out.record("rooms", &json!({"id": "a"})).unwrap();
        out.state("rooms", &json!({"cursor": 1})).unwrap();
        assert_eq!(sink.lines().len(), 3);
    }

    #[test]
    fn record_line_has_integer_emitted_at() {
        let sink = Captured::default();
        let out = Output::new(Box::new(sink.clone()));
        out.record("rooms", &json!({"id": "a"})).unwrap();
        out.flush().unwrap();
        let line = &sink.lines()[0];
        assert_eq!(line["type"], "RECORD");
        assert_eq!(line["record"]["stream"], "rooms");
        assert_eq!(line["record"]["data"]["id"], "a");
        assert!(line["record"]["emitted_at"].is_i64());
    }
}
