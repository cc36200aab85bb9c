//! One stack for many accounts (#24), on the built `alarm-to-slack` binary over the Lambda Runtime API:
//! account names from `ACCOUNT_NAMES` and from AWS Organizations (moto's), an Organizations that fails or
//! stalls, routes that match an account by name, and the metrics each invocation writes as CloudWatch
//! Embedded Metric Format lines, read back and checked against what happened.

use std::time::{Duration, Instant};

use chatops_tests::{ApiReply, Container, FunctionProcess, Moto, SlackApiStandIn, from_account, sns_alarm};
use serde_json::{Value, json};

const TOKEN: &str = "xoxb-1111-2222-SECRETTOKEN";

async fn container(env: &[(&str, String)]) -> Container {
    Container::start("alarm-to-slack", env).await
}

fn env(api: &SlackApiStandIn, extra: &[(&'static str, String)]) -> Vec<(&'static str, String)> {
    let mut env = Moto::shared().env();
    env.extend([
        ("SLACK_BOT_TOKEN", TOKEN.to_owned()),
        ("SLACK_API_URL", api.url()),
        ("SLACK_CHANNEL", "C0ALARMS".to_owned()),
    ]);
    env.extend(extra.iter().cloned());
    env
}

/// An SNS alarm notification from an alarm in `account`.
fn alarm_from(account: &str, name: &str, message_id: &str) -> Value {
    let event = sns_alarm(name, "ALARM", "OK", "2026-11-20T09:41:00.000+0000", message_id, "cloudwatch-alarms");
    from_account(event, account)
}

/// Invokes `c` with alarm `alarm-<i>` from `account`; its answer.
async fn invoke(c: &Container, account: &str, i: usize) -> Value {
    c.runtime.invoke(&alarm_from(account, &format!("alarm-{i}"), &format!("o-{i}"))).await.response_json()
}

/// The text of the Account field of the message posted in `channel` for alarm `name`.
fn account_shown(api: &SlackApiStandIn, channel: &str, name: &str) -> String {
    let messages = api.channel(channel);
    let m = messages.iter().find(|m| m.all_text().contains(name)).unwrap_or_else(|| {
        panic!("no message for {name} in {channel}: {:#?}", api.calls());
    });
    let text = m.all_text();
    let at = text.find("*Account*\n").unwrap_or_else(|| panic!("no Account field: {text}"));
    text[at + "*Account*\n".len()..].lines().next().unwrap_or_default().to_owned()
}

/// The EMF lines the process wrote: JSON objects with an `_aws` part.
fn emf_lines(process: &FunctionProcess) -> Vec<Value> {
    process.json_logs().into_iter().filter(|l| l.get("_aws").is_some()).collect()
}

/// Checks that `line` is a well-formed EMF document: every metric its directive names is a number in it,
/// every dimension a string, and the namespace ours.
fn assert_emf(line: &Value) {
    let aws = &line["_aws"];
    assert!(aws["Timestamp"].as_i64().is_some_and(|t| t > 1_700_000_000_000), "{line}");
    let directives = aws["CloudWatchMetrics"].as_array().expect("CloudWatchMetrics");
    assert_eq!(directives.len(), 1, "{line}");
    let d = &directives[0];
    assert_eq!(d["Namespace"], "ChatOps");
    for set in d["Dimensions"].as_array().expect("Dimensions") {
        for dim in set.as_array().expect("a dimension set") {
            assert!(line[dim.as_str().unwrap()].is_string(), "dimension {dim} missing in {line}");
        }
    }
    let metrics = d["Metrics"].as_array().expect("Metrics");
    assert!(!metrics.is_empty());
    for m in metrics {
        let name = m["Name"].as_str().expect("a metric name");
        assert!(line[name].is_number(), "metric {name} missing in {line}");
        assert!(matches!(m["Unit"].as_str(), Some("Count" | "Milliseconds")), "{m}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn account_names_from_the_map_are_shown_and_routed_on_and_the_metrics_say_what_happened() {
    let moto = Moto::shared();
    let table = moto.create_state_table().await;
    let api = SlackApiStandIn::start(TOKEN).await;
    let names = r#"{"210987654321": "payments-prod", "310987654321": "search-dev"}"#;
    let routes = r#"[{"account": "payments-*", "channel": "C0PAYMENTS"}, {"account": "3109*", "channel": "C0SEARCH"}]"#;
    let c = container(&env(
        &api,
        &[("ACCOUNT_NAMES", names.into()), ("SLACK_ROUTES", routes.into()), ("STATE_TABLE", table)],
    ))
    .await;

    // Named and routed by name; named and routed by ID; not named: the bare ID, the default channel.
    let payments = alarm_from("210987654321", "payments-api-5xx", "org-1");
    for (event, summary) in [
        (&payments, json!({"delivered": 1})),
        (&alarm_from("310987654321", "search-latency", "org-2"), json!({"delivered": 1})),
        (&alarm_from("123456789012", "shared-nat", "org-3"), json!({"delivered": 1})),
        // SNS delivers the first one again: skipped.
        (&payments, json!({"delivered": 0, "skipped": 1})),
    ] {
        assert_eq!(c.runtime.invoke(event).await.response_json(), summary);
    }
    assert_eq!(account_shown(&api, "C0PAYMENTS", "payments-api-5xx"), "payments-prod (210987654321)");
    assert_eq!(account_shown(&api, "C0SEARCH", "search-latency"), "search-dev (310987654321)");
    assert_eq!(account_shown(&api, "C0ALARMS", "shared-nat"), "123456789012");

    // Slack answers 429 once: waited out, counted.
    api.script([ApiReply::RateLimited(1)]);
    let inv = c.runtime.invoke(&alarm_from("210987654321", "payments-db-cpu", "org-4")).await;
    assert_eq!(inv.response_json(), json!({"delivered": 1}));

    tokio::time::sleep(Duration::from_millis(200)).await;
    let lines = emf_lines(&c.process);
    assert_eq!(lines.len(), 5, "one EMF line per invocation:\n{}", c.process.output());
    for line in &lines {
        assert_emf(line);
        assert_eq!(line["_aws"]["CloudWatchMetrics"][0]["Dimensions"], json!([["FunctionName"]]));
        assert_eq!(line["FunctionName"], "chatops-test");
        assert_eq!(line["Failed"], 0.0);
        assert!(line["Latency"].as_f64().is_some_and(|ms| ms > 0.0 && ms < 10_000.0), "{line}");
    }
    let series = |name: &str| lines.iter().map(|l| l[name].as_f64().unwrap_or(-1.0)).collect::<Vec<_>>();
    assert_eq!(series("Delivered"), [1.0, 1.0, 1.0, 0.0, 1.0]);
    assert_eq!(series("SkippedDuplicates"), [0.0, 0.0, 0.0, 1.0, 0.0]);
    assert_eq!(series("SlackRateLimited"), [0.0, 0.0, 0.0, 0.0, 1.0]);
    assert_eq!(series("Retries"), [0.0, 0.0, 0.0, 0.0, 1.0]);
    assert_eq!(series("DigestEntries"), [0.0; 5]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_delivery_is_counted_as_failed() {
    let api = SlackApiStandIn::start(TOKEN).await;
    let c = container(&env(&api, &[])).await;
    api.script([ApiReply::Error("channel_not_found")]);
    let inv = c.runtime.invoke(&alarm_from("210987654321", "orders-5xx", "fail-1")).await;
    assert_eq!(inv.error()["errorType"], "SlackDeliveryFailed");
    let inv = c.runtime.invoke(&json!({"something": "else"})).await;
    assert_eq!(inv.error()["errorType"], "UnrecognisedEvent");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let lines = emf_lines(&c.process);
    assert_eq!(lines.len(), 2, "{}", c.process.output());
    for line in &lines {
        assert_emf(line);
        assert_eq!((line["Failed"].as_f64(), line["Delivered"].as_f64()), (Some(1.0), Some(0.0)), "{line}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn names_come_from_organizations_when_the_lookup_is_on() {
    let moto = Moto::shared();
    let member = moto.create_org_account("checkout-prod").await;
    let api = SlackApiStandIn::start(TOKEN).await;
    let routes = r#"[{"account": "checkout-*", "channel": "C0CHECKOUT"}]"#;
    let c = container(&env(
        &api,
        &[
            ("ORGANIZATIONS_LOOKUP", "true".into()),
            ("SLACK_ROUTES", routes.into()),
            // ACCOUNT_NAMES wins over Organizations where it names an account.
            ("ACCOUNT_NAMES", r#"{"123456789012": "platform-shared"}"#.into()),
        ],
    ))
    .await;
    assert_eq!(invoke(&c, &member, 0).await, json!({"delivered": 1}));
    assert_eq!(invoke(&c, "123456789012", 1).await, json!({"delivered": 1}));
    // Organizations forgets the account: this container still knows its name (read once per container)...
    moto.remove_org_account(&member).await;
    assert_eq!(invoke(&c, &member, 2).await, json!({"delivered": 1}));
    assert_eq!(account_shown(&api, "C0CHECKOUT", "alarm-0"), format!("checkout-prod ({member})"));
    assert_eq!(account_shown(&api, "C0ALARMS", "alarm-1"), "platform-shared (123456789012)");
    assert_eq!(account_shown(&api, "C0CHECKOUT", "alarm-2"), format!("checkout-prod ({member})"));
    // ...and a new container asks, is told no, and shows the bare ID in the default channel.
    let fresh =
        container(&env(&api, &[("ORGANIZATIONS_LOOKUP", "true".into()), ("SLACK_ROUTES", routes.into())])).await;
    assert_eq!(invoke(&fresh, &member, 4).await, json!({"delivered": 1}));
    assert_eq!(account_shown(&api, "C0ALARMS", "alarm-4"), member);
    // An account outside the organisation: the bare ID, and said why once.
    let inv = c.runtime.invoke(&alarm_from("999988887777", "alarm-3", "o-3")).await;
    assert_eq!(inv.response_json(), json!({"delivered": 1}));
    assert_eq!(account_shown(&api, "C0ALARMS", "alarm-3"), "999988887777");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let output = c.process.output();
    assert_eq!(output.matches("did not name the account").count(), 1, "{output}");
    assert!(output.contains("AccountNotFoundException"), "{output}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_organizations_failure_or_stall_still_delivers_with_the_bare_id() {
    // A port that refuses connections, and one that accepts and never answers.
    let stalled = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let stalled_url = format!("http://{}", stalled.local_addr().unwrap());
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((socket, _)) = stalled.accept().await {
            open.push(socket);
        }
    });
    for (case, endpoint) in [("refused", "http://127.0.0.1:9".to_owned()), ("stalled", stalled_url)] {
        let api = SlackApiStandIn::start(TOKEN).await;
        let c = container(&env(
            &api,
            &[("ORGANIZATIONS_LOOKUP", "true".into()), ("AWS_ENDPOINT_URL_ORGANIZATIONS", endpoint)],
        ))
        .await;
        for i in 0..2 {
            let started = Instant::now();
            let inv =
                c.runtime.invoke(&alarm_from("210987654321", &format!("{case}-{i}"), &format!("{case}-{i}"))).await;
            assert_eq!(inv.response_json(), json!({"delivered": 1}), "{case}");
            // The lookup's budget is 1 s: the message never waits longer for a name.
            assert!(started.elapsed() < Duration::from_millis(2500), "{case}: {:?}", started.elapsed());
            assert_eq!(account_shown(&api, "C0ALARMS", &format!("{case}-{i}")), "210987654321", "{case}");
        }
    }
    held.abort();
}

#[tokio::test(flavor = "multi_thread")]
async fn the_failure_queue_is_re_driven_once_and_keeps_what_still_fails() {
    let moto = Moto::shared();
    let table = moto.create_state_table().await;
    let api = SlackApiStandIn::start(TOKEN).await;
    let c = container(&env(&api, &[("STATE_TABLE", table)])).await;
    // The alarm fails: Slack refuses it (a channel not found, say). Lambda's on-failure destination would
    // now put the record of this invocation in the failure queue.
    let original = alarm_from("210987654321", "orders-5xx", "redrive-1");
    api.script([ApiReply::Error("channel_not_found")]);
    assert_eq!(c.runtime.invoke(&original).await.error()["errorType"], "SlackDeliveryFailed");
    assert!(api.channel("C0ALARMS").is_empty());

    // The re-drive mapping hands the queue's messages to the function: the record of that invocation, and
    // a message that is no such record.
    let mut batch = chatops_tests::fixture("sqs-failure-queue.json");
    let mut record: Value = serde_json::from_str(batch["Records"][0]["body"].as_str().unwrap()).unwrap();
    record["requestPayload"] = original.clone();
    batch["Records"][0]["body"] = record.to_string().into();
    let mut stray = batch["Records"][0].clone();
    stray["messageId"] = "stray-1".into();
    stray["body"] = "hello".into();
    batch["Records"].as_array_mut().unwrap().push(stray);
    let first_id = batch["Records"][0]["messageId"].as_str().unwrap().to_owned();

    let answer = c.runtime.invoke(&batch).await.response_json();
    assert_eq!(answer, json!({"batchItemFailures": [{"itemIdentifier": "stray-1"}]}), "only the stray stays");
    assert_eq!(api.channel("C0ALARMS").len(), 1, "{:#?}", api.calls());
    assert!(api.channel("C0ALARMS")[0].all_text().contains("orders-5xx"));
    // SQS delivers the batch again (at least once): nothing is posted twice.
    let again = c.runtime.invoke(&batch).await.response_json();
    assert_eq!(again, json!({"batchItemFailures": [{"itemIdentifier": "stray-1"}]}));
    assert_eq!(api.accepted("chat.postMessage").len(), 1, "{:#?}", api.calls());
    tokio::time::sleep(Duration::from_millis(200)).await;
    let output = c.process.output();
    assert!(output.contains(&first_id) && output.contains("re-driven"), "{output}");
}
