//! Per-peer reports of ended sessions (`peer_quality_stats`): one unpaginated request per peer
//! of each session that ended in the window, keyed on the session's end.
//!
//! The API has stats only once a session has ended, and none for a peer that never published
//! (404) or for whom it kept nothing (an empty report): both are counted and skipped, not
//! failed. The window is `(cursor − lookback, window end]`, never older than
//! `peer_quality_stats_days` on the API's clock (0 turns the stream off), so a first sync of a
//! large account costs days, not months, of one request per peer. Sessions read in the lookback
//! zone are remembered in the state, so a re-read asks only for sessions the last sync did not
//! see (those the API listed late). The sessions come from the sync's feed of ended sessions
//! (`feed.rs`): the `sessions` stream's own listing when the sync reads it.
//!
//! Sessions are read in order of their end, in batches whose peers are fetched concurrently;
//! each batch ends in a checkpoint.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde_json::{json, Value};

use super::context::{for_each_partition, Context, Emitter};
use super::cursor::{
    to_value, PeerStatsState, ReadSession, SavedState, MAX_SESSION_LENGTH, MAX_TRACKED,
};
use super::feed::EndedSession;
use super::pages::parse_page;
use super::{Partition, Path, StreamDef};
use crate::error::{Error, Result};
use crate::http::MAX_CLOCK_SKEW;

/// Peers fetched between two checkpoints, about.
const PEERS_PER_BATCH: usize = 200;

/// An ended session whose peers are asked for, with the end it is keyed on.
#[derive(Debug, Clone)]
struct Candidate {
    session: EndedSession,
    ended_at: DateTime<Utc>,
}

/// Sessions and peers without stats, for the closing LOG line.
#[derive(Default)]
struct Counts {
    requested: AtomicU64,
    not_found: AtomicU64,
    empty: AtomicU64,
}

impl Counts {
    fn log(&self, def: &StreamDef, sessions: usize) {
        let load = |n: &AtomicU64| n.load(Ordering::Relaxed);
        tracing::info!(
            "{}: {sessions} sessions ended in the window; {} peers asked for, {} without stats (404) and {} with an empty report, skipped",
            def.name,
            load(&self.requested),
            load(&self.not_found),
            load(&self.empty)
        );
    }
}

pub async fn read(
    ctx: Arc<Context>,
    def: &'static StreamDef,
    field: &'static str,
    incremental: bool,
    state: SavedState,
) -> Result<()> {
    let previous = previous(&state).filter(|_| incremental);
    let emitter = Emitter::new(&ctx, def);
    if ctx.peer_quality_stats_days == 0 {
        tracing::info!(
            "{}: peer_quality_stats_days is 0, which turns this stream off; nothing is read",
            def.name
        );
        return emitter.state(&previous.map_or(json!({}), to_value));
    }
    let (sessions, upper) = candidates(&ctx, def, previous, incremental).await?;
    let counts = Arc::new(Counts::default());
    let mut read: Vec<ReadSession> = previous.map_or(Vec::new(), |s| s.read.clone());
    let batches = batches(&sessions);
    for (i, batch) in batches.iter().enumerate() {
        read_batch(&ctx, def, field, batch, &counts).await?;
        read.extend(batch.iter().map(|s| ReadSession {
            id: s.session.id.clone(),
            ended_at: s.ended_at,
        }));
        // A checkpoint between batches: up to just before the next batch's first end.
        if let (true, Some(next)) = (incremental, batches.get(i + 1).and_then(|b| b.first())) {
            let cursor = next.ended_at - Duration::nanoseconds(1);
            emitter.state(&to_value(&bounded(cursor, &read, ctx.lookback)))?;
        }
    }
    counts.log(def, sessions.len());
    // Closing state: the window's end even when no session ended in it.
    let state = match (incremental, upper) {
        (true, Some(end)) => {
            let cursor = previous.map_or(end, |p| p.cursor.max(end));
            to_value(&bounded(cursor, &read, ctx.lookback))
        }
        (true, None) => previous.map_or(json!({}), to_value),
        (false, _) => json!({}),
    };
    emitter.state(&state)
}

fn previous(state: &SavedState) -> Option<&PeerStatsState> {
    match state {
        SavedState::PeerStats(s) => Some(s),
        _ => None,
    }
}

/// Sessions that ended after this are wanted, but for the day limit.
fn wanted(ctx: &Context, previous: Option<&PeerStatsState>) -> DateTime<Utc> {
    previous.map_or_else(|| ctx.floor(), |s| s.cursor - ctx.lookback)
}

/// How far back the feed of ended sessions must reach for this stream: to the creation of the
/// earliest session that can have ended in its window and within the day limit (counted here
/// on the local clock, less the most the API's may be behind it). `None` when it is off.
pub(super) fn sessions_needed(ctx: &Context, state: &SavedState) -> Option<DateTime<Utc>> {
    if ctx.peer_quality_stats_days == 0 {
        return None;
    }
    let horizon = Utc::now() - Duration::days(ctx.peer_quality_stats_days.into()) - MAX_CLOCK_SKEW;
    Some(wanted(ctx, previous(state)).max(horizon) - MAX_SESSION_LENGTH)
}

/// The sessions whose peers this sync asks for, in order of their end, and the window's end:
/// ended in `(cursor − lookback, window end]`, within the day limit, not read already.
async fn candidates(
    ctx: &Context,
    def: &'static StreamDef,
    previous: Option<&PeerStatsState>,
    incremental: bool,
) -> Result<(Vec<Candidate>, Option<DateTime<Utc>>)> {
    let wanted = wanted(ctx, previous);
    let listed = ctx.sessions.ended(&ctx.client, def.name).await?;
    // The day limit counts on the API's clock, learned from the listing.
    let now = listed
        .server_time
        .unwrap_or_else(|| ctx.client.server_now());
    let horizon = now - Duration::days(ctx.peer_quality_stats_days.into());
    if wanted < horizon {
        tracing::info!(
            "{}: sessions that ended before {horizon} are not read (peer_quality_stats_days is {})",
            def.name,
            ctx.peer_quality_stats_days
        );
    }
    let lower = wanted.max(horizon);
    let upper = ctx.window_end(incremental, listed.server_time);
    let already: BTreeSet<&str> = previous
        .iter()
        .flat_map(|s| s.read.iter().map(|r| r.id.as_str()))
        .collect();
    let mut sessions: Vec<Candidate> = listed
        .sessions
        .iter()
        .filter_map(|session| {
            let ended_at = session.ended_at?;
            let wanted = ended_at > lower && upper.is_none_or(|u| ended_at <= u);
            (wanted && !already.contains(session.id.as_str())).then(|| Candidate {
                session: session.clone(),
                ended_at,
            })
        })
        .collect();
    sessions.sort_by(|a, b| (a.ended_at, &a.session.id).cmp(&(b.ended_at, &b.session.id)));
    Ok((sessions, upper))
}

/// Consecutive sessions of about [`PEERS_PER_BATCH`] peers each; a session is never split.
fn batches(sessions: &[Candidate]) -> Vec<&[Candidate]> {
    let mut out = Vec::new();
    let (mut start, mut peers) = (0, 0);
    for (i, s) in sessions.iter().enumerate() {
        peers += s.session.peers.len();
        if peers >= PEERS_PER_BATCH {
            out.push(&sessions[start..=i]);
            start = i + 1;
            peers = 0;
        }
    }
    if start < sessions.len() {
        out.push(&sessions[start..]);
    }
    out
}

/// The state at `cursor`, remembering the sessions read that ended within the lookback of it
/// or after it (a checkpoint's cursor can lie below sessions of the lookback zone already read;
/// the newest [`MAX_TRACKED`] of them: forgetting one may re-read it, never lose it).
fn bounded(cursor: DateTime<Utc>, read: &[ReadSession], lookback: Duration) -> PeerStatsState {
    let mut kept: Vec<ReadSession> = read
        .iter()
        .filter(|r| r.ended_at > cursor - lookback)
        .cloned()
        .collect();
    kept.sort_by(|a, b| (b.ended_at, &b.id).cmp(&(a.ended_at, &a.id)));
    kept.dedup_by(|a, b| a.id == b.id);
    kept.truncate(MAX_TRACKED);
    kept.reverse();
    PeerStatsState { cursor, read: kept }
}

/// Every peer of a batch of sessions, fetched concurrently.
async fn read_batch(
    ctx: &Arc<Context>,
    def: &'static StreamDef,
    field: &'static str,
    batch: &[Candidate],
    counts: &Arc<Counts>,
) -> Result<()> {
    let peers: Vec<(Arc<Candidate>, String)> = batch
        .iter()
        .flat_map(|s| {
            let session = Arc::new(s.clone());
            s.session
                .peers
                .iter()
                .map(move |p| (session.clone(), p.clone()))
        })
        .collect();
    let worker = ctx.clone();
    let counts = counts.clone();
    for_each_partition(ctx, peers, move |(session, peer)| {
        let ctx = worker.clone();
        let counts = counts.clone();
        async move { read_peer(&ctx, def, field, &session, &peer, &counts).await }
    })
    .await
}

/// One peer's report: emitted with the session's end, or counted when there is none.
async fn read_peer(
    ctx: &Context,
    def: &'static StreamDef,
    field: &'static str,
    candidate: &Candidate,
    peer: &str,
    counts: &Counts,
) -> Result<()> {
    let session = &candidate.session;
    let Path::Fixed(path) = def.request.path else {
        return Err(Error::Response {
            endpoint: def.name.into(),
            detail: "peer stats are read from one fixed path".into(),
        });
    };
    counts.requested.fetch_add(1, Ordering::Relaxed);
    let query = [
        ("peer_id", peer.to_owned()),
        ("session_id", session.id.clone()),
    ];
    let response = match ctx.client.get(def.name, path, &query).await {
        Ok(response) => response,
        Err(e) if e.is_not_found() => {
            counts.not_found.fetch_add(1, Ordering::Relaxed);
            return Ok(());
        }
        Err(e) => return Err(e.into()),
    };
    let parsed = parse_page(def.request.envelope, &response.body, None).map_err(|detail| {
        Error::Response {
            endpoint: format!("GET {path}"),
            detail: ctx.client.scrub(&detail),
        }
    })?;
    let Some(mut report) = parsed.items.into_iter().next() else {
        counts.empty.fetch_add(1, Ordering::Relaxed);
        return Ok(());
    };
    if !has_tracks(&report) {
        counts.empty.fetch_add(1, Ordering::Relaxed);
        return Ok(());
    }
    if let Some(fields) = report.as_object_mut() {
        // The key must hold even if the API leaves an id out; the cursor is the session's end.
        for (key, value) in [("session_id", &session.id), ("peer_id", &peer.to_owned())] {
            if fields.get(key).is_none_or(|v| !v.is_string()) {
                fields.insert(key.into(), Value::String(value.clone()));
            }
        }
        if let (None | Some(Value::Null), Some(room)) = (fields.get("room_id"), &session.room_id) {
            fields.insert("room_id".into(), Value::String(room.clone()));
        }
        fields.insert(
            field.into(),
            Value::String(
                candidate
                    .ended_at
                    .to_rfc3339_opts(SecondsFormat::AutoSi, true),
            ),
        );
    }
    let partition = Partition {
        room_id: session.room_id.clone(),
        session_id: Some(session.id.clone()),
        params: &[],
    };
    Emitter::new(ctx, def).emit(report, &partition)
}

/// Whether a report has any track, published or subscribed.
fn has_tracks(report: &Value) -> bool {
    ["publisher", "subscriber"].iter().any(|direction| {
        ["audio", "video"].iter().any(|kind| {
            report
                .get(direction)
                .and_then(|d| d.get(kind))
                .and_then(Value::as_array)
                .is_some_and(|tracks| !tracks.is_empty())
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn session(id: &str, peers: usize) -> Candidate {
        let ended_at = at("2024-01-01T00:00:00Z");
        Candidate {
            session: EndedSession {
                id: id.into(),
                room_id: None,
                created_at: None,
                ended_at: Some(ended_at),
                peers: (0..peers).map(|p| p.to_string()).collect(),
            },
            ended_at,
        }
    }

    #[test]
    fn batches_never_split_a_session_and_cover_all() {
        let sessions: Vec<Candidate> = (0..30).map(|i| session(&i.to_string(), 15)).collect();
        let out = batches(&sessions);
        assert_eq!(out.iter().map(|b| b.len()).sum::<usize>(), 30);
        assert!(out.len() > 1);
        assert!(out[..out.len() - 1].iter().all(|b| b
            .iter()
            .map(|s| s.session.peers.len())
            .sum::<usize>()
            >= PEERS_PER_BATCH));
        assert!(batches(&[]).is_empty());
    }

    #[test]
    fn state_keeps_only_the_lookback_zone() {
        let cursor = at("2024-01-01T01:00:00Z");
        let read = vec![
            ReadSession {
                id: "old".into(),
                ended_at: at("2024-01-01T00:00:00Z"),
            },
            ReadSession {
                id: "recent".into(),
                ended_at: at("2024-01-01T00:55:00Z"),
            },
        ];
        let state = bounded(cursor, &read, Duration::minutes(15));
        assert_eq!(state.read.len(), 1);
        assert_eq!(state.read[0].id, "recent");
        assert!(bounded(cursor, &read, Duration::zero()).read.is_empty());
    }

    #[test]
    fn empty_reports_have_no_tracks() {
        assert!(!has_tracks(
            &json!({"publisher": {"video": [], "audio": []}})
        ));
        assert!(!has_tracks(&json!({"peer_id": "p"})));
        assert!(has_tracks(
            &json!({"subscriber": {"audio": [{"track_id": "t"}]}})
        ));
    }
}
