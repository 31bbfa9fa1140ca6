//! The fake's data set: compact structs generated from a seed, rendered to JSON on demand.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Map, Value};

use crate::rng::{self, oid_hex, uuid_str, Oid, Rng};
use crate::ts::{fmt, fmt_opt, ms, DAY, HOUR, MIN, MS, NS};
use crate::variants::{self, Variants};
use crate::Scale;

const FIRST_NAMES: [&str; 16] = [
    "John", "Nick", "Asha", "Ravi", "Mei", "Lena", "Omar", "Sara", "Ken", "Ines", "Tom", "Priya",
    "Yuki", "Diego", "Zoe", "Ali",
];
const WORDS: [&str; 8] = [
    "class",
    "standup",
    "webinar",
    "townhall",
    "demo",
    "office-hours",
    "lecture",
    "sync",
];
const REGIONS: [&str; 3] = ["in", "us", "eu"];
const PEER_ROLES: [&str; 2] = ["host", "guest"];
pub(crate) const EVENT_TYPES: [&str; 9] = [
    "track.add.success",
    "track.update.success",
    "track.remove.success",
    "client.join.failed",
    "client.publish.failed",
    "client.subscribe.failed",
    "client.disconnected",
    "beam.recording.success",
    "client.connect.failed",
];
/// Kinds of `EVENT_TYPES` that `error=true` selects.
pub(crate) fn is_error_kind(kind: u8) -> bool {
    matches!(kind, 3..=6 | 8)
}
/// Always visible (the default for generated objects).
pub(crate) const VISIBLE: i64 = i64::MIN;
pub(crate) const ASSET_KINDS: [&str; 6] = [
    "room-composite",
    "chat",
    "transcript",
    "summary",
    "room-vod",
    "track",
];
pub(crate) const REC_STATUSES: [&str; 6] = [
    "starting",
    "running",
    "stopping",
    "post_processing",
    "completed",
    "failed",
];
const REC_RUNNING: u8 = 1;
const REC_POST: u8 = 3;
const REC_COMPLETED: u8 = 4;

pub(crate) struct Template {
    pub id: Oid,
    pub value: Value,
}

pub(crate) struct Room {
    pub id: Oid,
    pub created: i64,
    pub updated: Option<i64>,
    pub enabled: bool,
    pub template: u32,
    pub name: String,
    region: u8,
    large: bool,
    size: Option<u32>,
    max_dur: u32,
    rec: u8,
    pub active_session: Option<u32>,
}

pub(crate) struct Peer {
    pub id: u128,
    name: u8,
    role: u8,
    user: u32,
    meta: u8,
    pub joined: i64,
    pub left: Option<i64>,
}

pub(crate) struct Session {
    pub id: Oid,
    pub room: u32,
    pub created: i64,
    pub updated: i64,
    pub active: bool,
    pub peers: Vec<Peer>,
    /// The API lists it only from this instant on (its pipeline is late).
    pub visible: i64,
}

pub(crate) struct Recording {
    pub id: Oid,
    pub session: u32,
    created: i64,
    started: i64,
    pub stopped: Option<i64>,
    updated: i64,
    pub status: u8,
    started_by: Option<u128>,
    pub assets: Vec<u32>,
    pub visible: i64,
}

pub(crate) struct Asset {
    pub id: Oid,
    pub rec: u32,
    created: i64,
    pub kind: u8,
    pub status: u8, // 0 completed, 1 failed
    size: u64,
    duration: u32,
    seed: u64,
    pub visible: i64,
}

pub(crate) struct Event {
    pub id: u128,
    pub ts: i64,
    pub room: u32,
    /// `None` for a peer who never got into a session (a join failure).
    pub session: Option<u32>,
    peer: u16,
    pub kind: u8,
    seed: u64,
}

/// Keys of new or changed records, per stream, as a mutation reports them.
#[derive(Default)]
struct Changes(BTreeMap<String, BTreeSet<String>>);

impl Changes {
    fn add(&mut self, stream: &str, key: String) {
        self.0.entry(stream.to_owned()).or_default().insert(key);
    }
}

/// Everything the fake serves. Lists are kept as `*_order` index vectors sorted by id, descending.
pub(crate) struct Data {
    pub customer: String,
    pub app_id: String,
    rng: Rng,
    apr: usize,
    pub templates: Vec<Template>,
    pub rooms: Vec<Room>,
    pub sessions: Vec<Session>,
    pub recordings: Vec<Recording>,
    pub assets: Vec<Asset>,
    pub events: Vec<Event>,
    pub templates_order: Vec<u32>,
    pub rooms_order: Vec<u32>,
    pub sessions_order: Vec<u32>,
    pub recordings_order: Vec<u32>,
    pub assets_order: Vec<u32>,
    /// Per room: event indices in ascending (timestamp, index) order.
    pub room_events: Vec<Vec<u32>>,
    template_bump: usize,
    /// The doc variants served ([`Data::set_variants`]).
    pub variants: Variants,
    /// Makes the planted secrets of one seed differ from another's.
    pub secret_salt: u64,
}

fn sorted_desc<T>(items: &[T], id: impl Fn(&T) -> Oid) -> Vec<u32> {
    let mut order: Vec<u32> = (0..items.len() as u32).collect();
    order.sort_unstable_by(|&a, &b| id(&items[b as usize]).cmp(&id(&items[a as usize])));
    order
}

fn secs(ns: i64) -> i64 {
    ns.div_euclid(NS)
}

/// Stored objects are mostly millisecond precision, a few whole seconds.
fn stored(rng: &mut Rng, ns: i64) -> i64 {
    if rng.chance(0.05) {
        ns - ns.rem_euclid(NS)
    } else {
        ms(ns)
    }
}

impl Data {
    pub(crate) fn generate(seed: u64, scale: &Scale, now: i64) -> Data {
        let mut rng = Rng::new(seed);
        let customer = oid_hex(&rng.oid(secs(now - 400 * DAY)));
        let app_id = oid_hex(&rng.oid(secs(now - 400 * DAY)));
        let mut d = Data {
            customer,
            app_id,
            rng: Rng::new(seed ^ 0xA11C_E5ED),
            apr: scale.assets_per_recording.max(1),
            templates: Vec::new(),
            rooms: Vec::new(),
            sessions: Vec::new(),
            recordings: Vec::new(),
            assets: Vec::new(),
            events: Vec::new(),
            templates_order: Vec::new(),
            rooms_order: Vec::new(),
            sessions_order: Vec::new(),
            recordings_order: Vec::new(),
            assets_order: Vec::new(),
            room_events: Vec::new(),
            template_bump: 0,
            variants: Variants::default(),
            secret_salt: rng::mix(seed ^ 0x5EC2_E75A),
        };
        d.gen_templates(&mut rng, scale.templates.max(1), now);
        d.gen_rooms(&mut rng, scale.rooms.max(1), now);
        d.gen_sessions(&mut rng, scale, now);
        d.gen_recordings(&mut rng, scale, now);
        d.reindex();
        d
    }

    /// Serves `variants` from now on. Generated data stays the same whatever they are (they
    /// draw nothing from the generator), so the ground truth does too.
    pub(crate) fn set_variants(&mut self, variants: Variants) {
        if variants.storage_credentials && !self.variants.storage_credentials {
            for (i, t) in self.templates.iter_mut().enumerate() {
                variants::plant_template_credentials(&mut t.value, self.secret_salt, i);
            }
        }
        self.variants = variants;
    }

    fn gen_templates(&mut self, rng: &mut Rng, n: usize, now: i64) {
        for i in 0..n {
            let t = rng.range(now - 60 * DAY, now - 40 * DAY);
            let created = stored(rng, t);
            let updated = if rng.chance(0.4) {
                ms(rng.range(created + MIN, now - 26 * DAY))
            } else {
                created
            };
            let id = rng.oid(secs(created));
            let value = template_value(rng, i, &id, created, updated, &self.customer, &self.app_id);
            self.templates.push(Template { id, value });
        }
    }

    fn gen_rooms(&mut self, rng: &mut Rng, n: usize, now: i64) {
        let recent = (n / 20).max(1).min(n.saturating_sub(1));
        for i in 0..n {
            let created = if i >= n - recent {
                rng.range(now - 3 * DAY, now - HOUR)
            } else {
                rng.range(now - 40 * DAY, now - 26 * DAY)
            };
            let created = stored(rng, created);
            let room = self.new_room(rng, created, now - 10 * MIN, i);
            self.rooms.push(room);
        }
    }

    fn new_room(&mut self, rng: &mut Rng, created: i64, update_before: i64, i: usize) -> Room {
        let enabled = !rng.chance(0.1);
        let updated = if !enabled || rng.chance(0.3) {
            Some(ms(rng.range(created + MIN, update_before)).max(created))
        } else {
            None
        };
        let large = rng.chance(0.1);
        let name = if rng.chance(0.25) {
            uuid_str(rng.uuid())
        } else {
            format!("{}-room-{}", rng.pick(&WORDS), i)
        };
        Room {
            id: rng.oid(secs(created)),
            created,
            updated,
            enabled,
            template: rng.below(self.templates.len() as u64) as u32,
            name,
            region: rng.below(3) as u8,
            large,
            size: if large {
                Some(rng.between(2500, 20000) as u32)
            } else if rng.chance(0.5) {
                Some(rng.between(2, 2500) as u32)
            } else {
                None
            },
            max_dur: rng.between(120, 43200) as u32,
            rec: rng.below(3) as u8,
            active_session: None,
        }
    }

    fn gen_peers(rng: &mut Rng, n: usize, start: i64, end: Option<i64>, cap: i64) -> Vec<Peer> {
        let mut peers = Vec::with_capacity(n);
        for p in 0..n {
            let joined = if p == 0 {
                start
            } else {
                rng.range(start, end.unwrap_or(cap) - NS)
            };
            let left = match end {
                Some(e) if p == 0 => Some(e),
                Some(e) => Some(rng.range(joined + MS, e + 1)),
                None if p > 0 && rng.chance(0.5) => Some(rng.range(joined + MS, cap)),
                None => None,
            };
            let (joined, left) = if end.is_some() {
                (ms(joined), left.map(ms))
            } else {
                (joined, left)
            };
            peers.push(Peer {
                id: rng.uuid(),
                name: rng.below(FIRST_NAMES.len() as u64) as u8,
                role: u8::from(p > 0 && rng.chance(0.8)),
                user: rng.below(100_000) as u32,
                meta: rng.below(3) as u8,
                joined,
                left,
            });
        }
        peers
    }

    fn gen_sessions(&mut self, rng: &mut Rng, scale: &Scale, now: i64) {
        let old_rooms = self.rooms.len() - (self.rooms.len() / 20).max(1).min(self.rooms.len() - 1);
        let end_max = now - 10 * MIN;
        let ppp = scale.peers_per_session.max(1);
        for _ in 0..scale.sessions {
            let dur = if rng.chance(0.25) {
                rng.range(HOUR, 12 * HOUR)
            } else {
                rng.range(2 * MIN, HOUR)
            };
            let t = rng.range(now - 25 * DAY, end_max - dur);
            let created = stored(rng, t);
            let end = created + dur;
            let n = rng.between(1, 2 * ppp);
            let first = created - rng.range(0, 5 * MS);
            let mut peers = Self::gen_peers(rng, n, first, Some(end), end);
            peers[0].joined = ms(peers[0].joined);
            let last = peers.iter().filter_map(|p| p.left).max().unwrap_or(end);
            let s = Session {
                id: rng.oid(secs(created)),
                room: rng.below(old_rooms as u64) as u32,
                created,
                updated: last + rng.range(2 * MS, 15 * MS),
                active: false,
                peers,
                visible: VISIBLE,
            };
            self.sessions.push(s);
        }
        // Live sessions, in distinct enabled rooms.
        let mut candidates: Vec<u32> = (0..old_rooms as u32)
            .filter(|&r| self.rooms[r as usize].enabled)
            .collect();
        for _ in 0..scale.active_sessions.min(candidates.len()) {
            let room = candidates.swap_remove(rng.below(candidates.len() as u64) as usize);
            let created = rng.range(now - 3 * HOUR, now - 5 * MIN);
            let n = rng.between(1, 2 * ppp);
            let peers = Self::gen_peers(rng, n, created, None, now - NS);
            let updated = peers
                .iter()
                .map(|p| p.left.unwrap_or(p.joined))
                .max()
                .unwrap_or(created);
            let idx = self.sessions.len() as u32;
            self.rooms[room as usize].active_session = Some(idx);
            self.sessions.push(Session {
                id: rng.oid(secs(created)),
                room,
                created,
                updated,
                active: true,
                peers,
                visible: VISIBLE,
            });
        }
        let eps = scale.events_per_session;
        for s in 0..self.sessions.len() {
            let n = match scale.events_per_live_session {
                n if n > 0 && self.sessions[s].active => n,
                _ => rng.between(0, 2 * eps),
            };
            for _ in 0..n {
                let ev = self.new_event(rng, s as u32, None, now);
                self.events.push(ev);
            }
        }
    }

    fn new_event(
        &self,
        rng: &mut Rng,
        session: u32,
        at: Option<(u16, i64, u8)>,
        now: i64,
    ) -> Event {
        let s = &self.sessions[session as usize];
        let (peer, ts, kind) = match at {
            Some(x) => x,
            None => {
                let peer = rng.below(s.peers.len() as u64) as u16;
                let p = &s.peers[peer as usize];
                let hi = p.left.unwrap_or(now - NS);
                let ts = rng.range(p.joined, hi.max(p.joined + 1));
                let r = rng.below(100);
                let kind = match r {
                    0..=34 => 0,
                    35..=54 => 1,
                    55..=74 => 2,
                    75..=80 => 3,
                    81..=86 => 4,
                    87..=90 => 5,
                    91..=95 => 6,
                    _ => 7,
                };
                (peer, ts, kind)
            }
        };
        Event {
            id: rng.uuid(),
            ts,
            room: s.room,
            session: Some(session),
            peer,
            kind,
            seed: rng.next_u64(),
        }
    }

    /// A `client.join.failed` of a peer who never got in: it belongs to no session.
    pub(crate) fn join_failure(&self, rng: &mut Rng, room: u32, ts: i64) -> Event {
        Event {
            id: rng.uuid(),
            ts,
            room,
            session: None,
            peer: 0,
            kind: 3,
            seed: rng.next_u64(),
        }
    }

    fn gen_recordings(&mut self, rng: &mut Rng, scale: &Scale, now: i64) {
        let n = scale.recordings;
        if n == 0 || self.sessions.is_empty() {
            return;
        }
        let ended = scale.sessions;
        let active: Vec<u32> = (ended as u32..self.sessions.len() as u32).collect();
        let running = active.len().div_ceil(2).min(n);
        for &s in active.iter().take(running) {
            let sess = &self.sessions[s as usize];
            let created = rng.range(sess.created + 20 * NS, now - 2 * MIN);
            self.push_recording(rng, s, created, None, REC_RUNNING, now);
        }
        let mut left = n - running;
        if ended == 0 {
            return;
        }
        // The most recently ended sessions are still post-processing.
        let mut by_end: Vec<u32> = (0..ended as u32).collect();
        by_end.sort_unstable_by_key(|&s| std::cmp::Reverse(self.sessions[s as usize].updated));
        let post = if left > 5 { 2 } else { 0 };
        for &s in by_end.iter().take(post) {
            let sess = &self.sessions[s as usize];
            let created = sess.created + rng.range(5 * NS, 60 * NS);
            let stop = sess.updated;
            self.push_recording(rng, s, created, Some(stop), REC_POST, now);
        }
        left -= post;
        for _ in 0..left {
            let s = rng.below(ended as u64) as u32;
            let sess = &self.sessions[s as usize];
            let dur = sess.updated - sess.created;
            let created = sess.created + rng.range(5 * NS, (dur / 2).clamp(6 * NS, 10 * MIN));
            let stop = rng.range(created + 10 * NS, sess.updated.max(created + 11 * NS));
            self.push_recording(rng, s, created, Some(stop), REC_COMPLETED, now);
        }
    }

    /// Adds a recording (and, when completed, its assets). Returns its index.
    fn push_recording(
        &mut self,
        rng: &mut Rng,
        session: u32,
        created: i64,
        stopped: Option<i64>,
        status: u8,
        now: i64,
    ) -> u32 {
        let created = ms(created);
        let started = ms(created + rng.range(2 * NS, 5 * NS));
        let stopped = stopped.map(|s| ms(s.max(started + MS)));
        let idx = self.recordings.len() as u32;
        let sess = &self.sessions[session as usize];
        let started_by = if rng.chance(0.7) {
            Some(sess.peers[0].id)
        } else {
            None
        };
        let updated = stopped.map_or(started, |s| ms(s + rng.range(NS, 60 * NS)).min(now));
        self.recordings.push(Recording {
            id: rng.oid(secs(created)),
            session,
            created,
            started,
            stopped,
            updated,
            status,
            started_by,
            assets: Vec::new(),
            visible: VISIBLE,
        });
        if status == REC_COMPLETED {
            self.add_assets(idx, rng, now);
        }
        idx
    }

    fn add_assets(&mut self, rec: u32, rng: &mut Rng, now: i64) -> Vec<u32> {
        let apr = self.apr;
        let r = &self.recordings[rec as usize];
        let stopped = r.stopped.unwrap_or(r.updated);
        let dur = ((stopped - r.started) / NS).max(0) as u32;
        let n = rng.between(1, (2 * apr - 1).min(ASSET_KINDS.len()));
        let mut kinds: Vec<u8> = vec![0];
        while kinds.len() < n {
            let k = rng.between(1, ASSET_KINDS.len() - 1) as u8;
            if !kinds.contains(&k) {
                kinds.push(k);
            }
        }
        let mut out = Vec::new();
        let mut latest = stopped;
        for kind in kinds {
            let created = ms(rng.range(stopped + 5 * NS, stopped + 120 * NS)).min(now);
            latest = latest.max(created);
            let size = match kind {
                1 => rng.range(20, 5000) as u64,
                2 | 3 => rng.range(50, 20000) as u64,
                _ => u64::from(dur.max(1)) * rng.range(50_000, 500_000) as u64,
            };
            let idx = self.assets.len() as u32;
            self.assets.push(Asset {
                id: rng.oid(secs(created)),
                rec,
                created,
                kind,
                status: u8::from(rng.chance(0.05)),
                size,
                duration: if kind == 1 { 0 } else { dur },
                seed: rng.next_u64(),
                visible: VISIBLE,
            });
            out.push(idx);
        }
        let r = &mut self.recordings[rec as usize];
        r.assets.extend(&out);
        r.updated = r.updated.max(ms(latest + 3 * MS).min(now));
        out
    }

    fn reindex(&mut self) {
        self.templates_order = sorted_desc(&self.templates, |t| t.id);
        self.rooms_order = sorted_desc(&self.rooms, |r| r.id);
        self.sessions_order = sorted_desc(&self.sessions, |s| s.id);
        self.recordings_order = sorted_desc(&self.recordings, |r| r.id);
        self.assets_order = sorted_desc(&self.assets, |a| a.id);
        let mut per_room = vec![Vec::new(); self.rooms.len()];
        for (i, e) in self.events.iter().enumerate() {
            per_room[e.room as usize].push(i as u32);
        }
        for v in &mut per_room {
            v.sort_unstable_by_key(|&i| (self.events[i as usize].ts, i));
        }
        self.room_events = per_room;
    }

    // ---------------------------------------------------------------- rendering

    pub(crate) fn room_json(&self, i: u32) -> Value {
        let r = &self.rooms[i as usize];
        let t = &self.templates[r.template as usize];
        let mut m = Map::new();
        m.insert("id".into(), oid_hex(&r.id).into());
        m.insert("name".into(), r.name.clone().into());
        m.insert("enabled".into(), r.enabled.into());
        m.insert("description".into(), "This is a test room".into());
        m.insert("customer_id".into(), self.customer.clone().into());
        m.insert("customer".into(), self.customer.clone().into());
        m.insert("app_id".into(), self.app_id.clone().into());
        m.insert("recording_source_template".into(), (r.rec == 0).into());
        let rec = match r.rec {
            0 | 1 => json!({"enabled": false}),
            _ => {
                let mut rec = json!({"enabled": true, "upload_info": {"type": "s3",
                "location": "fake-recordings-ap-south-1", "prefix": format!("dev/{}", self.customer),
                "options": {"region": "ap-south-1"}}});
                if self.variants.storage_credentials {
                    rec["upload_info"]["credentials"] =
                        variants::room_credentials(self.secret_salt, i as usize);
                }
                rec
            }
        };
        m.insert("recording_info".into(), rec);
        m.insert("template_id".into(), oid_hex(&t.id).into());
        m.insert("template".into(), t.value["name"].clone());
        m.insert("region".into(), REGIONS[r.region as usize].into());
        m.insert("created_at".into(), fmt(r.created).into());
        m.insert("key".into(), format!("{}:{}", self.customer, r.name).into());
        m.insert("updated_at".into(), fmt_opt(r.updated).into());
        m.insert("large_room".into(), r.large.into());
        if let Some(size) = r.size {
            m.insert("size".into(), size.into());
        }
        m.insert("max_duration_seconds".into(), r.max_dur.into());
        Value::Object(m)
    }

    fn peer_name(p: &Peer) -> String {
        format!(
            "{} {}",
            FIRST_NAMES[p.name as usize],
            (b'A' + (p.user % 26) as u8) as char
        )
    }

    fn peer_metadata(p: &Peer) -> &'static str {
        ["", "{\"isHandRaised\":false}", "{\"avatar\":\"blue\"}"][p.meta as usize]
    }

    pub(crate) fn session_json(&self, i: u32) -> Value {
        let s = &self.sessions[i as usize];
        let sid = oid_hex(&s.id);
        let mut peers = Map::new();
        for p in &s.peers {
            let pid = uuid_str(p.id);
            let mut m = Map::new();
            if !self.variants.peers_keyed_only {
                m.insert("id".into(), pid.clone().into());
            }
            m.insert("session_id".into(), sid.clone().into());
            m.insert("name".into(), Self::peer_name(p).into());
            m.insert("role".into(), PEER_ROLES[p.role as usize].into());
            m.insert("user_id".into(), format!("user-{}", p.user).into());
            m.insert("joined_at".into(), fmt(p.joined).into());
            if let Some(l) = p.left {
                m.insert("left_at".into(), fmt(l).into());
            }
            peers.insert(pid, Value::Object(m));
        }
        json!({
            "id": sid,
            "room_id": oid_hex(&self.rooms[s.room as usize].id),
            "customer_id": self.customer,
            "app_id": self.app_id,
            "active": s.active,
            "peers": peers,
            "created_at": fmt(s.created),
            "updated_at": fmt(s.updated),
        })
    }

    /// A live peer as `/active-rooms/{id}/peers` maps it: without its `id` under
    /// [`Variants::peers_keyed_only`].
    pub(crate) fn active_peer_in_map(&self, p: &Peer) -> Value {
        let mut v = Self::active_peer_json(p);
        if self.variants.peers_keyed_only {
            if let Some(m) = v.as_object_mut() {
                m.remove("id");
            }
        }
        v
    }

    pub(crate) fn active_peer_json(p: &Peer) -> Value {
        json!({
            "id": uuid_str(p.id),
            "name": Self::peer_name(p),
            "user_id": format!("user-{}", p.user),
            "metadata": Self::peer_metadata(p),
            "role": PEER_ROLES[p.role as usize],
            "joined_at": fmt(p.joined),
        })
    }

    fn asset_types(&self, r: &Recording) -> Vec<&'static str> {
        if r.assets.is_empty() {
            return vec!["room-composite"];
        }
        r.assets
            .iter()
            .map(|&a| ASSET_KINDS[self.assets[a as usize].kind as usize])
            .collect()
    }

    pub(crate) fn recording_json(&self, i: u32) -> Value {
        let r = &self.recordings[i as usize];
        let s = &self.sessions[r.session as usize];
        let room = oid_hex(&self.rooms[s.room as usize].id);
        json!({
            "id": oid_hex(&r.id),
            "room_id": room,
            "session_id": oid_hex(&s.id),
            "status": REC_STATUSES[r.status as usize],
            "created_at": fmt(r.created),
            "started_at": fmt(r.started),
            "updated_at": fmt(r.updated),
            "stopped_at": fmt_opt(r.stopped),
            "meeting_url": format!("https://fake.app.100ms.live/preview/{room}?token=beam_recording"),
            "started_by": r.started_by.map(uuid_str).unwrap_or_default(),
            "stopped_by": "",
            "asset_types": self.asset_types(r),
        })
    }

    pub(crate) fn asset_json(&self, i: u32) -> Value {
        let a = &self.assets[i as usize];
        let r = &self.recordings[a.rec as usize];
        let s = &self.sessions[r.session as usize];
        let room = oid_hex(&self.rooms[s.room as usize].id);
        let mut rng = Rng::new(a.seed);
        let kind = ASSET_KINDS[a.kind as usize];
        let metadata = match a.kind {
            0 => json!({"resolution": {"width": 1280, "height": 720}}),
            2 => json!({"output_mode": *rng.pick(&["txt", "srt", "json"])}),
            4 => json!({"num_layers": "4", "max_width": 1280, "max_height": 720}),
            5 => json!({"track_id": uuid_str(rng.uuid()), "stream_id": uuid_str(rng.uuid()),
                        "peer_id": uuid_str(rng.uuid()), "track_type": "video"}),
            _ => json!({}),
        };
        let thumbnails = if a.kind == 0 && rng.chance(0.3) {
            json!([{"path": format!("s3://fake-recordings/{room}/{}/thumb-0.png", oid_hex(&r.id)),
                    "size": rng.range(1000, 90000), "width": 320, "height": 180, "offset": 0}])
        } else {
            Value::Null
        };
        let ext = match a.kind {
            1 => "csv",
            2 => "txt",
            3 => "json",
            4 => "m3u8",
            _ => "mp4",
        };
        json!({
            "id": oid_hex(&a.id),
            "job_id": oid_hex(&r.id),
            "room_id": room,
            "session_id": oid_hex(&s.id),
            "type": kind,
            "format": ext,
            "path": format!("s3://fake-recordings/{}/{}/{}/{kind}.{ext}", self.customer, room, oid_hex(&r.id)),
            "thumbnails": thumbnails,
            "metadata": metadata,
            "duration": a.duration,
            "size": a.size,
            "status": if a.status == 0 { "completed" } else { "failed" },
            "created_at": fmt(a.created),
        })
    }

    pub(crate) fn event_json(&self, i: u32) -> Value {
        let e = &self.events[i as usize];
        let room = &self.rooms[e.room as usize];
        let outsider;
        let (session, p) = match e.session {
            Some(si) => {
                let s = &self.sessions[si as usize];
                (Some(s), &s.peers[e.peer as usize])
            }
            None => {
                // A peer who never got in: known to no session.
                let mut own = Rng::new(e.seed ^ 0x5E55_1035);
                outsider = Peer {
                    id: own.uuid(),
                    name: own.below(FIRST_NAMES.len() as u64) as u8,
                    role: 1,
                    user: own.below(100_000) as u32,
                    meta: 0,
                    joined: e.ts,
                    left: Some(e.ts),
                };
                (None, &outsider)
            }
        };
        let mut rng = Rng::new(e.seed);
        let mut d = Map::new();
        let room_id = oid_hex(&room.id);
        let template_id = oid_hex(&self.templates[room.template as usize].id);
        if let (7, Some(s)) = (e.kind, session) {
            let started = ms(s.created + rng.range(NS, 60 * NS)).min(e.ts);
            let duration = (e.ts - started) / NS;
            let beam = oid_hex(&rng.oid(secs(started)));
            d.insert("beam_id".into(), beam.clone().into());
            d.insert("room_id".into(), room_id.clone().into());
            d.insert("session_id".into(), oid_hex(&s.id).into());
            d.insert("peer_id".into(), uuid_str(p.id).into());
            d.insert("template_id".into(), template_id.into());
            d.insert(
                "created_at".into(),
                fmt(e.ts - rng.range(0, 500 * MS)).into(),
            );
            d.insert("duration".into(), duration.into());
            d.insert("started_at".into(), fmt(started).into());
            d.insert("stopped_at".into(), fmt(ms(e.ts)).into());
            d.insert("max_width".into(), 1280.into());
            d.insert("max_height".into(), 720.into());
            d.insert(
                "recording_path".into(),
                format!("s3://fake-recordings/{room_id}/{beam}.mp4").into(),
            );
            d.insert(
                "recording_presigned_url".into(),
                format!("https://fake-recordings.example/{beam}.mp4").into(),
            );
            d.insert(
                "meeting_url".into(),
                format!("https://fake.app.100ms.live/preview/{room_id}?token=beam_recording")
                    .into(),
            );
            d.insert("rtmp".into(), json!([]));
            d.insert("session_started_at".into(), fmt(s.created).into());
            d.insert(
                "size".into(),
                (duration.max(1) * rng.range(100_000, 500_000)).into(),
            );
        } else {
            d.insert("room_id".into(), room_id.into());
            if let Some(s) = session {
                d.insert("session_id".into(), oid_hex(&s.id).into());
            }
            d.insert("room_name".into(), room.name.clone().into());
            d.insert("peer_id".into(), uuid_str(p.id).into());
            d.insert("user_id".into(), format!("user-{}", p.user).into());
            d.insert("user_name".into(), Self::peer_name(p).into());
            d.insert("joined_at".into(), fmt(p.joined).into());
            d.insert("role".into(), PEER_ROLES[p.role as usize].into());
            if e.kind <= 2 {
                let started = if e.kind == 0 {
                    e.ts - rng.range(0, MS)
                } else {
                    rng.range(p.joined, e.ts).max(p.joined)
                };
                d.insert("track_id".into(), uuid_str(rng.uuid()).into());
                d.insert("stream_id".into(), uuid_str(rng.uuid()).into());
                d.insert("type".into(), (*rng.pick(&["audio", "video"])).into());
                d.insert(
                    "source".into(),
                    (if rng.chance(0.1) { "screen" } else { "regular" }).into(),
                );
                d.insert("mute".into(), rng.chance(0.4).into());
                d.insert("started_at".into(), fmt(started).into());
                if e.kind == 2 {
                    d.insert("stopped_at".into(), fmt(e.ts - rng.range(0, MS)).into());
                }
            } else {
                let (code, name, msg, action) = *rng.pick(&[
                    (
                        1003,
                        "WebSocketConnectionLost",
                        "Network connection lost",
                        "JOIN",
                    ),
                    (
                        3001,
                        "CantAccessCaptureDevice",
                        "User denied permission",
                        "PUBLISH",
                    ),
                    (4005, "ICEFailure", "ICE connection failed", "SUBSCRIBE"),
                    (
                        2002,
                        "InitConfigNotAvailable",
                        "Endpoint is not reachable",
                        "INIT",
                    ),
                ]);
                d.insert("account_id".into(), self.customer.clone().into());
                d.insert("template_id".into(), template_id.into());
                d.insert("error_code".into(), code.into());
                d.insert("error_name".into(), name.into());
                d.insert("error_message".into(), msg.into());
                d.insert("error_description".into(), format!("{msg} ({code})").into());
                d.insert("is_terminal".into(), (e.kind == 3).into());
                d.insert("domain".into(), "fake.app.100ms.live".into());
                d.insert("action".into(), action.into());
                d.insert(
                    "agent".into(),
                    json!({"sdk": "web", "sdk_version": "0.12.1", "os": "macOS",
                    "os_version": "14.1", "device_model": "", "framework": "react",
                    "framework_version": "18.2.0", "framework_sdk_version": "0.10.1",
                    "is_prebuilt": rng.chance(0.5), "domain": "fake.app.100ms.live", "string": ""}),
                );
            }
        }
        json!({
            "version": "2.0",
            "id": uuid_str(e.id),
            "timestamp": fmt(e.ts),
            "type": EVENT_TYPES[e.kind as usize],
            "data": d,
        })
    }

    // ---------------------------------------------------------------- ground truth

    /// Peers still in a live session.
    fn live_peers(&self) -> impl Iterator<Item = &Peer> {
        self.sessions
            .iter()
            .filter(|s| s.active)
            .flat_map(|s| s.peers.iter().filter(|p| p.left.is_none()))
    }

    pub(crate) fn event_visible(&self, i: u32, now: i64) -> bool {
        let ts = self.events[i as usize].ts;
        ts >= now - 30 * DAY && ts <= now
    }

    pub(crate) fn expected_keys(&self, stream: &str, now: i64) -> BTreeSet<String> {
        match stream {
            "sessions" => self
                .sessions
                .iter()
                .filter(|s| s.visible <= now)
                .map(|s| oid_hex(&s.id))
                .collect(),
            "rooms" => self.rooms.iter().map(|r| oid_hex(&r.id)).collect(),
            "templates" | "template_settings" => {
                self.templates.iter().map(|t| oid_hex(&t.id)).collect()
            }
            "recordings" => self
                .recordings
                .iter()
                .filter(|r| r.visible <= now)
                .map(|r| oid_hex(&r.id))
                .collect(),
            "recording_assets" => self
                .assets
                .iter()
                .filter(|a| a.visible <= now)
                .map(|a| oid_hex(&a.id))
                .collect(),
            "analytics_events" => (0..self.events.len() as u32)
                .filter(|&i| self.event_visible(i, now))
                .map(|i| uuid_str(self.events[i as usize].id))
                .collect(),
            "active_room_peers" => self.live_peers().map(|p| uuid_str(p.id)).collect(),
            "template_destinations" => {
                let mut out = BTreeSet::new();
                for t in &self.templates {
                    let tid = oid_hex(&t.id);
                    if let Some(dest) = t.value["destinations"].as_object() {
                        for (ty, m) in dest {
                            for name in m.as_object().into_iter().flat_map(|m| m.keys()) {
                                out.insert(format!("{tid}|{ty}|{name}"));
                            }
                        }
                    }
                }
                out
            }
            _ => BTreeSet::new(),
        }
    }

    pub(crate) fn raw(&self, stream: &str, now: i64) -> Vec<Value> {
        match stream {
            "sessions" => self
                .sessions_order
                .iter()
                .filter(|&&i| self.sessions[i as usize].visible <= now)
                .map(|&i| self.session_json(i))
                .collect(),
            "rooms" => self
                .rooms_order
                .iter()
                .map(|&i| self.room_json(i))
                .collect(),
            "templates" | "template_settings" | "template_destinations" => self
                .templates_order
                .iter()
                .map(|&i| self.templates[i as usize].value.clone())
                .collect(),
            "recordings" => self
                .recordings_order
                .iter()
                .filter(|&&i| self.recordings[i as usize].visible <= now)
                .map(|&i| self.recording_json(i))
                .collect(),
            "recording_assets" => self
                .assets_order
                .iter()
                .filter(|&&i| self.assets[i as usize].visible <= now)
                .map(|&i| self.asset_json(i))
                .collect(),
            "analytics_events" => self
                .room_events
                .iter()
                .flatten()
                .filter(|&&i| self.event_visible(i, now))
                .map(|&i| self.event_json(i))
                .collect(),
            "active_room_peers" => self
                .live_peers()
                .map(|p| self.active_peer_in_map(p))
                .collect(),
            _ => Vec::new(),
        }
    }

    // ---------------------------------------------------------------- mutations

    /// Enabled rooms with no live session: where new activity can start.
    fn idle_rooms(&self) -> Vec<u32> {
        (0..self.rooms.len() as u32)
            .filter(|&r| {
                self.rooms[r as usize].enabled && self.rooms[r as usize].active_session.is_none()
            })
            .collect()
    }

    /// Simulates activity at `now`; returns the keys of new or changed records per stream.
    pub(crate) fn apply_changes(
        &mut self,
        fraction: f64,
        now: i64,
        scale: &Scale,
    ) -> BTreeMap<String, BTreeSet<String>> {
        let mut rng = self.rng.clone();
        let mut changes = Changes::default();
        let count = |n: usize| ((fraction * n as f64).round() as usize).max(1);
        let window = |rng: &mut Rng| ms(now - rng.range(0, 29 * NS));

        // New rooms.
        for _ in 0..count(self.rooms.len()) {
            let i = self.rooms.len();
            let created = window(&mut rng);
            let mut room = self.new_room(&mut rng, created, now, i);
            room.enabled = true;
            room.updated = None;
            changes.add("rooms", oid_hex(&room.id));
            self.rooms.push(room);
            self.room_events.push(Vec::new());
        }
        // New ended sessions with events.
        let candidates = self.idle_rooms();
        let mut new_sessions = Vec::new();
        for _ in 0..count(self.sessions.len()) {
            let created = ms(now - rng.range(5 * NS, 29 * NS));
            let end = ms(rng.range(created + NS, now));
            let n = rng.between(1, 2 * scale.peers_per_session.max(1));
            let peers = Self::gen_peers(&mut rng, n, created, Some(end), end);
            let room = if candidates.is_empty() {
                0
            } else {
                *rng.pick(&candidates)
            };
            let idx = self.sessions.len() as u32;
            self.sessions.push(Session {
                id: rng.oid(secs(created)),
                room,
                created,
                updated: (end + rng.range(2 * MS, 15 * MS)).min(now),
                active: false,
                peers,
                visible: VISIBLE,
            });
            changes.add("sessions", oid_hex(&self.sessions[idx as usize].id));
            new_sessions.push(idx);
            for _ in 0..rng.between(1, 2 * scale.events_per_session.max(1)) {
                let ev = self.new_event(&mut rng, idx, None, now);
                changes.add("analytics_events", uuid_str(ev.id));
                self.push_event(ev);
            }
        }
        // New completed recordings with assets.
        for _ in 0..count(self.recordings.len()) {
            let s = *rng.pick(&new_sessions);
            let sess = &self.sessions[s as usize];
            let created = sess.created.max(now - 25 * NS);
            let stop = sess.updated.max(created + 6 * NS).min(now);
            let r = self.push_recording(&mut rng, s, created, Some(stop), REC_COMPLETED, now);
            let rec = &self.recordings[r as usize];
            changes.add("recordings", oid_hex(&rec.id));
            for &a in &rec.assets {
                changes.add("recording_assets", oid_hex(&self.assets[a as usize].id));
            }
        }
        // Disable one enabled room without a live session.
        if let Some(r) = self
            .rooms
            .iter_mut()
            .find(|r| r.enabled && r.active_session.is_none() && r.updated.is_none_or(|u| u < now))
        {
            r.enabled = false;
            r.updated = Some(now);
            changes.add("rooms", oid_hex(&r.id));
        }
        // End one live session.
        if let Some(si) = self.sessions.iter().position(|s| s.active) {
            let s = &mut self.sessions[si];
            s.active = false;
            s.updated = now;
            let room = s.room;
            let mut leaving = Vec::new();
            for (pi, p) in s.peers.iter_mut().enumerate() {
                if p.left.is_none() {
                    p.left = Some(now);
                    leaving.push(pi as u16);
                }
            }
            changes.add("sessions", oid_hex(&s.id));
            self.rooms[room as usize].active_session = None;
            for (k, pi) in leaving.into_iter().enumerate() {
                let ev = self.new_event(
                    &mut rng,
                    si as u32,
                    Some((pi, now - k as i64 * 1000, 2)),
                    now,
                );
                changes.add("analytics_events", uuid_str(ev.id));
                self.push_event(ev);
            }
        }
        // Complete one non-terminal recording (prefer one whose session has ended).
        let pending = |d: &Data, want_ended: bool| {
            d.recordings.iter().position(|r| {
                r.status != REC_COMPLETED
                    && r.status != 5
                    && (!want_ended || !d.sessions[r.session as usize].active)
            })
        };
        if let Some(ri) = pending(self, true).or_else(|| pending(self, false)) {
            let r = &mut self.recordings[ri];
            r.status = REC_COMPLETED;
            r.stopped = Some(r.stopped.unwrap_or(now).min(now));
            r.updated = now;
            changes.add("recordings", oid_hex(&r.id));
            let assets = self.add_assets(ri as u32, &mut rng, now);
            for a in assets {
                let a = &mut self.assets[a as usize];
                a.created = now;
                a.id = rng.oid(secs(now));
                changes.add("recording_assets", oid_hex(&a.id));
            }
            self.recordings[ri].updated = now;
        }
        // Update one template.
        if !self.templates.is_empty() {
            let ti = self.template_bump % self.templates.len();
            self.template_bump += 1;
            let t = &mut self.templates[ti];
            t.value["updatedAt"] = fmt(now).into();
            let flag = t.value["settings"]["roomState"]["sendPeerList"]
                .as_bool()
                .unwrap_or(false);
            t.value["settings"]["roomState"]["sendPeerList"] = (!flag).into();
            changes.add("templates", oid_hex(&t.id));
        }
        self.rng = rng;
        self.templates_order = sorted_desc(&self.templates, |t| t.id);
        self.rooms_order = sorted_desc(&self.rooms, |r| r.id);
        self.sessions_order = sorted_desc(&self.sessions, |s| s.id);
        self.recordings_order = sorted_desc(&self.recordings, |r| r.id);
        self.assets_order = sorted_desc(&self.assets, |a| a.id);
        changes.0
    }

    /// `n` new events in the live sessions, in the last second before `now`.
    pub(crate) fn add_live_events(&mut self, n: usize, now: i64) -> BTreeSet<String> {
        let mut rng = self.rng.clone();
        let live: Vec<u32> = (0..self.sessions.len() as u32)
            .filter(|&s| self.sessions[s as usize].active)
            .collect();
        let mut keys = BTreeSet::new();
        for k in 0..n {
            let Some(&session) = live.get(k % live.len().max(1)) else {
                break;
            };
            let ts = now - rng.range(MS, NS);
            let ev = self.new_event(&mut rng, session, Some((0, ts, 1)), now);
            keys.insert(uuid_str(ev.id));
            self.push_event(ev);
        }
        self.rng = rng;
        keys
    }

    /// `n` join failures of peers who never got in (no session), in a room with no live
    /// session, in the minute before `now`.
    pub(crate) fn add_join_failures(&mut self, n: usize, now: i64) -> BTreeSet<String> {
        let mut rng = self.rng.clone();
        let room = self.idle_rooms().first().copied().unwrap_or(0);
        let mut keys = BTreeSet::new();
        for _ in 0..n {
            let ts = now - rng.range(MS, MIN);
            let ev = self.join_failure(&mut rng, room, ts);
            keys.insert(uuid_str(ev.id));
            self.push_event(ev);
        }
        self.rng = rng;
        keys
    }

    /// What the API's pipeline shows late: five sessions ended in the ten minutes before `now`,
    /// each with events and a completed recording with assets, all listed only from
    /// `now + hidden` on; and a recording completed three minutes ago whose transcript,
    /// written two minutes after it completed, is listed only from then too. Returns the keys
    /// of everything new or changed, per stream.
    pub(crate) fn add_late_arrivals(
        &mut self,
        now: i64,
        hidden: i64,
        scale: &Scale,
    ) -> BTreeMap<String, BTreeSet<String>> {
        let mut rng = self.rng.clone();
        let mut changes = Changes::default();
        let visible = now + hidden;
        let room = self.idle_rooms().first().copied().unwrap_or(0);
        for k in 0..6 {
            let created = ms(now - rng.range(4 * MIN, 10 * MIN));
            let end = ms(created + rng.range(30 * NS, 3 * MIN));
            let peers = Self::gen_peers(&mut rng, 2, created, Some(end), end);
            let idx = self.sessions.len() as u32;
            self.sessions.push(Session {
                id: rng.oid(secs(created)),
                room,
                created,
                updated: end + 5 * MS,
                active: false,
                peers,
                // The sixth is on time: it carries the recording whose transcript is late.
                visible: if k < 5 { visible } else { VISIBLE },
            });
            changes.add("sessions", oid_hex(&self.sessions[idx as usize].id));
            for _ in 0..rng.between(1, 2 * scale.events_per_session.max(1)) {
                let ev = self.new_event(&mut rng, idx, None, now);
                changes.add("analytics_events", uuid_str(ev.id));
                self.push_event(ev);
            }
            let r = self.push_recording(
                &mut rng,
                idx,
                created + 2 * NS,
                Some(end),
                REC_COMPLETED,
                now,
            );
            let rec = &mut self.recordings[r as usize];
            changes.add("recordings", oid_hex(&rec.id));
            if k < 5 {
                rec.visible = visible;
            }
            let assets = rec.assets.clone();
            for (i, &a) in assets.iter().enumerate() {
                let asset = &mut self.assets[a as usize];
                if k < 5 || i + 1 == assets.len() {
                    asset.visible = visible;
                }
            }
            if k == 5 {
                // Completed three minutes ago; its last asset was written two minutes later.
                let stopped = now - 3 * MIN;
                let rec = &mut self.recordings[r as usize];
                rec.stopped = Some(ms(stopped));
                rec.updated = ms(stopped + 2 * NS);
                let last = *assets.last().unwrap_or(&0);
                let late = &mut self.assets[last as usize];
                late.created = ms(stopped + 2 * MIN);
                late.id = rng.oid(secs(late.created));
            }
            for &a in &assets {
                changes.add("recording_assets", oid_hex(&self.assets[a as usize].id));
            }
        }
        self.rng = rng;
        self.reorder();
        changes.0
    }

    fn reorder(&mut self) {
        self.sessions_order = sorted_desc(&self.sessions, |s| s.id);
        self.recordings_order = sorted_desc(&self.recordings, |r| r.id);
        self.assets_order = sorted_desc(&self.assets, |a| a.id);
    }

    pub(crate) fn push_event(&mut self, ev: Event) {
        let room = ev.room as usize;
        let idx = self.events.len() as u32;
        self.events.push(ev);
        let list = &mut self.room_events[room];
        list.push(idx);
        let evs = &self.events;
        list.sort_unstable_by_key(|&i| (evs[i as usize].ts, i));
    }
}

fn template_value(
    rng: &mut Rng,
    i: usize,
    id: &Oid,
    created: i64,
    updated: i64,
    customer: &str,
    app_id: &str,
) -> Value {
    let idh = oid_hex(id);
    let role = |name: &str, host: bool| {
        json!({
            "name": name,
            "publishParams": {
                "allowed": if host { json!(["audio", "video", "screen"]) } else { json!(["audio", "video"]) },
                "audio": {"bitRate": 32, "codec": "opus"},
                "video": {"bitRate": 300, "codec": "vp8", "frameRate": 30, "width": 480, "height": 360},
                "screen": {"codec": "vp8", "frameRate": 10, "width": 1920, "height": 1080},
                "simulcast": {"video": {"layers": [
                    {"rid": "f", "scaleResolutionDownBy": 1, "maxBitrate": 700, "maxFramerate": 25},
                    {"rid": "h", "scaleResolutionDownBy": 2, "maxBitrate": 350, "maxFramerate": 25},
                    {"rid": "q", "scaleResolutionDownBy": 4, "maxBitrate": 100, "maxFramerate": 25}]}, "screen": {}}
            },
            "subscribeParams": {"subscribeToRoles": ["guest", "host"], "maxSubsBitRate": 3200,
                "subscribeDegradation": {"packetLossThreshold": 25, "degradeGracePeriodSeconds": 1, "recoverGracePeriodSeconds": 4}},
            "permissions": if host {
                json!({"endRoom": true, "removeOthers": true, "mute": true, "unmute": true, "changeRole": true,
                       "rtmpStreaming": true, "hlsStreaming": true, "browserRecording": true, "pollRead": true, "pollWrite": true})
            } else {
                json!({"pollRead": true})
            },
            "priority": if host { 1 } else { 2 },
            "maxPeerCount": 0
        })
    };
    let recorder = json!({
        "name": "__internal_recorder",
        "publishParams": {"allowed": [], "simulcast": {"video": {}, "screen": {}}},
        "subscribeParams": {"subscribeToRoles": ["host", "guest"], "maxSubsBitRate": 5200},
        "permissions": {},
        "priority": 1,
        "maxPeerCount": 0
    });
    let region = *rng.pick(&REGIONS);
    let recording = if rng.chance(0.5) {
        Value::Null
    } else {
        json!({"upload": {"type": "s3", "location": "fake-recordings", "prefix": format!("t/{idh}"),
               "options": {"region": "ap-south-1"}}})
    };
    let mut dest = Map::new();
    let variant = rng.below(5);
    let key = |rng: &mut Rng| {
        if rng.chance(0.5) {
            uuid_str(rng.uuid())
        } else {
            format!("dest-{}", rng.below(1000))
        }
    };
    if variant == 1 || variant == 3 {
        let k = key(rng);
        dest.insert(
            "hlsDestinations".into(),
            json!({ k.clone(): {
            "name": k, "role": "__internal_recorder", "maxDuration": 3600,
            "layers": [{"width": 1280, "height": 720, "videoBitrate": 2048, "audioBitrate": 64},
                       {"width": 640, "height": 360, "videoBitrate": 500, "audioBitrate": 64}],
            "playlistType": "live", "numPlaylistSegments": 5, "videoFrameRate": 25,
            "enableMetadataInsertion": false, "enableStaticUrl": true, "autoStopTimeout": 600,
            "recording": {"hlsVod": true, "singleFilePerLayer": false, "enableZipUpload": false,
                          "thumbnails": {"width": 0, "height": 0}}}}),
        );
    }
    if variant == 2 {
        let (a, b) = (key(rng), key(rng));
        dest.insert(
            "rtmpDestinations".into(),
            json!({ a.clone(): {
            "name": a, "width": 1280, "height": 720, "maxDuration": 7200, "rtmpUrls": [],
            "recordingEnabled": true, "autoStopTimeout": 300}}),
        );
        dest.insert(
            "browserRecordings".into(),
            json!({ b.clone(): {
            "name": b, "width": 1280, "height": 720, "maxDuration": 7200,
            "thumbnails": {"width": 320, "height": 180}, "presignDuration": 3600,
            "role": "__internal_recorder", "autoStart": false, "autoStopTimeout": 300}}),
        );
    }
    if variant == 3 {
        let k = key(rng);
        dest.insert("transcriptions".into(), json!({ k.clone(): {
            "name": k, "role": "__internal_recorder", "modes": ["recorded"], "outputModes": ["txt", "srt"],
            "customVocabulary": [], "summary": {"enabled": true, "context": "", "temperature": 0.5,
            "sections": [{"title": "Agenda", "format": "bullets"}]}}}));
    }
    json!({
        "id": idh,
        "name": format!("template-{i}-{}", secs(created)),
        "customerId": customer,
        "appId": app_id,
        "default": i == 0,
        "roles": {"host": role("host", true), "guest": role("guest", false), "__internal_recorder": recorder},
        "settings": {
            "region": region,
            "recording": recording,
            "roomState": {"messageInterval": 5, "sendPeerList": rng.chance(0.5), "stopRoomStateOnJoin": true, "enabled": rng.chance(0.5)},
            "retry": {}
        },
        "destinations": dest,
        "plugins": {
            "whiteboard": {"enabled": true, "permissions": {"admin": ["host"], "writer": ["host"], "reader": ["guest"]}},
            "transcriptions": {"enabled": i.is_multiple_of(2), "permissions": {"admin": ["host"]}, "mode": "caption"},
            "noiseCancellation": {"enabled": i.is_multiple_of(3)}
        },
        // The configure-recordings doc's response.
        "recordings": [{
            "name": "default", "role": "__internal_recorder", "maxDuration": 1800, "presignDuration": 3600,
            "thumbnails": {"width": 1280, "height": 720, "offsets": [2], "fps": 60},
            "compositeRecording": {"browserComposite": {"autoStopTimeout": 500, "width": 1920, "height": 1080}, "customComposite": {}},
            "trackRecording": {},
            "streamRecording": {"width": 1920, "height": 1080}
        }],
        "createdAt": fmt(created),
        "updatedAt": fmt(updated),
        "_id": idh,
        "customer": customer,
    })
}

impl Data {
    /// Every secret the data set carries now (none unless [`Variants::storage_credentials`]).
    pub(crate) fn planted_secrets(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (i, value) in (0..self.rooms.len()).map(|i| (i, self.room_json(i as u32))) {
            if value
                .pointer("/recording_info/upload_info/credentials")
                .is_some()
            {
                out.push(crate::variants::secret(self.secret_salt, "room", i));
            }
        }
        fn collect(v: &Value, out: &mut Vec<String>) {
            match v {
                Value::Object(m) => {
                    for (k, v) in m {
                        match v {
                            Value::String(s) if k == "secretKey" || k == "secret" => {
                                out.push(s.clone())
                            }
                            _ => collect(v, out),
                        }
                    }
                }
                Value::Array(items) => items.iter().for_each(|v| collect(v, out)),
                _ => {}
            }
        }
        for t in &self.templates {
            collect(&t.value, &mut out);
        }
        out.sort();
        out.dedup();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generation_is_deterministic_for_a_fixed_anchor() {
        let now = 1_700_000_000 * NS + 123_456_789;
        let a = Data::generate(9, &Scale::default(), now);
        let b = Data::generate(9, &Scale::default(), now);
        for stream in [
            "sessions",
            "rooms",
            "templates",
            "recordings",
            "recording_assets",
            "analytics_events",
        ] {
            assert_eq!(a.raw(stream, now), b.raw(stream, now), "{stream}");
        }
        let c = Data::generate(10, &Scale::default(), now);
        assert_ne!(a.raw("sessions", now), c.raw("sessions", now));
    }

    #[test]
    fn ids_match_created_at_and_order_is_newest_first() {
        let now = 1_700_000_000 * NS;
        let d = Data::generate(1, &Scale::default(), now);
        for w in d.sessions_order.windows(2) {
            assert!(d.sessions[w[0] as usize].id > d.sessions[w[1] as usize].id);
        }
        for s in &d.sessions {
            assert_eq!(
                i64::from(u32::from_be_bytes(s.id[..4].try_into().unwrap())),
                secs(s.created)
            );
            assert!(s.updated <= now - 10 * MIN || s.active);
        }
        assert_eq!(d.sessions.iter().filter(|s| s.active).count(), 6);
    }
}
