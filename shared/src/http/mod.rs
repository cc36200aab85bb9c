//! The HTTP floor: the one client, the retry policy and loop, reading an answer ([`Exchange`]), the
//! API Gateway / function URL envelope ([`gateway`]) and the bearer-token check for our own endpoints
//! ([`bearer`]). Used alike by slack/, deploy/, chat/ and the Alertmanager route.
//! Imports only the base floor (`secret`, `text`).

pub mod bearer;
mod client;
pub mod gateway;
mod retry;

use std::time::Duration;

pub use client::{HttpClientError, error_chain, http_client};
pub use retry::{Attempt, Exchange, GaveUp, RetryPolicy, SendFailure};

/// How a platform's 429 says how long to wait (headers or body); `None`: the policy's default.
pub trait RateLimitReader: Sync {
    fn retry_after(&self, exchange: &Exchange) -> Option<Duration>;
}
