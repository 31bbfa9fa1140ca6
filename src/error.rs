//! The connector's top-level error, and its one mapping to Airbyte failure types.
//!
//! Each layer has its own error type ([`crate::http::HttpError`], config errors as
//! [`Error::Config`]); they meet here, and [`Error::failure_type`] is the only place that decides
//! whether the user must fix something (`config_error`), a retry later may help
//! (`transient_error`) or the connector or API misbehaved (`system_error`).

use crate::http::HttpError;
use crate::protocol::FailureType;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The config, catalog or state given to the connector is wrong; the message says how.
    #[error("{0}")]
    Config(String),
    #[error(transparent)]
    Http(#[from] HttpError),
    /// The API answered, but not with what its documentation promises.
    #[error("unexpected response from {endpoint}: {detail}")]
    Response { endpoint: String, detail: String },
    /// Paging did not end: a repeated cursor or too many pages.
    #[error("pagination of {endpoint} stopped: {detail}")]
    Pagination { endpoint: String, detail: String },
    #[error("writing output failed: {0}")]
    Output(#[from] std::io::Error),
}

impl Error {
    pub fn config(message: impl Into<String>) -> Error {
        Error::Config(message.into())
    }

    pub fn failure_type(&self) -> FailureType {
        match self {
            Error::Config(_) => FailureType::ConfigError,
            Error::Http(e) => e.failure_type(),
            Error::Response { .. } | Error::Pagination { .. } | Error::Output(_) => {
                FailureType::SystemError
            }
        }
    }

    /// Whether stdout was closed under us: the reader is gone and there is nobody to tell.
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, Error::Output(e) if e.kind() == std::io::ErrorKind::BrokenPipe)
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
