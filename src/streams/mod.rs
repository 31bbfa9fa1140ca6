//! The streams, as declarations the engine reads. Each file is one entity: where it comes from,
//! its key, its cursor, and the normalisations that make its records warehouse-friendly.

mod active_room_peers;
mod analytics_events;
mod credentials;
mod peer_quality_stats;
mod recordings;
mod rooms;
mod sessions;
mod templates;
mod webhook_events;

use crate::engine::StreamDef;

/// Every stream, in the order `discover` lists them.
pub static STREAMS: [&StreamDef; 11] = [
    &sessions::SESSIONS,
    &rooms::ROOMS,
    &active_room_peers::ACTIVE_ROOM_PEERS,
    &templates::TEMPLATES,
    &templates::TEMPLATE_SETTINGS,
    &templates::TEMPLATE_DESTINATIONS,
    &analytics_events::ANALYTICS_EVENTS,
    &recordings::RECORDINGS,
    &recordings::RECORDING_ASSETS,
    &peer_quality_stats::PEER_QUALITY_STATS,
    &webhook_events::WEBHOOK_EVENTS,
];

pub fn find(name: &str) -> Option<&'static StreamDef> {
    STREAMS.iter().copied().find(|s| s.name == name)
}
