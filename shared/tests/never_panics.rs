//! Property tests: arbitrary JSON and bytes never panic the parsers or the renderer.

use chatops_shared::notify::{MessageDefaults, notifications_from_event};
use proptest::prelude::*;
use serde_json::{Value, json};

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<f64>().prop_map(|f| json!(f)),
        any::<i64>().prop_map(|i| json!(i)),
        ".{0,40}".prop_map(Value::String),
        prop::sample::select(vec![
            "ALARM",
            "OK",
            "INSUFFICIENT_DATA",
            "aws.cloudwatch",
            "CloudWatch Alarm State Change",
            "arn:aws:cloudwatch:eu-west-1:1:alarm:x",
            "2024-05-01T12:00:00.000+0000"
        ])
        .prop_map(|s| json!(s)),
    ];
    let keys = prop::sample::select(vec![
        "Records",
        "Sns",
        "Message",
        "AlarmName",
        "NewStateValue",
        "OldStateValue",
        "AlarmArn",
        "Trigger",
        "Metrics",
        "MetricStat",
        "Metric",
        "Dimensions",
        "AlarmRule",
        "TriggeringChildren",
        "source",
        "alarmData",
        "detail-type",
        "detail",
        "state",
        "value",
        "configuration",
        "metrics",
        "metricStat",
        "reasonData",
        "text",
        "blocks",
        "Threshold",
        "Period",
        "x",
    ]);
    leaf.prop_recursive(5, 64, 8, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(keys.clone().prop_map(String::from), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn exercise(event: &Value) {
    if let Ok(notifications) = notifications_from_event(event) {
        for n in notifications {
            let body = n.to_slack(&MessageDefaults::default());
            assert!(body.is_object());
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_json_never_panics(event in arb_json()) {
        exercise(&event);
        // The same value as an SNS message body, and inside the places alarms are read from.
        exercise(&json!({"Records": [{"Sns": {"Message": event.to_string()}}]}));
        exercise(&json!({"source": "aws.cloudwatch", "alarmData": event.clone()}));
        exercise(&json!({"detail-type": "CloudWatch Alarm State Change", "source": "aws.cloudwatch", "detail": event}));
    }

    #[test]
    fn arbitrary_message_text_never_panics(text in any::<String>()) {
        exercise(&json!({"Records": [{"Sns": {"Message": text, "Subject": "s"}}]}));
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        if let Ok(v) = serde_json::from_slice::<Value>(&bytes) {
            exercise(&v);
        }
        exercise(&json!({"Records": [{"Sns": {"Message": String::from_utf8_lossy(&bytes)}}]}));
    }
}
