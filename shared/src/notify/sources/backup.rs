//! AWS Backup job state changes: EventBridge (`Backup Job State Change`, `Copy Job State Change`,
//! `Restore Job State Change`) and the vault notifications sent through SNS. Failed and expired jobs
//! stand out; completed ones are green.

use serde_json::{Map, Value};

use super::{arn_partition, text};
use crate::notify::service::{ServiceEvent, ServiceSource, Severity, console_link};

pub(super) fn parse(detail_type: &str, d: &Map<String, Value>) -> Option<ServiceEvent> {
    let (kind, id_field, console_kind) = match detail_type {
        "Backup Job State Change" => ("Backup", "backupJobId", "backup"),
        "Copy Job State Change" => ("Copy", "copyJobId", "copy"),
        "Restore Job State Change" => ("Restore", "restoreJobId", "restore"),
        _ => return None,
    };
    // Some Backup events say `state`, others `status`, as its API does.
    let state = text(d, "state").or_else(|| text(d, "status"))?;
    let resource = text(d, "resourceArn");
    let resource_type = text(d, "resourceType");
    let what = resource.as_deref().map(super::last_segment).map(str::to_owned).or(resource_type.clone());
    let message = text(d, "statusMessage");
    let (severity, words) = style(&state, message.is_some());
    let title = match &what {
        Some(what) => format!("{kind} job {words}: {what}"),
        None => format!("{kind} job {words}"),
    };
    let mut e = ServiceEvent::new(ServiceSource::Backup, title, state);
    e.severity = severity;
    e.reason = message;
    e.field("Resource", resource);
    e.field("Resource type", resource_type);
    e.field("Vault", text(d, "backupVaultName").or_else(|| text(d, "destinationBackupVaultArn")));
    let id = text(d, id_field);
    e.field("Job", id.clone());
    e.field("Started", text(d, "creationDate"));
    let vault_arn = text(d, "backupVaultArn");
    e.region = vault_arn.as_deref().and_then(crate::notify::alarm::arn_parts).map(|(_, r, _)| r.to_owned());
    e.console_url = id.as_deref().and_then(|id| {
        let region = e.region.clone()?;
        console_link(
            arn_partition(vault_arn.as_deref()),
            Some(&region),
            &format!("backup/home?region={region}#/jobs/{console_kind}/details/{id}"),
        )
    });
    e.lifecycle = id.map(|id| format!("backup:{id}"));
    Some(e)
}

/// Severity and words for a job state. A completed backup job with a status message is what the
/// console calls "Completed with issues".
fn style(state: &str, has_message: bool) -> (Severity, &'static str) {
    match state {
        "FAILED" => (Severity::High, "failed"),
        "EXPIRED" => (Severity::High, "expired"),
        "ABORTED" => (Severity::Medium, "aborted"),
        "PARTIAL" => (Severity::Medium, "partly completed"),
        "COMPLETED" if has_message => (Severity::Low, "completed with issues"),
        "COMPLETED" => (Severity::Good, "completed"),
        "CREATED" | "PENDING" | "RUNNING" => (Severity::Info, "running"),
        _ => (Severity::Info, "changed state"),
    }
}

/// A vault notification (`PutBackupVaultNotifications`): text, with `EventType` and `State` as SNS
/// message attributes.
pub(super) fn from_sns(sns: &Value, message: &str) -> Option<ServiceEvent> {
    let attributes = sns.get("MessageAttributes")?.as_object()?;
    let attribute = |name: &str| attributes.get(name).and_then(|a| a.get("Value")).and_then(Value::as_str);
    let event_type = attribute("EventType")?;
    let kind = match event_type {
        "BACKUP_JOB" => "Backup",
        "COPY_JOB" => "Copy",
        "RESTORE_JOB" => "Restore",
        _ => return None,
    };
    let state = attribute("State").unwrap_or("UNKNOWN").to_owned();
    let (severity, words) = style(&state, false);
    let mut e = ServiceEvent::new(ServiceSource::Backup, format!("{kind} job {words}"), state);
    e.severity = severity;
    e.description = Some(message.trim().to_owned()).filter(|m| !m.is_empty());
    let id = attribute("Id").map(str::to_owned);
    e.field("Job", id.clone());
    e.field("Started", attribute("StartTime").map(str::to_owned));
    e.account = attribute("AccountId").map(str::to_owned);
    let topic = sns.get("TopicArn").and_then(Value::as_str);
    e.region = topic.and_then(crate::notify::alarm::arn_parts).map(|(_, r, _)| r.to_owned());
    e.time = sns.get("Timestamp").and_then(Value::as_str).map(str::to_owned);
    let console_kind = kind.to_ascii_lowercase();
    e.console_url = id.as_deref().and_then(|id| {
        let region = e.region.clone()?;
        console_link(
            arn_partition(topic),
            Some(&region),
            &format!("backup/home?region={region}#/jobs/{console_kind}/details/{id}"),
        )
    });
    e.lifecycle = id.map(|id| format!("backup:{id}"));
    Some(e)
}
