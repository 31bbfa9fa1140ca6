//! The HTTP side: connection handling, the request pipeline (log → rate limit → faults →
//! auth → overrides → routes) and the route handlers.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_TYPE, DATE, RETRY_AFTER};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use serde_json::{json, Map, Value};

use crate::model::{is_error_kind, Data, ASSET_KINDS, EVENT_TYPES, REC_STATUSES};
use crate::quality;
use crate::rng::{hex, mix, oid_hex, parse_oid, unhex, uuid_str, Oid, Rng};
use crate::ts::DAY;
use crate::{auth, lock, ts, EmptyPage, Override, RequestRecord, Shared};

pub(crate) async fn serve(listener: tokio::net::TcpListener, sh: Arc<Shared>) {
    loop {
        tokio::select! {
            _ = sh.shutdown.notified() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let _ = stream.set_nodelay(true);
                    let sh = sh.clone();
                    tokio::spawn(async move {
                        let svc = hyper::service::service_fn(move |req| handle(sh.clone(), req));
                        let _ = hyper::server::conn::http1::Builder::new()
                            .timer(TokioTimer::new())
                            .keep_alive(true)
                            .serve_connection(TokioIo::new(stream), svc)
                            .await;
                    });
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(5)).await,
            },
        }
    }
}

/// Returned by the service to make hyper close the connection without answering.
#[derive(Debug)]
struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped on purpose")
    }
}

impl std::error::Error for Dropped {}

enum Outcome {
    Reply {
        status: u16,
        body: Vec<u8>,
        retry_after: Option<String>,
    },
    Drop,
}

/// An API error: `{"code":status,"message":…,"details":[…]}`.
pub(crate) struct ApiError {
    status: u16,
    message: &'static str,
    details: Option<String>,
}

fn bad(detail: impl Into<String>) -> ApiError {
    ApiError {
        status: 400,
        message: "Invalid query param",
        details: Some(detail.into()),
    }
}

fn not_found(message: &'static str) -> ApiError {
    ApiError {
        status: 404,
        message,
        details: None,
    }
}

fn error_body(status: u16, message: &str, details: Option<String>) -> Vec<u8> {
    let mut m = Map::new();
    m.insert("code".into(), status.into());
    m.insert("message".into(), message.into());
    if let Some(d) = details {
        m.insert("details".into(), json!([d]));
    }
    serde_json::to_vec(&Value::Object(m)).expect("json")
}

fn route_name(path: &str) -> &'static str {
    let p = path.strip_prefix("/v2/").unwrap_or("");
    let first = p.split('/').next().unwrap_or("");
    match first {
        "rooms" => "rooms",
        "sessions" => "sessions",
        "active-rooms" => "active_room_peers",
        "templates" => "templates",
        "recordings" => "recordings",
        "recording-assets" => "recording_assets",
        "analytics" if p.starts_with("analytics/events") => "analytics_events",
        "analytics" if p.starts_with("analytics/peer-stats") => "peer_quality_stats",
        "analytics" if p.starts_with("analytics/webhooks") => "webhook_events",
        _ => "other",
    }
}

async fn handle(sh: Arc<Shared>, req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Dropped> {
    let at = Instant::now();
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    let (outcome, delay) = decide(&sh, &req, &path, &query, at);
    let status = match &outcome {
        Outcome::Reply { status, .. } => *status,
        Outcome::Drop => 0,
    };
    lock(&sh.log).push(RequestRecord {
        at,
        path,
        query,
        status,
        route: route_name(req.uri().path()),
    });
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    match outcome {
        Outcome::Drop => Err(Dropped),
        Outcome::Reply {
            status,
            body,
            retry_after,
        } => {
            let mut resp = Response::new(Full::new(Bytes::from(body)));
            *resp.status_mut() =
                StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let h = resp.headers_mut();
            h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            if let Ok(v) = HeaderValue::from_str(&ts::http_date(sh.now_ns())) {
                h.insert(DATE, v);
            }
            if let Some(v) = retry_after.and_then(|r| HeaderValue::from_str(&r).ok()) {
                h.insert(RETRY_AFTER, v);
            }
            Ok(resp)
        }
    }
}

fn reply(status: u16, body: Vec<u8>) -> Outcome {
    Outcome::Reply {
        status,
        body,
        retry_after: None,
    }
}

fn decide(
    sh: &Shared,
    req: &Request<Incoming>,
    path: &str,
    query: &str,
    at: Instant,
) -> (Outcome, Duration) {
    let faults = lock(&sh.faults).clone();
    let mut delay = faults.latency;
    // Server-side rate limit over the trailing second of admitted requests.
    {
        let mut rl = lock(&sh.rate_limit);
        if let Some(n) = rl.0 {
            while rl
                .1
                .front()
                .is_some_and(|t| at.duration_since(*t) >= Duration::from_secs(1))
            {
                rl.1.pop_front();
            }
            if rl.1.len() >= n as usize {
                let body = error_body(429, "rate limit exceeded, retry after 45 seconds", None);
                return (
                    Outcome::Reply {
                        status: 429,
                        body,
                        retry_after: Some("1".into()),
                    },
                    delay,
                );
            }
            rl.1.push_back(at);
        }
    }
    // Random faults.
    {
        let mut rng = lock(&sh.fault_rng);
        if rng.chance(faults.pslow) {
            delay += faults.slow;
        }
        if rng.chance(faults.pdrop) {
            return (Outcome::Drop, delay);
        }
        if rng.chance(faults.p429) {
            let retry_after = rng
                .chance(faults.retry_after_share)
                .then(|| faults.retry_after_secs.max(1).to_string());
            let body = error_body(429, "rate limit exceeded, retry after 45 seconds", None);
            return (
                Outcome::Reply {
                    status: 429,
                    body,
                    retry_after,
                },
                delay,
            );
        }
        if rng.chance(faults.p5xx) {
            let (status, msg) = *rng.pick(&[
                (500, "Internal server error"),
                (502, "Bad gateway"),
                (503, "Service unavailable"),
            ]);
            return (reply(status, error_body(status, msg, None)), delay);
        }
    }
    // Authentication.
    let header = req
        .headers()
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if let Err(detail) = auth::check(header, &sh.access_key, &sh.app_secret, sh.token_max_age) {
        return (
            reply(401, error_body(401, "Token validation error", Some(detail))),
            delay,
        );
    }
    // Overrides.
    {
        let mut rules = lock(&sh.overrides);
        if let Some(pos) = rules
            .iter()
            .rposition(|r| path.starts_with(&r.prefix) && r.remaining != Some(0))
        {
            let answer = rules[pos].answer.clone();
            if let Some(n) = rules[pos].remaining.as_mut() {
                *n -= 1;
                if *n == 0 {
                    rules.remove(pos);
                }
            }
            let outcome = match answer {
                Override::Drop => Outcome::Drop,
                Override::Body(b) => reply(200, b.into_bytes()),
                Override::Status {
                    status,
                    body,
                    retry_after,
                } => Outcome::Reply {
                    status,
                    body: body.into_bytes(),
                    retry_after,
                },
            };
            return (outcome, delay);
        }
    }
    if req.method() != Method::GET {
        return (
            reply(405, error_body(405, "Method not allowed", None)),
            delay,
        );
    }
    let q = Query::parse(query);
    let now = sh.now_ns();
    let data = sh.data.read().unwrap_or_else(|e| e.into_inner());
    let result = route(sh, &data, now, path, &q);
    drop(data);
    let outcome = match result {
        Ok(v) => reply(200, serde_json::to_vec(&v).expect("json")),
        Err(e) => reply(e.status, error_body(e.status, e.message, e.details)),
    };
    (outcome, delay)
}

/// Decoded query parameters (repeated keys kept).
pub(crate) struct Query(Vec<(String, String)>);

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let digit = |c: u8| (c as char).to_digit(16);
                match (digit(b[i + 1]), digit(b[i + 2])) {
                    (Some(h), Some(l)) => {
                        out.push((h * 16 + l) as u8);
                        i += 2;
                    }
                    _ => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl Query {
    fn parse(q: &str) -> Query {
        Query(
            q.split('&')
                .filter(|p| !p.is_empty())
                .map(|p| {
                    let (k, v) = p.split_once('=').unwrap_or((p, ""));
                    (percent_decode(k), percent_decode(v))
                })
                .collect(),
        )
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    fn all(&self, key: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    fn limit(&self, default: usize, lo: usize, hi: usize) -> Result<usize, ApiError> {
        let msg = || bad(format!("limit must be between {lo} and {hi}"));
        match self.get("limit") {
            None => Ok(default),
            Some(s) => {
                let n: usize = s.trim().parse().map_err(|_| msg())?;
                if (lo..=hi).contains(&n) {
                    Ok(n)
                } else {
                    Err(msg())
                }
            }
        }
    }

    fn bool(&self, key: &str) -> Result<Option<bool>, ApiError> {
        match self.get(key) {
            None | Some("") => Ok(None),
            Some("true") | Some("1") => Ok(Some(true)),
            Some("false") | Some("0") => Ok(Some(false)),
            Some(_) => Err(bad(format!("{key} must be a boolean"))),
        }
    }

    fn time(&self, key: &str) -> Result<Option<i64>, ApiError> {
        match self.get(key) {
            None | Some("") => Ok(None),
            Some(s) => ts::parse(s).map(Some).ok_or_else(|| {
                bad(format!(
                    "{key} must be a timestamp like YYYY-MM-DDTHH:mm:ss.sssZ"
                ))
            }),
        }
    }

    fn id(&self, key: &str) -> Result<Option<Oid>, ApiError> {
        match self.get(key) {
            None | Some("") => Ok(None),
            Some(s) => parse_oid(s)
                .map(Some)
                .ok_or_else(|| bad(format!("{key} is not a valid id"))),
        }
    }
}

fn empty_data(m: &mut Map<String, Value>, key: &str, mode: EmptyPage) {
    match mode {
        EmptyPage::Null => {
            m.insert(key.into(), Value::Null);
        }
        EmptyPage::EmptyArray => {
            m.insert(key.into(), json!([]));
        }
        EmptyPage::Missing => {}
    }
}

/// `{limit, data, last}` over `order` (ids descending), items with id < `start`.
fn cursor_list(
    sh: &Shared,
    q: &Query,
    order: &[u32],
    id_of: impl Fn(u32) -> Oid,
    keep: impl Fn(u32) -> bool,
    render: impl Fn(u32) -> Value,
) -> Result<Value, ApiError> {
    let limit = q.limit(10, 10, 100)?;
    let pos = match q.id("start")? {
        None => 0,
        Some(st) => order.partition_point(|&i| id_of(i) >= st),
    };
    let items: Vec<u32> = order[pos..]
        .iter()
        .copied()
        .filter(|&i| keep(i))
        .take(limit)
        .collect();
    let mut m = Map::new();
    m.insert("limit".into(), limit.into());
    match items.last() {
        None => empty_data(&mut m, "data", sh.empty_page),
        Some(&last) => {
            m.insert(
                "data".into(),
                Value::Array(items.iter().map(|&i| render(i)).collect()),
            );
            m.insert("last".into(), oid_hex(&id_of(last)).into());
        }
    }
    Ok(Value::Object(m))
}

fn find(order: &[u32], id_of: impl Fn(u32) -> Oid, target: &str) -> Option<u32> {
    let target = parse_oid(target)?;
    order
        .binary_search_by(|&i| target.cmp(&id_of(i)))
        .ok()
        .map(|p| order[p])
}

fn in_range(t: i64, after: Option<i64>, before: Option<i64>) -> bool {
    after.is_none_or(|a| t >= a) && before.is_none_or(|b| t <= b)
}

fn route(sh: &Shared, d: &Data, now: i64, path: &str, q: &Query) -> Result<Value, ApiError> {
    let p = path.trim_end_matches('/');
    let segs: Vec<&str> = p
        .strip_prefix("/v2/")
        .map(|s| s.split('/').collect())
        .unwrap_or_default();
    let room_id = |i: u32| d.rooms[i as usize].id;
    let session_id = |i: u32| d.sessions[i as usize].id;
    let template_id = |i: u32| d.templates[i as usize].id;
    let recording_id = |i: u32| d.recordings[i as usize].id;
    let asset_id = |i: u32| d.assets[i as usize].id;
    match segs.as_slice() {
        ["rooms"] => {
            let enabled = q.bool("enabled")?;
            let (after, before) = (q.time("after")?, q.time("before")?);
            let name = q.get("name").filter(|n| !n.is_empty());
            let template = q.id("template_id")?;
            cursor_list(
                sh,
                q,
                &d.rooms_order,
                room_id,
                |i| {
                    let r = &d.rooms[i as usize];
                    enabled.is_none_or(|e| r.enabled == e)
                        && in_range(r.created, after, before)
                        && name.is_none_or(|n| r.name.eq_ignore_ascii_case(n))
                        && template.is_none_or(|t| d.templates[r.template as usize].id == t)
                },
                |i| d.room_json(i),
            )
        }
        ["sessions"] => {
            let room = q.id("room_id")?;
            let variants = d.variants;
            q.limit(10, 10, variants.sessions_limit_max())?;
            let active = q
                .bool("active")?
                .or(variants.sessions_active_by_default.then_some(true));
            let (after, before) = (q.time("after")?, q.time("before")?);
            cursor_list(
                sh,
                q,
                &d.sessions_order,
                session_id,
                |i| {
                    let s = &d.sessions[i as usize];
                    s.visible <= now
                        && room.is_none_or(|r| d.rooms[s.room as usize].id == r)
                        && active.is_none_or(|a| s.active == a)
                        && in_range(s.created, after, before)
                },
                |i| d.session_json(i),
            )
        }
        ["templates"] => cursor_list(
            sh,
            q,
            &d.templates_order,
            template_id,
            |_| true,
            |i| d.templates[i as usize].value.clone(),
        ),
        ["templates", id, rest @ ..] => {
            let t = find(&d.templates_order, template_id, id)
                .map(|i| &d.templates[i as usize].value)
                .ok_or_else(|| not_found("Error: template not found"))?;
            match rest {
                ["settings"] => Ok(t["settings"].clone()),
                ["destinations"] => Ok(t["destinations"].clone()),
                _ => Err(not_found("Not found")),
            }
        }
        ["recordings"] => {
            let room = q.id("room_id")?;
            let session = q.id("session_id")?;
            let status = q.get("status").filter(|s| !s.is_empty());
            cursor_list(
                sh,
                q,
                &d.recordings_order,
                recording_id,
                |i| {
                    let r = &d.recordings[i as usize];
                    let s = &d.sessions[r.session as usize];
                    r.visible <= now
                        && room.is_none_or(|x| d.rooms[s.room as usize].id == x)
                        && session.is_none_or(|x| s.id == x)
                        && status.is_none_or(|x| REC_STATUSES[r.status as usize] == x)
                },
                |i| d.recording_json(i),
            )
        }
        ["recording-assets"] => {
            let room = q.id("room_id")?;
            let session = q.id("session_id")?;
            let status = q.get("status").filter(|s| !s.is_empty());
            let types = q.all("type");
            cursor_list(
                sh,
                q,
                &d.assets_order,
                asset_id,
                |i| {
                    let a = &d.assets[i as usize];
                    let s = &d.sessions[d.recordings[a.rec as usize].session as usize];
                    a.visible <= now
                        && room.is_none_or(|x| d.rooms[s.room as usize].id == x)
                        && session.is_none_or(|x| s.id == x)
                        && status.is_none_or(|x| {
                            (a.status == 0) == (x == "completed")
                                && matches!(x, "completed" | "failed")
                        })
                        && (types.is_empty() || types.contains(&ASSET_KINDS[a.kind as usize]))
                },
                |i| d.asset_json(i),
            )
        }
        ["active-rooms", id, rest @ ..] => {
            let room =
                find(&d.rooms_order, room_id, id).ok_or_else(|| not_found("Room not found"))?;
            let r = &d.rooms[room as usize];
            let s = r
                .active_session
                .map(|s| &d.sessions[s as usize])
                .ok_or_else(|| not_found("Room not found"))?;
            let connected = s.peers.iter().filter(|p| p.left.is_none());
            match rest {
                ["peers"] => {
                    let (user, role) = (q.get("user_id"), q.get("role"));
                    let mut peers = Map::new();
                    for p in connected {
                        let v = d.active_peer_in_map(p);
                        if user.is_none_or(|u| v["user_id"] == u)
                            && role.is_none_or(|x| v["role"] == x)
                        {
                            peers.insert(uuid_str(p.id), v);
                        }
                    }
                    Ok(json!({ "peers": peers }))
                }
                _ => Err(not_found("Not found")),
            }
        }
        ["analytics", "events"] => analytics_events(sh, d, now, q),
        ["analytics", "peer-stats"] => {
            let required = |key: &str| {
                q.get(key)
                    .filter(|v| !v.is_empty())
                    .ok_or_else(|| bad(format!("{key} is required")))
            };
            let (peer, session) = (required("peer_id")?, required("session_id")?);
            quality::peer_stats(d, now, session, peer)
                .ok_or_else(|| not_found("Peer stats not found"))
        }
        ["analytics", "webhooks"] => webhook_events(d, now, q),
        _ => Err(not_found("Not found")),
    }
}

/// `GET /analytics/webhooks`: a window of at most 14 days within the last 30 (default the
/// last 24 h), page numbers, `limit` 1–100 (default 50), oldest first.
fn webhook_events(d: &Data, now: i64, q: &Query) -> Result<Value, ApiError> {
    let limit = q.limit(50, 1, 100)?;
    let page: usize = match q.get("page") {
        None | Some("") => 1,
        Some(p) => p
            .trim()
            .parse()
            .ok()
            .filter(|&p| p >= 1)
            .ok_or_else(|| bad("page must be a whole number from 1"))?,
    };
    let end = q.time("end_time")?.unwrap_or(now);
    let start = q.time("start_time")?.unwrap_or(end - DAY);
    if start > end {
        return Err(bad("start_time must be before end_time"));
    }
    if end - start > quality::WEBHOOK_MAX_WINDOW {
        return Err(bad(
            "the window between start_time and end_time is at most 14 days",
        ));
    }
    if start < now - quality::WEBHOOK_RETENTION {
        return Err(bad("start_time must be within the last 30 days"));
    }
    let room = q.get("room_id").filter(|r| !r.is_empty());
    let names = q.all("event_names");
    let status = q.get("status").filter(|s| !s.is_empty()).unwrap_or("all");
    if !matches!(status, "all" | "failed" | "success") {
        return Err(bad("status must be all, failed or success"));
    }
    let all: Vec<quality::Delivery> = quality::deliveries(d, start, end.min(now))
        .into_iter()
        .filter(|e| quality::delivery_matches(d, e, room, &names, status))
        .collect();
    let total = all.len();
    let pages = total.div_ceil(limit);
    let from = (page - 1).saturating_mul(limit).min(total);
    let events: Vec<Value> = all[from..(from + limit).min(total)]
        .iter()
        .map(|e| quality::delivery_json(d, e))
        .collect();
    Ok(json!({
        "events": events,
        "pagination": {"current_page": page, "page_size": limit, "total_pages": pages,
            "total_items": total, "has_next": page < pages, "has_prev": page > 1},
        "summary": {"total_events": total},
    }))
}

fn analytics_events(sh: &Shared, d: &Data, now: i64, q: &Query) -> Result<Value, ApiError> {
    let room_hex = q
        .get("room_id")
        .filter(|r| !r.is_empty())
        .ok_or_else(|| bad("room_id is required"))?;
    let room_oid = parse_oid(room_hex).ok_or_else(|| bad("room_id is not a valid id"))?;
    let limit = q.limit(10, 1, 100)?;
    let types = q.all("type");
    if let Some(t) = types.iter().find(|t| !EVENT_TYPES.contains(t)) {
        return Err(bad(format!("unknown event type {t}")));
    }
    let session = q.id("session_id")?;
    let errors_only = q.bool("error")?.unwrap_or(false);
    let peer = q.get("peer_id").filter(|p| !p.is_empty());
    let room = d
        .rooms_order
        .binary_search_by(|&i| room_oid.cmp(&d.rooms[i as usize].id))
        .ok()
        .map(|p| d.rooms_order[p]);
    let list: Vec<u32> = match room {
        None => Vec::new(),
        Some(r) => d.room_events[r as usize]
            .iter()
            .copied()
            .filter(|&i| {
                let e = &d.events[i as usize];
                let session_of = e.session.map(|s| d.sessions[s as usize].id);
                d.event_visible(i, now)
                    && (types.is_empty() || types.contains(&EVENT_TYPES[e.kind as usize]))
                    && (!errors_only || is_error_kind(e.kind))
                    && session.is_none_or(|x| session_of == Some(x))
                    && peer.is_none_or(|x| d.event_json(i)["data"]["peer_id"] == x)
            })
            .collect(),
    };
    let pos = match q.get("start").filter(|s| !s.is_empty()) {
        None => 0,
        Some(tok) => {
            let (r, ts, idx) =
                decode_token(sh.token_key, tok).ok_or_else(|| bad("invalid start token"))?;
            if Some(r) != room {
                return Err(bad("invalid start token"));
            }
            list.partition_point(|&i| (d.events[i as usize].ts, i) <= (ts, idx))
        }
    };
    let page = &list[pos.min(list.len())..(pos + limit).min(list.len())];
    let next = match (page.last(), pos + limit < list.len()) {
        (Some(&last), true) => encode_token(
            sh.token_key,
            room.unwrap_or(0),
            d.events[last as usize].ts,
            last,
        ),
        _ => String::new(),
    };
    let mut m = Map::new();
    m.insert("limit".into(), limit.into());
    m.insert("total".into(), list.len().into());
    m.insert("next".into(), next.into());
    if page.is_empty() {
        empty_data(&mut m, "events", sh.empty_page);
    } else {
        m.insert(
            "events".into(),
            Value::Array(page.iter().map(|&i| d.event_json(i)).collect()),
        );
    }
    Ok(Value::Object(m))
}

fn token_check(key: u64, nonce: u64, payload: &[u8]) -> u32 {
    let mut h = key ^ nonce;
    for c in payload.chunks(8) {
        let mut b = [0u8; 8];
        b[..c.len()].copy_from_slice(c);
        h = mix(h ^ u64::from_le_bytes(b));
    }
    h as u32
}

fn keystream(key: u64, nonce: u64, buf: &mut [u8]) {
    let mut rng = Rng::new(key ^ nonce);
    for c in buf.chunks_mut(8) {
        for (b, k) in c.iter_mut().zip(rng.next_u64().to_le_bytes()) {
            *b ^= k;
        }
    }
}

/// `<uuid>:<nonce><payload>~<check>`: looks random, decodes only with the server's key.
fn encode_token(key: u64, room: u32, ts: i64, idx: u32) -> String {
    let nonce = mix(key ^ mix(u64::from(room) ^ ts as u64 ^ (u64::from(idx) << 32)));
    let mut payload = Vec::with_capacity(16);
    payload.extend(room.to_le_bytes());
    payload.extend(ts.to_le_bytes());
    payload.extend(idx.to_le_bytes());
    let check = token_check(key, nonce, &payload);
    keystream(key, nonce, &mut payload);
    format!(
        "{}:{}{}~{}",
        uuid_str(Rng::new(nonce).uuid()),
        hex(&nonce.to_be_bytes()),
        hex(&payload),
        hex(&check.to_be_bytes())
    )
}

fn decode_token(key: u64, tok: &str) -> Option<(u32, i64, u32)> {
    let (head, rest) = tok.split_once(':')?;
    let (body, check) = rest.split_once('~')?;
    let body = unhex(body)?;
    let check = u32::from_be_bytes(unhex(check)?.try_into().ok()?);
    if body.len() != 24 {
        return None;
    }
    let nonce = u64::from_be_bytes(body[..8].try_into().ok()?);
    if head != uuid_str(Rng::new(nonce).uuid()) {
        return None;
    }
    let mut payload = body[8..].to_vec();
    keystream(key, nonce, &mut payload);
    if token_check(key, nonce, &payload) != check {
        return None;
    }
    Some((
        u32::from_le_bytes(payload[..4].try_into().ok()?),
        i64::from_le_bytes(payload[4..12].try_into().ok()?),
        u32::from_le_bytes(payload[12..16].try_into().ok()?),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_reject_tampering() {
        let t = encode_token(42, 7, 1_700_000_000_123_456_789, 99);
        assert_eq!(
            decode_token(42, &t),
            Some((7, 1_700_000_000_123_456_789, 99))
        );
        assert_eq!(decode_token(43, &t), None);
        let mut bad = t.clone();
        bad.replace_range(40..41, if &t[40..41] == "0" { "1" } else { "0" });
        assert_eq!(decode_token(42, &bad), None);
        assert_eq!(decode_token(42, "garbage"), None);
    }

    #[test]
    fn query_decoding() {
        let q =
            Query::parse("after=2024-01-01T00%3A00%3A00%2B00%3A00&type=a&type=b&name=x+y&bad=%zz");
        assert_eq!(q.get("after"), Some("2024-01-01T00:00:00+00:00"));
        assert_eq!(q.all("type"), vec!["a", "b"]);
        assert_eq!(q.get("name"), Some("x y"));
        assert_eq!(q.get("bad"), Some("%zz"));
    }
}
