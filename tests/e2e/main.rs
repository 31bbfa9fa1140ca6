//! End-to-end tests: the real `source-100ms` binary against the fake 100ms API on loopback.
//! Every line the binary prints is validated against the Airbyte protocol by the harness, and
//! scanned for credentials.

mod cat;
mod commands;
mod full_refresh;
mod harness;
mod hourly;
mod incremental;
mod misbehaving;
mod packaging;
mod quality;
mod resilience;
mod variants;
