//! The handler against a loopback Slack stand-in (every answer Slack can give) and KMS on moto.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use alarm_to_slack::{Config, Deps, Destination, HandlerError, PostError, handle};
use chatops_shared::aws::kms::CachedSecret;
use chatops_shared::config::SecretSource;
use chatops_shared::http::{RetryPolicy, http_client};
use chatops_shared::notify::MessageDefaults;
use chatops_shared::notify::routing::Routes;
use chatops_shared::secret::Secret;
use chatops_shared::slack::webhook::DeliveryError;
use chatops_tests::{Moto, Reply, SlackStandIn, fixture};
use lambda_runtime::{Context, LambdaEvent};
use serde_json::{Value, json};

fn event(payload: Value, budget: Duration) -> LambdaEvent<Value> {
    let mut ctx = Context::default();
    ctx.deadline = (SystemTime::now().duration_since(UNIX_EPOCH).unwrap() + budget).as_millis() as u64;
    LambdaEvent::new(payload, ctx)
}

fn fast_policy() -> RetryPolicy {
    RetryPolicy { backoff: Duration::from_millis(20), ..RetryPolicy::default() }
}

fn deps(url: String, policy: RetryPolicy) -> Deps {
    let config = Config {
        destination: Destination::Webhook(SecretSource::Plain { var: "SLACK_WEBHOOK_URL", value: Secret::new(url) }),
        defaults: MessageDefaults { channel: Some("#alarms".into()), ..MessageDefaults::default() },
        routes: Routes::default(),
        state_table: None,
        retention: Duration::from_secs(7 * 86_400),
        function_name: Some("alarm-to-slack".into()),
        min_finding_severity: None,
        platform: None,
        alertmanager_token: None,
        storm: Default::default(),
        accounts: Default::default(),
        graphs: false,
        cross_account: false,
        log_groups: None,
    };
    Deps::new(config, None, None, http_client().unwrap(), policy)
}

/// Routine service events and findings below `FINDINGS_MIN_SEVERITY` are logged, not posted; the
/// rest of the batch still is.
#[tokio::test]
async fn routine_events_and_low_findings_are_not_posted() {
    let slack = SlackStandIn::start().await;
    let mut deps = deps(slack.url("/hook"), fast_policy());
    let lookup = |name: &str| match name {
        "SLACK_WEBHOOK_URL" => Some("https://hooks.slack.com/services/T/B/x".to_owned()),
        "FINDINGS_MIN_SEVERITY" => Some("high".to_owned()),
        _ => None,
    };
    deps.min_finding_severity = Config::from_lookup(&lookup).unwrap().min_finding_severity;
    let mut low = fixture("guardduty-finding.json");
    low["detail"]["severity"] = json!(5.0);
    let mut routine = fixture("ecs-task-stopped.json");
    routine["detail"]["lastStatus"] = json!("RUNNING");
    let records: Vec<Value> = [low, routine, fixture("guardduty-finding.json")]
        .iter()
        .enumerate()
        .map(|(i, e)| json!({"Sns": {"MessageId": format!("m-{i}"), "Message": e.to_string()}}))
        .collect();
    let out = handle(&deps, event(json!({ "Records": records }), Duration::from_secs(10))).await.unwrap();
    assert_eq!(out, json!({"delivered": 1, "ignored": 2}));
    let got = slack.received();
    assert_eq!(got.len(), 1);
    assert!(got[0].json()["text"].as_str().unwrap().contains("SSH brute force"), "{}", got[0].json());
    for bad in ["informational", "severe"] {
        let lookup = |name: &str| match name {
            "SLACK_WEBHOOK_URL" => Some("https://hooks.slack.com/services/T/B/x".to_owned()),
            "FINDINGS_MIN_SEVERITY" => Some(bad.to_owned()),
            _ => None,
        };
        let err = Config::from_lookup(&lookup).unwrap_err();
        assert!(err.to_string().contains("FINDINGS_MIN_SEVERITY"), "{err}");
    }
}

#[tokio::test]
async fn delivers_the_rendered_alarm_once_on_200() {
    let slack = SlackStandIn::start().await;
    let deps = deps(slack.url("/services/T0/B0/secret"), fast_policy());
    let out = handle(&deps, event(fixture("sns-alarm-metric.json"), Duration::from_secs(10))).await.unwrap();
    assert_eq!(out, json!({"delivered": 1}));
    let got = slack.received();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].path, "/services/T0/B0/secret");
    assert_eq!(got[0].headers["content-type"], "application/json; charset=utf-8");
    let body = got[0].json();
    assert_eq!(body["channel"], "#alarms");
    assert!(body["text"].as_str().unwrap().starts_with("🔴 ALARM: api-high-cpu"));
}

#[tokio::test]
async fn waits_retry_after_on_429_then_delivers() {
    let slack = SlackStandIn::start().await;
    slack.script([Reply::rate_limited(1)]);
    let deps = deps(slack.url("/hook"), fast_policy());
    handle(&deps, event(fixture("sns-alarm-metric.json"), Duration::from_secs(10))).await.unwrap();
    let got = slack.received();
    assert_eq!(got.len(), 2);
    let gap = got[1].at - got[0].at;
    assert!(gap >= Duration::from_millis(990), "waited only {gap:?}");
    assert_eq!(got[0].body, got[1].body, "the same message is retried");
}

#[tokio::test]
async fn a_retry_after_beyond_the_deadline_fails_at_once_instead_of_timing_out() {
    let slack = SlackStandIn::start().await;
    slack.always(Reply::rate_limited(30));
    let deps = deps(slack.url("/hook"), fast_policy());
    let started = Instant::now();
    let err = handle(&deps, event(fixture("sns-alarm-metric.json"), Duration::from_secs(5))).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
    assert!(
        matches!(
            err,
            HandlerError::Delivery { first: PostError::Webhook(DeliveryError::Deadline { attempts: 1, .. }), .. }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn persistent_500_is_retried_with_backoff_then_fails_the_invocation() {
    let slack = SlackStandIn::start().await;
    slack.always(Reply::status(500, "internal_error"));
    let deps = deps(slack.url("/hook"), fast_policy());
    let err = handle(&deps, event(fixture("sns-alarm-metric.json"), Duration::from_secs(10))).await.unwrap_err();
    let got = slack.received();
    assert_eq!(got.len(), 5);
    let gaps: Vec<Duration> = got.windows(2).map(|w| w[1].at - w[0].at).collect();
    assert!(gaps.windows(2).all(|g| g[1] >= g[0]), "backoff grows: {gaps:?}");
    let msg = err.to_string();
    assert!(msg.contains("1 of 1 messages were not delivered") && msg.contains("internal_error"), "{msg}");
    assert_eq!(lambda_runtime::Diagnostic::from(err).error_type, "SlackDeliveryFailed");
}

#[tokio::test]
async fn a_400_is_not_retried_and_slacks_answer_is_reported() {
    let slack = SlackStandIn::start().await;
    slack.always(Reply::status(400, "invalid_payload"));
    let deps = deps(slack.url("/hook"), fast_policy());
    let err = handle(&deps, event(fixture("sns-alarm-metric.json"), Duration::from_secs(10))).await.unwrap_err();
    assert_eq!(slack.received().len(), 1);
    match err {
        HandlerError::Delivery {
            first: PostError::Webhook(DeliveryError::Rejected { status: 400, answer, attempts: 1 }),
            ..
        } => {
            assert_eq!(answer, "invalid_payload")
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_server_slower_than_the_deadline_fails_before_the_deadline() {
    let slack = SlackStandIn::start().await;
    slack.always(Reply::slow(Duration::from_secs(10)));
    let deps = deps(slack.url("/hook"), fast_policy());
    let started = Instant::now();
    let err = handle(&deps, event(fixture("sns-alarm-metric.json"), Duration::from_millis(2000))).await.unwrap_err();
    let took = started.elapsed();
    assert!(took < Duration::from_millis(2000), "returned after the deadline: {took:?}");
    assert!(took >= Duration::from_millis(1500), "gave up too early: {took:?}");
    assert!(err.to_string().contains("deadline") || err.to_string().contains("timed out"), "{err}");
}

#[tokio::test]
async fn every_record_of_a_batch_is_tried_even_after_a_failure() {
    let slack = SlackStandIn::start().await;
    slack.script([Reply::ok(), Reply::status(404, "no_service"), Reply::ok()]);
    let deps = deps(slack.url("/hook"), fast_policy());
    let err = handle(&deps, event(fixture("sns-batch.json"), Duration::from_secs(10))).await.unwrap_err();
    let got = slack.received();
    assert_eq!(got.len(), 3);
    assert!(got[2].json()["text"].as_str().unwrap().contains("checkout-p99-latency"));
    assert!(err.to_string().starts_with("1 of 3 messages"), "{err}");
}

#[tokio::test]
async fn an_unrecognised_event_is_a_clear_error_and_nothing_is_posted() {
    let slack = SlackStandIn::start().await;
    let deps = deps(slack.url("/hook"), fast_policy());
    let err = handle(&deps, event(json!({"hello": "world"}), Duration::from_secs(5))).await.unwrap_err();
    assert_eq!(lambda_runtime::Diagnostic::from(err).error_type, "UnrecognisedEvent");
    assert!(slack.received().is_empty());
}

#[tokio::test]
async fn config_from_the_environment_contract() {
    let env = |pairs: &'static [(&'static str, &'static str)]| {
        move |k: &str| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())
    };
    let c = Config::from_lookup(&env(&[
        ("SLACK_WEBHOOK_URL", "hooks.slack.com/services/X"),
        ("SLACK_CHANNEL", "#ops"),
        ("SLACK_USERNAME", "aws"),
        ("SLACK_ICON_EMOJI", ":bell:"),
        ("AWS_LAMBDA_FUNCTION_NAME", "fn"),
    ]))
    .unwrap();
    assert!(!c.needs_kms());
    assert_eq!(c.defaults.channel.as_deref(), Some("#ops"));
    assert_eq!(c.function_name.as_deref(), Some("fn"));
    let err = Config::from_lookup(&env(&[])).unwrap_err().to_string();
    assert!(err.contains("KMS_ENCRYPTED_SLACK_WEBHOOK_URL") && err.contains("SLACK_WEBHOOK_URL"), "{err}");
    assert!(Config::from_lookup(&env(&[("KMS_ENCRYPTED_SLACK_WEBHOOK_URL", "AQID")])).unwrap().needs_kms());
}

fn kms_secret(client: aws_sdk_kms::Client, ciphertext: String, function: &str) -> CachedSecret {
    CachedSecret::new(
        SecretSource::Kms { var: "KMS_ENCRYPTED_SLACK_WEBHOOK_URL", ciphertext },
        Some(client),
        Some(function.to_owned()),
    )
    .with_transform(alarm_to_slack::normalise_webhook_url)
}

#[tokio::test]
async fn kms_ciphertexts_with_and_without_context_decrypt_and_get_a_scheme() {
    let moto = Moto::shared();
    let key = moto.create_key().await;
    let client = moto.kms().await;
    let plain = "hooks.slack.com/services/T0/B0/XYZ";
    for context in [Some("alarm-to-slack"), None] {
        let ciphertext = moto.encrypt(&key, plain, context).await;
        let secret = kms_secret(client.clone(), ciphertext, "alarm-to-slack");
        assert_eq!(
            secret.get().await.unwrap().expose(),
            "https://hooks.slack.com/services/T0/B0/XYZ",
            "context {context:?}"
        );
    }
}

#[tokio::test]
async fn a_ciphertext_bound_to_another_function_fails_with_a_clear_error_and_no_secret() {
    let moto = Moto::shared();
    let key = moto.create_key().await;
    let ciphertext = moto.encrypt(&key, "https://hooks.slack.com/services/T0/B0/XYZ", Some("someone-else")).await;
    let secret = kms_secret(moto.kms().await, ciphertext.clone(), "alarm-to-slack");
    let err = secret.get().await.unwrap_err().to_string();
    assert!(err.starts_with("KMS failed to decrypt KMS_ENCRYPTED_SLACK_WEBHOOK_URL"), "{err}");
    assert!(!err.contains(&ciphertext) && !err.contains("hooks.slack.com"), "{err}");
    let not_b64 = kms_secret(moto.kms().await, "%%%not base64%%%".into(), "f").get().await.unwrap_err().to_string();
    assert_eq!(not_b64, "KMS_ENCRYPTED_SLACK_WEBHOOK_URL is not valid base64 KMS ciphertext");
}

/// A TCP relay to moto that can be cut, so a test can tell whether KMS is called again.
struct Relay {
    endpoint: String,
    tasks: std::sync::Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl Relay {
    async fn start(target: &str) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let target = target.trim_start_matches("http://").to_owned();
        let tasks: std::sync::Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>> = Default::default();
        let inner = tasks.clone();
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let target = target.clone();
                inner.lock().unwrap().push(tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                }));
            }
        });
        tasks.lock().unwrap().push(accept);
        Self { endpoint, tasks }
    }

    fn cut(&self) {
        for t in self.tasks.lock().unwrap().drain(..) {
            t.abort();
        }
    }
}

#[tokio::test]
async fn the_secret_is_decrypted_once_per_container() {
    let moto = Moto::shared();
    let key = moto.create_key().await;
    let relay = Relay::start(&moto.endpoint).await;
    let config = aws_sdk_kms::config::Builder::from(&moto.sdk_config().await).endpoint_url(&relay.endpoint).build();
    let client = aws_sdk_kms::Client::from_conf(config);
    let ciphertext = moto.encrypt(&key, "https://example.test/hook", Some("f")).await;
    let secret = kms_secret(client.clone(), ciphertext.clone(), "f");
    assert_eq!(secret.get().await.unwrap().expose(), "https://example.test/hook");
    relay.cut();
    // KMS is now out of reach: the cached value still answers, a fresh decrypt does not.
    assert_eq!(secret.get().await.unwrap().expose(), "https://example.test/hook");
    let fresh = kms_secret(client, ciphertext, "f");
    assert!(fresh.get().await.is_err(), "KMS must be unreachable, or this test proves nothing");
}

/// An HTTPS server on loopback with a self-signed certificate (openssl + Python's ssl module).
struct SelfSignedTls {
    child: std::process::Child,
    port: u16,
    _dir: std::path::PathBuf,
}

impl SelfSignedTls {
    fn start() -> Self {
        let dir = std::env::temp_dir().join(format!("chatops-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let status = std::process::Command::new("openssl")
            .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost"])
            .arg("-keyout")
            .arg(dir.join("key.pem"))
            .arg("-out")
            .arg(dir.join("cert.pem"))
            .stderr(std::process::Stdio::null())
            .status()
            .expect("openssl is needed for this test (Debian: apt-get install openssl)");
        assert!(status.success());
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let script = format!(
            "import http.server, ssl\nctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)\nctx.load_cert_chain({cert:?}, {key:?})\nsrv = http.server.HTTPServer(('127.0.0.1', {port}), http.server.BaseHTTPRequestHandler)\nsrv.socket = ctx.wrap_socket(srv.socket, server_side=True)\nsrv.serve_forever()\n",
            cert = dir.join("cert.pem").display().to_string(),
            key = dir.join("key.pem").display().to_string(),
        );
        let child = std::process::Command::new("python3").args(["-c", &script]).spawn().expect("python3");
        let until = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(50));
        }
        Self { child, port, _dir: dir }
    }
}

impl Drop for SelfSignedTls {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn https_is_verified_and_the_cause_of_a_failure_is_reported() {
    let tls = SelfSignedTls::start();
    let policy = RetryPolicy { max_attempts: 2, ..fast_policy() };
    let deps = deps(format!("https://localhost:{}/services/T0/B0/secret", tls.port), policy);
    let err = handle(&deps, event(fixture("sns-alarm-metric.json"), Duration::from_secs(10))).await.unwrap_err();
    let msg = err.to_string();
    // The handshake happened and the self-signed certificate was refused: TLS is on and verifying.
    assert!(msg.contains("invalid peer certificate"), "{msg}");
    assert!(!msg.contains("secret"), "the webhook URL must not appear: {msg}");
}
