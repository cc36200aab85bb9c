//! Deploy by @mention and the pipeline's callback, through the handler over whole Lambda events: the
//! Slack Web API stand-in, GitLab and GitHub stand-ins, Secrets Manager and DynamoDB on moto.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use chatops_shared::aws::kms::CachedSecret;
use chatops_shared::commands::Services;
use chatops_shared::config::SecretSource;
use chatops_shared::flows::deploys::{DeployConfig, DeployDeps};
use chatops_shared::governance::{AccessPolicy, Governance};
use chatops_shared::secret::Secret;
use chatops_shared::slack::api::SlackApi;
use chatops_shared::slack::bot::Bot;
use chatops_tests::slack_requests::{Shape, event_at, mention_body, signed_headers};
use chatops_tests::{CiReply, CiStandIn, Moto, SlackApiStandIn};
use lambda_runtime::{Context, LambdaEvent};
use serde_json::{Value, json};
use slack_command::{Deps, handle_event};

const SECRET: &str = "mention-test-signing-secret-4b1d";
const BOT: &str = "xoxb-mention-test-bot-token";
const NOTIFY: &str = "notify-token-9f8e7d6c5b4a";
const TRIGGER: &str = "glptt-trigger-token-secret";
const GH_TOKEN: &str = "github_pat_secret_token";
const TEAM: &str = "T0TEAM";
const OPS: &str = "C0OPS";

fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

fn mapping() -> String {
    json!({TEAM: {
        OPS: {
            "orders": {"provider": "gitlab", "project_id": "42", "ref": "main", "token": TRIGGER},
            "billing": {"provider": "github", "repository": "acme/billing", "workflow": "deploy.yml", "ref": "main", "token": GH_TOKEN},
            "legacy": {"provider": "github", "repository": "acme/legacy", "workflow": "deploy.yml", "ref": "release", "token": GH_TOKEN, "return_run_details": false}
        },
        "C0DEV": {"sandbox": {"provider": "gitlab", "project_id": "group/sandbox", "ref": "main", "token": TRIGGER}}
    }})
    .to_string()
}

struct World {
    deps: Deps,
    slack: SlackApiStandIn,
    ci: CiStandIn,
    table: String,
    secret_arn: String,
}

async fn world_with(policy: AccessPolicy, gitlab_url: Option<String>) -> World {
    let moto = Moto::shared();
    let slack = SlackApiStandIn::start(BOT).await;
    let ci = CiStandIn::start(TRIGGER, GH_TOKEN).await;
    let table = moto.create_state_table().await;
    let secret_arn = moto.create_secret(&mapping()).await;
    let http = chatops_shared::http::http_client().unwrap();
    let env: Vec<(&str, String)> = moto.env();
    let lookup = move |k: &str| env.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone());
    let sdk = chatops_shared::aws::sdk_config(&http, &lookup).unwrap();
    let config = DeployConfig {
        targets_arn: secret_arn.clone(),
        state_table: table.clone(),
        gitlab_url: Some(gitlab_url.unwrap_or_else(|| ci.url())),
        github_api_url: Some(ci.url()),
        notify_token: Some(SecretSource::Plain { var: "DEPLOY_NOTIFY_TOKEN", value: Secret::new(NOTIFY) }),
        timeout: std::time::Duration::from_secs(3600),
    };
    let bot_token = SecretSource::Plain { var: "SLACK_BOT_TOKEN", value: Secret::new(BOT) };
    let api = SlackApi::new(http.clone(), &slack.url(), chatops_shared::flows::deploys::slack_api_policy());
    let bot = std::sync::Arc::new(Bot::new(api, CachedSecret::new(bot_token, None, None)));
    let deploys = DeployDeps::new(
        config,
        bot.clone(),
        |source| CachedSecret::new(source, None, None),
        None,
        chatops_shared::aws::secrets::secrets_client(&sdk),
        chatops_shared::state::dynamodb_client(&sdk),
        http.clone(),
    );
    let secret = SecretSource::Plain { var: "SLACK_SIGNING_SECRET", value: Secret::new(SECRET) };
    let services = Services {
        codedeploy: chatops_tests::unreachable_codedeploy(),
        autoscaling: chatops_tests::unreachable_autoscaling(),
        codedeploy_settings: Default::default(),
    };
    let deps = Deps {
        governance: Governance::access_only(policy),
        now_unix: now,
        deploys: Some(deploys),
        bot: Some(bot),
        ..Deps::basic(CachedSecret::new(secret, None, None), services, http)
    };
    World { deps, slack, ci, table, secret_arn }
}

async fn world() -> World {
    world_with(AccessPolicy::default(), None).await
}

async fn call(deps: &Deps, event: Value) -> (u16, Value) {
    let mut ctx = Context::default();
    ctx.deadline = (SystemTime::now().duration_since(UNIX_EPOCH).unwrap() + Duration::from_secs(5)).as_millis() as u64;
    let raw = serde_json::value::to_raw_value(&event).unwrap();
    let out = handle_event(deps, LambdaEvent::new(raw, ctx)).await.expect("never an Err");
    let body = out["body"].as_str().unwrap_or_default();
    (out["statusCode"].as_u64().unwrap() as u16, serde_json::from_str(body).unwrap_or(json!(body)))
}

/// Slack delivering event `event_id` (retry `retry` when given) for a mention that says `text`.
fn delivery(event_id: &str, user: &str, channel: &str, ts: &str, text: &str, retry: Option<u32>) -> Value {
    let body = mention_body(event_id, TEAM, user, channel, ts, text);
    let mut headers = signed_headers(SECRET, &now().to_string(), body.as_bytes());
    headers.push(("Content-Type".into(), "application/json".into()));
    if let Some(n) = retry {
        headers.push(("X-Slack-Retry-Num".into(), n.to_string()));
        headers.push(("X-Slack-Retry-Reason".into(), "http_timeout".into()));
    }
    event_at(Shape::HttpApi, "/slack/events", "", &headers, &body, false)
}

/// Someone writes `text` in `channel`, and Slack delivers it as `event_id`.
fn mention(w: &World, event_id: &str, user: &str, channel: &str, text: &str) -> (String, Value) {
    let ts = w.slack.user_message(channel, text);
    let event = delivery(event_id, user, channel, &ts, text, None);
    (ts, event)
}

fn callback(token: Option<&str>, query: &str, body: &Value) -> Value {
    let mut headers = vec![("Content-Type".to_owned(), "application/json".to_owned())];
    if let Some(t) = token {
        headers.push(("Authorization".into(), format!("Bearer {t}")));
    }
    event_at(Shape::HttpApi, "/deploy/notify", query, &headers, &body.to_string(), false)
}

fn unique(prefix: &str) -> String {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    format!("{prefix}{}x{}", std::process::id(), N.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
}

#[tokio::test]
async fn the_url_challenge_is_answered_only_when_signed() {
    let w = world().await;
    let body = r#"{"token":"Jhj5dZrVaK7ZwHHjRyZWjbDl","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}"#;
    let signed = signed_headers(SECRET, &now().to_string(), body.as_bytes());
    let (status, answer) = call(&w.deps, event_at(Shape::Rest, "/slack/events", "", &signed, body, false)).await;
    assert_eq!(status, 200);
    assert_eq!(answer["challenge"], "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P");
    let forged = signed_headers("guess", &now().to_string(), body.as_bytes());
    let (status, answer) = call(&w.deps, event_at(Shape::Rest, "/slack/events", "", &forged, body, false)).await;
    assert_eq!(status, 401);
    assert!(!answer.to_string().contains("3eZbrw1a"), "no challenge without a valid signature: {answer}");
    let (status, _) = call(&w.deps, event_at(Shape::HttpApi, "/slack/events", "", &[], body, false)).await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn a_mention_starts_the_gitlab_pipeline_once_and_answers_in_its_thread() {
    let w = world().await;
    let id = unique("Ev");
    let (ts, event) = mention(&w, &id, "U0ALICE", OPS, "<@U0BOT> release orders");
    let started = Instant::now();
    let (status, _) = call(&w.deps, event.clone()).await;
    assert_eq!(status, 200);
    assert!(started.elapsed() < Duration::from_millis(2500), "answered within Slack's 3 s");

    let calls = w.ci.started();
    assert_eq!(calls.len(), 1, "{calls:?}");
    let f = &calls[0].fields;
    assert_eq!(calls[0].target, "42");
    assert_eq!(f["token"], TRIGGER);
    assert_eq!(f["ref"], "main", "the configured branch, never one from the mention");
    assert_eq!(f["variables[CHATOPS_RELEASE]"], "true");
    assert_eq!(f["variables[CHATOPS_SLACK_CHANNEL]"], OPS);
    assert_eq!(f["variables[CHATOPS_SLACK_THREAD_TS]"], ts);
    assert_eq!(f["variables[CHATOPS_REQUESTED_BY]"], "U0ALICE");

    let thread = w.slack.thread(OPS, &ts);
    assert_eq!(thread.len(), 1);
    let reply = thread[0].text();
    assert!(reply.contains("orders") && reply.contains("pipeline #") && reply.contains("/-/pipelines/"), "{reply}");
    assert_eq!(w.slack.message(OPS, &ts).unwrap().reactions, ["eyes"]);

    // Slack's retries (also a late one) and a second delivery of the same event start nothing.
    for n in 1..=3 {
        let retry = delivery(&id, "U0ALICE", OPS, &ts, "<@U0BOT> release orders", Some(n));
        assert_eq!(call(&w.deps, retry).await.0, 200);
    }
    assert_eq!(call(&w.deps, event).await.0, 200);
    assert_eq!(w.ci.calls().len(), 1, "exactly one trigger per mention");
    assert_eq!(w.slack.thread(OPS, &ts).len(), 1, "one answer per mention");

    let items = Moto::shared().items(&w.table).await;
    let deploy = items.iter().find(|i| i["pk"] == format!("deploy#{OPS}#{ts}")).expect("deploy record");
    assert_eq!((deploy["project"].as_str(), deploy["status"].as_str()), ("orders", "started"));
    assert_eq!(deploy["provider"], "gitlab");
    let claim = items.iter().find(|i| i["pk"] == format!("event#{id}")).expect("event claim");
    assert_eq!(claim["status"], "delivered");
    assert!(!items.iter().any(|i| i.values().any(|v| v.contains(TRIGGER))), "no token in the table");
}

#[tokio::test]
async fn github_actions_get_a_workflow_dispatch_with_inputs_and_the_run_link() {
    let w = world().await;
    let (ts, event) = mention(&w, &unique("Ev"), "U0BOB", OPS, "<@U0BOT> deploy billing");
    assert_eq!(call(&w.deps, event).await.0, 200);
    let (ts2, event) = mention(&w, &unique("Ev"), "U0BOB", OPS, "<@U0BOT>　リリース　legacy");
    assert_eq!(call(&w.deps, event).await.0, 200);
    let calls = w.ci.started();
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert_eq!(calls[0].target, "acme/billing/deploy.yml");
    assert_eq!(calls[0].authorization.as_deref(), Some(format!("Bearer {GH_TOKEN}").as_str()));
    assert_eq!(calls[0].fields["ref"], "main");
    assert_eq!(calls[0].fields["inputs.chatops_slack_thread_ts"], ts);
    assert_eq!(calls[0].fields["inputs.chatops_requested_by"], "U0BOB");
    assert_eq!(calls[0].fields["return_run_details"], "true");
    assert!(w.slack.thread(OPS, &ts)[0].text().contains("https://github.com/acme/billing/actions/runs/"));
    // Without run details (older GitHub Enterprise Server): 204, and the link is the workflow's runs.
    assert_eq!(calls[1].fields["ref"], "release");
    assert_eq!(calls[1].fields["return_run_details"], "false");
    let reply = w.slack.thread(OPS, &ts2)[0].text().to_owned();
    assert!(reply.contains("/acme/legacy/actions/workflows/deploy.yml"), "{reply}");
}

#[tokio::test]
async fn unknown_projects_unmapped_channels_and_strangers_start_nothing() {
    let policy = AccessPolicy { allowed_users: AccessPolicy::parse_users(Some("U0ALICE")), ..Default::default() };
    let w = world_with(policy, None).await;

    let (ts, e) = mention(&w, &unique("Ev"), "U0ALICE", OPS, "<@U0BOT> release payments");
    assert_eq!(call(&w.deps, e).await.0, 200);
    let text = w.slack.thread(OPS, &ts)[0].text().to_owned();
    assert!(
        text.contains("`payments` is not deployable") && text.contains("`billing`") && text.contains("`orders`"),
        "{text}"
    );

    let (ts, e) = mention(&w, &unique("Ev"), "U0ALICE", "C0RANDOM", "<@U0BOT> release orders");
    assert_eq!(call(&w.deps, e).await.0, 200);
    assert!(w.slack.thread("C0RANDOM", &ts)[0].text().contains("may not deploy anything"));

    let (ts, e) = mention(&w, &unique("Ev"), "U0MALLORY", OPS, "<@U0BOT> release orders");
    assert_eq!(call(&w.deps, e).await.0, 200);
    let text = w.slack.thread(OPS, &ts)[0].text().to_owned();
    assert!(text.contains("not allowed"), "{text}");
    assert!(w.ci.calls().is_empty(), "nothing may reach CI: {:?}", w.ci.calls());
}

#[tokio::test]
async fn help_thanks_and_anything_else_get_an_answer() {
    let w = world().await;
    let (ts, e) = mention(&w, &unique("Ev"), "U0ALICE", OPS, "<@U0BOT> help");
    call(&w.deps, e).await;
    let help = w.slack.thread(OPS, &ts)[0].text().to_owned();
    assert!(help.contains("`orders`") && help.contains("<@U0BOT> release <project>"), "{help}");
    assert!(!help.contains("sandbox"), "only this channel's projects: {help}");
    let (ts, e) = mention(&w, &unique("Ev"), "U0ALICE", OPS, "<@U0BOT> よろしく");
    call(&w.deps, e).await;
    assert!(w.slack.thread(OPS, &ts)[0].text().contains("どういたしまして"));
    let (ts, e) = mention(&w, &unique("Ev"), "U0ALICE", OPS, "<@U0BOT> rollback orders");
    call(&w.deps, e).await;
    let text = w.slack.thread(OPS, &ts)[0].text().to_owned();
    assert!(text.contains("`rollback`") && text.contains("help"), "{text}");
    assert!(w.ci.calls().is_empty());
}

#[tokio::test]
async fn ci_down_says_so_in_the_thread_and_a_retry_may_run_it() {
    // A closed port: the connection fails, so nothing can have started.
    let w = world_with(AccessPolicy::default(), Some("http://127.0.0.1:9".into())).await;
    let id = unique("Ev");
    let (ts, e) = mention(&w, &id, "U0ALICE", OPS, "<@U0BOT> release orders");
    assert_eq!(call(&w.deps, e).await.0, 200);
    let text = w.slack.thread(OPS, &ts)[0].text().to_owned();
    assert!(text.contains("did not start") && text.contains("Nothing was started"), "{text}");
    assert_eq!(w.slack.message(OPS, &ts).unwrap().reactions, ["eyes", "x"]);
    let items = Moto::shared().items(&w.table).await;
    assert!(!items.iter().any(|i| i["pk"] == format!("event#{id}")), "the claim is given back: {items:?}");
    assert!(!items.iter().any(|i| i["pk"].starts_with("deploy#")), "no deploy to call back about");
    // Slack's retry of it runs it again (and would start it, were GitLab up).
    let retry = delivery(&id, "U0ALICE", OPS, &ts, "<@U0BOT> release orders", Some(1));
    call(&w.deps, retry).await;
    assert_eq!(w.slack.thread(OPS, &ts).len(), 2);

    // GitLab refusing (a 404: wrong project or token) is not started either; a 500 may have started it.
    let w = world().await;
    w.ci.script([CiReply::Status(404), CiReply::Status(500)]);
    let (ts, e) = mention(&w, &unique("Ev"), "U0ALICE", OPS, "<@U0BOT> release orders");
    call(&w.deps, e).await;
    assert!(w.slack.thread(OPS, &ts)[0].text().contains("HTTP 404"));
    let (ts, e) = mention(&w, &unique("Ev"), "U0ALICE", OPS, "<@U0BOT> release orders");
    call(&w.deps, e).await;
    let text = w.slack.thread(OPS, &ts)[0].text().to_owned();
    assert!(text.contains("may have started") && text.contains("/projects/42|"), "{text}");
}

#[tokio::test]
async fn a_stalled_ci_still_gets_slack_its_200_in_time_and_the_thread_a_link_to_check() {
    let w = world().await;
    w.ci.script([CiReply::Slow(Duration::from_secs(4))]);
    let id = unique("Ev");
    let (ts, e) = mention(&w, &id, "U0ALICE", OPS, "<@U0BOT> release orders");
    let started = Instant::now();
    assert_eq!(call(&w.deps, e).await.0, 200);
    let took = started.elapsed();
    assert!(took < Duration::from_millis(2600), "took {took:?}");
    let text = w.slack.thread(OPS, &ts)[0].text().to_owned();
    assert!(text.contains("may have started") && text.contains("/projects/42"), "{text}");
    // It may have started: the claim is kept, so Slack's retry cannot start a second one.
    let retry = delivery(&id, "U0ALICE", OPS, &ts, "<@U0BOT> release orders", Some(1));
    call(&w.deps, retry).await;
    assert_eq!(w.ci.received(), 1);
    let items = Moto::shared().items(&w.table).await;
    assert_eq!(items.iter().find(|i| i["pk"] == format!("deploy#{OPS}#{ts}")).unwrap()["status"], "unknown");
}

#[tokio::test]
async fn the_callback_reports_once_into_the_thread_and_refuses_anyone_without_the_token() {
    let w = world().await;
    let (ts, e) = mention(&w, &unique("Ev"), "U0ALICE", OPS, "<@U0BOT> release orders");
    call(&w.deps, e).await;
    let result = json!({"result": "success", "channel": OPS, "thread_ts": ts, "project": "orders",
        "pipeline_url": "https://gitlab.example.com/acme/42/-/pipelines/4101"});

    for (token, query, status) in [
        (None, "", 401),
        (Some("wrong-token"), "", 401),
        (Some(&NOTIFY[..NOTIFY.len() - 1]), "", 401),
        (None, &format!("token={NOTIFY}") as &str, 400),
    ] {
        let (got, answer) = call(&w.deps, callback(token, query, &result)).await;
        assert_eq!(got, status, "{token:?} {query}: {answer}");
    }
    assert_eq!(w.slack.thread(OPS, &ts).len(), 1, "nothing posted for a refused callback");

    let (status, answer) = call(&w.deps, callback(Some(NOTIFY), "", &result)).await;
    assert_eq!((status, answer["ok"].clone()), (200, json!(true)), "{answer}");
    let thread = w.slack.thread(OPS, &ts);
    assert_eq!(thread.len(), 2);
    assert!(thread[1].text().contains("*orders* deployed") && thread[1].text().contains("<@U0ALICE>"));
    assert!(thread[0].text().contains("succeeded"), "the first answer shows the end too: {}", thread[0].text());
    assert_eq!(w.slack.message(OPS, &ts).unwrap().reactions, ["eyes", "white_check_mark"]);

    // The job retried (or both notify jobs ran): reported once.
    let (status, answer) = call(&w.deps, callback(Some(NOTIFY), "", &result)).await;
    assert_eq!((status, answer["already_reported"].clone()), (200, json!("success")));
    assert_eq!(w.slack.thread(OPS, &ts).len(), 2);

    let stray = json!({"result": "failure", "channel": OPS, "thread_ts": "1111.2222"});
    assert_eq!(call(&w.deps, callback(Some(NOTIFY), "", &stray)).await.0, 404);
    let bad = json!({"result": "maybe", "channel": OPS, "thread_ts": ts});
    assert_eq!(call(&w.deps, callback(Some(NOTIFY), "", &bad)).await.0, 400);
    let junk = event_at(
        Shape::HttpApi,
        "/deploy/notify",
        "",
        &[("Authorization".into(), format!("Bearer {NOTIFY}"))],
        "{",
        false,
    );
    assert_eq!(call(&w.deps, junk).await.0, 400);
}

#[tokio::test]
async fn a_failed_deploy_is_reported_with_a_cross() {
    let w = world().await;
    let (ts, e) = mention(&w, &unique("Ev"), "U0ALICE", OPS, "<@U0BOT> deploy orders");
    call(&w.deps, e).await;
    let result = json!({"result": "failure", "channel": OPS, "thread_ts": ts});
    assert_eq!(call(&w.deps, callback(Some(NOTIFY), "", &result)).await.0, 200);
    let thread = w.slack.thread(OPS, &ts);
    assert!(
        thread[1].text().contains("deploy failed") && thread[1].text().contains("/-/pipelines/"),
        "{}",
        thread[1].text()
    );
    assert_eq!(w.slack.message(OPS, &ts).unwrap().reactions, ["eyes", "x"]);
    assert!(thread[0].text().contains(":x: failed"), "{}", thread[0].text());
}

#[tokio::test]
async fn the_mapping_is_cached_and_a_bad_one_refuses_with_a_clear_answer() {
    let w = world().await;
    let (_, e) = mention(&w, &unique("Ev"), "U0ALICE", OPS, "<@U0BOT> release orders");
    call(&w.deps, e).await;
    // Changed in Secrets Manager: the container keeps the mapping it read for a few minutes.
    Moto::shared().put_secret(&w.secret_arn, "{not json").await;
    let (ts, e) = mention(&w, &unique("Ev"), "U0ALICE", OPS, "<@U0BOT> release orders");
    call(&w.deps, e).await;
    assert!(w.slack.thread(OPS, &ts)[0].text().contains("Deploying"));
    assert_eq!(w.ci.calls().len(), 2);

    // A fresh container reads the broken mapping: it says so and starts nothing.
    let w2 = world().await;
    Moto::shared().put_secret(&w2.secret_arn, "{not json").await;
    let (ts, e) = mention(&w2, &unique("Ev"), "U0ALICE", OPS, "<@U0BOT> release orders");
    call(&w2.deps, e).await;
    assert!(w2.slack.thread(OPS, &ts)[0].text().contains("can't read the deploy targets"));
    assert!(w2.ci.calls().is_empty());
}

#[tokio::test]
async fn dynamodb_down_refuses_deploys_but_still_answers() {
    let mut w = world().await;
    let http = chatops_shared::http::http_client().unwrap();
    let env: Vec<(&str, String)> = Moto::shared()
        .env()
        .into_iter()
        .map(|(k, v)| (k, if k == "AWS_ENDPOINT_URL" { "http://127.0.0.1:9".into() } else { v }))
        .collect();
    let lookup = move |k: &str| env.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone());
    let sdk = chatops_shared::aws::sdk_config(&http, &lookup).unwrap();
    let d = w.deps.deploys.as_mut().unwrap();
    d.state = chatops_shared::state::StateTable::new(chatops_shared::state::dynamodb_client(&sdk), w.table.clone());
    let (ts, e) = mention(&w, &unique("Ev"), "U0ALICE", OPS, "<@U0BOT> release orders");
    let started = Instant::now();
    assert_eq!(call(&w.deps, e).await.0, 200);
    assert!(started.elapsed() < Duration::from_millis(2500));
    assert!(w.slack.thread(OPS, &ts)[0].text().contains("state table is unavailable"));
    assert!(w.ci.calls().is_empty(), "no pipeline without the claim");
    let (ts, e) = mention(&w, &unique("Ev"), "U0ALICE", OPS, "<@U0BOT> help");
    call(&w.deps, e).await;
    assert!(w.slack.thread(OPS, &ts)[0].text().contains("`orders`"), "help still answers");
}

#[tokio::test]
async fn github_refusing_or_stalling_is_said_in_the_thread() {
    let w = world().await;
    // 422: an input the workflow does not declare, or a ref that does not exist: nothing started.
    w.ci.script([CiReply::Status(422), CiReply::Slow(Duration::from_secs(4))]);
    let id = unique("Ev");
    let (ts, e) = mention(&w, &id, "U0BOB", OPS, "<@U0BOT> deploy billing");
    call(&w.deps, e).await;
    let text = w.slack.thread(OPS, &ts)[0].text().to_owned();
    assert!(text.contains("GitHub Actions did not start") && text.contains("HTTP 422"), "{text}");
    let items = Moto::shared().items(&w.table).await;
    assert!(!items.iter().any(|i| i["pk"] == format!("event#{id}")), "nothing started: the claim is given back");

    let (ts, e) = mention(&w, &unique("Ev"), "U0BOB", OPS, "<@U0BOT> deploy billing");
    let started = Instant::now();
    call(&w.deps, e).await;
    assert!(started.elapsed() < Duration::from_millis(2600));
    let text = w.slack.thread(OPS, &ts)[0].text().to_owned();
    assert!(text.contains("may have started") && text.contains("/acme/billing/actions/workflows/deploy.yml"), "{text}");
}

/// Slack retries an Events API delivery with the same body, timestamp and signature (plus
/// `X-Slack-Retry-Num`) when our first answer was slow. The replay check must not answer it 401 (Slack
/// counts every non-2xx against the app and disables event subscriptions that fail too often): the
/// event's own claim already makes the retry start nothing.
#[tokio::test]
async fn an_events_api_retry_with_the_same_signature_gets_200_and_starts_nothing() {
    let mut w = world().await;
    w.deps.replays = Some(chatops_shared::state::StateTable::new(Moto::shared().dynamodb().await, w.table.clone()));
    let id = unique("EvRetry");
    let ts = w.slack.user_message(OPS, "<@U0BOT> release orders");
    let body = mention_body(&id, TEAM, "U0ALICE", OPS, &ts, "<@U0BOT> release orders");
    let mut headers = signed_headers(SECRET, &now().to_string(), body.as_bytes());
    headers.push(("Content-Type".into(), "application/json".into()));
    let first = event_at(Shape::HttpApi, "/slack/events", "", &headers, &body, false);
    assert_eq!(call(&w.deps, first).await.0, 200);
    let mut retried = headers.clone();
    retried.push(("X-Slack-Retry-Num".into(), "1".into()));
    retried.push(("X-Slack-Retry-Reason".into(), "http_timeout".into()));
    let retry = event_at(Shape::HttpApi, "/slack/events", "", &retried, &body, false);
    let (status, answer) = call(&w.deps, retry).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(w.ci.calls().len(), 1, "the retry started nothing");
    assert_eq!(w.slack.thread(OPS, &ts).len(), 1, "one answer per mention");
}
