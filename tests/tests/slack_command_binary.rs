//! The built `slack-command` binary over the Lambda Runtime API, with its signing secret encrypted in
//! KMS and Auto Scaling on moto: wiring, the environment contract, the audit line, and no secret in logs.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chatops_tests::slack_requests::{Shape, command_body, event, event_raw, signed_headers};
use chatops_tests::{FunctionProcess, Moto, RuntimeApi, build_binary};
use serde_json::{Value, json};

const SECRET: &str = "binary-test-signing-secret-e5b1c9";

fn now() -> String {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs().to_string()
}

fn body_json(response: &Value) -> Value {
    serde_json::from_str(response["body"].as_str().unwrap_or_default()).unwrap_or(Value::Null)
}

#[tokio::test(flavor = "multi_thread")]
async fn scale_end_to_end_with_a_kms_secret_and_an_audit_line() {
    let moto = Moto::shared();
    let group = format!("bin-web-{}", std::process::id());
    moto.create_group(&group, 1, 5, 1, Some("enabled")).await;
    let key = moto.create_key().await;
    let ciphertext = moto.encrypt(&key, SECRET, Some("chatops-test")).await;
    let mut env: Vec<(&str, String)> = moto.env();
    env.push(("KMS_ENCRYPTED_SLACK_SIGNING_SECRET", ciphertext.clone()));
    env.push(("SLACK_TEAM_ID", "T0123ABCD".into()));
    env.push(("SLACK_ALLOWED_USERS", "U_OPS,U_ADA".into()));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let runtime = RuntimeApi::start().await;
    let process = FunctionProcess::spawn(&build_binary("slack-command", false), &runtime, &env);

    let body = command_body("/scale", &format!("{group} 3"), "U_ADA", "T0123ABCD");
    let inv = runtime
        .invoke(&event(Shape::HttpApi, &signed_headers(SECRET, &now(), body.as_bytes()), body.as_bytes(), true))
        .await;
    let response = inv.response_json();
    assert_eq!(response["statusCode"], 200);
    assert_eq!(response["headers"]["content-type"], "application/json");
    let answer = body_json(&response);
    assert_eq!(answer["response_type"], "in_channel");
    assert!(answer["text"].as_str().unwrap().contains("from 1 to 3"), "{answer}");
    assert_eq!(moto.desired_capacity(&group).await, 3);

    // Unsigned: 401. Broken base64: 400. Not allowed: refused, unchanged.
    let forged = runtime
        .invoke(&event(Shape::Rest, &signed_headers("guess", &now(), body.as_bytes()), body.as_bytes(), false))
        .await;
    assert_eq!(forged.response_json()["statusCode"], 401);
    let broken =
        runtime.invoke(&event_raw(Shape::FunctionUrl, &signed_headers(SECRET, &now(), b"x"), "%%%", true)).await;
    assert_eq!(broken.response_json()["statusCode"], 400);
    let stranger = command_body("/scale", &format!("{group} 5"), "U_STRANGER", "T0123ABCD");
    let refused = runtime
        .invoke(&event(Shape::Rest, &signed_headers(SECRET, &now(), stranger.as_bytes()), stranger.as_bytes(), false))
        .await;
    assert!(body_json(&refused.response_json())["text"].as_str().unwrap().contains("not allowed"));
    assert_eq!(moto.desired_capacity(&group).await, 3);

    tokio::time::sleep(Duration::from_millis(200)).await;
    let audits: Vec<Value> = process.json_logs().into_iter().filter(|l| l["fields"]["kind"] == "audit").collect();
    assert_eq!(audits.len(), 2, "one audit line per command that reached the router or policy");
    let done = &audits[0]["fields"];
    for (field, expected) in [
        ("team_id", json!("T0123ABCD")),
        ("user_id", json!("U_ADA")),
        ("user_name", json!("ada.lovelace")),
        ("channel_id", json!("C0123ABCD")),
        ("command", json!("/scale")),
        ("text", json!(format!("{group} 3"))),
        ("decision", json!("done")),
        ("resource", json!(group)),
        ("before", json!(1)),
        ("after", json!(3)),
    ] {
        assert_eq!(done[field], expected, "audit field {field}: {done}");
    }
    assert!(done["latency_ms"].is_u64());
    assert_eq!(audits[1]["fields"]["decision"], "refused");
    assert_eq!(audits[1]["fields"]["reason"], "user not allowed");
    // The metrics (Embedded Metric Format): one line per invocation, and the commands by decision.
    let emf: Vec<Value> = process.json_logs().into_iter().filter(|l| l.get("_aws").is_some()).collect();
    assert_eq!(emf.iter().filter(|l| l.get("Decision").is_none()).count(), 4, "{emf:#?}");
    let decisions: Vec<(&str, f64)> =
        emf.iter().filter_map(|l| Some((l["Decision"].as_str()?, l["Commands"].as_f64()?))).collect();
    assert_eq!(decisions, [("done", 1.0), ("refused", 1.0)]);
    for line in emf.iter().filter(|l| l.get("Decision").is_some()) {
        let directive = &line["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "ChatOps");
        assert_eq!(directive["Dimensions"], json!([["FunctionName", "Decision"]]));
        assert_eq!(directive["Metrics"], json!([{"Name": "Commands", "Unit": "Count"}]));
        assert_eq!(line["FunctionName"], "chatops-test");
    }
    let output = process.output();
    assert!(!output.contains(SECRET) && !output.contains(&ciphertext[..40]), "a secret reached the log:\n{output}");
}

/// Waits until `process` has exited, or `limit` has passed.
async fn stops_within(process: &mut FunctionProcess, limit: Duration) {
    let until = std::time::Instant::now() + limit;
    while process.is_running() && std::time::Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_signing_secret_stops_init_with_a_message_naming_the_variables() {
    let runtime = RuntimeApi::start().await;
    let mut process = FunctionProcess::spawn(&build_binary("slack-command", false), &runtime, &[]);
    stops_within(&mut process, Duration::from_secs(10)).await;
    assert!(!process.is_running(), "the function must not serve requests it cannot verify");
    let output = process.output();
    assert!(
        output.contains("KMS_ENCRYPTED_SLACK_SIGNING_SECRET") && output.contains("SLACK_SIGNING_SECRET"),
        "{output}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_aws_credentials_stop_init_naming_the_variable() {
    let runtime = RuntimeApi::start().await;
    let env = [("SLACK_SIGNING_SECRET", "local-dev-signing-secret"), ("AWS_SECRET_ACCESS_KEY", "wJalrXUtnSECRETKEY")];
    let mut process = FunctionProcess::spawn(&build_binary("slack-command", false), &runtime, &env);
    stops_within(&mut process, Duration::from_secs(10)).await;
    assert!(!process.is_running(), "without credentials no command can work: init must fail");
    let output = process.output();
    assert!(output.contains("AWS_ACCESS_KEY_ID"), "{output}");
    assert!(!output.contains("SECRETKEY") && !output.contains("local-dev-signing-secret"), "{output}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_button_click_reaches_codedeploy_through_its_standard_endpoint_setting() {
    use chatops_tests::SlackStandIn;
    use chatops_tests::codedeploy_standin::CodeDeployStandIn;
    let codedeploy = CodeDeployStandIn::start().await;
    codedeploy.add_ready("d-BINARY001", "orders", "orders-ecs-bg");
    let slack = SlackStandIn::start().await;
    let moto = Moto::shared();
    let mut env: Vec<(&str, String)> = moto.env();
    env.push(("SLACK_SIGNING_SECRET", SECRET.into()));
    env.push(("CODEDEPLOY_DEPLOYMENT_GROUPS", "orders/orders-ecs-bg".into()));
    // The SDK's per-service endpoint setting: CodeDeploy here, everything else on moto.
    env.push(("AWS_ENDPOINT_URL_CODEDEPLOY", codedeploy.endpoint()));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let runtime = RuntimeApi::start().await;
    let _process = FunctionProcess::spawn(&build_binary("slack-command", false), &runtime, &env);

    let payload = json!({
        "type": "block_actions",
        "user": {"id": "U_OPS", "username": "ops"},
        "team": {"id": "T0123ABCD"},
        "channel": {"id": "C1", "name": "deploys"},
        "message": {"text": "ready", "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "ready"}}]},
        "response_url": slack.url("/actions/1"),
        "actions": [{"action_id": "codedeploy:switch", "block_id": "codedeploy:d-BINARY001", "value": "d-BINARY001", "type": "button"}]
    });
    let body = chatops_tests::slack_requests::interaction_body(&payload);
    let inv = runtime
        .invoke(&event(Shape::HttpApi, &signed_headers(SECRET, &now(), body.as_bytes()), body.as_bytes(), false))
        .await;
    assert_eq!(inv.response_json()["statusCode"], 200);
    let ops: Vec<String> = codedeploy.calls().into_iter().map(|c| c.operation).collect();
    assert_eq!(ops, ["GetDeployment", "ContinueDeployment"]);
    let update = slack.wait_for(1, Duration::from_secs(3)).await;
    assert_eq!(update[0].json()["replace_original"], true);
}

/// slack-command with the state table: a signed request is accepted once.
async fn with_state_table(table: &str, extra: &[(&'static str, String)]) -> (RuntimeApi, FunctionProcess) {
    let mut env: Vec<(&str, String)> = Moto::shared().env();
    env.push(("SLACK_SIGNING_SECRET", SECRET.to_owned()));
    env.push(("STATE_TABLE", table.to_owned()));
    env.extend(extra.iter().cloned());
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let runtime = RuntimeApi::start().await;
    let process = FunctionProcess::spawn(&build_binary("slack-command", false), &runtime, &env);
    (runtime, process)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_replayed_request_is_refused_and_audited_also_across_containers() {
    let moto = Moto::shared();
    let table = moto.create_state_table().await;
    let group = format!("bin-replay-{}", std::process::id());
    moto.create_group(&group, 1, 9, 1, Some("enabled")).await;
    let (a, process) = with_state_table(&table, &[]).await;
    let (b, other) = with_state_table(&table, &[]).await;

    let body = command_body("/scale", &format!("{group} +1"), "U_ADA", "T0123ABCD");
    let captured = event(Shape::HttpApi, &signed_headers(SECRET, &now(), body.as_bytes()), body.as_bytes(), false);
    assert_eq!(a.invoke(&captured).await.response_json()["statusCode"], 200);
    assert_eq!(moto.desired_capacity(&group).await, 2);
    // The same signed request again, to the same container and to another: refused, nothing runs.
    assert_eq!(a.invoke(&captured).await.response_json()["statusCode"], 401);
    assert_eq!(b.invoke(&captured).await.response_json()["statusCode"], 401);
    assert_eq!(moto.desired_capacity(&group).await, 2);

    // Sent to two containers at the same moment: one runs it.
    let body = command_body("/scale", &format!("{group} +1"), "U_OPS", "T0123ABCD");
    let twice = event(Shape::HttpApi, &signed_headers(SECRET, &now(), body.as_bytes()), body.as_bytes(), false);
    let (ra, rb) = tokio::join!(a.invoke(&twice), b.invoke(&twice));
    let mut codes = [ra.response_json()["statusCode"].as_u64(), rb.response_json()["statusCode"].as_u64()];
    codes.sort();
    assert_eq!(codes, [Some(200), Some(401)]);
    assert_eq!(moto.desired_capacity(&group).await, 3);

    tokio::time::sleep(Duration::from_millis(200)).await;
    let replays: Vec<Value> = [process.json_logs(), other.json_logs()]
        .concat()
        .into_iter()
        .filter(|l| l["fields"]["kind"] == "audit" && l["fields"]["reason"] == "replayed request")
        .collect();
    assert_eq!(replays.len(), 3, "one audit line per refused replay: {replays:#?}");
    assert_eq!(replays[0]["fields"]["user_id"], "U_ADA");
    assert_eq!(replays[0]["fields"]["command"], "/scale");
    let items = moto.items(&table).await;
    assert!(items.iter().all(|i| !i.values().any(|v| v.contains("v0="))), "only hashes of signatures are kept");
}

#[tokio::test(flavor = "multi_thread")]
async fn without_dynamodb_requests_are_still_served() {
    let moto = Moto::shared();
    let group = format!("bin-nodb-{}", std::process::id());
    moto.create_group(&group, 1, 9, 1, Some("enabled")).await;
    let (runtime, process) =
        with_state_table("chatops-state", &[("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:9".to_owned())]).await;
    let body = command_body("/scale", &group, "U_ADA", "T0123ABCD");
    let request = event(Shape::HttpApi, &signed_headers(SECRET, &now(), body.as_bytes()), body.as_bytes(), false);
    let response = runtime.invoke(&request).await.response_json();
    assert_eq!(response["statusCode"], 200);
    assert!(body_json(&response)["text"].as_str().unwrap().contains("Desired"), "{response}");
    assert!(process.output().contains("without the replay check"));
}
