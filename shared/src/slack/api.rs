//! The Slack Web API with a bot token (`chat.postMessage`, `chat.update`, `reactions.add`, and any other
//! method through [`SlackApi::call_json`] / [`SlackApi::call_form`]): JSON bodies, `Authorization:
//! Bearer`, and Slack's way of failing, an HTTP 200 with `{"ok": false, "error": "..."}`, classified into
//! what is worth retrying, what a fix of the configuration needs, and what the message itself caused.
//! Retries go through the same deadline-aware loop as webhooks ([`RetryPolicy::run`]).

use std::time::Instant;

use serde_json::{Value, json};

use crate::http::{Attempt, Exchange, GaveUp, RetryPolicy, SendFailure};
use crate::secret::Secret;

/// What an `ok: false` answer means for us.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorClass {
    /// The token, the app or the channel needs fixing (`invalid_auth`, `channel_not_found`, ...).
    Config,
    /// Slack refuses this message as it is (`invalid_blocks`, `msg_too_long`, ...).
    Message,
    /// The message to update or reply to is gone or can no longer be edited.
    Gone,
    /// Transient on Slack's side: retried within the deadline.
    Transient,
    /// Anything else: not retried.
    Other,
}

impl ErrorClass {
    /// Classifies one of Slack's error codes.
    pub fn of(code: &str) -> Self {
        match code {
            "invalid_auth"
            | "not_authed"
            | "token_revoked"
            | "token_expired"
            | "account_inactive"
            | "channel_not_found"
            | "not_in_channel"
            | "is_archived"
            | "missing_scope"
            | "no_permission"
            | "restricted_action"
            | "ekm_access_denied"
            | "team_access_not_granted"
            | "org_login_required"
            | "not_allowed_token_type" => Self::Config,
            "invalid_blocks"
            | "invalid_blocks_format"
            | "invalid_attachments"
            | "msg_too_long"
            | "no_text"
            | "too_many_attachments"
            | "invalid_arguments"
            | "invalid_json"
            | "json_not_object"
            | "invalid_form_data" => Self::Message,
            "message_not_found"
            | "cant_update_message"
            | "edit_window_closed"
            | "thread_not_found"
            | "cant_reply_to_message" => Self::Gone,
            "ratelimited"
            | "rate_limited"
            | "internal_error"
            | "fatal_error"
            | "service_unavailable"
            | "request_timeout" => Self::Transient,
            _ => Self::Other,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Config => "configuration",
            Self::Message => "message",
            Self::Gone => "message gone",
            Self::Transient => "transient",
            Self::Other => "other",
        }
    }
}

/// Why a Web API call failed. Carries Slack's error code and the channel, never the token.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    #[error("Slack {method} failed in channel {channel}: {code} ({} error{})", class.as_str(), hint(code))]
    Refused { method: &'static str, channel: String, code: String, class: ErrorClass, attempts: u32 },
    #[error("Slack {method} answered HTTP {status} in channel {channel}: {answer}")]
    Http { method: &'static str, channel: String, status: u16, answer: String, attempts: u32 },
    #[error("Slack {method} failed in channel {channel} after {attempts} attempts: {last}")]
    Exhausted { method: &'static str, channel: String, last: String, attempts: u32 },
    #[error("Slack {method} gave up at the invocation deadline in channel {channel} after {attempts} attempts: {last}")]
    Deadline { method: &'static str, channel: String, last: String, attempts: u32 },
}

/// What to do about the commonest configuration errors, for the log line an operator reads.
fn hint(code: &str) -> &'static str {
    match code {
        "not_in_channel" => "; invite the app to the channel (/invite @chatops)",
        "channel_not_found" => "; check the channel ID in SLACK_ROUTES / SLACK_CHANNEL, and invite the app",
        "invalid_auth" | "not_authed" | "token_revoked" | "token_expired" => "; check the bot token (xoxb-...)",
        "missing_scope" => "; add the scope to the app (slack/manifest.yaml) and reinstall it",
        _ => "",
    }
}

impl ApiError {
    pub fn attempts(&self) -> u32 {
        match self {
            Self::Refused { attempts, .. }
            | Self::Http { attempts, .. }
            | Self::Exhausted { attempts, .. }
            | Self::Deadline { attempts, .. } => *attempts,
        }
    }

    /// Slack's error code, when Slack gave one.
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Refused { code, .. } => Some(code),
            _ => None,
        }
    }

    /// Slack refused the token itself (revoked, expired, rotated away): worth reading it again.
    pub fn is_credential_refused(&self) -> bool {
        matches!(
            self.code(),
            Some("invalid_auth" | "not_authed" | "token_revoked" | "token_expired" | "account_inactive")
        )
    }

    /// The message to update or reply to no longer exists or cannot be edited.
    pub fn is_gone(&self) -> bool {
        matches!(self, Self::Refused { class: ErrorClass::Gone, .. })
    }
}

/// A message Slack accepted: the channel ID (Slack answers with the ID even when given a name) and its `ts`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Posted {
    pub channel: String,
    pub ts: String,
    pub attempts: u32,
}

/// The Web API client of a container: one per container, over the shared HTTP client.
#[derive(Clone, Debug)]
pub struct SlackApi {
    client: reqwest::Client,
    base: String,
    policy: RetryPolicy,
}

impl SlackApi {
    /// `base` is the API root (`https://slack.com/api/`); a missing final `/` is added.
    pub fn new(client: reqwest::Client, base: &str, policy: RetryPolicy) -> Self {
        let mut base = base.trim().to_owned();
        if !base.ends_with('/') {
            base.push('/');
        }
        Self { client, base, policy }
    }

    /// `chat.postMessage` of `message` (a Slack message body: `text`, `blocks` / `attachments`) to
    /// `channel`, in the thread of `thread_ts` when given; `broadcast` also shows a thread reply in the channel.
    pub async fn post_message(
        &self,
        token: &Secret,
        channel: &str,
        message: &Value,
        thread: Option<(&str, bool)>,
        deadline: Instant,
    ) -> Result<Posted, ApiError> {
        let mut body = with_channel(message, channel);
        body["unfurl_links"] = json!(false);
        body["unfurl_media"] = json!(false);
        if let Some((ts, broadcast)) = thread {
            body["thread_ts"] = json!(ts);
            if broadcast {
                body["reply_broadcast"] = json!(true);
            }
        }
        self.call("chat.postMessage", token, channel, &body, deadline)
            .await
            .and_then(posted("chat.postMessage", channel))
    }

    /// `chat.update` of the message `ts` in `channel` (a channel ID) with `message`.
    pub async fn update(
        &self,
        token: &Secret,
        channel: &str,
        ts: &str,
        message: &Value,
        deadline: Instant,
    ) -> Result<Posted, ApiError> {
        let mut body = with_channel(message, channel);
        body["ts"] = json!(ts);
        // chat.update keeps the old blocks unless told otherwise: send both, empty when unused.
        if body.get("blocks").is_none() {
            body["blocks"] = json!([]);
        }
        if body.get("attachments").is_none() {
            body["attachments"] = json!([]);
        }
        self.call("chat.update", token, channel, &body, deadline).await.and_then(posted("chat.update", channel))
    }

    /// `reactions.add` of emoji `name` (without colons) on message `ts`; a reaction already there counts as added.
    pub async fn add_reaction(
        &self,
        token: &Secret,
        channel: &str,
        ts: &str,
        name: &str,
        deadline: Instant,
    ) -> Result<(), ApiError> {
        let body = json!({"channel": channel, "timestamp": ts, "name": name});
        match self.call("reactions.add", token, channel, &body, deadline).await {
            Ok(_) => Ok(()),
            Err(err) if err.code() == Some("already_reacted") => Ok(()),
            Err(err) => Err(err),
        }
    }

    /// `usergroups.users.list`: the members of user group `group` (`S…`). Needs the `usergroups:read` scope.
    pub async fn usergroup_members(
        &self,
        token: &Secret,
        group: &str,
        deadline: Instant,
    ) -> Result<Vec<String>, ApiError> {
        // A read method: Slack takes its arguments form-encoded, not as JSON.
        let form = serde_urlencoded::to_string([("usergroup", group)]).unwrap_or_default();
        let (answer, _) = self
            .send(
                "usergroups.users.list",
                token,
                group,
                form.into_bytes(),
                "application/x-www-form-urlencoded",
                deadline,
            )
            .await?;
        Ok(answer["users"].as_array().into_iter().flatten().filter_map(Value::as_str).map(str::to_owned).collect())
    }

    /// Any Web API method that takes a JSON body (`conversations.create`, `pins.add`, …): Slack's answer.
    pub async fn call_json(
        &self,
        token: &Secret,
        method: &'static str,
        body: &Value,
        deadline: Instant,
    ) -> Result<Value, ApiError> {
        let channel = body["channel"].as_str().or_else(|| body["channel_id"].as_str()).unwrap_or_default().to_owned();
        self.call(method, token, &channel, body, deadline).await.map(|(answer, _)| answer)
    }

    /// A method whose arguments Slack reads form-encoded (`conversations.history`,
    /// `files.getUploadURLExternal`, `chat.getPermalink`): Slack's answer.
    pub async fn call_form(
        &self,
        token: &Secret,
        method: &'static str,
        args: &[(&str, &str)],
        deadline: Instant,
    ) -> Result<Value, ApiError> {
        let channel = args.iter().find(|(k, _)| *k == "channel").map(|(_, v)| *v).unwrap_or_default();
        let form = serde_urlencoded::to_string(args).unwrap_or_default();
        let content_type = "application/x-www-form-urlencoded";
        self.send(method, token, channel, form.into_bytes(), content_type, deadline).await.map(|(answer, _)| answer)
    }

    /// Uploads a file in Slack's two steps without sharing it anywhere (`files.getUploadURLExternal`, the
    /// bytes, `files.completeUploadExternal` with no channel): the app's own file, shown where an image
    /// block refers to it (`slack_file`). Returns the file's ID.
    pub async fn upload_private(
        &self,
        token: &Secret,
        filename: &str,
        title: &str,
        alt_text: &str,
        bytes: Vec<u8>,
        deadline: Instant,
    ) -> Result<String, ApiError> {
        let method = "files.getUploadURLExternal";
        let length = bytes.len().to_string();
        let alt = crate::text::truncate(alt_text, 1000);
        let args = [("filename", filename), ("length", length.as_str()), ("alt_txt", &*alt)];
        let answer = self.call_form(token, method, &args, deadline).await?;
        let (Some(url), Some(file_id)) = (answer["upload_url"].as_str(), answer["file_id"].as_str()) else {
            let answer = "no upload_url or file_id".to_owned();
            return Err(ApiError::Http { method, channel: String::new(), status: 200, answer, attempts: 1 });
        };
        self.upload(url, bytes, deadline).await?;
        let body = json!({ "files": [{ "id": file_id, "title": title }] });
        self.call_json(token, "files.completeUploadExternal", &body, deadline).await?;
        Ok(file_id.to_owned())
    }

    /// Sends a file's bytes to the `upload_url` that `files.getUploadURLExternal` gave (no token: the
    /// URL itself is the credential, and is never logged).
    pub async fn upload(&self, url: &str, bytes: Vec<u8>, deadline: Instant) -> Result<(), ApiError> {
        let method = "file upload";
        let (outcome, attempts) = self
            .policy
            .run(deadline, |timeout| {
                let request = self
                    .client
                    .post(url)
                    .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
                    .body(bytes.clone());
                async move {
                    match Exchange::send(request, timeout).await {
                        Err(failed) => Attempt::Retry { wait: None, why: failed.why },
                        Ok(exchange) => match exchange.retry(self.policy.default_retry_after) {
                            Some(retry) => retry,
                            None if (200..300).contains(&exchange.status) => Attempt::Done(()),
                            None => Attempt::Fatal((exchange.status, exchange.short_body())),
                        },
                    }
                }
            })
            .await;
        let channel = String::new();
        match outcome {
            Ok(()) => Ok(()),
            Err(GaveUp::Fatal((status, answer))) => Err(ApiError::Http { method, channel, status, answer, attempts }),
            Err(GaveUp::Exhausted(last)) => Err(ApiError::Exhausted { method, channel, last, attempts }),
            Err(GaveUp::Deadline(last)) => Err(ApiError::Deadline { method, channel, last, attempts }),
        }
    }

    async fn call(
        &self,
        method: &'static str,
        token: &Secret,
        channel: &str,
        body: &Value,
        deadline: Instant,
    ) -> Result<(Value, u32), ApiError> {
        let bytes = serde_json::to_vec(body).unwrap_or_default();
        self.send(method, token, channel, bytes, "application/json; charset=utf-8", deadline).await
    }

    async fn send(
        &self,
        method: &'static str,
        token: &Secret,
        channel: &str,
        bytes: Vec<u8>,
        content_type: &'static str,
        deadline: Instant,
    ) -> Result<(Value, u32), ApiError> {
        let url = format!("{}{method}", self.base);
        let (outcome, attempts) = self
            .policy
            .run(deadline, |timeout| {
                let request = self
                    .client
                    .post(&url)
                    .bearer_auth(token.expose())
                    .header(reqwest::header::CONTENT_TYPE, content_type)
                    .body(bytes.clone());
                async move { self.classify(Exchange::send(request, timeout).await) }
            })
            .await;
        let channel = channel.to_owned();
        match outcome {
            Ok(answer) => Ok((answer, attempts)),
            Err(GaveUp::Fatal(Fatal::Refused(code))) => {
                let class = ErrorClass::of(&code);
                Err(ApiError::Refused { method, channel, code, class, attempts })
            }
            Err(GaveUp::Fatal(Fatal::Http(status, answer))) => {
                Err(ApiError::Http { method, channel, status, answer, attempts })
            }
            Err(GaveUp::Exhausted(last)) => Err(ApiError::Exhausted { method, channel, last, attempts }),
            Err(GaveUp::Deadline(last)) => Err(ApiError::Deadline { method, channel, last, attempts }),
        }
    }

    fn classify(&self, sent: Result<Exchange, SendFailure>) -> Attempt<Value, Fatal> {
        let exchange = match sent {
            Ok(exchange) => exchange,
            Err(failed) => return Attempt::Retry { wait: None, why: failed.why },
        };
        if exchange.status == 429 {
            crate::metrics::count(crate::metrics::Metric::SlackRateLimited, 1);
        }
        if let Some(retry) = exchange.retry(self.policy.default_retry_after) {
            return retry;
        }
        let answer: Value = serde_json::from_str(&exchange.body).unwrap_or(Value::Null);
        if !(200..300).contains(&exchange.status) || !answer.is_object() {
            return Attempt::Fatal(Fatal::Http(exchange.status, exchange.short_body()));
        }
        if answer["ok"] == json!(true) {
            return Attempt::Done(answer);
        }
        let code = answer["error"].as_str().unwrap_or("unknown_error").to_owned();
        match ErrorClass::of(&code) {
            ErrorClass::Transient => Attempt::Retry {
                wait: matches!(code.as_str(), "ratelimited" | "rate_limited")
                    .then_some(exchange.retry_after.unwrap_or(self.policy.default_retry_after)),
                why: format!("Slack answered {code}"),
            },
            _ => Attempt::Fatal(Fatal::Refused(code)),
        }
    }
}

/// The channel and `ts` of a message Slack accepted, from its answer.
fn posted(method: &'static str, channel: &str) -> impl FnOnce((Value, u32)) -> Result<Posted, ApiError> + use<> {
    let channel = channel.to_owned();
    move |(answer, attempts)| {
        let answered_channel = answer["channel"].as_str().map(str::to_owned);
        match answer["ts"].as_str() {
            Some(ts) => Ok(Posted { channel: answered_channel.unwrap_or(channel), ts: ts.to_owned(), attempts }),
            None => Err(ApiError::Http { method, channel, status: 200, answer: "ok without a ts".into(), attempts }),
        }
    }
}

enum Fatal {
    Refused(String),
    Http(u16, String),
}

/// The body with `channel` set, and no webhook-only keys (`response_type`, `replace_original`).
fn with_channel(message: &Value, channel: &str) -> Value {
    let mut body = match message {
        Value::Object(map) => Value::Object(map.clone()),
        other => json!({ "text": other.as_str().unwrap_or_default() }),
    };
    if let Some(map) = body.as_object_mut() {
        map.remove("response_type");
        map.remove("replace_original");
        map.insert("channel".into(), json!(channel));
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_are_classified() {
        for code in ["invalid_auth", "not_authed", "token_revoked", "account_inactive", "channel_not_found"] {
            assert_eq!(ErrorClass::of(code), ErrorClass::Config, "{code}");
        }
        for code in ["not_in_channel", "is_archived"] {
            assert_eq!(ErrorClass::of(code), ErrorClass::Config, "{code}");
        }
        assert_eq!(ErrorClass::of("invalid_blocks"), ErrorClass::Message);
        assert_eq!(ErrorClass::of("msg_too_long"), ErrorClass::Message);
        assert_eq!(ErrorClass::of("ratelimited"), ErrorClass::Transient);
        assert_eq!(ErrorClass::of("internal_error"), ErrorClass::Transient);
        assert_eq!(ErrorClass::of("message_not_found"), ErrorClass::Gone);
        assert_eq!(ErrorClass::of("something_new"), ErrorClass::Other);
    }

    #[test]
    fn errors_name_the_code_the_channel_and_what_to_do() {
        let err = ApiError::Refused {
            method: "chat.postMessage",
            channel: "C0PAYMENTS".into(),
            code: "not_in_channel".into(),
            class: ErrorClass::Config,
            attempts: 1,
        };
        let text = err.to_string();
        assert!(text.contains("not_in_channel") && text.contains("C0PAYMENTS") && text.contains("/invite"), "{text}");
    }

    #[test]
    fn webhook_only_keys_are_dropped_and_the_channel_set() {
        let body = with_channel(&json!({"text": "t", "response_type": "in_channel", "channel": "#x"}), "C1");
        assert_eq!(body, json!({"text": "t", "channel": "C1"}));
    }
}
