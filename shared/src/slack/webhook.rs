//! Delivers a message to a Slack incoming webhook (or a `response_url`, which speaks the same protocol),
//! retrying what can succeed later and never past the invocation's deadline.
//!
//! 429: wait `Retry-After`. 5xx, timeouts and connection errors: back off and retry. Other 4xx: Slack
//! will give the same answer again (`invalid_payload`, `no_service`, `channel_not_found`), so no retry.
//! The retry loop itself ([`RetryPolicy::run`]) serves the Web API client too.

use std::time::{Duration, Instant};

use serde::Serialize;

use crate::chat::Platform;
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

/// What one attempt came to.
pub(crate) enum Attempt<T, E> {
    Done(T),
    /// Slack will give the same answer again: stop.
    Fatal(E),
    /// Worth another try: after `wait` (Slack's `Retry-After`), or after the growing backoff when `None`.
    Retry {
        wait: Option<Duration>,
        why: String,
    },
}

/// How the retry loop ended without success.
pub(crate) enum GaveUp<E> {
    Fatal(E),
    Exhausted(String),
    Deadline(String),
}

impl RetryPolicy {
    /// Runs `attempt` (given its timeout) until it is done, fatal, out of attempts, or the next try
    /// could not finish before `deadline` less the reserve. Returns the outcome and the attempts made.
    pub(crate) async fn run<T, E, F, Fut>(&self, deadline: Instant, mut attempt: F) -> (Result<T, GaveUp<E>>, u32)
    where
        F: FnMut(Duration) -> Fut,
        Fut: std::future::Future<Output = Attempt<T, E>>,
    {
        let mut attempts = 0;
        // Answers that said "rate limited, wait": waited out for as long as the deadline allows, never
        // counted against `max_attempts` (in an alarm storm a 429 is expected, not a failure).
        let mut rate_limited = 0;
        let mut last = String::from("no attempt made");
        let mut backoff = self.backoff;
        loop {
            let Some(budget) = deadline.checked_duration_since(Instant::now() + self.reserve) else {
                return (Err(GaveUp::Deadline(last)), attempts);
            };
            if attempts - rate_limited >= self.max_attempts {
                return (Err(GaveUp::Exhausted(last)), attempts);
            }
            attempts += 1;
            match attempt(budget.min(self.attempt_timeout)).await {
                Attempt::Done(value) => return (Ok(value), attempts),
                Attempt::Fatal(err) => return (Err(GaveUp::Fatal(err)), attempts),
                Attempt::Retry { mut wait, why } => {
                    if let Some(told) = wait {
                        rate_limited += 1;
                        // A zero wait would spin: Slack's limits are per second.
                        wait = Some(told.max(Duration::from_millis(100)));
                    }
                    let wait = wait.unwrap_or_else(|| {
                        let wait = backoff;
                        backoff = backoff.saturating_mul(2);
                        wait
                    });
                    tracing::warn!(attempt = attempts, wait_ms = wait.as_millis() as u64, reason = %why, "Slack call will be retried");
                    last = why;
                    if Instant::now() + wait + self.reserve >= deadline {
                        return (Err(GaveUp::Deadline(last)), attempts);
                    }
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }
}

/// An exchange that got no answer: why (without the URL), and whether no connection was made at all
/// (then the request never left: nothing can have happened on the other side).
pub(crate) struct SendFailure {
    pub why: String,
    pub no_connection: bool,
}

/// One HTTP exchange with Slack, read whole: status, `Retry-After` and the body (cut for logs).
pub(crate) struct Exchange {
    pub status: u16,
    pub retry_after: Option<Duration>,
    /// `X-RateLimit-Reset-After` (Discord), or a small `X-Ratelimit-Reset` (Mattermost: seconds to wait).
    pub reset_after: Option<Duration>,
    pub body: String,
}

impl Exchange {
    /// Sends `request` and reads the answer. A transport failure (connection, timeout) is an error
    /// that says why, without the URL: reqwest puts the URL, which may be a secret, into its messages.
    pub(crate) async fn send(request: reqwest::RequestBuilder, timeout: Duration) -> Result<Self, SendFailure> {
        let response = request.timeout(timeout).send().await.map_err(|err| {
            let err = err.without_url();
            let why = if err.is_timeout() {
                format!("timed out after {} ms", timeout.as_millis())
            } else {
                error_chain(&err)
            };
            SendFailure { why, no_connection: err.is_connect() }
        })?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let seconds = |name: &str| {
            let value = response.headers().get(name)?.to_str().ok()?.trim().parse::<f64>().ok()?;
            // An epoch timestamp (Discord's X-RateLimit-Reset) is not a wait.
            (value.is_finite() && (0.0..3600.0).contains(&value)).then(|| Duration::from_secs_f64(value))
        };
        let reset_after = seconds("x-ratelimit-reset-after").or_else(|| seconds("x-ratelimit-reset"));
        let body = match response.text().await {
            Ok(text) => text,
            Err(err) => format!("(unreadable body: {})", err.without_url()),
        };
        Ok(Self { status, retry_after, reset_after, body })
    }

    /// The answer the same for webhooks and the Web API: 429 and 5xx are retried, `None` otherwise.
    pub(crate) fn retry<T, E>(&self, default_retry_after: Duration) -> Option<Attempt<T, E>> {
        if self.status == 429 {
            Some(Attempt::Retry {
                wait: Some(self.retry_after.unwrap_or(default_retry_after)),
                why: format!("HTTP 429 rate limited: {}", self.short_body()),
            })
        } else if self.status >= 500 {
            Some(Attempt::Retry { wait: None, why: format!("HTTP {}: {}", self.status, self.short_body()) })
        } else {
            None
        }
    }

    pub(crate) fn short_body(&self) -> String {
        crate::slack::message::truncate(self.body.trim(), 300).into_owned()
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
pub(crate) fn error_chain(err: &dyn std::error::Error) -> String {
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
        self.post_to(Platform::Slack, url, body, deadline).await
    }

    /// Posts `body` to a webhook of `platform`, reading that platform's rate-limit answer.
    pub async fn post_to<T: Serialize + ?Sized>(
        &self,
        platform: Platform,
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
                        return Attempt::Done(());
                    }
                    if exchange.status == 429 {
                        let wait = platform.retry_after(exchange.retry_after, exchange.reset_after, &exchange.body);
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
        match outcome {
            Ok(()) => Ok(Delivered { attempts, latency: started.elapsed() }),
            Err(GaveUp::Fatal((status, answer))) => Err(DeliveryError::Rejected { status, answer, attempts }),
            Err(GaveUp::Exhausted(last)) => Err(DeliveryError::Exhausted { last, attempts }),
            Err(GaveUp::Deadline(last)) => Err(DeliveryError::Deadline { last, attempts }),
        }
    }
}
