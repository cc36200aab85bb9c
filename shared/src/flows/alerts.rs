//! Acting on an alert where it is shown. [Acknowledge] on a paging alert's message: the first click is
//! recorded on the alert's lifecycle record (a conditional write: two at once keep the first), the
//! message shows `👀 Acknowledged by @x at 10:04`, and while the alert pages its repeats update the
//! message without mentioning on-call again; once it stops paging the acknowledgement ends (the notifier
//! removes it), so the next time it fires it pages. Policy action `alert:ack`, resource the alert.

use serde::Deserialize;

use crate::governance::{Decision, Gate, Outcome, Pass};
use crate::notify::{ACKNOWLEDGE_ACTION, acknowledged_line};
use crate::slack::interaction::BlockAction;
use crate::slack::{Block, Message, escape};
use crate::state::{Acknowledgement, StateTable};

/// What [Acknowledge] carries: the alert's title and lifecycle key (`{"t": …, "k": …}`).
#[derive(Deserialize)]
struct AckButton {
    #[serde(rename = "t", default)]
    title: String,
    #[serde(rename = "k")]
    lifecycle: String,
}

/// A click on a paging alert's [Acknowledge].
pub async fn click(state: Option<&StateTable>, click: &BlockAction, gate: &Gate<'_>, now: i64) -> Outcome {
    let Some(state) = state else {
        return Outcome::ephemeral(
            ":warning: Acknowledging needs the state table (`STATE_TABLE`), which records who acknowledged. Nothing was done.",
            Decision::Refused("no state table".into()),
        );
    };
    let Ok(button) = serde_json::from_str::<AckButton>(&click.value) else {
        return Outcome::ephemeral(
            "This button's value is not one I made: nothing was done.",
            Decision::Refused("bad button value".into()),
        );
    };
    let resource = if button.title.is_empty() { button.lifecycle.clone() } else { button.title.clone() };
    match gate.check(ACKNOWLEDGE_ACTION, &resource, None) {
        Pass::Go => {}
        Pass::Refused(outcome) => return *outcome,
        // Acknowledging changes nothing anywhere but the message: a rule asking approval for it is
        // answered as a refusal that says so, not a request nobody would wait for.
        Pass::NeedsApproval(rule) => {
            return Outcome::ephemeral(
                format!(
                    "Rule `{}` asks approval for acknowledging, which I don't do: acknowledge needs no approval.",
                    escape(&rule)
                ),
                Decision::Refused(format!("policy: rule {rule} asks approval for alert:ack")),
            )
            .on(&resource);
        }
    }
    let (line, decision) = match state.acknowledge_alert(&button.lifecycle, &gate.caller.user_id, now).await {
        Ok(Acknowledgement::Recorded) => (acknowledged_line(&gate.caller.user_id, now), Decision::Done),
        Ok(Acknowledgement::Already { by, at }) => (acknowledged_line(&by, at), Decision::Info),
        Ok(Acknowledgement::NotPaging) => {
            return Outcome::ephemeral(
                "This alert is no longer paging: there is nothing to acknowledge.",
                Decision::Info,
            )
            .on(&resource);
        }
        Err(err) => {
            tracing::error!(error = %err, "state table unavailable: acknowledgement not recorded");
            return Outcome::ephemeral(
                ":warning: I can't record the acknowledgement right now (the state table is unavailable); please try again.",
                Decision::Failed("state table unavailable".into()),
            )
            .on(&resource);
        }
    };
    let mut blocks: Vec<Block> = click.blocks_without(ACKNOWLEDGE_ACTION).into_iter().map(Block::Raw).collect();
    blocks.push(Block::Context(vec![line]));
    let message = Message {
        text: if click.message_text.is_empty() { button.title.clone() } else { click.message_text.clone() },
        blocks,
        color: click.in_attachment.then(|| click.message_color.clone().unwrap_or_else(|| "#E01E5A".into())),
        replace_original: Some(true),
        ..Message::default()
    };
    let mut outcome = Outcome::ephemeral("", decision).on(&resource);
    outcome.message = message;
    outcome
}
