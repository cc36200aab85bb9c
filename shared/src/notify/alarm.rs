//! CloudWatch alarm state changes, from the three places they arrive: an SNS notification, a direct
//! alarm action (`source: aws.cloudwatch` with `alarmData`), and an EventBridge `CloudWatch Alarm State
//! Change` event. Parsing reads JSON values field by field, so a null, a missing field or an unexpected
//! type costs that field only, never the alarm.

use serde_json::{Map, Value};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AlarmState {
    Alarm,
    Ok,
    InsufficientData,
    Other(String),
}

impl AlarmState {
    pub fn parse(value: &str) -> Self {
        match value.trim().to_ascii_uppercase().as_str() {
            "ALARM" => Self::Alarm,
            "OK" => Self::Ok,
            "INSUFFICIENT_DATA" => Self::InsufficientData,
            _ => Self::Other(value.to_owned()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Self::Alarm => "ALARM",
            Self::Ok => "OK",
            Self::InsufficientData => "INSUFFICIENT_DATA",
            Self::Other(s) => s,
        }
    }
}

/// Where the alarm came from; shown in the message footer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AlarmSource {
    Sns,
    AlarmAction,
    EventBridge,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct MetricRef {
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub dimensions: Vec<(String, String)>,
    pub stat: Option<String>,
    pub period: Option<u64>,
    pub unit: Option<String>,
}

/// One query of a metric-math alarm.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MathQuery {
    pub id: String,
    pub expression: Option<String>,
    pub label: Option<String>,
    pub metric: Option<MetricRef>,
    pub return_data: bool,
}

/// What the alarm watches and when it fires.
#[derive(Clone, Debug, PartialEq)]
pub enum Condition {
    Metric(MetricRef),
    MetricMath(Vec<MathQuery>),
    Composite { rule: String, triggering_children: Vec<(String, Option<String>)> },
    Unknown,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Alarm {
    pub name: String,
    pub description: Option<String>,
    pub arn: Option<String>,
    pub account: Option<String>,
    /// The account's name (`ACCOUNT_NAMES`, AWS Organizations), shown beside its ID.
    pub account_name: Option<String>,
    /// Region code (`eu-west-1`), from the ARN where possible.
    pub region: Option<String>,
    /// The display name SNS sends (`EU (Ireland)`), kept for readers.
    pub region_name: Option<String>,
    pub new_state: AlarmState,
    pub old_state: Option<AlarmState>,
    pub reason: Option<String>,
    /// As sent (`2024-05-01T12:00:00.000+0000` or RFC 3339).
    pub changed_at: Option<String>,
    pub condition: Condition,
    pub comparison: Option<String>,
    pub threshold: Option<f64>,
    pub threshold_metric_id: Option<String>,
    pub evaluation_periods: Option<u64>,
    pub datapoints_to_alarm: Option<u64>,
    pub treat_missing_data: Option<String>,
    /// The latest datapoints CloudWatch evaluated (from `reasonData`), when it says.
    pub recent_datapoints: Vec<f64>,
    pub source: AlarmSource,
}

use crate::json::text;

fn uint(v: Option<&Value>) -> Option<u64> {
    match v? {
        Value::Number(n) => n.as_u64().or_else(|| n.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn float(v: Option<&Value>) -> Option<f64> {
    match v? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn array(v: Option<&Value>) -> &[Value] {
    v.and_then(Value::as_array).map_or(&[], Vec::as_slice)
}

/// Parts of an alarm ARN: `arn:{partition}:cloudwatch:{region}:{account}:alarm:{name}`.
pub(crate) fn arn_parts(arn: &str) -> Option<(&str, &str, &str)> {
    let mut parts = arn.splitn(7, ':');
    let (Some("arn"), Some(partition), Some(_service), Some(region), Some(account)) =
        (parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    Some((partition, region, account))
}

/// Dimensions arrive as `[{"name": .., "value": ..}]` (SNS, any case) or `{"Name": "value"}` (EventBridge).
fn dimensions(v: Option<&Value>) -> Vec<(String, String)> {
    match v {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|d| {
                let name = text(d.get("name").or_else(|| d.get("Name")))?;
                let value = text(d.get("value").or_else(|| d.get("Value"))).unwrap_or_default();
                Some((name, value))
            })
            .collect(),
        Some(Value::Object(map)) => map.iter().map(|(k, v)| (k.clone(), text(Some(v)).unwrap_or_default())).collect(),
        _ => Vec::new(),
    }
}

/// A `MetricStat` in either casing (`MetricStat.Metric.MetricName` in SNS, `metricStat.metric.name` elsewhere).
fn metric_stat(stat: &Value) -> MetricRef {
    let metric = stat.get("Metric").or_else(|| stat.get("metric")).unwrap_or(&Value::Null);
    MetricRef {
        namespace: text(metric.get("Namespace").or_else(|| metric.get("namespace"))),
        name: text(metric.get("MetricName").or_else(|| metric.get("name"))),
        dimensions: dimensions(metric.get("Dimensions").or_else(|| metric.get("dimensions"))),
        stat: text(stat.get("Stat").or_else(|| stat.get("stat"))),
        period: uint(stat.get("Period").or_else(|| stat.get("period"))),
        unit: text(stat.get("Unit").or_else(|| stat.get("unit"))),
    }
}

fn math_queries(metrics: &[Value]) -> Vec<MathQuery> {
    metrics
        .iter()
        .map(|m| {
            let get = |upper: &str, lower: &str| m.get(upper).or_else(|| m.get(lower));
            MathQuery {
                id: text(get("Id", "id")).unwrap_or_default(),
                expression: text(get("Expression", "expression")),
                label: text(get("Label", "label")),
                metric: get("MetricStat", "metricStat").map(metric_stat),
                return_data: get("ReturnData", "returnData").and_then(Value::as_bool).unwrap_or(false),
            }
        })
        .collect()
}

/// The child alarms that made a composite alarm change, as `(name, state)`: SNS sends
/// `[{"Arn", "State": {"Value"}}]`, alarm actions and EventBridge `[{"arn", "state": {"value"}}]`.
fn triggering_children(
    items: Option<&Value>,
    arn_key: &str,
    state_key: &str,
    value_key: &str,
) -> Vec<(String, Option<String>)> {
    array(items)
        .iter()
        .filter_map(|c| {
            let arn = text(c.get(arn_key))?;
            let child = arn.rsplit(":alarm:").next().unwrap_or(&arn).to_owned();
            Some((child, c.get(state_key).and_then(|s| text(s.get(value_key)))))
        })
        .collect()
}

/// The JSON `Message` of an SNS alarm notification. `sns` is the SNS record, for fallbacks.
pub(crate) fn from_sns_alarm_message(msg: &Map<String, Value>, sns: Option<&Value>) -> Option<Alarm> {
    let name = text(msg.get("AlarmName"))?;
    let new_state = AlarmState::parse(&text(msg.get("NewStateValue"))?);
    let arn = text(msg.get("AlarmArn"));
    let (arn_region, arn_account) =
        arn.as_deref().and_then(arn_parts).map_or((None, None), |(_, r, a)| (Some(r.to_owned()), Some(a.to_owned())));
    let trigger = msg.get("Trigger").filter(|t| t.is_object());
    let condition = if let Some(rule) = text(msg.get("AlarmRule")) {
        Condition::Composite {
            rule,
            triggering_children: triggering_children(msg.get("TriggeringChildren"), "Arn", "State", "Value"),
        }
    } else if let Some(t) = trigger {
        let metrics = array(t.get("Metrics"));
        if !metrics.is_empty() {
            Condition::MetricMath(math_queries(metrics))
        } else {
            let stat = if text(t.get("StatisticType")).as_deref() == Some("ExtendedStatistic") {
                text(t.get("ExtendedStatistic"))
            } else {
                text(t.get("Statistic")).or_else(|| text(t.get("ExtendedStatistic")))
            };
            Condition::Metric(MetricRef {
                namespace: text(t.get("Namespace")),
                name: text(t.get("MetricName")),
                dimensions: dimensions(t.get("Dimensions")),
                stat,
                period: uint(t.get("Period")),
                unit: text(t.get("Unit")),
            })
        }
    } else {
        Condition::Unknown
    };
    let trig = |key: &str| trigger.and_then(|t| t.get(key));
    Some(Alarm {
        name,
        description: text(msg.get("AlarmDescription")),
        account: text(msg.get("AWSAccountId")).or(arn_account),
        account_name: None,
        region: arn_region
            .or_else(|| sns.and_then(|s| text(s.get("TopicArn"))).and_then(|t| arn_parts(&t).map(|p| p.1.to_owned()))),
        region_name: text(msg.get("Region")),
        arn,
        new_state,
        old_state: text(msg.get("OldStateValue")).map(|s| AlarmState::parse(&s)),
        reason: text(msg.get("NewStateReason")),
        changed_at: text(msg.get("StateChangeTime")).or_else(|| sns.and_then(|s| text(s.get("Timestamp")))),
        condition,
        comparison: text(trig("ComparisonOperator")),
        threshold: float(trig("Threshold")),
        threshold_metric_id: text(trig("ThresholdMetricId")),
        evaluation_periods: uint(trig("EvaluationPeriods")),
        datapoints_to_alarm: uint(trig("DatapointsToAlarm")),
        treat_missing_data: text(trig("TreatMissingData")),
        recent_datapoints: Vec::new(),
        source: AlarmSource::Sns,
    })
}

/// The `alarmData` of a direct alarm action, or the `detail` of an EventBridge event: same shape.
fn from_alarm_data(
    data: &Value,
    arn: Option<String>,
    account: Option<String>,
    region: Option<String>,
    time: Option<String>,
    source: AlarmSource,
) -> Option<Alarm> {
    let name = text(data.get("alarmName"))?;
    let state = data.get("state")?;
    let new_state = AlarmState::parse(&text(state.get("value"))?);
    let previous = data.get("previousState");
    let config = data.get("configuration").unwrap_or(&Value::Null);
    // reasonData is a JSON document inside a string: threshold, recent datapoints, triggering alarms.
    let reason_data: Value =
        text(state.get("reasonData")).and_then(|s| serde_json::from_str(&s).ok()).unwrap_or_default();
    let condition = if let Some(rule) = text(config.get("alarmRule")) {
        Condition::Composite {
            rule,
            triggering_children: triggering_children(reason_data.get("triggeringAlarms"), "arn", "state", "value"),
        }
    } else {
        let queries = math_queries(array(config.get("metrics")));
        match queries.as_slice() {
            [] => Condition::Unknown,
            [single] if single.expression.is_none() && single.metric.is_some() => {
                Condition::Metric(single.metric.clone().unwrap_or_default())
            }
            _ => Condition::MetricMath(queries),
        }
    };
    let (arn_partition_region, arn_account) =
        arn.as_deref().and_then(arn_parts).map_or((None, None), |(_, r, a)| (Some(r.to_owned()), Some(a.to_owned())));
    Some(Alarm {
        name,
        description: text(config.get("description")),
        account: account.or(arn_account),
        account_name: None,
        region: arn_partition_region.or(region),
        region_name: None,
        arn,
        new_state,
        old_state: previous.and_then(|p| text(p.get("value"))).map(|s| AlarmState::parse(&s)),
        reason: text(state.get("reason")),
        changed_at: text(state.get("timestamp")).or(time),
        condition,
        comparison: None,
        threshold: float(reason_data.get("threshold")),
        threshold_metric_id: None,
        evaluation_periods: None,
        datapoints_to_alarm: None,
        treat_missing_data: None,
        recent_datapoints: array(reason_data.get("recentDatapoints")).iter().filter_map(Value::as_f64).collect(),
        source,
    })
}

/// A CloudWatch alarm action invoking the function directly.
pub(crate) fn from_alarm_action(event: &Map<String, Value>) -> Option<Alarm> {
    if text(event.get("source")).as_deref() != Some("aws.cloudwatch") || event.contains_key("detail-type") {
        return None;
    }
    from_alarm_data(
        event.get("alarmData")?,
        text(event.get("alarmArn")),
        text(event.get("accountId")),
        text(event.get("region")),
        text(event.get("time")),
        AlarmSource::AlarmAction,
    )
}

/// An EventBridge `CloudWatch Alarm State Change` event.
pub(crate) fn from_eventbridge(event: &Map<String, Value>) -> Option<Alarm> {
    if text(event.get("detail-type")).as_deref() != Some("CloudWatch Alarm State Change") {
        return None;
    }
    let arn = array(event.get("resources")).iter().find_map(|r| text(Some(r)).filter(|r| r.contains(":alarm:")));
    from_alarm_data(
        event.get("detail")?,
        arn,
        text(event.get("account")),
        text(event.get("region")),
        text(event.get("time")),
        AlarmSource::EventBridge,
    )
}
