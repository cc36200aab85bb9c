//! Button clicks on a blue/green deployment message, end to end through the handler: signed
//! `block_actions` payloads, CodeDeploy on a loopback endpoint that speaks its JSON protocol (calls
//! asserted exactly), and the `response_url` update on a loopback Slack.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use chatops_shared::aws::kms::CachedSecret;
use chatops_shared::commands::Services;
use chatops_shared::config::SecretSource;
use chatops_shared::governance::{AccessPolicy, Governance};
use chatops_shared::http::http_client;
use chatops_shared::notify::{CodeDeploySettings, MessageDefaults, notifications_from_event};
use chatops_shared::secret::Secret;
use chatops_tests::codedeploy_standin::CodeDeployStandIn;
use chatops_tests::slack_requests::{Shape, event, interaction_body, signed_headers};
use chatops_tests::{Moto, SlackStandIn, fixture};
use lambda_runtime::{Context, LambdaEvent};
use serde_json::{Value, json};
use slack_command::{Deps, handle_event};

const SECRET: &str = "interaction-test-secret";
const DEPLOYMENT: &str = "d-7QX4Z2K9B";
const GROUP: &str = "orders/orders-ecs-bg";

struct Rig {
    deps: Deps,
    codedeploy: CodeDeployStandIn,
    slack: SlackStandIn,
}

async fn rig(policy: AccessPolicy) -> Rig {
    let codedeploy = CodeDeployStandIn::start().await;
    codedeploy.add_ready(DEPLOYMENT, "orders", "orders-ecs-bg");
    let slack = SlackStandIn::start().await;
    let sdk = Moto::shared().sdk_config().await;
    let cd_conf = aws_sdk_codedeploy::config::Builder::from(&sdk)
        .http_client(chatops_shared::aws::http::sdk_http_client(http_client().unwrap()))
        .endpoint_url(codedeploy.endpoint())
        .retry_config(aws_sdk_codedeploy::config::retry::RetryConfig::disabled())
        .build();
    let services = Services {
        autoscaling: aws_sdk_autoscaling::Client::new(&sdk),
        codedeploy: aws_sdk_codedeploy::Client::from_conf(cd_conf),
        codedeploy_settings: CodeDeploySettings::parse(Some(GROUP), None).unwrap(),
    };
    let secret = CachedSecret::new(SecretSource::Plain { var: "S", value: Secret::new(SECRET) }, None, None);
    let deps =
        Deps { governance: Governance::access_only(policy), ..Deps::basic(secret, services, http_client().unwrap()) };
    Rig { deps, codedeploy, slack }
}

/// The READY message exactly as the notifier rendered it: what Slack sends back in the payload.
fn ready_message() -> Value {
    let defaults = MessageDefaults {
        codedeploy: CodeDeploySettings::parse(Some(GROUP), Some(&format!("{GROUP}=https://green.example.com")))
            .unwrap(),
        ..MessageDefaults::default()
    };
    notifications_from_event(&fixture("codedeploy-ready.json")).unwrap()[0].to_slack(&defaults)
}

fn payload(message: &Value, action_id: &str, user: &str, response_url: &str) -> Value {
    json!({
        "type": "block_actions",
        "user": {"id": user, "username": "grace.hopper", "name": "grace.hopper", "team_id": "T0123ABCD"},
        "api_app_id": "A0123",
        "token": "legacyIgnored",
        "container": {"type": "message", "message_ts": "1795170000.000100", "channel_id": "C0DEPLOYS", "is_ephemeral": false},
        "trigger_id": "1234.5678.abcd",
        "team": {"id": "T0123ABCD", "domain": "acme"},
        "channel": {"id": "C0DEPLOYS", "name": "deploys"},
        "message": {"type": "message", "ts": "1795170000.000100", "text": message["text"], "attachments": message["attachments"]},
        "response_url": response_url,
        "actions": [{
            "action_id": action_id,
            "block_id": format!("codedeploy:{DEPLOYMENT}"),
            "text": {"type": "plain_text", "text": "button", "emoji": true},
            "value": DEPLOYMENT,
            "type": "button",
            "action_ts": "1795170001.000200"
        }]
    })
}

async fn click(rig: &Rig, message: &Value, action: &str, user: &str, sign_with: &str) -> (u16, String) {
    let body =
        interaction_body(&payload(message, action, user, &rig.slack.url("/actions/T0123/1234/abcd"))).into_bytes();
    let ts = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs().to_string();
    let ev = event(Shape::HttpApi, &signed_headers(sign_with, &ts, &body), &body, true);
    let mut ctx = Context::default();
    ctx.deadline = (SystemTime::now().duration_since(UNIX_EPOCH).unwrap() + Duration::from_secs(5)).as_millis() as u64;
    let out =
        handle_event(&rig.deps, LambdaEvent::new(serde_json::value::to_raw_value(&ev).unwrap(), ctx)).await.unwrap();
    (out["statusCode"].as_u64().unwrap() as u16, out["body"].as_str().unwrap_or_default().to_owned())
}

fn blocks_of(update: &Value) -> Vec<Value> {
    update["attachments"][0]["blocks"].as_array().or_else(|| update["blocks"].as_array()).cloned().unwrap_or_default()
}

/// The buttons of a message's actions blocks, as Slack would receive them.
fn button_elements(update: &Value) -> Vec<Value> {
    blocks_of(update)
        .iter()
        .filter(|b| b["type"] == "actions")
        .flat_map(|b| b["elements"].as_array().cloned().unwrap_or_default())
        .collect()
}

fn buttons(update: &Value) -> Vec<String> {
    button_elements(update).iter().map(|e| e["action_id"].as_str().unwrap_or_default().to_owned()).collect()
}

fn text(update: &Value) -> String {
    update.to_string()
}

#[tokio::test]
async fn switch_then_terminate_acts_once_each_and_updates_the_message() {
    let rig = rig(AccessPolicy::default()).await;
    let original = ready_message();
    assert_eq!(buttons(&original), ["codedeploy:switch", "codedeploy:rollback", "codedeploy:terminate"]);

    let (status, body) = click(&rig, &original, "codedeploy:switch", "U_OPS", SECRET).await;
    assert_eq!((status, body.as_str()), (200, ""), "acknowledged at once, empty");
    let changes = rig.codedeploy.changes();
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].operation, "ContinueDeployment");
    assert_eq!(changes[0].body, json!({"deploymentId": DEPLOYMENT, "deploymentWaitType": "READY_WAIT"}));
    let got = rig.slack.received();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].path, "/actions/T0123/1234/abcd");
    let updated = got[0].json();
    assert_eq!(updated["replace_original"], true);
    assert_eq!(buttons(&updated), ["codedeploy:rollback", "codedeploy:terminate"], "only what still makes sense");
    assert!(text(&updated).contains("<@U_OPS> switched traffic to the green environment"), "{updated}");
    assert!(text(&updated).contains("green.example.com"), "the deployment details stay: {updated}");
    assert_eq!(updated["attachments"][0]["color"], original["attachments"][0]["color"]);

    // A second click on Switch (from the old message): refused, nothing sent to CodeDeploy.
    let (status, _) = click(&rig, &original, "codedeploy:switch", "U_OPS", SECRET).await;
    assert_eq!(status, 200);
    assert_eq!(rig.codedeploy.changes().len(), 1, "acted once");
    let refusal = rig.slack.received()[1].json();
    assert_eq!(refusal["response_type"], "ephemeral");
    assert!(refusal.get("replace_original").is_none(), "a refusal leaves the message as it is");
    assert!(text(&refusal).contains("Traffic was already switched"), "{refusal}");

    // Terminate original, from the updated message.
    let (status, _) = click(&rig, &updated, "codedeploy:terminate", "U_OPS", SECRET).await;
    assert_eq!(status, 200);
    let changes = rig.codedeploy.changes();
    assert_eq!(changes.len(), 2);
    assert_eq!(changes[1].body, json!({"deploymentId": DEPLOYMENT, "deploymentWaitType": "TERMINATION_WAIT"}));
    let done = rig.slack.received()[2].json();
    assert!(buttons(&done).is_empty(), "no buttons once finished: {done}");
    assert!(text(&done).contains("switched traffic") && text(&done).contains("terminated the original"), "{done}");

    // Roll back after the deployment ended: refused, no StopDeployment.
    click(&rig, &updated, "codedeploy:rollback", "U_OPS", SECRET).await;
    assert_eq!(rig.codedeploy.changes().len(), 2);
    assert!(text(&rig.slack.received()[3].json()).contains("already ended (Succeeded)"));
    assert_eq!(rig.codedeploy.deployment(DEPLOYMENT).unwrap().status, "Succeeded");
}

#[tokio::test]
async fn confirmed_rollback_stops_with_auto_rollback_and_removes_the_buttons() {
    let rig = rig(AccessPolicy::default()).await;
    let original = ready_message();
    // The dialog is Slack's, client side: the button carries it, and a confirmed click arrives as usual.
    let rollback = button_elements(&original).into_iter().find(|e| e["action_id"] == "codedeploy:rollback").unwrap();
    assert_eq!(rollback["confirm"]["confirm"]["text"], "Roll back");
    click(&rig, &original, "codedeploy:rollback", "U_OPS", SECRET).await;
    let changes = rig.codedeploy.changes();
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].operation, "StopDeployment");
    assert_eq!(changes[0].body, json!({"deploymentId": DEPLOYMENT, "autoRollbackEnabled": true}));
    let updated = rig.slack.received()[0].json();
    assert!(buttons(&updated).is_empty());
    assert!(text(&updated).contains("<@U_OPS> rolled the deployment back"));
    // Switch after a rollback: the deployment ended.
    click(&rig, &original, "codedeploy:switch", "U_OPS", SECRET).await;
    assert_eq!(rig.codedeploy.changes().len(), 1);
    assert!(text(&rig.slack.received()[1].json()).contains("already ended (Stopped)"));
}

#[tokio::test]
async fn refused_users_unsigned_clicks_and_unconfigured_groups_never_change_anything() {
    let policy =
        AccessPolicy { team_id: Some("T0123ABCD".into()), allowed_users: AccessPolicy::parse_users(Some("U_OPS")) };
    let rig = rig(policy).await;
    let original = ready_message();
    click(&rig, &original, "codedeploy:switch", "U_STRANGER", SECRET).await;
    assert!(rig.codedeploy.calls().is_empty(), "a refused user costs no AWS call");
    assert!(text(&rig.slack.received()[0].json()).contains("not allowed"));

    let (status, body) = click(&rig, &original, "codedeploy:switch", "U_OPS", "forged-secret").await;
    assert_eq!((status, body.as_str()), (401, ""));
    assert!(rig.codedeploy.calls().is_empty());
    assert_eq!(rig.slack.received().len(), 1, "nothing posted for an unsigned click");

    // A deployment of a group outside CODEDEPLOY_DEPLOYMENT_GROUPS: read, refused, unchanged.
    rig.codedeploy.add_ready(DEPLOYMENT, "billing", "billing-bg");
    click(&rig, &original, "codedeploy:switch", "U_OPS", SECRET).await;
    assert!(rig.codedeploy.changes().is_empty());
    assert!(text(&rig.slack.received()[1].json()).contains("billing/billing-bg` is not enabled"));
}

#[tokio::test]
async fn two_racing_clicks_switch_once() {
    let rig = rig(AccessPolicy::default()).await;
    rig.codedeploy.slow_down(Duration::from_millis(150));
    let original = ready_message();
    let (a, b) = tokio::join!(
        click(&rig, &original, "codedeploy:switch", "U_OPS", SECRET),
        click(&rig, &original, "codedeploy:switch", "U_ADA", SECRET)
    );
    assert_eq!((a.0, b.0), (200, 200));
    let continues: Vec<_> = rig.codedeploy.changes();
    assert_eq!(continues.len(), 2, "both reads saw Ready, both tried");
    let posts: Vec<Value> = rig.slack.received().iter().map(|r| r.json()).collect();
    assert_eq!(posts.iter().filter(|p| p["replace_original"] == true).count(), 1, "one update: {posts:?}");
    assert_eq!(posts.iter().filter(|p| text(p).contains("Someone else already acted")).count(), 1, "{posts:?}");
}

#[tokio::test]
async fn a_slow_codedeploy_gets_an_honest_answer_within_the_budget() {
    let mut rig = rig(AccessPolicy::default()).await;
    rig.deps.budget = Duration::from_millis(700);
    rig.codedeploy.slow_down(Duration::from_secs(5));
    let started = Instant::now();
    let (status, _) = click(&rig, &ready_message(), "codedeploy:switch", "U_OPS", SECRET).await;
    assert_eq!(status, 200);
    assert!(started.elapsed() < Duration::from_millis(1500), "{:?}", started.elapsed());
    let got = rig.slack.wait_for(1, Duration::from_secs(2)).await;
    assert!(text(&got[0].json()).contains("did not answer in time"), "{}", got[0].json());
}

#[tokio::test]
async fn malformed_payloads_are_a_400() {
    let rig = rig(AccessPolicy::default()).await;
    for body in [
        &b"payload=not-json"[..],
        b"payload=%7B%22type%22%3A%22view_submission%22%7D",
        b"payload=%7B%22type%22%3A%22block_actions%22%7D",
    ] {
        let ts = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs().to_string();
        let ev = event(Shape::Rest, &signed_headers(SECRET, &ts, body), body, false);
        let mut ctx = Context::default();
        ctx.deadline =
            (SystemTime::now().duration_since(UNIX_EPOCH).unwrap() + Duration::from_secs(5)).as_millis() as u64;
        let out = handle_event(&rig.deps, LambdaEvent::new(serde_json::value::to_raw_value(&ev).unwrap(), ctx))
            .await
            .unwrap();
        assert_eq!(out["statusCode"], 400, "{}", String::from_utf8_lossy(body));
    }
    assert!(rig.codedeploy.calls().is_empty());
}
