//! A Secrets Manager secret read once per container and kept for a short time: the value is parsed
//! once per fetch, a failed refresh keeps serving the last good value (and says so), and a caller that
//! finds the value no longer works can ask for a fresh one (rotation) without waiting for the TTL.

use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_secretsmanager::error::DisplayErrorContext;
use tokio::sync::Mutex;

/// Reading or parsing the secret failed. Names the secret and what went wrong, never its value.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SecretsError {
    #[error("Secrets Manager GetSecretValue of {arn} failed: {detail}")]
    Read { arn: String, detail: String },
    #[error("secret {arn} has no SecretString (binary secrets are not supported)")]
    NotText { arn: String },
    #[error("secret {arn} does not parse: {problem}")]
    Parse { arn: String, problem: String },
}

/// A Secrets Manager client for secrets read inside Slack's 3 s: short timeouts, one retry.
pub fn secrets_client(sdk: &aws_types::SdkConfig) -> aws_sdk_secretsmanager::Client {
    let config = aws_sdk_secretsmanager::config::Builder::from(sdk)
        .timeout_config(
            aws_sdk_secretsmanager::config::timeout::TimeoutConfig::builder()
                .connect_timeout(Duration::from_millis(500))
                .read_timeout(Duration::from_millis(800))
                .operation_attempt_timeout(Duration::from_millis(800))
                .operation_timeout(Duration::from_millis(1500))
                .build(),
        )
        .retry_config(aws_sdk_secretsmanager::config::retry::RetryConfig::standard().with_max_attempts(2))
        .build();
    aws_sdk_secretsmanager::Client::from_conf(config)
}

/// One `GetSecretValue` of `arn`, its text parsed by `parse`.
async fn read_parsed<T>(
    client: &aws_sdk_secretsmanager::Client,
    arn: &str,
    parse: fn(&str) -> Result<T, String>,
) -> Result<T, SecretsError> {
    let output = client
        .get_secret_value()
        .secret_id(arn)
        .send()
        .await
        .map_err(|e| SecretsError::Read { arn: arn.to_owned(), detail: DisplayErrorContext(e).to_string() })?;
    let text = output.secret_string().ok_or_else(|| SecretsError::NotText { arn: arn.to_owned() })?;
    parse(text).map_err(|problem| SecretsError::Parse { arn: arn.to_owned(), problem })
}

/// The parsed value of one secret, cached for `ttl`.
pub struct CachedSecretJson<T> {
    client: aws_sdk_secretsmanager::Client,
    arn: String,
    ttl: Duration,
    parse: fn(&str) -> Result<T, String>,
    held: Mutex<Option<(Instant, Arc<T>)>>,
}

impl<T> std::fmt::Debug for CachedSecretJson<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachedSecretJson").field("arn", &self.arn).field("ttl", &self.ttl).finish_non_exhaustive()
    }
}

impl<T> CachedSecretJson<T> {
    pub fn new(
        client: aws_sdk_secretsmanager::Client,
        arn: impl Into<String>,
        ttl: Duration,
        parse: fn(&str) -> Result<T, String>,
    ) -> Self {
        Self { client, arn: arn.into(), ttl, parse, held: Mutex::new(None) }
    }

    pub fn arn(&self) -> &str {
        &self.arn
    }

    /// The value: the cached one while younger than the TTL, else read again.
    pub async fn get(&self) -> Result<Arc<T>, SecretsError> {
        self.get_fresher_than(self.ttl).await
    }

    /// The value read within `max_age`: a caller whose value stopped working asks with a short age
    /// (the value may have been rotated), which still spares Secrets Manager a call per request.
    pub async fn get_fresher_than(&self, max_age: Duration) -> Result<Arc<T>, SecretsError> {
        let mut held = self.held.lock().await;
        if let Some((at, value)) = held.as_ref()
            && at.elapsed() < max_age
        {
            return Ok(value.clone());
        }
        match self.read().await {
            Ok(value) => {
                let value = Arc::new(value);
                *held = Some((Instant::now(), value.clone()));
                Ok(value)
            }
            Err(err) => match held.as_ref() {
                // A refresh failed: the last good value beats none; try again at the next call.
                Some((_, value)) => {
                    tracing::warn!(error = %err, "could not refresh the secret; using the value read before");
                    Ok(value.clone())
                }
                None => Err(err),
            },
        }
    }

    async fn read(&self) -> Result<T, SecretsError> {
        read_parsed(&self.client, &self.arn, self.parse).await
    }
}

/// The one Secrets Manager secret of a stack (`SLACK_SECRETS_ARN`), a JSON object of strings: the
/// alternative to KMS-encrypting each value with the function's name. Read at init; read again, at
/// most once per [`BUNDLE_REFRESH_INTERVAL`], when a value stops working (it may have been rotated).
use crate::config::{BUNDLE_KEYS, BUNDLE_VAR};

/// How often a failing value may cause a new read by default: a stream of forged requests cannot turn
/// into a stream of Secrets Manager calls.
pub const BUNDLE_REFRESH_INTERVAL: Duration = Duration::from_secs(30);

/// The bundle's reader, shared by the secrets a container takes from it.
pub struct SecretsBundle {
    client: aws_sdk_secretsmanager::Client,
    arn: String,
    min_interval: Duration,
    last_read: Mutex<Option<Instant>>,
}

/// `SLACK_SECRETS_REFRESH_SECONDS`: the shortest time between two reads of the bundle (default 30).
pub const REFRESH_VAR: &str = "SLACK_SECRETS_REFRESH_SECONDS";

impl std::fmt::Debug for SecretsBundle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretsBundle").field("arn", &self.arn).finish_non_exhaustive()
    }
}

/// The bundle's JSON: an object of strings. Empty values count as absent (the template creates `{}`).
pub fn parse_bundle(text: &str) -> Result<std::collections::HashMap<String, String>, String> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|_| "must be a JSON object of strings".to_owned())?;
    let map = value.as_object().ok_or_else(|| "must be a JSON object of strings".to_owned())?;
    let mut out = std::collections::HashMap::new();
    for (key, v) in map {
        match v {
            serde_json::Value::String(s) if !s.trim().is_empty() => {
                out.insert(key.clone(), s.trim().to_owned());
            }
            serde_json::Value::String(_) | serde_json::Value::Null => {}
            _ => return Err(format!("{key} must be a string")),
        }
    }
    Ok(out)
}

impl SecretsBundle {
    pub fn new(client: aws_sdk_secretsmanager::Client, arn: impl Into<String>, min_interval: Duration) -> Self {
        Self { client, arn: arn.into(), min_interval, last_read: Mutex::new(None) }
    }

    pub fn arn(&self) -> &str {
        &self.arn
    }

    /// Reads the bundle now.
    pub async fn read(&self) -> Result<std::collections::HashMap<String, String>, SecretsError> {
        *self.last_read.lock().await = Some(Instant::now());
        read_parsed(&self.client, &self.arn, parse_bundle).await
    }

    /// The value of `key` read again, unless the bundle was read less than the refresh interval ago.
    pub async fn reread(&self, key: &str) -> Option<String> {
        {
            let last = self.last_read.lock().await;
            if last.is_some_and(|at| at.elapsed() < self.min_interval) {
                return None;
            }
        }
        match self.read().await {
            Ok(mut values) => values.remove(key),
            Err(err) => {
                tracing::warn!(error = %err, "could not read the secrets bundle again");
                None
            }
        }
    }
}

/// The stack's secret as read at init: the SDK configuration built to read it (the function reuses it),
/// the reader (kept for refreshes) and the values.
pub struct LoadedBundle {
    pub sdk: aws_types::SdkConfig,
    pub bundle: std::sync::Arc<SecretsBundle>,
    pub values: std::collections::HashMap<String, String>,
}

/// The stack's secret could not be read at init.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error(transparent)]
    Aws(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Read(#[from] SecretsError),
}

/// Reads the secret named by [`BUNDLE_VAR`] in `env`, once, at init; `None` when the variable is not set.
/// `env` also gives the refresh interval ([`REFRESH_VAR`]).
pub async fn bundle_from_env(
    http: &reqwest::Client,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<LoadedBundle>, BundleError> {
    let Some(arn) = crate::config::non_empty(env, BUNDLE_VAR) else {
        return Ok(None);
    };
    let sdk = super::sdk_config(http, env)?;
    let interval = crate::config::non_empty(env, REFRESH_VAR)
        .and_then(|v| v.parse::<u64>().ok())
        .map_or(BUNDLE_REFRESH_INTERVAL, Duration::from_secs);
    let bundle = std::sync::Arc::new(SecretsBundle::new(secrets_client(&sdk), arn, interval));
    let values = bundle.read().await?;
    Ok(Some(LoadedBundle { sdk, bundle, values }))
}

/// A lookup that answers the plaintext variables of [`BUNDLE_KEYS`] from `bundle` when the environment
/// does not set them (the environment wins, so an explicit variable overrides the bundle), and says
/// which values came from the bundle (`SLACK_SECRETS_ARN:<variable>` answers `"1"`).
pub fn with_bundle<'a>(
    env: &'a dyn Fn(&str) -> Option<String>,
    bundle: &'a std::collections::HashMap<String, String>,
) -> impl Fn(&str) -> Option<String> + 'a {
    move |name: &str| {
        let from_bundle =
            |var: &str| BUNDLE_KEYS.iter().find(|(_, v)| *v == var).and_then(|(key, _)| bundle.get(*key)).cloned();
        if let Some(var) = name.strip_prefix("SLACK_SECRETS_ARN:") {
            let env_set = crate::config::non_empty(env, var).is_some();
            return (!env_set && from_bundle(var).is_some()).then(|| "1".to_owned());
        }
        crate::config::non_empty(env, name).or_else(|| from_bundle(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bundle_is_an_object_of_strings_and_the_environment_wins() {
        let bundle = parse_bundle(r#"{"signing_secret": "s3cret", "bot_token": "", "webhook_url": null}"#).unwrap();
        assert_eq!(bundle.len(), 1);
        assert!(parse_bundle(r#"{"signing_secret": 5}"#).is_err());
        assert!(parse_bundle("[]").is_err());
        let env = crate::config::test_lookup(&[("SLACK_BOT_TOKEN", "xoxb-env")]);
        let bundle = parse_bundle(r#"{"signing_secret": "s3cret", "bot_token": "xoxb-bundle"}"#).unwrap();
        let lookup = with_bundle(&env, &bundle);
        assert_eq!(lookup("SLACK_SIGNING_SECRET").as_deref(), Some("s3cret"));
        assert_eq!(lookup("SLACK_SECRETS_ARN:SLACK_SIGNING_SECRET").as_deref(), Some("1"));
        assert_eq!(lookup("SLACK_BOT_TOKEN").as_deref(), Some("xoxb-env"));
        assert_eq!(lookup("SLACK_SECRETS_ARN:SLACK_BOT_TOKEN"), None);
        assert_eq!(lookup("SLACK_WEBHOOK_URL"), None);
    }
}
