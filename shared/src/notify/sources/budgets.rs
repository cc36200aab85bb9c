//! AWS Budgets notifications: SNS text (`AWS Budget Notification ...`), the subject naming the budget.
//! Actual spend over a threshold is high, a forecast medium.

use serde_json::Value;

use crate::notify::service::{ServiceEvent, ServiceSource, Severity, console_link};

pub(super) fn from_sns(sns: &Value, message: &str) -> Option<ServiceEvent> {
    let subject = sns.get("Subject").and_then(Value::as_str).unwrap_or_default();
    let is_budget = subject.starts_with("AWS Budgets:") || message.trim_start().starts_with("AWS Budget Notification");
    if !is_budget {
        return None;
    }
    // "AWS Budgets: monthly-aws has exceeded your alert threshold"
    let name = subject
        .strip_prefix("AWS Budgets:")
        .map(str::trim)
        .and_then(|s| s.split(" has ").next().or(Some(s)))
        .and_then(|s| s.split(" is ").next())
        .map(str::to_owned)
        .filter(|s| !s.is_empty());
    let request = sentence(message, "You requested");
    // "The ACTUAL Cost associated with this budget is $8,412.37." -> "$8,412.37"
    let current = sentence(message, "The ").and_then(|s| {
        s.split_once("associated with this budget is ").map(|(_, amount)| amount.trim_end_matches('.').to_owned())
    });
    let forecast = message.contains("FORECASTED") || subject.contains("forecast");
    let mut e = ServiceEvent::new(
        ServiceSource::Budgets,
        match &name {
            Some(n) => format!("Budget {n}: {}", if forecast { "forecast over threshold" } else { "over threshold" }),
            None => "Budget threshold crossed".to_owned(),
        },
        if forecast { "FORECASTED" } else { "ACTUAL" },
    );
    e.severity = if forecast { Severity::Medium } else { Severity::High };
    e.description = request;
    e.field("Budget", name);
    e.field("Now", current);
    e.account = message
        .lines()
        .find_map(|l| l.trim().strip_prefix("AWS Account "))
        .map(|a| a.trim().to_owned())
        .filter(|a| a.chars().all(|c| c.is_ascii_digit()));
    e.time = sns.get("Timestamp").and_then(Value::as_str).map(str::to_owned);
    // Budgets are global: their console is in us-east-1 (or the partition's own).
    let partition = sns.get("TopicArn").and_then(Value::as_str).and_then(crate::notify::alarm::arn_parts).map(|p| p.0);
    let home = match partition {
        Some("aws-cn") => "cn-north-1",
        Some("aws-us-gov") => "us-gov-west-1",
        _ => "us-east-1",
    };
    e.console_url = console_link(partition, Some(home), "costmanagement/home#/budgets");
    Some(e)
}

/// The sentence that starts with `start` and holds no other sentence's start: up to `. ` or the end
/// of its line (amounts such as `$8,412.37` keep their point).
fn sentence(text: &str, start: &str) -> Option<String> {
    let mut rest = text;
    while let Some(at) = rest.find(start) {
        let from = &rest[at..];
        let end =
            [from.find(". "), from.find(".\n"), from.find('\n')].into_iter().flatten().min().unwrap_or(from.len());
        let found = from[..end].trim();
        let found = if from[end..].starts_with('.') { format!("{found}.") } else { found.to_owned() };
        if start != "The " || found.contains("associated with this budget") {
            return Some(found);
        }
        rest = &from[start.len()..];
    }
    None
}
