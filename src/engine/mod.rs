//! The stream engine: the one piece of code that knows how to page, partition, filter and
//! checkpoint a 100ms listing. Streams are declarations ([`StreamDef`]) read by this engine;
//! none of them contains a loop.

mod attach;
mod context;
mod created;
mod cursor;
mod drift;
mod events;
mod feed;
mod pages;
mod partitions;
mod peer_stats;
mod read;
mod shared;
mod webhooks;
mod whole;

pub use context::Context;
pub use cursor::{timestamp, SavedState};
pub use feed::{is_live, SessionFeed};
pub use pages::parse_page;
pub use read::{read_stream, session_feed};
pub use shared::Listings;

/// The shared listings of a sync that reads `defs`.
pub fn listings_for(defs: &[&StreamDef]) -> Listings {
    Listings::new(defs.iter().flat_map(|d| partitions::listings_read_by(d)))
}

use serde_json::Value;

/// A stream, declared.
pub struct StreamDef {
    pub name: &'static str,
    /// Top-level fields that together identify a record.
    pub primary_key: &'static [&'static str],
    /// The JSON Schema of its records.
    pub schema: &'static str,
    pub request: Request,
    pub partitions: Partitions,
    pub cursor: Cursor,
    /// Objects of a second listing to attach to each record.
    pub attach: Option<Attach>,
    pub records: Records,
}

impl StreamDef {
    /// Rejects the combinations the engine would otherwise ignore without a word: a stream
    /// declared so is a bug, caught by the test over every stream.
    pub fn check(&self) -> Result<(), String> {
        let created = matches!(self.cursor, Cursor::Created { .. });
        if matches!(self.cursor, Cursor::Updated { .. })
            && !matches!(self.request.path, Path::Fixed(_))
        {
            return Err(format!(
                "{}: an updated cursor lists a fixed path whole",
                self.name
            ));
        }
        if let Cursor::Created {
            session_feed: true,
            server_filter: false,
            ..
        } = self.cursor
        {
            return Err(format!(
                "{}: only a server-filtered listing covers its window whole, as a feed must",
                self.name
            ));
        }
        if self.attach.is_some() && !created {
            return Err(format!(
                "{}: only a created cursor attaches children",
                self.name
            ));
        }
        if matches!(self.cursor, Cursor::Events { .. })
            && !matches!(self.partitions, Partitions::None)
        {
            return Err(format!(
                "{}: the events cursor finds its own partitions",
                self.name
            ));
        }
        match (&self.request.path, &self.partitions) {
            (Path::PerRoom { .. }, Partitions::LiveRooms) => {}
            (Path::PerRoom { .. }, _) => {
                return Err(format!(
                    "{}: a per-room path needs room partitions",
                    self.name
                ))
            }
            (Path::Fixed(_), Partitions::LiveRooms) => {
                return Err(format!(
                    "{}: room partitions need a per-room path",
                    self.name
                ))
            }
            (Path::Fixed(_), _) => {}
        }
        let paged = self.request.envelope != Envelope::PeersMap;
        if !paged && !matches!(self.cursor, Cursor::None) {
            return Err(format!(
                "{}: an unpaged map has no cursor to keep",
                self.name
            ));
        }
        Ok(())
    }
}

/// Children from a second newest-first listing, attached to their parents in one merged pass
/// over both (a recording's assets): one extra request per 100 children, none per parent.
pub struct Attach {
    pub path: &'static str,
    /// The child's field naming its parent's `id`.
    pub parent_field: &'static str,
    /// The parent's field that receives the array of children.
    pub into: &'static str,
    /// Creation time, in parent and child alike; a child is never older than its parent.
    pub created_field: &'static str,
}

/// What to ask the API for.
pub struct Request {
    pub path: Path,
    /// Query parameters sent with every page.
    pub params: &'static [(&'static str, &'static str)],
    pub envelope: Envelope,
}

pub enum Path {
    Fixed(&'static str),
    /// `{prefix}{room_id}{suffix}`, one per room partition.
    PerRoom {
        prefix: &'static str,
        suffix: &'static str,
    },
}

/// Where the objects sit in a response, and how the next page is asked for.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Envelope {
    /// `{limit, data, last}`, newest first; the next page is `start=<last>`.
    Data,
    /// `{limit, total, next, events}`, oldest first; the next page is `start=<next>`.
    Events,
    /// `{peers: {id: peer}}`, one unpaginated map.
    PeersMap,
    /// `{events, pagination: {current_page, has_next, …}}`; the next page is `page=<n + 1>`.
    PageNumbers,
    /// One object, not a list.
    Single,
}

/// What a stream's request is repeated over.
pub enum Partitions {
    /// One listing.
    None,
    /// The same listing once per parameter set.
    Params(&'static [&'static [(&'static str, &'static str)]]),
    /// Each room with a live session (from `GET /sessions?active=true`).
    LiveRooms,
}

/// How a stream syncs incrementally.
pub enum Cursor {
    /// Live or derived data: read whole every time.
    None,
    /// Few, mutable objects listed whole; a record is new when the newest of `fields` (a
    /// timestamp; the zero time counts as absent) passed the cursor.
    Updated {
        field: &'static str,
        fields: &'static [&'static str],
    },
    /// Newest-first listing by creation time. Objects that `still_changing` (an active
    /// session, a running recording), or that were created or `updated` within the lookback,
    /// are remembered in the state and read again, and emitted again only if they changed.
    /// With `server_filter`, the window is sent as `after`/`before` and split into slices that
    /// each end in a checkpoint; without, paging stops once past the window. Each of the
    /// stream's partitions is read in every slice.
    Created {
        field: &'static str,
        server_filter: bool,
        still_changing: Option<fn(&Value) -> bool>,
        updated: Option<&'static str>,
        /// The listing is the sync's listing of sessions: the ended sessions it lists feed the
        /// streams that fan out over them, and it reaches back as far as they need (see
        /// `feed.rs`).
        session_feed: bool,
    },
    /// Oldest-first logs without a time filter (analytics events): every room on the first
    /// sync, then only the sessions that can have new events, and a sweep for events of no
    /// session (see `events.rs`).
    Events { field: &'static str },
    /// Per-peer reports of ended sessions, keyed on the session's end (see `peer_stats.rs`).
    PeerStats { field: &'static str },
    /// A log with a time filter and page numbers, read in windows (see `webhooks.rs`).
    Webhooks { field: &'static str },
}

impl Cursor {
    /// The cursor field `discover` declares.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            Cursor::None => None,
            Cursor::Updated { field, .. }
            | Cursor::Created { field, .. }
            | Cursor::Events { field }
            | Cursor::PeerStats { field }
            | Cursor::Webhooks { field } => Some(field),
        }
    }
}

/// How API objects become records.
pub enum Records {
    AsIs,
    /// Rewritten in place (normalisations, fields added from the partition).
    Map(fn(&mut Value, &Partition)),
    /// Each object yields any number of records.
    FlatMap(fn(Value, &Partition, &mut Vec<Value>)),
}

/// One repetition of a stream's request.
#[derive(Clone, Debug, Default)]
pub struct Partition {
    pub room_id: Option<String>,
    pub session_id: Option<String>,
    pub params: &'static [(&'static str, &'static str)],
}
