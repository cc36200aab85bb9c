//! Alertmanager's webhook payload (`version: "4"`; Grafana's compatible one too): one group of alerts,
//! firing or resolved, one message per `groupKey` whose later notifications update it.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::time_fmt::slack_date;
use crate::slack::{Block, Message, escape};
use crate::text::truncate;

/// Alerts listed one by one; the rest are counted.
const MAX_LISTED: usize = 12;

/// Why a payload is not an Alertmanager notification.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AlertmanagerError {
    #[error("the body is not an Alertmanager webhook payload: {0}")]
    Shape(String),
    #[error("unsupported payload version {0:?}: Alertmanager's webhook sends version \"4\"")]
    Version(String),
    #[error("the payload has no alerts")]
    NoAlerts,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Alert {
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    #[serde(default)]
    pub starts_at: Option<String>,
    #[serde(default)]
    pub ends_at: Option<String>,
    #[serde(default, rename = "generatorURL")]
    pub generator_url: Option<String>,
    #[serde(default)]
    pub fingerprint: Option<String>,
    /// Grafana sends a ready silence link.
    #[serde(default, rename = "silenceURL")]
    pub silence_url: Option<String>,
}

/// One webhook call: a group of alerts.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AlertGroup {
    #[serde(default)]
    pub version: Option<String>,
    pub group_key: String,
    pub status: String,
    #[serde(default)]
    pub receiver: Option<String>,
    #[serde(default)]
    pub group_labels: BTreeMap<String, String>,
    #[serde(default)]
    pub common_labels: BTreeMap<String, String>,
    #[serde(default)]
    pub common_annotations: BTreeMap<String, String>,
    #[serde(default, rename = "externalURL")]
    pub external_url: Option<String>,
    #[serde(default)]
    pub alerts: Vec<Alert>,
    #[serde(default)]
    pub truncated_alerts: u64,
}

impl AlertGroup {
    /// Reads a webhook body. Version 4 is Alertmanager's; Grafana sends `"1"` in the same shape.
    pub fn parse(body: &[u8]) -> Result<Self, AlertmanagerError> {
        let group: Self = serde_json::from_slice(body).map_err(|e| AlertmanagerError::Shape(e.to_string()))?;
        if let Some(v) = &group.version
            && v != "4"
            && v != "1"
        {
            return Err(AlertmanagerError::Version(v.clone()));
        }
        if group.alerts.is_empty() {
            return Err(AlertmanagerError::NoAlerts);
        }
        Ok(group)
    }

    pub fn is_firing(&self) -> bool {
        self.status.eq_ignore_ascii_case("firing")
    }

    /// The state shown, logged and routed on: `FIRING` or `RESOLVED`.
    pub fn state(&self) -> &'static str {
        if self.is_firing() { "FIRING" } else { "RESOLVED" }
    }

    /// The `alertname` the group's alerts share, if they do.
    pub fn alertname(&self) -> Option<&str> {
        self.group_labels.get("alertname").or_else(|| self.common_labels.get("alertname")).map(String::as_str)
    }

    /// The group's name: its `alertname`, or its group labels.
    pub fn name(&self) -> String {
        if let Some(name) = self.alertname() {
            return name.to_owned();
        }
        let labels: Vec<String> = self.group_labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        if labels.is_empty() { "alerts".to_owned() } else { labels.join(", ") }
    }

    /// The lifecycle key: the group key can be long and holds any characters, so it is hashed.
    pub fn lifecycle_key(&self) -> String {
        let digest = Sha256::digest(self.group_key.as_bytes());
        format!("alertmanager:{}", hex::encode(&digest[..16]))
    }

    /// When this state began: the first start among the firing alerts (a group that grows has been
    /// firing since its first alert), or the last end once resolved.
    pub fn changed_at(&self) -> Option<&str> {
        let firing = self.is_firing();
        let times = self
            .alerts
            .iter()
            .filter(|a| a.status.eq_ignore_ascii_case("firing") == firing)
            .filter_map(|a| if firing { a.starts_at.as_deref() } else { a.ends_at.as_deref() })
            .filter_map(|t| super::time_fmt::parse(t).filter(|p| p.year() > 1).map(|p| (p, t)));
        let pick = if firing { times.min_by_key(|(p, _)| *p) } else { times.max_by_key(|(p, _)| *p) };
        pick.map(|(_, t)| t)
    }

    pub fn severity(&self) -> Option<&str> {
        self.common_labels.get("severity").map(String::as_str)
    }

    pub fn firing_count(&self) -> usize {
        self.alerts.iter().filter(|a| a.status.eq_ignore_ascii_case("firing")).count()
    }

    pub(crate) fn message(&self) -> Message {
        let firing = self.firing_count();
        let (emoji, color) = match (self.is_firing(), self.severity().map(str::to_ascii_lowercase).as_deref()) {
            (false, _) => ("✅", "#2EB67D"),
            (true, Some("critical" | "page" | "high")) => ("🔥", "#E01E5A"),
            (true, Some("warning" | "warn" | "medium")) => ("⚠️", "#ECB22E"),
            (true, Some("info" | "informational" | "low" | "none")) => ("ℹ️", "#1D9BD1"),
            (true, _) => ("🔥", "#E01E5A"),
        };
        let name = self.name();
        let header = if self.is_firing() {
            format!("{emoji} FIRING: {name} ({firing})")
        } else {
            format!("{emoji} RESOLVED: {name}")
        };
        let summary = self.common_annotations.get("summary").or_else(|| self.common_annotations.get("message"));
        let mut fallback = escape(&header);
        if let Some(s) = summary {
            let _ = write!(fallback, " — {}", escape(&truncate(s, 300)));
        }
        let mut msg = Message::new(fallback).block(Block::Header(header));
        msg.color = Some(color.to_owned());
        let runbook = self.common_annotations.get("runbook_url").filter(|u| link_safe(u));
        match (summary, runbook) {
            (Some(s), Some(r)) => msg = msg.block(Block::section(format!("*{}* · <{r}|Runbook>", escape(s)))),
            (Some(s), None) => msg = msg.block(Block::section(format!("*{}*", escape(s)))),
            (None, Some(r)) => msg = msg.block(Block::section(format!("<{r}|Runbook>"))),
            (None, None) => {}
        }
        if let Some(d) = self.common_annotations.get("description") {
            msg = msg.block(Block::section(escape(d)));
        }
        // Labels every alert shares, minus the name already in the header.
        let common: Vec<String> = self
            .common_labels
            .iter()
            .filter(|(k, _)| *k != "alertname")
            .map(|(k, v)| format!("`{}={}`", escape(k), escape(v)))
            .collect();
        if !common.is_empty() {
            msg = msg.block(Block::section(format!("*Labels:* {}", common.join(" "))));
        }
        // Firing first, then resolved.
        let mut alerts: Vec<&Alert> = self.alerts.iter().collect();
        alerts.sort_by_key(|a| !a.status.eq_ignore_ascii_case("firing"));
        let lines: Vec<String> = alerts.iter().take(MAX_LISTED).map(|a| self.alert_line(a)).collect();
        // Three to a section keeps each well inside Slack's 3,000 characters (links are not cut).
        for chunk in lines.chunks(3) {
            msg = msg.block(Block::section(chunk.join("\n")));
        }
        let hidden = alerts.len().saturating_sub(MAX_LISTED) as u64 + self.truncated_alerts;
        if hidden > 0 {
            msg = msg.block(Block::Context(vec![format!("… and {hidden} more alerts in this group")]));
        }
        let mut footer = Vec::new();
        if let Some(url) = self.external_url.as_deref().filter(|u| u.starts_with("http")) {
            let base = url.trim_end_matches('/');
            footer.push(format!("<{base}/#/alerts|Alertmanager>"));
            if self.is_firing() {
                let silence = self.alerts.iter().find_map(|a| a.silence_url.clone()).unwrap_or_else(|| {
                    let matchers: Vec<String> =
                        self.common_labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
                    format!(
                        "{base}/#/silences/new?filter={}",
                        super::render::percent_encode(&format!("{{{}}}", matchers.join(",")))
                    )
                });
                footer.push(format!("<{silence}|Silence>"));
            }
        }
        if let Some(receiver) = &self.receiver {
            footer.push(format!("receiver `{}`", escape(receiver)));
        }
        footer.push(format!("Alertmanager · {}", self.state()));
        msg.block(Block::Context(vec![footer.join(" · ")]))
    }

    /// `• 🔥 *summary* — description (labels of its own) · since <date> · <source>`
    fn alert_line(&self, a: &Alert) -> String {
        let firing = a.status.eq_ignore_ascii_case("firing");
        let mark = if firing { "🔥" } else { "✅" };
        let title = a
            .annotations
            .get("summary")
            .filter(|s| Some(*s) != self.common_annotations.get("summary"))
            .or_else(|| a.labels.get("alertname"))
            .cloned()
            .unwrap_or_else(|| self.name());
        let mut line = format!("• {mark} *{}*", escape(&truncate(&title, 200)));
        if let Some(d) =
            a.annotations.get("description").filter(|d| Some(*d) != self.common_annotations.get("description"))
        {
            let _ = write!(line, " — {}", escape(&truncate(d, 300)));
        }
        let own: Vec<String> = a
            .labels
            .iter()
            .filter(|(k, v)| self.common_labels.get(*k) != Some(*v))
            .map(|(k, v)| format!("`{}={}`", escape(k), escape(&truncate(v, 80))))
            .collect();
        if !own.is_empty() {
            let _ = write!(line, " {}", own.join(" "));
        }
        let when = if firing { a.starts_at.as_deref() } else { a.ends_at.as_deref() };
        if let Some(t) = when.filter(|t| !t.starts_with("0001-")) {
            let _ = write!(line, " · {} {}", if firing { "since" } else { "resolved" }, slack_date(t));
        }
        if let Some(url) = a.generator_url.as_deref().filter(|u| link_safe(u)) {
            let _ = write!(line, " · <{url}|source>");
        }
        if let Some(runbook) = a
            .annotations
            .get("runbook_url")
            .filter(|u| link_safe(u) && Some(*u) != self.common_annotations.get("runbook_url"))
        {
            let _ = write!(line, " · <{runbook}|runbook>");
        }
        line
    }
}

/// A URL that can go into a Slack link as it is: http(s), no characters that would end the link, and
/// short enough that a section never has to cut it.
fn link_safe(url: &str) -> bool {
    (url.starts_with("https://") || url.starts_with("http://"))
        && url.len() <= 600
        && !url.contains(['|', '>', '<', ' ', '\n'])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_payloads_are_named() {
        assert!(matches!(AlertGroup::parse(b"{}"), Err(AlertmanagerError::Shape(_))));
        assert!(matches!(AlertGroup::parse(b"not json"), Err(AlertmanagerError::Shape(_))));
        let v3 = br#"{"version": "3", "groupKey": "g", "status": "firing", "alerts": [{}]}"#;
        assert_eq!(AlertGroup::parse(v3), Err(AlertmanagerError::Version("3".into())));
        let empty = br#"{"version": "4", "groupKey": "g", "status": "firing", "alerts": []}"#;
        assert_eq!(AlertGroup::parse(empty), Err(AlertmanagerError::NoAlerts));
    }

    #[test]
    fn the_key_is_stable_and_short() {
        let g = |key: &str| AlertGroup { group_key: key.into(), ..AlertGroup::default() };
        assert_eq!(g("{}:{a=\"b\"}").lifecycle_key(), g("{}:{a=\"b\"}").lifecycle_key());
        assert_ne!(g("{}:{a=\"b\"}").lifecycle_key(), g("{}:{a=\"c\"}").lifecycle_key());
        assert_eq!(g(&"x".repeat(5000)).lifecycle_key().len(), "alertmanager:".len() + 32);
    }
}
