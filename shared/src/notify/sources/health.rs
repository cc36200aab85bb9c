//! AWS Health events (`AWS Health Event`, and `AWS Health Abuse Event`): service, event type, status,
//! affected entities, start and end.

use serde_json::{Map, Value};

use super::{arn_partition, get, text};
use crate::notify::service::{ServiceEvent, ServiceSource, Severity, console_link, percent_encode};

/// Entities listed before "… and n more".
const MAX_ENTITIES: usize = 10;

pub(super) fn parse(detail_type: &str, d: &Map<String, Value>) -> Option<ServiceEvent> {
    if !detail_type.starts_with("AWS Health") {
        return None;
    }
    let type_code = text(d, "eventTypeCode")?;
    let service = text(d, "service");
    let category = text(d, "eventTypeCategory");
    let status = text(d, "statusCode").unwrap_or_else(|| "open".into());
    let severity = match (status.as_str(), category.as_deref()) {
        ("closed", _) => Severity::Good,
        (_, Some("issue")) => Severity::High,
        (_, Some("scheduledChange")) => Severity::Medium,
        _ => Severity::Info,
    };
    let what = type_code.strip_prefix("AWS_").unwrap_or(&type_code);
    let what = match &service {
        Some(s) => what.strip_prefix(&format!("{s}_")).unwrap_or(what).to_owned(),
        None => what.to_owned(),
    };
    let title = format!("{}: {}", service.as_deref().unwrap_or("AWS"), what.replace('_', " ").to_lowercase());
    let mut e = ServiceEvent::new(ServiceSource::Health, title, status);
    e.severity = severity;
    e.description = get(d, "eventDescription")
        .and_then(Value::as_array)
        .and_then(|all| {
            let english = all.iter().find(|x| x.get("language").and_then(Value::as_str) == Some("en_US"));
            english.or(all.first())
        })
        .and_then(Value::as_object)
        .and_then(|x| text(x, "latestDescription"));
    e.field("Service", service);
    e.field("Event type", Some(type_code));
    e.field("Category", category);
    e.field("Scope", text(d, "eventScopeCode"));
    e.field("Start", text(d, "startTime"));
    e.field("End", text(d, "endTime"));
    if let Some(entities) = get(d, "affectedEntities").and_then(Value::as_array) {
        let values: Vec<String> =
            entities.iter().filter_map(Value::as_object).filter_map(|x| text(x, "entityValue")).collect();
        if !values.is_empty() {
            let mut shown = values.iter().take(MAX_ENTITIES).cloned().collect::<Vec<_>>().join(", ");
            if values.len() > MAX_ENTITIES {
                shown.push_str(&format!(" … and {} more", values.len() - MAX_ENTITIES));
            }
            e.field(if values.len() == 1 { "Affected entity" } else { "Affected entities" }, Some(shown));
        }
    }
    e.account = text(d, "affectedAccount");
    e.region = text(d, "eventRegion");
    e.time = text(d, "lastUpdatedTime");
    let arn = text(d, "eventArn");
    e.console_url = arn.as_deref().and_then(|arn| {
        let path = format!("health/home#/account/event-log?eventID={}&eventTab=details", percent_encode(arn));
        match arn_partition(Some(arn)) {
            // The commercial partition's Health dashboard is global.
            None | Some("aws") => Some(format!("https://health.aws.amazon.com/{path}")),
            Some(partition) => console_link(Some(partition), e.region.as_deref(), &path),
        }
    });
    e.lifecycle = arn.map(|arn| format!("health:{arn}"));
    Some(e)
}
