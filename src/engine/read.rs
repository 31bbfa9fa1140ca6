//! Reading one stream: its cursor decides the strategy, each in a file of its own
//! ([`super::whole`], [`super::created`], [`super::events`]).

use std::sync::Arc;

use super::context::Context;
use super::cursor::SavedState;
use super::feed::SessionFeed;
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
            session_feed,
        } => {
            let spec = created::Spec {
                field,
                server_filter,
                still_changing,
                updated,
                // Taken first, so that whatever happens next, the feed's readers hear of it.
                publisher: session_feed.then(|| ctx.sessions.publisher()).flatten(),
            };
            created::read(&ctx, def, spec, incremental, state).await
        }
        Cursor::Events { field } => events::read(ctx, def, field, incremental, state).await,
        Cursor::PeerStats { field } => peer_stats::read(ctx, def, field, incremental, state).await,
        Cursor::Webhooks { field } => webhooks::read(&ctx, def, field, incremental, state).await,
    }
}

/// The feed of ended sessions for a sync of `streams` (each with the state it is read from):
/// reaching back as far as the neediest of them, and listed by the stream whose listing is the
/// sessions', if the sync reads it.
pub fn session_feed(ctx: &Context, streams: &[(&'static StreamDef, &SavedState)]) -> SessionFeed {
    let from = streams
        .iter()
        .filter_map(|(def, state)| match def.cursor {
            Cursor::Events { .. } => events::sessions_needed(ctx, state),
            Cursor::PeerStats { .. } => peer_stats::sessions_needed(ctx, state),
            _ => None,
        })
        .min();
    let listed_by_a_stream = streams.iter().any(|(def, _)| {
        matches!(
            def.cursor,
            Cursor::Created {
                session_feed: true,
                ..
            }
        )
    });
    SessionFeed::new(from, listed_by_a_stream)
}
