//! Secrets (webhook URLs, signing secrets, tokens) in a type that never prints its value, and the
//! one place that decides where a function's secret comes from: a KMS ciphertext or a plaintext variable.

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

/// Where a secret comes from, as configured by a pair of environment variables.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SecretSource {
    /// Base64 KMS ciphertext, from the variable named `var`.
    Kms { var: &'static str, ciphertext: String },
    /// Plaintext, from the variable named `var` (local runs).
    Plain { var: &'static str, value: Secret },
    /// From the stack's Secrets Manager secret (`SLACK_SECRETS_ARN`), key `key`, standing in for the
    /// plaintext variable `var`; read again when the value stops working.
    Bundle { var: &'static str, key: &'static str, value: Secret },
}

/// A required setting is missing or malformed. Names the variable, never prints its value.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "configuration missing: set {kms_var} (base64 KMS ciphertext) or {plain_var} (plaintext, for local runs), or SLACK_SECRETS_ARN with the value in the secret"
    )]
    MissingSecret { kms_var: &'static str, plain_var: &'static str },
    #[error("configuration invalid: {var} {problem}")]
    Invalid { var: &'static str, problem: String },
    #[error("configuration missing: {var} is not set ({hint})")]
    Missing { var: &'static str, hint: &'static str },
    #[error("configuration missing: set {}", .alternatives.join(", or "))]
    MissingAlternatives { var: &'static str, alternatives: &'static [&'static str] },
}

impl ConfigError {
    /// The variable to fix (for the secret pair, the KMS one).
    pub fn var(&self) -> &'static str {
        match self {
            Self::MissingSecret { kms_var, .. } => kms_var,
            Self::Invalid { var, .. } | Self::Missing { var, .. } | Self::MissingAlternatives { var, .. } => var,
        }
    }
}

impl SecretSource {
    /// Reads the pair of variables through `lookup` (the process environment in `main`, a map in tests).
    /// The KMS variable wins when both are set: a deployed function must not silently use a plaintext.
    pub fn from_lookup(
        kms_var: &'static str,
        plain_var: &'static str,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        if let Some(ciphertext) = non_empty(lookup, kms_var) {
            return Ok(Self::Kms { var: kms_var, ciphertext });
        }
        if let Some(value) = non_empty(lookup, plain_var) {
            let bundled = crate::aws::secrets::BUNDLE_KEYS.iter().find(|(_, v)| *v == plain_var).map(|(k, _)| *k);
            if let Some(key) = bundled
                && non_empty(lookup, &format!("{}:{plain_var}", crate::aws::secrets::BUNDLE_VAR)).is_some()
            {
                return Ok(Self::Bundle { var: plain_var, key, value: Secret::new(value) });
            }
            return Ok(Self::Plain { var: plain_var, value: Secret::new(value) });
        }
        Err(ConfigError::MissingSecret { kms_var, plain_var })
    }

    /// A KMS ciphertext: decrypting it needs a KMS client.
    pub fn is_kms(&self) -> bool {
        matches!(self, Self::Kms { .. })
    }

    pub fn var(&self) -> &'static str {
        match self {
            Self::Kms { var, .. } | Self::Plain { var, .. } | Self::Bundle { var, .. } => var,
        }
    }
}

/// A setting through `lookup`, trimmed; blank counts as unset.
pub fn non_empty(lookup: &dyn Fn(&str) -> Option<String>, name: &str) -> Option<String> {
    lookup(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

/// The environment of the current process, as a lookup for the `from_lookup` constructors.
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// A lookup over fixed pairs, standing in for the environment in tests.
#[cfg(test)]
pub(crate) fn test_lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
    let map: std::collections::HashMap<String, String> =
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    move |k| map.get(k).cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    use super::test_lookup as lookup;

    #[test]
    fn debug_never_shows_the_value() {
        let s = Secret::new("https://hooks.slack.com/services/T0/B0/XYZ");
        assert_eq!(format!("{s:?}"), "Secret(<redacted>)");
        let src = SecretSource::Plain { var: "V", value: s };
        assert!(!format!("{src:?}").contains("hooks.slack.com"));
    }

    #[test]
    fn a_token_matches_only_itself() {
        let s = Secret::new("notify-token");
        assert!(s.matches(b"notify-token"));
        assert!(!s.matches(b"notify-toke") && !s.matches(b"notify-tokenX") && !s.matches(b""));
    }

    #[test]
    fn kms_variable_wins_and_blank_counts_as_unset() {
        let l = lookup(&[("K", "AQID"), ("P", "plain")]);
        assert_eq!(
            SecretSource::from_lookup("K", "P", &l).unwrap(),
            SecretSource::Kms { var: "K", ciphertext: "AQID".into() }
        );
        let l = lookup(&[("K", "  "), ("P", "plain")]);
        assert_eq!(SecretSource::from_lookup("K", "P", &l).unwrap().var(), "P");
        let err = SecretSource::from_lookup("K", "P", &lookup(&[])).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains('K') && msg.contains('P'), "{msg}");
    }
}
