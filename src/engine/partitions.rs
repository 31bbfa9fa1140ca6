//! Finding the partitions a stream's request is repeated over: rooms with a live session, rooms
//! that can have new events. Each costs one listing, paged at 100 a request.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::cursor::{newest, query_time};
use super::pages::{Listing, Pager};
use super::{Envelope, Partition};
use crate::error::Result;
use crate::http::Client;

/// Rooms of the listed sessions, each with the newest such session; and the server's clock.
pub struct Rooms {
    pub partitions: Vec<Partition>,
    pub server_time: Option<DateTime<Utc>>,
}

/// Rooms with a live session, from `GET /sessions?active=true`. The filter is also applied
/// here, in case a server ignores it.
pub async fn live_rooms(client: &Client, stream: &'static str) -> Result<Rooms> {
    sessions_rooms(client, stream, vec![("active", "true".to_owned())], None).await
}

/// Rooms with a session created after `created_after` that is live or changed after
/// `changed_after`.
pub async fn rooms_with_sessions_since(
    client: &Client,
    stream: &'static str,
    created_after: DateTime<Utc>,
    changed_after: DateTime<Utc>,
) -> Result<Rooms> {
    let params = vec![("after", query_time(created_after))];
    sessions_rooms(client, stream, params, Some(changed_after)).await
}

/// Rooms of the sessions listed with `params`: all of them live, or, with `changed_after`,
/// also those changed since.
async fn sessions_rooms(
    client: &Client,
    stream: &'static str,
    params: Vec<(&'static str, String)>,
    changed_after: Option<DateTime<Utc>>,
) -> Result<Rooms> {
    // Newest first, so the first session seen of a room is its newest.
    let mut rooms: BTreeMap<String, Option<String>> = BTreeMap::new();
    let mut server_time = None;
    let listing = Listing {
        stream,
        path: "/sessions".to_owned(),
        params,
        envelope: Envelope::Data,
    };
    let mut pager = Pager::new(client, listing);
    while let Some(page) = pager.next().await? {
        server_time = server_time.or(page.server_time);
        for session in &page.items {
            let live = session.get("active").and_then(Value::as_bool) == Some(true);
            let changed = changed_after.is_some_and(|after| {
                newest(session, &["created_at", "updated_at"]).is_none_or(|t| t >= after)
            });
            if !live && !changed {
                continue;
            }
            if let Some(room) = session.get("room_id").and_then(Value::as_str) {
                let id = session.get("id").and_then(Value::as_str).map(str::to_owned);
                rooms.entry(room.to_owned()).or_insert(id);
            }
        }
    }
    Ok(Rooms {
        partitions: rooms
            .into_iter()
            .map(|(room_id, session_id)| Partition {
                room_id: Some(room_id),
                session_id,
                params: &[],
            })
            .collect(),
        server_time,
    })
}

/// Every room, enabled or not.
pub async fn all_rooms(client: &Client, stream: &'static str) -> Result<Rooms> {
    let mut ids = std::collections::BTreeSet::new();
    let mut server_time = None;
    for enabled in ["true", "false"] {
        let listing = Listing {
            stream,
            path: "/rooms".to_owned(),
            params: vec![("enabled", enabled.to_owned())],
            envelope: Envelope::Data,
        };
        let mut pager = Pager::new(client, listing);
        while let Some(page) = pager.next().await? {
            server_time = server_time.or(page.server_time);
            ids.extend(
                page.items
                    .iter()
                    .filter_map(|r| r.get("id").and_then(Value::as_str).map(str::to_owned)),
            );
        }
    }
    Ok(Rooms {
        partitions: ids
            .into_iter()
            .map(|room_id| Partition {
                room_id: Some(room_id),
                ..Partition::default()
            })
            .collect(),
        server_time,
    })
}
