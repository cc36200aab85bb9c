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
                .operation_attempt_timeout(Duration::from_millis(800))
                .operation_timeout(Duration::from_millis(1500))
                .build(),
        )
        .retry_config(aws_sdk_secretsmanager::config::retry::RetryConfig::standard().with_max_attempts(2))
        .build();
    aws_sdk_secretsmanager::Client::from_conf(config)
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
        let arn = || self.arn.clone();
        let output = self
            .client
            .get_secret_value()
            .secret_id(&self.arn)
            .send()
            .await
            .map_err(|e| SecretsError::Read { arn: arn(), detail: DisplayErrorContext(e).to_string() })?;
        let text = output.secret_string().ok_or_else(|| SecretsError::NotText { arn: arn() })?;
        (self.parse)(text).map_err(|problem| SecretsError::Parse { arn: arn(), problem })
    }
}
