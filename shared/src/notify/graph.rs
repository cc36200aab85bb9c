//! The graph of what a CloudWatch metric alarm watches, as a `GetMetricWidgetImage` request: the
//! alarm's metric with its statistic and period (percentiles too), or its metric math with the inputs
//! hidden, or its anomaly-detection band; the threshold as a horizontal annotation, the state change as a
//! vertical one, and a window that shows the crossing and what came before it.
//!
//! The window: eight times the alarm's evaluation window (period × evaluation periods), and at least
//! twenty periods, kept between one hour and seven days; it ends two periods after the state change
//! (at least five minutes), so the crossing is near the right edge and the recovery of an OK shows.
//! Composite alarms get no graph: their children have their own messages and graphs.

use serde_json::{Value, json};

use super::alarm::{Alarm, AlarmState, Condition, MathQuery, MetricRef};
pub use crate::aws::graphs::AccountAccess;
use crate::text::truncate;

/// Slack's limit for an image block's `alt_text`.
pub const MAX_ALT_TEXT: usize = 2000;
const MIN_WINDOW_S: u64 = 3_600;
const MAX_WINDOW_S: u64 = 7 * 86_400;

/// What to ask CloudWatch for, and how to describe the picture.
#[derive(Clone, Debug, PartialEq)]
pub struct GraphRequest {
    /// The `MetricWidget` JSON.
    pub widget: Value,
    /// Metrics requested (not expressions): what `GetMetricWidgetImage` is priced by.
    pub metrics: usize,
    /// The image's alternative text (at most 2,000 characters).
    pub alt_text: String,
    /// The region the alarm's metrics are in.
    pub region: String,
}

fn iso(epoch_s: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(epoch_s)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_default()
}

fn hhmm(epoch_s: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(epoch_s)
        .map(|t| format!("{:02}:{:02} UTC", t.hour(), t.minute()))
        .unwrap_or_default()
}

/// `[namespace, name, dim, value, …, {options}]`, the widget's metric array.
fn metric_array(
    metric: &MetricRef,
    mut options: serde_json::Map<String, Value>,
    account: Option<&str>,
) -> Option<Value> {
    let (namespace, name) = (metric.namespace.as_deref()?, metric.name.as_deref()?);
    let mut parts = vec![json!(namespace), json!(name)];
    for (dim, value) in &metric.dimensions {
        parts.push(json!(dim));
        parts.push(json!(value));
    }
    if let Some(stat) = &metric.stat {
        options.insert("stat".into(), json!(widget_stat(stat)));
    }
    if let Some(period) = metric.period {
        options.insert("period".into(), json!(period));
    }
    if let Some(account) = account {
        options.insert("accountId".into(), json!(account));
    }
    parts.push(Value::Object(options));
    Some(Value::Array(parts))
}

/// A statistic as a widget names it: SNS sends `AVERAGE`, `SAMPLE_COUNT`…; widgets take `Average`,
/// `SampleCount`…; percentiles and the other extended statistics (`p99`, `tm90`) pass as they are.
fn widget_stat(stat: &str) -> String {
    match stat.to_ascii_uppercase().replace('_', "").as_str() {
        "AVERAGE" => "Average".into(),
        "SUM" => "Sum".into(),
        "SAMPLECOUNT" => "SampleCount".into(),
        "MINIMUM" => "Minimum".into(),
        "MAXIMUM" => "Maximum".into(),
        _ => stat.to_owned(),
    }
}

/// The comparison's sign, and which side of the threshold is the alarm's.
fn comparison(op: Option<&str>) -> (&'static str, &'static str) {
    match op.unwrap_or_default() {
        "GreaterThanThreshold" => (">", "above"),
        "GreaterThanOrEqualToThreshold" => ("≥", "above"),
        "LessThanThreshold" => ("<", "below"),
        "LessThanOrEqualToThreshold" => ("≤", "below"),
        _ => ("", "none"),
    }
}

fn describe_metric(m: &MetricRef) -> String {
    let name = m.name.as_deref().unwrap_or("metric");
    let dims: Vec<String> = m.dimensions.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let dims = if dims.is_empty() { String::new() } else { format!(" ({})", dims.join(", ")) };
    format!("{} {name}{dims}", m.namespace.as_deref().unwrap_or_default()).trim().to_owned()
}

/// The graph of `alarm`, drawn at its state change (`changed_at_s`); `None` when it has nothing to draw
/// (composite, no metric, no region) or its account cannot be read (`access` `None`).
pub fn request(alarm: &Alarm, changed_at_s: i64, access: Option<AccountAccess>) -> Option<GraphRequest> {
    let access = access?;
    let region = alarm.region.clone()?;
    let account = match access {
        AccountAccess::Own => None,
        AccountAccess::Linked => alarm.account.as_deref(),
    };
    let mut metrics = Vec::new();
    let mut metric_count = 0;
    let (period, described) = match &alarm.condition {
        Condition::Metric(m) => {
            let mut options = serde_json::Map::new();
            options.insert("label".into(), json!(m.name.clone().unwrap_or_default()));
            metrics.push(metric_array(m, options, account)?);
            metric_count = 1;
            let stat = m.stat.as_deref().unwrap_or("Average");
            (m.period.unwrap_or(60), format!("{} of {}", widget_stat(stat), describe_metric(m)))
        }
        Condition::MetricMath(queries) => {
            let band = alarm.threshold_metric_id.as_deref();
            let mut described = Vec::new();
            for q in queries {
                let visible = q.return_data || Some(q.id.as_str()) == band;
                metrics.push(math_entry(q, visible, account)?);
                if q.metric.is_some() {
                    metric_count += 1;
                }
                if visible {
                    described.push(match (&q.expression, &q.metric) {
                        (Some(e), _) => q.label.clone().map_or_else(|| e.clone(), |l| format!("{l} ({e})")),
                        (None, Some(m)) => {
                            format!("{} of {}", m.stat.as_deref().unwrap_or("Average"), describe_metric(m))
                        }
                        (None, None) => q.id.clone(),
                    });
                }
            }
            if metric_count == 0 {
                return None;
            }
            let period = queries.iter().filter_map(|q| q.metric.as_ref()?.period).max().unwrap_or(60);
            (period, described.join(" and "))
        }
        Condition::Composite { .. } | Condition::Unknown => return None,
    };
    let period = period.max(1);
    let evaluation = period * alarm.evaluation_periods.unwrap_or(1).max(1);
    let window = (evaluation * 8).max(period * 20).clamp(MIN_WINDOW_S, MAX_WINDOW_S) as i64;
    let end = changed_at_s + (period as i64 * 2).max(300);
    let start = end - window;
    let state = alarm.new_state.as_str();
    let state_color = match alarm.new_state {
        AlarmState::Alarm => "#d62728",
        AlarmState::Ok => "#2ca02c",
        _ => "#7f7f7f",
    };
    let mut annotations = json!({ "vertical": [{ "value": iso(changed_at_s), "label": state, "color": state_color }] });
    let (sign, fill) = comparison(alarm.comparison.as_deref());
    let threshold = alarm.threshold.filter(|_| alarm.threshold_metric_id.is_none());
    if let Some(value) = threshold {
        annotations["horizontal"] = json!([{
            "label": format!("Threshold {sign} {value}").replace("  ", " "),
            "value": value,
            "color": "#d62728",
            "fill": fill,
        }]);
    }
    let widget = json!({
        "metrics": metrics,
        "view": "timeSeries",
        "stacked": false,
        "region": region,
        "title": truncate(&alarm.name, 200),
        "start": iso(start),
        "end": iso(end),
        "timezone": "+0000",
        "width": 800,
        "height": 320,
        "legend": { "position": "bottom" },
        "annotations": annotations,
    });
    let limit = match (threshold, alarm.threshold_metric_id.as_deref()) {
        (Some(v), _) => format!(", threshold {sign} {v}"),
        (None, Some(_)) => ", with the anomaly-detection band".to_owned(),
        _ => String::new(),
    };
    let alt = format!(
        "Graph of {described}, every {period} s, from {} to {}{limit}; the alarm went to {state} at {}.",
        hhmm(start),
        hhmm(end),
        hhmm(changed_at_s),
    );
    Some(GraphRequest { widget, metrics: metric_count, alt_text: truncate(&alt, MAX_ALT_TEXT).into_owned(), region })
}

fn math_entry(q: &MathQuery, visible: bool, account: Option<&str>) -> Option<Value> {
    let mut options = serde_json::Map::new();
    options.insert("id".into(), json!(q.id));
    options.insert("visible".into(), json!(visible));
    if let Some(label) = &q.label {
        options.insert("label".into(), json!(label));
    }
    match (&q.expression, &q.metric) {
        (Some(expression), _) => {
            options.insert("expression".into(), json!(expression));
            Some(json!([Value::Object(options)]))
        }
        (None, Some(metric)) => metric_array(metric, options, account),
        (None, None) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::Notification;

    fn alarm(fixture: &str) -> Alarm {
        let raw = std::fs::read_to_string(format!("{}/../events/{fixture}", env!("CARGO_MANIFEST_DIR"))).unwrap();
        let event: Value = serde_json::from_str(&raw).unwrap();
        let incoming = crate::notify::incoming_from_event(&event).unwrap();
        match &incoming[0].notification {
            Notification::Alarm(a) => (**a).clone(),
            other => panic!("not an alarm: {other:?}"),
        }
    }

    const AT: i64 = 1_763_632_262; // 2025-11-20T09:51:02Z

    #[test]
    fn a_single_metric_is_drawn_with_its_statistic_period_and_threshold() {
        let a = alarm("sns-alarm-metric.json");
        let g = request(&a, AT, Some(AccountAccess::Own)).unwrap();
        let Condition::Metric(m) = &a.condition else { panic!() };
        let metric = g.widget["metrics"][0].as_array().unwrap();
        assert_eq!(metric[0], json!(m.namespace.clone().unwrap()));
        assert_eq!(metric[1], json!(m.name.clone().unwrap()));
        let options = metric.last().unwrap();
        assert_eq!(m.stat.as_deref(), Some("AVERAGE"), "SNS's own casing");
        assert_eq!(options["stat"], "Average", "the widget's");
        assert_eq!(widget_stat("SAMPLE_COUNT"), "SampleCount");
        assert_eq!(widget_stat("p99.9"), "p99.9");
        assert_eq!(options["period"], json!(m.period.unwrap()));
        assert!(options.get("accountId").is_none(), "the own account needs no accountId");
        let h = &g.widget["annotations"]["horizontal"][0];
        assert_eq!(h["value"], json!(a.threshold.unwrap()));
        assert_eq!(g.widget["region"], json!(a.region.clone().unwrap()));
        assert_eq!(g.metrics, 1);
        assert_eq!(g.widget["annotations"]["vertical"][0]["value"], json!(iso(AT)));
        assert!(g.alt_text.starts_with("Graph of "), "{}", g.alt_text);
        assert!(g.alt_text.chars().count() <= MAX_ALT_TEXT);
    }

    #[test]
    fn the_window_shows_the_crossing_and_what_came_before() {
        let a = alarm("sns-alarm-metric.json");
        let g = request(&a, AT, Some(AccountAccess::Own)).unwrap();
        let parse = |k: &str| {
            time::OffsetDateTime::parse(g.widget[k].as_str().unwrap(), &time::format_description::well_known::Rfc3339)
                .unwrap()
                .unix_timestamp()
        };
        let (start, end) = (parse("start"), parse("end"));
        assert!(start < AT && AT < end, "the change is inside the window");
        assert!(end - AT >= 300 && end - AT < 3_600, "ends shortly after the change: {}", end - AT);
        assert!((MIN_WINDOW_S as i64..=MAX_WINDOW_S as i64).contains(&(end - start)));
        // A daily alarm over 3 days gets a week, not 24 days.
        let mut daily = a.clone();
        if let Condition::Metric(m) = &mut daily.condition {
            m.period = Some(86_400);
        }
        daily.evaluation_periods = Some(3);
        let g = request(&daily, AT, Some(AccountAccess::Own)).unwrap();
        let start = time::OffsetDateTime::parse(
            g.widget["start"].as_str().unwrap(),
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap()
        .unix_timestamp();
        let end = time::OffsetDateTime::parse(
            g.widget["end"].as_str().unwrap(),
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap()
        .unix_timestamp();
        assert_eq!(end - start, MAX_WINDOW_S as i64);
    }

    #[test]
    fn metric_math_draws_the_expression_and_hides_its_inputs() {
        let a = alarm("sns-alarm-metric-math.json");
        let g = request(&a, AT, Some(AccountAccess::Own)).unwrap();
        let metrics = g.widget["metrics"].as_array().unwrap();
        assert_eq!(metrics.len(), 3);
        let expr = metrics[0].as_array().unwrap().last().unwrap();
        assert_eq!(expr["expression"], "100 * errors / requests");
        assert_eq!(expr["visible"], true);
        for input in &metrics[1..] {
            let options = input.as_array().unwrap().last().unwrap();
            assert_eq!(options["visible"], false, "{input}");
            assert_eq!(options["stat"], "Sum");
        }
        assert_eq!(g.metrics, 2, "two metrics are requested (the expression is free)");
        assert!(g.alt_text.contains("100 * errors / requests"), "{}", g.alt_text);
    }

    #[test]
    fn anomaly_detection_shows_its_band_and_no_fixed_threshold() {
        let mut a = alarm("sns-alarm-metric-math.json");
        a.condition = Condition::MetricMath(vec![
            MathQuery {
                id: "m1".into(),
                metric: Some(MetricRef {
                    namespace: Some("AWS/EC2".into()),
                    name: Some("CPUUtilization".into()),
                    dimensions: vec![("InstanceId".into(), "i-1".into())],
                    stat: Some("p99".into()),
                    period: Some(300),
                    unit: None,
                }),
                return_data: true,
                ..MathQuery::default()
            },
            MathQuery {
                id: "ad1".into(),
                expression: Some("ANOMALY_DETECTION_BAND(m1, 2)".into()),
                ..MathQuery::default()
            },
        ]);
        a.threshold = None;
        a.threshold_metric_id = Some("ad1".into());
        a.comparison = Some("LessThanLowerOrGreaterThanUpperThreshold".into());
        let g = request(&a, AT, Some(AccountAccess::Own)).unwrap();
        let metrics = g.widget["metrics"].as_array().unwrap();
        assert_eq!(metrics[1][0]["expression"], "ANOMALY_DETECTION_BAND(m1, 2)");
        assert_eq!(metrics[1][0]["visible"], true, "the band is shown");
        assert_eq!(metrics[0].as_array().unwrap().last().unwrap()["stat"], "p99");
        assert!(g.widget["annotations"].get("horizontal").is_none());
        assert!(g.alt_text.contains("anomaly-detection band"));
    }

    #[test]
    fn another_account_is_drawn_only_where_it_can_be_read() {
        let mut a = alarm("sns-alarm-metric.json");
        a.account = Some("210987654321".into());
        assert_eq!(request(&a, AT, None), None);
        let g = request(&a, AT, Some(AccountAccess::Linked)).unwrap();
        assert_eq!(g.widget["metrics"][0].as_array().unwrap().last().unwrap()["accountId"], "210987654321");
    }

    #[test]
    fn a_percentile_alarm_is_drawn_with_its_percentile() {
        let a = alarm("sns-alarm-ok-percentile.json");
        let g = request(&a, AT, Some(AccountAccess::Own)).unwrap();
        let options = g.widget["metrics"][0].as_array().unwrap().last().unwrap().clone();
        assert_eq!((options["stat"].as_str(), options["period"].as_u64()), (Some("p99"), Some(60)));
        assert_eq!(g.widget["annotations"]["vertical"][0]["label"], "OK");
        assert!(g.alt_text.starts_with("Graph of p99 of AWS/ApplicationELB TargetResponseTime"), "{}", g.alt_text);
        // 5 periods of 60 s: 8 × 5 min is less than an hour, so the window is the hour.
        let start = time::OffsetDateTime::parse(
            g.widget["start"].as_str().unwrap(),
            &time::format_description::well_known::Rfc3339,
        );
        let end = time::OffsetDateTime::parse(
            g.widget["end"].as_str().unwrap(),
            &time::format_description::well_known::Rfc3339,
        );
        assert_eq!((end.unwrap() - start.unwrap()).whole_seconds(), MIN_WINDOW_S as i64);
    }

    #[test]
    fn composite_alarms_get_no_graph() {
        let a = alarm("sns-alarm-composite.json");
        assert_eq!(request(&a, AT, Some(AccountAccess::Own)), None);
    }
}
