//! The built `alarm-to-slack` binary driven over the Lambda Runtime API: the `main` wiring, the
//! environment contract, error reporting and logs, as Lambda would run it.

use std::time::Duration;

use chatops_tests::{FunctionProcess, Moto, Reply, RuntimeApi, SlackStandIn, build_binary, fixture};
use serde_json::json;

const SECRET_PATH: &str = "/services/T0SECRET/B0SECRET/xoxSECRETTOKEN";

async fn start(env: &[(&str, &str)]) -> (RuntimeApi, FunctionProcess) {
    let bin = build_binary("alarm-to-slack", false);
    let runtime = RuntimeApi::start().await;
    let process = FunctionProcess::spawn(&bin, &runtime, env);
    (runtime, process)
}

#[tokio::test(flavor = "multi_thread")]
async fn serves_batches_survives_bad_events_and_never_logs_the_webhook() {
    let slack = SlackStandIn::start().await;
    let url = slack.url(SECRET_PATH);
    let (runtime, process) = start(&[("SLACK_WEBHOOK_URL", &url), ("SLACK_CHANNEL", "#alarms")]).await;

    let batch = runtime.invoke(&fixture("sns-batch.json")).await;
    assert_eq!(batch.response_json(), json!({"delivered": 3}));

    let bad = runtime.invoke(&json!({"unexpected": true})).await;
    assert_eq!(bad.error()["errorType"], "UnrecognisedEvent");
    assert!(bad.error()["errorMessage"].as_str().unwrap().contains("keys [unexpected]"));

    for name in ["alarm-action.json", "eventbridge-alarm-state-change.json", "sns-alarm-composite.json"] {
        let ok = runtime.invoke(&fixture(name)).await;
        assert_eq!(ok.response_json(), json!({"delivered": 1}), "{name}");
    }
    let got = slack.received();
    assert_eq!(got.len(), 6);
    assert!(got.iter().all(|r| r.path == SECRET_PATH && r.json()["channel"] == "#alarms"));

    tokio::time::sleep(Duration::from_millis(200)).await;
    let logs = process.json_logs();
    let delivered: Vec<&str> = logs
        .iter()
        .filter(|l| l["fields"]["outcome"] == "delivered")
        .filter_map(|l| l["fields"]["alarm"].as_str())
        .collect();
    assert_eq!(
        delivered,
        [
            "api-high-cpu",
            "Disk warning",
            "checkout-p99-latency",
            "api-high-cpu",
            "orders-error-rate",
            "checkout-degraded"
        ]
    );
    let line = logs.iter().find(|l| l["fields"]["outcome"] == "delivered").unwrap();
    for field in ["state", "attempts", "latency_ms"] {
        assert!(line["fields"].get(field).is_some(), "log line lacks {field}: {line}");
    }
    let output = process.output();
    assert!(!output.contains("SECRET"), "the webhook URL reached the log:\n{output}");
}

#[tokio::test(flavor = "multi_thread")]
async fn failed_delivery_fails_the_invocation_so_lambda_keeps_the_alarm() {
    let slack = SlackStandIn::start().await;
    slack.always(Reply::status(404, "no_service"));
    let url = slack.url(SECRET_PATH);
    let (runtime, process) = start(&[("SLACK_WEBHOOK_URL", &url)]).await;
    let inv = runtime.invoke(&fixture("sns-alarm-metric.json")).await;
    assert_eq!(inv.error()["errorType"], "SlackDeliveryFailed");
    assert!(inv.error()["errorMessage"].as_str().unwrap().contains("no_service"));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let failed =
        process.json_logs().into_iter().find(|l| l["fields"]["outcome"] == "failed").expect("a failure log line");
    assert_eq!(failed["level"], "ERROR");
    assert_eq!(failed["fields"]["alarm"], "api-high-cpu");
    assert!(!process.output().contains("SECRET"));
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_configuration_fails_each_invocation_naming_the_variables() {
    let (runtime, _process) = start(&[]).await;
    let inv = runtime.invoke(&fixture("sns-alarm-metric.json")).await;
    assert_eq!(inv.error()["errorType"], "ConfigError");
    let msg = inv.error()["errorMessage"].as_str().unwrap();
    assert!(msg.contains("KMS_ENCRYPTED_SLACK_WEBHOOK_URL") && msg.contains("SLACK_WEBHOOK_URL"), "{msg}");
}

#[tokio::test(flavor = "multi_thread")]
async fn kms_webhook_without_aws_credentials_fails_each_invocation_naming_the_variable() {
    // Lambda always sets the execution role's credentials; a local run that forgot them gets told which.
    let (runtime, process) = start(&[("KMS_ENCRYPTED_SLACK_WEBHOOK_URL", "AQICAHhSecretCiphertext==")]).await;
    for _ in 0..2 {
        let inv = runtime.invoke(&fixture("sns-alarm-metric.json")).await;
        assert_eq!(inv.error()["errorType"], "ConfigError");
        let msg = inv.error()["errorMessage"].as_str().unwrap();
        assert!(msg.contains("AWS_ACCESS_KEY_ID"), "{msg}");
    }
    assert!(!process.output().contains("SecretCiphertext"), "{}", process.output());
}

#[tokio::test(flavor = "multi_thread")]
async fn decrypts_the_kms_webhook_with_the_function_name_context_via_aws_endpoint_url() {
    let moto = Moto::shared();
    let key = moto.create_key().await;
    let slack = SlackStandIn::start().await;
    // Lambda sets AWS_LAMBDA_FUNCTION_NAME=chatops-test in the emulated environment.
    let ciphertext = moto.encrypt(&key, &slack.url(SECRET_PATH), Some("chatops-test")).await;
    let mut env: Vec<(&str, String)> = moto.env();
    env.push(("KMS_ENCRYPTED_SLACK_WEBHOOK_URL", ciphertext.clone()));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (runtime, process) = start(&env).await;
    for _ in 0..2 {
        let inv = runtime.invoke(&fixture("sns-alarm-metric.json")).await;
        assert_eq!(inv.response_json(), json!({"delivered": 1}));
    }
    assert_eq!(slack.received().len(), 2);
    let output = process.output();
    assert!(!output.contains("SECRET") && !output.contains(&ciphertext[..40]), "a secret reached the log:\n{output}");

    // Bound to another function: the invocation says KMS failed and names the variable.
    let other = moto.encrypt(&key, &slack.url(SECRET_PATH), Some("another-function")).await;
    let mut env2: Vec<(&str, String)> = moto.env();
    env2.push(("KMS_ENCRYPTED_SLACK_WEBHOOK_URL", other.clone()));
    let env2: Vec<(&str, &str)> = env2.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (runtime, process) = start(&env2).await;
    let inv = runtime.invoke(&fixture("sns-alarm-metric.json")).await;
    assert_eq!(inv.error()["errorType"], "SecretError");
    let msg = inv.error()["errorMessage"].as_str().unwrap();
    assert!(msg.starts_with("KMS failed to decrypt KMS_ENCRYPTED_SLACK_WEBHOOK_URL"), "{msg}");
    assert!(!msg.contains(&other[..40]) && !process.output().contains(&other[..40]));
}

/// `CHAT_PLATFORM` (the contract) picks the renderer and the retry rules: Discord gets an embed and its
/// 429 is waited out by the body's `retry_after` (0.3 s, not the header's 5 s); Teams an Adaptive Card;
/// Mattermost attachments. A platform name that is none of them is a clear configuration error.
#[tokio::test(flavor = "multi_thread")]
async fn each_platform_gets_its_own_payload_and_retry_rules() {
    let discord = SlackStandIn::start().await;
    discord.script([Reply::discord_rate_limited(0.3, 5), Reply::status(204, "")]);
    let url = discord.url("/api/webhooks/1/SECRETTOKEN");
    let (runtime, process) = start(&[("SLACK_WEBHOOK_URL", &url), ("CHAT_PLATFORM", "discord")]).await;
    let inv = runtime.invoke(&fixture("guardduty-finding.json")).await;
    assert_eq!(inv.response_json(), json!({"delivered": 1}));
    let got = discord.received();
    assert_eq!(got.len(), 2, "the 429 was retried once");
    let gap = got[1].at - got[0].at;
    assert!(gap >= Duration::from_millis(290) && gap < Duration::from_secs(2), "waited {gap:?}");
    let body = got[1].json();
    assert_eq!(body["embeds"][0]["color"], 0xE01E5A);
    assert!(body["embeds"][0]["title"].as_str().unwrap().contains("SSH brute force"), "{body}");
    assert_eq!(body["allowed_mentions"]["parse"], json!([]));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let line = process.json_logs().into_iter().find(|l| l["fields"]["outcome"] == "delivered").unwrap();
    assert_eq!(line["fields"]["platform"], "discord");
    assert!(!process.output().contains("SECRETTOKEN"));

    let teams = SlackStandIn::start().await;
    teams.always(Reply::status(202, ""));
    let url = teams.url("/workflows/abc/triggers/manual/paths/invoke");
    let (runtime, _process) = start(&[("SLACK_WEBHOOK_URL", &url), ("CHAT_PLATFORM", "teams")]).await;
    assert_eq!(runtime.invoke(&fixture("sns-alarm-metric.json")).await.response_json(), json!({"delivered": 1}));
    let card = teams.received()[0].json();
    assert_eq!(card["type"], "message");
    assert_eq!(card["attachments"][0]["content"]["type"], "AdaptiveCard");
    assert_eq!(card["attachments"][0]["content"]["body"][0]["items"][0]["text"], "🔴 ALARM: api-high-cpu");

    let mattermost = SlackStandIn::start().await;
    let url = mattermost.url("/hooks/xq1t7zq3rbfy8e4mzg6u1mtdsy");
    let (runtime, _process) =
        start(&[("SLACK_WEBHOOK_URL", &url), ("CHAT_PLATFORM", "mattermost"), ("SLACK_CHANNEL", "town-square")]).await;
    assert_eq!(runtime.invoke(&fixture("sns-alarm-metric.json")).await.response_json(), json!({"delivered": 1}));
    let post = mattermost.received()[0].json();
    assert_eq!(post["channel"], "town-square");
    assert_eq!(post["attachments"][0]["color"], "#E01E5A");
    assert!(post.get("blocks").is_none(), "Mattermost takes no Block Kit: {post}");

    let (runtime, _process) = start(&[("SLACK_WEBHOOK_URL", &url), ("CHAT_PLATFORM", "msteams")]).await;
    let inv = runtime.invoke(&fixture("sns-alarm-metric.json")).await;
    assert_eq!(inv.error()["errorType"], "ConfigError");
    assert!(inv.error()["errorMessage"].as_str().unwrap().contains("CHAT_PLATFORM"), "{:?}", inv.error());
}
