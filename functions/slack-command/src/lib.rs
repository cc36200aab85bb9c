//! slack-command: the Slack-facing HTTP function behind API Gateway (REST or HTTP API) or a function URL.
//! Its routing: the deploy pipeline's callback (`/deploy/notify`, its own bearer token), then the Slack
//! signature over the raw body, checked first for everything else; the Events API (`/slack/events`,
//! de-duplicated by event ID rather than refused as a replay); then the replay check and the form
//! (slash commands and button clicks). The flows themselves live in `chatops_shared::flows`. Every
//! request gets an HTTP answer: 401 for anything unsigned, 400 for a body that is neither a slash
//! command nor an interaction, 200 with a message for everything else.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chatops_shared::aws::kms::CachedSecret;
use chatops_shared::aws::scheduler::{Scheduler, SchedulerConfig};
use chatops_shared::aws::secrets::SecretsBundle;
use chatops_shared::commands::Services;
use chatops_shared::config::{ConfigError, SecretSource};
use chatops_shared::flows::alerts::AlarmMuting;
use chatops_shared::flows::deploys::{self, DeployConfig, DeployDeps};
use chatops_shared::flows::incidents::{IncidentConfig, IncidentDeps, Trackers};
use chatops_shared::flows::requests::{first_arrival, handle_events, handle_form};
use chatops_shared::flows::timers::{fire, timer_from_event};
use chatops_shared::governance::{AccessPolicy, Governance, Policy};
use chatops_shared::http::gateway::{request_from_event, response_to_event, text_response};
use chatops_shared::notify::CodeDeploySettings;
use chatops_shared::silences::{SilenceApi, SilenceConfig};
use chatops_shared::slack::api::SlackApi;
use chatops_shared::slack::bot::Bot;
use chatops_shared::slack::form::parse_form;
use chatops_shared::slack::signature::{SignatureError, verify_slack_signature};
use chatops_shared::state::StateTable;
use lambda_http::{Body, Request, Response};
use lambda_runtime::LambdaEvent;
use serde_json::Value;
use serde_json::value::RawValue;

pub use chatops_shared::flows::requests::{DEFAULT_BUDGET, RESPONSE_RESERVE, SlackApp as Deps, response_url_policy};

pub const KMS_SECRET_VAR: &str = "KMS_ENCRYPTED_SLACK_SIGNING_SECRET";
pub const PLAIN_SECRET_VAR: &str = "SLACK_SIGNING_SECRET";

/// The function's settings, read once from the environment (the names are the contract).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    pub signing_secret: SecretSource,
    pub policy: AccessPolicy,
    pub codedeploy: CodeDeploySettings,
    pub function_name: Option<String>,
    /// Deploy by mention, when `DEPLOY_TARGETS_SECRET_ARN` is set.
    pub deploys: Option<DeployConfig>,
    /// The state table (`STATE_TABLE`): with it, a signed request is accepted once (no replays).
    pub state_table: Option<String>,
    /// `CHATOPS_POLICY`: who may request which change, and which need approval. `None`: the access list alone.
    pub rules: Option<Policy>,
    /// The bot token, for deploys, approval requests and user groups.
    pub bot_token: Option<SecretSource>,
    pub api_url: String,
    /// `INCIDENTS_CHANNEL`, `INCIDENT_RESPONDERS`: incidents work whenever the bot token and the state table are set.
    pub incidents: IncidentConfig,
    /// `REPORT_CHANNEL`, `REPORT_TEAM_CHANNELS`: where the scheduled operations report goes.
    pub reports: chatops_shared::flows::reports::ReportConfig,
    /// `SCHEDULE_GROUP`, `SCHEDULER_ROLE_ARN`, `SCHEDULE_TARGET_ARN`: one-time schedules for what happens
    /// later without a click (unmutes, approval expiries, deploy timeouts).
    pub scheduler: Option<SchedulerConfig>,
    /// `MUTABLE_ALARMS`: the CloudWatch alarms [Mute] may mute.
    pub mutable_alarms: Vec<String>,
    /// `ALERTMANAGER_URL` and its credentials: [Silence 1 h] on Alertmanager groups.
    pub silences: Option<SilenceConfig>,
    /// `ALARM_LOG_GROUPS`: where alarms' logs are, for [Show logs]; `None` with `SHOW_LOGS=false`.
    pub log_groups: Option<chatops_shared::notify::logs::LogGroups>,
    /// `CROSS_ACCOUNT_OBSERVABILITY`: source accounts' log groups may be queried.
    pub cross_account: bool,
}

impl Config {
    /// Some configured secret is a KMS ciphertext: the function needs a KMS client.
    pub fn needs_kms(&self) -> bool {
        self.signing_secret.is_kms()
            || (self.rules.is_some() || self.deploys.is_some() || self.state_table.is_some())
                && self.bot_token.as_ref().is_some_and(SecretSource::is_kms)
            || self.deploys.as_ref().is_some_and(|d| d.notify_token.as_ref().is_some_and(SecretSource::is_kms))
    }

    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(&chatops_shared::config::process_env)
    }

    pub fn from_lookup(lookup: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let opt = |name: &str| chatops_shared::config::non_empty(lookup, name);
        let state_table = chatops_shared::config::state_table(lookup);
        let bot_token = chatops_shared::config::bot_token(lookup)?;
        let rules = chatops_shared::governance::policy_from_lookup(lookup, bot_token.is_some(), state_table.is_some())?;
        let incidents = IncidentConfig::from_lookup(lookup, bot_token.is_some(), state_table.is_some())?;
        let reports = chatops_shared::flows::reports::ReportConfig::from_lookup(lookup, bot_token.is_some())?;
        Ok(Self {
            log_groups: chatops_shared::notify::logs::LogGroups::configured(lookup)?,
            cross_account: chatops_shared::aws::graphs::switch(
                lookup,
                chatops_shared::aws::graphs::CROSS_ACCOUNT_VAR,
                false,
            )?,
            incidents,
            reports,
            scheduler: SchedulerConfig::from_lookup(lookup)?,
            mutable_alarms: chatops_shared::notify::mutable_alarms(lookup),
            silences: SilenceConfig::from_lookup(lookup)?,
            rules,
            bot_token,
            api_url: chatops_shared::config::api_url(lookup)?,
            signing_secret: SecretSource::from_lookup(KMS_SECRET_VAR, PLAIN_SECRET_VAR, lookup)?,
            policy: AccessPolicy {
                team_id: opt("SLACK_TEAM_ID"),
                allowed_users: AccessPolicy::parse_users(opt("SLACK_ALLOWED_USERS").as_deref()),
            },
            codedeploy: CodeDeploySettings::parse(opt(CodeDeploySettings::GROUPS_VAR).as_deref(), None)?,
            function_name: opt("AWS_LAMBDA_FUNCTION_NAME"),
            deploys: DeployConfig::from_lookup(lookup)?,
            state_table,
        })
    }
}

/// The AWS clients the commands and actions call.
pub struct AwsClients {
    pub autoscaling: aws_sdk_autoscaling::Client,
    pub codedeploy: aws_sdk_codedeploy::Client,
    /// For the deploy mapping; built only when deploys are configured.
    pub secrets: Option<aws_sdk_secretsmanager::Client>,
    /// For the state table; built only when it is configured.
    pub dynamodb: Option<aws_sdk_dynamodb::Client>,
    /// For schedules; built only when they are configured.
    pub scheduler: Option<aws_sdk_scheduler::Client>,
    /// For muting alarms; built only when `MUTABLE_ALARMS` is set.
    pub cloudwatch: Option<aws_sdk_cloudwatch::Client>,
    /// For [Show logs] (Logs Insights); built only with the bot token, which posts the lines.
    pub logs: Option<aws_sdk_cloudwatchlogs::Client>,
}

/// What a container keeps, from the configuration and the clients. `bundle`: the stack's secret
/// (`SLACK_SECRETS_ARN`) when values came from it, so they are read again when they stop working (rotation).
pub fn deps(
    config: Config,
    kms: Option<aws_sdk_kms::Client>,
    aws: AwsClients,
    http: reqwest::Client,
    bundle: Option<Arc<SecretsBundle>>,
) -> Deps {
    let function_name = config.function_name.clone();
    let secret = |source: SecretSource| {
        CachedSecret::new(source, kms.clone(), function_name.clone()).with_bundle(bundle.clone())
    };
    let replays = match (&config.state_table, &aws.dynamodb) {
        (Some(table), Some(dynamodb)) => Some(StateTable::new(dynamodb.clone(), table)),
        _ => None,
    };
    // One bot for deploys and the policy: its token decrypted once, rotated once.
    let bot = config.bot_token.clone().map(|token| {
        Arc::new(Bot::new(SlackApi::new(http.clone(), &config.api_url, deploys::slack_api_policy()), secret(token)))
    });
    let scheduler = match (config.scheduler, aws.scheduler) {
        (Some(settings), Some(client)) => Some(Arc::new(Scheduler::new(client, settings))),
        _ => None,
    };
    let alarms = match (config.mutable_alarms.is_empty(), aws.cloudwatch) {
        (false, Some(cloudwatch)) => Some(AlarmMuting { cloudwatch, patterns: config.mutable_alarms }),
        _ => None,
    };
    let governance =
        Governance::new(config.policy, config.rules, bot.clone(), replays.clone()).with_scheduler(scheduler.clone());
    let deploys = match (config.deploys, &bot, aws.secrets, aws.dynamodb) {
        (Some(deploys), Some(bot), Some(secrets), Some(dynamodb)) => Some(DeployDeps {
            scheduler: scheduler.clone(),
            ..DeployDeps::new(deploys, bot.clone(), secret, function_name.as_deref(), secrets, dynamodb, http.clone())
        }),
        _ => None,
    };
    let incidents = match (&bot, &replays) {
        (Some(bot), Some(state)) => Some(IncidentDeps {
            config: config.incidents,
            bot: bot.clone(),
            state: state.clone(),
            names: Default::default(),
            scheduler: scheduler.clone(),
            // Follow-ups go to the trackers of the deploy mapping (its `issues` entries), read once for both.
            trackers: deploys.as_ref().map(|d| Trackers { targets: d.targets.clone(), pipelines: d.pipelines.clone() }),
        }),
        _ => None,
    };
    let services =
        Services { autoscaling: aws.autoscaling, codedeploy: aws.codedeploy, codedeploy_settings: config.codedeploy };
    Deps {
        deploys,
        reads: replays.as_ref().map(StateTable::for_reads),
        replays,
        governance,
        bot,
        incidents,
        scheduler,
        alarms,
        reports: config.reports,
        silences: config.silences.map(|settings| SilenceApi::new(http.clone(), settings)),
        logs: aws.logs.zip(config.log_groups).map(|(client, groups)| chatops_shared::flows::logs::LogsDeps {
            insights: chatops_shared::aws::logs::LogsInsights::new(client),
            groups,
            cross_account: config.cross_account,
        }),
        ..Deps::basic(secret(config.signing_secret), services, http)
    }
}

/// Handles one HTTP request. Infallible: every path is an HTTP answer.
pub async fn handle_request(deps: &Deps, request: Request, deadline: Instant) -> Response<Body> {
    let started = Instant::now();
    if request.method() != lambda_http::http::Method::POST {
        return text_response(405, "POST only");
    }
    let path = request.uri().path().trim_end_matches('/').to_owned();
    let deadline = deadline.min(started + deps.budget);
    // Not Slack: the pipeline's callback has its own token and never sees the signing secret.
    if path.ends_with("/deploy/notify") {
        return deploys::handle_notify(deps.deploys.as_ref(), &request, started, deadline).await;
    }
    if let Err(refused) = verify(deps, &request).await {
        return refused;
    }
    // Events API deliveries are not checked for replays here: Slack retries one with the same signature
    // (`X-Slack-Retry-Num`), and a non-2xx answer counts against the app until Slack disables its event
    // subscriptions. Each event is claimed by its `event_id` instead, so a retry (or a replay) starts nothing.
    if path.ends_with("/slack/events") {
        return handle_events(deps, &request, deps.at(started, deadline)).await;
    }
    let body: &[u8] = request.body().as_ref();
    if let Some(state) = &deps.replays {
        let signature = request.headers().get("x-slack-signature").map(|v| v.as_bytes()).unwrap_or_default();
        if !first_arrival(deps, state, signature, body, started).await {
            return text_response(401, "");
        }
    }
    match parse_form(body) {
        Ok(form) => handle_form(deps, form, started, deadline).await,
        Err(err) => text_response(400, &err.to_string()),
    }
}

/// The Slack signature over the raw body, with the injected clock; a bare 401 when it fails.
async fn verify(deps: &Deps, request: &Request) -> Result<(), Response<Body>> {
    let secret = match deps.signing_secret.get().await {
        Ok(secret) => secret,
        Err(err) => {
            // Our fault, not the caller's: say so in the log, give Slack a bare error.
            tracing::error!(error = %err, "signing secret unavailable; refusing all requests");
            return Err(text_response(503, ""));
        }
    };
    let headers = request.headers();
    let header = |name: &str| headers.get(name).map(|v| v.as_bytes());
    let body: &[u8] = request.body().as_ref();
    let check = |secret: &chatops_shared::secret::Secret| {
        verify_slack_signature(
            secret,
            header("x-slack-request-timestamp"),
            header("x-slack-signature"),
            body,
            (deps.now_unix)(),
        )
    };
    let mut verified = check(&secret);
    // A signing secret from the secrets bundle may have been rotated: read it again (rate-limited) once.
    if verified == Err(SignatureError::Mismatch)
        && let Some(fresh) = deps.signing_secret.refresh().await
    {
        verified = check(&fresh);
    }
    verified.map_err(|reason| {
        tracing::warn!(reason = %reason, "request refused: Slack signature check failed");
        text_response(401, "")
    })
}

/// The Lambda entry point: event envelope in, envelope out, never an `Err` (that would be a 502).
pub async fn handle_event(deps: &Deps, event: LambdaEvent<Box<RawValue>>) -> Result<Value, lambda_runtime::Error> {
    use chatops_shared::metrics::{self, Metric};
    let started = std::time::Instant::now();
    let result = Box::pin(serve_event(deps, event)).await;
    // The invocation's metrics (CloudWatch's Embedded Metric Format): commands by decision, retries.
    metrics::flush(&metrics::Report {
        function: metrics::function_name("slack-command"),
        always: &[Metric::Retries, Metric::SlackRateLimited],
        latency_ms: started.elapsed().as_secs_f64() * 1000.0,
        now_ms: chatops_shared::clock::now_ms(),
    });
    result
}

async fn serve_event(deps: &Deps, event: LambdaEvent<Box<RawValue>>) -> Result<Value, lambda_runtime::Error> {
    // The stack's account, for the changes it records.
    chatops_shared::aws::graphs::note_own_account(&event.context.invoked_function_arn);
    // Keep 200 ms for answering before Lambda's own timeout.
    let deadline = chatops_shared::clock::invocation_deadline(event.context.deadline, Duration::from_millis(200));
    // A schedule firing (an unmute, an expiry, a timeout): not an HTTP request.
    if let Ok(value) = serde_json::from_str::<Value>(event.payload.get())
        && let Some(timer) = timer_from_event(&value)
    {
        return Ok(match timer {
            Ok(timer) => fire(deps, &timer, (deps.now_unix)(), deadline).await,
            Err(err) => {
                tracing::warn!(error = %err, "timer event not understood: nothing done");
                serde_json::json!({"timer": "unknown", "acted": false, "detail": err})
            }
        });
    }
    let response = match request_from_event(&event.payload) {
        Ok(request) => handle_request(deps, request, deadline).await,
        Err(err) => {
            tracing::warn!(error = %err, "bad request envelope");
            text_response(400, &err.to_string())
        }
    };
    Ok(response_to_event(response))
}
