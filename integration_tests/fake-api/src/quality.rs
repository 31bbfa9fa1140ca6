//! Call quality and the webhook log: peer stats of ended sessions
//! (`/v2/analytics/peer-stats`, API doc §3.7.2) and webhook deliveries
//! (`/v2/analytics/webhooks`, §3.7.3).
//!
//! Both are derived from the sessions and recordings by hashing their ids, so they draw nothing
//! from the generator (the rest of the data set stays as it was) and follow every change of the
//! data: a session that ends gets its peers' stats and its close delivery at once.
//!
//! - About 10 % of peers never published: their stats are a 404. About 4 % more have an empty
//!   report (no track either way). The others have one audio and one video track published
//!   (two simulcast layers of video now and then) and a track of each kind subscribed per other
//!   peer (up to three), each with up to six samples.
//! - Deliveries: `session.open.success` and `session.close.success` (once ended) per session,
//!   `peer.join.success` and `peer.leave.success` per peer, `recording.success` per completed
//!   recording; one in twenty failed, with an `error_reason`. The log is served oldest first.

use serde_json::{json, Map, Value};

use crate::model::{Data, REC_STATUSES};
use crate::rng::{mix, oid_hex, parse_oid, uuid_str, Rng};
use crate::ts::{fmt, DAY, MS, NS};

/// How long the API keeps deliveries, and the widest window it takes.
pub(crate) const WEBHOOK_RETENTION: i64 = 30 * DAY;
pub(crate) const WEBHOOK_MAX_WINDOW: i64 = 14 * DAY;

/// What the API has for one peer of an ended session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PeerStats {
    /// The peer never published: 404.
    NeverPublished,
    /// A report without tracks.
    Empty,
    Report,
}

fn peer_seed(d: &Data, session: u32, peer: usize) -> u64 {
    let s = &d.sessions[session as usize];
    let mut sid = [0u8; 8];
    sid.copy_from_slice(&s.id[4..]);
    let p = s.peers[peer].id;
    mix(u64::from_le_bytes(sid) ^ mix(p as u64 ^ (p >> 64) as u64))
}

pub(crate) fn stats_kind(d: &Data, session: u32, peer: usize) -> PeerStats {
    match peer_seed(d, session, peer) % 100 {
        0..=9 => PeerStats::NeverPublished,
        10..=13 => PeerStats::Empty,
        _ => PeerStats::Report,
    }
}

/// Whether a session has stats: it ended and the API lists it.
fn has_stats(d: &Data, session: u32, now: i64) -> bool {
    let s = &d.sessions[session as usize];
    !s.active && s.visible <= now
}

/// The body of `GET /analytics/peer-stats` for a session and peer (ids as sent), or `None`
/// for a 404.
pub(crate) fn peer_stats(d: &Data, now: i64, session_id: &str, peer_id: &str) -> Option<Value> {
    let target = parse_oid(session_id)?;
    let at = d
        .sessions_order
        .binary_search_by(|&i| target.cmp(&d.sessions[i as usize].id))
        .ok()?;
    let session = d.sessions_order[at];
    let s = &d.sessions[session as usize];
    let peer = s.peers.iter().position(|p| uuid_str(p.id) == peer_id)?;
    if !has_stats(d, session, now) {
        return None;
    }
    match stats_kind(d, session, peer) {
        PeerStats::NeverPublished => None,
        PeerStats::Empty => Some(report(d, session, peer, false)),
        PeerStats::Report => Some(report(d, session, peer, true)),
    }
}

fn report(d: &Data, session: u32, peer: usize, with_tracks: bool) -> Value {
    let s = &d.sessions[session as usize];
    let p = &s.peers[peer];
    let mut rng = Rng::new(peer_seed(d, session, peer));
    let (mut pub_audio, mut pub_video, mut sub_audio, mut sub_video) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    if with_tracks {
        let (from, to) = (p.joined, p.left.unwrap_or(s.updated));
        pub_audio.push(track(&mut rng, from, to, false, None));
        if rng.chance(0.3) {
            pub_video.push(track(&mut rng, from, to, true, Some("h")));
            pub_video.push(track(&mut rng, from, to, true, Some("f")));
        } else {
            pub_video.push(track(&mut rng, from, to, true, None));
        }
        for _ in 0..(s.peers.len() - 1).min(3) {
            sub_audio.push(track(&mut rng, from, to, false, None));
            sub_video.push(track(&mut rng, from, to, true, None));
        }
    }
    json!({
        "peer_id": uuid_str(p.id),
        "session_id": oid_hex(&s.id),
        "room_id": oid_hex(&d.rooms[s.room as usize].id),
        "publisher": {"video": pub_video, "audio": pub_audio},
        "subscriber": {"video": sub_video, "audio": sub_audio},
    })
}

/// One track's time series over `[from, to]`: up to six samples, 30 s apart or spread evenly.
fn track(rng: &mut Rng, from: i64, to: i64, video: bool, rid: Option<&str>) -> Value {
    let span = (to - from).max(MS);
    let n = (span / (30 * NS)).clamp(1, 6) as usize;
    let step = span / n as i64;
    let mut series: Map<String, Value> = Map::new();
    let mut column = |name: &str, values: Vec<Value>| {
        series.insert(name.into(), Value::Array(values));
    };
    column(
        "timestamps",
        (0..n)
            .map(|i| json!((from + i as i64 * step) / MS))
            .collect(),
    );
    let (lo, hi) = if video {
        (200_000, 2_500_000)
    } else {
        (20_000, 64_000)
    };
    column(
        "bitrate",
        (0..n).map(|_| json!(rng.range(lo, hi))).collect(),
    );
    column(
        "packet_loss_percent",
        (0..n)
            .map(|_| {
                let spike = rng.chance(0.1);
                let loss = if spike {
                    5.0 + rng.f64() * 15.0
                } else {
                    rng.f64() * 2.0
                };
                json!((loss * 100.0).round() / 100.0)
            })
            .collect(),
    );
    column(
        "rtt_ms",
        (0..n).map(|_| json!(rng.range(20, 300))).collect(),
    );
    column(
        "jitter_ms",
        (0..n).map(|_| json!(rng.range(1, 50))).collect(),
    );
    if video {
        column("fps", (0..n).map(|_| json!(rng.range(15, 31))).collect());
        column(
            "freeze_count",
            (0..n)
                .map(|_| json!(u8::from(rng.chance(0.15)) + u8::from(rng.chance(0.05))))
                .collect(),
        );
    } else {
        column(
            "concealed_samples",
            (0..n).map(|_| json!(rng.range(0, 2000))).collect(),
        );
    }
    let mut t = Map::new();
    t.insert("track_id".into(), uuid_str(rng.uuid()).into());
    t.insert(
        "type".into(),
        (if video { "video" } else { "audio" }).into(),
    );
    if let Some(rid) = rid {
        t.insert("rid".into(), rid.into());
    }
    t.insert("time_series".into(), Value::Object(series));
    Value::Object(t)
}

/// `session|peer` of every peer the API has a non-empty report for.
pub(crate) fn stats_keys(d: &Data, now: i64) -> Vec<String> {
    stats_reports(d, now)
        .map(|(session, peer)| {
            let s = &d.sessions[session as usize];
            format!("{}|{}", oid_hex(&s.id), uuid_str(s.peers[peer].id))
        })
        .collect()
}

/// Every non-empty report, newest session first.
pub(crate) fn stats_raw(d: &Data, now: i64) -> Vec<Value> {
    stats_reports(d, now)
        .map(|(session, peer)| report(d, session, peer, true))
        .collect()
}

fn stats_reports(d: &Data, now: i64) -> impl Iterator<Item = (u32, usize)> + '_ {
    d.sessions_order
        .iter()
        .copied()
        .filter(move |&s| has_stats(d, s, now))
        .flat_map(move |s| (0..d.sessions[s as usize].peers.len()).map(move |p| (s, p)))
        .filter(move |&(s, p)| stats_kind(d, s, p) == PeerStats::Report)
}

// ------------------------------------------------------------------ webhooks

const SESSION_OPEN: u8 = 0;
const SESSION_CLOSE: u8 = 1;
const PEER_JOIN: u8 = 2;
const PEER_LEAVE: u8 = 3;
const RECORDING: u8 = 4;
const WEBHOOK_NAMES: [&str; 5] = [
    "session.open.success",
    "session.close.success",
    "peer.join.success",
    "peer.leave.success",
    "recording.success",
];

/// Salt of the draw that fails a delivery.
const FAILURE_SALT: u64 = 0xDE11_7E2D;

/// One delivery: what it is about, by index, and when.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Delivery {
    pub ts: i64,
    kind: u8,
    /// A session, or for `recording.success` a recording.
    of: u32,
    peer: u16,
}

impl Delivery {
    fn seed(&self, d: &Data) -> u64 {
        let id = match self.kind {
            RECORDING => d.recordings[self.of as usize].id,
            _ => d.sessions[self.of as usize].id,
        };
        let mut tail = [0u8; 8];
        tail.copy_from_slice(&id[4..]);
        mix(u64::from_le_bytes(tail) ^ mix(u64::from(self.kind) << 16 | u64::from(self.peer)))
    }
}

/// Every delivery in `[start, end]`, oldest first (ties by id).
pub(crate) fn deliveries(d: &Data, start: i64, end: i64) -> Vec<Delivery> {
    let mut out = Vec::new();
    let mut push = |ts: i64, kind: u8, of: u32, peer: u16| {
        if ts >= start && ts <= end {
            out.push(Delivery { ts, kind, of, peer });
        }
    };
    for (i, s) in d.sessions.iter().enumerate() {
        let i = i as u32;
        push(s.created, SESSION_OPEN, i, 0);
        for (k, p) in s.peers.iter().enumerate() {
            push(p.joined, PEER_JOIN, i, k as u16);
            if let Some(left) = p.left {
                push(left, PEER_LEAVE, i, k as u16);
            }
        }
        if !s.active {
            push(s.updated, SESSION_CLOSE, i, 0);
        }
    }
    for (i, r) in d.recordings.iter().enumerate() {
        if let ("completed", Some(stopped)) = (REC_STATUSES[r.status as usize], r.stopped) {
            push(stopped, RECORDING, i as u32, 0);
        }
    }
    out.sort_by_cached_key(|e| (e.ts, e.seed(d)));
    out
}

pub(crate) fn delivery_id(d: &Data, e: &Delivery) -> String {
    uuid_str(Rng::new(e.seed(d)).uuid())
}

/// A delivery as the log lists it.
pub(crate) fn delivery_json(d: &Data, e: &Delivery) -> Value {
    let seed = e.seed(d);
    let mut rng = Rng::new(seed ^ FAILURE_SALT);
    let id = delivery_id(d, e);
    let s = &d.sessions[session_of(d, e) as usize];
    let room = &d.rooms[s.room as usize];
    let room_id = oid_hex(&room.id);
    let name = WEBHOOK_NAMES[e.kind as usize];
    let mut data = Map::new();
    data.insert("room_id".into(), room_id.clone().into());
    data.insert("room_name".into(), room.name.clone().into());
    data.insert("session_id".into(), oid_hex(&s.id).into());
    match e.kind {
        PEER_JOIN | PEER_LEAVE => {
            let p = &s.peers[e.peer as usize];
            let peer = Data::active_peer_json(p);
            for key in ["name", "user_id", "role", "joined_at"] {
                data.insert(key.into(), peer[key].clone());
            }
            data.insert("peer_id".into(), uuid_str(p.id).into());
            if let (PEER_LEAVE, Some(left)) = (e.kind, p.left) {
                data.insert("left_at".into(), fmt(left).into());
                data.insert("duration".into(), ((left - p.joined) / NS).into());
            }
        }
        SESSION_OPEN => {
            data.insert("session_started_at".into(), fmt(s.created).into());
        }
        SESSION_CLOSE => {
            data.insert("session_started_at".into(), fmt(s.created).into());
            data.insert("session_stopped_at".into(), fmt(s.updated).into());
        }
        _ => {
            let r = &d.recordings[e.of as usize];
            data.insert("recording_id".into(), oid_hex(&r.id).into());
            data.insert(
                "recording_path".into(),
                format!("s3://fake-recordings/{room_id}/{}.mp4", oid_hex(&r.id)).into(),
            );
        }
    }
    let mut payload = Map::new();
    payload.insert(
        "event_data".into(),
        json!({"version": "2.0", "id": id, "account_id": d.customer, "app_id": d.app_id,
            "timestamp": fmt(e.ts), "type": name, "data": data}),
    );
    payload.insert(
        "webhook_url".into(),
        format!("https://hooks.fake-customer.example/100ms/{}", d.app_id).into(),
    );
    payload.insert("original_event_name".into(), name.into());
    if rng.chance(0.05) {
        payload.insert(
            "error_reason".into(),
            (*rng.pick(&[
                "connection timeout",
                "502 Bad Gateway",
                "TLS handshake failed",
            ]))
            .into(),
        );
    }
    json!({
        "event_id": id,
        "event_name": name,
        "room_id": room_id,
        "event_timestamp": fmt(e.ts),
        "payload": payload,
    })
}

/// Whether a delivery failed (it carries an `error_reason`).
fn delivery_failed(d: &Data, e: &Delivery) -> bool {
    Rng::new(e.seed(d) ^ FAILURE_SALT).chance(0.05)
}

fn session_of(d: &Data, e: &Delivery) -> u32 {
    match e.kind {
        RECORDING => d.recordings[e.of as usize].session,
        _ => e.of,
    }
}

/// The list's filters, without rendering: `room_id`, `event_names` (any of) and `status`
/// (`all`, `failed` or `success`).
pub(crate) fn delivery_matches(
    d: &Data,
    e: &Delivery,
    room: Option<&str>,
    names: &[&str],
    status: &str,
) -> bool {
    let room_ok = room.is_none_or(|r| {
        oid_hex(&d.rooms[d.sessions[session_of(d, e) as usize].room as usize].id) == r
    });
    let name_ok = names.is_empty() || names.contains(&WEBHOOK_NAMES[e.kind as usize]);
    let status_ok = match status {
        "failed" => delivery_failed(d, e),
        "success" => !delivery_failed(d, e),
        _ => true,
    };
    room_ok && name_ok && status_ok
}

/// Every delivery the API still keeps, oldest first.
pub(crate) fn webhooks_kept(d: &Data, now: i64) -> Vec<Delivery> {
    deliveries(d, now - WEBHOOK_RETENTION, now)
}
