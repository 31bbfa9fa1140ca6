//! The partitions a stream's requests fan out over, and the listings they come from: rooms,
//! and live sessions (ended ones come from the sync's feed, `feed.rs`). Each asks for `enabled`
//! and `active` explicitly, since the docs say both default to `true`, which would hide
//! disabled rooms and ended sessions. Rooms and live sessions are read once per sync for every
//! stream that needs them (see `shared.rs`).

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::context::Context;
use super::cursor::{query_time, timestamp};
use super::feed::is_live;
use super::shared::{list, Listed, ListingKey};
use super::{Cursor, Partition, Partitions, Path, StreamDef};
use crate::error::Result;

/// Every room, enabled or disabled: the parameter sets of the rooms listing.
pub const ENABLED_BOTH_WAYS: &[&[(&str, &str)]] =
    &[&[("enabled", "true")], &[("enabled", "false")]];

/// The listing of every room, which `rooms` reads too.
pub fn all_rooms() -> ListingKey {
    ListingKey::new("/rooms", ENABLED_BOTH_WAYS)
}

/// The listing of the live sessions.
pub fn live_sessions_listing() -> ListingKey {
    ListingKey::new("/sessions", &[&[("active", "true")]])
}

/// Every room; with `created_after`, only rooms created since (from the shared listing of all
/// rooms when another stream reads it anyway, else with the API's `after` filter).
pub async fn rooms(
    ctx: &Context,
    stream: &'static str,
    created_after: Option<DateTime<Utc>>,
) -> Result<Arc<Listed>> {
    let key = all_rooms();
    let Some(after) = created_after.filter(|_| !ctx.listings.is_shared(&key)) else {
        let all = ctx.listings.whole(&ctx.client, stream, &key).await?;
        let Some(after) = created_after else {
            return Ok(all);
        };
        let objects = all
            .objects
            .iter()
            .filter(|r| timestamp(r, "created_at").is_none_or(|c| c > after))
            .cloned()
            .collect();
        return Ok(Arc::new(Listed {
            objects,
            server_time: all.server_time,
        }));
    };
    let sets = key
        .param_sets
        .into_iter()
        .map(|mut set| {
            set.push(("after", query_time(after)));
            set
        })
        .collect();
    Ok(Arc::new(list(&ctx.client, stream, "/rooms", sets).await?))
}

/// Sessions live now.
pub async fn live_sessions(ctx: &Context, stream: &'static str) -> Result<Listed> {
    let listed = ctx
        .listings
        .whole(&ctx.client, stream, &live_sessions_listing())
        .await?;
    Ok(Listed {
        // The filter is applied here too, in case a server ignores it.
        objects: listed
            .objects
            .iter()
            .filter(|s| is_live(s))
            .cloned()
            .collect(),
        server_time: listed.server_time,
    })
}

/// Rooms with a live session, each with that session, for `GET /active-rooms/{id}/...`.
async fn live_rooms(ctx: &Context, stream: &'static str) -> Result<Vec<Partition>> {
    let live = live_sessions(ctx, stream).await?;
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

/// Partitions that need no cursor to find.
pub async fn static_partitions(ctx: &Context, def: &'static StreamDef) -> Result<Vec<Partition>> {
    Ok(match def.partitions {
        Partitions::None => vec![Partition::default()],
        Partitions::Params(sets) => sets
            .iter()
            .map(|params| Partition {
                params,
                ..Partition::default()
            })
            .collect(),
        Partitions::LiveRooms => live_rooms(ctx, def.name).await?,
    })
}

/// The listing of a stream read whole from a fixed path (every parameter set of its
/// partitions), shared with the other streams of the sync that read the same.
pub fn whole_listing(def: &StreamDef) -> Option<ListingKey> {
    let Path::Fixed(path) = def.request.path else {
        return None;
    };
    let params = def.request.params;
    let sets: Vec<Vec<(&str, &str)>> = match def.partitions {
        Partitions::Params(sets) => sets
            .iter()
            .map(|set| params.iter().chain(set.iter()).copied().collect())
            .collect(),
        _ => vec![params.to_vec()],
    };
    let sets: Vec<&[(&str, &str)]> = sets.iter().map(Vec::as_slice).collect();
    Some(ListingKey::new(path, &sets))
}

/// The listings `def` reads that another stream may read too, as the sync's shared listings
/// count them.
pub fn listings_read_by(def: &StreamDef) -> Vec<ListingKey> {
    let mut keys = Vec::new();
    match (&def.request.path, &def.cursor) {
        (Path::Fixed(_), Cursor::None | Cursor::Updated { .. }) => keys.extend(whole_listing(def)),
        (
            Path::Fixed(path),
            Cursor::Created {
                server_filter: false,
                ..
            },
        ) => {
            keys.push(ListingKey::new(path, &[def.request.params]));
        }
        (_, Cursor::Events { .. }) => keys.extend([all_rooms(), live_sessions_listing()]),
        _ => {}
    }
    if let Partitions::LiveRooms = def.partitions {
        keys.push(live_sessions_listing());
    }
    if let Some(attach) = &def.attach {
        keys.push(ListingKey::new(attach.path, &[&[]]));
    }
    keys
}
