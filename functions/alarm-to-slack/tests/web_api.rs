//! The Web API path: a bot token, a loopback Slack Web API stand-in that keeps channels and threads and
//! can fail like Slack, and the state table on moto's DynamoDB. One message per alarm lifecycle,
//! routing, exactly-once posting, and delivery when DynamoDB is down.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use alarm_to_slack::{Config, Deps, HandlerError, PostError, handle};
use chatops_shared::http::{RetryPolicy, http_client};
use chatops_shared::slack::api::{ApiError, ErrorClass};
use chatops_tests::{ApiReply, Moto, SlackApiStandIn, fixture, sns_alarm};
use lambda_runtime::{Context, LambdaEvent};
use serde_json::{Value, json};

const TOKEN: &str = "xoxb-test-SECRET-token";

fn event(payload: Value) -> LambdaEvent<Value> {
    let mut ctx = Context::default();
    ctx.request_id = "req-1".into();
    ctx.deadline = (SystemTime::now().duration_since(UNIX_EPOCH).unwrap() + Duration::from_secs(10)).as_millis() as u64;
    LambdaEvent::new(payload, ctx)
}

fn fast_policy() -> RetryPolicy {
    RetryPolicy { backoff: Duration::from_millis(20), ..RetryPolicy::default() }
}

/// A container of the function: configured through the environment contract.
async fn container(api: &SlackApiStandIn, table: Option<&str>, extra: &[(&str, &str)]) -> Deps {
    let url = api.url();
    let mut vars: Vec<(&str, &str)> =
        vec![("SLACK_BOT_TOKEN", TOKEN), ("SLACK_API_URL", &url), ("SLACK_CHANNEL", "C0ALARMS")];
    if let Some(t) = table {
        vars.push(("STATE_TABLE", t));
    }
    vars.extend_from_slice(extra);
    let config =
        Config::from_lookup(&|k| vars.iter().rev().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())).unwrap();
    let dynamodb = match table {
        Some(_) => Some(chatops_shared::state::dynamodb_client(&Moto::shared().sdk_config().await)),
        None => None,
    };
    Deps::new(config, None, dynamodb, http_client().unwrap(), fast_policy())
}

async fn table() -> String {
    Moto::shared().create_state_table().await
}

fn alarm(name: &str, state: &str, old: &str, minute: u32, id: &str) -> Value {
    sns_alarm(name, state, old, &format!("2026-11-20T09:{minute:02}:00.000+0000"), id, "cloudwatch-alarms")
}

#[tokio::test]
async fn posts_with_the_bot_token_as_json_to_the_channel() {
    let api = SlackApiStandIn::start(TOKEN).await;
    let deps = container(&api, None, &[]).await;
    let out = handle(&deps, event(fixture("sns-alarm-metric.json"))).await.unwrap();
    assert_eq!(out, json!({"delivered": 1}));
    let calls = api.calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].method, "chat.postMessage");
    assert_eq!(calls[0].authorization.as_deref(), Some("Bearer xoxb-test-SECRET-token"));
    assert_eq!(calls[0].body["channel"], "C0ALARMS");
    let posted = &api.channel("C0ALARMS")[0];
    assert_eq!(posted.color(), Some("#E01E5A"));
    assert!(posted.text().starts_with("🔴 ALARM: api-high-cpu"), "{}", posted.text());
}

#[tokio::test]
async fn slack_refusals_are_not_retried_and_name_the_code_and_channel_never_the_token() {
    for code in [
        "invalid_auth",
        "not_authed",
        "token_revoked",
        "account_inactive",
        "channel_not_found",
        "not_in_channel",
        "is_archived",
        "invalid_blocks",
        "msg_too_long",
    ] {
        let api = SlackApiStandIn::start(TOKEN).await;
        api.always(ApiReply::Error(code));
        let deps = container(&api, None, &[]).await;
        let err = handle(&deps, event(fixture("sns-alarm-metric.json"))).await.unwrap_err();
        assert_eq!(api.calls().len(), 1, "{code} must not be retried");
        let text = err.to_string();
        assert!(text.contains(code) && text.contains("C0ALARMS") && !text.contains("SECRET"), "{text}");
        match err {
            HandlerError::Delivery { first: PostError::Api(ApiError::Refused { class, .. }), .. } => {
                let expected = if code.starts_with("invalid_b") || code == "msg_too_long" {
                    ErrorClass::Message
                } else {
                    ErrorClass::Config
                };
                assert_eq!(class, expected, "{code}");
            }
            other => panic!("{code}: {other:?}"),
        }
    }
}

#[tokio::test]
async fn rate_limits_and_server_errors_are_retried_within_the_deadline() {
    let api = SlackApiStandIn::start(TOKEN).await;
    api.script([ApiReply::RateLimited(1), ApiReply::Status(503), ApiReply::Error("internal_error")]);
    let deps = container(&api, None, &[]).await;
    handle(&deps, event(fixture("sns-alarm-metric.json"))).await.unwrap();
    let calls = api.calls();
    let answers: Vec<&str> = calls.iter().map(|c| c.answer.as_str()).collect();
    assert_eq!(answers, ["ratelimited", "HTTP 503", "internal_error", "ok"]);
    assert!(calls[1].at - calls[0].at >= Duration::from_millis(990), "Retry-After was not honoured");
    assert_eq!(api.channel("C0ALARMS").len(), 1);
}

#[tokio::test]
async fn one_message_per_alarm_lifecycle_with_the_history_in_its_thread() {
    let api = SlackApiStandIn::start(TOKEN).await;
    let table = table().await;
    let deps = container(&api, Some(&table), &[]).await;
    handle(&deps, event(alarm("api-high-cpu", "ALARM", "OK", 0, "m-1"))).await.unwrap();
    handle(&deps, event(alarm("api-high-cpu", "OK", "ALARM", 12, "m-2"))).await.unwrap();
    let messages = api.channel("C0ALARMS");
    assert_eq!(messages.len(), 1, "one line per alarm in the channel");
    let parent = &messages[0];
    assert_eq!(parent.color(), Some("#2EB67D"), "the colour follows the state");
    assert!(parent.header().unwrap().starts_with("✅ OK: api-high-cpu"), "{:?}", parent.header());
    assert!(parent.all_text().contains("OK after 12 min in ALARM"), "{}", parent.all_text());
    let thread = api.thread("C0ALARMS", &parent.ts);
    assert_eq!(thread.len(), 1);
    assert!(thread[0].text().starts_with("✅ *OK* after 12 min"), "{}", thread[0].text());
    assert!(!thread[0].broadcast);

    handle(&deps, event(alarm("api-high-cpu", "ALARM", "OK", 30, "m-3"))).await.unwrap();
    let messages = api.channel("C0ALARMS");
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].color(), Some("#E01E5A"));
    assert_eq!(messages[0].updates, 2);
    let thread = api.thread("C0ALARMS", &parent.ts);
    assert_eq!(thread.len(), 2);
    assert!(thread[1].text().starts_with("🔴 *ALARM* again"), "{}", thread[1].text());
    assert!(thread[1].broadcast, "a return to ALARM is shown in the channel too");
    let record = Moto::shared().items(&table).await.into_iter().find(|i| i["pk"].starts_with("lifecycle#")).unwrap();
    assert_eq!((record["state"].as_str(), record["changes"].as_str()), ("ALARM", "3"));
    assert!(!record.contains_key("lease_owner"), "the lease is given back: {record:?}");
    let expires: i64 = record["expires_at"].parse().unwrap();
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64;
    assert!(expires > now + 29 * 86_400, "an ALARM record is kept at least 30 days");
}

#[tokio::test]
async fn records_expire_seven_days_after_the_last_ok_and_then_a_new_message_starts() {
    let api = SlackApiStandIn::start(TOKEN).await;
    let table = table().await;
    let deps = container(&api, Some(&table), &[]).await;
    handle(&deps, event(alarm("disk-full", "ALARM", "OK", 0, "e-1"))).await.unwrap();
    handle(&deps, event(alarm("disk-full", "OK", "ALARM", 5, "e-2"))).await.unwrap();
    let moto = Moto::shared();
    let record = moto.items(&table).await.into_iter().find(|i| i["pk"].starts_with("lifecycle#")).unwrap();
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64;
    let expires: i64 = record["expires_at"].parse().unwrap();
    assert!((now + 7 * 86_400 - expires).abs() < 60, "7 days after the OK: {expires} vs {now}");
    // TTL ran out (DynamoDB deletes lazily: the record is still there, expired).
    assert_eq!(moto.expire(&table, "lifecycle#").await, 1);
    handle(&deps, event(alarm("disk-full", "ALARM", "OK", 40, "e-3"))).await.unwrap();
    let messages = api.channel("C0ALARMS");
    assert_eq!(messages.len(), 2, "a new lifecycle, a new message");
    assert_eq!(messages[1].color(), Some("#E01E5A"));
    assert!(api.thread("C0ALARMS", &messages[1].ts).is_empty());
}

#[tokio::test]
async fn routes_choose_the_channel_first_match_wins_and_mention_only_on_alarm() {
    let api = SlackApiStandIn::start(TOKEN).await;
    let table = table().await;
    let routes = r#"[{"alarm": "payments-*", "channel": "C0PAYMENTS", "mention": "<!subteam^S0PAYONCALL>"},
                     {"topic": "prod-*", "channel": "C0PROD"}, {"state": ["OK"], "channel": "C0QUIET"}]"#;
    let deps = container(&api, Some(&table), &[("SLACK_ROUTES", routes)]).await;
    handle(&deps, event(alarm("payments-5xx", "ALARM", "OK", 0, "r-1"))).await.unwrap();
    let paid = api.channel("C0PAYMENTS");
    assert_eq!(paid.len(), 1);
    assert!(paid[0].text().starts_with("<!subteam^S0PAYONCALL> 🔴 ALARM"), "{}", paid[0].text());
    assert!(paid[0].all_text().contains("🔔 <!subteam^S0PAYONCALL>"));
    // Its OK updates its own message, where the team looks, without a mention.
    handle(&deps, event(alarm("payments-5xx", "OK", "ALARM", 3, "r-2"))).await.unwrap();
    let paid = api.channel("C0PAYMENTS");
    assert_eq!(paid.len(), 1);
    assert!(!paid[0].all_text().contains("S0PAYONCALL"), "no mention once OK: {}", paid[0].all_text());
    assert!(api.thread("C0PAYMENTS", &paid[0].ts).iter().all(|r| !r.text().contains("S0PAYONCALL")));
    // Topic rule, then the state rule, then SLACK_CHANNEL.
    let mut prod = alarm("api-latency", "ALARM", "OK", 0, "r-3");
    prod["Records"][0]["Sns"]["TopicArn"] = json!("arn:aws:sns:eu-west-1:123456789012:prod-alarms");
    handle(&deps, event(prod)).await.unwrap();
    assert_eq!(api.channel("C0PROD").len(), 1);
    assert!(!api.channel("C0PROD")[0].text().contains("<!subteam"));
    handle(&deps, event(alarm("batch-lag", "OK", "INSUFFICIENT_DATA", 0, "r-4"))).await.unwrap();
    assert_eq!(api.channel("C0QUIET").len(), 1);
    handle(&deps, event(alarm("batch-lag-2", "ALARM", "OK", 0, "r-5"))).await.unwrap();
    assert_eq!(api.channel("C0ALARMS").len(), 1);
}

#[tokio::test]
async fn a_redelivered_notification_is_posted_once() {
    let api = SlackApiStandIn::start(TOKEN).await;
    let table = table().await;
    let deps = container(&api, Some(&table), &[]).await;
    let first = handle(&deps, event(alarm("api-errors", "ALARM", "OK", 0, "dup-1"))).await.unwrap();
    assert_eq!(first, json!({"delivered": 1}));
    let again = handle(&deps, event(alarm("api-errors", "ALARM", "OK", 0, "dup-1"))).await.unwrap();
    assert_eq!(again, json!({"delivered": 0, "skipped": 1}));
    // Another container, same notification: skipped too.
    let other = container(&api, Some(&table), &[]).await;
    handle(&other, event(alarm("api-errors", "ALARM", "OK", 0, "dup-1"))).await.unwrap();
    assert_eq!(api.accepted("chat.postMessage").len(), 1);
    assert!(api.accepted("chat.update").is_empty());
    let claim = Moto::shared().items(&table).await.into_iter().find(|i| i["pk"] == "notification#sns:dup-1").unwrap();
    assert_eq!(claim["status"], "delivered");
}

#[tokio::test]
async fn a_retried_batch_posts_only_what_failed() {
    let api = SlackApiStandIn::start(TOKEN).await;
    let table = table().await;
    let deps = container(&api, Some(&table), &[]).await;
    let batch = fixture("sns-batch.json");
    api.script([ApiReply::Status(200), ApiReply::Error("is_archived")]);
    // First call: a 200 that is not JSON (a proxy page) fails that record; the second record is refused.
    let err = handle(&deps, event(batch.clone())).await.unwrap_err();
    assert!(err.to_string().starts_with("2 of 3 messages"), "{err}");
    assert_eq!(api.top_level().len(), 1);
    // Lambda retries the whole event: the delivered record is skipped, the two others are posted.
    let out = handle(&deps, event(batch.clone())).await.unwrap();
    assert_eq!(out, json!({"delivered": 2, "skipped": 1}));
    assert_eq!(api.top_level().len(), 3, "three records, three messages, none twice");
    let out = handle(&deps, event(batch)).await.unwrap();
    assert_eq!(out, json!({"delivered": 0, "skipped": 3}));
}

#[tokio::test]
async fn dynamodb_down_still_delivers_quickly_and_says_why() {
    let api = SlackApiStandIn::start(TOKEN).await;
    let url = api.url();
    let vars = [
        ("SLACK_BOT_TOKEN", TOKEN),
        ("SLACK_API_URL", url.as_str()),
        ("SLACK_CHANNEL", "C0ALARMS"),
        ("STATE_TABLE", "chatops-state"),
    ];
    let config = Config::from_lookup(&|k| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())).unwrap();
    // DynamoDB at a closed port.
    let aws = [
        ("AWS_REGION", "eu-west-1"),
        ("AWS_ACCESS_KEY_ID", "a"),
        ("AWS_SECRET_ACCESS_KEY", "b"),
        ("AWS_ENDPOINT_URL", "http://127.0.0.1:9"),
    ];
    let sdk = chatops_shared::aws::sdk_config(&http_client().unwrap(), &|k| {
        aws.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())
    })
    .unwrap();
    let deps = Deps::new(
        config,
        None,
        Some(chatops_shared::state::dynamodb_client(&sdk)),
        http_client().unwrap(),
        fast_policy(),
    );
    let started = Instant::now();
    let out = handle(&deps, event(fixture("sns-batch.json"))).await.unwrap();
    assert_eq!(out, json!({"delivered": 3}));
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
    assert_eq!(api.top_level().len(), 3);
}

#[tokio::test]
async fn a_late_notification_goes_to_the_thread_and_leaves_the_newer_state_shown() {
    let api = SlackApiStandIn::start(TOKEN).await;
    let table = table().await;
    let deps = container(&api, Some(&table), &[]).await;
    handle(&deps, event(alarm("queue-depth", "ALARM", "OK", 0, "l-1"))).await.unwrap();
    handle(&deps, event(alarm("queue-depth", "OK", "ALARM", 20, "l-2"))).await.unwrap();
    // An INSUFFICIENT_DATA from minute 10 arrives last.
    handle(&deps, event(alarm("queue-depth", "INSUFFICIENT_DATA", "ALARM", 10, "l-3"))).await.unwrap();
    let parent = &api.channel("C0ALARMS")[0];
    assert_eq!(parent.color(), Some("#2EB67D"), "still OK");
    let thread = api.thread("C0ALARMS", &parent.ts);
    assert_eq!(thread.len(), 2);
    assert!(thread[1].text().contains("arrived after a later change"), "{}", thread[1].text());
}

#[tokio::test]
async fn a_deleted_message_starts_the_lifecycle_again() {
    let api = SlackApiStandIn::start(TOKEN).await;
    let table = table().await;
    let deps = container(&api, Some(&table), &[]).await;
    handle(&deps, event(alarm("cache-miss", "ALARM", "OK", 0, "g-1"))).await.unwrap();
    let first = api.channel("C0ALARMS")[0].ts.clone();
    api.delete("C0ALARMS", &first);
    handle(&deps, event(alarm("cache-miss", "OK", "ALARM", 2, "g-2"))).await.unwrap();
    let messages = api.channel("C0ALARMS");
    assert_eq!(messages.len(), 1);
    assert_ne!(messages[0].ts, first);
    assert_eq!(messages[0].color(), Some("#2EB67D"));
    // The next change updates the new message.
    handle(&deps, event(alarm("cache-miss", "ALARM", "OK", 9, "g-3"))).await.unwrap();
    assert_eq!(api.channel("C0ALARMS").len(), 1);
    assert_eq!(api.thread("C0ALARMS", &messages[0].ts).len(), 1);
}

#[tokio::test]
async fn a_deployment_ends_on_the_message_that_showed_it_ready() {
    let api = SlackApiStandIn::start(TOKEN).await;
    let table = table().await;
    let deps = container(&api, Some(&table), &[("CODEDEPLOY_DEPLOYMENT_GROUPS", "orders/orders-ecs-bg")]).await;
    handle(&deps, event(fixture("codedeploy-ready.json"))).await.unwrap();
    let ready = &api.channel("C0ALARMS")[0];
    assert!(ready.header().unwrap().contains("ready to switch traffic"));
    assert!(ready.all_text().contains("Switch traffic"));
    handle(&deps, event(fixture("codedeploy-success.json"))).await.unwrap();
    let messages = api.channel("C0ALARMS");
    assert_eq!(messages.len(), 1);
    let header = messages[0].header().unwrap();
    assert!(header.contains("succeeded") && !header.contains("ready"), "{header}");
    assert!(!messages[0].all_text().contains("Switch traffic"), "no buttons once it ended");
    let thread = api.thread("C0ALARMS", &messages[0].ts);
    assert_eq!(thread.len(), 1);
    assert!(thread[0].text().contains("SUCCESS"), "{}", thread[0].text());
}

#[tokio::test]
async fn two_containers_on_one_new_alarm_make_one_message() {
    let api = SlackApiStandIn::start(TOKEN).await;
    // Slack answers slowly, so both containers are inside the same moment.
    api.script([ApiReply::Slow(Duration::from_millis(300))]);
    let table = table().await;
    let a = container(&api, Some(&table), &[]).await;
    let b = container(&api, Some(&table), &[]).await;
    let (ra, rb) = tokio::join!(
        handle(&a, event(alarm("checkout-5xx", "ALARM", "OK", 0, "c-1"))),
        handle(&b, event(alarm("checkout-5xx", "ALARM", "INSUFFICIENT_DATA", 0, "c-2"))),
    );
    ra.unwrap();
    rb.unwrap();
    assert_eq!(api.channel("C0ALARMS").len(), 1, "{:#?}", api.calls());
}

#[test]
fn the_bot_token_contract() {
    let env = |pairs: &'static [(&'static str, &'static str)]| {
        move |k: &str| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())
    };
    // The token wins over the webhook; SLACK_API_URL defaults to Slack's.
    let c = Config::from_lookup(&env(&[
        ("SLACK_BOT_TOKEN", "xoxb-1"),
        ("SLACK_WEBHOOK_URL", "https://hooks.slack.com/services/X"),
        ("SLACK_CHANNEL", "C0"),
    ]))
    .unwrap();
    match &c.destination {
        alarm_to_slack::Destination::WebApi { api_url, .. } => assert_eq!(api_url, "https://slack.com/api/"),
        other => panic!("{other:?}"),
    }
    assert!(!c.needs_sdk());
    let c = Config::from_lookup(&env(&[
        ("KMS_ENCRYPTED_SLACK_BOT_TOKEN", "AQID"),
        ("SLACK_CHANNEL", "C0"),
        ("STATE_TABLE", "t"),
    ]))
    .unwrap();
    assert!(c.needs_kms() && c.needs_sdk());
    assert_eq!(c.retention, Duration::from_secs(7 * 86_400));
    // A bot token needs a channel for everything.
    let err = Config::from_lookup(&env(&[("SLACK_BOT_TOKEN", "xoxb-1")])).unwrap_err();
    assert_eq!(err.var(), "SLACK_CHANNEL");
    let ok = Config::from_lookup(&env(&[("SLACK_BOT_TOKEN", "xoxb-1"), ("SLACK_ROUTES", r#"[{"channel": "C9"}]"#)]));
    assert!(ok.is_ok());
    // Bad routes name the rule; a bad retention names the variable.
    let err = Config::from_lookup(&env(&[
        ("SLACK_WEBHOOK_URL", "x"),
        ("SLACK_ROUTES", r#"[{"channel": "C1"}, {"alarm": 3}]"#),
    ]))
    .unwrap_err();
    assert!(err.to_string().contains("SLACK_ROUTES") && err.to_string().contains("rule 2"), "{err}");
    let err = Config::from_lookup(&env(&[("SLACK_WEBHOOK_URL", "x"), ("STATE_RETENTION_DAYS", "0")])).unwrap_err();
    assert_eq!(err.var(), "STATE_RETENTION_DAYS");
    // Neither: all four variables are named.
    let err = Config::from_lookup(&env(&[])).unwrap_err().to_string();
    for var in
        ["KMS_ENCRYPTED_SLACK_BOT_TOKEN", "SLACK_BOT_TOKEN", "KMS_ENCRYPTED_SLACK_WEBHOOK_URL", "SLACK_WEBHOOK_URL"]
    {
        assert!(err.contains(var), "{err}");
    }
}

/// The storm threshold counts new messages, not updates: an alarm that flaps on its own message a dozen
/// times in a few seconds does not put the channel in a storm, and the next new alarm gets its own
/// message, not a digest. (Found as a flaky lifecycle test: the updates were counted, and the sixth
/// arrival in a channel joined a digest.)
#[tokio::test]
async fn updates_of_an_alarms_own_message_do_not_count_towards_a_storm() {
    let api = SlackApiStandIn::start(TOKEN).await;
    let table = table().await;
    // Paced as in a storm (the updates and replies wait for their slots): a few seconds.
    let deps = container(&api, Some(&table), &[("STORM_THRESHOLD", "3")]).await;
    for i in 0..8u32 {
        let (state, old) = if i % 2 == 0 { ("ALARM", "OK") } else { ("OK", "ALARM") };
        let out = handle(&deps, event(alarm("db-flapping", state, old, i, &format!("flap-{i}")))).await.unwrap();
        assert_eq!(out, json!({"delivered": 1}), "change {i}");
    }
    let out = handle(&deps, event(alarm("db-new", "ALARM", "OK", 20, "new-1"))).await.unwrap();
    assert_eq!(out, json!({"delivered": 1}));
    let top = api.channel("C0ALARMS");
    assert_eq!(top.len(), 2, "the flapping alarm's message and the new alarm's own: {:#?}", api.calls());
    assert!(top.iter().all(|m| !m.all_text().contains("Alarm storm")), "no digest");
}
