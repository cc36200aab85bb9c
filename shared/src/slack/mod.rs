//! Everything Slack: the message model with Slack's limits, webhook delivery, request verification,
//! form bodies and slash-command payloads.
//!
//! Adapter floor: imports `http`, `aws` (the bot's cached token) and the base floor; never `chat` or
//! `notify` (a webhook poster reads rate limits through `http::RateLimitReader`).

pub mod api;
pub mod bot;
pub mod events;
pub mod form;
pub mod interaction;
pub mod message;
pub mod signature;
pub mod users;
pub mod webhook;

pub use message::{Block, Button, Message, escape, unescape};
