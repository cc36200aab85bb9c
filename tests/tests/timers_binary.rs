//! What happens later without a click, on the built binaries over the Lambda Runtime API, with moto's
//! EventBridge Scheduler, CloudWatch and DynamoDB and the Web API stand-in. Each schedule is read back
//! from moto and its firing simulated by invoking slack-command with the schedule's own target input;
//! time passing is simulated by moving the record's time into the past. An approval request's expiry, a
//! deploy's timeout, and muting an alarm (one schedule however often, its firing, [Unmute]); a timer
//! that fires early, twice or after the thing finished changes nothing.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chatops_tests::slack_requests::{
    Shape, command_body, event, event_at, interaction_body, mention_body, signed_headers,
};
use chatops_tests::{CiStandIn, Container, Moto, SlackApiStandIn, SlackStandIn, sns_alarm};
use serde_json::{Value, json};

const SECRET: &str = "timers-signing-secret-31";
const BOT: &str = "xoxb-timers-token";
const TEAM: &str = "T0TEAM";
const TRIGGER: &str = "glptt-timers-trigger";
const ROLE: &str = "arn:aws:iam::123456789012:role/chatops-scheduler";
const TARGET: &str = "arn:aws:lambda:eu-west-1:123456789012:function:chatops-slack-command";

fn now() -> String {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs().to_string()
}

fn now_s() -> i64 {
    now().parse().unwrap()
}

/// The epoch seconds of an `at(2026-11-26T10:04:00)` expression.
fn at_seconds(expression: &str) -> i64 {
    let text = expression.trim_start_matches("at(").trim_end_matches(')');
    let format = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
    time::PrimitiveDateTime::parse(text, format).unwrap().assume_utc().unix_timestamp()
}

struct Stack {
    moto: &'static Moto,
    table: String,
    group: String,
    slack: SlackApiStandIn,
    hooks: SlackStandIn,
    command: Container,
}

async fn stack(extra: &[(&'static str, String)]) -> Stack {
    let moto = Moto::shared();
    let table = moto.create_state_table().await;
    let group = moto.create_schedule_group().await;
    let slack = SlackApiStandIn::start(BOT).await;
    let hooks = SlackStandIn::start().await;
    let mut env = moto.env();
    env.extend([
        ("SLACK_SIGNING_SECRET", SECRET.to_owned()),
        ("SLACK_BOT_TOKEN", BOT.to_owned()),
        ("SLACK_API_URL", slack.url()),
        ("STATE_TABLE", table.clone()),
        ("SCHEDULE_GROUP", group.clone()),
        ("SCHEDULER_ROLE_ARN", ROLE.to_owned()),
        ("SCHEDULE_TARGET_ARN", TARGET.to_owned()),
    ]);
    env.extend(extra.iter().cloned());
    let command = Container::start("slack-command", &env).await;
    Stack { moto, table, group, slack, hooks, command }
}

impl Stack {
    /// Fires a schedule: slack-command invoked with its target input, as the scheduler would.
    async fn fire(&self, input: &Value) -> Value {
        self.command.runtime.invoke(input).await.response_json()
    }

    async fn only_schedule(&self) -> (String, String, Value) {
        let schedules = self.moto.schedules(&self.group).await;
        assert_eq!(schedules.len(), 1, "{schedules:#?}\n{}", self.command.process.output());
        schedules.into_iter().next().unwrap()
    }

    async fn click(&self, channel: &str, ts: &str, action: &str, value: &Value, user: &str) -> Value {
        let message = self.slack.message(channel, ts).expect("the message");
        static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = format!("/actions/{n}");
        let payload = json!({
            "type": "block_actions", "team": {"id": TEAM}, "user": {"id": user, "username": user},
            "channel": {"id": channel, "name": "alerts"},
            "container": {"type": "message", "message_ts": ts, "channel_id": channel},
            "response_url": self.hooks.url(&path),
            "message": {"ts": ts, "text": message.text(), "attachments": message.body["attachments"]},
            "actions": [{"action_id": action, "block_id": "b", "value": value, "action_ts": format!("1.{n}")}]
        });
        let body = interaction_body(&payload);
        let headers = signed_headers(SECRET, &now(), body.as_bytes());
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
        panic!("no response_url update for {action}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_approval_request_announces_its_own_expiry_once_and_only_when_due() {
    let policy = json!({"rules": [{"name": "big-scaling", "actions": ["scale"], "resources": ["tmr-*"], "requesters": ["*"],
        "approval": {"approvers": ["U0LEAD"], "channel": "C0APPROVE", "expires_after_minutes": 30}}]});
    let s = stack(&[("CHATOPS_POLICY", policy.to_string())]).await;
    let group = format!("tmr-{}", std::process::id());
    s.moto.create_group(&group, 0, 20, 2, Some("enabled")).await;
    let body = command_body("/scale", &format!("{group} 9"), "U0ADA", TEAM);
    let request = event(Shape::HttpApi, &signed_headers(SECRET, &now(), body.as_bytes()), body.as_bytes(), false);
    let answer = s.command.runtime.invoke(&request).await.response_json().to_string();
    let id = &answer[answer.find("`R-").expect("a request ID") + 1..][..10];

    // One schedule, at the request's expiry, whose input names the request.
    let (_, expression, input) = s.only_schedule().await;
    assert!((at_seconds(&expression) - (now_s() + 30 * 60)).abs() <= 5, "{expression}");
    assert_eq!(input, json!({"chatops_timer": {"kind": "approval_expiry", "request": id}}));
    // Fired before its time (or forged): nothing changes.
    let early = s.fire(&input).await;
    assert_eq!(early["acted"], false, "{early}");
    let asked = s.slack.channel("C0APPROVE");
    assert_eq!(asked[0].updates, 0);

    // Its time comes: the approvers' message says so, and the requester is told.
    assert_eq!(s.moto.set_past(&s.table, "approval#", "open_until").await, 1);
    let fired = s.fire(&input).await;
    assert_eq!(fired["acted"], true, "{fired}");
    let updated = s.slack.message("C0APPROVE", &asked[0].ts).unwrap();
    assert!(updated.updates == 1 && updated.all_text().contains("Expired"), "{}", updated.all_text());
    assert!(!updated.body.to_string().contains("approval:approve"), "no buttons once expired");
    let told = s.slack.channel("C0123ABCD");
    assert!(
        told.iter().any(|m| m.text().contains(id) && m.text().contains("expired without enough approvals")),
        "{told:#?}"
    );
    // Fired again (the scheduler's retry): nothing more.
    assert_eq!(s.fire(&input).await["acted"], false);
    assert_eq!(s.slack.message("C0APPROVE", &asked[0].ts).unwrap().updates, 1);
    assert_eq!(s.moto.desired_capacity(&group).await, 2, "nothing ran");
    // A forged timer for a request that does not exist changes nothing either.
    let forged = s.fire(&json!({"chatops_timer": {"kind": "approval_expiry", "request": "R-00000000"}})).await;
    assert_eq!(forged["acted"], false);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_deploy_without_a_callback_says_so_after_its_timeout_and_a_finished_one_does_not() {
    let ci = CiStandIn::start(TRIGGER, "unused").await;
    let mapping = json!({TEAM: {"C0OPS": {"orders": {"provider": "gitlab", "project_id": "42", "ref": "main", "token": TRIGGER}}}});
    let arn = Moto::shared().create_secret(&mapping.to_string()).await;
    let s = stack(&[
        ("DEPLOY_TARGETS_SECRET_ARN", arn),
        ("GITLAB_URL", ci.url()),
        ("DEPLOY_NOTIFY_TOKEN", "timers-notify".to_owned()),
        ("DEPLOY_TIMEOUT_MINUTES", "45".to_owned()),
    ])
    .await;
    let mention = |id: &str, ts: &str| {
        let body = mention_body(id, TEAM, "U0ALICE", "C0OPS", ts, "<@U0BOT> release orders");
        event_at(Shape::HttpApi, "/slack/events", "", &signed_headers(SECRET, &now(), body.as_bytes()), &body, false)
    };
    let silent = s.slack.user_message("C0OPS", "<@U0BOT> release orders");
    s.command.runtime.invoke(&mention("EvSILENT", &silent)).await;
    let (_, expression, input) = s.only_schedule().await;
    assert!((at_seconds(&expression) - (now_s() + 45 * 60)).abs() <= 5, "{expression}");
    assert_eq!(input["chatops_timer"]["kind"], "deploy_timeout");
    assert_eq!(s.fire(&input).await["acted"], false, "not due yet");
    assert_eq!(s.moto.set_past(&s.table, "deploy#", "timeout_at").await, 1);
    let fired = s.fire(&input).await;
    assert_eq!(fired["acted"], true, "{fired}");
    let thread = s.slack.thread("C0OPS", &silent);
    assert!(thread.iter().any(|m| m.text().contains("⏰ No result from the pipeline after 45 min")), "{thread:#?}");
    assert_eq!(s.fire(&input).await["acted"], false, "said once");
    // The pipeline calls back late after all: its result is still reported.
    let callback = json!({"result": "success", "channel": "C0OPS", "thread_ts": silent, "project": "orders"});
    let headers = vec![("Authorization".to_owned(), "Bearer timers-notify".to_owned())];
    let late = s
        .command
        .runtime
        .invoke(&event_at(Shape::HttpApi, "/deploy/notify", "", &headers, &callback.to_string(), false))
        .await;
    assert_eq!(late.response_json()["statusCode"], 200, "{}", late.response_json());

    // A deploy that reported before its timeout: its timer changes nothing.
    let done = s.slack.user_message("C0OPS", "<@U0BOT> release orders");
    s.command.runtime.invoke(&mention("EvDONE", &done)).await;
    let callback = json!({"result": "success", "channel": "C0OPS", "thread_ts": done, "project": "orders"});
    s.command
        .runtime
        .invoke(&event_at(Shape::HttpApi, "/deploy/notify", "", &headers, &callback.to_string(), false))
        .await;
    let schedules = s.moto.schedules(&s.group).await;
    let timer = schedules
        .iter()
        .find(|(_, _, i)| i["chatops_timer"]["thread_ts"] == done.as_str())
        .expect("its timer")
        .2
        .clone();
    s.moto.set_past(&s.table, "deploy#", "timeout_at").await;
    let replies = s.slack.thread("C0OPS", &done).len();
    assert_eq!(s.fire(&timer).await["acted"], false);
    assert_eq!(s.slack.thread("C0OPS", &done).len(), replies);
}

#[tokio::test(flavor = "multi_thread")]
async fn muting_an_alarm_disables_its_actions_with_one_schedule_that_unmutes_it() {
    let moto = Moto::shared();
    let alarm_name = format!("checkout-5xx-{}", std::process::id());
    moto.put_alarm(&alarm_name).await;
    let policy =
        json!({"rules": [{"name": "oncall", "actions": ["alarm:mute", "alert:ack"], "requesters": ["U0ALICE"]}]});
    let s =
        stack(&[("MUTABLE_ALARMS", "checkout-*, payments-*".to_owned()), ("CHATOPS_POLICY", policy.to_string())]).await;
    // The notifier posts the alarm, with the mute buttons (its name matches MUTABLE_ALARMS).
    let mut env = moto.env();
    env.extend([
        ("SLACK_BOT_TOKEN", BOT.to_owned()),
        ("SLACK_API_URL", s.slack.url()),
        ("SLACK_CHANNEL", "C0ALERTS".to_owned()),
        ("STATE_TABLE", s.table.clone()),
        ("MUTABLE_ALARMS", "checkout-*, payments-*".to_owned()),
    ]);
    let notifier = Container::start("alarm-to-slack", &env).await;
    let alarm = |state: &str, old: &str, minute: u32, id: &str| {
        sns_alarm(&alarm_name, state, old, &format!("2026-11-20T09:{minute:02}:00.000+0000"), id, "alarms")
    };
    notifier.runtime.invoke(&alarm("ALARM", "OK", 1, "n1")).await;
    notifier
        .runtime
        .invoke(&sns_alarm("other-alarm", "ALARM", "OK", "2026-11-20T09:01:00.000+0000", "n0", "alarms"))
        .await;
    let messages = s.slack.channel("C0ALERTS");
    let other = messages.iter().find(|m| m.text().contains("other-alarm")).unwrap();
    assert!(other.button("alarm:mute").is_none(), "an alarm MUTABLE_ALARMS does not name has no mute");
    let ts = messages.iter().find(|m| m.text().contains(&alarm_name)).unwrap().ts.clone();
    let message = s.slack.message("C0ALERTS", &ts).unwrap();
    let blocks = message.body.to_string();
    assert!(blocks.contains("Mute 1 h") && blocks.contains("Mute 4 h") && blocks.contains("Mute until OK"), "{blocks}");
    let mute_value = |d: &str| {
        let mut v: Value =
            serde_json::from_str(message.button("alarm:mute").unwrap()["value"].as_str().unwrap()).unwrap();
        v["d"] = json!(d);
        Value::String(v.to_string())
    };

    // Someone the policy does not let mute: nothing changes.
    let refused = s.click("C0ALERTS", &ts, "alarm:mute", &mute_value("1h"), "U0MALLORY").await;
    assert!(refused.to_string().contains("oncall"), "{refused}");
    assert!(moto.alarm_actions_enabled(&alarm_name).await);
    assert!(moto.schedules(&s.group).await.is_empty());

    // Mute 1 h: actions off, one schedule at +1 h, the message says so with [Unmute].
    let muted = s.click("C0ALERTS", &ts, "alarm:mute", &mute_value("1h"), "U0ALICE").await;
    assert!(!moto.alarm_actions_enabled(&alarm_name).await, "DisableAlarmActions");
    let (name, expression, input) = s.only_schedule().await;
    assert!((at_seconds(&expression) - (now_s() + 3600)).abs() <= 5, "{expression}");
    let text = muted.to_string();
    assert!(
        text.contains("🔕 Muted by <@U0ALICE> until") && text.contains("alarm:unmute") && !text.contains("Mute 4 h"),
        "{text}"
    );
    // Muting again extends it: still one schedule, moved to +4 h.
    s.click("C0ALERTS", &ts, "alarm:mute", &mute_value("4h"), "U0ALICE").await;
    let (name_again, expression, input_again) = s.only_schedule().await;
    assert_eq!(name_again, name);
    assert!((at_seconds(&expression) - (now_s() + 4 * 3600)).abs() <= 5, "{expression}");
    // The notifier's next update keeps the mute on the message.
    notifier.runtime.invoke(&alarm("ALARM", "OK", 5, "n2")).await;
    let shown = s.slack.message("C0ALERTS", &ts).unwrap();
    assert!(
        shown.all_text().contains("🔕 Muted by <@U0ALICE>") && shown.button("alarm:unmute").is_some(),
        "{}",
        shown.all_text()
    );
    // The first mute's timer (replaced) and the current one before its time change nothing.
    assert_eq!(s.fire(&input).await["acted"], false);
    assert_eq!(s.fire(&input_again).await["acted"], false, "not due");
    assert!(!moto.alarm_actions_enabled(&alarm_name).await);

    // Its time comes: actions on again, the message and the thread say so; once.
    assert_eq!(moto.set_past(&s.table, "lifecycle#", "mute_until").await, 2);
    let fired = s.fire(&input_again).await;
    assert_eq!(fired["acted"], true, "{fired}");
    assert!(moto.alarm_actions_enabled(&alarm_name).await, "EnableAlarmActions");
    let after = s.slack.message("C0ALERTS", &ts).unwrap();
    assert!(
        after.all_text().contains("🔔 Unmuted at") && after.button("alarm:unmute").is_none(),
        "{}",
        after.all_text()
    );
    assert!(s.slack.thread("C0ALERTS", &ts).iter().any(|r| r.text().contains("unmuted")));
    assert_eq!(s.fire(&input_again).await["acted"], false, "once");

    // Muted until OK: the alarm is looked at; still in ALARM, looked at again later; OK, unmuted.
    s.click("C0ALERTS", &ts, "alarm:mute", &mute_value("ok"), "U0ALICE").await;
    let (_, expression, until_ok) = s.only_schedule().await;
    assert!((at_seconds(&expression) - (now_s() + 300)).abs() <= 5, "checked in 5 minutes: {expression}");
    moto.set_alarm_state(&alarm_name, "ALARM").await;
    assert_eq!(s.fire(&until_ok).await["acted"], false);
    assert!(!moto.alarm_actions_enabled(&alarm_name).await);
    moto.set_alarm_state(&alarm_name, "OK").await;
    assert_eq!(s.fire(&until_ok).await["acted"], true);
    assert!(moto.alarm_actions_enabled(&alarm_name).await);

    // [Unmute]: actions on at once, its schedule deleted.
    s.click("C0ALERTS", &ts, "alarm:mute", &mute_value("1h"), "U0ALICE").await;
    assert_eq!(moto.schedules(&s.group).await.len(), 1);
    let unmute =
        json!({"a": alarm_name, "k": serde_json::from_str::<Value>(mute_value("1h").as_str().unwrap()).unwrap()["k"]});
    let unmuted = s.click("C0ALERTS", &ts, "alarm:unmute", &Value::String(unmute.to_string()), "U0ALICE").await;
    assert!(unmuted.to_string().contains("🔔 Unmuted by <@U0ALICE>"), "{unmuted}");
    assert!(moto.alarm_actions_enabled(&alarm_name).await);
    assert!(moto.schedules(&s.group).await.is_empty(), "its schedule is deleted");
}
