//! The library behind the ChatOps Lambda functions: Slack messages and their delivery, Slack request
//! verification, parsers for the AWS events we notify about, secrets from KMS, and the Slack commands.

pub mod aws;
pub mod chat;
pub mod commands;
pub mod deploy;
pub mod logging;

pub mod notify;
pub mod policy;
pub mod secret;
pub mod slack;
pub mod state;

/// The instant by which an invocation must be finished, from the runtime's deadline (milliseconds since
/// the epoch, `Context::deadline`), less `reserve` kept for reporting the outcome.
pub fn invocation_deadline(deadline_ms: u64, reserve: std::time::Duration) -> std::time::Instant {
    let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
    let left = std::time::Duration::from_millis(deadline_ms.saturating_sub(now_ms)).saturating_sub(reserve);
    std::time::Instant::now() + left
}
