//! Notifications to chat (the notifier function's flow): CloudWatch alarms (SNS, EventBridge, direct
//! alarm actions), AWS service events and Alertmanager groups to Slack, through an incoming webhook or,
//! with a bot token, the Web API: one message per alarm lifecycle, routed to the owning team's channel,
//! each notification posted once (state table), paced per channel, and a live digest in an alarm storm.
//! Every record is delivered, or the invocation fails so that Lambda's retries and the on-failure
//! destination keep the message.
//!
//! [`Config`] reads the notifier's settings (the variable names are the contract); [`Deps`] is what a
//! container keeps; [`deliver_all`] delivers one invocation's notifications; [`deliver`] the one
//! notification (claim, lifecycle, post or update) and, in its part [`storm`], pacing and the digest, [`alertmanager`]
//! the `POST /alertmanager` route.

pub mod alertmanager;
pub mod deliver;

use std::time::Duration;

use lambda_http::Context;
use lambda_http::lambda_runtime::Diagnostic;
use serde_json::{Value, json};

use crate::aws::kms::{CachedSecret, SecretError};
use crate::chat::{PLATFORM_VAR, Platform};
use crate::config::{ConfigError, SecretSource};
use crate::http::RetryPolicy;
use crate::notify::routing::{ROUTES_VAR, Routes};
use crate::notify::{CodeDeploySettings, MessageDefaults, Severity, UnrecognisedEvent};
use crate::slack::api::{ApiError, SlackApi};
use crate::slack::webhook::{DeliveryError, SlackPoster};
use crate::state::StateTable;

pub use deliver::Outcome;
pub use deliver::storm::{self, StormSettings};

pub const KMS_WEBHOOK_VAR: &str = "KMS_ENCRYPTED_SLACK_WEBHOOK_URL";
pub const PLAIN_WEBHOOK_VAR: &str = "SLACK_WEBHOOK_URL";
pub const RETENTION_VAR: &str = "STATE_RETENTION_DAYS";
pub const MIN_SEVERITY_VAR: &str = "FINDINGS_MIN_SEVERITY";
pub const KMS_ALERTMANAGER_TOKEN_VAR: &str = "KMS_ENCRYPTED_ALERTMANAGER_TOKEN";
pub const PLAIN_ALERTMANAGER_TOKEN_VAR: &str = "ALERTMANAGER_TOKEN";

/// How messages reach Slack.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Destination {
    /// An incoming webhook: one channel, chosen when the webhook was made; every notification a new message.
    Webhook(SecretSource),
    /// The Web API with a bot token: any channel the app is in, messages updated in place.
    WebApi { token: SecretSource, api_url: String },
}

/// The function's settings, read once from the environment (the names are the contract).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    pub destination: Destination,
    pub defaults: MessageDefaults,
    pub routes: Routes,
    /// `STATE_TABLE`: the DynamoDB table for lifecycles and exactly-once posting.
    pub state_table: Option<String>,
    /// How long records are kept after the last state change that is not ALARM.
    pub retention: Duration,
    /// `AWS_LAMBDA_FUNCTION_NAME`: the KMS encryption context.
    pub function_name: Option<String>,
    /// `FINDINGS_MIN_SEVERITY`: GuardDuty and Security Hub findings below it are not posted.
    pub min_finding_severity: Option<Severity>,
    /// The bearer token Alertmanager sends to `POST /alertmanager`; without it that route refuses everything.
    pub alertmanager_token: Option<SecretSource>,
    /// `CHAT_PLATFORM`: what the webhook is (Slack, Mattermost, Teams, Discord). `None`: read from the
    /// webhook URL's host once it is decrypted, Slack when the host does not say.
    pub platform: Option<Platform>,
    /// Pacing and the storm digest (`STORM_*`); they need the state table.
    pub storm: StormSettings,
    /// `ACCOUNT_NAMES` and `ORGANIZATIONS_LOOKUP`: the names messages show beside account IDs.
    pub accounts: crate::aws::accounts::AccountsConfig,
    /// `METRIC_GRAPHS` (default true): CloudWatch metric alarms get their graph, with a bot token.
    pub graphs: bool,
    /// `CROSS_ACCOUNT_OBSERVABILITY` (default false): the stack's account is a monitoring account, so
    /// its source accounts' metrics can be drawn and their logs read.
    pub cross_account: bool,
    /// `ALARM_LOG_GROUPS`: where alarms' logs are, for [Show logs] (bot-token mode); `None` with
    /// `SHOW_LOGS=false`.
    pub log_groups: Option<crate::notify::logs::LogGroups>,
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(&crate::config::process_env)
    }

    pub fn from_lookup(lookup: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let opt = |name: &str| crate::config::non_empty(lookup, name);
        let channel = opt("SLACK_CHANNEL");
        let routes = Routes::parse(opt(ROUTES_VAR).as_deref(), channel.clone())?;
        // The token wins when both are set: the Web API can do everything the webhook can.
        let destination = match crate::config::bot_token(lookup)? {
            Some(token) => {
                let api_url = crate::config::api_url(lookup)?;
                if !routes.covers_everything() {
                    return Err(ConfigError::Missing {
                        var: "SLACK_CHANNEL",
                        hint: "with a bot token every message needs a channel: set SLACK_CHANNEL to a channel ID, or end SLACK_ROUTES with a rule that has only a channel",
                    });
                }
                Destination::WebApi { token, api_url }
            }
            None => match SecretSource::from_lookup(KMS_WEBHOOK_VAR, PLAIN_WEBHOOK_VAR, lookup) {
                Ok(url) => Destination::Webhook(url),
                Err(_) => {
                    return Err(ConfigError::MissingAlternatives {
                        var: crate::config::BOT_TOKEN_KMS_VAR,
                        alternatives: &[
                            "KMS_ENCRYPTED_SLACK_BOT_TOKEN (base64 KMS ciphertext) or SLACK_BOT_TOKEN (plaintext, local runs) for the Web API",
                            "KMS_ENCRYPTED_SLACK_WEBHOOK_URL (base64 KMS ciphertext) or SLACK_WEBHOOK_URL (plaintext, local runs) for an incoming webhook",
                        ],
                    });
                }
            },
        };
        let retention_days = match opt(RETENTION_VAR) {
            None => 7,
            Some(v) => v.parse::<u64>().ok().filter(|d| (1..=365).contains(d)).ok_or_else(|| ConfigError::Invalid {
                var: RETENTION_VAR,
                problem: "must be a whole number of days from 1 to 365".into(),
            })?,
        };
        let min_finding_severity = match opt(MIN_SEVERITY_VAR) {
            None => None,
            Some(v) => Some(Severity::parse(&v).filter(|s| *s >= Severity::Low).ok_or_else(|| {
                ConfigError::Invalid { var: MIN_SEVERITY_VAR, problem: "must be LOW, MEDIUM, HIGH or CRITICAL".into() }
            })?),
        };
        let platform = match opt(PLATFORM_VAR) {
            None => None,
            Some(v) => Some(Platform::parse(&v).ok_or_else(|| ConfigError::Invalid {
                var: PLATFORM_VAR,
                problem: "must be slack, mattermost, teams or discord".into(),
            })?),
        };
        if matches!(destination, Destination::WebApi { .. }) && platform.is_some_and(|p| p != Platform::Slack) {
            return Err(ConfigError::Invalid {
                var: PLATFORM_VAR,
                problem: "a bot token posts through Slack's Web API: other platforms take a webhook URL (SLACK_WEBHOOK_URL / KMS_ENCRYPTED_SLACK_WEBHOOK_URL) and no bot token".into(),
            });
        }
        let alertmanager_token =
            SecretSource::from_lookup(KMS_ALERTMANAGER_TOKEN_VAR, PLAIN_ALERTMANAGER_TOKEN_VAR, lookup).ok();
        let storm = StormSettings::from_lookup(&opt)?;
        let accounts = crate::aws::accounts::AccountsConfig::from_lookup(lookup)?;
        let graphs = crate::aws::graphs::switch(lookup, crate::aws::graphs::GRAPHS_VAR, true)?;
        let cross_account = crate::aws::graphs::switch(lookup, crate::aws::graphs::CROSS_ACCOUNT_VAR, false)?;
        let log_groups = crate::notify::logs::LogGroups::configured(lookup)?;
        Ok(Self {
            graphs,
            cross_account,
            log_groups,
            storm,
            accounts,
            alertmanager_token,
            platform,
            min_finding_severity,
            destination,
            defaults: MessageDefaults {
                channel,
                username: opt("SLACK_USERNAME"),
                icon_emoji: opt("SLACK_ICON_EMOJI"),
                codedeploy: CodeDeploySettings::parse(
                    opt(CodeDeploySettings::GROUPS_VAR).as_deref(),
                    opt(CodeDeploySettings::GREEN_URLS_VAR).as_deref(),
                )?,
                mutable_alarms: crate::notify::mutable_alarms(lookup),
                silences: opt(crate::silences::URL_VAR).is_some(),
            },
            routes,
            state_table: crate::config::state_table(lookup),
            retention: Duration::from_secs(retention_days * 86_400),
            function_name: opt("AWS_LAMBDA_FUNCTION_NAME"),
        })
    }

    /// A secret in use (the token when set, else the webhook; the Alertmanager token) is a KMS ciphertext.
    pub fn needs_kms(&self) -> bool {
        let source = match &self.destination {
            Destination::Webhook(url) => url,
            Destination::WebApi { token, .. } => token,
        };
        source.is_kms() || self.alertmanager_token.as_ref().is_some_and(SecretSource::is_kms)
    }

    /// The AWS SDK is needed: for KMS, the state table or AWS Organizations. Graphs use it when it can
    /// be configured, and are left out when it cannot (a local run without AWS credentials).
    pub fn needs_sdk(&self) -> bool {
        self.needs_kms() || self.state_table.is_some() || self.accounts.lookup
    }

    /// Graphs are drawn: they are on, and messages go through the Web API or a Discord webhook (other
    /// webhooks cannot carry an image; a webhook whose platform its URL tells is known once decrypted).
    pub fn draws_graphs(&self) -> bool {
        self.graphs
            && match &self.destination {
                Destination::WebApi { .. } => true,
                Destination::Webhook(source) => match (self.platform, source) {
                    (Some(platform), _) => platform == Platform::Discord,
                    // A webhook in plain text or from the bundle tells its host now; a KMS one once decrypted.
                    (None, SecretSource::Plain { value, .. } | SecretSource::Bundle { value, .. }) => {
                        Platform::from_webhook_url(value.expose()) == Some(Platform::Discord)
                    }
                    (None, SecretSource::Kms { .. }) => true,
                },
            }
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

/// Where messages go, with the secret that opens the way.
pub enum Sink {
    Webhook { url: CachedSecret, poster: SlackPoster },
    WebApi { token: CachedSecret, api: SlackApi },
}

impl Sink {
    pub fn secret(&self) -> &CachedSecret {
        match self {
            Self::Webhook { url, .. } => url,
            Self::WebApi { token, .. } => token,
        }
    }

    /// Lets a value from the secrets bundle (`SLACK_SECRETS_ARN`) be read again when it is refused.
    pub fn use_bundle(&mut self, bundle: &std::sync::Arc<crate::aws::secrets::SecretsBundle>) {
        match self {
            Self::Webhook { url, .. } => url.set_bundle(Some(bundle.clone())),
            Self::WebApi { token, .. } => token.set_bundle(Some(bundle.clone())),
        }
    }
}

/// What a container keeps between invocations.
pub struct Deps {
    pub defaults: MessageDefaults,
    pub routes: Routes,
    pub sink: Sink,
    pub state: Option<StateTable>,
    /// The state table for a storm digest's holder: longer timeouts (see [`StateTable::patient`]).
    pub patient_state: Option<StateTable>,
    pub retention: Duration,
    pub min_finding_severity: Option<Severity>,
    pub platform: Option<Platform>,
    pub alertmanager_token: Option<CachedSecret>,
    pub storm: StormSettings,
    /// Channels this container saw in a storm, until when (epoch ms): their alarms go straight to the
    /// digest, without the lifecycle's lease or a try for a post slot (two writes fewer each).
    pub storms_seen: std::sync::Mutex<std::collections::HashMap<String, i64>>,
    /// Lifecycles whose message this container posted or updated (up to 1,000): their next update takes
    /// its slot beside the claim.
    pub messages_seen: std::sync::Mutex<std::collections::HashSet<String>>,
    /// Account names (`ACCOUNT_NAMES`; AWS Organizations once [`Deps::use_organizations`] is called).
    pub accounts: crate::aws::accounts::AccountNames,
    /// Alarm graphs (`METRIC_GRAPHS`), once [`Deps::use_graphs`] is called: bot-token mode only.
    pub graphs: Option<crate::aws::graphs::Graphs>,
    /// `ALARM_LOG_GROUPS` and `CROSS_ACCOUNT_OBSERVABILITY`: which alarms get [Show logs] (none with
    /// `SHOW_LOGS=false`).
    pub log_groups: Option<crate::notify::logs::LogGroups>,
    pub cross_account: bool,
}

impl Deps {
    /// This container saw `scope` in a storm that may still go on at `now_ms`.
    fn in_storm(&self, scope: &str, now_ms: i64) -> bool {
        self.storms_seen.lock().ok().and_then(|seen| seen.get(scope).copied()).is_some_and(|until| until > now_ms)
    }

    /// This container posted or updated lifecycle `key`'s message.
    pub(crate) fn knows_message(&self, key: &str) -> bool {
        self.messages_seen.lock().is_ok_and(|seen| seen.contains(key))
    }

    pub(crate) fn saw_message(&self, key: &str) {
        if let Ok(mut seen) = self.messages_seen.lock() {
            if seen.len() >= 1_000 {
                seen.clear(); // a hint, not a record: forgetting costs a round trip at most
            }
            seen.insert(key.to_owned());
        }
    }

    pub(crate) fn saw_storm(&self, scope: &str, until_ms: i64) {
        if let Ok(mut seen) = self.storms_seen.lock() {
            seen.insert(scope.to_owned(), until_ms);
        }
    }
}

impl Deps {
    pub fn new(
        config: Config,
        kms: Option<aws_sdk_kms::Client>,
        dynamodb: Option<aws_sdk_dynamodb::Client>,
        http: reqwest::Client,
        policy: RetryPolicy,
    ) -> Self {
        let alertmanager_token =
            config.alertmanager_token.map(|t| CachedSecret::new(t, kms.clone(), config.function_name.clone()));
        let sink = match config.destination {
            Destination::Webhook(url) => {
                if !config.routes.is_empty() {
                    tracing::warn!(
                        "SLACK_ROUTES is set but messages go through an incoming webhook, which posts to its own channel: the routes' channels are ignored (their mentions still apply); set a bot token to route"
                    );
                }
                Sink::Webhook {
                    url: CachedSecret::new(url, kms, config.function_name).with_transform(normalise_webhook_url),
                    poster: SlackPoster::new(http, policy),
                }
            }
            Destination::WebApi { token, api_url } => Sink::WebApi {
                token: CachedSecret::new(token, kms, config.function_name),
                api: SlackApi::new(http, &api_url, policy),
            },
        };
        let state = match (config.state_table, dynamodb) {
            (Some(table), Some(client)) => Some(StateTable::new(client, table)),
            _ => {
                tracing::info!(
                    "no STATE_TABLE: every notification is posted as a new message, and a redelivered one is posted again"
                );
                None
            }
        };
        Self {
            defaults: config.defaults,
            routes: config.routes,
            sink,
            patient_state: state.as_ref().map(StateTable::patient),
            state,
            retention: config.retention,
            min_finding_severity: config.min_finding_severity,
            platform: config.platform,
            alertmanager_token,
            storm: config.storm,
            storms_seen: Default::default(),
            messages_seen: Default::default(),
            accounts: crate::aws::accounts::AccountNames::new(config.accounts.names),
            graphs: None,
            log_groups: config.log_groups,
            cross_account: config.cross_account,
        }
    }
}

impl Deps {
    /// Names the accounts `ACCOUNT_NAMES` does not from AWS Organizations (`ORGANIZATIONS_LOOKUP=true`).
    pub fn use_organizations(&mut self, client: aws_sdk_organizations::Client) {
        self.accounts.use_organizations(client);
    }

    /// Draws alarm graphs with `cloudwatch` (the caller checks [`Config::graphs`]).
    pub fn use_graphs(&mut self, cloudwatch: aws_sdk_cloudwatch::Client, cross_account: bool) {
        self.graphs = Some(crate::aws::graphs::Graphs::new(cloudwatch, cross_account));
    }

    /// Lets the values from the stack's secret (`SLACK_SECRETS_ARN`) be read again when refused.
    pub fn use_bundle(&mut self, bundle: &std::sync::Arc<crate::aws::secrets::SecretsBundle>) {
        self.sink.use_bundle(bundle);
        if let Some(token) = &mut self.alertmanager_token {
            token.set_bundle(Some(bundle.clone()));
        }
    }
}

/// Why a message could not be posted: through the webhook, or through the Web API.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PostError {
    #[error(transparent)]
    Webhook(#[from] DeliveryError),
    #[error(transparent)]
    Api(#[from] ApiError),
    /// A storm digest line was recorded but could not be shown (the state table failed meanwhile, or
    /// the invocation's time ran out): Lambda's retry shows it.
    #[error("storm digest not shown: {0}")]
    Digest(String),
    /// The digest's lines could not all be shown before the deadline.
    #[error("storm digest not shown: {0}")]
    Exhausted(String),
}

impl PostError {
    pub fn attempts(&self) -> u32 {
        match self {
            Self::Webhook(e) => e.attempts(),
            Self::Api(e) => e.attempts(),
            Self::Digest(_) | Self::Exhausted(_) => 0,
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
    Delivery { failed: usize, total: usize, first: PostError },
}

/// Slack refused the credential itself: a revoked or rotated token, a deleted webhook.
fn secret_refused(err: &PostError) -> bool {
    match err {
        PostError::Api(e) => e.is_credential_refused(),
        PostError::Webhook(crate::slack::webhook::DeliveryError::Rejected { status, .. }) => {
            matches!(status, 403 | 404 | 410)
        }
        PostError::Webhook(_) | PostError::Digest(_) | PostError::Exhausted(_) => false,
    }
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

/// Re-drives the failure queue: each message (Lambda's record of an invocation that failed after its
/// retries) is delivered as its original event was, and is answered as a batch item failure when it
/// cannot be, so SQS keeps it. Run by the template's re-drive mapping, off until someone turns it on
/// (docs/operating.md). Exactly once still holds: a notification that did reach Slack
/// before the failure is skipped, by its original delivery ID.
pub async fn redrive_all(
    deps: &Deps,
    records: Vec<crate::notify::envelope::FailedInvocation>,
    context: &Context,
) -> Value {
    let mut failures = Vec::new();
    let (mut delivered, mut skipped) = (0, 0);
    for record in records {
        let unread = |why: String| {
            crate::metrics::count(crate::metrics::Metric::Failed, 1);
            Err(why)
        };
        let outcome = match &record.payload {
            None => unread("not a record of Lambda's on-failure destination (no requestPayload)".to_owned()),
            Some(payload) => match crate::notify::incoming_from_event(payload) {
                Err(err) => unread(err.to_string()),
                Ok(mut incoming) => match Box::pin(deliver_all(deps, &mut incoming, context)).await {
                    Ok(summary) => Ok(summary),
                    // A failed delivery counted its notifications; a secret that could not be read did not.
                    Err(err @ HandlerError::Delivery { .. }) => Err(err.to_string()),
                    Err(err) => unread(err.to_string()),
                },
            },
        };
        match outcome {
            Ok(summary) => {
                delivered += summary["delivered"].as_u64().unwrap_or(0);
                skipped += summary["skipped"].as_u64().unwrap_or(0);
                tracing::info!(message_id = %record.message_id, %summary, "failure queue: re-driven");
            }
            Err(error) => {
                tracing::error!(message_id = %record.message_id, %error, "failure queue: not delivered, kept in the queue");
                failures.push(json!({ "itemIdentifier": record.message_id }));
            }
        }
    }
    tracing::info!(delivered, skipped, kept = failures.len(), "failure queue batch done");
    json!({ "batchItemFailures": failures })
}

/// Gives each notification its account's name, where one is known or found in time.
async fn name_accounts(deps: &Deps, incoming: &mut [crate::notify::Incoming]) {
    if !deps.accounts.is_active() {
        return;
    }
    let ids: Vec<String> =
        incoming.iter().filter_map(|i| i.notification.account().map(|(id, _)| id.to_owned())).collect();
    if ids.is_empty() {
        return;
    }
    let names = deps.accounts.names(ids.iter().map(String::as_str)).await;
    for i in incoming.iter_mut() {
        let name = i.notification.account().and_then(|(id, _)| names.get(id).cloned());
        if let Some(name) = name {
            i.notification.set_account_name(name);
        }
    }
}

/// Delivers every notification of one invocation, each once, and sums up.
pub async fn deliver_all(
    deps: &Deps,
    incoming: &mut [crate::notify::Incoming],
    context: &Context,
) -> Result<Value, HandlerError> {
    name_accounts(deps, incoming).await;
    let mut run = deliver::Run::new(deps, context);
    // Render before waiting for the secret: on a cold start its decryption is still in flight.
    let planned: Vec<_> = incoming.iter().map(|i| run.plan(i)).collect();
    let secret = deps.sink.secret().get().await?;
    let total = incoming.len();
    let (mut delivered, mut skipped, mut ignored, mut digested) = (0, 0, 0, 0);
    let mut first_failure = None;
    for (index, plan) in planned.iter().enumerate() {
        match run.deliver(plan, &secret, index).await {
            Ok(Outcome::Skipped) => skipped += 1,
            Ok(Outcome::Ignored) => ignored += 1,
            Ok(outcome) => {
                delivered += 1;
                digested += u64::from(outcome == Outcome::Digested);
            }
            Err(err) => {
                first_failure.get_or_insert(err);
            }
        }
    }
    // Every message is out: now their graphs, a moment later each.
    run.draw_graphs(&planned, &secret).await;
    {
        use crate::metrics::{Metric, count};
        count(Metric::Delivered, delivered as u64);
        count(Metric::SkippedDuplicates, skipped as u64);
        count(Metric::Ignored, ignored as u64);
        count(Metric::DigestEntries, digested);
        count(Metric::Failed, (total - delivered - skipped - ignored) as u64);
    }
    // A token or webhook that stopped working may have been rotated in the secrets bundle: read it again,
    // so Lambda's retry of this invocation (the alarm is not lost) uses the new value.
    if first_failure.as_ref().is_some_and(secret_refused) && deps.sink.secret().refresh().await.is_some() {
        tracing::warn!("Slack refused the credential; the secrets bundle had a new value, used from the next attempt");
    }
    match first_failure {
        None => {
            let mut summary = json!({ "delivered": delivered });
            for (key, count) in [("skipped", skipped), ("ignored", ignored)] {
                if count > 0 {
                    summary[key] = json!(count);
                }
            }
            Ok(summary)
        }
        Some(first) => Err(HandlerError::Delivery { failed: total - delivered - skipped - ignored, total, first }),
    }
}
