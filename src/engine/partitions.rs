//! The listings a stream's partitions come from: rooms, and sessions (live ones, or those
//! created since an instant). Each pages at 100 a request, and each asks for `enabled` and
//! `active` explicitly both ways, since the docs say both default to `true`, which would hide
//! disabled rooms and ended sessions.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::cursor::{query_time, timestamp};
use super::pages::{Listing, Pager};
use super::{Envelope, Partition};
use crate::error::Result;
use crate::http::Client;

/// Objects of one or more listings, and the server's clock at the first response.
pub struct Listed {
    pub objects: Vec<Value>,
    pub server_time: Option<DateTime<Utc>>,
}

/// Every object of `GET {path}` for each parameter set, each object once.
async fn list(
    client: &Client,
    stream: &'static str,
    path: &str,
    param_sets: Vec<Vec<(&'static str, String)>>,
) -> Result<Listed> {
    let mut listed = Listed {
        objects: Vec::new(),
        server_time: None,
    };
    let mut ids = std::collections::HashSet::new();
    for params in param_sets {
        let listing = Listing {
            stream,
            path: path.to_owned(),
            params,
            envelope: Envelope::Data,
        };
        let mut pager = Pager::new(client, listing);
        while let Some(page) = pager.next().await? {
            listed.server_time = listed.server_time.or(page.server_time);
            for object in page.items {
                // A server that ignores a filter must not list an object twice.
                let id = object.get("id").and_then(Value::as_str).map(str::to_owned);
                if id.is_none_or(|id| ids.insert(id)) {
                    listed.objects.push(object);
                }
            }
        }
    }
    Ok(listed)
}

fn both_ways(
    flag: &'static str,
    extra: &[(&'static str, String)],
) -> Vec<Vec<(&'static str, String)>> {
    ["true", "false"]
        .into_iter()
        .map(|value| {
            let mut params = vec![(flag, value.to_owned())];
            params.extend_from_slice(extra);
            params
        })
        .collect()
}

/// Every room, enabled or not; with `created_after`, only rooms created since.
pub async fn rooms(
    client: &Client,
    stream: &'static str,
    created_after: Option<DateTime<Utc>>,
) -> Result<Listed> {
    let after: Vec<_> = created_after
        .map(|t| ("after", query_time(t)))
        .into_iter()
        .collect();
    list(client, stream, "/rooms", both_ways("enabled", &after)).await
}

/// Sessions live now.
pub async fn live_sessions(client: &Client, stream: &'static str) -> Result<Listed> {
    let params = vec![vec![("active", "true".to_owned())]];
    let mut listed = list(client, stream, "/sessions", params).await?;
    // The filter is applied here too, in case a server ignores it.
    listed.objects.retain(is_live);
    Ok(listed)
}

/// Sessions that have ended, created since `after`.
pub async fn ended_sessions(
    client: &Client,
    stream: &'static str,
    after: DateTime<Utc>,
) -> Result<Listed> {
    let params = vec![vec![
        ("active", "false".to_owned()),
        ("after", query_time(after)),
    ]];
    let mut listed = list(client, stream, "/sessions", params).await?;
    listed.objects.retain(|s| !is_live(s));
    Ok(listed)
}

pub fn is_live(session: &Value) -> bool {
    session.get("active").and_then(Value::as_bool) == Some(true)
}

/// When an ended session ended: its last change (the docs use `updated_at` as the end), or its
/// last peer's leaving, whichever is later.
pub fn ended_at(session: &Value) -> Option<DateTime<Utc>> {
    let peers: Vec<&Value> = match session.get("peers") {
        Some(Value::Object(map)) => map.values().collect(),
        Some(Value::Array(list)) => list.iter().collect(),
        _ => Vec::new(),
    };
    let last_leave = peers.iter().filter_map(|p| timestamp(p, "left_at")).max();
    timestamp(session, "updated_at").max(last_leave)
}

/// Rooms with a live session, each with that session, for `GET /active-rooms/{id}/...`.
pub async fn live_rooms(client: &Client, stream: &'static str) -> Result<Vec<Partition>> {
    let live = live_sessions(client, stream).await?;
    // Newest first, so the first session seen of a room is its newest.
    let mut rooms: BTreeMap<String, Option<String>> = BTreeMap::new();
    for session in &live.objects {
        if let Some(room) = session.get("room_id").and_then(Value::as_str) {
            let id = session.get("id").and_then(Value::as_str).map(str::to_owned);
            rooms.entry(room.to_owned()).or_insert(id);
        }
    }
    Ok(rooms
        .into_iter()
        .map(|(room_id, session_id)| Partition {
            room_id: Some(room_id),
            session_id,
            params: &[],
        })
        .collect())
}
