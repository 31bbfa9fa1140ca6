//! Newest-first listings windowed on creation time (sessions, recordings, recording assets),
//! with the objects that are still changing read again until they settle.
//!
//! The state holds the cursor (every object created up to it was emitted) and the objects
//! emitted while still changing (an active session, a running recording). A sync reads from
//! the older of the two: objects created after the cursor are new; older ones are emitted only
//! if they were pending. With a server-side filter (`after`/`before`) the window is read in
//! slices, oldest first, each ending in a checkpoint; without one, paging stops
//! once the listing is past the window.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};

use super::attach::Attacher;
use super::cursor::{
    parse_state, query_time, query_time_ceil, timestamp, to_value, CreatedState, PendingObject,
    SAFETY_MARGIN,
};
use super::pages::Pager;
use super::read::{listing, Context, Emitter};
use super::{Partition, StreamDef};
use crate::error::Result;

/// The length of the first checkpointed slice of a server-filtered window; later ones adapt.
const FIRST_SLICE: Duration = Duration::days(7);
/// Objects a slice aims at: each slice costs at most one request more than one long listing
/// would (its short last page), so ten pages a slice keep that overhead near a tenth, while a
/// checkpoint still comes every ten pages or so.
const SLICE_TARGET: usize = 1000;

/// The next slice's length: doubled while slices are sparse, halved while they are crowded.
fn next_span(span: Duration, listed: usize) -> Duration {
    let span = if listed < SLICE_TARGET / 2 {
        span * 2
    } else if listed > SLICE_TARGET * 2 {
        span / 2
    } else {
        span
    };
    span.clamp(Duration::hours(1), Duration::days(366))
}

pub struct Window {
    pub field: &'static str,
    pub server_filter: bool,
    pub still_changing: Option<fn(&Value) -> bool>,
}

pub async fn read(
    ctx: &Context,
    def: &'static StreamDef,
    window: Window,
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
    // The window is open below: start just before the oldest pending object so it is read.
    let scan_from = state
        .oldest_pending()
        .map_or(previous, |p| (p - Duration::nanoseconds(1)).min(previous))
        .max(floor);

    // Closed slices up to about now, then one open slice whose end the API's clock decides.
    let horizon = (window.server_filter && incremental).then(|| {
        ctx.end_date
            .unwrap_or_else(|| ctx.client.server_now() - SAFETY_MARGIN)
    });
    let mut span = FIRST_SLICE;
    let mut emitter = Emitter::new(ctx, def);
    let mut attacher = def
        .attach
        .as_ref()
        .map(|spec| Attacher::new(&ctx.client, def.name, spec));
    let partition = Partition::default();
    let mut new_pending: Vec<PendingObject> = Vec::new();
    let mut lower = scan_from;
    loop {
        let closed_end = horizon.and_then(|h| Some(lower + span).filter(|&at| at < h));
        let mut listed = 0;
        let mut request = listing(def, &partition);
        if window.server_filter {
            request.params.push(("after", query_time(lower)));
            if let Some(end) = closed_end.or(ctx.end_date) {
                request.params.push(("before", query_time_ceil(end)));
            }
        }
        let mut end: Option<Option<DateTime<Utc>>> = closed_end.map(Some);
        let mut pager = Pager::new(&ctx.client, request);
        let mut past_window = false;
        while !past_window {
            let Some(page) = pager.next().await? else {
                break;
            };
            let end = *end.get_or_insert_with(|| ctx.window_end(incremental, page.server_time));
            listed += page.items.len();
            let mut kept = Vec::with_capacity(page.items.len());
            for object in page.items {
                let Some(created) = timestamp(&object, window.field) else {
                    // Without a creation time there is no window to place it in: emit it.
                    kept.push(object);
                    continue;
                };
                // Ids order by the creation second, so objects of one second may come out of
                // order: stop only a second past the window.
                if !window.server_filter && created < lower - Duration::seconds(1) {
                    past_window = true;
                    break;
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
                kept.push(object);
            }
            // Children are read only as far back as the parents that are emitted need.
            if let Some(attacher) = attacher.as_mut() {
                attacher.prepare(&kept).await?;
            }
            for mut object in kept {
                if let Some(attacher) = attacher.as_mut() {
                    attacher.attach(&mut object);
                }
                emitter.emit(object, &partition)?;
            }
        }
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
        if closed_end.is_none() {
            break;
        }
        span = next_span(span, listed);
    }
    if !incremental {
        emitter.state(&json!({}))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_grow_while_sparse_and_shrink_while_crowded() {
        let week = Duration::days(7);
        assert_eq!(next_span(week, 0), Duration::days(14));
        assert_eq!(next_span(week, SLICE_TARGET), week);
        assert_eq!(next_span(week, SLICE_TARGET * 3), Duration::hours(84));
        assert_eq!(next_span(Duration::days(300), 0), Duration::days(366));
        assert_eq!(next_span(Duration::hours(1), 1_000_000), Duration::hours(1));
    }
}
