//! Slash commands and button actions: who may run them, the tables that route them to their modules,
//! the outcome each reports, and the audit line every one leaves. A new command is one module and one
//! line in [`COMMANDS`]; a new kind of button, one module and one line in [`ACTIONS`].
//!
//! A command reads first and asks its [`Gate`] just before it changes anything, once it knows the
//! resource and the size of the change: the gate answers go, refused (by which rule), or needs
//! approval, in which case the command returns a [`Proposal`] (what would run, and how to run it again
//! once approved) instead of acting.

pub mod codedeploy;
pub mod scale;

use std::collections::BTreeSet;
use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::notify::codedeploy::CodeDeploySettings;
use crate::policy::{Ask, Policy, Verdict};
use crate::slack::events::Mention;
use crate::slack::form::SlashCommand;
use crate::slack::interaction::BlockAction;
use crate::slack::{Block, Message, escape};

/// The AWS clients and settings commands use, built once per container.
#[derive(Clone, Debug)]
pub struct Services {
    pub autoscaling: aws_sdk_autoscaling::Client,
    pub codedeploy: aws_sdk_codedeploy::Client,
    /// Which deployment groups buttons may act on.
    pub codedeploy_settings: CodeDeploySettings,
}

/// Who asked, from where, for what: the subject of the policy check and of the audit line.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Caller {
    pub team_id: String,
    pub user_id: String,
    pub user_name: String,
    pub channel_id: String,
    pub channel_name: String,
    /// The slash command (`/scale`) or the button's action (`codedeploy:switch`).
    pub command: String,
    /// The command text, or the button's value.
    pub text: String,
    /// Why, when the requester said (`/scale web 20 -- Black Friday`): shown to approvers.
    #[serde(default)]
    pub reason: Option<String>,
}

/// Splits a request's text from its reason: `web 20 -- Black Friday` is `web 20` because `Black Friday`.
pub fn split_reason(text: &str) -> (String, Option<String>) {
    let padded = format!(" {text} ");
    match padded.find(" -- ") {
        Some(at) => {
            let reason = padded[at + 4..].trim();
            (padded[..at].trim().to_owned(), (!reason.is_empty()).then(|| reason.to_owned()))
        }
        None => (text.trim().to_owned(), None),
    }
}

impl From<&SlashCommand> for Caller {
    fn from(c: &SlashCommand) -> Self {
        Self {
            team_id: c.team_id.clone(),
            user_id: c.user_id.clone(),
            user_name: c.user_name.clone(),
            channel_id: c.channel_id.clone(),
            channel_name: c.channel_name.clone(),
            command: c.command.clone(),
            text: c.text.clone(),
            reason: None,
        }
    }
}

impl From<&Mention> for Caller {
    /// A mention: the first word is the command (`release`), the rest its text. Slack's event carries
    /// no user or channel name; the IDs stand in for them.
    fn from(m: &Mention) -> Self {
        let words = m.text.split_whitespace().filter(|w| !crate::slack::events::is_user_mention(w));
        let mut words = words.map(str::to_owned);
        let command = words.next().map(|w| w.to_lowercase()).unwrap_or_default();
        Self {
            team_id: m.team_id.clone(),
            user_id: m.user_id.clone(),
            user_name: m.user_id.clone(),
            channel_id: m.channel_id.clone(),
            channel_name: m.channel_id.clone(),
            command: format!("@mention {command}").trim_end().to_owned(),
            text: words.collect::<Vec<_>>().join(" "),
            reason: None,
        }
    }
}

impl From<&BlockAction> for Caller {
    fn from(a: &BlockAction) -> Self {
        Self {
            team_id: a.team_id.clone(),
            user_id: a.user_id.clone(),
            user_name: a.user_name.clone(),
            channel_id: a.channel_id.clone(),
            channel_name: a.channel_name.clone(),
            command: a.action_id.clone(),
            text: a.value.clone(),
            reason: None,
        }
    }
}

/// What a command decided, for the audit line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// A change was made.
    Done,
    /// Nothing to change: help, status, already at the target.
    Info,
    /// Not allowed, or not possible as asked.
    Refused(String),
    /// Something failed on the way (AWS error, time budget).
    Failed(String),
    /// Not run: waiting for approval.
    Pending,
}

impl Decision {
    pub fn label(&self) -> &'static str {
        match self {
            Self::Done => "done",
            Self::Info => "info",
            Self::Refused(_) => "refused",
            Self::Failed(_) => "failed",
            Self::Pending => "pending",
        }
    }

    pub fn reason(&self) -> Option<&str> {
        match self {
            Self::Refused(r) | Self::Failed(r) => Some(r),
            _ => None,
        }
    }
}

/// A command's answer to Slack and what the audit line records.
#[derive(Clone, Debug, PartialEq)]
pub struct Outcome {
    pub message: Message,
    pub decision: Decision,
    /// The resource acted on (an Auto Scaling group name).
    pub resource: Option<String>,
    pub before: Option<i64>,
    pub after: Option<i64>,
    /// The pipeline a deploy started (its page), for the audit line.
    pub pipeline: Option<String>,
    /// A change that needs approval first: what would run (with [`Decision::Pending`]).
    pub proposal: Option<Box<Proposal>>,
    /// The approval request this step belongs to, and the step (`requested`, `approved`, `denied`,
    /// `expired`, `executed`, `failed`), for the audit line.
    pub approval: Option<(String, &'static str)>,
}

/// A change that waits for approval: what it is, for the approvers, and how to run it once approved.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proposal {
    /// The policy rule that asked for approval.
    pub rule: String,
    pub action: String,
    pub resource: String,
    /// What will run, one sentence of Slack mrkdwn (`scale \`web\` from 2 to 20 instances`).
    pub summary: String,
    pub rerun: Rerun,
}

/// How an approved request runs: the same entry point again, with what was resolved at request time
/// (an absolute capacity, not `+2`), so what runs is what the approvers saw.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Rerun {
    Command { command: String, text: String },
    Button { action_id: String, value: String },
    Mention { channel: String, ts: String, thread_ts: String, text: String },
}

/// What the policy says of one change, for the command that is about to make it.
#[derive(Clone, Debug, PartialEq)]
pub enum Pass {
    Go,
    Refused(Box<Outcome>),
    /// Under this rule: the command returns a [`Proposal`] instead of acting.
    NeedsApproval(String),
}

/// The policy as it applies to one caller: asked by commands just before they change anything.
#[derive(Clone, Debug)]
pub struct Gate<'a> {
    pub caller: &'a Caller,
    /// `None` without `CHATOPS_POLICY`: the access list alone decides, nothing needs approval.
    pub policy: Option<&'a Policy>,
    /// The caller's user groups, among those the policy names.
    pub groups: BTreeSet<String>,
    /// Running an approved request: its approval rule is satisfied; the rest is checked again.
    pub approved: bool,
}

impl<'a> Gate<'a> {
    /// No policy: every change the access list lets through runs.
    pub fn open(caller: &'a Caller) -> Self {
        Self { caller, policy: None, groups: BTreeSet::new(), approved: false }
    }

    /// May the caller make this change now? `change` is the capacity before and after, for `/scale`.
    pub fn check(&self, action: &str, resource: &str, change: Option<(i64, i64)>) -> Pass {
        let Some(policy) = self.policy else { return Pass::Go };
        let ask = Ask { action, resource, user: &self.caller.user_id, channel: &self.caller.channel_id, change };
        match policy.decide(&ask, &self.groups) {
            Verdict::Allowed { .. } => Pass::Go,
            Verdict::NeedsApproval { .. } if self.approved => Pass::Go,
            Verdict::NeedsApproval { rule, .. } => Pass::NeedsApproval(rule.name.clone()),
            Verdict::Refused { reason, message } => {
                Pass::Refused(Box::new(Outcome::ephemeral(message, Decision::Refused(reason)).on(resource)))
            }
        }
    }

    /// Whether the caller may ask for `action` on `resource` at all (perhaps with approval): for lists.
    pub fn may_request(&self, action: &str, resource: &str) -> bool {
        !matches!(self.check(action, resource, None), Pass::Refused(_))
    }
}

impl Outcome {
    /// An answer only the caller sees.
    pub fn ephemeral(text: impl Into<String>, decision: Decision) -> Self {
        let text = text.into();
        let mut message = Message::new(text.clone()).block(Block::section(text));
        message.response_type = Some("ephemeral");
        Self {
            message,
            decision,
            resource: None,
            before: None,
            after: None,
            pipeline: None,
            proposal: None,
            approval: None,
        }
    }

    /// Not run: `proposal` waits for approval. The requester's answer is written where the request is stored.
    pub fn pending(proposal: Proposal) -> Self {
        let mut outcome = Self::ephemeral(proposal.summary.clone(), Decision::Pending).on(&proposal.resource);
        outcome.proposal = Some(Box::new(proposal));
        outcome
    }

    pub fn on(mut self, resource: &str) -> Self {
        self.resource = Some(resource.to_owned());
        self
    }
}

type Handler = for<'a, 'g> fn(
    &'a Services,
    &'a SlashCommand,
    &'a Gate<'g>,
    Instant,
) -> Pin<Box<dyn Future<Output = Outcome> + Send + 'a>>;

/// The command table: name as configured in the Slack app, one-line summary, handler.
pub const COMMANDS: &[(&str, &str, Handler)] =
    &[("/scale", scale::SUMMARY, |s, c, g, d| Box::pin(scale::run(s, c, g, d)))];

type ActionHandler = for<'a, 'g> fn(
    &'a Services,
    &'a BlockAction,
    &'a Gate<'g>,
    Instant,
) -> Pin<Box<dyn Future<Output = Outcome> + Send + 'a>>;

/// The button table: `action_id` prefix, handler.
pub const ACTIONS: &[(&str, ActionHandler)] = &[("codedeploy:", |s, a, g, d| Box::pin(codedeploy::run(s, a, g, d)))];

/// Runs the action of a button click before `deadline`.
pub async fn dispatch_action(services: &Services, click: &BlockAction, gate: &Gate<'_>, deadline: Instant) -> Outcome {
    match ACTIONS.iter().find(|(prefix, _)| click.action_id.starts_with(prefix)) {
        Some((_, handler)) => handler(services, click, gate, deadline).await,
        None => Outcome::ephemeral(
            format!("I don't know the action `{}`.", escape(&click.action_id)),
            Decision::Refused("unknown action".into()),
        ),
    }
}

/// Runs the command named in the payload before `deadline`.
pub async fn dispatch(services: &Services, command: &SlashCommand, gate: &Gate<'_>, deadline: Instant) -> Outcome {
    match COMMANDS.iter().find(|(name, _, _)| *name == command.command) {
        Some((_, _, handler)) => handler(services, command, gate, deadline).await,
        None => {
            let known: Vec<String> = COMMANDS.iter().map(|(n, s, _)| format!("`{n}`: {s}")).collect();
            Outcome::ephemeral(
                format!("I don't know `{}`. I know:\n{}", escape(&command.command), known.join("\n")),
                Decision::Refused("unknown command".into()),
            )
        }
    }
}

/// Who may use the commands: one workspace, and optionally a list of users.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AccessPolicy {
    pub team_id: Option<String>,
    /// `None`: every member of the workspace.
    pub allowed_users: Option<BTreeSet<String>>,
}

impl AccessPolicy {
    /// `SLACK_ALLOWED_USERS` is a comma-separated list of user IDs; blank entries are ignored.
    pub fn parse_users(list: Option<&str>) -> Option<BTreeSet<String>> {
        let users: BTreeSet<String> =
            list?.split(',').map(str::trim).filter(|u| !u.is_empty()).map(str::to_owned).collect();
        (!users.is_empty()).then_some(users)
    }

    /// `Some(refusal)` when the caller may not run commands or press buttons here.
    pub fn refuse(&self, command: &Caller) -> Option<Outcome> {
        if let Some(team) = &self.team_id
            && &command.team_id != team
        {
            return Some(Outcome::ephemeral(
                "This app does not take commands from this workspace.",
                Decision::Refused("workspace not allowed".into()),
            ));
        }
        if let Some(users) = &self.allowed_users
            && !users.contains(&command.user_id)
        {
            return Some(Outcome::ephemeral(
                format!(
                    "Sorry <@{}>, you are not allowed to run `{}`. Ask an admin to add your user ID to SLACK_ALLOWED_USERS.",
                    escape(&command.user_id),
                    escape(&command.command)
                ),
                Decision::Refused("user not allowed".into()),
            ));
        }
        None
    }
}

/// One structured audit line per command, marked `kind = "audit"` so Logs Insights or a metric filter
/// can select it (`{ $.fields.kind = "audit" }`).
pub fn audit(command: &Caller, outcome: &Outcome, latency: Duration) {
    tracing::info!(
        target: "audit",
        kind = "audit",
        team_id = %command.team_id,
        user_id = %command.user_id,
        user_name = %command.user_name,
        channel_id = %command.channel_id,
        channel_name = %command.channel_name,
        command = %command.command,
        text = %command.text,
        decision = outcome.decision.label(),
        reason = outcome.decision.reason(),
        resource = outcome.resource.as_deref(),
        before = outcome.before,
        after = outcome.after,
        pipeline = outcome.pipeline.as_deref(),
        request_reason = command.reason.as_deref(),
        approval_request = outcome.approval.as_ref().map(|(id, _)| id.as_str()),
        approval_step = outcome.approval.as_ref().map(|(_, step)| *step),
        latency_ms = latency.as_millis() as u64,
        "command audited"
    );
}

/// Time left before `deadline`, or `None` when it has passed.
pub(crate) fn remaining(deadline: Instant) -> Option<Duration> {
    deadline.checked_duration_since(Instant::now()).filter(|d| !d.is_zero())
}
