//! Deploy by @mention (`POST /slack/events`) and the pipeline's callback (`POST /deploy/notify`).
//!
//! A mention is claimed by its `event_id` in the state table before anything is done, so Slack's
//! retries never start a second pipeline; it then goes through the same policy check and audit line as
//! a command (`checked`), starts the channel's pipeline within the budget, and answers in the thread.
//! The callback, authenticated by its own bearer token, reports the result once into that thread.

use std::sync::Arc;
use std::time::{Duration, Instant};

use lambda_http::{Body, Request, Response};
use serde_json::json;

use crate::aws::kms::CachedSecret;
use crate::aws::scheduler::Scheduler;
use crate::aws::secrets::CachedSecretJson;
use crate::clock::now_ms;
use crate::config::{ConfigError, SecretSource, non_empty};
use crate::deploy::{DeployRequest, DeployTargets, Pipelines, Target, TriggerError};
use crate::governance::{At, Caller, Decision, Entry, Gate, Governance, Outcome, Pass, Proposal, Rerun, audit};
use crate::http::RetryPolicy;
use crate::http::bearer::{Endpoint, authorise};
use crate::http::gateway::{json_error, json_response, text_response};
use crate::slack::bot::Bot;
use crate::slack::escape;
use crate::slack::events::{Mention, MentionRequest};
use crate::state::{Claim, DeployFinish, DeployRecord, StateTable};

pub const NOTIFY_TOKEN_KMS_VAR: &str = "KMS_ENCRYPTED_DEPLOY_NOTIFY_TOKEN";
pub const NOTIFY_TOKEN_PLAIN_VAR: &str = "DEPLOY_NOTIFY_TOKEN";

/// How long the deploy mapping is kept before it is read again.
pub const TARGETS_TTL: Duration = Duration::from_secs(300);
/// Event claims outlive Slack's last retry (about 5 minutes after the first delivery) by far.
const EVENT_RETENTION_S: i64 = 24 * 3600;
/// A deploy's record waits for the pipeline's callback this long.
const DEPLOY_RETENTION_S: i64 = 14 * 24 * 3600;
/// Time kept after the pipeline call for the answer in the thread and the state writes.
const ANSWER_RESERVE: Duration = Duration::from_millis(700);

/// Deploys are on when `DEPLOY_TARGETS_SECRET_ARN` is set; then the bot token and the state table are needed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeployConfig {
    pub targets_arn: String,
    pub state_table: String,
    pub gitlab_url: Option<String>,
    pub github_api_url: Option<String>,
    /// Without it `/deploy/notify` refuses every call.
    pub notify_token: Option<SecretSource>,
    /// `DEPLOY_TIMEOUT_MINUTES` (default 60): a deploy with no callback by then says so in its thread
    /// (with schedules).
    pub timeout: Duration,
}

pub const TIMEOUT_VAR: &str = "DEPLOY_TIMEOUT_MINUTES";

impl DeployConfig {
    pub fn from_lookup(lookup: &dyn Fn(&str) -> Option<String>) -> Result<Option<Self>, ConfigError> {
        let opt = |name: &str| non_empty(lookup, name);
        let Some(targets_arn) = opt(crate::deploy::TARGETS_VAR) else {
            return Ok(None);
        };
        // The token itself is the bot's (one for deploys and the policy); deploys cannot do without it.
        if crate::config::bot_token(lookup)?.is_none() {
            return Err(ConfigError::MissingSecret {
                kms_var: crate::config::BOT_TOKEN_KMS_VAR,
                plain_var: crate::config::BOT_TOKEN_PLAIN_VAR,
            });
        }
        let state_table = crate::config::state_table(lookup).ok_or(ConfigError::Missing {
            var: crate::config::STATE_TABLE_VAR,
            hint: "deploys by mention need the state table, so that Slack's retries start nothing twice",
        })?;
        let notify_token = match SecretSource::from_lookup(NOTIFY_TOKEN_KMS_VAR, NOTIFY_TOKEN_PLAIN_VAR, lookup) {
            Ok(source) => Some(source),
            Err(ConfigError::MissingSecret { .. }) => None,
            Err(other) => return Err(other),
        };
        let timeout = match opt(TIMEOUT_VAR) {
            None => Duration::from_secs(3600),
            Some(text) => match text.parse::<u64>() {
                Ok(minutes @ 1..=10_080) => Duration::from_secs(minutes * 60),
                _ => {
                    return Err(ConfigError::Invalid {
                        var: TIMEOUT_VAR,
                        problem: format!("`{text}` is not a number of minutes from 1 to 10080 (a week)"),
                    });
                }
            },
        };
        Ok(Some(Self {
            timeout,
            targets_arn,
            state_table,
            gitlab_url: opt(crate::deploy::GITLAB_URL_VAR),
            github_api_url: opt(crate::deploy::GITHUB_API_URL_VAR),
            notify_token,
        }))
    }
}

/// What deploys use, built once per container.
pub struct DeployDeps {
    /// Shared with incidents' follow-ups (the `issues` entries).
    pub targets: Arc<CachedSecretJson<DeployTargets>>,
    /// The bot (Web API and token), shared with the policy's approvals (one decryption per container).
    pub bot: Arc<Bot>,
    pub notify_token: Option<CachedSecret>,
    pub pipelines: Pipelines,
    pub state: StateTable,
    /// Tells this container's claims from others' (the log stream and a counter would do; this is unique enough).
    pub owner: String,
    /// A deploy with no callback after this long says so in its thread (with `scheduler`).
    pub timeout: Duration,
    pub scheduler: Option<Arc<Scheduler>>,
}

/// Web API calls answer inside Slack's 3 s too: short attempts, one retry.
pub fn slack_api_policy() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 2,
        backoff: Duration::from_millis(100),
        attempt_timeout: Duration::from_millis(1000),
        reserve: Duration::ZERO,
        default_retry_after: Duration::from_millis(500),
    }
}

impl DeployDeps {
    /// `secret` makes a configured secret ready to use (KMS client, function name, secrets bundle).
    pub fn new(
        config: DeployConfig,
        bot: Arc<Bot>,
        secret: impl Fn(SecretSource) -> CachedSecret,
        function_name: Option<&str>,
        secrets: aws_sdk_secretsmanager::Client,
        dynamodb: aws_sdk_dynamodb::Client,
        http: reqwest::Client,
    ) -> Self {
        let parse = |text: &str| DeployTargets::parse(text).map_err(|e| e.to_string());
        Self {
            timeout: config.timeout,
            scheduler: None,
            targets: Arc::new(CachedSecretJson::new(secrets, config.targets_arn, TARGETS_TTL, parse)),
            bot,
            notify_token: config.notify_token.map(secret),
            pipelines: Pipelines::new(http, config.gitlab_url.as_deref(), config.github_api_url.as_deref()),
            state: StateTable::new(dynamodb, config.state_table),
            owner: crate::state::unique_owner(function_name.unwrap_or("slack-command")),
        }
    }
}

impl DeployDeps {
    /// Posts `message` in the thread `thread_ts` of `channel` (once more with a rotated token when
    /// Slack refuses the one in use).
    async fn reply_in_thread(
        &self,
        channel: &str,
        thread_ts: &str,
        message: &serde_json::Value,
        deadline: Instant,
    ) -> Result<crate::slack::api::Posted, crate::slack::bot::BotError> {
        self.bot.post_message(channel, message, Some((thread_ts, false)), deadline).await
    }
}

/// A mention of the bot (`app_mention`), from the Events API route: deploys, or a word in the log when
/// they are not configured.
pub async fn on_mention(
    governance: &Governance,
    deploys: Option<&DeployDeps>,
    mention: &Mention,
    retry: Option<&str>,
    at: At,
) -> Response<Body> {
    match deploys {
        Some(d) => handle_mention(governance, d, mention, retry, at).await,
        None => {
            tracing::warn!(
                event_id = %mention.event_id,
                "a mention arrived but deploys are not configured (set DEPLOY_TARGETS_SECRET_ARN, the bot token and STATE_TABLE)"
            );
            text_response(200, "")
        }
    }
}

async fn handle_mention(
    governance: &Governance,
    d: &DeployDeps,
    mention: &Mention,
    retry: Option<&str>,
    at: At,
) -> Response<Body> {
    let deadline = at.deadline;
    let now = now_ms();
    let request = MentionRequest::parse(&mention.text);
    let is_deploy = matches!(request, MentionRequest::Deploy { .. });
    // Claim first: a retry of an event handled (or being handled) elsewhere does nothing at all.
    let claimed = match d.state.claim_event(&mention.event_id, &d.owner, now, now / 1000 + EVENT_RETENTION_S).await {
        Ok(Claim::Claimed) => Ok(()),
        Ok(seen) => {
            tracing::info!(event_id = %mention.event_id, retry = retry, claim = ?seen, "event already handled or in progress: retry acknowledged, nothing done");
            return text_response(200, "");
        }
        Err(err) => Err(err),
    };
    let token = &match d.bot.token.get().await {
        Ok(token) => token,
        Err(err) => {
            tracing::error!(error = %err, "bot token unavailable: cannot answer the mention");
            if claimed.is_ok() {
                release(d, mention).await;
            }
            return text_response(200, "");
        }
    };
    let mut caller = Caller::from(mention);
    (caller.text, caller.reason) = crate::governance::split_reason(&caller.text);
    // The provider and pipeline ID of a pipeline that was asked for, for its record.
    let mut started_run: Option<(&'static str, Option<String>)> = None;
    let outcome = match (&claimed, is_deploy) {
        // Without the claim a retry could start a second pipeline: refuse the deploy, say why.
        (Err(err), true) => {
            tracing::error!(error = %err, event_id = %mention.event_id, "state table unavailable: deploy refused");
            let outcome = Outcome::ephemeral(
                ":warning: I can't record this request right now (the state table is unavailable), so I won't start a pipeline that a retry of Slack's could start twice. Nothing was started; please ask again in a minute.",
                Decision::Failed("state table unavailable".into()),
            );
            governance.guard(&caller, Entry::Answer, at, async |_| outcome).await
        }
        _ => {
            if let Err(err) = &claimed {
                tracing::warn!(error = %err, "state table unavailable: answering without de-duplication");
            }
            governance
                .guard(&caller, Entry::Change, at, async |gate| {
                    let (outcome, run) = run(d, token, mention, &request, gate, deadline).await;
                    started_run = run;
                    outcome
                })
                .await
        }
    };
    let answer = outcome.message.to_json();
    let reply_ts = match d.reply_in_thread(&mention.channel_id, &mention.thread_ts, &answer, deadline).await {
        Ok(posted) => Some(posted.ts),
        Err(err) => {
            tracing::error!(error = %err, event_id = %mention.event_id, "could not answer in the thread");
            None
        }
    };
    if claimed.is_ok() {
        let nothing_started = outcome.pipeline.is_none();
        let record = record(d, mention, &outcome, started_run.as_ref(), reply_ts.clone(), now);
        // A deploy that failed before it started anything, or an answer nobody saw: give the event back,
        // so a retry of Slack's may do it. Everything else is done: a retry does nothing.
        let failed_before_start = is_deploy && nothing_started && matches!(outcome.decision, Decision::Failed(_));
        let settle = async {
            let settled = if failed_before_start || (nothing_started && reply_ts.is_none()) {
                d.state.release_event(&mention.event_id, &d.owner).await
            } else {
                d.state.finish_event(&mention.event_id).await
            };
            if let Err(err) = settled {
                tracing::warn!(error = %err, "could not settle the event's claim");
            }
        };
        // A deploy that could not start ends here: say so on the mention too.
        let failed = async {
            if failed_before_start {
                let _ = d.bot.api.add_reaction(token, &mention.channel_id, &mention.ts, "x", deadline).await;
            }
        };
        tokio::join!(record, settle, failed);
    }
    text_response(200, "")
}

/// Records a started deploy under its thread, for the pipeline's callback.
async fn record(
    d: &DeployDeps,
    mention: &Mention,
    outcome: &Outcome,
    started_run: Option<&(&'static str, Option<String>)>,
    reply_ts: Option<String>,
    now: i64,
) {
    if let Some(url) = &outcome.pipeline {
        let record = DeployRecord {
            channel: mention.channel_id.clone(),
            thread_ts: mention.thread_ts.clone(),
            mention_ts: mention.ts.clone(),
            reply_ts,
            project: outcome.resource.clone().unwrap_or_default(),
            provider: started_run.map(|(p, _)| (*p).to_owned()).unwrap_or_default(),
            requested_by: mention.user_id.clone(),
            pipeline_id: started_run.and_then(|(_, id)| id.clone()),
            pipeline_url: url.clone(),
            status: if outcome.decision == Decision::Done { "started" } else { "unknown" }.into(),
        };
        let timeout_at = now / 1000 + d.timeout.as_secs() as i64;
        let recorded = d.state.record_deploy(&record, timeout_at, now / 1000 + DEPLOY_RETENTION_S);
        let timer = async {
            let Some(scheduler) = &d.scheduler else { return Ok(()) };
            let timer = crate::aws::scheduler::Timer::DeployTimeout {
                channel: record.channel.clone(),
                thread_ts: record.thread_ts.clone(),
                mention_ts: record.mention_ts.clone(),
            };
            scheduler.at(&timeout_schedule(&record.channel, &record.thread_ts), timeout_at, &timer).await
        };
        let (recorded, timer) = tokio::join!(recorded, timer);
        if let Err(err) = recorded {
            tracing::error!(error = %err, "could not record the deploy: its callback will not find the thread");
        }
        if let Err(err) = timer {
            tracing::warn!(error = %err, "no timeout schedule: a pipeline that never calls back will go unmentioned");
        }
    }
}

/// The schedule that says a deploy in `thread_ts` got no result.
fn timeout_schedule(channel: &str, thread_ts: &str) -> String {
    crate::aws::scheduler::schedule_name("deploy", &format!("{channel}#{thread_ts}"))
}

/// A deploy's timeout, when its schedule fires: if the deploy of mention `mention_ts` in that thread
/// still has no result and its time has come, `⏰ no result from the pipeline after 60 min` in the
/// thread. A late timer (the result came, a newer deploy replaced it) or a forged one changes nothing.
pub async fn time_out(
    deploys: Option<&DeployDeps>,
    channel: &str,
    thread_ts: &str,
    mention_ts: &str,
    now: i64,
    deadline: Instant,
) -> Result<(), String> {
    let Some(d) = deploys else { return Err("deploys are not configured".into()) };
    let record = match d.state.time_out_deploy(channel, thread_ts, mention_ts, now).await {
        Ok(Some(record)) => record,
        Ok(None) => return Err("finished, replaced or not due".into()),
        Err(err) => return Err(err.to_string()),
    };
    let minutes = d.timeout.as_secs() / 60;
    let text = format!(
        "⏰ No result from the pipeline after {minutes} min (<{}|{}>, asked by <@{}>). If it is still running, its result will show here when it calls back.",
        record.pipeline_url,
        escape(&record.project),
        escape(&record.requested_by)
    );
    let message = json!({"text": text});
    let (posted, _) = tokio::join!(
        d.reply_in_thread(channel, thread_ts, &message, deadline),
        d.bot.with_token(async |token| d
            .bot
            .api
            .add_reaction(token, channel, mention_ts, "alarm_clock", deadline)
            .await)
    );
    posted.map(drop).map_err(|e| e.to_string())
}

/// Runs a deploy its approvers approved: the pipeline starts and the answer goes to the request's
/// thread, as for a mention that needed no approval. The request itself is the claim: only the
/// approval that moved it to `executing` gets here.
pub async fn run_approved(
    deploys: Option<&DeployDeps>,
    mention: &Mention,
    gate: &Gate<'_>,
    deadline: Instant,
) -> Outcome {
    let Some(d) = deploys else {
        return Outcome::ephemeral(
            "Deploys are not configured here any more: nothing was started.",
            Decision::Failed("deploys not configured".into()),
        );
    };
    let token = match d.bot.token.get().await {
        Ok(token) => token,
        Err(err) => {
            tracing::error!(error = %err, "bot token unavailable: cannot run an approved deploy");
            return Outcome::ephemeral(
                "The bot token is unavailable: nothing was started.",
                Decision::Failed("bot token unavailable".into()),
            );
        }
    };
    let request = MentionRequest::parse(&mention.text);
    let (outcome, started_run) = run(d, &token, mention, &request, gate, deadline).await;
    let answer = outcome.message.to_json();
    let reply_ts = match d.reply_in_thread(&mention.channel_id, &mention.thread_ts, &answer, deadline).await {
        Ok(posted) => Some(posted.ts),
        Err(err) => {
            tracing::error!(error = %err, "could not answer an approved deploy in its thread");
            None
        }
    };
    record(d, mention, &outcome, started_run.as_ref(), reply_ts, now_ms()).await;
    outcome
}

async fn release(d: &DeployDeps, mention: &Mention) {
    if let Err(err) = d.state.release_event(&mention.event_id, &d.owner).await {
        tracing::warn!(error = %err, "could not release the event's claim");
    }
}

/// The bot's own mention as written in the text (`<@U0BOT>`), for help lines.
fn bot_handle(text: &str) -> String {
    text.split_whitespace()
        .find(|w| crate::slack::events::is_user_mention(w))
        .map(|w| w.split('|').next().unwrap_or(w).trim_end_matches('>').to_owned() + ">")
        .unwrap_or_else(|| "@chatops".to_owned())
}

/// What this channel may deploy, as a sentence.
fn deployable(projects: &[&str]) -> String {
    if projects.is_empty() {
        "This channel may not deploy anything.".to_owned()
    } else {
        format!(
            "This channel may deploy: {}.",
            projects.iter().map(|p| format!("`{}`", escape(p))).collect::<Vec<_>>().join(", ")
        )
    }
}

fn usage(bot: &str, projects: &[&str]) -> String {
    let list = deployable(projects);
    format!(
        "{list}\nStart a deploy with `{bot} release <project>` (or `deploy <project>`, `リリース <project>`): the pipeline runs on the project's configured branch, its link comes here, and the result follows in this thread.",
    )
}

/// What a mention asks for, under the deadline; the answer for the thread and the audit line.
async fn run(
    d: &DeployDeps,
    token: &crate::secret::Secret,
    mention: &Mention,
    request: &MentionRequest,
    gate: &Gate<'_>,
    deadline: Instant,
) -> (Outcome, Option<(&'static str, Option<String>)>) {
    let bot = bot_handle(&mention.text);
    let targets = match request {
        MentionRequest::Thanks => {
            let text = if mention.text.contains('よ') || mention.text.contains('あ') {
                "どういたしまして :raised_hands:"
            } else {
                "You're welcome! :raised_hands:"
            };
            return (Outcome::ephemeral(text, Decision::Info), None);
        }
        MentionRequest::Unknown(word) => {
            let what = if word.is_empty() { "Hi!".to_owned() } else { format!("I don't know `{}`.", escape(word)) };
            return (
                Outcome::ephemeral(
                    format!("{what} Try `{bot} release <project>`, or `{bot} help` for the projects of this channel."),
                    Decision::Info,
                ),
                None,
            );
        }
        _ => match d.targets.get().await {
            Ok(targets) => targets,
            Err(err) => {
                tracing::error!(error = %err, "deploy targets unavailable");
                return (
                    Outcome::ephemeral(
                        ":x: I can't read the deploy targets right now, so nothing was started. An admin can find why in the function's log.",
                        Decision::Failed("deploy targets unavailable".into()),
                    ),
                    None,
                );
            }
        },
    };
    let projects = targets.projects(&mention.team_id, &mention.channel_id);
    let project = match request {
        MentionRequest::Deploy { project: Some(project), .. } => project,
        MentionRequest::Deploy { verb, project: None } => {
            return (
                Outcome::ephemeral(
                    format!("Which project, after `{}`? {}", escape(verb), usage(&bot, &projects)),
                    Decision::Refused("no project named".into()),
                ),
                None,
            );
        }
        _ => return (Outcome::ephemeral(usage(&bot, &projects), Decision::Info), None),
    };
    let Some((name, target)) = targets.find(&mention.team_id, &mention.channel_id, project) else {
        let list = deployable(&projects);
        return (
            Outcome::ephemeral(
                format!("`{}` is not deployable from this channel. {list}", escape(project)),
                Decision::Refused("project not mapped for this channel".into()),
            )
            .on(project),
            None,
        );
    };
    match gate.check("deploy", name, None) {
        Pass::Go => {}
        Pass::Refused(outcome) => return (*outcome, None),
        Pass::NeedsApproval(rule) => {
            let proposal = Proposal {
                rule,
                action: "deploy".into(),
                resource: name.to_owned(),
                summary: format!("deploy `{}` (`{}`)", escape(name), escape(target.git_ref())),
                rerun: Rerun::Mention {
                    channel: mention.channel_id.clone(),
                    ts: mention.ts.clone(),
                    thread_ts: mention.thread_ts.clone(),
                    text: mention.text.clone(),
                },
            };
            return (Outcome::pending(proposal), None);
        }
    }
    let deploy = DeployRequest {
        project: name.to_owned(),
        channel: mention.channel_id.clone(),
        thread_ts: mention.thread_ts.clone(),
        requested_by: mention.user_id.clone(),
    };
    let trigger_deadline = deadline.checked_sub(ANSWER_RESERVE).unwrap_or(deadline);
    let seen = d.bot.api.add_reaction(token, &mention.channel_id, &mention.ts, "eyes", trigger_deadline);
    let (started, seen) = tokio::join!(d.pipelines.trigger(target, &deploy, trigger_deadline), seen);
    if let Err(err) = seen {
        tracing::warn!(error = %err, "could not add the 👀 reaction");
    }
    let run = (target.provider(), started.as_ref().ok().and_then(|s| s.id.clone()));
    (started_outcome(name, target, &deploy, started), Some(run))
}

fn started_outcome(
    name: &str,
    target: &Target,
    deploy: &DeployRequest,
    started: Result<crate::deploy::Started, TriggerError>,
) -> Outcome {
    let project = escape(name);
    let git_ref = escape(target.git_ref());
    let provider = if target.provider() == "gitlab" { "GitLab" } else { "GitHub Actions" };
    let mut outcome = match &started {
        Ok(run) => {
            let label = run.id.as_ref().map_or("the pipeline".to_owned(), |id| format!("pipeline #{id}"));
            Outcome::ephemeral(
                format!(
                    ":rocket: Deploying *{project}* from `{git_ref}` for <@{}>: <{}|{label}> on {provider}. I'll post the result in this thread.",
                    escape(&deploy.requested_by),
                    run.url
                ),
                Decision::Done,
            )
        }
        Err(TriggerError::NotStarted { detail, check, .. }) => Outcome::ephemeral(
            format!(
                ":x: {provider} did not start the *{project}* pipeline: {}. Nothing was started; ask again once it is fixed (<{check}|pipelines>).",
                escape(detail)
            ),
            Decision::Failed(format!("pipeline not started: {detail}")),
        ),
        Err(TriggerError::Unknown { detail, check, .. }) => Outcome::ephemeral(
            format!(
                ":warning: {provider} did not confirm the *{project}* pipeline ({}). It may have started: check <{check}|the pipelines> before asking again.",
                escape(detail)
            ),
            Decision::Failed(format!("pipeline state unknown: {detail}")),
        ),
    };
    outcome.message.response_type = None;
    outcome.pipeline = match &started {
        Ok(run) => Some(run.url.clone()),
        Err(TriggerError::Unknown { check, .. }) => Some(check.clone()),
        Err(TriggerError::NotStarted { .. }) => None,
    };
    outcome.on(name)
}

/// The callback's body.
#[derive(serde::Deserialize)]
struct Notify {
    result: String,
    channel: String,
    thread_ts: String,
    #[serde(default)]
    pipeline_url: Option<String>,
}

/// The callback's endpoint, as its refusals name it.
const NOTIFY_ENDPOINT: Endpoint = Endpoint {
    name: "deploy callback",
    token_vars: "DEPLOY_NOTIFY_TOKEN / KMS_ENCRYPTED_DEPLOY_NOTIFY_TOKEN (and deploys: DEPLOY_TARGETS_SECRET_ARN)",
    header_hint: "send the token in the Authorization header, never in the URL (URLs end up in access logs)",
};

/// `POST /deploy/notify`: the pipeline's last job reports the result. Bearer token only; 401 otherwise.
pub async fn handle_notify(
    deploys: Option<&DeployDeps>,
    request: &Request,
    started: Instant,
    deadline: Instant,
) -> Response<Body> {
    let token = deploys.and_then(|d| d.notify_token.as_ref());
    if let Err(refused) = authorise(&NOTIFY_ENDPOINT, request, token).await {
        return refused;
    }
    let Some(d) = deploys else {
        return json_error(401, "unauthorised");
    };
    let notify: Notify = match serde_json::from_slice(request.body().as_ref()) {
        Ok(n) => n,
        Err(err) => {
            return json_error(400, &format!("the body must be JSON with result, channel and thread_ts: {err}"));
        }
    };
    let success = match notify.result.as_str() {
        "success" => true,
        "failure" => false,
        _ => return json_error(400, "result must be \"success\" or \"failure\""),
    };
    let record = match d.state.finish_deploy(&notify.channel, &notify.thread_ts, &notify.result, now_ms()).await {
        Ok(DeployFinish::Finished(record)) => record,
        Ok(DeployFinish::AlreadyReported(result)) => {
            return json_response(200, &json!({"ok": true, "already_reported": result}));
        }
        Ok(DeployFinish::NoDeploy) => {
            tracing::warn!(channel = %notify.channel, thread_ts = %notify.thread_ts, "deploy callback for a thread with no deploy");
            return json_error(404, "no deploy was requested in that thread");
        }
        Err(err) => {
            tracing::error!(error = %err, "deploy callback: state table unavailable");
            return json_error(503, "state table unavailable; retry");
        }
    };
    let token = &match d.bot.token.get().await {
        Ok(token) => token,
        Err(err) => {
            tracing::error!(error = %err, "bot token unavailable");
            reopen(d, &notify).await;
            return json_error(503, "the function cannot post to Slack right now; retry");
        }
    };
    let url = notify
        .pipeline_url
        .as_deref()
        .filter(|u| u.starts_with("https://") || u.starts_with("http://"))
        .unwrap_or(&record.pipeline_url);
    let project = escape(&record.project);
    let requester = escape(&record.requested_by);
    let (emoji, text, summary) = if success {
        (
            "white_check_mark",
            format!(":white_check_mark: *{project}* deployed (<{url}|pipeline>), requested by <@{requester}>."),
            format!(
                ":rocket: Deploy of *{project}* for <@{requester}>: <{url}|pipeline> :white_check_mark: succeeded."
            ),
        )
    } else {
        (
            "x",
            format!(":x: The *{project}* deploy failed: see <{url}|the pipeline>. Requested by <@{requester}>."),
            format!(":rocket: Deploy of *{project}* for <@{requester}>: <{url}|pipeline> :x: failed."),
        )
    };
    let message = json!({"text": text});
    if let Err(err) = d.reply_in_thread(&record.channel, &record.thread_ts, &message, deadline).await {
        tracing::error!(error = %err, "could not post the deploy result");
        reopen(d, &notify).await;
        return json_error(503, "could not post the result to Slack; retry");
    }
    // The mention's reaction and our first answer show the end too; neither is worth failing the callback.
    let reaction = d.bot.api.add_reaction(token, &record.channel, &record.mention_ts, emoji, deadline);
    let update = async {
        match &record.reply_ts {
            Some(ts) => {
                d.bot.api.update(token, &record.channel, ts, &json!({"text": summary}), deadline).await.map(drop)
            }
            None => Ok(()),
        }
    };
    let (reaction, update) = tokio::join!(reaction, update);
    for err in [reaction.err(), update.err()].into_iter().flatten() {
        tracing::warn!(error = %err, "could not mark the thread with the result");
    }
    let caller = Caller {
        user_id: record.requested_by.clone(),
        user_name: record.requested_by.clone(),
        channel_id: record.channel.clone(),
        channel_name: record.channel.clone(),
        command: "deploy result".into(),
        text: notify.result.clone(),
        ..Caller::default()
    };
    let mut outcome = Outcome::ephemeral(
        text,
        if success { Decision::Done } else { Decision::Failed("pipeline reported failure".into()) },
    )
    .on(&record.project);
    outcome.pipeline = Some(url.to_owned());
    audit(&caller, &outcome, started.elapsed());
    crate::governance::record_change(Some(&d.state), &caller, &outcome).await;
    json_response(200, &json!({"ok": true}))
}

async fn reopen(d: &DeployDeps, notify: &Notify) {
    if let Err(err) = d.state.reopen_deploy(&notify.channel, &notify.thread_ts, &notify.result).await {
        tracing::error!(error = %err, "could not take the result back; the callback's retry will find it reported");
    }
}
