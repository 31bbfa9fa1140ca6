//! `active_room_peers`: who is in a live room right now.
//!
//! There is no endpoint listing live rooms: rooms come from `GET /sessions?active=true`, then
//! `GET /active-rooms/{room_id}/peers` gives a map of peers per room, emitted one record per
//! peer with the room and session added. A room whose session ended in between answers 404
//! and is skipped.

use serde_json::Value;

use crate::engine::{Cursor, Envelope, Partition, Partitions, Path, Records, Request, StreamDef};

pub static ACTIVE_ROOM_PEERS: StreamDef = StreamDef {
    name: "active_room_peers",
    primary_key: &["id"],
    schema: include_str!("../../schemas/active_room_peers.json"),
    request: Request {
        path: Path::PerRoom {
            prefix: "/active-rooms/",
            suffix: "/peers",
        },
        params: &[],
        envelope: Envelope::PeersMap,
    },
    partitions: Partitions::LiveRooms,
    cursor: Cursor::None,
    attach: None,
    records: Records::Map(add_room),
};

fn add_room(peer: &mut Value, partition: &Partition) {
    if let Some(peer) = peer.as_object_mut() {
        for (key, value) in [
            ("room_id", &partition.room_id),
            ("session_id", &partition.session_id),
        ] {
            peer.insert(key.into(), value.clone().map_or(Value::Null, Value::String));
        }
    }
}
