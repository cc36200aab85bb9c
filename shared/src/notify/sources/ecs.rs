//! ECS tasks that stopped for a reason worth knowing (`ECS Task State Change`, `lastStatus: STOPPED`):
//! a container that exited non-zero, a task that failed to start, failed health checks, a Spot
//! interruption. Tasks stopped on purpose (a deployment, a scale-in, a user) and tasks that are not
//! stopped are routine: parsed, logged, not posted.

use serde_json::{Map, Value};

use super::{arn_partition, get, last_segment, text};
use crate::notify::service::{ServiceEvent, ServiceSource, Severity, console_link};

pub(super) fn parse(detail_type: &str, d: &Map<String, Value>) -> Option<ServiceEvent> {
    if detail_type != "ECS Task State Change" {
        return None;
    }
    let task_arn = text(d, "taskArn")?;
    let last_status = text(d, "lastStatus")?;
    let task = last_segment(&task_arn).to_owned();
    let cluster_arn = text(d, "clusterArn");
    let cluster = cluster_arn.as_deref().map(last_segment).map(str::to_owned);
    let group = text(d, "group");
    let stop_code = text(d, "stopCode");
    let stopped_reason = text(d, "stoppedReason");
    let containers: Vec<&Map<String, Value>> = get(d, "containers")
        .and_then(Value::as_array)
        .map(|c| c.iter().filter_map(Value::as_object).collect())
        .unwrap_or_default();
    let exits: Vec<(String, Option<i64>, Option<String>)> = containers
        .iter()
        .map(|c| {
            let code = get(c, "exitCode").and_then(Value::as_i64);
            (text(c, "name").unwrap_or_else(|| "?".into()), code, text(c, "reason"))
        })
        .collect();
    let failed_exit = exits.iter().any(|(_, code, _)| code.is_some_and(|c| c != 0));
    let container_reason = exits.iter().any(|(_, _, reason)| reason.is_some());
    let reason_says_failure = stopped_reason.as_deref().is_some_and(|r| {
        let r = r.to_ascii_lowercase();
        r.contains("fail") || r.contains("unhealthy") || r.contains("error") || r.contains("outofmemory")
    });
    let on_purpose = matches!(stop_code.as_deref(), Some("ServiceSchedulerInitiated" | "UserInitiated"));
    let what = group.as_deref().map(|g| g.strip_prefix("service:").unwrap_or(g)).unwrap_or(&task).to_owned();
    let mut e = ServiceEvent::new(ServiceSource::Ecs, format!("Task stopped: {what}"), last_status.clone());
    e.severity = Severity::High;
    e.routine = if last_status != "STOPPED" {
        Some(format!("task is {last_status}, not stopped"))
    } else if on_purpose && !reason_says_failure && !container_reason {
        Some(format!("stopped on purpose ({})", stop_code.as_deref().unwrap_or_default()))
    } else if !failed_exit
        && !container_reason
        && !reason_says_failure
        && stop_code.as_deref() == Some("EssentialContainerExited")
    {
        Some("every container exited 0".to_owned())
    } else {
        None
    };
    if stop_code.as_deref() == Some("SpotInterruption") || stop_code.as_deref() == Some("TerminationNotice") {
        e.severity = Severity::Medium;
    }
    e.reason = stopped_reason;
    e.field("Cluster", cluster.clone());
    e.field("Group", group);
    e.field("Task", Some(task.clone()));
    e.field("Task definition", text(d, "taskDefinitionArn").map(|t| t.rsplit('/').next().unwrap_or(&t).to_owned()));
    e.field("Stop code", stop_code);
    let shown: Vec<String> = exits
        .iter()
        .map(|(name, code, reason)| {
            let mut line = match code {
                Some(code) => format!("{name}: exit {code}"),
                None => format!("{name}: no exit code"),
            };
            if let Some(reason) = reason {
                line.push_str(&format!(" ({reason})"));
            }
            line
        })
        .collect();
    e.field("Containers", Some(shown.join("\n")).filter(|s| !s.is_empty()));
    e.field("Launch type", text(d, "launchType"));
    e.time = text(d, "stoppedAt");
    let partition = arn_partition(Some(&task_arn)).map(str::to_owned);
    e.region = crate::notify::alarm::arn_parts(&task_arn).map(|(_, r, _)| r.to_owned());
    e.account = crate::notify::alarm::arn_parts(&task_arn).map(|(_, _, a)| a.to_owned());
    e.console_url = cluster.and_then(|cluster| {
        let region = e.region.clone()?;
        console_link(
            partition.as_deref(),
            Some(&region),
            &format!("ecs/v2/clusters/{cluster}/tasks/{task}/configuration?region={region}"),
        )
    });
    e.lifecycle = Some(format!("ecs:{task_arn}"));
    Some(e)
}
