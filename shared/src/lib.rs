//! The library behind the ChatOps Lambda functions: Slack messages and their delivery, Slack request
//! verification, parsers for the AWS events we notify about, secrets from KMS, and the Slack commands.

pub mod aws;
pub mod chat;
pub mod clock;
pub mod commands;
pub mod config;
pub mod deploy;
pub mod flows;
pub mod governance;
pub mod http;
pub mod json;
pub mod logging;
pub mod metrics;

pub mod notify;
pub mod secret;
pub mod silences;
pub mod slack;
pub mod state;
pub mod text;
