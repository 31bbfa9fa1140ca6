//! What to do with a response or a failed attempt, and how long to wait: pure functions,
//! tested without a clock.

use std::time::{Duration, SystemTime};

/// The longest wait a `Retry-After` header can impose before the attempt is made anyway.
pub const RETRY_AFTER_CAP: Duration = Duration::from_secs(300);
/// The longest exponential backoff step.
const BACKOFF_CAP: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Success,
    /// 429: wait (Retry-After when given) and retry.
    RateLimited,
    /// 408, 5xx but 501: wait and retry.
    Retry,
    /// 401/403: a fresh token may help once.
    Reauthenticate,
    /// 3xx: never followed, see [`super::HttpError::Redirected`].
    Redirect,
    /// Anything else: retrying cannot change the answer.
    Fail,
}

pub fn classify(status: u16) -> Verdict {
    match status {
        200..=299 => Verdict::Success,
        300..=399 => Verdict::Redirect,
        429 => Verdict::RateLimited,
        408 | 500 | 502..=599 => Verdict::Retry,
        401 | 403 => Verdict::Reauthenticate,
        _ => Verdict::Fail,
    }
}

/// Whether an error message names the `limit` query parameter, as the 400 of an API that
/// accepts smaller pages than asked for does ("limit must be between 10 and 20").
pub fn mentions_limit(message: &str) -> bool {
    message
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .any(|word| word.eq_ignore_ascii_case("limit"))
}

/// Parses `Retry-After`: delta seconds or an HTTP date, capped at [`RETRY_AFTER_CAP`].
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    let wait = if let Ok(secs) = value.parse::<f64>() {
        if !secs.is_finite() || secs < 0.0 {
            return None;
        }
        Duration::from_secs_f64(secs.min(RETRY_AFTER_CAP.as_secs_f64()))
    } else {
        let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(at.timestamp().max(0) as u64);
        at.duration_since(now).unwrap_or(Duration::ZERO)
    };
    Some(wait.min(RETRY_AFTER_CAP))
}

/// Exponential backoff with "equal jitter": half the step is fixed, half random, so retries of
/// many concurrent requests spread out but never collapse to zero.
#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    attempt: u32,
}

impl Backoff {
    pub fn new(initial: Duration) -> Backoff {
        Backoff {
            initial,
            attempt: 0,
        }
    }

    /// The next wait; `unit` is a random number in [0, 1).
    pub fn next_delay(&mut self, unit: f64) -> Duration {
        let step = self
            .initial
            .saturating_mul(1u32 << self.attempt.min(16))
            .min(BACKOFF_CAP);
        self.attempt += 1;
        step / 2 + step.mul_f64(unit.clamp(0.0, 1.0) / 2.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification_table() {
        for (status, verdict) in [
            (200, Verdict::Success),
            (204, Verdict::Success),
            (429, Verdict::RateLimited),
            (408, Verdict::Retry),
            (500, Verdict::Retry),
            (502, Verdict::Retry),
            (503, Verdict::Retry),
            (504, Verdict::Retry),
            (501, Verdict::Fail),
            (401, Verdict::Reauthenticate),
            (403, Verdict::Reauthenticate),
            (400, Verdict::Fail),
            (301, Verdict::Redirect),
            (302, Verdict::Redirect),
            (307, Verdict::Redirect),
            (308, Verdict::Redirect),
            (404, Verdict::Fail),
        ] {
            assert_eq!(classify(status), verdict, "status {status}");
        }
    }

    #[test]
    fn a_message_naming_limit_is_recognised() {
        assert!(mentions_limit(
            "Invalid query param (limit must be between 10 and 20)"
        ));
        assert!(mentions_limit("invalid LIMIT=100"));
        assert!(!mentions_limit("Invalid query param (start)"));
        assert!(!mentions_limit("limited edition"));
        assert!(!mentions_limit("an HTML page instead of JSON"));
    }

    #[test]
    fn retry_after_seconds() {
        let now = SystemTime::now();
        assert_eq!(parse_retry_after("7", now), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("-3", now), None);
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn retry_after_http_date() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777); // Sun, 06 Nov 1994 08:49:37 GMT
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:47 GMT", now),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:00 GMT", now),
            Some(Duration::ZERO)
        );
    }

    #[test]
    fn retry_after_is_capped() {
        let now = SystemTime::now();
        assert_eq!(parse_retry_after("86400", now), Some(RETRY_AFTER_CAP));
        assert_eq!(
            parse_retry_after("Tue, 31 Dec 2999 23:59:59 GMT", now),
            Some(RETRY_AFTER_CAP)
        );
    }

    #[test]
    fn backoff_doubles_with_jitter_and_caps() {
        let mut b = Backoff::new(Duration::from_secs(1));
        assert_eq!(b.next_delay(0.0), Duration::from_millis(500));
        assert_eq!(b.next_delay(0.999_999).as_millis(), 1999);
        assert_eq!(b.next_delay(0.5), Duration::from_secs(3));
        for _ in 0..40 {
            assert!(b.next_delay(1.0) <= BACKOFF_CAP);
        }
        assert!(b.next_delay(0.0) >= BACKOFF_CAP / 2);
    }

    proptest::proptest! {
        #[test]
        fn any_retry_after_is_ignored_or_capped(value in ".{0,40}") {
            if let Some(wait) = parse_retry_after(&value, SystemTime::now()) {
                proptest::prop_assert!(wait <= RETRY_AFTER_CAP);
            }
        }
    }
}
