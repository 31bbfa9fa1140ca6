//! The connector's configuration: `spec.json`, and the raw JSON config turned into a
//! [`Config`] whose every field has been checked.
//!
//! `spec.json` is the single source of truth for what a config may hold; `spec` prints it as is,
//! and [`spec_check`] enforces it as the first check of every config. The checks here are what a
//! schema cannot say. Each mistake gets a sentence a person can act on, naming the field.

use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::Url;
use serde_json::{Map, Value};

pub use crate::credentials::{Credentials, Secret};
use crate::error::{Error, Result};

mod spec_check;

/// The connector specification, exactly as `spec` prints it.
pub const SPEC_JSON: &str = include_str!("../spec.json");

pub const DEFAULT_BASE_URL: &str = "https://api.100ms.live/v2";
const DEFAULT_REQUESTS_PER_SECOND: f64 = 20.0;
const DEFAULT_MAX_CONCURRENT_REQUESTS: usize = 8;
const DEFAULT_MAX_RETRIES: u32 = 8;
const DEFAULT_INITIAL_BACKOFF: Duration = Duration::from_secs(1);
const DEFAULT_LOOKBACK_MINUTES: i64 = 15;
const DEFAULT_JOIN_FAILURE_SWEEP_HOURS: i64 = 24;
const DEFAULT_PEER_QUALITY_STATS_DAYS: u32 = 7;

/// A validated config.
#[derive(Debug, Clone)]
pub struct Config {
    pub credentials: Credentials,
    pub start_date: DateTime<Utc>,
    pub end_date: Option<DateTime<Utc>>,
    pub api_base_url: Url,
    pub requests_per_second: f64,
    pub max_concurrent_requests: usize,
    pub max_retries: u32,
    pub retry_initial_backoff: Duration,
    /// How far behind the previous cursor a sync reads again, for what the API shows late.
    pub lookback: chrono::Duration,
    /// How often every room is swept for analytics events that belong to no session.
    pub join_failure_sweep: chrono::Duration,
    /// How many days back `peer_quality_stats` looks for ended sessions; 0 turns it off.
    pub peer_quality_stats_days: u32,
}

impl Config {
    /// Parses and validates the text of a config file: first against `spec.json`, then for what
    /// a schema cannot say (a date that does not exist, a start in the future, an end before
    /// the start, the base URL's rules, blank credentials).
    pub fn parse(text: &str) -> Result<Config> {
        let value: Value = serde_json::from_str(text).map_err(|e| {
            Error::config(format!(
                "The config is not valid JSON ({e}). It must be a JSON object such as \
                 {{\"credentials\": {{…}}, \"start_date\": \"2024-01-01T00:00:00Z\"}}."
            ))
        })?;
        spec_check::check(&value)?;
        let Value::Object(map) = value else {
            return Err(Error::config("The config must be a JSON object."));
        };
        Config::from_map(&map)
    }

    /// Builds the config from a map that already matches the spec: types, bounds and required
    /// fields are settled, so absent optional fields take their defaults.
    fn from_map(map: &Map<String, Value>) -> Result<Config> {
        let credentials = parse_credentials(map.get("credentials"))?;
        let start_date =
            parse_date_time("start_date", map.get("start_date").unwrap_or(&Value::Null))?;
        let now = Utc::now();
        if start_date > now {
            return Err(Error::config(format!(
                "start_date ({start_date}) is in the future (it is now {now}): set it to the \
                 date-time of the oldest data to read, e.g. \"2024-01-01T00:00:00Z\"."
            )));
        }
        // The spec allows "" explicitly: UIs send it for an emptied optional field.
        let end_date = match map.get("end_date") {
            None => None,
            Some(Value::String(s)) if s.is_empty() => None,
            Some(v) => Some(parse_date_time("end_date", v)?),
        };
        if let Some(end) = end_date {
            if end <= start_date {
                return Err(Error::config(format!(
                    "end_date ({end}) must be later than start_date ({start_date})."
                )));
            }
        }
        Ok(Config {
            credentials,
            start_date,
            end_date,
            api_base_url: parse_base_url(map.get("api_base_url"))?,
            requests_per_second: number(map, "requests_per_second")
                .unwrap_or(DEFAULT_REQUESTS_PER_SECOND),
            max_concurrent_requests: whole_number(map, "max_concurrent_requests")
                .map_or(DEFAULT_MAX_CONCURRENT_REQUESTS, |n| n as usize),
            max_retries: whole_number(map, "max_retries").map_or(DEFAULT_MAX_RETRIES, |n| n as u32),
            retry_initial_backoff: number(map, "retry_initial_backoff_secs")
                .map_or(DEFAULT_INITIAL_BACKOFF, Duration::from_secs_f64),
            lookback: chrono::Duration::minutes(
                whole_number(map, "lookback_window_minutes").unwrap_or(DEFAULT_LOOKBACK_MINUTES),
            ),
            join_failure_sweep: chrono::Duration::hours(
                whole_number(map, "join_failure_sweep_hours")
                    .unwrap_or(DEFAULT_JOIN_FAILURE_SWEEP_HOURS),
            ),
            peer_quality_stats_days: whole_number(map, "peer_quality_stats_days")
                .map_or(DEFAULT_PEER_QUALITY_STATS_DAYS, |n| n as u32),
        })
    }

    /// Every secret in the config, for scrubbing text that might echo one.
    pub fn secrets(&self) -> Vec<&str> {
        match &self.credentials {
            Credentials::AppCredentials { secret, .. } => vec![secret.expose()],
            Credentials::ManagementToken(token) => vec![token.expose()],
        }
    }
}

/// The credentials object, whose shape the spec's `oneOf` has settled; a value of spaces only is
/// what the spec's `minLength` cannot refuse.
fn parse_credentials(value: Option<&Value>) -> Result<Credentials> {
    let creds = value.and_then(Value::as_object);
    let text = |key: &str| -> Result<String> {
        match creds.and_then(|c| c.get(key)).and_then(Value::as_str) {
            Some(s) if !s.trim().is_empty() => Ok(s.trim().to_owned()),
            _ => Err(Error::config(format!(
                "credentials.{key} is blank: copy it from the 100ms dashboard (Developer section)."
            ))),
        }
    };
    match creds
        .and_then(|c| c.get("auth_type"))
        .and_then(Value::as_str)
    {
        Some("app_credentials") => Ok(Credentials::AppCredentials {
            access_key: text("app_access_key")?,
            secret: Secret::new(text("app_secret")?),
        }),
        Some("management_token") => Ok(Credentials::ManagementToken(Secret::new(text(
            "management_token",
        )?))),
        // Reached only if spec.json gains an auth_type this code does not know.
        _ => Err(Error::config(
            "credentials.auth_type must be \"app_credentials\" or \"management_token\".",
        )),
    }
}

/// Reads a file the orchestrator handed over; a missing or unreadable one is a config error.
pub fn read_file(path: &Path, what: &str) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| {
        Error::config(format!(
            "Cannot read the {what} file {}: {e}.",
            path.display()
        ))
    })
}

/// Reads and validates the config file.
pub fn load_config(path: &Path) -> Result<Config> {
    Config::parse(&read_file(path, "config")?)
}

/// Parses an RFC 3339 date-time; a date alone is refused rather than guessed at.
pub fn parse_date_time(field: &str, value: &Value) -> Result<DateTime<Utc>> {
    let s = value.as_str().unwrap_or_default();
    DateTime::parse_from_rfc3339(s.trim())
        .map(|d| d.with_timezone(&Utc))
        .map_err(|_| {
            Error::config(format!(
                "{field} must be an RFC 3339 date-time such as \"2024-01-01T00:00:00Z\", \
                 not {value}."
            ))
        })
}

/// The base URL: a string by the spec; the rules below are what a schema cannot say.
fn parse_base_url(value: Option<&Value>) -> Result<Url> {
    let raw = match value.and_then(Value::as_str).map(str::trim) {
        None | Some("") => DEFAULT_BASE_URL,
        Some(s) => s,
    };
    let url = Url::parse(raw.trim_end_matches('/')).map_err(|e| {
        Error::config(format!(
            "api_base_url is not a valid URL ({e}); the default is {DEFAULT_BASE_URL}."
        ))
    })?;
    match url.scheme() {
        "https" => {}
        "http" if is_loopback(&url) => {}
        "http" => {
            return Err(Error::config(format!(
                "api_base_url must use https: plain http is accepted only for a loopback host \
                 (127.0.0.1, ::1 or localhost), and {} is not one.",
                url.host_str().unwrap_or("")
            )))
        }
        other => {
            return Err(Error::config(format!(
                "api_base_url must be an https URL, not a {other} URL."
            )))
        }
    }
    // Paths are appended to the base URL: after a `?` or `#` they would land in the query or
    // the fragment, and every request would ask for the same thing.
    if url.query().is_some() || url.fragment().is_some() {
        return Err(Error::config(format!(
            "api_base_url must not have a query (?…) or a fragment (#…): give the API's base \
             address only, such as {DEFAULT_BASE_URL}."
        )));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Error::config(
            "api_base_url must not carry credentials; put them in the credentials object.",
        ));
    }
    Ok(url)
}

fn is_loopback(url: &Url) -> bool {
    let host = url.host_str().unwrap_or_default();
    let ip = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || ip
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// An optional number the spec has already bounded.
fn number(map: &Map<String, Value>, key: &str) -> Option<f64> {
    map.get(key).and_then(Value::as_f64)
}

/// An optional whole number the spec has already bounded; JSON Schema counts `2.0` as one.
fn whole_number(map: &Map<String, Value>, key: &str) -> Option<i64> {
    number(map, key).map(|n| n as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn base() -> Value {
        json!({
            "credentials": {"auth_type": "app_credentials", "app_access_key": "k", "app_secret": "s3cret"},
            "start_date": "2024-01-01T00:00:00Z"
        })
    }

    fn parse(v: Value) -> Result<Config> {
        Config::parse(&v.to_string())
    }

    fn message(v: Value) -> String {
        parse(v).unwrap_err().to_string()
    }

    #[test]
    fn defaults_apply() {
        let c = parse(base()).unwrap();
        assert_eq!(c.api_base_url.as_str(), "https://api.100ms.live/v2");
        assert_eq!(c.requests_per_second, 20.0);
        assert!(c.end_date.is_none());
        assert_eq!(c.lookback, chrono::Duration::minutes(15));
        assert_eq!(c.join_failure_sweep, chrono::Duration::hours(24));
        assert_eq!(c.peer_quality_stats_days, 7);
    }

    #[test]
    fn lookback_and_sweep_are_bounded_whole_numbers() {
        let mut v = base();
        v["lookback_window_minutes"] = json!(0);
        v["join_failure_sweep_hours"] = json!(0);
        let c = parse(v.clone()).unwrap();
        assert_eq!(c.lookback, chrono::Duration::zero());
        assert_eq!(c.join_failure_sweep, chrono::Duration::zero());
        v["lookback_window_minutes"] = json!(1441);
        assert!(message(v.clone()).contains("lookback_window_minutes"));
        v["lookback_window_minutes"] = json!(1.5);
        assert!(message(v).contains("lookback_window_minutes"));
    }

    #[test]
    fn not_json_is_a_config_error() {
        let e = Config::parse("{nope").unwrap_err();
        assert!(matches!(e, Error::Config(_)));
        assert!(e.to_string().contains("not valid JSON"));
    }

    #[test]
    fn missing_start_date_names_the_field() {
        let mut v = base();
        v.as_object_mut().unwrap().remove("start_date");
        assert!(message(v).contains("start_date"));
    }

    #[test]
    fn malformed_date_is_refused() {
        let mut v = base();
        v["start_date"] = json!("2024-13-01");
        assert!(message(v.clone()).contains("RFC 3339"));
        // The spec's pattern says the shape; a date that does not exist is the code's to refuse.
        v["start_date"] = json!("2024-13-01T00:00:00Z");
        let message = message(v);
        assert!(
            message.starts_with("start_date must be an RFC 3339"),
            "{message}"
        );
    }

    #[test]
    fn unknown_auth_type_is_refused() {
        let mut v = base();
        v["credentials"]["auth_type"] = json!("oauth");
        assert!(message(v).contains("\"oauth\""));
    }

    #[test]
    fn plain_http_only_for_loopback() {
        let mut v = base();
        v["api_base_url"] = json!("http://127.0.0.1:8080/v2");
        assert!(parse(v.clone()).is_ok());
        v["api_base_url"] = json!("http://localhost:1/v2");
        assert!(parse(v.clone()).is_ok());
        v["api_base_url"] = json!("http://api.100ms.live/v2");
        assert!(message(v).contains("loopback"));
    }

    #[test]
    fn a_query_or_fragment_in_the_base_url_is_refused() {
        for url in [
            "http://127.0.0.1:8080/v2?x=1#frag",
            "https://api.100ms.live/v2?x=1",
            "https://api.100ms.live/v2#frag",
            "https://api.100ms.live/v2?",
        ] {
            let mut v = base();
            v["api_base_url"] = json!(url);
            let message = message(v);
            assert!(message.contains("api_base_url"), "{url}: {message}");
            assert!(message.contains("query"), "{url}: {message}");
        }
    }

    #[test]
    fn a_future_start_date_is_refused() {
        let mut v = base();
        let tomorrow = Utc::now() + chrono::Duration::days(1);
        v["start_date"] = json!(tomorrow.to_rfc3339());
        let message = message(v);
        assert!(message.contains("start_date"), "{message}");
        assert!(message.contains("future"), "{message}");
    }

    #[test]
    fn end_before_start_is_refused() {
        let mut v = base();
        v["end_date"] = json!("2023-01-01T00:00:00Z");
        assert!(message(v).contains("end_date"));
    }

    #[test]
    fn secret_is_redacted_in_debug() {
        let c = parse(base()).unwrap();
        let debug = format!("{c:?}");
        assert!(!debug.contains("s3cret"), "{debug}");
        assert!(debug.contains("REDACTED"));
    }

    #[test]
    fn error_messages_never_echo_the_secret() {
        let mut v = base();
        v["start_date"] = json!("yesterday");
        assert!(!message(v).contains("s3cret"));
    }

    proptest::proptest! {
        #[test]
        fn any_text_parses_or_fails_as_config(text in ".{0,200}") {
            if let Err(e) = Config::parse(&text) {
                proptest::prop_assert!(matches!(e, Error::Config(_)));
            }
        }

        #[test]
        fn any_field_value_is_accepted_or_refused_without_the_secret(
            field in proptest::sample::select(vec![
                "credentials", "start_date", "end_date", "api_base_url", "requests_per_second",
                "max_concurrent_requests", "max_retries", "retry_initial_backoff_secs", "auth_type",
                "lookback_window_minutes", "join_failure_sweep_hours", "peer_quality_stats_days",
            ]),
            value in crate::test_support::arb_json(),
        ) {
            let mut config = base();
            if field == "auth_type" {
                config["credentials"]["auth_type"] = value;
            } else {
                config[field] = value;
            }
            if let Err(e) = parse(config) {
                proptest::prop_assert!(matches!(e, Error::Config(_)));
                proptest::prop_assert!(!e.to_string().contains("s3cret"));
            }
        }
    }
}
