//! The library behind the ChatOps Lambda functions: Slack messages and their delivery, Slack request
//! verification, parsers for the AWS events we notify about, secrets from KMS, and the Slack commands.

pub mod aws;
pub mod commands;

pub mod notify;
pub mod secret;
pub mod slack;
