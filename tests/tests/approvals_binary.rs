//! The built `slack-command` binary over the Lambda Runtime API with a `CHATOPS_POLICY` that asks for
//! approvals: Auto Scaling and the state table on moto, the Web API and `response_url` on loopback
//! stand-ins. A change below the threshold runs at once; above it, it waits for approvers, who cannot
//! be the requester, count once, and run it exactly once, as it then stands.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chatops_tests::slack_api_standin::SlackApiStandIn;
use chatops_tests::slack_requests::{Shape, command_body, event, interaction_body, signed_headers};
use chatops_tests::slack_standin::SlackStandIn;
use chatops_tests::{FunctionProcess, Moto, RuntimeApi, build_binary};
use serde_json::{Value, json};

const SECRET: &str = "approvals-test-signing-secret-77";
const BOT: &str = "xoxb-approvals-test-token";
const TEAM: &str = "T0123ABCD";
const APPROVERS: &str = "C0APPROVE";

fn now() -> String {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs().to_string()
}

/// Anyone may scale `appr-*` groups by up to 2 at once; more needs `count` approvals from U0LEAD,
/// U0CTO or the `S0LEADS` group. Nobody may scale anything else.
fn policy(count: usize) -> String {
    json!({"rules": [{
        "name": "web-scaling",
        "actions": ["scale"],
        "resources": ["appr-*"],
        "requesters": ["*"],
        "approval": {"when": {"scale_change_over": 2, "scale_to_zero": true},
                     "approvers": ["U0LEAD", "U0CTO", "S0LEADS"], "count": count, "channel": APPROVERS}
    }]})
    .to_string()
}

struct Stack {
    moto: &'static Moto,
    table: String,
    slack: SlackApiStandIn,
    hooks: SlackStandIn,
    containers: Vec<(RuntimeApi, FunctionProcess)>,
    /// Held for the test's life, and dropped last (after the processes): one stack at a time. Seven
    /// stacks at once, each with its containers, against one moto made its DynamoDB answer past the
    /// function's 1.5 s limit now and then under CI's load ("I can't file the request right now").
    _one_at_a_time: tokio::sync::MutexGuard<'static, ()>,
}

static ONE_STACK_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn stack(count: usize, containers: usize) -> Stack {
    stack_with(policy(count), containers, Vec::new()).await
}

async fn stack_with(policy: String, containers: usize, extra: Vec<(&'static str, String)>) -> Stack {
    let one = ONE_STACK_AT_A_TIME.lock().await;
    let moto = Moto::shared();
    let table = moto.create_state_table().await;
    let slack = SlackApiStandIn::start(BOT).await;
    slack.set_usergroup("S0LEADS", &["U0GRACE"]);
    let hooks = SlackStandIn::start().await;
    let mut env: Vec<(&str, String)> = moto.env();
    env.extend([
        ("SLACK_SIGNING_SECRET", SECRET.to_owned()),
        ("STATE_TABLE", table.clone()),
        ("SLACK_BOT_TOKEN", BOT.to_owned()),
        ("SLACK_API_URL", slack.url()),
        ("SLACK_TEAM_ID", TEAM.to_owned()),
        ("CHATOPS_POLICY", policy),
    ]);
    env.extend(extra);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut started = Vec::new();
    for _ in 0..containers {
        let runtime = RuntimeApi::start().await;
        let process = FunctionProcess::spawn(&build_binary("slack-command", false), &runtime, &env);
        started.push((runtime, process));
    }
    Stack { moto, table, slack, hooks, containers: started, _one_at_a_time: one }
}

impl Stack {
    async fn scale(&self, container: usize, text: &str, user: &str) -> String {
        // Each command is its own signed request (Slack's `trigger_id` differs), or it would be a replay.
        static COMMANDS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let trigger = format!("trigger_id={}", COMMANDS.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
        let body = command_body("/scale", text, user, TEAM).replace("trigger_id=1234.5678.abcdef", &trigger);
        let request = event(Shape::HttpApi, &signed_headers(SECRET, &now(), body.as_bytes()), body.as_bytes(), false);
        let response = self.containers[container].0.invoke(&request).await.response_json();
        assert_eq!(response["statusCode"], 200, "{response}");
        let answer: Value = serde_json::from_str(response["body"].as_str().unwrap_or_default()).unwrap();
        answer["text"].as_str().unwrap_or_default().to_owned()
    }

    fn click_request(&self, request: &str, action: &str, user: &str) -> Value {
        self.button_request(action, request, user)
    }

    /// A click on any button: `action` its `action_id`, `value` its value.
    fn button_request(&self, action: &str, value: &str, user: &str) -> Value {
        // Each click is its own signed request (Slack's `action_ts` differs), or it would be refused as a replay.
        static CLICKS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let action_ts = format!("1700000000.{:06}", CLICKS.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
        let payload = json!({
            "type": "block_actions",
            "team": {"id": TEAM, "domain": "acme"},
            "user": {"id": user, "username": user.to_lowercase(), "team_id": TEAM},
            "channel": {"id": APPROVERS, "name": "approvals"},
            "response_url": self.hooks.url("/actions/approval"),
            "message": {"type": "message", "text": "approval", "blocks": []},
            "actions": [{"type": "button", "action_id": action, "block_id": format!("block:{value}"),
                         "value": value, "action_ts": action_ts}]
        });
        let body = interaction_body(&payload);
        let mut request =
            event(Shape::HttpApi, &signed_headers(SECRET, &now(), body.as_bytes()), body.as_bytes(), false);
        request["rawPath"] = json!("/slack/interactions");
        request["requestContext"]["http"]["path"] = json!("/slack/interactions");
        request
    }

    /// Clicks [Approve] or [Deny] as `user` in `container`; returns what replaced (or answered) the message.
    async fn click(&self, container: usize, request: &str, action: &str, user: &str) -> Value {
        self.press(container, action, request, user).await
    }

    /// Clicks button `action` with `value` as `user`; returns what the function posted to `response_url`.
    async fn press(&self, container: usize, action: &str, value: &str, user: &str) -> Value {
        let before = self.hooks.received().len();
        let response = self.containers[container].0.invoke(&self.button_request(action, value, user)).await;
        assert_eq!(
            response.response_json()["statusCode"],
            200,
            "{action} {value} {user}: {}",
            self.containers[container].1.output()
        );
        let got = self.hooks.wait_for(before + 1, Duration::from_secs(3)).await;
        got[before].json()
    }

    fn audit(&self) -> Vec<Value> {
        self.containers
            .iter()
            .flat_map(|(_, p)| p.json_logs())
            .filter(|l| l["fields"]["kind"] == "audit")
            .map(|l| l["fields"].clone())
            .collect()
    }

    fn steps(&self, request: &str) -> Vec<String> {
        let mut steps: Vec<String> = self
            .audit()
            .iter()
            .filter(|f| f["approval_request"] == request)
            .map(|f| f["approval_step"].as_str().unwrap_or_default().to_owned())
            .collect();
        steps.sort();
        steps
    }
}

/// The request ID in the requester's answer (`request \`R-…\``).
fn request_id(answer: &str) -> String {
    let start = answer.find("`R-").unwrap_or_else(|| panic!("no request ID in {answer}")) + 1;
    answer[start..start + 10].to_owned()
}

fn text(message: &Value) -> String {
    message.to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn small_changes_run_at_once_large_ones_wait_for_another_persons_approval() {
    let s = stack(1, 1).await;
    let group = format!("appr-small-{}", std::process::id());
    s.moto.create_group(&group, 0, 20, 2, Some("enabled")).await;

    // Within the threshold: runs at once, as without a policy.
    assert!(s.scale(0, &format!("{group} +2"), "U0ADA").await.contains("from 2 to 4"));
    assert_eq!(s.moto.desired_capacity(&group).await, 4);

    // Above it: nothing runs; the requester gets the ID, the approvers a message with buttons and the reason.
    let answer = s.scale(0, &format!("{group} 12 -- Black Friday"), "U0ADA").await;
    assert!(answer.contains("Waiting for approval"), "{answer}");
    let id = request_id(&answer);
    assert_eq!(s.moto.desired_capacity(&group).await, 4);
    let asked = s.slack.channel(APPROVERS);
    assert_eq!(asked.len(), 1);
    let asked_text = asked[0].all_text();
    for part in [&id, "<@U0ADA>", "from 4 to 12", "Black Friday", "<@U0LEAD>", "<!subteam^S0LEADS>"] {
        assert!(asked_text.contains(part), "{part} missing from {asked_text}");
    }
    let buttons = asked[0].body.to_string();
    assert!(buttons.contains("approval:approve") && buttons.contains("approval:deny"), "{buttons}");

    // The requester cannot approve their own request; someone who is not an approver cannot either.
    let own = s.click(0, &id, "approval:approve", "U0ADA").await;
    assert!(text(&own).contains("cannot approve your own request"), "{own}");
    let unknown = s.click(0, &id, "approval:approve-all", "U0LEAD").await;
    assert!(text(&unknown).contains("I don't know the action"), "{unknown}");
    let stranger = s.click(0, &id, "approval:approve", "U0MALLORY").await;
    assert!(text(&stranger).contains("Only <@U0LEAD>"), "{stranger}");
    assert_eq!(s.moto.desired_capacity(&group).await, 4);

    // A member of the approvers' user group approves: it runs, as asked (an absolute 12, not +8 again).
    let approved = s.click(0, &id, "approval:approve", "U0GRACE").await;
    assert_eq!(approved["replace_original"], true);
    assert!(text(&approved).contains("Approved by <@U0GRACE> (1 of 1)"), "{approved}");
    assert!(text(&approved).contains("from 4 to 12"), "{approved}");
    assert!(!text(&approved).contains("approval:approve"), "no buttons once closed: {approved}");
    assert_eq!(s.moto.desired_capacity(&group).await, 12);
    let told = s.slack.channel("C0123ABCD");
    assert!(told.iter().any(|m| m.all_text().contains(&id) && m.all_text().contains("approved by <@U0GRACE>")));

    // A late click changes nothing.
    let late = s.click(0, &id, "approval:approve", "U0LEAD").await;
    assert!(text(&late).contains("already executed"), "{late}");
    assert_eq!(s.moto.desired_capacity(&group).await, 12);

    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(s.steps(&id), ["approved", "executed", "refused", "refused", "refused", "refused", "requested"]);
    let executed = s.audit().into_iter().find(|f| f["approval_step"] == "executed").unwrap();
    assert_eq!(executed["user_id"], "U0ADA", "the change runs as the requester");
    assert_eq!(executed["after"], 12);
    let requested = s.audit().into_iter().find(|f| f["approval_step"] == "requested").unwrap();
    assert_eq!(requested["request_reason"], "Black Friday");
}

#[tokio::test(flavor = "multi_thread")]
async fn two_approvers_clicking_at_once_in_two_containers_run_it_once() {
    let s = stack(1, 2).await;
    for round in 0..3 {
        let group = format!("appr-race-{}-{round}", std::process::id());
        s.moto.create_group(&group, 0, 20, 1, Some("enabled")).await;
        let id = request_id(&s.scale(round % 2, &format!("{group} 9"), "U0ADA").await);
        let (a, b) =
            (s.click_request(&id, "approval:approve", "U0LEAD"), s.click_request(&id, "approval:approve", "U0CTO"));
        let (ra, rb) = tokio::join!(s.containers[0].0.invoke(&a), s.containers[1].0.invoke(&b));
        assert_eq!(ra.response_json()["statusCode"], 200);
        assert_eq!(rb.response_json()["statusCode"], 200);
        assert_eq!(s.moto.desired_capacity(&group).await, 9);
        tokio::time::sleep(Duration::from_millis(300)).await;
        let executed = s.steps(&id).iter().filter(|step| *step == "executed").count();
        assert_eq!(executed, 1, "round {round}: {:?}", s.steps(&id));
        let told = s.slack.channel("C0123ABCD").iter().filter(|m| m.all_text().contains(&id)).count();
        assert_eq!(told, 1, "round {round}: the requester is told once");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn two_approvals_are_needed_denial_and_expiry_close_a_request() {
    let s = stack(2, 1).await;
    let group = format!("appr-two-{}", std::process::id());
    s.moto.create_group(&group, 0, 20, 3, Some("enabled")).await;

    // Two approvals: the first is counted, the same person again is not, the second runs it.
    let id = request_id(&s.scale(0, &format!("{group} 0"), "U0ADA").await);
    let first = s.click(0, &id, "approval:approve", "U0LEAD").await;
    assert!(text(&first).contains("(1 of 2)") && text(&first).contains("approval:approve"), "{first}");
    let again = s.click(0, &id, "approval:approve", "U0LEAD").await;
    assert!(text(&again).contains("already approved"), "{again}");
    assert_eq!(s.moto.desired_capacity(&group).await, 3);
    let second = s.click(0, &id, "approval:approve", "U0CTO").await;
    assert!(text(&second).contains("(2 of 2)"), "{second}");
    assert_eq!(s.moto.desired_capacity(&group).await, 0);

    // Denied: closed, nothing runs, a later approval says so.
    let denied_id = request_id(&s.scale(0, &format!("{group} 10"), "U0ADA").await);
    let denied = s.click(0, &denied_id, "approval:deny", "U0CTO").await;
    assert!(text(&denied).contains("Denied by <@U0CTO>"), "{denied}");
    let after = s.click(0, &denied_id, "approval:approve", "U0LEAD").await;
    assert!(text(&after).contains("already denied"), "{after}");
    assert_eq!(s.moto.desired_capacity(&group).await, 0);

    // Expired: the next click finds it so and closes it.
    let old_id = request_id(&s.scale(0, &format!("{group} 10"), "U0ADA").await);
    assert_eq!(s.moto.set_past(&s.table, &format!("approval#{old_id}"), "open_until").await, 1);
    let expired = s.click(0, &old_id, "approval:approve", "U0LEAD").await;
    assert!(text(&expired).contains("Expired without enough approvals"), "{expired}");
    assert_eq!(s.moto.desired_capacity(&group).await, 0);

    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(s.steps(&id), ["approved", "approved", "executed", "refused", "requested"]);
    assert_eq!(s.steps(&denied_id), ["denied", "refused", "requested"]);
    assert_eq!(s.steps(&old_id), ["expired", "requested"]);
    // Each outcome is in the history the operations report reads (#35), once, with its wait.
    let state = chatops_shared::state::StateTable::new(s.moto.dynamodb().await, s.table.clone());
    let now = chatops_shared::clock::now_ms();
    let history = state.history(now - 120_000, now).await.unwrap();
    let mut outcomes: Vec<(String, String)> =
        history.approvals.iter().map(|a| (a.id.clone(), a.outcome.clone())).collect();
    outcomes.sort();
    let mut expected =
        vec![(id.clone(), "approved".to_owned()), (denied_id, "denied".to_owned()), (old_id, "expired".to_owned())];
    expected.sort();
    assert_eq!(outcomes, expected);
    assert!(
        history.approvals.iter().all(|a| a.action == "scale" && a.decided_at >= a.requested_at && a.requested_at > 0)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_approval_after_the_group_changed_is_checked_again_and_fails() {
    let s = stack(1, 1).await;
    let group = format!("appr-stale-{}", std::process::id());
    s.moto.create_group(&group, 0, 20, 2, Some("enabled")).await;
    let id = request_id(&s.scale(0, &format!("{group} 15"), "U0ADA").await);
    // Someone lowers the group's max while the request waits.
    s.moto
        .autoscaling()
        .await
        .update_auto_scaling_group()
        .auto_scaling_group_name(&group)
        .max_size(10)
        .send()
        .await
        .unwrap();
    let approved = s.click(0, &id, "approval:approve", "U0LEAD").await;
    assert!(text(&approved).contains("Did not run") && text(&approved).contains("max 10"), "{approved}");
    assert_eq!(s.moto.desired_capacity(&group).await, 2);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(s.steps(&id), ["approved", "failed", "requested"]);

    // Outside the policy's resources: refused by the rule, before anything is asked.
    let other = format!("db-{}", std::process::id());
    s.moto.create_group(&other, 0, 20, 2, Some("enabled")).await;
    let refused = s.scale(0, &format!("{other} 3"), "U0ADA").await;
    assert!(refused.contains("No rule of the policy allows `scale`"), "{refused}");
    assert_eq!(s.moto.desired_capacity(&other).await, 2);
    // `/scale` alone lists only the groups the policy lets this user scale.
    let listed = s.scale(0, "", "U0ADA").await;
    assert!(listed.contains(&group) && !listed.contains(&other), "{listed}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_that_never_reported_is_closed_with_a_warning_by_the_next_click() {
    use aws_sdk_dynamodb::types::AttributeValue;
    let s = stack(1, 1).await;
    let group = format!("appr-dead-{}", std::process::id());
    s.moto.create_group(&group, 0, 20, 2, Some("enabled")).await;
    let id = request_id(&s.scale(0, &format!("{group} 15"), "U0ADA").await);
    // As if the container that won the run had stopped long ago, before it reported.
    s.moto
        .dynamodb()
        .await
        .update_item()
        .table_name(&s.table)
        .key("pk", AttributeValue::S(format!("approval#{id}")))
        .key("sk", AttributeValue::S("approval".into()))
        .update_expression("SET #s = :executing, moved_at = :long_ago")
        .expression_attribute_names("#s", "status")
        .expression_attribute_values(":executing", AttributeValue::S("executing".into()))
        .expression_attribute_values(":long_ago", AttributeValue::N("1000".into()))
        .send()
        .await
        .unwrap();
    let closed = s.click(0, &id, "approval:approve", "U0LEAD").await;
    assert!(text(&closed).contains("Unknown: the run did not report back"), "{closed}");
    assert!(text(&closed).contains(&format!("check `{group}`")), "{closed}");
    let again = s.click(0, &id, "approval:approve", "U0CTO").await;
    assert!(text(&again).contains("already abandoned"), "{again}");
    assert_eq!(s.moto.desired_capacity(&group).await, 2, "nothing is run again");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(s.steps(&id), ["abandoned", "refused", "requested"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_policy_that_does_not_parse_stops_init_naming_the_problem() {
    let runtime = RuntimeApi::start().await;
    let mut env: Vec<(&str, String)> = Moto::shared().env();
    env.extend([
        ("SLACK_SIGNING_SECRET", SECRET.to_owned()),
        ("CHATOPS_POLICY", r#"{"rules": [{"actions": ["scael"], "requesters": ["*"]}]}"#.to_owned()),
    ]);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut process = FunctionProcess::spawn(&build_binary("slack-command", false), &runtime, &env);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while process.is_running() && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!process.is_running(), "init must fail");
    let output = process.output();
    assert!(output.contains("CHATOPS_POLICY") && output.contains("unknown action `scael`"), "{output}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_codedeploy_rollback_waits_for_approval_and_then_runs_once() {
    use chatops_tests::codedeploy_standin::CodeDeployStandIn;
    let codedeploy = CodeDeployStandIn::start().await;
    codedeploy.add_ready("d-APPR0001", "orders", "orders-ecs-bg");
    codedeploy.add_ready("d-APPR0002", "billing", "billing-bg");
    let policy = json!({"rules": [
        {"name": "switch", "actions": ["codedeploy:switch"], "resources": ["orders/*"], "requesters": ["*"]},
        {"name": "rollback", "actions": ["codedeploy:rollback"], "resources": ["orders/*"], "requesters": ["*"],
         "approval": {"approvers": ["U0LEAD"], "channel": APPROVERS}}
    ]});
    let extra = vec![
        ("CODEDEPLOY_DEPLOYMENT_GROUPS", "orders/orders-ecs-bg,billing/billing-bg".to_owned()),
        ("AWS_ENDPOINT_URL_CODEDEPLOY", codedeploy.endpoint()),
    ];
    let s = stack_with(policy.to_string(), 1, extra).await;

    // Billing is enabled for buttons but no rule covers it: refused by the policy, nothing called.
    let refused = s.press(0, "codedeploy:switch", "d-APPR0002", "U0ADA").await;
    assert!(text(&refused).contains("No rule of the policy allows `codedeploy:switch`"), "{refused}");
    assert!(codedeploy.changes().is_empty());

    // A rollback waits for the lead; the click's answer says so, to the clicker alone.
    let waiting = s.press(0, "codedeploy:rollback", "d-APPR0001", "U0ADA").await;
    assert_eq!(waiting["response_type"], "ephemeral");
    assert!(text(&waiting).contains("Waiting for approval"), "{waiting}");
    assert!(codedeploy.changes().is_empty(), "nothing runs before the approval");
    let id = request_id(&text(&waiting));
    assert!(s.slack.channel(APPROVERS)[0].all_text().contains("d-APPR0001"));

    let approved = s.click(0, &id, "approval:approve", "U0LEAD").await;
    assert!(text(&approved).contains("Ran: 🔙 Roll back of deployment `d-APPR0001`"), "{approved}");
    let ops: Vec<String> = codedeploy.changes().into_iter().map(|c| c.operation).collect();
    assert_eq!(ops, ["StopDeployment"]);
    let late = s.click(0, &id, "approval:approve", "U0CTO").await;
    assert!(text(&late).contains("already executed"), "{late}");
    assert_eq!(codedeploy.changes().len(), 1);
}

/// The approvers' message goes through the bot, which picks up a rotated token as every other post
/// does: Slack refuses the old token, the stack's secret is read again, and the call is made once more
/// with the new one. (Before, only deploy answers did this: the request was refused as "Slack did not
/// take the message to the approvers" until the container was recycled.)
#[tokio::test(flavor = "multi_thread")]
async fn an_approval_request_is_posted_with_a_rotated_bot_token() {
    let moto = Moto::shared();
    let arn = moto.create_secret(&json!({"bot_token": "xoxb-approvals-OLD-token"}).to_string()).await;
    let extra = vec![
        ("SLACK_BOT_TOKEN", String::new()), // blank counts as unset: the token comes from the secret
        ("SLACK_SECRETS_ARN", arn.clone()),
        ("SLACK_SECRETS_REFRESH_SECONDS", "0".to_owned()),
    ];
    let s = stack_with(policy(1), 1, extra).await;
    let group = format!("appr-rotated-{}", std::process::id());
    s.moto.create_group(&group, 0, 20, 2, Some("enabled")).await;
    // Rotated in Secrets Manager after the container read it; Slack now takes only the new token (BOT).
    moto.put_secret(&arn, &json!({"bot_token": BOT}).to_string()).await;

    let answer = s.scale(0, &format!("{group} 12"), "U0ADA").await;
    assert!(answer.contains("Waiting for approval"), "{answer}");
    assert_eq!(s.slack.channel(APPROVERS).len(), 1, "the approvers were asked");
    let refused = s.slack.calls().iter().filter(|c| c.answer == "invalid_auth").count();
    assert!(refused >= 1, "the old token was tried first and refused");
    let out = s.containers[0].1.output();
    assert!(out.contains("rotated") && !out.contains("xoxb-approvals-OLD-token") && !out.contains(BOT));
}
