//! Delivers a message to a Slack incoming webhook (or a `response_url`, which speaks the same protocol),
//! retrying what can succeed later and never past the invocation's deadline.
//!
//! 429: wait `Retry-After`. 5xx, timeouts and connection errors: back off and retry. Other 4xx: Slack
//! will give the same answer again (`invalid_payload`, `no_service`, `channel_not_found`), so no retry.
//! The retry loop is the HTTP floor's ([`RetryPolicy::run`]); this module adds the webhook protocol.
//! Adapter floor: imports the HTTP and base floors.

use std::time::{Duration, Instant};

use serde::Serialize;

use crate::http::{Attempt, Exchange, GaveUp, RateLimitReader, RetryPolicy};
use crate::secret::Secret;

/// A successful delivery.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivered {
    pub attempts: u32,
    pub latency: Duration,
    /// The answer's body (Discord's message, with `?wait=true`).
    pub answer: String,
}

/// Why a message could not be delivered. Messages carry Slack's answer, never the URL.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryError {
    #[error("the webhook rejected the message with HTTP {status}: {answer}")]
    Rejected { status: u16, answer: String, attempts: u32 },
    #[error("webhook delivery failed after {attempts} attempts: {last}")]
    Exhausted { last: String, attempts: u32 },
    #[error("webhook delivery gave up at the invocation deadline after {attempts} attempts: {last}")]
    Deadline { last: String, attempts: u32 },
    #[error("the message could not be serialised: {0}")]
    Serialise(String),
}

impl DeliveryError {
    pub fn attempts(&self) -> u32 {
        match self {
            Self::Rejected { attempts, .. } | Self::Exhausted { attempts, .. } | Self::Deadline { attempts, .. } => {
                *attempts
            }
            Self::Serialise(_) => 0,
        }
    }
}

/// Slack's 429: `Retry-After` alone.
struct SlackRateLimit;

impl RateLimitReader for SlackRateLimit {
    fn retry_after(&self, exchange: &Exchange) -> Option<Duration> {
        exchange.retry_after
    }
}

/// Posts JSON bodies to a Slack URL held as a secret.
#[derive(Clone, Debug)]
pub struct SlackPoster {
    client: reqwest::Client,
    policy: RetryPolicy,
}

impl SlackPoster {
    pub fn new(client: reqwest::Client, policy: RetryPolicy) -> Self {
        Self { client, policy }
    }

    /// Posts `body` to `url`, retrying within `deadline`.
    pub async fn post<T: Serialize + ?Sized>(
        &self,
        url: &Secret,
        body: &T,
        deadline: Instant,
    ) -> Result<Delivered, DeliveryError> {
        self.post_to(&SlackRateLimit, url, body, deadline).await
    }

    /// Posts `body` to a webhook whose rate-limit answers `platform` reads (Slack, Mattermost, Teams,
    /// Discord all speak the webhook protocol, each its own 429).
    pub async fn post_to<T: Serialize + ?Sized>(
        &self,
        platform: &dyn RateLimitReader,
        url: &Secret,
        body: &T,
        deadline: Instant,
    ) -> Result<Delivered, DeliveryError> {
        let body = serde_json::to_vec(body).map_err(|e| DeliveryError::Serialise(e.to_string()))?;
        let started = Instant::now();
        let (outcome, attempts) = self
            .policy
            .run(deadline, |timeout| {
                let request = self
                    .client
                    .post(url.expose())
                    .header(reqwest::header::CONTENT_TYPE, "application/json; charset=utf-8")
                    .body(body.clone());
                async move {
                    let exchange = match Exchange::send(request, timeout).await {
                        Ok(exchange) => exchange,
                        Err(failed) => return Attempt::Retry { wait: None, why: failed.why },
                    };
                    if (200..300).contains(&exchange.status) {
                        return Attempt::Done(exchange.body);
                    }
                    if exchange.status == 429 {
                        crate::metrics::count(crate::metrics::Metric::SlackRateLimited, 1);
                        let wait = platform.retry_after(&exchange);
                        return Attempt::Retry {
                            wait: Some(wait.unwrap_or(self.policy.default_retry_after)),
                            why: format!("HTTP 429 rate limited: {}", exchange.short_body()),
                        };
                    }
                    exchange
                        .retry(self.policy.default_retry_after)
                        .unwrap_or_else(|| Attempt::Fatal((exchange.status, exchange.short_body())))
                }
            })
            .await;
        delivered(outcome, attempts, started)
    }

    /// Edits Discord webhook message `message_id` (`PATCH <webhook>/messages/<id>`) with `payload` (its
    /// `embeds`, the `attachments` list) and one PNG as `files[0]`, multipart as Discord takes files.
    /// Retried like a post; the URL (a secret) never reaches a log.
    pub async fn edit_discord_with_file(
        &self,
        webhook: &Secret,
        message_id: &str,
        payload: &serde_json::Value,
        (filename, png): (&str, &[u8]),
        deadline: Instant,
    ) -> Result<Delivered, DeliveryError> {
        let url = discord_message_url(webhook.expose(), message_id);
        // A boundary no PNG or JSON of ours contains: the time and the image's length, 30-odd characters.
        let boundary = format!("chatops-graph-{:x}-{:x}-boundary", crate::clock::now_ms(), png.len());
        let mut body = Vec::with_capacity(png.len() + 4096);
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"payload_json\"\r\nContent-Type: application/json\r\n\r\n{payload}\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"files[0]\"; filename=\"{filename}\"\r\nContent-Type: image/png\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(png);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let started = Instant::now();
        let content_type = format!("multipart/form-data; boundary={boundary}");
        let (outcome, attempts) = self
            .policy
            .run(deadline, |timeout| {
                let request = self
                    .client
                    .patch(&url)
                    .header(reqwest::header::CONTENT_TYPE, content_type.clone())
                    .body(body.clone());
                async move {
                    let exchange = match Exchange::send(request, timeout).await {
                        Ok(exchange) => exchange,
                        Err(failed) => return Attempt::Retry { wait: None, why: failed.why },
                    };
                    if (200..300).contains(&exchange.status) {
                        return Attempt::Done(exchange.body);
                    }
                    exchange
                        .retry(self.policy.default_retry_after)
                        .unwrap_or_else(|| Attempt::Fatal((exchange.status, exchange.short_body())))
                }
            })
            .await;
        delivered(outcome, attempts, started)
    }
}

/// A webhook call's end, from the retry loop's.
fn delivered(
    outcome: Result<String, GaveUp<(u16, String)>>,
    attempts: u32,
    started: Instant,
) -> Result<Delivered, DeliveryError> {
    match outcome {
        Ok(answer) => Ok(Delivered { attempts, latency: started.elapsed(), answer }),
        Err(GaveUp::Fatal((status, answer))) => Err(DeliveryError::Rejected { status, answer, attempts }),
        Err(GaveUp::Exhausted(last)) => Err(DeliveryError::Exhausted { last, attempts }),
        Err(GaveUp::Deadline(last)) => Err(DeliveryError::Deadline { last, attempts }),
    }
}

/// `<webhook>/messages/<id>`, keeping the webhook's query (`?thread_id=…`).
pub fn discord_message_url(webhook: &str, message_id: &str) -> String {
    match webhook.split_once('?') {
        Some((base, query)) => format!("{}/messages/{message_id}?{query}", base.trim_end_matches('/')),
        None => format!("{}/messages/{message_id}", webhook.trim_end_matches('/')),
    }
}

/// The webhook URL asking Discord to answer with the message it made (`wait=true`), so it can be edited.
pub fn discord_wait_url(webhook: &str) -> String {
    let sep = if webhook.contains('?') { '&' } else { '?' };
    format!("{webhook}{sep}wait=true")
}

#[cfg(test)]
mod discord_url_tests {
    use super::*;

    #[test]
    fn message_urls_keep_the_thread() {
        assert_eq!(
            discord_message_url("https://discord.com/api/webhooks/1/abc", "9"),
            "https://discord.com/api/webhooks/1/abc/messages/9"
        );
        assert_eq!(
            discord_message_url("https://discord.com/api/webhooks/1/abc?thread_id=5", "9"),
            "https://discord.com/api/webhooks/1/abc/messages/9?thread_id=5"
        );
        assert_eq!(discord_wait_url("https://d/x"), "https://d/x?wait=true");
        assert_eq!(discord_wait_url("https://d/x?thread_id=5"), "https://d/x?thread_id=5&wait=true");
    }
}
