//! The two strategies for streams listed whole every sync: live or derived data read whole
//! ([`whole`]), and few mutable objects filtered on their newest timestamp ([`updated`]).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::json;

use super::context::{for_each_partition, listing, skip_not_found, Context, Emitter};
use super::cursor::{newest, to_value, SavedState, UpdatedState, Window};
use super::pages::Pager;
use super::partitions::{static_partitions, whole_listing};
use super::{Partition, StreamDef};
use crate::error::{Error, Result};
use crate::http::Client;

/// Every page of one partition, every object emitted.
async fn read_partition(
    client: &Arc<Client>,
    emitter: &mut Emitter,
    def: &'static StreamDef,
    partition: &Partition,
) -> Result<()> {
    let mut pager = Pager::new(client, listing(def, partition));
    while let Some(page) = pager.next().await? {
        for object in page.items {
            emitter.emit(object, partition)?;
        }
    }
    Ok(())
}

/// Live or derived data: everything, every time.
pub(super) async fn whole(ctx: Arc<Context>, def: &'static StreamDef) -> Result<()> {
    if let Some(key) = whole_listing(def) {
        let listed = ctx.listings.whole(&ctx.client, def.name, &key).await?;
        let mut emitter = Emitter::new(&ctx, def);
        for object in &listed.objects {
            emitter.emit(object.clone(), &Partition::default())?;
        }
        return emitter.state(&json!({}));
    }
    let partitions = static_partitions(&ctx, def).await?;
    let worker = ctx.clone();
    for_each_partition(&ctx, partitions, move |partition| {
        let ctx = worker.clone();
        async move {
            let mut emitter = Emitter::new(&ctx, def);
            let result = read_partition(&ctx.client, &mut emitter, def, &partition).await;
            skip_not_found(def, &partition, result)
        }
    })
    .await?;
    Emitter::new(&ctx, def).state(&json!({}))
}

/// Few objects, listed whole, filtered on their newest timestamp.
pub(super) async fn updated(
    ctx: &Context,
    def: &'static StreamDef,
    fields: &'static [&'static str],
    incremental: bool,
    state: SavedState,
) -> Result<()> {
    let previous = match state {
        SavedState::Updated(s) => Some(s.cursor),
        _ => None,
    };
    let mut emitter = Emitter::new(ctx, def);
    let key = whole_listing(def).ok_or_else(|| Error::Response {
        endpoint: def.name.into(),
        detail: "an updated cursor needs a fixed path".into(),
    })?;
    let listed = ctx.listings.whole(&ctx.client, def.name, &key).await?;
    let until = ctx.window_end(incremental, listed.server_time);
    let window = Window {
        after: previous.unwrap_or(DateTime::<Utc>::MIN_UTC),
        until,
    };
    for object in &listed.objects {
        if window.contains(newest(object, fields)) {
            emitter.emit(object.clone(), &Partition::default())?;
        }
    }
    let window_end = Some(until);
    let state = match (incremental, window_end.flatten()) {
        (true, Some(end)) => to_value(&UpdatedState {
            cursor: previous.map_or(end, |p| p.max(end)),
        }),
        (true, None) => previous.map_or(json!({}), |cursor| to_value(&UpdatedState { cursor })),
        (false, _) => json!({}),
    };
    emitter.state(&state)
}
