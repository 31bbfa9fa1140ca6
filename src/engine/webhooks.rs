//! The webhook delivery log (`webhook_events`): the one log of the API with a time filter,
//! read in windows by page number.
//!
//! The API takes `start_time`/`end_time` windows of at most 14 days within its 30-day
//! retention, counted on its clock (learned from one request for a one-event page first), and
//! pages with `page`/`limit` until `pagination.has_next` is false. A sync reads
//! `(cursor − lookback, window end]` in windows of [`WINDOW`], each ending in a checkpoint; a
//! cursor (or start date) older than the retention is clamped to it with a WARN, since what
//! lies before is gone. Events the last sync emitted in its lookback zone are remembered by id
//! in the state (at most [`MAX_TRACKED`]), so the re-read emits only those that arrived late.
//! A page that repeats the previous one, or more than [`MAX_PAGES`] pages, stops the stream
//! with an error rather than a loop.

use std::collections::HashSet;

use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};

use super::context::{Context, Emitter};
use super::cursor::{
    query_time, query_time_ceil, timestamp, to_value, SavedState, WebhooksState, MAX_TRACKED,
};
use super::pages::{parse_page, MAX_PAGES, PAGE_SIZES};
use super::{Partition, Path, StreamDef};
use crate::error::{Error, Result};

/// The API keeps webhook deliveries this long…
const RETENTION: Duration = Duration::days(30);
/// …and a window may start no earlier than this after the retention's edge, so that the edge
/// moving on while a sync runs, or a clock a little off, never makes a window too old.
const RETENTION_MARGIN: Duration = Duration::minutes(10);
/// The longest window the API accepts is 14 days; query times are rounded outwards to the
/// millisecond, so a window is a second shorter.
const WINDOW: Duration = Duration::seconds(14 * 86_400 - 1);

pub async fn read(
    ctx: &Context,
    def: &'static StreamDef,
    field: &'static str,
    incremental: bool,
    state: SavedState,
) -> Result<()> {
    let previous = match state {
        SavedState::Webhooks(s) if incremental => Some(s),
        _ => None,
    };
    let mut emitter = Emitter::new(ctx, def);
    let now = api_clock(ctx, def).await?;
    let end = ctx
        .window_end(incremental, Some(now))
        .map_or(now, |e| e.min(now));
    let wanted = match &previous {
        Some(s) => s.cursor - ctx.lookback,
        None => ctx.floor(),
    };
    let oldest = now - RETENTION + RETENTION_MARGIN;
    if wanted < oldest {
        tracing::warn!(
            "{}: deliveries before {oldest} are past the API's 30-day retention and can no longer be read; reading from there ({} asked for {wanted})",
            def.name,
            if previous.is_some() { "the state's cursor less the lookback" } else { "start_date" },
        );
    }
    let first = wanted.max(oldest);
    let seen: HashSet<String> = previous.iter().flat_map(|s| s.seen.clone()).collect();
    let mut emitted: HashSet<String> = HashSet::new();
    let mut zone: Vec<(DateTime<Utc>, String)> = Vec::new();
    let (mut lower, mut found, mut windows) = (first, 0u64, 0u32);
    while lower < end {
        let upper = (lower + WINDOW).min(end);
        let window = (lower, upper);
        found += read_window(
            ctx,
            def,
            field,
            &mut emitter,
            window,
            &seen,
            &mut emitted,
            &mut zone,
        )
        .await?;
        windows += 1;
        // The lookback zone can reach into earlier windows when this one is short.
        zone.retain(|(t, _)| *t > upper - ctx.lookback);
        if zone.len() > MAX_TRACKED {
            zone.sort();
            zone.drain(..zone.len() - MAX_TRACKED);
        }
        if incremental {
            let cursor = previous.as_ref().map_or(upper, |p| p.cursor.max(upper));
            let seen = zone.iter().map(|(_, id)| id.clone()).collect();
            emitter.state(&to_value(&WebhooksState { cursor, seen }))?;
        }
        lower = upper;
    }
    if found == 0 {
        tracing::info!(
            "{}: no webhook deliveries between {first} and {end}: the account has no webhooks configured, or none fired in that time",
            def.name
        );
    }
    match (incremental, windows) {
        (false, _) => emitter.state(&json!({})),
        // Nothing to read (a start date still ahead): the state stays as it was.
        (true, 0) => emitter.state(&previous.as_ref().map_or(json!({}), to_value)),
        (true, _) => Ok(()),
    }
}

/// The API's clock, from one request for the smallest page of the default window: the
/// retention and the window's end count on it, and a local clock that is off would make the
/// API refuse windows as too old, or read none of the newest.
async fn api_clock(ctx: &Context, def: &'static StreamDef) -> Result<DateTime<Utc>> {
    let Path::Fixed(path) = def.request.path else {
        return Ok(ctx.client.server_now());
    };
    let probe = [("limit", "1".to_owned())];
    let response = ctx.client.get(def.name, path, &probe).await?;
    Ok(response
        .server_time
        .unwrap_or_else(|| ctx.client.server_now()))
}

/// Every page of one window `(lower, upper]`; emits its events but those in `seen` or already
/// `emitted` this sync, and adds those of the lookback zone to `zone`. Returns how many events
/// the window holds.
#[allow(clippy::too_many_arguments)]
async fn read_window(
    ctx: &Context,
    def: &'static StreamDef,
    field: &'static str,
    emitter: &mut Emitter,
    (lower, upper): (DateTime<Utc>, DateTime<Utc>),
    seen: &HashSet<String>,
    emitted: &mut HashSet<String>,
    zone: &mut Vec<(DateTime<Utc>, String)>,
) -> Result<u64> {
    let Path::Fixed(path) = def.request.path else {
        return Err(Error::Response {
            endpoint: def.name.into(),
            detail: "webhook deliveries are read from one fixed path".into(),
        });
    };
    let endpoint = || format!("GET {path}");
    let mut found = 0;
    let zone_start = upper - ctx.lookback;
    let mut previous_ids: Vec<String> = Vec::new();
    for page in 1..=MAX_PAGES {
        let query = [
            ("start_time", query_time(lower)),
            ("end_time", query_time_ceil(upper)),
            ("limit", PAGE_SIZES[0].to_string()),
            ("page", page.to_string()),
        ];
        let response = ctx.client.get(def.name, path, &query).await?;
        let parsed = parse_page(def.request.envelope, &response.body, Some(PAGE_SIZES[0]))
            .map_err(|detail| Error::Response {
                endpoint: endpoint(),
                detail: ctx.client.scrub(&detail),
            })?;
        let ids: Vec<String> = parsed.items.iter().map(|e| event_id(e, field)).collect();
        if !ids.is_empty() && ids == previous_ids {
            return Err(Error::Pagination {
                endpoint: endpoint(),
                detail: format!(
                    "page {page} repeats page {} (same events); stopping instead of reading the same page again",
                    page - 1
                ),
            });
        }
        let last_page = parsed.exhausted || parsed.items.is_empty();
        for (event, id) in parsed.items.into_iter().zip(&ids) {
            let at = timestamp(&event, field);
            // Rounded query times may reach past the window: those belong to a neighbour.
            if at.is_some_and(|t| t <= lower || t > upper) {
                continue;
            }
            found += 1;
            if let Some(t) = at.filter(|t| *t > zone_start) {
                zone.push((t, id.clone()));
            }
            if seen.contains(id) || !emitted.insert(id.clone()) {
                continue;
            }
            emitter.emit(event, &Partition::default())?;
        }
        if last_page {
            return Ok(found);
        }
        previous_ids = ids;
    }
    Err(Error::Pagination {
        endpoint: endpoint(),
        detail: format!("more than {MAX_PAGES} pages in one window"),
    })
}

/// An event's identity: its `event_id`, else (an API that left it out) its time and name, so
/// that a repeated page is still recognised.
fn event_id(event: &Value, field: &str) -> String {
    match event.get("event_id") {
        Some(Value::String(id)) => id.clone(),
        _ => format!(
            "{}|{}",
            event.get(field).unwrap_or(&Value::Null),
            event.get("event_name").unwrap_or(&Value::Null)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_fit_the_api_limit_after_rounding() {
        let lower = DateTime::parse_from_rfc3339("2024-01-01T00:00:00.0004Z")
            .unwrap()
            .with_timezone(&Utc);
        let upper = lower + WINDOW;
        let sent = |t: String| {
            DateTime::parse_from_rfc3339(&t)
                .unwrap()
                .with_timezone(&Utc)
        };
        let span = sent(query_time_ceil(upper)) - sent(query_time(lower));
        assert!(span <= Duration::days(14), "{span}");
    }

    #[test]
    fn page_numbers_follow_has_next_or_the_page_count() {
        use crate::engine::Envelope;
        let parse = |body: Value| {
            parse_page(
                Envelope::PageNumbers,
                body.to_string().as_bytes(),
                Some(100),
            )
            .unwrap()
        };
        let page = parse(json!({"events": [{"event_id": "a"}],
            "pagination": {"current_page": 1, "total_pages": 3, "total_items": 201, "has_next": true}}));
        assert_eq!(
            (page.items.len(), page.next.as_deref(), page.exhausted),
            (1, Some("2"), false)
        );
        assert_eq!(page.total, Some(201));
        // Without has_next, the page count decides.
        let page =
            parse(json!({"events": [], "pagination": {"current_page": 3, "total_pages": 3}}));
        assert!(page.exhausted);
        let page = parse(json!({"events": null}));
        assert!(page.exhausted && page.items.is_empty());
        // Without any pagination, a full page may have a successor; a short one has none.
        let events = |n: usize| (0..n).map(|i| json!({"event_id": i})).collect::<Vec<_>>();
        assert!(!parse(json!({"events": events(100)})).exhausted);
        assert!(parse(json!({"events": events(99)})).exhausted);
        for bad in [
            json!({"events": {}}),
            json!({"pagination": 5}),
            json!({"pagination": {"has_next": "yes"}}),
            json!({"pagination": {"current_page": -1}}),
        ] {
            assert!(
                parse_page(Envelope::PageNumbers, bad.to_string().as_bytes(), None).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn events_without_an_id_are_still_told_apart() {
        let a =
            json!({"event_timestamp": "2024-01-01T00:00:00Z", "event_name": "peer.join.success"});
        let b =
            json!({"event_timestamp": "2024-01-01T00:00:01Z", "event_name": "peer.join.success"});
        assert_ne!(
            event_id(&a, "event_timestamp"),
            event_id(&b, "event_timestamp")
        );
        assert_eq!(
            event_id(&json!({"event_id": "e1"}), "event_timestamp"),
            "e1"
        );
    }
}
