//! Property tests: arbitrary JSON and bytes never panic the parsers or the renderers, and what every
//! platform's renderer writes stays within that platform's limits.

#[path = "support/platform_limits.rs"]
mod platform_limits;

use chatops_shared::chat::Platform;
use chatops_shared::notify::lifecycle::{Before, parent_note, thread_reply};
use chatops_shared::notify::routing::{Routes, glob};
use chatops_shared::notify::{AlertActions, Extras, MessageDefaults, incoming_from_event, notifications_from_event};
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
            "2024-05-01T12:00:00.000+0000",
            "aws.guardduty",
            "GuardDuty Finding",
            "aws.securityhub",
            "Security Hub Findings - Imported",
            "aws.health",
            "AWS Health Event",
            "aws.backup",
            "Backup Job State Change",
            "aws.codepipeline",
            "CodePipeline Pipeline Execution State Change",
            "aws.ecs",
            "ECS Task State Change",
            "STOPPED",
            "aws.cloudformation",
            "CloudFormation Stack Status Change",
            "UPDATE_ROLLBACK_FAILED",
            "AWS Budgets: x has exceeded your alert threshold",
            "*a* <https://x|y> `c` &lt; _d_ <!date^1^x|f>"
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
        "findings",
        "Severity",
        "Label",
        "Title",
        "severity",
        "type",
        "title",
        "resource",
        "service",
        "count",
        "eventTypeCode",
        "affectedEntities",
        "entityValue",
        "backupJobId",
        "pipeline",
        "execution-id",
        "taskArn",
        "lastStatus",
        "containers",
        "exitCode",
        "stopCode",
        "stack-id",
        "status-details",
        "status",
        "Subject",
        "MessageAttributes",
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
            for platform in Platform::ALL {
                let body = n.render_for(platform, &MessageDefaults::default(), &Extras::default());
                platform_limits::assert_within(platform, &body);
            }
        }
    }
    // The lifecycle and routing paths of the Web API mode.
    let routes = Routes::parse(
        Some(r#"[{"alarm": "a*", "state": ["ALARM"], "channel": "C1", "mention": "<!here>"}]"#),
        Some("C0".into()),
    )
    .expect("valid routes");
    for incoming in incoming_from_event(event).unwrap_or_default() {
        let n = &incoming.notification;
        let route = routes.route(&n.route_key(incoming.topic.as_deref()));
        assert!(route.channel.is_some());
        let _ = (n.lifecycle_key(), n.changed_at_ms());
        let before = Before { state: Some("ALARM"), changed_at_ms: Some(0), alarm_since_ms: Some(i64::MIN) };
        let at = n.changed_at_ms().unwrap_or(i64::MAX);
        let note = parent_note(n, &before, at, i64::MAX);
        let body = n.to_slack_with(
            &MessageDefaults::default(),
            &Extras {
                mention: route.mention.clone(),
                note,
                actions: Some(AlertActions {
                    lifecycle: Some("k".repeat(3000)),
                    can_acknowledge: true,
                    ..AlertActions::default()
                }),
                changes: Some("🔧 Recent changes: x".repeat(500)),
                graph: Some(chatops_shared::notify::GraphImage {
                    file_id: "F0GRAPH001".into(),
                    alt_text: "a".repeat(5000),
                }),
            },
        );
        assert!(body.is_object(), "{body}");
        // Our own messages always carry a fallback text (a passed-through Slack payload may not).
        let ours = !matches!(n, chatops_shared::notify::Notification::SlackPayload(_));
        assert!(!ours || body["text"].is_string(), "{body}");
        assert!(!thread_reply(n, &before, at, route.mention.as_deref(), true).is_empty());
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

    #[test]
    fn arbitrary_route_sets_parse_or_fail_cleanly(text in any::<String>(), json in arb_json()) {
        let _ = Routes::parse(Some(&text), None);
        if let Err(err) = Routes::parse(Some(&json.to_string()), None) {
            prop_assert_eq!(err.var(), "SLACK_ROUTES");
        }
    }

    #[test]
    fn globs_match_themselves_and_star_matches_everything(text in ".{0,30}", pattern in "[a*?]{0,12}") {
        let literal: String = text.chars().filter(|c| *c != '*' && *c != '?').collect();
        prop_assert!(glob(&literal, &literal));
        prop_assert!(glob("*", &text));
        let (prefix_pattern, extended) = (format!("{literal}*"), format!("{literal}{text}"));
        prop_assert!(glob(&prefix_pattern, &extended));
        let _ = glob(&pattern, &text);
    }
}

proptest! {
    // Big messages (up to ~150 KB of text): fewer cases, each one exercises every limit at once.
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn arbitrary_messages_stay_within_every_platforms_limits(
        header in ".{0,400}",
        sections in prop::collection::vec(".{0,3000}", 0..12),
        fields in prop::collection::vec((".{0,300}", ".{0,2500}"), 0..40),
        context in prop::collection::vec(".{0,600}", 0..4),
        color in prop::option::of("#[0-9A-F]{6}"),
    ) {
        use chatops_shared::slack::{Block, Message};
        let mut m = Message::new(header.clone()).block(Block::Header(header));
        m.color = color;
        for s in sections {
            m = m.block(Block::section(s));
        }
        m = m.block(Block::Fields(fields.into_iter().map(|(l, v)| format!("*{l}*\n{v}")).collect()));
        m = m.block(Block::Context(context));
        for platform in Platform::ALL {
            platform_limits::assert_within(platform, &platform.render(&m));
        }
    }

    #[test]
    fn arbitrary_alertmanager_payloads_parse_or_fail_cleanly(
        bytes in prop::collection::vec(any::<u8>(), 0..256),
        json in arb_json(),
        status in prop::sample::select(vec!["firing", "resolved", "", "odd"]),
        alerts in prop::collection::vec(
            (prop::collection::btree_map("[a-z_]{1,12}", ".{0,200}", 0..8), prop::collection::btree_map("[a-z_]{1,12}", ".{0,1500}", 0..4), ".{0,40}"),
            1..40,
        ),
    ) {
        use chatops_shared::notify::{AlertGroup, Notification};
        let _ = AlertGroup::parse(&bytes);
        let _ = AlertGroup::parse(json.to_string().as_bytes());
        let alerts: Vec<Value> = alerts
            .into_iter()
            .map(|(labels, annotations, t)| json!({"status": status, "labels": labels, "annotations": annotations, "startsAt": t, "endsAt": t, "generatorURL": t}))
            .collect();
        let payload = json!({"version": "4", "groupKey": "{}:{a=\"b\"}", "status": status, "alerts": alerts,
            "commonLabels": {"alertname": "x", "severity": "critical"}, "externalURL": "http://am:9093"});
        let group = AlertGroup::parse(payload.to_string().as_bytes()).expect("a well-formed payload parses");
        let n = Notification::Alertmanager(Box::new(group));
        let _ = (n.lifecycle_key(), n.changed_at_ms(), n.route_key(None).state);
        for platform in Platform::ALL {
            let body = n.render_for(platform, &MessageDefaults::default(), &Extras { mention: Some("<!here>".into()), note: None, actions: Some(AlertActions { incident: Some("🚨 INC-1".into()), acknowledged: Some("👀".into()), ..AlertActions::default() }), ..Extras::default() });
            platform_limits::assert_within(platform, &body);
        }
        let slack = n.to_slack(&MessageDefaults::default());
        for block in slack["attachments"][0]["blocks"].as_array().into_iter().flatten() {
            if let Some(text) = block["text"]["text"].as_str() {
                prop_assert!(text.chars().count() <= 3000);
            }
        }
    }
}

/// Inputs the fuzzer (`scripts/fuzz`) found breaking a property, kept as seeds in `fuzz/seeds/notify/`
/// (`regression-*`): each one, as the `notify` target reads it, within every platform's limits.
#[test]
fn fuzz_regressions_stay_within_every_platforms_limits() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/seeds/notify");
    let mut found = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if !path.file_name().unwrap().to_string_lossy().starts_with("regression-") {
            continue;
        }
        found += 1;
        let event: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        for event in [event.clone(), json!({"Records": [{"Sns": {"Message": event.to_string(), "MessageId": "m"}}]})] {
            for incoming in incoming_from_event(&event).unwrap_or_default() {
                let n = &incoming.notification;
                let at = n.changed_at_ms().unwrap_or(0);
                let before = Before { state: Some("ALARM"), changed_at_ms: Some(0), alarm_since_ms: Some(at - 60_000) };
                let extras = Extras {
                    mention: Some("<!here>".into()),
                    note: parent_note(n, &before, at, 2),
                    ..Extras::default()
                };
                for platform in Platform::ALL {
                    let body = n.render_for(platform, &MessageDefaults::default(), &extras);
                    platform_limits::assert_within(platform, &body);
                }
            }
        }
    }
    assert!(found > 0, "the regression seeds are there");
}
