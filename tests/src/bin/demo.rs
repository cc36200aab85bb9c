//! The whole product on a laptop, with no AWS account and no Slack workspace: a moto server holds a KMS
//! key and an Auto Scaling group, a local receiver stands where Slack is and prints every message, and
//! the real function binaries run behind a Lambda Runtime API emulator. Later sections add the Slack Web
//! API stand-in, DynamoDB and Secrets Manager on moto, and a GitLab stand-in for deploys by mention.
//!
//! Run it with `scripts/demo` (it installs moto into .venv first).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chatops_tests::codedeploy_standin::CodeDeployStandIn;
use chatops_tests::slack_api_standin::{ApiCall, StoredMessage};
use chatops_tests::slack_requests::{
    Shape, command_body, event, event_at, interaction_body, mention_body, signed_headers,
};
use chatops_tests::slack_standin::{Received, Reply};
use chatops_tests::{
    CiStandIn, FunctionProcess, Moto, RuntimeApi, SlackApiStandIn, SlackStandIn, build_binary, fixture, sns_alarm,
};
use serde_json::Value;

const STACK: &str = "chatops-demo";
const SIGNING_SECRET: &str = "demo-signing-secret-not-for-production";
const GROUP: &str = "web-asg";
const BOT_TOKEN: &str = "xoxb-demo-bot-token-not-for-production";
const GITLAB_TRIGGER: &str = "glptt-demo-trigger-token-not-for-production";
const NOTIFY_TOKEN: &str = "demo-deploy-notify-token-not-for-production";
const ALERTMANAGER_TOKEN: &str = "demo-alertmanager-token-not-for-production";

fn bold(s: &str) -> String {
    format!("\x1b[1m{s}\x1b[0m")
}

fn dim(s: &str) -> String {
    format!("\x1b[2m{s}\x1b[0m")
}

/// Slack's mrkdwn as a terminal would show it: links and dates by their labels, entities decoded.
fn mrkdwn(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find('<') {
        out.push_str(&rest[..start]);
        let Some(end) = rest[start..].find('>') else {
            break;
        };
        let inner = &rest[start + 1..start + end];
        let label = inner.rsplit('|').next().unwrap_or(inner);
        out.push_str(&if inner.starts_with('@') { inner.to_owned() } else { label.to_owned() });
        rest = &rest[start + end + 1..];
    }
    out.push_str(rest);
    out.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
}

/// A context block's elements, as a terminal shows them.
fn context_text(block: &Value) -> String {
    let parts: Vec<String> =
        block["elements"].as_array().into_iter().flatten().map(|e| mrkdwn(e["text"].as_str().unwrap_or(""))).collect();
    parts.join(" ")
}

fn print_message(n: usize, received: &Received) {
    let body = received.json();
    let blocks =
        body["blocks"].as_array().or_else(|| body["attachments"][0]["blocks"].as_array()).cloned().unwrap_or_default();
    let colour = body["attachments"][0]["color"].as_str().unwrap_or("");
    println!(
        "\n{} {}",
        bold(&format!("── Slack message #{n}")),
        dim(&format!(
            "(POST {}{})",
            received.path,
            if colour.is_empty() { String::new() } else { format!(", colour {colour}") }
        ))
    );
    println!("{} {}", dim("text:"), mrkdwn(body["text"].as_str().unwrap_or("")));
    println!("{} {}", dim("see it as Slack shows it:"), block_kit_builder_link(&body));
    for block in blocks {
        match block["type"].as_str() {
            Some("header") => println!("  {}", bold(block["text"]["text"].as_str().unwrap_or(""))),
            Some("section") => {
                if let Some(t) = block["text"]["text"].as_str() {
                    for line in mrkdwn(t).lines() {
                        println!("  {line}");
                    }
                }
                if let Some(fields) = block["fields"].as_array() {
                    let cells: Vec<String> =
                        fields.iter().map(|f| mrkdwn(f["text"].as_str().unwrap_or("")).replace('\n', ": ")).collect();
                    println!("  {}", cells.join("  │  "));
                }
            }
            Some("context") => println!("  {}", dim(&context_text(&block))),
            Some("divider") => println!("  {}", dim("────────")),
            Some("actions") => {
                let buttons: Vec<String> = block["elements"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|b| format!("[ {} ]", b["text"]["text"].as_str().unwrap_or("")))
                    .collect();
                println!("  {}", bold(&buttons.join(" ")));
            }
            _ => {}
        }
    }
}

/// Slack's Block Kit Builder with this message loaded: one click shows the real rendering.
fn block_kit_builder_link(body: &Value) -> String {
    let mut payload = serde_json::Map::new();
    for key in ["blocks", "attachments"] {
        if let Some(v) = body.get(key) {
            payload.insert(key.to_owned(), v.clone());
        }
    }
    let json = Value::Object(payload).to_string();
    let mut encoded = String::with_capacity(json.len() * 2);
    for b in json.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.!~*'()".contains(&b) {
            encoded.push(b as char);
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    format!("https://app.slack.com/block-kit-builder/#{encoded}")
}

/// One line per Web API call, as the stand-in saw it.
fn print_api_call(call: &ApiCall, message: Option<&StoredMessage>) {
    let what = match (call.method.as_str(), message) {
        ("chat.postMessage", Some(m)) if m.thread_ts.is_some() => {
            format!(
                "reply in thread {}{}",
                m.thread_ts.as_deref().unwrap_or(""),
                if m.broadcast { ", also sent to the channel" } else { "" }
            )
        }
        ("chat.postMessage", Some(m)) => format!("new message ts {}", m.ts),
        ("chat.update", Some(m)) => format!("message {} updated", m.ts),
        _ => format!("answered {}", call.answer),
    };
    let text = message.map(|m| m.header().map(str::to_owned).unwrap_or_else(|| mrkdwn(m.text()))).unwrap_or_default();
    println!(
        "   {} {} {} {}",
        bold(&format!("{:<16}", call.method)),
        call.body["channel"].as_str().unwrap_or(""),
        dim(&format!("({what})")),
        mrkdwn(&text)
    );
}

/// A channel as a person would see it: each message with its current header, note and thread.
fn print_channel(api: &SlackApiStandIn, channel: &str) {
    println!("\n   {}", bold(&format!("#{channel} now shows:")));
    for message in api.channel(channel) {
        let colour = message.color().unwrap_or("-");
        println!(
            "   ┃ {} {}",
            message.header().unwrap_or(message.text()),
            dim(&format!("(colour {colour}, updated {}×)", message.updates))
        );
        let blocks = message.body["attachments"][0]["blocks"].as_array().cloned().unwrap_or_default();
        for block in blocks.iter().filter(|b| b["type"] == "context").take(1) {
            println!("   ┃   {}", dim(&context_text(block)));
        }
        if message.text().starts_with("<!") {
            println!("   ┃   {}", dim("mentions the on-call group (route's mention, ALARM only)"));
        }
        for reply in api.thread(channel, &message.ts) {
            println!("   ┃   ↳ {}", mrkdwn(reply.text()));
        }
    }
}

fn now() -> String {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0).to_string()
}

/// A form body (a command or a button click) signed now with the app's secret, in the HTTP API envelope.
fn signed(body: &str) -> Value {
    event(Shape::HttpApi, &signed_headers(SIGNING_SECRET, &now(), body.as_bytes()), body.as_bytes(), false)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    println!("{}", bold("ChatOps on AWS Lambda, in Rust: local demo (no AWS account, no Slack workspace)"));

    println!(
        "\n{} moto server on loopback: KMS key, Auto Scaling group `{GROUP}` tagged chatops:scale=enabled",
        bold("1.")
    );
    let moto = Moto::shared();
    let key = moto.create_key().await;
    moto.create_group(GROUP, 1, 10, 2, Some("enabled")).await;
    println!(
        "   moto at {}; KMS key {key}; {GROUP}: min 1, max 10, desired {}",
        moto.endpoint,
        moto.desired_capacity(GROUP).await
    );

    println!("\n{} a local receiver stands where Slack is; it prints each message it receives", bold("2."));
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let slack = SlackStandIn::start_with(Some(tx)).await;
    let printer = tokio::spawn(async move {
        let mut n = 0;
        while let Some(received) = rx.recv().await {
            n += 1;
            print_message(n, &received);
        }
    });
    println!("   webhook URL {}", slack.url("/services/T000/B000/demo"));

    println!("\n{} secrets encrypted in KMS with each function's name as encryption context, as in AWS", bold("3."));
    let alarm_fn = format!("{STACK}-alarm-to-slack");
    let command_fn = format!("{STACK}-slack-command");
    let webhook_ct = moto.encrypt(&key, &slack.url("/services/T000/B000/demo"), Some(&alarm_fn)).await;
    let secret_ct = moto.encrypt(&key, SIGNING_SECRET, Some(&command_fn)).await;
    println!("   KMS_ENCRYPTED_SLACK_WEBHOOK_URL={}…", &webhook_ct[..32]);
    println!("   KMS_ENCRYPTED_SLACK_SIGNING_SECRET={}…", &secret_ct[..32]);

    println!("\n{} the real function binaries, each behind a Lambda Runtime API emulator", bold("4."));
    let alarm_bin = build_binary("alarm-to-slack", false);
    let command_bin = build_binary("slack-command", false);
    let codedeploy = CodeDeployStandIn::start().await;
    codedeploy.add_ready("d-7QX4Z2K9B", "orders", "orders-ecs-bg");
    let mut aws_env: Vec<(&str, String)> = moto.env();
    let alarm_runtime = RuntimeApi::start().await;
    aws_env.push(("CODEDEPLOY_DEPLOYMENT_GROUPS", "orders/orders-ecs-bg".into()));
    aws_env.push(("CODEDEPLOY_GREEN_URLS", "orders/orders-ecs-bg=https://green.orders.example.com".into()));
    aws_env.push(("AWS_LAMBDA_FUNCTION_NAME", alarm_fn.clone()));
    aws_env.push(("KMS_ENCRYPTED_SLACK_WEBHOOK_URL", webhook_ct));
    let env: Vec<(&str, &str)> = aws_env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let alarm_process = FunctionProcess::spawn(&alarm_bin, &alarm_runtime, &env);
    let mut aws_env: Vec<(&str, String)> = moto.env();
    aws_env.push(("AWS_LAMBDA_FUNCTION_NAME", command_fn.clone()));
    aws_env.push(("CODEDEPLOY_DEPLOYMENT_GROUPS", "orders/orders-ecs-bg".into()));
    // moto has no ContinueDeployment: CodeDeploy goes to a loopback stand-in, through the SDK's own setting.
    aws_env.push(("AWS_ENDPOINT_URL_CODEDEPLOY", codedeploy.endpoint()));
    aws_env.push(("KMS_ENCRYPTED_SLACK_SIGNING_SECRET", secret_ct));
    let command_runtime = RuntimeApi::start().await;
    let env: Vec<(&str, &str)> = aws_env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let command_process = FunctionProcess::spawn(&command_bin, &command_runtime, &env);
    println!("   {} (pid {}), {} (pid {})", alarm_fn, alarm_process.pid(), command_fn, command_process.pid());

    println!(
        "\n{} alarms published to alarm-to-slack, one of each shape in events/, and three other AWS services",
        bold("5.")
    );
    for name in [
        "sns-alarm-metric.json",
        "sns-alarm-metric-math.json",
        "sns-alarm-composite.json",
        "sns-alarm-ok-percentile.json",
        "alarm-action.json",
        "eventbridge-alarm-state-change.json",
        "sns-plain-text.json",
        "guardduty-finding.json",
        "backup-job-failed.json",
        "sns-budgets.json",
    ] {
        let before = slack.received().len();
        let inv = alarm_runtime.invoke(&fixture(name)).await;
        let outcome = match &inv.outcome {
            chatops_tests::runtime_api::Outcome::Response(b) => String::from_utf8_lossy(b).into_owned(),
            other => format!("{other:?}"),
        };
        slack.wait_for(before + 1, Duration::from_secs(2)).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        println!("\n   {} events/{name} → {outcome}", dim("invoked with"));
    }

    println!("\n{} /scale from \"Slack\": signed requests through the HTTP API envelope", bold("6."));
    let send = |text: &str, secret: &str| {
        let body = command_body("/scale", text, "U0DEMO", "T0DEMO");
        event(Shape::HttpApi, &signed_headers(secret, &now(), body.as_bytes()), body.as_bytes(), true)
    };
    for (label, request) in [
        (format!("/scale {GROUP}"), send(GROUP, SIGNING_SECRET)),
        (format!("/scale {GROUP} 4"), send(&format!("{GROUP} 4"), SIGNING_SECRET)),
        (format!("/scale {GROUP} 20"), send(&format!("{GROUP} 20"), SIGNING_SECRET)),
        (format!("/scale {GROUP} 9 (forged signature)"), send(&format!("{GROUP} 9"), "not-the-secret")),
    ] {
        let inv = command_runtime.invoke(&request).await;
        let response = inv.response_json();
        let body: Value = serde_json::from_str(response["body"].as_str().unwrap_or("")).unwrap_or(Value::Null);
        println!("\n   {} {}", bold(&label), dim(&format!("→ HTTP {}", response["statusCode"])));
        if let Some(text) = body["text"].as_str() {
            println!("   [{}] {}", body["response_type"].as_str().unwrap_or(""), mrkdwn(text).replace('\n', "\n   "));
        }
        println!("   {} desired capacity of {GROUP} in moto: {}", dim("→"), moto.desired_capacity(GROUP).await);
    }

    println!("\n{} a blue/green deployment is READY: the notifier posts it with its buttons", bold("7."));
    let before = slack.received().len();
    alarm_runtime.invoke(&fixture("codedeploy-ready.json")).await;
    let posted = slack.wait_for(before + 1, Duration::from_secs(2)).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut message = posted.last().map(|r| r.json()).unwrap_or_default();
    for action in ["codedeploy:switch", "codedeploy:switch", "codedeploy:terminate"] {
        let payload = serde_json::json!({
            "type": "block_actions",
            "user": {"id": "U0DEMO", "username": "demo"},
            "team": {"id": "T0DEMO"},
            "channel": {"id": "C0DEPLOYS", "name": "deploys"},
            "message": {"text": message["text"], "attachments": message["attachments"]},
            "response_url": slack.url("/actions/T0DEMO/1/demo"),
            "actions": [{"action_id": action, "block_id": "codedeploy:d-7QX4Z2K9B", "value": "d-7QX4Z2K9B", "type": "button"}]
        });
        let body = interaction_body(&payload);
        let before = slack.received().len();
        let inv = command_runtime.invoke(&signed(&body)).await;
        let got = slack.wait_for(before + 1, Duration::from_secs(3)).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        // Slack shows the replaced message from now on; later clicks come from it.
        if let Some(update) = got.last().map(|r| r.json()).filter(|u| u["replace_original"] == true) {
            message = update;
        }
        println!(
            "\n   {} {} → HTTP {}; CodeDeploy status now {}",
            bold("click"),
            action,
            inv.response_json()["statusCode"],
            codedeploy.deployment("d-7QX4Z2K9B").map(|d| d.status).unwrap_or_default()
        );
    }
    let calls: Vec<String> = codedeploy.changes().iter().map(|c| format!("{} {}", c.operation, c.body)).collect();
    println!("   CodeDeploy changes made: {}", calls.join("; "));

    println!(
        "\n{} alarm-to-slack with a bot token: the Web API, the state table in DynamoDB (moto), routes",
        bold("8.")
    );
    let table = moto.create_state_table().await;
    let (api_tx, mut api_rx) = tokio::sync::mpsc::unbounded_channel();
    let api = SlackApiStandIn::start_with(BOT_TOKEN, Some(api_tx)).await;
    let api_printer = tokio::spawn(async move {
        while let Some((call, message)) = api_rx.recv().await {
            print_api_call(&call, message.as_ref());
        }
    });
    let token_ct = moto.encrypt(&key, BOT_TOKEN, Some(&alarm_fn)).await;
    let routes = r#"[{"alarm": "payments-*", "channel": "C0PAYMENTS", "mention": "<!subteam^S0PAYONCALL>"}, {"labels": {"team": "payments"}, "channel": "C0PAYMENTS", "mention": "<!subteam^S0PAYONCALL>"}]"#;
    // moto has no GetMetricWidgetImage: the graphs come from the CloudWatch stand-in (the Query protocol).
    let cloudwatch = chatops_tests::CloudWatchStandIn::start().await;
    let mut bot_env: Vec<(&str, String)> = moto.env();
    bot_env.extend([
        ("METRIC_GRAPHS", "true".into()),
        ("AWS_ENDPOINT_URL_CLOUDWATCH", cloudwatch.url()),
        ("AWS_LAMBDA_FUNCTION_NAME", alarm_fn.clone()),
        ("KMS_ENCRYPTED_SLACK_BOT_TOKEN", token_ct.clone()),
        ("SLACK_API_URL", api.url()),
        ("SLACK_CHANNEL", "C0ALARMS".into()),
        ("SLACK_ROUTES", routes.into()),
        ("STATE_TABLE", table.clone()),
        ("ALERTMANAGER_TOKEN", ALERTMANAGER_TOKEN.into()),
    ]);
    println!("   STATE_TABLE={table} SLACK_CHANNEL=C0ALARMS SLACK_ROUTES={routes}");
    println!("   KMS_ENCRYPTED_SLACK_BOT_TOKEN={}…", &token_ct[..32]);
    let bot_runtime = RuntimeApi::start().await;
    let env: Vec<(&str, &str)> = bot_env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let bot_process = FunctionProcess::spawn(&alarm_bin, &bot_runtime, &env);
    let at = |minute: u32| format!("2026-11-20T09:{minute:02}:00.000+0000");
    for (label, event) in [
        ("api-high-cpu ALARM", sns_alarm("api-high-cpu", "ALARM", "OK", &at(0), "demo-1", "cloudwatch-alarms")),
        (
            "api-high-cpu OK, 12 minutes later",
            sns_alarm("api-high-cpu", "OK", "ALARM", &at(12), "demo-2", "cloudwatch-alarms"),
        ),
        ("api-high-cpu ALARM again", sns_alarm("api-high-cpu", "ALARM", "OK", &at(30), "demo-3", "cloudwatch-alarms")),
        (
            "payments-5xx ALARM (routed, mentions on-call)",
            sns_alarm("payments-5xx", "ALARM", "OK", &at(31), "demo-4", "cloudwatch-alarms"),
        ),
        (
            "payments-5xx ALARM redelivered by SNS (same MessageId)",
            sns_alarm("payments-5xx", "ALARM", "OK", &at(31), "demo-4", "cloudwatch-alarms"),
        ),
    ] {
        println!("\n   {} {label}", dim("published"));
        let inv = bot_runtime.invoke(&event).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        let outcome = match &inv.outcome {
            chatops_tests::runtime_api::Outcome::Response(b) => String::from_utf8_lossy(b).into_owned(),
            other => format!("{other:?}"),
        };
        println!("   {} {outcome}", dim("→ invocation answered"));
    }
    // Prometheus, through Alertmanager's webhook: the same function, the same routes (by label).
    for name in ["alertmanager-firing.json", "alertmanager-resolved.json"] {
        let headers = vec![
            ("Content-Type".to_owned(), "application/json".to_owned()),
            ("Authorization".to_owned(), format!("Bearer {ALERTMANAGER_TOKEN}")),
        ];
        let request = event_at(Shape::HttpApi, "/alertmanager", "", &headers, &fixture(name).to_string(), false);
        println!("\n   {} events/{name} (Alertmanager, team=payments)", dim("POST /alertmanager"));
        let inv = bot_runtime.invoke(&request).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        let answer = inv.response_json();
        println!("   {} HTTP {} {}", dim("→"), answer["statusCode"], answer["body"].as_str().unwrap_or(""));
    }
    print_channel(&api, "C0ALARMS");
    print_channel(&api, "C0PAYMENTS");
    // The graphs: what CloudWatch was asked to draw, and the last PNG Slack received, to open.
    if let (Some(widget), Some(file)) = (cloudwatch.widgets().last().cloned(), api.files().last().cloned()) {
        let dir = chatops_tests::workspace_root().join("target").join("demo");
        let path = dir.join(&file.filename);
        let written =
            std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(&path, file.content.unwrap_or_default()));
        println!(
            "\n   {} {} graphs drawn by CloudWatch (GetMetricWidgetImage) and shown in their messages by chat.update",
            dim("graphs:"),
            cloudwatch.widgets().len()
        );
        println!("   {} {}", dim("the last MetricWidget:"), widget);
        match written {
            Ok(()) => {
                println!("   {} {}  (alt text: {})", dim("its PNG:"), path.display(), file.alt_text.unwrap_or_default())
            }
            Err(err) => println!("   {} {err}", dim("its PNG could not be written:")),
        }
    }
    let claims = moto.items(&table).await;
    println!("\n   {} {} items in the state table:", dim("DynamoDB:"), claims.len());
    for item in &claims {
        let shown: Vec<String> = ["state", "status", "channel", "ts", "changes", "expires_at"]
            .iter()
            .filter_map(|k| item.get(*k).map(|v| format!("{k}={v}")))
            .collect();
        println!("   {} {}", item["pk"], dim(&shown.join(" ")));
    }
    drop(bot_process);

    println!(
        "\n{} deploy by @mention: the Events API, the deploy mapping in Secrets Manager (moto), a GitLab stand-in",
        bold("9.")
    );
    let ci = CiStandIn::start(GITLAB_TRIGGER, "unused").await;
    let mapping = serde_json::json!({"T0DEMO": {"C0OPS": {
        "orders": {"provider": "gitlab", "project_id": "42", "ref": "main", "token": GITLAB_TRIGGER}
    }}});
    let mapping_arn = moto.create_secret(&mapping.to_string()).await;
    let command_token_ct = moto.encrypt(&key, BOT_TOKEN, Some(&command_fn)).await;
    let notify_ct = moto.encrypt(&key, NOTIFY_TOKEN, Some(&command_fn)).await;
    let secret_ct = moto.encrypt(&key, SIGNING_SECRET, Some(&command_fn)).await;
    let mut deploy_env: Vec<(&str, String)> = moto.env();
    deploy_env.extend([
        ("AWS_LAMBDA_FUNCTION_NAME", command_fn.clone()),
        ("KMS_ENCRYPTED_SLACK_SIGNING_SECRET", secret_ct),
        ("KMS_ENCRYPTED_SLACK_BOT_TOKEN", command_token_ct),
        ("KMS_ENCRYPTED_DEPLOY_NOTIFY_TOKEN", notify_ct),
        ("SLACK_API_URL", api.url()),
        ("STATE_TABLE", table.clone()),
        ("DEPLOY_TARGETS_SECRET_ARN", mapping_arn.clone()),
        ("GITLAB_URL", ci.url()),
    ]);
    println!("   DEPLOY_TARGETS_SECRET_ARN={mapping_arn}");
    println!(
        "   mapping: T0DEMO / C0OPS / orders -> gitlab project 42, ref main (the trigger token stays in the secret)"
    );
    let deploy_runtime = RuntimeApi::start().await;
    let env: Vec<(&str, &str)> = deploy_env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let deploy_process = FunctionProcess::spawn(&command_bin, &deploy_runtime, &env);
    let text = "<@U0CHATOPS> release orders";
    let mention_ts = api.user_message("C0OPS", text);
    let delivery = |retry: Option<&str>| {
        let body = mention_body("Ev0DEMO1", "T0DEMO", "U0DEMO", "C0OPS", &mention_ts, text);
        // Slack signs each retry anew: its own timestamp (here a second apart), so its own signature.
        let signed_at = now().parse::<i64>().unwrap_or(0) - i64::from(retry.is_some());
        let mut headers = signed_headers(SIGNING_SECRET, &signed_at.to_string(), body.as_bytes());
        if let Some(n) = retry {
            headers.push(("X-Slack-Retry-Num".into(), n.into()));
        }
        event_at(Shape::HttpApi, "/slack/events", "", &headers, &body, false)
    };
    for (label, request) in [
        (format!("U0DEMO in #C0OPS: {text}"), delivery(None)),
        ("Slack retries the same event (X-Slack-Retry-Num: 1)".to_owned(), delivery(Some("1"))),
    ] {
        println!("\n   {} {label}", dim("POST /slack/events"));
        let started = std::time::Instant::now();
        let inv = deploy_runtime.invoke(&request).await;
        println!(
            "   {} HTTP {} in {} ms; pipelines started on GitLab so far: {}",
            dim("→"),
            inv.response_json()["statusCode"],
            started.elapsed().as_millis(),
            ci.started().len()
        );
    }
    if let Some(call) = ci.started().first() {
        let vars: Vec<String> = call
            .fields
            .iter()
            .filter(|(k, _)| k.starts_with("variables[") || k.as_str() == "ref")
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        println!("   {} {}", dim("GitLab received:"), vars.join(" "));
    }
    let callback =
        serde_json::json!({"result": "success", "channel": "C0OPS", "thread_ts": mention_ts, "project": "orders"});
    for (label, token) in [("without the token", None), ("from the pipeline's notify job", Some(NOTIFY_TOKEN))] {
        let headers: Vec<(String, String)> =
            token.map(|t| vec![("Authorization".to_owned(), format!("Bearer {t}"))]).unwrap_or_default();
        let inv = deploy_runtime
            .invoke(&event_at(Shape::HttpApi, "/deploy/notify", "", &headers, &callback.to_string(), false))
            .await;
        println!(
            "\n   {} {label} {}",
            dim("POST /deploy/notify"),
            dim(&format!("→ HTTP {} {}", inv.response_json()["statusCode"], inv.response_json()["body"]))
        );
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    println!("\n   {}", bold("#C0OPS now shows:"));
    if let Some(m) = api.message("C0OPS", &mention_ts) {
        println!("   ┃ {} {}", mrkdwn(m.text()), dim(&format!("(reactions: {})", m.reactions.join(", "))));
    }
    for reply in api.thread("C0OPS", &mention_ts) {
        println!("   ┃   ↳ {}", mrkdwn(reply.text()));
    }

    println!(
        "\n{} four eyes: CHATOPS_POLICY lets anyone scale web-* by up to 2 at once; more needs U0LEAD's approval",
        bold("10.")
    );
    let policy = serde_json::json!({"rules": [{
        "name": "web-scaling", "actions": ["scale"], "resources": ["web-*"], "requesters": ["*"],
        "approval": {"when": {"scale_change_over": 2}, "approvers": ["U0LEAD"], "channel": "C0APPROVE"}
    }]});
    println!("   CHATOPS_POLICY={policy}");
    let mut policy_env = deploy_env.clone();
    policy_env.push(("CHATOPS_POLICY", policy.to_string()));
    let policy_runtime = RuntimeApi::start().await;
    let env: Vec<(&str, &str)> = policy_env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let policy_process = FunctionProcess::spawn(&command_bin, &policy_runtime, &env);
    let mut request_id = String::new();
    for text in [format!("{GROUP} 5"), format!("{GROUP} 9 -- launch day")] {
        let body = command_body("/scale", &text, "U0DEMO", "T0DEMO");
        let inv = policy_runtime.invoke(&signed(&body)).await;
        let answer: Value =
            serde_json::from_str(inv.response_json()["body"].as_str().unwrap_or("")).unwrap_or(Value::Null);
        let shown = answer["text"].as_str().unwrap_or("");
        if let Some(at) = shown.find("`R-") {
            request_id = shown[at + 1..at + 11].to_owned();
        }
        println!(
            "\n   {} {}",
            bold(&format!("U0DEMO: /scale {text}")),
            dim(&format!("→ HTTP {}", inv.response_json()["statusCode"]))
        );
        println!("   [{}] {}", answer["response_type"].as_str().unwrap_or(""), mrkdwn(shown));
        println!("   {} desired capacity of {GROUP} in moto: {}", dim("→"), moto.desired_capacity(GROUP).await);
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    for (n, user) in ["U0DEMO", "U0LEAD"].into_iter().enumerate() {
        let payload = serde_json::json!({
            "type": "block_actions", "team": {"id": "T0DEMO"}, "user": {"id": user, "username": user},
            "channel": {"id": "C0APPROVE", "name": "approvals"},
            "response_url": slack.url(&format!("/actions/T0DEMO/approval/{n}")),
            "message": {"text": "approval", "blocks": []},
            "actions": [{"action_id": "approval:approve", "value": request_id, "block_id": "b", "action_ts": format!("1.{n}")}]
        });
        let body = interaction_body(&payload);
        let click = signed(&body);
        println!("\n   {} {user} clicks [Approve] on {request_id}", dim("POST /slack/interactions"));
        let inv = policy_runtime.invoke(&click).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        println!(
            "   {} HTTP {}; desired capacity of {GROUP} in moto: {}",
            dim("→"),
            inv.response_json()["statusCode"],
            moto.desired_capacity(GROUP).await
        );
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    api_printer.abort();

    println!("\n{} the audit lines slack-command wrote", bold("11."));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut audit_lines = command_process.json_logs();
    audit_lines.extend(deploy_process.json_logs());
    audit_lines.extend(policy_process.json_logs());
    for line in audit_lines.iter().filter(|l| l["fields"]["kind"] == "audit") {
        let f = &line["fields"];
        println!(
            "   {} user={} command={:?} text={:?} decision={} reason={} before={} after={} pipeline={} approval={} latency_ms={}",
            dim("audit"),
            f["user_id"].as_str().unwrap_or(""),
            f["command"].as_str().unwrap_or(""),
            f["text"].as_str().unwrap_or(""),
            f["decision"].as_str().unwrap_or(""),
            f["reason"].as_str().unwrap_or("-"),
            f["before"],
            f["after"],
            f["pipeline"].as_str().unwrap_or("-"),
            f["approval_step"]
                .as_str()
                .map_or("-".to_owned(), |step| format!("{step}:{}", f["approval_request"].as_str().unwrap_or(""))),
            f["latency_ms"]
        );
    }
    println!(
        "\n{} one alarm to Mattermost, Microsoft Teams and Discord: CHAT_PLATFORM picks the renderer",
        bold("12.")
    );
    for platform in ["mattermost", "teams", "discord"] {
        let standin = SlackStandIn::start().await;
        if platform != "mattermost" {
            // Teams' Workflows answer 202, Discord 204: any 2xx is a delivery.
            standin.always(Reply::status(if platform == "teams" { 202 } else { 204 }, ""));
        }
        let runtime = RuntimeApi::start().await;
        let url = standin.url("/hook");
        let env = [("SLACK_WEBHOOK_URL", url.as_str()), ("CHAT_PLATFORM", platform)];
        let _process = FunctionProcess::spawn(&alarm_bin, &runtime, &env);
        let inv = runtime.invoke(&fixture("sns-alarm-metric.json")).await;
        let received = standin.received();
        println!(
            "\n   {} {platform} stand-in received ({} request, invocation → {}):",
            bold(&format!("{platform}:")),
            received.len(),
            inv.response_json()
        );
        if let Some(r) = received.first() {
            let pretty = serde_json::to_string_pretty(&r.json()).unwrap_or_default();
            for line in pretty.lines() {
                println!("     {}", dim(line));
            }
        }
    }

    println!(
        "\n{} an alarm storm: 60 alarms reach one channel within 3 s, 4 containers, the Web API stand-in enforcing Slack's rate limits",
        bold("13.")
    );
    let (storm, storm_api) = chatops_tests::storm::run(&chatops_tests::storm::Burst {
        alarms: 60,
        processes: 4,
        spread: std::time::Duration::from_secs(3),
        ..Default::default()
    })
    .await;
    println!("   {}", storm.summary());
    for message in storm_api.channel(&chatops_tests::storm::channel_id(0)) {
        let text = message.all_text();
        if !text.contains("Alarm storm") {
            println!("   own message: {}", dim(message.text()));
            continue;
        }
        println!(
            "   {} (updated {} times, ts {}):",
            bold("the digest message as the channel shows it at the end"),
            message.updates,
            message.ts
        );
        let shown = text.lines().filter(|l| !matches!(*l, "plain_text" | "header" | "mrkdwn" | "section" | "context"));
        for line in shown.take(8) {
            println!("     {}", dim(line));
        }
        println!("     {}", dim(&format!("… {} lines in all", text.lines().count())));
    }

    incident_demo(moto, &alarm_bin, &command_bin).await;
    alert_actions_demo(moto, &alarm_bin, &command_bin).await;
    organisation_demo(moto, &alarm_bin).await;
    context_demo(moto, &alarm_bin, &command_bin).await;
    status_demo(moto, &alarm_bin, &command_bin).await;
    private_incident_demo(moto, &command_bin).await;
    report_demo(moto, &command_bin).await;

    drop(slack);
    printer.abort();
    println!(
        "\n{} {} Slack messages delivered; {GROUP} now at desired capacity {}.",
        bold("Done."),
        alarm_process.json_logs().iter().filter(|l| l["fields"]["outcome"] == "delivered").count(),
        moto.desired_capacity(GROUP).await
    );
}

/// An incident from an alarm's [Declare incident] to the post-mortem draft: both binaries, the state
/// table on moto, the Web API stand-in; prints the channel, the announcement, the timeline and the file.
async fn incident_demo(moto: &Moto, alarm_bin: &std::path::Path, command_bin: &std::path::Path) {
    println!(
        "\n{} acting on an alert and an incident: [Acknowledge] and [Declare incident] on a paging alarm, /incident status, sev, a 📌, resolve with a post-mortem draft",
        bold("14.")
    );
    let table = moto.create_state_table().await;
    let api = SlackApiStandIn::start(BOT_TOKEN).await;
    api.use_real_clock();
    api.set_usergroup("S0SRE", &["U0SRE1", "U0SRE2"]);
    let hooks = SlackStandIn::start().await;
    let mut alarm_env: Vec<(&str, String)> = moto.env();
    alarm_env.extend([
        ("SLACK_BOT_TOKEN", BOT_TOKEN.to_owned()),
        ("SLACK_API_URL", api.url()),
        ("SLACK_CHANNEL", "C0ALARMS".to_owned()),
        ("STATE_TABLE", table.clone()),
    ]);
    let mut command_env: Vec<(&str, String)> = moto.env();
    command_env.extend([
        ("SLACK_SIGNING_SECRET", SIGNING_SECRET.to_owned()),
        ("SLACK_BOT_TOKEN", BOT_TOKEN.to_owned()),
        ("SLACK_API_URL", api.url()),
        ("STATE_TABLE", table.clone()),
        ("INCIDENTS_CHANNEL", "C0INCIDENTS".to_owned()),
        ("INCIDENT_RESPONDERS", "U0ONCALL,S0SRE".to_owned()),
    ]);
    println!("   INCIDENTS_CHANNEL=C0INCIDENTS INCIDENT_RESPONDERS=U0ONCALL,S0SRE (S0SRE: U0SRE1, U0SRE2)");
    let alarm_runtime = RuntimeApi::start().await;
    let env: Vec<(&str, &str)> = alarm_env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let _alarm_process = FunctionProcess::spawn(alarm_bin, &alarm_runtime, &env);
    let command_runtime = RuntimeApi::start().await;
    let env: Vec<(&str, &str)> = command_env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let command_process = FunctionProcess::spawn(command_bin, &command_runtime, &env);

    let alarm = sns_alarm("checkout-5xx", "ALARM", "OK", "2026-11-20T09:41:00.000+0000", "inc-demo-1", "alarms");
    alarm_runtime.invoke(&alarm).await;
    let Some(alert) = api.channel("C0ALARMS").into_iter().next() else {
        println!("   the alarm was not posted: {}", _alarm_process.output());
        return;
    };
    let button = alert.button("incident:declare").unwrap_or(Value::Null);
    let ack_text = alert.button("alert:ack").map(|b| b["text"]["text"].as_str().unwrap_or("?").to_owned());
    println!(
        "\n   {} #C0ALARMS shows checkout-5xx in ALARM, with [ {} ] [ {} ]",
        dim("alarm-to-slack:"),
        ack_text.as_deref().unwrap_or("?"),
        button["text"]["text"].as_str().unwrap_or("?")
    );

    // On call acknowledges first: recorded on the alarm's record; its repeats no longer page.
    if let Some(ack) = alert.button("alert:ack") {
        let payload = serde_json::json!({
            "type": "block_actions", "team": {"id": "T0DEMO"}, "user": {"id": "U0ONCALL", "username": "oncall"},
            "channel": {"id": "C0ALARMS", "name": "alarms"},
            "container": {"type": "message", "message_ts": alert.ts, "channel_id": "C0ALARMS"},
            "response_url": hooks.url("/actions/T0DEMO/ack/1"),
            "message": {"ts": alert.ts, "text": alert.text(), "attachments": alert.body["attachments"]},
            "actions": [{"action_id": "alert:ack", "block_id": "alert-actions", "value": ack["value"], "action_ts": "1.0"}]
        });
        let inv = command_runtime.invoke(&signed(&interaction_body(&payload))).await;
        let got = hooks.wait_for(1, Duration::from_secs(3)).await;
        let line = got
            .first()
            .and_then(|r| r.json()["attachments"][0]["blocks"].as_array().and_then(|b| b.last().map(context_text)))
            .unwrap_or_default();
        println!(
            "\n   {} U0ONCALL clicks [Acknowledge] → HTTP {}; the alert now shows: {}",
            dim("POST /slack/interactions"),
            inv.response_json()["statusCode"],
            bold(&line)
        );
    }
    let payload = serde_json::json!({
        "type": "block_actions", "team": {"id": "T0DEMO"}, "user": {"id": "U0DEMO", "username": "demo"},
        "channel": {"id": "C0ALARMS", "name": "alarms"},
        "container": {"type": "message", "message_ts": alert.ts, "channel_id": "C0ALARMS"},
        "response_url": hooks.url("/actions/T0DEMO/incident/1"),
        "message": {"ts": alert.ts, "text": alert.text(), "attachments": alert.body["attachments"]},
        "actions": [{"action_id": "incident:declare", "block_id": "incident", "value": button["value"], "action_ts": "1.1"}]
    });
    let started = std::time::Instant::now();
    let inv = command_runtime.invoke(&signed(&interaction_body(&payload))).await;
    let got = hooks.wait_for(2, Duration::from_secs(3)).await;
    let got = &got[got.len().saturating_sub(1)..];
    println!(
        "\n   {} U0DEMO clicks [Declare incident] → HTTP {} in {} ms",
        dim("POST /slack/interactions"),
        inv.response_json()["statusCode"],
        started.elapsed().as_millis()
    );
    if let Some(replaced) = got.first().map(Received::json) {
        let line = replaced["attachments"][0]["blocks"]
            .as_array()
            .and_then(|b| b.last())
            .map(context_text)
            .unwrap_or_default();
        println!("   {} the alert now shows: {}", dim("response_url:"), bold(&line));
    }
    let Some(channel) = api.channels().into_iter().next() else {
        println!("   no channel was created: {}", command_process.output());
        return;
    };
    let say = |user: &'static str, text: &'static str| {
        let body = command_body("/incident", text, user, "T0DEMO")
            .replace("channel_id=C0123ABCD", &format!("channel_id={}", channel.id))
            .replace("trigger_id=1234.5678.abcdef", &format!("trigger_id={text}"));
        signed(&body)
    };
    let graph = api.user_message_as(&channel.id, "U0SRE1", "checkout p99 at 4.2 s, pool at 100/100 connections");
    let pin = serde_json::json!({
        "type": "event_callback", "team_id": "T0DEMO", "event_id": "Ev0DEMOPIN",
        "event": {"type": "reaction_added", "user": "U0DEMO", "reaction": "pushpin",
                  "item": {"type": "message", "channel": channel.id, "ts": graph}}
    })
    .to_string();
    let mut steps: Vec<(String, Value)> = vec![
        (
            "U0DEMO: /incident status Pool exhausted; raising it".into(),
            say("U0DEMO", "status Pool exhausted; raising it"),
        ),
        ("U0DEMO: /incident sev 1".into(), say("U0DEMO", "sev 1")),
    ];
    let headers = signed_headers(SIGNING_SECRET, &now(), pin.as_bytes());
    steps.push((
        "U0DEMO reacts 📌 to U0SRE1's message".into(),
        event_at(Shape::HttpApi, "/slack/events", "", &headers, &pin, false),
    ));
    steps.push((
        "U0SRE1: /incident resolve Pool raised to 200".into(),
        say("U0SRE1", "resolve Pool raised to 200; release 42 rolled back"),
    ));
    for (label, request) in steps {
        let started = std::time::Instant::now();
        let inv = command_runtime.invoke(&request).await;
        let body: Value =
            serde_json::from_str(inv.response_json()["body"].as_str().unwrap_or("")).unwrap_or(Value::Null);
        println!(
            "\n   {} {}",
            bold(&label),
            dim(&format!("→ HTTP {} in {} ms", inv.response_json()["statusCode"], started.elapsed().as_millis()))
        );
        if let Some(text) = body["text"].as_str() {
            println!("   {}", mrkdwn(text));
        }
    }
    let channel = api.channels().into_iter().next().unwrap_or_default();
    println!("\n   {} #{} ({})", bold("the incident's channel:"), channel.name, channel.id);
    println!("   members: {}", channel.members.join(", "));
    println!("   topic: {}", mrkdwn(&channel.topic));
    for m in api.channel(&channel.id) {
        let pinned = if m.pinned { " 📌 pinned" } else { "" };
        let first = mrkdwn(m.text());
        println!("   ┃ {}{}", first.lines().next().unwrap_or(""), dim(pinned));
        if first.starts_with("Timeline") {
            for line in mrkdwn(&m.all_text()).lines().filter(|l| l.starts_with('`')) {
                println!("   ┃   {line}");
            }
        }
    }
    if let Some(a) = api.channel("C0INCIDENTS").first() {
        println!(
            "\n   {} {} {}",
            bold("#C0INCIDENTS (the announcement, updated in place):"),
            mrkdwn(a.text()),
            dim(&format!("(colour {}, updated {} times)", a.color().unwrap_or("-"), a.updates))
        );
    }
    // The alarm recovers: the notifier updates the alert and keeps the incident's line on it.
    let ok = sns_alarm("checkout-5xx", "OK", "ALARM", "2026-11-20T10:05:00.000+0000", "inc-demo-2", "alarms");
    alarm_runtime.invoke(&ok).await;
    if let Some(alert) = api.message("C0ALARMS", &alert.ts) {
        let text = alert.all_text();
        let kept = text.lines().find(|l| l.contains("INC-")).unwrap_or("(no incident line)");
        println!(
            "   {} {} {}",
            bold("#C0ALARMS, the alert after checkout-5xx went OK:"),
            mrkdwn(alert.header().unwrap_or("")),
            dim(&format!("· {}", mrkdwn(kept)))
        );
    }
    for file in api.files() {
        let (shared_in, title, _) = file.shared.clone().unwrap_or_default();
        println!(
            "\n   {} {} ({} bytes) shared in {shared_in} as \"{title}\":",
            bold("file"),
            file.filename,
            file.length
        );
        for line in file.text().lines() {
            println!("     {}", dim(line));
        }
    }
}

/// Mute → the schedule → unmute on a CloudWatch alarm (moto's CloudWatch and EventBridge Scheduler),
/// and a silence of an Alertmanager group through its API (a stand-in), expired by its button.
async fn alert_actions_demo(moto: &Moto, alarm_bin: &std::path::Path, command_bin: &std::path::Path) {
    use chatops_tests::alertmanager_api_standin::AlertmanagerApiStandIn;
    println!(
        "\n{} acting on alerts: [Mute 1 h] (CloudWatch + a one-time schedule, read back from moto and fired), [Silence 1 h] in Alertmanager",
        bold("15.")
    );
    let table = moto.create_state_table().await;
    let group = moto.create_schedule_group().await;
    moto.put_alarm("checkout-latency").await;
    let api = SlackApiStandIn::start(BOT_TOKEN).await;
    let hooks = SlackStandIn::start().await;
    let alertmanager = AlertmanagerApiStandIn::start("demo-am-token").await;
    let common = [
        ("SLACK_BOT_TOKEN", BOT_TOKEN.to_owned()),
        ("SLACK_API_URL", api.url()),
        ("STATE_TABLE", table.clone()),
        ("MUTABLE_ALARMS", "checkout-*".to_owned()),
        ("ALERTMANAGER_URL", alertmanager.url()),
    ];
    let mut alarm_env: Vec<(&str, String)> = moto.env();
    alarm_env.extend(common.iter().cloned());
    alarm_env.extend([("SLACK_CHANNEL", "C0ALARMS".to_owned()), ("ALERTMANAGER_TOKEN", ALERTMANAGER_TOKEN.to_owned())]);
    let mut command_env: Vec<(&str, String)> = moto.env();
    command_env.extend(common.iter().cloned());
    command_env.extend([
        ("SLACK_SIGNING_SECRET", SIGNING_SECRET.to_owned()),
        ("ALERTMANAGER_API_TOKEN", "demo-am-token".to_owned()),
        ("SCHEDULE_GROUP", group.clone()),
        ("SCHEDULER_ROLE_ARN", "arn:aws:iam::123456789012:role/chatops-scheduler".to_owned()),
        ("SCHEDULE_TARGET_ARN", "arn:aws:lambda:eu-west-1:123456789012:function:chatops-demo-slack-command".to_owned()),
    ]);
    println!("   MUTABLE_ALARMS=checkout-* SCHEDULE_GROUP={group} ALERTMANAGER_URL={}", alertmanager.url());
    let alarm_runtime = RuntimeApi::start().await;
    let env: Vec<(&str, &str)> = alarm_env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let _alarm_process = FunctionProcess::spawn(alarm_bin, &alarm_runtime, &env);
    let command_runtime = RuntimeApi::start().await;
    let env: Vec<(&str, &str)> = command_env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let _command_process = FunctionProcess::spawn(command_bin, &command_runtime, &env);

    let click = |channel: &str, ts: &str, action: &str, value: &Value, n: usize| {
        let message = api.message(channel, ts).unwrap_or_else(|| StoredMessage {
            channel: channel.to_owned(),
            ts: ts.to_owned(),
            thread_ts: None,
            body: Value::Null,
            broadcast: false,
            updates: 0,
            reactions: Vec::new(),
            pinned: false,
        });
        let payload = serde_json::json!({
            "type": "block_actions", "team": {"id": "T0DEMO"}, "user": {"id": "U0ONCALL", "username": "oncall"},
            "channel": {"id": channel, "name": "alarms"},
            "container": {"type": "message", "message_ts": ts, "channel_id": channel},
            "response_url": hooks.url(&format!("/actions/T0DEMO/alert/{n}")),
            "message": {"ts": ts, "text": message.text(), "attachments": message.body["attachments"]},
            "actions": [{"action_id": action, "block_id": "alarm-mute", "value": value, "action_ts": format!("2.{n}")}]
        });
        signed(&interaction_body(&payload))
    };
    let last_line = |hooks: &SlackStandIn| {
        hooks
            .received()
            .last()
            .and_then(|r| {
                let body = r.json();
                let blocks =
                    body["attachments"][0]["blocks"].as_array().or_else(|| body["blocks"].as_array()).cloned()?;
                blocks.iter().rev().find(|b| b["type"] == "context").map(context_text)
            })
            .unwrap_or_default()
    };

    let alarm = sns_alarm("checkout-latency", "ALARM", "OK", "2026-11-20T10:00:00.000+0000", "mute-demo-1", "alarms");
    alarm_runtime.invoke(&alarm).await;
    let Some(alert) = api.channel("C0ALARMS").into_iter().next() else { return };
    let Some(mute) = alert.button("alarm:mute") else {
        println!("   no mute button on the alarm");
        return;
    };
    println!(
        "\n   {} checkout-latency in ALARM; actions enabled in CloudWatch: {}",
        dim("alarm-to-slack:"),
        moto.alarm_actions_enabled("checkout-latency").await
    );
    command_runtime.invoke(&click("C0ALARMS", &alert.ts, "alarm:mute", &mute["value"], 1)).await;
    hooks.wait_for(1, Duration::from_secs(3)).await;
    println!(
        "   {} U0ONCALL clicks [Mute 1 h]: {}; actions enabled: {}",
        dim("POST /slack/interactions"),
        bold(&last_line(&hooks)),
        moto.alarm_actions_enabled("checkout-latency").await
    );
    let schedules = moto.schedules(&group).await;
    for (name, expression, input) in &schedules {
        println!("   {} {name} {expression} → {input}", dim("schedule:"));
    }
    if let Some((_, _, input)) = schedules.first() {
        // The hour passes (the mute's end moved into the past in the table), and the scheduler fires.
        moto.set_past(&table, "lifecycle#", "mute_until").await;
        let fired = command_runtime.invoke(input).await.response_json();
        println!(
            "   {} the schedule fires → {fired}; actions enabled: {}",
            dim("EventBridge Scheduler:"),
            moto.alarm_actions_enabled("checkout-latency").await
        );
        if let Some(m) = api.message("C0ALARMS", &alert.ts) {
            let line = m.all_text().lines().find(|l| l.contains("Unmuted")).unwrap_or("").to_owned();
            println!("   {} {}", dim("the alert now shows:"), mrkdwn(&line));
        }
    }

    let headers = vec![
        ("Content-Type".to_owned(), "application/json".to_owned()),
        ("Authorization".to_owned(), format!("Bearer {ALERTMANAGER_TOKEN}")),
    ];
    let firing = event_at(
        Shape::HttpApi,
        "/alertmanager",
        "",
        &headers,
        &fixture("alertmanager-firing.json").to_string(),
        false,
    );
    alarm_runtime.invoke(&firing).await;
    let Some(group_message) = api.channel("C0ALARMS").into_iter().find(|m| m.button("alertmanager:silence").is_some())
    else {
        return;
    };
    let silence = group_message.button("alertmanager:silence").unwrap_or(Value::Null);
    command_runtime.invoke(&click("C0ALARMS", &group_message.ts, "alertmanager:silence", &silence["value"], 2)).await;
    hooks.wait_for(2, Duration::from_secs(3)).await;
    println!(
        "\n   {} U0ONCALL clicks [Silence 1 h] on HighRequestLatency: {}",
        dim("POST /slack/interactions"),
        bold(&last_line(&hooks))
    );
    for s in alertmanager.silences() {
        println!(
            "   {} silence {}: matchers {} by {:?}, {} → {}",
            dim("Alertmanager received:"),
            s.id,
            s.body["matchers"],
            s.body["createdBy"],
            s.body["startsAt"],
            s.body["endsAt"]
        );
        let expire = serde_json::json!({"k": "alertmanager", "s": s.id}).to_string();
        let body = hooks.received().last().map(|r| r.json()).unwrap_or(Value::Null);
        let value = body["attachments"][0]["blocks"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|b| b["elements"].as_array().cloned().unwrap_or_default())
            .find(|e| e["action_id"] == "alertmanager:expire")
            .map(|e| e["value"].clone())
            .unwrap_or(Value::String(expire));
        command_runtime.invoke(&click("C0ALARMS", &group_message.ts, "alertmanager:expire", &value, 3)).await;
        hooks.wait_for(3, Duration::from_secs(3)).await;
        println!(
            "   {} [Expire silence]: {}; expired in Alertmanager: {}",
            dim("POST /slack/interactions"),
            bold(&last_line(&hooks)),
            alertmanager.silences()[0].expired
        );
    }
}

/// The context at the alert: a `/scale`, then an alarm on a Lambda function that shows it as a recent
/// change, its graph (the CloudWatch stand-in draws it), and [Show logs] with its lines from moto's Logs.
async fn context_demo(moto: &Moto, alarm_bin: &std::path::Path, command_bin: &std::path::Path) {
    println!(
        "\n{} the context at the alert: a /scale, then an alarm showing it as a recent change, its graph, and [Show logs] (moto's CloudWatch Logs)",
        bold("17.")
    );
    let table = moto.create_state_table().await;
    let api = SlackApiStandIn::start(BOT_TOKEN).await;
    let hooks = SlackStandIn::start().await;
    let cloudwatch = chatops_tests::CloudWatchStandIn::start().await;
    let function = format!("checkout-api-{}", std::process::id());
    let now_s = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
    let lines: Vec<(i64, String)> = (0..12)
        .map(|i| {
            let message = match i {
                7 => "ERROR card processor timed out after 3000 ms (order 4411)".to_owned(),
                _ => format!("POST /checkout 200 {}ms", 40 + i * 3),
            };
            ((now_s - 240 + i * 15) * 1000, message)
        })
        .collect();
    moto.create_log_group(&format!("/aws/lambda/{function}"), &lines).await;
    let mut alarm_env: Vec<(&str, String)> = moto.env();
    alarm_env.extend([
        ("SLACK_BOT_TOKEN", BOT_TOKEN.to_owned()),
        ("SLACK_API_URL", api.url()),
        ("STATE_TABLE", table.clone()),
        ("SLACK_CHANNEL", "C0DEMO".to_owned()),
        ("METRIC_GRAPHS", "true".to_owned()),
        ("AWS_ENDPOINT_URL_CLOUDWATCH", cloudwatch.url()),
    ]);
    let mut command_env: Vec<(&str, String)> = moto.env();
    command_env.extend([
        ("SLACK_BOT_TOKEN", BOT_TOKEN.to_owned()),
        ("SLACK_API_URL", api.url()),
        ("STATE_TABLE", table.clone()),
        ("SLACK_SIGNING_SECRET", SIGNING_SECRET.to_owned()),
    ]);
    let alarm_runtime = RuntimeApi::start().await;
    let env: Vec<(&str, &str)> = alarm_env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let _alarm_process = FunctionProcess::spawn(alarm_bin, &alarm_runtime, &env);
    let command_runtime = RuntimeApi::start().await;
    let env: Vec<(&str, &str)> = command_env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let _command_process = FunctionProcess::spawn(command_bin, &command_runtime, &env);

    // A /scale in the channel (C0123ABCD in the request): recorded as a change of the stack's account.
    let body = command_body("/scale", &format!("{GROUP} 5"), "U0BOB", "T0DEMO");
    let answer = command_runtime.invoke(&signed(&body)).await.response_json();
    println!("   {} U0BOB: /scale {GROUP} 5 → HTTP {}", dim("POST /slack/commands"), answer["statusCode"]);

    // An alarm on the function's errors, now.
    let at = time::OffsetDateTime::from_unix_timestamp(now_s).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let at = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.000+0000",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    );
    let mut event = sns_alarm("checkout-errors", "ALARM", "OK", &at, "context-demo-1", "alarms");
    let record = &mut event["Records"][0]["Sns"];
    let mut message: Value = serde_json::from_str(record["Message"].as_str().unwrap_or("{}")).unwrap_or(Value::Null);
    message["Trigger"]["Namespace"] = "AWS/Lambda".into();
    message["Trigger"]["MetricName"] = "Errors".into();
    message["Trigger"]["Dimensions"] = serde_json::json!([{"name": "FunctionName", "value": function}]);
    record["Message"] = message.to_string().into();
    alarm_runtime.invoke(&event).await;
    let Some(alert) = api.channel("C0DEMO").into_iter().next() else { return };
    let changes = alert.all_text().lines().find(|l| l.starts_with("🔧")).unwrap_or("(no recent changes)").to_owned();
    println!("   {} checkout-errors in ALARM, posted; the message says: {}", dim("alarm-to-slack:"), mrkdwn(&changes));
    if let (Some(widget), Some(file)) = (cloudwatch.widgets().last(), api.files().last().cloned()) {
        let dir = chatops_tests::workspace_root().join("target").join("demo");
        let path = dir.join(&file.filename);
        let written =
            std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(&path, file.content.unwrap_or_default()));
        println!(
            "   {} CloudWatch drew {} (stat {}), shown by chat.update",
            dim("graph:"),
            widget["metrics"][0],
            widget["metrics"][0][4]["stat"]
        );
        if written.is_ok() {
            println!("   {} {}", dim("open it:"), path.display());
        }
    }
    let Some(logs) = alert.button("alert:logs") else {
        println!("   no [Show logs] button");
        return;
    };
    let payload = serde_json::json!({
        "type": "block_actions", "team": {"id": "T0DEMO"}, "user": {"id": "U0ONCALL", "username": "oncall"},
        "channel": {"id": "C0DEMO", "name": "alarms"},
        "container": {"type": "message", "message_ts": alert.ts, "channel_id": "C0DEMO"},
        "response_url": hooks.url("/actions/T0DEMO/logs/1"),
        "message": {"ts": alert.ts, "text": alert.text(), "attachments": alert.body["attachments"]},
        "actions": [{"action_id": "alert:logs", "block_id": "alert-actions", "value": logs["value"], "action_ts": "3.1"}]
    });
    command_runtime.invoke(&signed(&interaction_body(&payload))).await;
    hooks.wait_for(1, Duration::from_secs(3)).await;
    println!("   {} U0ONCALL clicks [📜 Show logs]; in the alarm's thread:", dim("POST /slack/interactions"));
    for reply in api.thread("C0DEMO", &alert.ts) {
        for line in reply.all_text().lines().filter(|l| !matches!(*l, "section" | "mrkdwn" | "context")).take(8) {
            println!("     {}", dim(line));
        }
    }
}

/// One stack for an organisation: accounts named from `ACCOUNT_NAMES` and from Organizations on moto, a
/// route by account name, the metrics line each invocation writes, and the failure queue re-driven.
async fn organisation_demo(moto: &Moto, alarm_bin: &std::path::Path) {
    println!(
        "\n{} one stack for an organisation: account names (ACCOUNT_NAMES, AWS Organizations on moto), a route by name, the metrics on the log, the failure queue re-driven",
        bold("16.")
    );
    let member = moto.create_org_account("checkout-prod").await;
    let table = moto.create_state_table().await;
    let api = SlackApiStandIn::start(BOT_TOKEN).await;
    let settings = [
        ("ACCOUNT_NAMES", r#"{"210987654321": "payments-prod"}"#.to_owned()),
        ("ORGANIZATIONS_LOOKUP", "true".to_owned()),
        ("SLACK_ROUTES", r#"[{"account": "payments-*", "channel": "C0PAYMENTS"}]"#.to_owned()),
    ];
    for (k, v) in &settings {
        println!("   {k}={v}");
    }
    let mut env = moto.env();
    env.extend([
        ("SLACK_BOT_TOKEN", BOT_TOKEN.to_owned()),
        ("SLACK_API_URL", api.url()),
        ("SLACK_CHANNEL", "C0ALARMS".to_owned()),
        ("STATE_TABLE", table),
    ]);
    env.extend(settings);
    let runtime = RuntimeApi::start().await;
    let vars: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let process = FunctionProcess::spawn(alarm_bin, &runtime, &vars);
    let at = "2026-11-20T09:41:00.000+0000";
    let alarm = |account: &str, name: &str| {
        chatops_tests::from_account(
            chatops_tests::sns_alarm(name, "ALARM", "OK", at, &format!("org-{name}"), "alarms"),
            account,
        )
    };
    for (account, name) in [("210987654321", "payments-api-5xx"), (member.as_str(), "checkout-latency")] {
        runtime.invoke(&alarm(account, name)).await;
    }
    for channel in ["C0PAYMENTS", "C0ALARMS"] {
        for m in api.channel(channel) {
            let text = m.all_text();
            let account = text.split("*Account*\n").nth(1).and_then(|t| t.lines().next()).unwrap_or("?");
            println!("   {channel}: {} | Account: {}", m.text(), bold(account));
        }
    }
    // Slack refuses one alarm: the invocation fails, and Lambda's on-failure destination keeps its record.
    api.script([chatops_tests::ApiReply::Error("channel_not_found")]);
    let failed = alarm("210987654321", "payments-db-cpu");
    let inv = runtime.invoke(&failed).await;
    println!("   payments-db-cpu: {} (Lambda retries it, then the failure queue keeps it)", inv.error()["errorType"]);
    let mut batch = chatops_tests::fixture("sqs-failure-queue.json");
    let body = batch["Records"][0]["body"].as_str().unwrap_or("{}").to_owned();
    let mut record: Value = serde_json::from_str(&body).unwrap_or_default();
    record["requestPayload"] = failed;
    batch["Records"][0]["body"] = record.to_string().into();
    let answer = runtime.invoke(&batch).await.response_json();
    println!(
        "   re-driven from the failure queue: answer {answer}; C0PAYMENTS now has {} messages",
        api.channel("C0PAYMENTS").len()
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    if let Some(line) = process.json_logs().into_iter().rfind(|l| l.get("_aws").is_some()) {
        println!("   the metrics line of the last invocation (CloudWatch Embedded Metric Format):");
        println!("     {}", dim(&line.to_string()));
    }
}

/// The texts of a message's or view's blocks, one line each, as a person reads them.
fn block_lines(blocks: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for block in blocks.as_array().into_iter().flatten() {
        match block["type"].as_str() {
            Some("header") => out.push(bold(block["text"]["text"].as_str().unwrap_or_default())),
            Some("divider") => out.push(dim("────────")),
            Some("actions") => {
                let buttons: Vec<String> = block["elements"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|b| format!("[ {} ]", b["text"]["text"].as_str().unwrap_or("")))
                    .collect();
                out.push(bold(&buttons.join(" ")));
            }
            _ => {
                let texts = block.pointer("/text/text").into_iter().chain(
                    block["elements"]
                        .as_array()
                        .into_iter()
                        .chain(block["fields"].as_array())
                        .flatten()
                        .map(|e| &e["text"]),
                );
                for text in texts.filter_map(Value::as_str) {
                    out.extend(text.lines().map(mrkdwn));
                }
            }
        }
    }
    out
}

/// What is going on right now: after alerts, an acknowledgement, a mute, an incident and an approval
/// request, `/status`, its help, and the App Home of the approver.
async fn status_demo(moto: &Moto, alarm_bin: &std::path::Path, command_bin: &std::path::Path) {
    println!(
        "\n{} what is going on right now: /status after alerts (one acknowledged, one muted), an incident and an approval waiting; the help; the approver's App Home",
        bold("18.")
    );
    let table = moto.create_state_table().await;
    let group = moto.create_schedule_group().await;
    moto.put_alarm("payments-latency").await;
    moto.create_group("prod-web", 2, 40, 6, Some("enabled")).await;
    let api = SlackApiStandIn::start(BOT_TOKEN).await;
    let hooks = SlackStandIn::start().await;
    let policy = serde_json::json!({"rules": [
        {"name": "responders", "actions": ["alert:ack", "alarm:mute", "incident:declare", "incident:update", "incident:resolve"], "requesters": ["*"]},
        {"name": "prod-scale", "actions": ["scale"], "resources": ["prod-*"], "requesters": ["U0DEV"],
         "approval": {"approvers": ["U0LEAD"], "count": 1}}
    ]});
    let routes = serde_json::json!([
        {"alarm": "payments-*", "channel": "C0PAY", "team": "payments"},
        {"account": "210987654321", "channel": "C0STAGE", "team": "platform"}
    ]);
    let mut alarm_env: Vec<(&str, String)> = moto.env();
    alarm_env.extend([
        ("SLACK_BOT_TOKEN", BOT_TOKEN.to_owned()),
        ("SLACK_API_URL", api.url()),
        ("STATE_TABLE", table.clone()),
        ("SLACK_CHANNEL", "C0OPS".to_owned()),
        ("SLACK_ROUTES", routes.to_string()),
        ("MUTABLE_ALARMS", "payments-*".to_owned()),
    ]);
    let mut command_env: Vec<(&str, String)> = moto.env();
    command_env.extend([
        ("SLACK_BOT_TOKEN", BOT_TOKEN.to_owned()),
        ("SLACK_API_URL", api.url()),
        ("STATE_TABLE", table.clone()),
        ("SLACK_SIGNING_SECRET", SIGNING_SECRET.to_owned()),
        ("CHATOPS_POLICY", policy.to_string()),
        ("MUTABLE_ALARMS", "payments-*".to_owned()),
        ("SCHEDULE_GROUP", group),
        ("SCHEDULER_ROLE_ARN", "arn:aws:iam::123456789012:role/chatops-scheduler".to_owned()),
        ("SCHEDULE_TARGET_ARN", "arn:aws:lambda:eu-west-1:123456789012:function:chatops-demo-slack-command".to_owned()),
    ]);
    println!("   SLACK_ROUTES={routes}");
    let alarm_runtime = RuntimeApi::start().await;
    let env: Vec<(&str, &str)> = alarm_env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let _alarm_process = FunctionProcess::spawn(alarm_bin, &alarm_runtime, &env);
    let command_runtime = RuntimeApi::start().await;
    let env: Vec<(&str, &str)> = command_env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let _command_process = FunctionProcess::spawn(command_bin, &command_runtime, &env);

    let now_s = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
    let at = |minutes_ago: i64| {
        let t = time::OffsetDateTime::from_unix_timestamp(now_s - minutes_ago * 60)
            .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
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
    for (name, minutes, account, id) in [
        ("payments-5xx", 25, None, "status-demo-1"),
        ("payments-latency", 18, None, "status-demo-2"),
        ("db-cpu", 7, Some("210987654321"), "status-demo-3"),
    ] {
        let mut event = sns_alarm(name, "ALARM", "OK", &at(minutes), id, "alarms");
        if let Some(account) = account {
            event = chatops_tests::from_account(event, account);
        }
        alarm_runtime.invoke(&event).await;
    }
    println!(
        "   {} payments-5xx and payments-latency → #C0PAY (team payments), db-cpu of 210987654321 → #C0STAGE (team platform)",
        dim("alarm-to-slack:")
    );
    let mut n = 0;
    let mut click = async |channel: &str, name: &str, action: &str, user: &str, duration: Option<&str>| {
        n += 1;
        let Some(message) = api.channel(channel).into_iter().find(|m| m.all_text().contains(name)) else { return };
        let Some(button) = message.button(action) else { return };
        let mut value = button["value"].clone();
        if let Some(d) = duration
            && let Ok(mut v) = serde_json::from_str::<Value>(value.as_str().unwrap_or_default())
        {
            v["d"] = Value::String(d.to_owned());
            value = Value::String(v.to_string());
        }
        let payload = serde_json::json!({
            "type": "block_actions", "team": {"id": "T0DEMO"}, "user": {"id": user, "username": user},
            "channel": {"id": channel, "name": "payments"},
            "container": {"type": "message", "message_ts": message.ts, "channel_id": channel},
            "response_url": hooks.url(&format!("/actions/T0DEMO/status/{n}")),
            "message": {"ts": message.ts, "text": message.text(), "attachments": message.body["attachments"]},
            "actions": [{"action_id": action, "block_id": "b", "value": value, "action_ts": format!("3.{n}")}]
        });
        command_runtime.invoke(&signed(&interaction_body(&payload))).await;
    };
    click("C0PAY", "payments-5xx", "alert:ack", "U0ALICE", None).await;
    click("C0PAY", "payments-latency", "alarm:mute", "U0BOB", Some("1h")).await;
    println!(
        "   {} U0ALICE acknowledges payments-5xx; U0BOB mutes payments-latency for 1 h",
        dim("POST /slack/interactions")
    );
    let command = async |name: &str, text: &str, user: &str| {
        let body = command_body(name, text, user, "T0DEMO")
            .replace("trigger_id=1234.5678.abcdef", &format!("trigger_id={name}{text}{user}").replace(' ', "-"));
        let answer = command_runtime.invoke(&signed(&body)).await.response_json();
        serde_json::from_str::<Value>(answer["body"].as_str().unwrap_or("null")).unwrap_or(Value::Null)
    };
    command("/incident", "declare Checkout errors sev2", "U0ALICE").await;
    command("/scale", "prod-web 12", "U0DEV").await;
    println!(
        "   {} U0ALICE: /incident declare Checkout errors sev2; U0DEV: /scale prod-web 12 (needs U0LEAD's approval)",
        dim("POST /slack/commands")
    );

    let status = command("/status", "", "U0CAROL").await;
    println!("\n   {} {}", bold("U0CAROL: /status"), dim("(only U0CAROL sees it)"));
    for line in block_lines(&status["blocks"]) {
        println!("   ┃ {line}");
    }
    println!("   {} {}", dim("see it as Slack shows it:"), block_kit_builder_link(&status));
    let narrowed = command("/status", "platform", "U0CAROL").await;
    println!("\n   {}", bold("U0CAROL: /status platform"));
    for line in block_lines(&narrowed["blocks"]).into_iter().take(3) {
        println!("   ┃ {line}");
    }
    let help = command("/status", "help", "U0DEV").await;
    println!("\n   {}", bold("U0DEV: /status help (what the policy lets U0DEV do)"));
    for line in block_lines(&help["blocks"]).into_iter().filter(|l| l.contains("(rule ") || l.contains("Not for you")) {
        println!("   ┃ {line}");
    }

    let body = serde_json::json!({"type": "event_callback", "team_id": "T0DEMO", "event_id": "EvDEMOHOME", "event_time": now_s,
        "event": {"type": "app_home_opened", "user": "U0LEAD", "channel": "D0LEAD", "tab": "home", "event_ts": "1.1"}})
    .to_string();
    let headers = signed_headers(SIGNING_SECRET, &now(), body.as_bytes());
    command_runtime.invoke(&event_at(Shape::HttpApi, "/slack/events", "", &headers, &body, false)).await;
    if let Some(view) = api.home_view("U0LEAD") {
        println!("\n   {} {}", bold("U0LEAD opens the app's Home tab"), dim("(views.publish)"));
        for line in block_lines(&view["blocks"]).into_iter().take(14) {
            println!("   ┃ {line}");
        }
        println!("   ┃ {}", dim(&format!("… {} blocks in all", view["blocks"].as_array().map(Vec::len).unwrap_or(0))));
        println!(
            "   {} {}",
            dim("see it as Slack shows it:"),
            block_kit_builder_link(&serde_json::json!({"blocks": view["blocks"]}))
        );
    }
}

/// A private incident and its follow-ups: a private channel with only the people named, the announcement
/// without details, `/incident list` for a member and for someone else, a follow-up by command and one by
/// 📝, and the resolve filing them as GitHub issues (the CI stand-in), the post-mortem listing them.
async fn private_incident_demo(moto: &Moto, command_bin: &std::path::Path) {
    println!(
        "\n{} a private incident and its follow-ups: a private channel, an announcement without details, /incident list for a member and a non-member, follow-ups by command and by 📝, filed as GitHub issues on resolve",
        bold("19.")
    );
    let table = moto.create_state_table().await;
    let api = SlackApiStandIn::start(BOT_TOKEN).await;
    let ci = chatops_tests::ci_standin::CiStandIn::start(GITLAB_TRIGGER, "unused").await;
    ci.accept_issue_tokens("github_pat_demo_issues", "unused");
    // The deploy mapping's `issues` entry for the channel the command comes from (C0123ABCD).
    let mapping = serde_json::json!({"T0DEMO": {"C0123ABCD": {"issues":
        {"provider": "github", "repository": "acme/security", "token": "github_pat_demo_issues", "labels": ["incident", "security"]}}}});
    let arn = moto.create_secret(&mapping.to_string()).await;
    let mut env: Vec<(&str, String)> = moto.env();
    env.extend([
        ("SLACK_BOT_TOKEN", BOT_TOKEN.to_owned()),
        ("SLACK_API_URL", api.url()),
        ("STATE_TABLE", table),
        ("SLACK_SIGNING_SECRET", SIGNING_SECRET.to_owned()),
        ("INCIDENTS_CHANNEL", "C0INCIDENTS".to_owned()),
        ("INCIDENT_RESPONDERS", "U0SRE1".to_owned()),
        ("DEPLOY_TARGETS_SECRET_ARN", arn),
        ("GITHUB_API_URL", ci.url()),
    ]);
    let runtime = RuntimeApi::start().await;
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let process = FunctionProcess::spawn(command_bin, &runtime, &env);
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let say = |user: &str, channel: &str, text: &str| {
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let body = command_body("/incident", text, user, "T0DEMO")
            .replace("channel_id=C0123ABCD", &format!("channel_id={channel}"))
            .replace("trigger_id=1234.5678.abcdef", &format!("trigger_id=private-{n}"));
        signed(&body)
    };
    let run = async |label: &str, request: Value| {
        let inv = runtime.invoke(&request).await;
        let body: Value =
            serde_json::from_str(inv.response_json()["body"].as_str().unwrap_or("")).unwrap_or(Value::Null);
        println!("\n   {} {}", bold(label), dim(&format!("→ HTTP {}", inv.response_json()["statusCode"])));
        if let Some(text) = body["text"].as_str() {
            for line in mrkdwn(text).lines() {
                println!("   {line}");
            }
        }
    };
    run(
        "U0ALICE: /incident declare --private Leaked deploy key sev1 @carol",
        say("U0ALICE", "C0123ABCD", "declare --private Leaked deploy key sev1 <@U0CAROL|carol>"),
    )
    .await;
    let Some(channel) = api.channels().into_iter().find(|c| c.private) else {
        println!("   no private channel was made: {}", process.output());
        return;
    };
    println!(
        "   {} #{} (private), members {} (not the standing responder U0SRE1)",
        dim("the channel:"),
        channel.name,
        channel.members.join(", ")
    );
    if let Some(a) = api.channel("C0INCIDENTS").first() {
        println!(
            "   {} {}",
            dim("#C0INCIDENTS, the announcement:"),
            mrkdwn(&a.all_text()).lines().next().unwrap_or("")
        );
    }
    run("U0BOB (not a member): /incident list", say("U0BOB", "C0123ABCD", "list")).await;
    run("U0CAROL (a member): /incident list", say("U0CAROL", "C0123ABCD", "list")).await;
    run(
        "U0ALICE in the channel: /incident followup Rotate every deploy key older than 90 days",
        say("U0ALICE", &channel.id, "followup Rotate every deploy key older than 90 days"),
    )
    .await;
    let said = api.user_message_as(&channel.id, "U0CAROL", "Alert on deploy-key use from a new IP range");
    let memo = serde_json::json!({
        "type": "event_callback", "team_id": "T0DEMO", "event_id": "Ev0DEMOMEMO",
        "event": {"type": "reaction_added", "user": "U0ALICE", "reaction": "memo", "item_user": "U0CAROL",
                  "item": {"type": "message", "channel": channel.id, "ts": said}}
    })
    .to_string();
    let headers = signed_headers(SIGNING_SECRET, &now(), memo.as_bytes());
    runtime.invoke(&event_at(Shape::HttpApi, "/slack/events", "", &headers, &memo, false)).await;
    println!("\n   {} a follow-up by U0CAROL, the message's author", bold("U0ALICE reacts 📝 to U0CAROL's message:"));
    run(
        "U0ALICE: /incident resolve Key revoked and rotated",
        say("U0ALICE", &channel.id, "resolve Key revoked and rotated"),
    )
    .await;
    for issue in ci.issues() {
        println!(
            "   {} {} {} {}",
            dim("GitHub issue filed in"),
            issue.target,
            bold(&issue.fields["title"]),
            dim(&format!("(labels {})", issue.fields["labels"]))
        );
    }
    if let Some(a) = api.channel("C0INCIDENTS").first() {
        println!(
            "   {} {}",
            dim("#C0INCIDENTS, the announcement now:"),
            mrkdwn(&a.all_text()).lines().next().unwrap_or("")
        );
    }
    if let Some(draft) = api.files().into_iter().find(|f| f.filename.ends_with("post-mortem.md")) {
        let text = draft.text();
        println!("   {} {}:", dim("the post-mortem draft, in"), channel.name);
        for line in text.lines().skip_while(|l| !l.starts_with("## Follow-ups")).take(4) {
            println!("     {}", dim(line));
        }
    }
}

/// The operations report over a simulated week: the history as the functions write it (alert episodes with
/// their acknowledgements, a flapping alarm, incidents, deploys, approvals), then `/status report` and the
/// schedule's firing, which posts it in the report channel.
async fn report_demo(moto: &Moto, command_bin: &std::path::Path) {
    use chatops_shared::state::{ApprovalSummary, Change, Episode, IncidentSummary, StateTable};
    println!(
        "\n{} the operations report over a simulated week: pages with MTTA and MTTR, noisy alarms, incidents, deploys, approvals; /status report, then the weekly schedule's firing",
        bold("20.")
    );
    let table = moto.create_state_table().await;
    let state = StateTable::new(moto.dynamodb().await, table.clone());
    let api = SlackApiStandIn::start(BOT_TOKEN).await;
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0) * 1000;
    let (day, min) = (86_400_000, 60_000);
    let url = |t: &str| Some(format!("https://console.aws.amazon.com/cloudwatch/home#alarmsV2:alarm/{t}"));
    let mut episodes = Vec::new();
    // checkout-5xx pages every day, acknowledged after 2 to 8 min, resolved after 15 to 45.
    for d in 0..7 {
        let started = now - (7 - d) * day + 9 * 3_600_000;
        episodes.push(Episode {
            key: "alarm:checkout-5xx".into(),
            title: "checkout-5xx".into(),
            team: Some("payments".into()),
            url: url("checkout-5xx"),
            started_ms: started,
            resolved_ms: started + (15 + d * 5) * min,
            acked: Some(("U0ONCALL".into(), started / 1000 + 120 + d * 60)),
            ..Episode::default()
        });
    }
    // disk-queue flaps: four pages of a minute within an hour, nobody touches them.
    for i in 0..4 {
        let started = now - 2 * day + i * 12 * min;
        episodes.push(Episode {
            key: "alarm:disk-queue".into(),
            title: "disk-queue".into(),
            team: Some("platform".into()),
            url: url("disk-queue"),
            started_ms: started,
            resolved_ms: started + min,
            ..Episode::default()
        });
    }
    for e in &episodes {
        let _ = state.record_episode(e).await;
    }
    let incident = IncidentSummary {
        number: 12,
        severity: 2,
        declared_at: (now - 3 * day) / 1000,
        resolved_at: (now - 3 * day + 50 * min) / 1000,
        followups: 3,
        ..IncidentSummary::default()
    };
    let _ = state.record_incident_summary(&incident).await;
    let deploy = |kind: &str, what: &str, at: i64| Change {
        at_ms: at,
        id: format!("{kind}-{at}"),
        kind: kind.into(),
        what: what.into(),
        ..Change::default()
    };
    for c in [
        deploy("deploy", "orders deploy started", now - 4 * day),
        deploy("deploy-result", "orders deployed", now - 4 * day + 6 * min),
        deploy("deploy", "checkout deploy started", now - 3 * day - 20 * min),
        deploy("deploy-result", "checkout deployed", now - 3 * day - 12 * min),
        deploy("deploy", "billing deploy started", now - day),
        deploy("deploy-result", "billing deploy failed", now - day + 9 * min),
    ] {
        let _ = state.record_change(&c, c.at_ms / 1000).await;
    }
    let approval = ApprovalSummary {
        id: "R-1A2B3C4D".into(),
        action: "scale".into(),
        resource: "web-asg".into(),
        requested_at: (now - 2 * day) / 1000,
        decided_at: (now - 2 * day + 7 * min) / 1000,
        outcome: "approved".into(),
    };
    let _ = state.record_approval_summary(&approval).await;
    println!(
        "   {} 11 alert episodes (checkout-5xx daily, disk-queue flapping), INC-12 (SEV2, 50 min, 3 follow-ups), 3 deploys (billing failed; checkout followed by INC-12), 1 approval",
        dim("the week's history, as the functions write it:")
    );
    let mut env: Vec<(&str, String)> = moto.env();
    env.extend([
        ("SLACK_BOT_TOKEN", BOT_TOKEN.to_owned()),
        ("SLACK_API_URL", api.url()),
        ("STATE_TABLE", table),
        ("SLACK_SIGNING_SECRET", SIGNING_SECRET.to_owned()),
        ("REPORT_CHANNEL", "C0OPS".to_owned()),
    ]);
    let runtime = RuntimeApi::start().await;
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let _process = FunctionProcess::spawn(command_bin, &runtime, &env);
    let body = command_body("/status", "report", "U0LEAD", "T0DEMO")
        .replace("trigger_id=1234.5678.abcdef", "trigger_id=report-demo");
    let started = std::time::Instant::now();
    let inv = runtime.invoke(&signed(&body)).await;
    let answer: Value = serde_json::from_str(inv.response_json()["body"].as_str().unwrap_or("")).unwrap_or(Value::Null);
    println!(
        "\n   {} {}",
        bold("U0LEAD: /status report"),
        dim(&format!(
            "→ HTTP {} in {} ms, only to U0LEAD:",
            inv.response_json()["statusCode"],
            started.elapsed().as_millis()
        ))
    );
    for block in answer["blocks"].as_array().into_iter().flatten() {
        for text in [&block["text"]["text"], &block["elements"][0]["text"]] {
            if let Some(text) = text.as_str() {
                for line in mrkdwn(text).lines() {
                    println!("   ┃ {line}");
                }
            }
        }
    }
    let fired = runtime.invoke(&serde_json::json!({"chatops_timer": {"kind": "report", "days": 7}})).await;
    println!(
        "\n   {} {}",
        bold("Monday 09:00, the schedule fires {\"chatops_timer\": {\"kind\": \"report\", \"days\": 7}}:"),
        dim(&fired.response_json()["detail"].to_string())
    );
    if let Some(posted) = api.channel("C0OPS").first() {
        println!("   {} {}", dim("#C0OPS:"), mrkdwn(posted.text()));
    }
}
