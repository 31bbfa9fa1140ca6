//! The command line, as the Airbyte protocol defines it. Parsing only; no I/O.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "source-100ms",
    version,
    about = "Airbyte source connector for the 100ms REST API"
)]
pub struct Cli {
    /// Also print debug logs (requests, timings).
    #[arg(long, global = true)]
    pub debug: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print the connector specification.
    Spec,
    /// Check that the config can reach the 100ms API.
    Check {
        #[arg(long)]
        config: PathBuf,
    },
    /// Print the catalog of streams.
    Discover {
        #[arg(long)]
        config: PathBuf,
    },
    /// Read the configured streams.
    Read {
        #[arg(long)]
        config: PathBuf,
        #[arg(long)]
        catalog: PathBuf,
        #[arg(long)]
        state: Option<PathBuf>,
    },
}
