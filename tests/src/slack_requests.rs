//! Slack requests as Lambda receives them: the same signed form body in API Gateway REST (payload 1.0),
//! HTTP API (2.0) and function URL envelopes, with or without base64.

use base64::Engine as _;
use serde_json::{Value, json};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    Rest,
    HttpApi,
    FunctionUrl,
}

pub const SHAPES: [Shape; 3] = [Shape::Rest, Shape::HttpApi, Shape::FunctionUrl];

/// A form value encoded as Slack encodes it (`application/x-www-form-urlencoded`).
fn form_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' => out.push(b as char),
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// A slash-command form body, encoded as Slack encodes it.
pub fn command_body(command: &str, text: &str, user_id: &str, team_id: &str) -> String {
    let enc = form_encode;
    format!(
        "token=legacyTokenIgnored&team_id={}&team_domain=acme&channel_id=C0123ABCD&channel_name=ops&user_id={}&user_name={}&command={}&text={}&api_app_id=A0123&is_enterprise_install=false&response_url={}&trigger_id=1234.5678.abcdef",
        enc(team_id),
        enc(user_id),
        enc("ada.lovelace"),
        enc(command),
        enc(text),
        enc("https://hooks.slack.com/commands/T0123/1234/abcd")
    )
}

/// An interaction body as Slack sends it: the form field `payload` holding the JSON document.
pub fn interaction_body(payload: &Value) -> String {
    format!("payload={}", form_encode(&payload.to_string()))
}

/// Headers as `(name, value)`; names in any case, as the envelope carries them.
pub fn signed_headers(secret: &str, timestamp: &str, body: &[u8]) -> Vec<(String, String)> {
    vec![
        ("X-Slack-Request-Timestamp".into(), timestamp.into()),
        ("X-Slack-Signature".into(), crate::slack_signature(secret, timestamp, body)),
        ("Content-Type".into(), "application/x-www-form-urlencoded".into()),
        ("User-Agent".into(), "Slackbot 1.0 (+https://api.slack.com/robots)".into()),
    ]
}

/// The Lambda event for `body` with `headers` in the given envelope.
pub fn event(shape: Shape, headers: &[(String, String)], body: &[u8], base64: bool) -> Value {
    let body = if base64 {
        base64::engine::general_purpose::STANDARD.encode(body)
    } else {
        String::from_utf8(body.to_vec()).expect("a non-base64 body must be text")
    };
    event_raw(shape, headers, &body, base64)
}

/// Like `event`, with the body string exactly as given (for broken base64).
pub fn event_raw(shape: Shape, headers: &[(String, String)], body: &str, base64: bool) -> Value {
    event_at(shape, "/slack/commands", "", headers, body, base64)
}

/// A request to `path` (`/slack/events`, `/deploy/notify`) with query string `query` (without `?`).
pub fn event_at(
    shape: Shape,
    path: &str,
    query: &str,
    headers: &[(String, String)],
    body: &str,
    base64: bool,
) -> Value {
    let header_map: serde_json::Map<String, Value> = headers
        .iter()
        .map(|(k, v)| {
            // REST keeps the client's casing; HTTP APIs and function URLs lower-case names.
            let name = if shape == Shape::Rest { k.clone() } else { k.to_ascii_lowercase() };
            (name, json!(v))
        })
        .collect();
    match shape {
        Shape::Rest => json!({
            "resource": path,
            "path": path,
            "httpMethod": "POST",
            "headers": header_map,
            "multiValueHeaders": headers.iter().map(|(k, v)| (k.clone(), json!([v]))).collect::<serde_json::Map<_, _>>(),
            "queryStringParameters": query_map(query),
            "multiValueQueryStringParameters": null,
            "pathParameters": null,
            "stageVariables": null,
            "requestContext": {
                "resourceId": "abc123", "resourcePath": path, "httpMethod": "POST",
                "extendedRequestId": "ZyXwVuTsRqPoNm=", "requestTime": "20/Nov/2026:09:41:07 +0000",
                "path": format!("/prod{path}"), "accountId": "123456789012", "protocol": "HTTP/1.1",
                "stage": "prod", "domainPrefix": "abcdef1234", "requestTimeEpoch": 1795167667000u64,
                "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
                "identity": {"sourceIp": "54.209.2.1", "userAgent": "Slackbot 1.0 (+https://api.slack.com/robots)"},
                "domainName": "abcdef1234.execute-api.eu-west-1.amazonaws.com", "apiId": "abcdef1234"
            },
            "body": body,
            "isBase64Encoded": base64
        }),
        Shape::HttpApi | Shape::FunctionUrl => {
            let (domain, route) = if shape == Shape::HttpApi {
                ("abcdef1234.execute-api.eu-west-1.amazonaws.com", format!("POST {path}"))
            } else {
                ("abcdefghijklmnopqrstuvwxyz012345.lambda-url.eu-west-1.on.aws", "$default".to_owned())
            };
            json!({
                "version": "2.0",
                "routeKey": route,
                "rawPath": path,
                "rawQueryString": query,
                "queryStringParameters": query_map(query),
                "headers": header_map,
                "requestContext": {
                    "accountId": if shape == Shape::HttpApi { "123456789012" } else { "anonymous" },
                    "apiId": "abcdef1234",
                    "domainName": domain,
                    "domainPrefix": "abcdef1234",
                    "http": {"method": "POST", "path": path, "protocol": "HTTP/1.1", "sourceIp": "54.209.2.1", "userAgent": "Slackbot 1.0 (+https://api.slack.com/robots)"},
                    "requestId": "JKJaXmPLvHcESHA=",
                    "routeKey": route,
                    "stage": "$default",
                    "time": "20/Nov/2026:09:41:07 +0000",
                    "timeEpoch": 1795167667000u64
                },
                "body": body,
                "isBase64Encoded": base64
            })
        }
    }
}

fn query_map(query: &str) -> Value {
    if query.is_empty() {
        return Value::Null;
    }
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query).unwrap_or_default();
    Value::Object(pairs.into_iter().map(|(k, v)| (k, json!(v))).collect())
}

/// An Events API `app_mention` callback body, as Slack sends it.
pub fn mention_body(event_id: &str, team: &str, user: &str, channel: &str, ts: &str, text: &str) -> String {
    json!({
        "token": "deprecated-verification-token",
        "team_id": team,
        "api_app_id": "A0CHATOPS",
        "event": {
            "type": "app_mention", "user": user, "text": text, "ts": ts, "channel": channel, "event_ts": ts,
            "client_msg_id": "8c1e2a84-6f0b-4c51-9d0e-1b2f3a4c5d6e", "team": team
        },
        "type": "event_callback",
        "event_id": event_id,
        "event_time": 1_795_167_667,
        "authorizations": [{"enterprise_id": null, "team_id": team, "user_id": "U0BOT", "is_bot": true, "is_enterprise_install": false}],
        "is_ext_shared_channel": false,
        "event_context": "4-eyJldCI6ImFwcF9tZW50aW9uIn0"
    })
    .to_string()
}
