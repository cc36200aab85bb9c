//! The Slack app's requests after their signature is checked: slash commands and button clicks,
//! through the governance seam to the command and action tables, the approvals' clicks and the re-run
//! of an approved request, and the replay check. [`SlackApp`] is what the Slack-facing function keeps
//! per container.

use std::sync::Arc;
use std::time::{Duration, Instant};

use lambda_http::{Body, Response};

use super::alerts::{AlarmMuting, AlertDeps};
use super::deploys::{self, DeployDeps};
use super::incidents::{self, IncidentDeps};
use crate::aws::kms::CachedSecret;
use crate::aws::scheduler::Scheduler;
use crate::commands::{Services, dispatch, dispatch_action};
use crate::governance::approvals::APPROVAL_PREFIX;
use crate::governance::{At, Caller, Decision, Entry, Gate, Governance, Outcome, Rerun, audit};
use crate::http::RetryPolicy;
use crate::http::gateway::{json_response, text_response};
use crate::silences::SilenceApi;
use crate::slack::bot::Bot;
use crate::slack::events::{EventEnvelope, Mention};
use std::collections::HashMap;

use crate::slack::form::{SlashCommand, parse_form};
use crate::slack::interaction::BlockAction;
use crate::slack::webhook::SlackPoster;
use crate::state::StateTable;

/// Slack gives up after 3 s; this leaves room for API Gateway and the network.
pub const DEFAULT_BUDGET: Duration = Duration::from_millis(2500);
/// Part of a button's budget kept for posting the outcome to `response_url`.
pub const RESPONSE_RESERVE: Duration = Duration::from_millis(400);

/// What the Slack-facing function keeps per container.
pub struct SlackApp {
    pub signing_secret: CachedSecret,
    /// Who may do what: the access list, `CHATOPS_POLICY` and its approvals.
    pub governance: Governance,
    pub services: Services,
    /// Posts button outcomes to the interaction's `response_url`.
    pub poster: SlackPoster,
    /// The bot (Web API and bot token), one per container for deploys and approvals; `None` without a token.
    pub bot: Option<Arc<Bot>>,
    /// How long a command may take, from the moment the request arrives.
    pub budget: Duration,
    /// Seconds since the epoch; a field so tests can pin the clock (Slack's fixed example timestamp).
    pub now_unix: fn() -> i64,
    /// Deploy by mention and its callback; `None` when not configured.
    pub deploys: Option<DeployDeps>,
    /// Where accepted requests are recorded so a replay of one is refused; `None` without a state table.
    pub replays: Option<StateTable>,
    /// The same table for `/status`'s reads of many items (longer timeouts); `None` without a state table.
    pub reads: Option<StateTable>,
    /// `/incident` and [Declare incident]; `None` without the bot token and the state table.
    pub incidents: Option<IncidentDeps>,
    /// One-time schedules (unmutes, expiries, timeouts); `None` without `SCHEDULE_GROUP` and friends.
    pub scheduler: Option<Arc<Scheduler>>,
    /// Muting CloudWatch alarms' actions (`MUTABLE_ALARMS`); `None` when no alarm may be muted.
    pub alarms: Option<AlarmMuting>,
    /// Alertmanager's silences (`ALERTMANAGER_URL`); `None` when not configured.
    pub silences: Option<SilenceApi>,
    /// [Show logs] (Logs Insights); `None` without the bot token.
    pub logs: Option<super::logs::LogsDeps>,
    /// Where the scheduled operations report goes (`REPORT_CHANNEL`, `REPORT_TEAM_CHANNELS`).
    pub reports: super::reports::ReportConfig,
}

impl SlackApp {
    /// Commands and buttons alone: the access list lets everyone in, no deploys, replay check or policy,
    /// the default budget and the system clock.
    pub fn basic(signing_secret: CachedSecret, services: Services, http: reqwest::Client) -> Self {
        Self {
            signing_secret,
            governance: Governance::default(),
            services,
            poster: SlackPoster::new(http, response_url_policy()),
            bot: None,
            budget: DEFAULT_BUDGET,
            now_unix: crate::clock::now_unix,
            deploys: None,
            replays: None,
            reads: None,
            incidents: None,
            scheduler: None,
            alarms: None,
            silences: None,
            logs: None,
            reports: super::reports::ReportConfig::default(),
        }
    }

    /// What acting on alerts uses.
    pub fn alert_deps(&self) -> AlertDeps<'_> {
        AlertDeps {
            muting: self.alarms.as_ref(),
            scheduler: self.scheduler.as_deref(),
            state: self.replays.as_ref(),
            bot: self.bot.as_deref(),
            silences: self.silences.as_ref(),
        }
    }

    /// What `/status`, the App Home and the help use.
    pub fn status_deps(&self) -> super::status::StatusDeps<'_> {
        super::status::StatusDeps {
            state: self.reads.as_ref().or(self.replays.as_ref()),
            bot: self.bot.as_deref(),
            governance: &self.governance,
        }
    }

    /// Whether the access list refuses `caller` (another team, a user not allowed).
    fn access_refuses(&self, caller: &Caller) -> bool {
        self.governance.access.refuse(caller).is_some()
    }

    /// The moment a request is handled, for the governance seam.
    pub fn at(&self, started: Instant, deadline: Instant) -> At {
        At { started, now_unix: (self.now_unix)(), deadline }
    }
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

/// A form body (slash command, button click, or Slack's `ssl_check`), signature already checked.
pub async fn handle_form(
    app: &SlackApp,
    form: HashMap<String, String>,
    started: Instant,
    deadline: Instant,
) -> Response<Body> {
    if form.get("ssl_check").map(String::as_str) == Some("1") {
        return text_response(200, "");
    }
    if let Some(payload) = form.get("payload") {
        // Boxed: the click's flows are large futures, kept off the caller's stack.
        return Box::pin(handle_click(app, payload, started, deadline)).await;
    }
    let mut command = match SlashCommand::from_form(form) {
        Ok(command) => command,
        Err(err) => return text_response(400, &err.to_string()),
    };
    if command.command == super::status::COMMAND {
        // A read: the access list and the audit line; what it shows is everyone's (no policy action).
        let caller = Caller::from(&command);
        let at = app.at(started, deadline);
        let outcome = app
            .governance
            .guard(&caller, Entry::Answer, at, async |_| {
                Box::pin(super::status::command(&app.status_deps(), &command, at.now_unix, deadline)).await
            })
            .await;
        return json_response(200, &outcome.message.to_json());
    }
    if command.command == incidents::COMMAND {
        // Incident texts are free text: ` -- ` is part of a status update, not a reason.
        let caller = Caller::from(&command);
        let at = app.at(started, deadline);
        let outcome = app
            .governance
            .guard(&caller, Entry::Change, at, async |gate| {
                let outcome =
                    Box::pin(incidents::command(app.incidents.as_ref(), &command, gate, at.now_unix, deadline)).await;
                // `help`: the usage, then what the policy lets this person do.
                super::status::command_help(&app.status_deps(), outcome, &command, deadline).await
            })
            .await;
        return json_response(200, &outcome.message.to_json());
    }
    // `/scale web 20 -- Black Friday`: the command sees `web 20`; the approvers see the reason.
    let (text, reason) = crate::governance::split_reason(&command.text);
    command.text = text;
    let caller = Caller { reason, ..Caller::from(&command) };
    let outcome = app
        .governance
        .guard(&caller, Entry::Change, app.at(started, deadline), async |gate| {
            let outcome = dispatch(&app.services, &command, gate, deadline).await;
            super::status::command_help(&app.status_deps(), outcome, &command, deadline).await
        })
        .await;
    json_response(200, &outcome.message.to_json())
}

/// A button click: acknowledged with an empty 200; the outcome goes to the message's `response_url`
/// (the updated message, or an ephemeral refusal), within the same budget.
async fn handle_click(app: &SlackApp, payload: &str, started: Instant, deadline: Instant) -> Response<Body> {
    let click = match BlockAction::parse(payload) {
        Ok(click) => click,
        Err(err) => return text_response(400, &err.to_string()),
    };
    // Keep time for the response_url update after the AWS calls.
    let action_deadline = deadline.checked_sub(RESPONSE_RESERVE).unwrap_or(deadline);
    let caller = Caller::from(&click);
    let at = app.at(started, action_deadline);
    let outcome = if click.action_id.starts_with(APPROVAL_PREFIX) {
        // Approving is not a change the rules gate: the request's own rule says who may approve.
        let approvals = &app.governance;
        approvals
            .guard(&caller, Entry::Answer, at, async |_| {
                approvals
                    .click(&click, at, async |request, requester, rerun, gate| {
                        run_approved(app, request, requester, rerun, gate, action_deadline).await
                    })
                    .await
            })
            .await
    } else if click.action_id == super::status::SHARE_ACTION {
        app.governance
            .guard(&caller, Entry::Answer, at, async |_| {
                Box::pin(super::status::share(&app.status_deps(), &click, at.now_unix, action_deadline)).await
            })
            .await
    } else if click.action_id.starts_with("alertmanager:") {
        app.governance
            .guard(&caller, Entry::Change, at, async |gate| {
                Box::pin(super::alerts::silence_click(app.alert_deps(), &click, gate, at.now_unix, action_deadline))
                    .await
            })
            .await
    } else if click.action_id.starts_with("alarm:") {
        app.governance
            .guard(&caller, Entry::Change, at, async |gate| {
                Box::pin(super::alerts::mute_click(app.alert_deps(), &click, gate, at.now_unix)).await
            })
            .await
    } else if click.action_id == crate::notify::LOGS_ACTION || click.action_id == crate::notify::LOGS_RESULTS_ACTION {
        app.governance
            .guard(&caller, Entry::Change, at, async |gate| {
                let (logs, bot) = (app.logs.as_ref(), app.bot.as_deref());
                if click.action_id == crate::notify::LOGS_ACTION {
                    Box::pin(super::logs::click(logs, bot, &click, gate, action_deadline)).await
                } else {
                    Box::pin(super::logs::results_click(logs, bot, &click, gate, action_deadline)).await
                }
            })
            .await
    } else if click.action_id.starts_with("alert:") {
        app.governance
            .guard(&caller, Entry::Change, at, async |gate| {
                Box::pin(super::alerts::click(app.replays.as_ref(), &click, gate, at.now_unix)).await
            })
            .await
    } else if click.action_id.starts_with("incident:") {
        app.governance
            .guard(&caller, Entry::Change, at, async |gate| {
                Box::pin(incidents::click(app.incidents.as_ref(), &click, gate, at.now_unix, action_deadline)).await
            })
            .await
    } else {
        app.governance
            .guard(&caller, Entry::Change, at, async |gate| {
                dispatch_action(&app.services, &click, gate, action_deadline).await
            })
            .await
    };
    if let Some(url) = &click.response_url {
        let url = crate::secret::Secret::new(url.clone());
        if let Err(err) = app.poster.post(&url, &outcome.message, deadline).await {
            tracing::error!(error = %err, action = %click.action_id, "could not update the message through response_url");
        }
    }
    text_response(200, "")
}

/// Runs an approved request as its requester: the same command, button or mention code as a direct
/// request, with the gate governance gives the approved re-run.
async fn run_approved(
    app: &SlackApp,
    request: &str,
    requester: &Caller,
    rerun: &Rerun,
    gate: &Gate<'_>,
    deadline: Instant,
) -> Outcome {
    match rerun {
        Rerun::Command { command, text } => {
            let is_incident = command == incidents::COMMAND;
            let command = SlashCommand {
                team_id: requester.team_id.clone(),
                team_domain: String::new(),
                enterprise_id: None,
                channel_id: requester.channel_id.clone(),
                channel_name: requester.channel_name.clone(),
                user_id: requester.user_id.clone(),
                user_name: requester.user_name.clone(),
                command: command.clone(),
                text: text.clone(),
                response_url: None,
                trigger_id: None,
            };
            if is_incident {
                return Box::pin(incidents::command(
                    app.incidents.as_ref(),
                    &command,
                    gate,
                    (app.now_unix)(),
                    deadline,
                ))
                .await;
            }
            dispatch(&app.services, &command, gate, deadline).await
        }
        Rerun::Button { action_id, value } => {
            let click = BlockAction {
                team_id: requester.team_id.clone(),
                user_id: requester.user_id.clone(),
                user_name: requester.user_name.clone(),
                channel_id: requester.channel_id.clone(),
                channel_name: requester.channel_name.clone(),
                action_id: action_id.clone(),
                block_id: String::new(),
                value: value.clone(),
                response_url: None,
                message_blocks: Vec::new(),
                in_attachment: false,
                message_color: None,
                message_text: String::new(),
                message_ts: None,
            };
            if action_id.starts_with("incident:") {
                let now = (app.now_unix)();
                return Box::pin(incidents::click(app.incidents.as_ref(), &click, gate, now, deadline)).await;
            }
            dispatch_action(&app.services, &click, gate, deadline).await
        }
        Rerun::Mention { channel, ts, thread_ts, text } => {
            let mention = Mention {
                event_id: format!("approved-{request}"),
                team_id: requester.team_id.clone(),
                user_id: requester.user_id.clone(),
                channel_id: channel.clone(),
                ts: ts.clone(),
                thread_ts: thread_ts.clone(),
                text: text.clone(),
            };
            deploys::run_approved(app.deploys.as_ref(), &mention, gate, deadline).await
        }
    }
}

/// The Events API (`/slack/events`), signature already checked: the URL check, mentions (deploys) and
/// reactions (incident timelines). Every delivery gets a 2xx unless its body is not an envelope: a
/// non-2xx counts against the app until Slack disables its event subscriptions.
pub async fn handle_events(app: &SlackApp, request: &lambda_http::Request, at: At) -> Response<Body> {
    let envelope = match EventEnvelope::parse(request.body().as_ref()) {
        Ok(envelope) => envelope,
        Err(err) => return text_response(400, &err.to_string()),
    };
    match envelope {
        EventEnvelope::UrlVerification { challenge } => {
            json_response(200, &serde_json::json!({ "challenge": challenge }))
        }
        EventEnvelope::Ignored { kind } => {
            tracing::debug!(event_type = %kind, "event ignored");
            text_response(200, "")
        }
        EventEnvelope::Mention(mention) => {
            let retry = request.headers().get("x-slack-retry-num").and_then(|v| v.to_str().ok());
            Box::pin(deploys::on_mention(&app.governance, app.deploys.as_ref(), &mention, retry, at)).await
        }
        EventEnvelope::HomeOpened(home) => {
            let caller = Caller {
                team_id: home.team_id.clone(),
                user_id: home.user_id.clone(),
                user_name: home.user_id.clone(),
                command: "app_home_opened".to_owned(),
                ..Caller::default()
            };
            // Someone the access list refuses sees no overview (the tab keeps whatever it showed).
            if app.access_refuses(&caller) {
                return text_response(200, "");
            }
            // Published within the event's own time: Slack waits 3 s for the 200, and a retry only publishes again.
            if let Err(err) =
                Box::pin(super::status::home(&app.status_deps(), &home.user_id, at.now_unix, at.deadline)).await
            {
                tracing::warn!(error = %err, user = %home.user_id, "App Home not published");
            }
            text_response(200, "")
        }
        EventEnvelope::Reaction(reaction) => {
            let caller = Caller {
                team_id: reaction.team_id.clone(),
                user_id: reaction.user_id.clone(),
                user_name: reaction.user_id.clone(),
                channel_id: reaction.channel_id.clone(),
                channel_name: reaction.channel_id.clone(),
                command: format!("reaction_added {}", reaction.reaction),
                text: reaction.message_ts.clone(),
                reason: None,
            };
            // Only a 📌 in an incident's channel is recorded (and audited); the rest is acknowledged.
            if app.access_refuses(&caller) {
                return text_response(200, "");
            }
            if let Some(outcome) = Box::pin(incidents::reaction(app.incidents.as_ref(), &reaction, at.deadline)).await {
                app.governance.guard(&caller, Entry::Answer, at, async |_| outcome).await;
            }
            text_response(200, "")
        }
    }
}

/// A signature stays valid for 5 minutes, so a captured request could be sent again and act twice: each
/// accepted signature is recorded (a hash of it) by conditional write, and a second arrival is refused
/// with an audit line. Slack's own retries carry new signatures. When the table cannot be reached the
/// request is served (the signature was valid) and the log says so: commands stay available.
pub async fn first_arrival(
    app: &SlackApp,
    state: &StateTable,
    signature: &[u8],
    body: &[u8],
    started: Instant,
) -> bool {
    use sha2::Digest as _;
    let id = hex::encode(sha2::Sha256::digest(signature));
    let now = (app.now_unix)();
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
            let outcome = Outcome::ephemeral("", Decision::Refused("replayed request".into()));
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
