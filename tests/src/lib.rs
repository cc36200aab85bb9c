//! Test support shared by every test, the local demo and the benchmark: a Slack stand-in that records
//! what it receives and answers as scripted, a Lambda Runtime API emulator that drives the real
//! binaries, a moto server for KMS and Auto Scaling, and signing of Slack requests.

pub mod alertmanager_api_standin;
pub mod block_kit;
pub mod ci_standin;
pub mod cloudwatch_standin;
pub mod codedeploy_standin;
pub mod logs_standin;
pub mod moto;
pub mod runtime_api;
pub mod slack_api_standin;
pub mod slack_requests;
pub mod slack_standin;
pub mod slow_proxy;
pub mod storm;

pub use ci_standin::{CiReply, CiStandIn};
pub use cloudwatch_standin::{CloudWatchStandIn, WidgetReply};
pub use moto::Moto;
pub use runtime_api::{Container, FunctionProcess, Invocation, RuntimeApi, build_bin, build_binary};
pub use slack_api_standin::{ApiReply, ChannelInfo, RateLimits, SlackApiStandIn, UploadedFile};
pub use slack_standin::{Reply, SlackStandIn};

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// `v0=` + hex HMAC-SHA256 of `v0:{timestamp}:{body}`, as Slack signs requests.
pub fn slack_signature(secret: &str, timestamp: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(b"v0:");
    mac.update(timestamp.as_bytes());
    mac.update(b":");
    mac.update(body);
    format!("v0={}", hex::encode(mac.finalize().into_bytes()))
}

/// The workspace root (this crate lives in `tests/`).
pub fn workspace_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(std::path::Path::to_path_buf).unwrap_or_default()
}

/// A fixture from `events/`, as JSON.
pub fn fixture(name: &str) -> serde_json::Value {
    let path = workspace_root().join("events").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()))
}

/// A CodeDeploy client pointed at a closed loopback port, for tests that must not reach CodeDeploy:
/// any call fails at once.
pub fn unreachable_codedeploy() -> aws_sdk_codedeploy::Client {
    aws_sdk_codedeploy::Client::from_conf(
        aws_sdk_codedeploy::Config::builder()
            .behavior_version(aws_sdk_codedeploy::config::BehaviorVersion::latest())
            .region(aws_sdk_codedeploy::config::Region::new("eu-west-1"))
            .endpoint_url("http://127.0.0.1:9")
            .build(),
    )
}

/// An Auto Scaling client pointed at a closed loopback port, for tests that must not reach Auto Scaling:
/// any call fails at once and shows as an error answer.
pub fn unreachable_autoscaling() -> aws_sdk_autoscaling::Client {
    aws_sdk_autoscaling::Client::from_conf(
        aws_sdk_autoscaling::Config::builder()
            .behavior_version(aws_sdk_autoscaling::config::BehaviorVersion::latest())
            .region(aws_sdk_autoscaling::config::Region::new("eu-west-1"))
            .endpoint_url("http://127.0.0.1:9")
            .credentials_provider(aws_sdk_autoscaling::config::Credentials::new("a", "b", None, None, "t"))
            .build(),
    )
}

/// `event` (from [`sns_alarm`]) as if the alarm were in `account`.
pub fn from_account(mut event: serde_json::Value, account: &str) -> serde_json::Value {
    let record = &mut event["Records"][0]["Sns"];
    let mut message: serde_json::Value =
        serde_json::from_str(record["Message"].as_str().expect("Message")).expect("Message JSON");
    let name = message["AlarmName"].as_str().unwrap_or_default().to_owned();
    message["AWSAccountId"] = account.into();
    message["AlarmArn"] = format!("arn:aws:cloudwatch:eu-west-1:{account}:alarm:{name}").into();
    record["Message"] = message.to_string().into();
    event
}

/// An SNS alarm notification shaped like `events/sns-alarm-metric.json`: alarm `name` going from `old`
/// to `state` at `at` (`2026-11-20T09:41:07.473+0000`), SNS `MessageId` `message_id`, through `topic`.
pub fn sns_alarm(name: &str, state: &str, old: &str, at: &str, message_id: &str, topic: &str) -> serde_json::Value {
    let mut event = fixture("sns-alarm-metric.json");
    let record = &mut event["Records"][0]["Sns"];
    let mut message: serde_json::Value =
        serde_json::from_str(record["Message"].as_str().expect("Message")).expect("Message JSON");
    message["AlarmName"] = name.into();
    message["AlarmArn"] = format!("arn:aws:cloudwatch:eu-west-1:123456789012:alarm:{name}").into();
    message["NewStateValue"] = state.into();
    message["OldStateValue"] = old.into();
    message["StateChangeTime"] = at.into();
    message["NewStateReason"] = format!("Threshold Crossed: {name} went {state}").into();
    record["Message"] = message.to_string().into();
    record["MessageId"] = message_id.into();
    record["Subject"] = format!("{state}: \"{name}\" in EU (Ireland)").into();
    record["TopicArn"] = format!("arn:aws:sns:eu-west-1:123456789012:{topic}").into();
    event
}
