//! Paging: turning one request into the sequence of its pages, with the stop rules the API
//! implies and guards against the loops other connectors fell into.
//!
//! A listing ends when a page has no objects (`data` null, missing or `[]`), when the cursor
//! (`last` or `next`) is missing or empty, or, for `{limit, data, last}` lists, when the API
//! found fewer objects than the `limit` it says it tried for (its documented meaning), which
//! saves the empty request at the end. A cursor seen before, a page that brings nothing the
//! previous page did not (the same ids under a fresh cursor), or more than [`MAX_PAGES`] pages,
//! is an error rather than an endless copy of the same data.
//!
//! The page size is the API's documented maximum, [`PAGE_SIZES`]`[0]`. Some of its docs give a
//! smaller range (10–20 for sessions), and an API that enforces one answers 400 naming `limit`:
//! the request is then sent again with the next smaller size, which the client remembers for
//! every later listing of the path.

use std::collections::HashSet;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::Envelope;
use crate::error::{Error, Result};
use crate::http::{Client, HttpError};

/// Objects asked for per page, largest first: the API's documented maximum, then the top and
/// the bottom of the narrowest range its docs give.
pub const PAGE_SIZES: [usize; 3] = [100, 20, 10];
/// No listing is longer than this (ten million objects at 100 a page).
pub const MAX_PAGES: usize = 100_000;

pub struct Page {
    pub items: Vec<Value>,
    pub server_time: Option<DateTime<Utc>>,
    /// `total` of an events page.
    pub total: Option<u64>,
}

/// One listing to page through.
#[derive(Debug, Clone)]
pub struct Listing {
    pub stream: &'static str,
    pub path: String,
    pub params: Vec<(&'static str, String)>,
    pub envelope: Envelope,
}

/// A lazy sequence of the pages of one listing: each [`Pager::next`] makes at most one
/// request, so callers can stop, or do other work, between pages.
pub struct Pager {
    client: Arc<Client>,
    listing: Listing,
    /// The page size to ask for; `None` for an unpaginated listing.
    page_size: Option<usize>,
    cursor: Option<String>,
    seen: HashSet<String>,
    /// The ids of the previous page.
    previous_ids: HashSet<String>,
    pages: usize,
    done: bool,
}

impl Pager {
    pub fn new(client: &Arc<Client>, listing: Listing) -> Pager {
        let page_size = match listing.envelope {
            Envelope::Data | Envelope::Events => Some(PAGE_SIZES[0]),
            Envelope::PeersMap | Envelope::PageNumbers | Envelope::Single => None,
        };
        Pager {
            client: client.clone(),
            listing,
            page_size,
            cursor: None,
            seen: HashSet::new(),
            previous_ids: HashSet::new(),
            pages: 0,
            done: false,
        }
    }

    /// The next page, or `None` once the listing has ended.
    pub async fn next(&mut self) -> Result<Option<Page>> {
        if self.done {
            return Ok(None);
        }
        if self.pages == MAX_PAGES {
            return Err(self.error(format!("more than {MAX_PAGES} pages")));
        }
        self.pages += 1;
        let (response, page_size) = self.fetch().await?;
        let parsed =
            parse_page(self.listing.envelope, &response.body, page_size).map_err(|detail| {
                Error::Response {
                    endpoint: self.endpoint(),
                    detail: self.client.scrub(&detail),
                }
            })?;
        self.check_progress(&parsed.items)?;
        match parsed.next {
            Some(next) if !parsed.items.is_empty() && !parsed.exhausted => {
                if !self.seen.insert(next.clone()) {
                    return Err(self.error(format!(
                        "the API returned the cursor {next:?} twice; stopping instead of reading the same pages again"
                    )));
                }
                self.cursor = Some(next);
            }
            _ => self.done = true,
        }
        Ok(Some(Page {
            items: parsed.items,
            server_time: response.server_time,
            total: parsed.total,
        }))
    }

    /// One page's response, at the largest page size the API accepts: a 400 naming `limit`
    /// sends the same request again with the next smaller size. Returns the size it was sent
    /// with.
    async fn fetch(&mut self) -> Result<(crate::http::Response, Option<usize>)> {
        let listing = &self.listing;
        loop {
            // Another listing of the path may have learned a smaller size meanwhile.
            let known = self.client.page_size_for(&listing.path);
            let page_size = match (self.page_size, known) {
                (Some(ours), Some(known)) => Some(ours.min(known)),
                (ours, _) => ours,
            };
            self.page_size = page_size;
            let mut query = listing.params.clone();
            if let Some(size) = page_size {
                query.push(("limit", size.to_string()));
            }
            if let Some(cursor) = &self.cursor {
                query.push(("start", cursor.clone()));
            }
            let refused = match self.client.get(listing.stream, &listing.path, &query).await {
                Ok(response) => return Ok((response, page_size)),
                Err(e @ HttpError::PageSizeRefused { .. }) => e,
                Err(e) => return Err(e.into()),
            };
            let smaller = page_size.and_then(|size| PAGE_SIZES.into_iter().find(|s| *s < size));
            let Some(smaller) = smaller else {
                return Err(refused.into());
            };
            if self.client.limit_page_size(&listing.path, smaller) {
                tracing::warn!(
                    "{}: {refused}; every listing of {} asks for {smaller} objects a page from now on",
                    listing.stream,
                    self.endpoint()
                );
            }
            self.page_size = Some(smaller);
        }
    }

    /// Stops a listing whose page brings no object the previous page did not: a server that
    /// hands out fresh cursors over the same objects would otherwise have them emitted again
    /// until the page cap, which the repeated-cursor guard cannot see. Objects without an id
    /// cannot be told apart, so they count as new. It is an error, like a repeated cursor,
    /// rather than a quiet end: the listing is known to be broken, and calling it complete
    /// would let the stream checkpoint past objects it never read.
    fn check_progress(&mut self, items: &[Value]) -> Result<()> {
        let ids: HashSet<String> = items
            .iter()
            .filter_map(|item| item.get("id").and_then(Value::as_str).map(str::to_owned))
            .collect();
        let only_repeats = !items.is_empty()
            && ids.len() == items.len()
            && ids.iter().all(|id| self.previous_ids.contains(id));
        if only_repeats {
            return Err(self.error(format!(
                "the page after cursor {:?} brought only the {} objects of the page before it; \
                 stopping instead of emitting them again",
                self.cursor.as_deref().unwrap_or_default(),
                items.len()
            )));
        }
        self.previous_ids = ids;
        Ok(())
    }

    fn endpoint(&self) -> String {
        self.client.scrub(&format!("GET {}", self.listing.path))
    }

    fn error(&self, detail: String) -> Error {
        Error::Pagination {
            endpoint: self.endpoint(),
            detail: self.client.scrub(&detail),
        }
    }
}

/// A page as the envelope reads it.
#[derive(Debug, PartialEq)]
pub struct ParsedPage {
    pub items: Vec<Value>,
    /// The cursor of the next page, if the API gave one.
    pub next: Option<String>,
    /// The API says there is nothing after this page.
    pub exhausted: bool,
    pub total: Option<u64>,
}

/// Reads one response body. Tolerates what the documentation leaves open (`data: null`, a
/// missing key, an empty cursor); anything else that is not the documented shape is an error
/// naming the field. `page_size` is the `limit` the request was sent with. The error may
/// quote the body: scrub it before printing.
pub fn parse_page(
    envelope: Envelope,
    body: &[u8],
    page_size: Option<usize>,
) -> std::result::Result<ParsedPage, String> {
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        let excerpt = crate::http::describe_body(body);
        format!("the body is not JSON ({e}); it starts with {excerpt}")
    })?;
    let Value::Object(mut map) = value else {
        return Err(format!("expected a JSON object, got {}", kind(&value)));
    };
    match envelope {
        Envelope::Data => {
            let items = objects(map.remove("data"), "data")?;
            let next = token(map.get("last"), "last")?;
            let asked_for_more = map
                .get("limit")
                .and_then(Value::as_u64)
                .zip(page_size)
                .is_some_and(|(limit, sent)| limit as usize == sent && items.len() < sent);
            Ok(ParsedPage {
                items,
                next,
                exhausted: asked_for_more,
                total: None,
            })
        }
        Envelope::Events => Ok(ParsedPage {
            next: token(map.get("next"), "next")?,
            total: map.get("total").and_then(Value::as_u64),
            items: objects(map.remove("events"), "events")?,
            exhausted: false,
        }),
        Envelope::PeersMap => {
            let items = match map.remove("peers") {
                None | Some(Value::Null) => Vec::new(),
                // The map key is the peer's id; a value without one (the legacy examples)
                // gets it, or the record would lose its primary key.
                Some(Value::Object(peers)) => peers
                    .into_iter()
                    .map(|(id, mut peer)| {
                        if let Some(fields) = peer.as_object_mut() {
                            if fields.get("id").is_none_or(Value::is_null) {
                                fields.insert("id".into(), Value::String(id));
                            }
                        }
                        peer
                    })
                    .collect(),
                Some(Value::Array(peers)) => peers,
                Some(other) => return Err(format!("peers is {}, not a map", kind(&other))),
            };
            check_objects(&items, "peers")?;
            Ok(ParsedPage {
                items,
                next: None,
                exhausted: true,
                total: None,
            })
        }
        Envelope::PageNumbers => page_numbers(map, page_size),
        Envelope::Single => Ok(ParsedPage {
            items: vec![Value::Object(map)],
            next: None,
            exhausted: true,
            total: None,
        }),
    }
}

/// `{events, pagination: {current_page, total_pages, total_items, has_next}}`: `next` is the
/// number of the next page. Without `has_next`, `current_page < total_pages` decides; with
/// neither, a full page may have a successor (an empty page then ends the listing).
fn page_numbers(
    mut map: serde_json::Map<String, Value>,
    page_size: Option<usize>,
) -> std::result::Result<ParsedPage, String> {
    let items = objects(map.remove("events"), "events")?;
    let pagination = match map.remove("pagination") {
        None | Some(Value::Null) => serde_json::Map::new(),
        Some(Value::Object(p)) => p,
        Some(other) => return Err(format!("pagination is {}, not an object", kind(&other))),
    };
    let number = |field: &str| -> std::result::Result<Option<u64>, String> {
        match pagination.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v
                .as_u64()
                .map(Some)
                .ok_or_else(|| format!("pagination.{field} is {}, not a count", kind(v))),
        }
    };
    let current = number("current_page")?;
    let has_next = match pagination.get("has_next") {
        None | Some(Value::Null) => match (current, number("total_pages")?) {
            (Some(c), Some(t)) => c < t,
            _ => page_size.is_some_and(|size| !items.is_empty() && items.len() >= size),
        },
        Some(Value::Bool(b)) => *b,
        Some(other) => {
            return Err(format!(
                "pagination.has_next is {}, not a boolean",
                kind(other)
            ))
        }
    };
    Ok(ParsedPage {
        next: match (has_next, current) {
            (true, Some(c)) => Some((c + 1).to_string()),
            _ => None,
        },
        exhausted: !has_next,
        total: number("total_items")?,
        items,
    })
}

fn objects(value: Option<Value>, field: &str) -> std::result::Result<Vec<Value>, String> {
    let items = match value {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items,
        Some(other) => return Err(format!("{field} is {}, not an array", kind(&other))),
    };
    check_objects(&items, field)?;
    Ok(items)
}

fn check_objects(items: &[Value], field: &str) -> std::result::Result<(), String> {
    match items.iter().position(|v| !v.is_object()) {
        Some(i) => Err(format!(
            "{field}[{i}] is {}, not an object",
            kind(&items[i])
        )),
        None => Ok(()),
    }
}

fn token(value: Option<&Value>, field: &str) -> std::result::Result<Option<String>, String> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(format!("{field} is {}, not a string", kind(other))),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    use crate::test_support::arb_json;
    use serde_json::json;

    fn data(body: Value) -> std::result::Result<ParsedPage, String> {
        parse_page(Envelope::Data, body.to_string().as_bytes(), Some(100))
    }

    #[test]
    fn empty_data_in_every_documented_form() {
        for body in [
            json!({"limit": 100, "data": null}),
            json!({"limit": 100}),
            json!({"limit": 100, "data": [], "last": ""}),
        ] {
            let page = data(body).unwrap();
            assert!(page.items.is_empty());
            assert_eq!(page.next, None);
        }
    }

    #[test]
    fn full_page_continues_short_page_ends() {
        let items: Vec<Value> = (0..100).map(|i| json!({"id": i.to_string()})).collect();
        let page = data(json!({"limit": 100, "data": items, "last": "99"})).unwrap();
        assert_eq!(page.next.as_deref(), Some("99"));
        assert!(!page.exhausted);
        let page = data(json!({"limit": 100, "data": [{"id": "a"}], "last": "a"})).unwrap();
        assert!(page.exhausted);
        // A limit the API capped below ours says nothing about the end.
        let page = data(json!({"limit": 50, "data": [{"id": "a"}], "last": "a"})).unwrap();
        assert!(!page.exhausted);
    }

    #[test]
    fn a_short_page_is_judged_by_the_size_sent() {
        let items: Vec<Value> = (0..20).map(|i| json!({"id": i.to_string()})).collect();
        let body = json!({"limit": 20, "data": items, "last": "19"}).to_string();
        let full = parse_page(Envelope::Data, body.as_bytes(), Some(20)).unwrap();
        assert!(!full.exhausted, "20 of 20 is a full page");
        let body = json!({"limit": 20, "data": [{"id": "a"}], "last": "a"}).to_string();
        let short = parse_page(Envelope::Data, body.as_bytes(), Some(20)).unwrap();
        assert!(short.exhausted, "1 of 20 ends the listing");
    }

    #[test]
    fn wrong_shapes_name_the_field() {
        assert!(data(json!({"data": {"a": 1}}))
            .unwrap_err()
            .contains("data is an object"));
        assert!(data(json!({"data": [1]}))
            .unwrap_err()
            .contains("data[0] is a number"));
        assert!(data(json!({"data": [], "last": 7}))
            .unwrap_err()
            .contains("last is a number"));
        assert!(data(json!([]))
            .unwrap_err()
            .contains("expected a JSON object"));
        assert!(parse_page(Envelope::Data, b"", Some(100))
            .unwrap_err()
            .contains("not JSON"));
        assert!(parse_page(Envelope::Data, b"<html>502</html>", Some(100))
            .unwrap_err()
            .contains("HTML"));
    }

    #[test]
    fn events_page_reads_next_and_total() {
        let body = json!({"limit": 100, "total": 7, "next": "tok", "events": [{"id": "e"}]});
        let page = parse_page(Envelope::Events, body.to_string().as_bytes(), Some(100)).unwrap();
        assert_eq!(page.next.as_deref(), Some("tok"));
        assert_eq!(page.total, Some(7));
        let body = json!({"limit": 100, "total": 7, "next": "", "events": null});
        let page = parse_page(Envelope::Events, body.to_string().as_bytes(), Some(100)).unwrap();
        assert_eq!(page.next, None);
        assert!(page.items.is_empty());
    }

    #[test]
    fn peers_map_becomes_a_list() {
        let body = json!({"peers": {"p1": {"id": "p1"}, "p2": {"id": "p2"}}});
        let page = parse_page(Envelope::PeersMap, body.to_string().as_bytes(), None).unwrap();
        assert_eq!(page.items.len(), 2);
        let body =
            json!({"peers": {"p1": {"name": "John"}, "p2": {"id": null}, "p3": {"id": "own"}}});
        let page = parse_page(Envelope::PeersMap, body.to_string().as_bytes(), None).unwrap();
        let ids: Vec<&Value> = page.items.iter().map(|p| &p["id"]).collect();
        assert_eq!(ids, [&json!("p1"), &json!("p2"), &json!("own")]);
        for body in [json!({"peers": null}), json!({}), json!({"peers": {}})] {
            let page = parse_page(Envelope::PeersMap, body.to_string().as_bytes(), None).unwrap();
            assert!(page.items.is_empty());
        }
    }

    proptest! {
        #[test]
        fn any_bytes_parse_or_fail_cleanly(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            for envelope in [Envelope::Data, Envelope::Events, Envelope::PeersMap, Envelope::PageNumbers, Envelope::Single] {
                let _ = parse_page(envelope, &bytes, Some(100));
            }
        }

        #[test]
        fn any_json_value_parses_or_fails_cleanly(v in arb_json()) {
            let body = json!({"limit": 100, "data": v.clone(), "last": v.clone(), "events": v.clone(), "next": v.clone(), "peers": v.clone(), "pagination": v});
            for envelope in [Envelope::Data, Envelope::Events, Envelope::PeersMap, Envelope::PageNumbers, Envelope::Single] {
                let _ = parse_page(envelope, body.to_string().as_bytes(), Some(100));
            }
        }
    }
}
