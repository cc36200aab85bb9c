//! CloudWatch metrics in the Embedded Metric Format: the functions count what happens while they serve an
//! invocation, and [`flush`] writes the counts as one JSON line on stdout at its end. CloudWatch Logs
//! turns the line into metrics: no API call, no permission, nothing on the hot path but a few counters.
//!
//! Namespace `ChatOps`, dimension `FunctionName` (so two stacks' functions are told apart); the commands
//! also by `Decision`. The metric names are what the template's alarms and dashboard use:
//! [`Metric`] lists them.
//!
//! A container serves one invocation at a time (Lambda), so process-wide counters are that invocation's.
//!
//! Base floor: imports nothing of the crate.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Mutex;

pub const NAMESPACE: &str = "ChatOps";
pub const FUNCTION_DIMENSION: &str = "FunctionName";
pub const DECISION_DIMENSION: &str = "Decision";

/// What the functions count.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Metric {
    /// Notifications posted or updated.
    Delivered,
    /// Notifications delivered before (a redelivery), not posted again.
    SkippedDuplicates,
    /// Notifications not worth a message (a routine event, a finding below the minimum severity).
    Ignored,
    /// Notifications that could not be delivered in this invocation (Lambda retries them, then the
    /// failure queue keeps them).
    Failed,
    /// HTTP calls tried again (a 429, a 5xx, a timeout).
    Retries,
    /// Slack's 429 answers.
    SlackRateLimited,
    /// Lines that joined a storm digest.
    DigestEntries,
    /// Commands, buttons and mentions, by the policy's decision.
    Commands,
}

impl Metric {
    pub const fn name(self) -> &'static str {
        match self {
            Self::Delivered => "Delivered",
            Self::SkippedDuplicates => "SkippedDuplicates",
            Self::Ignored => "Ignored",
            Self::Failed => "Failed",
            Self::Retries => "Retries",
            Self::SlackRateLimited => "SlackRateLimited",
            Self::DigestEntries => "DigestEntries",
            Self::Commands => "Commands",
        }
    }
}

/// The counts of the invocation being served: per metric, and the commands per decision.
#[derive(Default)]
struct Counts {
    plain: BTreeMap<Metric, u64>,
    decisions: BTreeMap<String, u64>,
}

/// Counters; the functions use the process's one ([`count`], [`count_decision`], [`flush`]).
pub struct Recorder {
    counts: Mutex<Counts>,
}

static RECORDER: Recorder = Recorder::new();

/// Adds `n` to `metric`.
pub fn count(metric: Metric, n: u64) {
    RECORDER.count(metric, n);
}

/// Counts one command, button or mention the policy decided on (`allowed`, `denied`, `needs_approval`, ...).
pub fn count_decision(decision: &str) {
    RECORDER.count_decision(decision);
}

/// What one invocation reports: the metrics always reported (zero when nothing happened, so graphs and
/// alarms see zeros rather than gaps), and the invocation's latency.
pub struct Report<'a> {
    pub function: &'a str,
    pub always: &'a [Metric],
    pub latency_ms: f64,
    pub now_ms: i64,
}

impl Default for Recorder {
    fn default() -> Self {
        Self::new()
    }
}

impl Recorder {
    pub const fn new() -> Self {
        Self { counts: Mutex::new(Counts { plain: BTreeMap::new(), decisions: BTreeMap::new() }) }
    }

    pub fn count(&self, metric: Metric, n: u64) {
        if let Ok(mut counts) = self.counts.lock() {
            *counts.plain.entry(metric).or_default() += n;
        }
    }

    pub fn count_decision(&self, decision: &str) {
        if let Ok(mut counts) = self.counts.lock() {
            *counts.decisions.entry(decision.to_owned()).or_default() += 1;
        }
    }

    /// The EMF lines for what was counted since the last call, which starts the next count from zero.
    pub fn take_lines(&self, report: &Report<'_>) -> Vec<String> {
        let counts = match self.counts.lock() {
            Ok(mut counts) => std::mem::take(&mut *counts),
            Err(_) => return Vec::new(),
        };
        let mut values: BTreeMap<&'static str, f64> = report.always.iter().map(|m| (m.name(), 0.0)).collect();
        for (metric, n) in &counts.plain {
            values.insert(metric.name(), *n as f64);
        }
        let mut units: Vec<(&str, &str)> = values.keys().map(|name| (*name, "Count")).collect();
        units.push(("Latency", "Milliseconds"));
        let mut line = document(report.now_ms, &[FUNCTION_DIMENSION], &units);
        line.insert(FUNCTION_DIMENSION.into(), report.function.into());
        for (name, value) in values {
            line.insert(name.into(), value.into());
        }
        line.insert("Latency".into(), ((report.latency_ms * 1000.0).round() / 1000.0).into());
        let mut lines = vec![serde_json::Value::Object(line).to_string()];
        for (decision, n) in counts.decisions {
            let mut line = document(report.now_ms, &[FUNCTION_DIMENSION, DECISION_DIMENSION], &[("Commands", "Count")]);
            line.insert(FUNCTION_DIMENSION.into(), report.function.into());
            line.insert(DECISION_DIMENSION.into(), decision.into());
            line.insert("Commands".into(), (n as f64).into());
            lines.push(serde_json::Value::Object(line).to_string());
        }
        lines
    }
}

/// The function's name for the `FunctionName` dimension: `AWS_LAMBDA_FUNCTION_NAME` (Lambda sets it), else
/// `default`. Read once.
pub fn function_name(default: &'static str) -> &'static str {
    static NAME: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    NAME.get_or_init(|| {
        std::env::var("AWS_LAMBDA_FUNCTION_NAME")
            .ok()
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(|| default.into())
    })
}

/// Writes the invocation's metrics to stdout, one EMF line each, where CloudWatch Logs picks them up.
/// Only under a Lambda runtime (`AWS_LAMBDA_RUNTIME_API` set, as Lambda, `cargo lambda` and the tests'
/// emulator set it): a handler called in-process has no log to turn into metrics.
pub fn flush(report: &Report<'_>) {
    static UNDER_RUNTIME: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let lines = RECORDER.take_lines(report);
    if !*UNDER_RUNTIME.get_or_init(|| std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some()) {
        return;
    }
    let mut out = std::io::stdout().lock();
    for line in lines {
        // One write per line: the log lines of tracing never cut into it.
        let _ = out.write_all(format!("{line}\n").as_bytes());
    }
    let _ = out.flush();
}

/// An EMF document's `_aws` part: when, which namespace, which dimensions, which metrics in which unit.
fn document(now_ms: i64, dimensions: &[&str], metrics: &[(&str, &str)]) -> serde_json::Map<String, serde_json::Value> {
    let metrics: Vec<serde_json::Value> =
        metrics.iter().map(|(name, unit)| serde_json::json!({"Name": name, "Unit": unit})).collect();
    let mut map = serde_json::Map::new();
    map.insert(
        "_aws".into(),
        serde_json::json!({
            "Timestamp": now_ms,
            "CloudWatchMetrics": [{"Namespace": NAMESPACE, "Dimensions": [dimensions], "Metrics": metrics}],
        }),
    );
    map
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_become_emf_lines_and_start_again_from_zero() {
        let recorder = Recorder::new();
        recorder.count(Metric::Delivered, 2);
        recorder.count(Metric::Delivered, 1);
        recorder.count(Metric::SlackRateLimited, 1);
        recorder.count_decision("allowed");
        recorder.count_decision("allowed");
        recorder.count_decision("denied");
        let report = Report {
            function: "stack-alarm-to-slack",
            always: &[Metric::Delivered, Metric::Failed],
            latency_ms: 12.3456,
            now_ms: 1_700_000_000_000,
        };
        let lines: Vec<serde_json::Value> =
            recorder.take_lines(&report).iter().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), 3, "{lines:#?}");
        let first = &lines[0];
        let directive = &first["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(first["_aws"]["Timestamp"], 1_700_000_000_000_i64);
        assert_eq!(directive["Namespace"], "ChatOps");
        assert_eq!(directive["Dimensions"], serde_json::json!([["FunctionName"]]));
        assert_eq!(first["FunctionName"], "stack-alarm-to-slack");
        assert_eq!(first["Delivered"], 3.0);
        assert_eq!(first["Failed"], 0.0, "always reported");
        assert_eq!(first["SlackRateLimited"], 1.0);
        assert_eq!(first["Latency"], 12.346);
        // Every metric the directive names is in the document, with its unit.
        for m in directive["Metrics"].as_array().unwrap() {
            assert!(first.get(m["Name"].as_str().unwrap()).is_some(), "{m}");
        }
        let denied = lines.iter().find(|l| l["Decision"] == "denied").unwrap();
        assert_eq!(denied["Commands"], 1.0);
        assert_eq!(
            denied["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            serde_json::json!([["FunctionName", "Decision"]])
        );
        assert_eq!(lines.iter().find(|l| l["Decision"] == "allowed").unwrap()["Commands"], 2.0);
        // Taken: the next invocation starts from zero.
        let next: serde_json::Value = serde_json::from_str(&recorder.take_lines(&report)[0]).unwrap();
        assert_eq!(next["Delivered"], 0.0);
        assert!(next.get("SlackRateLimited").is_none());
    }
}
