//! `sessions`: one continuous call in a room, with its participants.
//!
//! The API sends `peers` as a map keyed by peer id although its docs promise a list; records
//! carry them as an array, each peer with its `id` (the map key when the value has none, as in
//! the legacy example) and its `duration`. The session gains `started_at`, `stopped_at` and two
//! durations, named apart because the docs use the word for both: `total_peer_duration`, the
//! sum of the peers' durations (the docs' "session duration"), and `wall_clock_duration`, from
//! the first join to the last leave (a product page's). A session changes until it ends (at
//! most 12 hours), so active sessions are remembered in the state and emitted again until a
//! sync sees them ended. The list is read with `active=true` and `active=false` (the docs give
//! `active` a default of `true`, which would hide every ended session).

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::engine::{
    is_live, Cursor, Envelope, Partition, Partitions, Path, Records, Request, StreamDef,
};

pub static SESSIONS: StreamDef = StreamDef {
    name: "sessions",
    primary_key: &["id"],
    schema: include_str!("../../schemas/sessions.json"),
    request: Request {
        path: Path::Fixed("/sessions"),
        params: &[],
        envelope: Envelope::Data,
    },
    // The docs say `active` defaults to `true`: ask for live and ended sessions explicitly.
    // Live ones first, so a session that ends between the two listings is not missed.
    partitions: Partitions::Params(&[&[("active", "true")], &[("active", "false")]]),
    cursor: Cursor::Created {
        field: "created_at",
        server_filter: true,
        still_changing: Some(is_live),
        updated: Some("updated_at"),
        // Peer stats and analytics events fan out over the ended sessions this lists.
        session_feed: true,
    },
    attach: None,
    records: Records::Map(normalise),
};

fn time(v: &Value, field: &str) -> Option<DateTime<Utc>> {
    crate::engine::timestamp(v, field)
}

fn seconds_between(from: DateTime<Utc>, to: DateTime<Utc>) -> i64 {
    (to - from).num_seconds().max(0)
}

/// A peer of the map, identified: the key becomes its `id` when the value carries none.
fn keyed(key: String, mut peer: Value) -> Value {
    if let Some(fields) = peer.as_object_mut() {
        if fields.get("id").is_none_or(Value::is_null) {
            fields.insert("id".into(), Value::String(key));
        }
    }
    peer
}

/// Peers as an array with durations, and the session's span. Values the API sends are kept:
/// a peer's own `duration`, if it ever has one, is not recomputed.
pub fn normalise(session: &mut Value, _: &Partition) {
    let Some(object) = session.as_object_mut() else {
        return;
    };
    let mut peers: Vec<Value> = match object.remove("peers") {
        Some(Value::Object(map)) => map.into_iter().map(|(k, p)| keyed(k, p)).collect(),
        Some(Value::Array(list)) => list,
        _ => Vec::new(),
    };
    peers.sort_by_cached_key(|p| {
        (
            time(p, "joined_at"),
            p.get("id").and_then(Value::as_str).map(str::to_owned),
        )
    });
    let mut started: Option<(DateTime<Utc>, Value)> = None;
    let mut stopped: Option<(DateTime<Utc>, Value)> = None;
    let mut everyone_left = true;
    let mut total = 0i64;
    for peer in peers.iter_mut() {
        let joined = time(peer, "joined_at");
        let left = time(peer, "left_at");
        let sent = peer.get("duration").and_then(Value::as_i64);
        let duration = sent.or(match (joined, left) {
            (Some(j), Some(l)) => Some(seconds_between(j, l)),
            _ => None,
        });
        if let Some(peer) = peer.as_object_mut() {
            if let Some(j) = joined {
                if started.as_ref().is_none_or(|(s, _)| j < *s) {
                    started = Some((j, peer["joined_at"].clone()));
                }
            }
            match left {
                Some(l) => {
                    if stopped.as_ref().is_none_or(|(s, _)| l > *s) {
                        stopped = Some((l, peer["left_at"].clone()));
                    }
                }
                None => {
                    everyone_left = false;
                    peer.entry("left_at").or_insert(Value::Null);
                }
            }
            total += duration.unwrap_or(0);
            peer.insert("duration".into(), duration.map_or(Value::Null, Value::from));
        }
    }
    let active = object.get("active").and_then(Value::as_bool) == Some(true);
    let stopped = stopped.filter(|_| !active && everyone_left);
    let wall_clock = match (&started, &stopped) {
        (Some((s, _)), Some((e, _))) => Value::from(seconds_between(*s, *e)),
        _ => Value::Null,
    };
    let text = |t: Option<(DateTime<Utc>, Value)>| t.map_or(Value::Null, |(_, v)| v);
    object.insert("peers".into(), Value::Array(peers));
    object.insert("started_at".into(), text(started));
    object.insert("stopped_at".into(), text(stopped));
    object.insert("wall_clock_duration".into(), wall_clock);
    object.insert("total_peer_duration".into(), Value::from(total));
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn normalised(mut v: Value) -> Value {
        normalise(&mut v, &Partition::default());
        v
    }

    #[test]
    fn peers_map_becomes_array_with_durations() {
        let s = normalised(json!({
            "id": "s", "active": false,
            "peers": {
                "b": {"id": "b", "joined_at": "2022-09-08T15:52:10Z", "left_at": "2022-09-08T15:53:10.5Z"},
                "a": {"id": "a", "joined_at": "2022-09-08T15:52:02.194Z", "left_at": "2022-09-08T15:52:04.009Z"}
            }
        }));
        let peers = s["peers"].as_array().unwrap();
        assert_eq!(peers[0]["id"], "a");
        assert_eq!(peers[0]["duration"], 1);
        assert_eq!(peers[1]["duration"], 60);
        assert_eq!(s["started_at"], "2022-09-08T15:52:02.194Z");
        assert_eq!(s["stopped_at"], "2022-09-08T15:53:10.5Z");
        assert_eq!(s["wall_clock_duration"], 68);
        assert_eq!(s["total_peer_duration"], 61);
        assert!(
            s.get("duration").is_none(),
            "no derived value under an API name"
        );
    }

    #[test]
    fn peers_without_an_id_get_their_map_key() {
        // The legacy example: the map key is the peer's only identity.
        let s = normalised(json!({
            "id": "s", "active": false,
            "peers": {
                "a24687bb-de68-4276-9758-e1efa5e7e4d8": {"name": "asdas", "joined_at": "2022-09-08T15:52:02.194Z", "left_at": "2022-09-08T15:52:04.009Z"},
                "2d873b0a-c2c9-41dc-ac72-c6ea9b2f2cc3": {"id": null, "name": "Nixon K", "joined_at": "2022-09-08T15:52:03Z", "left_at": "2022-09-08T15:52:05Z"},
                "k": {"id": "own-id", "joined_at": "2022-09-08T15:52:04Z"}
            }
        }));
        let ids: Vec<&str> = s["peers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["id"].as_str().unwrap())
            .collect();
        assert_eq!(
            ids,
            [
                "a24687bb-de68-4276-9758-e1efa5e7e4d8",
                "2d873b0a-c2c9-41dc-ac72-c6ea9b2f2cc3",
                "own-id"
            ]
        );
    }

    #[test]
    fn a_peer_duration_the_api_sends_is_kept() {
        let s = normalised(json!({
            "id": "s", "active": false,
            "peers": {"a": {"id": "a", "duration": 7, "joined_at": "2022-09-08T15:52:02Z", "left_at": "2022-09-08T15:53:02Z"}}
        }));
        assert_eq!(s["peers"][0]["duration"], 7);
        assert_eq!(s["total_peer_duration"], 7);
        assert_eq!(s["wall_clock_duration"], 60);
    }

    #[test]
    fn active_session_has_no_end() {
        let s = normalised(json!({
            "id": "s", "active": true,
            "peers": {
                "a": {"id": "a", "joined_at": "2022-09-08T15:52:02Z", "left_at": "2022-09-08T15:52:04Z"},
                "b": {"id": "b", "joined_at": "2022-09-08T15:52:03Z"}
            }
        }));
        assert_eq!(s["stopped_at"], Value::Null);
        assert_eq!(s["wall_clock_duration"], Value::Null);
        assert_eq!(s["peers"][1]["left_at"], Value::Null);
        assert_eq!(s["peers"][1]["duration"], Value::Null);
        assert_eq!(s["total_peer_duration"], 2);
    }

    #[test]
    fn missing_or_null_peers_are_an_empty_list() {
        for peers in [json!(null), json!({}), json!([])] {
            let s = normalised(json!({"id": "s", "active": false, "peers": peers}));
            assert_eq!(s["peers"], json!([]));
            assert_eq!(s["started_at"], Value::Null);
            assert_eq!(s["total_peer_duration"], 0);
        }
        let s = normalised(json!({"id": "s"}));
        assert_eq!(s["peers"], json!([]));
    }
}
