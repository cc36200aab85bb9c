//! The built `alarm-to-slack` binary with a bot token and the state table, over the Lambda Runtime API:
//! two processes (two Lambda containers) racing on one notification and on one alarm, the KMS bot token,
//! DynamoDB out of reach, and no secret in the logs. DynamoDB is moto's; Slack is the Web API stand-in.

use std::time::Duration;

use chatops_tests::{ApiReply, Container, Moto, SlackApiStandIn, sns_alarm};
use serde_json::{Value, json};

const TOKEN: &str = "xoxb-1111-2222-SECRETTOKEN";

async fn container(env: &[(&str, String)]) -> Container {
    Container::start("alarm-to-slack", env).await
}

fn env(api: &SlackApiStandIn, table: &str, extra: &[(&'static str, &str)]) -> Vec<(&'static str, String)> {
    let mut env = Moto::shared().env();
    env.extend([
        ("SLACK_BOT_TOKEN", TOKEN.to_owned()),
        ("SLACK_API_URL", api.url()),
        ("SLACK_CHANNEL", "C0ALARMS".to_owned()),
        ("STATE_TABLE", table.to_owned()),
    ]);
    env.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
    env
}

fn alarm(name: &str, state: &str, old: &str, minute: u32, id: &str) -> Value {
    sns_alarm(name, state, old, &format!("2026-11-20T09:{minute:02}:00.000+0000"), id, "cloudwatch-alarms")
}

#[tokio::test(flavor = "multi_thread")]
async fn two_containers_given_the_same_notification_post_it_once() {
    let moto = Moto::shared();
    let table = moto.create_state_table().await;
    let api = SlackApiStandIn::start(TOKEN).await;
    let a = container(&env(&api, &table, &[])).await;
    let b = container(&env(&api, &table, &[])).await;
    for round in 0..3 {
        // Slack is slow to answer the first post, so the second container arrives while it is in flight.
        api.script([ApiReply::Slow(Duration::from_millis(300))]);
        let event = alarm(&format!("orders-5xx-{round}"), "ALARM", "OK", 0, &format!("same-{round}"));
        let (ra, rb) = tokio::join!(a.runtime.invoke(&event), b.runtime.invoke(&event));
        let mut summaries = vec![ra.response_json(), rb.response_json()];
        summaries.sort_by_key(|s| s["delivered"].as_i64());
        assert_eq!(summaries, [json!({"delivered": 0, "skipped": 1}), json!({"delivered": 1})], "round {round}");
    }
    assert_eq!(api.accepted("chat.postMessage").len(), 3, "{:#?}", api.calls());
    assert_eq!(api.channel("C0ALARMS").len(), 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn two_containers_on_one_alarm_make_one_message_that_ends_in_the_latest_state() {
    let moto = Moto::shared();
    let table = moto.create_state_table().await;
    let api = SlackApiStandIn::start(TOKEN).await;
    let a = container(&env(&api, &table, &[])).await;
    let b = container(&env(&api, &table, &[])).await;
    for round in 0..3 {
        api.script([ApiReply::Slow(Duration::from_millis(200))]);
        let name = format!("payments-latency-{round}");
        let fired = alarm(&name, "ALARM", "OK", 0, &format!("fired-{round}"));
        let resolved = alarm(&name, "OK", "ALARM", 7, &format!("resolved-{round}"));
        let (ra, rb) = tokio::join!(a.runtime.invoke(&fired), b.runtime.invoke(&resolved));
        assert_eq!(ra.response_json(), json!({"delivered": 1}));
        assert_eq!(rb.response_json(), json!({"delivered": 1}));
    }
    let messages = api.channel("C0ALARMS");
    assert_eq!(messages.len(), 3, "one message per alarm: {:#?}", api.calls());
    for m in &messages {
        // Whichever container went first, the message shows the later state and the thread the other.
        assert_eq!(m.color(), Some("#2EB67D"), "{}", m.all_text());
        assert_eq!(api.thread("C0ALARMS", &m.ts).len(), 1);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn kms_bot_token_lifecycle_routes_and_no_secret_in_the_log() {
    let moto = Moto::shared();
    let key = moto.create_key().await;
    let table = moto.create_state_table().await;
    let api = SlackApiStandIn::start(TOKEN).await;
    // Lambda sets AWS_LAMBDA_FUNCTION_NAME=chatops-test in the emulated environment.
    let ciphertext = moto.encrypt(&key, TOKEN, Some("chatops-test")).await;
    let routes = r#"[{"alarm": "payments-*", "channel": "C0PAYMENTS", "mention": "<!subteam^S0PAYONCALL>"}]"#;
    let mut vars = env(&api, &table, &[("SLACK_ROUTES", routes)]);
    vars.retain(|(k, _)| *k != "SLACK_BOT_TOKEN");
    vars.push(("KMS_ENCRYPTED_SLACK_BOT_TOKEN", ciphertext.clone()));
    let c = container(&vars).await;
    for (state, old, minute, id) in [("ALARM", "OK", 0, "k-1"), ("OK", "ALARM", 12, "k-2"), ("ALARM", "OK", 20, "k-3")]
    {
        let inv = c.runtime.invoke(&alarm("payments-api", state, old, minute, id)).await;
        assert_eq!(inv.response_json(), json!({"delivered": 1}), "{state} at {minute}");
    }
    let messages = api.channel("C0PAYMENTS");
    assert_eq!(messages.len(), 1);
    let thread = api.thread("C0PAYMENTS", &messages[0].ts);
    assert_eq!(thread.len(), 2);
    assert!(thread[0].text().contains("OK* after 12 min"), "{}", thread[0].text());
    assert!(thread[1].text().starts_with("<!subteam^S0PAYONCALL> 🔴 *ALARM* again"), "{}", thread[1].text());
    tokio::time::sleep(Duration::from_millis(200)).await;
    let logs = c.process.json_logs();
    let outcomes: Vec<(&str, &str)> = logs
        .iter()
        .filter(|l| l["fields"]["outcome"] == "delivered")
        .map(|l| (l["fields"]["action"].as_str().unwrap_or(""), l["fields"]["channel"].as_str().unwrap_or("")))
        .collect();
    assert_eq!(outcomes, [("posted", "C0PAYMENTS"), ("updated", "C0PAYMENTS"), ("updated", "C0PAYMENTS")]);
    let output = c.process.output();
    assert!(
        !output.contains("SECRETTOKEN") && !output.contains(&ciphertext[..40]),
        "a secret reached the log:\n{output}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn dynamodb_out_of_reach_still_delivers_and_says_so_once_per_invocation() {
    let api = SlackApiStandIn::start(TOKEN).await;
    let mut vars = env(&api, "chatops-state", &[("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:9")]);
    vars.push(("RUST_LOG", "info".to_owned()));
    let c = container(&vars).await;
    let inv = c.runtime.invoke(&chatops_tests::fixture("sns-batch.json")).await;
    assert_eq!(inv.response_json(), json!({"delivered": 3}));
    assert_eq!(api.top_level().len(), 3);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let warnings = c
        .process
        .json_logs()
        .into_iter()
        .filter(|l| l["fields"]["message"].as_str().is_some_and(|m| m.starts_with("state table unavailable")))
        .count();
    assert_eq!(warnings, 1, "{}", c.process.output());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_route_set_fails_every_invocation_naming_the_rule() {
    let api = SlackApiStandIn::start(TOKEN).await;
    let c =
        container(&env(&api, "t", &[("SLACK_ROUTES", r#"[{"channel": "C1"}, {"alarm": "x", "chanel": "C2"}]"#)])).await;
    let inv = c.runtime.invoke(&alarm("a", "ALARM", "OK", 0, "bad-1")).await;
    assert_eq!(inv.error()["errorType"], "ConfigError");
    let msg = inv.error()["errorMessage"].as_str().unwrap();
    assert!(msg.contains("SLACK_ROUTES") && msg.contains("rule 2") && msg.contains("chanel"), "{msg}");
    assert!(api.calls().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn webhook_mode_takes_the_mentions_ignores_the_channels_says_so_once_and_still_posts_once() {
    let moto = Moto::shared();
    let table = moto.create_state_table().await;
    let slack = chatops_tests::SlackStandIn::start().await;
    let mut vars = moto.env();
    vars.extend([
        ("SLACK_WEBHOOK_URL", slack.url("/services/T0/B0/SECRETHOOK")),
        ("STATE_TABLE", table),
        (
            "SLACK_ROUTES",
            r#"[{"alarm": "payments-*", "channel": "C0PAYMENTS", "mention": "<!subteam^S0PAY>"}]"#.to_owned(),
        ),
    ]);
    let c = container(&vars).await;
    let fired = alarm("payments-api", "ALARM", "OK", 0, "w-1");
    for event in [&fired, &fired, &alarm("payments-api", "OK", "ALARM", 4, "w-2")] {
        assert!(c.runtime.invoke(event).await.response_json()["delivered"].is_number());
    }
    let got = slack.received();
    assert_eq!(got.len(), 2, "the redelivered ALARM is skipped");
    let (first, second) = (got[0].json(), got[1].json());
    assert!(first["text"].as_str().unwrap().starts_with("<!subteam^S0PAY> 🔴 ALARM"), "{first}");
    assert!(first.get("channel").is_none(), "a webhook cannot choose the route's channel");
    assert!(!second["text"].as_str().unwrap().contains("S0PAY"), "no mention on OK");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let output = c.process.output();
    assert_eq!(output.matches("the routes' channels are ignored").count(), 1, "{output}");
    assert!(!output.contains("SECRETHOOK"));
}

/// The reports' history (#35): an alert that stops paging leaves one episode (when it started, who
/// acknowledged it when, how many state changes), also when its OK reaches two containers at once and is
/// delivered again later; a return to ALARM starts the next one.
#[tokio::test(flavor = "multi_thread")]
async fn an_alert_that_stops_paging_leaves_one_episode_whoever_closes_it() {
    use chatops_shared::state::StateTable;
    let moto = Moto::shared();
    let table = moto.create_state_table().await;
    let api = SlackApiStandIn::start(TOKEN).await;
    let a = container(&env(&api, &table, &[])).await;
    let b = container(&env(&api, &table, &[])).await;
    let state = StateTable::new(moto.dynamodb().await, table.clone());
    a.runtime.invoke(&alarm("queue-age", "ALARM", "OK", 0, "ep-fired")).await;
    let now_s = chatops_shared::clock::now_unix();
    let open = state.open_items(now_s).await.unwrap();
    let key = open
        .items
        .iter()
        .find_map(|i| match i {
            chatops_shared::state::OpenItem::Alert(a) => Some(a.key.clone()),
            _ => None,
        })
        .expect("the paging alert");
    let acked_at = 1_795_165_380; // 2026-11-20 09:03 UTC
    state.acknowledge_alert(&key, "U0ALICE", acked_at).await.unwrap();
    // The OK, delivered to both containers at once (two SNS deliveries), then once more.
    api.script([ApiReply::Slow(Duration::from_millis(200))]);
    let (ok_1, ok_2) =
        (alarm("queue-age", "OK", "ALARM", 7, "ep-ok-1"), alarm("queue-age", "OK", "ALARM", 7, "ep-ok-2"));
    let (ra, rb) = tokio::join!(a.runtime.invoke(&ok_1), b.runtime.invoke(&ok_2));
    assert!(ra.response_json()["delivered"].is_number() && rb.response_json()["delivered"].is_number());
    b.runtime.invoke(&alarm("queue-age", "OK", "ALARM", 7, "ep-ok-3")).await;
    let from = 1_795_132_800_000; // 2026-11-20 00:00 UTC
    let history = state.history(from, from + 86_399_999).await.unwrap();
    assert_eq!(history.episodes.len(), 1, "{:#?}", history.episodes);
    let e = &history.episodes[0];
    assert_eq!((e.started_ms, e.resolved_ms), (1_795_165_200_000, 1_795_165_620_000), "09:00 → 09:07");
    assert_eq!(e.acked, Some(("U0ALICE".to_owned(), acked_at)));
    assert_eq!(
        (e.key.as_str(), e.title.as_str(), e.channel.as_str(), e.changes),
        (key.as_str(), "queue-age", "C0ALARMS", 2)
    );
    assert!(!e.muted && e.incident.is_none());
    // It fires again and resolves again: a second episode, without the first one's acknowledgement.
    a.runtime.invoke(&alarm("queue-age", "ALARM", "OK", 20, "ep-fired-2")).await;
    a.runtime.invoke(&alarm("queue-age", "OK", "ALARM", 22, "ep-ok-4")).await;
    let history = state.history(from, from + 86_399_999).await.unwrap();
    assert_eq!(history.episodes.len(), 2, "{:#?}", history.episodes);
    let second = history.episodes.iter().find(|e| e.started_ms == 1_795_166_400_000).expect("09:20");
    assert_eq!((second.resolved_ms, second.acked.clone(), second.changes), (1_795_166_520_000, None, 4));
}
