//! Slash commands and button actions: the tables that route them to their modules. A new command is one
//! module and one line in [`COMMANDS`]; a new kind of button, one module and one line in [`ACTIONS`].
//!
//! A command reads first and asks its [`Gate`] (from `governance`) just before it changes anything, once
//! it knows the resource and the size of the change: the gate answers go, refused (by which rule), or
//! needs approval, in which case the command returns a [`Proposal`](crate::governance::Proposal) (what
//! would run, and how to run it again once approved) instead of acting. Who may call at all, the audit line and the approvals are
//! the governance seam's, asked once by the entry point around [`dispatch`] / [`dispatch_action`].
//! Flows floor: imports governance, render (notify's CodeDeploy settings), adapters and base.

pub mod codedeploy;
pub mod scale;

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

use crate::governance::{Decision, Gate, Outcome};
use crate::notify::codedeploy::CodeDeploySettings;
use crate::slack::escape;
use crate::slack::form::SlashCommand;
use crate::slack::interaction::BlockAction;

/// The AWS clients and settings commands use, built once per container.
#[derive(Clone, Debug)]
pub struct Services {
    pub autoscaling: aws_sdk_autoscaling::Client,
    pub codedeploy: aws_sdk_codedeploy::Client,
    /// Which deployment groups buttons may act on.
    pub codedeploy_settings: CodeDeploySettings,
}

type Handler = for<'a, 'g> fn(
    &'a Services,
    &'a SlashCommand,
    &'a Gate<'g>,
    Instant,
) -> Pin<Box<dyn Future<Output = Outcome> + Send + 'a>>;

/// The command table: name as configured in the Slack app, one-line summary, handler.
pub const COMMANDS: &[(&str, &str, Handler)] =
    &[("/scale", scale::SUMMARY, |s, c, g, d| Box::pin(scale::run(s, c, g, d)))];

type ActionHandler = for<'a, 'g> fn(
    &'a Services,
    &'a BlockAction,
    &'a Gate<'g>,
    Instant,
) -> Pin<Box<dyn Future<Output = Outcome> + Send + 'a>>;

/// The button table: `action_id` prefix, handler.
pub const ACTIONS: &[(&str, ActionHandler)] = &[("codedeploy:", |s, a, g, d| Box::pin(codedeploy::run(s, a, g, d)))];

/// Runs the action of a button click before `deadline`.
pub async fn dispatch_action(services: &Services, click: &BlockAction, gate: &Gate<'_>, deadline: Instant) -> Outcome {
    match ACTIONS.iter().find(|(prefix, _)| click.action_id.starts_with(prefix)) {
        Some((_, handler)) => handler(services, click, gate, deadline).await,
        None => Outcome::ephemeral(
            format!("I don't know the action `{}`.", escape(&click.action_id)),
            Decision::Refused("unknown action".into()),
        ),
    }
}

/// Runs the command named in the payload before `deadline`.
pub async fn dispatch(services: &Services, command: &SlashCommand, gate: &Gate<'_>, deadline: Instant) -> Outcome {
    match COMMANDS.iter().find(|(name, _, _)| *name == command.command) {
        Some((_, _, handler)) => handler(services, command, gate, deadline).await,
        None => {
            let known: Vec<String> = COMMANDS.iter().map(|(n, s, _)| format!("`{n}`: {s}")).collect();
            Outcome::ephemeral(
                format!("I don't know `{}`. I know:\n{}", escape(&command.command), known.join("\n")),
                Decision::Refused("unknown command".into()),
            )
        }
    }
}

/// Time left before `deadline`, or `None` when it has passed.
pub(crate) fn remaining(deadline: Instant) -> Option<Duration> {
    deadline.checked_duration_since(Instant::now()).filter(|d| !d.is_zero())
}
