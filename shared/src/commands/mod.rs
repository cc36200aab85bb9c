//! Slash commands and button actions: who may run them, the tables that route them to their modules,
//! the outcome each reports, and the audit line every one leaves. A new command is one module and one
//! line in [`COMMANDS`]; a new kind of button, one module and one line in [`ACTIONS`].

pub mod codedeploy;
pub mod scale;

use std::collections::BTreeSet;
use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

use crate::notify::codedeploy::CodeDeploySettings;
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
#[derive(Clone, Debug, Default, PartialEq, Eq)]
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
}

impl Decision {
    pub fn label(&self) -> &'static str {
        match self {
            Self::Done => "done",
            Self::Info => "info",
            Self::Refused(_) => "refused",
            Self::Failed(_) => "failed",
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
}

impl Outcome {
    /// An answer only the caller sees.
    pub fn ephemeral(text: impl Into<String>, decision: Decision) -> Self {
        let text = text.into();
        let mut message = Message::new(text.clone()).block(Block::section(text));
        message.response_type = Some("ephemeral");
        Self { message, decision, resource: None, before: None, after: None, pipeline: None }
    }

    pub fn on(mut self, resource: &str) -> Self {
        self.resource = Some(resource.to_owned());
        self
    }
}

type Handler =
    for<'a> fn(&'a Services, &'a SlashCommand, Instant) -> Pin<Box<dyn Future<Output = Outcome> + Send + 'a>>;

/// The command table: name as configured in the Slack app, one-line summary, handler.
pub const COMMANDS: &[(&str, &str, Handler)] = &[("/scale", scale::SUMMARY, |s, c, d| Box::pin(scale::run(s, c, d)))];

type ActionHandler =
    for<'a> fn(&'a Services, &'a BlockAction, Instant) -> Pin<Box<dyn Future<Output = Outcome> + Send + 'a>>;

/// The button table: `action_id` prefix, handler.
pub const ACTIONS: &[(&str, ActionHandler)] = &[("codedeploy:", |s, a, d| Box::pin(codedeploy::run(s, a, d)))];

/// Runs the action of a button click before `deadline`.
pub async fn dispatch_action(services: &Services, click: &BlockAction, deadline: Instant) -> Outcome {
    match ACTIONS.iter().find(|(prefix, _)| click.action_id.starts_with(prefix)) {
        Some((_, handler)) => handler(services, click, deadline).await,
        None => Outcome::ephemeral(
            format!("I don't know the action `{}`.", escape(&click.action_id)),
            Decision::Refused("unknown action".into()),
        ),
    }
}

/// Runs the command named in the payload before `deadline`.
pub async fn dispatch(services: &Services, command: &SlashCommand, deadline: Instant) -> Outcome {
    match COMMANDS.iter().find(|(name, _, _)| *name == command.command) {
        Some((_, _, handler)) => handler(services, command, deadline).await,
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
        latency_ms = latency.as_millis() as u64,
        "command audited"
    );
}

/// Time left before `deadline`, or `None` when it has passed.
pub(crate) fn remaining(deadline: Instant) -> Option<Duration> {
    deadline.checked_duration_since(Instant::now()).filter(|d| !d.is_zero())
}
