//! slack-command's handler over whole Lambda events: signature verification (no AWS call unless signed),
//! envelope shapes, bad bodies, access policy, and `/scale` against Auto Scaling on moto.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use chatops_shared::aws::kms::CachedSecret;
use chatops_shared::commands::Services;
use chatops_shared::config::SecretSource;
use chatops_shared::governance::{AccessPolicy, Governance};
use chatops_shared::secret::Secret;
use chatops_tests::slack_requests::{SHAPES, Shape, command_body, event, event_raw, signed_headers};
use chatops_tests::{Moto, Reply, SlackStandIn, slack_signature};
use lambda_runtime::{Context, LambdaEvent};
use serde_json::{Value, json};
use slack_command::{Deps, handle_event};

const SECRET: &str = "test-signing-secret-0123456789abcdef";
const TEAM: &str = "T0123ABCD";

fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

fn ts() -> String {
    now().to_string()
}

/// An Auto Scaling client served by our reqwest-backed SDK HTTP client, as in the function.
async fn autoscaling_at(endpoint: &str) -> aws_sdk_autoscaling::Client {
    let moto = Moto::shared();
    let conf = aws_sdk_autoscaling::config::Builder::from(&moto.sdk_config().await)
        .http_client(chatops_shared::aws::http::sdk_http_client(chatops_shared::http::http_client().unwrap()))
        .endpoint_url(endpoint)
        .retry_config(aws_sdk_autoscaling::config::retry::RetryConfig::disabled())
        .build();
    aws_sdk_autoscaling::Client::from_conf(conf)
}

fn deps_with(autoscaling: aws_sdk_autoscaling::Client, policy: AccessPolicy) -> Deps {
    let secret = SecretSource::Plain { var: "SLACK_SIGNING_SECRET", value: Secret::new(SECRET) };
    let services = Services {
        // No test here clicks a button: CodeDeploy points at a closed port.
        codedeploy: chatops_tests::unreachable_codedeploy(),
        autoscaling,
        codedeploy_settings: Default::default(),
    };
    let http = chatops_shared::http::http_client().unwrap();
    Deps {
        governance: Governance::access_only(policy),
        budget: Duration::from_millis(2500),
        now_unix: now,
        ..Deps::basic(CachedSecret::new(secret, None, None), services, http)
    }
}

/// Deps whose Auto Scaling endpoint is a recorder: any AWS call shows up there.
async fn recording_deps() -> (Deps, SlackStandIn) {
    let recorder = SlackStandIn::start().await;
    (deps_with(autoscaling_at(&recorder.url("")).await, AccessPolicy::default()), recorder)
}

async fn moto_deps(policy: AccessPolicy) -> Deps {
    deps_with(autoscaling_at(&Moto::shared().endpoint).await, policy)
}

async fn call(deps: &Deps, event: Value) -> (u16, Value, String) {
    let mut ctx = Context::default();
    ctx.deadline = (SystemTime::now().duration_since(UNIX_EPOCH).unwrap() + Duration::from_secs(6)).as_millis() as u64;
    let raw = serde_json::value::to_raw_value(&event).unwrap();
    let out = handle_event(deps, LambdaEvent::new(raw, ctx)).await.expect("handle_event never fails");
    let status = out["statusCode"].as_u64().unwrap() as u16;
    let body = out["body"].as_str().unwrap_or_default().to_owned();
    (status, serde_json::from_str(&body).unwrap_or(Value::Null), body)
}

fn headers(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// A unique group name per test, so tests sharing the moto server do not meet.
fn group(prefix: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    format!("{prefix}-{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed))
}

#[tokio::test]
async fn slacks_documented_example_passes_verification() {
    let (mut deps, recorder) = recording_deps().await;
    deps.signing_secret = CachedSecret::new(
        SecretSource::Plain { var: "S", value: Secret::new("8f742231b10e8888abcd99yyyzzz85a5") },
        None,
        None,
    );
    deps.now_unix = || 1_531_420_618 + 30;
    let body = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    let h = headers(&[
        ("X-Slack-Request-Timestamp", "1531420618"),
        ("X-Slack-Signature", "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"),
    ]);
    let (status, json, _) = call(&deps, event(Shape::Rest, &h, body.as_bytes(), false)).await;
    assert_eq!(status, 200);
    assert!(json["text"].as_str().unwrap().contains("I don't know `/webhook-collect`"), "{json}");
    assert!(recorder.received().is_empty());
}

/// A named case: headers and body.
type Case<'a> = (&'a str, Vec<(String, String)>, Vec<u8>);

#[tokio::test]
async fn every_forged_or_malformed_signature_is_a_bare_401_without_any_aws_call() {
    let (mut deps, recorder) = recording_deps().await;
    // The function's clock stands still at `at` for the whole test: the window cases are exact however
    // long the 100-odd calls take. (With the real clock, "5 min + 1 s in the future", computed once
    // before the loop, was inside the window by its turn on a loaded machine, and was answered 200.)
    static AT: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(0);
    AT.store(now(), std::sync::atomic::Ordering::SeqCst);
    deps.now_unix = || AT.load(std::sync::atomic::Ordering::SeqCst);
    let at = AT.load(std::sync::atomic::Ordering::SeqCst);
    let body = command_body("/scale", "web 3", "U1", TEAM);
    let b = body.as_bytes();
    let t = at.to_string();
    let good = slack_signature(SECRET, &t, b);
    let hex = good.trim_start_matches("v0=").to_owned();
    let old = (at - 301).to_string();
    let future = (at + 301).to_string();
    let sig = |secret: &str, ts: &str, body: &[u8]| slack_signature(secret, ts, body);
    let mut altered = b.to_vec();
    altered[10] ^= 1;
    let cases: Vec<Case> = vec![
        (
            "wrong secret",
            headers(&[("X-Slack-Request-Timestamp", &t), ("X-Slack-Signature", &sig("other", &t, b))]),
            b.to_vec(),
        ),
        ("altered body", headers(&[("X-Slack-Request-Timestamp", &t), ("X-Slack-Signature", &good)]), altered),
        (
            "body appended",
            headers(&[("X-Slack-Request-Timestamp", &t), ("X-Slack-Signature", &good)]),
            [b, b"&text=web+9"].concat(),
        ),
        (
            "body truncated",
            headers(&[("X-Slack-Request-Timestamp", &t), ("X-Slack-Signature", &good)]),
            b[..b.len() - 1].to_vec(),
        ),
        ("empty body", headers(&[("X-Slack-Request-Timestamp", &t), ("X-Slack-Signature", &good)]), vec![]),
        (
            "5 min + 1 s old",
            headers(&[("X-Slack-Request-Timestamp", &old), ("X-Slack-Signature", &sig(SECRET, &old, b))]),
            b.to_vec(),
        ),
        (
            "5 min + 1 s in the future",
            headers(&[("X-Slack-Request-Timestamp", &future), ("X-Slack-Signature", &sig(SECRET, &future, b))]),
            b.to_vec(),
        ),
        (
            "a day old",
            headers(&[
                ("X-Slack-Request-Timestamp", &(at - 86_400).to_string()),
                ("X-Slack-Signature", &sig(SECRET, &(at - 86_400).to_string(), b)),
            ]),
            b.to_vec(),
        ),
        (
            "timestamp zero",
            headers(&[("X-Slack-Request-Timestamp", "0"), ("X-Slack-Signature", &sig(SECRET, "0", b))]),
            b.to_vec(),
        ),
        (
            "non-numeric timestamp",
            headers(&[("X-Slack-Request-Timestamp", "abc"), ("X-Slack-Signature", &sig(SECRET, "abc", b))]),
            b.to_vec(),
        ),
        (
            "signed timestamp",
            headers(&[
                ("X-Slack-Request-Timestamp", &format!("+{t}")),
                ("X-Slack-Signature", &sig(SECRET, &format!("+{t}"), b)),
            ]),
            b.to_vec(),
        ),
        (
            "negative timestamp",
            headers(&[("X-Slack-Request-Timestamp", "-1"), ("X-Slack-Signature", &sig(SECRET, "-1", b))]),
            b.to_vec(),
        ),
        (
            "fractional timestamp",
            headers(&[
                ("X-Slack-Request-Timestamp", &format!("{t}.0")),
                ("X-Slack-Signature", &sig(SECRET, &format!("{t}.0"), b)),
            ]),
            b.to_vec(),
        ),
        (
            "padded timestamp",
            headers(&[
                ("X-Slack-Request-Timestamp", &format!(" {t}")),
                ("X-Slack-Signature", &sig(SECRET, &format!(" {t}"), b)),
            ]),
            b.to_vec(),
        ),
        (
            "overflowing timestamp",
            headers(&[
                ("X-Slack-Request-Timestamp", "99999999999999999999999"),
                ("X-Slack-Signature", &sig(SECRET, "99999999999999999999999", b)),
            ]),
            b.to_vec(),
        ),
        (
            "empty timestamp",
            headers(&[("X-Slack-Request-Timestamp", ""), ("X-Slack-Signature", &sig(SECRET, "", b))]),
            b.to_vec(),
        ),
        ("missing timestamp", headers(&[("X-Slack-Signature", &good)]), b.to_vec()),
        ("missing signature", headers(&[("X-Slack-Request-Timestamp", &t)]), b.to_vec()),
        ("no headers at all", vec![], b.to_vec()),
        ("empty signature", headers(&[("X-Slack-Request-Timestamp", &t), ("X-Slack-Signature", "")]), b.to_vec()),
        (
            "v1= prefix",
            headers(&[("X-Slack-Request-Timestamp", &t), ("X-Slack-Signature", &format!("v1={hex}"))]),
            b.to_vec(),
        ),
        (
            "V0= prefix",
            headers(&[("X-Slack-Request-Timestamp", &t), ("X-Slack-Signature", &format!("V0={hex}"))]),
            b.to_vec(),
        ),
        ("no prefix", headers(&[("X-Slack-Request-Timestamp", &t), ("X-Slack-Signature", &hex)]), b.to_vec()),
        (
            "uppercase hex",
            headers(&[("X-Slack-Request-Timestamp", &t), ("X-Slack-Signature", &format!("v0={}", hex.to_uppercase()))]),
            b.to_vec(),
        ),
        (
            "truncated signature",
            headers(&[("X-Slack-Request-Timestamp", &t), ("X-Slack-Signature", &good[..good.len() - 2])]),
            b.to_vec(),
        ),
        (
            "signature with extra hex",
            headers(&[("X-Slack-Request-Timestamp", &t), ("X-Slack-Signature", &format!("{good}00"))]),
            b.to_vec(),
        ),
        (
            "signature with spaces",
            headers(&[("X-Slack-Request-Timestamp", &t), ("X-Slack-Signature", &format!(" {good}"))]),
            b.to_vec(),
        ),
        (
            "two signatures",
            headers(&[("X-Slack-Request-Timestamp", &t), ("X-Slack-Signature", &format!("{good},{good}"))]),
            b.to_vec(),
        ),
        (
            "replayed with a fresh timestamp",
            headers(&[("X-Slack-Request-Timestamp", &(at - 1).to_string()), ("X-Slack-Signature", &good)]),
            b.to_vec(),
        ),
        (
            "signed over the decoded body",
            headers(&[
                ("X-Slack-Request-Timestamp", &t),
                ("X-Slack-Signature", &sig(SECRET, &t, body.replace("%2F", "/").as_bytes())),
            ]),
            b.to_vec(),
        ),
        (
            "legacy verification token only",
            headers(&[("X-Slack-Request-Timestamp", &t)]),
            b"token=legacyTokenIgnored&command=%2Fscale&user_id=U1&text=web+3".to_vec(),
        ),
        (
            "signature of an empty body",
            headers(&[("X-Slack-Request-Timestamp", &t), ("X-Slack-Signature", &sig(SECRET, &t, b""))]),
            b.to_vec(),
        ),
    ];
    assert!(cases.len() >= 25);
    for (name, h, body) in cases {
        for shape in SHAPES {
            for base64 in [false, true] {
                if !base64 && std::str::from_utf8(&body).is_err() {
                    continue;
                }
                let (status, _, raw) = call(&deps, event(shape, &h, &body, base64)).await;
                assert_eq!((status, raw.as_str()), (401, ""), "{name} ({shape:?}, base64 {base64})");
            }
        }
    }
    assert!(recorder.received().is_empty(), "an AWS call was made for an unsigned request");
}

#[tokio::test]
async fn bad_envelopes_and_bodies_get_a_400_never_a_5xx() {
    let (deps, recorder) = recording_deps().await;
    let t = ts();
    // Invalid base64, in every shape.
    for shape in SHAPES {
        let (status, _, raw) =
            call(&deps, event_raw(shape, &signed_headers(SECRET, &t, b"!!!"), "!!!not base64!!!", true)).await;
        assert_eq!(status, 400, "{shape:?}: {raw}");
        assert!(raw.contains("base64"), "{raw}");
    }
    // Not an HTTP event at all.
    let (status, _, _) = call(&deps, json!({"Records": []})).await;
    assert_eq!(status, 400);
    // Signed, but not a slash command / not form-encoded / not UTF-8.
    for (body, expect) in [
        (br#"{"command":"/scale"}"#.to_vec(), "is missing"),
        (b"command=%2Fscale&user_id=U1&text=%FF".to_vec(), "UTF-8"),
        (b"command=%2Fscale&user_id=U1&text=\xff\xfe".to_vec(), "UTF-8"),
        (b"command=%2Fscale&user_id=U1&text=%G0".to_vec(), "form-encoded"),
    ] {
        let (status, _, raw) =
            call(&deps, event(Shape::HttpApi, &signed_headers(SECRET, &t, &body), &body, true)).await;
        assert_eq!(status, 400, "{raw}");
        assert!(raw.contains(expect), "{raw}");
    }
    // GET is not a Slack request.
    let mut get = event(Shape::Rest, &[], b"", false);
    get["httpMethod"] = json!("GET");
    assert_eq!(call(&deps, get).await.0, 405);
    assert!(recorder.received().is_empty());
}

#[tokio::test]
async fn ssl_check_is_answered_after_verification() {
    let (deps, _) = recording_deps().await;
    let body = b"ssl_check=1&token=legacy";
    let (status, _, raw) = call(&deps, event(Shape::HttpApi, &signed_headers(SECRET, &ts(), body), body, false)).await;
    assert_eq!((status, raw.as_str()), (200, ""));
}

#[tokio::test]
async fn the_same_signed_request_gives_the_same_answer_in_every_shape_and_encoding() {
    let moto = Moto::shared();
    let name = group("shapes");
    moto.create_group(&name, 0, 10, 1, Some("enabled")).await;
    let deps = moto_deps(AccessPolicy::default()).await;
    let mut answers = Vec::new();
    for text in [name.to_string(), format!("{name}   "), format!("{name}-café")] {
        let body = command_body("/scale", &text, "U1", TEAM);
        let h = signed_headers(SECRET, &ts(), body.as_bytes());
        for shape in SHAPES {
            for base64 in [false, true] {
                let (status, json, _) = call(&deps, event(shape, &h, body.as_bytes(), base64)).await;
                assert_eq!(status, 200);
                answers.push((text.clone(), json["response_type"].clone(), json["text"].clone()));
            }
        }
    }
    // ASCII texts: identical answers in all six variants each (status of the group).
    for chunk in answers.chunks(6) {
        assert!(chunk.iter().all(|a| a == &chunk[0]), "{chunk:?}");
    }
    assert!(answers[0].2.as_str().unwrap().contains("Desired *1*"), "{:?}", answers[0]);
    // A UTF-8 text reaches the command intact, through base64 or not.
    assert!(
        answers[12].2.as_str().unwrap().contains(&format!("no Auto Scaling group named `{name}-café`")),
        "{:?}",
        answers[12]
    );
    // Header names in any case.
    let body = command_body("/scale", &name, "U1", TEAM);
    let t = ts();
    let h = headers(&[
        ("x-SLACK-request-TIMESTAMP", &t),
        ("X-SLACK-SIGNATURE", &slack_signature(SECRET, &t, body.as_bytes())),
    ]);
    assert_eq!(call(&deps, event(Shape::Rest, &h, body.as_bytes(), false)).await.0, 200);
}

async fn scale(deps: &Deps, text: &str, user: &str, team: &str) -> Value {
    let body = command_body("/scale", text, user, team);
    let (status, json, raw) =
        call(deps, event(Shape::HttpApi, &signed_headers(SECRET, &ts(), body.as_bytes()), body.as_bytes(), false))
            .await;
    assert_eq!(status, 200, "{raw}");
    json
}

fn text_of(v: &Value) -> String {
    v["text"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn scale_sets_changes_and_shows_tagged_groups_within_bounds() {
    let moto = Moto::shared();
    let name = group("web");
    moto.create_group(&name, 1, 6, 2, Some("enabled")).await;
    let deps = moto_deps(AccessPolicy::default()).await;

    let shown = scale(&deps, &name, "U1", TEAM).await;
    assert_eq!(shown["response_type"], "ephemeral");
    let t = text_of(&shown);
    assert!(t.contains("Desired *2* · min 1 · max 6") && t.contains("2 in service"), "{t}");

    let set = scale(&deps, &format!("{name} 4"), "U1", TEAM).await;
    assert_eq!(set["response_type"], "in_channel");
    assert!(text_of(&set).contains(&format!("<@U1> scaled `{name}` from 2 to 4")), "{}", text_of(&set));
    assert_eq!(moto.desired_capacity(&name).await, 4);

    scale(&deps, &format!("{name} +2"), "U1", TEAM).await;
    assert_eq!(moto.desired_capacity(&name).await, 6);
    scale(&deps, &format!("{name} -3"), "U1", TEAM).await;
    assert_eq!(moto.desired_capacity(&name).await, 3);

    for over in ["7", "+4", "0", "-3"] {
        let refused = scale(&deps, &format!("{name} {over}"), "U1", TEAM).await;
        assert_eq!(refused["response_type"], "ephemeral");
        let t = text_of(&refused);
        assert!(t.contains("min 1 and max 6") && t.contains("Nothing was changed"), "{over}: {t}");
        assert_eq!(moto.desired_capacity(&name).await, 3, "{over}");
    }
    let same = scale(&deps, &format!("{name} 3"), "U1", TEAM).await;
    assert!(text_of(&same).contains("already at a desired capacity of 3"));

    for help in ["help", "web 1.5"] {
        let usage = scale(&deps, help, "U1", TEAM).await;
        assert!(text_of(&usage).contains("*Usage*"), "{help:?}: {}", text_of(&usage));
        assert_eq!(usage["response_type"], "ephemeral");
    }

    // `/scale` alone lists the tagged groups with their capacity (other tests' groups may be there too).
    let listed = scale(&deps, "", "U1", TEAM).await["blocks"].to_string();
    assert!(listed.contains(&format!("`{name}`: desired *3* · min 1 · max 6")), "{listed}");
    // A word where the number goes is named, not taken for part of the group's name.
    let word = text_of(&scale(&deps, &format!("{name} three"), "U1", TEAM).await);
    assert!(word.contains("`three` is not a number of instances") && word.contains("*Usage*"), "{word}");
    // With a number read, the words before it are the group's name, spaces and all.
    let spaced = text_of(&scale(&deps, "no such group 3", "U1", TEAM).await);
    assert!(spaced.contains("no Auto Scaling group named `no such group`"), "{spaced}");
    // A near miss gets the closest tagged name.
    let typo: String = name.replacen("web", "wbe", 1);
    let missed = text_of(&scale(&deps, &typo, "U1", TEAM).await);
    assert!(missed.contains(&format!("Did you mean `{name}`")), "{missed}");
    assert_eq!(moto.desired_capacity(&name).await, 3);
}

#[tokio::test]
async fn untagged_unknown_and_wrongly_tagged_groups_are_refused_and_unchanged() {
    let moto = Moto::shared();
    let untagged = group("untagged");
    let disabled = group("disabled");
    moto.create_group(&untagged, 0, 5, 1, None).await;
    moto.create_group(&disabled, 0, 5, 1, Some("disabled")).await;
    let deps = moto_deps(AccessPolicy::default()).await;
    for name in [&untagged, &disabled] {
        for text in [name.to_string(), format!("{name} 3")] {
            let t = text_of(&scale(&deps, &text, "U1", TEAM).await);
            assert!(t.contains("add the tag `chatops:scale` = `enabled`"), "{t}");
        }
        assert_eq!(moto.desired_capacity(name).await, 1);
    }
    let t = text_of(&scale(&deps, "no-such-group 2", "U1", TEAM).await);
    assert!(t.contains("no Auto Scaling group named `no-such-group`"), "{t}");
}

#[tokio::test]
async fn users_and_workspaces_outside_the_policy_are_refused() {
    let moto = Moto::shared();
    let name = group("policy");
    moto.create_group(&name, 0, 5, 1, Some("enabled")).await;
    let policy = AccessPolicy {
        team_id: Some(TEAM.into()),
        allowed_users: AccessPolicy::parse_users(Some(" U_ALLOWED , ,U_OTHER")),
    };
    let deps = moto_deps(policy).await;
    let t = text_of(&scale(&deps, &format!("{name} 3"), "U_STRANGER", TEAM).await);
    assert!(t.contains("you are not allowed"), "{t}");
    let t = text_of(&scale(&deps, &format!("{name} 3"), "U_ALLOWED", "T_ELSEWHERE").await);
    assert!(t.contains("not take commands from this workspace"), "{t}");
    assert_eq!(moto.desired_capacity(&name).await, 1);
    scale(&deps, &format!("{name} 3"), "U_ALLOWED", TEAM).await;
    assert_eq!(moto.desired_capacity(&name).await, 3);
}

#[tokio::test]
async fn a_slow_aws_gets_an_honest_answer_within_the_budget() {
    let slow = SlackStandIn::start().await;
    slow.always(Reply::slow(Duration::from_secs(10)));
    let mut deps = deps_with(autoscaling_at(&slow.url("")).await, AccessPolicy::default());
    deps.budget = Duration::from_millis(800);
    let started = Instant::now();
    let json = scale(&deps, "web 3", "U1", TEAM).await;
    let took = started.elapsed();
    assert!(took < Duration::from_millis(1500), "took {took:?}");
    assert!(text_of(&json).contains("did not answer in time"), "{json}");
    assert_eq!(json["response_type"], "ephemeral");
}

#[tokio::test]
async fn aws_errors_are_reported_not_hidden() {
    let broken = SlackStandIn::start().await;
    broken.always(Reply::status(403, "<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>User is not authorized to perform autoscaling:DescribeAutoScalingGroups</Message></Error><RequestId>1</RequestId></ErrorResponse>"));
    let deps = deps_with(autoscaling_at(&broken.url("")).await, AccessPolicy::default());
    let t = text_of(&scale(&deps, "web", "U1", TEAM).await);
    assert!(t.contains("AccessDenied") && t.contains("not authorized"), "{t}");
}

#[tokio::test]
async fn the_sample_events_in_events_are_valid_signed_requests() {
    let mut deps = moto_deps(AccessPolicy::default()).await;
    deps.signing_secret =
        CachedSecret::new(SecretSource::Plain { var: "S", value: Secret::new("local-dev-signing-secret") }, None, None);
    deps.now_unix = || 1_795_167_667;
    for name in ["slack-command-rest-api.json", "slack-command-http-api.json", "slack-command-function-url.json"] {
        let (status, json, raw) = call(&deps, chatops_tests::fixture(name)).await;
        assert_eq!(status, 200, "{name}: {raw}");
        assert!(text_of(&json).contains("`web-asg`"), "{name}: {json}");
    }
}
