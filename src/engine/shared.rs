//! Listings shared by the streams of one sync, so that an endpoint is read once however many
//! streams it feeds: the templates pages feed `templates`, `template_settings` and
//! `template_destinations`; the rooms pages feed `rooms` and the rooms analytics events fan out
//! over; the live sessions feed `active_room_peers` and analytics events; the recording-assets
//! pages feed both the recordings' assets and `recording_assets`.
//!
//! Small listings read whole (rooms, templates, live sessions) are kept once read, for every
//! stream that asks. A long newest-first listing read by two streams at their own pace (the
//! recording assets) is teed: each page is fetched once and kept until every reader has
//! passed it, and a reader that runs [`TEE_PAGES`] ahead waits for the other. Each stream still
//! keeps its own state, statuses and record counts; the requests count for the stream that
//! made them.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use serde_json::Value;
use tokio::sync::{Notify, OnceCell};

use super::pages::{Listing, Page, Pager};
use chrono::{DateTime, Utc};

use super::Envelope;
use crate::error::Result;
use crate::http::Client;

/// Pages a teed listing keeps for a reader that lags, before the reader ahead waits.
const TEE_PAGES: usize = 20;

/// Objects of one or more listings, and the server's clock at the first response.
pub struct Listed {
    pub objects: Vec<Value>,
    pub server_time: Option<DateTime<Utc>>,
}

/// Every object of `GET {path}` for each parameter set, each object once.
pub async fn list(
    client: &Arc<Client>,
    stream: &'static str,
    path: &str,
    param_sets: Vec<Vec<(&'static str, String)>>,
) -> Result<Listed> {
    let mut listed = Listed {
        objects: Vec::new(),
        server_time: None,
    };
    let mut ids = std::collections::HashSet::new();
    for params in param_sets {
        let listing = Listing {
            stream,
            path: path.to_owned(),
            params,
            envelope: Envelope::Data,
        };
        let mut pager = Pager::new(client, listing);
        while let Some(page) = pager.next().await? {
            listed.server_time = listed.server_time.or(page.server_time);
            for object in page.items {
                // A server that ignores a filter must not list an object twice.
                let id = object.get("id").and_then(Value::as_str).map(str::to_owned);
                if id.is_none_or(|id| ids.insert(id)) {
                    listed.objects.push(object);
                }
            }
        }
    }
    Ok(listed)
}

/// One endpoint asked with one or more parameter sets, each paged to its end.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ListingKey {
    pub path: String,
    pub param_sets: Vec<Vec<(&'static str, String)>>,
}

impl ListingKey {
    pub fn new(path: &str, param_sets: &[&[(&'static str, &str)]]) -> ListingKey {
        let owned = |set: &&[(&'static str, &str)]| -> Vec<(&'static str, String)> {
            set.iter().map(|(k, v)| (*k, (*v).to_owned())).collect()
        };
        ListingKey {
            path: path.to_owned(),
            param_sets: param_sets.iter().map(owned).collect(),
        }
    }

    fn of(listing: &Listing) -> ListingKey {
        ListingKey {
            path: listing.path.clone(),
            param_sets: vec![listing.params.clone()],
        }
    }
}

/// The shared listings of one sync.
#[derive(Default)]
pub struct Listings {
    /// How many of the sync's streams read each listing.
    readers: HashMap<ListingKey, usize>,
    whole: Mutex<HashMap<ListingKey, Arc<OnceCell<Arc<Listed>>>>>,
    tees: Mutex<HashMap<ListingKey, Arc<Tee>>>,
}

impl Listings {
    /// Listings for a sync whose streams read `keys` (one entry per stream and listing).
    pub fn new(keys: impl IntoIterator<Item = ListingKey>) -> Listings {
        let mut readers = HashMap::new();
        for key in keys {
            *readers.entry(key).or_default() += 1;
        }
        Listings {
            readers,
            ..Listings::default()
        }
    }

    /// Whether more than one stream of this sync reads `key`.
    pub fn is_shared(&self, key: &ListingKey) -> bool {
        self.readers.get(key).is_some_and(|n| *n > 1)
    }

    /// Every object of `key`, read once per sync whoever asks first.
    pub async fn whole(
        &self,
        client: &Arc<Client>,
        stream: &'static str,
        key: &ListingKey,
    ) -> Result<Arc<Listed>> {
        let cell = lock(&self.whole).entry(key.clone()).or_default().clone();
        let listed = cell
            .get_or_try_init(|| async {
                let listed = list(client, stream, &key.path, key.param_sets.clone()).await?;
                Ok::<_, crate::error::Error>(Arc::new(listed))
            })
            .await?;
        Ok(listed.clone())
    }

    /// The pages of `listing`: teed with the other streams that read it in this sync, or a
    /// pager of its own.
    pub fn pages(&self, client: &Arc<Client>, listing: Listing) -> Pages {
        let key = ListingKey::of(&listing);
        if self.is_shared(&key) {
            let tee = lock(&self.tees)
                .entry(key)
                .or_insert_with(|| Arc::new(Tee::new(Pager::new(client, listing.clone()))))
                .clone();
            if let Some(reader) = tee.join() {
                return Pages::Teed(TeeReader { tee, reader });
            }
        }
        Pages::Own(Box::new(Pager::new(client, listing)))
    }
}

/// The pages of one listing, for one reader.
pub enum Pages {
    Own(Box<Pager>),
    Teed(TeeReader),
}

impl Pages {
    pub async fn next(&mut self) -> Result<Option<Page>> {
        match self {
            Pages::Own(pager) => pager.next().await,
            Pages::Teed(reader) => reader.next().await,
        }
    }
}

/// One listing read by several streams, each page fetched once.
pub struct Tee {
    state: Mutex<TeeState>,
    pager: tokio::sync::Mutex<Pager>,
    changed: Notify,
}

#[derive(Default)]
struct TeeState {
    /// Pages not yet passed by every reader; the first is page number `base`.
    pages: VecDeque<Arc<Page>>,
    base: usize,
    /// Each reader's next page number; `None` once it has stopped reading.
    positions: Vec<Option<usize>>,
    done: bool,
}

impl TeeState {
    fn behind(&self, reader: usize) -> bool {
        let end = self.base + self.pages.len();
        let mine = self.positions[reader].unwrap_or(end);
        self.positions.iter().flatten().any(|p| *p < mine.min(end))
    }

    /// Drops the pages every reader has passed.
    fn trim(&mut self) {
        let end = self.base + self.pages.len();
        let lowest = self
            .positions
            .iter()
            .flatten()
            .min()
            .copied()
            .unwrap_or(end);
        while self.base < lowest && !self.pages.is_empty() {
            self.pages.pop_front();
            self.base += 1;
        }
    }
}

impl Tee {
    fn new(pager: Pager) -> Tee {
        Tee {
            state: Mutex::new(TeeState::default()),
            pager: tokio::sync::Mutex::new(pager),
            changed: Notify::new(),
        }
    }

    /// A new reader from the first page, unless pages were already dropped: a reader that
    /// comes that late reads on its own.
    fn join(&self) -> Option<usize> {
        let mut state = lock(&self.state);
        if state.base > 0 {
            return None;
        }
        state.positions.push(Some(0));
        Some(state.positions.len() - 1)
    }

    async fn next(&self, reader: usize) -> Result<Option<Page>> {
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            // Registered before the state is looked at, so no wake-up is missed.
            notified.as_mut().enable();
            match self.step(reader) {
                Step::Page(page) => return Ok(Some(page)),
                Step::End => return Ok(None),
                Step::Wait => notified.await,
                Step::Fetch => self.fetch(reader).await?,
            }
        }
    }

    /// What `reader` can do now, without waiting.
    fn step(&self, reader: usize) -> Step {
        let mut state = lock(&self.state);
        let Some(position) = state.positions[reader] else {
            return Step::End;
        };
        if let Some(page) = state.pages.get(position - state.base).cloned() {
            state.positions[reader] = Some(position + 1);
            state.trim();
            self.changed.notify_waiters();
            return Step::Page(copy(&page));
        }
        if state.done {
            Step::End
        } else if state.pages.len() >= TEE_PAGES && state.behind(reader) {
            Step::Wait
        } else {
            Step::Fetch
        }
    }

    /// Fetches the next page, unless another reader did while this one waited for the pager.
    async fn fetch(&self, reader: usize) -> Result<()> {
        let mut pager = self.pager.lock().await;
        let fetched = {
            let state = lock(&self.state);
            let end = state.base + state.pages.len();
            state.done || state.positions[reader].is_some_and(|p| p < end)
        };
        if !fetched {
            let page = pager.next().await?;
            let mut state = lock(&self.state);
            match page {
                Some(page) => state.pages.push_back(Arc::new(page)),
                None => state.done = true,
            }
        }
        self.changed.notify_waiters();
        Ok(())
    }

    fn leave(&self, reader: usize) {
        let mut state = lock(&self.state);
        state.positions[reader] = None;
        state.trim();
        self.changed.notify_waiters();
    }
}

enum Step {
    Page(Page),
    End,
    /// The other reader lags too far behind: wait for it.
    Wait,
    Fetch,
}

/// One stream's place in a teed listing; dropping it lets the others go on without it.
pub struct TeeReader {
    tee: Arc<Tee>,
    reader: usize,
}

impl TeeReader {
    async fn next(&mut self) -> Result<Option<Page>> {
        self.tee.next(self.reader).await
    }
}

impl Drop for TeeReader {
    fn drop(&mut self) {
        self.tee.leave(self.reader);
    }
}

fn copy(page: &Page) -> Page {
    Page {
        items: page.items.iter().map(Value::clone).collect(),
        server_time: page.server_time,
        total: page.total,
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
