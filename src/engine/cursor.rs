//! Time and state: reading timestamps off API objects, formatting them for query parameters,
//! and the typed state each kind of cursor keeps between syncs.
//!
//! Every state is a small, bounded JSON object; a stream that reads nothing keeps the state it
//! was given, and a cursor only ever names the end of a window that was read completely.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};

/// How far behind the API's clock a window ends: objects become visible a moment after the
/// time they carry, and a cursor must never move past what could still appear.
pub const SAFETY_MARGIN: Duration = Duration::seconds(60);
/// The longest a 100ms session lasts: events of a session can only appear while it lives.
pub const MAX_SESSION_LENGTH: Duration = Duration::hours(12);
/// At most this many objects are remembered as still changing, and this many rooms keep a
/// cursor of their own (the Airbyte CDK's partition cap); past it the state falls back to a
/// coarser bound that may re-read records but never skips one.
pub const MAX_TRACKED: usize = 10_000;

/// `(after, until]`: the instants one read emits. Open below, so the next read, starting where
/// this one ended, neither repeats nor skips an instant; `until: None` is unbounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub after: DateTime<Utc>,
    pub until: Option<DateTime<Utc>>,
}

impl Window {
    /// Whether a record with this timestamp is emitted. Without one there is no telling where
    /// it belongs: it is emitted rather than lost.
    pub fn contains(&self, t: Option<DateTime<Utc>>) -> bool {
        t.is_none_or(|t| t > self.after && self.until.is_none_or(|u| t <= u))
    }
}

/// The instant in `record[field]`, if it holds an RFC 3339 timestamp other than Go's zero time.
pub fn timestamp(record: &Value, field: &str) -> Option<DateTime<Utc>> {
    let text = record.get(field)?.as_str()?;
    let t = DateTime::parse_from_rfc3339(text).ok()?.with_timezone(&Utc);
    (t.timestamp() > 0).then_some(t)
}

/// The newest of several timestamp fields.
pub fn newest(record: &Value, fields: &[&str]) -> Option<DateTime<Utc>> {
    fields.iter().filter_map(|f| timestamp(record, f)).max()
}

/// The oldest instant a 100ms object can carry: ids hold seconds since the Unix epoch. A
/// `start_date` before it (year 0000, say) reads from here, in the form the API accepts.
pub const OLDEST: DateTime<Utc> = DateTime::UNIX_EPOCH;

/// `YYYY-MM-DDTHH:mm:ss.sssZ`, the form the API documents for `after`/`before`, rounded down,
/// and never before [`OLDEST`] (a year before 0000 has no such form).
pub fn query_time(t: DateTime<Utc>) -> String {
    t.max(OLDEST).to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// `YYYY-MM-DDTHH:mm:ss.sssZ` rounded up to the next millisecond, for an upper bound that must
/// not cut off sub-millisecond timestamps.
pub fn query_time_ceil(t: DateTime<Utc>) -> String {
    query_time(t + Duration::nanoseconds(999_999))
}

/// A state for one stream, read from the state file.
fn parse_state<T: DeserializeOwned>(stream: &str, state: Option<&Value>) -> Result<Option<T>> {
    match state {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(map)) if map.is_empty() => Ok(None),
        Some(value) => serde_json::from_value(value.clone())
            .map(Some)
            .map_err(|e| {
                Error::config(format!(
                    "The state of stream {stream} is malformed ({e}): expected an object such as \
                 {{\"cursor\": \"2024-01-01T00:00:00Z\"}}. Reset the stream's state to read \
                 it from the start date again."
                ))
            }),
    }
}

/// A stream's state from the state file, parsed once, before the sync starts (so a malformed
/// one stops nothing half-way), into the form its cursor keeps.
#[derive(Debug, Clone, Default)]
pub enum SavedState {
    /// No state: the stream reads from the start date.
    #[default]
    Fresh,
    Updated(UpdatedState),
    Created(CreatedState),
    Events(EventsState),
    PeerStats(PeerStatsState),
    Webhooks(WebhooksState),
}

impl SavedState {
    pub fn parse(def: &super::StreamDef, state: Option<&Value>) -> Result<SavedState> {
        use super::Cursor;
        Ok(match def.cursor {
            Cursor::None => None,
            Cursor::Updated { .. } => parse_state(def.name, state)?.map(SavedState::Updated),
            Cursor::Created { .. } => parse_state(def.name, state)?.map(SavedState::Created),
            Cursor::Events { .. } => parse_state(def.name, state)?.map(SavedState::Events),
            Cursor::PeerStats { .. } => parse_state(def.name, state)?.map(SavedState::PeerStats),
            Cursor::Webhooks { .. } => parse_state(def.name, state)?.map(SavedState::Webhooks),
        }
        .unwrap_or_default())
    }
}

pub fn to_value<T: Serialize>(state: &T) -> Value {
    serde_json::to_value(state).unwrap_or(Value::Null)
}

/// State of a stream listed whole and filtered on its newest timestamp.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UpdatedState {
    /// Every object changed up to this instant has been emitted.
    pub cursor: DateTime<Utc>,
}

/// State of a newest-first stream windowed on creation time.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CreatedState {
    /// Every object created up to this instant has been emitted at least once.
    pub cursor: DateTime<Utc>,
    /// Objects read again next sync: emitted while still changing (active sessions, running
    /// recordings), or created or changed within the lookback of the cursor.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pending: Vec<PendingObject>,
    /// Set instead of `pending` when too many objects were changing: everything created since
    /// is read again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_since: Option<DateTime<Utc>>,
}

/// An object read again next sync: still changing, or created or changed within the lookback.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingObject {
    pub id: String,
    pub created_at: DateTime<Utc>,
    /// The fingerprint of the records last emitted for it: emitted again only if it changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
}

impl CreatedState {
    /// The oldest creation time that must be read again.
    pub fn oldest_pending(&self) -> Option<DateTime<Utc>> {
        let listed = self.pending.iter().map(|p| p.created_at).min();
        match (listed, self.pending_since) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Keeps at most [`MAX_TRACKED`] pending objects, replacing them with `pending_since`
    /// when there are more.
    pub fn bound(mut self) -> CreatedState {
        if self.pending.len() > MAX_TRACKED {
            let oldest = self.oldest_pending();
            self.pending.clear();
            self.pending_since = oldest;
        }
        self.pending
            .sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        self
    }
}

/// State of `analytics_events`: read per room on the first sync, per session afterwards.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EventsState {
    /// Every session's events are emitted up to this instant.
    pub cursor: DateTime<Utc>,
    /// Sessions to read again: live at `cursor`, or ended within the lookback of it. `None`
    /// (a state from an older version, or too many to remember) reads every session created
    /// in the [`MAX_SESSION_LENGTH`] before the cursor again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracked: Option<Vec<TrackedSession>>,
    /// How many events each group had in its lookback zone, `(its cursor − lookback, its
    /// cursor]`, all emitted: `s:<session id>` against `cursor`, `r:<room id>` (events of no
    /// session) against the room's sweep cursor. A re-read that finds as many emits none again.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub seen: BTreeMap<String, u32>,
    /// The sweep for events that belong to no session; `None` sweeps at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sweep: Option<SweepState>,
    /// Partitions (`s:`, `r:`, `w:<room id>` for a room read whole) that a sync which did not
    /// complete finished, with the window end each reached.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub done: BTreeMap<String, DateTime<Utc>>,
}

/// A session whose events can still grow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrackedSession {
    pub id: String,
    pub room_id: String,
    /// Set once a sync saw it ended: it ended at or before this instant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_by: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SweepState {
    /// When the last sweep of every room ran (the API's clock).
    pub ran_at: DateTime<Utc>,
    /// Every room's events of no session are emitted up to this instant…
    pub cursor: DateTime<Utc>,
    /// …except these rooms, swept further already (rooms new since the last sweep).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub rooms: BTreeMap<String, DateTime<Utc>>,
}

/// State of `peer_quality_stats`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PeerStatsState {
    /// The stats of every peer of every session that ended up to this instant were read.
    pub cursor: DateTime<Utc>,
    /// Sessions already read that ended within the lookback of the cursor: a re-read of that
    /// zone skips them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub read: Vec<ReadSession>,
}

/// A session whose peers' stats were read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadSession {
    pub id: String,
    pub ended_at: DateTime<Utc>,
}

/// State of `webhook_events`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WebhooksState {
    /// Every event delivered up to this instant was emitted.
    pub cursor: DateTime<Utc>,
    /// Ids of the events in `(cursor − lookback, cursor]`, all emitted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub seen: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn windows_are_open_below_closed_above_and_keep_the_undated() {
        let t = |s: &str| Some(s.parse::<DateTime<Utc>>().unwrap());
        let w = Window {
            after: t("2024-01-01T00:00:00Z").unwrap(),
            until: t("2024-01-02T00:00:00Z"),
        };
        assert!(!w.contains(t("2024-01-01T00:00:00Z")));
        assert!(w.contains(t("2024-01-01T00:00:00.000000001Z")));
        assert!(w.contains(t("2024-01-02T00:00:00Z")));
        assert!(!w.contains(t("2024-01-02T00:00:00.000000001Z")));
        assert!(w.contains(None));
        let open = Window { until: None, ..w };
        assert!(open.contains(t("2999-01-01T00:00:00Z")));
    }

    #[test]
    fn timestamps_with_any_precision() {
        for (text, nanos) in [
            ("2022-09-08T15:07:37.83Z", 830_000_000),
            ("2023-01-25T12:06:34.080990401Z", 80_990_401),
            ("2020-11-11T17:12:17Z", 0),
        ] {
            let t = timestamp(&json!({ "t": text }), "t").unwrap();
            assert_eq!(t.timestamp_subsec_nanos(), nanos, "{text}");
        }
    }

    #[test]
    fn zero_time_and_garbage_are_absent() {
        assert_eq!(timestamp(&json!({"t": "0001-01-01T00:00:00Z"}), "t"), None);
        assert_eq!(timestamp(&json!({"t": "yesterday"}), "t"), None);
        assert_eq!(timestamp(&json!({"t": 5}), "t"), None);
        assert_eq!(timestamp(&json!({}), "t"), None);
    }

    #[test]
    fn newest_of_fields() {
        let r = json!({"created_at": "2024-01-01T00:00:00Z", "updated_at": "0001-01-01T00:00:00Z"});
        assert_eq!(
            newest(&r, &["created_at", "updated_at"])
                .unwrap()
                .to_rfc3339(),
            "2024-01-01T00:00:00+00:00"
        );
    }

    #[test]
    fn query_times_round_outwards() {
        let t = DateTime::parse_from_rfc3339("2024-01-01T00:00:00.123456789Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(query_time(t), "2024-01-01T00:00:00.123Z");
        assert_eq!(query_time_ceil(t), "2024-01-01T00:00:00.124Z");
        let whole = DateTime::parse_from_rfc3339("2024-01-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(query_time_ceil(whole), "2024-01-01T00:00:00.000Z");
    }

    #[test]
    fn query_times_never_precede_the_epoch() {
        let ancient = "0000-01-01T00:00:00Z".parse::<DateTime<Utc>>().unwrap();
        assert_eq!(
            query_time(ancient - Duration::nanoseconds(1)),
            "1970-01-01T00:00:00.000Z"
        );
    }

    #[test]
    fn malformed_state_is_a_config_error() {
        let err =
            parse_state::<UpdatedState>("rooms", Some(&json!({"cursor": "soon"}))).unwrap_err();
        assert!(matches!(err, Error::Config(_)));
        assert!(err.to_string().contains("rooms"));
        assert!(parse_state::<UpdatedState>("rooms", Some(&json!({})))
            .unwrap()
            .is_none());
        assert!(parse_state::<UpdatedState>("rooms", Some(&json!(null)))
            .unwrap()
            .is_none());
    }

    #[test]
    fn pending_overflow_falls_back_to_a_bound() {
        let base = Utc::now();
        let state = CreatedState {
            cursor: base,
            pending: (0..=MAX_TRACKED as i64)
                .map(|i| PendingObject {
                    id: i.to_string(),
                    created_at: base - Duration::seconds(i),
                    digest: None,
                })
                .collect(),
            pending_since: None,
        }
        .bound();
        assert!(state.pending.is_empty());
        assert_eq!(
            state.pending_since,
            Some(base - Duration::seconds(MAX_TRACKED as i64))
        );
    }

    proptest::proptest! {
        #[test]
        fn any_timestamp_text_parses_or_is_absent(text in ".{0,40}") {
            let _ = timestamp(&json!({"t": text}), "t");
        }

        #[test]
        fn any_stream_state_parses_or_fails_as_config(value in crate::test_support::arb_json()) {
            for result in [
                parse_state::<CreatedState>("s", Some(&value)).map(|_| ()),
                parse_state::<UpdatedState>("s", Some(&value)).map(|_| ()),
                parse_state::<EventsState>("s", Some(&value)).map(|_| ()),
            ] {
                if let Err(e) = result {
                    proptest::prop_assert!(matches!(e, Error::Config(_)), "{}", e);
                }
            }
        }
    }
}
