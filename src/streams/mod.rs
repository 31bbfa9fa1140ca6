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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{Cursor, Envelope, Partitions, Path, Records, Request};

    #[test]
    fn every_stream_is_declared_as_the_engine_reads_it() {
        for def in STREAMS {
            def.check().unwrap();
        }
    }

    #[test]
    fn combinations_the_engine_would_ignore_are_rejected() {
        let base = || StreamDef {
            name: "s",
            primary_key: &["id"],
            schema: "{}",
            request: Request {
                path: Path::Fixed("/x"),
                params: &[],
                envelope: Envelope::Data,
            },
            partitions: Partitions::None,
            cursor: Cursor::None,
            attach: None,
            records: Records::AsIs,
        };
        assert!(base().check().is_ok());
        let live_on_fixed = StreamDef {
            partitions: Partitions::LiveRooms,
            ..base()
        };
        assert!(live_on_fixed.check().is_err());
        let events_with_params = StreamDef {
            cursor: Cursor::Events { field: "t" },
            partitions: Partitions::Params(&[&[("a", "b")]]),
            ..base()
        };
        assert!(events_with_params.check().is_err());
        let attach_without_created = StreamDef {
            attach: Some(crate::engine::Attach {
                path: "/c",
                parent_field: "p",
                into: "c",
                created_field: "t",
            }),
            ..base()
        };
        assert!(attach_without_created.check().is_err());
        let per_room_alone = StreamDef {
            request: Request {
                path: Path::PerRoom {
                    prefix: "/r/",
                    suffix: "",
                },
                params: &[],
                envelope: Envelope::Data,
            },
            ..base()
        };
        assert!(per_room_alone.check().is_err());
        let feed_without_filter = StreamDef {
            cursor: Cursor::Created {
                field: "t",
                server_filter: false,
                still_changing: None,
                updated: None,
                session_feed: true,
            },
            ..base()
        };
        assert!(feed_without_filter.check().is_err());
    }
}
