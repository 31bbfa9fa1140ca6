//! Management-token (JWT) minting and validation.

use std::time::Duration;

use jsonwebtoken::{
    decode, encode, errors::ErrorKind, Algorithm, DecodingKey, EncodingKey, Header, Validation,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Leeway applied to `nbf` and `exp`, in seconds.
const LEEWAY_SECS: u64 = 30;

#[derive(Serialize, Deserialize)]
struct Claims {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    access_key: Option<String>,
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    typ: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    version: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    iat: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    nbf: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    exp: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    jti: Option<String>,
}

fn real_now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Mints a management token like the official SDK does (iat = now − 10 s).
/// A zero `ttl` yields a token that expired an hour ago.
pub(crate) fn mint(access_key: &str, secret: &str, ttl: Duration, jti: String) -> String {
    let now = real_now();
    let (iat, exp) = if ttl.is_zero() {
        (now - 3610, now - 3600)
    } else {
        (now - 10, now + ttl.as_secs().max(1) as i64)
    };
    let claims = Claims {
        access_key: Some(access_key.to_string()),
        typ: Some("management".into()),
        version: Some(2.into()),
        iat: Some(iat),
        nbf: Some(iat),
        exp: Some(exp),
        jti: Some(jti),
    };
    encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("HS256 signing cannot fail")
}

/// Checks an `Authorization` header value; `Err` carries the `details` message of the 401.
pub(crate) fn check(
    header: Option<&str>,
    access_key: &str,
    secret: &str,
    max_age: Option<Duration>,
) -> Result<(), String> {
    let header = header.ok_or("not found")?;
    let token = header
        .strip_prefix("Bearer ")
        .or_else(|| header.strip_prefix("bearer "))
        .ok_or("authorization header is not a bearer token")?
        .trim();
    let mut v = Validation::new(Algorithm::HS256);
    v.leeway = LEEWAY_SECS;
    v.validate_nbf = true;
    v.set_required_spec_claims(&["exp"]);
    let data =
        decode::<Claims>(token, &DecodingKey::from_secret(secret.as_bytes()), &v).map_err(|e| {
            match e.kind() {
                ErrorKind::ExpiredSignature => "token is expired".to_string(),
                ErrorKind::ImmatureSignature => "token is not valid yet".to_string(),
                ErrorKind::InvalidSignature => "signature is invalid".to_string(),
                ErrorKind::InvalidAlgorithm => "signing method is invalid".to_string(),
                other => format!("token is malformed: {other:?}"),
            }
        })?;
    let c = data.claims;
    if c.access_key.as_deref() != Some(access_key) {
        return Err("invalid access_key".into());
    }
    if c.typ.as_deref() != Some("management") {
        return Err("invalid token type".into());
    }
    if c.version.as_ref().and_then(Value::as_i64) != Some(2) {
        return Err("invalid token version".into());
    }
    if let Some(max) = max_age {
        let iat = c.iat.ok_or("iat missing")?;
        if real_now() - iat > max.as_secs() as i64 {
            return Err("token is too old".into());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_tokens_validate_and_expired_ones_do_not() {
        let t = mint("ak", "secret", Duration::from_secs(60), "j".into());
        let h = format!("Bearer {t}");
        assert_eq!(check(Some(&h), "ak", "secret", None), Ok(()));
        assert!(check(Some(&h), "other", "secret", None).is_err());
        assert!(check(Some(&h), "ak", "wrong", None).is_err());
        assert!(check(Some(&h), "ak", "secret", Some(Duration::from_secs(5))).is_err());
        let old = format!(
            "Bearer {}",
            mint("ak", "secret", Duration::ZERO, "j".into())
        );
        assert_eq!(
            check(Some(&old), "ak", "secret", None),
            Err("token is expired".into())
        );
        assert_eq!(check(None, "ak", "secret", None), Err("not found".into()));
    }
}
