//! A loopback server standing where the Slack Web API is (`SLACK_API_URL`): `chat.postMessage`,
//! `chat.update`, `reactions.add`, and what incidents use (`conversations.create` / `invite` /
//! `setTopic` / `history` / `replies`, `pins.add`, `chat.getPermalink`, the two-step file upload with its upload
//! URL), with Slack's wire format (JSON bodies, `Authorization: Bearer`, HTTP 200 with
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
    /// Pinned with `pins.add`.
    pub pinned: bool,
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

    /// The button `action_id` of the message's actions blocks (in its attachment or not).
    pub fn button(&self, action_id: &str) -> Option<Value> {
        let blocks = self.body["attachments"][0]["blocks"].as_array().or_else(|| self.body["blocks"].as_array())?;
        blocks
            .iter()
            .flat_map(|b| b["elements"].as_array().cloned().unwrap_or_default())
            .find(|e| e["action_id"] == action_id)
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

/// A channel as the stand-in keeps it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ChannelInfo {
    pub id: String,
    pub name: String,
    pub topic: String,
    pub members: Vec<String>,
    /// Made with `is_private: true`.
    pub private: bool,
}

/// A file uploaded in Slack's two steps.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct UploadedFile {
    pub id: String,
    pub filename: String,
    /// The length announced in `files.getUploadURLExternal`.
    pub length: usize,
    /// What was sent to the upload URL.
    pub content: Option<Vec<u8>>,
    /// `channel_id`, title and `initial_comment` of `files.completeUploadExternal`.
    pub shared: Option<(String, String, String)>,
    /// When `files.completeUploadExternal` was called: Slack processes the file after that.
    pub completed_at: Option<Instant>,
    /// `alt_txt` of `files.getUploadURLExternal`.
    pub alt_text: Option<String>,
}

impl UploadedFile {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(self.content.as_deref().unwrap_or_default()).into_owned()
    }
}

fn new_channel(inner: &mut Inner, name: &str) -> String {
    inner.next_channel += 1;
    let id = format!("C0NEW{:04}", inner.next_channel);
    inner.channels.push(ChannelInfo { id: id.clone(), name: name.to_owned(), ..ChannelInfo::default() });
    id
}

#[derive(Default)]
struct Inner {
    /// Scripted answers for one method's next calls.
    method_script: BTreeMap<String, VecDeque<ApiReply>>,
    channels: Vec<ChannelInfo>,
    next_channel: u64,
    files: BTreeMap<String, UploadedFile>,
    /// Where uploads go (`http://<addr>/upload/<id>`).
    upload_base: String,
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
    /// `conversations.replies` takes only a thread's parent `ts` (stricter than Slack documents).
    replies_need_parent: bool,
    /// Answers for every call of one method until cleared (an outage of that method).
    method_always: BTreeMap<String, ApiReply>,
    /// How long after `files.completeUploadExternal` a file can be shown in an image block (Slack
    /// processes uploads asynchronously and refuses a `slack_file` it has not finished with).
    file_ready_after: Duration,
    /// Home tabs published (`views.publish`): user → view.
    views: BTreeMap<String, Value>,
    /// People `users.info` knows: ID → (display name, real name).
    users: BTreeMap<String, (String, String)>,
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
        let inner = Inner {
            token: token.to_owned(),
            next_ts: 1_700_000_000_000_100,
            upload_base: format!("http://{addr}/upload/"),
            ..Inner::default()
        };
        let standin = Self { addr, inner: Arc::new(Mutex::new(inner)), on_call: tx };
        let app = Router::new()
            .route("/api/{method}", post(handle))
            .route("/upload/{id}", post(upload))
            .with_state(standin.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        standin
    }

    /// Makes `users.info` know user `id` with a display name (may be empty) and a real name.
    pub fn set_user(&self, id: &str, display_name: &str, real_name: &str) {
        self.inner.lock().unwrap().users.insert(id.to_owned(), (display_name.to_owned(), real_name.to_owned()));
    }

    /// The Home tab last published for `user` (`views.publish`).
    pub fn home_view(&self, user: &str) -> Option<Value> {
        self.inner.lock().unwrap().views.get(user).cloned()
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
            pinned: false,
        });
        ts
    }

    /// A message `user` wrote in `channel`. Returns its `ts`.
    pub fn user_message_as(&self, channel: &str, user: &str, text: &str) -> String {
        let ts = self.user_message(channel, text);
        let mut inner = self.inner.lock().unwrap();
        if let Some(m) = inner.messages.iter_mut().find(|m| m.ts == ts) {
            m.body["user"] = json!(user);
        }
        ts
    }

    /// A reply `user` wrote in the thread of `thread_ts`. Returns its `ts`.
    pub fn user_reply_as(&self, channel: &str, thread_ts: &str, user: &str, text: &str) -> String {
        let ts = self.user_message_as(channel, user, text);
        let mut inner = self.inner.lock().unwrap();
        if let Some(m) = inner.messages.iter_mut().find(|m| m.ts == ts) {
            m.thread_ts = Some(thread_ts.to_owned());
        }
        ts
    }

    /// `conversations.replies` answers `thread_not_found` for a reply's own `ts` (only parents).
    pub fn replies_need_parent(&self) {
        self.inner.lock().unwrap().replies_need_parent = true;
    }

    /// Message timestamps from now on follow the real clock (Slack's own `ts` are the time of posting),
    /// for tests that compare them with the functions' clocks.
    pub fn use_real_clock(&self) {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        let mut inner = self.inner.lock().unwrap();
        inner.next_ts = inner.next_ts.max(now.as_micros() as u64);
    }

    /// Every call of `method` (`None`: of every method) gets `reply` from now on; `None` ends it.
    pub fn outage(&self, method: Option<&str>, reply: Option<ApiReply>) {
        let mut inner = self.inner.lock().unwrap();
        match method {
            Some(method) => match reply {
                Some(reply) => {
                    inner.method_always.insert(method.to_owned(), reply);
                }
                None => {
                    inner.method_always.remove(method);
                }
            },
            None => inner.fallback = reply,
        }
    }

    /// The next call of `method` gets `reply` (other methods are not affected).
    pub fn fail_method(&self, method: &str, reply: ApiReply) {
        self.inner.lock().unwrap().method_script.entry(method.to_owned()).or_default().push_back(reply);
    }

    /// Makes a channel exist (created by a person), so a `conversations.create` of its name is `name_taken`.
    pub fn make_channel(&self, name: &str) -> String {
        let mut inner = self.inner.lock().unwrap();
        new_channel(&mut inner, name)
    }

    /// Files become usable in image blocks only this long after their upload is completed.
    pub fn files_ready_after(&self, delay: Duration) {
        self.inner.lock().unwrap().file_ready_after = delay;
    }

    /// Every channel created or made, in order.
    pub fn channels(&self) -> Vec<ChannelInfo> {
        self.inner.lock().unwrap().channels.clone()
    }

    /// Files uploaded through `files.getUploadURLExternal` and the upload URL, with where they were shared.
    pub fn files(&self) -> Vec<UploadedFile> {
        self.inner.lock().unwrap().files.values().cloned().collect()
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
        let for_method = inner.method_script.get_mut(&method).and_then(VecDeque::pop_front);
        let always = inner.method_always.get(&method).cloned();
        for_method
            .or(always)
            .or_else(|| inner.script.pop_front())
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

/// The upload URL: takes the file's bytes as Slack's does (raw body), answers `OK - <length>`.
async fn upload(State(standin): State<SlackApiStandIn>, Path(id): Path<String>, body: Bytes) -> Response {
    let mut inner = standin.inner.lock().unwrap();
    match inner.files.get_mut(&id) {
        Some(file) => {
            file.content = Some(body.to_vec());
            (StatusCode::OK, format!("OK - {}", body.len())).into_response()
        }
        None => (StatusCode::NOT_FOUND, "no such upload").into_response(),
    }
}

fn ok(body: Value) -> Response {
    let mut body = body;
    body["ok"] = json!(true);
    axum::Json(body).into_response()
}

/// What incidents call: channels, pins, permalinks, history and files.
fn answer_incident_methods(inner: &mut Inner, method: &str, body: &Value) -> Option<(String, Response)> {
    let channel = body["channel"].as_str().or_else(|| body["channel_id"].as_str()).unwrap_or_default().to_owned();
    let fail = |code: &str| Some((code.to_owned(), slack_error(code)));
    let known = |inner: &Inner| inner.channels.iter().position(|c| c.id == channel);
    match method {
        "conversations.create" => {
            let name = body["name"].as_str().unwrap_or_default();
            let valid = !name.is_empty()
                && name.len() <= 80
                && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
            if !valid {
                return fail("invalid_name_specials");
            }
            if inner.channels.iter().any(|c| c.name == name) {
                return fail("name_taken");
            }
            let private = body["is_private"] == json!(true) || body["is_private"] == json!("true");
            let id = new_channel(inner, name);
            if let Some(created) = inner.channels.last_mut() {
                created.private = private;
            }
            let channel =
                json!({"id": id, "name": name, "is_channel": !private, "is_group": private, "is_private": private});
            Some(("ok".into(), ok(json!({ "channel": channel }))))
        }
        "conversations.members" => {
            // Pages of `limit` (Slack: at most 1,000), the cursor being the next index.
            let Some(at) = known(inner) else { return fail("channel_not_found") };
            let limit: usize = body["limit"].as_str().and_then(|l| l.parse().ok()).unwrap_or(100).clamp(1, 1000);
            let start: usize = body["cursor"].as_str().and_then(|c| c.parse().ok()).unwrap_or(0);
            let members = &inner.channels[at].members;
            let page: Vec<&String> = members.iter().skip(start).take(limit).collect();
            let next = if start + limit < members.len() { (start + limit).to_string() } else { String::new() };
            Some(("ok".into(), ok(json!({"members": page, "response_metadata": {"next_cursor": next}}))))
        }
        "conversations.invite" => {
            let Some(at) = known(inner) else { return fail("channel_not_found") };
            let users: Vec<String> = body["users"]
                .as_str()
                .unwrap_or_default()
                .split(',')
                .filter(|u| !u.is_empty())
                .map(str::to_owned)
                .collect();
            if users.is_empty() {
                return fail("no_user");
            }
            let members = &mut inner.channels[at].members;
            if users.iter().all(|u| members.contains(u)) {
                return fail("already_in_channel");
            }
            for u in users {
                if !members.contains(&u) {
                    members.push(u);
                }
            }
            Some(("ok".into(), ok(json!({"channel": {"id": channel}}))))
        }
        "conversations.setTopic" => {
            let Some(at) = known(inner) else { return fail("channel_not_found") };
            let topic = body["topic"].as_str().unwrap_or_default();
            if topic.chars().count() > 250 {
                return fail("too_long");
            }
            inner.channels[at].topic = topic.to_owned();
            Some(("ok".into(), ok(json!({"channel": {"id": channel, "topic": {"value": topic}}}))))
        }
        "pins.add" => {
            let ts = body["timestamp"].as_str().unwrap_or_default();
            let Some(message) = inner.messages.iter_mut().find(|m| m.channel == channel && m.ts == ts) else {
                return fail("message_not_found");
            };
            if message.pinned {
                return fail("already_pinned");
            }
            message.pinned = true;
            Some(("ok".into(), ok(json!({}))))
        }
        "chat.getPermalink" => {
            let ts = body["message_ts"].as_str().unwrap_or_default();
            if !inner.messages.iter().any(|m| m.channel == channel && m.ts == ts) {
                return fail("message_not_found");
            }
            let link = format!("https://acme.slack.com/archives/{channel}/p{}", ts.replace('.', ""));
            Some(("ok".into(), ok(json!({"channel": channel, "permalink": link}))))
        }
        "conversations.history" => {
            // Top-level messages only, newest first, as Slack's history has them (replies are not there).
            let latest = body["latest"].as_str().unwrap_or("9999999999.999999").to_owned();
            let inclusive = body["inclusive"].as_str() == Some("true");
            let limit: usize = body["limit"].as_str().and_then(|l| l.parse().ok()).unwrap_or(100);
            let before = |ts: &str| if inclusive { ts <= latest.as_str() } else { ts < latest.as_str() };
            let mut found: Vec<Value> = inner
                .messages
                .iter()
                .filter(|m| m.channel == channel && m.thread_ts.is_none() && before(&m.ts))
                .map(|m| as_history(inner, m))
                .collect();
            found.reverse();
            found.truncate(limit);
            Some(("ok".into(), ok(json!({"messages": found, "has_more": false}))))
        }
        "conversations.replies" => {
            // The thread of `ts`: its parent first, then the replies from `oldest` on, oldest first. `ts`
            // may be the parent or (as Slack documents) a message in the thread, unless the stand-in is
            // told to take only parents.
            let ts = body["ts"].as_str().unwrap_or_default();
            let Some(message) = inner.messages.iter().find(|m| m.channel == channel && m.ts == ts) else {
                return fail("thread_not_found");
            };
            if message.thread_ts.is_some() && inner.replies_need_parent {
                return fail("thread_not_found");
            }
            let parent = message.thread_ts.clone().unwrap_or_else(|| message.ts.clone());
            let oldest = body["oldest"].as_str().unwrap_or("0").to_owned();
            let inclusive = body["inclusive"].as_str() == Some("true");
            let limit: usize = body["limit"].as_str().and_then(|l| l.parse().ok()).unwrap_or(1000);
            let after = |ts: &str| if inclusive { ts >= oldest.as_str() } else { ts > oldest.as_str() };
            let mut found: Vec<Value> = inner
                .messages
                .iter()
                .filter(|m| m.channel == channel && m.ts == parent)
                .chain(inner.messages.iter().filter(|m| {
                    m.channel == channel && m.thread_ts.as_deref() == Some(parent.as_str()) && after(&m.ts)
                }))
                .map(|m| as_history(inner, m))
                .collect();
            found.truncate(limit);
            Some(("ok".into(), ok(json!({"messages": found, "has_more": false}))))
        }
        "files.getUploadURLExternal" => {
            let filename = body["filename"].as_str().unwrap_or_default().to_owned();
            let Some(length) = body["length"].as_str().and_then(|l| l.parse::<usize>().ok()) else {
                return fail("invalid_arguments");
            };
            if filename.is_empty() {
                return fail("invalid_arguments");
            }
            let id = format!("F0{:08}", inner.files.len() + 1);
            let url = format!("{}{id}", inner.upload_base);
            let alt_text = body["alt_txt"].as_str().map(str::to_owned);
            inner.files.insert(
                id.clone(),
                UploadedFile { id: id.clone(), filename, length, alt_text, ..UploadedFile::default() },
            );
            Some(("ok".into(), ok(json!({"upload_url": url, "file_id": id}))))
        }
        "files.completeUploadExternal" => {
            let Some(files) = body["files"].as_array().filter(|f| !f.is_empty()) else {
                return fail("invalid_arguments");
            };
            for f in files {
                let id = f["id"].as_str().unwrap_or_default();
                let Some(file) = inner.files.get_mut(id) else { return fail("file_not_found") };
                // Slack refuses a file whose bytes did not arrive, or not as many as announced.
                if file.content.as_ref().map(Vec::len) != Some(file.length) {
                    return fail("file_upload_size_mismatch");
                }
                let title = f["title"].as_str().unwrap_or(&file.filename).to_owned();
                let comment = body["initial_comment"].as_str().unwrap_or_default().to_owned();
                file.shared = Some((channel.clone(), title, comment));
                file.completed_at = Some(Instant::now());
            }
            Some(("ok".into(), ok(json!({"files": files}))))
        }
        // Retired by Slack (use the two steps above): refused as Slack refuses it for new apps.
        "files.upload" => fail("method_deprecated"),
        _ => None,
    }
}

/// Block Kit as Slack checks it on `chat.postMessage` / `chat.update`: at most 50 blocks, block IDs unique
/// (at most 255 characters), and image blocks with alt text (1 to 2,000 characters) and either an
/// `image_url` or a `slack_file` that is an uploaded file Slack has finished processing. `Err`: Slack's
/// `errors` line.
fn check_blocks(inner: &Inner, body: &Value) -> Result<(), String> {
    crate::block_kit::check_message(body)?;
    let lists = [body.get("blocks"), body.pointer("/attachments/0/blocks")];
    for (where_, blocks) in ["blocks", "attachments/0/blocks"].iter().zip(lists) {
        let Some(blocks) = blocks.and_then(Value::as_array) else { continue };
        if blocks.len() > 50 {
            return Err(format!("no more than 50 items allowed [json-pointer:/{where_}]"));
        }
        let mut ids = std::collections::BTreeSet::new();
        for (i, block) in blocks.iter().enumerate() {
            let at = format!("[json-pointer:/{where_}/{i}]");
            if let Some(id) = block["block_id"].as_str()
                && (id.is_empty() || id.chars().count() > 255 || !ids.insert(id.to_owned()))
            {
                return Err(format!("invalid additional property: block_id {at}"));
            }
            if block["type"] != "image" {
                continue;
            }
            let alt = block["alt_text"].as_str().unwrap_or_default();
            if alt.is_empty() || alt.chars().count() > 2000 {
                return Err(format!("must be between 1 and 2000 characters: alt_text {at}"));
            }
            match (block.get("image_url"), block.get("slack_file")) {
                (Some(url), None) if url.as_str().is_some_and(|u| u.starts_with("http")) => {}
                (None, Some(file)) => {
                    let id = file["id"].as_str().unwrap_or_default();
                    let well_formed = id.len() >= 9
                        && id.starts_with('F')
                        && id.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
                    let ready = inner
                        .files
                        .get(id)
                        .and_then(|f| f.completed_at)
                        .is_some_and(|done| done.elapsed() >= inner.file_ready_after);
                    if !well_formed || !ready {
                        return Err(format!("invalid slack file {at}"));
                    }
                }
                _ => return Err(format!("must provide exactly one of image_url or slack_file {at}")),
            }
        }
    }
    Ok(())
}

/// A message as `conversations.history` / `replies` show it: a parent with its replies' count and latest.
fn as_history(inner: &Inner, m: &StoredMessage) -> Value {
    let mut v = json!({"type": "message", "ts": m.ts, "text": m.text()});
    match m.body.get("user") {
        Some(user) => v["user"] = user.clone(),
        // Posted with the bot token: Slack marks the app's own messages so.
        None => v["bot_id"] = json!("B0CHATOPS"),
    }
    match &m.thread_ts {
        Some(parent) => v["thread_ts"] = json!(parent),
        None => {
            let replies: Vec<&StoredMessage> = inner
                .messages
                .iter()
                .filter(|r| r.channel == m.channel && r.thread_ts.as_ref() == Some(&m.ts))
                .collect();
            if let Some(last) = replies.last() {
                v["thread_ts"] = json!(m.ts);
                v["reply_count"] = json!(replies.len());
                v["latest_reply"] = json!(last.ts);
            }
        }
    }
    v
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
    if let Some((answer, response)) = answer_incident_methods(inner, method, body) {
        return (answer, response, None);
    }
    if method == "auth.test" {
        let reply = json!({"ok": true, "url": "https://standin.slack.com/", "team": "Stand-in", "team_id": "T0STANDIN",
            "user": "chatops", "user_id": "U0CHATOPS", "bot_id": "B0CHATOPS"});
        return ("ok".into(), axum::Json(reply).into_response(), None);
    }
    if method == "users.info" {
        // A read method: its argument comes form-encoded. Slack's shape: `user.profile.display_name` etc.
        let id = body["user"].as_str().unwrap_or_default();
        let Some((display, real)) = inner.users.get(id).cloned() else {
            return ("user_not_found".into(), slack_error("user_not_found"), None);
        };
        let handle = real.to_lowercase().replace(' ', ".");
        let reply = json!({"ok": true, "user": {"id": id, "name": handle, "real_name": real,
            "profile": {"display_name": display, "real_name": real}}});
        return ("ok".into(), axum::Json(reply).into_response(), None);
    }
    if method == "views.publish" {
        let user = body["user_id"].as_str().unwrap_or_default();
        if user.is_empty() {
            return ("invalid_arguments".into(), slack_error("invalid_arguments"), None);
        }
        if let Err(error) = crate::block_kit::check_view(&body["view"]) {
            let reply = json!({"ok": false, "error": "invalid_arguments", "response_metadata": {"messages": [error]}});
            return ("invalid_arguments".into(), axum::Json(reply).into_response(), None);
        }
        inner.views.insert(user.to_owned(), body["view"].clone());
        return ("ok".into(), axum::Json(json!({"ok": true, "view": body["view"]})).into_response(), None);
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
    if let Err(error) = check_blocks(inner, body) {
        let reply = json!({"ok": false, "error": "invalid_blocks", "errors": [error]});
        return ("invalid_blocks".into(), axum::Json(reply).into_response(), None);
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
                pinned: false,
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
