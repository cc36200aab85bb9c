//! The Lambda event envelopes, read with `aws_lambda_events` where its types read the events AWS sends:
//! SNS records ([`SnsEvent`]), EventBridge events ([`EventBridgeEvent`]) and CodeDeploy's deployment
//! detail ([`CodeDeployEventDetail`], in `codedeploy`). What the library has no type for (GuardDuty,
//! Security Hub, Health, Backup, ECS, CloudFormation, CodePipeline and Budgets details, Alertmanager)
//! and what its types reject in real events (the alarm message SNS carries, [`CloudWatchAlarmPayload`]:
//! `"AlarmDescription": null` and composite alarms without `Trigger`; an alarm's data, where one odd field
//! loses the whole alarm; metric math configurations) is read field by field; the tests below feed the
//! real fixtures to those types and assert the failure, so we switch when it is fixed.
//!
//! [`CloudWatchAlarmPayload`]: aws_lambda_events::event::sns::CloudWatchAlarmPayload
//! [`CodeDeployEventDetail`]: aws_lambda_events::event::codedeploy::CodeDeployEventDetail

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use aws_lambda_events::event::sns::SnsEvent;
use serde::Deserialize as _;
use serde_json::Value;

use crate::json::text;

/// One SNS record as the notifier needs it: the raw record (for the optional fields the sources read),
/// its message, and what identifies it.
pub struct SnsRecord<'a> {
    pub raw: &'a Value,
    pub message: String,
    pub message_id: Option<String>,
    pub topic_arn: Option<String>,
}

/// The SNS records of `event`, when it is an SNS event (every record has `Sns`); `None` otherwise.
/// Read as `aws_lambda_events`' `SnsEvent`; an event it rejects is read field by field, with a warning.
pub fn sns_records(event: &Value) -> Option<Vec<SnsRecord<'_>>> {
    let records = event.get("Records")?.as_array()?;
    let raw: Vec<&Value> = records.iter().filter_map(|r| r.get("Sns")).collect();
    if records.is_empty() || raw.len() != records.len() {
        return None;
    }
    match SnsEvent::deserialize(event) {
        Ok(typed) => Some(
            typed
                .records
                .into_iter()
                .zip(raw)
                .map(|(record, raw)| SnsRecord {
                    raw,
                    message: record.sns.message,
                    message_id: Some(record.sns.message_id).filter(|id| !id.trim().is_empty()),
                    topic_arn: Some(record.sns.topic_arn).filter(|t| !t.trim().is_empty()),
                })
                .collect(),
        ),
        Err(err) => {
            tracing::warn!(error = %err, "SNS event not readable as aws_lambda_events::SnsEvent: read field by field");
            Some(
                raw.into_iter()
                    .map(|raw| SnsRecord {
                        raw,
                        message: raw.get("Message").and_then(Value::as_str).unwrap_or_default().to_owned(),
                        message_id: text(raw.get("MessageId")),
                        topic_arn: text(raw.get("TopicArn")),
                    })
                    .collect(),
            )
        }
    }
}

/// One message of the failure queue: what Lambda's on-failure destination recorded of an invocation that
/// failed after its retries (`requestPayload` is the original event).
pub struct FailedInvocation {
    pub message_id: String,
    /// The original event; `None` when the body is not such a record.
    pub payload: Option<Value>,
}

/// The messages of `event` when it is an SQS event (every record from `aws:sqs`), read as
/// `aws_lambda_events`' `SqsEvent`: the failure queue, re-driven through the function. `None` otherwise.
pub fn failure_queue_records(event: &Value) -> Option<Vec<FailedInvocation>> {
    let records = event.get("Records")?.as_array()?;
    if records.is_empty() || !records.iter().all(|r| r.get("eventSource").and_then(Value::as_str) == Some("aws:sqs")) {
        return None;
    }
    let typed = aws_lambda_events::event::sqs::SqsEvent::deserialize(event).ok()?;
    Some(
        typed
            .records
            .into_iter()
            .map(|m| FailedInvocation {
                message_id: m.message_id.unwrap_or_default(),
                payload: m
                    .body
                    .and_then(|b| serde_json::from_str::<Value>(&b).ok())
                    .and_then(|mut record| record.get_mut("requestPayload").map(Value::take))
                    .filter(|p| !p.is_null()),
            })
            .collect(),
    )
}

/// `event` as an EventBridge event (it has `detail-type`, `source` and `detail`); `None` otherwise.
pub fn eventbridge(event: &Value) -> Option<EventBridgeEvent<Value>> {
    EventBridgeEvent::<Value>::deserialize(event).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lambda_events::event::cloudwatch_alarms::CloudWatchAlarm;
    use aws_lambda_events::event::sns::CloudWatchAlarmPayload;

    fn fixture(name: &str) -> Value {
        let path = format!("{}/../events/{name}", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
    }

    fn sns_message(name: &str) -> String {
        fixture(name)["Records"][0]["Sns"]["Message"].as_str().unwrap().to_owned()
    }

    #[test]
    fn every_sns_fixture_is_read_by_the_library_type() {
        for name in [
            "sns-alarm-metric.json",
            "sns-alarm-composite.json",
            "sns-alarm-metric-math.json",
            "sns-alarm-ok-percentile.json",
            "sns-batch.json",
            "sns-budgets.json",
            "sns-json-message.json",
            "sns-plain-text.json",
            "sns-slack-payload.json",
        ] {
            let event = fixture(name);
            let typed = SnsEvent::deserialize(&event).unwrap_or_else(|e| panic!("{name}: {e}"));
            let records = sns_records(&event).unwrap();
            assert_eq!(records.len(), typed.records.len(), "{name}");
            assert_eq!(records[0].message_id.as_deref(), Some(typed.records[0].sns.message_id.as_str()), "{name}");
        }
    }

    #[test]
    fn every_eventbridge_fixture_is_read_by_the_library_type_and_nothing_else_is() {
        for name in [
            "eventbridge-alarm-state-change.json",
            "codedeploy-ready.json",
            "codedeploy-success.json",
            "codedeploy-failure.json",
            "guardduty-finding.json",
            "securityhub-finding.json",
            "health-event.json",
            "backup-job-failed.json",
            "ecs-task-stopped.json",
            "cloudformation-rollback.json",
            "codepipeline-failed.json",
        ] {
            let event = eventbridge(&fixture(name)).unwrap_or_else(|| panic!("{name}"));
            assert!(event.id.is_some() && !event.detail_type.is_empty(), "{name}");
        }
        for name in ["alarm-action.json", "sns-alarm-metric.json", "alertmanager-firing.json"] {
            assert!(eventbridge(&fixture(name)).is_none(), "{name}");
        }
    }

    /// The reason the alarm message inside SNS is read by hand: the library's type rejects what real
    /// alarms send. When this test fails, the library reads them: switch `alarm::from_sns_alarm_message`.
    #[test]
    fn the_library_rejects_real_alarm_messages_a_null_description_and_a_composite_alarm() {
        let null_description = serde_json::from_str::<CloudWatchAlarmPayload>(&sns_message("sns-alarm-metric.json"));
        assert!(null_description.unwrap_err().to_string().contains("invalid type: null"));
        let composite = serde_json::from_str::<CloudWatchAlarmPayload>(&sns_message("sns-alarm-composite.json"));
        assert!(composite.unwrap_err().to_string().contains("missing field `Trigger`"));
    }

    /// The reason an alarm action is recognised by hand (`source` and `alarmData`) before its fields are
    /// read: the library's `CloudWatchAlarm` has every field optional and takes any EventBridge event.
    #[test]
    fn the_library_alarm_type_cannot_tell_an_alarm_from_a_guardduty_finding() {
        let finding = <CloudWatchAlarm>::deserialize(&fixture("guardduty-finding.json")).unwrap();
        assert_eq!((finding.alarm_arn, finding.alarm_data.alarm_name.as_str()), (None, ""));
    }

    /// The reason an alarm's configuration is read by hand: the library's metric configuration requires
    /// `metricStat` on every query, and a metric math expression has none.
    #[test]
    fn the_library_rejects_a_metric_math_alarms_configuration() {
        use aws_lambda_events::event::cloudwatch_alarms::CloudWatchMetricAlarmConfiguration;
        let config = &fixture("eventbridge-alarm-state-change.json")["detail"]["configuration"];
        assert!(config["metrics"].as_array().unwrap().iter().any(|m| m.get("expression").is_some()), "{config}");
        let err = CloudWatchMetricAlarmConfiguration::deserialize(config).unwrap_err().to_string();
        assert!(err.contains("metricStat"), "{err}");
    }

    /// The reason an alarm's state is read by hand although the library reads the real fixtures: one odd
    /// field (a null reason, a state it does not know) costs its type the whole alarm, where ours loses
    /// that field only; keeping both readers cost 0.04 MiB of binary (docs/development.md). When the library reads
    /// these, switch `alarm::from_alarm_data`.
    #[test]
    fn the_library_loses_a_whole_alarm_to_one_odd_field_where_ours_keeps_it() {
        use aws_lambda_events::event::cloudwatch_alarms::CloudWatchAlarmData;
        let mut event = fixture("alarm-action.json");
        assert!(CloudWatchAlarmData::<Value>::deserialize(&event["alarmData"]).is_ok(), "the fixture itself reads");
        for (field, odd) in [("reason", Value::Null), ("value", Value::from("ALARM_SUPPRESSED"))] {
            let mut changed = event.clone();
            changed["alarmData"]["state"][field] = odd;
            assert!(CloudWatchAlarmData::<Value>::deserialize(&changed["alarmData"]).is_err(), "{field}");
            let ours = crate::notify::notifications_from_event(&changed).unwrap();
            assert_eq!(ours[0].label(), "api-high-cpu", "{field}: the alarm is kept");
        }
        event["alarmData"]["state"]["reason"] = Value::Null;
        let ours = crate::notify::notifications_from_event(&event).unwrap();
        assert_eq!(ours[0].state(), "ALARM");
    }

    #[test]
    fn an_sns_event_without_signature_fields_is_still_read_field_by_field() {
        let event = serde_json::json!({"Records": [{"Sns": {"MessageId": "m-1", "TopicArn": "arn:aws:sns:eu-west-1:1:ops", "Message": "disk full"}}]});
        assert!(SnsEvent::deserialize(&event).is_err(), "the library needs the signature fields");
        let records = sns_records(&event).unwrap();
        assert_eq!((records[0].message.as_str(), records[0].message_id.as_deref()), ("disk full", Some("m-1")));
        assert_eq!(records[0].topic_arn.as_deref(), Some("arn:aws:sns:eu-west-1:1:ops"));
    }
}
