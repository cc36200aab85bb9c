//! GuardDuty findings (`GuardDuty Finding`): severity as colour, type, resource, account, region, count.

use serde_json::{Map, Value};

use super::{arn_partition, get, object, path, text};
use crate::notify::service::{ServiceEvent, ServiceSource, Severity, console_link, percent_encode};

/// GuardDuty's bands: 1.0–3.9 low, 4.0–6.9 medium, 7.0–8.9 high, 9.0–10.0 critical.
pub(crate) fn severity_of(score: f64) -> Severity {
    match score {
        s if s >= 9.0 => Severity::Critical,
        s if s >= 7.0 => Severity::High,
        s if s >= 4.0 => Severity::Medium,
        _ => Severity::Low,
    }
}

pub(super) fn parse(detail_type: &str, d: &Map<String, Value>) -> Option<ServiceEvent> {
    if detail_type != "GuardDuty Finding" {
        return None;
    }
    let finding_type = text(d, "type")?;
    let score = match get(d, "severity")? {
        Value::Number(n) => n.as_f64()?,
        Value::String(s) => s.trim().parse().ok()?,
        _ => return None,
    };
    let severity = severity_of(score);
    let title = text(d, "title").unwrap_or_else(|| finding_type.clone());
    let mut e = ServiceEvent::new(ServiceSource::GuardDuty, title, severity.as_str());
    e.severity = severity;
    e.finding = true;
    e.description = text(d, "description");
    e.field("Severity", Some(format!("{} ({score})", severity.as_str())));
    e.field("Finding type", Some(finding_type));
    let resource = object(d, "resource");
    let resource_type = resource.and_then(|r| text(r, "resourceType"));
    let resource_id = resource.and_then(resource_id);
    e.field(
        "Resource",
        match (resource_type, resource_id) {
            (Some(t), Some(id)) => Some(format!("{t} {id}")),
            (t, id) => t.or(id),
        },
    );
    let service = object(d, "service");
    let count = service.and_then(|s| text(s, "count"));
    e.field("Count", count);
    e.field("Last seen", service.and_then(|s| text(s, "eventLastSeen")));
    if let Some(action) = service.and_then(|s| path(s, &["action", "actionType"])) {
        e.field("Action", Some(action));
    }
    if service.and_then(|s| get(s, "archived")).and_then(Value::as_bool) == Some(true) {
        // Archived: good news for the finding's message, never filtered away by the minimum severity.
        e.status = "ARCHIVED".into();
        e.severity = Severity::Good;
        e.finding = false;
    }
    e.account = text(d, "accountId");
    e.region = text(d, "region");
    e.time = text(d, "updatedAt");
    let id = text(d, "id");
    let arn = text(d, "arn");
    let partition = text(d, "partition");
    e.console_url = id.as_deref().and_then(|id| {
        console_link(
            partition.as_deref().or(arn_partition(arn.as_deref())),
            e.region.as_deref(),
            &format!(
                "guardduty/home?region={}#/findings?macros=current&fId={}",
                e.region.as_deref()?,
                percent_encode(id)
            ),
        )
    });
    e.lifecycle = arn.or(id).map(|id| format!("guardduty:{id}"));
    Some(e)
}

/// The one identifier a reader looks for, per resource type.
fn resource_id(r: &Map<String, Value>) -> Option<String> {
    path(r, &["instanceDetails", "instanceId"])
        .or_else(|| path(r, &["accessKeyDetails", "userName"]))
        .or_else(|| path(r, &["eksClusterDetails", "name"]))
        .or_else(|| path(r, &["ecsClusterDetails", "name"]))
        .or_else(|| path(r, &["rdsDbInstanceDetails", "dbInstanceIdentifier"]))
        .or_else(|| path(r, &["lambdaDetails", "functionName"]))
        .or_else(|| {
            let buckets = get(r, "s3BucketDetails")?.as_array()?;
            let names: Vec<String> =
                buckets.iter().filter_map(|b| b.as_object().and_then(|b| text(b, "name"))).collect();
            (!names.is_empty()).then(|| names.join(", "))
        })
}
