//! How hard to try an HTTP call, and the one retry loop every client uses (Slack's webhook and Web API,
//! GitLab, GitHub, the other chat platforms): 429 waits `Retry-After` (never counted against the
//! attempts), 5xx and timeouts back off, other answers are final, nothing runs past the deadline.
//! [`Exchange`] reads one answer whole, without ever putting the URL (which may be a secret) in an error.
//! HTTP floor: imports only the base floor.

use std::time::{Duration, Instant};

use super::client::error_chain;

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

/// What one attempt came to.
pub enum Attempt<T, E> {
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
pub enum GaveUp<E> {
    Fatal(E),
    Exhausted(String),
    Deadline(String),
}

impl RetryPolicy {
    /// Runs `attempt` (given its timeout) until it is done, fatal, out of attempts, or the next try
    /// could not finish before `deadline` less the reserve. Returns the outcome and the attempts made.
    pub async fn run<T, E, F, Fut>(&self, deadline: Instant, mut attempt: F) -> (Result<T, GaveUp<E>>, u32)
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
                    crate::metrics::count(crate::metrics::Metric::Retries, 1);
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
                    tracing::warn!(attempt = attempts, wait_ms = wait.as_millis() as u64, reason = %why, "HTTP call will be retried");
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
pub struct SendFailure {
    pub why: String,
    pub no_connection: bool,
}

/// One HTTP exchange with Slack, read whole: status, `Retry-After` and the body (cut for logs).
pub struct Exchange {
    pub status: u16,
    pub retry_after: Option<Duration>,
    /// `X-RateLimit-Reset-After` (Discord), or a small `X-Ratelimit-Reset` (Mattermost: seconds to wait).
    pub reset_after: Option<Duration>,
    pub body: String,
}

impl Exchange {
    /// Sends `request` and reads the answer. A transport failure (connection, timeout) is an error
    /// that says why, without the URL: reqwest puts the URL, which may be a secret, into its messages.
    pub async fn send(request: reqwest::RequestBuilder, timeout: Duration) -> Result<Self, SendFailure> {
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
    pub fn retry<T, E>(&self, default_retry_after: Duration) -> Option<Attempt<T, E>> {
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

    pub fn short_body(&self) -> String {
        crate::text::truncate(self.body.trim(), 300).into_owned()
    }
}
