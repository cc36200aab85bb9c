//! Incidents on the built binaries over the Lambda Runtime API: `slack-command` with moto's DynamoDB
//! and the Web API stand-in, and `alarm-to-slack` for the alert whose [Declare incident] starts one.
//! An incident from declaration to post-mortem draft; two declarations at once in two processes; two
//! clicks on one alert at once; the refusals (policy, outside an incident channel, no bot token).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chatops_tests::slack_api_standin::SlackApiStandIn;
use chatops_tests::slack_requests::{Shape, command_body, event, event_at, interaction_body, signed_headers};
use chatops_tests::slack_standin::SlackStandIn;
use chatops_tests::{ApiReply, FunctionProcess, Moto, RuntimeApi, build_binary, sns_alarm};
use serde_json::{Value, json};

const SECRET: &str = "incidents-test-signing-secret-42";
const BOT: &str = "xoxb-incidents-test-token";
const TEAM: &str = "T0123ABCD";
const ANNOUNCE: &str = "C0INCIDENTS";
const OPS: &str = "C0OPS";
const ALERTS: &str = "C0ALERTS";

fn now() -> String {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs().to_string()
}

struct Stack {
    table: String,
    slack: SlackApiStandIn,
    hooks: SlackStandIn,
    containers: Vec<(RuntimeApi, FunctionProcess)>,
}

fn base_env(moto: &Moto, table: &str, slack: &SlackApiStandIn) -> Vec<(&'static str, String)> {
    let mut env = moto.env();
    env.extend([
        ("SLACK_SIGNING_SECRET", SECRET.to_owned()),
        ("STATE_TABLE", table.to_owned()),
        ("SLACK_BOT_TOKEN", BOT.to_owned()),
        ("SLACK_API_URL", slack.url()),
        ("SLACK_TEAM_ID", TEAM.to_owned()),
        ("INCIDENTS_CHANNEL", ANNOUNCE.to_owned()),
        ("INCIDENT_RESPONDERS", "U0RESP, S0SRE".to_owned()),
    ]);
    env
}

async fn stack(containers: usize, extra: &[(&'static str, &str)], without: &[&str]) -> Stack {
    let moto = Moto::shared();
    let table = moto.create_state_table().await;
    let slack = SlackApiStandIn::start(BOT).await;
    slack.set_usergroup("S0SRE", &["U0SRE1", "U0SRE2"]);
    let hooks = SlackStandIn::start().await;
    let mut env = base_env(moto, &table, &slack);
    env.retain(|(k, _)| !without.contains(k));
    env.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut started = Vec::new();
    for _ in 0..containers {
        let runtime = RuntimeApi::start().await;
        let process = FunctionProcess::spawn(&build_binary("slack-command", false), &runtime, &env);
        started.push((runtime, process));
    }
    Stack { table, slack, hooks, containers: started }
}

fn unique() -> u64 {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

impl Stack {
    /// `/incident <text>` by `user` in `channel`; the answer's text.
    async fn incident(&self, container: usize, channel: &str, user: &str, text: &str) -> String {
        self.command(container, "/incident", channel, user, text).await
    }

    /// [Share in channel] on a `/status` answer, by `user`; what is posted.
    async fn share(&self, user: &str) -> Value {
        let path = format!("/share/{}", unique());
        let payload = json!({
            "type": "block_actions", "team": {"id": TEAM, "domain": "acme"}, "user": {"id": user, "username": user},
            "channel": {"id": OPS, "name": "ops"},
            "container": {"type": "message", "message_ts": "1700000999.000001", "channel_id": OPS, "is_ephemeral": true},
            "response_url": self.hooks.url(&path),
            "actions": [{"type": "button", "action_id": "status:share", "block_id": "status-share", "value": "",
                         "action_ts": format!("1.{}", unique())}]
        });
        let body = interaction_body(&payload);
        let headers = signed_headers(SECRET, &now(), body.as_bytes());
        let response = self.containers[0]
            .0
            .invoke(&event_at(Shape::HttpApi, "/slack/interactions", "", &headers, &body, false))
            .await;
        assert_eq!(response.response_json()["statusCode"], 200);
        for _ in 0..300 {
            if let Some(got) = self.hooks.received().into_iter().find(|r| r.path == path) {
                return got.json();
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("no shared status: {}", self.containers[0].1.output());
    }

    /// Opens the App Home as `user`; the view published.
    async fn home(&self, user: &str) -> Value {
        let body = json!({"type": "event_callback", "team_id": TEAM, "api_app_id": "A0CHATOPS",
            "event_id": format!("EvHOME{user}{}", unique()), "event_time": 1_795_167_667,
            "event": {"type": "app_home_opened", "user": user, "channel": "D0HOME", "tab": "home",
                      "event_ts": "1700000000.000100"}})
        .to_string();
        let mut headers = signed_headers(SECRET, &now(), body.as_bytes());
        headers[2].1 = "application/json".into();
        let response =
            self.containers[0].0.invoke(&event_at(Shape::HttpApi, "/slack/events", "", &headers, &body, false)).await;
        assert_eq!(response.response_json()["statusCode"], 200);
        self.slack.home_view(user).unwrap_or_else(|| panic!("no view published for {user}"))
    }

    /// `<command> <text>` by `user` in `channel`; the answer's text.
    async fn command(&self, container: usize, command: &str, channel: &str, user: &str, text: &str) -> String {
        let body = command_body(command, text, user, TEAM)
            .replace("trigger_id=1234.5678.abcdef", &format!("trigger_id={}", unique()))
            .replace("channel_id=C0123ABCD", &format!("channel_id={channel}"));
        let request = event(Shape::HttpApi, &signed_headers(SECRET, &now(), body.as_bytes()), body.as_bytes(), false);
        let response = self.containers[container].0.invoke(&request).await.response_json();
        assert_eq!(response["statusCode"], 200, "{response}");
        let answer: Value = serde_json::from_str(response["body"].as_str().unwrap_or_default()).unwrap();
        answer.to_string()
    }

    /// A `reaction_added` delivery (`retry`: Slack's retry number) for message `ts` in `channel`.
    async fn react(&self, event_id: &str, user: &str, channel: &str, ts: &str, reaction: &str, retry: Option<u32>) {
        // Slack's `item_user` is the author of the message reacted to.
        let author = self.slack.message(channel, ts).and_then(|m| m.body["user"].as_str().map(str::to_owned));
        let body = json!({
            "token": "deprecated", "team_id": TEAM, "api_app_id": "A0CHATOPS", "type": "event_callback",
            "event_id": event_id, "event_time": 1_795_167_667,
            "event": {"type": "reaction_added", "user": user, "reaction": reaction, "item_user": author,
                      "item": {"type": "message", "channel": channel, "ts": ts}, "event_ts": "1795167667.000100"}
        })
        .to_string();
        let mut headers = signed_headers(SECRET, &now(), body.as_bytes());
        headers[2].1 = "application/json".into();
        if let Some(n) = retry {
            headers.push(("X-Slack-Retry-Num".into(), n.to_string()));
            headers.push(("X-Slack-Retry-Reason".into(), "http_timeout".into()));
        }
        let request = event_at(Shape::HttpApi, "/slack/events", "", &headers, &body, false);
        let response = self.containers[0].0.invoke(&request).await.response_json();
        assert_eq!(response["statusCode"], 200, "{response}");
    }

    /// Clicks [Declare incident] on the alert message `ts` in `channel` as `user`; what replaced it.
    async fn declare_click(&self, container: usize, channel: &str, ts: &str, user: &str) -> Value {
        self.click(container, channel, ts, "incident:declare", user).await
    }

    /// Clicks the button `action` on message `ts` in `channel` as `user`; what replaced it.
    async fn click(&self, container: usize, channel: &str, ts: &str, action: &str, user: &str) -> Value {
        let message = self.slack.message(channel, ts).expect("the alert message");
        let button = message.button(action).unwrap_or_else(|| panic!("no {action} button"));
        let payload = json!({
            "type": "block_actions",
            "team": {"id": TEAM, "domain": "acme"},
            "user": {"id": user, "username": user.to_lowercase(), "team_id": TEAM},
            "channel": {"id": channel, "name": "alerts"},
            "container": {"type": "message", "message_ts": ts, "channel_id": channel, "is_ephemeral": false},
            "response_url": self.hooks.url(&format!("/actions/{user}")),
            "message": {"type": "message", "ts": ts, "text": message.text(), "attachments": message.body["attachments"]},
            "actions": [{"type": "button", "action_id": action, "block_id": "incident",
                         "value": button["value"], "action_ts": format!("1700000000.{:06}", unique())}]
        });
        let body = interaction_body(&payload);
        let request = event_at(
            Shape::HttpApi,
            "/slack/interactions",
            "",
            &signed_headers(SECRET, &now(), body.as_bytes()),
            &body,
            false,
        );
        let before = self.hooks.received().len();
        let response = self.containers[container].0.invoke(&request).await.response_json();
        assert_eq!(response["statusCode"], 200, "{response}");
        let path = format!("/actions/{user}");
        let _ = action;
        for _ in 0..300 {
            if let Some(got) = self.hooks.received().iter().skip(before).find(|r| r.path == path) {
                return got.json();
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("no response_url update for {user}: {}", self.containers[container].1.output());
    }

    fn audit(&self) -> Vec<Value> {
        self.containers
            .iter()
            .flat_map(|(_, p)| p.json_logs())
            .filter(|l| l["fields"]["kind"] == "audit")
            .map(|l| l["fields"].clone())
            .collect()
    }
}

/// The channel ID in an answer (`<#C0NEW0001>`).
fn channel_in(answer: &str) -> String {
    let start = answer.find("<#C0NEW").unwrap_or_else(|| panic!("no channel in {answer}")) + 2;
    answer[start..start + 9].to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_incident_from_declaration_to_its_postmortem_draft() {
    let s = stack(1, &[], &[]).await;
    s.slack.use_real_clock();
    // Someone already made a channel with the name the incident would get.
    s.slack.make_channel("inc-1-checkout-errors-above-5");

    // Declare: a number, a channel (a suffix for the taken name), people invited, topic, pinned status, announcement.
    let answer = s.incident(0, OPS, "U0ALICE", "declare Checkout errors above 5 % sev2").await;
    assert!(answer.contains("INC-1") && answer.contains("You lead it"), "{answer}");
    assert!(!answer.contains("Not everything"), "{answer}");
    let channel = channel_in(&answer);
    let info = s.slack.channels().into_iter().find(|c| c.id == channel).unwrap();
    assert_eq!(info.name, "inc-1-checkout-errors-above-5-2");
    let mut members = info.members.clone();
    members.sort();
    assert_eq!(members, ["U0ALICE", "U0RESP", "U0SRE1", "U0SRE2"]);
    assert!(info.topic.starts_with("SEV2 | Open | lead <@U0ALICE>"), "{}", info.topic);
    let creates = s.slack.calls().into_iter().filter(|c| c.method == "conversations.create").collect::<Vec<_>>();
    assert_eq!(creates.iter().map(|c| c.answer.as_str()).collect::<Vec<_>>(), ["name_taken", "ok"]);
    let pinned = s.slack.channel(&channel);
    assert_eq!(pinned.len(), 1);
    assert!(pinned[0].pinned && pinned[0].header() == Some("🚨 INC-1: Checkout errors above 5 %"));
    let announced = s.slack.channel(ANNOUNCE);
    assert_eq!(announced.len(), 1, "one announcement");
    let announcement_ts = announced[0].ts.clone();
    assert!(announced[0].all_text().contains(&format!("<#{channel}>")));

    // Outside the incident's channel, an update says so and changes nothing.
    let posts_before = s.slack.accepted("chat.postMessage").len();
    let outside = s.incident(0, OPS, "U0BOB", "status all good").await;
    assert!(outside.contains("not an incident's channel"), "{outside}");
    assert_eq!(s.slack.accepted("chat.postMessage").len(), posts_before);

    // Status, severity, lead: each posted in the channel, on the pinned message and the announcement.
    let status = s.incident(0, &channel, "U0BOB", "status Rolled back release 42 -- error rate falling").await;
    assert!(status.contains("Status posted"), "{status}");
    let sev = s.incident(0, &channel, "U0BOB", "sev 1").await;
    assert!(sev.contains("Severity changed"), "{sev}");
    let lead = s.incident(0, &channel, "U0ALICE", "lead <@U0CAROL|carol>").await;
    assert!(lead.contains("Lead changed"), "{lead}");
    let announcement = s.slack.message(ANNOUNCE, &announcement_ts).unwrap();
    assert_eq!(announcement.updates, 3, "updated in place, never posted again");
    assert_eq!(s.slack.channel(ANNOUNCE).len(), 1);
    let text = announcement.all_text();
    assert!(text.contains("SEV1") && text.contains("<@U0CAROL>"), "{text}");
    assert!(text.contains("Rolled back release 42 -- error rate falling"), "the whole status, ` -- ` and all: {text}");
    assert_eq!(announcement.color(), Some("#E01E5A"));
    let info = s.slack.channels().into_iter().find(|c| c.id == channel).unwrap();
    assert!(info.members.contains(&"U0CAROL".to_owned()), "the new lead is invited");
    assert!(info.topic.starts_with("SEV1 | Open | lead <@U0CAROL>"), "{}", info.topic);
    let state = s.incident(0, &channel, "U0DAVE", "").await;
    assert!(state.contains("INC-1") && state.contains("SEV1") && state.contains("ephemeral"), "{state}");

    // Roles (#34): comms and scribe, each invited, on the card, the announcement, the topic and the timeline.
    let comms = s.incident(0, &channel, "U0CAROL", "role comms <@U0DAN|dan>").await;
    assert!(comms.contains("Role given"), "{comms}");
    let scribe = s.incident(0, &channel, "U0CAROL", "role scribe <@U0EVE>").await;
    assert!(scribe.contains("Role given"), "{scribe}");
    let text = s.slack.message(ANNOUNCE, &announcement_ts).unwrap().all_text();
    assert!(text.contains("*Comms*\n<@U0DAN>") && text.contains("*Scribe*\n<@U0EVE>"), "{text}");
    let pinned = s.slack.channel(&channel).into_iter().find(|m| m.pinned).unwrap();
    assert!(pinned.all_text().contains("*Comms*\n<@U0DAN>"), "{}", pinned.all_text());
    let info = s.slack.channels().into_iter().find(|c| c.id == channel).unwrap();
    assert!(info.members.contains(&"U0DAN".to_owned()) && info.members.contains(&"U0EVE".to_owned()));
    assert!(info.topic.contains("lead <@U0CAROL> · comms <@U0DAN> · scribe <@U0EVE>"), "{}", info.topic);
    assert!(s.slack.channel(&channel).iter().any(|m| m.text().contains("🎭 <@U0DAN> is now the communications lead")));
    // The names the post-mortem will use (U0BOB and U0EVE are unknown to users.info: their IDs stay).
    s.slack.set_user("U0CAROL", "Carol", "Carol Danvers");
    s.slack.set_user("U0ALICE", "", "Alice Liddell");
    s.slack.set_user("U0DAN", "Dan", "Dan Brown");
    s.slack.set_user("U0SRE2", "sre two", "Sam Reed");

    // 📌 on two messages; one delivery retried by Slack, and the same message pinned by a second person.
    let graph = s.slack.user_message_as(&channel, "U0SRE1", "p99 latency graph: 4.2 s at 09:41");
    let cause = s.slack.user_message_as(&channel, "U0SRE2", "found it: connection pool exhausted");
    s.react("Ev0PIN1", "U0BOB", &channel, &graph, "pushpin", None).await;
    s.react("Ev0PIN1", "U0BOB", &channel, &graph, "pushpin", Some(1)).await;
    s.react("Ev0PIN2", "U0CAROL", &channel, &graph, "pushpin", None).await;
    s.react("Ev0PIN3", "U0BOB", &channel, &cause, "pushpin", None).await;
    s.react("Ev0EYES", "U0BOB", &channel, &cause, "eyes", None).await;
    s.react("Ev0ELSE", "U0BOB", OPS, &cause, "pushpin", None).await;
    // 📌 on replies in threads (history has top-level messages only): read from the thread, with their
    // authors. Once with the reply's own ts (as Slack takes it), once where only the parent's ts is taken.
    let reply = s.slack.user_reply_as(&channel, &cause, "U0SRE2", "pool max is 10, we run 40 workers");
    s.react("Ev0PIN4", "U0BOB", &channel, &reply, "pushpin", None).await;
    s.slack.replies_need_parent();
    let reply2 = s.slack.user_reply_as(&channel, &graph, "U0RESP", "p99 back to 300 ms after the restart");
    s.react("Ev0PIN5", "U0CAROL", &channel, &reply2, "pushpin", None).await;

    // Resolve: green with its duration, the timeline in the channel, the post-mortem draft uploaded.
    let resolved = s.incident(0, &channel, "U0CAROL", "resolve Pool size raised; release 42 rolled back").await;
    assert!(resolved.contains("INC-1* resolved after") && !resolved.contains("Not everything"), "{resolved}");
    let announcement = s.slack.message(ANNOUNCE, &announcement_ts).unwrap();
    assert_eq!(announcement.color(), Some("#2EB67D"));
    assert!(announcement.all_text().contains("Resolved") && announcement.all_text().contains(" after "));
    let timeline = s.slack.channel(&channel).into_iter().find(|m| m.text().starts_with("Timeline of INC-1")).unwrap();
    let timeline = timeline.all_text();
    for (part, times) in [
        ("p99 latency graph", 1),
        ("connection pool exhausted", 1),
        ("<@U0SRE2> 📌 pool max is 10, we run 40 workers", 1),
        ("<@U0RESP> 📌 p99 back to 300 ms after the restart", 1),
        ("(pinned message)", 0),
        ("status: Rolled back release 42", 1),
        ("severity SEV2 → SEV1", 1),
        ("lead → <@U0CAROL>", 1),
        ("comms → <@U0DAN>", 1),
        ("scribe → <@U0EVE>", 1),
        ("declared SEV2", 1),
        ("resolved: Pool size raised", 1),
    ] {
        assert_eq!(timeline.matches(part).count(), times, "{part} in {timeline}");
    }
    assert!(
        timeline.find("declared SEV2") < timeline.find("p99 latency")
            && timeline.find("p99") < timeline.find("resolved:")
    );
    let files = s.slack.files();
    assert_eq!(files.len(), 1);
    let (shared_in, title, _) = files[0].shared.clone().expect("shared in the channel");
    assert_eq!((shared_in.as_str(), title.as_str()), (channel.as_str(), "INC-1 post-mortem draft"));
    assert_eq!(files[0].filename, "INC-1-post-mortem.md");
    let md = files[0].text();
    for section in [
        "# INC-1: Checkout errors above 5 %",
        "| Severity | SEV1 |",
        "| Lead | Carol |",
        "| Comms | Dan |",
        "| Scribe | @U0EVE |",
        "| Declared by | Alice Liddell |",
        "| lead → Carol |",
        "| Carol | comms → Dan |",
        "## Summary\n\nPool size raised; release 42 rolled back",
        "## Linked alerts",
        "## Timeline",
        "p99 latency graph: 4.2 s at 09:41 ([message](https://acme.slack.com/archives/",
        "## Participants",
        "- sre two (@U0SRE2)",
        "- @U0BOB\n",
        "## Impact",
        "## Root cause",
        "## Actions",
    ] {
        assert!(md.contains(section), "{section:?} missing from\n{md}");
    }
    assert_eq!(md.matches("p99 latency graph").count(), 1, "{md}");

    // Resolved is final (a 📌 too, quietly: in the audit only); the list is empty again.
    let late = s.incident(0, &channel, "U0BOB", "status one more thing").await;
    assert!(late.contains("can no longer be changed"), "{late}");
    let after = s.slack.user_message_as(&channel, "U0SRE1", "one more graph, after the post-mortem");
    s.react("Ev0PIN6", "U0BOB", &channel, &after, "pushpin", None).await;
    let posts = s.slack.accepted("chat.postMessage").len();
    let list = s.incident(0, OPS, "U0BOB", "list").await;
    assert!(list.contains("No open incidents"), "{list}");

    // Every command wrote an audit line naming the incident.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let audit = s.audit();
    let on_inc1 = audit.iter().filter(|f| f["resource"] == "INC-1" && f["command"] == "/incident").count();
    assert!(on_inc1 >= 7, "{audit:#?}");
    let pins = audit.iter().filter(|f| f["command"] == "reaction_added pushpin" && f["decision"] == "done").count();
    assert_eq!(pins, 4, "two messages and two replies on the timeline: {audit:#?}");
    let refused = audit
        .iter()
        .filter(|f| f["command"] == "reaction_added pushpin" && f["decision"] == "refused")
        .map(|f| f["reason"].as_str().unwrap_or_default().to_owned())
        .collect::<Vec<_>>();
    assert_eq!(refused.len(), 1, "the 📌 after resolve: {audit:#?}");
    assert!(refused[0].contains("incident resolved"), "{refused:?}");
    assert_eq!(s.slack.accepted("chat.postMessage").len(), posts, "nothing posted for it");
    // The timeline the post-mortem was written from did not change either: a second resolve is refused.
    let again = s.incident(0, &channel, "U0BOB", "resolve").await;
    assert!(again.contains("can no longer be changed"), "{again}");
}

/// The same `/incident declare` by the same person twice at once, in two containers, while Slack takes
/// 0.3 s to create a channel (as it does): one incident, one channel, one announcement, and both
/// answers name them. The title as Slack sends it (`&amp;`, `&lt;`, `&gt;`) is read back to what was typed.
#[tokio::test(flavor = "multi_thread")]
async fn the_same_declaration_twice_at_once_in_two_processes_is_one_incident_with_one_channel() {
    let s = stack(2, &[], &[]).await;
    for _ in 0..2 {
        s.slack.fail_method("conversations.create", ApiReply::Slow(Duration::from_millis(300)));
    }
    let text = "declare Checkout &amp; payment gateway &lt;card&gt; sev2";
    let (a, b) = tokio::join!(s.incident(0, OPS, "U0ALICE", text), s.incident(1, OPS, "U0ALICE", text));
    assert!(a.contains("INC-1") && b.contains("INC-1"), "{a}\n{b}");
    assert!(!a.contains("INC-2") && !b.contains("INC-2"), "{a}\n{b}");
    let channels = s.slack.channels();
    assert_eq!(channels.len(), 1, "one channel: {channels:?}");
    assert_eq!(channels[0].name, "inc-1-checkout-payment-gateway-card");
    // Each answer names that channel; the second may instead say it is being made (on a machine so loaded
    // that the first declaration outlasts the second one's wait).
    for answer in [&a, &b] {
        assert!(
            answer.contains(&format!("<#{}>", channels[0].id))
                || answer.contains("INC-1 is being declared by <@U0ALICE> right now"),
            "{answer}"
        );
    }
    assert!([&a, &b].iter().any(|x| x.contains(&format!("<#{}>", channels[0].id))), "{a}\n{b}");
    let creates = s.slack.calls().into_iter().filter(|c| c.method == "conversations.create").count();
    assert_eq!(creates, 1, "the channel is created once");
    let announced = s.slack.channel(ANNOUNCE);
    assert_eq!(announced.len(), 1, "one announcement");
    let shown = announced[0].all_text();
    assert!(shown.contains("Checkout &amp; payment gateway &lt;card&gt;"), "escaped once in mrkdwn: {shown}");
    assert!(!shown.contains("&amp;amp;") && !shown.contains("&amp;lt;"), "{shown}");
    let status = s.slack.channel(&channels[0].id);
    assert_eq!(status.len(), 1, "one status message: {status:?}");
    assert_eq!(status[0].header(), Some("🚨 INC-1: Checkout & payment gateway <card>"));
    assert!(channels[0].topic.ends_with("| Checkout &amp; payment gateway &lt;card&gt;"), "{}", channels[0].topic);
}

#[tokio::test(flavor = "multi_thread")]
async fn two_declarations_at_once_in_two_processes_get_two_numbers_and_a_repeat_gets_the_first() {
    let s = stack(2, &[], &[]).await;
    s.slack.script([ApiReply::Slow(Duration::from_millis(150))]);
    let (a, b) = tokio::join!(
        s.incident(0, OPS, "U0ALICE", "declare Payments failing sev1"),
        s.incident(1, OPS, "U0BOB", "declare Search is slow")
    );
    let mut numbers: Vec<bool> =
        vec![a.contains("*INC-1*") || b.contains("*INC-1*"), a.contains("*INC-2*") || b.contains("*INC-2*")];
    numbers.dedup();
    assert_eq!(numbers, [true], "{a}\n{b}");
    assert_ne!(channel_in(&a), channel_in(&b));
    assert_eq!(s.slack.channel(ANNOUNCE).len(), 2);

    // The same title again from the same person within a minute: the same incident, nothing new.
    let again = s.incident(1, OPS, "U0ALICE", "declare payments  FAILING sev1").await;
    let alices = if a.contains("Payments failing") { &a } else { &b };
    assert!(again.contains("was declared by <@U0ALICE> a moment ago"), "{again}");
    assert_eq!(channel_in(&again), channel_in(alices), "{again}");
    assert_eq!(s.slack.channels().len(), 2, "no third channel");
    assert_eq!(s.slack.channel(ANNOUNCE).len(), 2, "no third announcement");
    let list = s.incident(0, OPS, "U0DAVE", "list").await;
    assert!(list.contains("INC-1") && list.contains("INC-2") && list.contains("Open incidents* (2)"), "{list}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_declaration_slack_partly_refuses_says_what_was_done_and_a_repeat_finishes_it() {
    let s = stack(1, &[], &[]).await;
    s.slack.fail_method("pins.add", ApiReply::Error("missing_scope"));
    s.slack.fail_method("conversations.setTopic", ApiReply::Error("restricted_action"));
    let answer = s.incident(0, OPS, "U0ALICE", "declare Queue backlog").await;
    assert!(answer.contains("INC-1") && answer.contains("Not everything was done"), "{answer}");
    assert!(answer.contains("✅ created <#") && answer.contains("✅ announced in <#C0INCIDENTS>"), "{answer}");
    assert!(answer.contains("❌ status posted but not pinned: the Slack app lacks a permission"), "{answer}");
    assert!(answer.contains("add the scopes in `slack/manifest.yaml`"), "{answer}");
    assert!(answer.contains("❌ topic not set: the workspace's settings do not let apps"), "{answer}");
    assert!(answer.contains("again within a minute"), "{answer}");
    let channel = channel_in(&answer);
    assert!(s.slack.channel(&channel).iter().all(|m| !m.pinned));
    // The repeat finishes what is missing, in the same channel, and makes no second incident.
    let again = s.incident(0, OPS, "U0ALICE", "declare Queue backlog").await;
    assert!(again.contains("INC-1") && !again.contains("INC-2") && !again.contains("Not everything"), "{again}");
    assert_eq!(s.slack.channels().len(), 1);
    assert_eq!(s.slack.channel(ANNOUNCE).len(), 1, "{again}");
    let status: Vec<_> = s.slack.channel(&channel);
    assert_eq!(status.len(), 1, "the status message is not posted twice: {status:#?}");
    assert!(status[0].pinned);
    let topic = s.slack.channels()[0].topic.clone();
    assert!(topic.starts_with("SEV3 | Open"), "{topic}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_declaration_slack_is_too_slow_for_is_answered_within_slacks_3_seconds_saying_what_is_missing() {
    let s = stack(1, &[], &[]).await;
    // Slack stalls on the topic, on both attempts.
    for method in ["conversations.setTopic", "conversations.setTopic"] {
        s.slack.fail_method(method, ApiReply::Slow(Duration::from_secs(4)));
    }
    let started = std::time::Instant::now();
    let answer = s.incident(0, OPS, "U0ALICE", "declare Slow Slack").await;
    let took = started.elapsed();
    assert!(took < Duration::from_millis(3000), "answered after {took:?}: {answer}");
    assert!(answer.contains("INC-1") && answer.contains("❌ topic not set: Slack did not answer in time"), "{answer}");
    assert!(answer.contains("✅ created <#") && answer.contains("✅ pinned the status"), "{answer}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_alarms_declare_button_clicked_by_two_people_at_once_makes_one_incident_that_stays_on_the_alert() {
    let s = stack(2, &[], &[]).await;
    // The alert, from the alarm-to-slack binary with the same table and Slack.
    let moto = Moto::shared();
    let mut env = moto.env();
    env.extend([
        ("SLACK_BOT_TOKEN", BOT.to_owned()),
        ("SLACK_API_URL", s.slack.url()),
        ("SLACK_CHANNEL", ALERTS.to_owned()),
        ("STATE_TABLE", s.table.clone()),
    ]);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let runtime = RuntimeApi::start().await;
    let _notifier = FunctionProcess::spawn(&build_binary("alarm-to-slack", false), &runtime, &env);
    let alarm = |state: &str, old: &str, minute: u32, id: &str| {
        sns_alarm("checkout-5xx", state, old, &format!("2026-11-20T09:{minute:02}:00.000+0000"), id, "alarms")
    };
    runtime.invoke(&alarm("ALARM", "OK", 1, "m-alarm")).await;
    let alert = s.slack.channel(ALERTS);
    assert_eq!(alert.len(), 1);
    let ts = alert[0].ts.clone();
    assert!(alert[0].body.to_string().contains("incident:declare"), "a paging alarm carries the button");

    let (a, b) = tokio::join!(s.declare_click(0, ALERTS, &ts, "U0ALICE"), s.declare_click(1, ALERTS, &ts, "U0BOB"));
    assert_eq!(s.slack.channels().len(), 1, "one incident channel");
    assert_eq!(s.slack.channel(ANNOUNCE).len(), 1, "one announcement");
    // The winner's message shows the incident. The other click waits for its number and shows it too;
    // on a machine so loaded that the winner takes more than a second, it says the incident is being
    // declared instead: never a second incident either way.
    let replaced: Vec<&Value> = [&a, &b].into_iter().filter(|r| r["replace_original"] == true).collect();
    assert!(!replaced.is_empty(), "{a}\n{b}");
    for r in [&a, &b] {
        let text = r.to_string();
        if r["replace_original"] == true {
            assert!(text.contains("INC-1* declared by <@U0"), "{text}");
            assert!(!text.contains("\"incident:declare\""), "the button is gone: {text}");
        } else {
            assert!(text.contains("is declaring this incident right now"), "{text}");
        }
    }
    let announcement = s.slack.channel(ANNOUNCE)[0].all_text();
    assert!(announcement.contains("SEV2") && announcement.contains("checkout-5xx"), "{announcement}");
    assert!(announcement.contains("https://acme.slack.com/archives/C0ALERTS/p"), "the alert is linked: {announcement}");

    // The alarm recovers: the notifier updates the alert and keeps the incident's line, without the button.
    runtime.invoke(&alarm("OK", "ALARM", 9, "m-ok")).await;
    let updated = s.slack.message(ALERTS, &ts).unwrap();
    assert!(updated.updates >= 1);
    let text = updated.body.to_string();
    assert!(text.contains("INC-1* declared by"), "{text}");
    assert!(!text.contains("incident:declare"), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn refusals_policy_channel_and_configuration() {
    // U0BOB may declare and update but not resolve.
    let policy = json!({"rules": [
        {"name": "responders", "actions": ["incident:declare", "incident:update"], "resources": ["*"], "requesters": ["*"]},
        {"name": "leads", "actions": ["incident:resolve"], "resources": ["*"], "requesters": ["U0ALICE"]}
    ]})
    .to_string();
    let s = stack(1, &[("CHATOPS_POLICY", &policy)], &[]).await;
    let answer = s.incident(0, OPS, "U0BOB", "declare Disk full on db-3 sev4").await;
    let channel = channel_in(&answer);
    let refused = s.incident(0, &channel, "U0BOB", "resolve").await;
    assert!(refused.contains("<@U0ALICE>"), "the refusal says who may: {refused}");
    let announcement = &s.slack.channel(ANNOUNCE)[0];
    assert_ne!(announcement.color(), Some("#2EB67D"), "still open");
    assert!(s.slack.files().is_empty());
    let resolved = s.incident(0, &channel, "U0ALICE", "resolve").await;
    assert!(resolved.contains("resolved after"), "{resolved}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        s.audit().iter().any(|f| f["decision"] == "refused" && f["resource"] == "INC-1" && f["user_id"] == "U0BOB")
    );

    // Without a bot token the command says what is missing and touches nothing.
    let bare = stack(1, &[], &["SLACK_BOT_TOKEN", "INCIDENTS_CHANNEL", "INCIDENT_RESPONDERS"]).await;
    let answer = bare.incident(0, OPS, "U0BOB", "declare Anything").await;
    assert!(answer.contains("SLACK_BOT_TOKEN") && answer.contains("STATE_TABLE"), "{answer}");
    assert!(bare.slack.calls().is_empty());
    // With incident settings but no bot token, the function refuses to start and names the variable.
    let broken = stack(1, &[], &["SLACK_BOT_TOKEN"]).await;
    let mut error = None;
    for _ in 0..500 {
        error = broken.containers[0].0.init_error();
        if error.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let error = error.expect("an init error");
    assert!(error.to_string().contains("SLACK_BOT_TOKEN"), "{error}");
}

/// The times that matter (#34): an incident declared from an acknowledged alert starts its timeline when the
/// alert fired, and its card and post-mortem say how long acknowledging, declaring and resolving took.
#[tokio::test(flavor = "multi_thread")]
async fn an_incident_from_an_acknowledged_alert_keeps_the_times_that_matter() {
    let s = stack(1, &[], &[]).await;
    s.slack.use_real_clock();
    let moto = Moto::shared();
    let mut env = moto.env();
    env.extend([
        ("SLACK_BOT_TOKEN", BOT.to_owned()),
        ("SLACK_API_URL", s.slack.url()),
        ("SLACK_CHANNEL", ALERTS.to_owned()),
        ("STATE_TABLE", s.table.clone()),
        ("ALARM_LOG_GROUPS", "payments-*=/aws/lambda/payments".to_owned()),
    ]);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let runtime = RuntimeApi::start().await;
    let _notifier = FunctionProcess::spawn(&build_binary("alarm-to-slack", false), &runtime, &env);
    let now_s = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64;
    // A change just before the alarm, as slack-command records a /scale: the alert shows it.
    let state = chatops_shared::state::StateTable::new(moto.dynamodb().await, &s.table);
    let change = chatops_shared::state::Change {
        at_ms: (now_s - 35 * 60) * 1000,
        id: "scale-before".into(),
        kind: "scale".into(),
        what: "payments-web 4 → 2".into(),
        by: Some("U0DAVE".into()),
        link: None,
        account: Some("123456789012".into()),
        region: Some("eu-west-1".into()),
        channel: None,
    };
    state.record_change(&change, now_s).await.unwrap();
    let at = |minutes_ago: i64| {
        let t = time::OffsetDateTime::from_unix_timestamp(now_s - minutes_ago * 60).unwrap();
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.000+0000",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        )
    };
    let fired_at = now_s - 30 * 60;
    runtime.invoke(&sns_alarm("payments-5xx", "ALARM", "OK", &at(30), "t-1", "alarms")).await;
    let ts = s.slack.channel(ALERTS)[0].ts.clone();
    // Acknowledged; a repeat of the alarm shows it on the message (and the button keeps when it first fired).
    let acked = s.click(0, ALERTS, &ts, "alert:ack", "U0ALICE").await;
    assert!(acked.to_string().contains("Acknowledged by <@U0ALICE>"), "{acked}");
    runtime.invoke(&sns_alarm("payments-5xx", "ALARM", "OK", &at(20), "t-2", "alarms")).await;
    let shown = s.slack.message(ALERTS, &ts).unwrap();
    assert!(shown.all_text().contains("Acknowledged by <@U0ALICE>"), "{}", shown.all_text());
    let value: Value =
        serde_json::from_str(shown.button("incident:declare").unwrap()["value"].as_str().unwrap()).unwrap();
    assert_eq!(value["f"], json!(fired_at), "when it first fired, not the repeat: {value}");

    let declared = s.declare_click(0, ALERTS, &ts, "U0BOB").await;
    assert!(declared.to_string().contains("INC-1* declared by <@U0BOB>"), "{declared}");
    let channel = s.slack.channels()[0].id.clone();
    let card = s.slack.channel(&channel).into_iter().find(|m| m.pinned).unwrap().all_text();
    assert!(card.contains("*Since the alert fired*") && !card.contains("acknowledged after 0 s"), "{card}");
    assert!(card.contains("acknowledged after") && card.contains("declared after 30 min"), "{card}");

    // The channel starts with the alert's context: its recent changes and its [Show logs].
    let context = s
        .slack
        .channel(&channel)
        .into_iter()
        .find(|m| m.text().starts_with("From the alert"))
        .expect("the alert's context");
    assert!(
        context.all_text().contains("🔧 Recent changes: payments-web 4 → 2 by <@U0DAVE>"),
        "{}",
        context.all_text()
    );
    assert!(context.button("alert:logs").is_some(), "{:#}", context.body);

    let resolved = s.incident(0, &channel, "U0BOB", "resolve Rolled back").await;
    assert!(resolved.contains("resolved after"), "{resolved}");
    let timeline = s.slack.channel(&channel).into_iter().find(|m| m.text().starts_with("Timeline of INC-1")).unwrap();
    let timeline = timeline.all_text();
    let fired = timeline.find("payments-5xx").unwrap_or(usize::MAX);
    assert!(fired < timeline.find("<@U0ALICE> 👀 acknowledged the alert").unwrap_or(0), "{timeline}");
    assert!(timeline.find("acknowledged the alert") < timeline.find("declared SEV2"), "{timeline}");
    let md = s.slack.files()[0].text();
    for part in [
        "| Alert fired |",
        "| Time to acknowledge |",
        "| Time to declare | 30 min |",
        "| Time to resolve | 30 min (from the alert) |",
        "| — | 🔴 ",
    ] {
        assert!(md.contains(part), "{part:?} missing from\n{md}");
    }
}

/// Update reminders (#34): each update schedules the next reminder by severity (one schedule per incident,
/// moved by each update); a reminder nudges the lead and comms only when due and only without a newer
/// update, once however often it is delivered, then schedules the long-quiet one; resolving removes it.
#[tokio::test(flavor = "multi_thread")]
async fn an_incident_is_reminded_to_update_only_when_due_and_quiet_and_not_after_it_resolves() {
    let moto = Moto::shared();
    let group = moto.create_schedule_group().await;
    let s = stack(
        1,
        &[
            ("SCHEDULE_GROUP", &group),
            ("SCHEDULER_ROLE_ARN", "arn:aws:iam::123456789012:role/chatops-scheduler"),
            ("SCHEDULE_TARGET_ARN", "arn:aws:lambda:eu-west-1:123456789012:function:chatops-slack-command"),
            ("INCIDENT_REMINDERS", "sev2=2s,stale=1h"),
        ],
        &[],
    )
    .await;
    let fire = async |input: &Value| s.containers[0].0.invoke(input).await.response_json();
    let only = async || {
        let schedules = moto.schedules(&group).await;
        assert_eq!(schedules.len(), 1, "one schedule per incident: {schedules:#?}");
        schedules.into_iter().next().unwrap()
    };
    let answer = s.incident(0, OPS, "U0ALICE", "declare Checkout errors sev2").await;
    let channel = channel_in(&answer);
    let (name, _, declared) = only().await;
    assert_eq!(declared["chatops_timer"]["kind"], "incident_reminder", "{declared}");
    assert_eq!(fire(&declared).await["acted"], false, "not due yet");
    s.incident(0, &channel, "U0CAROL", "role comms <@U0DAN>").await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    // An update moves it: the one made at the declaration changes nothing any more.
    s.incident(0, &channel, "U0ALICE", "status Rolled back, watching").await;
    let (moved, _, updated) = only().await;
    assert_eq!(moved, name, "the same schedule, moved");
    assert_ne!(updated, declared);
    let stale = fire(&declared).await;
    assert_eq!(stale["acted"], false, "{stale}");
    assert!(stale["detail"].as_str().unwrap().contains("newer update"), "{stale}");
    // Quiet for its time: the lead and comms are nudged, once however often it is delivered.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(fire(&updated).await["acted"], true);
    assert_eq!(fire(&updated).await["acted"], false, "once");
    let nudges: Vec<String> =
        s.slack.channel(&channel).into_iter().map(|m| m.text().to_owned()).filter(|t| t.starts_with("⏰")).collect();
    assert_eq!(nudges.len(), 1, "{nudges:?}");
    assert!(
        nudges[0].contains("<@U0ALICE> <@U0DAN>")
            && nudges[0].contains("INC-1")
            && nudges[0].contains("due a status update"),
        "{nudges:?}"
    );
    // Then the long-quiet reminder is what is scheduled; resolving removes it.
    let (_, _, quiet) = only().await;
    assert_eq!(quiet["chatops_timer"]["stale"], true, "{quiet}");
    s.incident(0, &channel, "U0ALICE", "resolve fixed").await;
    assert!(moto.schedules(&group).await.is_empty(), "no reminder after it resolved");
    let after = fire(&updated).await;
    assert_eq!(after["acted"], false, "{after}");
}

/// An answer as one string (blocks and all).
fn shown(answer: &Value) -> String {
    answer.to_string()
}

/// An answer's `text` (what its blocks show once).
fn text_of(answer: &str) -> String {
    serde_json::from_str::<Value>(answer).unwrap()["text"].as_str().unwrap_or_default().to_owned()
}

/// Private incidents (#34): a private channel with only the people named, an announcement without details,
/// and nothing of it for anyone else: `/incident list`, `/status`, [Share in channel], the App Home. From an
/// alert's [🔒 Private incident] too, whose message then names no channel.
#[tokio::test(flavor = "multi_thread")]
async fn a_private_incident_is_seen_only_by_its_members() {
    // Anyone declares; only U0ALICE may declare privately.
    let policy = json!({"rules": [
        {"name": "everyone", "actions": ["incident:declare", "incident:update", "incident:resolve"], "resources": ["*"], "requesters": ["*"]},
        {"name": "security", "actions": ["incident:private"], "resources": ["*"], "requesters": ["U0ALICE"]}
    ]})
    .to_string();
    let s = stack(1, &[("CHATOPS_POLICY", &policy)], &[]).await;
    let refused = s.incident(0, OPS, "U0BOB", "declare --private Something sev2").await;
    assert!(refused.contains("incident:private") && !refused.contains("INC-"), "{refused}");
    assert!(s.slack.channels().is_empty(), "nothing made for a refused private declaration");

    let answer = s.incident(0, OPS, "U0ALICE", "declare --private Leaked deploy key sev1 <@U0CAROL|carol>").await;
    assert!(answer.contains("INC-1"), "{answer}");
    let create = s.slack.accepted("conversations.create");
    assert_eq!(create.last().unwrap().body["is_private"], true, "a private channel");
    let channel = s.slack.channels().into_iter().find(|c| c.private).expect("the private channel");
    assert_eq!(channel.name, "inc-1-private", "its name says nothing of it");
    let mut members = channel.members.clone();
    members.sort();
    assert_eq!(members, ["U0ALICE", "U0CAROL"], "only the declarer and the people named; no standing responders");
    let announcement = s.slack.channel(ANNOUNCE)[0].all_text();
    assert!(announcement.contains("INC-1") && announcement.contains("SEV1") && announcement.contains("private"));
    for secret in ["Leaked deploy", "U0ALICE", "U0CAROL", &channel.id] {
        assert!(!announcement.contains(secret), "the announcement names no {secret}: {announcement}");
    }
    // The timeline and the card inside the channel have it all.
    let card = s.slack.channel(&channel.id).iter().map(|m| m.all_text()).collect::<String>();
    assert!(card.contains("Leaked deploy key"), "{card}");

    // A public one beside it.
    let public = s.incident(0, OPS, "U0BOB", "declare Checkout slow sev3").await;
    assert!(public.contains("INC-2"), "{public}");

    // `/incident list`, `/status`, the App Home: U0BOB (not a member) sees INC-2 only; U0CAROL (a member by
    // the channel's members, neither lead nor declarer) sees both.
    let bob_list = s.incident(0, OPS, "U0BOB", "list").await;
    assert!(
        bob_list.contains("INC-2") && !bob_list.contains("INC-1") && !bob_list.contains("Leaked deploy"),
        "{bob_list}"
    );
    let carol_list = s.incident(0, OPS, "U0CAROL", "list").await;
    assert!(carol_list.contains("INC-1") && carol_list.contains("Leaked deploy"), "{carol_list}");
    let bob_status = s.command(0, "/status", OPS, "U0BOB", "").await;
    assert!(
        bob_status.contains("INC-2") && !bob_status.contains("INC-1") && !bob_status.contains("Leaked deploy"),
        "{bob_status}"
    );
    let carol_status = s.command(0, "/status", OPS, "U0CAROL", "").await;
    assert!(carol_status.contains("INC-1") && carol_status.contains("Leaked deploy"), "{carol_status}");
    assert!(s.slack.calls().iter().any(|c| c.method == "conversations.members"), "membership read from Slack");
    // Shared in a channel, even by a member: without it.
    let shared = shown(&s.share("U0CAROL").await);
    assert!(shared.contains("INC-2") && !shared.contains("INC-1") && !shared.contains("Leaked deploy"), "{shared}");
    let bob_home = shown(&s.home("U0BOB").await);
    assert!(bob_home.contains("INC-2") && !bob_home.contains("Leaked deploy"), "{bob_home}");
    let alice_home = shown(&s.home("U0ALICE").await);
    assert!(alice_home.contains("You lead *INC-1*") && alice_home.contains("Leaked deploy"), "{alice_home}");
    // Slack refusing the members read hides it (never shown by mistake).
    s.slack.outage(Some("conversations.members"), Some(ApiReply::Error("channel_not_found")));
    let refused_read = s.command(0, "/status", OPS, "U0CAROL", "").await;
    assert!(!refused_read.contains("Leaked deploy") && refused_read.contains("INC-2"), "{refused_read}");
    s.slack.outage(Some("conversations.members"), None);

    // Resolved: the announcement says so and still nothing else; the draft is in the private channel only.
    let resolved = s.incident(0, &channel.id, "U0ALICE", "resolve Key rotated").await;
    assert!(resolved.contains("resolved after"), "{resolved}");
    let announcement = s.slack.channel(ANNOUNCE)[0].all_text();
    assert!(
        announcement.contains("resolved")
            && !announcement.contains("Key rotated")
            && !announcement.contains("Leaked deploy"),
        "{announcement}"
    );
    let completes = s.slack.accepted("files.completeUploadExternal");
    assert!(completes.iter().all(|c| c.body["channel_id"] == channel.id.as_str()), "{completes:?}");

    // From an alert: [🔒 Private incident] beside [Declare incident].
    let moto = Moto::shared();
    let mut env = moto.env();
    env.extend([
        ("SLACK_BOT_TOKEN", BOT.to_owned()),
        ("SLACK_API_URL", s.slack.url()),
        ("SLACK_CHANNEL", ALERTS.to_owned()),
        ("STATE_TABLE", s.table.clone()),
    ]);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let runtime = RuntimeApi::start().await;
    let _notifier = FunctionProcess::spawn(&build_binary("alarm-to-slack", false), &runtime, &env);
    runtime
        .invoke(&sns_alarm("iam-root-login", "ALARM", "OK", "2026-11-20T09:01:00.000+0000", "m-root", "alarms"))
        .await;
    let ts = s.slack.channel(ALERTS)[0].ts.clone();
    let replaced = s.click(0, ALERTS, &ts, "incident:declare-private", "U0ALICE").await;
    let text = replaced.to_string();
    assert!(text.contains("🔒 *INC-3* (a private incident) declared by <@U0ALICE>"), "{text}");
    assert!(!text.contains("<#C0NEW") && !text.contains("incident:declare"), "no channel, no buttons: {text}");
    let private = s.slack.channels().into_iter().filter(|c| c.private).count();
    assert_eq!(private, 2, "a second private channel");
    let audit = s.audit();
    assert!(audit.iter().any(|f| f["decision"] == "refused" && f["reason"].as_str().is_some_and(|r| r.contains("incident:private"))), "{audit:?}");
}

/// Follow-ups (#34): recorded by command and by 📝 (once however often Slack delivers it), on the card and
/// in the post-mortem; filed as issues in the channel's tracker, each once, with a resolve and a
/// `followups file` racing in two processes and the tracker refusing one, which a retry files; a channel
/// without its own tracker uses the team's (`*`, GitLab here).
#[tokio::test(flavor = "multi_thread")]
async fn follow_ups_are_filed_once_each_and_a_refused_one_by_a_retry() {
    let ci = chatops_tests::ci_standin::CiStandIn::start("glptt-trigger", "github_pat_deploy").await;
    ci.accept_issue_tokens("github_pat_issues", "glpat-issues");
    let mapping = json!({TEAM: {
        OPS: {"issues": {"provider": "github", "repository": "acme/ops", "token": "github_pat_issues"}},
        "*": {"issues": {"provider": "gitlab", "project_id": "sre/incidents", "token": "glpat-issues", "labels": ["incident", "follow-up"]}}
    }});
    let arn = Moto::shared().create_secret(&mapping.to_string()).await;
    let url = ci.url();
    let s = stack(2, &[("DEPLOY_TARGETS_SECRET_ARN", &arn), ("GITHUB_API_URL", &url), ("GITLAB_URL", &url)], &[]).await;
    let answer = s.incident(0, OPS, "U0ALICE", "declare Queue backlog sev2").await;
    let channel = channel_in(&answer);
    let one = s.incident(0, &channel, "U0ALICE", "followup Alarm on the queue's age").await;
    assert!(one.contains("Follow-up recorded on INC-1 (1 in all)") && one.contains("when INC-1 resolves"), "{one}");
    s.incident(1, &channel, "U0BOB", "followup Load-test the consumer").await;
    // 📝 on someone's message: a follow-up by its author, once however often Slack delivers the event.
    let said = s.slack.user_message_as(&channel, "U0CAROL", "Document the &lt;runbook&gt; for backlogs");
    s.react("Ev1", "U0BOB", &channel, &said, "memo", None).await;
    s.react("Ev1", "U0BOB", &channel, &said, "memo", Some(1)).await;
    s.react("Ev2", "U0DAN", &channel, &said, "memo", None).await;
    let listed = text_of(&s.incident(0, &channel, "U0ALICE", "followups").await);
    assert_eq!(listed.matches("📝").count(), 3, "{listed}");
    assert!(listed.contains("Document the &lt;runbook&gt; for backlogs (<@U0CAROL>) · not filed yet"), "{listed}");
    let card = s.slack.message(&channel, &s.slack.channel(&channel).iter().find(|m| m.pinned).unwrap().ts).unwrap();
    assert!(card.all_text().contains("*Follow-ups* (3)"), "{}", card.all_text());

    // The tracker refuses one issue; a resolve and a `followups file` race in two processes.
    ci.refuse_issues_titled(Some("Load-test"));
    let (resolved, filed) = tokio::join!(
        s.incident(0, &channel, "U0ALICE", "resolve Consumer restarted"),
        s.incident(1, &channel, "U0BOB", "followups file")
    );
    let issues = ci.issues();
    assert_eq!(issues.len(), 2, "two filed, one refused: {issues:?}");
    // The resolve left its summary in the day's history (#35), once.
    let state = chatops_shared::state::StateTable::new(Moto::shared().dynamodb().await, s.table.clone());
    let today = chatops_shared::clock::now_ms();
    let history = state.history(today - 60_000, today).await.unwrap();
    assert_eq!(history.incidents.len(), 1, "{history:?}");
    let summary = &history.incidents[0];
    assert_eq!((summary.number, summary.severity, summary.private, summary.followups), (1, 2, false, 3));
    assert!(summary.resolved_at >= summary.declared_at && summary.alert_fired_at.is_none());
    let titles: std::collections::BTreeSet<String> = issues.iter().map(|c| c.fields["title"].clone()).collect();
    assert_eq!(titles.len(), 2, "none twice: {titles:?}");
    let both = format!("{resolved}\n{filed}");
    assert!(both.contains("❌ Load-test the consumer: github refused it (HTTP 422"), "the failure is said: {both}");
    assert!(!titles.iter().any(|t| t.contains("Load-test")), "{titles:?}");
    assert!(both.contains("`/incident followups file` tries the ones not filed again"), "{both}");
    assert!(resolved.contains("in_channel"), "said in the channel: {resolved}");
    for issue in &issues {
        assert_eq!(issue.target, "acme/ops");
        assert_eq!(issue.authorization.as_deref(), Some("Bearer github_pat_issues"));
        assert!(issue.fields["title"].starts_with("[INC-1] "), "{issue:?}");
        let body = &issue.fields["body"];
        assert!(
            body.contains("**INC-1** (SEV2): Queue backlog")
                && body.contains(&format!("app_redirect?channel={channel}&team={TEAM}")),
            "{body}"
        );
        assert_eq!(issue.fields["labels"], "incident-follow-up");
    }
    // The retry, twice at once, the tracker taking it now: the refused one filed once.
    ci.refuse_issues_titled(None);
    let (a, b) = tokio::join!(
        s.incident(0, &channel, "U0ALICE", "followups file"),
        s.incident(1, &channel, "U0BOB", "followups file")
    );
    let issues = ci.issues();
    assert_eq!(issues.len(), 3, "{a}\n{b}\n{issues:?}");
    let titles: std::collections::BTreeSet<String> = issues.iter().map(|c| c.fields["title"].clone()).collect();
    assert_eq!(titles.len(), 3, "each once: {titles:?}");
    assert!(
        titles.contains("[INC-1] Document the <runbook> for backlogs"),
        "typed text, not Slack's escapes: {titles:?}"
    );
    let listed = text_of(&s.incident(0, &channel, "U0ALICE", "followups").await);
    assert_eq!(listed.matches("|issue>").count(), 3, "{listed}");
    // After the resolve, a 📝 still records one (follow-ups come out of the review), and it is filed on ask.
    let later = s.slack.user_message_as(&channel, "U0DAN", "Page the on-call earlier");
    s.react("Ev3", "U0ALICE", &channel, &later, "memo", None).await;
    let filed_later = s.incident(1, &channel, "U0ALICE", "followups file").await;
    assert!(
        filed_later.contains("Page the on-call earlier") && filed_later.contains("3 filed before"),
        "{filed_later}"
    );
    assert_eq!(ci.issues().len(), 4);
    // A 📌 after the resolve adds nothing to the timeline the post-mortem was written from.
    s.react("Ev4", "U0ALICE", &channel, &later, "pushpin", None).await;
    assert!(s.audit().iter().any(|f| f["reason"] == "incident resolved: 📌 not added to its timeline"));
    // The post-mortem lists the follow-ups with the issues filed by then.
    let draft = s.slack.files().into_iter().find(|f| f.filename == "INC-1-post-mortem.md").expect("the draft").text();
    assert!(draft.contains("## Follow-ups"), "{draft}");
    for text in ["Alarm on the queue's age", "Load-test the consumer", "Document the <runbook> for backlogs"] {
        assert!(draft.contains(text), "{text} in {draft}");
    }
    assert_eq!(draft.matches("\n- [x] ").count() + draft.matches("\n- [ ] ").count(), 3, "{draft}");
    assert!(draft.contains("- [ ] Load-test the consumer (@U0BOB"), "not filed when the draft was written: {draft}");

    // A channel without its own tracker: the team's, on GitLab, with its labels and access token.
    let other = s.incident(0, ALERTS, "U0ALICE", "declare Disk full sev4").await;
    let other_channel = channel_in(&other);
    s.incident(0, &other_channel, "U0ALICE", "followup Grow the volume").await;
    let done = s.incident(0, &other_channel, "U0ALICE", "resolve").await;
    assert!(done.contains("https://gitlab.example.com/acme/"), "{done}");
    let gitlab: Vec<_> = ci.issues().into_iter().filter(|c| c.provider == "gitlab-issue").collect();
    assert_eq!(gitlab.len(), 1);
    assert_eq!(
        (gitlab[0].target.as_str(), gitlab[0].authorization.as_deref()),
        ("sre/incidents", Some("glpat-issues"))
    );
    assert_eq!(gitlab[0].fields["labels"], "incident,follow-up");
    let audit = s.audit();
    assert!(audit.iter().any(|f| f["text"] == "followups file" && f["decision"] == "done"), "{audit:?}");
}
