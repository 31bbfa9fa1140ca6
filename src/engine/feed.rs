//! The sync's one listing of ended sessions, for the streams that fan out over them:
//! `peer_quality_stats` asks for each ended session's peers, `analytics_events` for the
//! sessions that can have new events.
//!
//! When the sync reads `sessions`, that stream's listing is the feed: it lists every session
//! created in its window anyway, and reaches back as far as the feed needs (what it lists
//! before its own window it does not emit), so ended sessions cost no request of their own.
//! Otherwise the feed lists `GET /sessions?active=false&after=…` once, for every stream that
//! asks. How far back it reaches is decided before any stream starts, from the states of the
//! streams that read it (each strategy says what it needs).
//!
//! A reader waits until the sessions stream has listed its whole window. Should that stream
//! fail first, the readers list the ended sessions themselves (once, shared) rather than fail
//! with it.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use serde_json::Value;
use tokio::sync::{watch, OnceCell};

use super::cursor::{query_time, timestamp};
use super::pages::Page;
use super::shared::list;
use crate::error::{Error, Result};
use crate::http::Client;

/// Whether the API lists the session as live (`active: true`).
pub fn is_live(session: &Value) -> bool {
    session.get("active").and_then(Value::as_bool) == Some(true)
}

/// A session's peers, each with its id: the map key (the legacy examples' values carry no
/// `id`), or the `id` of an array's element.
fn peers(session: &Value) -> Vec<(Option<&str>, &Value)> {
    match session.get("peers") {
        Some(Value::Object(map)) => map.iter().map(|(id, p)| (Some(id.as_str()), p)).collect(),
        Some(Value::Array(list)) => list
            .iter()
            .map(|p| (p.get("id").and_then(Value::as_str), p))
            .collect(),
        _ => Vec::new(),
    }
}

/// When an ended session ended: its last change (the docs use `updated_at` as the end), or its
/// last peer's leaving, whichever is later.
pub fn ended_at(session: &Value) -> Option<DateTime<Utc>> {
    let last_leave = peers(session)
        .into_iter()
        .filter_map(|(_, p)| timestamp(p, "left_at"))
        .max();
    timestamp(session, "updated_at").max(last_leave)
}

/// An ended session, as the streams that fan out over sessions need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndedSession {
    pub id: String,
    pub room_id: Option<String>,
    pub created_at: Option<DateTime<Utc>>,
    /// Its last change or its last peer's leaving (see [`ended_at`]).
    pub ended_at: Option<DateTime<Utc>>,
    /// Its peers' ids: the map keys, since the legacy examples' values carry none.
    pub peers: Vec<String>,
}

impl EndedSession {
    /// A listed session created after `from` (or undated), unless it is live or has no id.
    pub fn of(session: &Value, from: DateTime<Utc>) -> Option<EndedSession> {
        let created_at = timestamp(session, "created_at");
        if is_live(session) || created_at.is_some_and(|c| c <= from) {
            return None;
        }
        let text = |field: &str| session.get(field)?.as_str().map(str::to_owned);
        Some(EndedSession {
            id: text("id")?,
            room_id: text("room_id"),
            created_at,
            ended_at: ended_at(session),
            peers: peers(session)
                .into_iter()
                .filter_map(|(id, _)| id.map(str::to_owned))
                .collect(),
        })
    }
}

/// Every ended session created after the feed's start, each once.
#[derive(Debug, Default)]
pub struct EndedSessions {
    pub sessions: Vec<EndedSession>,
    /// The API's clock at the listing's first response.
    pub server_time: Option<DateTime<Utc>>,
    ids: HashSet<String>,
}

impl EndedSessions {
    /// Adds the ended sessions of `objects` created after `from` (or undated) not added yet.
    fn add<'a>(&mut self, from: DateTime<Utc>, objects: impl IntoIterator<Item = &'a Value>) {
        for session in objects
            .into_iter()
            .filter_map(|s| EndedSession::of(s, from))
        {
            if self.ids.insert(session.id.clone()) {
                self.sessions.push(session);
            }
        }
    }
}

type Slot = Option<Arc<EndedSessions>>;

/// The ended sessions of one sync.
#[derive(Default)]
pub struct SessionFeed {
    /// Every ended session created after this is in the feed; `None` when no stream asks.
    from: Option<DateTime<Utc>>,
    /// The sessions stream's side, until that stream takes it.
    publisher: Mutex<Option<watch::Sender<Slot>>>,
    /// What the sessions stream listed, when it lists for the feed.
    published: Option<watch::Receiver<Slot>>,
    /// The feed's own listing: without the sessions stream, or after it failed.
    own: OnceCell<Arc<EndedSessions>>,
}

impl SessionFeed {
    /// A feed reaching back to `from`, listed by the sessions stream when `by_sessions_stream`.
    pub fn new(from: Option<DateTime<Utc>>, by_sessions_stream: bool) -> SessionFeed {
        let (publisher, published) = match (from, by_sessions_stream) {
            (Some(_), true) => {
                let (sender, receiver) = watch::channel(None);
                (Some(sender), Some(receiver))
            }
            _ => (None, None),
        };
        SessionFeed {
            from,
            publisher: Mutex::new(publisher),
            published,
            own: OnceCell::new(),
        }
    }

    /// For the sessions stream, when it starts: what it lists feeds the other streams. `None`
    /// when no stream reads the feed, or for a second caller.
    pub fn publisher(&self) -> Option<Publisher> {
        let sender = self
            .publisher
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()?;
        Some(Publisher {
            from: self.from?,
            sender,
            listed: EndedSessions::default(),
        })
    }

    /// Every ended session created after the feed's start: from the sessions stream's listing
    /// once it is complete, or listed here once for every stream that asks.
    pub async fn ended(
        &self,
        client: &Arc<Client>,
        stream: &'static str,
    ) -> Result<Arc<EndedSessions>> {
        let Some(from) = self.from else {
            return Err(Error::Response {
                endpoint: stream.into(),
                detail: "the sync planned no listing of ended sessions for this stream".into(),
            });
        };
        if self.published.is_some() {
            if let Some(listed) = self.published().await {
                return Ok(listed);
            }
            tracing::warn!(
                "{stream}: the sessions stream stopped before it had listed every session; \
                 the ended sessions are listed again for {stream}"
            );
        }
        let listed = self
            .own
            .get_or_try_init(|| async {
                let params = vec![vec![
                    ("active", "false".to_owned()),
                    ("after", query_time(from)),
                ]];
                let listed = list(client, stream, "/sessions", params).await?;
                let mut ended = EndedSessions {
                    server_time: listed.server_time,
                    ..EndedSessions::default()
                };
                ended.add(from, &listed.objects);
                Ok::<_, Error>(Arc::new(ended))
            })
            .await?;
        Ok(listed.clone())
    }

    /// What the sessions stream listed, once it has listed its whole window; `None` if it
    /// does not list for the feed, or stopped before.
    async fn published(&self) -> Option<Arc<EndedSessions>> {
        let mut published = self.published.clone()?;
        let slot = published.wait_for(Option::is_some).await.ok()?;
        slot.as_ref().cloned()
    }
}

/// The sessions stream's hand in the feed: the pages it lists go in, and the feed opens to
/// its readers when the stream has listed its whole window. Dropped before that (the stream
/// failed), it lets the readers list for themselves.
pub struct Publisher {
    from: DateTime<Utc>,
    sender: watch::Sender<Slot>,
    listed: EndedSessions,
}

impl Publisher {
    /// How far back the sessions stream must list.
    pub fn from(&self) -> DateTime<Utc> {
        self.from
    }

    pub fn add(&mut self, page: &Page) {
        self.listed.server_time = self.listed.server_time.or(page.server_time);
        self.listed.add(self.from, &page.items);
    }

    /// Every session of the window is in: the readers may go on.
    pub fn finish(self) {
        self.sender.send_replace(Some(Arc::new(self.listed)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn page(items: Vec<Value>) -> Page {
        Page {
            items,
            server_time: Some(at("2024-01-02T00:00:00Z")),
            total: None,
        }
    }

    #[test]
    fn peers_come_from_map_keys_and_live_sessions_are_left_out() {
        let s = json!({"id": "s1", "room_id": "r1", "updated_at": "2024-01-01T01:00:00Z",
            "peers": {"p1": {"name": "John"}, "p2": {"id": "p2"}}});
        let from = at("2023-01-01T00:00:00Z");
        let ended = EndedSession::of(&s, from).unwrap();
        assert_eq!(ended.peers, ["p1", "p2"]);
        assert_eq!(ended.ended_at, Some(at("2024-01-01T01:00:00Z")));
        assert_eq!(ended.room_id.as_deref(), Some("r1"));
        assert!(EndedSession::of(&json!({"id": "s2", "active": true}), from).is_none());
        assert!(EndedSession::of(&json!({"room_id": "r"}), from).is_none());
        let listed =
            json!({"id": "s3", "peers": [{"id": "p3", "left_at": "2024-01-01T02:00:00Z"}]});
        let ended = EndedSession::of(&listed, from).unwrap();
        assert_eq!(ended.peers, ["p3"]);
        assert_eq!(ended.ended_at, Some(at("2024-01-01T02:00:00Z")));
    }

    #[tokio::test]
    async fn readers_get_what_the_sessions_stream_listed_after_the_start_once_each() {
        let from = at("2024-01-01T00:00:00Z");
        let feed = SessionFeed::new(Some(from), true);
        let mut publisher = feed.publisher().unwrap();
        assert!(feed.publisher().is_none(), "one publisher");
        assert_eq!(publisher.from(), from);
        let publish = async {
            publisher.add(&page(vec![
                json!({"id": "new", "active": false, "created_at": "2024-01-01T10:00:00Z"}),
                json!({"id": "old", "active": false, "created_at": "2023-12-31T10:00:00Z"}),
                json!({"id": "live", "active": true, "created_at": "2024-01-01T11:00:00Z"}),
            ]));
            tokio::task::yield_now().await;
            publisher.add(&page(vec![json!({"id": "new", "active": false})]));
            publisher.finish();
        };
        let (listed, ()) = tokio::join!(feed.published(), publish);
        let listed = listed.expect("published");
        let ids: Vec<&str> = listed.sessions.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, ["new"]);
        assert_eq!(listed.server_time, Some(at("2024-01-02T00:00:00Z")));
    }

    #[tokio::test]
    async fn a_publisher_dropped_unfinished_leaves_the_readers_to_list() {
        let feed = SessionFeed::new(Some(at("2024-01-01T00:00:00Z")), true);
        let mut publisher = feed.publisher().unwrap();
        publisher.add(&page(vec![json!({"id": "s", "active": false})]));
        drop(publisher);
        assert!(feed.published().await.is_none());
    }

    #[test]
    fn no_publisher_without_a_reader_or_the_sessions_stream() {
        assert!(SessionFeed::new(None, true).publisher().is_none());
        assert!(SessionFeed::new(Some(at("2024-01-01T00:00:00Z")), false)
            .publisher()
            .is_none());
    }
}
