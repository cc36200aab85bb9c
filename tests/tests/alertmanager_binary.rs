//! `POST /alertmanager` on the built `alarm-to-slack` binary, over the Lambda Runtime API, in each
//! envelope API Gateway and function URLs use: the bearer token, every refusal, a chat outage answered
//! with a 503 (Alertmanager retries 5xx), and with a bot token and the state table one Slack message
//! per group, routed by its labels, updated when the group resolves.

use std::time::Duration;

use chatops_tests::slack_requests::{SHAPES, Shape, event_at};
use chatops_tests::{FunctionProcess, Moto, Reply, RuntimeApi, SlackApiStandIn, SlackStandIn, build_binary, fixture};
use serde_json::{Value, json};

const TOKEN: &str = "am-SECRET-0123456789abcdef";
const BOT: &str = "xoxb-1111-2222-SECRETBOT";

fn body(name: &str) -> String {
    fixture(name).to_string()
}

fn request(shape: Shape, token: Option<&str>, body: &str) -> Value {
    let mut headers = vec![("Content-Type".to_owned(), "application/json".to_owned())];
    if let Some(token) = token {
        headers.push(("Authorization".to_owned(), format!("Bearer {token}")));
    }
    headers.push(("User-Agent".to_owned(), "Alertmanager/0.28.1".to_owned()));
    event_at(shape, "/alertmanager", "", &headers, body, false)
}

fn status(inv: &chatops_tests::Invocation) -> (u64, Value) {
    let r = inv.response_json();
    let body = serde_json::from_str(r["body"].as_str().unwrap_or("null")).unwrap_or(Value::Null);
    (r["statusCode"].as_u64().unwrap_or(0), body)
}

async fn start(env: &[(&str, String)]) -> (RuntimeApi, FunctionProcess) {
    let bin = build_binary("alarm-to-slack", false);
    let runtime = RuntimeApi::start().await;
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let process = FunctionProcess::spawn(&bin, &runtime, &env);
    (runtime, process)
}

/// A bot token, a fresh state table on moto, the Alertmanager token, and `extra`.
async fn bot_env(api: &SlackApiStandIn, extra: &[(&'static str, &str)]) -> Vec<(&'static str, String)> {
    let moto = Moto::shared();
    let mut env = moto.env();
    env.extend([
        ("SLACK_BOT_TOKEN", BOT.to_owned()),
        ("SLACK_API_URL", api.url()),
        ("SLACK_CHANNEL", "C0ALARMS".to_owned()),
        ("STATE_TABLE", moto.create_state_table().await),
        ("ALERTMANAGER_TOKEN", TOKEN.to_owned()),
    ]);
    env.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
    env
}

#[tokio::test(flavor = "multi_thread")]
async fn the_token_is_required_and_every_refusal_is_a_clear_4xx() {
    let slack = SlackStandIn::start().await;
    let (runtime, process) =
        start(&[("SLACK_WEBHOOK_URL", slack.url("/services/T/B/SECRETHOOK")), ("ALERTMANAGER_TOKEN", TOKEN.into())])
            .await;
    for shape in SHAPES {
        let inv = runtime.invoke(&request(shape, Some(TOKEN), &body("alertmanager-firing.json"))).await;
        assert_eq!(status(&inv), (200, json!({"delivered": 1})), "{shape:?}");
    }
    let got = slack.received();
    assert_eq!(got.len(), 3);
    assert!(
        got[0].json()["text"].as_str().unwrap().starts_with("🔥 FIRING: HighRequestLatency (2)"),
        "{}",
        got[0].json()
    );

    let refusals = [
        (request(Shape::HttpApi, None, &body("alertmanager-firing.json")), 401, "unauthorised"),
        (
            request(Shape::HttpApi, Some("am-SECRET-0123456789abcdeX"), &body("alertmanager-firing.json")),
            401,
            "unauthorised",
        ),
        (request(Shape::HttpApi, Some(TOKEN), "{\"version\": \"4\"}"), 400, "not an Alertmanager webhook payload"),
        (
            request(
                Shape::HttpApi,
                Some(TOKEN),
                &json!({"version": "3", "groupKey": "g", "status": "firing", "alerts": [{}]}).to_string(),
            ),
            400,
            "version \"3\"",
        ),
        (request(Shape::HttpApi, Some(TOKEN), "not json"), 400, "not an Alertmanager webhook payload"),
        (
            event_at(
                Shape::HttpApi,
                "/alertmanager",
                &format!("token={TOKEN}"),
                &[],
                &body("alertmanager-firing.json"),
                false,
            ),
            400,
            "Authorization header",
        ),
        (event_at(Shape::HttpApi, "/prometheus", "", &[], "{}", false), 404, "POST /alertmanager"),
    ];
    for (event, want, says) in refusals {
        let (code, answer) = status(&runtime.invoke(&event).await);
        assert_eq!(code, want, "{answer}");
        assert!(answer["error"].as_str().unwrap_or_default().contains(says), "{answer}");
    }
    let mut get = request(Shape::HttpApi, Some(TOKEN), "");
    get["requestContext"]["http"]["method"] = json!("GET");
    assert_eq!(status(&runtime.invoke(&get).await).0, 405);
    assert_eq!(slack.received().len(), 3, "no refused request reached the chat");

    // The chat is down: 503, so that Alertmanager retries; the invocation itself succeeds.
    slack.always(Reply::status(500, "internal_error"));
    let inv = runtime.invoke(&request(Shape::HttpApi, Some(TOKEN), &body("alertmanager-resolved.json"))).await;
    let (code, answer) = status(&inv);
    assert_eq!(code, 503, "{answer}");
    assert!(answer["error"].as_str().unwrap().contains("internal_error"), "{answer}");

    // An SNS event still works beside the route.
    slack.always(Reply::ok());
    assert_eq!(runtime.invoke(&fixture("sns-alarm-metric.json")).await.response_json(), json!({"delivered": 1}));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let output = process.output();
    assert!(!output.contains("SECRET"), "a secret reached the log:\n{output}");
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_token_the_route_refuses_everything() {
    let slack = SlackStandIn::start().await;
    let (runtime, process) = start(&[("SLACK_WEBHOOK_URL", slack.url("/hook"))]).await;
    let (code, _) =
        status(&runtime.invoke(&request(Shape::HttpApi, Some(TOKEN), &body("alertmanager-firing.json"))).await);
    assert_eq!(code, 401);
    assert!(slack.received().is_empty());
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(process.output().contains("no ALERTMANAGER_TOKEN"), "{}", process.output());
}

/// With a bot token and the state table: firing posts one message in the team's channel (routed by the
/// group's labels, the team mentioned), a repeat updates it, resolved updates it again and replies in
/// its thread with how long it fired.
#[tokio::test(flavor = "multi_thread")]
async fn one_message_per_group_routed_by_labels_and_resolved_in_place() {
    let api = SlackApiStandIn::start(BOT).await;
    let routes = r#"[{"labels": {"team": "payments"}, "channel": "C0PAY", "mention": "<!subteam^S0PAYONCALL>"}]"#;
    let env = bot_env(&api, &[("SLACK_ROUTES", routes)]).await;
    let (runtime, _process) = start(&env).await;
    for name in ["alertmanager-firing.json", "alertmanager-firing.json", "alertmanager-resolved.json"] {
        let inv = runtime.invoke(&request(Shape::HttpApi, Some(TOKEN), &body(name))).await;
        assert_eq!(status(&inv), (200, json!({"delivered": 1})), "{name}");
    }
    assert_eq!(api.accepted("chat.postMessage").iter().filter(|c| c.body["thread_ts"].is_null()).count(), 1);
    let top = api.channel("C0PAY");
    assert_eq!(top.len(), 1, "{:#?}", api.calls());
    let message = &top[0];
    assert_eq!(message.header().unwrap(), "✅ RESOLVED: HighRequestLatency");
    assert!(message.all_text().contains("✅ Resolved after 28 min"), "{}", message.all_text());
    let first = &api.accepted("chat.postMessage")[0];
    assert!(first.body["text"].as_str().unwrap().starts_with("<!subteam^S0PAYONCALL>"), "firing mentions the team");
    let thread = api.thread("C0PAY", &message.ts);
    assert_eq!(thread.len(), 1, "one state change, one reply: {thread:#?}");
    assert_eq!(thread[0].text(), "✅ *RESOLVED* after 28 min");
    assert!(api.channel("C0ALARMS").is_empty());
}

/// Alertmanager in HA pairs can send the same group twice at once: two containers, one message.
#[tokio::test(flavor = "multi_thread")]
async fn two_containers_given_the_same_group_at_once_make_one_message() {
    let api = SlackApiStandIn::start(BOT).await;
    let env = bot_env(&api, &[]).await;
    let (a, _pa) = start(&env).await;
    let (b, _pb) = start(&env).await;
    // Slack is slow with the first post, so the second container arrives while it is in flight.
    api.script([chatops_tests::ApiReply::Slow(Duration::from_millis(300))]);
    let event = request(Shape::HttpApi, Some(TOKEN), &body("alertmanager-firing.json"));
    let (ra, rb) = tokio::join!(a.invoke(&event), b.invoke(&event));
    assert_eq!(status(&ra).0, 200);
    assert_eq!(status(&rb).0, 200);
    assert_eq!(api.top_level().len(), 1, "{:#?}", api.calls());
    assert_eq!(api.accepted("chat.update").len(), 1, "the second one updated the first one's message");
}
