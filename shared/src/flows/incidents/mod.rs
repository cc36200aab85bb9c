//! Incidents from Slack: `/incident declare <title> [sev1-4]` numbers the incident (`INC-<n>`), opens
//! its channel with the declarer and `INCIDENT_RESPONDERS` in it, pins its status there and announces it
//! in `INCIDENTS_CHANNEL`, one message updated in place for the rest of its life. In its channel,
//! `/incident status|sev|lead|resolve` change it, each change on the timeline with the messages people
//! mark 📌; resolving posts the timeline and uploads a post-mortem draft. A paging alert's
//! [Declare incident] declares one titled after the alert, once however many people click.
//!
//! Every entry goes through the governance seam (`incident:declare`, `incident:update`,
//! `incident:resolve`) and the state table's tools: a counter for numbers, a claim per declaration,
//! conditional updates while open, timeline entries written once.

mod render;

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::config::ConfigError;
use crate::governance::{Caller, Decision, Gate, Outcome, Pass, Proposal, Rerun};
use crate::slack::bot::{Bot, BotError};
use crate::slack::events::Reaction;
use crate::slack::form::SlashCommand;
use crate::slack::interaction::BlockAction;
use crate::slack::{Block, Message, escape};
use crate::state::{
    Declaration, FollowUp, INCIDENT_RETENTION_S, IncidentChange, IncidentRecord, StateError, StateTable, TimelineEntry,
};

pub use render::{channel_name, postmortem};

/// The slash command (add it to the Slack app; `slack/manifest.yaml` has it).
pub const COMMAND: &str = "/incident";
/// The action ID of an alert's [Declare incident] button.
pub const DECLARE_ACTION: &str = "incident:declare";
/// The action ID of an alert's [🔒 Private incident] button (the same value as [Declare incident]).
pub const DECLARE_PRIVATE_ACTION: &str = "incident:declare-private";
/// The policy action a private incident needs besides `incident:declare`.
pub const PRIVATE_ACTION: &str = "incident:private";
/// The policy action that files follow-ups as issues.
pub const FOLLOWUPS_ACTION: &str = "incident:followups";
pub const INCIDENTS_CHANNEL_VAR: &str = "INCIDENTS_CHANNEL";
pub const INCIDENT_RESPONDERS_VAR: &str = "INCIDENT_RESPONDERS";
/// How long an incident may go without a status update, per severity, and the long quiet after which it is
/// asked whether it is over: `sev1=15m,sev2=30m,sev3=2h,sev4=off,stale=24h` (the default).
pub const INCIDENT_REMINDERS_VAR: &str = "INCIDENT_REMINDERS";
const DEFAULT_REMINDERS: &str = "sev1=15m,sev2=30m,sev3=2h,sev4=off,stale=24h";

/// When an incident is due a status update (`INCIDENT_REMINDERS`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reminders {
    /// Seconds after an update, for SEV1..SEV4; `None`: no reminder at that severity.
    pub every: [Option<i64>; 4],
    /// Seconds of quiet after which it is asked whether it is over; `None`: never.
    pub stale: Option<i64>,
}

impl Default for Reminders {
    fn default() -> Self {
        Self::parse(DEFAULT_REMINDERS).unwrap_or(Self { every: [None; 4], stale: None })
    }
}

impl Reminders {
    /// `sev1=15m,sev2=30m,sev3=2h,sev4=off,stale=24h`: seconds (`s`), minutes (`m`) or hours (`h`), or `off`;
    /// a key left out keeps its default.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut out = Self { every: [Some(900), Some(1800), Some(7200), None], stale: Some(86_400) };
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (key, value) = part.split_once('=').ok_or_else(|| format!("`{part}` is not key=duration"))?;
            let value = value.trim();
            let seconds = if value.eq_ignore_ascii_case("off") {
                None
            } else {
                let (number, unit) = value.split_at(value.len().saturating_sub(1));
                let n: i64 =
                    number.trim().parse().map_err(|_| format!("`{value}` is not a duration (15m, 2h, 30s, off)"))?;
                let scale = match unit {
                    "s" => 1,
                    "m" => 60,
                    "h" => 3600,
                    _ => return Err(format!("`{value}` is not a duration (15m, 2h, 30s, off)")),
                };
                Some(
                    n.checked_mul(scale)
                        .filter(|s| *s > 0)
                        .ok_or_else(|| format!("`{value}` is not a positive duration"))?,
                )
            };
            match key.trim().to_ascii_lowercase().as_str() {
                "sev1" => out.every[0] = seconds,
                "sev2" => out.every[1] = seconds,
                "sev3" => out.every[2] = seconds,
                "sev4" => out.every[3] = seconds,
                "stale" => out.stale = seconds,
                other => return Err(format!("`{other}` is not sev1..sev4 or stale")),
            }
        }
        Ok(out)
    }

    /// The next reminder after an update at `since` for `severity`: (when, whether it is the stale one).
    pub fn next(&self, severity: i64, since: i64) -> Option<(i64, bool)> {
        let index = (severity.clamp(1, 4) - 1) as usize;
        match (self.every[index], self.stale) {
            (Some(every), _) => Some((since + every, false)),
            (None, Some(stale)) => Some((since + stale, true)),
            (None, None) => None,
        }
    }
}

/// A repeated `/incident declare` of the same title by the same person within this long is the same incident.
const REPEAT_WINDOW_S: i64 = 60;
/// One alert declares one incident for this long.
const ALERT_CLAIM_S: i64 = 7 * 86_400;
/// Time kept before the deadline for writing down what was done.
const RESERVE: Duration = Duration::from_millis(150);

const NOT_CONFIGURED: &str = ":warning: Incidents are not set up in this workspace's ChatOps stack: they need the bot token (`SLACK_BOT_TOKEN`, or `KMS_ENCRYPTED_SLACK_BOT_TOKEN`, or the stack's secret) and the state table (`STATE_TABLE`). Nothing was done.";

const USAGE: &str = "*`/incident`* — declare and run incidents:\n• `/incident declare <title> [sev1|sev2|sev3|sev4]` (default sev3): a new incident with its own channel\n• `/incident declare --private <title> [@someone …]`: a private channel with only you (and those named); announced without details\n• `/incident list`: the open incidents\nIn an incident's channel:\n• `/incident`: its state\n• `/incident status <text>`: a status update\n• `/incident sev <1-4>` · `/incident lead @someone` · `/incident role comms @someone` (roles: lead, comms, scribe)\n• `/incident followup <text>` (or 📝 on a message): an action item · `/incident followups [file]`: list them, or file them as issues\n• `/incident resolve [summary]`: resolved, with the timeline, a post-mortem draft and the follow-ups filed";

/// Incidents' settings (the names are the contract).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IncidentConfig {
    /// `INCIDENTS_CHANNEL`: where incidents are announced (a channel ID); `None`: not announced.
    pub channel: Option<String>,
    /// `INCIDENT_RESPONDERS`: users (`U…`, `W…`) and user groups (`S…`) invited to every incident's channel.
    pub responders: Vec<String>,
    /// `INCIDENT_REMINDERS`: when an incident is due a status update (with the schedules).
    pub reminders: Reminders,
}

impl IncidentConfig {
    /// Reads the settings; `has_bot_token` / `has_state_table` say whether incidents can work at all,
    /// so a configuration that asks for them without what they need fails at init, naming what is missing.
    pub fn from_lookup(
        lookup: &dyn Fn(&str) -> Option<String>,
        has_bot_token: bool,
        has_state_table: bool,
    ) -> Result<Self, ConfigError> {
        let channel = crate::config::non_empty(lookup, INCIDENTS_CHANNEL_VAR);
        let responders_text = crate::config::non_empty(lookup, INCIDENT_RESPONDERS_VAR);
        let mut responders = Vec::new();
        for id in responders_text.iter().flat_map(|t| t.split([',', ' '])).map(str::trim).filter(|t| !t.is_empty()) {
            let ok = id.len() >= 3
                && matches!(id.as_bytes()[0], b'U' | b'W' | b'S')
                && id.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
            if !ok {
                return Err(ConfigError::Invalid {
                    var: INCIDENT_RESPONDERS_VAR,
                    problem: format!("`{id}` is not a Slack user ID (U…/W…) or user group ID (S…)"),
                });
            }
            responders.push(id.to_owned());
        }
        if let Some(c) = &channel
            && !(c.len() >= 3 && matches!(c.as_bytes()[0], b'C' | b'G') && c.bytes().all(|b| b.is_ascii_alphanumeric()))
        {
            return Err(ConfigError::Invalid {
                var: INCIDENTS_CHANNEL_VAR,
                problem: format!("`{c}` is not a channel ID (C…): the announcement is updated by ID"),
            });
        }
        let asked = channel.is_some() || !responders.is_empty();
        if asked && !has_bot_token {
            return Err(ConfigError::Missing {
                var: crate::config::BOT_TOKEN_PLAIN_VAR,
                hint: "INCIDENTS_CHANNEL / INCIDENT_RESPONDERS are set: incidents need the bot token (or KMS_ENCRYPTED_SLACK_BOT_TOKEN) to create channels and post",
            });
        }
        if asked && !has_state_table {
            return Err(ConfigError::Missing {
                var: crate::config::STATE_TABLE_VAR,
                hint: "INCIDENTS_CHANNEL / INCIDENT_RESPONDERS are set: incidents are numbered and kept in the state table",
            });
        }
        let reminders = match crate::config::non_empty(lookup, INCIDENT_REMINDERS_VAR) {
            Some(text) => Reminders::parse(&text)
                .map_err(|problem| ConfigError::Invalid { var: INCIDENT_REMINDERS_VAR, problem })?,
            None => Reminders::default(),
        };
        Ok(Self { channel, responders, reminders })
    }
}

/// What incidents need, per container.
pub struct IncidentDeps {
    pub config: IncidentConfig,
    pub bot: Arc<Bot>,
    pub state: StateTable,
    /// People's names for the post-mortem draft (`users.info`, kept per container).
    pub names: crate::slack::users::UserNames,
    /// Update reminders' schedules; `None`: no reminders.
    pub scheduler: Option<Arc<crate::aws::scheduler::Scheduler>>,
    /// Where follow-ups are filed (the deploy mapping's `issues` entries); `None`: deploys not configured.
    pub trackers: Option<Trackers>,
}

/// The issue trackers of follow-ups: the deploy mapping (shared with deploys) and the HTTP client.
pub struct Trackers {
    pub targets: Arc<crate::aws::secrets::CachedSecretJson<crate::deploy::DeployTargets>>,
    pub pipelines: crate::deploy::Pipelines,
}

/// What `/incident` was asked (public for the fuzz target; [`Ask::parse`] reads it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ask {
    Show,
    Help,
    List,
    Declare {
        title: String,
        severity: i64,
        /// `--private`: a private channel, shown only to its members.
        private: bool,
        /// People to invite besides the declarer (the mentions of a private declaration).
        invite: Vec<String>,
    },
    Status(String),
    Severity(i64),
    Lead(String),
    /// A role other than the lead: `comms` or `scribe`, and who.
    Role(&'static str, String),
    Resolve(Option<String>),
    /// `/incident followup <text>`: an action item.
    FollowUp(String),
    /// `/incident followups`: the follow-ups and their issues.
    FollowUps,
    /// `/incident followups file`: files the open ones as issues.
    FileFollowUps,
}

fn parse_severity(word: &str) -> Option<i64> {
    let digits = word.trim().to_ascii_lowercase();
    let digits = digits.strip_prefix("sev").unwrap_or(&digits).trim_start_matches('-');
    digits.parse().ok().filter(|s| (1..=4).contains(s))
}

/// `<@U123|alice>` (an escaped mention), `<@U123>` or `U123`: the user ID.
fn parse_user(word: &str) -> Option<String> {
    let id = word.trim().trim_start_matches('<').trim_end_matches('>').trim_start_matches('@');
    let id = id.split('|').next().unwrap_or_default();
    (id.len() >= 3 && matches!(id.as_bytes()[0], b'U' | b'W') && id.bytes().all(|b| b.is_ascii_alphanumeric()))
        .then(|| id.to_owned())
}

impl Ask {
    /// `text` as Slack sends it: `&`, `<` and `>` typed by a person arrive as `&amp;`, `&lt;` and `&gt;`.
    /// Titles, updates and summaries are kept as typed (a channel name, a topic and the post-mortem
    /// use them raw; messages escape them again).
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = crate::slack::unescape(text);
        let text = text.trim();
        let (verb, rest) = text.split_once(char::is_whitespace).unwrap_or((text, ""));
        let rest = rest.trim();
        match verb.to_ascii_lowercase().as_str() {
            "" => Ok(Self::Show),
            "help" => Ok(Self::Help),
            "list" => Ok(Self::List),
            "declare" | "new" | "open" => {
                let words: Vec<&str> = rest.split_whitespace().collect();
                let private = words.iter().any(|w| w.eq_ignore_ascii_case("--private"));
                let mut invite = Vec::new();
                let rest = if private {
                    // A private declaration's mentions are the people to invite, not part of its title.
                    let kept: Vec<&str> = words
                        .iter()
                        .filter(|w| !w.eq_ignore_ascii_case("--private"))
                        .filter(|w| match w.starts_with("<@").then(|| parse_user(w)).flatten() {
                            Some(user) => {
                                if !invite.contains(&user) {
                                    invite.push(user);
                                }
                                false
                            }
                            None => true,
                        })
                        .copied()
                        .collect();
                    kept.join(" ")
                } else {
                    rest.to_owned()
                };
                let rest = rest.as_str();
                let (title, severity) = match rest.rsplit_once(char::is_whitespace) {
                    Some((title, last))
                        if parse_severity(last).is_some() && last.to_ascii_lowercase().starts_with("sev") =>
                    {
                        (title.trim(), parse_severity(last).unwrap_or(3))
                    }
                    _ if rest.to_ascii_lowercase().starts_with("sev") && parse_severity(rest).is_some() => ("", 3),
                    _ => (rest, 3),
                };
                if title.is_empty() {
                    return Err("Give the incident a title: `/incident declare Checkout errors above 5 % sev2`".into());
                }
                invite.truncate(30);
                Ok(Self::Declare { title: crate::text::truncate(title, 150).into_owned(), severity, private, invite })
            }
            "status" | "update" => match rest {
                "" => Err("Say what the status is: `/incident status Rolled back, error rate falling`".into()),
                text => Ok(Self::Status(crate::text::truncate(text, 2000).into_owned())),
            },
            "sev" | "severity" => parse_severity(rest)
                .map(Self::Severity)
                .ok_or_else(|| "Give a severity from 1 (worst) to 4: `/incident sev 2`".into()),
            "lead" => parse_user(rest)
                .map(Self::Lead)
                .ok_or_else(|| "Name the new lead with an @mention: `/incident lead @alice`".into()),
            "role" => {
                let (role, who) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
                let user = parse_user(who);
                match (role.to_ascii_lowercase().as_str(), user) {
                    ("lead", Some(user)) => Ok(Self::Lead(user)),
                    ("comms", Some(user)) => Ok(Self::Role("comms", user)),
                    ("scribe", Some(user)) => Ok(Self::Role("scribe", user)),
                    _ => Err("Give a role (`lead`, `comms` or `scribe`) and who, with an @mention: `/incident role comms @bob`".into()),
                }
            }
            "followup" | "follow-up" | "action" => match rest {
                "" => Err("Say what is to be done: `/incident followup Add an alarm on the queue's age`".into()),
                text => Ok(Self::FollowUp(crate::text::truncate(text, 500).into_owned())),
            },
            "followups" | "follow-ups" | "actions" => match rest.to_ascii_lowercase().as_str() {
                "" | "list" => Ok(Self::FollowUps),
                "file" => Ok(Self::FileFollowUps),
                _ => {
                    Err("`/incident followups` lists them; `/incident followups file` files the open ones as issues"
                        .into())
                }
            },
            "resolve" | "resolved" | "close" => {
                Ok(Self::Resolve((!rest.is_empty()).then(|| crate::text::truncate(rest, 2000).into_owned())))
            }
            other => Err(format!("I don't know `/incident {}`.\n{USAGE}", escape(other))),
        }
    }

    /// The policy action it needs, if it changes anything.
    fn action(&self) -> Option<&'static str> {
        match self {
            Self::Declare { .. } => Some("incident:declare"),
            Self::Status(_) | Self::Severity(_) | Self::Lead(_) | Self::Role(..) | Self::FollowUp(_) => {
                Some("incident:update")
            }
            Self::Resolve(_) => Some("incident:resolve"),
            Self::FileFollowUps => Some("incident:followups"),
            Self::Show | Self::Help | Self::List | Self::FollowUps => None,
        }
    }
}

fn refused(text: impl Into<String>, why: &str) -> Outcome {
    Outcome::ephemeral(text, Decision::Refused(why.into()))
}

fn info(text: impl Into<String>) -> Outcome {
    Outcome::ephemeral(text, Decision::Info)
}

/// What a failed Slack call means for the person who asked: what to do about it.
fn advice(err: &BotError) -> String {
    match err.code() {
        Some("missing_scope") => "the Slack app lacks a permission for it: add the scopes in `slack/manifest.yaml` (channels:manage, channels:history, pins:write, files:write, reactions:read) and reinstall the app".into(),
        Some("restricted_action") => "the workspace's settings do not let apps do this (creating or managing channels): ask a Slack admin to allow it".into(),
        Some("name_taken") => "a channel with that name exists already".into(),
        Some("is_archived") => "the channel is archived: unarchive it first".into(),
        Some("not_in_channel") => "the app is not in that channel: `/invite @chatops` there".into(),
        Some("channel_not_found") => format!("the channel was not found: check `{INCIDENTS_CHANNEL_VAR}` and invite the app to it"),
        Some(code) => format!("Slack answered `{code}`"),
        None if matches!(err, BotError::Token(_)) => "the bot token could not be read".into(),
        None => "Slack did not answer in time".into(),
    }
}

/// What a multi-step change did and did not do, told to the person who asked.
#[derive(Default)]
struct Report {
    done: Vec<String>,
    failed: Vec<String>,
}

impl Report {
    fn ok(&mut self, what: impl Into<String>) {
        self.done.push(what.into());
    }

    fn failed(&mut self, what: &str, why: impl std::fmt::Display) {
        self.failed.push(format!("{what}: {why}"));
    }

    fn slack<T>(&mut self, what: &str, result: Result<T, BotError>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(err) => {
                tracing::warn!(error = %err, step = what, "incident step failed");
                self.failed(what, advice(&err));
                None
            }
        }
    }

    /// `✅ …` / `❌ …` lines, or nothing when everything was done.
    fn text(&self) -> String {
        if self.failed.is_empty() {
            return String::new();
        }
        let mut text = String::from("\n*Not everything was done:*");
        for d in &self.done {
            text.push_str(&format!("\n✅ {d}"));
        }
        for f in &self.failed {
            text.push_str(&format!("\n❌ {f}"));
        }
        text
    }
}

fn out_of_time(deadline: Instant) -> bool {
    Instant::now() + RESERVE >= deadline
}

/// `/incident …` from `command`, in a channel, with the caller's gate.
pub async fn command(
    deps: Option<&IncidentDeps>,
    command: &SlashCommand,
    gate: &Gate<'_>,
    now_unix: i64,
    deadline: Instant,
) -> Outcome {
    let Some(deps) = deps else {
        return refused(NOT_CONFIGURED, "incidents not configured (bot token and STATE_TABLE)");
    };
    let ask = match Ask::parse(&command.text) {
        Ok(ask) => ask,
        Err(problem) => return refused(problem, "not understood"),
    };
    let caller = gate.caller;
    match ask {
        Ask::Help => info(USAGE),
        Ask::List => list(deps, &caller.user_id, now_unix, deadline).await,
        Ask::Declare { title, severity, private, invite } => {
            let resource = render::sev(severity).to_lowercase();
            // A private incident needs `incident:private` as well; its request for approval names no title.
            let actions: &[&str] = if private { &["incident:declare", PRIVATE_ACTION] } else { &["incident:declare"] };
            for action in actions {
                match gate.check(action, &resource, None) {
                    Pass::Go => {}
                    Pass::Refused(outcome) => return *outcome,
                    Pass::NeedsApproval(rule) => {
                        let what =
                            if private { format!("a private {} incident", render::sev(severity)) } else { title };
                        return proposal(rule, action, &resource, &what, command);
                    }
                }
            }
            let key = format!("cmd#{}#{}", caller.user_id, title_key(&title));
            let source = Source {
                key,
                window_s: REPEAT_WINDOW_S,
                alert: None,
                fired: None,
                acked: None,
                context: None,
                private,
                invite,
                origin: (command.team_id.clone(), command.channel_id.clone()),
            };
            declare(deps, caller, &title, severity, source, now_unix, deadline).await.0
        }
        ask => {
            let number = match deps.state.incident_of_channel(&command.channel_id).await {
                Ok(Some(number)) => number,
                Ok(None) => {
                    return refused(
                        "This is not an incident's channel: `/incident status`, `sev`, `lead` and `resolve` work in the incident's own channel. `/incident list` shows the open ones.",
                        "not an incident channel",
                    );
                }
                Err(err) => return unavailable(&err),
            };
            let resource = format!("INC-{number}");
            // Filing follow-ups on resolve needs `incident:followups` too: without it they are kept, not filed.
            let may_file = matches!(gate.check("incident:followups", &resource, None), Pass::Go);
            if let Some(action) = ask.action() {
                match gate.check(action, &resource, None) {
                    Pass::Go => {}
                    Pass::Refused(outcome) => return *outcome,
                    Pass::NeedsApproval(rule) => {
                        return proposal(rule, action, &resource, &format!("{resource}: {}", command.text), command);
                    }
                }
            }
            in_channel(deps, caller, number, ask, may_file, now_unix, deadline).await.on(&resource)
        }
    }
}

/// A change the policy wants approved first: the same command, re-run once approved.
fn proposal(rule: String, action: &str, resource: &str, what: &str, command: &SlashCommand) -> Outcome {
    Outcome::pending(Proposal {
        rule,
        action: action.to_owned(),
        resource: resource.to_owned(),
        summary: format!("`{}` {}: {}", COMMAND, action.trim_start_matches("incident:"), escape(what)),
        rerun: Rerun::Command { command: COMMAND.to_owned(), text: command.text.clone() },
    })
}

fn unavailable(err: &StateError) -> Outcome {
    tracing::error!(error = %err, "state table unavailable: incident command not run");
    if err.detail.contains("AccessDenied") {
        // The stack grants the incident items only when incidents are configured.
        return Outcome::ephemeral(
            ":warning: This stack does not let me keep incident records: set `IncidentsChannel` (or `IncidentResponders`) in the stack's parameters, which grants them. Nothing was changed.",
            Decision::Failed("incident items not granted".into()),
        );
    }
    Outcome::ephemeral(
        ":warning: I can't reach the incident records right now (the state table is unavailable). Nothing was changed; please try again in a minute.",
        Decision::Failed("state table unavailable".into()),
    )
}

/// A short, stable key for a title: the same words in any case are the same title.
fn title_key(title: &str) -> String {
    use sha2::Digest as _;
    let words: Vec<String> = title.split_whitespace().map(str::to_lowercase).collect();
    hex::encode(&sha2::Sha256::digest(words.join(" ").as_bytes())[..12])
}

async fn list(deps: &IncidentDeps, user: &str, now: i64, deadline: Instant) -> Outcome {
    let numbers = match deps.state.open_incidents().await {
        Ok(numbers) => numbers,
        Err(err) => return unavailable(&err),
    };
    let mut records = Vec::new();
    for number in numbers.into_iter().rev().take(20) {
        match deps.state.get_incident(number).await {
            Ok(Some(record)) if !record.resolved => records.push(record),
            Ok(_) => {}
            Err(err) => return unavailable(&err),
        }
    }
    records.reverse();
    // A private incident is listed to its members only.
    let hidden = hidden_from(Some(&deps.bot), records.iter(), Some(user), deadline).await;
    records.retain(|r| !hidden.contains(&r.number));
    info(render::list(&records, now))
}

/// How long reading private channels' members may take before they count as not visible.
const MEMBERS_BUDGET: Duration = Duration::from_millis(800);

/// The numbers of the private incidents among `records` that `user` may not see: those whose channel
/// they are not a member of (`conversations.members`, read side by side). The lead, the declarer and the
/// roles see theirs without a call. Anything unreadable is hidden (no bot, a Slack error, no time);
/// `user` `None` (a message for everyone in a channel) hides them all.
pub async fn hidden_from<'a>(
    bot: Option<&Bot>,
    records: impl Iterator<Item = &'a IncidentRecord>,
    user: Option<&str>,
    deadline: Instant,
) -> std::collections::BTreeSet<i64> {
    let private: Vec<&IncidentRecord> = records.filter(|r| r.private).collect();
    let (Some(user), Some(bot)) = (user, bot) else { return private.iter().map(|r| r.number).collect() };
    let by = deadline.min(Instant::now() + MEMBERS_BUDGET);
    let checks = private.iter().map(|record| -> crate::slack::users::Task<'_, Option<i64>> {
        Box::pin(async move {
        let named = [Some(&record.lead), Some(&record.declared_by), record.comms.as_ref(), record.scribe.as_ref()];
        if named.into_iter().flatten().any(|p| p == user) {
            return None;
        }
        let Some(channel) = &record.channel_id else { return Some(record.number) };
        match tokio::time::timeout_at(by.into(), members(bot, channel, by)).await {
            Ok(Ok(members)) if members.iter().any(|m| m == user) => None,
            Ok(Ok(_)) => Some(record.number),
            Ok(Err(err)) => {
                tracing::warn!(error = %err, incident = record.number, "private incident's members unreadable: hidden");
                Some(record.number)
            }
            Err(_) => Some(record.number),
        }
        })
    });
    crate::slack::users::join_all(checks.collect()).await.into_iter().flatten().collect()
}

/// The members of `channel` (up to 3 pages of 1,000).
async fn members(bot: &Bot, channel: &str, deadline: Instant) -> Result<Vec<String>, BotError> {
    let mut out = Vec::new();
    let mut cursor = String::new();
    for _ in 0..3 {
        let mut args = vec![("channel", channel), ("limit", "1000")];
        if !cursor.is_empty() {
            args.push(("cursor", cursor.as_str()));
        }
        let page = bot.read("conversations.members", &args, deadline).await?;
        out.extend(page["members"].as_array().into_iter().flatten().filter_map(|m| m.as_str().map(str::to_owned)));
        cursor = page.pointer("/response_metadata/next_cursor").and_then(Value::as_str).unwrap_or_default().to_owned();
        if cursor.is_empty() {
            break;
        }
    }
    Ok(out)
}

/// Where a declaration comes from: its claim's key and how long it holds, and the alert it links.
struct Source {
    key: String,
    window_s: i64,
    alert: Option<String>,
    /// From an alert: when it fired (epoch s), and who acknowledged it when (from its message).
    fired: Option<i64>,
    acked: Option<(String, i64)>,
    /// From an alert: its context (graph, recent changes, [Show logs]), posted in the new channel.
    context: Option<Message>,
    /// A private incident, and who to invite besides the declarer.
    private: bool,
    invite: Vec<String>,
    /// The workspace and channel it was declared from (whose tracker takes its follow-ups).
    origin: (String, String),
}

/// Declares an incident (or shows the one this declaration already made). Returns the outcome and the
/// incident, when there is one.
async fn declare(
    deps: &IncidentDeps,
    caller: &Caller,
    title: &str,
    severity: i64,
    source: Source,
    now: i64,
    deadline: Instant,
) -> (Outcome, Option<IncidentRecord>) {
    // The declaration's lease: held while one container makes the channel and the messages, so a
    // repeat in another container waits for it instead of making them a second time.
    let owner = crate::state::unique_owner("declare");
    let lease_until = |deadline: Instant| {
        crate::clock::now_ms() + deadline.saturating_duration_since(Instant::now()).as_millis() as i64 + 250
    };
    let claim = deps
        .state
        .claim_declaration(&source.key, &caller.user_id, &owner, now, lease_until(deadline), now + source.window_s)
        .await;
    let record = match claim {
        Err(err) => return (unavailable(&err), None),
        Ok(Declaration::Taken { by, number }) => {
            // Declared already, or being declared this very moment (maybe in another container): wait for
            // the lease, given back when that declaration is done, then show it (and, for a repeat by the
            // declarer, finish what it could not do: that is how the declarer asks for it).
            let mut leased = false;
            while Instant::now() + Duration::from_millis(1200) < deadline {
                match deps
                    .state
                    .lease_declaration(&source.key, &owner, crate::clock::now_ms(), lease_until(deadline))
                    .await
                {
                    Ok(true) => {
                        leased = true;
                        break;
                    }
                    Ok(false) => tokio::time::sleep(Duration::from_millis(100)).await,
                    Err(err) => return (unavailable(&err), None),
                }
            }
            let number = match number {
                Some(number) => Some(number),
                None => deps.state.declaration_number(&source.key).await.ok().flatten(),
            };
            let answer = async {
                let Some(number) = number.filter(|_| leased) else {
                    // Still being made by the lease's holder: say so (with its number once it has one).
                    let text = match number {
                        Some(n) => format!(
                            "INC-{n} is being declared by <@{}> right now: its channel and announcement follow in a moment.",
                            escape(&by)
                        ),
                        None => format!(
                            "<@{}> is declaring this incident right now: it will be announced in a moment.",
                            escape(&by)
                        ),
                    };
                    return (info(text), None);
                };
                let record = match deps.state.get_incident(number).await {
                    Ok(Some(record)) => record,
                    Ok(None) => {
                        return (info(format!("INC-{number} was declared by <@{}> a moment ago.", escape(&by))), None);
                    }
                    Err(err) => return (unavailable(&err), None),
                };
                let mut report = Report::default();
                let mut record = record;
                if !record.resolved && by == caller.user_id {
                    complete(deps, &mut record, &mut report, now, deadline).await;
                }
                let text = format!(
                    "{} was declared by <@{}> a moment ago{}.{}",
                    record.name(),
                    escape(&by),
                    record.channel_id.as_deref().map(|c| format!(": <#{}>", escape(c))).unwrap_or_default(),
                    report.text()
                );
                (info(text).on(&record.name()), Some(record))
            };
            let answer = answer.await;
            if leased {
                release(deps, &source.key, &owner).await;
            }
            return answer;
        }
        Ok(Declaration::Ours) => {
            let number = match deps.state.next_incident_number().await {
                Ok(number) => number,
                Err(err) => {
                    release(deps, &source.key, &owner).await;
                    return (unavailable(&err), None);
                }
            };
            let record = IncidentRecord {
                number,
                title: title.to_owned(),
                severity,
                lead: caller.user_id.clone(),
                declared_by: caller.user_id.clone(),
                declared_at: now,
                alerts: source.alert.iter().cloned().collect(),
                alert_fired_at: source.fired,
                alert_acked_at: source.acked.as_ref().map(|(_, at)| *at),
                private: source.private,
                team: Some(source.origin.0.clone()),
                origin_channel: Some(source.origin.1.clone()),
                ..IncidentRecord::default()
            };
            let private = if source.private { "🔒 private " } else { "" };
            let mut text = format!("declared {private}{} · lead <@{}>", render::sev(severity), escape(&caller.user_id));
            if let Some(alert) = &source.alert {
                text.push_str(&format!(" · from {alert}"));
            }
            // The timeline starts when the alert fired, and has its acknowledgement.
            let alert_entries = async {
                if let (Some(fired), Some(alert)) = (source.fired, &source.alert) {
                    let nobody = Caller::default();
                    entry(
                        deps,
                        &record,
                        "alert-fired".into(),
                        fired * 1000,
                        &nobody,
                        "alert",
                        format!("🔴 {alert} fired"),
                    )
                    .await;
                }
                if let Some((by, at)) = &source.acked {
                    let acker = Caller { user_id: by.clone(), ..Caller::default() };
                    entry(
                        deps,
                        &record,
                        "alert-acked".into(),
                        at * 1000,
                        &acker,
                        "ack",
                        "👀 acknowledged the alert".into(),
                    )
                    .await;
                }
            };
            // The record, the claim's number and the first timeline entries: written at once.
            let (created, declared, _, ()) = tokio::join!(
                deps.state.create_incident(&record),
                deps.state.declared(&source.key, number),
                entry(deps, &record, "declared".into(), now * 1000, caller, "declared", text),
                alert_entries
            );
            if let Err(err) = created {
                return (unavailable(&err), None);
            }
            if let Err(err) = declared {
                tracing::warn!(error = %err, incident = number, "could not record the declaration's number: a repeat will say it is being declared");
            }
            record
        }
    };
    let mut record = record;
    let mut report = Report::default();
    report.ok(format!("numbered {}", record.name()));
    complete(deps, &mut record, &mut report, now, deadline).await;
    schedule_reminder(deps, &record).await;
    // A private declaration's mentions: invited to its channel.
    if let (false, Some(channel)) = (source.invite.is_empty(), &record.channel_id) {
        match invite_users(deps, channel, &source.invite, deadline).await {
            Ok(()) => report.ok(format!("invited {} more", source.invite.len())),
            Err(err) => report.failed("the people named not invited", advice(&err)),
        }
    }
    // The channel starts with what the alert showed: its graph, its recent changes, [Show logs].
    if let (Some(context), Some(channel)) = (&source.context, &record.channel_id) {
        let posted = deps.bot.post_message(channel, &context.to_json(), None, deadline).await;
        report.slack("the alert's context not posted in the channel", posted.map(drop));
    }
    release(deps, &source.key, &owner).await;
    let where_ = match &record.channel_id {
        Some(channel) => format!(" in <#{}>", escape(channel)),
        None => String::new(),
    };
    let (emoji, how) = if record.private { ("🔒", " privately") } else { ("🚨", "") };
    let mut text = format!(
        "{emoji} *{}* declared{how}{where_}: {} ({}). You lead it until someone else is named with `/incident lead`.",
        record.name(),
        escape(&record.title),
        render::sev(severity)
    );
    if !report.failed.is_empty() {
        text.push_str(&report.text());
        text.push_str(
            "\nRun the same `/incident declare` again within a minute to finish it; `/incident status` in its channel also posts what is missing.",
        );
    }
    let decision = if report.failed.is_empty() { Decision::Done } else { Decision::Failed(report.failed.join("; ")) };
    (Outcome::ephemeral(text, decision).on(&record.name()), Some(record))
}

/// Gives a declaration's lease back (a failure only makes a repeat wait until it runs out).
async fn release(deps: &IncidentDeps, key: &str, owner: &str) {
    if let Err(err) = deps.state.release_declaration(key, owner).await {
        tracing::warn!(error = %err, "declaration lease not given back: a repeat waits until it runs out");
    }
}

/// Makes what a declaration makes, where it is missing: the channel (with its pointer), then together
/// the invitations, the topic, the pinned status and the announcement.
async fn complete(deps: &IncidentDeps, record: &mut IncidentRecord, report: &mut Report, now: i64, deadline: Instant) {
    if record.channel_id.is_none() {
        if out_of_time(deadline) {
            report.failed("channel not created", "out of time");
            return;
        }
        let Some((id, name)) = create_channel(deps, record, report, deadline).await else { return };
        let expires = record.declared_at + INCIDENT_RETENTION_S;
        let channel = [IncidentChange::Channel { id: id.clone(), name: name.clone() }];
        let (linked, recorded) = tokio::join!(
            deps.state.link_channel(&id, record.number, expires),
            deps.state.change_incident(record.number, &channel)
        );
        if let Err(err) = linked.and(recorded.map(drop)) {
            report.failed("channel not recorded", format!("{err}; commands in <#{id}> may not find the incident"));
        }
        report.ok(format!("created <#{id}>"));
        record.channel_id = Some(id);
        record.channel_name = Some(name);
    }
    let Some(channel) = record.channel_id.clone() else { return };
    if out_of_time(deadline) {
        report.failed("responders not invited, status not pinned, not announced", "out of time");
        return;
    }
    let (invited, shown) =
        tokio::join!(invite(deps, &channel, record, deadline), show(deps, record, now, true, deadline));
    match invited {
        Ok(n) => report.ok(format!("invited {n} people")),
        Err(err) => report.failed("responders not invited", advice(&err)),
    }
    shown.into_report(record, report);
}

async fn create_channel(
    deps: &IncidentDeps,
    record: &IncidentRecord,
    report: &mut Report,
    deadline: Instant,
) -> Option<(String, String)> {
    for attempt in 1..=4 {
        // A private incident's channel name says nothing of it: channel names show in places titles must not.
        let title = if record.private { "private" } else { record.title.as_str() };
        let name = channel_name(record.number, title, attempt);
        let body = json!({"name": name, "is_private": record.private});
        let created = deps.bot.call("conversations.create", &body, deadline).await;
        match created {
            Ok(answer) => {
                let id = answer["channel"]["id"].as_str().unwrap_or_default().to_owned();
                let name = answer["channel"]["name"].as_str().unwrap_or(&name).to_owned();
                return Some((id, name));
            }
            // Someone made a channel by that name: the next suffix.
            Err(err) if err.code() == Some("name_taken") && attempt < 4 => continue,
            Err(err) => {
                report.slack::<()>("channel not created", Err(err));
                return None;
            }
        }
    }
    None
}

/// Invites the declarer, the lead and the responders (user groups by their members). Returns how many.
async fn invite(
    deps: &IncidentDeps,
    channel: &str,
    record: &IncidentRecord,
    deadline: Instant,
) -> Result<usize, BotError> {
    let mut users = vec![record.declared_by.clone(), record.lead.clone()];
    // A private incident's channel has only the people named: no standing responders.
    let responders: &[String] = if record.private { &[] } else { &deps.config.responders };
    for responder in responders {
        if responder.starts_with('S') {
            users.extend(deps.bot.usergroup_members(responder, deadline).await?);
        } else {
            users.push(responder.clone());
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    users.retain(|u| !u.is_empty() && seen.insert(u.clone()));
    invite_users(deps, channel, &users, deadline).await.map(|()| users.len())
}

async fn invite_users(deps: &IncidentDeps, channel: &str, users: &[String], deadline: Instant) -> Result<(), BotError> {
    // `force`: invite those who can be even when one cannot (a deactivated user).
    let body = json!({"channel": channel, "users": users.join(","), "force": true});
    match deps.bot.call("conversations.invite", &body, deadline).await {
        Ok(_) => Ok(()),
        Err(err) if matches!(err.code(), Some("already_in_channel" | "cant_invite_self")) => Ok(()),
        Err(err) => Err(err),
    }
}

async fn set_topic(deps: &IncidentDeps, record: &IncidentRecord, deadline: Instant) -> Result<(), BotError> {
    let Some(channel) = &record.channel_id else { return Ok(()) };
    let body = json!({"channel": channel, "topic": render::topic(record)});
    deps.bot.call("conversations.setTopic", &body, deadline).await.map(drop)
}

/// What showing an incident did: the pinned message and the announcement, each updated, posted or failed.
struct Shown {
    topic: Result<(), BotError>,
    pinned: Result<Option<String>, (&'static str, BotError)>,
    announced: Result<Option<(String, String)>, BotError>,
}

impl Shown {
    /// Records new messages' places in the report and the record (the caller writes them down).
    fn into_report(self, record: &mut IncidentRecord, report: &mut Report) {
        if let Err(err) = self.topic {
            report.failed("topic not set", advice(&err));
        }
        match self.pinned {
            Ok(Some(ts)) => {
                report.ok("pinned the status");
                record.pinned_ts = Some(ts);
            }
            Ok(None) => {}
            Err((what, err)) => report.failed(what, advice(&err)),
        }
        match self.announced {
            Ok(Some(place)) => {
                report.ok(format!("announced in <#{}>", escape(&place.0)));
                record.announcement = Some(place);
            }
            Ok(None) => {}
            Err(err) => report.failed("not announced", advice(&err)),
        }
    }
}

/// Shows `record` where it is shown: the channel's topic, the pinned status in its channel and the
/// announcement, updated in place, or posted when missing (a declaration that ran out of time). New
/// messages are recorded.
/// `pin`: pin the status message even when it was posted before (a declaration being finished, whose
/// pin Slack refused the first time).
async fn show(deps: &IncidentDeps, record: &IncidentRecord, now: i64, pin: bool, deadline: Instant) -> Shown {
    let pinned = async {
        let Some(channel) = &record.channel_id else { return Ok(None) };
        let body = render::card(record, now, false).to_json();
        let (ts, new) = match &record.pinned_ts {
            Some(ts) => {
                deps.bot.update(channel, ts, &body, deadline).await.map_err(|e| ("status not updated", e))?;
                if !pin {
                    return Ok(None);
                }
                (ts.clone(), None)
            }
            None => {
                let posted = deps
                    .bot
                    .post_message(channel, &body, None, deadline)
                    .await
                    .map_err(|e| ("status not posted", e))?;
                (posted.ts.clone(), Some(posted.ts))
            }
        };
        match deps.bot.call("pins.add", &json!({"channel": channel, "timestamp": ts}), deadline).await {
            Ok(_) => Ok(new),
            Err(err) if err.code() == Some("already_pinned") => Ok(new),
            Err(err) => {
                // Posted but not pinned: still the message to update, and to pin when the declaration is finished.
                tracing::warn!(error = %err, "incident status posted but not pinned");
                if let Some(ts) = new {
                    let _ = deps.state.change_incident(record.number, &[IncidentChange::Pinned(ts)]).await;
                }
                Err(("status posted but not pinned", err))
            }
        }
    };
    let announced = async {
        let body = render::announcement(record, now).to_json();
        match (&record.announcement, &deps.config.channel) {
            (Some((channel, ts)), _) => deps.bot.update(channel, ts, &body, deadline).await.map(|_| None),
            (None, Some(channel)) => {
                let posted = deps.bot.post_message(channel, &body, None, deadline).await?;
                Ok(Some((posted.channel, posted.ts)))
            }
            (None, None) => Ok(None),
        }
    };
    let (topic, pinned, announced) = tokio::join!(set_topic(deps, record, deadline), pinned, announced);
    let shown = Shown { topic, pinned, announced };
    let mut changes = Vec::new();
    if let Ok(Some(ts)) = &shown.pinned {
        changes.push(IncidentChange::Pinned(ts.clone()));
    }
    if let Ok(Some((channel, ts))) = &shown.announced {
        changes.push(IncidentChange::Announcement { channel: channel.clone(), ts: ts.clone() });
    }
    if !changes.is_empty()
        && let Err(err) = deps.state.change_incident(record.number, &changes).await
    {
        tracing::warn!(error = %err, incident = record.number, "incident messages posted but not recorded: the next change posts them again");
    }
    shown
}

/// Adds a timeline entry; a failure is logged, never fatal to the change itself.
async fn entry(
    deps: &IncidentDeps,
    record: &IncidentRecord,
    id: String,
    at_ms: i64,
    caller: &Caller,
    kind: &str,
    text: String,
) -> bool {
    let entry = TimelineEntry { id, at_ms, author: caller.user_id.clone(), kind: kind.to_owned(), text, link: None };
    match deps.state.add_timeline_entry(record.number, &entry, record.declared_at + INCIDENT_RETENTION_S).await {
        Ok(added) => added,
        Err(err) => {
            tracing::warn!(error = %err, incident = record.number, "timeline entry not recorded");
            false
        }
    }
}

/// The schedule of incident `number`'s next reminder (one per incident: moved by each update).
fn reminder_schedule(number: i64) -> String {
    crate::aws::scheduler::schedule_name("incident-reminder", &number.to_string())
}

/// Schedules incident `record`'s next reminder from its last update (or its declaration), per its severity
/// (`INCIDENT_REMINDERS`); none at a severity that has none and no stale reminder. Never fails the command.
async fn schedule_reminder(deps: &IncidentDeps, record: &IncidentRecord) {
    let Some(scheduler) = &deps.scheduler else { return };
    let since = record.update_at.unwrap_or(record.declared_at);
    let name = reminder_schedule(record.number);
    let scheduled = match deps.config.reminders.next(record.severity, since) {
        Some((due, stale)) => {
            let timer = crate::aws::scheduler::Timer::IncidentReminder { number: record.number, since, due, stale };
            scheduler.at(&name, due, &timer).await
        }
        None => scheduler.cancel(&name).await.map(drop),
    };
    if let Err(err) = scheduled {
        tracing::warn!(error = %err, incident = record.number, "update reminder not scheduled");
    }
}

/// A reminder's time has come: if the incident is still open and had no update since `since`, its channel
/// is nudged (the lead and comms mentioned), once however often the scheduler delivers it (a timeline
/// entry by the reminder's own ID), and the long-quiet reminder is scheduled after an update reminder.
pub async fn remind(
    deps: Option<&IncidentDeps>,
    number: i64,
    (since, due, stale): (i64, i64, bool),
    now: i64,
    deadline: Instant,
) -> Result<String, String> {
    let deps = deps.ok_or("incidents are not configured")?;
    if now < due {
        return Err(format!("not due before {due}"));
    }
    let record = deps.state.get_incident(number).await.map_err(|e| e.to_string())?.ok_or("no such incident")?;
    if record.resolved {
        return Err(format!("{} is resolved", record.name()));
    }
    if record.update_at.unwrap_or(record.declared_at) != since {
        return Err("a newer update came since: its own reminder is scheduled".into());
    }
    let channel = record.channel_id.clone().ok_or("the incident has no channel")?;
    let quiet = crate::notify::duration_text(Duration::from_secs((now - since).max(0) as u64));
    let mut who = format!("<@{}>", escape(&record.lead));
    if let Some(comms) = record.comms.as_ref().filter(|c| **c != record.lead) {
        who.push_str(&format!(" <@{}>", escape(comms)));
    }
    let (text, line) = if stale {
        (
            format!(
                "💤 {who}: *{}* has had no update for {quiet}. Is it still going? `/incident status <what is happening>`, or `/incident resolve` if it is over.",
                record.name()
            ),
            format!("💤 no update for {quiet}: asked whether it is over"),
        )
    } else {
        (
            format!(
                "⏰ {who}: *{}* ({}) is due a status update, the last was {quiet} ago: `/incident status <what is happening>`.",
                record.name(),
                render::sev(record.severity)
            ),
            format!("⏰ reminded: no update for {quiet}"),
        )
    };
    let id = format!("reminder#{since}#{}", if stale { "stale" } else { "update" });
    if !entry(deps, &record, id, now * 1000, &Caller::default(), "reminder", line).await {
        return Err("reminded before (or the timeline is unavailable)".into());
    }
    let body = Message::new(text.clone()).block(Block::section(text)).to_json();
    deps.bot.post_message(&channel, &body, None, deadline).await.map_err(|e| e.to_string())?;
    if !stale && let (Some(scheduler), Some(quiet_after)) = (&deps.scheduler, deps.config.reminders.stale) {
        let due = since + quiet_after;
        let timer = crate::aws::scheduler::Timer::IncidentReminder { number, since, due, stale: true };
        if let Err(err) = scheduler.at(&reminder_schedule(number), due.max(now + 60), &timer).await {
            tracing::warn!(error = %err, incident = number, "long-quiet reminder not scheduled");
        }
    }
    Ok(format!("{} nudged in its channel", record.name()))
}

/// The commands that act in an incident's channel.
async fn in_channel(
    deps: &IncidentDeps,
    caller: &Caller,
    number: i64,
    ask: Ask,
    may_file: bool,
    now: i64,
    deadline: Instant,
) -> Outcome {
    let record = match deps.state.get_incident(number).await {
        Ok(Some(record)) => record,
        Ok(None) => return refused(format!("INC-{number} is no longer on record."), "no such incident"),
        Err(err) => return unavailable(&err),
    };
    // Follow-ups are recorded and filed before and after the incident resolves.
    match ask {
        Ask::Show => {
            let mut outcome = info("");
            outcome.message = render::state_answer(&record, now);
            return outcome;
        }
        Ask::FollowUp(text) => {
            let at_ms = now * 1000 + i64::from(crate::clock::subsec_nanos() / 1_000_000);
            let followup = FollowUp {
                id: format!("cmd#{at_ms}#{}", caller.user_id),
                at_ms,
                author: caller.user_id.clone(),
                text,
                ..FollowUp::default()
            };
            return follow_up(deps, record, followup, true, now, deadline).await;
        }
        Ask::FollowUps => match deps.state.followups(number).await {
            Ok(followups) => return info(render::followups_text(&record, &followups)),
            Err(err) => return unavailable(&err),
        },
        Ask::FileFollowUps => {
            let filing = file_followups(deps, &record, deadline).await;
            let decision = match (&filing.failed.is_empty(), filing.problem.as_ref()) {
                (_, Some(problem)) => Decision::Failed(problem.clone()),
                (false, None) => Decision::Failed(format!("{} follow-up(s) not filed", filing.failed.len())),
                (true, None) => Decision::Done,
            };
            let mut outcome = Outcome::ephemeral(filing.text(&record), decision);
            outcome.message.response_type = Some("in_channel");
            return outcome;
        }
        _ => {}
    }
    if record.resolved {
        return refused(
            format!(
                "{} was resolved {}: it can no longer be changed.",
                record.name(),
                crate::notify::slack_date_at(record.resolved_at.unwrap_or(now))
            ),
            "incident resolved",
        );
    }
    if let Ask::Resolve(summary) = ask {
        return resolve(deps, caller, record, summary, may_file, now, deadline).await;
    }
    let who = format!("<@{}>", escape(&caller.user_id));
    let (change, note, kind) = match &ask {
        Ask::Status(text) => (
            IncidentChange::Update { text: text.clone(), at: now },
            format!("📣 *Status update* from {who}:\n{}", escape(text)),
            "status",
        ),
        Ask::Severity(sev) => (
            IncidentChange::Severity(*sev),
            format!("🔺 Severity {} → *{}* (by {who})", render::sev(record.severity), render::sev(*sev)),
            "severity",
        ),
        Ask::Lead(user) => (
            IncidentChange::Lead(user.clone()),
            format!("👤 <@{}> now leads {} (named by {who})", escape(user), record.name()),
            "lead",
        ),
        Ask::Role(role, user) => (
            IncidentChange::Role { role, user: user.clone() },
            format!("🎭 <@{}> is now {} for {} (named by {who})", escape(user), role_name(role), record.name()),
            "role",
        ),
        _ => return info(USAGE),
    };
    let updated = match deps.state.change_incident(number, std::slice::from_ref(&change)).await {
        Ok(Some(updated)) => updated,
        Ok(None) => {
            return refused(
                format!("{} was resolved in the meantime: nothing changed.", record.name()),
                "incident resolved",
            );
        }
        Err(err) => return unavailable(&err),
    };
    let at_ms = now * 1000 + i64::from(crate::clock::subsec_nanos() / 1_000_000);
    let timeline_text = match &ask {
        Ask::Status(text) => format!("status: {}", escape(text)),
        Ask::Severity(sev) => format!("severity {} → {}", render::sev(record.severity), render::sev(*sev)),
        Ask::Lead(user) => format!("lead → <@{}>", escape(user)),
        Ask::Role(role, user) => format!("{role} → <@{}>", escape(user)),
        _ => String::new(),
    };
    entry(deps, &updated, format!("{kind}#{at_ms}#{}", caller.user_id), at_ms, caller, kind, timeline_text).await;
    // An update (or a new severity) moves the next reminder.
    if matches!(ask, Ask::Status(_) | Ask::Severity(_)) {
        schedule_reminder(deps, &updated).await;
    }
    let mut report = Report::default();
    let mut record = updated;
    let channel = record.channel_id.clone().unwrap_or_default();
    let post_note = async {
        let body = Message::new(note.clone()).block(Block::section(note.clone())).to_json();
        deps.bot.post_message(&channel, &body, None, deadline).await
    };
    let new_lead = async {
        match &ask {
            Ask::Lead(user) | Ask::Role(_, user) => {
                invite_users(deps, &channel, std::slice::from_ref(user), deadline).await
            }
            _ => Ok(()),
        }
    };
    let (posted, invited, shown) = tokio::join!(post_note, new_lead, show(deps, &record, now, false, deadline));
    report.slack("update not posted in the channel", posted);
    report.slack("not invited to the channel", invited);
    shown.into_report(&mut record, &mut report);
    let done = match &ask {
        Ask::Status(_) => "Status posted",
        Ask::Severity(_) => "Severity changed",
        Ask::Role(..) => "Role given",
        _ => "Lead changed",
    };
    let text = format!("{done}; {} is up to date.{}", record.name(), report.text());
    Outcome::ephemeral(text, Decision::Done)
}

async fn resolve(
    deps: &IncidentDeps,
    caller: &Caller,
    record: IncidentRecord,
    summary: Option<String>,
    may_file: bool,
    now: i64,
    deadline: Instant,
) -> Outcome {
    let mut record = match deps.state.resolve_incident(record.number, now, summary.as_deref()).await {
        Ok(Some(resolved)) => resolved,
        Ok(None) => return info(format!("{} is resolved already.", record.name())),
        Err(err) => return unavailable(&err),
    };
    let text = match &summary {
        Some(s) => format!("resolved: {}", escape(s)),
        None => "resolved".to_owned(),
    };
    entry(deps, &record, "resolved".into(), now * 1000 + 999, caller, "resolved", text).await;
    let timeline = match deps.state.timeline(record.number).await {
        Ok(entries) => entries,
        Err(err) => {
            tracing::warn!(error = %err, "timeline unreadable: the post-mortem draft has none");
            Vec::new()
        }
    };
    let channel = record.channel_id.clone().unwrap_or_default();
    let mut report = Report::default();
    let post_timeline = async {
        let body = render::timeline_message(&record, &timeline).to_json();
        deps.bot.post_message(&channel, &body, None, deadline).await
    };
    // Its follow-ups filed as issues (when a tracker is configured and the policy lets this person), then
    // the post-mortem with their links.
    let file_by = deadline.checked_sub(POSTMORTEM_RESERVE).unwrap_or(deadline);
    let upload = async {
        let filing = match may_file && !record.followups.is_empty() && deps.trackers.is_some() {
            true => Some(file_followups(deps, &record, file_by).await),
            false => None,
        };
        let followups = match filing.as_ref() {
            Some(filing) => filing.followups.clone(),
            None if record.followups.is_empty() => Vec::new(),
            None => deps.state.followups(record.number).await.unwrap_or_default(),
        };
        (upload_postmortem(deps, &record, &timeline, &followups, &channel, deadline).await, filing)
    };
    // Resolved: no more reminders.
    let unscheduled = async {
        if let Some(scheduler) = &deps.scheduler
            && let Err(err) = scheduler.cancel(&reminder_schedule(record.number)).await
        {
            tracing::warn!(error = %err, incident = record.number, "reminder not cancelled: it will find the incident resolved");
        }
    };
    // Its summary in the history, for the operations report.
    let summarised = async {
        let summary = crate::state::IncidentSummary {
            number: record.number,
            severity: record.severity,
            private: record.private,
            declared_at: record.declared_at,
            resolved_at: record.resolved_at.unwrap_or(now),
            alert_fired_at: record.alert_fired_at,
            followups: record.followups.len() as i64,
        };
        if let Err(err) = deps.state.record_incident_summary(&summary).await {
            tracing::warn!(error = %err, incident = record.number, "incident not recorded in the history");
        }
    };
    let (posted, (uploaded, filing), shown, (), ()) =
        tokio::join!(post_timeline, upload, show(deps, &record, now, false, deadline), unscheduled, summarised);
    report.slack("timeline not posted", posted);
    report.slack("post-mortem draft not uploaded", uploaded);
    shown.into_report(&mut record, &mut report);
    let filed = match (&filing, record.followups.len()) {
        (Some(filing), _) => format!("\n{}", filing.text(&record)),
        (None, 0) => String::new(),
        (None, n) if !may_file => format!(
            "\n📝 {n} follow-up(s) kept, not filed: the policy does not let you file them (`{FOLLOWUPS_ACTION}`); someone it lets can run `/incident followups file`."
        ),
        (None, n) => format!(
            "\n📝 {n} follow-up(s) kept: no issue tracker is configured for this channel (an `issues` entry in the deploy mapping); `/incident followups` lists them."
        ),
    };
    let text = format!(
        "✅ *{}* resolved after {}. The timeline and a post-mortem draft are in <#{}>.{filed}{}",
        record.name(),
        render::duration(&record, now),
        escape(&channel),
        report.text()
    );
    let mut outcome = Outcome::ephemeral(text, Decision::Done);
    outcome.message.response_type = Some("in_channel");
    outcome
}

/// Time kept after filing follow-ups for the post-mortem's upload (three Slack calls).
const POSTMORTEM_RESERVE: Duration = Duration::from_millis(900);
/// At most this many follow-ups are filed at once.
const FILE_AT_ONCE: usize = 20;

/// Records `followup` on `record` (once per ID), on its timeline while it is open, on its card; `say`:
/// tell the channel (a command; a 📝 is its own sign).
async fn follow_up(
    deps: &IncidentDeps,
    record: IncidentRecord,
    followup: FollowUp,
    say: bool,
    now: i64,
    deadline: Instant,
) -> Outcome {
    let expires = record.declared_at + INCIDENT_RETENTION_S;
    match deps.state.add_followup(record.number, &followup, expires).await {
        Ok(true) => {}
        Ok(false) => return info(format!("That follow-up is on {} already.", record.name())).on(&record.name()),
        Err(err) => return unavailable(&err),
    }
    let line = format!("📝 follow-up: {}", escape(&followup.text));
    let author = Caller { user_id: followup.author.clone(), ..Caller::default() };
    let timeline = async {
        if !record.resolved {
            entry(deps, &record, format!("followup#{}", followup.id), followup.at_ms, &author, "followup", line).await;
        }
    };
    let note = async {
        let Some(channel) = record.channel_id.as_ref().filter(|_| say) else { return Ok(()) };
        let text = format!("📝 Follow-up recorded by <@{}>: {}", escape(&followup.author), escape(&followup.text));
        let body = Message::new(text.clone()).block(Block::section(text)).to_json();
        deps.bot.post_message(channel, &body, None, deadline).await.map(drop)
    };
    let (updated, (), posted) = tokio::join!(deps.state.get_incident(record.number), timeline, note);
    let mut report = Report::default();
    report.slack("not posted in the channel", posted);
    let mut record = match updated {
        Ok(Some(updated)) => updated,
        _ => record,
    };
    show(deps, &record, now, false, deadline).await.into_report(&mut record, &mut report);
    let next = match (&deps.trackers, record.resolved) {
        (None, _) => "It is on the card and will be in the post-mortem draft.".to_owned(),
        (Some(_), false) => {
            format!("It is filed as an issue when {} resolves, or now with `/incident followups file`.", record.name())
        }
        (Some(_), true) => "`/incident followups file` files it as an issue.".to_owned(),
    };
    let text = format!(
        "📝 Follow-up recorded on {} ({} in all). {next}{}",
        record.name(),
        record.followups.len(),
        report.text()
    );
    Outcome::ephemeral(text, Decision::Done).on(&record.name())
}

/// What filing follow-ups did.
#[derive(Default)]
struct Filing {
    /// (text, issue page) filed now.
    filed: Vec<(String, String)>,
    /// (text, why) not filed now.
    failed: Vec<(String, String)>,
    /// Filed before, and being filed by someone else right now.
    already: usize,
    busy: usize,
    /// Why nothing could be filed at all.
    problem: Option<String>,
    /// The follow-ups as they now stand.
    followups: Vec<FollowUp>,
}

impl Filing {
    /// For the channel: what was filed, what was not and what to do about it.
    fn text(&self, record: &IncidentRecord) -> String {
        if let Some(problem) = &self.problem {
            return format!("📝 {}'s follow-ups were not filed: {problem}", record.name());
        }
        let mut text = format!("📝 *Follow-ups of {}*:", record.name());
        if self.filed.is_empty() && self.failed.is_empty() {
            text.push_str(" nothing new to file");
        }
        for (what, url) in &self.filed {
            text.push_str(&format!("\n✅ <{url}|issue> {}", escape(&crate::text::truncate(what, 150))));
        }
        for (what, why) in &self.failed {
            text.push_str(&format!("\n❌ {}: {}", escape(&crate::text::truncate(what, 150)), escape(why)));
        }
        if self.already > 0 {
            text.push_str(&format!("\n{} filed before", self.already));
        }
        if self.busy > 0 {
            text.push_str(&format!("\n{} being filed by someone else right now", self.busy));
        }
        if !self.failed.is_empty() {
            text.push_str("\n`/incident followups file` tries the ones not filed again.");
        }
        text
    }
}

/// Files `record`'s open follow-ups as issues in its tracker, each once however many people ask at once
/// (a lease on each, [`StateTable::claim_followup`]), side by side; a refusal is said and kept on the
/// follow-up, so a retry files what is left.
async fn file_followups(deps: &IncidentDeps, record: &IncidentRecord, deadline: Instant) -> Filing {
    let mut filing = Filing::default();
    let Some(trackers) = &deps.trackers else {
        filing.problem = Some(
            "no issue tracker is configured (the deploy mapping `DEPLOY_TARGETS_SECRET_ARN`, with an `issues` entry)"
                .into(),
        );
        return filing;
    };
    let (team, origin) = (record.team.clone().unwrap_or_default(), record.origin_channel.clone().unwrap_or_default());
    let (targets, followups) = tokio::join!(trackers.targets.get(), deps.state.followups(record.number));
    let targets = match targets {
        Ok(targets) => targets,
        Err(err) => {
            tracing::error!(error = %err, "deploy mapping unavailable: follow-ups not filed");
            filing.problem = Some(
                "the deploy mapping could not be read right now; an admin can find why in the function's log".into(),
            );
            return filing;
        }
    };
    let Some(tracker) = targets.tracker(&team, &origin) else {
        filing.problem = Some(format!(
            "no issue tracker for <#{}>: add an `issues` entry under that channel (or `*`) in the deploy mapping",
            escape(&origin)
        ));
        return filing;
    };
    let mut followups = match followups {
        Ok(followups) => followups,
        Err(err) => {
            filing.problem = Some(format!("the follow-ups could not be read ({err})"));
            return filing;
        }
    };
    filing.already = followups.iter().filter(|f| f.issue.is_some()).count();
    let owner = crate::state::unique_owner("file");
    let until = crate::clock::now_ms() + deadline.saturating_duration_since(Instant::now()).as_millis() as i64 + 250;
    let channel_link = match (&record.channel_id, &record.team) {
        (Some(channel), Some(team)) => format!("https://slack.com/app_redirect?channel={channel}&team={team}"),
        (Some(channel), None) => format!("https://slack.com/app_redirect?channel={channel}"),
        _ => String::new(),
    };
    let open: Vec<&FollowUp> = followups.iter().filter(|f| f.issue.is_none()).take(FILE_AT_ONCE).collect();
    let tasks = open.iter().map(|f| -> crate::slack::users::Task<'_, (String, Result<String, String>)> {
        let (owner, channel_link) = (&owner, &channel_link);
        Box::pin(async move {
            match deps.state.claim_followup(record.number, &f.id, owner, crate::clock::now_ms(), until).await {
                Ok(true) => {}
                Ok(false) => return (f.id.clone(), Err(String::new())),
                Err(err) => return (f.id.clone(), Err(format!("the state table is unavailable ({err})"))),
            }
            let about = if record.private {
                format!("**{}** ({}, a private incident)", record.name(), render::sev(record.severity))
            } else {
                format!("**{}** ({}): {}", record.name(), render::sev(record.severity), record.title)
            };
            let mut body = format!("Follow-up of {about}.\n\n{}\n\nRecorded by Slack user `{}` on {}.", f.text, f.author, render::utc(f.at_ms));
            if !channel_link.is_empty() {
                body.push_str(&format!("\n\nIncident channel: {channel_link}"));
            }
            let issue = crate::deploy::issues::NewIssue {
                title: format!("[{}] {}", record.name(), crate::text::truncate(&f.text.replace('\n', " "), 200)),
                body,
            };
            let result = match trackers.pipelines.file_issue(tracker, &issue, deadline).await {
                Ok(url) => {
                    if let Err(err) = deps.state.followup_filed(record.number, &f.id, &url).await {
                        tracing::error!(error = %err, incident = record.number, "follow-up filed but not recorded: a retry may file it again");
                    }
                    Ok(url)
                }
                Err(err) => {
                    let why = match &err {
                        crate::deploy::TriggerError::NotStarted { provider, detail, .. } => {
                            format!("{provider} refused it ({detail})")
                        }
                        crate::deploy::TriggerError::Unknown { provider, detail, check } => {
                            format!("{provider} did not answer in time ({detail}): it may have been filed, look at {check} before trying again")
                        }
                    };
                    tracing::warn!(error = %err, incident = record.number, "follow-up not filed");
                    if let Err(err) = deps.state.followup_failed(record.number, &f.id, owner, &why).await {
                        tracing::warn!(error = %err, "follow-up's failure not recorded: it can be filed once its lease runs out");
                    }
                    Err(why)
                }
            };
            (f.id.clone(), result)
        })
    });
    let results = crate::slack::users::join_all(tasks.collect()).await;
    for (id, result) in results {
        let Some(f) = followups.iter_mut().find(|f| f.id == id) else { continue };
        match result {
            Ok(url) => {
                filing.filed.push((f.text.clone(), url.clone()));
                f.issue = Some(url);
                f.error = None;
            }
            Err(why) if why.is_empty() => filing.busy += 1,
            Err(why) => {
                filing.failed.push((f.text.clone(), why.clone()));
                f.error = Some(why);
            }
        }
    }
    filing.followups = followups;
    filing
}

/// The post-mortem draft as a Markdown file in the channel: `files.getUploadURLExternal`, the bytes,
/// then `files.completeUploadExternal`.
async fn upload_postmortem(
    deps: &IncidentDeps,
    record: &IncidentRecord,
    timeline: &[TimelineEntry],
    followups: &[FollowUp],
    channel: &str,
    deadline: Instant,
) -> Result<(), BotError> {
    // Names for a document read outside Slack: everyone it names, read at once (the IDs where one fails).
    let mut people: Vec<String> =
        [Some(&record.declared_by), Some(&record.lead), record.comms.as_ref(), record.scribe.as_ref()]
            .into_iter()
            .flatten()
            .cloned()
            .chain(timeline.iter().map(|e| e.author.clone()))
            .chain(timeline.iter().flat_map(|e| render::mentioned(&e.text)))
            .chain(followups.iter().map(|f| f.author.clone()))
            .filter(|id| !id.is_empty())
            .collect();
    people.sort();
    people.dedup();
    let names_by = deadline.min(Instant::now() + NAMES_BUDGET);
    let names = deps.names.names(&deps.bot, &people, names_by).await;
    let markdown = postmortem(record, timeline, followups, &names);
    let filename = format!("{}-post-mortem.md", record.name());
    let length = markdown.len().to_string();
    let answer =
        deps.bot.read("files.getUploadURLExternal", &[("filename", &filename), ("length", &length)], deadline).await?;
    let (Some(url), Some(file_id)) = (answer["upload_url"].as_str(), answer["file_id"].as_str()) else {
        return Err(BotError::Api(crate::slack::api::ApiError::Http {
            method: "files.getUploadURLExternal",
            channel: channel.to_owned(),
            status: 200,
            answer: "no upload_url or file_id".into(),
            attempts: 1,
        }));
    };
    deps.bot.api.upload(url, markdown.into_bytes(), deadline).await?;
    let title = format!("{} post-mortem draft", record.name());
    let body = json!({
        "files": [{"id": file_id, "title": title}],
        "channel_id": channel,
        "initial_comment": format!("📝 Post-mortem draft for *{}*: fill in impact, root cause and actions.", record.name()),
    });
    deps.bot.call("files.completeUploadExternal", &body, deadline).await.map(drop)
}

/// What an alert's [Declare incident] button carries: the alert's title, a severity, and its lifecycle
/// key (so the line stays on the alert's message when the notifier updates it). Compact JSON.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DeclareButton {
    #[serde(rename = "t")]
    pub title: String,
    #[serde(rename = "s")]
    pub severity: i64,
    #[serde(rename = "k", default, skip_serializing_if = "Option::is_none")]
    pub lifecycle: Option<String>,
    /// When the alert fired (epoch s), as its message said.
    #[serde(rename = "f", default, skip_serializing_if = "Option::is_none")]
    pub fired: Option<i64>,
}

/// A click on an alert's [Declare incident]: one incident per alert, the alert's message then showing
/// it (`🚨 INC-12 declared by @x → #inc-12-…`).
pub async fn click(
    deps: Option<&IncidentDeps>,
    click: &BlockAction,
    gate: &Gate<'_>,
    now: i64,
    deadline: Instant,
) -> Outcome {
    let Some(deps) = deps else {
        return refused(NOT_CONFIGURED, "incidents not configured (bot token and STATE_TABLE)");
    };
    let Ok(button) = serde_json::from_str::<DeclareButton>(&click.value) else {
        return refused("This button's value is not one I made: nothing was done.", "bad button value");
    };
    let severity = button.severity.clamp(1, 4);
    let resource = render::sev(severity).to_lowercase();
    let private = click.action_id == DECLARE_PRIVATE_ACTION;
    let actions: &[&str] = if private { &["incident:declare", PRIVATE_ACTION] } else { &["incident:declare"] };
    for action in actions {
        match gate.check(action, &resource, None) {
            Pass::Go => {}
            Pass::Refused(outcome) => return *outcome,
            Pass::NeedsApproval(rule) => {
                let kind = if private { "a private incident" } else { "an incident" };
                return Outcome::pending(Proposal {
                    rule,
                    action: (*action).into(),
                    resource,
                    summary: format!("declare {kind} for the alert *{}*", escape(&button.title)),
                    rerun: Rerun::Button { action_id: click.action_id.clone(), value: click.value.clone() },
                });
            }
        }
    }
    let message_ts = click.message_ts.clone().unwrap_or_default();
    // The alert's link, for the incident and its post-mortem.
    let alert = match deps
        .bot
        .read("chat.getPermalink", &[("channel", &click.channel_id), ("message_ts", &message_ts)], deadline)
        .await
    {
        Ok(answer) => match answer["permalink"].as_str() {
            Some(link) => format!("<{link}|{}>", escape(&button.title)),
            None => escape(&button.title),
        },
        Err(err) => {
            tracing::warn!(error = %err, "alert permalink unavailable: linked by its title");
            escape(&button.title)
        }
    };
    let key = match &button.lifecycle {
        Some(key) => format!("alert#{key}"),
        None => format!("alert#{}#{}", click.channel_id, message_ts),
    };
    let context = alert_context(&click.message_blocks, &alert);
    let source = Source {
        context,
        key,
        window_s: ALERT_CLAIM_S,
        alert: Some(alert),
        fired: button.fired.filter(|at| *at <= now),
        acked: acknowledged(&click.message_blocks),
        private,
        invite: Vec::new(),
        origin: (click.team_id.clone(), click.channel_id.clone()),
    };
    let (outcome, record) = declare(deps, gate.caller, &button.title, severity, source, now, deadline).await;
    let Some(record) = record else { return outcome };
    let by = if record.declared_by.is_empty() { &gate.caller.user_id } else { &record.declared_by };
    let mut line = match record.private {
        true => format!("🔒 *{}* (a private incident) declared by <@{}>", record.name(), escape(by)),
        false => format!("🚨 *{}* declared by <@{}>", record.name(), escape(by)),
    };
    if let Some(channel) = record.channel_id.as_ref().filter(|_| !record.private) {
        line.push_str(&format!(" → <#{}>", escape(channel)));
    }
    if let Some(key) = &button.lifecycle
        && let Err(err) = deps.state.mark_lifecycle_incident(key, &line).await
    {
        tracing::warn!(error = %err, "the alert's record does not keep the incident: its next update may drop the line");
    }
    // The alert's message, the button replaced by the line; what was not done, under it.
    let without = BlockAction { message_blocks: click.blocks_without(DECLARE_ACTION), ..click.clone() };
    let mut blocks: Vec<Block> = without.blocks_without(DECLARE_PRIVATE_ACTION).into_iter().map(Block::Raw).collect();
    blocks.push(Block::Context(vec![line]));
    if let Decision::Failed(why) = &outcome.decision {
        blocks.push(Block::Context(vec![format!("⚠️ Not everything was done: {}", escape(why))]));
    }
    let message = Message {
        text: if click.message_text.is_empty() { button.title.clone() } else { click.message_text.clone() },
        blocks,
        color: click.in_attachment.then(|| click.message_color.clone().unwrap_or_else(|| "#E01E5A".into())),
        replace_original: Some(true),
        ..Message::default()
    };
    Outcome { message, ..outcome }
}

/// A reaction in an incident's channel: a 📌 (`pushpin`) puts the message on the timeline, once
/// however often Slack delivers the event or people pin it, with the message's author (not whoever
/// pinned it). A message in a thread is read from its thread. Once the incident is resolved a 📌 adds
/// nothing (its post-mortem is written): refused quietly, in the audit line only. Anything else is ignored.
pub async fn reaction(deps: Option<&IncidentDeps>, reaction: &Reaction, deadline: Instant) -> Option<Outcome> {
    let deps = deps?;
    // 📌 puts a message on the timeline; 📝 makes it a follow-up.
    let memo = match reaction.reaction.as_str() {
        "pushpin" => false,
        "memo" => true,
        _ => return None,
    };
    let number = match deps.state.incident_of_channel(&reaction.channel_id).await {
        Ok(number) => number?,
        Err(err) => {
            tracing::warn!(error = %err, "state table unavailable: pinned message not put on the timeline");
            return None;
        }
    };
    let resource = format!("INC-{number}");
    let (channel, ts) = (reaction.channel_id.as_str(), reaction.message_ts.as_str());
    let permalink_args = [("channel", channel), ("message_ts", ts)];
    let (record, message, permalink) = tokio::join!(
        deps.state.get_incident(number),
        pinned_message(deps, channel, ts, deadline),
        deps.bot.read("chat.getPermalink", &permalink_args, deadline)
    );
    let record = match record {
        Ok(Some(record)) if record.resolved && !memo => {
            return Some(refused("", "incident resolved: 📌 not added to its timeline").on(&resource));
        }
        Ok(Some(record)) => record,
        Ok(None) => return Some(refused("", "no such incident").on(&resource)),
        Err(err) => {
            tracing::warn!(error = %err, "state table unavailable: pinned message not put on the timeline");
            return Some(Outcome::ephemeral("", Decision::Failed(err.to_string())).on(&resource));
        }
    };
    let message = message.unwrap_or_else(|err| {
        tracing::warn!(error = %err, "pinned message unreadable: put on the timeline by its link only");
        Value::Null
    });
    let text = message["text"]
        .as_str()
        .map(|t| crate::text::truncate(t, 500).into_owned())
        .unwrap_or_else(|| "(pinned message)".into());
    // The message's author: as Slack's history has it, else the event's `item_user`; never the reactor.
    let author = message["user"]
        .as_str()
        .or(reaction.item_user.as_deref())
        .or_else(|| message["bot_id"].as_str())
        .unwrap_or_default()
        .to_owned();
    let (secs, micros) = slack_ts(ts);
    let at_ms = (secs * 1000 + micros / 1000) as i64;
    if memo {
        // The message's text as typed (Slack's escapes read back), as a follow-up by its author.
        let text = crate::slack::unescape(message["text"].as_str().unwrap_or_default()).trim().to_owned();
        if text.is_empty() {
            return Some(refused("", "📝 on a message without text").on(&resource));
        }
        let followup = FollowUp {
            id: format!("memo#{ts}"),
            at_ms: crate::clock::now_ms(),
            author,
            text: crate::text::truncate(&text, 500).into_owned(),
            ..FollowUp::default()
        };
        let outcome = follow_up(deps, record, followup, false, crate::clock::now_unix(), deadline).await;
        return Some(Outcome::ephemeral("", outcome.decision).on(&resource));
    }
    let entry = TimelineEntry {
        id: format!("pin#{ts}"),
        at_ms,
        author,
        kind: "pin".into(),
        text: format!("📌 {text}"),
        link: permalink.ok().and_then(|p| p["permalink"].as_str().map(str::to_owned)),
    };
    let expires = crate::clock::now_unix() + INCIDENT_RETENTION_S;
    let added = match deps.state.add_timeline_entry(number, &entry, expires).await {
        Ok(added) => added,
        Err(err) => {
            tracing::warn!(error = %err, "pinned message not put on the timeline");
            return Some(Outcome::ephemeral("", Decision::Failed(err.to_string())).on(&resource));
        }
    };
    let decision = if added { Decision::Done } else { Decision::Info };
    Some(Outcome::ephemeral("", decision).on(&resource))
}

/// How many top-level messages before a pinned one are searched for the thread it is in.
const THREAD_SEARCH: usize = 50;

/// The message `ts` of `channel` as Slack keeps it (`Null` when Slack has none by that `ts`).
/// `conversations.history` has top-level messages only: a reply is read from its thread with
/// `conversations.replies`, whose parent is the newest top-level message before it with replies up to
/// it; where none is found, the reply's own `ts` (which Slack also takes for a message in a thread).
async fn pinned_message(deps: &IncidentDeps, channel: &str, ts: &str, deadline: Instant) -> Result<Value, BotError> {
    let limit = THREAD_SEARCH.to_string();
    let history_args = [("channel", channel), ("latest", ts), ("inclusive", "true"), ("limit", limit.as_str())];
    let history = deps.bot.read("conversations.history", &history_args, deadline).await?;
    let top_level = history["messages"].as_array().cloned().unwrap_or_default();
    if let Some(found) = top_level.iter().find(|m| m["ts"].as_str() == Some(ts)) {
        return Ok(found.clone());
    }
    // Parents whose thread reaches the pinned reply, newest first (`latest_reply` when Slack gives it).
    let mut parents: Vec<&str> = top_level
        .iter()
        .filter(|m| m["reply_count"].as_u64().unwrap_or(0) > 0 || m["thread_ts"].is_string())
        .filter(|m| m["latest_reply"].as_str().is_none_or(|latest| ts_le(ts, latest)))
        .filter_map(|m| m["ts"].as_str())
        .take(3)
        .collect();
    parents.push(ts);
    for parent in parents {
        // From the reply on (Slack puts the thread's parent first as well).
        let args = [("channel", channel), ("ts", parent), ("oldest", ts), ("inclusive", "true"), ("limit", "10")];
        match deps.bot.read("conversations.replies", &args, deadline).await {
            Ok(answer) => {
                let messages = answer["messages"].as_array().cloned().unwrap_or_default();
                if let Some(found) = messages.into_iter().find(|m| m["ts"].as_str() == Some(ts)) {
                    return Ok(found);
                }
            }
            Err(err) if matches!(err.code(), Some("thread_not_found" | "message_not_found")) => {}
            Err(err) => return Err(err),
        }
    }
    Ok(Value::Null)
}

/// A Slack timestamp (`1700000000.000300`) as seconds and microseconds; what does not read is 0.
fn slack_ts(ts: &str) -> (u64, u64) {
    let (s, f) = ts.split_once('.').unwrap_or((ts, "0"));
    (s.parse().unwrap_or(0), format!("{f:0<6}").get(..6).and_then(|f| f.parse().ok()).unwrap_or(0))
}

/// `a <= b` for Slack timestamps: seconds, then the fraction.
fn ts_le(a: &str, b: &str) -> bool {
    slack_ts(a) <= slack_ts(b)
}

/// What the alert's message showed beside the alarm, for the incident's channel: its graph (the same Slack
/// file), its `🔧 Recent changes` line and its [Show logs] button (a click there posts the lines in that
/// message's thread). `None` when it showed none of them.
fn alert_context(blocks: &[serde_json::Value], alert: &str) -> Option<Message> {
    let mut kept = Vec::new();
    let mut logs = Vec::new();
    for block in blocks {
        match block["type"].as_str() {
            Some("image") => {
                let mut image = block.clone();
                image["block_id"] = serde_json::json!("alert-graph");
                kept.push(Block::Raw(image));
            }
            Some("context")
                if block["elements"][0]["text"].as_str().is_some_and(|t| t.starts_with("🔧 Recent changes")) =>
            {
                let mut line = block.clone();
                if let Some(object) = line.as_object_mut() {
                    object.remove("block_id");
                }
                kept.push(Block::Raw(line));
            }
            Some("actions") => logs.extend(
                block["elements"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|e| e["action_id"] == crate::notify::LOGS_ACTION)
                    .cloned(),
            ),
            _ => {}
        }
    }
    if !logs.is_empty() {
        kept.push(Block::Raw(serde_json::json!({"type": "actions", "block_id": "alert-logs", "elements": logs})));
    }
    if kept.is_empty() {
        return None;
    }
    let mut message =
        Message::new(format!("From the alert {alert}")).block(Block::section(format!("🔗 *From the alert* {alert}")));
    message.blocks.extend(kept);
    Some(message)
}

/// Who acknowledged the alert and when, from its message (`👀 Acknowledged by <@U…> at <!date^…^…|…>`, as
/// `notify::acknowledged_line` writes it).
fn acknowledged(blocks: &[serde_json::Value]) -> Option<(String, i64)> {
    let text = serde_json::Value::Array(blocks.to_vec()).to_string();
    let rest = &text[text.find("Acknowledged by <@")? + "Acknowledged by <@".len()..];
    let user: String = rest.chars().take_while(char::is_ascii_alphanumeric).collect();
    let date = &rest[rest.find("<!date^")? + "<!date^".len()..];
    let at: String = date.chars().take_while(char::is_ascii_digit).collect();
    Some((user, at.parse().ok()?)).filter(|(user, _)| !user.is_empty())
}

/// How long the post-mortem waits for people's names (`users.info`, all at once).
const NAMES_BUDGET: Duration = Duration::from_millis(700);

/// How a role reads in a sentence.
fn role_name(role: &str) -> &'static str {
    match role {
        "comms" => "the communications lead",
        "scribe" => "the scribe",
        _ => "the lead",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_is_read_with_its_severity_and_clear_errors() {
        assert_eq!(Ask::parse("").unwrap(), Ask::Show);
        assert_eq!(Ask::parse("list").unwrap(), Ask::List);
        assert_eq!(
            Ask::parse("declare Checkout errors above 5 % sev1").unwrap(),
            Ask::Declare { title: "Checkout errors above 5 %".into(), severity: 1, private: false, invite: vec![] }
        );
        assert_eq!(
            Ask::parse("declare Payments down").unwrap(),
            Ask::Declare { title: "Payments down".into(), severity: 3, private: false, invite: vec![] }
        );
        assert_eq!(
            Ask::parse("declare Node 7 is slow 2").unwrap(),
            Ask::Declare { title: "Node 7 is slow 2".into(), severity: 3, private: false, invite: vec![] },
            "a trailing number is part of the title"
        );
        // Private: the flag anywhere, its mentions invited and out of the title; a public title keeps them.
        assert_eq!(
            Ask::parse("declare --private Leaked key <@U0BOB|bob> <@U0CAROL> sev1 <@U0BOB>").unwrap(),
            Ask::Declare {
                title: "Leaked key".into(),
                severity: 1,
                private: true,
                invite: vec!["U0BOB".into(), "U0CAROL".into()]
            }
        );
        assert_eq!(
            Ask::parse("declare Slow since <@U0BOB>'s deploy").unwrap(),
            Ask::Declare { title: "Slow since <@U0BOB>'s deploy".into(), severity: 3, private: false, invite: vec![] }
        );
        assert!(Ask::parse("declare --private <@U0BOB>").unwrap_err().contains("title"));
        assert_eq!(Ask::parse("followup Add an alarm").unwrap(), Ask::FollowUp("Add an alarm".into()));
        assert!(Ask::parse("followup").is_err());
        assert_eq!(Ask::parse("followups").unwrap(), Ask::FollowUps);
        assert_eq!(Ask::parse("follow-ups FILE").unwrap(), Ask::FileFollowUps);
        assert!(Ask::parse("followups burn").is_err());
        assert_eq!(Ask::FileFollowUps.action(), Some(FOLLOWUPS_ACTION));
        assert_eq!(Ask::FollowUp("x".into()).action(), Some("incident:update"));
        assert_eq!(Ask::FollowUps.action(), None);
        assert!(Ask::parse("declare").unwrap_err().contains("title"));
        assert!(Ask::parse("declare sev2").unwrap_err().contains("title"));
        assert_eq!(Ask::parse("sev 2").unwrap(), Ask::Severity(2));
        assert_eq!(Ask::parse("sev SEV1").unwrap(), Ask::Severity(1));
        assert!(Ask::parse("sev 5").is_err());
        assert_eq!(Ask::parse("lead <@U0CAROL|carol>").unwrap(), Ask::Lead("U0CAROL".into()));
        assert_eq!(Ask::parse("lead <@U0CAROL>").unwrap(), Ask::Lead("U0CAROL".into()));
        assert!(Ask::parse("lead carol").unwrap_err().contains("@mention"));
        assert_eq!(Ask::parse("role comms <@U0DAN|dan>").unwrap(), Ask::Role("comms", "U0DAN".into()));
        assert_eq!(Ask::parse("role Scribe <@U0EVE>").unwrap(), Ask::Role("scribe", "U0EVE".into()));
        assert_eq!(Ask::parse("role lead <@U0CAROL>").unwrap(), Ask::Lead("U0CAROL".into()));
        assert!(Ask::parse("role chef <@U0X>").unwrap_err().contains("`lead`, `comms` or `scribe`"));
        assert!(Ask::parse("role comms dan").unwrap_err().contains("@mention"));
        // Who acknowledged the alert, and when, from its message as the notifier writes it.
        let line = crate::notify::acknowledged_line("U0ALICE", 1_796_560_000);
        let blocks = vec![serde_json::json!({"type": "context", "elements": [{"type": "mrkdwn", "text": line}]})];
        assert_eq!(acknowledged(&blocks), Some(("U0ALICE".to_owned(), 1_796_560_000)));
        assert_eq!(acknowledged(&[serde_json::json!({"type": "divider"})]), None);
        // The alert's context for the incident's channel: its graph, its changes line, its [Show logs].
        let alert_blocks = vec![
            serde_json::json!({"type": "section", "text": {"type": "mrkdwn", "text": "ALARM"}}),
            serde_json::json!({"type": "image", "block_id": "graph", "slack_file": {"id": "F0GRAPH01"}, "alt_text": "graph"}),
            serde_json::json!({"type": "context", "block_id": "c1", "elements": [{"type": "mrkdwn", "text": "🔧 Recent changes: web 2 → 3"}]}),
            serde_json::json!({"type": "context", "elements": [{"type": "mrkdwn", "text": "other"}]}),
            serde_json::json!({"type": "actions", "elements": [
                {"type": "button", "action_id": "alert:ack", "text": {"type": "plain_text", "text": "Ack"}},
                {"type": "button", "action_id": "alert:logs", "value": "{}", "text": {"type": "plain_text", "text": "Show logs"}}]}),
        ];
        let context = alert_context(&alert_blocks, "<https://x|api-5xx>").expect("a context").to_json().to_string();
        assert!(
            context.contains("F0GRAPH01") && context.contains("alert-graph") && context.contains("🔧 Recent changes"),
            "{context}"
        );
        assert!(
            context.contains("alert:logs") && !context.contains("alert:ack") && !context.contains("\"other\""),
            "{context}"
        );
        assert!(alert_context(&alert_blocks[..1], "x").is_none());
        // INCIDENT_REMINDERS: durations per severity and the long quiet; a key left out keeps its default.
        let r = Reminders::default();
        assert_eq!((r.every, r.stale), ([Some(900), Some(1800), Some(7200), None], Some(86_400)));
        assert_eq!(r.next(2, 1000), Some((2800, false)));
        assert_eq!(r.next(4, 1000), Some((87_400, true)), "SEV4: only the long-quiet question");
        let custom = Reminders::parse("sev1=10m, sev4=8h, stale=off").unwrap();
        assert_eq!((custom.every, custom.stale), ([Some(600), Some(1800), Some(7200), Some(28_800)], None));
        assert_eq!(Reminders::parse("sev3=off,stale=off").unwrap().next(3, 0), None);
        for bad in ["sev5=1m", "sev1=10", "sev1=-5m", "sev1", "sev2=0s"] {
            assert!(Reminders::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(Ask::parse("status Rolled back").unwrap(), Ask::Status("Rolled back".into()));
        assert!(Ask::parse("status").is_err());
        assert_eq!(Ask::parse("resolve").unwrap(), Ask::Resolve(None));
        assert_eq!(Ask::parse("resolve Rolled back 42").unwrap(), Ask::Resolve(Some("Rolled back 42".into())));
        assert!(Ask::parse("explode").unwrap_err().contains("/incident declare"));
        assert_eq!(
            Ask::parse("declare Checkout &amp; payment gateway &lt;card&gt; sev2").unwrap(),
            Ask::Declare {
                title: "Checkout & payment gateway <card>".into(),
                severity: 2,
                private: false,
                invite: vec![]
            },
            "Slack's entities are read back to what was typed"
        );
        assert_eq!(Ask::parse("status a &lt; b").unwrap(), Ask::Status("a < b".into()));
    }

    #[test]
    fn slack_timestamps_compare_as_times() {
        assert!(ts_le("1700000000.000300", "1700000000.000300"));
        assert!(ts_le("1700000000.000300", "1700000000.001"));
        assert!(ts_le("999999999.9", "1000000000.0"));
        assert!(!ts_le("1700000000.000301", "1700000000.000300"));
        assert_eq!(slack_ts("1700000000.123456"), (1_700_000_000, 123_456));
        assert_eq!(slack_ts("nonsense"), (0, 0));
    }

    #[test]
    fn repeated_titles_share_a_key_whatever_the_case_and_spacing() {
        assert_eq!(title_key("Payments  down"), title_key("payments down"));
        assert_ne!(title_key("Payments down"), title_key("Payments up"));
    }

    #[test]
    fn configuration_names_what_is_missing_or_wrong() {
        let lookup = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| (*v).to_owned())
        };
        let both = lookup(&[("INCIDENTS_CHANNEL", "C0INCIDENTS"), ("INCIDENT_RESPONDERS", "U0ALICE, S0SRE")]);
        let config = IncidentConfig::from_lookup(&both, true, true).unwrap();
        assert_eq!(config.channel.as_deref(), Some("C0INCIDENTS"));
        assert_eq!(config.responders, ["U0ALICE", "S0SRE"]);
        assert_eq!(IncidentConfig::from_lookup(&both, false, true).unwrap_err().var(), "SLACK_BOT_TOKEN");
        assert_eq!(IncidentConfig::from_lookup(&both, true, false).unwrap_err().var(), "STATE_TABLE");
        let bad = lookup(&[("INCIDENT_RESPONDERS", "alice")]);
        assert_eq!(IncidentConfig::from_lookup(&bad, true, true).unwrap_err().var(), "INCIDENT_RESPONDERS");
        let name = lookup(&[("INCIDENTS_CHANNEL", "#incidents")]);
        assert_eq!(IncidentConfig::from_lookup(&name, true, true).unwrap_err().var(), "INCIDENTS_CHANNEL");
        assert_eq!(IncidentConfig::from_lookup(&lookup(&[]), false, false).unwrap(), IncidentConfig::default());
    }
}
