//! One parser per AWS service that tells of trouble through EventBridge (or SNS carrying the same
//! JSON): each turns its events into a [`ServiceEvent`]. An event of a known source that a parser
//! does not recognise returns `None` and keeps the generic notice.

mod backup;
mod budgets;
mod cloudformation;
mod codepipeline;
mod ecs;
mod guardduty;
mod health;
mod securityhub;

use serde_json::{Map, Value};

use super::service::ServiceEvent;

/// An EventBridge event (`source`, `detail-type`, `detail`) from one of the services we know.
pub(crate) fn from_eventbridge(event: &Map<String, Value>) -> Option<ServiceEvent> {
    let source = event.get("source").and_then(Value::as_str)?;
    let detail_type = event.get("detail-type").and_then(Value::as_str)?;
    let detail = event.get("detail").and_then(Value::as_object)?;
    let parsed = match source {
        "aws.guardduty" => guardduty::parse(detail_type, detail),
        "aws.securityhub" => securityhub::parse(detail_type, detail),
        "aws.health" => health::parse(detail_type, detail),
        "aws.backup" => backup::parse(detail_type, detail),
        "aws.codepipeline" => codepipeline::parse(detail_type, detail, crate::json::text(event.get("region"))),
        "aws.ecs" => ecs::parse(detail_type, detail),
        "aws.cloudformation" => cloudformation::parse(detail_type, detail),
        _ => None,
    }?;
    Some(parsed.with_envelope(event))
}

/// An SNS record whose message is not JSON but a service's own text (Budgets, Backup vault notifications).
pub(crate) fn from_sns_text(sns: &Value, message: &str) -> Option<ServiceEvent> {
    budgets::from_sns(sns, message).or_else(|| backup::from_sns(sns, message))
}

/// A field by its name, or by the same name in another case (`accountId` / `AccountId`): GuardDuty's
/// EventBridge events are camelCase, its API and many copies of its findings PascalCase.
pub(crate) fn get<'a>(obj: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    obj.get(name).or_else(|| obj.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v))
}

/// A text field (strings, numbers and booleans read as text), by name in any case.
pub(crate) fn text(obj: &Map<String, Value>, name: &str) -> Option<String> {
    crate::json::text(get(obj, name))
}

/// A nested object, by name in any case.
pub(crate) fn object<'a>(obj: &'a Map<String, Value>, name: &str) -> Option<&'a Map<String, Value>> {
    get(obj, name).and_then(Value::as_object)
}

/// A path of objects ending in a text field: `path(detail, &["resource", "instanceDetails", "instanceId"])`.
pub(crate) fn path(obj: &Map<String, Value>, names: &[&str]) -> Option<String> {
    let (last, parents) = names.split_last()?;
    let mut current = obj;
    for name in parents {
        current = object(current, name)?;
    }
    text(current, last)
}

/// The last segment of an ARN or path (`.../task/abc` → `abc`).
pub(crate) fn last_segment(s: &str) -> &str {
    s.rsplit(['/', ':']).next().unwrap_or(s)
}

/// The partition of an ARN (`aws`, `aws-cn`, `aws-us-gov`).
pub(crate) fn arn_partition(arn: Option<&str>) -> Option<&str> {
    arn.and_then(super::alarm::arn_parts).map(|(partition, ..)| partition)
}
