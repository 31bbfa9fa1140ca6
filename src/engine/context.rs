//! What every strategy reads with: the [`Context`] of a sync, the [`Emitter`] that turns API
//! objects into a stream's records and states, the request of a partition, and partitions run
//! concurrently.
//!
//! The window of a sync ends at the API's clock less [`SAFETY_MARGIN`] (the clock is learned
//! from a response's `Date` header, so a skewed local clock cannot lose records), or at
//! `end_date`. A record is emitted when its cursor lies in `(previous cursor, window end]`;
//! the next sync starts where this one ended, so windows neither overlap nor leave gaps.

use std::future::Future;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use serde_json::Value;
use tokio::task::JoinSet;

use super::cursor::SAFETY_MARGIN;
use super::drift::DriftCheck;
use super::feed::SessionFeed;
use super::pages::Listing;
use super::shared::Listings;
use super::{Partition, Path, Records, StreamDef};
use crate::error::{Error, Result};
use crate::http::Client;
use crate::output::Output;
use crate::protocol::{Message, Trace};

/// What every stream reads with.
pub struct Context {
    pub client: Arc<Client>,
    /// The listings several streams of the sync read once.
    pub listings: Listings,
    /// The ended sessions the streams that fan out over sessions read, listed once.
    pub sessions: SessionFeed,
    pub output: Arc<Output>,
    pub start_date: DateTime<Utc>,
    pub end_date: Option<DateTime<Utc>>,
    pub max_concurrency: usize,
    /// How far behind its cursor a stream reads again, for what the API shows late.
    pub lookback: Duration,
    /// How often every room is swept for analytics events of no session.
    pub sweep_every: Duration,
    /// How many days back `peer_quality_stats` looks for ended sessions; 0 turns it off.
    pub peer_quality_stats_days: u32,
}

impl Context {
    /// Where this sync's window ends: the API's clock less the margin (incremental), and never
    /// past `end_date`.
    pub(super) fn window_end(
        &self,
        incremental: bool,
        server_time: Option<DateTime<Utc>>,
    ) -> Option<DateTime<Utc>> {
        if !incremental {
            return self.end_date;
        }
        let now = server_time.unwrap_or_else(|| self.client.server_now());
        let end = now - SAFETY_MARGIN;
        Some(self.end_date.map_or(end, |e| e.min(end)))
    }

    /// Just before the start date: windows are open below.
    pub(super) fn floor(&self) -> DateTime<Utc> {
        self.start_date - Duration::nanoseconds(1)
    }
}

/// Turns API objects into the stream's records and writes them, and the stream's states.
pub(super) struct Emitter {
    def: &'static StreamDef,
    output: Arc<Output>,
    drift: DriftCheck,
    scratch: Vec<Value>,
}

impl Emitter {
    pub(super) fn new(ctx: &Context, def: &'static StreamDef) -> Emitter {
        Emitter {
            def,
            output: ctx.output.clone(),
            drift: DriftCheck::new(def),
            scratch: Vec::new(),
        }
    }

    pub(super) fn emit(&mut self, mut object: Value, partition: &Partition) -> Result<()> {
        let name = self.def.name;
        match self.def.records {
            Records::AsIs => {
                self.drift.check(&object);
                self.output.record(name, &object)?;
            }
            Records::Map(f) => {
                f(&mut object, partition);
                self.drift.check(&object);
                self.output.record(name, &object)?;
            }
            Records::FlatMap(f) => {
                f(object, partition, &mut self.scratch);
                for record in self.scratch.drain(..) {
                    self.drift.check(&record);
                    self.output.record(name, &record)?;
                }
            }
        }
        Ok(())
    }

    /// Emits the records of `object` unless their digest is `before` (they were emitted
    /// unchanged already); returns their digest.
    pub(super) fn emit_if_changed(
        &mut self,
        mut object: Value,
        partition: &Partition,
        before: Option<&str>,
    ) -> Result<String> {
        match self.def.records {
            Records::AsIs => self.scratch.push(object),
            Records::Map(f) => {
                f(&mut object, partition);
                self.scratch.push(object);
            }
            Records::FlatMap(f) => f(object, partition, &mut self.scratch),
        }
        let digest = digest(&self.scratch);
        if before == Some(digest.as_str()) {
            self.scratch.clear();
            return Ok(digest);
        }
        for record in self.scratch.drain(..) {
            self.drift.check(&record);
            self.output.record(self.def.name, &record)?;
        }
        Ok(digest)
    }

    pub(super) fn state(&self, state: &Value) -> Result<()> {
        Ok(self.output.state(self.def.name, state)?)
    }

    /// An ESTIMATE trace: how many records the stream expects to emit in all.
    pub(super) fn estimate(&self, rows: u64) -> Result<()> {
        let trace = Trace::estimate(self.def.name, rows);
        Ok(self.output.message(&Message::Trace { trace })?)
    }
}

/// A short fingerprint of records (64-bit FNV-1a of their JSON, in hex): stable across runs
/// and versions, so a state can tell whether a record changed since it was emitted.
fn digest(records: &[Value]) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for record in records {
        for byte in serde_json::to_vec(record).unwrap_or_default() {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{hash:016x}")
}

/// The request of `def` for one partition.
pub(super) fn listing(def: &'static StreamDef, partition: &Partition) -> Listing {
    let path = match def.request.path {
        Path::Fixed(p) => p.to_owned(),
        Path::PerRoom { prefix, suffix } => {
            format!(
                "{prefix}{}{suffix}",
                partition.room_id.as_deref().unwrap_or_default()
            )
        }
    };
    let params: Vec<(&'static str, String)> = def
        .request
        .params
        .iter()
        .chain(partition.params)
        .map(|(k, v)| (*k, (*v).to_owned()))
        .collect();
    Listing {
        stream: def.name,
        path,
        params,
        envelope: def.request.envelope,
    }
}

/// Runs `work` on each partition, at most `max_concurrency` at a time. After a failure no new
/// partition starts; those running finish (and checkpoint), then the first error is returned.
pub(super) async fn for_each_partition<P, F, Fut>(
    ctx: &Context,
    partitions: Vec<P>,
    work: F,
) -> Result<()>
where
    F: Fn(P) -> Fut,
    Fut: Future<Output = Result<()>> + Send + 'static,
{
    let mut queue = partitions.into_iter();
    let mut running = JoinSet::new();
    let mut first_error = None;
    loop {
        while first_error.is_none() && running.len() < ctx.max_concurrency.max(1) {
            match queue.next() {
                Some(p) => {
                    running.spawn(work(p));
                }
                None => break,
            }
        }
        match running.join_next().await {
            None => break,
            Some(Ok(Ok(()))) => {}
            Some(Ok(Err(e))) => {
                first_error.get_or_insert(e);
            }
            Some(Err(join_error)) => {
                first_error.get_or_insert(Error::Response {
                    endpoint: "a partition task".into(),
                    detail: join_error.to_string(),
                });
            }
        }
    }
    first_error.map_or(Ok(()), Err)
}

/// A 404 for a room partition (its session ended, the room was deleted) skips the room.
pub(super) fn skip_not_found(
    def: &StreamDef,
    partition: &Partition,
    result: Result<()>,
) -> Result<()> {
    match result {
        Err(Error::Http(e)) if e.is_not_found() && partition.room_id.is_some() => {
            tracing::warn!(
                "{}: skipped room {} ({e}); it has no live session any more or was deleted",
                def.name,
                partition.room_id.as_deref().unwrap_or_default()
            );
            Ok(())
        }
        other => other,
    }
}
