//! `SLACK_SECRETS_ARN`: both built binaries taking their secrets from one Secrets Manager secret on moto,
//! over the Lambda Runtime API: no KMS, the environment winning over the bundle, a rotation picked up
//! when a value stops working, and a missing bundle stopping init with a clear message.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chatops_tests::slack_requests::{Shape, event_at, signed_headers};
use chatops_tests::{FunctionProcess, Moto, RuntimeApi, SlackApiStandIn, SlackStandIn, build_binary, fixture};
use serde_json::{Value, json};

const OLD_SECRET: &str = "bundle-signing-secret-OLD-1a2b";
const NEW_SECRET: &str = "bundle-signing-secret-NEW-3c4d";
const BOT: &str = "xoxb-bundle-BOTSECRET";

fn now() -> String {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs().to_string()
}

async fn container(binary: &str, env: &[(&str, String)]) -> (RuntimeApi, FunctionProcess) {
    let runtime = RuntimeApi::start().await;
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let process = FunctionProcess::spawn(&build_binary(binary, false), &runtime, &env);
    (runtime, process)
}

fn challenge(secret: &str) -> Value {
    let body = r#"{"type":"url_verification","challenge":"bundle-challenge-token"}"#;
    event_at(Shape::HttpApi, "/slack/events", "", &signed_headers(secret, &now(), body.as_bytes()), body, false)
}

#[tokio::test(flavor = "multi_thread")]
async fn slack_command_verifies_with_the_bundles_secret_and_picks_up_a_rotation() {
    let moto = Moto::shared();
    let arn = moto.create_secret(&json!({"signing_secret": OLD_SECRET}).to_string()).await;
    let mut env = moto.env();
    env.extend([("SLACK_SECRETS_ARN", arn.clone()), ("SLACK_SECRETS_REFRESH_SECONDS", "0".to_owned())]);
    let (runtime, process) = container("slack-command", &env).await;

    let ok = runtime.invoke(&challenge(OLD_SECRET)).await.response_json();
    assert_eq!(ok["statusCode"], 200, "{ok}");
    assert!(ok["body"].as_str().unwrap().contains("bundle-challenge-token"));
    assert_eq!(runtime.invoke(&challenge("guess")).await.response_json()["statusCode"], 401);

    // Rotated in Secrets Manager: the first request signed with the new secret makes the container read
    // the bundle again, and passes; the old secret no longer does.
    moto.put_secret(&arn, &json!({"signing_secret": NEW_SECRET}).to_string()).await;
    assert_eq!(runtime.invoke(&challenge(NEW_SECRET)).await.response_json()["statusCode"], 200);
    assert_eq!(runtime.invoke(&challenge(OLD_SECRET)).await.response_json()["statusCode"], 401);
    let out = process.output();
    assert!(out.contains("rotated"), "the rotation is logged: {out}");
    assert!(!out.contains(OLD_SECRET) && !out.contains(NEW_SECRET), "a secret reached the log: {out}");
}

#[tokio::test(flavor = "multi_thread")]
async fn forged_requests_do_not_turn_into_secrets_manager_calls() {
    // With the default interval, a stream of bad signatures reads the bundle at most once per 30 s: a
    // rotation done just now is picked up only after that.
    let moto = Moto::shared();
    let arn = moto.create_secret(&json!({"signing_secret": OLD_SECRET}).to_string()).await;
    let mut env = moto.env();
    env.push(("SLACK_SECRETS_ARN", arn.clone()));
    let (runtime, _process) = container("slack-command", &env).await;
    assert_eq!(runtime.invoke(&challenge(OLD_SECRET)).await.response_json()["statusCode"], 200);
    moto.put_secret(&arn, &json!({"signing_secret": NEW_SECRET}).to_string()).await;
    for _ in 0..3 {
        assert_eq!(runtime.invoke(&challenge(NEW_SECRET)).await.response_json()["statusCode"], 401);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn alarm_to_slack_takes_the_bot_token_from_the_bundle_and_the_environment_wins() {
    let moto = Moto::shared();
    let api = SlackApiStandIn::start(BOT).await;
    let webhook = SlackStandIn::start().await;
    let arn =
        moto.create_secret(&json!({"bot_token": BOT, "webhook_url": "https://hooks.invalid/x"}).to_string()).await;
    let mut env = moto.env();
    env.extend([
        ("SLACK_SECRETS_ARN", arn.clone()),
        ("SLACK_API_URL", api.url()),
        ("SLACK_CHANNEL", "C0BUNDLE".to_owned()),
    ]);
    let (runtime, process) = container("alarm-to-slack", &env).await;
    let inv = runtime.invoke(&fixture("sns-alarm-metric.json")).await;
    assert_eq!(inv.response_json(), json!({"delivered": 1}));
    assert_eq!(api.channel("C0BUNDLE").len(), 1, "the bot token from the bundle wins over its webhook");
    assert!(!process.output().contains("BOTSECRET"));

    // An explicit variable overrides the bundle: here a webhook URL in the environment, with the bundle's
    // token gone.
    let arn = moto.create_secret(&json!({"webhook_url": "https://hooks.invalid/x"}).to_string()).await;
    let mut env = moto.env();
    env.extend([("SLACK_SECRETS_ARN", arn), ("SLACK_WEBHOOK_URL", webhook.url("/services/T0/B0/env"))]);
    let (runtime, _process) = container("alarm-to-slack", &env).await;
    let inv = runtime.invoke(&fixture("sns-alarm-metric.json")).await;
    assert_eq!(inv.response_json(), json!({"delivered": 1}));
    assert_eq!(webhook.received().len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreadable_bundle_stops_init_naming_it() {
    let moto = Moto::shared();
    let mut env = moto.env();
    env.push((
        "SLACK_SECRETS_ARN",
        "arn:aws:secretsmanager:eu-west-1:123456789012:secret:does-not-exist-AbCdEf".into(),
    ));
    for binary in ["slack-command", "alarm-to-slack"] {
        let (_runtime, mut process) = container(binary, &env).await;
        let until = std::time::Instant::now() + Duration::from_secs(10);
        while process.is_running() && std::time::Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(!process.is_running(), "{binary}: init must fail");
        let out = process.output();
        assert!(out.contains("SLACK_SECRETS_ARN") && out.contains("does-not-exist"), "{binary}: {out}");
    }
}
