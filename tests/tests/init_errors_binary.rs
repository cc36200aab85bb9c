//! A function that cannot start says why to Lambda (`POST /runtime/init/error`, #21), not only in its log:
//! on AWS a bare exit shows as `Runtime.ExitError`, and `aws lambda invoke` or the console's test show
//! nothing of the cause. Both built binaries, over the Runtime API emulator.

use std::time::Duration;

use chatops_tests::{FunctionProcess, Moto, RuntimeApi, build_binary};

/// Starts `binary` with `env` and waits for it to exit; returns the init error it reported.
async fn failed_init(binary: &str, env: &[(&str, String)]) -> (serde_json::Value, String, usize) {
    let runtime = RuntimeApi::start().await;
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut process = FunctionProcess::spawn(&build_binary(binary, false), &runtime, &env);
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while process.is_running() && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!process.is_running(), "{binary}: init must fail");
    let reported =
        runtime.init_error().unwrap_or_else(|| panic!("{binary} reported no init error:\n{}", process.output()));
    (reported, process.output(), runtime.next_calls().len())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_policy_is_reported_as_a_config_error_naming_the_rule() {
    let mut env = Moto::shared().env();
    env.extend([
        ("SLACK_SIGNING_SECRET", "a-signing-secret-never-logged".to_owned()),
        ("CHATOPS_POLICY", r#"{"rules": [{"actions": ["scael"], "requesters": ["*"]}]}"#.to_owned()),
    ]);
    let (reported, output, next_calls) = failed_init("slack-command", &env).await;
    assert_eq!(reported["errorType"], "ConfigError");
    let message = reported["errorMessage"].as_str().unwrap_or_default();
    assert!(message.contains("CHATOPS_POLICY") && message.contains("unknown action `scael`"), "{message}");
    assert_eq!(next_calls, 0, "no event is asked for after a failed init");
    assert!(!output.contains("a-signing-secret-never-logged") && !message.contains("never-logged"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_signing_secret_is_reported_naming_the_variables() {
    let (reported, _, _) = failed_init("slack-command", &Moto::shared().env()).await;
    assert_eq!(reported["errorType"], "ConfigError");
    let message = reported["errorMessage"].as_str().unwrap_or_default();
    assert!(message.contains("SLACK_SIGNING_SECRET"), "{message}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreadable_stack_secret_is_reported_as_a_secret_error() {
    let mut env = Moto::shared().env();
    env.push((
        "SLACK_SECRETS_ARN",
        "arn:aws:secretsmanager:eu-west-1:123456789012:secret:chatops-missing-AbCdEf".to_owned(),
    ));
    for binary in ["alarm-to-slack", "slack-command"] {
        let (reported, _, _) = failed_init(binary, &env).await;
        assert_eq!(reported["errorType"], "SecretError", "{binary}");
        let message = reported["errorMessage"].as_str().unwrap_or_default();
        assert!(message.contains("SLACK_SECRETS_ARN") && message.contains("chatops-missing"), "{binary}: {message}");
    }
}
