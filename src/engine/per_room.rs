//! Oldest-first listings read per room (analytics events), each room with its own cursor.
//!
//! The API has no time filter for events, so the saving is in which rooms are read: on the
//! first sync every room, afterwards only rooms with a session live or changed since the
//! cursor. Each room's events after its cursor are emitted; a room that completes moves its
//! own cursor, and when all are done one stream-wide cursor replaces them, so the state stays
//! small.

use std::sync::{Arc, Mutex};
use std::time::{Duration as StdDuration, Instant};

use chrono::{Duration, Utc};
use serde_json::{json, Value};

use super::cursor::{
    parse_state, timestamp, to_value, RoomsState, MAX_SESSION_LENGTH, MAX_TRACKED,
};
use super::pages::Pager;
use super::partitions::{all_rooms, rooms_with_sessions_since};
use super::read::{for_each_partition, listing, skip_not_found, Context, Emitter};
use super::{Partition, StreamDef};
use crate::error::Result;

/// How often the stream checkpoints while rooms complete, at most.
const CHECKPOINT_INTERVAL: StdDuration = StdDuration::from_secs(5);
/// Events can be recorded a while after their session closes (a recording's success, say):
/// rooms whose sessions changed this long before the cursor are read again.
const LATE_EVENTS: Duration = Duration::hours(3);
/// 100ms keeps analytics events this long.
const EVENT_RETENTION: Duration = Duration::days(30);

struct Progress {
    state: RoomsState,
    last_checkpoint: Instant,
    /// Events the API reported (`total`) in the rooms begun so far, and how many those are.
    reported: u64,
    rooms_begun: usize,
    last_estimate: Option<Instant>,
}

impl Progress {
    /// The events of all `rooms`, extrapolated from the rooms begun, when an ESTIMATE is due.
    fn estimate_due(&mut self, rooms: usize) -> Option<u64> {
        if self
            .last_estimate
            .is_some_and(|t| t.elapsed() < CHECKPOINT_INTERVAL)
        {
            return None;
        }
        self.last_estimate = Some(Instant::now());
        let per_room = self.reported as f64 / self.rooms_begun.max(1) as f64;
        Some((per_room * rooms as f64).round() as u64)
    }
}

pub async fn read(
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
        // Events happen in live sessions (or shortly after they close), and a session lives at
        // most 12 hours: a room with no session live or changed since the cursor (less the
        // time late events take) cannot have new events.
        Some(s) => {
            let created_after = s.cursor - MAX_SESSION_LENGTH - LATE_EVENTS;
            let changed_after = s.cursor - LATE_EVENTS;
            rooms_with_sessions_since(&ctx.client, def.name, created_after, changed_after).await?
        }
        None => all_rooms(&ctx.client, def.name).await?,
    };
    let end = ctx.window_end(incremental, rooms.server_time);
    let previous = state.as_ref().map_or(floor, |s| s.cursor.max(floor));
    let progress = Arc::new(Mutex::new(Progress {
        state: state.unwrap_or(RoomsState {
            cursor: previous,
            rooms: Default::default(),
        }),
        last_checkpoint: Instant::now(),
        reported: 0,
        rooms_begun: 0,
        last_estimate: None,
    }));
    let room_count = rooms.partitions.len();
    let worker = ctx.clone();
    let shared = progress.clone();
    let work = move |partition: Partition| {
        let ctx = worker.clone();
        let progress = shared.clone();
        async move {
            let room = partition.room_id.clone().unwrap_or_default();
            let lower = lock(&progress)
                .state
                .rooms
                .get(&room)
                .map_or(previous, |r| previous.max(*r));
            let mut emitter = Emitter::new(&ctx, def);
            let mut pager = Pager::new(&ctx.client, listing(def, &partition));
            let result = async {
                let mut first_page = true;
                while let Some(page) = pager.next().await? {
                    if std::mem::take(&mut first_page) {
                        let due = {
                            let mut progress = lock(&progress);
                            progress.reported += page.total.unwrap_or(0);
                            progress.rooms_begun += 1;
                            page.total.and_then(|_| progress.estimate_due(room_count))
                        };
                        if let Some(rows) = due {
                            emitter.estimate(rows)?;
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
                }
                Ok(())
            }
            .await;
            skip_not_found(def, &partition, result)?;
            if let (true, Some(end)) = (incremental, end) {
                let mut progress = lock(&progress);
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
    let reported = lock(&progress).reported;
    tracing::debug!(
        "{}: the API reported {reported} events in the rooms read",
        def.name
    );
    let emitter = Emitter::new(&ctx, def);
    match (incremental, end) {
        (true, Some(end)) => emitter.state(&to_value(&RoomsState {
            cursor: previous.max(end),
            rooms: Default::default(),
        })),
        _ => emitter.state(&json!({})),
    }
}

fn lock(progress: &Mutex<Progress>) -> std::sync::MutexGuard<'_, Progress> {
    progress.lock().unwrap_or_else(|e| e.into_inner())
}
