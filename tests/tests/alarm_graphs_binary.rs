//! The built `alarm-to-slack` binary drawing alarm graphs, over the Lambda Runtime API: the message is
//! posted first, CloudWatch (the stand-in, Query protocol) draws the graph, Slack gets it through the
//! two-step upload and the message shows it by `chat.update`; each state change redraws. And what goes
//! wrong: CloudWatch refusing or stalling, Slack refusing the upload or still processing the file, a
//! newer state arriving while a graph is drawn, an alarm of another account.

use std::time::{Duration, Instant};

use chatops_tests::cloudwatch_standin::png_size;
use chatops_tests::slack_requests::{Shape, event_at, interaction_body, signed_headers};
use chatops_tests::slack_standin::SlackStandIn;
use chatops_tests::{
    ApiReply, CloudWatchStandIn, Container, Moto, SlackApiStandIn, WidgetReply, from_account, sns_alarm,
};
use serde_json::{Value, json};

const TOKEN: &str = "xoxb-1111-2222-GRAPHTOKEN";

struct Setup {
    api: SlackApiStandIn,
    cloudwatch: CloudWatchStandIn,
    table: String,
}

async fn setup() -> Setup {
    let table = Moto::shared().create_state_table().await;
    Setup { api: SlackApiStandIn::start(TOKEN).await, cloudwatch: CloudWatchStandIn::start().await, table }
}

impl Setup {
    async fn container(&self, extra: &[(&'static str, &str)]) -> Container {
        let mut env = Moto::shared().env();
        env.extend([
            ("SLACK_BOT_TOKEN", TOKEN.to_owned()),
            ("SLACK_API_URL", self.api.url()),
            ("SLACK_CHANNEL", "C0ALARMS".to_owned()),
            ("STATE_TABLE", self.table.clone()),
            ("METRIC_GRAPHS", "true".to_owned()),
            ("AWS_ENDPOINT_URL_CLOUDWATCH", self.cloudwatch.url()),
            ("RUST_LOG", "info".to_owned()),
        ]);
        env.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
        Container::start("alarm-to-slack", &env).await
    }
}

fn alarm(name: &str, state: &str, old: &str, minute: u32, id: &str) -> Value {
    sns_alarm(name, state, old, &format!("2026-11-20T09:{minute:02}:00.000+0000"), id, "cloudwatch-alarms")
}

/// The image blocks of a message body (in its attachment or not).
fn images(body: &Value) -> Vec<Value> {
    let blocks = body["attachments"][0]["blocks"].as_array().or_else(|| body["blocks"].as_array());
    blocks.into_iter().flatten().filter(|b| b["type"] == "image").cloned().collect()
}

fn parse_time(v: &Value) -> i64 {
    time::OffsetDateTime::parse(v.as_str().unwrap(), &time::format_description::well_known::Rfc3339)
        .unwrap()
        .unix_timestamp()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_message_is_posted_first_then_shows_the_graph_and_each_state_redraws_it() {
    let s = setup().await;
    let c = s.container(&[]).await;
    let inv = c.runtime.invoke(&alarm("orders-latency", "ALARM", "OK", 0, "g-1")).await;
    assert_eq!(inv.response_json(), json!({"delivered": 1}));
    let calls = s.api.calls();
    let methods: Vec<&str> = calls.iter().map(|c| c.method.as_str()).collect();
    assert_eq!(
        methods,
        ["chat.postMessage", "files.getUploadURLExternal", "files.completeUploadExternal", "chat.update"],
        "posted first, the graph after: {calls:#?}"
    );
    assert!(images(&calls[0].body).is_empty(), "the first post carries no graph");
    // The upload is the app's own file, shared nowhere: the image block shows it.
    assert!(calls[2].body.get("channel_id").is_none() && calls[2].body.get("channels").is_none(), "{}", calls[2].body);
    let files = s.api.files();
    assert_eq!(files.len(), 1);
    let (w, h) = png_size(files[0].content.as_deref().unwrap()).expect("a PNG was uploaded");
    assert!(w > 0 && h > 0);
    assert!(files[0].filename.ends_with(".png"), "{}", files[0].filename);
    let message = &s.api.channel("C0ALARMS")[0];
    let shown = images(&message.body);
    assert_eq!(shown.len(), 1, "{:#}", message.body);
    assert_eq!(shown[0]["slack_file"], json!({"id": files[0].id}));
    let alt = shown[0]["alt_text"].as_str().unwrap();
    assert!(alt.contains("went to ALARM at 09:00 UTC") && alt.chars().count() <= 2000, "{alt}");
    assert_eq!(files[0].alt_text.as_deref(), Some(alt));
    // The buttons are still there, below the graph.
    assert!(message.button("ack").is_some() || message.all_text().contains("Acknowledge"), "{:#}", message.body);

    // What CloudWatch was asked to draw: the alarm's metric, statistic, period, threshold and window.
    let widgets = s.cloudwatch.widgets();
    assert_eq!(widgets.len(), 1);
    let w = &widgets[0];
    let metric = w["metrics"][0].as_array().unwrap();
    assert_eq!((metric[0].as_str(), metric[1].as_str()), (Some("AWS/EC2"), Some("CPUUtilization")), "{w:#}");
    let options = metric.last().unwrap();
    assert_eq!((options["stat"].as_str(), options["period"].as_u64()), (Some("Average"), Some(300)), "{options}");
    assert!(options.get("accountId").is_none());
    assert!(w["annotations"]["horizontal"][0]["value"].is_number(), "{w:#}");
    assert_eq!(w["region"], "eu-west-1");
    let (start, end) = (parse_time(&w["start"]), parse_time(&w["end"]));
    let changed = parse_time(&json!("2026-11-20T09:00:00Z"));
    assert!(start < changed - 1800 && changed < end && end <= changed + 3600, "window {start}..{end} around {changed}");
    assert_eq!(w["annotations"]["vertical"][0]["label"], "ALARM");

    // OK: the message is updated, then redrawn with the recovery.
    let inv = c.runtime.invoke(&alarm("orders-latency", "OK", "ALARM", 9, "g-2")).await;
    assert_eq!(inv.response_json(), json!({"delivered": 1}));
    let widgets = s.cloudwatch.widgets();
    assert_eq!(widgets.len(), 2);
    assert_eq!(widgets[1]["annotations"]["vertical"][0]["label"], "OK");
    let files = s.api.files();
    assert_eq!(files.len(), 2, "one graph per state change");
    let message = &s.api.channel("C0ALARMS")[0];
    let shown = images(&message.body);
    assert_eq!(shown[0]["slack_file"]["id"], json!(files[1].id), "the newest graph is shown");
    // Its record keeps the graph shown, for `/status orders-latency` (the same image, no new drawing).
    let items = Moto::shared().items(&s.table).await;
    let record = items.iter().find(|i| i["pk"].ends_with(":orders-latency")).expect("the alarm's lifecycle record");
    assert_eq!(record.get("graph_file"), Some(&files[1].id), "{record:#?}");
    assert!(shown[0]["alt_text"].as_str().unwrap().contains("went to OK"), "{shown:?}");
    assert_eq!(message.color(), Some("#2EB67D"));
    assert!(s.api.calls().iter().all(|c| c.method != "files.upload"), "the retired files.upload is never used");
}

#[tokio::test(flavor = "multi_thread")]
async fn cloudwatch_refusing_or_stalling_leaves_the_message_without_a_graph_never_later() {
    let s = setup().await;
    let c = s.container(&[]).await;
    s.cloudwatch.always(Some(WidgetReply::Error(400, "InvalidParameterInput")));
    let inv = c.runtime.invoke(&alarm("refused-graph", "ALARM", "OK", 0, "r-1")).await;
    assert_eq!(inv.response_json(), json!({"delivered": 1}));
    assert!(images(&s.api.channel("C0ALARMS")[0].body).is_empty());
    assert!(s.api.files().is_empty() && s.api.accepted("chat.update").is_empty());

    // A stall: the message is out at once, the graph is given up after its timeout, the invocation succeeds.
    s.cloudwatch.always(Some(WidgetReply::Stall(Duration::from_secs(30))));
    let started = Instant::now();
    let inv = c.runtime.invoke(&alarm("stalled-graph", "ALARM", "OK", 0, "r-2")).await;
    assert_eq!(inv.response_json(), json!({"delivered": 1}));
    let posted = s.api.accepted("chat.postMessage").last().unwrap().at;
    assert!(posted.duration_since(started) < Duration::from_secs(2), "the post did not wait for the graph");
    assert!(inv.finished_at.duration_since(started) < Duration::from_secs(9), "gave up the graph in time");
    assert!(s.api.files().is_empty());
    tokio::time::sleep(Duration::from_millis(200)).await;
    let warned = c
        .process
        .json_logs()
        .into_iter()
        .filter(|l| l["fields"]["message"].as_str().is_some_and(|m| m.starts_with("graph not drawn")))
        .count();
    assert_eq!(warned, 2, "{}", c.process.output());
    assert!(!c.process.output().contains("GRAPHTOKEN"));
}

#[tokio::test(flavor = "multi_thread")]
async fn slack_refusing_the_upload_leaves_the_message_as_posted_and_a_missing_scope_stops_graphs() {
    let s = setup().await;
    let c = s.container(&[]).await;
    // A refusal of this upload only: this graph is lost, the next alarm gets its own.
    s.api.fail_method("files.getUploadURLExternal", ApiReply::Error("invalid_arguments"));
    let inv = c.runtime.invoke(&alarm("upload-hiccup", "ALARM", "OK", 0, "u-0")).await;
    assert_eq!(inv.response_json(), json!({"delivered": 1}));
    assert!(images(&s.api.channel("C0ALARMS")[0].body).is_empty());
    assert_eq!(s.cloudwatch.widgets().len(), 1);
    // No files:write: the message stays as posted, and graphs stop in this container (said once).
    s.api.outage(Some("files.getUploadURLExternal"), Some(ApiReply::Error("missing_scope")));
    for (i, name) in ["no-files-scope", "no-files-scope-2"].iter().enumerate() {
        let inv = c.runtime.invoke(&alarm(name, "ALARM", "OK", 0, &format!("u-{}", i + 1))).await;
        assert_eq!(inv.response_json(), json!({"delivered": 1}));
    }
    for message in s.api.channel("C0ALARMS") {
        assert!(images(&message.body).is_empty());
        assert_eq!(message.updates, 0);
    }
    assert_eq!(s.cloudwatch.widgets().len(), 2, "no drawing after graphs stopped");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let output = c.process.output();
    assert_eq!(output.matches("alarm graphs stopped in this container").count(), 1, "{output}");
    assert!(output.contains("files:write"), "{output}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_role_that_may_not_draw_stops_graphs_once() {
    let s = setup().await;
    let c = s.container(&[]).await;
    s.cloudwatch.always(Some(WidgetReply::Error(403, "AccessDenied")));
    for (i, name) in ["denied-1", "denied-2"].iter().enumerate() {
        let inv = c.runtime.invoke(&alarm(name, "ALARM", "OK", 0, &format!("d-{i}"))).await;
        assert_eq!(inv.response_json(), json!({"delivered": 1}));
    }
    assert_eq!(s.cloudwatch.widgets().len(), 1, "asked once, then stopped");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let output = c.process.output();
    assert_eq!(output.matches("alarm graphs stopped in this container").count(), 1, "{output}");
    assert!(output.contains("cloudwatch:GetMetricWidgetImage"), "{output}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_file_slack_is_still_processing_is_shown_once_it_is_ready() {
    let s = setup().await;
    s.api.files_ready_after(Duration::from_millis(700));
    let c = s.container(&[]).await;
    let inv = c.runtime.invoke(&alarm("slow-file", "ALARM", "OK", 0, "f-1")).await;
    assert_eq!(inv.response_json(), json!({"delivered": 1}));
    let updates: Vec<String> =
        s.api.calls().iter().filter(|c| c.method == "chat.update").map(|c| c.answer.clone()).collect();
    assert!(updates.len() >= 2 && updates[0] == "invalid_blocks", "{updates:?}");
    assert_eq!(updates.last().map(String::as_str), Some("ok"));
    assert_eq!(images(&s.api.channel("C0ALARMS")[0].body).len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_newer_state_while_the_graph_is_drawn_keeps_its_own_graph() {
    let s = setup().await;
    let a = s.container(&[]).await;
    let b = s.container(&[]).await;
    // A's graph takes 1.5 s; B delivers OK meanwhile and draws its own at once.
    s.cloudwatch.script([WidgetReply::Stall(Duration::from_millis(1500))]);
    let fired = alarm("racing-graph", "ALARM", "OK", 0, "n-1");
    let resolved = alarm("racing-graph", "OK", "ALARM", 5, "n-2");
    let first = tokio::spawn({
        let runtime = a.runtime.clone();
        async move { runtime.invoke(&fired).await }
    });
    let deadline = Instant::now() + Duration::from_secs(5);
    while s.api.channel("C0ALARMS").is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let inv = b.runtime.invoke(&resolved).await;
    assert_eq!(inv.response_json(), json!({"delivered": 1}));
    assert_eq!(first.await.unwrap().response_json(), json!({"delivered": 1}));
    let messages = s.api.channel("C0ALARMS");
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].color(), Some("#2EB67D"), "the message shows OK");
    let shown = images(&messages[0].body);
    assert_eq!(shown.len(), 1, "{:#}", messages[0].body);
    assert!(
        shown[0]["alt_text"].as_str().unwrap().contains("went to OK"),
        "the older ALARM graph did not overwrite it: {shown:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn another_accounts_alarm_has_a_graph_only_through_cross_account_observability() {
    let s = setup().await;
    let c = s.container(&[]).await;
    for (i, name) in ["other-1", "other-2"].iter().enumerate() {
        let event = from_account(alarm(name, "ALARM", "OK", 0, &format!("x-{i}")), "210987654321");
        assert_eq!(c.runtime.invoke(&event).await.response_json(), json!({"delivered": 1}));
    }
    assert!(s.cloudwatch.widgets().is_empty(), "nothing asked of CloudWatch");
    assert!(s.api.channel("C0ALARMS").iter().all(|m| images(&m.body).is_empty() && m.updates == 0));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let said = c.process.output().matches("no graph for alarms of this account").count();
    assert_eq!(said, 1, "said once: {}", c.process.output());

    // In a monitoring account: the metric carries the source account.
    s.cloudwatch.link_account("210987654321");
    let c = s.container(&[("CROSS_ACCOUNT_OBSERVABILITY", "true")]).await;
    let event = from_account(alarm("other-3", "ALARM", "OK", 0, "x-3"), "210987654321");
    assert_eq!(c.runtime.invoke(&event).await.response_json(), json!({"delivered": 1}));
    let widgets = s.cloudwatch.widgets();
    assert_eq!(widgets.len(), 1);
    assert_eq!(widgets[0]["metrics"][0].as_array().unwrap().last().unwrap()["accountId"], "210987654321");
    let message = s.api.channel("C0ALARMS").into_iter().find(|m| m.all_text().contains("other-3")).unwrap();
    assert_eq!(images(&message.body).len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn graphs_off_means_no_cloudwatch_call() {
    let s = setup().await;
    let c = s.container(&[("METRIC_GRAPHS", "false")]).await;
    assert_eq!(
        c.runtime.invoke(&alarm("quiet", "ALARM", "OK", 0, "o-1")).await.response_json(),
        json!({"delivered": 1})
    );
    assert!(s.cloudwatch.widgets().is_empty());
    assert_eq!(s.api.calls().len(), 1);
}

/// [Acknowledge] clicked while the graph is being drawn: the graph's update keeps the acknowledgement
/// (it is re-rendered from the alert's record, not from what was posted), and the buttons stay usable.
#[tokio::test(flavor = "multi_thread")]
async fn an_acknowledgement_made_while_the_graph_is_drawn_stays_on_the_message() {
    const SECRET: &str = "graphs-signing-secret";
    let s = setup().await;
    let notifier = s.container(&[]).await;
    let mut env = Moto::shared().env();
    env.extend([
        ("SLACK_SIGNING_SECRET", SECRET.to_owned()),
        ("SLACK_BOT_TOKEN", TOKEN.to_owned()),
        ("SLACK_API_URL", s.api.url()),
        ("STATE_TABLE", s.table.clone()),
    ]);
    let command = Container::start("slack-command", &env).await;
    let hooks = SlackStandIn::start().await;
    s.cloudwatch.script([WidgetReply::Stall(Duration::from_millis(2500))]);
    let fired = tokio::spawn({
        let runtime = notifier.runtime.clone();
        async move { runtime.invoke(&alarm("ack-while-drawing", "ALARM", "OK", 0, "a-1")).await }
    });
    let deadline = Instant::now() + Duration::from_secs(5);
    while s.api.channel("C0ALARMS").is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let message = s.api.channel("C0ALARMS")[0].clone();
    let button = message.button("alert:ack").expect("[Acknowledge]");
    let payload = json!({
        "type": "block_actions", "team": {"id": "T0123ABCD"}, "user": {"id": "U0ALICE", "username": "alice", "team_id": "T0123ABCD"},
        "channel": {"id": "C0ALARMS", "name": "alarms"},
        "container": {"type": "message", "message_ts": message.ts, "channel_id": "C0ALARMS"},
        "response_url": hooks.url("/ack"),
        "message": {"type": "message", "ts": message.ts, "text": message.text(), "attachments": message.body["attachments"]},
        "actions": [{"type": "button", "action_id": "alert:ack", "block_id": "alert-actions", "value": button["value"], "action_ts": "1700000000.000001"}]
    });
    let body = interaction_body(&payload);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs().to_string();
    let headers = signed_headers(SECRET, &now, body.as_bytes());
    let clicked =
        command.runtime.invoke(&event_at(Shape::HttpApi, "/slack/interactions", "", &headers, &body, false)).await;
    assert_eq!(clicked.response_json()["statusCode"], 200);
    assert_eq!(fired.await.unwrap().response_json(), json!({"delivered": 1}));
    let shown = s.api.message("C0ALARMS", &message.ts).unwrap();
    assert_eq!(images(&shown.body).len(), 1, "the graph arrived: {:#}", shown.body);
    assert!(shown.all_text().contains("Acknowledged by <@U0ALICE>"), "the acknowledgement stays: {:#}", shown.body);
    assert!(shown.button("alert:ack").is_none(), "no second [Acknowledge]");
    assert!(shown.button("incident:declare").is_some());
}

/// An alarm storm: the digest's lines get no graph, and neither do the alarms posted just before it began
/// (the channel's chat.update budget is the digest's).
#[tokio::test(flavor = "multi_thread")]
async fn a_storm_draws_no_graphs() {
    let s = setup().await;
    let c =
        s.container(&[("STORM_THRESHOLD", "2"), ("STORM_WINDOW_SECONDS", "30"), ("STORM_QUIET_SECONDS", "30")]).await;
    let mut batch = alarm("storm-0", "ALARM", "OK", 0, "st-0");
    for i in 1..6 {
        let more = alarm(&format!("storm-{i}"), "ALARM", "OK", 0, &format!("st-{i}"));
        batch["Records"].as_array_mut().unwrap().push(more["Records"][0].clone());
    }
    let inv = c.runtime.invoke(&batch).await;
    assert_eq!(inv.response_json()["delivered"], 6, "{:?}", inv.response_json());
    let all: String = s.api.channel("C0ALARMS").iter().map(|m| m.all_text()).collect();
    assert!(all.contains("storm-5"), "the digest shows the later alarms: {all}");
    assert!(s.cloudwatch.widgets().is_empty(), "no graph drawn in a storm: {:?}", s.cloudwatch.widgets().len());
    assert!(s.api.files().is_empty());
}

/// The parts of a multipart/form-data body: (name, filename, bytes).
fn multipart(content_type: &str, body: &[u8]) -> Vec<(String, Option<String>, Vec<u8>)> {
    let boundary = content_type.split("boundary=").nth(1).expect("a boundary").trim_matches('"');
    let delimiter = format!("--{boundary}");
    let text = body;
    let mut parts = Vec::new();
    let find = |hay: &[u8], needle: &[u8], from: usize| {
        hay[from..].windows(needle.len()).position(|w| w == needle).map(|p| p + from)
    };
    let mut at = find(text, delimiter.as_bytes(), 0).expect("a first boundary") + delimiter.len();
    while let Some(next) = find(text, delimiter.as_bytes(), at) {
        let part = &text[at..next];
        let part = part.strip_prefix(b"\r\n").unwrap_or(part);
        let part = part.strip_suffix(b"\r\n").unwrap_or(part);
        let split = find(part, b"\r\n\r\n", 0).expect("headers and body");
        let headers = String::from_utf8_lossy(&part[..split]).to_string();
        let name = headers.split("name=\"").nth(1).and_then(|r| r.split('"').next()).unwrap_or_default().to_owned();
        let filename = headers.split("filename=\"").nth(1).and_then(|r| r.split('"').next()).map(str::to_owned);
        parts.push((name, filename, part[split + 4..].to_vec()));
        at = next + delimiter.len();
    }
    parts
}

/// A Discord webhook can carry the image: the alarm is posted first (Discord answers with the message,
/// `wait=true`), then edited with the PNG attached and shown in its embed. Slack's and Mattermost's
/// webhooks cannot: nothing is drawn for them.
#[tokio::test(flavor = "multi_thread")]
async fn a_discord_webhook_gets_the_graph_in_its_embed_and_other_webhooks_none() {
    let cloudwatch = CloudWatchStandIn::start().await;
    let hooks = SlackStandIn::start().await;
    let container = |url: String, platform: &'static str| {
        let mut env = Moto::shared().env();
        env.extend([
            ("SLACK_WEBHOOK_URL", url),
            ("CHAT_PLATFORM", platform.to_owned()),
            ("METRIC_GRAPHS", "true".to_owned()),
            ("AWS_ENDPOINT_URL_CLOUDWATCH", cloudwatch.url()),
        ]);
        async move { Container::start("alarm-to-slack", &env).await }
    };
    let discord = container(hooks.url("/api/webhooks/1/abc"), "discord").await;
    let inv = discord.runtime.invoke(&alarm("discord-cpu", "ALARM", "OK", 0, "dc-1")).await;
    assert_eq!(inv.response_json(), json!({"delivered": 1}));
    let got = hooks.received();
    assert_eq!(
        got.len(),
        2,
        "a post, then its edit: {:?}",
        got.iter().map(|r| (&r.method, &r.path)).collect::<Vec<_>>()
    );
    assert_eq!((got[0].method.as_str(), got[0].query.as_deref()), ("POST", Some("wait=true")));
    assert!(got[0].json()["embeds"][0].get("image").is_none(), "the post carries no graph");
    assert_eq!(got[1].method, "PATCH");
    assert_eq!(got[1].path, "/api/webhooks/1/abc/messages/1000000");
    let content_type = got[1].headers["content-type"].to_str().unwrap().to_owned();
    assert!(content_type.starts_with("multipart/form-data; boundary="), "{content_type}");
    let parts = multipart(&content_type, &got[1].body);
    let payload: Value =
        serde_json::from_slice(&parts.iter().find(|p| p.0 == "payload_json").expect("payload_json").2).unwrap();
    let file = parts.iter().find(|p| p.0 == "files[0]").expect("files[0]");
    let filename = file.1.clone().expect("a filename");
    assert!(png_size(&file.2).is_some(), "a PNG");
    assert_eq!(payload["embeds"][0]["image"]["url"], json!(format!("attachment://{filename}")));
    assert_eq!(payload["attachments"][0]["filename"], json!(filename));
    assert!(payload["attachments"][0]["description"].as_str().unwrap().starts_with("Graph of "));
    assert_eq!(payload["embeds"][0]["title"], got[0].json()["embeds"][0]["title"], "the same embed, with its image");
    assert_eq!(cloudwatch.widgets().len(), 1);

    // Slack's and Mattermost's webhooks: posted as always, nothing drawn.
    for (platform, path) in [("slack", "/services/T0/B0/x"), ("mattermost", "/hooks/abc")] {
        let c = container(hooks.url(path), platform).await;
        let inv =
            c.runtime.invoke(&alarm(&format!("{platform}-cpu"), "ALARM", "OK", 0, &format!("{platform}-1"))).await;
        assert_eq!(inv.response_json(), json!({"delivered": 1}));
        let last = hooks.received().into_iter().last().unwrap();
        assert_eq!((last.method.as_str(), last.path.as_str(), last.query), ("POST", path, None));
    }
    assert_eq!(cloudwatch.widgets().len(), 1, "no drawing for webhooks that cannot show it");
}
