//! Timestamps: nanoseconds since the epoch, printed the way Go's `RFC3339Nano` does.

use chrono::{DateTime, Utc};

pub(crate) const NS: i64 = 1_000_000_000;
pub(crate) const MS: i64 = 1_000_000;
pub(crate) const MIN: i64 = 60 * NS;
pub(crate) const HOUR: i64 = 60 * MIN;
pub(crate) const DAY: i64 = 24 * HOUR;

/// Go's zero time, which the API prints for "never".
pub(crate) const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

pub(crate) fn to_datetime(ns: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(ns.div_euclid(NS), ns.rem_euclid(NS) as u32).unwrap_or_default()
}

/// Saturates outside the ±292 years nanoseconds can hold, as a far-off filter still must compare.
pub(crate) fn from_datetime(t: DateTime<Utc>) -> i64 {
    t.timestamp()
        .saturating_mul(NS)
        .saturating_add(i64::from(t.timestamp_subsec_nanos()))
}

/// RFC 3339 UTC with the fractional digits trimmed (none when whole seconds).
pub(crate) fn fmt(ns: i64) -> String {
    let t = to_datetime(ns);
    let mut s = t.format("%Y-%m-%dT%H:%M:%S").to_string();
    let frac = ns.rem_euclid(NS);
    if frac != 0 {
        let digits = format!("{frac:09}");
        s.push('.');
        s.push_str(digits.trim_end_matches('0'));
    }
    s.push('Z');
    s
}

/// Like [`fmt`], printing Go's zero time for `None`.
pub(crate) fn fmt_opt(ns: Option<i64>) -> String {
    ns.map_or_else(|| ZERO_TIME.to_string(), fmt)
}

/// Any RFC 3339 timestamp (a `+` decoded to a space by form decoding is tolerated).
pub(crate) fn parse(s: &str) -> Option<i64> {
    let parsed = DateTime::parse_from_rfc3339(s)
        .or_else(|_| DateTime::parse_from_rfc3339(&s.replace(' ', "+")))
        .ok()?;
    Some(from_datetime(parsed.with_timezone(&Utc)))
}

/// IMF-fixdate, for the `Date` header.
pub(crate) fn http_date(ns: i64) -> String {
    to_datetime(ns)
        .format("%a, %d %b %Y %H:%M:%S GMT")
        .to_string()
}

/// Truncated to milliseconds (how most stored objects look).
pub(crate) fn ms(ns: i64) -> i64 {
    ns - ns.rem_euclid(MS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_go() {
        let base = parse("2022-09-08T15:07:37Z").unwrap();
        assert_eq!(fmt(base), "2022-09-08T15:07:37Z");
        assert_eq!(fmt(base + 830 * MS), "2022-09-08T15:07:37.83Z");
        assert_eq!(fmt(base + 80_990_401), "2022-09-08T15:07:37.080990401Z");
        assert_eq!(fmt_opt(None), ZERO_TIME);
        assert_eq!(parse("2022-09-08T17:07:37.83+02:00"), Some(base + 830 * MS));
        assert_eq!(parse("2022-09-08T17:07:37 02:00"), Some(base));
        assert_eq!(http_date(base), "Thu, 08 Sep 2022 15:07:37 GMT");
        assert!(parse("yesterday").is_none());
    }
}
