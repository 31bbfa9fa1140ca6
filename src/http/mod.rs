//! The one HTTP client every request of a sync goes through: authentication, the shared rate
//! limiter, a bound on requests in flight, retries with backoff, and bounded bodies.
//!
//! It knows nothing of streams or pagination; it turns `GET path?query` into bytes or a typed
//! [`HttpError`]. It trusts the server no further than it must: it follows no redirect, takes
//! the server's clock only when it is near ours, and scrubs credentials from every piece of
//! server text before anyone can print it.

mod auth;
mod client;
mod fault;
mod retry;
mod scrub;
#[cfg(test)]
mod tests;

pub use auth::Auth;
pub use client::{
    describe_body, Client, ClientOptions, Observer, RequestStats, Response, MAX_TOTAL_TIME,
};
pub use fault::NetworkFault;

use crate::protocol::FailureType;

/// The farthest the server's clock may be from ours before it is ignored: a `Date` header of
/// year 9999 would otherwise pin every cursor for good, and one of 1970 would make a sync
/// emit nothing.
pub const MAX_CLOCK_SKEW: chrono::Duration = chrono::Duration::days(1);

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
    /// A 400 whose message names the `limit` query parameter: the page size asked for is
    /// more than this API accepts, and a smaller one may do.
    #[error("{endpoint} answered 400 for limit={limit}: {message}")]
    PageSizeRefused {
        endpoint: String,
        limit: String,
        message: String,
    },
    /// A 3xx. Redirects are not followed: one could lead the credentials, and the sync, to a
    /// host the config would never have accepted.
    #[error(
        "{endpoint} answered {status}, a redirect to {location}; the connector follows no \
         redirects. Set api_base_url to the address the 100ms API answers at (the default is \
         https://api.100ms.live/v2)."
    )]
    Redirected {
        status: u16,
        endpoint: String,
        location: String,
    },
    /// 429s that outlasted the retry budget.
    #[error("{endpoint} was rate limited on each of {attempts} attempt(s) (last: {last}); try again later or lower requests_per_second")]
    RateLimited {
        endpoint: String,
        attempts: u32,
        last: String,
    },
    /// 408 or 5xx that outlasted the retry budget.
    #[error("{endpoint} still failed after {attempts} attempt(s) (last: {last}); the API is having trouble, try again later")]
    Exhausted {
        endpoint: String,
        attempts: u32,
        last: String,
    },
    /// The server could not be reached, or the connection broke, until the retry budget ran
    /// out (or at once, for a host name that does not exist).
    #[error("{endpoint}: {detail}, after {attempts} attempt(s); {}", fault.hint())]
    Unreachable {
        endpoint: String,
        attempts: u32,
        fault: NetworkFault,
        /// The fault and its cause in words, scrubbed.
        detail: String,
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
            HttpError::Unauthorized { .. } | HttpError::Token(_) | HttpError::Redirected { .. } => {
                FailureType::ConfigError
            }
            HttpError::Unreachable { fault, .. } => fault.failure_type(),
            HttpError::RateLimited { .. } | HttpError::Exhausted { .. } => {
                FailureType::TransientError
            }
            HttpError::Status { .. }
            | HttpError::PageSizeRefused { .. }
            | HttpError::TooLarge { .. }
            | HttpError::Setup(_) => FailureType::SystemError,
        }
    }

    /// The API says the thing asked for does not exist (a room deleted mid-sync, a room with
    /// no live session).
    pub fn is_not_found(&self) -> bool {
        matches!(self, HttpError::Status { status: 404, .. })
    }
}
