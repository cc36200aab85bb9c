//! Every fixture in `events/` parsed and rendered: a snapshot of the exact Slack payload, plus the facts
//! a reader relies on asserted one by one.

use chatops_shared::notify::{AlarmState, Condition, MessageDefaults, Notification, notifications_from_event};
use serde_json::{Value, json};

fn fixture(name: &str) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../events").join(name);
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn render(name: &str) -> (Vec<Notification>, Vec<Value>) {
    let notifications = notifications_from_event(&fixture(name)).unwrap();
    let bodies = notifications.iter().map(|n| n.to_slack(&MessageDefaults::default())).collect();
    (notifications, bodies)
}

fn alarm(n: &Notification) -> &chatops_shared::notify::Alarm {
    match n {
        Notification::Alarm(a) => a,
        other => panic!("expected an alarm, got {other:?}"),
    }
}

/// All mrkdwn and plain text of a payload, for "does the reader see X" checks.
fn all_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(a) => a.iter().map(all_text).collect::<Vec<_>>().join("\n"),
        Value::Object(m) => m.values().map(all_text).collect::<Vec<_>>().join("\n"),
        _ => String::new(),
    }
}

#[test]
fn every_fixture_has_a_snapshot() {
    let mut names: Vec<String> = std::fs::read_dir(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../events"))
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".json"))
        .collect();
    names.sort();
    for name in names {
        let event = fixture(&name);
        let Ok(notifications) = notifications_from_event(&event) else {
            continue; // request fixtures of other functions
        };
        let bodies: Vec<Value> = notifications.iter().map(|n| n.to_slack(&MessageDefaults::default())).collect();
        insta::assert_json_snapshot!(name.trim_end_matches(".json"), bodies);
    }
}

#[test]
fn single_metric_alarm_with_nulls_shows_everything_a_reader_needs() {
    let (n, bodies) = render("sns-alarm-metric.json");
    let a = alarm(&n[0]);
    assert_eq!(a.name, "api-high-cpu");
    assert_eq!(a.description, None, "null description tolerated");
    assert_eq!(a.new_state, AlarmState::Alarm);
    assert_eq!(a.old_state, Some(AlarmState::Ok));
    assert_eq!(a.region.as_deref(), Some("eu-west-1"), "region code from the ARN, not the display name");
    let Condition::Metric(m) = &a.condition else { panic!("{:?}", a.condition) };
    assert_eq!(m.unit, None, "null unit tolerated");
    assert_eq!(a.treat_missing_data, None, "missing TreatMissingData tolerated");
    let body = &bodies[0];
    assert!(body["text"].as_str().unwrap().starts_with("🔴 ALARM: api-high-cpu in eu-west-1 — Threshold Crossed"));
    assert_eq!(body["attachments"][0]["color"], "#E01E5A");
    let text = all_text(body);
    for needle in [
        "OK → *ALARM*",
        "`AWS/EC2` *CPUUtilization* (AutoScalingGroupName=api-asg)",
        "Average over 5 minutes &gt; 80",
        "1 of 1 periods",
        "123456789012",
        "eu-west-1 (EU (Ireland))",
        "<!date^1795167667^",
        "https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1#alarmsV2:alarm/api-high-cpu",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }
}

#[test]
fn percentile_ok_alarm_is_green_with_band_and_missing_data() {
    let (_, bodies) = render("sns-alarm-ok-percentile.json");
    let body = &bodies[0];
    assert_eq!(body["attachments"][0]["color"], "#2EB67D");
    let text = all_text(body);
    assert!(text.contains("✅ OK: checkout-p99-latency"), "{text}");
    assert!(text.contains("p99 over 1 minute &gt; 1.5, 3 of 5 periods"), "{text}");
    assert!(text.contains("*Missing data:* notBreaching"), "{text}");
    assert!(text.contains("ALARM → *OK*"), "{text}");
}

#[test]
fn metric_math_alarm_lists_expression_and_queries() {
    let (n, bodies) = render("sns-alarm-metric-math.json");
    let Condition::MetricMath(q) = &alarm(&n[0]).condition else { panic!() };
    assert_eq!(q.len(), 3);
    let text = all_text(&bodies[0]);
    assert!(text.contains("`rate` = `100 * errors / requests` _5xx rate (%)_ ⬅ alarm"), "{text}");
    assert!(text.contains("`errors` = `AWS/ApiGateway` *5XXError* (ApiName=orders-api) Sum over 1 minute"), "{text}");
    assert!(text.contains("&gt; 5, 2 of 3 periods"), "{text}");
    assert!(text.contains("INSUFFICIENT_DATA → *ALARM*"), "{text}");
}

#[test]
fn composite_alarm_shows_rule_and_triggering_children() {
    let (n, bodies) = render("sns-alarm-composite.json");
    let Condition::Composite { rule, triggering_children } = &alarm(&n[0]).condition else { panic!() };
    assert!(rule.contains("AND"));
    assert_eq!(triggering_children.len(), 2);
    let text = all_text(&bodies[0]);
    assert!(text.contains("*Rule:* `ALARM(\"orders-error-rate\") AND ALARM(\"api-high-cpu\")`"), "{text}");
    assert!(text.contains("*Triggered by:* orders-error-rate (ALARM), api-high-cpu (ALARM)"), "{text}");
}

#[test]
fn direct_alarm_action_and_eventbridge_events_are_alarms() {
    let (n, bodies) = render("alarm-action.json");
    let a = alarm(&n[0]);
    assert_eq!(
        (a.name.as_str(), a.threshold, a.recent_datapoints.as_slice()),
        ("api-high-cpu", Some(80.0), &[91.35][..])
    );
    assert!(all_text(&bodies[0]).contains("via alarm action"));
    assert!(all_text(&bodies[0]).contains("*Recent datapoints:* 91.35"));

    let (n, bodies) = render("eventbridge-alarm-state-change.json");
    let a = alarm(&n[0]);
    assert_eq!(a.region.as_deref(), Some("eu-west-1"));
    assert!(matches!(&a.condition, Condition::MetricMath(q) if q.len() == 3));
    let text = all_text(&bodies[0]);
    assert!(text.contains("via EventBridge") && text.contains("orders-error-rate"), "{text}");
}

#[test]
fn other_sns_messages_are_generic_and_slack_payloads_pass_through() {
    let (n, bodies) = render("sns-plain-text.json");
    assert!(matches!(n[0], Notification::Generic(_)));
    let text = all_text(&bodies[0]);
    assert!(text.contains("📣 Backup report") && text.contains("2 warnings"), "{text}");
    assert!(text.contains("&lt;https://example.com/jobs/1234&gt;"), "user text is escaped: {text}");

    let (_, bodies) = render("sns-json-message.json");
    let text = all_text(&bodies[0]);
    assert!(text.contains("Message from deployments") && text.contains("\"service\": \"orders-api\""), "{text}");

    let (n, bodies) = render("sns-slack-payload.json");
    assert!(matches!(n[0], Notification::SlackPayload(_)));
    assert_eq!(bodies[0]["text"], "Release *2026.11.20-3* is live :rocket:");
    assert_eq!(bodies[0]["blocks"][0]["type"], "section");
}

#[test]
fn every_record_of_a_batch_is_a_notification() {
    let (n, _) = render("sns-batch.json");
    let labels: Vec<String> = n.iter().map(Notification::label).collect();
    assert_eq!(labels, ["api-high-cpu", "Disk warning", "checkout-p99-latency"]);
}

#[test]
fn defaults_apply_without_overriding_a_payload() {
    let defaults = MessageDefaults {
        channel: Some("#ops".into()),
        username: Some("AWS".into()),
        icon_emoji: Some(":aws:".into()),
        ..MessageDefaults::default()
    };
    let n = notifications_from_event(&fixture("sns-alarm-metric.json")).unwrap();
    let body = n[0].to_slack(&defaults);
    assert_eq!(
        (body["channel"].as_str(), body["username"].as_str(), body["icon_emoji"].as_str()),
        (Some("#ops"), Some("AWS"), Some(":aws:"))
    );
    let payload = json!({"Records": [{"Sns": {"Message": "{\"text\": \"hi\", \"channel\": \"#mine\"}"}}]});
    let body = notifications_from_event(&payload).unwrap()[0].to_slack(&defaults);
    assert_eq!(body["channel"], "#mine");
    assert_eq!(body["username"], "AWS");
}

#[test]
fn partitions_get_their_console_domain() {
    for (arn, expected) in [
        (
            "arn:aws-cn:cloudwatch:cn-north-1:1:alarm:a b",
            "https://cn-north-1.console.amazonaws.cn/cloudwatch/home?region=cn-north-1#alarmsV2:alarm/a%20b",
        ),
        (
            "arn:aws-us-gov:cloudwatch:us-gov-west-1:1:alarm:x",
            "https://console.amazonaws-us-gov.com/cloudwatch/home?region=us-gov-west-1#alarmsV2:alarm/x",
        ),
    ] {
        let msg = json!({"AlarmName": arn.rsplit(':').next().unwrap(), "NewStateValue": "ALARM", "AlarmArn": arn, "Region": "Somewhere"});
        let event = json!({"Records": [{"Sns": {"Message": msg.to_string()}}]});
        let body = notifications_from_event(&event).unwrap()[0].to_slack(&MessageDefaults::default());
        assert!(all_text(&body).contains(expected), "{}", all_text(&body));
    }
}

#[test]
fn unknown_events_are_a_clear_error() {
    for event in
        [json!({"foo": 1, "bar": [1]}), json!([1, 2]), json!("text"), json!(null), json!({"Records": [{"s3": {}}]})]
    {
        let err = notifications_from_event(&event).unwrap_err().to_string();
        assert!(err.starts_with("unrecognised event"), "{err}");
    }
    let err = notifications_from_event(&json!({"foo": 1})).unwrap_err().to_string();
    assert!(err.contains("keys [foo]"), "{err}");
}

#[test]
fn huge_values_are_cut_to_slack_limits() {
    let msg = json!({
        "AlarmName": "n".repeat(500), "NewStateValue": "ALARM", "AlarmDescription": "d<".repeat(5000),
        "NewStateReason": "r".repeat(9000),
        "Trigger": {"Metrics": (0..80).map(|i| json!({"Id": format!("m{i}"), "Expression": "x".repeat(100)})).collect::<Vec<_>>()}
    });
    let event = json!({"Records": [{"Sns": {"Message": msg.to_string(), "Subject": null}}]});
    let body = notifications_from_event(&event).unwrap()[0].to_slack(&MessageDefaults::default());
    let blocks = body["attachments"][0]["blocks"].as_array().unwrap();
    assert!(blocks.len() <= 50);
    assert_eq!(blocks[0]["text"]["text"].as_str().unwrap().chars().count(), 150);
    for b in blocks {
        if let Some(t) = b["text"]["text"].as_str() {
            assert!(t.chars().count() <= 3000);
        }
    }
    let plain = json!({"Records": [{"Sns": {"Message": "line\n".repeat(20000)}}]});
    let body = notifications_from_event(&plain).unwrap()[0].to_slack(&MessageDefaults::default());
    let blocks = body["blocks"].as_array().unwrap();
    assert!(blocks.len() <= 50);
    assert!(all_text(&body).contains("more characters not shown"));
}

#[test]
fn a_ready_blue_green_deployment_has_its_buttons_in_the_operators_order() {
    use chatops_shared::notify::CodeDeploySettings;
    let defaults = MessageDefaults {
        codedeploy: CodeDeploySettings::parse(
            Some("orders/orders-ecs-bg, other/x"),
            Some("orders/orders-ecs-bg=https://green.orders.example.com"),
        )
        .unwrap(),
        ..MessageDefaults::default()
    };
    let n = notifications_from_event(&fixture("codedeploy-ready.json")).unwrap();
    let body = n[0].to_slack(&defaults);
    let blocks = body["attachments"][0]["blocks"].as_array().unwrap();
    let actions = blocks.iter().find(|b| b["type"] == "actions").expect("an actions block");
    assert_eq!(actions["block_id"], "codedeploy:d-7QX4Z2K9B");
    let buttons = actions["elements"].as_array().unwrap();
    let order: Vec<&str> = buttons.iter().map(|b| b["action_id"].as_str().unwrap()).collect();
    assert_eq!(order, ["codedeploy:switch", "codedeploy:rollback", "codedeploy:terminate"]);
    let labels: Vec<&str> = buttons.iter().map(|b| b["text"]["text"].as_str().unwrap()).collect();
    assert_eq!(labels, ["🔁 Switch traffic", "🔙 Roll back", "🧹 Terminate original"]);
    assert!(buttons.iter().all(|b| b["value"] == "d-7QX4Z2K9B"));
    assert!(buttons[0].get("confirm").is_none(), "switching asks no confirmation");
    assert!(buttons[1]["confirm"].is_object() && buttons[2]["confirm"].is_object(), "rollback and terminate confirm");
    let text = all_text(&body);
    for needle in [
        "<https://green.orders.example.com>",
        "<https://eu-west-1.console.aws.amazon.com/codesuite/codedeploy/deployments/d-7QX4Z2K9B?region=eu-west-1|d-7QX4Z2K9B>",
        "orders-ecs-bg",
        "123456789012",
        "Next steps",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in {text}");
    }

    // A group that is not configured gets the message but no buttons, and says how to enable them.
    let plain = n[0].to_slack(&MessageDefaults::default());
    assert!(!all_text(&plain).contains("Switch traffic"));
    assert!(all_text(&plain).contains("add it to CODEDEPLOY_DEPLOYMENT_GROUPS"));

    for (file, needle) in
        [("codedeploy-success.json", "✅ Deployment succeeded"), ("codedeploy-failure.json", "❌ Deployment failed")]
    {
        let body = notifications_from_event(&fixture(file)).unwrap()[0].to_slack(&defaults);
        assert!(all_text(&body).contains(needle), "{file}");
        assert!(!all_text(&body).contains("Switch traffic"), "{file}: no buttons once it ended");
    }
    let err = CodeDeploySettings::parse(Some("no-slash"), None).unwrap_err().to_string();
    assert!(err.contains("CODEDEPLOY_DEPLOYMENT_GROUPS") && err.contains("no-slash"), "{err}");
}

fn service(n: &Notification) -> &chatops_shared::notify::ServiceEvent {
    match n {
        Notification::Service(e) => e,
        other => panic!("expected a service notice, got {other:?}"),
    }
}

/// Each AWS source: the facts an on-call engineer reads first, the colour, the console link, and the
/// lifecycle its later events update.
#[test]
fn aws_service_events_show_what_matters_first() {
    use chatops_shared::notify::Severity;
    for (fixture, severity, colour, lifecycle, needles) in [
        (
            "guardduty-finding.json",
            Severity::High,
            "#E01E5A",
            Some("guardduty:arn:aws:guardduty:eu-west-1:123456789012:detector/"),
            &[
                "HIGH (8)",
                "UnauthorizedAccess:EC2/SSHBruteForce",
                "Instance i-0a1b2c3d4e5f67890",
                "*Count*\n418",
                "https://eu-west-1.console.aws.amazon.com/guardduty/home?region=eu-west-1#/findings?macros=current&fId=16afba5c5c43e07c9e3e5e2e544e95df",
            ][..],
        ),
        (
            "securityhub-finding.json",
            Severity::High,
            "#E01E5A",
            Some("securityhub:arn:aws:securityhub:eu-west-1:123456789012:subscription/"),
            &[
                "*Compliance*\nFAILED",
                "*Workflow*\nNEW",
                "AwsS3Bucket arn:aws:s3:::orders-exports-prod",
                "securityhub/home?region=eu-west-1#/findings?search=Id%3D",
            ][..],
        ),
        (
            "health-event.json",
            Severity::High,
            "#E01E5A",
            Some("health:arn:aws:health:eu-west-1::event/EC2/"),
            &[
                "EC2: operational issue",
                "AWS_EC2_OPERATIONAL_ISSUE",
                "i-0a1b2c3d4e5f67890, i-0fedcba9876543210",
                "increased API error rates",
                "https://health.aws.amazon.com/health/home#/account/event-log?eventID=arn%3Aaws%3Ahealth",
                "· open ·",
            ][..],
        ),
        (
            "backup-job-failed.json",
            Severity::High,
            "#E01E5A",
            Some("backup:0f0f7b8e-6c2a-4d1f-9b3e-2a1c0d9e8f7a"),
            &[
                "Backup job failed: orders-prod",
                "not in a valid state for a snapshot",
                "*Vault*\nprod-vault",
                "backup/home?region=eu-west-1#/jobs/backup/details/0f0f7b8e",
            ][..],
        ),
        (
            "codepipeline-failed.json",
            Severity::High,
            "#E01E5A",
            Some("codepipeline:orders-release:4e1c9b2a-7d3f-4a5e-8b6c-9d0e1f2a3b4c"),
            &[
                "Pipeline orders-release failed",
                "codesuite/codepipeline/pipelines/orders-release/executions/4e1c9b2a-7d3f-4a5e-8b6c-9d0e1f2a3b4c/timeline?region=eu-west-1",
            ][..],
        ),
        (
            "ecs-task-stopped.json",
            Severity::High,
            "#E01E5A",
            Some("ecs:arn:aws:ecs:eu-west-1:123456789012:task/prod/9e8f7a6b5c4d4e3f8a1b2c3d4e5f6a7b"),
            &[
                "Task stopped: orders-api",
                "api: exit 137 (OutOfMemoryError",
                "log-router: exit 0",
                "orders-api:42",
                "ecs/v2/clusters/prod/tasks/9e8f7a6b5c4d4e3f8a1b2c3d4e5f6a7b",
            ][..],
        ),
        (
            "cloudformation-rollback.json",
            Severity::High,
            "#E01E5A",
            Some(
                "cloudformation:arn:aws:cloudformation:eu-west-1:123456789012:stack/orders-prod/2b0f5c10-8a1e-11ef-9c3d-0a1b2c3d4e5f:Console-UpdateStack-",
            ),
            &[
                "Stack orders-prod: UPDATE_ROLLBACK_IN_PROGRESS",
                "failed to update: [OrdersFunction]",
                "cloudformation/home?region=eu-west-1#/stacks/events?stackId=arn%3Aaws%3Acloudformation",
            ][..],
        ),
        (
            "sns-budgets.json",
            Severity::High,
            "#E01E5A",
            None,
            &[
                "Budget monthly-aws: over threshold",
                "greater than $8,000.00",
                "*Now*\n$8,412.37",
                "*Account*\n123456789012",
                "https://us-east-1.console.aws.amazon.com/costmanagement/home#/budgets",
            ][..],
        ),
    ] {
        let (n, bodies) = render(fixture);
        let e = service(&n[0]);
        assert_eq!(e.severity, severity, "{fixture}");
        assert!(e.routine.is_none(), "{fixture}: {:?}", e.routine);
        assert_eq!(bodies[0]["attachments"][0]["color"], colour, "{fixture}");
        match (lifecycle, n[0].lifecycle_key()) {
            (Some(prefix), Some(key)) => assert!(key.key.starts_with(prefix), "{fixture}: {}", key.key),
            (None, None) => {}
            (want, got) => panic!("{fixture}: lifecycle {want:?}, got {got:?}"),
        }
        let text = all_text(&bodies[0]);
        for needle in needles {
            assert!(text.contains(needle), "{fixture}: missing {needle:?} in\n{text}");
        }
        assert!(n[0].is_alarm_state(), "{fixture}: high severity pages");
    }
}

/// The same event through SNS (an EventBridge rule targeting a topic) reads the same; what is not
/// news is recognised as routine; good news is green and does not page.
#[test]
fn aws_service_events_through_sns_routine_and_good_news() {
    let mut event = fixture("guardduty-finding.json");
    let sns = json!({"Records": [{"Sns": {"MessageId": "m-1", "TopicArn": "arn:aws:sns:eu-west-1:123456789012:security",
        "Message": event.to_string(), "Timestamp": "2026-11-20T09:41:13.000Z"}}]});
    let via_sns = notifications_from_event(&sns).unwrap();
    assert_eq!(via_sns, notifications_from_event(&event).unwrap());

    // A PascalCase copy of a finding (the API's shape) reads the same.
    let pascal: serde_json::Map<String, Value> = event["detail"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k[..1].to_uppercase() + &k[1..], v.clone()))
        .collect();
    event["detail"] = Value::Object(pascal);
    assert_eq!(service(&notifications_from_event(&event).unwrap()[0]).title, service(&via_sns[0]).title);

    // A low finding (severity 2) is low; a medium one (5.5) medium.
    for (score, want) in [(2.0, "LOW"), (5.5, "MEDIUM"), (9.0, "CRITICAL")] {
        let mut e = fixture("guardduty-finding.json");
        e["detail"]["severity"] = json!(score);
        assert_eq!(service(&notifications_from_event(&e).unwrap()[0]).status, want);
    }

    // ECS: a task stopped by a deployment, a running task and a clean batch exit are routine.
    let stopped = fixture("ecs-task-stopped.json");
    for (change, routine) in [
        (
            json!({"stopCode": "ServiceSchedulerInitiated", "stoppedReason": "Scaling activity initiated by (deployment ecs-svc/123)", "containers": [{"name": "api", "exitCode": 143}]}),
            true,
        ),
        (json!({"lastStatus": "RUNNING"}), true),
        (
            json!({"stoppedReason": "Essential container in task exited", "containers": [{"name": "job", "exitCode": 0}]}),
            true,
        ),
        (
            json!({"stopCode": "ServiceSchedulerInitiated", "stoppedReason": "Task failed ELB health checks in (target-group arn:...)", "containers": [{"name": "api", "exitCode": 143}]}),
            false,
        ),
        (
            json!({"stopCode": "TaskFailedToStart", "stoppedReason": "CannotPullContainerError: pull access denied", "containers": [{"name": "api"}]}),
            false,
        ),
    ] {
        let mut e = stopped.clone();
        for (k, v) in change.as_object().unwrap() {
            e["detail"][k] = v.clone();
        }
        let n = notifications_from_event(&e).unwrap();
        assert_eq!(service(&n[0]).routine.is_some(), routine, "{change}: {:?}", service(&n[0]).routine);
    }

    // CloudFormation: progress is routine, a completed update green, a failed rollback critical.
    for (status, routine, severity) in [
        ("UPDATE_IN_PROGRESS", true, chatops_shared::notify::Severity::Info),
        ("UPDATE_COMPLETE", false, chatops_shared::notify::Severity::Good),
        ("UPDATE_ROLLBACK_FAILED", false, chatops_shared::notify::Severity::Critical),
    ] {
        let mut e = fixture("cloudformation-rollback.json");
        e["detail"]["status-details"]["status"] = json!(status);
        let n = notifications_from_event(&e).unwrap();
        let s = service(&n[0]);
        assert_eq!((s.routine.is_some(), s.severity), (routine, severity), "{status}");
        assert_eq!(n[0].is_alarm_state(), severity.is_urgent(), "{status}");
    }

    // An archived GuardDuty finding: green, and never filtered away by the minimum severity.
    let mut e = fixture("guardduty-finding.json");
    e["detail"]["service"]["archived"] = json!(true);
    let n = notifications_from_event(&e).unwrap();
    assert_eq!((service(&n[0]).status.as_str(), service(&n[0]).finding), ("ARCHIVED", false));
    assert!(!n[0].is_alarm_state());

    // A Security Hub finding that passed is good news: green, not a finding to filter, no page.
    let mut e = fixture("securityhub-finding.json");
    e["detail"]["findings"][0]["Compliance"]["Status"] = json!("PASSED");
    let n = notifications_from_event(&e).unwrap();
    let body = n[0].to_slack(&MessageDefaults::default());
    assert_eq!(body["attachments"][0]["color"], "#2EB67D");
    assert!(!n[0].is_alarm_state() && !service(&n[0]).finding);

    // A Backup vault notification through SNS: text with message attributes.
    let sns = json!({"Records": [{"Sns": {"MessageId": "m-2", "TopicArn": "arn:aws:sns:eu-west-1:123456789012:backup",
        "Subject": "Notification from AWS Backup",
        "Message": "An AWS Backup job was completed successfully. Recovery point ARN: arn:aws:ec2:eu-west-1::snapshot/snap-1. BackupJob ID : 1b2345b2",
        "Timestamp": "2026-11-22T02:46:02.788Z",
        "MessageAttributes": {"EventType": {"Type": "String", "Value": "BACKUP_JOB"}, "State": {"Type": "String", "Value": "COMPLETED"},
            "AccountId": {"Type": "String", "Value": "123456789012"}, "Id": {"Type": "String", "Value": "1b2345b2"}}}}]});
    let n = notifications_from_event(&sns).unwrap();
    let s = service(&n[0]);
    assert_eq!((s.title.as_str(), s.status.as_str()), ("Backup job completed", "COMPLETED"));
    assert_eq!(
        s.console_url.as_deref(),
        Some("https://eu-west-1.console.aws.amazon.com/backup/home?region=eu-west-1#/jobs/backup/details/1b2345b2")
    );

    // An event of a known source but an unknown type keeps the generic notice.
    let mut e = fixture("guardduty-finding.json");
    e["detail-type"] = json!("GuardDuty Runtime Protection Unhealthy");
    assert!(matches!(notifications_from_event(&e).unwrap()[0], Notification::Generic(_)));
}

/// The same notifications for Mattermost, Teams and Discord: a snapshot of each payload, and the facts
/// that must survive the translation (the link, the state, the colour, no Slack markup left).
#[test]
fn other_platforms_render_the_same_message() {
    use chatops_shared::chat::Platform;
    use chatops_shared::notify::Extras;
    for name in ["sns-alarm-metric.json", "guardduty-finding.json", "codedeploy-ready.json", "sns-plain-text.json"] {
        let n = notifications_from_event(&fixture(name)).unwrap().remove(0);
        let extras = Extras { mention: Some("<!here>".into()), note: None, ..Extras::default() };
        for platform in [Platform::Mattermost, Platform::Teams, Platform::Discord] {
            let body = n.render_for(platform, &MessageDefaults::default(), &extras);
            insta::assert_json_snapshot!(format!("{}.{}", name.trim_end_matches(".json"), platform.as_str()), body);
            let text = all_text(&body);
            assert!(
                !text.contains("&lt;") && !text.contains("&gt;") && !text.contains("<!date^"),
                "{platform:?} {name}: {text}"
            );
            assert!(!text.contains("|Open in"), "{platform:?} {name}: Slack link syntax left in {text}");
        }
    }
    let n = notifications_from_event(&fixture("sns-alarm-metric.json")).unwrap().remove(0);
    let discord = n.render_for(Platform::Discord, &MessageDefaults::default(), &Extras::default());
    assert_eq!(discord["embeds"][0]["color"], 0xE01E5A);
    assert_eq!(discord["embeds"][0]["title"], "🔴 ALARM: api-high-cpu");
    let description = discord["embeds"][0]["description"].as_str().unwrap();
    assert!(description.contains("[Open in the CloudWatch console](https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1#alarmsV2:alarm/api-high-cpu)"), "{description}");
    assert!(description.contains("<t:1795167667:f>") || all_text(&discord).contains("<t:"), "{discord}");
    assert_eq!(discord["allowed_mentions"]["parse"], json!([]), "no ping without a route's mention");
    let teams = n.render_for(Platform::Teams, &MessageDefaults::default(), &Extras::default());
    let card = &teams["attachments"][0]["content"];
    assert_eq!(card["body"][0]["style"], "attention");
    let facts = card["body"].as_array().unwrap().iter().find(|b| b["type"] == "FactSet").unwrap();
    assert!(
        facts["facts"].as_array().unwrap().iter().any(|f| f["title"] == "Account" && f["value"] == "123456789012"),
        "{facts}"
    );
    let mm = n.render_for(Platform::Mattermost, &MessageDefaults::default(), &Extras::default());
    assert_eq!(mm["attachments"][0]["color"], "#E01E5A");
    assert_eq!(mm["attachments"][0]["title"], "🔴 ALARM: api-high-cpu");
    assert!(mm["attachments"][0]["fields"].as_array().unwrap().iter().any(|f| f["title"] == "Account"));
}

/// Alertmanager's webhook body (what `POST /alertmanager` receives): firing, then resolved, one
/// lifecycle; a snapshot of each.
#[test]
fn alertmanager_groups_list_their_alerts_and_resolve_on_one_lifecycle() {
    use chatops_shared::notify::AlertGroup;
    let read = |name: &str| {
        let body =
            std::fs::read(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../events").join(name)).unwrap();
        Notification::Alertmanager(Box::new(AlertGroup::parse(&body).unwrap()))
    };
    let firing = read("alertmanager-firing.json");
    let resolved = read("alertmanager-resolved.json");
    for (name, n) in [("alertmanager-firing", &firing), ("alertmanager-resolved", &resolved)] {
        insta::assert_json_snapshot!(name, n.to_slack(&MessageDefaults::default()));
    }
    assert_eq!(firing.lifecycle_key(), resolved.lifecycle_key());
    assert!(firing.lifecycle_key().unwrap().key.starts_with("alertmanager:"));
    assert_eq!((firing.state(), resolved.state()), ("FIRING", "RESOLVED"));
    assert!(firing.is_alarm_state() && !resolved.is_alarm_state());
    assert!(resolved.changed_at_ms() > firing.changed_at_ms());
    let body = firing.to_slack(&MessageDefaults::default());
    assert_eq!(body["attachments"][0]["color"], "#E01E5A");
    let text = all_text(&body);
    for needle in [
        "🔥 FIRING: HighRequestLatency (2)",
        "*orders-api p99 latency above 1 s*",
        "`severity=critical`",
        "`team=payments`",
        "`instance=orders-api-7c9f8b6d4-2xkqp:8080`",
        "p99 latency is 2.41 s",
        "|source>",
        "<https://runbooks.example.com/payments/high-latency|Runbook>",
        "<http://alertmanager.example.com:9093/#/alerts|Alertmanager>",
        "http://alertmanager.example.com:9093/#/silences/new?filter=%7Balertname%3D%22HighRequestLatency%22",
        "since <!date^",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }
    let resolved_body = resolved.to_slack(&MessageDefaults::default());
    assert_eq!(resolved_body["attachments"][0]["color"], "#2EB67D");
    assert!(!all_text(&resolved_body).contains("Silence"), "no silence link for a resolved group");
    // Routing by labels: the team's rule, with its mention only while firing.
    let routes = chatops_shared::notify::routing::Routes::parse(
        Some(r#"[{"labels": {"team": "payments", "severity": "crit*"}, "channel": "C0PAY", "mention": "<!subteam^S0PAY>"}]"#),
        Some("C0DEFAULT".into()),
    )
    .unwrap();
    let r = routes.route(&firing.route_key(None));
    assert_eq!((r.channel.as_deref(), r.mention.as_deref()), (Some("C0PAY"), Some("<!subteam^S0PAY>")));
    let r = routes.route(&resolved.route_key(None));
    assert_eq!((r.channel.as_deref(), r.mention), (Some("C0PAY"), None));
    let mut other = AlertGroup::parse(
        &std::fs::read(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../events/alertmanager-firing.json"))
            .unwrap(),
    )
    .unwrap();
    other.common_labels.insert("team".into(), "search".into());
    assert_eq!(
        routes.route(&Notification::Alertmanager(Box::new(other)).route_key(None)).channel.as_deref(),
        Some("C0DEFAULT")
    );
}
