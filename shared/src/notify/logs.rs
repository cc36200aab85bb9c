//! The logs of an alarm's minute: which log groups an alarm's logs are in, the [Show logs] button's value
//! (the alarm, where, and the window), the Logs Insights queries, and the lines as a Slack reply.
//!
//! Where the logs are: derived where it is certain (an `AWS/Lambda` alarm with a `FunctionName`
//! dimension → `/aws/lambda/<name>`), and otherwise from `ALARM_LOG_GROUPS`, the contract:
//! `glob=group[,group…][ where <Logs Insights filter>]`, entries separated by `;`, the first matching
//! glob wins, e.g. `orders-*=/ecs/orders,/aws/lambda/orders-api where level = "error"; payments-*=/ecs/payments`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::alarm::{Alarm, Condition};
use crate::config::ConfigError;

pub const LOG_GROUPS_VAR: &str = "ALARM_LOG_GROUPS";
/// `SHOW_LOGS` (default `true`): `false` takes [Show logs] away.
pub const SHOW_LOGS_VAR: &str = "SHOW_LOGS";
/// At most this many lines are shown.
pub const MAX_LINES: usize = 20;
/// What counts as an error line: these words in any case.
const ERROR_WORDS: [&str; 8] =
    ["error", "exception", "fatal", "panic", "traceback", "timed out", "timeout", "critical"];

/// One rule of `ALARM_LOG_GROUPS`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogRule {
    pub alarms: String,
    pub groups: Vec<String>,
    pub filter: Option<String>,
}

/// `ALARM_LOG_GROUPS`, parsed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LogGroups {
    pub rules: Vec<LogRule>,
}

impl LogGroups {
    /// `ALARM_LOG_GROUPS`; `None` when `SHOW_LOGS=false` (no alarm gets [Show logs]).
    pub fn configured(lookup: &dyn Fn(&str) -> Option<String>) -> Result<Option<Self>, ConfigError> {
        let show = crate::aws::graphs::switch(lookup, SHOW_LOGS_VAR, true)?;
        let groups = Self::from_lookup(lookup)?;
        Ok(show.then_some(groups))
    }

    pub fn from_lookup(lookup: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        match crate::config::non_empty(lookup, LOG_GROUPS_VAR) {
            None => Ok(Self::default()),
            Some(text) => Self::parse(&text),
        }
    }

    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        let invalid = |problem: String| ConfigError::Invalid { var: LOG_GROUPS_VAR, problem };
        let mut rules = Vec::new();
        for entry in text.split(';').map(str::trim).filter(|e| !e.is_empty()) {
            let Some((alarms, rest)) = entry.split_once('=') else {
                return Err(invalid(format!("{entry:?} is not glob=log-group[,log-group…][ where <filter>]")));
            };
            let (groups, filter) = match rest.split_once(" where ") {
                Some((groups, filter)) => (groups, Some(filter.trim().to_owned()).filter(|f| !f.is_empty())),
                None => (rest, None),
            };
            let groups: Vec<String> =
                groups.split(',').map(str::trim).filter(|g| !g.is_empty()).map(str::to_owned).collect();
            if alarms.trim().is_empty() || groups.is_empty() {
                return Err(invalid(format!("{entry:?} needs an alarm name glob and at least one log group")));
            }
            if let Some(bad) = groups.iter().find(|g| !valid_group(g)) {
                return Err(invalid(format!("{bad:?} is not a log group name")));
            }
            rules.push(LogRule { alarms: alarms.trim().to_owned(), groups, filter });
        }
        Ok(Self { rules })
    }

    /// The log groups of `alarm` and the mapping's filter: the rule for its name, else its Lambda function's.
    pub fn for_alarm(&self, name: &str, function: Option<&str>) -> Option<(Vec<String>, Option<String>)> {
        if let Some(rule) = self.rules.iter().find(|r| super::routing::glob(&r.alarms, name)) {
            return Some((rule.groups.clone(), rule.filter.clone()));
        }
        function.map(|f| (vec![format!("/aws/lambda/{f}")], None))
    }
}

/// Log group names: 1–512 of `[A-Za-z0-9_\-/.#]`.
fn valid_group(name: &str) -> bool {
    (1..=512).contains(&name.len())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '/' | '.' | '#'))
}

/// What [Show logs] carries: the alarm, its Lambda function (when that is where its logs are), region,
/// account and the window (epoch s). Compact JSON, far below Slack's 2,000 characters.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogsButton {
    #[serde(rename = "a")]
    pub alarm: String,
    #[serde(rename = "f", default, skip_serializing_if = "Option::is_none")]
    pub function: Option<String>,
    #[serde(rename = "r", default)]
    pub region: String,
    #[serde(rename = "c", default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    #[serde(rename = "s")]
    pub start: i64,
    #[serde(rename = "e")]
    pub end: i64,
}

/// The Lambda function an `AWS/Lambda` alarm watches, from its `FunctionName` dimension.
pub fn lambda_function(alarm: &Alarm) -> Option<String> {
    let metrics: Vec<&super::alarm::MetricRef> = match &alarm.condition {
        Condition::Metric(m) => vec![m],
        Condition::MetricMath(queries) => queries.iter().filter_map(|q| q.metric.as_ref()).collect(),
        _ => Vec::new(),
    };
    metrics.into_iter().find_map(|m| {
        (m.namespace.as_deref() == Some("AWS/Lambda"))
            .then(|| m.dimensions.iter().find(|(k, _)| k == "FunctionName").map(|(_, v)| v.clone()))
            .flatten()
    })
}

/// The button of `alarm`, changed at `changed_at_s`, when its logs are known: the window is its evaluation
/// window before the change (at least 5 minutes) and a minute after.
pub fn button(alarm: &Alarm, groups: &LogGroups, changed_at_s: i64) -> Option<LogsButton> {
    let function = lambda_function(alarm);
    groups.for_alarm(&alarm.name, function.as_deref())?;
    let period = match &alarm.condition {
        Condition::Metric(m) => m.period,
        Condition::MetricMath(q) => q.iter().filter_map(|q| q.metric.as_ref()?.period).max(),
        _ => None,
    }
    .unwrap_or(60) as i64;
    let evaluation = period * alarm.evaluation_periods.unwrap_or(1).max(1) as i64;
    Some(LogsButton {
        alarm: alarm.name.chars().take(255).collect(),
        function,
        region: alarm.region.clone()?,
        account: alarm.account.clone(),
        start: changed_at_s - evaluation.max(300) - period,
        end: changed_at_s + 60,
    })
}

/// The two queries: the error lines, and the latest lines (errors come first, the rest fill up).
pub fn queries(filter: Option<&str>) -> (String, String) {
    let extra = filter.map(|f| format!(" | filter {f}")).unwrap_or_default();
    let words = ERROR_WORDS.join("|");
    let errors = format!(
        "fields @timestamp, @message, @logStream{extra} | filter @message like /(?i)({words})/ | sort @timestamp desc | limit {MAX_LINES}"
    );
    let latest = format!("fields @timestamp, @message, @logStream{extra} | sort @timestamp desc | limit {MAX_LINES}");
    (errors, latest)
}

/// One log line of a result.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LogLine {
    /// As Logs Insights gives it (`2026-11-20 09:50:01.123`).
    pub timestamp: String,
    pub message: String,
    pub stream: String,
}

impl LogLine {
    pub fn is_error(&self) -> bool {
        let lower = self.message.to_lowercase();
        ERROR_WORDS.iter().any(|w| lower.contains(w))
    }
}

/// The lines to show: error lines first (newest first), then the latest others, each once, at most
/// [`MAX_LINES`]. The error query's lines are checked again, so a query engine that ignores the filter
/// changes nothing.
pub fn merge(errors: &[LogLine], latest: &[LogLine]) -> Vec<LogLine> {
    let mut out: Vec<LogLine> = errors.iter().filter(|l| l.is_error()).cloned().collect();
    out.truncate(MAX_LINES);
    for line in latest {
        if out.len() >= MAX_LINES {
            break;
        }
        if !out.contains(line) {
            out.push(line.clone());
        }
    }
    out
}

/// The thread reply: a header line, the lines as a code block within Slack's 3,000 characters of a
/// section, and the link to the same query in the console.
pub fn reply(alarm: &str, groups: &[String], lines: &[LogLine], console: &str) -> Value {
    use crate::slack::escape;
    let errors = lines.iter().filter(|l| l.is_error()).count();
    let head = if lines.is_empty() {
        format!("📜 No log lines in {} for *{}* in its window.", groups.join(", "), escape(alarm))
    } else {
        format!(
            "📜 {} log line{} of *{}* ({} error{}) from {}:",
            lines.len(),
            if lines.len() == 1 { "" } else { "s" },
            escape(alarm),
            errors,
            if errors == 1 { "" } else { "s" },
            escape(&groups.join(", "))
        )
    };
    let mut body = String::new();
    let mut shown = 0;
    for line in lines {
        let time = clock_time(&line.timestamp);
        let message: String = line.message.trim_end().replace("```", "ˋˋˋ").chars().take(300).collect();
        let text = format!("{time} {}\n", escape(&message));
        if body.len() + text.len() > 2_800 {
            break;
        }
        body.push_str(&text);
        shown += 1;
    }
    let mut blocks = vec![serde_json::json!({"type": "section", "text": {"type": "mrkdwn", "text": head}})];
    if !body.is_empty() {
        blocks.push(serde_json::json!({"type": "section", "text": {"type": "mrkdwn", "text": format!("```{}```", body.trim_end())}}));
    }
    let mut foot = format!("<{console}|Open this query in CloudWatch Logs Insights>");
    if shown < lines.len() {
        foot = format!("{} more not shown (Slack's length limit) · {foot}", lines.len() - shown);
    }
    blocks.push(serde_json::json!({"type": "context", "elements": [{"type": "mrkdwn", "text": foot}]}));
    serde_json::json!({ "text": head, "blocks": blocks })
}

/// `HH:MM:SS` of a result's `@timestamp`: Logs Insights gives `2026-11-20 09:50:01.123`; epoch
/// milliseconds are read too.
fn clock_time(timestamp: &str) -> String {
    if let Ok(ms) = timestamp.parse::<i64>()
        && let Ok(t) = time::OffsetDateTime::from_unix_timestamp(ms / 1000)
    {
        return format!("{:02}:{:02}:{:02}", t.hour(), t.minute(), t.second());
    }
    timestamp.get(11..19).unwrap_or(timestamp).to_owned()
}

/// `encodeURIComponent`, as the console's links need it.
fn uri_component(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'!' | b'~' | b'*' | b'\'' | b'(' | b')' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The console's Logs Insights page with this query, these groups and this window.
pub fn console_link(region: &str, groups: &[String], query: &str, (start, end): (i64, i64)) -> String {
    let iso = |s: i64| {
        time::OffsetDateTime::from_unix_timestamp(s)
            .ok()
            .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
            .unwrap_or_default()
    };
    // The console's own encoding: values URI-encoded with `*` for `%`, joined by `~`; then the whole
    // fragment URI-encoded with `$` for `%`.
    let value = |v: &str| format!("'{}", uri_component(v).replace('%', "*"));
    let sources: String = groups.iter().map(|g| format!("~{}", value(g))).collect();
    let detail = format!(
        "~(end~{}~start~{}~timeType~'ABSOLUTE~tz~'UTC~editorString~{}~source~({sources}))",
        value(&iso(end)),
        value(&iso(start)),
        value(query)
    );
    let fragment = uri_component(&format!("?queryDetail={detail}")).replace('%', "$");
    format!("https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}#logsV2:logs-insights{fragment}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mapping_reads_globs_groups_and_filters_and_names_what_is_wrong() {
        let g = LogGroups::parse(
            "orders-*=/ecs/orders, /aws/lambda/orders-api where level = \"error\"; payments-*=/ecs/payments",
        )
        .unwrap();
        assert_eq!(
            g.for_alarm("orders-5xx", None),
            Some((vec!["/ecs/orders".into(), "/aws/lambda/orders-api".into()], Some("level = \"error\"".into())))
        );
        assert_eq!(g.for_alarm("payments-latency", Some("fn")), Some((vec!["/ecs/payments".into()], None)));
        assert_eq!(g.for_alarm("other", Some("fn")), Some((vec!["/aws/lambda/fn".into()], None)));
        assert_eq!(g.for_alarm("other", None), None);
        for bad in ["orders-*", "=/x", "orders-*=", "a=bad group"] {
            let err = LogGroups::parse(bad).unwrap_err();
            assert_eq!(err.var(), LOG_GROUPS_VAR, "{bad}");
        }
    }

    #[test]
    fn errors_come_first_then_the_latest_each_once_at_most_twenty() {
        let line = |t: &str, m: &str| LogLine { timestamp: t.into(), message: m.into(), stream: "s".into() };
        let all: Vec<LogLine> =
            (0..30).map(|i| line(&format!("2026-11-20 09:50:{i:02}.000"), &format!("request {i} ok"))).collect();
        let err = line("2026-11-20 09:49:00.000", "ERROR upstream timed out");
        let merged = merge(&[err.clone(), all[3].clone()], &all);
        assert_eq!(merged.len(), MAX_LINES);
        assert_eq!(merged[0], err, "the error first");
        assert_eq!(merged.iter().filter(|l| **l == all[3]).count(), 1, "not an error: only once, in its place");
    }

    #[test]
    fn the_reply_stays_within_slack_limits_and_escapes() {
        let lines: Vec<LogLine> = (0..20)
            .map(|i| LogLine {
                timestamp: "2026-11-20 09:50:01.000".into(),
                message: format!("<b>{i}</b> ``` {}", "x".repeat(400)),
                stream: String::new(),
            })
            .collect();
        let r = reply("a & b", &["/aws/lambda/f".into()], &lines, "https://example.com");
        let code = r["blocks"][1]["text"]["text"].as_str().unwrap();
        assert!(code.chars().count() <= 3000, "{}", code.len());
        assert!(!code.contains("<b>") && !code[3..code.len() - 3].contains("```"));
        assert!(r["blocks"][2]["elements"][0]["text"].as_str().unwrap().contains("more not shown"));
        assert!(r["text"].as_str().unwrap().contains("a &amp; b"));
        assert!(code.starts_with("```09:50:01 "), "{code}");
        assert_eq!(clock_time("1763632201000"), "09:50:01");
    }

    #[test]
    fn the_console_link_carries_the_query_groups_and_window() {
        let link = console_link("eu-west-1", &["/aws/lambda/f".into()], "fields @message | limit 20", (0, 60));
        assert!(link.starts_with("https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1#logsV2:logs-insights$3FqueryDetail$3D~(end~'1970-01-01T00*3A01*3A00Z"), "{link}");
        assert!(link.contains("source~(~'*2Faws*2Flambda*2Ff)"), "{link}");
        assert!(!link.contains(' '), "{link}");
    }
}
