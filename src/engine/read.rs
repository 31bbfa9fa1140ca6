//! Reading one stream: its cursor decides the strategy, each in a file of its own
//! ([`super::whole`], [`super::created`], [`super::events`]).

use std::sync::Arc;

use super::context::Context;
use super::cursor::SavedState;
use super::{created, events, peer_stats, webhooks, whole, Cursor, StreamDef};
use crate::error::Result;

/// Reads one stream, emitting its records and states. `state` is the stream's state from the
/// state file, ignored unless `incremental`.
pub async fn read_stream(
    ctx: Arc<Context>,
    def: &'static StreamDef,
    incremental: bool,
    state: SavedState,
) -> Result<()> {
    let state = if incremental {
        state
    } else {
        SavedState::Fresh
    };
    match def.cursor {
        Cursor::None => whole::whole(ctx, def).await,
        Cursor::Updated { fields, .. } => {
            whole::updated(&ctx, def, fields, incremental, state).await
        }
        Cursor::Created {
            field,
            server_filter,
            still_changing,
            updated,
        } => {
            let spec = created::Spec {
                field,
                server_filter,
                still_changing,
                updated,
            };
            created::read(&ctx, def, spec, incremental, state).await
        }
        Cursor::Events { field } => events::read(ctx, def, field, incremental, state).await,
        Cursor::PeerStats { field } => peer_stats::read(ctx, def, field, incremental, state).await,
        Cursor::Webhooks { field } => webhooks::read(&ctx, def, field, incremental, state).await,
    }
}
