//! Network faults in words a user can act on. A host name that does not exist, a refused
//! connection or a failed TLS handshake each need a different fix, and none of them is helped
//! by lowering `requests_per_second`; only a busy or flaky network is worth retrying.

use std::error::Error as _;
use std::fmt;
use std::io::ErrorKind;

use crate::protocol::FailureType;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetworkFault {
    /// DNS answered that the host name does not exist.
    NoSuchHost,
    /// The host name could not be resolved for another reason (no DNS server answered, …).
    Dns,
    /// Nothing accepted the connection.
    Refused,
    /// The TLS handshake failed: a plain-http server behind an https URL, or a certificate
    /// that is not trusted.
    Tls,
    Timeout,
    /// The connection was reset or closed before the answer was complete.
    Broken,
    /// Anything else the network layer reports.
    Other,
}

impl NetworkFault {
    /// Classifies a failed request by the causes reqwest carries, not by their wording.
    pub(super) fn of(error: &reqwest::Error) -> NetworkFault {
        let mut io_kind = None;
        let mut source = error.source();
        while let Some(cause) = source {
            if let Some(dns) = cause.downcast_ref::<hickory_resolver::ResolveError>() {
                return if dns.is_nx_domain() || dns.is_no_records_found() {
                    NetworkFault::NoSuchHost
                } else {
                    NetworkFault::Dns
                };
            }
            if let Some(io) = cause.downcast_ref::<std::io::Error>() {
                io_kind.get_or_insert(innermost_kind(io));
            }
            source = cause.source();
        }
        if error.is_timeout() || io_kind == Some(ErrorKind::TimedOut) {
            return NetworkFault::Timeout;
        }
        match io_kind {
            Some(ErrorKind::ConnectionRefused) => NetworkFault::Refused,
            // rustls reports a failed handshake as invalid data on the connecting socket.
            Some(ErrorKind::InvalidData) if error.is_connect() => NetworkFault::Tls,
            Some(
                ErrorKind::ConnectionReset
                | ErrorKind::ConnectionAborted
                | ErrorKind::UnexpectedEof
                | ErrorKind::BrokenPipe,
            ) => NetworkFault::Broken,
            _ if error.is_body() || error.is_decode() => NetworkFault::Broken,
            _ => NetworkFault::Other,
        }
    }

    /// Whether trying again can change the outcome.
    pub fn is_retriable(self) -> bool {
        !matches!(self, NetworkFault::NoSuchHost | NetworkFault::Tls)
    }

    pub fn failure_type(self) -> FailureType {
        if self.is_retriable() {
            FailureType::TransientError
        } else {
            FailureType::ConfigError
        }
    }

    /// What the user can do about it.
    pub fn hint(self) -> &'static str {
        match self {
            NetworkFault::NoSuchHost | NetworkFault::Dns => {
                "check the host name in api_base_url and this machine's DNS"
            }
            NetworkFault::Refused => {
                "nothing listens at that address: check the host and port in api_base_url"
            }
            NetworkFault::Tls => {
                "check that api_base_url is the https address of the API: a plain-http server, \
                 a proxy or an untrusted certificate makes the handshake fail"
            }
            NetworkFault::Timeout => "the API or the network is slow or down: try again later",
            NetworkFault::Broken | NetworkFault::Other => {
                "the network or the API is unstable: try again later"
            }
        }
    }
}

impl fmt::Display for NetworkFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NetworkFault::NoSuchHost => "the host name does not exist (DNS)",
            NetworkFault::Dns => "the host name could not be resolved (DNS)",
            NetworkFault::Refused => "the connection was refused",
            NetworkFault::Tls => "the TLS handshake failed",
            NetworkFault::Timeout => "the request timed out",
            NetworkFault::Broken => "the connection broke before the answer was complete",
            NetworkFault::Other => "the request failed",
        })
    }
}

/// The most specific kind of an I/O error that wraps others: the TLS layer wraps its
/// `InvalidData` in an `Other`, and `source()` skips the wrapped error itself.
fn innermost_kind(io: &std::io::Error) -> ErrorKind {
    let mut kind = io.kind();
    let mut inner = io.get_ref();
    while let Some(wrapped) = inner.and_then(|e| e.downcast_ref::<std::io::Error>()) {
        if wrapped.kind() != ErrorKind::Other {
            kind = wrapped.kind();
        }
        inner = wrapped.get_ref();
    }
    kind
}

/// The innermost cause of a network fault, without the URL reqwest would print.
pub(super) fn root_cause(error: &reqwest::Error) -> Option<String> {
    let mut source = error.source();
    let mut root = None;
    while let Some(cause) = source {
        root = Some(cause.to_string());
        source = cause.source();
    }
    root
}
