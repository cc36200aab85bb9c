//! Acting on an alert where it is shown, on the built binaries over the Lambda Runtime API: the notifier
//! (`alarm-to-slack`, bot token, routes that mention on-call) posts a paging alarm with [Acknowledge];
//! `slack-command` records the first of two simultaneous clicks; the alarm's repeat then updates its
//! message without paging again, its recovery ends the acknowledgement, and its next ALARM pages again.
//! DynamoDB is moto's; Slack is the Web API stand-in and a `response_url` receiver.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chatops_tests::alertmanager_api_standin::AlertmanagerApiStandIn;
use chatops_tests::slack_api_standin::SlackApiStandIn;
use chatops_tests::slack_requests::{Shape, event_at, interaction_body, signed_headers};
use chatops_tests::slack_standin::SlackStandIn;
use chatops_tests::{Container, Moto, RuntimeApi, fixture, sns_alarm};
use serde_json::{Value, json};

const SECRET: &str = "alert-actions-signing-secret-9";
const BOT: &str = "xoxb-alert-actions-token";
const TEAM: &str = "T0123ABCD";
const ALERTS: &str = "C0ALERTS";
const ONCALL: &str = "<!subteam^S0ONCALL>";

fn now() -> String {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs().to_string()
}

fn alarm(state: &str, old: &str, minute: u32, id: &str) -> Value {
    sns_alarm("checkout-5xx", state, old, &format!("2026-11-20T09:{minute:02}:00.000+0000"), id, "alarms")
}

/// Clicks [Acknowledge] on the alert `ts` as `user`; what replaced the message.
async fn acknowledge(
    runtime: &RuntimeApi,
    slack: &SlackApiStandIn,
    hooks: &SlackStandIn,
    ts: &str,
    user: &str,
) -> Value {
    let message = slack.message(ALERTS, ts).expect("the alert");
    let button = message.button("alert:ack").expect("an [Acknowledge] button");
    click(runtime, slack, hooks, (ALERTS, ts), ("alert:ack", &button["value"]), user).await
}

#[tokio::test(flavor = "multi_thread")]
async fn an_acknowledged_alarm_stops_paging_until_it_recovers_and_two_clicks_keep_the_first() {
    let moto = Moto::shared();
    let table = moto.create_state_table().await;
    let slack = SlackApiStandIn::start(BOT).await;
    let hooks = SlackStandIn::start().await;
    let mut notifier_env = moto.env();
    notifier_env.extend([
        ("SLACK_BOT_TOKEN", BOT.to_owned()),
        ("SLACK_API_URL", slack.url()),
        ("SLACK_CHANNEL", ALERTS.to_owned()),
        ("SLACK_ROUTES", json!([{"alarm": "checkout-*", "channel": ALERTS, "mention": ONCALL}]).to_string()),
        ("STATE_TABLE", table.clone()),
    ]);
    let notifier = Container::start("alarm-to-slack", &notifier_env).await;
    let mut command_env = moto.env();
    command_env.extend([
        ("SLACK_SIGNING_SECRET", SECRET.to_owned()),
        ("SLACK_BOT_TOKEN", BOT.to_owned()),
        ("SLACK_API_URL", slack.url()),
        ("STATE_TABLE", table.clone()),
    ]);
    let (a, b) =
        (Container::start("slack-command", &command_env).await, Container::start("slack-command", &command_env).await);
    // A third container whose policy lets only U0ALICE and U0BOB acknowledge.
    let mut policy_env = command_env.clone();
    policy_env.push((
        "CHATOPS_POLICY",
        json!({"rules": [{"name": "oncall", "actions": ["alert:ack"], "requesters": ["U0ALICE", "U0BOB"]}]})
            .to_string(),
    ));
    let c = Container::start("slack-command", &policy_env).await;

    notifier.runtime.invoke(&alarm("ALARM", "OK", 1, "m1")).await;
    let ts = slack.channel(ALERTS)[0].ts.clone();
    let first = slack.message(ALERTS, &ts).unwrap();
    assert!(first.text().contains(ONCALL), "it pages: {}", first.text());
    assert!(first.button("alert:ack").is_some() && first.button("incident:declare").is_some());

    // Someone the policy does not name: refused, nothing recorded.
    let refused = acknowledge(&c.runtime, &slack, &hooks, &ts, "U0MALLORY").await;
    assert!(refused.to_string().contains("oncall"), "the refusal names the rule: {refused}");
    assert_ne!(refused["replace_original"], true);

    // Two people at the same moment, in two containers: the first is kept, both see it.
    let (ra, rb) = tokio::join!(
        acknowledge(&a.runtime, &slack, &hooks, &ts, "U0ALICE"),
        acknowledge(&b.runtime, &slack, &hooks, &ts, "U0BOB")
    );
    let who = |v: &Value| {
        let text = v.to_string();
        let at = text.find("Acknowledged by <@").unwrap_or_else(|| panic!("no acknowledgement in {text}"));
        text[at + 18..at + 25].to_owned()
    };
    assert_eq!(who(&ra), who(&rb), "one acknowledgement: {ra}\n{rb}");
    for replaced in [&ra, &rb] {
        assert_eq!(replaced["replace_original"], true);
        let text = replaced.to_string();
        assert!(!text.contains("\"alert:ack\"") && text.contains("incident:declare"), "{text}");
    }
    let acker = who(&ra);

    // The alarm fires again (a repeat, same state): the message is updated, nobody is paged.
    let replies_before = slack.thread(ALERTS, &ts).len();
    notifier.runtime.invoke(&alarm("ALARM", "OK", 5, "m2")).await;
    let repeated = slack.message(ALERTS, &ts).unwrap();
    assert!(repeated.updates >= 1);
    let text = repeated.all_text();
    assert!(text.contains(&format!("Acknowledged by <@{acker}")), "{text}");
    assert!(!text.contains(ONCALL), "no page while acknowledged: {text}");
    assert!(repeated.button("alert:ack").is_none());
    assert!(slack.thread(ALERTS, &ts)[replies_before..].iter().all(|r| !r.text().contains(ONCALL)));

    // It recovers: the acknowledgement ends with the episode.
    notifier.runtime.invoke(&alarm("OK", "ALARM", 10, "m3")).await;
    let recovered = slack.message(ALERTS, &ts).unwrap();
    assert!(!recovered.all_text().contains("Acknowledged"), "{}", recovered.all_text());
    // It fires again: it pages again, with [Acknowledge] back.
    let replies_before = slack.thread(ALERTS, &ts).len();
    notifier.runtime.invoke(&alarm("ALARM", "OK", 20, "m4")).await;
    let paged = slack.thread(ALERTS, &ts);
    assert!(paged[replies_before..].iter().any(|r| r.text().contains(ONCALL)), "{paged:#?}");
    let again = slack.message(ALERTS, &ts).unwrap();
    assert!(again.button("alert:ack").is_some() && !again.all_text().contains("Acknowledged"));
    let fresh = acknowledge(&a.runtime, &slack, &hooks, &ts, "U0BOB").await;
    assert!(fresh.to_string().contains("Acknowledged by <@U0BOB>"), "{fresh}");
}

/// Clicks `action` with `value` on message `ts` of `channel` as `user`; what replaced the message.
async fn click(
    runtime: &RuntimeApi,
    slack: &SlackApiStandIn,
    hooks: &SlackStandIn,
    (channel, ts): (&str, &str),
    (action, value): (&str, &Value),
    user: &str,
) -> Value {
    let message = slack.message(channel, ts).expect("the message");
    static CLICKS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1000);
    let n = CLICKS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let path = format!("/actions/{user}/{n}");
    let payload = json!({
        "type": "block_actions", "team": {"id": TEAM}, "user": {"id": user, "username": user.to_lowercase(), "team_id": TEAM},
        "channel": {"id": channel, "name": "payments"},
        "container": {"type": "message", "message_ts": ts, "channel_id": channel},
        "response_url": hooks.url(&path),
        "message": {"type": "message", "ts": ts, "text": message.text(), "attachments": message.body["attachments"]},
        "actions": [{"type": "button", "action_id": action, "block_id": "alarm-mute", "value": value,
                     "action_ts": format!("1700000000.{n:06}")}]
    });
    let body = interaction_body(&payload);
    let headers = signed_headers(SECRET, &now(), body.as_bytes());
    let response = runtime.invoke(&event_at(Shape::HttpApi, "/slack/interactions", "", &headers, &body, false)).await;
    assert_eq!(response.response_json()["statusCode"], 200);
    for _ in 0..300 {
        if let Some(got) = hooks.received().into_iter().find(|r| r.path == path) {
            return got.json();
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("no response_url update for {action}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_firing_alertmanager_group_is_silenced_from_its_message_and_the_silence_expired_by_its_button() {
    const AM_TOKEN: &str = "am-api-SECRET-token";
    let moto = Moto::shared();
    let table = moto.create_state_table().await;
    let slack = SlackApiStandIn::start(BOT).await;
    let hooks = SlackStandIn::start().await;
    let alertmanager = AlertmanagerApiStandIn::start(AM_TOKEN).await;
    let mut notifier_env = moto.env();
    notifier_env.extend([
        ("SLACK_BOT_TOKEN", BOT.to_owned()),
        ("SLACK_API_URL", slack.url()),
        ("SLACK_CHANNEL", "C0PAY".to_owned()),
        ("STATE_TABLE", table.clone()),
        ("ALERTMANAGER_TOKEN", "webhook-token".to_owned()),
        ("ALERTMANAGER_URL", alertmanager.url()),
    ]);
    let notifier = Container::start("alarm-to-slack", &notifier_env).await;
    let mut command_env = moto.env();
    command_env.extend([
        ("SLACK_SIGNING_SECRET", SECRET.to_owned()),
        ("SLACK_BOT_TOKEN", BOT.to_owned()),
        ("SLACK_API_URL", slack.url()),
        ("STATE_TABLE", table.clone()),
        ("ALERTMANAGER_URL", alertmanager.url()),
        ("ALERTMANAGER_API_TOKEN", AM_TOKEN.to_owned()),
        // Silences scoped by alertname, as the README documents: [Expire silence] by the same resource.
        (
            "CHATOPS_POLICY",
            json!({"rules": [{"name": "payments-oncall", "actions": ["alertmanager:silence"],
                              "resources": ["HighRequestLatency"], "requesters": ["U0ALICE", "U0BOB"]}]})
            .to_string(),
        ),
    ]);
    let command = Container::start("slack-command", &command_env).await;
    let webhook = |name: &str| {
        let headers = vec![
            ("Content-Type".to_owned(), "application/json".to_owned()),
            ("Authorization".to_owned(), "Bearer webhook-token".to_owned()),
        ];
        event_at(Shape::HttpApi, "/alertmanager", "", &headers, &fixture(name).to_string(), false)
    };
    notifier.runtime.invoke(&webhook("alertmanager-firing.json")).await;
    let ts = slack.channel("C0PAY")[0].ts.clone();
    let message = slack.message("C0PAY", &ts).unwrap();
    let button = message.button("alertmanager:silence").expect("[Silence 1 h] on a firing group");

    let silenced =
        click(&command.runtime, &slack, &hooks, ("C0PAY", &ts), ("alertmanager:silence", &button["value"]), "U0ALICE")
            .await;
    let silences = alertmanager.silences();
    assert_eq!(silences.len(), 1);
    let body = &silences[0].body;
    let mut matchers: Vec<(String, String)> = body["matchers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["name"].as_str().unwrap().to_owned(), m["value"].as_str().unwrap().to_owned()))
        .collect();
    matchers.sort();
    assert_eq!(
        matchers,
        [
            ("alertname", "HighRequestLatency"),
            ("job", "orders-api"),
            ("namespace", "payments"),
            ("severity", "critical"),
            ("team", "payments")
        ]
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
    );
    assert!(body["matchers"].as_array().unwrap().iter().all(|m| m["isRegex"] == false && m["isEqual"] == true));
    assert!(body["createdBy"].as_str().unwrap().contains("U0ALICE"), "{body}");
    assert!(
        body["comment"].as_str().unwrap().contains("https://acme.slack.com/archives/C0PAY/p"),
        "the message's link: {body}"
    );
    let (starts, ends) = (body["startsAt"].as_str().unwrap(), body["endsAt"].as_str().unwrap());
    let parse = |t: &str| {
        time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).unwrap().unix_timestamp()
    };
    assert_eq!(parse(ends) - parse(starts), 3600, "{starts} .. {ends}");
    let text = silenced.to_string();
    assert!(text.contains("🔇 Silenced in Alertmanager by <@U0ALICE>") && text.contains(&silences[0].id), "{text}");
    assert!(text.contains("alertmanager:expire") && !text.contains("\"alertmanager:silence\""), "{text}");
    // Someone the policy does not name may not expire it, from the button the click left.
    let left = silenced["blocks"]
        .as_array()
        .into_iter()
        .chain(silenced["attachments"][0]["blocks"].as_array())
        .flatten()
        .flat_map(|b| b["elements"].as_array().cloned().unwrap_or_default())
        .find(|e| e["action_id"] == "alertmanager:expire")
        .expect("[Expire silence] on the clicked message");
    let eve =
        click(&command.runtime, &slack, &hooks, ("C0PAY", &ts), ("alertmanager:expire", &left["value"]), "U0EVE").await;
    assert!(!alertmanager.silences()[0].expired, "U0EVE may not: {eve}");

    // The group resolves: the notifier's update keeps the silence on the message, with [Expire silence].
    notifier.runtime.invoke(&webhook("alertmanager-resolved.json")).await;
    let resolved = slack.message("C0PAY", &ts).unwrap();
    assert!(resolved.all_text().contains("🔇 Silenced in Alertmanager"), "{}", resolved.all_text());
    let expire = resolved.button("alertmanager:expire").expect("[Expire silence]");

    let expired =
        click(&command.runtime, &slack, &hooks, ("C0PAY", &ts), ("alertmanager:expire", &expire["value"]), "U0BOB")
            .await;
    assert!(alertmanager.silences()[0].expired, "DELETE /api/v2/silence/{{id}} under the alertname's rule: {expired}");
    assert!(expired.to_string().contains("expired by <@U0BOB>"), "{expired}");
    let audit: Vec<Value> = command
        .process
        .json_logs()
        .into_iter()
        .filter(|l| l["fields"]["kind"] == "audit")
        .map(|l| l["fields"].clone())
        .collect();
    let resources: Vec<(&str, &str)> = audit
        .iter()
        .map(|f| (f["decision"].as_str().unwrap_or_default(), f["resource"].as_str().unwrap_or_default()))
        .collect();
    assert_eq!(
        resources,
        [("done", "HighRequestLatency"), ("refused", "HighRequestLatency"), ("done", "HighRequestLatency")],
        "silence, refused expire, expire: one resource, the alertname"
    );
    assert_eq!(alertmanager.refused(), 0, "every call carried the token");
    assert!(!command.process.output().contains(AM_TOKEN), "the token never reaches a log");
}
