//! Button clicks on a blue/green deployment message: Switch traffic, Roll back, Terminate original.
//! The deployment is read first (`GetDeployment`) and a click that no longer makes sense (a second
//! Switch after traffic moved, anything after the deployment ended) is refused, so each action runs once.
//! The message is then rebuilt: who did what and when, and only the buttons that still make sense.

use std::time::{Duration, Instant};

use aws_sdk_codedeploy::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_codedeploy::types::{DeploymentStatus, DeploymentWaitType};
use serde_json::Value;

use super::{Services, remaining};
use crate::governance::{Decision, Gate, Outcome, Pass, Proposal, Rerun};
use crate::notify::codedeploy::{DeploymentAction, actions_block};
use crate::slack::interaction::BlockAction;
use crate::slack::{Block, Message, escape};

fn valid_deployment_id(id: &str) -> bool {
    id.len() <= 32 && id.starts_with("d-") && id[2..].bytes().all(|b| b.is_ascii_alphanumeric()) && id.len() > 2
}

fn refused(text: String, why: &str, resource: &str) -> Outcome {
    Outcome::ephemeral(text, Decision::Refused(why.to_owned())).on(resource)
}

fn timed_out(id: &str, doing: &str) -> Outcome {
    Outcome::ephemeral(
        format!("⏱️ CodeDeploy did not answer in time while {doing} `{id}`. Check the deployment in the console before clicking again."),
        Decision::Failed("AWS timed out".into()),
    )
    .on(id)
}

fn aws_failed<E: ProvideErrorMetadata + std::error::Error + 'static>(
    id: &str,
    doing: &str,
    err: &SdkError<E>,
) -> Outcome {
    let code = err.code().unwrap_or("error");
    let detail = err.message().map_or_else(|| DisplayErrorContext(err).to_string(), str::to_owned);
    tracing::warn!(deployment = id, code, detail = %detail, "CodeDeploy call failed");
    Outcome::ephemeral(
        format!("❌ CodeDeploy refused {doing} `{id}`: {} ({})", escape(&detail), escape(code)),
        Decision::Failed(format!("{code}: {detail}")),
    )
    .on(id)
}

/// Why `action` cannot run on a deployment in `status`, if it cannot.
fn stale(action: DeploymentAction, status: &DeploymentStatus, termination_wait: bool) -> Option<String> {
    let ended = matches!(status, DeploymentStatus::Succeeded | DeploymentStatus::Failed | DeploymentStatus::Stopped);
    if ended {
        return Some(format!("The deployment already ended ({}). Nothing was done.", status.as_str()));
    }
    match action {
        DeploymentAction::SwitchTraffic if *status != DeploymentStatus::Ready => {
            Some("Traffic was already switched (or the deployment is not waiting for it). Nothing was done.".into())
        }
        DeploymentAction::TerminateOriginal if *status == DeploymentStatus::Ready => {
            Some("Traffic still goes to the original environment: switch traffic first. Nothing was done.".into())
        }
        DeploymentAction::TerminateOriginal if !termination_wait => {
            Some("The deployment is not waiting to terminate the original environment yet. Nothing was done.".into())
        }
        _ => None,
    }
}

/// Handles a click on one of the deployment buttons before `deadline`.
pub async fn run(services: &Services, click: &BlockAction, gate: &Gate<'_>, deadline: Instant) -> Outcome {
    let Some(action) = DeploymentAction::from_action_id(&click.action_id) else {
        return refused(format!("Unknown action `{}`.", escape(&click.action_id)), "unknown action", &click.value);
    };
    let id = click.value.trim();
    if !valid_deployment_id(id) {
        return refused(format!("`{}` is not a deployment ID.", escape(id)), "bad deployment id", id);
    }
    let Some(budget) = remaining(deadline) else { return timed_out(id, "reading") };
    let info = match tokio::time::timeout(budget, services.codedeploy.get_deployment().deployment_id(id).send()).await {
        Err(_) => return timed_out(id, "reading"),
        Ok(Err(err)) => return aws_failed(id, "reading", &err),
        Ok(Ok(out)) => match out.deployment_info {
            Some(info) => info,
            None => return refused(format!("Deployment `{id}` was not found."), "unknown deployment", id),
        },
    };
    let app = info.application_name.clone().unwrap_or_default();
    let group = info.deployment_group_name.clone().unwrap_or_default();
    let resource = format!("{app}/{group} {id}");
    if !services.codedeploy_settings.allows(&app, &group) {
        return refused(
            format!(
                "`{}` is not enabled for Slack operations: add it to CODEDEPLOY_DEPLOYMENT_GROUPS. Nothing was done.",
                escape(&format!("{app}/{group}"))
            ),
            "deployment group not enabled",
            &resource,
        );
    }
    let status = info.status.clone().unwrap_or(DeploymentStatus::Created);
    if let Some(why) = stale(action, &status, info.instance_termination_wait_time_started) {
        return refused(why, "stale or repeated click", &resource);
    }
    let group_key = format!("{app}/{group}");
    match gate.check(action.action_id(), &group_key, None) {
        Pass::Go => {}
        Pass::Refused(outcome) => return outcome.on(&resource),
        Pass::NeedsApproval(rule) => {
            return Outcome::pending(Proposal {
                rule,
                action: action.action_id().to_owned(),
                resource: group_key.clone(),
                summary: format!("{} of deployment `{id}` (`{}`)", action.label(), escape(&group_key)),
                rerun: Rerun::Button { action_id: click.action_id.clone(), value: id.to_owned() },
            })
            .on(&resource);
        }
    }
    let Some(budget) = remaining(deadline) else { return timed_out(id, "changing") };
    let cd = &services.codedeploy;
    // `None`: done. `Some(outcome)`: what went wrong.
    let failure = match action {
        DeploymentAction::RollBack => {
            change(id, budget, cd.stop_deployment().deployment_id(id).auto_rollback_enabled(true).send()).await
        }
        DeploymentAction::SwitchTraffic | DeploymentAction::TerminateOriginal => {
            let wait = if action == DeploymentAction::SwitchTraffic {
                DeploymentWaitType::ReadyWait
            } else {
                DeploymentWaitType::TerminationWait
            };
            change(id, budget, cd.continue_deployment().deployment_id(id).deployment_wait_type(wait).send()).await
        }
    };
    match failure {
        Some(outcome) => outcome.on(&resource),
        None => Outcome {
            message: updated_message(click, action, id),
            decision: Decision::Done,
            resource: Some(resource),
            before: None,
            after: None,
            pipeline: None,
            proposal: None,
            approval: None,
        },
    }
}

/// Makes one changing call within `budget`: `None` when it succeeded, else the outcome saying why not.
async fn change<T, E: ProvideErrorMetadata + std::error::Error + 'static>(
    id: &str,
    budget: Duration,
    call: impl Future<Output = Result<T, SdkError<E>>>,
) -> Option<Outcome> {
    match tokio::time::timeout(budget, call).await {
        Err(_) => Some(timed_out(id, "changing")),
        Ok(Err(err)) => Some(aws_error(id, &err)),
        Ok(Ok(_)) => None,
    }
}

/// Another click won the race: CodeDeploy says the state moved on. That is a refusal, not a failure.
fn aws_error<E: ProvideErrorMetadata + std::error::Error + 'static>(id: &str, err: &SdkError<E>) -> Outcome {
    match err.code() {
        Some("DeploymentIsNotInReadyStateException" | "DeploymentAlreadyCompletedException") => Outcome::ephemeral(
            "Someone else already acted on this deployment, or it moved on. Nothing was done.",
            Decision::Refused("stale or repeated click".into()),
        ),
        _ => aws_failed(id, "changing", err),
    }
}

/// The original message, its buttons replaced by a line saying who did what, and the buttons that
/// still make sense.
fn updated_message(click: &BlockAction, action: DeploymentAction, id: &str) -> Message {
    let block_id = format!("codedeploy:{id}");
    let mut blocks: Vec<Block> = click
        .message_blocks
        .iter()
        .filter(|b| b.get("block_id").and_then(Value::as_str) != Some(block_id.as_str()))
        .cloned()
        .map(Block::Raw)
        .collect();
    let now = crate::clock::now_unix();
    blocks.push(Block::Context(vec![format!(
        "✅ <@{}> {} <!date^{now}^{{date_short_pretty}} at {{time}}|just now>",
        escape(&click.user_id),
        action.past_tense()
    )]));
    let remaining = action.remaining_after();
    if !remaining.is_empty() {
        blocks.push(actions_block(id, remaining));
    }
    Message {
        text: if click.message_text.is_empty() { format!("Deployment {id}") } else { click.message_text.clone() },
        blocks,
        color: click.in_attachment.then(|| click.message_color.clone().unwrap_or_else(|| "#1D9BD1".into())),
        replace_original: Some(true),
        ..Message::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deployment_ids_are_checked() {
        assert!(valid_deployment_id("d-7QX4Z2K9B"));
        assert!(!valid_deployment_id("d-"));
        assert!(!valid_deployment_id("x-123"));
        assert!(!valid_deployment_id("d-1/../2"));
    }

    #[test]
    fn stale_clicks_are_recognised() {
        use DeploymentAction::*;
        use DeploymentStatus as S;
        assert_eq!(stale(SwitchTraffic, &S::Ready, false), None);
        assert!(stale(SwitchTraffic, &S::InProgress, true).is_some(), "second switch");
        assert!(stale(TerminateOriginal, &S::Ready, false).is_some(), "terminate before switch");
        assert_eq!(stale(TerminateOriginal, &S::InProgress, true), None);
        assert_eq!(stale(RollBack, &S::Ready, false), None);
        assert_eq!(stale(RollBack, &S::InProgress, true), None);
        for ended in [S::Succeeded, S::Failed, S::Stopped] {
            for a in DeploymentAction::ALL {
                assert!(stale(a, &ended, true).is_some());
            }
        }
    }
}
