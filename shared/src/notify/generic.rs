//! Any notification that is not an alarm: SNS messages in plain text or JSON, EventBridge events of
//! other kinds. Shown readably, never dropped.

use serde_json::{Map, Value};

use super::alarm::arn_parts;
use crate::json::text;

#[derive(Clone, Debug, PartialEq)]
pub struct GenericNotice {
    pub title: String,
    /// Plain text, or pretty-printed JSON when `is_json`.
    pub body: String,
    pub is_json: bool,
    /// `(label, value)` pairs for the footer: topic, source, account, region.
    pub context: Vec<(String, String)>,
    pub time: Option<String>,
    /// The name of the account in `context`, shown beside its ID.
    pub account_name: Option<String>,
}

impl GenericNotice {
    pub(crate) fn from_sns(sns: &Value, message: &str, parsed: Option<Value>) -> Self {
        let topic = text(sns.get("TopicArn"));
        let topic_name = topic.as_deref().map(|t| t.rsplit(':').next().unwrap_or(t).to_owned());
        let title = text(sns.get("Subject"))
            .or_else(|| topic_name.as_ref().map(|t| format!("Message from {t}")))
            .unwrap_or_else(|| "SNS message".into());
        let (body, is_json) = match parsed {
            Some(v @ (Value::Object(_) | Value::Array(_))) => {
                (serde_json::to_string_pretty(&v).unwrap_or_else(|_| message.to_owned()), true)
            }
            _ => (message.to_owned(), false),
        };
        let mut notice =
            Self { title, body, is_json, context: Vec::new(), time: text(sns.get("Timestamp")), account_name: None };
        notice.add_topic(topic.as_deref());
        notice
    }

    /// Adds the SNS topic details to a notice parsed from an SNS message.
    pub(crate) fn with_sns(mut self, sns: &Value) -> Self {
        self.add_topic(text(sns.get("TopicArn")).as_deref());
        if self.time.is_none() {
            self.time = text(sns.get("Timestamp"));
        }
        self
    }

    fn add_topic(&mut self, topic: Option<&str>) {
        if let Some(topic) = topic {
            self.context.push(("topic".into(), topic.rsplit(':').next().unwrap_or(topic).to_owned()));
            if let Some((_, region, account)) = arn_parts(topic) {
                self.push_unique("account", account);
                self.push_unique("region", region);
            }
        }
    }

    fn push_unique(&mut self, label: &str, value: &str) {
        if !value.is_empty() && !self.context.iter().any(|(l, _)| l == label) {
            self.context.push((label.into(), value.into()));
        }
    }

    /// Any EventBridge event (`detail-type`, `source`, `detail`): titled by its detail type.
    pub(crate) fn from_eventbridge(event: &Map<String, Value>) -> Option<Self> {
        let detail_type = text(event.get("detail-type"))?;
        let source = text(event.get("source"))?;
        let detail = event.get("detail")?;
        let mut notice = Self {
            title: detail_type,
            body: serde_json::to_string_pretty(detail).unwrap_or_default(),
            is_json: true,
            context: vec![("source".into(), source)],
            time: text(event.get("time")),
            account_name: None,
        };
        if let Some(account) = text(event.get("account")) {
            notice.push_unique("account", &account);
        }
        if let Some(region) = text(event.get("region")) {
            notice.push_unique("region", &region);
        }
        Some(notice)
    }
}
