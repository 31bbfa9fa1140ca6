//! `rooms`: the virtual places where sessions happen.
//!
//! The API filters rooms by creation time only, yet rooms change (enabled, disabled, renamed)
//! and `updated_at` is Go's zero time until they do. Rooms are few, so each sync lists them
//! all at 100 a page and keeps those created or updated since the cursor. `enabled` is asked
//! for both ways because the docs say it defaults to `true`, which would hide disabled rooms.
//! Storage credentials a room may carry are masked ([`super::credentials`]).

use super::credentials::mask_record;
use crate::engine::{Cursor, Envelope, Partitions, Path, Records, Request, StreamDef};

pub static ROOMS: StreamDef = StreamDef {
    name: "rooms",
    primary_key: &["id"],
    schema: include_str!("../../schemas/rooms.json"),
    request: Request {
        path: Path::Fixed("/rooms"),
        params: &[],
        envelope: Envelope::Data,
    },
    partitions: Partitions::Params(&[&[("enabled", "true")], &[("enabled", "false")]]),
    cursor: Cursor::Updated {
        field: "updated_at",
        fields: &["created_at", "updated_at"],
    },
    attach: None,
    records: Records::Map(mask_record),
};
