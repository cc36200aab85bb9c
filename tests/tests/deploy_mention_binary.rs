//! The built `slack-command` binary deploying by mention, over the Lambda Runtime API: two processes
//! (two Lambda containers) given the same Slack event at the same moment start one pipeline; the audit
//! line of a deploy; the callback; the configuration contract; no token in the logs. Secrets Manager and
//! DynamoDB are moto's; Slack and GitLab are loopback stand-ins.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chatops_tests::slack_requests::{Shape, event_at, mention_body, signed_headers};
use chatops_tests::{CiReply, CiStandIn, Container, Moto, SlackApiStandIn};
use serde_json::{Value, json};

const SECRET: &str = "binary-deploy-signing-secret-77a1";
const BOT: &str = "xoxb-binary-deploy-BOTSECRET";
const NOTIFY: &str = "binary-notify-NOTIFYSECRET";
const TRIGGER: &str = "glptt-binary-TRIGGERSECRET";

async fn container(env: &[(&str, String)]) -> Container {
    Container::start("slack-command", env).await
}

async fn setup() -> (SlackApiStandIn, CiStandIn, String, Vec<(&'static str, String)>) {
    let moto = Moto::shared();
    let slack = SlackApiStandIn::start(BOT).await;
    let ci = CiStandIn::start(TRIGGER, "unused").await;
    let table = moto.create_state_table().await;
    let mapping = json!({"T0TEAM": {"C0OPS": {"orders": {"provider": "gitlab", "project_id": "42", "ref": "main", "token": TRIGGER}}}});
    let arn = moto.create_secret(&mapping.to_string()).await;
    let mut env = moto.env();
    env.extend([
        ("SLACK_SIGNING_SECRET", SECRET.to_owned()),
        ("SLACK_BOT_TOKEN", BOT.to_owned()),
        ("SLACK_API_URL", slack.url()),
        ("STATE_TABLE", table.clone()),
        ("DEPLOY_TARGETS_SECRET_ARN", arn),
        ("GITLAB_URL", ci.url()),
        ("DEPLOY_NOTIFY_TOKEN", NOTIFY.to_owned()),
    ]);
    (slack, ci, table, env)
}

fn now() -> String {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs().to_string()
}

fn delivery(event_id: &str, ts: &str, retry: Option<&str>) -> Value {
    let body = mention_body(event_id, "T0TEAM", "U0ALICE", "C0OPS", ts, "<@U0BOT> release orders");
    // Slack signs each retry anew (its own timestamp): here one second earlier than the first delivery.
    let signed_at = now().parse::<i64>().unwrap() - i64::from(retry.is_some());
    let mut headers = signed_headers(SECRET, &signed_at.to_string(), body.as_bytes());
    if let Some(n) = retry {
        headers.push(("X-Slack-Retry-Num".into(), n.into()));
    }
    event_at(Shape::HttpApi, "/slack/events", "", &headers, &body, false)
}

#[tokio::test(flavor = "multi_thread")]
async fn two_containers_given_the_same_mention_start_one_pipeline() {
    let (slack, ci, _table, env) = setup().await;
    let a = container(&env).await;
    let b = container(&env).await;
    for round in 0..3 {
        // GitLab is slow, so Slack's retry reaches the other container while the first is still at it.
        ci.script([CiReply::Slow(Duration::from_millis(300))]);
        let ts = slack.user_message("C0OPS", "<@U0BOT> release orders");
        let id = format!("EvRACE{round}{}", std::process::id());
        let (first, retry) = (delivery(&id, &ts, None), delivery(&id, &ts, Some("1")));
        let (ra, rb) = tokio::join!(a.runtime.invoke(&first), b.runtime.invoke(&retry));
        assert_eq!(
            (ra.response_json()["statusCode"].clone(), rb.response_json()["statusCode"].clone()),
            (json!(200), json!(200))
        );
        assert_eq!(slack.thread("C0OPS", &ts).len(), 1, "round {round}: one answer");
    }
    assert_eq!(ci.received(), 3, "one trigger per mention: {:?}", ci.calls());
    for c in [&a, &b] {
        let out = c.process.output();
        assert!(!out.contains("BOTSECRET") && !out.contains("TRIGGERSECRET") && !out.contains(SECRET), "{out}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_deploy_is_audited_and_its_callback_reported_in_the_thread() {
    let (slack, ci, _table, env) = setup().await;
    let c = container(&env).await;
    let ts = slack.user_message("C0OPS", "<@U0BOT> release orders");
    let inv = c.runtime.invoke(&delivery(&format!("EvAUDIT{}", std::process::id()), &ts, None)).await;
    assert_eq!(inv.response_json()["statusCode"], 200);
    assert_eq!(ci.started().len(), 1);

    let body = json!({"result": "success", "channel": "C0OPS", "thread_ts": ts, "project": "orders"}).to_string();
    let auth = |t: &str| vec![("authorization".to_owned(), format!("Bearer {t}"))];
    let refused = c.runtime.invoke(&event_at(Shape::Rest, "/deploy/notify", "", &auth("nope"), &body, false)).await;
    assert_eq!(refused.response_json()["statusCode"], 401);
    let done = c.runtime.invoke(&event_at(Shape::Rest, "/deploy/notify", "", &auth(NOTIFY), &body, false)).await;
    assert_eq!(done.response_json()["statusCode"], 200, "{:?}", done.response_json());
    let thread = slack.thread("C0OPS", &ts);
    assert_eq!(thread.len(), 2);
    assert!(thread[1].text().contains("deployed"));

    tokio::time::sleep(Duration::from_millis(200)).await;
    let audits: Vec<Value> = c.process.json_logs().into_iter().filter(|l| l["fields"]["kind"] == "audit").collect();
    assert_eq!(audits.len(), 2, "the request and its result: {audits:#?}");
    let request = &audits[0]["fields"];
    for (field, expected) in [
        ("team_id", json!("T0TEAM")),
        ("user_id", json!("U0ALICE")),
        ("channel_id", json!("C0OPS")),
        ("command", json!("@mention release")),
        ("text", json!("orders")),
        ("decision", json!("done")),
        ("resource", json!("orders")),
    ] {
        assert_eq!(request[field], expected, "audit field {field}: {request}");
    }
    assert!(request["pipeline"].as_str().unwrap().contains("/-/pipelines/"), "{request}");
    let result = &audits[1]["fields"];
    assert_eq!((result["command"].clone(), result["text"].clone()), (json!("deploy result"), json!("success")));
    let out = c.process.output();
    assert!(!out.contains("NOTIFYSECRET") && !out.contains("BOTSECRET") && !out.contains("TRIGGERSECRET"), "{out}");
}

#[tokio::test(flavor = "multi_thread")]
async fn deploys_without_the_bot_token_or_the_table_stop_init_naming_the_variable() {
    let (_slack, _ci, _table, env) = setup().await;
    for (drop, named) in [("SLACK_BOT_TOKEN", "KMS_ENCRYPTED_SLACK_BOT_TOKEN"), ("STATE_TABLE", "STATE_TABLE")] {
        let env: Vec<(&str, String)> = env.iter().filter(|(k, _)| *k != drop).cloned().collect();
        let mut c = container(&env).await;
        let until = std::time::Instant::now() + Duration::from_secs(10);
        while c.process.is_running() && std::time::Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(!c.process.is_running(), "without {drop} init must fail");
        assert!(c.process.output().contains(named), "{}", c.process.output());
    }
}

/// A policy that sends `orders` deploys for approval: the mention starts nothing and asks the approvers;
/// the approval starts the pipeline once, with the link in the mention's thread and the callback working
/// as for any deploy.
#[tokio::test(flavor = "multi_thread")]
async fn a_deploy_that_needs_approval_starts_when_approved_and_answers_in_its_thread() {
    let (slack, ci, _table, mut env) = setup().await;
    let policy = json!({"rules": [{"name": "prod", "actions": ["deploy"], "resources": ["orders"],
        "requesters": ["U0ALICE"], "approval": {"approvers": ["U0BOB"], "channel": "C0LEADS"}}]});
    env.push(("CHATOPS_POLICY", policy.to_string()));
    let c = container(&env).await;
    let ts = slack.user_message("C0OPS", "<@U0BOT> release orders -- hotfix for checkout");
    let body = mention_body(
        &format!("EvAPPR{}", std::process::id()),
        "T0TEAM",
        "U0ALICE",
        "C0OPS",
        &ts,
        "<@U0BOT> release orders -- hotfix for checkout",
    );
    let mention =
        event_at(Shape::HttpApi, "/slack/events", "", &signed_headers(SECRET, &now(), body.as_bytes()), &body, false);
    assert_eq!(c.runtime.invoke(&mention).await.response_json()["statusCode"], 200);
    assert_eq!(ci.received(), 0, "nothing starts before the approval");
    let thread = slack.thread("C0OPS", &ts);
    assert_eq!(thread.len(), 1);
    assert!(thread[0].all_text().contains("Waiting for approval"), "{}", thread[0].all_text());
    let asked = slack.channel("C0LEADS");
    assert_eq!(asked.len(), 1);
    assert!(asked[0].all_text().contains("hotfix for checkout") && asked[0].all_text().contains("<@U0BOB>"));
    let text = asked[0].all_text();
    let start = text.find("`R-").unwrap() + 1;
    let id = text[start..start + 10].to_owned();

    let click = |user: &str, n: u32| {
        let payload = json!({
            "type": "block_actions", "team": {"id": "T0TEAM"}, "user": {"id": user, "username": user},
            "channel": {"id": "C0LEADS", "name": "leads"}, "message": {"text": "approval", "blocks": []},
            "actions": [{"action_id": "approval:approve", "value": id, "block_id": "b", "action_ts": format!("1.{n}")}]
        });
        let body = chatops_tests::slack_requests::interaction_body(&payload);
        event_at(
            Shape::HttpApi,
            "/slack/interactions",
            "",
            &signed_headers(SECRET, &now(), body.as_bytes()),
            &body,
            false,
        )
    };
    // Alice cannot approve her own deploy; Bob can, and it starts once.
    assert_eq!(c.runtime.invoke(&click("U0ALICE", 1)).await.response_json()["statusCode"], 200);
    assert_eq!(ci.received(), 0);
    assert_eq!(c.runtime.invoke(&click("U0BOB", 2)).await.response_json()["statusCode"], 200);
    assert_eq!(c.runtime.invoke(&click("U0BOB", 3)).await.response_json()["statusCode"], 200);
    assert_eq!(ci.started().len(), 1, "one pipeline for one approved request");
    let thread = slack.thread("C0OPS", &ts);
    assert_eq!(thread.len(), 2, "the approved deploy answers in the mention's thread");
    assert!(thread[1].all_text().contains("orders"), "{}", thread[1].all_text());

    // The pipeline's callback finds the deploy as for any other.
    let result = json!({"result": "success", "channel": "C0OPS", "thread_ts": ts, "project": "orders"}).to_string();
    let auth = vec![("authorization".to_owned(), format!("Bearer {NOTIFY}"))];
    let done = c.runtime.invoke(&event_at(Shape::Rest, "/deploy/notify", "", &auth, &result, false)).await;
    assert_eq!(done.response_json()["statusCode"], 200);
    assert_eq!(slack.thread("C0OPS", &ts).len(), 3);

    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut steps: Vec<String> = c
        .process
        .json_logs()
        .into_iter()
        .filter(|l| l["fields"]["approval_request"] == id.as_str())
        .map(|l| l["fields"]["approval_step"].as_str().unwrap_or_default().to_owned())
        .collect();
    steps.sort();
    assert_eq!(steps, ["approved", "executed", "refused", "refused", "requested"]);
}
