//! Per-peer reports of ended sessions (`peer_quality_stats`): one unpaginated request per peer
//! of each session that ended in the window, keyed on the session's end.
//!
//! The API has stats only once a session has ended, and none for a peer that never published
//! (404) or for whom it kept nothing (an empty report): both are counted and skipped, not
//! failed. The window is `(cursor − lookback, window end]`, never older than
//! `peer_quality_stats_days` on the API's clock (0 turns the stream off), so a first sync of a
//! large account costs days, not months, of one request per peer. Sessions read in the lookback zone are remembered
//! in the state, so a re-read asks only for sessions the last sync did not see (those the API
//! listed late).
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
use super::pages::parse_page;
use super::partitions::{ended_at, ended_sessions};
use super::{Partition, Path, StreamDef};
use crate::error::{Error, Result};

/// Peers fetched between two checkpoints, about.
const PEERS_PER_BATCH: usize = 200;

/// An ended session whose peers are candidates.
#[derive(Debug, Clone)]
pub(crate) struct EndedSession {
    pub id: String,
    pub room_id: Option<String>,
    pub ended_at: DateTime<Utc>,
    pub peers: Vec<String>,
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
    let previous = match state {
        SavedState::PeerStats(s) if incremental => Some(s),
        _ => None,
    };
    let emitter = Emitter::new(&ctx, def);
    if ctx.peer_quality_stats_days == 0 {
        tracing::info!(
            "{}: peer_quality_stats_days is 0, which turns this stream off; nothing is read",
            def.name
        );
        return emitter.state(&previous.as_ref().map_or(json!({}), to_value));
    }
    let (sessions, upper) = candidates(&ctx, def, previous.as_ref(), incremental).await?;
    let counts = Arc::new(Counts::default());
    let mut read: Vec<ReadSession> = previous.as_ref().map_or(Vec::new(), |s| s.read.clone());
    let batches = batches(&sessions);
    for (i, batch) in batches.iter().enumerate() {
        read_batch(&ctx, def, field, batch, &counts).await?;
        read.extend(batch.iter().map(|s| ReadSession {
            id: s.id.clone(),
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
            let cursor = previous.as_ref().map_or(end, |p| p.cursor.max(end));
            to_value(&bounded(cursor, &read, ctx.lookback))
        }
        (true, None) => previous.as_ref().map_or(json!({}), to_value),
        (false, _) => json!({}),
    };
    emitter.state(&state)
}

/// The sessions whose peers this sync asks for, in order of their end, and the window's end:
/// ended in `(cursor − lookback, window end]`, within the day limit, not read already.
async fn candidates(
    ctx: &Context,
    def: &'static StreamDef,
    previous: Option<&PeerStatsState>,
    incremental: bool,
) -> Result<(Vec<EndedSession>, Option<DateTime<Utc>>)> {
    let wanted = previous.map_or_else(|| ctx.floor(), |s| s.cursor - ctx.lookback);
    let (sessions, server_time) = sessions_ended_since(ctx, def, wanted).await?;
    // The day limit counts on the API's clock, learned from the listing.
    let now = server_time.unwrap_or_else(|| ctx.client.server_now());
    let horizon = now - Duration::days(ctx.peer_quality_stats_days.into());
    if wanted < horizon {
        tracing::info!(
            "{}: sessions that ended before {horizon} are not read (peer_quality_stats_days is {})",
            def.name,
            ctx.peer_quality_stats_days
        );
    }
    let lower = wanted.max(horizon);
    let upper = ctx.window_end(incremental, server_time);
    let already: BTreeSet<&str> = previous
        .iter()
        .flat_map(|s| s.read.iter().map(|r| r.id.as_str()))
        .collect();
    let mut sessions: Vec<EndedSession> = sessions
        .into_iter()
        .filter(|s| s.ended_at > lower && upper.is_none_or(|u| s.ended_at <= u))
        .filter(|s| !already.contains(s.id.as_str()))
        .collect();
    sessions.sort_by(|a, b| (a.ended_at, &a.id).cmp(&(b.ended_at, &b.id)));
    Ok((sessions, upper))
}

/// The one place that knows where the candidates come from: ended sessions listed since
/// `lower` less the longest a session lasts, so every session that ended after `lower` is in.
/// Returns them with the API's clock at the listing. (On a first sync this lists every session
/// since the start date, as the `sessions` stream does; the day limit is applied after, on the
/// API's clock, so a skewed local clock cannot shift it.)
async fn sessions_ended_since(
    ctx: &Context,
    def: &'static StreamDef,
    lower: DateTime<Utc>,
) -> Result<(Vec<EndedSession>, Option<DateTime<Utc>>)> {
    let listed = ended_sessions(ctx, def.name, lower - MAX_SESSION_LENGTH).await?;
    let sessions = listed.objects.iter().filter_map(ended_session).collect();
    Ok((sessions, listed.server_time))
}

/// A listed session as a candidate: `None` without an id or an end.
fn ended_session(session: &Value) -> Option<EndedSession> {
    let id = session.get("id")?.as_str()?.to_owned();
    let ended_at = ended_at(session)?;
    let room_id = session
        .get("room_id")
        .and_then(Value::as_str)
        .map(str::to_owned);
    // The map key is the peer's id (the legacy examples' values carry none).
    let peers = match session.get("peers") {
        Some(Value::Object(map)) => map.keys().cloned().collect(),
        Some(Value::Array(list)) => list
            .iter()
            .filter_map(|p| p.get("id").and_then(Value::as_str).map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    };
    Some(EndedSession {
        id,
        room_id,
        ended_at,
        peers,
    })
}

/// Consecutive sessions of about [`PEERS_PER_BATCH`] peers each; a session is never split.
fn batches(sessions: &[EndedSession]) -> Vec<&[EndedSession]> {
    let mut out = Vec::new();
    let (mut start, mut peers) = (0, 0);
    for (i, s) in sessions.iter().enumerate() {
        peers += s.peers.len();
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
    batch: &[EndedSession],
    counts: &Arc<Counts>,
) -> Result<()> {
    let peers: Vec<(Arc<EndedSession>, String)> = batch
        .iter()
        .flat_map(|s| {
            let session = Arc::new(s.clone());
            s.peers.iter().map(move |p| (session.clone(), p.clone()))
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
    session: &EndedSession,
    peer: &str,
    counts: &Counts,
) -> Result<()> {
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
                session
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

    fn session(id: &str, peers: usize) -> EndedSession {
        EndedSession {
            id: id.into(),
            room_id: None,
            ended_at: at("2024-01-01T00:00:00Z"),
            peers: (0..peers).map(|p| p.to_string()).collect(),
        }
    }

    #[test]
    fn batches_never_split_a_session_and_cover_all() {
        let sessions: Vec<EndedSession> = (0..30).map(|i| session(&i.to_string(), 15)).collect();
        let out = batches(&sessions);
        assert_eq!(out.iter().map(|b| b.len()).sum::<usize>(), 30);
        assert!(out.len() > 1);
        assert!(out[..out.len() - 1].iter().all(|b| b
            .iter()
            .map(|s| s.peers.len())
            .sum::<usize>()
            >= PEERS_PER_BATCH));
        assert!(batches(&[]).is_empty());
    }

    #[test]
    fn candidate_peers_come_from_map_keys() {
        let s = json!({"id": "s1", "room_id": "r1", "updated_at": "2024-01-01T01:00:00Z",
            "peers": {"p1": {"name": "John"}, "p2": {"id": "p2"}}});
        let c = ended_session(&s).unwrap();
        assert_eq!(c.peers, ["p1", "p2"]);
        assert_eq!(c.ended_at, at("2024-01-01T01:00:00Z"));
        assert!(ended_session(&json!({"id": "s2", "peers": {}})).is_none());
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
