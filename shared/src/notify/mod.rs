//! What the notifier understands: every event shape it accepts, turned into [`Notification`]s, and each
//! notification rendered as a Slack [`Message`]. One module per event shape; a new source is one parser
//! and one line in [`notifications_from_event`].
//!
//! Render floor: imports `chat`, `slack`, `state` (a lifecycle's record) and the base floor; the notifier
//! flow (`flows::notifier`) uses it, never the other way round.

pub mod alarm;
pub mod alertmanager;
pub mod changes;
pub mod codedeploy;
pub mod digest;
pub mod envelope;
mod generic;
pub mod graph;
pub mod lifecycle;
pub mod logs;
mod render;
pub mod routing;
pub mod service;
mod sources;
mod time_fmt;

use serde_json::Value;

use crate::chat::Platform;
use crate::slack::Message;

pub use alarm::{Alarm, AlarmState, Condition};
pub use alertmanager::{AlertGroup, AlertmanagerError};
pub use codedeploy::{CodeDeploySettings, DeploymentNotice};
pub use generic::GenericNotice;
pub use service::{ServiceEvent, ServiceSource, Severity};
pub use time_fmt::{duration_text, slack_date_at};

/// One thing to tell Slack about.
#[derive(Clone, Debug, PartialEq)]
pub enum Notification {
    Alarm(Box<Alarm>),
    Deployment(Box<DeploymentNotice>),
    /// GuardDuty, Security Hub, Health, Backup, CodePipeline, ECS, CloudFormation, Budgets.
    Service(Box<ServiceEvent>),
    /// A group of Prometheus alerts from Alertmanager's webhook.
    Alertmanager(Box<AlertGroup>),
    Generic(GenericNotice),
    /// A message that is already a Slack payload (`text` / `blocks` / `attachments`): passed through.
    SlackPayload(serde_json::Map<String, Value>),
}

/// Per-deployment options applied to every message (the blueprint's `slackChannel` and friends).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MessageDefaults {
    pub channel: Option<String>,
    pub username: Option<String>,
    pub icon_emoji: Option<String>,
    /// Which CodeDeploy groups get buttons, and their green URLs.
    pub codedeploy: CodeDeploySettings,
    /// `MUTABLE_ALARMS`: the CloudWatch alarms whose messages get the mute buttons (bot-token mode).
    pub mutable_alarms: Vec<String>,
    /// `ALERTMANAGER_URL` is set: firing Alertmanager groups get [Silence 1 h] (bot-token mode).
    pub silences: bool,
}

/// The event is none of the shapes we know.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "unrecognised event: expected an SNS event, a CloudWatch alarm action event (source aws.cloudwatch with alarmData) or an EventBridge event; got {shape}"
)]
pub struct UnrecognisedEvent {
    pub shape: String,
}

/// A notification and what we know of its delivery: what exactly-once posting and routing need.
#[derive(Clone, Debug, PartialEq)]
pub struct Incoming {
    pub notification: Notification,
    /// The same for every redelivery of this notification: `sns:<MessageId>`, `eventbridge:<id>`, or
    /// `alarm-action:<alarm ARN>:<state timestamp>`. `None` when the event carries nothing stable.
    pub delivery_id: Option<String>,
    /// The name of the SNS topic it came through.
    pub topic: Option<String>,
}

/// Turns one Lambda event into the notifications it carries, in order: one per SNS record.
pub fn notifications_from_event(event: &Value) -> Result<Vec<Notification>, UnrecognisedEvent> {
    incoming_from_event(event).map(|all| all.into_iter().map(|i| i.notification).collect())
}

/// An account as people know it: `payments-prod (111122223333)` when it has a name, else the ID.
pub fn account_label(id: &str, name: Option<&str>) -> String {
    match name.map(str::trim).filter(|n| !n.is_empty() && *n != id) {
        Some(name) => format!("{name} ({id})"),
        None => id.to_owned(),
    }
}

/// Like [`notifications_from_event`], with each notification's delivery ID and topic.
///
/// The envelopes are read with `aws_lambda_events` ([`envelope`]): SNS records as `SnsEvent`, EventBridge
/// events as `EventBridgeEvent`. An SNS-shaped event the library cannot read (a hand-made test event
/// without signature fields) is still read, field by field, with a warning: a message is never lost to
/// a stricter parser.
pub fn incoming_from_event(event: &Value) -> Result<Vec<Incoming>, UnrecognisedEvent> {
    let obj = event.as_object().ok_or_else(|| UnrecognisedEvent { shape: describe(event) })?;
    if let Some(records) = envelope::sns_records(event) {
        return Ok(records
            .into_iter()
            .map(|record| Incoming {
                notification: from_sns_record(record.raw, &record.message),
                delivery_id: record.message_id.map(|id| format!("sns:{id}")),
                topic: record.topic_arn.map(|t| t.rsplit(':').next().unwrap_or(&t).to_owned()),
            })
            .collect());
    }
    // Read only by the branches that need it (an alarm action has no EventBridge envelope).
    let eventbridge_id = || envelope::eventbridge(event).and_then(|e| e.id).map(|id| format!("eventbridge:{id}"));
    let single = |notification, delivery_id| Ok(vec![Incoming { notification, delivery_id, topic: None }]);
    if let Some(alarm) = alarm::from_alarm_action(obj) {
        // An alarm action has no event ID: the alarm and the time of its state change identify it.
        let id = alarm.arn.as_ref().zip(alarm.changed_at.as_ref()).map(|(arn, at)| format!("alarm-action:{arn}:{at}"));
        return single(Notification::Alarm(Box::new(alarm)), id);
    }
    if let Some(alarm) = alarm::from_eventbridge(obj) {
        return single(Notification::Alarm(Box::new(alarm)), eventbridge_id());
    }
    // The SNS message of an alarm, invoked directly (handy with `cargo lambda invoke`).
    if let Some(alarm) = alarm::from_sns_alarm_message(obj, None) {
        return single(Notification::Alarm(Box::new(alarm)), None);
    }
    if let Some(notice) = DeploymentNotice::from_eventbridge(obj) {
        return single(Notification::Deployment(Box::new(notice)), eventbridge_id());
    }
    if let Some(event) = sources::from_eventbridge(obj) {
        return single(Notification::Service(Box::new(event)), eventbridge_id());
    }
    if let Some(notice) = GenericNotice::from_eventbridge(obj) {
        return single(Notification::Generic(notice), eventbridge_id());
    }
    Err(UnrecognisedEvent { shape: describe(event) })
}

/// One SNS record (`sns`, its `Message` text `message`): an alarm, a Slack payload, or anything else as
/// a generic notice. Never fails.
fn from_sns_record(sns: &Value, message: &str) -> Notification {
    let parsed: Option<Value> = serde_json::from_str(message).ok();
    if let Some(obj) = parsed.as_ref().and_then(Value::as_object) {
        if let Some(alarm) = alarm::from_sns_alarm_message(obj, Some(sns)) {
            return Notification::Alarm(Box::new(alarm));
        }
        if let Some(notice) = DeploymentNotice::from_eventbridge(obj) {
            return Notification::Deployment(Box::new(notice));
        }
        if let Some(event) = sources::from_eventbridge(obj) {
            return Notification::Service(Box::new(event));
        }
        if is_slack_payload(obj) {
            return Notification::SlackPayload(obj.clone());
        }
        if let Some(notice) = GenericNotice::from_eventbridge(obj) {
            return Notification::Generic(notice.with_sns(sns));
        }
    } else if let Some(event) = sources::from_sns_text(sns, message) {
        return Notification::Service(Box::new(event));
    }
    Notification::Generic(GenericNotice::from_sns(sns, message, parsed))
}

fn is_slack_payload(obj: &serde_json::Map<String, Value>) -> bool {
    obj.get("text").is_some_and(Value::is_string)
        || obj.get("blocks").is_some_and(Value::is_array)
        || obj.get("attachments").is_some_and(Value::is_array)
}

/// A short description of an event's shape for error messages: its type and top-level keys, no values.
fn describe(event: &Value) -> String {
    match event {
        Value::Object(map) => {
            let keys: Vec<&str> = map.keys().map(String::as_str).take(12).collect();
            format!("an object with keys [{}]", keys.join(", "))
        }
        Value::Array(a) => format!("an array of {} items", a.len()),
        Value::String(_) => "a string".into(),
        Value::Number(_) => "a number".into(),
        Value::Bool(_) => "a boolean".into(),
        Value::Null => "null".into(),
    }
}

impl Notification {
    /// A short label for logs: the alarm name, or the notice's title.
    pub fn label(&self) -> String {
        match self {
            Self::Alarm(a) => a.name.clone(),
            Self::Deployment(d) => format!("{} {}", d.group_key(), d.deployment_id),
            Self::Service(e) => format!("{}: {}", e.source.name(), e.title),
            Self::Alertmanager(g) => g.name(),
            Self::Generic(g) => g.title.clone(),
            Self::SlackPayload(_) => "slack payload".into(),
        }
    }

    /// The state for logs: the alarm state, or the kind of message.
    pub fn state(&self) -> &str {
        match self {
            Self::Alarm(a) => a.new_state.as_str(),
            Self::Deployment(d) => &d.state,
            Self::Service(e) => &e.status,
            Self::Alertmanager(g) => g.state(),
            Self::Generic(_) => "NOTICE",
            Self::SlackPayload(_) => "PASSTHROUGH",
        }
    }

    /// The Slack body to post, with the deployment's defaults applied.
    pub fn to_slack(&self, defaults: &MessageDefaults) -> Value {
        self.to_slack_with(defaults, &Extras::default())
    }

    /// The Slack body with a mention (the route's, on ALARM) and a note on the lifecycle (`OK after 12 min`).
    pub fn to_slack_with(&self, defaults: &MessageDefaults, extras: &Extras) -> Value {
        self.render_for(Platform::Slack, defaults, extras)
    }

    /// The body for `platform`: the one message model, rendered by that platform's renderer. A Slack
    /// payload passes through unchanged to Slack, and is read into the model for the others.
    pub fn render_for(&self, platform: Platform, defaults: &MessageDefaults, extras: &Extras) -> Value {
        match (self.message_with(defaults, extras), self) {
            (Some(message), _) => platform.render(&message),
            (None, Self::SlackPayload(map)) => {
                let mut map = map.clone();
                if let Some(mention) = &extras.mention {
                    let text = map.get("text").and_then(Value::as_str).unwrap_or_default();
                    let text = format!("{mention} {text}");
                    map.insert("text".into(), Value::String(text.trim_end().to_owned()));
                }
                apply_defaults(&mut map, defaults);
                match platform {
                    Platform::Slack => Value::Object(map),
                    other => other.render(&Message::from_slack_json(&map)),
                }
            }
            (None, _) => Value::Null,
        }
    }

    /// The message model of this notification, with the deployment's defaults, the route's mention
    /// and the lifecycle note; `None` for a Slack payload passed through.
    pub fn message_with(&self, defaults: &MessageDefaults, extras: &Extras) -> Option<Message> {
        let mut msg = match self {
            Self::Alarm(alarm) => render::alarm_message(alarm),
            Self::Deployment(d) => codedeploy::deployment_message(d, &defaults.codedeploy),
            Self::Service(event) => event.message(),
            Self::Alertmanager(group) => group.message(),
            Self::Generic(notice) => render::generic_message(notice),
            Self::SlackPayload(_) => return None,
        };
        // Below the header: what the reader needs before the details.
        let at = usize::from(matches!(msg.blocks.first(), Some(crate::slack::Block::Header(_))));
        if let Some(note) = &extras.note {
            msg.blocks.insert(at.min(msg.blocks.len()), crate::slack::Block::Context(vec![note.clone()]));
        }
        if let Some(changes) = &extras.changes {
            msg.blocks.push(crate::slack::Block::Context(vec![changes.clone()]));
        }
        if let Some(graph) = &extras.graph {
            msg.blocks.push(crate::slack::Block::Image {
                file_id: graph.file_id.clone(),
                alt_text: graph.alt_text.clone(),
                title: None,
                block_id: Some(GRAPH_BLOCK_ID.to_owned()),
            });
        }
        if let Some(actions) = &extras.actions {
            self.add_actions(&mut msg, actions, defaults);
        }
        if let Some(mention) = &extras.mention {
            msg.text = format!("{mention} {}", msg.text);
            msg.blocks.insert(at.min(msg.blocks.len()), crate::slack::Block::section(format!("🔔 {mention}")));
        }
        msg.channel = msg.channel.or_else(|| defaults.channel.clone());
        msg.username = msg.username.or_else(|| defaults.username.clone());
        msg.icon_emoji = msg.icon_emoji.or_else(|| defaults.icon_emoji.clone());
        Some(msg)
    }

    /// The account it is about, with its name when one is known: `(ID, name)`.
    pub fn account(&self) -> Option<(&str, Option<&str>)> {
        let (id, name) = match self {
            Self::Alarm(a) => (a.account.as_deref(), a.account_name.as_deref()),
            Self::Deployment(d) => (d.account.as_deref(), d.account_name.as_deref()),
            Self::Service(e) => (e.account.as_deref(), e.account_name.as_deref()),
            Self::Generic(g) => {
                (g.context.iter().find(|(l, _)| l == "account").map(|(_, v)| v.as_str()), g.account_name.as_deref())
            }
            Self::Alertmanager(_) | Self::SlackPayload(_) => (None, None),
        };
        id.map(|id| (id, name))
    }

    /// Names the account it is about (`ACCOUNT_NAMES`, AWS Organizations): shown beside the ID, and
    /// matched by routes.
    pub fn set_account_name(&mut self, name: String) {
        match self {
            Self::Alarm(a) => a.account_name = Some(name),
            Self::Deployment(d) => d.account_name = Some(name),
            Self::Service(e) => e.account_name = Some(name),
            Self::Generic(g) => g.account_name = Some(name),
            Self::Alertmanager(_) | Self::SlackPayload(_) => {}
        }
    }

    /// What routing rules match on. `topic` is the SNS topic's name, when it came through SNS.
    pub fn route_key<'a>(&'a self, topic: Option<&'a str>) -> routing::RouteKey<'a> {
        let labels = match self {
            Self::Alertmanager(g) => Some(&g.common_labels),
            _ => None,
        };
        let (alarm, account, region, source) = match self {
            Self::Alarm(a) => {
                (Some(a.name.as_str()), a.account.as_deref(), a.region.as_deref(), Some("aws.cloudwatch"))
            }
            Self::Deployment(d) => (None, d.account.as_deref(), d.region.as_deref(), Some("aws.codedeploy")),
            Self::Service(e) => (None, e.account.as_deref(), e.region.as_deref(), Some(e.source.event_source())),
            Self::Alertmanager(g) => (g.alertname(), None, None, Some("alertmanager")),
            Self::Generic(g) => {
                let get = |label: &str| g.context.iter().find(|(l, _)| l == label).map(|(_, v)| v.as_str());
                (None, get("account"), get("region"), get("source"))
            }
            Self::SlackPayload(_) => (None, None, None, None),
        };
        routing::RouteKey {
            alarm,
            topic,
            account,
            account_name: self.account().and_then(|(_, name)| name),
            region,
            source,
            labels,
            state: self.state(),
            urgent: self.is_alarm_state(),
        }
    }
}

/// `channel`, `username` and `icon_emoji` from the defaults where the payload has none.
fn apply_defaults(map: &mut serde_json::Map<String, Value>, defaults: &MessageDefaults) {
    for (key, value) in
        [("channel", &defaults.channel), ("username", &defaults.username), ("icon_emoji", &defaults.icon_emoji)]
    {
        if let Some(value) = value
            && !map.contains_key(key)
        {
            map.insert(key.to_owned(), Value::String(value.clone()));
        }
    }
}

/// Additions to a rendered message.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Extras {
    /// Slack mention syntax (`<!subteam^S0...>`), put first in the text and below the header.
    pub mention: Option<String>,
    /// One line of context below the header (mrkdwn, escaped by the caller).
    pub note: Option<String>,
    /// Bot-token mode: what can be done on an alert from its message, and what was.
    pub actions: Option<AlertActions>,
    /// `🔧 Recent changes: …`: what changed in the alert's account or channel just before it fired
    /// (mrkdwn, escaped), shown below the details.
    pub changes: Option<String>,
    /// The graph of what the alarm watches, uploaded to Slack: shown above the buttons.
    pub graph: Option<GraphImage>,
}

/// A graph uploaded to Slack, for an image block.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GraphImage {
    pub file_id: String,
    pub alt_text: String,
}

/// The image block's ID: one graph per message.
pub const GRAPH_BLOCK_ID: &str = "graph";

/// The actions part of an alert's message (Slack, bot-token mode): the buttons while it pages, and the
/// lines of what was done from them, kept on the alert's record so every update of the message shows them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AlertActions {
    /// The alert's lifecycle key: the buttons carry it to slack-command.
    pub lifecycle: Option<String>,
    /// [Acknowledge] can be recorded (the state table holds the alert's lifecycle).
    pub can_acknowledge: bool,
    /// `👀 Acknowledged by @x at 10:04`, while the alert pages.
    pub acknowledged: Option<String>,
    /// `🚨 INC-12 declared by @x → #inc-12-…`.
    pub incident: Option<String>,
    /// The alarm's mute, while it lasts: its line is shown, with [Unmute].
    pub muted: Option<crate::state::Mute>,
    /// The Alertmanager group's silence made from its message: its line, with [Expire silence].
    pub silenced: Option<crate::state::Silence>,
    /// [Show logs]: its value ([`logs::LogsButton`] as JSON), when the alarm's logs are known.
    pub logs: Option<String>,
    /// Since when it pages (epoch ms), as its record says; `None`: since this notification's change.
    pub since_ms: Option<i64>,
}

/// The action ID of [Declare incident]; slack-command's incident flow answers it.
pub const DECLARE_INCIDENT_ACTION: &str = "incident:declare";
/// The action ID of [🔒 Private incident] beside it.
pub const DECLARE_PRIVATE_INCIDENT_ACTION: &str = "incident:declare-private";
/// The action ID of [Acknowledge]; slack-command's alert flow answers it.
pub const ACKNOWLEDGE_ACTION: &str = "alert:ack";

/// The action IDs of [Mute …] and [Unmute]; slack-command's alert flow answers them.
pub const MUTE_ACTION: &str = "alarm:mute";
/// The action IDs of [Mute 1 h], [Mute 4 h] and [Mute until OK]: one block's buttons need their own IDs
/// (Block Kit: unique within the block); each is a mute (policy action `alarm:mute`), the value says how long.
pub const MUTE_ACTIONS: [&str; 3] = [MUTE_ACTION, "alarm:mute-4h", "alarm:mute-ok"];
pub const UNMUTE_ACTION: &str = "alarm:unmute";
/// The action IDs of [Silence 1 h] and [Expire silence] on an Alertmanager group.
pub const SILENCE_ACTION: &str = "alertmanager:silence";
/// [Show logs] on an alarm whose logs are known: a Logs Insights query over its window, the lines in its
/// thread. Policy action `alert:logs`, resource the alarm.
pub const LOGS_ACTION: &str = "alert:logs";
/// [Show results] of a query that took longer than Slack's 3 s (the same policy action).
pub const LOGS_RESULTS_ACTION: &str = "alert:logs-results";
pub const EXPIRE_SILENCE_ACTION: &str = "alertmanager:expire";

/// `🔇 Silenced by @x until 11:04`.
pub fn silenced_line(silence: &crate::state::Silence) -> String {
    format!(
        "🔇 Silenced in Alertmanager by <@{}> until {} (silence `{}`)",
        crate::slack::escape(&silence.by),
        slack_date_at(silence.until),
        crate::slack::escape(&silence.id)
    )
}
/// `MUTABLE_ALARMS`: name patterns of the CloudWatch alarms the stack may mute (the template's
/// `MutableAlarms`, which also scopes the IAM permission); both functions read it.
pub const MUTABLE_ALARMS_VAR: &str = "MUTABLE_ALARMS";

/// `MUTABLE_ALARMS` as patterns (comma-separated, `*` and `?`).
pub fn mutable_alarms(lookup: &dyn Fn(&str) -> Option<String>) -> Vec<String> {
    let text = crate::config::non_empty(lookup, MUTABLE_ALARMS_VAR).unwrap_or_default();
    text.split(',').map(str::trim).filter(|p| !p.is_empty()).map(str::to_owned).collect()
}

/// `🔕 Muted by @x until 11:04` or `… until OK`.
pub fn muted_line(mute: &crate::state::Mute) -> String {
    let by = crate::slack::escape(&mute.by);
    if mute.until_ok {
        format!("🔕 Muted by <@{by}> until OK (at the latest {})", slack_date_at(mute.until))
    } else {
        format!("🔕 Muted by <@{by}> until {}", slack_date_at(mute.until))
    }
}

/// `👀 Acknowledged by @x at 10:04` (the time in each reader's zone).
pub fn acknowledged_line(user: &str, at_s: i64) -> String {
    let fallback = time::OffsetDateTime::from_unix_timestamp(at_s)
        .ok()
        .and_then(|t| t.format(time::macros::format_description!("[hour]:[minute] UTC")).ok())
        .unwrap_or_default();
    format!("👀 Acknowledged by <@{}> at <!date^{at_s}^{{time}}|{fallback}>", crate::slack::escape(user))
}

impl Notification {
    /// The severity of an incident declared from this alert: critical → 1, paging (ALARM, high) → 2, else 3.
    pub fn incident_severity(&self) -> i64 {
        match self {
            Self::Service(e) if e.severity == Severity::Critical => 1,
            Self::Alertmanager(g) if g.severity().is_some_and(|s| s.eq_ignore_ascii_case("critical")) => 1,
            Self::Alertmanager(g)
                if g.severity()
                    .is_some_and(|s| ["high", "error", "page"].iter().any(|w| s.eq_ignore_ascii_case(w))) =>
            {
                2
            }
            Self::Alertmanager(_) => 3,
            _ if self.is_alarm_state() => 2,
            _ => 3,
        }
    }

    /// The lines of what was done on the alert, and while it pages, the buttons still to press:
    /// [Acknowledge] (once acknowledged, the line instead) and [Declare incident] (once declared, its line).
    fn add_actions(&self, msg: &mut Message, actions: &AlertActions, defaults: &MessageDefaults) {
        let mutable_alarms = &defaults.mutable_alarms;
        use crate::slack::{Block, Button};
        let paging = self.is_alarm_state();
        let mut lines = Vec::new();
        if paging && let Some(line) = &actions.acknowledged {
            lines.push(line.clone());
        }
        if let Some(line) = &actions.incident {
            lines.push(line.clone());
        }
        if let Some(mute) = &actions.muted {
            lines.push(muted_line(mute));
        }
        if let Some(silence) = &actions.silenced {
            lines.push(silenced_line(silence));
        }
        if !lines.is_empty() {
            msg.blocks.push(Block::Context(lines));
        }
        // Muting: [Unmute] while muted (in any state), the three mutes while it pages.
        let mute_button = |text: &str, value: serde_json::Value, action: &str| Button {
            text: text.into(),
            action_id: action.into(),
            value: Some(value.to_string()),
            url: None,
            style: None,
            confirm: None,
        };
        let mut mutes = Vec::new();
        let mutable_alarm = match self {
            Self::Alarm(a) if mutable_alarms.iter().any(|p| routing::glob(p, &a.name)) => Some(&a.name),
            _ => None,
        };
        // Silencing: [Expire silence] while silenced, [Silence 1 h] while a group fires.
        if let (Self::Alertmanager(group), true, Some(key)) = (self, defaults.silences, &actions.lifecycle) {
            match &actions.silenced {
                Some(silence) => mutes.push(mute_button(
                    "🔊 Expire silence",
                    // The alertname too: the policy governs [Expire silence] by the same resource as [Silence 1 h].
                    serde_json::json!({"k": key, "s": silence.id, "a": group.common_labels.get("alertname")}),
                    EXPIRE_SILENCE_ACTION,
                )),
                None if paging => {
                    let value = serde_json::json!({"k": key, "m": group.common_labels});
                    // A button's value holds 2,000 characters: a group whose labels do not fit gets none.
                    if value.to_string().len() <= 1900 {
                        mutes.push(mute_button("🔇 Silence 1 h", value, SILENCE_ACTION));
                    }
                }
                None => {}
            }
        }
        if let (Some(alarm), Some(key)) = (mutable_alarm, &actions.lifecycle) {
            if actions.muted.is_some() {
                mutes.push(mute_button("🔔 Unmute", serde_json::json!({"a": alarm, "k": key}), UNMUTE_ACTION));
            } else if paging {
                for ((text, d), action) in
                    [("🔕 Mute 1 h", "1h"), ("Mute 4 h", "4h"), ("Mute until OK", "ok")].into_iter().zip(MUTE_ACTIONS)
                {
                    mutes.push(mute_button(text, serde_json::json!({"a": alarm, "k": key, "d": d}), action));
                }
            }
        }
        let logs_button = actions.logs.as_ref().map(|value| Button {
            text: "📜 Show logs".into(),
            action_id: LOGS_ACTION.into(),
            value: Some(value.clone()),
            url: None,
            style: None,
            confirm: None,
        });
        if !paging {
            if let Some(button) = logs_button {
                msg.blocks.push(Block::Actions { block_id: Some("alert-logs".into()), buttons: vec![button] });
            }
            if !mutes.is_empty() {
                msg.blocks.push(Block::Actions { block_id: Some("alarm-mute".into()), buttons: mutes });
            }
            return;
        }
        let mut buttons = Vec::new();
        if actions.can_acknowledge && actions.acknowledged.is_none() && actions.lifecycle.is_some() {
            let value =
                serde_json::json!({"t": self.label().chars().take(150).collect::<String>(), "k": actions.lifecycle});
            buttons.push(Button {
                text: "👀 Acknowledge".into(),
                action_id: ACKNOWLEDGE_ACTION.into(),
                value: Some(value.to_string()),
                url: None,
                style: Some("primary"),
                confirm: None,
            });
        }
        if actions.incident.is_none() {
            buttons.push(Button {
                text: "🚨 Declare incident".into(),
                action_id: DECLARE_INCIDENT_ACTION.into(),
                value: Some(self.declare_value(actions.lifecycle.as_deref(), actions.since_ms)),
                url: None,
                style: Some("danger"),
                confirm: Some((
                    "Declare an incident?".into(),
                    "This opens an incident channel, invites the responders and announces it.".into(),
                    "Declare".into(),
                    "Cancel".into(),
                )),
            });
            // The same, private: a private channel with only the declarer, an announcement without details.
            buttons.push(Button {
                text: "🔒 Private incident".into(),
                action_id: DECLARE_PRIVATE_INCIDENT_ACTION.into(),
                value: Some(self.declare_value(actions.lifecycle.as_deref(), actions.since_ms)),
                url: None,
                style: None,
                confirm: Some((
                    "Declare a private incident?".into(),
                    "This opens a private channel with only you in it (invite who you need), and announces only its number and severity.".into(),
                    "Declare privately".into(),
                    "Cancel".into(),
                )),
            });
        }
        buttons.extend(logs_button);
        msg.blocks.push(Block::Actions { block_id: Some("alert-actions".into()), buttons });
        if !mutes.is_empty() {
            msg.blocks.push(Block::Actions { block_id: Some("alarm-mute".into()), buttons: mutes });
        }
    }

    /// The [Declare incident] button's value: the alert's title, the severity and its lifecycle key, as
    /// compact JSON (`{"t": …, "s": 2, "k": …}`, within Slack's 2,000 characters).
    fn declare_value(&self, lifecycle: Option<&str>, since_ms: Option<i64>) -> String {
        let title: String = self.label().chars().take(150).collect();
        let mut value = serde_json::json!({"t": title, "s": self.incident_severity()});
        // When it fired: the incident's times (to acknowledge, to declare, to resolve) start there.
        if let Some(at) = since_ms.or(self.changed_at_ms()).filter(|_| self.is_alarm_state()) {
            value["f"] = Value::from(at / 1000);
        }
        if let Some(key) = lifecycle.filter(|k| k.len() <= 1500) {
            value["k"] = Value::String(key.to_owned());
        }
        value.to_string()
    }
}
