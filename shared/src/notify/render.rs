//! Notifications rendered as Slack messages: what an on-call engineer needs at a glance.

use std::fmt::Write as _;

use super::alarm::{Alarm, AlarmSource, AlarmState, Condition, MathQuery, MetricRef, arn_parts};
use super::generic::GenericNotice;
use super::time_fmt::slack_date;
use crate::slack::message::MAX_SECTION_CHARS;
use crate::slack::{Block, Message, escape};
use crate::text::truncate;

/// Sections a long generic body may be split into before the rest is cut.
const MAX_BODY_SECTIONS: usize = 8;

pub(crate) fn state_style(state: &AlarmState) -> (&'static str, &'static str) {
    match state {
        AlarmState::Alarm => ("🔴", "#E01E5A"),
        AlarmState::Ok => ("✅", "#2EB67D"),
        AlarmState::InsufficientData => ("❔", "#9E9E9E"),
        AlarmState::Other(_) => ("🔔", "#ECB22E"),
    }
}

fn comparison_symbol(op: &str) -> &str {
    match op {
        "GreaterThanThreshold" => ">",
        "GreaterThanOrEqualToThreshold" => "≥",
        "LessThanThreshold" => "<",
        "LessThanOrEqualToThreshold" => "≤",
        "LessThanLowerOrGreaterThanUpperThreshold" => "outside the band",
        "LessThanLowerThreshold" => "below the band",
        "GreaterThanUpperThreshold" => "above the band",
        other => other,
    }
}

fn period_text(seconds: u64) -> String {
    let plural = |n: u64, unit: &str| {
        if n == 1 { format!("1 {unit}") } else { format!("{n} {unit}s") }
    };
    match seconds {
        s if s >= 86_400 && s % 86_400 == 0 => plural(s / 86_400, "day"),
        s if s >= 3600 && s % 3600 == 0 => plural(s / 3600, "hour"),
        s if s >= 60 && s % 60 == 0 => plural(s / 60, "minute"),
        s => plural(s, "second"),
    }
}

/// `AVERAGE` (SNS) and `Average` (EventBridge) both read `Average`; `p99` stays as it is.
fn stat_text(stat: &str) -> String {
    if stat.len() > 1 && stat.chars().all(|c| c.is_ascii_uppercase() || c == '_') {
        let lower = stat.to_ascii_lowercase();
        let mut chars = lower.chars();
        chars.next().map(|c| c.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default()
    } else {
        stat.to_owned()
    }
}

fn metric_text(m: &MetricRef) -> String {
    let mut out = String::new();
    if let Some(ns) = &m.namespace {
        let _ = write!(out, "`{}` ", escape(ns));
    }
    out.push_str(&format!("*{}*", escape(m.name.as_deref().unwrap_or("(unnamed metric)"))));
    if !m.dimensions.is_empty() {
        let dims: Vec<String> = m.dimensions.iter().map(|(k, v)| format!("{}={}", escape(k), escape(v))).collect();
        let _ = write!(out, " ({})", dims.join(", "));
    }
    out
}

/// The console domain for the partition (`aws`, `aws-cn`, `aws-us-gov`).
pub(crate) fn console_url(alarm: &Alarm) -> Option<String> {
    let region = alarm.region.as_deref().filter(|r| !r.is_empty() && !r.contains(' '))?;
    let partition = alarm.arn.as_deref().and_then(arn_parts).map_or("aws", |p| p.0);
    let host = console_host(partition, region);
    Some(format!("https://{host}/cloudwatch/home?region={region}#alarmsV2:alarm/{}", percent_encode(&alarm.name)))
}

/// The AWS console's host for `region` in `partition` (`aws`, `aws-cn`, `aws-us-gov`).
pub(crate) fn console_host(partition: &str, region: &str) -> String {
    match partition {
        "aws-cn" => format!("{region}.console.amazonaws.cn"),
        "aws-us-gov" => "console.amazonaws-us-gov.com".to_owned(),
        _ => format!("{region}.console.aws.amazon.com"),
    }
}

pub(crate) fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

fn condition_text(alarm: &Alarm) -> Option<String> {
    let threshold = match (&alarm.threshold, &alarm.threshold_metric_id) {
        (Some(t), _) => Some(format!("{t}")),
        (None, Some(id)) => Some(format!("band `{}`", escape(id))),
        (None, None) => None,
    };
    let stat_period = |stat: Option<&str>, period: Option<u64>| -> String {
        let mut s = stat.map(stat_text).unwrap_or_default();
        if let Some(p) = period {
            if !s.is_empty() {
                s.push_str(" over ");
            }
            s.push_str(&period_text(p));
        }
        s
    };
    let mut lines = Vec::new();
    let (stat, period) = match &alarm.condition {
        Condition::Metric(m) => {
            lines.push(format!("*Metric:* {}", metric_text(m)));
            (m.stat.clone(), m.period)
        }
        Condition::MetricMath(queries) => {
            lines.push("*Metric math:*".to_owned());
            lines.extend(queries.iter().take(10).map(query_text));
            if queries.len() > 10 {
                lines.push(format!("… and {} more queries", queries.len() - 10));
            }
            let returned = queries.iter().find(|q| q.return_data);
            (None, returned.and_then(|q| q.metric.as_ref().and_then(|m| m.period)))
        }
        Condition::Composite { rule, triggering_children } => {
            lines.push(format!("*Rule:* `{}`", escape(rule)));
            if !triggering_children.is_empty() {
                let kids: Vec<String> = triggering_children
                    .iter()
                    .map(|(name, state)| match state {
                        Some(s) => format!("{} ({})", escape(name), escape(s)),
                        None => escape(name),
                    })
                    .collect();
                lines.push(format!("*Triggered by:* {}", kids.join(", ")));
            }
            (None, None)
        }
        Condition::Unknown => (None, None),
    };
    let mut when = String::new();
    if let Some(threshold) = threshold {
        let sp = stat_period(stat.as_deref(), period);
        let sep = if sp.is_empty() { "" } else { " " };
        match alarm.comparison.as_deref() {
            Some(op) => {
                let _ = write!(when, "{sp}{sep}{} {threshold}", escape(comparison_symbol(op)));
            }
            // Alarm actions and EventBridge do not say how the value is compared, only the threshold.
            None => {
                let _ = write!(when, "{sp}{}threshold {threshold}", if sp.is_empty() { "" } else { ", " });
            }
        }
    }
    if let Some(n) = alarm.evaluation_periods {
        let m = alarm.datapoints_to_alarm.unwrap_or(n);
        let _ = write!(when, "{}{m} of {n} periods", if when.is_empty() { "" } else { ", " });
    }
    if !when.is_empty() {
        lines.push(format!("*Condition:* {when}"));
    }
    if let Some(tmd) = &alarm.treat_missing_data {
        lines.push(format!("*Missing data:* {}", escape(tmd)));
    }
    if !alarm.recent_datapoints.is_empty() {
        let points: Vec<String> = alarm.recent_datapoints.iter().take(10).map(|p| format!("{p}")).collect();
        lines.push(format!("*Recent datapoints:* {}", points.join(", ")));
    }
    (!lines.is_empty()).then(|| lines.join("\n"))
}

fn query_text(q: &MathQuery) -> String {
    let mark = if q.return_data { " ⬅ alarm" } else { "" };
    let label = q.label.as_deref().map(|l| format!(" _{}_", escape(l))).unwrap_or_default();
    match (&q.expression, &q.metric) {
        (Some(expr), _) => format!("• `{}` = `{}`{label}{mark}", escape(&q.id), escape(expr)),
        (None, Some(m)) => {
            let stat = m.stat.as_deref().map(|s| format!(" {}", escape(&stat_text(s)))).unwrap_or_default();
            let period = m.period.map(|p| format!(" over {}", period_text(p))).unwrap_or_default();
            format!("• `{}` = {}{stat}{period}{label}{mark}", escape(&q.id), metric_text(m))
        }
        (None, None) => format!("• `{}`{label}{mark}", escape(&q.id)),
    }
}

pub(crate) fn alarm_message(alarm: &Alarm) -> Message {
    let (emoji, color) = state_style(&alarm.new_state);
    let state = alarm.new_state.as_str();
    let region = alarm.region.as_deref().or(alarm.region_name.as_deref());
    let mut fallback = format!("{emoji} {state}: {}", escape(&alarm.name));
    if let Some(r) = region {
        let _ = write!(fallback, " in {}", escape(r));
    }
    if let Some(reason) = &alarm.reason {
        let _ = write!(fallback, " — {}", escape(reason));
    }
    let mut msg = Message::new(fallback).block(Block::Header(format!("{emoji} {state}: {}", alarm.name)));
    msg.color = Some(color.to_owned());
    if let Some(desc) = &alarm.description {
        msg = msg.block(Block::section(escape(desc)));
    }
    let transition = match &alarm.old_state {
        Some(old) => format!("{} → *{state}*", old.as_str()),
        None => format!("*{state}*"),
    };
    let mut fields = vec![format!("*State*\n{}", escape(&transition))];
    if let Some(t) = &alarm.changed_at {
        fields.push(format!("*Changed*\n{}", slack_date(t)));
    }
    if let Some(a) = &alarm.account {
        fields.push(format!("*Account*\n{}", escape(&super::account_label(a, alarm.account_name.as_deref()))));
    }
    match (&alarm.region, &alarm.region_name) {
        (Some(code), Some(name)) if code != name => {
            fields.push(format!("*Region*\n{} ({})", escape(code), escape(name)))
        }
        (Some(r), _) | (None, Some(r)) => fields.push(format!("*Region*\n{}", escape(r))),
        (None, None) => {}
    }
    msg = msg.block(Block::Fields(fields));
    if let Some(reason) = &alarm.reason {
        msg = msg.block(Block::section(format!("*Reason:* {}", escape(reason))));
    }
    if let Some(cond) = condition_text(alarm) {
        msg = msg.block(Block::section(cond));
    }
    let via = match alarm.source {
        AlarmSource::Sns => "via SNS",
        AlarmSource::AlarmAction => "via alarm action",
        AlarmSource::EventBridge => "via EventBridge",
    };
    let footer = match console_url(alarm) {
        Some(url) => format!("<{url}|Open in the CloudWatch console> · {via}"),
        None => via.to_owned(),
    };
    msg.block(Block::Context(vec![footer]))
}

pub(crate) fn generic_message(notice: &GenericNotice) -> Message {
    let first_line = notice.body.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    let fallback = if notice.is_json {
        format!("📣 {}", escape(&notice.title))
    } else {
        format!("📣 {}: {}", escape(&notice.title), escape(&truncate(first_line, 200)))
    };
    let mut msg = Message::new(fallback).block(Block::Header(format!("📣 {}", notice.title)));
    let escaped = escape(&notice.body);
    let (open, close) = if notice.is_json { ("```", "```") } else { ("", "") };
    let room = MAX_SECTION_CHARS - open.len() - close.len() - 2;
    let chunks = split_chunks(&escaped, room);
    let total = chunks.len();
    for chunk in chunks.iter().take(MAX_BODY_SECTIONS) {
        msg = msg.block(Block::section(format!("{open}{chunk}{close}")));
    }
    if total > MAX_BODY_SECTIONS {
        let shown: usize = chunks.iter().take(MAX_BODY_SECTIONS).map(|c| c.chars().count()).sum();
        msg =
            msg.block(Block::Context(vec![format!("… {} more characters not shown", escaped.chars().count() - shown)]));
    }
    let mut footer: Vec<String> = notice
        .context
        .iter()
        .map(|(k, v)| match (k.as_str(), &notice.account_name) {
            ("account", Some(name)) => format!("{k}: `{}`", escape(&super::account_label(v, Some(name)))),
            _ => format!("{k}: `{}`", escape(v)),
        })
        .collect();
    if let Some(t) = &notice.time {
        footer.push(slack_date(t));
    }
    msg.block(Block::Context(vec![footer.join(" · ")]))
}

/// Splits at line ends where possible, never inside an escaped entity or a character.
fn split_chunks(text: &str, max_chars: usize) -> Vec<String> {
    let mut chunks = Vec::new();
    let mut current = String::new();
    let mut count = 0;
    for line in text.split_inclusive('\n') {
        let len = line.chars().count();
        if count + len > max_chars && !current.is_empty() {
            chunks.push(std::mem::take(&mut current));
            count = 0;
        }
        if len > max_chars {
            // A single huge line: cut it at character boundaries, backing off from a half entity.
            let mut rest = line;
            while rest.chars().count() > max_chars {
                let mut end = rest.char_indices().nth(max_chars).map_or(rest.len(), |(i, _)| i);
                if let Some(amp) = rest[..end].rfind('&')
                    && !rest[amp..end].contains(';')
                    && amp > 0
                {
                    end = amp;
                }
                chunks.push(rest[..end].to_owned());
                rest = &rest[end..];
            }
            current.push_str(rest);
            count = rest.chars().count();
        } else {
            current.push_str(line);
            count += len;
        }
    }
    if !current.trim().is_empty() {
        chunks.push(current);
    }
    chunks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_and_stats_read_naturally() {
        assert_eq!(period_text(60), "1 minute");
        assert_eq!(period_text(300), "5 minutes");
        assert_eq!(period_text(3600), "1 hour");
        assert_eq!(period_text(90), "90 seconds");
        assert_eq!(period_text(86_400 * 2), "2 days");
        assert_eq!(stat_text("AVERAGE"), "Average");
        assert_eq!(stat_text("SAMPLE_COUNT"), "Sample_count");
        assert_eq!(stat_text("p99"), "p99");
    }

    #[test]
    fn chunks_respect_size_and_entities() {
        let text = escape(&"a<b ".repeat(2000));
        let chunks = split_chunks(&text, 100);
        assert!(chunks.iter().all(|c| c.chars().count() <= 100));
        assert_eq!(chunks.concat(), text);
        assert!(chunks.iter().all(|c| !c.ends_with("&l") && !c.ends_with("&lt") && !c.ends_with('&')));
    }

    #[test]
    fn names_are_percent_encoded_in_console_links() {
        assert_eq!(percent_encode("a b/c:ü"), "a%20b%2Fc%3A%C3%BC");
    }
}
