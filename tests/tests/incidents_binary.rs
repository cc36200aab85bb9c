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
        let body = command_body("/incident", text, user, TEAM)
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
