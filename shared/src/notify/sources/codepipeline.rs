//! CodePipeline pipeline executions (`CodePipeline Pipeline Execution State Change`): one message per
//! execution, from start to its end.

use serde_json::{Map, Value};

use super::text;
use crate::notify::service::{ServiceEvent, ServiceSource, Severity, console_link, percent_encode};

/// `region` is the envelope's: the detail does not carry one.
pub(super) fn parse(detail_type: &str, d: &Map<String, Value>, region: Option<String>) -> Option<ServiceEvent> {
    if detail_type != "CodePipeline Pipeline Execution State Change" {
        return None;
    }
    let pipeline = text(d, "pipeline")?;
    let state = text(d, "state")?;
    let (severity, words) = match state.as_str() {
        "FAILED" => (Severity::High, "failed"),
        "SUCCEEDED" => (Severity::Good, "succeeded"),
        "STARTED" => (Severity::Info, "started"),
        "RESUMED" => (Severity::Info, "resumed"),
        "STOPPING" => (Severity::Low, "stopping"),
        "STOPPED" => (Severity::Low, "stopped"),
        "CANCELED" => (Severity::Low, "canceled"),
        "SUPERSEDED" => (Severity::Info, "superseded"),
        _ => (Severity::Info, "changed state"),
    };
    let mut e = ServiceEvent::new(ServiceSource::CodePipeline, format!("Pipeline {pipeline} {words}"), state);
    e.severity = severity;
    let execution = text(d, "execution-id");
    e.field("Pipeline", Some(pipeline.clone()));
    e.field("Execution", execution.clone());
    e.field(
        "Trigger",
        d.get("execution-trigger").and_then(Value::as_object).and_then(|t| {
            match (text(t, "trigger-type"), text(t, "trigger-detail")) {
                (Some(kind), Some(detail)) => Some(format!("{kind} ({detail})")),
                (kind, detail) => kind.or(detail),
            }
        }),
    );
    e.field("Pipeline version", text(d, "version"));
    e.console_url = execution.as_ref().zip(region.as_deref()).and_then(|(id, region)| {
        let path = format!(
            "codesuite/codepipeline/pipelines/{}/executions/{}/timeline?region={region}",
            percent_encode(&pipeline),
            percent_encode(id)
        );
        console_link(None, Some(region), &path)
    });
    e.region = region;
    e.lifecycle = execution.map(|id| format!("codepipeline:{pipeline}:{id}"));
    Some(e)
}
