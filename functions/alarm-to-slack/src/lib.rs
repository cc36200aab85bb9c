//! alarm-to-slack: CloudWatch alarms (SNS, EventBridge, direct alarm actions) and other notifications
//! to a Slack incoming webhook. Every record is delivered, or the invocation fails so that Lambda's
//! retries and the on-failure destination keep the message.

use std::time::{Duration, Instant};

use chatops_shared::aws::kms::{CachedSecret, SecretError};
use chatops_shared::notify::{CodeDeploySettings, MessageDefaults, UnrecognisedEvent, notifications_from_event};
use chatops_shared::secret::{ConfigError, SecretSource};
use chatops_shared::slack::webhook::{DeliveryError, RetryPolicy, SlackPoster};
use lambda_runtime::{Diagnostic, LambdaEvent};
use serde_json::{Value, json};

pub const KMS_WEBHOOK_VAR: &str = "KMS_ENCRYPTED_SLACK_WEBHOOK_URL";
pub const PLAIN_WEBHOOK_VAR: &str = "SLACK_WEBHOOK_URL";

/// The function's settings, read once from the environment (the names are the contract).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    pub webhook: SecretSource,
    pub defaults: MessageDefaults,
    /// `AWS_LAMBDA_FUNCTION_NAME`: the KMS encryption context.
    pub function_name: Option<String>,
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(&chatops_shared::secret::process_env)
    }

    pub fn from_lookup(lookup: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let opt = |name: &str| chatops_shared::secret::non_empty(lookup, name);
        Ok(Self {
            webhook: SecretSource::from_lookup(KMS_WEBHOOK_VAR, PLAIN_WEBHOOK_VAR, lookup)?,
            defaults: MessageDefaults {
                channel: opt("SLACK_CHANNEL"),
                username: opt("SLACK_USERNAME"),
                icon_emoji: opt("SLACK_ICON_EMOJI"),
                codedeploy: CodeDeploySettings::parse(
                    opt(CodeDeploySettings::GROUPS_VAR).as_deref(),
                    opt(CodeDeploySettings::GREEN_URLS_VAR).as_deref(),
                )?,
            },
            function_name: opt("AWS_LAMBDA_FUNCTION_NAME"),
        })
    }

    pub fn needs_kms(&self) -> bool {
        matches!(self.webhook, SecretSource::Kms { .. })
    }
}

/// The blueprint's convention is a URL without a scheme (`hooks.slack.com/services/...`).
pub fn normalise_webhook_url(url: String) -> String {
    let trimmed = url.trim();
    if trimmed.starts_with("https://") || trimmed.starts_with("http://") {
        trimmed.to_owned()
    } else {
        format!("https://{trimmed}")
    }
}

/// What a container keeps between invocations.
pub struct Deps {
    pub defaults: MessageDefaults,
    pub webhook_url: CachedSecret,
    pub poster: SlackPoster,
}

impl Deps {
    pub fn new(config: Config, kms: Option<aws_sdk_kms::Client>, http: reqwest::Client, policy: RetryPolicy) -> Self {
        Self {
            webhook_url: CachedSecret::new(config.webhook, kms, config.function_name)
                .with_transform(normalise_webhook_url),
            defaults: config.defaults,
            poster: SlackPoster::new(http, policy),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error(transparent)]
    Unrecognised(#[from] UnrecognisedEvent),
    #[error("{failed} of {total} messages were not delivered to Slack; first failure: {first}")]
    Delivery { failed: usize, total: usize, first: DeliveryError },
}

impl From<HandlerError> for Diagnostic {
    fn from(err: HandlerError) -> Self {
        let error_type = match &err {
            HandlerError::Config(_) => "ConfigError",
            HandlerError::Secret(_) => "SecretError",
            HandlerError::Unrecognised(_) => "UnrecognisedEvent",
            HandlerError::Delivery { .. } => "SlackDeliveryFailed",
        };
        Diagnostic { error_type: error_type.to_owned(), error_message: err.to_string() }
    }
}

/// Parses the event, renders every notification and delivers each one. Returns a summary.
pub async fn handle(deps: &Deps, event: LambdaEvent<Value>) -> Result<Value, HandlerError> {
    // The Slack poster keeps its own reserve before this deadline.
    let deadline = chatops_shared::invocation_deadline(event.context.deadline, Duration::ZERO);
    let notifications = notifications_from_event(&event.payload).inspect_err(|err| {
        tracing::error!(error = %err, "event not recognised");
    })?;
    // Render before waiting for the webhook: on a cold start its decryption is still in flight.
    let bodies: Vec<_> = notifications.iter().map(|n| n.to_slack(&deps.defaults)).collect();
    let url = deps.webhook_url.get().await?;
    let total = notifications.len();
    let mut delivered = 0;
    let mut first_failure = None;
    for (notification, body) in notifications.iter().zip(&bodies) {
        let started = Instant::now();
        match deps.poster.post(url, body, deadline).await {
            Ok(d) => {
                delivered += 1;
                tracing::info!(
                    outcome = "delivered",
                    alarm = %notification.label(),
                    state = notification.state(),
                    attempts = d.attempts,
                    latency_ms = d.latency.as_millis() as u64,
                    "message delivered to Slack"
                );
            }
            Err(err) => {
                tracing::error!(
                    outcome = "failed",
                    alarm = %notification.label(),
                    state = notification.state(),
                    attempts = err.attempts(),
                    latency_ms = started.elapsed().as_millis() as u64,
                    error = %err,
                    "message NOT delivered to Slack"
                );
                first_failure.get_or_insert(err);
            }
        }
    }
    match first_failure {
        None => Ok(json!({ "delivered": delivered })),
        Some(first) => Err(HandlerError::Delivery { failed: total - delivered, total, first }),
    }
}
