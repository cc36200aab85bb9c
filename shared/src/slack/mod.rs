//! Everything Slack: the message model with Slack's limits, webhook delivery, request verification,
//! form bodies and slash-command payloads.

pub mod message;
pub mod webhook;

pub use message::{Block, Button, Message, escape};
