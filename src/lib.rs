//! source-100ms: an Airbyte source connector for the 100ms REST API.
//!
//! Layers, each usable alone, dependencies pointing down:
//! - [`cli`]: the command line;
//! - [`commands`]: `spec`, `check`, `discover` and [`read`], the read loop (catalog, state,
//!   statuses, concurrency);
//! - [`streams`]: the eleven streams, as declarations;
//! - [`engine`]: paging, partitions, cursors and checkpoints, for every stream;
//! - [`http`]: the client (auth, rate limit, retries);
//! - [`config`], [`protocol`], [`output`], [`logging`], [`error`]: the plumbing.

pub mod cli;
pub mod commands;
pub mod config;
pub mod credentials;
pub mod engine;
pub mod error;
pub mod http;
pub mod logging;
pub mod output;
pub mod protocol;
pub mod read;
pub mod streams;
#[cfg(test)]
mod test_support;
