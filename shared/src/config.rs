//! Reading the functions' settings: the environment variables (the names are the contract), where a
//! secret comes from (a KMS ciphertext, a plaintext variable or the stack's secrets bundle), and the
//! readers both functions share for one concern each: the Slack bot token and API URL, the state table.
//! Base floor: imports only `secret`.

use crate::secret::Secret;

/// The stack's Secrets Manager secret (one JSON object with the Slack secrets).
pub const BUNDLE_VAR: &str = "SLACK_SECRETS_ARN";

/// The keys of the bundle and the plaintext variable each stands in for.
pub const BUNDLE_KEYS: [(&str, &str); 7] = [
    ("webhook_url", "SLACK_WEBHOOK_URL"),
    ("signing_secret", "SLACK_SIGNING_SECRET"),
    ("bot_token", "SLACK_BOT_TOKEN"),
    ("deploy_notify_token", "DEPLOY_NOTIFY_TOKEN"),
    ("alertmanager_token", "ALERTMANAGER_TOKEN"),
    ("alertmanager_api_token", "ALERTMANAGER_API_TOKEN"),
    ("alertmanager_api_basic", "ALERTMANAGER_API_BASIC"),
];

/// The Slack bot token (Web API), as a KMS ciphertext or a plaintext.
pub const BOT_TOKEN_KMS_VAR: &str = "KMS_ENCRYPTED_SLACK_BOT_TOKEN";
pub const BOT_TOKEN_PLAIN_VAR: &str = "SLACK_BOT_TOKEN";
/// Where the Web API is (a stand-in in tests and the demo).
pub const API_URL_VAR: &str = "SLACK_API_URL";
/// Slack's Web API.
pub const DEFAULT_API_URL: &str = "https://slack.com/api/";
/// The DynamoDB state table.
pub const STATE_TABLE_VAR: &str = "STATE_TABLE";

/// The bot token's source, `None` when neither variable (nor the bundle) sets it.
pub fn bot_token(lookup: &dyn Fn(&str) -> Option<String>) -> Result<Option<SecretSource>, ConfigError> {
    match SecretSource::from_lookup(BOT_TOKEN_KMS_VAR, BOT_TOKEN_PLAIN_VAR, lookup) {
        Ok(source) => Ok(Some(source)),
        Err(ConfigError::MissingSecret { .. }) => Ok(None),
        Err(other) => Err(other),
    }
}

/// The Web API's base URL: `SLACK_API_URL`, Slack's own when unset; an http(s) URL.
pub fn api_url(lookup: &dyn Fn(&str) -> Option<String>) -> Result<String, ConfigError> {
    let url = non_empty(lookup, API_URL_VAR).unwrap_or_else(|| DEFAULT_API_URL.to_owned());
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        return Err(ConfigError::Invalid { var: API_URL_VAR, problem: "is not an http(s) URL".into() });
    }
    Ok(url)
}

/// The state table's name, `None` when not configured.
pub fn state_table(lookup: &dyn Fn(&str) -> Option<String>) -> Option<String> {
    non_empty(lookup, STATE_TABLE_VAR)
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
            let bundled = BUNDLE_KEYS.iter().find(|(_, v)| *v == plain_var).map(|(k, _)| *k);
            if let Some(key) = bundled
                && non_empty(lookup, &format!("{}:{plain_var}", BUNDLE_VAR)).is_some()
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
    fn debug_of_a_source_never_shows_the_value() {
        let src = SecretSource::Plain { var: "V", value: Secret::new("https://hooks.slack.com/services/T0/B0/XYZ") };
        assert!(!format!("{src:?}").contains("hooks.slack.com"));
    }

    #[test]
    fn the_api_url_must_be_http_and_defaults_to_slack() {
        assert_eq!(api_url(&lookup(&[])).unwrap(), DEFAULT_API_URL);
        assert_eq!(api_url(&lookup(&[(API_URL_VAR, "http://127.0.0.1:9/api/")])).unwrap(), "http://127.0.0.1:9/api/");
        assert_eq!(api_url(&lookup(&[(API_URL_VAR, "slack.com/api")])).unwrap_err().var(), API_URL_VAR);
    }

    #[test]
    fn no_bot_token_is_none_not_an_error() {
        assert_eq!(bot_token(&lookup(&[])).unwrap(), None);
        assert_eq!(bot_token(&lookup(&[(BOT_TOKEN_PLAIN_VAR, "xoxb-1")])).unwrap().unwrap().var(), BOT_TOKEN_PLAIN_VAR);
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
