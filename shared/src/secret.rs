//! Secrets (webhook URLs, signing secrets, tokens) in a type that never prints its value.
//! Base floor: imports nothing from this crate.

use std::fmt;

/// A secret value. `Debug` prints a placeholder and there is no `Display`, so a secret cannot reach a
/// log through `{:?}` or a derived `Debug` of a struct that holds it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value itself: call this only where the secret is used, never to log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl Secret {
    /// Whether `presented` (a bearer token from a request) is this secret, in constant time: both are
    /// hashed first, so neither the length nor a common prefix shows in the time taken.
    pub fn matches(&self, presented: &[u8]) -> bool {
        use sha2::{Digest, Sha256};
        use subtle::ConstantTimeEq;
        let expected = Sha256::digest(self.0.as_bytes());
        let given = Sha256::digest(presented);
        expected.ct_eq(&given).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_value() {
        let s = Secret::new("https://hooks.slack.com/services/T0/B0/XYZ");
        assert_eq!(format!("{s:?}"), "Secret(<redacted>)");
        #[derive(Debug)]
        #[allow(dead_code)]
        struct Holder {
            value: Secret,
        }
        assert!(!format!("{:?}", Holder { value: s }).contains("hooks.slack.com"));
    }

    #[test]
    fn a_token_matches_only_itself() {
        let s = Secret::new("notify-token");
        assert!(s.matches(b"notify-token"));
        assert!(!s.matches(b"notify-toke") && !s.matches(b"notify-tokenX") && !s.matches(b""));
    }
}
