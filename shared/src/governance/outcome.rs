//! Who asked ([`Caller`]) and what came of it ([`Outcome`], [`Decision`]): the fields every entry point's
//! audit line carries, and a change that waits for approval ([`Proposal`], [`Rerun`]).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::slack::events::Mention;
use crate::slack::form::SlashCommand;
use crate::slack::interaction::BlockAction;
use crate::slack::{Block, Message};

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

/// One structured audit line per command, marked `kind = "audit"` so Logs Insights or a metric filter
/// can select it (`{ $.fields.kind = "audit" }`).
pub fn audit(command: &Caller, outcome: &Outcome, latency: Duration) {
    crate::metrics::count_decision(outcome.decision.label());
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

/// The change a command made, as the state table keeps it for an alert's `🔧 Recent changes` line and
/// the reports: a `/scale`, a CodeDeploy button, a mute, a deploy by mention started, a deploy's result.
/// `None` for everything else (help, refusals, acknowledgements).
pub fn change_of(caller: &Caller, outcome: &Outcome, now_ms: i64) -> Option<crate::state::Change> {
    let resource = outcome.resource.clone().unwrap_or_default();
    let done = outcome.decision == Decision::Done;
    let command = caller.command.as_str();
    let pipeline = outcome.pipeline.clone().map(|url| ("pipeline".to_owned(), url));
    let (kind, what, link) = match command {
        "deploy result" if matches!(outcome.decision, Decision::Done | Decision::Failed(_)) => {
            let result = if done { "deployed" } else { "deploy failed" };
            ("deploy-result", format!("{resource} {result}"), pipeline)
        }
        _ if !done || resource.is_empty() => return None,
        "/scale" => match (outcome.before, outcome.after) {
            (Some(before), Some(after)) => ("scale", format!("{resource} {before} → {after}"), None),
            _ => return None,
        },
        // [Mute 1 h] `alarm:mute`, [Mute 4 h] `alarm:mute-4h`, [Mute until OK] `alarm:mute-ok`.
        _ if command.starts_with("alarm:mute") => ("mute", format!("{resource} muted"), None),
        _ if command.starts_with("codedeploy:") => {
            let verb = command.trim_start_matches("codedeploy:").replace(['_', '-'], " ");
            ("codedeploy", format!("CodeDeploy {resource}: {verb}"), None)
        }
        _ if command.starts_with("@mention") && pipeline.is_some() => {
            ("deploy", format!("{resource} deploy started"), pipeline)
        }
        _ => return None,
    };
    Some(crate::state::Change {
        at_ms: now_ms,
        id: crate::state::unique_owner(kind),
        kind: kind.to_owned(),
        what,
        by: Some(caller.user_id.clone()).filter(|u| !u.is_empty()),
        link,
        account: crate::aws::graphs::own_account(),
        region: crate::config::non_empty(&crate::config::process_env, "AWS_REGION"),
        channel: Some(caller.channel_id.clone()).filter(|c| c.starts_with(['C', 'G'])),
    })
}

/// Records the change `outcome` made, if it made one; a failure is logged, never the command's.
pub async fn record_change(state: Option<&crate::state::StateTable>, caller: &Caller, outcome: &Outcome) {
    let (Some(state), Some(change)) = (state, change_of(caller, outcome, crate::clock::now_ms())) else { return };
    if let Err(err) = state.record_change(&change, change.at_ms / 1000).await {
        tracing::warn!(error = %err, kind = %change.kind, "change not recorded: alerts will not show it as recent");
    }
}
