//! Newest-first listings windowed on creation time (sessions, recordings, recording assets),
//! with the objects that are still changing read again until they settle.
//!
//! The state holds the cursor (every object created up to it was emitted) and the objects to
//! read again: those emitted while still changing (an active session, a running recording) and
//! those created or changed within the lookback, each with a digest of what was emitted. A sync
//! reads from the cursor less the lookback, or from the oldest of those objects if older. An
//! object created after the cursor is new; an older one is emitted again only if it changed
//! since (its digest differs), or if it is in the lookback zone and was never emitted (the API
//! showed it late). With a server-side filter (`after`/`before`) the window is read in slices,
//! oldest first, each ending in a checkpoint; without one, paging stops once past the window.
//!
//! The sessions stream's listing is also the sync's feed of ended sessions (`feed.rs`): it
//! then starts listing where the feed needs, if that is earlier, without emitting what it
//! lists before its own window.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};

use super::attach::Attacher;
use super::context::{listing, Context, Emitter};
use super::cursor::{
    query_time, query_time_ceil, timestamp, to_value, CreatedState, PendingObject, SavedState,
    Window, OLDEST, SAFETY_MARGIN,
};
use super::feed::Publisher;
use super::partitions::static_partitions;
use super::{Partition, StreamDef};
use crate::error::Result;

/// The length of the first checkpointed slice of a server-filtered window; later ones adapt.
const FIRST_SLICE: Duration = Duration::days(7);
/// Objects a slice aims at: each slice costs at most one request more than one long listing
/// would (its short last page), so ten pages a slice keep that overhead near a tenth, while a
/// checkpoint still comes every ten pages or so.
const SLICE_TARGET: usize = 1000;

/// The next slice's length: quadrupled after an empty slice (a start date long before the data
/// costs a few requests, not one a week), doubled while sparse, halved while crowded.
fn next_span(span: Duration, listed: usize) -> Duration {
    let span = if listed == 0 {
        span * 4
    } else if listed < SLICE_TARGET / 2 {
        span * 2
    } else if listed > SLICE_TARGET * 2 {
        span / 2
    } else {
        span
    };
    span.clamp(Duration::hours(1), Duration::days(4_000_000))
}

pub struct Spec {
    pub field: &'static str,
    pub server_filter: bool,
    pub still_changing: Option<fn(&Value) -> bool>,
    /// A field holding the object's last change: changed within the lookback, it is read again.
    pub updated: Option<&'static str>,
    /// Where what is listed also goes, for the sync's feed of ended sessions.
    pub publisher: Option<Publisher>,
}

/// What the previous syncs emitted, as the state tells it.
struct Known {
    previous: DateTime<Utc>,
    /// Nothing created up to here is emitted: the window's floor (the listing may start
    /// earlier, for the feed).
    scan_from: DateTime<Utc>,
    /// Objects created after this were never in a completed window: the lookback zone's floor.
    zone: DateTime<Utc>,
    pending: HashMap<String, PendingObject>,
    pending_since: Option<DateTime<Utc>>,
}

/// One sync's reading of a created-windowed stream.
struct Reader {
    spec: Spec,
    known: Known,
    incremental: bool,
    /// Objects changed after this are remembered for the next sync.
    remember_after: Option<DateTime<Utc>>,
    emitter: Emitter,
    attacher: Option<Attacher>,
    remembered: Vec<PendingObject>,
    /// Ids emitted in the current slice: an object listed under two partitions (a session that
    /// ended between the live and the ended listing) is emitted once.
    slice_ids: HashSet<String>,
}

pub async fn read(
    ctx: &Context,
    def: &'static StreamDef,
    spec: Spec,
    incremental: bool,
    state: SavedState,
) -> Result<()> {
    let floor = ctx.floor();
    let state = match state {
        SavedState::Created(s) => s,
        _ => CreatedState {
            cursor: floor,
            ..CreatedState::default()
        },
    };
    let previous = state.cursor.max(floor);
    // The window is open below: start just before the oldest object to read again.
    // Nothing predates the epoch: an earlier start date costs no empty slices before it.
    let epoch = OLDEST - Duration::nanoseconds(1);
    let scan_from = state
        .oldest_pending()
        .map(|p| p - Duration::nanoseconds(1))
        .map_or(previous - ctx.lookback, |p| p.min(previous - ctx.lookback))
        .max(floor)
        .max(epoch);
    // Closed slices up to about now, then one open slice whose end the API's clock decides.
    let horizon = (spec.server_filter && incremental).then(|| {
        ctx.end_date
            .unwrap_or_else(|| ctx.client.server_now() - SAFETY_MARGIN)
    });
    let partitions = static_partitions(ctx, def).await?;
    let remember_after = horizon.map(|h| h - ctx.lookback);
    let list_from = spec
        .publisher
        .as_ref()
        .map_or(scan_from, |p| scan_from.min(p.from()).max(epoch));
    let mut reader = Reader::new(
        ctx,
        def,
        spec,
        incremental,
        &state,
        scan_from,
        remember_after,
    );
    let mut span = FIRST_SLICE;
    let mut lower = list_from;
    loop {
        let closed_end = horizon.and_then(|h| {
            lower
                .checked_add_signed(span)
                .filter(|at| *at < h)
                .map(|at| at.max(lower))
        });
        let mut end: Option<Option<DateTime<Utc>>> = closed_end.map(Some);
        let mut listed = 0;
        reader.slice_ids.clear();
        for partition in &partitions {
            let slice = Slice {
                lower,
                closed_end,
                partition,
            };
            listed += reader.read_slice(ctx, def, &slice, &mut end).await?;
        }
        let Some(slice_end) = end.flatten() else {
            break;
        };
        if incremental {
            reader.checkpoint(&state, slice_end)?;
        }
        lower = slice_end;
        if closed_end.is_none() {
            break;
        }
        span = next_span(span, listed);
    }
    if let Some(publisher) = reader.spec.publisher.take() {
        publisher.finish();
    }
    if !incremental {
        reader.emitter.state(&json!({}))?;
    }
    Ok(())
}

struct Slice<'p> {
    lower: DateTime<Utc>,
    closed_end: Option<DateTime<Utc>>,
    partition: &'p Partition,
}

impl Reader {
    fn new(
        ctx: &Context,
        def: &'static StreamDef,
        spec: Spec,
        incremental: bool,
        state: &CreatedState,
        scan_from: DateTime<Utc>,
        remember_after: Option<DateTime<Utc>>,
    ) -> Reader {
        let previous = state.cursor.max(ctx.floor());
        Reader {
            known: Known {
                previous,
                scan_from,
                zone: previous - ctx.lookback,
                pending: state
                    .pending
                    .iter()
                    .map(|p| (p.id.clone(), p.clone()))
                    .collect(),
                pending_since: state.pending_since,
            },
            incremental,
            remember_after,
            emitter: Emitter::new(ctx, def),
            attacher: def
                .attach
                .as_ref()
                .map(|spec| Attacher::new(ctx, def.name, spec)),
            remembered: Vec::new(),
            slice_ids: HashSet::new(),
            spec,
        }
    }

    /// Every page of one partition within one slice; returns how many objects were listed.
    async fn read_slice(
        &mut self,
        ctx: &Context,
        def: &'static StreamDef,
        slice: &Slice<'_>,
        end: &mut Option<Option<DateTime<Utc>>>,
    ) -> Result<usize> {
        let mut request = listing(def, slice.partition);
        if self.spec.server_filter {
            request.params.push(("after", query_time(slice.lower)));
            if let Some(before) = slice.closed_end.or(ctx.end_date) {
                request.params.push(("before", query_time_ceil(before)));
            }
        }
        // Shared with another stream of the sync that reads the same (recording assets).
        let mut pager = ctx.listings.pages(&ctx.client, request);
        let mut listed = 0;
        while let Some(page) = pager.next().await? {
            let window_end =
                *end.get_or_insert_with(|| ctx.window_end(self.incremental, page.server_time));
            // The open slice ends at the API's clock; closed ones reach up to the horizon.
            let remember_after = match slice.closed_end {
                Some(_) => self.remember_after,
                None => window_end.map(|e| e - ctx.lookback),
            };
            listed += page.items.len();
            if let Some(publisher) = self.spec.publisher.as_mut() {
                publisher.add(&page);
            }
            let mut kept = Vec::with_capacity(page.items.len());
            let mut past_window = false;
            for object in page.items {
                match self.select(&object, slice.lower, window_end, remember_after) {
                    Selection::Emit(decision) => kept.push((object, decision)),
                    Selection::Skip => {}
                    Selection::PastWindow => {
                        past_window = true;
                        break;
                    }
                }
            }
            self.emit_page(kept, slice.partition).await?;
            if past_window {
                break;
            }
        }
        Ok(listed)
    }

    /// Whether an object is emitted, and what is remembered of it.
    fn select(
        &self,
        object: &Value,
        lower: DateTime<Utc>,
        end: Option<DateTime<Utc>>,
        remember_after: Option<DateTime<Utc>>,
    ) -> Selection {
        let Some(created) = timestamp(object, self.spec.field) else {
            // Without a creation time there is no window to place it in: emit it.
            return Selection::Emit(Decision::default());
        };
        // Ids order by the creation second, so objects of one second may come out of order:
        // stop only a second past the window.
        if !self.spec.server_filter && created < lower - Duration::seconds(1) {
            return Selection::PastWindow;
        }
        let window = Window {
            after: lower.max(self.known.scan_from),
            until: end,
        };
        if !window.contains(Some(created)) {
            return Selection::Skip;
        }
        let id = object.get("id").and_then(Value::as_str).unwrap_or_default();
        let known = &self.known;
        let pending = known.pending.get(id);
        let read_before = created <= known.previous
            && pending.is_none()
            && known.pending_since.is_none_or(|s| created < s)
            && created <= known.zone;
        if read_before {
            return Selection::Skip;
        }
        let changed = self.spec.updated.and_then(|f| timestamp(object, f));
        let still_changing = self.spec.still_changing.is_some_and(|f| f(object));
        let remember = self.incremental
            && (still_changing
                || remember_after.is_some_and(|r| created > r || changed.is_some_and(|c| c > r)));
        Selection::Emit(Decision {
            id: id.to_owned(),
            created: Some(created),
            // What is still changing is emitted every sync, a heartbeat of "still live at";
            // what settled is emitted again only if it changed.
            before: pending
                .and_then(|p| p.digest.clone())
                .filter(|_| !still_changing),
            remember,
        })
    }

    async fn emit_page(
        &mut self,
        kept: Vec<(Value, Decision)>,
        partition: &Partition,
    ) -> Result<()> {
        if let Some(attacher) = self.attacher.as_mut() {
            let parents: Vec<&Value> = kept.iter().map(|(object, _)| object).collect();
            attacher.prepare(&parents).await?;
        }
        for (mut object, decision) in kept {
            if !decision.id.is_empty() && !self.slice_ids.insert(decision.id.clone()) {
                continue;
            }
            if let Some(attacher) = self.attacher.as_mut() {
                attacher.attach(&mut object);
            }
            if !decision.remember && decision.before.is_none() {
                self.emitter.emit(object, partition)?;
                continue;
            }
            let before = decision.before.as_deref();
            let digest = self.emitter.emit_if_changed(object, partition, before)?;
            if let (true, Some(created_at)) = (decision.remember, decision.created) {
                self.remembered.push(PendingObject {
                    id: decision.id,
                    created_at,
                    digest: Some(digest),
                });
            }
        }
        Ok(())
    }

    /// Everything created up to `slice_end` is emitted: the state moves there.
    fn checkpoint(&self, state: &CreatedState, slice_end: DateTime<Utc>) -> Result<()> {
        let checkpoint = CreatedState {
            cursor: self.known.previous.max(slice_end),
            pending: state
                .pending
                .iter()
                .filter(|p| p.created_at > slice_end)
                .cloned()
                .chain(self.remembered.iter().cloned())
                .collect(),
            pending_since: state.pending_since.filter(|s| *s > slice_end),
        }
        .bound();
        self.emitter.state(&to_value(&checkpoint))
    }
}

enum Selection {
    Emit(Decision),
    Skip,
    PastWindow,
}

#[derive(Default)]
struct Decision {
    id: String,
    created: Option<DateTime<Utc>>,
    /// The digest of what was emitted for it before, if it was.
    before: Option<String>,
    /// Read again next sync.
    remember: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_grow_while_sparse_and_shrink_while_crowded() {
        let week = Duration::days(7);
        assert_eq!(next_span(week, 0), Duration::days(28));
        assert_eq!(next_span(week, 1), Duration::days(14));
        assert_eq!(next_span(week, SLICE_TARGET), week);
        assert_eq!(next_span(week, SLICE_TARGET * 3), Duration::hours(84));
        assert_eq!(next_span(Duration::hours(1), 1_000_000), Duration::hours(1));
    }

    #[test]
    fn an_empty_start_two_thousand_years_early_costs_a_dozen_slices() {
        let mut span = FIRST_SLICE;
        let mut covered = Duration::zero();
        let mut slices = 0;
        while covered < Duration::days(2026 * 366) {
            covered += span;
            span = next_span(span, 0);
            slices += 1;
        }
        assert!(slices <= 12, "{slices} slices");
    }
}
