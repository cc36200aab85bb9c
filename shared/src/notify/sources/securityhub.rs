//! Security Hub findings (`Security Hub Findings - Imported`, ASFF): title, severity, resource,
//! compliance status, workflow state.

use serde_json::{Map, Value};

use super::{arn_partition, get, object, path, text};
use crate::notify::service::{ServiceEvent, ServiceSource, Severity, console_link, percent_encode};

pub(super) fn parse(detail_type: &str, d: &Map<String, Value>) -> Option<ServiceEvent> {
    if !detail_type.starts_with("Security Hub Findings") {
        return None;
    }
    // One finding per event, as Security Hub sends them.
    let f = get(d, "findings")?.as_array()?.first()?.as_object()?;
    let title = text(f, "Title")?;
    let severity_obj = object(f, "Severity");
    let severity = severity_obj
        .and_then(|s| text(s, "Label"))
        .and_then(|l| Severity::parse(&l))
        .or_else(|| severity_obj.and_then(|s| get(s, "Normalized")).and_then(Value::as_f64).map(normalized))
        .or_else(|| path(f, &["ProductFields", "aws/securityhub/SeverityLabel"]).and_then(|l| Severity::parse(&l)))
        .unwrap_or(Severity::Info);
    let compliance = path(f, &["Compliance", "Status"]);
    let workflow = path(f, &["Workflow", "Status"]).or_else(|| text(f, "WorkflowState"));
    let record = text(f, "RecordState");
    // A passed control or an archived or resolved finding is good news.
    let settled = compliance.as_deref() == Some("PASSED")
        || record.as_deref() == Some("ARCHIVED")
        || matches!(workflow.as_deref(), Some("RESOLVED" | "SUPPRESSED"));
    let status = match (&compliance, &workflow) {
        (Some(c), _) if settled => c.clone(),
        _ if settled => workflow.clone().or(record.clone()).unwrap_or_else(|| "RESOLVED".into()),
        _ => severity.as_str().to_owned(),
    };
    let mut e = ServiceEvent::new(ServiceSource::SecurityHub, title, status);
    e.severity = if settled { Severity::Good } else { severity };
    e.finding = !settled;
    e.description = text(f, "Description");
    e.field("Severity", Some(severity.as_str().to_owned()));
    let product = text(f, "ProductName").or_else(|| path(f, &["ProductFields", "aws/securityhub/ProductName"]));
    e.field("Product", product);
    let resources = get(f, "Resources").and_then(Value::as_array);
    if let Some(resources) = resources {
        let shown: Vec<String> = resources
            .iter()
            .filter_map(Value::as_object)
            .take(5)
            .filter_map(|r| match (text(r, "Type"), text(r, "Id")) {
                (Some(t), Some(id)) => Some(format!("{t} {id}")),
                (t, id) => t.or(id),
            })
            .collect();
        let more = resources.len().saturating_sub(shown.len());
        let mut value = shown.join("\n");
        if more > 0 {
            value.push_str(&format!("\n… and {more} more"));
        }
        e.field(if resources.len() == 1 { "Resource" } else { "Resources" }, Some(value));
    }
    e.field("Compliance", compliance);
    e.field("Workflow", workflow);
    e.field("Record state", record.filter(|r| r != "ACTIVE"));
    e.field("Remediation", path(f, &["Remediation", "Recommendation", "Text"]));
    e.account = text(f, "AwsAccountId");
    e.region = text(f, "Region")
        .or_else(|| resources.and_then(|r| r.first()).and_then(Value::as_object).and_then(|r| text(r, "Region")));
    e.time = text(f, "UpdatedAt");
    let id = text(f, "Id");
    let partition = arn_partition(id.as_deref()).map(str::to_owned);
    e.console_url = id.as_deref().and_then(|id| {
        let region = e.region.as_deref()?;
        // The console's own search syntax: `Id` `EQUALS` the ID, the value encoded twice as it does.
        let search = format!("Id%3D%255Coperator%255C%253AEQUALS%255C%253A{}", percent_encode(&percent_encode(id)));
        console_link(
            partition.as_deref(),
            Some(region),
            &format!("securityhub/home?region={region}#/findings?search={search}"),
        )
    });
    e.lifecycle = id.map(|id| format!("securityhub:{id}"));
    Some(e)
}

/// ASFF's normalised 0–100 scale, as Security Hub maps it to labels.
fn normalized(score: f64) -> Severity {
    match score {
        s if s >= 90.0 => Severity::Critical,
        s if s >= 70.0 => Severity::High,
        s if s >= 40.0 => Severity::Medium,
        s if s >= 1.0 => Severity::Low,
        _ => Severity::Info,
    }
}
