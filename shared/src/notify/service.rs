//! A notice from an AWS service other than CloudWatch and CodeDeploy (GuardDuty, Security Hub, Health,
//! Backup, CodePipeline, ECS, CloudFormation, Budgets): what every such source is parsed into, and how
//! it is rendered. One parser per source lives in `sources/`; this module owns the shape they share.

use std::fmt::Write as _;

use super::render::console_host;
pub(crate) use super::render::percent_encode;
use super::time_fmt::slack_date;
use crate::slack::{Block, Message, escape};

/// Which service a notice came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServiceSource {
    GuardDuty,
    SecurityHub,
    Health,
    Backup,
    CodePipeline,
    Ecs,
    CloudFormation,
    Budgets,
}

impl ServiceSource {
    /// The name a reader knows.
    pub fn name(self) -> &'static str {
        match self {
            Self::GuardDuty => "GuardDuty",
            Self::SecurityHub => "Security Hub",
            Self::Health => "AWS Health",
            Self::Backup => "AWS Backup",
            Self::CodePipeline => "CodePipeline",
            Self::Ecs => "Amazon ECS",
            Self::CloudFormation => "CloudFormation",
            Self::Budgets => "AWS Budgets",
        }
    }

    /// The EventBridge `source` (what routing rules' `source` matches).
    pub fn event_source(self) -> &'static str {
        match self {
            Self::GuardDuty => "aws.guardduty",
            Self::SecurityHub => "aws.securityhub",
            Self::Health => "aws.health",
            Self::Backup => "aws.backup",
            Self::CodePipeline => "aws.codepipeline",
            Self::Ecs => "aws.ecs",
            Self::CloudFormation => "aws.cloudformation",
            Self::Budgets => "aws.budgets",
        }
    }
}

/// How urgent a notice is: its colour, its emoji, and whether a route's mention applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// A success or a recovery.
    Good,
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    /// `LOW`, `medium`, `Critical`, `INFORMATIONAL`... as findings and settings write them.
    pub fn parse(label: &str) -> Option<Self> {
        Some(match label.trim().to_ascii_uppercase().as_str() {
            "CRITICAL" => Self::Critical,
            "HIGH" => Self::High,
            "MEDIUM" => Self::Medium,
            "LOW" => Self::Low,
            "INFORMATIONAL" | "INFO" => Self::Info,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Good => "OK",
            Self::Info => "INFO",
            Self::Low => "LOW",
            Self::Medium => "MEDIUM",
            Self::High => "HIGH",
            Self::Critical => "CRITICAL",
        }
    }

    /// Emoji and colour bar.
    pub fn style(self) -> (&'static str, &'static str) {
        match self {
            Self::Critical => ("🚨", "#8E1600"),
            Self::High => ("🔴", "#E01E5A"),
            Self::Medium => ("🟠", "#F2952F"),
            Self::Low => ("🟡", "#ECB22E"),
            Self::Info => ("ℹ️", "#1D9BD1"),
            Self::Good => ("✅", "#2EB67D"),
        }
    }

    /// Pages: a route's mention applies.
    pub fn is_urgent(self) -> bool {
        self >= Self::High
    }
}

/// One notice from an AWS service, in the words an on-call engineer needs first.
#[derive(Clone, Debug, PartialEq)]
pub struct ServiceEvent {
    pub source: ServiceSource,
    /// The header: what happened, to what.
    pub title: String,
    /// The state shown, logged and routed on (`FAILED`, `HIGH`, `open`, `UPDATE_ROLLBACK_COMPLETE`).
    pub status: String,
    pub severity: Severity,
    /// Why (a status reason, a stopped reason): shown under the header and in thread replies.
    pub reason: Option<String>,
    /// Longer text (a finding's description), plain.
    pub description: Option<String>,
    /// `(label, value)`, plain text, in the order a reader wants them.
    pub fields: Vec<(String, String)>,
    pub console_url: Option<String>,
    pub account: Option<String>,
    /// The account's name, shown beside its ID.
    pub account_name: Option<String>,
    pub region: Option<String>,
    pub time: Option<String>,
    /// What identifies this notice's lifecycle (a finding ID, a pipeline execution, a stack operation):
    /// its later notices update the same message. `None`: every notice is its own message.
    pub lifecycle: Option<String>,
    /// A security finding: subject to `FINDINGS_MIN_SEVERITY`.
    pub finding: bool,
    /// Why this notice is not worth a message (a task stopped by a deployment, a stack still in
    /// progress): the function logs it and posts nothing.
    pub routine: Option<String>,
}

impl ServiceEvent {
    pub(crate) fn new(source: ServiceSource, title: impl Into<String>, status: impl Into<String>) -> Self {
        Self {
            source,
            title: title.into(),
            status: status.into(),
            severity: Severity::Info,
            reason: None,
            description: None,
            fields: Vec::new(),
            console_url: None,
            account: None,
            account_name: None,
            region: None,
            time: None,
            lifecycle: None,
            finding: false,
            routine: None,
        }
    }

    /// Adds a field when it has a value.
    pub(crate) fn field(&mut self, label: &str, value: Option<String>) {
        if let Some(value) = value.filter(|v| !v.trim().is_empty()) {
            self.fields.push((label.to_owned(), value));
        }
    }

    /// Fills account, region and time from the EventBridge envelope where the detail had none.
    pub(crate) fn with_envelope(mut self, event: &serde_json::Map<String, serde_json::Value>) -> Self {
        use crate::json::text;
        self.account = self.account.or_else(|| text(event.get("account")));
        self.region = self.region.or_else(|| text(event.get("region")));
        self.time = self.time.or_else(|| text(event.get("time")));
        self
    }

    pub(crate) fn message(&self) -> Message {
        let (emoji, color) = self.severity.style();
        let mut fallback = format!("{emoji} {}: {}", self.source.name(), escape(&self.title));
        if let Some(reason) = &self.reason {
            let _ = write!(fallback, " — {}", escape(&crate::text::truncate(reason, 300)));
        }
        let mut msg = Message::new(fallback).block(Block::Header(format!("{emoji} {}", self.title)));
        msg.color = Some(color.to_owned());
        if let Some(reason) = &self.reason {
            msg = msg.block(Block::section(format!("*Reason:* {}", escape(reason))));
        }
        if let Some(description) = &self.description {
            msg = msg.block(Block::section(escape(description)));
        }
        let mut fields: Vec<String> =
            self.fields.iter().map(|(label, value)| format!("*{}*\n{}", escape(label), shown(value))).collect();
        let account = self.account.as_deref().map(|a| super::account_label(a, self.account_name.as_deref()));
        for (label, value) in [("Account", &account), ("Region", &self.region)] {
            if let Some(value) = value {
                fields.push(format!("*{label}*\n{}", escape(value)));
            }
        }
        // Slack shows ten fields; the rest would be cut silently, so they go into a section instead.
        if fields.len() > crate::slack::message::MAX_FIELDS {
            let rest = fields.split_off(crate::slack::message::MAX_FIELDS);
            msg = msg.block(Block::Fields(fields)).block(Block::section(rest.join("\n").replace('\n', " ")));
        } else {
            msg = msg.block(Block::Fields(fields));
        }
        let mut footer = Vec::new();
        if let Some(url) = &self.console_url {
            footer.push(format!("<{url}|Open in the {} console>", self.source.name()));
        }
        footer.push(format!("{} · {}", escape(self.source.name()), escape(&self.status)));
        if let Some(t) = &self.time {
            footer.push(slack_date(t));
        }
        msg.block(Block::Context(vec![footer.join(" · ")]))
    }
}

/// A field's value: a timestamp in the reader's own time zone, anything else as it is.
fn shown(value: &str) -> String {
    match super::time_fmt::parse(value) {
        Some(_) => slack_date(value),
        None => escape(value),
    }
}

/// The partition of a region, for an event without an ARN to read it from.
pub(crate) fn partition_of(region: &str) -> &'static str {
    match region {
        r if r.starts_with("cn-") => "aws-cn",
        r if r.starts_with("us-gov-") => "aws-us-gov",
        _ => "aws",
    }
}

/// `https://<console host>/<path>` for a region (checked to look like one) in a partition.
pub(crate) fn console_link(partition: Option<&str>, region: Option<&str>, path: &str) -> Option<String> {
    let region = region.filter(|r| !r.is_empty() && r.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))?;
    let partition = partition.unwrap_or_else(|| partition_of(region));
    Some(format!("https://{}/{path}", console_host(partition, region)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severities_order_and_parse() {
        assert!(
            Severity::Critical > Severity::High && Severity::Low > Severity::Info && Severity::Info > Severity::Good
        );
        assert_eq!(Severity::parse("informational"), Some(Severity::Info));
        assert_eq!(Severity::parse(" High "), Some(Severity::High));
        assert_eq!(Severity::parse("severe"), None);
        assert!(Severity::High.is_urgent() && !Severity::Medium.is_urgent());
    }

    #[test]
    fn console_links_follow_the_partition_and_refuse_odd_regions() {
        assert_eq!(
            console_link(None, Some("cn-north-1"), "x").as_deref(),
            Some("https://cn-north-1.console.amazonaws.cn/x")
        );
        assert_eq!(
            console_link(Some("aws-us-gov"), Some("us-gov-west-1"), "x").as_deref(),
            Some("https://console.amazonaws-us-gov.com/x")
        );
        assert_eq!(console_link(None, Some("EU (Ireland)"), "x"), None);
        assert_eq!(console_link(None, Some("evil.com/"), "x"), None);
    }

    #[test]
    fn more_than_ten_fields_are_all_shown() {
        let mut e = ServiceEvent::new(ServiceSource::Ecs, "t", "STOPPED");
        for i in 0..14 {
            e.field(&format!("f{i}"), Some(format!("v{i}")));
        }
        let text = e.message().to_json().to_string();
        assert!(text.contains("v13") && text.contains("v0"), "{text}");
    }
}
