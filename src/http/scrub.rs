//! Credentials out of text that came from elsewhere. A server, a proxy or a URL can echo what
//! it was sent, so every piece of server text is passed through here before it is printed.
//! Known secrets are replaced by the client; this file catches the shapes a credential takes
//! even when its value is not known (an older minted token, a token in a proxy's echo).

const REDACTED: &str = "**REDACTED**";

/// Replaces each of `secrets`, then anything shaped like a JWT or following `Bearer `.
pub fn scrub<'a>(text: &str, secrets: impl IntoIterator<Item = &'a str>) -> String {
    let mut out = text.to_owned();
    for secret in secrets {
        if !secret.is_empty() && out.contains(secret) {
            out = out.replace(secret, REDACTED);
        }
    }
    redact_bearer(&redact_jwts(&out))
}

fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '=' | '+' | '/' | '~')
}

/// A JWT is three base64url segments, and the first (a JSON object) always starts `eyJ`.
fn redact_jwts(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("eyJ") {
        let (before, candidate) = rest.split_at(at);
        out.push_str(before);
        let len = candidate
            .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
            .unwrap_or(candidate.len());
        let run = &candidate[..len];
        if run.split('.').count() >= 3 {
            out.push_str(REDACTED);
        } else {
            out.push_str(run);
        }
        rest = &candidate[len..];
    }
    out.push_str(rest);
    out
}

/// Whatever follows `Bearer ` is a credential, whatever its shape.
fn redact_bearer(text: &str) -> String {
    const BEARER: &str = "bearer ";
    let lower = text.to_ascii_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut search = 0;
    while let Some(found) = lower[search..].find(BEARER) {
        let start = search + found + BEARER.len();
        let len = text[start..]
            .find(|c: char| !is_token_char(c))
            .unwrap_or(text.len() - start);
        let token = &text[start..start + len];
        // Already redacted text starts with `*`, which no token does.
        if !token.is_empty() {
            out.push_str(&text[copied..start]);
            out.push_str(REDACTED);
            copied = start + len;
        }
        search = start + len;
    }
    out.push_str(&text[copied..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_secrets_are_replaced() {
        assert_eq!(
            scrub("key s3cret and s3cret", ["s3cret"]),
            "key **REDACTED** and **REDACTED**"
        );
        assert_eq!(scrub("nothing here", [""]), "nothing here");
    }

    #[test]
    fn jwt_shapes_are_replaced_without_knowing_them() {
        let text = "echo: eyJ0eXAiOiJKV1QifQ.eyJzdWIiOiJ4In0.c2lnbmF0dXJl, done";
        assert_eq!(scrub(text, []), "echo: **REDACTED**, done");
        // One segment is just text that happens to start like that.
        assert_eq!(scrub("eyJust words", []), "eyJust words");
    }

    #[test]
    fn whatever_follows_bearer_is_replaced() {
        assert_eq!(
            scrub(r#"{"auth":"Bearer mgmt-abc.123"}"#, []),
            r#"{"auth":"Bearer **REDACTED**"}"#
        );
        assert_eq!(
            scrub("authorization: bearer xyz", []),
            "authorization: bearer **REDACTED**"
        );
        assert_eq!(
            scrub("Bearer **REDACTED**", []),
            "Bearer **REDACTED**",
            "already redacted text is left alone"
        );
    }

    proptest::proptest! {
        #[test]
        fn any_text_scrubs_without_panicking_or_keeping_the_secret(
            text in ".{0,80}",
            secret in "[a-z0-9]{6,12}",
        ) {
            let with_secret = format!("{text}{secret}{text}");
            let out = scrub(&with_secret, [secret.as_str()]);
            proptest::prop_assert!(!out.contains(&secret));
        }
    }
}
