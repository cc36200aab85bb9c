//! Delivers a message to a Slack incoming webhook (or a `response_url`, which speaks the same protocol),
//! retrying what can succeed later and never past the invocation's deadline.
//!
//! 429: wait `Retry-After`. 5xx, timeouts and connection errors: back off and retry. Other 4xx: Slack
//! will give the same answer again (`invalid_payload`, `no_service`, `channel_not_found`), so no retry.

use std::time::{Duration, Instant};

use serde::Serialize;

use crate::secret::Secret;

/// How hard to try. The defaults suit a notifier with a 10 s+ Lambda timeout.
#[derive(Clone, Debug)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    /// First backoff after a 5xx or a timeout; doubled each time.
    pub backoff: Duration,
    /// The longest one HTTP attempt may take.
    pub attempt_timeout: Duration,
    /// Time kept back before the deadline so the function can still report the outcome.
    pub reserve: Duration,
    /// `Retry-After` used when Slack sends a 429 without one.
    pub default_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            backoff: Duration::from_millis(250),
            attempt_timeout: Duration::from_secs(5),
            reserve: Duration::from_millis(300),
            default_retry_after: Duration::from_secs(1),
        }
    }
}

/// A successful delivery.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivered {
    pub attempts: u32,
    pub latency: Duration,
}

/// Why a message could not be delivered. Messages carry Slack's answer, never the URL.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryError {
    #[error("Slack rejected the message with HTTP {status}: {answer}")]
    Rejected { status: u16, answer: String, attempts: u32 },
    #[error("Slack delivery failed after {attempts} attempts: {last}")]
    Exhausted { last: String, attempts: u32 },
    #[error("Slack delivery gave up at the invocation deadline after {attempts} attempts: {last}")]
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

/// Posts JSON bodies to a Slack URL held as a secret.
#[derive(Clone, Debug)]
pub struct SlackPoster {
    client: reqwest::Client,
    policy: RetryPolicy,
}

/// Builds the one HTTP client a container shares (rustls; connection reuse across invocations).
///
/// Its trust roots are Mozilla's, compiled in (webpki-roots), instead of the platform store: loading
/// and parsing the ~150 certificates of `/etc/ssl/certs` took milliseconds of every cold start.
pub fn http_client() -> Result<reqwest::Client, HttpClientError> {
    let roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
    let tls =
        rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| HttpClientError(e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .connect_timeout(Duration::from_secs(3))
        .pool_idle_timeout(Duration::from_secs(50))
        .user_agent(concat!("chatops-lambda/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| HttpClientError(e.to_string()))
}

/// The HTTP client could not be built (TLS configuration).
#[derive(Debug, thiserror::Error)]
#[error("could not build the HTTP client: {0}")]
pub struct HttpClientError(String);

/// An error with its causes ("error sending request: ... invalid peer certificate: UnknownIssuer"): reqwest's
/// own message alone does not say what went wrong. Callers strip the URL first (`without_url`).
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !out.ends_with(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = cause.source();
    }
    out
}

enum Attempt {
    Done,
    Fatal(DeliveryError),
    Retry { wait: Duration, why: String },
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
        let body = serde_json::to_vec(body).map_err(|e| DeliveryError::Serialise(e.to_string()))?;
        let started = Instant::now();
        let mut attempts = 0;
        let mut last = String::from("no attempt made");
        let mut backoff = self.policy.backoff;
        loop {
            let Some(budget) = deadline.checked_duration_since(Instant::now() + self.policy.reserve) else {
                return Err(DeliveryError::Deadline { last, attempts });
            };
            if attempts >= self.policy.max_attempts {
                return Err(DeliveryError::Exhausted { last, attempts });
            }
            attempts += 1;
            let timeout = budget.min(self.policy.attempt_timeout);
            match self.attempt(url, &body, timeout, attempts, &mut backoff).await {
                Attempt::Done => {
                    return Ok(Delivered { attempts, latency: started.elapsed() });
                }
                Attempt::Fatal(err) => return Err(err),
                Attempt::Retry { wait, why } => {
                    tracing::warn!(attempt = attempts, wait_ms = wait.as_millis() as u64, reason = %why, "Slack delivery will be retried");
                    last = why;
                    if Instant::now() + wait + self.policy.reserve >= deadline {
                        return Err(DeliveryError::Deadline { last, attempts });
                    }
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    async fn attempt(
        &self,
        url: &Secret,
        body: &[u8],
        timeout: Duration,
        attempts: u32,
        backoff: &mut Duration,
    ) -> Attempt {
        let sent = self
            .client
            .post(url.expose())
            .header(reqwest::header::CONTENT_TYPE, "application/json; charset=utf-8")
            .timeout(timeout)
            .body(body.to_vec())
            .send()
            .await;
        let next_backoff = |b: &mut Duration| {
            let wait = *b;
            *b = b.saturating_mul(2);
            wait
        };
        let response = match sent {
            Ok(r) => r,
            // `without_url`: reqwest puts the URL, our secret, into its error messages.
            Err(err) => {
                let err = err.without_url();
                let why = if err.is_timeout() {
                    format!("timed out after {} ms", timeout.as_millis())
                } else {
                    error_chain(&err)
                };
                return Attempt::Retry { wait: next_backoff(backoff), why };
            }
        };
        let status = response.status();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let answer = match response.text().await {
            Ok(text) => crate::slack::message::truncate(text.trim(), 300).into_owned(),
            Err(err) => format!("(unreadable body: {})", err.without_url()),
        };
        if status.is_success() {
            Attempt::Done
        } else if status.as_u16() == 429 {
            Attempt::Retry {
                wait: retry_after.unwrap_or(self.policy.default_retry_after),
                why: format!("HTTP 429 rate limited: {answer}"),
            }
        } else if status.is_server_error() {
            Attempt::Retry { wait: next_backoff(backoff), why: format!("HTTP {}: {answer}", status.as_u16()) }
        } else {
            Attempt::Fatal(DeliveryError::Rejected { status: status.as_u16(), answer, attempts })
        }
    }
}
