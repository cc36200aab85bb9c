//! A loopback server standing where the Slack Web API is (`SLACK_API_URL`): `chat.postMessage`,
//! `chat.update` and `reactions.add` with Slack's wire format (JSON bodies, `Authorization: Bearer`, HTTP 200 with
//! `{"ok": false, "error": ...}`), keeping channels, messages and threads like Slack does, recording
//! every call, and failing as scripted: an `ok:false` code, a 429 with `Retry-After`, a 5xx, a stall.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

/// A scripted answer for the next call.
#[derive(Clone, Debug)]
pub enum ApiReply {
    /// `{"ok": false, "error": code}` with HTTP 200, as Slack answers most failures.
    Error(&'static str),
    /// HTTP 429 `ratelimited` with `Retry-After` seconds.
    RateLimited(u64),
    /// An HTTP status with an HTML body (a proxy's 503, say).
    Status(u16),
    /// Answer normally, after a delay.
    Slow(Duration),
}

/// One call as received.
#[derive(Clone, Debug)]
pub struct ApiCall {
    pub method: String,
    pub authorization: Option<String>,
    pub body: Value,
    pub at: Instant,
    /// What was answered: `ok` or the error code.
    pub answer: String,
}

/// A message as Slack keeps it.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredMessage {
    pub channel: String,
    pub ts: String,
    pub thread_ts: Option<String>,
    /// The body last posted or updated (text, blocks, attachments, ...).
    pub body: Value,
    pub broadcast: bool,
    pub updates: usize,
    /// Reactions added through `reactions.add`, in order.
    pub reactions: Vec<String>,
}

impl StoredMessage {
    pub fn text(&self) -> &str {
        self.body["text"].as_str().unwrap_or_default()
    }

    /// The colour bar, when the message has one.
    pub fn color(&self) -> Option<&str> {
        self.body["attachments"][0]["color"].as_str()
    }

    /// The header block's text.
    pub fn header(&self) -> Option<&str> {
        let blocks = self.body["attachments"][0]["blocks"].as_array().or_else(|| self.body["blocks"].as_array())?;
        blocks.iter().find(|b| b["type"] == "header").and_then(|b| b["text"]["text"].as_str())
    }

    /// Every text of the message (text, blocks, fields, context) joined, for `contains` checks.
    pub fn all_text(&self) -> String {
        fn walk(v: &Value, out: &mut String) {
            match v {
                Value::String(s) => {
                    out.push_str(s);
                    out.push('\n');
                }
                Value::Array(items) => items.iter().for_each(|i| walk(i, out)),
                Value::Object(map) => map.values().for_each(|i| walk(i, out)),
                _ => {}
            }
        }
        let mut out = String::new();
        walk(&self.body, &mut out);
        out
    }
}

#[derive(Default)]
struct Inner {
    token: String,
    script: VecDeque<ApiReply>,
    fallback: Option<ApiReply>,
    calls: Vec<ApiCall>,
    messages: Vec<StoredMessage>,
    next_ts: u64,
    /// User groups for `usergroups.users.list`: ID → members.
    usergroups: BTreeMap<String, Vec<String>>,
    /// Slack's rate limits, when enforced: `chat.postMessage` per channel, `chat.update` per workspace.
    limits: Option<RateLimits>,
    post_buckets: BTreeMap<String, Bucket>,
    update_bucket: Option<Bucket>,
}

/// Slack's limits as the stand-in enforces them: token buckets that refill at `per_second` up to `burst`.
#[derive(Clone, Copy, Debug)]
pub struct RateLimits {
    pub post_per_second: f64,
    pub post_burst: f64,
    pub update_per_second: f64,
    pub update_burst: f64,
}

impl RateLimits {
    /// `chat.postMessage` about 1 a second per channel (bursts of 3), `chat.update` 50 a minute for the
    /// workspace (bursts of 10): Slack's published limits.
    pub fn slack() -> Self {
        Self { post_per_second: 1.0, post_burst: 3.0, update_per_second: 50.0 / 60.0, update_burst: 10.0 }
    }
}

#[derive(Clone, Copy, Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    /// Takes a token, or says how long until one is there.
    fn take(slot: &mut Option<Bucket>, per_second: f64, burst: f64) -> Result<(), Duration> {
        let now = Instant::now();
        let bucket = slot.get_or_insert(Bucket { tokens: burst, at: now });
        bucket.tokens = (bucket.tokens + now.duration_since(bucket.at).as_secs_f64() * per_second).min(burst);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - bucket.tokens) / per_second))
        }
    }
}

#[derive(Clone)]
pub struct SlackApiStandIn {
    pub addr: SocketAddr,
    inner: Arc<Mutex<Inner>>,
    on_call: Option<tokio::sync::mpsc::UnboundedSender<(ApiCall, Option<StoredMessage>)>>,
}

impl SlackApiStandIn {
    /// Starts the server; only `token` is accepted (anything else gets `invalid_auth`).
    pub async fn start(token: &str) -> Self {
        Self::start_with(token, None).await
    }

    /// Like `start`, and sends every call (with the message it created or changed) to `tx` (the demo prints them).
    pub async fn start_with(
        token: &str,
        tx: Option<tokio::sync::mpsc::UnboundedSender<(ApiCall, Option<StoredMessage>)>>,
    ) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind loopback");
        let addr = listener.local_addr().expect("local addr");
        let inner = Inner { token: token.to_owned(), next_ts: 1_700_000_000_000_100, ..Inner::default() };
        let standin = Self { addr, inner: Arc::new(Mutex::new(inner)), on_call: tx };
        let app = Router::new().route("/api/{method}", post(handle)).with_state(standin.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        standin
    }

    /// Makes user group `id` (`S…`) exist with `members`, for `usergroups.users.list`.
    pub fn set_usergroup(&self, id: &str, members: &[&str]) {
        let members = members.iter().map(|m| (*m).to_owned()).collect();
        self.inner.lock().unwrap().usergroups.insert(id.to_owned(), members);
    }

    /// The `SLACK_API_URL` to configure.
    pub fn url(&self) -> String {
        format!("http://{}/api/", self.addr)
    }

    pub fn script(&self, replies: impl IntoIterator<Item = ApiReply>) {
        self.inner.lock().unwrap().script.extend(replies);
    }

    /// Answers calls over Slack's rate limits with 429 and `Retry-After` (whole seconds, as Slack sends).
    pub fn enforce_rate_limits(&self, limits: RateLimits) {
        self.inner.lock().unwrap().limits = Some(limits);
    }

    pub fn always(&self, reply: ApiReply) {
        self.inner.lock().unwrap().fallback = Some(reply);
    }

    pub fn calls(&self) -> Vec<ApiCall> {
        self.inner.lock().unwrap().calls.clone()
    }

    /// Calls of one method (`chat.postMessage`, `chat.update`) that Slack accepted.
    pub fn accepted(&self, method: &str) -> Vec<ApiCall> {
        self.calls().into_iter().filter(|c| c.method == method && c.answer == "ok").collect()
    }

    /// Top-level messages of `channel`, oldest first.
    pub fn channel(&self, channel: &str) -> Vec<StoredMessage> {
        let inner = self.inner.lock().unwrap();
        inner.messages.iter().filter(|m| m.channel == channel && m.thread_ts.is_none()).cloned().collect()
    }

    /// Every top-level message, of every channel.
    pub fn top_level(&self) -> Vec<StoredMessage> {
        self.inner.lock().unwrap().messages.iter().filter(|m| m.thread_ts.is_none()).cloned().collect()
    }

    /// The replies in the thread of `ts`, oldest first.
    pub fn thread(&self, channel: &str, ts: &str) -> Vec<StoredMessage> {
        let inner = self.inner.lock().unwrap();
        inner.messages.iter().filter(|m| m.channel == channel && m.thread_ts.as_deref() == Some(ts)).cloned().collect()
    }

    /// A message a person wrote (a mention, say), so answers can go into its thread. Returns its `ts`.
    pub fn user_message(&self, channel: &str, text: &str) -> String {
        let mut inner = self.inner.lock().unwrap();
        inner.next_ts += 100;
        let ts = format!("{}.{:06}", inner.next_ts / 1_000_000, inner.next_ts % 1_000_000);
        inner.messages.push(StoredMessage {
            channel: channel.to_owned(),
            ts: ts.clone(),
            thread_ts: None,
            body: json!({"text": text, "user": "U0PERSON"}),
            broadcast: false,
            updates: 0,
            reactions: Vec::new(),
        });
        ts
    }

    /// The message `ts` of `channel`, as it stands.
    pub fn message(&self, channel: &str, ts: &str) -> Option<StoredMessage> {
        self.inner.lock().unwrap().messages.iter().find(|m| m.channel == channel && m.ts == ts).cloned()
    }

    /// Deletes a message, as a person in Slack could.
    pub fn delete(&self, channel: &str, ts: &str) {
        self.inner.lock().unwrap().messages.retain(|m| !(m.channel == channel && m.ts == ts));
    }
}

fn slack_error(code: &str) -> Response {
    (StatusCode::OK, axum::Json(json!({"ok": false, "error": code}))).into_response()
}

async fn handle(
    State(standin): State<SlackApiStandIn>,
    Path(method): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let authorization = headers.get("authorization").and_then(|v| v.to_str().ok()).map(str::to_owned);
    // Read methods take form-encoded arguments; write methods JSON. Both are kept as JSON for the record.
    let form = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    let parsed: Value = if form {
        let pairs: BTreeMap<String, String> = serde_urlencoded::from_bytes(&body).unwrap_or_default();
        serde_json::to_value(pairs).unwrap_or(Value::Null)
    } else {
        serde_json::from_slice(&body).unwrap_or(Value::Null)
    };
    let scripted = {
        let mut inner = standin.inner.lock().unwrap();
        inner
            .script
            .pop_front()
            .or_else(|| inner.fallback.clone())
            .or_else(|| rate_limited(&mut inner, &method, &parsed))
    };
    if let Some(ApiReply::Slow(delay)) = &scripted {
        tokio::time::sleep(*delay).await;
    }
    let (answer, response, changed) = {
        let mut inner = standin.inner.lock().unwrap();
        let (answer, response, changed) = match scripted {
            Some(ApiReply::Error(code)) => (code.to_owned(), slack_error(code), None),
            Some(ApiReply::RateLimited(secs)) => {
                let mut r = (StatusCode::TOO_MANY_REQUESTS, axum::Json(json!({"ok": false, "error": "ratelimited"})))
                    .into_response();
                r.headers_mut().insert("retry-after", secs.into());
                ("ratelimited".to_owned(), r, None)
            }
            Some(ApiReply::Status(status)) => {
                let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                (format!("HTTP {}", status.as_u16()), (status, "<html>upstream error</html>").into_response(), None)
            }
            None | Some(ApiReply::Slow(_)) => answer(&mut inner, &method, authorization.as_deref(), &parsed),
        };
        inner.calls.push(ApiCall {
            method: method.clone(),
            authorization: authorization.clone(),
            body: parsed.clone(),
            at: Instant::now(),
            answer: answer.clone(),
        });
        (answer, response, changed)
    };
    if let Some(tx) = &standin.on_call {
        let call = ApiCall { method, authorization, body: parsed, at: Instant::now(), answer };
        let _ = tx.send((call, changed));
    }
    response
}

/// A 429 when the call is over the rate limits being enforced.
fn rate_limited(inner: &mut Inner, method: &str, body: &Value) -> Option<ApiReply> {
    let limits = inner.limits?;
    let taken = match method {
        "chat.postMessage" => {
            let channel = body["channel"].as_str().unwrap_or_default().to_owned();
            let mut slot = inner.post_buckets.get(&channel).copied();
            let taken = Bucket::take(&mut slot, limits.post_per_second, limits.post_burst);
            if let Some(bucket) = slot {
                inner.post_buckets.insert(channel, bucket);
            }
            taken
        }
        "chat.update" => Bucket::take(&mut inner.update_bucket, limits.update_per_second, limits.update_burst),
        _ => Ok(()),
    };
    taken.err().map(|wait| ApiReply::RateLimited(wait.as_secs_f64().ceil().max(1.0) as u64))
}

/// Slack's behaviour for a well-formed call.
fn answer(
    inner: &mut Inner,
    method: &str,
    authorization: Option<&str>,
    body: &Value,
) -> (String, Response, Option<StoredMessage>) {
    if authorization != Some(&format!("Bearer {}", inner.token)) {
        return ("invalid_auth".into(), slack_error("invalid_auth"), None);
    }
    if method == "usergroups.users.list" {
        // Slack reads this method's arguments from the form, not from a JSON body.
        let Some(users) = body["usergroup"].as_str().and_then(|g| inner.usergroups.get(g)) else {
            return ("no_such_subteam".into(), slack_error("no_such_subteam"), None);
        };
        return ("ok".into(), axum::Json(json!({"ok": true, "users": users})).into_response(), None);
    }
    let Some(channel) = body["channel"].as_str().filter(|c| !c.is_empty()) else {
        return ("channel_not_found".into(), slack_error("channel_not_found"), None);
    };
    if method == "reactions.add" {
        let (ts, name) = (body["timestamp"].as_str().unwrap_or_default(), body["name"].as_str().unwrap_or_default());
        let Some(message) = inner.messages.iter_mut().find(|m| m.channel == channel && m.ts == ts) else {
            return ("message_not_found".into(), slack_error("message_not_found"), None);
        };
        if name.is_empty() || name.contains(':') {
            return ("invalid_name".into(), slack_error("invalid_name"), None);
        }
        if message.reactions.iter().any(|r| r == name) {
            return ("already_reacted".into(), slack_error("already_reacted"), None);
        }
        message.reactions.push(name.to_owned());
        let changed = message.clone();
        return ("ok".into(), axum::Json(json!({"ok": true})).into_response(), Some(changed));
    }
    let has_content = body["text"].as_str().is_some_and(|t| !t.is_empty())
        || body["blocks"].as_array().is_some_and(|b| !b.is_empty())
        || body["attachments"].as_array().is_some_and(|a| !a.is_empty());
    if !has_content {
        return ("no_text".into(), slack_error("no_text"), None);
    }
    match method {
        "chat.postMessage" => {
            let thread_ts = body["thread_ts"].as_str().map(str::to_owned);
            if let Some(parent) = &thread_ts
                && !inner.messages.iter().any(|m| m.channel == channel && &m.ts == parent)
            {
                return ("thread_not_found".into(), slack_error("thread_not_found"), None);
            }
            inner.next_ts += 100;
            let ts = format!("{}.{:06}", inner.next_ts / 1_000_000, inner.next_ts % 1_000_000);
            let message = StoredMessage {
                channel: channel.to_owned(),
                ts: ts.clone(),
                thread_ts,
                body: body.clone(),
                broadcast: body["reply_broadcast"] == true,
                updates: 0,
                reactions: Vec::new(),
            };
            inner.messages.push(message.clone());
            let reply = json!({"ok": true, "channel": channel, "ts": ts, "message": {"text": body["text"]}});
            ("ok".into(), axum::Json(reply).into_response(), Some(message))
        }
        "chat.update" => {
            let ts = body["ts"].as_str().unwrap_or_default();
            let Some(message) = inner.messages.iter_mut().find(|m| m.channel == channel && m.ts == ts) else {
                return ("message_not_found".into(), slack_error("message_not_found"), None);
            };
            // chat.update replaces text, blocks and attachments; the rest of the message stays.
            let mut merged: BTreeMap<String, Value> =
                message.body.as_object().cloned().unwrap_or_default().into_iter().collect();
            for key in ["text", "blocks", "attachments"] {
                match body.get(key) {
                    Some(v) => merged.insert(key.to_owned(), v.clone()),
                    None => merged.remove(key),
                };
            }
            message.body = Value::Object(merged.into_iter().collect());
            message.updates += 1;
            let changed = message.clone();
            let reply = json!({"ok": true, "channel": channel, "ts": ts, "text": body["text"]});
            ("ok".into(), axum::Json(reply).into_response(), Some(changed))
        }
        _ => ("unknown_method".into(), slack_error("unknown_method"), None),
    }
}
