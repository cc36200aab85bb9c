//! slack-command: the Slack-facing HTTP function behind API Gateway (REST or HTTP API) or a function URL:
//! slash commands and button clicks (interactivity), mentions through the Events API (`/slack/events`)
//! and the deploy pipeline's callback (`/deploy/notify`, its own bearer token; see [`deploys`]). Verify the signature over the raw body first; then
//! parse, authorise, run the command or action under a time budget, answer Slack, and leave one audit
//! line. Every request gets an HTTP answer: 401 for anything unsigned, 400 for a body that is neither a
//! slash command nor an interaction, 200 with a message for everything else.

pub mod approvals;
pub mod deploys;

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use chatops_shared::aws::kms::CachedSecret;
use chatops_shared::aws::secrets::SecretsBundle;
use chatops_shared::commands::{AccessPolicy, Caller, Gate, Outcome, Services, audit, dispatch, dispatch_action};
use chatops_shared::notify::CodeDeploySettings;
use chatops_shared::policy::Policy;
use chatops_shared::secret::{ConfigError, SecretSource};
use chatops_shared::slack::form::{SlashCommand, parse_form};
use chatops_shared::slack::gateway::{json_response, request_from_event, response_to_event, text_response};
use chatops_shared::slack::interaction::BlockAction;
use chatops_shared::slack::signature::verify_slack_signature;
use chatops_shared::slack::webhook::{RetryPolicy, SlackPoster};
use lambda_http::{Body, Request, Response};
use lambda_runtime::LambdaEvent;
use serde_json::Value;
use serde_json::value::RawValue;

pub const KMS_SECRET_VAR: &str = "KMS_ENCRYPTED_SLACK_SIGNING_SECRET";
pub const PLAIN_SECRET_VAR: &str = "SLACK_SIGNING_SECRET";

/// Slack gives up after 3 s; this leaves room for API Gateway and the network.
pub const DEFAULT_BUDGET: Duration = Duration::from_millis(2500);

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    pub signing_secret: SecretSource,
    pub policy: AccessPolicy,
    pub codedeploy: CodeDeploySettings,
    pub function_name: Option<String>,
    /// Deploy by mention, when `DEPLOY_TARGETS_SECRET_ARN` is set.
    pub deploys: Option<deploys::DeployConfig>,
    /// The state table (`STATE_TABLE`): with it, a signed request is accepted once (no replays).
    pub state_table: Option<String>,
    /// `CHATOPS_POLICY`: who may request which change, and which need approval. `None`: the access list alone.
    pub rules: Option<Policy>,
    /// The bot token, for approval requests and user groups (and deploys, which read it themselves).
    pub bot_token: Option<SecretSource>,
    pub api_url: String,
}

impl Config {
    /// Some configured secret is a KMS ciphertext: the function needs a KMS client.
    pub fn needs_kms(&self) -> bool {
        self.signing_secret.is_kms()
            || (self.rules.is_some() || self.deploys.is_some())
                && self.bot_token.as_ref().is_some_and(SecretSource::is_kms)
            || self.deploys.as_ref().is_some_and(|d| d.notify_token.as_ref().is_some_and(SecretSource::is_kms))
    }

    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(&chatops_shared::secret::process_env)
    }

    pub fn from_lookup(lookup: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let opt = |name: &str| chatops_shared::secret::non_empty(lookup, name);
        let state_table = opt(chatops_shared::state::TABLE_VAR);
        let bot_token =
            match SecretSource::from_lookup(deploys::BOT_TOKEN_KMS_VAR, deploys::BOT_TOKEN_PLAIN_VAR, lookup) {
                Ok(source) => Some(source),
                Err(ConfigError::MissingSecret { .. }) => None,
                Err(other) => return Err(other),
            };
        let rules = match opt(chatops_shared::policy::POLICY_VAR) {
            None => None,
            Some(text) => Some(Policy::parse(&text).map_err(|e| ConfigError::Invalid {
                var: chatops_shared::policy::POLICY_VAR,
                problem: format!("{}: {}", e.at, e.problem),
            })?),
        };
        if let Some(policy) = &rules {
            let approvals = policy.rules.iter().any(|r| r.approval.is_some());
            if (approvals || !policy.groups().is_empty()) && bot_token.is_none() {
                return Err(ConfigError::Missing {
                    var: deploys::BOT_TOKEN_PLAIN_VAR,
                    hint: "CHATOPS_POLICY names user groups or asks for approvals: the bot token (or KMS_ENCRYPTED_SLACK_BOT_TOKEN) reads the groups and posts the requests",
                });
            }
            if approvals && state_table.is_none() {
                return Err(ConfigError::Missing {
                    var: chatops_shared::state::TABLE_VAR,
                    hint: "CHATOPS_POLICY asks for approvals: requests are kept in the state table",
                });
            }
        }
        Ok(Self {
            rules,
            bot_token,
            api_url: opt("SLACK_API_URL").unwrap_or_else(|| chatops_shared::slack::api::DEFAULT_API_URL.to_owned()),
            signing_secret: SecretSource::from_lookup(KMS_SECRET_VAR, PLAIN_SECRET_VAR, lookup)?,
            policy: AccessPolicy {
                team_id: opt("SLACK_TEAM_ID"),
                allowed_users: AccessPolicy::parse_users(opt("SLACK_ALLOWED_USERS").as_deref()),
            },
            codedeploy: CodeDeploySettings::parse(opt(CodeDeploySettings::GROUPS_VAR).as_deref(), None)?,
            function_name: opt("AWS_LAMBDA_FUNCTION_NAME"),
            deploys: deploys::DeployConfig::from_lookup(lookup)?,
            state_table,
        })
    }
}

pub struct Deps {
    pub signing_secret: CachedSecret,
    pub policy: AccessPolicy,
    pub services: Services,
    /// Posts button outcomes to the interaction's `response_url`.
    pub poster: SlackPoster,
    /// How long a command may take, from the moment the request arrives.
    pub budget: Duration,
    /// Seconds since the epoch; a field so tests can use Slack's fixed example timestamp.
    pub now_unix: fn() -> i64,
    /// Deploy by mention and its callback; `None` when not configured.
    pub deploys: Option<deploys::DeployDeps>,
    /// Where accepted requests are recorded so a replay of one is refused; `None` without a state table.
    pub replays: Option<chatops_shared::state::StateTable>,
    /// `CHATOPS_POLICY` and its approvals; `None` without a policy.
    pub governance: Option<approvals::Governance>,
}

pub fn system_now_unix() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

impl Deps {
    /// `bundle`: the stack's secret (`SLACK_SECRETS_ARN`) when values came from it, so they are read
    /// again when they stop working (rotation).
    pub fn new(
        config: Config,
        kms: Option<aws_sdk_kms::Client>,
        aws: AwsClients,
        http: reqwest::Client,
        bundle: Option<Arc<SecretsBundle>>,
    ) -> Self {
        let function_name = config.function_name.clone();
        let secret = |source: SecretSource| {
            CachedSecret::new(source, kms.clone(), function_name.clone()).with_bundle(bundle.clone())
        };
        let replays = match (&config.state_table, &aws.dynamodb) {
            (Some(table), Some(dynamodb)) => Some(chatops_shared::state::StateTable::new(dynamodb.clone(), table)),
            _ => None,
        };
        // One bot token for deploys and the policy: decrypted once, rotated once.
        let bot_token = config.bot_token.clone().map(|token| Arc::new(secret(token)));
        let governance = config.rules.map(|policy| {
            let slack = bot_token.clone().map(|token| {
                let api = chatops_shared::slack::api::SlackApi::new(
                    http.clone(),
                    &config.api_url,
                    deploys::slack_api_policy(),
                );
                (api, token)
            });
            approvals::Governance::new(policy, slack, replays.clone())
        });
        let deploys = match (config.deploys, bot_token, aws.secrets, aws.dynamodb) {
            (Some(deploys), Some(bot_token), Some(secrets), Some(dynamodb)) => Some(deploys::DeployDeps::new(
                deploys,
                bot_token,
                secret,
                function_name.as_deref(),
                secrets,
                dynamodb,
                http.clone(),
            )),
            _ => None,
        };
        let services = Services {
            autoscaling: aws.autoscaling,
            codedeploy: aws.codedeploy,
            codedeploy_settings: config.codedeploy,
        };
        Self {
            deploys,
            replays,
            governance,
            policy: config.policy,
            ..Self::basic(secret(config.signing_secret), services, http)
        }
    }

    /// Commands and buttons alone: no access list, deploys, replay check or policy (what [`new`](Self::new)
    /// adds from the configuration), the default budget and the system clock.
    pub fn basic(signing_secret: CachedSecret, services: Services, http: reqwest::Client) -> Self {
        Self {
            signing_secret,
            policy: AccessPolicy::default(),
            services,
            poster: SlackPoster::new(http, response_url_policy()),
            budget: DEFAULT_BUDGET,
            now_unix: system_now_unix,
            deploys: None,
            replays: None,
            governance: None,
        }
    }
}

/// Part of a button's budget kept for posting the outcome to `response_url`.
pub const RESPONSE_RESERVE: Duration = Duration::from_millis(400);

/// The AWS clients the commands and actions call.
pub struct AwsClients {
    pub autoscaling: aws_sdk_autoscaling::Client,
    pub codedeploy: aws_sdk_codedeploy::Client,
    /// For the deploy mapping; built only when deploys are configured.
    pub secrets: Option<aws_sdk_secretsmanager::Client>,
    /// For the state table; built only when it is configured.
    pub dynamodb: Option<aws_sdk_dynamodb::Client>,
}

/// `response_url` updates happen inside Slack's 3 s: short attempts, few retries.
pub fn response_url_policy() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 2,
        backoff: Duration::from_millis(100),
        attempt_timeout: Duration::from_millis(1500),
        reserve: Duration::ZERO,
        default_retry_after: Duration::from_millis(500),
    }
}

fn unauthorised() -> Response<Body> {
    text_response(401, "")
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
        return deploys::handle_notify(deps, &request, started, deadline).await;
    }
    let secret = match deps.signing_secret.get().await {
        Ok(secret) => secret,
        Err(err) => {
            // Our fault, not the caller's: say so in the log, give Slack a bare error.
            tracing::error!(error = %err, "signing secret unavailable; refusing all requests");
            return text_response(503, "");
        }
    };
    let headers = request.headers();
    let header = |name: &str| headers.get(name).map(|v| v.as_bytes());
    let body: &[u8] = request.body().as_ref();
    let verify = |secret: &chatops_shared::secret::Secret| {
        verify_slack_signature(
            secret,
            header("x-slack-request-timestamp"),
            header("x-slack-signature"),
            body,
            (deps.now_unix)(),
        )
    };
    let mut verified = verify(&secret);
    // A signing secret from the secrets bundle may have been rotated: read it again (rate-limited) once.
    if verified == Err(chatops_shared::slack::signature::SignatureError::Mismatch)
        && let Some(fresh) = deps.signing_secret.refresh().await
    {
        verified = verify(&fresh);
    }
    if let Err(reason) = verified {
        tracing::warn!(reason = %reason, "request refused: Slack signature check failed");
        return unauthorised();
    }
    // Events API deliveries are not checked for replays here: Slack retries one with the same signature
    // (`X-Slack-Retry-Num`), and a non-2xx answer counts against the app until Slack disables its event
    // subscriptions. Each event is claimed by its `event_id` instead, so a retry (or a replay) starts nothing.
    if path.ends_with("/slack/events") {
        return deploys::handle_events(deps, &request, started, deadline).await;
    }
    if let Some(state) = &deps.replays
        && !first_arrival(deps, state, header("x-slack-signature").unwrap_or_default(), body, started).await
    {
        return unauthorised();
    }
    let form = match parse_form(body) {
        Ok(form) => form,
        Err(err) => return text_response(400, &err.to_string()),
    };
    if form.get("ssl_check").map(String::as_str) == Some("1") {
        return text_response(200, "");
    }
    if let Some(payload) = form.get("payload") {
        return handle_interaction(deps, payload, started, deadline).await;
    }
    let mut command = match SlashCommand::from_form(form) {
        Ok(command) => command,
        Err(err) => return text_response(400, &err.to_string()),
    };
    // `/scale web 20 -- Black Friday`: the command sees `web 20`; the approvers see the reason.
    let (text, reason) = chatops_shared::commands::split_reason(&command.text);
    command.text = text;
    let caller = Caller { reason, ..Caller::from(&command) };
    let gate = approvals::gate_for(deps, &caller, false, deadline).await;
    let outcome = checked(deps, &gate, started, deadline, dispatch(&deps.services, &command, &gate, deadline)).await;
    json_response(200, &outcome.message.to_json())
}

/// A signature stays valid for 5 minutes, so a captured request could be sent again and act twice: each
/// accepted signature is recorded (a hash of it) by conditional write, and a second arrival is refused
/// with an audit line. Slack's own retries carry new signatures. When the table cannot be reached the
/// request is served (the signature was valid) and the log says so: commands stay available.
async fn first_arrival(
    deps: &Deps,
    state: &chatops_shared::state::StateTable,
    signature: &[u8],
    body: &[u8],
    started: Instant,
) -> bool {
    use sha2::Digest as _;
    let id = hex::encode(sha2::Sha256::digest(signature));
    let now = (deps.now_unix)();
    match state.first_arrival(&id, now * 1000, now + 600).await {
        Ok(true) => true,
        Ok(false) => {
            // Who the replayed request claims to be: a command's or a button click's caller.
            let caller = parse_form(body)
                .ok()
                .and_then(|form| match form.get("payload") {
                    Some(payload) => BlockAction::parse(payload).ok().map(|click| Caller::from(&click)),
                    None => SlashCommand::from_form(form).ok().map(|command| Caller::from(&command)),
                })
                .unwrap_or_default();
            let outcome =
                Outcome::ephemeral("", chatops_shared::commands::Decision::Refused("replayed request".into()));
            tracing::warn!("request refused: this signed request was already accepted once (a replay)");
            audit(&caller, &outcome, started.elapsed());
            false
        }
        Err(err) => {
            tracing::warn!(error = %err, "state table unavailable: request served without the replay check");
            true
        }
    }
}

/// The access check, then `run` (not started when the caller is refused; the policy's rules are asked
/// by `run` through `gate` once it knows the resource), then, for a change that needs approval, the
/// request to the approvers, then the audit line: the same for a command, a button and a mention, so
/// none can skip one.
pub(crate) async fn checked(
    deps: &Deps,
    gate: &Gate<'_>,
    started: Instant,
    deadline: Instant,
    run: impl Future<Output = Outcome>,
) -> Outcome {
    let outcome = match deps.policy.refuse(gate.caller) {
        Some(refusal) => refusal,
        None => approvals::open_if_pending(deps, gate.caller, run.await, deadline).await,
    };
    audit(gate.caller, &outcome, started.elapsed());
    outcome
}

/// A button click: acknowledged with an empty 200; the outcome goes to the message's `response_url`
/// (the updated message, or an ephemeral refusal), within the same budget.
async fn handle_interaction(deps: &Deps, payload: &str, started: Instant, deadline: Instant) -> Response<Body> {
    let click = match BlockAction::parse(payload) {
        Ok(click) => click,
        Err(err) => return text_response(400, &err.to_string()),
    };
    // Keep time for the response_url update after the AWS calls.
    let action_deadline = deadline.checked_sub(RESPONSE_RESERVE).unwrap_or(deadline);
    let caller = Caller::from(&click);
    let outcome = if click.action_id.starts_with("approval:") {
        // Approving is not a change the rules gate: the request's own rule says who may approve.
        let gate = Gate::open(&caller);
        checked(deps, &gate, started, action_deadline, approvals::click(deps, &click, action_deadline)).await
    } else {
        let gate = approvals::gate_for(deps, &caller, false, action_deadline).await;
        checked(deps, &gate, started, action_deadline, dispatch_action(&deps.services, &click, &gate, action_deadline))
            .await
    };
    if let Some(url) = &click.response_url {
        let url = chatops_shared::secret::Secret::new(url.clone());
        if let Err(err) = deps.poster.post(&url, &outcome.message, deadline).await {
            tracing::error!(error = %err, action = %click.action_id, "could not update the message through response_url");
        }
    }
    text_response(200, "")
}

/// The Lambda entry point: event envelope in, envelope out, never an `Err` (that would be a 502).
pub async fn handle_event(deps: &Deps, event: LambdaEvent<Box<RawValue>>) -> Result<Value, lambda_runtime::Error> {
    // Keep 200 ms for answering before Lambda's own timeout.
    let deadline = chatops_shared::invocation_deadline(event.context.deadline, Duration::from_millis(200));
    let response = match request_from_event(&event.payload) {
        Ok(request) => handle_request(deps, request, deadline).await,
        Err(err) => {
            tracing::warn!(error = %err, "bad request envelope");
            text_response(400, &err.to_string())
        }
    };
    Ok(response_to_event(response))
}
