//! The context at the alert, with both built binaries over the Lambda Runtime API: what slack-command
//! changes (a `/scale`) is recorded once in the state table (moto's DynamoDB), and a new ALARM message of
//! the same account, or routed to the channel it was made in, shows it as a recent change.

use std::time::Duration;

use chatops_tests::slack_requests::{Shape, command_body, event, signed_headers};
use chatops_tests::{Container, Moto, SlackApiStandIn, from_account, sns_alarm};
use serde_json::{Value, json};

const TOKEN: &str = "xoxb-1111-2222-CONTEXTTOKEN";
const SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";

fn now_rfc3339() -> String {
    let now = time::OffsetDateTime::now_utc();
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.000+0000",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second()
    )
}

fn now_s() -> String {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs().to_string()
}

async fn notifier(api: &SlackApiStandIn, table: &str, channel: &str) -> Container {
    let mut env = Moto::shared().env();
    env.extend([
        ("SLACK_BOT_TOKEN", TOKEN.to_owned()),
        ("SLACK_API_URL", api.url()),
        ("SLACK_CHANNEL", channel.to_owned()),
        ("STATE_TABLE", table.to_owned()),
    ]);
    Container::start("alarm-to-slack", &env).await
}

fn context_lines(body: &Value) -> Vec<String> {
    let blocks = body["attachments"][0]["blocks"].as_array().or_else(|| body["blocks"].as_array());
    blocks
        .into_iter()
        .flatten()
        .filter(|b| b["type"] == "context")
        .flat_map(|b| b["elements"].as_array().cloned().unwrap_or_default())
        .filter_map(|e| e["text"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_scale_shows_on_the_next_alarm_of_its_account_and_of_its_channel() {
    let moto = Moto::shared();
    let table = moto.create_state_table().await;
    let group = format!("ctx-web-{}", std::process::id());
    moto.create_group(&group, 1, 9, 4, Some("enabled")).await;
    let mut env = moto.env();
    env.extend([("SLACK_SIGNING_SECRET", SECRET.to_owned()), ("STATE_TABLE", table.clone())]);
    let command = Container::start("slack-command", &env).await;
    // /scale in channel C0123ABCD (the request's channel).
    let body = command_body("/scale", &format!("{group} 6"), "U0BOB", "T0123ABCD");
    let request = event(Shape::HttpApi, &signed_headers(SECRET, &now_s(), body.as_bytes()), body.as_bytes(), false);
    assert_eq!(command.runtime.invoke(&request).await.response_json()["statusCode"], 200);
    assert_eq!(moto.desired_capacity(&group).await, 6);
    let items = moto.items(&table).await;
    let changes: Vec<_> = items.iter().filter(|i| i["pk"].starts_with("changes#") && i["sk"] != "latest").collect();
    let keys: Vec<&str> = changes.iter().map(|i| i["pk"].as_str()).collect();
    assert_eq!(keys.len(), 2, "under its account and its channel, once each: {changes:#?}");
    // Each scope's `latest` holds it too: what the notifier reads, one GetItem each.
    let latest: Vec<_> = items.iter().filter(|i| i["pk"].starts_with("changes#") && i["sk"] == "latest").collect();
    assert_eq!(latest.len(), 2, "{latest:#?}");
    assert!(latest.iter().all(|i| i["c0"].contains("4 → 6") && i["c1"].is_empty()), "{latest:#?}");
    assert!(keys.contains(&"changes#123456789012") && keys.contains(&"changes#channel#C0123ABCD"), "{keys:?}");

    let api = SlackApiStandIn::start(TOKEN).await;
    // Same account, another channel: shown (by account).
    let own = notifier(&api, &table, "C0ALARMS").await;
    let fired = sns_alarm("web-5xx", "ALARM", "OK", &now_rfc3339(), "ctx-1", "cloudwatch-alarms");
    assert_eq!(own.runtime.invoke(&fired).await.response_json(), json!({"delivered": 1}));
    let message = &api.channel("C0ALARMS")[0];
    let line =
        context_lines(&message.body).into_iter().find(|l| l.starts_with("🔧 Recent changes")).unwrap_or_default();
    assert!(
        line.contains(&format!("{group} 4 → 6 by <@U0BOB>")) && line.contains("min ago"),
        "{line:?}\n{:#}",
        message.body
    );

    // Another account routed to the channel where the change was made: shown (by channel).
    let there = notifier(&api, &table, "C0123ABCD").await;
    let other = from_account(sns_alarm("db-cpu", "ALARM", "OK", &now_rfc3339(), "ctx-2", "t"), "210987654321");
    assert_eq!(there.runtime.invoke(&other).await.response_json(), json!({"delivered": 1}));
    let message = &api.channel("C0123ABCD")[0];
    assert!(context_lines(&message.body).iter().any(|l| l.contains(&format!("{group} 4 → 6"))), "{:#}", message.body);

    // Another account in another channel: nothing of it. An OK shows no changes either.
    let elsewhere =
        from_account(sns_alarm("cache-evictions", "ALARM", "OK", &now_rfc3339(), "ctx-3", "t"), "210987654321");
    assert_eq!(own.runtime.invoke(&elsewhere).await.response_json(), json!({"delivered": 1}));
    let message = api.channel("C0ALARMS").into_iter().find(|m| m.all_text().contains("cache-evictions")).unwrap();
    assert!(!message.all_text().contains("Recent changes"), "{:#}", message.body);
    let resolved = sns_alarm("web-5xx", "OK", "ALARM", &now_rfc3339(), "ctx-4", "cloudwatch-alarms");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(own.runtime.invoke(&resolved).await.response_json(), json!({"delivered": 1}));
    let message = api.channel("C0ALARMS").into_iter().find(|m| m.all_text().contains("web-5xx")).unwrap();
    assert!(!message.all_text().contains("Recent changes"), "an OK is not a new alarm: {:#}", message.body);

    // An alarm that fired before the change: the change is not "what changed before it".
    let earlier = sns_alarm("old-alarm", "ALARM", "OK", "2026-11-20T09:00:00.000+0000", "ctx-5", "t");
    assert_eq!(own.runtime.invoke(&earlier).await.response_json(), json!({"delivered": 1}));
    let message = api.channel("C0ALARMS").into_iter().find(|m| m.all_text().contains("old-alarm")).unwrap();
    assert!(!message.all_text().contains("Recent changes"), "{:#}", message.body);
}
