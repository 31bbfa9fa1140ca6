//! Credentials as the config gives them, kept apart so that the HTTP client can use them
//! without depending on the config. A [`Secret`] never shows itself in `Debug` or `Display`.

use std::fmt;

/// A credential: `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The only way to read the value.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("**REDACTED**")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("**REDACTED**")
    }
}

#[derive(Debug, Clone)]
pub enum Credentials {
    /// The connector mints HS256 management tokens from these.
    AppCredentials { access_key: String, secret: Secret },
    /// A token minted elsewhere, sent as is.
    ManagementToken(Secret),
}
