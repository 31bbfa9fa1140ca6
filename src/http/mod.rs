//! The one HTTP client every request of a sync goes through: authentication, the shared rate
//! limiter, a bound on requests in flight, retries with backoff, and bounded bodies.
//!
//! It knows nothing of streams or pagination; it turns `GET path?query` into bytes or a typed
//! [`HttpError`].

mod auth;
mod client;
mod retry;

pub use auth::Auth;
pub use client::{describe_body, Client, ClientOptions, Observer, RequestStats, Response};

use crate::protocol::FailureType;

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// 401/403 that a fresh token did not cure, or a ready token that was refused.
    #[error("the 100ms API refused the credentials ({status} on {endpoint}: {message}). {hint}")]
    Unauthorized {
        status: u16,
        endpoint: String,
        message: String,
        hint: &'static str,
    },
    /// A status that retrying cannot change (400, 404, …).
    #[error("{endpoint} answered {status}: {message}")]
    Status {
        status: u16,
        endpoint: String,
        message: String,
    },
    /// 429, 408, 5xx or network faults that outlasted the retry budget.
    #[error("{endpoint} still failed after {attempts} attempts (last: {last}); try again later or lower requests_per_second")]
    Exhausted {
        endpoint: String,
        attempts: u32,
        last: String,
    },
    #[error("{endpoint} sent a body larger than {limit} bytes")]
    TooLarge { endpoint: String, limit: usize },
    #[error("the management token cannot be used: {0}")]
    Token(String),
    #[error("the HTTP client could not be built: {0}")]
    Setup(String),
}

impl HttpError {
    pub fn failure_type(&self) -> FailureType {
        match self {
            HttpError::Unauthorized { .. } | HttpError::Token(_) => FailureType::ConfigError,
            HttpError::Exhausted { .. } => FailureType::TransientError,
            HttpError::Status { .. } | HttpError::TooLarge { .. } | HttpError::Setup(_) => {
                FailureType::SystemError
            }
        }
    }

    /// The API says the thing asked for does not exist (a room deleted mid-sync, a room with
    /// no live session).
    pub fn is_not_found(&self) -> bool {
        matches!(self, HttpError::Status { status: 404, .. })
    }
}
