//! Reading one stream: the four cursor strategies, each a loop over pages that filters, emits
//! and checkpoints. Everything a stream declares is interpreted here.
//!
//! The window of a sync ends at the API's clock less [`SAFETY_MARGIN`] (the clock is learned
//! from the first response's `Date` header, so a skewed local clock cannot lose records), or at
//! `end_date`. A record is emitted when its cursor lies in `(previous cursor, window end]`;
//! the next sync starts where this one ended, so windows neither overlap nor leave gaps.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration as StdDuration, Instant};

use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};
use tokio::task::JoinSet;

use super::cursor::{
    newest, parse_state, query_time, query_time_ceil, timestamp, to_value, CreatedState,
    PendingObject, RoomsState, UpdatedState, MAX_SESSION_LENGTH, MAX_TRACKED, SAFETY_MARGIN,
};
use super::pages::{walk, Flow, Listing};
use super::partitions::{all_rooms, live_rooms, rooms_with_sessions_since};
use super::{Cursor, Partition, Partitions, Path, Records, StreamDef};
use crate::error::{Error, Result};
use crate::http::Client;
use crate::output::Output;

/// A sync with a server-side time filter is read in slices of this length, oldest first, each
/// ending in a checkpoint.
const SLICE: Duration = Duration::days(7);
/// How often a stream read in partitions checkpoints, at most.
const CHECKPOINT_INTERVAL: StdDuration = StdDuration::from_secs(5);
/// 100ms keeps analytics events this long.
const EVENT_RETENTION: Duration = Duration::days(30);

/// What every stream reads with.
pub struct Context {
    pub client: Client,
    pub output: Arc<Output>,
    pub start_date: DateTime<Utc>,
    pub end_date: Option<DateTime<Utc>>,
    pub max_concurrency: usize,
}

impl Context {
    /// Where this sync's window ends: the API's clock less the margin (incremental), and never
    /// past `end_date`.
    fn window_end(
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
    fn floor(&self) -> DateTime<Utc> {
        self.start_date - Duration::nanoseconds(1)
    }
}

/// Reads one stream, emitting its records and states. `state` is the stream's state from the
/// state file, ignored unless `incremental`.
pub async fn read_stream(
    ctx: Arc<Context>,
    def: &'static StreamDef,
    incremental: bool,
    state: Option<Value>,
) -> Result<()> {
    let state = if incremental { state } else { None };
    match def.cursor {
        Cursor::None => read_whole(ctx, def).await,
        Cursor::Updated { fields, .. } => read_updated(&ctx, def, fields, incremental, state).await,
        Cursor::Created {
            field,
            server_filter,
            still_changing,
        } => {
            let window = CreatedWindow {
                field,
                server_filter,
                still_changing,
            };
            read_created(&ctx, def, window, incremental, state).await
        }
        Cursor::PerRoom { field } => read_per_room(ctx, def, field, incremental, state).await,
    }
}

/// Turns an API object into the stream's records and writes them.
struct Emitter {
    def: &'static StreamDef,
    output: Arc<Output>,
    scratch: Vec<Value>,
}

impl Emitter {
    fn new(ctx: &Context, def: &'static StreamDef) -> Emitter {
        Emitter {
            def,
            output: ctx.output.clone(),
            scratch: Vec::new(),
        }
    }

    fn emit(&mut self, mut object: Value, partition: &Partition) -> Result<()> {
        let name = self.def.name;
        match self.def.records {
            Records::AsIs => self.output.record(name, &object)?,
            Records::Map(f) => {
                f(&mut object, partition);
                self.output.record(name, &object)?;
            }
            Records::FlatMap(f) => {
                f(object, partition, &mut self.scratch);
                for record in self.scratch.drain(..) {
                    self.output.record(name, &record)?;
                }
            }
        }
        Ok(())
    }

    fn state(&self, state: &Value) -> Result<()> {
        Ok(self.output.state(self.def.name, state)?)
    }
}

fn listing(def: &'static StreamDef, partition: &Partition) -> Listing {
    let path = match def.request.path {
        Path::Fixed(p) => p.to_owned(),
        Path::PerRoom { prefix, suffix } => {
            format!("{prefix}{}{suffix}", partition.room_id.as_deref().unwrap_or_default())
        }
    };
    let mut params: Vec<(&'static str, String)> = def
        .request
        .params
        .iter()
        .chain(partition.params)
        .map(|(k, v)| (*k, (*v).to_owned()))
        .collect();
    if let (Path::Fixed(_), Some(room)) = (&def.request.path, &partition.room_id) {
        params.push(("room_id", room.clone()));
    }
    Listing {
        stream: def.name,
        path,
        params,
        envelope: def.request.envelope,
    }
}

/// Partitions that need no cursor to find.
async fn static_partitions(ctx: &Context, def: &'static StreamDef) -> Result<Vec<Partition>> {
    Ok(match def.partitions {
        Partitions::None => vec![Partition::default()],
        Partitions::Params(sets) => sets
            .iter()
            .map(|params| Partition {
                params,
                ..Partition::default()
            })
            .collect(),
        Partitions::LiveRooms => live_rooms(&ctx.client, def.name).await?.partitions,
        Partitions::RoomsWithActivity => all_rooms(&ctx.client, def.name).await?.partitions,
    })
}

/// Runs `work` on each partition, at most `max_concurrency` at a time. After a failure no new
/// partition starts; those running finish (and checkpoint), then the first error is returned.
async fn for_each_partition<F, Fut>(
    ctx: &Arc<Context>,
    partitions: Vec<Partition>,
    work: F,
) -> Result<()>
where
    F: Fn(Partition) -> Fut,
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

/// Reads a partition whole. A 404 (the room's session ended, the room was deleted) skips it.
async fn read_partition(ctx: Arc<Context>, def: &'static StreamDef, partition: Partition) -> Result<()> {
    let mut emitter = Emitter::new(&ctx, def);
    let result = walk(&ctx.client, listing(def, &partition), |page| {
        for object in page.items {
            emitter.emit(object, &partition)?;
        }
        Ok(Flow::Continue)
    })
    .await;
    skip_not_found(def, &partition, result)
}

fn skip_not_found(def: &StreamDef, partition: &Partition, result: Result<()>) -> Result<()> {
    match result {
        Err(Error::Http(e)) if e.is_not_found() => {
            tracing::warn!(
                "{}: skipped room {} ({e}); it has no live session any more or was deleted",
                def.name,
                partition.room_id.as_deref().unwrap_or("?")
            );
            Ok(())
        }
        other => other,
    }
}

/// Live or derived data: everything, every time.
async fn read_whole(ctx: Arc<Context>, def: &'static StreamDef) -> Result<()> {
    let partitions = static_partitions(&ctx, def).await?;
    let worker = ctx.clone();
    for_each_partition(&ctx, partitions, move |p| read_partition(worker.clone(), def, p)).await?;
    Emitter::new(&ctx, def).state(&json!({}))
}

/// Few objects, listed whole, filtered on their newest timestamp.
async fn read_updated(
    ctx: &Context,
    def: &'static StreamDef,
    fields: &'static [&'static str],
    incremental: bool,
    state: Option<Value>,
) -> Result<()> {
    let previous = parse_state::<UpdatedState>(def.name, state.as_ref())?.map(|s| s.cursor);
    let mut emitter = Emitter::new(ctx, def);
    let mut window_end: Option<Option<DateTime<Utc>>> = None;
    // A server that ignores a partitioning filter must not cause duplicates.
    let mut seen = HashSet::new();
    for partition in static_partitions(ctx, def).await? {
        walk(&ctx.client, listing(def, &partition), |page| {
            let end = *window_end.get_or_insert_with(|| ctx.window_end(incremental, page.server_time));
            for object in page.items {
                if let Some(id) = object.get("id").and_then(Value::as_str) {
                    if !seen.insert(id.to_owned()) {
                        continue;
                    }
                }
                let changed = newest(&object, fields);
                let after_previous = match (previous, changed) {
                    (Some(p), Some(t)) => t > p,
                    // Without a timestamp there is no telling: emit rather than lose it.
                    _ => true,
                };
                let before_end = match (end, changed) {
                    (Some(e), Some(t)) => t <= e,
                    _ => true,
                };
                if after_previous && before_end {
                    emitter.emit(object, &partition)?;
                }
            }
            Ok(Flow::Continue)
        })
        .await?;
    }
    let state = match (incremental, window_end.flatten()) {
        (true, Some(end)) => to_value(&UpdatedState {
            cursor: previous.map_or(end, |p| p.max(end)),
        }),
        (true, None) => previous.map_or(json!({}), |cursor| to_value(&UpdatedState { cursor })),
        (false, _) => json!({}),
    };
    emitter.state(&state)
}

struct CreatedWindow {
    field: &'static str,
    server_filter: bool,
    still_changing: Option<fn(&Value) -> bool>,
}

/// Newest-first objects windowed on creation time, with the ones still changing read again
/// until they settle.
async fn read_created(
    ctx: &Context,
    def: &'static StreamDef,
    window: CreatedWindow,
    incremental: bool,
    state: Option<Value>,
) -> Result<()> {
    let floor = ctx.floor();
    let state = parse_state::<CreatedState>(def.name, state.as_ref())?.unwrap_or(CreatedState {
        cursor: floor,
        ..CreatedState::default()
    });
    let previous = state.cursor.max(floor);
    let pending: HashMap<&str, DateTime<Utc>> = state
        .pending
        .iter()
        .map(|p| (p.id.as_str(), p.created_at))
        .collect();
    let scan_from = state.oldest_pending().map_or(previous, |p| p.min(previous)).max(floor);

    // Closed slices up to about now, then one open slice whose end the API's clock decides.
    let mut bounds = Vec::new();
    if window.server_filter && incremental {
        let horizon = ctx.end_date.unwrap_or_else(|| ctx.client.server_now() - SAFETY_MARGIN);
        let mut at = scan_from + SLICE;
        while at < horizon {
            bounds.push(at);
            at += SLICE;
        }
    }
    let mut emitter = Emitter::new(ctx, def);
    let partition = Partition::default();
    let mut new_pending: Vec<PendingObject> = Vec::new();
    let mut lower = scan_from;
    for slice in 0..=bounds.len() {
        let closed_end = bounds.get(slice).copied();
        let mut listing = listing(def, &partition);
        if window.server_filter {
            listing.params.push(("after", query_time(lower)));
            if let Some(end) = closed_end.or(ctx.end_date) {
                listing.params.push(("before", query_time_ceil(end)));
            }
        }
        let mut end: Option<Option<DateTime<Utc>>> = closed_end.map(Some);
        walk(&ctx.client, listing, |page| {
            let end = *end.get_or_insert_with(|| ctx.window_end(incremental, page.server_time));
            for object in page.items {
                let Some(created) = timestamp(&object, window.field) else {
                    emitter.emit(object, &partition)?;
                    continue;
                };
                // Ids order by creation second, so objects of one second may come out of
                // order: stop only a second past the window.
                if created < lower - Duration::seconds(1) && !window.server_filter {
                    return Ok(Flow::Stop);
                }
                if created <= lower || end.is_some_and(|e| created > e) {
                    continue;
                }
                let id = object.get("id").and_then(Value::as_str).unwrap_or_default();
                let read_before = created <= previous
                    && !pending.contains_key(id)
                    && state.pending_since.is_none_or(|s| created < s);
                if read_before {
                    continue;
                }
                if incremental && window.still_changing.is_some_and(|f| f(&object)) {
                    new_pending.push(PendingObject {
                        id: id.to_owned(),
                        created_at: created,
                    });
                }
                emitter.emit(object, &partition)?;
            }
            Ok(Flow::Continue)
        })
        .await?;
        let Some(slice_end) = end.flatten() else {
            break;
        };
        if incremental {
            let checkpoint = CreatedState {
                cursor: previous.max(slice_end),
                pending: state
                    .pending
                    .iter()
                    .filter(|p| p.created_at > slice_end)
                    .cloned()
                    .chain(new_pending.iter().cloned())
                    .collect(),
                pending_since: state.pending_since.filter(|s| *s > slice_end),
            }
            .bound();
            emitter.state(&to_value(&checkpoint))?;
        }
        lower = slice_end;
    }
    if !incremental {
        emitter.state(&json!({}))?;
    }
    Ok(())
}

/// Oldest-first objects read per room, each room with its own cursor.
async fn read_per_room(
    ctx: Arc<Context>,
    def: &'static StreamDef,
    field: &'static str,
    incremental: bool,
    state: Option<Value>,
) -> Result<()> {
    let floor = ctx.floor();
    if ctx.start_date < Utc::now() - EVENT_RETENTION {
        tracing::warn!(
            "{}: start_date {} is more than 30 days ago, and 100ms keeps analytics events for 30 days; the events that still exist are read",
            def.name,
            ctx.start_date
        );
    }
    let state = parse_state::<RoomsState>(def.name, state.as_ref())?;
    let rooms = match &state {
        // Events happen only in live sessions, and a session lives at most 12 hours: rooms
        // without a session created since the cursor less that cannot have new events.
        Some(s) => rooms_with_sessions_since(&ctx.client, def.name, s.cursor - MAX_SESSION_LENGTH).await?,
        None => all_rooms(&ctx.client, def.name).await?,
    };
    let end = ctx.window_end(incremental, rooms.server_time);
    let previous = state.as_ref().map_or(floor, |s| s.cursor.max(floor));
    let progress = Arc::new(Mutex::new(RoomProgress {
        state: state.unwrap_or(RoomsState {
            cursor: floor,
            rooms: Default::default(),
        }),
        last_checkpoint: Instant::now(),
        estimated: 0,
    }));
    let worker_ctx = ctx.clone();
    let worker_progress = progress.clone();
    let work = move |partition: Partition| {
        let ctx = worker_ctx.clone();
        let progress = worker_progress.clone();
        async move {
            let room = partition.room_id.clone().unwrap_or_default();
            let lower = progress
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .state
                .rooms
                .get(&room)
                .copied()
                .unwrap_or(previous)
                .max(previous);
            let mut emitter = Emitter::new(&ctx, def);
            let mut first_page = true;
            let result = walk(&ctx.client, listing(def, &partition), |page| {
                if first_page {
                    first_page = false;
                    if let Some(total) = page.total {
                        progress.lock().unwrap_or_else(|e| e.into_inner()).estimated += total;
                    }
                }
                for object in page.items {
                    let keep = match timestamp(&object, field) {
                        Some(t) => t > lower && end.is_none_or(|e| t <= e),
                        None => true,
                    };
                    if keep {
                        emitter.emit(object, &partition)?;
                    }
                }
                Ok(Flow::Continue)
            })
            .await;
            skip_not_found(def, &partition, result)?;
            if let (true, Some(end)) = (incremental, end) {
                let mut progress = progress.lock().unwrap_or_else(|e| e.into_inner());
                progress.state.rooms.insert(room, end);
                if progress.state.rooms.len() > MAX_TRACKED {
                    // Too many to remember: they will be read again from the shared cursor.
                    progress.state.rooms.clear();
                }
                if progress.last_checkpoint.elapsed() >= CHECKPOINT_INTERVAL {
                    progress.last_checkpoint = Instant::now();
                    emitter.state(&to_value(&progress.state))?;
                }
            }
            Ok(())
        }
    };
    for_each_partition(&ctx, rooms.partitions, work).await?;
    let emitter = Emitter::new(&ctx, def);
    let estimated = progress.lock().unwrap_or_else(|e| e.into_inner()).estimated;
    tracing::debug!("{}: the API reported {estimated} events in the rooms read", def.name);
    match (incremental, end) {
        (true, Some(end)) => emitter.state(&to_value(&RoomsState {
            cursor: previous.max(end),
            rooms: Default::default(),
        })),
        _ => emitter.state(&json!({})),
    }
}

struct RoomProgress {
    state: RoomsState,
    last_checkpoint: Instant,
    estimated: u64,
}
