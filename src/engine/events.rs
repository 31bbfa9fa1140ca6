//! `analytics_events`: the API's one log without a time filter, read so that a sync costs what
//! is new rather than what the account keeps.
//!
//! The first sync reads every room whole, the cheapest way to read everything. Afterwards only
//! sessions can have new events: those live at the last sync (remembered in the state), those
//! created since the cursor less the lookback, and those that ended within the lookback. Each is
//! read with `room_id` + `session_id`. Events of no session (join failures of peers who never
//! got in) are found by a sweep of every room, filtered to join and connect failures, when one
//! is due; a room new since the last sync is read whole instead.
//!
//! The API may show an event after its own time, so each group of events (a session's, or a
//! room's events of no session) is read again from its cursor less the lookback. The state
//! keeps how many events each group had in that zone: a re-read that finds as many emits none
//! of them again; one that finds another number emits the zone again (the destination dedupes
//! those on `id`).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration as StdDuration, Instant};

use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};

use super::context::{for_each_partition, Context, Emitter};
use super::cursor::{
    timestamp, to_value, EventsState, SavedState, SweepState, TrackedSession, Window,
    MAX_SESSION_LENGTH, MAX_TRACKED,
};
use super::feed::EndedSessions;
use super::pages::{Listing, Pager};
use super::partitions;
use super::shared::Listed;
use super::{Partition, Path, StreamDef};
use crate::error::{Error, Result};

/// How often the stream checkpoints while partitions complete, at most.
const CHECKPOINT_INTERVAL: StdDuration = StdDuration::from_secs(5);
/// 100ms keeps analytics events this long.
const EVENT_RETENTION: Duration = Duration::days(30);
/// The events a peer who never got into a session can leave.
const NO_SESSION_TYPES: [(&str, &str); 2] = [
    ("type", "client.join.failed"),
    ("type", "client.connect.failed"),
];

/// What one partition reads.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    /// Every event of a room.
    Whole,
    /// Every event of one session.
    Session,
    /// A room's join and connect failures, of which those of no session are kept.
    Sweep,
}

#[derive(Debug)]
struct Part {
    /// `w:<room>`, `s:<session>` or `r:<room>`: how the state names it.
    key: String,
    kind: Kind,
    room_id: String,
    session_id: Option<String>,
    /// Events up to here were emitted.
    lower: DateTime<Utc>,
    /// Whether the state's `seen` counts describe `(lower, lower + lookback]`.
    exact_zone: bool,
}

impl Part {
    /// A partition of a sync after the first: from its cursor less the lookback, with the
    /// state's zone counts; or, if a sync that did not complete read it already, from where that
    /// one got (its zone emitted again, as nothing counted it).
    fn new(
        ctx: &Context,
        state: &EventsState,
        kind: Kind,
        room_id: &str,
        session_id: Option<String>,
        cursor: DateTime<Utc>,
    ) -> Part {
        let key = match (kind, &session_id) {
            (Kind::Session, Some(session)) => format!("s:{session}"),
            (Kind::Sweep, _) => format!("r:{room_id}"),
            _ => format!("w:{room_id}"),
        };
        let (from, exact_zone) = match state.done.get(&key) {
            Some(reached) => (*reached, false),
            None => (cursor, true),
        };
        Part {
            key,
            kind,
            room_id: room_id.to_owned(),
            session_id,
            lower: (from - ctx.lookback).max(ctx.floor()),
            exact_zone,
        }
    }
}

/// What a sync reads, and what it learned on the way that the next state needs.
struct Plan {
    parts: Vec<Part>,
    server_time: Option<DateTime<Utc>>,
    /// Sessions that can still grow, when known: id → (room, live, when it ended).
    sessions: Option<BTreeMap<String, Candidate>>,
    /// Creation times of the rooms listed.
    room_created: BTreeMap<String, DateTime<Utc>>,
    swept: bool,
}

#[derive(Debug, Clone)]
struct Candidate {
    room_id: String,
    live: bool,
    /// `None` for an ended session: it ended by this sync's window end.
    ended_at: Option<DateTime<Utc>>,
}

/// What reading one partition came to.
#[derive(Default)]
struct Outcome {
    /// Events per group in the new lookback zone `(end − lookback, end]`.
    counts: BTreeMap<String, u32>,
    /// Events emitted again because their zone's count changed.
    repeats: u64,
}

pub async fn read(
    ctx: Arc<Context>,
    def: &'static StreamDef,
    field: &'static str,
    incremental: bool,
    state: SavedState,
) -> Result<()> {
    if ctx.start_date < Utc::now() - EVENT_RETENTION {
        tracing::warn!(
            "{}: start_date {} is more than 30 days ago, and 100ms keeps analytics events for 30 days; the events that still exist are read",
            def.name,
            ctx.start_date
        );
    }
    let state = match state {
        SavedState::Events(s) if incremental => Some(s),
        _ => None,
    };
    let plan = match &state {
        Some(s) if s.sweep.is_some() => plan_by_session(&ctx, def, s).await?,
        _ => plan_whole(&ctx, def, state.as_ref()).await?,
    };
    let end = ctx.window_end(incremental, plan.server_time);
    let base = state.clone().unwrap_or_else(|| EventsState {
        cursor: ctx.floor(),
        tracked: None,
        seen: BTreeMap::new(),
        sweep: None,
        done: BTreeMap::new(),
    });
    let rooms_of = |kind: Kind| -> BTreeSet<String> {
        let parts = plan.parts.iter().filter(|p| p.kind == kind);
        parts.map(|p| p.room_id.clone()).collect()
    };
    let summary = Summary {
        whole: rooms_of(Kind::Whole),
        swept_rooms: rooms_of(Kind::Sweep),
        sessions: plan.sessions,
        room_created: plan.room_created,
        swept: plan.swept,
    };
    let progress = run(&ctx, def, field, plan.parts, end, base, incremental).await?;
    if progress.repeats > 0 {
        tracing::info!(
            "{}: {} events of lookback zones whose count changed were emitted again",
            def.name,
            progress.repeats
        );
    }
    let emitter = Emitter::new(&ctx, def);
    match (incremental, end) {
        (true, Some(end)) => {
            let next = next_state(&ctx, state, &summary, progress.counts, end);
            emitter.state(&to_value(&next))
        }
        _ => emitter.state(&json!({})),
    }
}

/// The first sync (or one resumed, or a state from an older version): every room, whole.
async fn plan_whole(
    ctx: &Context,
    def: &'static StreamDef,
    state: Option<&EventsState>,
) -> Result<Plan> {
    let rooms = partitions::rooms(ctx, def.name, None).await?;
    let room_created = created_times(&rooms);
    let floor = ctx.floor();
    let parts = room_created
        .keys()
        .map(|room| {
            let key = format!("w:{room}");
            let lower = state.map_or(floor, |s| {
                let reached = s.done.get(&key).copied().unwrap_or(s.cursor);
                reached.max(floor) - ctx.lookback
            });
            Part {
                key,
                kind: Kind::Whole,
                room_id: room.clone(),
                session_id: None,
                lower: lower.max(floor),
                exact_zone: false,
            }
        })
        .collect();
    Ok(Plan {
        parts,
        server_time: rooms.server_time,
        sessions: None,
        room_created,
        swept: true,
    })
}

/// How far back the feed of ended sessions must reach for this stream: to the sessions created
/// since the cursor less the lookback, or, without the list of sessions live at the last sync,
/// every session that could have been. `None` on a first sync, which reads rooms whole.
pub(super) fn sessions_needed(ctx: &Context, state: &SavedState) -> Option<DateTime<Utc>> {
    let SavedState::Events(state) = state else {
        return None;
    };
    state.sweep.as_ref()?;
    let since = state.cursor.max(ctx.floor()) - ctx.lookback;
    let back = match state.tracked {
        Some(_) => since,
        None => since - MAX_SESSION_LENGTH,
    };
    Some(back.max(ctx.floor()))
}

/// Every later sync: the sessions that can have new events, rooms new since the last sync
/// whole, and the sweep when it is due.
async fn plan_by_session(
    ctx: &Context,
    def: &'static StreamDef,
    state: &EventsState,
) -> Result<Plan> {
    let floor = ctx.floor();
    let previous = state.cursor.max(floor);
    let since = previous - ctx.lookback;
    let sweep = state.sweep.clone().unwrap_or(SweepState {
        ran_at: previous,
        cursor: previous,
        rooms: BTreeMap::new(),
    });
    let client = &ctx.client;
    let live = partitions::live_sessions(ctx, def.name).await?;
    // After a first response, so that "now" is the API's clock, as `ran_at` is.
    let due = client.server_now() - sweep.ran_at >= ctx.sweep_every;
    let ended = ctx.sessions.ended(client, def.name).await?;
    let rooms = partitions::rooms(ctx, def.name, (!due).then_some(since)).await?;
    let sessions = candidates(state, &live, &ended, since);
    let room_created = created_times(&rooms);
    let whole: BTreeSet<&String> = room_created
        .iter()
        .filter(|(room, created)| **created > since && !sweep.rooms.contains_key(*room))
        .map(|(room, _)| room)
        .collect();
    let part = |kind, room: &str, session: Option<&String>, cursor| {
        Part::new(ctx, state, kind, room, session.cloned(), cursor)
    };
    let mut parts: Vec<Part> = whole
        .iter()
        .map(|room| part(Kind::Whole, room, None, previous))
        .collect();
    for (id, candidate) in &sessions {
        if !whole.contains(&candidate.room_id) {
            parts.push(part(Kind::Session, &candidate.room_id, Some(id), previous));
        }
    }
    if due {
        for room in room_created.keys().filter(|r| !whole.contains(r)) {
            let cursor = sweep.rooms.get(room).copied().unwrap_or(sweep.cursor);
            parts.push(part(Kind::Sweep, room, None, cursor));
        }
    }
    Ok(Plan {
        parts,
        server_time: live.server_time,
        sessions: Some(sessions),
        room_created,
        swept: due,
    })
}

/// The sessions that can have new events since `previous` (the cursor less the lookback is
/// `since`): live now, created since, ended since, or still remembered from the last sync.
fn candidates(
    state: &EventsState,
    live: &Listed,
    ended: &EndedSessions,
    since: DateTime<Utc>,
) -> BTreeMap<String, Candidate> {
    let ids = |s: &Value| {
        let id = s.get("id").and_then(Value::as_str)?;
        let room = s.get("room_id").and_then(Value::as_str)?;
        Some((id.to_owned(), room.to_owned()))
    };
    let tracked: BTreeMap<&str, &TrackedSession> = state
        .tracked
        .iter()
        .flatten()
        .map(|t| (t.id.as_str(), t))
        .collect();
    let mut out = BTreeMap::new();
    for (id, room_id) in live.objects.iter().filter_map(ids) {
        let live = true;
        out.insert(
            id,
            Candidate {
                room_id,
                live,
                ended_at: None,
            },
        );
    }
    for session in &ended.sessions {
        let Some(room_id) = &session.room_id else {
            continue;
        };
        let recent = session.created_at.is_none_or(|c| c > since)
            || session.ended_at.is_none_or(|e| e > since)
            || tracked.contains_key(session.id.as_str());
        if recent && !out.contains_key(&session.id) {
            let candidate = Candidate {
                room_id: room_id.clone(),
                live: false,
                ended_at: session.ended_at,
            };
            out.insert(session.id.clone(), candidate);
        }
    }
    for t in tracked.values() {
        out.entry(t.id.clone()).or_insert_with(|| Candidate {
            room_id: t.room_id.clone(),
            live: false,
            ended_at: t.ended_by,
        });
    }
    out
}

fn created_times(rooms: &Listed) -> BTreeMap<String, DateTime<Utc>> {
    rooms
        .objects
        .iter()
        .filter_map(|r| {
            let id = r.get("id").and_then(Value::as_str)?;
            // A room without a creation time is taken as old: it is swept, not read whole.
            let created = timestamp(r, "created_at").unwrap_or(DateTime::<Utc>::MIN_UTC);
            Some((id.to_owned(), created))
        })
        .collect()
}

/// Shared by the partitions while they run.
struct Progress {
    /// The state to resume from: the previous one, with the partitions done so far.
    checkpoint: EventsState,
    last_checkpoint: Instant,
    counts: BTreeMap<String, u32>,
    repeats: u64,
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

/// Reads every partition, at most `max_concurrency` at once, checkpointing as they finish.
async fn run(
    ctx: &Arc<Context>,
    def: &'static StreamDef,
    field: &'static str,
    parts: Vec<Part>,
    end: Option<DateTime<Utc>>,
    base: EventsState,
    incremental: bool,
) -> Result<Progress> {
    let seen = Arc::new(base.seen.clone());
    let whole_rooms = parts.iter().filter(|p| p.kind == Kind::Whole).count();
    let progress = Arc::new(Mutex::new(Progress {
        checkpoint: base,
        last_checkpoint: Instant::now(),
        counts: BTreeMap::new(),
        repeats: 0,
        reported: 0,
        rooms_begun: 0,
        last_estimate: None,
    }));
    let worker = ctx.clone();
    let shared = progress.clone();
    let work = move |part: Part| {
        let ctx = worker.clone();
        let progress = shared.clone();
        let seen = seen.clone();
        async move {
            let mut emitter = Emitter::new(&ctx, def);
            let estimate = |total: u64| {
                let mut p = lock(&progress);
                p.reported += total;
                p.rooms_begun += 1;
                p.estimate_due(whole_rooms)
            };
            let read = read_part(&ctx, def, field, &part, end, &seen, &mut emitter, estimate);
            let outcome = match read.await {
                Err(Error::Http(e)) if e.is_not_found() => {
                    tracing::warn!(
                        "{}: skipped {} ({e}); the room or session no longer exists",
                        def.name,
                        part.key
                    );
                    Outcome::default()
                }
                other => other?,
            };
            let mut p = lock(&progress);
            p.counts.extend(outcome.counts);
            p.repeats += outcome.repeats;
            if let (true, Some(end)) = (incremental, end) {
                p.checkpoint.done.insert(part.key, end);
                if p.checkpoint.done.len() > MAX_TRACKED {
                    // Too many to remember: they will be read again from the cursor.
                    p.checkpoint.done.clear();
                }
                if p.last_checkpoint.elapsed() >= CHECKPOINT_INTERVAL {
                    p.last_checkpoint = Instant::now();
                    emitter.state(&to_value(&p.checkpoint))?;
                }
            }
            Ok(())
        }
    };
    for_each_partition(ctx, parts, work).await?;
    let progress = Arc::try_unwrap(progress)
        .map_err(|_| Error::Response {
            endpoint: def.name.into(),
            detail: "a partition task outlived the read".into(),
        })?
        .into_inner()
        .unwrap_or_else(|e| e.into_inner());
    Ok(progress)
}

/// Every page of one partition; emits what is past its lower bound, and counts the new zone.
#[allow(clippy::too_many_arguments)]
async fn read_part(
    ctx: &Context,
    def: &'static StreamDef,
    field: &'static str,
    part: &Part,
    end: Option<DateTime<Utc>>,
    seen: &BTreeMap<String, u32>,
    emitter: &mut Emitter,
    mut estimate: impl FnMut(u64) -> Option<u64>,
) -> Result<Outcome> {
    let mut zones = Zones {
        old_top: part.exact_zone.then(|| part.lower + ctx.lookback),
        new_bottom: end.map(|e| e - ctx.lookback),
        seen,
        held: BTreeMap::new(),
        outcome: Outcome::default(),
    };
    let partition = Partition {
        room_id: Some(part.room_id.clone()),
        ..Partition::default()
    };
    let mut pager = Pager::new(&ctx.client, events_listing(def, part));
    let mut first_page = true;
    while let Some(page) = pager.next().await? {
        if std::mem::take(&mut first_page) && part.kind == Kind::Whole {
            if let Some(rows) = page.total.and_then(&mut estimate) {
                emitter.estimate(rows)?;
            }
        }
        for event in page.items {
            let session = event
                .get("data")
                .and_then(|d| d.get("session_id"))
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty());
            if part.kind == Kind::Sweep && session.is_some() {
                continue; // read with its session
            }
            let group = match session {
                Some(s) => format!("s:{s}"),
                None => format!("r:{}", part.room_id),
            };
            let Some(t) = timestamp(&event, field) else {
                // Without a time there is no window to place it in: emit it.
                emitter.emit(event, &partition)?;
                continue;
            };
            let window = Window {
                after: part.lower,
                until: end,
            };
            if !window.contains(Some(t)) {
                continue;
            }
            if let Some(event) = zones.sort(group, t, event) {
                emitter.emit(event, &partition)?;
            }
        }
    }
    zones.release(emitter, &partition)
}

/// The lookback zones of one partition: the old one, whose events were emitted if the state's
/// count still holds, and the new one, counted for the next state.
struct Zones<'s> {
    old_top: Option<DateTime<Utc>>,
    new_bottom: Option<DateTime<Utc>>,
    seen: &'s BTreeMap<String, u32>,
    /// Old-zone events of groups with a count, until the count can be compared.
    held: BTreeMap<String, Vec<Value>>,
    outcome: Outcome,
}

impl Zones<'_> {
    /// Counts the event, and holds it back when it may have been emitted already.
    fn sort(&mut self, group: String, t: DateTime<Utc>, event: Value) -> Option<Value> {
        if self.new_bottom.is_some_and(|b| t > b) {
            *self.outcome.counts.entry(group.clone()).or_default() += 1;
        }
        let counted = self.seen.get(&group).is_some_and(|n| *n > 0);
        if counted && self.old_top.is_some_and(|top| t <= top) {
            self.held.entry(group).or_default().push(event);
            return None;
        }
        Some(event)
    }

    /// Emits the held events of every group whose count changed.
    fn release(self, emitter: &mut Emitter, partition: &Partition) -> Result<Outcome> {
        let mut outcome = self.outcome;
        for (group, events) in self.held {
            let before = self.seen.get(&group).copied().unwrap_or(0);
            if events.len() as u32 != before {
                outcome.repeats += u64::from(before);
                for event in events {
                    emitter.emit(event, partition)?;
                }
            }
        }
        Ok(outcome)
    }
}

fn events_listing(def: &'static StreamDef, part: &Part) -> Listing {
    let path = match def.request.path {
        Path::Fixed(path) => path.to_owned(),
        Path::PerRoom { prefix, suffix } => format!("{prefix}{}{suffix}", part.room_id),
    };
    let mut params = vec![("room_id", part.room_id.clone())];
    if let Some(session) = &part.session_id {
        params.push(("session_id", session.clone()));
    }
    if part.kind == Kind::Sweep {
        params.extend(NO_SESSION_TYPES.iter().map(|(k, v)| (*k, (*v).to_owned())));
    }
    Listing {
        stream: def.name,
        path,
        params,
        envelope: def.request.envelope,
    }
}

/// What the next state needs of the plan once the partitions are read.
struct Summary {
    sessions: Option<BTreeMap<String, Candidate>>,
    room_created: BTreeMap<String, DateTime<Utc>>,
    whole: BTreeSet<String>,
    swept_rooms: BTreeSet<String>,
    swept: bool,
}

/// The state a completed sync leaves.
fn next_state(
    ctx: &Context,
    previous: Option<EventsState>,
    summary: &Summary,
    counts: BTreeMap<String, u32>,
    end: DateTime<Utc>,
) -> EventsState {
    let previous_cursor = previous.as_ref().map_or(ctx.floor(), |s| s.cursor);
    let cursor = previous_cursor.max(end);
    let zone = end - ctx.lookback;
    let tracked = summary.sessions.as_ref().map(|sessions| {
        sessions
            .iter()
            .filter(|(_, c)| c.live || c.ended_at.unwrap_or(end) > zone)
            .map(|(id, c)| TrackedSession {
                id: id.clone(),
                room_id: c.room_id.clone(),
                ended_by: (!c.live).then(|| c.ended_at.unwrap_or(end)),
            })
            .collect::<Vec<_>>()
    });
    let previous_sweep = previous.as_ref().and_then(|s| s.sweep.clone());
    let covered = |room: &str| summary.whole.contains(room) || summary.swept_rooms.contains(room);
    // Counts of rooms not swept now still describe their (unchanged) sweep cursors.
    let mut seen: BTreeMap<String, u32> = previous
        .iter()
        .flat_map(|s| s.seen.iter())
        .filter(|(group, _)| group.strip_prefix("r:").is_some_and(|r| !covered(r)))
        .map(|(g, n)| (g.clone(), *n))
        .collect();
    seen.extend(counts.into_iter().filter(|(_, n)| *n > 0));
    let sweep = match previous_sweep.filter(|_| !summary.swept) {
        Some(mut sweep) => {
            sweep
                .rooms
                .extend(summary.whole.iter().map(|r| (r.clone(), end)));
            sweep
        }
        None => {
            // Rooms read whole stay marked while their creation is in the lookback zone, so
            // the next sync does not take them for new.
            let recent = |r: &String| summary.room_created.get(r).is_some_and(|c| *c > zone);
            let marked = previous
                .iter()
                .flat_map(|s| s.sweep.iter())
                .flat_map(|s| s.rooms.keys());
            let rooms = summary.whole.iter().chain(marked).filter(|r| recent(r));
            SweepState {
                ran_at: ctx.client.server_now(),
                cursor: end,
                rooms: rooms.map(|r| (r.clone(), end)).collect(),
            }
        }
    };
    bound(EventsState {
        cursor,
        tracked,
        seen,
        sweep: Some(sweep),
        done: BTreeMap::new(),
    })
}

/// Past [`MAX_TRACKED`] entries a part of the state falls back to what re-reads more but
/// loses nothing: sessions to the 12-hour scan, counts to emitting zones again.
fn bound(mut state: EventsState) -> EventsState {
    if state
        .tracked
        .as_ref()
        .is_some_and(|t| t.len() > MAX_TRACKED)
    {
        state.tracked = None;
    }
    if state.seen.len() > MAX_TRACKED {
        state.seen.clear();
    }
    if let Some(sweep) = state.sweep.as_mut() {
        if sweep.rooms.len() > MAX_TRACKED {
            // Swept again from the shared cursor: repeats, never gaps.
            let oldest = sweep.rooms.values().min().copied();
            sweep.cursor = oldest.map_or(sweep.cursor, |o| o.min(sweep.cursor));
            sweep.rooms.clear();
        }
    }
    state
}

fn lock(progress: &Mutex<Progress>) -> std::sync::MutexGuard<'_, Progress> {
    progress.lock().unwrap_or_else(|e| e.into_inner())
}
