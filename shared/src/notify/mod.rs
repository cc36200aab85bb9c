//! What the notifier understands: every event shape it accepts, turned into [`Notification`]s, and each
//! notification rendered as a Slack [`Message`]. One module per event shape; a new source is one parser
//! and one line in [`notifications_from_event`].

pub mod alarm;
pub mod codedeploy;
mod generic;
mod render;
mod time_fmt;

use serde_json::Value;

pub use alarm::{Alarm, AlarmState, Condition};
pub use codedeploy::{CodeDeploySettings, DeploymentNotice};
pub use generic::GenericNotice;

/// One thing to tell Slack about.
#[derive(Clone, Debug, PartialEq)]
pub enum Notification {
    Alarm(Box<Alarm>),
    Deployment(Box<DeploymentNotice>),
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
}

/// The event is none of the shapes we know.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "unrecognised event: expected an SNS event, a CloudWatch alarm action event (source aws.cloudwatch with alarmData) or an EventBridge event; got {shape}"
)]
pub struct UnrecognisedEvent {
    pub shape: String,
}

/// Turns one Lambda event into the notifications it carries, in order: one per SNS record.
pub fn notifications_from_event(event: &Value) -> Result<Vec<Notification>, UnrecognisedEvent> {
    let obj = event.as_object().ok_or_else(|| UnrecognisedEvent { shape: describe(event) })?;
    if let Some(records) = obj.get("Records").and_then(Value::as_array) {
        let sns: Vec<&Value> = records.iter().filter_map(|r| r.get("Sns")).collect();
        if !records.is_empty() && sns.len() == records.len() {
            return Ok(sns.into_iter().map(from_sns_record).collect());
        }
    }
    if let Some(alarm) = alarm::from_alarm_action(obj).or_else(|| alarm::from_eventbridge(obj)) {
        return Ok(vec![Notification::Alarm(Box::new(alarm))]);
    }
    // The SNS message of an alarm, invoked directly (handy with `cargo lambda invoke`).
    if let Some(alarm) = alarm::from_sns_alarm_message(obj, None) {
        return Ok(vec![Notification::Alarm(Box::new(alarm))]);
    }
    if let Some(notice) = DeploymentNotice::from_eventbridge(obj) {
        return Ok(vec![Notification::Deployment(Box::new(notice))]);
    }
    if let Some(notice) = GenericNotice::from_eventbridge(obj) {
        return Ok(vec![Notification::Generic(notice)]);
    }
    Err(UnrecognisedEvent { shape: describe(event) })
}

/// One SNS record: an alarm, a Slack payload, or anything else as a generic notice. Never fails.
fn from_sns_record(sns: &Value) -> Notification {
    let message = sns.get("Message").and_then(Value::as_str).unwrap_or_default();
    let parsed: Option<Value> = serde_json::from_str(message).ok();
    if let Some(obj) = parsed.as_ref().and_then(Value::as_object) {
        if let Some(alarm) = alarm::from_sns_alarm_message(obj, Some(sns)) {
            return Notification::Alarm(Box::new(alarm));
        }
        if let Some(notice) = DeploymentNotice::from_eventbridge(obj) {
            return Notification::Deployment(Box::new(notice));
        }
        if is_slack_payload(obj) {
            return Notification::SlackPayload(obj.clone());
        }
        if let Some(notice) = GenericNotice::from_eventbridge(obj) {
            return Notification::Generic(notice.with_sns(sns));
        }
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
            Self::Generic(g) => g.title.clone(),
            Self::SlackPayload(_) => "slack payload".into(),
        }
    }

    /// The state for logs: the alarm state, or the kind of message.
    pub fn state(&self) -> &str {
        match self {
            Self::Alarm(a) => a.new_state.as_str(),
            Self::Deployment(d) => &d.state,
            Self::Generic(_) => "NOTICE",
            Self::SlackPayload(_) => "PASSTHROUGH",
        }
    }

    /// The Slack body to post, with the deployment's defaults applied.
    pub fn to_slack(&self, defaults: &MessageDefaults) -> Value {
        let mut body = match self {
            Self::Alarm(alarm) => render::alarm_message(alarm).to_json(),
            Self::Deployment(d) => render::deployment_message(d, &defaults.codedeploy).to_json(),
            Self::Generic(notice) => render::generic_message(notice).to_json(),
            Self::SlackPayload(map) => Value::Object(map.clone()),
        };
        if let Some(map) = body.as_object_mut() {
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
        body
    }
}
