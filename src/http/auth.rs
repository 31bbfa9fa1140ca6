//! Management tokens: minted from the app access key and secret, or given ready-made.
//!
//! A minted token mirrors the official SDK (HS256, `type: management`, `version: 2`, issued ten
//! seconds in the past for clock skew, 24 h validity, a fresh `jti`) and is reused until five
//! minutes before it expires. A ready token is checked for expiry up front, so an expired one
//! is a clear config error before any request.

use std::sync::Mutex;

use chrono::Utc;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use super::HttpError;
use crate::credentials::{Credentials, Secret};

const VALIDITY_SECS: i64 = 24 * 3600;
const SKEW_SECS: i64 = 10;
const RENEW_BEFORE_EXPIRY_SECS: i64 = 300;

pub struct Auth {
    kind: Kind,
}

enum Kind {
    Ready(Secret),
    Minted {
        access_key: String,
        key: EncodingKey,
        current: Mutex<Option<MintedToken>>,
    },
}

#[derive(Clone)]
struct MintedToken {
    token: Secret,
    expires_at: i64,
}

#[derive(Serialize)]
struct Claims<'a> {
    access_key: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    version: u8,
    iat: i64,
    nbf: i64,
    exp: i64,
    jti: String,
}

impl Auth {
    pub fn new(credentials: &Credentials) -> Result<Auth, HttpError> {
        let kind = match credentials {
            Credentials::ManagementToken(token) => {
                if let Some(exp) = expiry_of(token.expose()) {
                    if exp <= Utc::now().timestamp() {
                        let when = chrono::DateTime::from_timestamp(exp, 0)
                            .map(|d| d.to_rfc3339())
                            .unwrap_or_else(|| exp.to_string());
                        return Err(HttpError::Token(format!(
                            "the management token expired at {when}. Generate a new one in the \
                             100ms dashboard, or use app credentials so the connector mints its own."
                        )));
                    }
                }
                Kind::Ready(token.clone())
            }
            Credentials::AppCredentials { access_key, secret } => Kind::Minted {
                access_key: access_key.clone(),
                key: EncodingKey::from_secret(secret.expose().as_bytes()),
                current: Mutex::new(None),
            },
        };
        Ok(Auth { kind })
    }

    /// The token to send now.
    pub fn token(&self) -> Result<Secret, HttpError> {
        match &self.kind {
            Kind::Ready(token) => Ok(token.clone()),
            Kind::Minted {
                access_key,
                key,
                current,
            } => {
                let mut current = current.lock().unwrap_or_else(|e| e.into_inner());
                let now = Utc::now().timestamp();
                if let Some(t) = current.as_ref() {
                    if t.expires_at - RENEW_BEFORE_EXPIRY_SECS > now {
                        return Ok(t.token.clone());
                    }
                }
                let fresh = mint(access_key, key, now)?;
                let token = fresh.token.clone();
                *current = Some(fresh);
                Ok(token)
            }
        }
    }

    /// After a 401/403: forgets `rejected` so the next [`Auth::token`] mints anew. Returns
    /// whether a retry can help (never for a ready-made token).
    pub fn invalidate(&self, rejected: &Secret) -> bool {
        match &self.kind {
            Kind::Ready(_) => false,
            Kind::Minted { current, .. } => {
                let mut current = current.lock().unwrap_or_else(|e| e.into_inner());
                if current.as_ref().is_some_and(|t| &t.token == rejected) {
                    *current = None;
                }
                true
            }
        }
    }

    /// What to tell the user when the API keeps refusing the credentials.
    pub fn rejection_hint(&self) -> &'static str {
        match self.kind {
            Kind::Ready(_) => "The management token is invalid or expired: generate a new one in the 100ms dashboard, or use app credentials so the connector mints its own.",
            Kind::Minted { .. } => "Check credentials.app_access_key and credentials.app_secret against the 100ms dashboard (Developer section).",
        }
    }
}

fn mint(access_key: &str, key: &EncodingKey, now: i64) -> Result<MintedToken, HttpError> {
    let iat = now - SKEW_SECS;
    let claims = Claims {
        access_key,
        kind: "management",
        version: 2,
        iat,
        nbf: iat,
        exp: iat + VALIDITY_SECS,
        jti: uuid::Uuid::new_v4().to_string(),
    };
    let mut header = Header::new(Algorithm::HS256);
    header.typ = Some("JWT".into());
    let token = jsonwebtoken::encode(&header, &claims, key)
        .map_err(|e| HttpError::Token(format!("signing failed: {e}")))?;
    Ok(MintedToken {
        token: Secret::new(token),
        expires_at: claims.exp,
    })
}

/// The `exp` claim of a JWT, read without verifying it: only 100ms holds the key that can.
fn expiry_of(token: &str) -> Option<i64> {
    #[derive(Deserialize)]
    struct Exp {
        exp: Option<i64>,
    }
    let mut read_only = Validation::new(Algorithm::HS256);
    read_only.insecure_disable_signature_validation();
    read_only.validate_exp = false;
    read_only.validate_aud = false;
    read_only.required_spec_claims.clear();
    let unused_key = DecodingKey::from_secret(&[]);
    jsonwebtoken::decode::<Exp>(token, &unused_key, &read_only)
        .ok()?
        .claims
        .exp
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn app() -> Auth {
        Auth::new(&Credentials::AppCredentials {
            access_key: "64a1f0c2e4b0a1b2c3d4e5f6".into(),
            secret: Secret::new("shh"),
        })
        .unwrap()
    }

    fn claims(token: &str) -> Value {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.validate_nbf = true;
        jsonwebtoken::decode::<Value>(token, &DecodingKey::from_secret(b"shh"), &validation)
            .unwrap()
            .claims
    }

    #[test]
    fn minted_token_has_the_documented_claims() {
        let token = app().token().unwrap();
        let c = claims(token.expose());
        let now = Utc::now().timestamp();
        assert_eq!(c["access_key"], "64a1f0c2e4b0a1b2c3d4e5f6");
        assert_eq!(c["type"], "management");
        assert_eq!(c["version"], 2);
        let iat = c["iat"].as_i64().unwrap();
        assert!(iat < now && iat >= now - 60);
        assert_eq!(c["nbf"], c["iat"]);
        assert_eq!(c["exp"].as_i64().unwrap() - iat, VALIDITY_SECS);
        assert_eq!(c["jti"].as_str().unwrap().len(), 36);
    }

    #[test]
    fn token_is_reused_until_invalidated() {
        let auth = app();
        let first = auth.token().unwrap();
        assert_eq!(auth.token().unwrap(), first);
        assert!(auth.invalidate(&first));
        let second = auth.token().unwrap();
        assert_ne!(second, first);
        assert_ne!(
            claims(second.expose())["jti"],
            claims(first.expose())["jti"]
        );
    }

    #[test]
    fn ready_token_is_not_refreshable() {
        let auth = Auth::new(&Credentials::ManagementToken(Secret::new("opaque"))).unwrap();
        let t = auth.token().unwrap();
        assert_eq!(t.expose(), "opaque");
        assert!(!auth.invalidate(&t));
    }

    #[test]
    fn expired_ready_token_is_refused_up_front() {
        let key = EncodingKey::from_secret(b"x");
        let expired = mint("k", &key, Utc::now().timestamp() - 2 * VALIDITY_SECS).unwrap();
        let err = Auth::new(&Credentials::ManagementToken(expired.token.clone()))
            .err()
            .unwrap();
        assert!(err.to_string().contains("expired"), "{err}");
        assert!(!err.to_string().contains(expired.token.expose()));
    }

    #[test]
    fn expiry_is_read_without_the_signing_key() {
        let key = EncodingKey::from_secret(b"a key this side never has");
        let token = mint("k", &key, 1_700_000_000).unwrap();
        assert_eq!(
            expiry_of(token.token.expose()),
            Some(1_700_000_000 - SKEW_SECS + VALIDITY_SECS)
        );
        assert_eq!(expiry_of("opaque"), None);
        assert_eq!(expiry_of("a.b.c"), None);
    }
}
