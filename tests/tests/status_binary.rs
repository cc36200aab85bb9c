//! What is going on right now (#33), on the built binaries over the Lambda Runtime API: the notifier posts
//! alerts from two accounts into three channels (routes with teams), slack-command acknowledges, mutes,
//! declares an incident, files an approval request and starts a deploy, and then `/status` lists it all,
//! most urgent first, narrowed by filters, one alert in detail; [Share in channel]; the App Home for three
//! people; help from the policy. The open index is moto's DynamoDB global secondary index; Slack is the Web
//! API stand-in, which checks every message and view as Block Kit.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use chatops_shared::state::{AlertFacts, LifecycleUpdate, StateTable, Thread};
use chatops_tests::block_kit;
use chatops_tests::slack_api_standin::SlackApiStandIn;
use chatops_tests::slack_requests::{Shape, command_body, event_at, interaction_body, mention_body, signed_headers};
use chatops_tests::slack_standin::SlackStandIn;
use chatops_tests::{CiStandIn, Container, Moto, RuntimeApi, from_account, sns_alarm};
use serde_json::{Value, json};

const SECRET: &str = "status-signing-secret-5c1";
const BOT: &str = "xoxb-status-BOTSECRET";
const TEAM: &str = "T0123ABCD";
const TRIGGER: &str = "glptt-status-TRIGGER";
const ROLE: &str = "arn:aws:iam::123456789012:role/chatops-scheduler";
const TARGET: &str = "arn:aws:lambda:eu-west-1:123456789012:function:chatops-slack-command";

fn now_s() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

fn at(minutes_ago: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(now_s() - minutes_ago * 60).unwrap();
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.000+0000",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

fn policy() -> Value {
    json!({"rules": [
        {"name": "responders", "actions": ["alert:ack", "alarm:mute", "incident:declare", "incident:update", "incident:resolve"],
         "requesters": ["*"]},
        {"name": "prod-scale", "actions": ["scale"], "resources": ["prod-*"], "requesters": ["U0DEV"],
         "approval": {"approvers": ["U0LEAD"], "count": 1}},
        {"name": "web-scale", "actions": ["scale"], "resources": ["web-*"], "requesters": ["*"]},
        {"name": "deploys", "actions": ["deploy"], "requesters": ["U0ALICE"]}
    ]})
}

struct Stack {
    moto: &'static Moto,
    table: String,
    slack: SlackApiStandIn,
    hooks: SlackStandIn,
    _ci: CiStandIn,
    notifier: Container,
    command: Container,
    command_env: Vec<(&'static str, String)>,
}

async fn stack() -> Stack {
    let moto = Moto::shared();
    let table = moto.create_state_table().await;
    let group = moto.create_schedule_group().await;
    let slack = SlackApiStandIn::start(BOT).await;
    let hooks = SlackStandIn::start().await;
    let ci = CiStandIn::start(TRIGGER, "unused").await;
    let mapping = json!({TEAM: {"C0123ABCD": {"orders": {"provider": "gitlab", "project_id": "42", "ref": "main", "token": TRIGGER}}}});
    let arn = moto.create_secret(&mapping.to_string()).await;
    let mut notifier_env = moto.env();
    notifier_env.extend([
        ("SLACK_BOT_TOKEN", BOT.to_owned()),
        ("SLACK_API_URL", slack.url()),
        ("SLACK_CHANNEL", "C0OPS".to_owned()),
        (
            "SLACK_ROUTES",
            json!([
                {"alarm": "payments-*", "channel": "C0PAY", "team": "payments"},
                {"account": "210987654321", "channel": "C0STAGE", "team": "platform"}
            ])
            .to_string(),
        ),
        ("STATE_TABLE", table.clone()),
        ("MUTABLE_ALARMS", "payments-*".to_owned()),
    ]);
    let notifier = Container::start("alarm-to-slack", &notifier_env).await;
    let mut command_env = moto.env();
    command_env.extend([
        ("SLACK_SIGNING_SECRET", SECRET.to_owned()),
        ("SLACK_BOT_TOKEN", BOT.to_owned()),
        ("SLACK_API_URL", slack.url()),
        ("STATE_TABLE", table.clone()),
        ("CHATOPS_POLICY", policy().to_string()),
        ("MUTABLE_ALARMS", "payments-*".to_owned()),
        ("SCHEDULE_GROUP", group),
        ("SCHEDULER_ROLE_ARN", ROLE.to_owned()),
        ("SCHEDULE_TARGET_ARN", TARGET.to_owned()),
        ("DEPLOY_TARGETS_SECRET_ARN", arn),
        ("GITLAB_URL", ci.url()),
        ("DEPLOY_NOTIFY_TOKEN", "status-notify-token".to_owned()),
    ]);
    let command = Container::start("slack-command", &command_env).await;
    Stack { moto, table, slack, hooks, _ci: ci, notifier, command, command_env }
}

/// A slash command as `user`: the answer's body, checked as Block Kit.
async fn slash(runtime: &RuntimeApi, command: &str, text: &str, user: &str) -> Value {
    slash_in(runtime, "C0123ABCD", command, text, user).await
}

/// The same, typed in `channel`.
async fn slash_in(runtime: &RuntimeApi, channel: &str, command: &str, text: &str, user: &str) -> Value {
    // Each request its own trigger (as Slack's): two identical bodies in one second would be one signature,
    // and the second refused as a replay.
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let body = command_body(command, text, user, TEAM)
        .replace("trigger_id=1234.5678.abcdef", &format!("trigger_id=1234.5678.{n}"))
        .replace("channel_id=C0123ABCD", &format!("channel_id={channel}"));
    let headers = signed_headers(SECRET, &now_s().to_string(), body.as_bytes());
    let response = runtime.invoke(&event_at(Shape::HttpApi, "/slack/commands", "", &headers, &body, false)).await;
    let response = response.response_json();
    assert_eq!(response["statusCode"], 200, "{response}");
    let answer: Value = serde_json::from_str(response["body"].as_str().unwrap_or("null")).unwrap_or(Value::Null);
    block_kit::check_message(&answer).unwrap_or_else(|e| panic!("not valid Block Kit: {e}\n{answer:#}"));
    answer
}

/// The answer's section and context texts, in order.
fn texts(answer: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for block in answer["blocks"].as_array().into_iter().flatten() {
        if let Some(t) = block.pointer("/text/text").and_then(Value::as_str) {
            out.push(t.to_owned());
        }
        for e in
            block["elements"].as_array().into_iter().flatten().chain(block["fields"].as_array().into_iter().flatten())
        {
            if let Some(t) = e["text"].as_str() {
                out.push(t.to_owned());
            }
        }
    }
    out
}

/// The text of the section whose title starts with `title`, or "".
fn section(answer: &Value, title: &str) -> String {
    texts(answer).into_iter().find(|t| t.starts_with(title)).unwrap_or_default()
}

impl Stack {
    async fn alarm(&self, name: &str, state: &str, account: Option<&str>, minutes_ago: i64, id: &str) {
        let old = if state == "ALARM" { "OK" } else { "ALARM" };
        let mut event = sns_alarm(name, state, old, &at(minutes_ago), id, "alarms");
        if let Some(account) = account {
            event = from_account(event, account);
        }
        let answer = self.notifier.runtime.invoke(&event).await.response_json();
        assert_eq!(answer, json!({"delivered": 1}), "{}", self.notifier.process.output());
    }

    fn message_ts(&self, channel: &str, name: &str) -> String {
        self.slack.channel(channel).into_iter().find(|m| m.all_text().contains(name)).expect(name).ts
    }

    async fn click(&self, channel: &str, ts: &str, action: &str, value: &Value, user: &str) -> Value {
        static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = format!("/status-actions/{n}");
        let message = self.slack.message(channel, ts);
        let payload = json!({
            "type": "block_actions", "team": {"id": TEAM, "domain": "acme"}, "user": {"id": user, "username": user},
            "channel": {"id": channel, "name": "alerts"},
            "container": {"type": "message", "message_ts": ts, "channel_id": channel, "is_ephemeral": message.is_none()},
            "response_url": self.hooks.url(&path),
            "message": message.map(|m| json!({"ts": ts, "text": m.text(), "attachments": m.body["attachments"], "blocks": m.body["blocks"]})),
            "actions": [{"type": "button", "action_id": action, "block_id": "b", "value": value, "action_ts": format!("1.{n}")}]
        });
        let body = interaction_body(&payload);
        let headers = signed_headers(SECRET, &now_s().to_string(), body.as_bytes());
        let response = self
            .command
            .runtime
            .invoke(&event_at(Shape::HttpApi, "/slack/interactions", "", &headers, &body, false))
            .await;
        assert_eq!(response.response_json()["statusCode"], 200);
        for _ in 0..300 {
            if let Some(got) = self.hooks.received().into_iter().find(|r| r.path == path) {
                return got.json();
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("no response_url update for {action}: {}", self.command.process.output());
    }

    /// Opens the App Home as `user`; the view published.
    async fn open_home(&self, runtime: &RuntimeApi, user: &str) -> Value {
        let body = json!({"type": "event_callback", "team_id": TEAM, "api_app_id": "A0CHATOPS",
            "event_id": format!("EvHOME{user}{}", now_s()), "event_time": now_s(),
            "event": {"type": "app_home_opened", "user": user, "channel": "D0HOME", "tab": "home",
                      "event_ts": "1700000000.000100"}})
        .to_string();
        let headers = signed_headers(SECRET, &now_s().to_string(), body.as_bytes());
        let response = runtime.invoke(&event_at(Shape::HttpApi, "/slack/events", "", &headers, &body, false)).await;
        assert_eq!(response.response_json()["statusCode"], 200);
        self.slack.home_view(user).unwrap_or_else(|| panic!("no view published for {user}"))
    }

    /// The state table as the function sees it.
    async fn state(&self) -> StateTable {
        StateTable::new(self.moto.dynamodb().await, &self.table)
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn status_lists_a_realistic_mix_most_urgent_first_and_filters_narrow_it() {
    let s = stack().await;
    s.moto.put_alarm("payments-latency").await;
    s.moto.create_group("prod-web", 1, 40, 4, Some("enabled")).await;
    s.moto.create_group("web-front", 1, 10, 2, Some("enabled")).await;
    // Alerts from two accounts into three channels; one resolves.
    s.alarm("payments-5xx", "ALARM", None, 30, "st-1").await;
    s.alarm("payments-latency", "ALARM", None, 20, "st-2").await;
    s.alarm("db-cpu", "ALARM", Some("210987654321"), 10, "st-3").await;
    s.alarm("web-errors", "ALARM", None, 40, "st-4").await;
    s.alarm("web-errors", "OK", None, 35, "st-5").await;
    // Acknowledged, muted.
    let pay_5xx = s.message_ts("C0PAY", "payments-5xx");
    let ack = s.slack.message("C0PAY", &pay_5xx).unwrap().button("alert:ack").unwrap()["value"].clone();
    s.click("C0PAY", &pay_5xx, "alert:ack", &ack, "U0ALICE").await;
    let latency = s.message_ts("C0PAY", "payments-latency");
    let mute = s.slack.message("C0PAY", &latency).unwrap().button("alarm:mute").unwrap()["value"].clone();
    let mut mute: Value = serde_json::from_str(mute.as_str().unwrap()).unwrap();
    mute["d"] = json!("1h");
    let muted = s.click("C0PAY", &latency, "alarm:mute", &Value::String(mute.to_string()), "U0BOB").await;
    assert!(muted.to_string().contains("Muted by <@U0BOB>"), "{muted}");
    // An incident, an approval waiting, a deploy without its callback, a change.
    let declared = slash(&s.command.runtime, "/incident", "declare Checkout errors sev2", "U0ALICE").await;
    assert!(declared.to_string().contains("INC-1"), "{declared}");
    let pending = slash(&s.command.runtime, "/scale", "prod-web 20", "U0DEV").await;
    assert!(pending.to_string().contains("approval"), "{pending}");
    let scaled = slash(&s.command.runtime, "/scale", "web-front 3", "U0DEV").await;
    assert!(scaled.to_string().contains("from 2 to 3"), "{scaled}");
    let ts = s.slack.user_message("C0123ABCD", "<@U0BOT> release orders");
    let mention =
        mention_body(&format!("EvSTATUS{}", now_s()), TEAM, "U0ALICE", "C0123ABCD", &ts, "<@U0BOT> release orders");
    let headers = signed_headers(SECRET, &now_s().to_string(), mention.as_bytes());
    s.command.runtime.invoke(&event_at(Shape::HttpApi, "/slack/events", "", &headers, &mention, false)).await;
    assert_eq!(s.slack.thread("C0123ABCD", &ts).len(), 1, "the deploy started: {}", s.command.process.output());

    // The overview, for someone who did none of it.
    let status = slash(&s.command.runtime, "/status", "", "U0CAROL").await;
    assert_eq!(status["response_type"], "ephemeral");
    let all = texts(&status).join("\n");
    assert!(
        all.contains("3 firing (1 acknowledged) · 1 open incident · 1 approval waiting · 1 deploy in progress · 1 muted or silenced"),
        "{all}"
    );
    let firing = section(&status, "🔴 *Firing* (3)");
    let order: Vec<usize> =
        ["payments-latency", "db-cpu", "payments-5xx"].iter().map(|n| firing.find(n).unwrap_or(usize::MAX)).collect();
    assert!(order[0] < order[1] && order[1] < order[2], "unacknowledged first, the oldest first: {firing}");
    assert!(!all.contains("web-errors"), "a resolved alert is not open: {all}");
    assert!(
        firing.contains("👀 <@U0ALICE>") && firing.contains("🔕 until") && firing.contains("team payments"),
        "{firing}"
    );
    assert!(firing.contains("210987654321") && firing.contains("team platform"), "{firing}");
    assert!(
        firing
            .contains(&format!("<https://acme.slack.com/archives/C0PAY/p{}|*payments-5xx*>", pay_5xx.replace('.', ""))),
        "{firing}"
    );
    let incidents = section(&status, "🚨 *Open incidents* (1)");
    assert!(
        incidents.contains("*INC-1* SEV2 · Checkout errors · lead <@U0ALICE>") && incidents.contains("no update since"),
        "{incidents}"
    );
    let approvals = section(&status, "🔐 *Approvals waiting* (1)");
    assert!(
        approvals.contains("asked by <@U0DEV>") && approvals.contains("0 of 1 approvals from <@U0LEAD>"),
        "{approvals}"
    );
    let deploys = section(&status, "🚀 *Deploys in progress* (1)");
    assert!(
        deploys.contains("*orders*") && deploys.contains("by <@U0ALICE>") && deploys.contains("pipeline"),
        "{deploys}"
    );
    assert!(deploys.contains(" s ago") || deploys.contains("started 1 min ago"), "started just now: {deploys}");
    let quiet = section(&status, "🔕 *Muted or silenced* (1)");
    assert!(quiet.contains("payments-latency") && quiet.contains("muted by <@U0BOB> until"), "{quiet}");
    let share = status.to_string();
    assert!(share.contains("status:share"), "{status:#}");

    // Filters: a team, a channel, an account, a glob; every word must match.
    let names = |answer: &Value| {
        let firing = texts(answer).into_iter().find(|t| t.starts_with("🔴 *Firing*")).unwrap_or_default();
        ["payments-5xx", "payments-latency", "db-cpu"].into_iter().filter(|n| firing.contains(n)).collect::<Vec<_>>()
    };
    let r = &s.command.runtime;
    assert_eq!(names(&slash(r, "/status", "payments", "U0CAROL").await), ["payments-5xx", "payments-latency"]);
    assert_eq!(names(&slash(r, "/status", "platform", "U0CAROL").await), ["db-cpu"]);
    assert_eq!(names(&slash(r, "/status", "<#C0STAGE|staging>", "U0CAROL").await), ["db-cpu"]);
    assert_eq!(names(&slash(r, "/status", "210987654321", "U0CAROL").await), ["db-cpu"]);
    assert_eq!(names(&slash(r, "/status", "*-5xx", "U0CAROL").await), ["payments-5xx"]);
    let narrowed = slash(r, "/status", "payments <#C0STAGE|staging>", "U0CAROL").await;
    assert!(texts(&narrowed)[0].contains("All clear"), "{narrowed:#}");

    // One alert by its name: its detail, with its thread's history and what changed before it.
    let detail = slash(r, "/status", "payments-5xx", "U0CAROL").await;
    let text = texts(&detail).join("\n");
    assert_eq!(detail["blocks"][0]["type"], "header");
    assert!(detail["blocks"][0].to_string().contains("payments-5xx"), "{detail:#}");
    assert!(text.contains("Acknowledged by <@U0ALICE>"), "{text}");
    assert!(text.contains("🧵 *History*") && text.contains("payments-5xx"), "{text}");
    let changes: Vec<_> =
        s.moto.items(&s.table).await.into_iter().filter(|i| i["pk"].starts_with("changes#")).collect();
    assert!(
        text.contains("🔧 Recent changes: ") && text.contains("web-front 2 → 3 by <@U0DEV>"),
        "{text}\n{changes:#?}"
    );

    // [Share in channel]: read again, posted for everyone, not replacing the ephemeral answer.
    let shared = s.click("C0123ABCD", "1700000999.000001", "status:share", &json!("payments"), "U0CAROL").await;
    block_kit::check_message(&shared).unwrap();
    assert_eq!(
        (shared["response_type"].clone(), shared["replace_original"].clone()),
        (json!("in_channel"), json!(false))
    );
    let shared_text = texts(&shared).join("\n");
    assert!(shared_text.contains("shared by <@U0CAROL>") && shared_text.contains("payments-latency"), "{shared_text}");
    assert!(!shared_text.contains("db-cpu") && !shared.to_string().contains("status:share"), "{shared_text}");

    // The App Home: what waits for each person first.
    let lead = s.open_home(&s.command.runtime, "U0LEAD").await;
    let lead_text = lead.to_string();
    assert!(lead_text.contains("Waiting for you") && lead_text.contains("asked by <@U0DEV>"), "{lead:#}");
    let waiting =
        |view: &Value| texts(view).into_iter().find(|t| t.starts_with("⏳ *Waiting for you*")).unwrap_or_default();
    assert!(waiting(&lead).contains("asked by <@U0DEV>"), "{lead:#}");
    let alice = s.open_home(&s.command.runtime, "U0ALICE").await;
    let alice_waits = waiting(&alice);
    assert!(alice_waits.contains("You lead *INC-1*") && alice_waits.contains("You acknowledged"), "{alice_waits}");
    assert!(!alice_waits.contains("asked by <@U0DEV>"), "U0ALICE may not approve it: {alice_waits}");
    assert!(alice.to_string().contains("• `deploy` on `*`: ✅ yes"), "her help in her Home tab: {alice:#}");
    let bob = s.open_home(&s.command.runtime, "U0BOB").await.to_string();
    assert!(bob.contains("Your mute of *payments-latency* ends"), "{bob}");
    assert!(bob.contains("What you can do here") && bob.contains("`scale` on `web-*`: ✅ yes"), "{bob}");

    // An alert resolves: it leaves the overview (the index follows the notifier's write).
    s.alarm("db-cpu", "OK", Some("210987654321"), 1, "st-6").await;
    let after = slash(r, "/status", "", "U0CAROL").await;
    assert!(section(&after, "🔴 *Firing* (2)").contains("payments-5xx"), "{after:#}");
    assert!(!texts(&after).join("\n").contains("db-cpu"), "{after:#}");

    // Each of the rest closes, and leaves the overview: a blue/green deployment waits at READY, then switches;
    // the pipeline reports back; the approver approves; the incident resolves.
    let ready = s.notifier.runtime.invoke(&chatops_tests::fixture("codedeploy-ready.json")).await.response_json();
    assert_eq!(ready, json!({"delivered": 1}), "{}", s.notifier.process.output());
    let waiting = slash(r, "/status", "", "U0CAROL").await;
    let ready_line = section(&waiting, "🚦 *Deployments waiting to switch traffic* (1)");
    assert!(ready_line.contains("d-7QX4Z2K9B") && ready_line.contains("waiting since"), "{waiting:#}");
    s.notifier.runtime.invoke(&chatops_tests::fixture("codedeploy-success.json")).await;
    let body = json!({"result": "success", "channel": "C0123ABCD", "thread_ts": ts, "project": "orders"}).to_string();
    let auth = vec![("authorization".to_owned(), "Bearer status-notify-token".to_owned())];
    let reported = s.command.runtime.invoke(&event_at(Shape::Rest, "/deploy/notify", "", &auth, &body, false)).await;
    assert_eq!(reported.response_json()["statusCode"], 200);
    let request = s.slack.channel("C0123ABCD").into_iter().find(|m| m.button("approval:approve").is_some()).unwrap();
    let id = request.button("approval:approve").unwrap()["value"].clone();
    let approved = s.click("C0123ABCD", &request.ts, "approval:approve", &id, "U0LEAD").await;
    assert!(approved.to_string().contains("Approved"), "{approved}");
    assert_eq!(s.moto.desired_capacity("prod-web").await, 20, "the approved change ran");
    let channel = s.slack.channels().into_iter().find(|c| c.name.contains("checkout")).expect("the incident's channel");
    let resolved = slash_in(r, &channel.id, "/incident", "resolve Rolled back the bad config", "U0ALICE").await;
    assert!(resolved.to_string().contains("resolved"), "{resolved}");
    let closed = slash(r, "/status", "", "U0CAROL").await;
    let all = texts(&closed).join("\n");
    assert!(
        all.contains("📋 *Status* · 2 firing (1 acknowledged) · 1 muted or silenced"),
        "only the alerts are left: {all}"
    );

    // Every /status left an audit line, as a read.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let audits: Vec<Value> = s
        .command
        .process
        .json_logs()
        .into_iter()
        .filter(|l| l["fields"]["kind"] == "audit" && l["fields"]["command"] == "/status")
        .collect();
    assert!(audits.len() >= 11 && audits.iter().all(|a| a["fields"]["decision"] == "info"), "{audits:#?}");
    assert!(!s.command.process.output().contains("BOTSECRET"));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_all_clear_is_one_line_without_a_share_button() {
    let s = stack().await;
    let status = slash(&s.command.runtime, "/status", "", "U0CAROL").await;
    let all = texts(&status);
    assert!(all[0].contains("✅ All clear: nothing firing, no open incident, nothing waiting."), "{status:#}");
    assert_eq!(status["blocks"].as_array().map(Vec::len), Some(2), "the line and its time: {status:#}");
    assert!(!status.to_string().contains("status:share"));
}

#[tokio::test(flavor = "multi_thread")]
async fn five_hundred_open_alerts_answer_within_slacks_limits_and_three_seconds() {
    let s = stack().await;
    let state = s.state().await;
    // As the notifier records them (its unlock after a post), 500 alerts in ALARM.
    let now_ms = now_s() * 1000;
    let writes = (0..500).map(|n| {
        let state = state.clone();
        async move {
            let key = format!("alarm:arn:aws:cloudwatch:eu-west-1:123456789012:alarm:bulk-{n:03}");
            let owner = format!("seed-{n}");
            state.lock_lifecycle(&key, "alarm", &owner, now_ms, now_ms + 30_000, now_s() + 3600).await.unwrap();
            let update = LifecycleUpdate {
                thread: Thread { channel: "C0BULK".into(), ts: format!("1700000000.{n:06}") },
                state: "ALARM".into(),
                changed_at_ms: now_ms - n * 1000,
                alarm_since_ms: Some(now_ms - n * 1000),
                changes: 1,
                expires_at: now_s() + 3600,
                open: true,
                quiet: false,
                facts: AlertFacts {
                    title: format!("bulk-{n:03}"),
                    account: Some("123456789012".into()),
                    ..AlertFacts::default()
                },
            };
            assert!(state.unlock_lifecycle(&key, &owner, Some(&update)).await.unwrap());
        }
    });
    let mut writes: Vec<_> = writes.collect();
    while !writes.is_empty() {
        let batch: Vec<_> = writes.drain(..writes.len().min(25)).collect();
        for w in batch {
            w.await;
        }
    }
    let started = Instant::now();
    let status = slash(&s.command.runtime, "/status", "", "U0CAROL").await;
    let took = started.elapsed();
    assert!(took < Duration::from_secs(3), "{took:?}");
    let firing = section(&status, "🔴 *Firing* (500)");
    assert!(firing.contains("bulk-499") && !firing.contains("bulk-000"), "the oldest first: {firing}");
    let all = texts(&status).join("\n");
    assert!(all.contains("… and 488 more: `/status <team | #channel | account | name-*>` narrows it"), "{all}");
    assert!(status["blocks"].as_array().unwrap().len() <= 10, "{status:#}");
    assert!(all.contains("500 firing"), "{all}");
}

/// Two containers change one alert at once, over and over: the notifier records OK (or ALARM) while
/// slack-command mutes (or unmutes) it. After each round, in the open index ⇔ paging or muted.
#[tokio::test(flavor = "multi_thread")]
async fn the_index_stays_right_when_two_containers_change_one_alert_at_once() {
    let s = stack().await;
    s.moto.put_alarm("payments-race").await;
    let state = s.state().await;
    let mut minute = 60;
    s.alarm("payments-race", "ALARM", None, minute, "race-0").await;
    let ts = s.message_ts("C0PAY", "payments-race");
    let check = async |round: usize| {
        let items = s.moto.items(&s.table).await;
        let record =
            items.iter().find(|i| i["pk"].contains("payments-race") && i["pk"].starts_with("lifecycle#")).unwrap();
        let expected = record.contains_key("alarm_since") || record.contains_key("mute_id");
        assert_eq!(record.contains_key("open_in"), expected, "round {round}: {record:#?}");
        // And the index itself, as /status reads it.
        tokio::time::sleep(Duration::from_millis(50)).await;
        let open = state.open_items(now_s()).await.unwrap();
        assert_eq!(open.items.len(), usize::from(expected), "round {round}: {open:#?}");
    };
    // The buttons' values (what a click sends), from the alarm's first message.
    let message = s.slack.message("C0PAY", &ts).unwrap();
    let mut mute: Value =
        serde_json::from_str(message.button("alarm:mute").unwrap()["value"].as_str().unwrap()).unwrap();
    mute["d"] = json!("1h");
    let mut unmute = mute.clone();
    unmute.as_object_mut().unwrap().remove("d");
    let (mute, unmute) = (Value::String(mute.to_string()), Value::String(unmute.to_string()));
    for round in 0..6 {
        // OK from the notifier while someone mutes.
        minute -= 2;
        let id = format!("race-ok-{round}");
        let ok = s.alarm("payments-race", "OK", None, minute, &id);
        let muting = s.click("C0PAY", &ts, "alarm:mute", &mute, "U0BOB");
        let (_, muted) = tokio::join!(ok, muting);
        assert!(muted.to_string().contains("Muted by <@U0BOB>"), "round {round}: {muted}");
        check(round).await;
        // ALARM again while someone unmutes.
        minute -= 2;
        let id = format!("race-alarm-{round}");
        let alarm = s.alarm("payments-race", "ALARM", None, minute, &id);
        let unmuting = s.click("C0PAY", &ts, "alarm:unmute", &unmute, "U0BOB");
        let (_, unmuted) = tokio::join!(alarm, unmuting);
        assert!(unmuted.to_string().contains("Unmuted by <@U0BOB>"), "round {round}: {unmuted}");
        check(round).await;
    }
    // It recovers, unmuted: out of the index.
    s.alarm("payments-race", "OK", None, 1, "race-end").await;
    check(99).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn help_says_what_the_policy_lets_each_person_do_and_changes_with_it() {
    let s = stack().await;
    let r = &s.command.runtime;
    let dev = texts(&slash(r, "/status", "help", "U0DEV").await).join("\n");
    assert!(dev.contains("`/status payments`") && dev.contains("`/scale web 6`"), "the commands with examples: {dev}");
    assert!(dev.contains("• `scale` on `prod-*`: 🔐 after approval by 1 of <@U0LEAD> (within 60 min) _(rule `prod-scale`)_; otherwise on `web-*`: ✅ yes"), "{dev}");
    assert!(
        dev.contains("Not for you: `codedeploy:switch`, `codedeploy:rollback`, `codedeploy:terminate`, `deploy`"),
        "{dev}"
    );
    let alice = texts(&slash(r, "/status", "help", "U0ALICE").await).join("\n");
    assert!(alice.contains("• `deploy` on `*`: ✅ yes _(rule `deploys`)_") && !alice.contains("prod-*"), "{alice}");
    let carol = texts(&slash(r, "/scale", "help", "U0CAROL").await).join("\n");
    assert!(
        carol.contains("*Usage*") && carol.contains("• `scale` on `web-*`: ✅ yes"),
        "/scale help is about /scale: {carol}"
    );
    assert!(!carol.contains("incident:declare"), "{carol}");
    let incident = texts(&slash(r, "/incident", "help", "U0CAROL").await).join("\n");
    assert!(
        incident.contains("/incident declare") && incident.contains("• `incident:resolve` on `*`: ✅ yes"),
        "{incident}"
    );
    // A rule changes, the help changes: deploys move from U0ALICE to U0DEV.
    let mut env = s.command_env.clone();
    let changed = policy().to_string().replace(r#""requesters":["U0ALICE"]"#, r#""requesters":["U0DEV"]"#);
    assert_ne!(changed, policy().to_string());
    env.retain(|(k, _)| *k != "CHATOPS_POLICY");
    env.push(("CHATOPS_POLICY", changed));
    let after = Container::start("slack-command", &env).await;
    let alice_after = texts(&slash(&after.runtime, "/status", "help", "U0ALICE").await).join("\n");
    assert!(alice_after.contains("`deploy`") && alice_after.contains("Not for you"), "{alice_after}");
    assert!(!alice_after.contains("• `deploy` on"), "{alice_after}");
    let dev_after = texts(&slash(&after.runtime, "/status", "help", "U0DEV").await).join("\n");
    assert!(dev_after.contains("• `deploy` on `*`: ✅ yes _(rule `deploys`)_"), "{dev_after}");
}

/// An alarm storm's alarms are lines of its digest, not messages of their own: `/status` shows the storm as
/// one line while it lasts (the digest joins the open index with its first message) and not once it is over.
#[tokio::test(flavor = "multi_thread")]
async fn an_alarm_storm_is_one_line_while_it_lasts() {
    let s = stack().await;
    let mut env = s.moto.env();
    env.extend([
        ("SLACK_BOT_TOKEN", BOT.to_owned()),
        ("SLACK_API_URL", s.slack.url()),
        ("SLACK_CHANNEL", "C0OPS".to_owned()),
        ("STATE_TABLE", s.table.clone()),
        ("STORM_THRESHOLD", "2".to_owned()),
        ("STORM_WINDOW_SECONDS", "10".to_owned()),
        ("STORM_QUIET_SECONDS", "2".to_owned()),
    ]);
    let containers = [Container::start("alarm-to-slack", &env).await, Container::start("alarm-to-slack", &env).await];
    let storm = async {
        let sends = (0..8).map(|n| {
            let runtime = &containers[n % 2].runtime;
            async move {
                let event = sns_alarm(&format!("storm-{n}"), "ALARM", "OK", &at(1), &format!("storm-{n}"), "alarms");
                runtime.invoke(&event).await.response_json()
            }
        });
        let mut answers = Vec::new();
        for send in sends {
            answers.push(send.await);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        answers
    };
    let watch = async {
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(20) {
            let status = slash(&s.command.runtime, "/status", "", "U0CAROL").await;
            let line = section(&status, "🌩 *Alarm storms* (1)");
            if !line.is_empty() {
                return line;
            }
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
        String::new()
    };
    let (answers, line) = tokio::join!(storm, watch);
    assert!(answers.iter().all(|a| a == &json!({"delivered": 1})), "{answers:?}");
    assert!(line.contains("<#C0OPS>") && line.contains("the digest"), "seen while it lasted: {line:?}");
    // Every invocation has ended: the storm was over when its holder left, and the digest left the index.
    let after = slash(&s.command.runtime, "/status", "", "U0CAROL").await;
    assert!(section(&after, "🌩").is_empty(), "{after:#}");
    let firing = section(&after, "🔴 *Firing*");
    assert!(!firing.contains("storm-7"), "a digest's alarm has no message of its own to list: {firing}");
}

/// Someone the access list refuses gets no overview, no help and no Home tab.
#[tokio::test(flavor = "multi_thread")]
async fn the_access_list_keeps_status_and_the_home_tab_from_strangers() {
    let s = stack().await;
    let mut env = s.command_env.clone();
    env.push(("SLACK_ALLOWED_USERS", "U0DEV,U0LEAD".to_owned()));
    let guarded = Container::start("slack-command", &env).await;
    let refused = slash(&guarded.runtime, "/status", "", "U0MALLORY").await;
    assert!(!refused.to_string().contains("Firing") && !refused.to_string().contains("All clear"), "{refused}");
    let allowed = slash(&guarded.runtime, "/status", "", "U0DEV").await;
    assert!(texts(&allowed)[0].contains("All clear"), "{allowed:#}");
    let body = json!({"type": "event_callback", "team_id": TEAM, "event_id": "EvHOMEMALLORY", "event_time": now_s(),
        "event": {"type": "app_home_opened", "user": "U0MALLORY", "channel": "D0M", "tab": "home", "event_ts": "1.1"}})
    .to_string();
    let headers = signed_headers(SECRET, &now_s().to_string(), body.as_bytes());
    let answer = guarded.runtime.invoke(&event_at(Shape::HttpApi, "/slack/events", "", &headers, &body, false)).await;
    assert_eq!(answer.response_json()["statusCode"], 200);
    assert!(s.slack.home_view("U0MALLORY").is_none(), "nothing published for a stranger");
    assert!(s.open_home(&guarded.runtime, "U0LEAD").await.to_string().contains("What you can do here"));
}
