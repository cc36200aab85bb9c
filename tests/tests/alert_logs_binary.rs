//! [Show logs] on the built binaries over the Lambda Runtime API: the notifier puts the button on an
//! alarm whose logs are known (a Lambda function's alarm, or `ALARM_LOG_GROUPS`); slack-command runs the
//! Logs Insights queries (moto's CloudWatch Logs, or a stand-in whose query takes longer than Slack's
//! 3 s), posts the lines in the alarm's thread, and answers the click. The policy decides who may.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use chatops_tests::logs_standin::LogsStandIn;
use chatops_tests::slack_api_standin::SlackApiStandIn;
use chatops_tests::slack_requests::{Shape, event_at, interaction_body, signed_headers};
use chatops_tests::slack_standin::SlackStandIn;
use chatops_tests::{Container, Moto, RuntimeApi, from_account, sns_alarm};
use serde_json::{Value, json};

const SECRET: &str = "alert-logs-signing-secret-7";
const BOT: &str = "xoxb-alert-logs-token";
const TEAM: &str = "T0123ABCD";
const ALERTS: &str = "C0ALERTS";

fn now_s() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

fn sns_time(epoch_s: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(epoch_s).unwrap();
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.000+0000",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// An alarm on a Lambda function's `Errors`, changed at `at`.
fn lambda_alarm(name: &str, function: &str, at: i64, id: &str) -> Value {
    let mut event = sns_alarm(name, "ALARM", "OK", &sns_time(at), id, "alarms");
    let record = &mut event["Records"][0]["Sns"];
    let mut message: Value = serde_json::from_str(record["Message"].as_str().unwrap()).unwrap();
    message["Trigger"]["Namespace"] = json!("AWS/Lambda");
    message["Trigger"]["MetricName"] = json!("Errors");
    message["Trigger"]["Dimensions"] = json!([{"name": "FunctionName", "value": function}]);
    record["Message"] = json!(message.to_string());
    event
}

struct Stack {
    slack: SlackApiStandIn,
    hooks: SlackStandIn,
    notifier: Container,
    table: String,
}

async fn stack(extra: &[(&'static str, &str)]) -> Stack {
    let moto = Moto::shared();
    let table = moto.create_state_table().await;
    let slack = SlackApiStandIn::start(BOT).await;
    let hooks = SlackStandIn::start().await;
    let mut env = moto.env();
    env.extend([
        ("SLACK_BOT_TOKEN", BOT.to_owned()),
        ("SLACK_API_URL", slack.url()),
        ("SLACK_CHANNEL", ALERTS.to_owned()),
        ("STATE_TABLE", table.clone()),
    ]);
    env.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
    let notifier = Container::start("alarm-to-slack", &env).await;
    Stack { slack, hooks, notifier, table }
}

impl Stack {
    async fn command(&self, extra: &[(&'static str, String)]) -> Container {
        let mut env = Moto::shared().env();
        env.extend([
            ("SLACK_SIGNING_SECRET", SECRET.to_owned()),
            ("SLACK_BOT_TOKEN", BOT.to_owned()),
            ("SLACK_API_URL", self.slack.url()),
            ("STATE_TABLE", self.table.clone()),
        ]);
        env.extend(extra.iter().cloned());
        Container::start("slack-command", &env).await
    }

    /// Clicks `action` with `value` on the message `ts` as `user`: what the response_url got, and how
    /// long the request took.
    async fn click(
        &self,
        runtime: &RuntimeApi,
        ts: &str,
        (action, value): (&str, &str),
        user: &str,
    ) -> (Value, Duration) {
        static CLICKS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(5000);
        let n = CLICKS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = format!("/actions/{user}/{n}");
        let message = self.slack.message(ALERTS, ts).expect("the message");
        let payload = json!({
            "type": "block_actions", "team": {"id": TEAM}, "user": {"id": user, "username": user.to_lowercase(), "team_id": TEAM},
            "channel": {"id": ALERTS, "name": "alerts"},
            "container": {"type": "message", "message_ts": ts, "channel_id": ALERTS},
            "response_url": self.hooks.url(&path),
            "message": {"type": "message", "ts": ts, "text": message.text(), "attachments": message.body["attachments"]},
            "actions": [{"type": "button", "action_id": action, "block_id": "alert-actions", "value": value,
                         "action_ts": format!("1700000000.{n:06}")}]
        });
        let body = interaction_body(&payload);
        let headers = signed_headers(SECRET, &now_s().to_string(), body.as_bytes());
        let started = Instant::now();
        let response =
            runtime.invoke(&event_at(Shape::HttpApi, "/slack/interactions", "", &headers, &body, false)).await;
        let took = started.elapsed();
        assert_eq!(response.response_json()["statusCode"], 200);
        for _ in 0..300 {
            if let Some(got) = self.hooks.received().into_iter().find(|r| r.path == path) {
                return (got.json(), took);
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("no response_url answer for {action}");
    }
}

fn button_value(message: &chatops_tests::slack_api_standin::StoredMessage, action: &str) -> Option<String> {
    message.button(action).and_then(|b| b["value"].as_str().map(str::to_owned))
}

#[tokio::test(flavor = "multi_thread")]
async fn show_logs_puts_the_error_lines_first_in_the_thread_for_whom_the_policy_lets() {
    let moto = Moto::shared();
    let function = format!("orders-api-{}", std::process::id());
    let at = now_s();
    // 24 lines in the alarm's window, two of them errors in the middle, and one long before. (moto runs
    // `fields`, `sort` and `limit` but not `filter`: the error query's own filter is checked in the next test.)
    let mut events: Vec<(i64, String)> = vec![((at - 86_400) * 1000, "ERROR yesterday's problem".to_owned())];
    for i in 0..24 {
        let message = match i {
            12 => "ERROR payment provider timed out after 3000 ms".to_owned(),
            13 => "Traceback (most recent call last): KeyError 'amount'".to_owned(),
            _ => format!("GET /orders/{i} 200 12ms"),
        };
        events.push(((at - 400 + i * 10) * 1000, message));
    }
    moto.create_log_group(&format!("/aws/lambda/{function}"), &events).await;
    let s = stack(&[]).await;
    let policy = json!({"rules": [{"name": "oncall-logs", "actions": ["alert:logs"], "requesters": ["U0ALICE"]}]});
    let command = s.command(&[("CHATOPS_POLICY", policy.to_string())]).await;

    assert_eq!(
        s.notifier.runtime.invoke(&lambda_alarm("orders-errors", &function, at, "l-1")).await.response_json(),
        json!({"delivered": 1})
    );
    let message = s.slack.channel(ALERTS)[0].clone();
    let value = button_value(&message, "alert:logs").expect("a [Show logs] button");
    let button: Value = serde_json::from_str(&value).unwrap();
    assert_eq!(button["f"], json!(function));
    assert!(button["s"].as_i64().unwrap() < at - 400 && button["e"].as_i64().unwrap() > at, "{button}");

    // Someone the policy does not name: refused, nothing posted.
    let (refused, _) = s.click(&command.runtime, &message.ts, ("alert:logs", &value), "U0EVE").await;
    assert!(refused.to_string().contains("oncall-logs"), "{refused}");
    assert!(s.slack.thread(ALERTS, &message.ts).is_empty());

    let (answer, took) = s.click(&command.runtime, &message.ts, ("alert:logs", &value), "U0ALICE").await;
    assert!(took < Duration::from_secs(3), "answered within Slack's 3 s: {took:?}");
    assert!(answer.to_string().contains("are in its thread"), "{answer}");
    assert_eq!(answer["response_type"], "ephemeral");
    let thread = s.slack.thread(ALERTS, &message.ts);
    assert_eq!(thread.len(), 1, "one reply with the lines");
    let reply = &thread[0].body;
    let code = reply["blocks"][1]["text"]["text"].as_str().unwrap();
    let lines: Vec<&str> = code.trim_matches('`').lines().collect();
    assert_eq!(lines.len(), 20, "{code}");
    assert!(
        lines[0].contains("Traceback") && lines[1].contains("ERROR payment provider"),
        "errors first, newest first: {code}"
    );
    assert!(!code.contains("yesterday"), "only the alarm's window");
    assert_eq!(code.matches("ERROR payment").count(), 1, "each line once");
    let foot = reply["blocks"][2]["elements"][0]["text"].as_str().unwrap();
    assert!(foot.contains("console.aws.amazon.com/cloudwatch/home?region=eu-west-1#logsV2:logs-insights"), "{foot}");
    let audit: Vec<Value> =
        command.process.json_logs().into_iter().filter(|l| l["fields"]["kind"] == "audit").collect();
    assert!(
        audit.iter().any(|l| l["fields"]["resource"] == "orders-errors" && l["fields"]["decision"] == "info"),
        "{audit:#?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_query_slower_than_three_seconds_answers_in_time_and_show_results_finishes_it() {
    let at = now_s();
    let rows = vec![
        (format!("{} 10:00:01.000", "2026-12-06"), "ERROR database connection refused".to_owned()),
        (format!("{} 10:00:00.000", "2026-12-06"), "GET /health 200".to_owned()),
    ];
    let logs = LogsStandIn::start(Duration::from_secs(4), rows).await;
    let s = stack(&[]).await;
    let command = s.command(&[("AWS_ENDPOINT_URL_CLOUDWATCH_LOGS", logs.url())]).await;
    s.notifier.runtime.invoke(&lambda_alarm("slow-logs", "billing-api", at, "s-1")).await;
    let message = s.slack.channel(ALERTS)[0].clone();
    let value = button_value(&message, "alert:logs").unwrap();
    let (answer, took) = s.click(&command.runtime, &message.ts, ("alert:logs", &value), "U0ALICE").await;
    assert!(took < Duration::from_secs(3), "{took:?}");
    assert!(answer.to_string().contains("still running"), "{answer}");
    let queries = logs.queries();
    assert_eq!(queries.len(), 2, "the errors and the latest lines");
    assert_eq!(queries[0]["logGroupNames"], json!(["/aws/lambda/billing-api"]));
    assert!(queries.iter().any(|q| q["queryString"].as_str().unwrap().contains("filter @message like")), "{queries:?}");
    assert!(s.slack.thread(ALERTS, &message.ts).is_empty());
    // [Show results] once the query is done.
    let results = answer["blocks"].as_array().unwrap().iter().find(|b| b["type"] == "actions").expect("[Show results]");
    let results_value = results["elements"][0]["value"].as_str().unwrap().to_owned();
    assert_eq!(results["elements"][0]["action_id"], "alert:logs-results");
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let (answer, took) =
        s.click(&command.runtime, &message.ts, ("alert:logs-results", &results_value), "U0ALICE").await;
    assert!(took < Duration::from_secs(3));
    assert!(answer.to_string().contains("are in its thread"), "{answer}");
    assert_eq!(logs.queries().len(), 2, "no new query: the same IDs were read");
    let thread = s.slack.thread(ALERTS, &message.ts);
    assert_eq!(thread.len(), 1);
    assert!(thread[0].all_text().contains("ERROR database connection refused"));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_button_is_there_only_where_the_logs_are_known_and_readable() {
    let at = now_s();
    let s = stack(&[("ALARM_LOG_GROUPS", "api-*=/ecs/api,/ecs/api-worker where level = \"error\"")]).await;
    for (name, id) in [("api-high-cpu", "b-1"), ("db-high-cpu", "b-2")] {
        s.notifier.runtime.invoke(&sns_alarm(name, "ALARM", "OK", &sns_time(at), id, "alarms")).await;
    }
    s.notifier
        .runtime
        .invoke(&from_account(lambda_alarm("other-account-errors", "f", at, "b-3"), "210987654321"))
        .await;
    let find = |name: &str| s.slack.channel(ALERTS).into_iter().find(|m| m.all_text().contains(name)).unwrap();
    assert!(button_value(&find("api-high-cpu"), "alert:logs").is_some(), "mapped by ALARM_LOG_GROUPS");
    assert!(button_value(&find("db-high-cpu"), "alert:logs").is_none(), "logs unknown: no button");
    assert!(button_value(&find("other-account-errors"), "alert:logs").is_none(), "another account: no button");
    // The mapping's groups and filter are what slack-command queries.
    let logs = LogsStandIn::start(Duration::ZERO, Vec::new()).await;
    let command = s
        .command(&[
            ("AWS_ENDPOINT_URL_CLOUDWATCH_LOGS", logs.url()),
            ("ALARM_LOG_GROUPS", "api-*=/ecs/api,/ecs/api-worker where level = \"error\"".to_owned()),
        ])
        .await;
    let message = find("api-high-cpu");
    let value = button_value(&message, "alert:logs").unwrap();
    let (answer, _) = s.click(&command.runtime, &message.ts, ("alert:logs", &value), "U0ALICE").await;
    assert!(answer.to_string().contains("are in its thread"), "{answer}");
    let queries = logs.queries();
    assert_eq!(queries[0]["logGroupNames"], json!(["/ecs/api", "/ecs/api-worker"]));
    assert!(queries[1]["queryString"].as_str().unwrap().contains("| filter level = \"error\""), "{queries:?}");
    assert!(s.slack.thread(ALERTS, &message.ts)[0].all_text().contains("No log lines"));

    // SHOW_LOGS=false: no button anywhere, and a click on an older one is refused without a query.
    let off = stack(&[("SHOW_LOGS", "false"), ("ALARM_LOG_GROUPS", "api-*=/ecs/api")]).await;
    off.notifier.runtime.invoke(&sns_alarm("api-latency", "ALARM", "OK", &sns_time(at), "b-4", "alarms")).await;
    let quiet = off.slack.channel(ALERTS)[0].clone();
    assert!(button_value(&quiet, "alert:logs").is_none());
    let command =
        off.command(&[("AWS_ENDPOINT_URL_CLOUDWATCH_LOGS", logs.url()), ("SHOW_LOGS", "false".to_owned())]).await;
    let (answer, _) = off.click(&command.runtime, &quiet.ts, ("alert:logs", &value), "U0ALICE").await;
    assert!(answer.to_string().contains("Nothing was done"), "{answer}");
    assert_eq!(logs.queries().len(), 2, "no query started");
}
