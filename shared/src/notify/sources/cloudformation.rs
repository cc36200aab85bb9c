//! CloudFormation stack status changes (`CloudFormation Stack Status Change`): failed and rollback
//! states stand out, completions are green, and plain progress (`UPDATE_IN_PROGRESS`) is routine. One
//! message per stack operation: its later states update it.

use serde_json::{Map, Value};

use super::{arn_partition, object, text};
use crate::notify::service::{ServiceEvent, ServiceSource, Severity, console_link, percent_encode};

pub(super) fn parse(detail_type: &str, d: &Map<String, Value>) -> Option<ServiceEvent> {
    if detail_type != "CloudFormation Stack Status Change" {
        return None;
    }
    let stack_id = text(d, "stack-id")?;
    let details = object(d, "status-details")?;
    let status = text(details, "status")?;
    // arn:aws:cloudformation:region:account:stack/<name>/<uuid>
    let name = stack_id.split('/').nth(1).unwrap_or(&stack_id).to_owned();
    let severity = if status.ends_with("_FAILED") || status.contains("ROLLBACK_FAILED") {
        Severity::Critical
    } else if status.contains("ROLLBACK") {
        Severity::High
    } else if status.ends_with("_COMPLETE") {
        Severity::Good
    } else {
        Severity::Info
    };
    let mut e = ServiceEvent::new(ServiceSource::CloudFormation, format!("Stack {name}: {status}"), status.clone());
    e.severity = severity;
    e.reason = text(details, "status-reason");
    if status.ends_with("_IN_PROGRESS") && !status.contains("ROLLBACK") {
        e.routine = Some(format!("{status} is progress, not an outcome"));
    }
    e.field("Stack", Some(name));
    e.field("Status", Some(status));
    let token = text(d, "client-request-token");
    e.field("Operation", token.clone());
    if let Some((_, region, account)) = crate::notify::alarm::arn_parts(&stack_id) {
        e.region = Some(region.to_owned());
        e.account = Some(account.to_owned());
    }
    e.console_url = e.region.clone().and_then(|region| {
        console_link(
            arn_partition(Some(&stack_id)),
            Some(&region),
            &format!("cloudformation/home?region={region}#/stacks/events?stackId={}", percent_encode(&stack_id)),
        )
    });
    // Every event of one operation carries the same token; a new operation starts a new message.
    e.lifecycle = Some(match token {
        Some(token) => format!("cloudformation:{stack_id}:{token}"),
        None => format!("cloudformation:{stack_id}"),
    });
    Some(e)
}
