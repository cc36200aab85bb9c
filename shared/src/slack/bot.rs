//! The bot: one Web API client and one bot token for everything a function posts or reads with it
//! (deploy answers, approval requests, user groups), so the token is decrypted once per container and a
//! rotated one is picked up once, on every path: when Slack refuses the credential (`invalid_auth`,
//! `token_revoked`, …) and the secrets bundle holds a new value, the call is made once more with it.
//! Adapter floor: imports `slack::api`, `aws::kms` (the cached secret) and the base floor.

use std::time::Instant;

use serde_json::Value;

use super::api::{ApiError, Posted, SlackApi};
use crate::aws::kms::{CachedSecret, SecretError};
use crate::secret::Secret;

pub struct Bot {
    pub api: SlackApi,
    pub token: CachedSecret,
}

/// A bot call that did not succeed: the token could not be had, or Slack said no.
#[derive(Debug, thiserror::Error)]
pub enum BotError {
    #[error("bot token unavailable: {0}")]
    Token(#[from] SecretError),
    #[error(transparent)]
    Api(#[from] ApiError),
}

impl Bot {
    pub fn new(api: SlackApi, token: CachedSecret) -> Self {
        Self { api, token }
    }

    /// Runs `call` with the token; once more with a rotated token when Slack refused the credential.
    pub async fn with_token<T>(&self, call: impl AsyncFn(&Secret) -> Result<T, ApiError>) -> Result<T, BotError> {
        let token = self.token.get().await?;
        match call(&token).await {
            Err(err) if err.is_credential_refused() => match self.token.refresh().await {
                Some(fresh) => Ok(call(&fresh).await?),
                None => Err(err.into()),
            },
            done => Ok(done?),
        }
    }

    /// `chat.postMessage`, in `thread` (its `ts`, and whether to broadcast) when given.
    pub async fn post_message(
        &self,
        channel: &str,
        message: &Value,
        thread: Option<(&str, bool)>,
        deadline: Instant,
    ) -> Result<Posted, BotError> {
        self.with_token(async |token| self.api.post_message(token, channel, message, thread, deadline).await).await
    }

    /// The members of user group `group`.
    pub async fn usergroup_members(&self, group: &str, deadline: Instant) -> Result<Vec<String>, BotError> {
        self.with_token(async |token| self.api.usergroup_members(token, group, deadline).await).await
    }

    /// Any JSON method, with the bot's token.
    pub async fn call(&self, method: &'static str, body: &Value, deadline: Instant) -> Result<Value, BotError> {
        self.with_token(async |token| self.api.call_json(token, method, body, deadline).await).await
    }

    /// Any form-encoded method, with the bot's token.
    pub async fn read(
        &self,
        method: &'static str,
        args: &[(&str, &str)],
        deadline: Instant,
    ) -> Result<Value, BotError> {
        self.with_token(async |token| self.api.call_form(token, method, args, deadline).await).await
    }

    /// `chat.update` of message `ts` in `channel`.
    pub async fn update(
        &self,
        channel: &str,
        ts: &str,
        message: &Value,
        deadline: Instant,
    ) -> Result<Posted, BotError> {
        self.with_token(async |token| self.api.update(token, channel, ts, message, deadline).await).await
    }
}

impl BotError {
    /// Slack's error code, when Slack refused the call.
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Api(err) => err.code(),
            Self::Token(_) => None,
        }
    }
}
