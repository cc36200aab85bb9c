//! Alertmanager's API v2 for silences: `POST /api/v2/silences` (matchers, start, end, who, why) and
//! `DELETE /api/v2/silence/{id}`, at `ALERTMANAGER_URL`, with an optional bearer token
//! (`ALERTMANAGER_API_TOKEN`) or basic credentials (`ALERTMANAGER_API_BASIC`, `user:password`), both
//! secrets (from the stack's secret like the others) that never reach a log. Through the one retry loop.
//! Adapter floor: imports `http` and the base floor.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::config::{ConfigError, non_empty};
use crate::http::{Attempt, Exchange, GaveUp, RetryPolicy};
use crate::secret::Secret;

pub const URL_VAR: &str = "ALERTMANAGER_URL";
pub const TOKEN_VAR: &str = "ALERTMANAGER_API_TOKEN";
pub const BASIC_VAR: &str = "ALERTMANAGER_API_BASIC";

/// How to authenticate to Alertmanager (or its proxy).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Credentials {
    None,
    Bearer(Secret),
    /// `user:password`.
    Basic(Secret),
}

/// Where Alertmanager's API is, and how to authenticate (`ALERTMANAGER_URL` and its credentials).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SilenceConfig {
    base: String,
    credentials: Credentials,
}

/// Alertmanager's silences API, over the container's HTTP client.
#[derive(Clone, Debug)]
pub struct SilenceApi {
    client: reqwest::Client,
    base: String,
    credentials: Credentials,
    policy: RetryPolicy,
}

/// A silence call that did not succeed. Never carries a credential.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SilenceError {
    #[error("Alertmanager answered HTTP {status} to {operation}: {answer}")]
    Http { operation: &'static str, status: u16, answer: String },
    #[error("Alertmanager did not answer {operation}: {last}")]
    Unreachable { operation: &'static str, last: String },
}

impl SilenceConfig {
    /// `ALERTMANAGER_URL` and its credentials; `None` when the URL is not set.
    pub fn from_lookup(lookup: &dyn Fn(&str) -> Option<String>) -> Result<Option<Self>, ConfigError> {
        let Some(url) = non_empty(lookup, URL_VAR) else { return Ok(None) };
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            return Err(ConfigError::Invalid { var: URL_VAR, problem: "is not an http(s) URL".into() });
        }
        let credentials = match (non_empty(lookup, TOKEN_VAR), non_empty(lookup, BASIC_VAR)) {
            (Some(token), _) => Credentials::Bearer(Secret::new(token)),
            (None, Some(basic)) if basic.contains(':') => Credentials::Basic(Secret::new(basic)),
            (None, Some(_)) => {
                return Err(ConfigError::Invalid { var: BASIC_VAR, problem: "is not `user:password`".into() });
            }
            (None, None) => Credentials::None,
        };
        Ok(Some(Self { base: url.trim_end_matches('/').to_owned(), credentials }))
    }
}

impl SilenceApi {
    pub fn new(client: reqwest::Client, config: SilenceConfig) -> Self {
        // Inside Slack's 3 s: short attempts, one retry.
        let policy = RetryPolicy {
            max_attempts: 2,
            backoff: Duration::from_millis(100),
            attempt_timeout: Duration::from_millis(1000),
            reserve: Duration::ZERO,
            default_retry_after: Duration::from_millis(500),
        };
        Self { client, base: config.base, credentials: config.credentials, policy }
    }

    fn authorised(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.credentials {
            Credentials::None => request,
            Credentials::Bearer(token) => request.bearer_auth(token.expose()),
            Credentials::Basic(pair) => {
                let (user, password) = pair.expose().split_once(':').unwrap_or((pair.expose(), ""));
                request.basic_auth(user, Some(password))
            }
        }
    }

    async fn send(
        &self,
        operation: &'static str,
        build: impl Fn() -> reqwest::RequestBuilder,
        deadline: Instant,
    ) -> Result<String, SilenceError> {
        let (outcome, _) = self
            .policy
            .run(deadline, |timeout| {
                let request = self.authorised(build());
                async move {
                    match Exchange::send(request, timeout).await {
                        Err(failed) => Attempt::Retry { wait: None, why: failed.why },
                        Ok(exchange) => match exchange.retry(self.policy.default_retry_after) {
                            Some(retry) => retry,
                            None if (200..300).contains(&exchange.status) => Attempt::Done(exchange.body),
                            None => Attempt::Fatal((exchange.status, exchange.short_body())),
                        },
                    }
                }
            })
            .await;
        match outcome {
            Ok(body) => Ok(body),
            Err(GaveUp::Fatal((status, answer))) => Err(SilenceError::Http { operation, status, answer }),
            Err(GaveUp::Exhausted(last) | GaveUp::Deadline(last)) => Err(SilenceError::Unreachable { operation, last }),
        }
    }

    /// Creates a silence of the alerts matching `labels` exactly, from `starts_at` until `ends_at` (epoch
    /// s; the caller's one clock reading, so the silence lasts exactly what was asked). Returns its ID.
    pub async fn create(
        &self,
        labels: &BTreeMap<String, String>,
        (starts_at, ends_at): (i64, i64),
        created_by: &str,
        comment: &str,
        deadline: Instant,
    ) -> Result<String, SilenceError> {
        let matchers: Vec<Value> = labels
            .iter()
            .map(|(name, value)| json!({"name": name, "value": value, "isRegex": false, "isEqual": true}))
            .collect();
        let body = json!({
            "matchers": matchers,
            "startsAt": rfc3339(starts_at),
            "endsAt": rfc3339(ends_at),
            "createdBy": created_by,
            "comment": comment,
        });
        let url = format!("{}/api/v2/silences", self.base);
        let bytes = body.to_string();
        let post =
            || self.client.post(&url).header(reqwest::header::CONTENT_TYPE, "application/json").body(bytes.clone());
        let answer = self.send("POST /api/v2/silences", post, deadline).await?;
        let id = serde_json::from_str::<Value>(&answer).ok().and_then(|v| v["silenceID"].as_str().map(str::to_owned));
        id.ok_or(SilenceError::Http { operation: "POST /api/v2/silences", status: 200, answer: "no silenceID".into() })
    }

    /// Expires silence `id` now.
    pub async fn expire(&self, id: &str, deadline: Instant) -> Result<(), SilenceError> {
        let url = format!("{}/api/v2/silence/{}", self.base, urlencoding(id));
        self.send("DELETE /api/v2/silence", || self.client.delete(&url), deadline).await.map(drop)
    }
}

fn urlencoding(id: &str) -> String {
    id.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-').collect()
}

fn rfc3339(at_s: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(at_s)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configuration_is_checked_and_credentials_never_print() {
        let lookup = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| (*v).to_owned())
        };
        assert!(SilenceConfig::from_lookup(&lookup(&[])).unwrap().is_none());
        let bad = lookup(&[(URL_VAR, "alertmanager:9093")]);
        assert_eq!(SilenceConfig::from_lookup(&bad).unwrap_err().var(), URL_VAR);
        let basic = lookup(&[(URL_VAR, "http://am:9093/"), (BASIC_VAR, "nopassword")]);
        assert_eq!(SilenceConfig::from_lookup(&basic).unwrap_err().var(), BASIC_VAR);
        let token = lookup(&[(URL_VAR, "http://am:9093/"), (TOKEN_VAR, "am-SECRET-token")]);
        let config = SilenceConfig::from_lookup(&token).unwrap().unwrap();
        assert!(!format!("{config:?}").contains("am-SECRET-token"));
        let api = SilenceApi::new(crate::http::http_client().unwrap(), config);
        assert_eq!(api.base, "http://am:9093");
        assert!(!format!("{api:?}").contains("am-SECRET-token"));
        assert_eq!(rfc3339(1_764_151_440), "2025-11-26T10:04:00Z");
    }
}
