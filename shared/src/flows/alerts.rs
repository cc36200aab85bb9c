//! Acting on an alert where it is shown.
//! - [Acknowledge] on a paging alert's message: the first click is recorded on the alert's lifecycle
//!   record (a conditional write: two at once keep the first), the message shows `👀 Acknowledged by @x
//!   at 10:04`, and while the alert pages its repeats update the message without mentioning on-call
//!   again; once it stops paging the acknowledgement ends (the notifier removes it), so the next time it
//!   fires it pages. Policy action `alert:ack`, resource the alert.
//! - [Mute 1 h] / [Mute 4 h] / [Mute until OK] on a CloudWatch alarm the stack may mute
//!   (`MUTABLE_ALARMS`): `DisableAlarmActions`, the mute on the alarm's record, and one schedule that
//!   ends it (a mute until OK checks the alarm every 5 minutes, for at most a day); muting again moves
//!   that schedule. [Unmute], or the schedule, enables the actions again. Policy action `alarm:mute`.
//! - [Silence 1 h] on a firing Alertmanager group: a silence of its common labels through Alertmanager's
//!   API v2, made by the Slack user with the message's link as its comment; [Expire silence] ends it.
//!   Policy action `alertmanager:silence`.

use std::time::Instant;

use serde::Deserialize;
use serde_json::{Value, json};

use crate::aws::scheduler::{Timer, schedule_name};
use crate::governance::{Decision, Gate, Outcome, Pass};
use crate::notify::{
    ACKNOWLEDGE_ACTION, EXPIRE_SILENCE_ACTION, MUTE_ACTIONS, SILENCE_ACTION, UNMUTE_ACTION, acknowledged_line,
    muted_line, silenced_line,
};
use crate::slack::interaction::BlockAction;
use crate::slack::{Block, Button, Message, escape};
use crate::state::{Acknowledgement, Mute, MuteEnd, Silence, StateTable};

pub use crate::notify::MUTABLE_ALARMS_VAR;

/// A mute until OK looks at the alarm this often, and ends after a day at the latest.
const OK_CHECK_S: i64 = 300;
const OK_MUTE_MAX_S: i64 = 86_400;

/// What acting on alerts uses, from the container's state.
#[derive(Clone, Copy)]
pub struct AlertDeps<'a> {
    pub muting: Option<&'a AlarmMuting>,
    pub scheduler: Option<&'a crate::aws::scheduler::Scheduler>,
    pub state: Option<&'a StateTable>,
    pub bot: Option<&'a crate::slack::bot::Bot>,
    pub silences: Option<&'a crate::silences::SilenceApi>,
}

/// What muting needs: CloudWatch, and which alarms the stack may mute (`MUTABLE_ALARMS`, name patterns).
pub struct AlarmMuting {
    pub cloudwatch: aws_sdk_cloudwatch::Client,
    pub patterns: Vec<String>,
}

impl AlarmMuting {
    pub fn may_mute(&self, alarm: &str) -> bool {
        self.patterns.iter().any(|p| crate::notify::routing::glob(p, alarm))
    }

    async fn set_actions(&self, alarm: &str, enabled: bool) -> Result<(), String> {
        use aws_sdk_cloudwatch::error::DisplayErrorContext;
        if enabled {
            let sent = self.cloudwatch.enable_alarm_actions().alarm_names(alarm).send().await;
            sent.map(drop).map_err(|e| DisplayErrorContext(e).to_string())
        } else {
            let sent = self.cloudwatch.disable_alarm_actions().alarm_names(alarm).send().await;
            sent.map(drop).map_err(|e| DisplayErrorContext(e).to_string())
        }
    }

    async fn is_ok(&self, alarm: &str) -> Result<bool, String> {
        let out = self
            .cloudwatch
            .describe_alarms()
            .alarm_names(alarm)
            .send()
            .await
            .map_err(|e| aws_sdk_cloudwatch::error::DisplayErrorContext(e).to_string())?;
        let state = out.metric_alarms().first().and_then(|a| a.state_value()).map(|s| s.as_str().to_owned());
        Ok(state.as_deref() == Some("OK"))
    }
}

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
    // Acknowledging changes nothing anywhere but the message: a rule asking approval for it is answered as
    // a refusal that says so, not a request nobody would wait for.
    if let Some(refusal) = without_approval(gate, ACKNOWLEDGE_ACTION, &resource, ("acknowledging", "acknowledge")) {
        return refusal;
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

/// What [Mute …] and [Unmute] carry: the alarm's name and lifecycle key, and for a mute how long
/// (`1h`, `4h`, `ok`).
#[derive(Deserialize)]
struct MuteButton {
    #[serde(rename = "a")]
    alarm: String,
    #[serde(rename = "k")]
    lifecycle: String,
    #[serde(rename = "d", default)]
    duration: String,
}

/// The policy's word on an action that never waits for approvers (it changes nothing a second person must
/// see first): `None` to go on; else its refusal, or, when a rule asks approval, a refusal that says this
/// action needs none. `(doing, thing)`: how the answer names the action ("muting", "muting").
fn without_approval(gate: &Gate<'_>, action: &str, resource: &str, (doing, thing): (&str, &str)) -> Option<Outcome> {
    match gate.check(action, resource, None) {
        Pass::Go => None,
        Pass::Refused(outcome) => Some(*outcome),
        Pass::NeedsApproval(rule) => Some(refused(
            format!("Rule `{}` asks approval for {doing}, which I don't do: {thing} needs no approval.", escape(&rule)),
            &format!("policy: rule {rule} asks approval for {action}"),
            resource,
        )),
    }
}

fn refused(text: impl Into<String>, why: &str, resource: &str) -> Outcome {
    Outcome::ephemeral(text, Decision::Refused(why.into())).on(resource)
}

fn failed(text: impl Into<String>, why: String, resource: &str) -> Outcome {
    Outcome::ephemeral(text, Decision::Failed(why)).on(resource)
}

/// The schedule that ends the mute of lifecycle `key`: one per alarm.
fn unmute_schedule(key: &str) -> String {
    schedule_name("unmute", key)
}

/// The clicked message with `line` instead of the mute buttons (or [Unmute]), and `buttons` after it.
fn replaced(click: &BlockAction, drop: &[&str], line: String, buttons: Vec<Button>) -> Message {
    let mut blocks: Vec<Value> = click.message_blocks.clone();
    for action in drop {
        let stripped = BlockAction { message_blocks: blocks, ..click.clone() };
        blocks = stripped.blocks_without(action);
    }
    // An earlier mute's or unmute's line goes: the new one says what holds now.
    blocks.retain(|b| {
        !(b["type"] == "context"
            && b["elements"].as_array().is_some_and(|e| {
                e.iter().any(|e| e["text"].as_str().is_some_and(|t| t.starts_with("🔕") || t.starts_with("🔔 Unmuted")))
            }))
    });
    let mut blocks: Vec<Block> = blocks.into_iter().map(Block::Raw).collect();
    blocks.push(Block::Context(vec![line]));
    if !buttons.is_empty() {
        blocks.push(Block::Actions { block_id: Some("alarm-mute".into()), buttons });
    }
    Message {
        text: click.message_text.clone(),
        blocks,
        color: click.in_attachment.then(|| click.message_color.clone().unwrap_or_else(|| "#E01E5A".into())),
        replace_original: Some(true),
        ..Message::default()
    }
}

/// [Unmute], for a muted alarm.
pub fn unmute_button(alarm: &str, lifecycle: &str) -> Button {
    Button {
        text: "🔔 Unmute".into(),
        action_id: UNMUTE_ACTION.into(),
        value: Some(json!({"a": alarm, "k": lifecycle}).to_string()),
        url: None,
        style: None,
        confirm: None,
    }
}

/// A click on [Mute …] or [Unmute].
pub async fn mute_click(app: AlertDeps<'_>, click: &BlockAction, gate: &Gate<'_>, now: i64) -> Outcome {
    let Ok(button) = serde_json::from_str::<MuteButton>(&click.value) else {
        return refused("This button's value is not one I made: nothing was done.", "bad button value", "");
    };
    let alarm = button.alarm.as_str();
    let (Some(muting), Some(scheduler), Some(state)) = (app.muting, app.scheduler, app.state) else {
        return refused(
            format!(
                ":warning: Muting needs `{MUTABLE_ALARMS_VAR}`, the schedules (`SCHEDULE_GROUP`, `SCHEDULER_ROLE_ARN`, `SCHEDULE_TARGET_ARN`) and `STATE_TABLE`; the stack sets them when its `MutableAlarms` parameter is. Nothing was done."
            ),
            "muting not configured",
            alarm,
        );
    };
    if let Some(refusal) = without_approval(gate, "alarm:mute", alarm, ("muting", "muting")) {
        return refusal;
    }
    if !muting.may_mute(alarm) {
        return refused(
            format!(
                "`{}` is not among the alarms this stack may mute (`{MUTABLE_ALARMS_VAR}`: {}).",
                escape(alarm),
                muting.patterns.join(", ")
            ),
            "alarm not mutable",
            alarm,
        );
    }
    let schedule = unmute_schedule(&button.lifecycle);
    let message_ts = click.message_ts.clone().unwrap_or_default();
    if click.action_id == UNMUTE_ACTION {
        if let Err(err) = muting.set_actions(alarm, true).await {
            tracing::error!(error = %err, alarm, "EnableAlarmActions failed");
            return failed(
                ":x: CloudWatch did not enable the alarm's actions; it is still muted. Please try again.",
                err,
                alarm,
            );
        }
        let (record, cancelled) =
            tokio::join!(state.unmute_alert(&button.lifecycle, MuteEnd::Now, now), scheduler.cancel(&schedule));
        if let Err(err) = record {
            tracing::warn!(error = %err, alarm, "the unmute is not on the alarm's record: its next update may still show the mute");
        }
        if let Err(err) = cancelled {
            tracing::warn!(error = %err, alarm, "the unmute schedule was not deleted: when it fires it changes nothing");
        }
        let line = format!("🔔 Unmuted by <@{}>: the alarm's actions are enabled again.", escape(&gate.caller.user_id));
        let mut outcome = Outcome::ephemeral("", Decision::Done).on(alarm);
        outcome.message = replaced(click, &[UNMUTE_ACTION], line, Vec::new());
        return outcome;
    }
    let (until, until_ok) = match button.duration.as_str() {
        "1h" => (now + 3600, false),
        "4h" => (now + 4 * 3600, false),
        "ok" => (now + OK_MUTE_MAX_S, true),
        other => return refused(format!("I don't know the mute `{}`.", escape(other)), "bad mute duration", alarm),
    };
    if let Err(err) = muting.set_actions(alarm, false).await {
        tracing::error!(error = %err, alarm, "DisableAlarmActions failed");
        return failed(
            ":x: CloudWatch did not disable the alarm's actions: nothing is muted. Please try again.",
            err,
            alarm,
        );
    }
    let mute_id = crate::state::unique_owner("mute");
    let mute = Mute { by: gate.caller.user_id.clone(), until, until_ok };
    let timer = Timer::Unmute {
        alarm: alarm.to_owned(),
        lifecycle: button.lifecycle.clone(),
        mute: mute_id.clone(),
        until_ok,
        channel: click.channel_id.clone(),
        ts: message_ts,
    };
    let first_check = if until_ok { now + OK_CHECK_S } else { until };
    let (recorded, scheduled) = tokio::join!(
        state.mute_alert(&button.lifecycle, &mute_id, &mute),
        scheduler.at(&schedule, first_check, &timer)
    );
    if let Err(err) = scheduled {
        // Without its schedule a mute would last for ever: undo it.
        tracing::error!(error = %err, alarm, "no unmute schedule: the mute is undone");
        let _ = muting.set_actions(alarm, true).await;
        let _ = state.unmute_alert(&button.lifecycle, MuteEnd::Due(&mute_id), i64::MAX).await;
        return failed(
            ":x: I could not schedule the unmute, so I did not mute the alarm. Please try again.",
            err.to_string(),
            alarm,
        );
    }
    if let Err(err) = recorded {
        tracing::warn!(error = %err, alarm, "the mute is not on the alarm's record: its next update will not show it");
    }
    let line = muted_line(&mute);
    let mut outcome = Outcome::ephemeral("", Decision::Done).on(alarm);
    outcome.message = replaced(click, &MUTE_ACTIONS, line, vec![unmute_button(alarm, &button.lifecycle)]);
    outcome
}

/// An unmute timer: the mute ends if it is still that mute and its time has come, or, muted until OK,
/// the alarm is OK (else it looks again in 5 minutes). Then the actions are enabled and the alert's
/// message says so.
pub async fn unmute_when_due(app: AlertDeps<'_>, timer: &Timer, now: i64, deadline: Instant) -> Result<String, String> {
    let Timer::Unmute { alarm, lifecycle, mute, until_ok, channel, ts } = timer else {
        return Err("not an unmute".into());
    };
    let (Some(muting), Some(state)) = (app.muting, app.state) else {
        return Err("muting is not configured".into());
    };
    if !muting.may_mute(alarm) {
        return Err(format!("{alarm} is not among the alarms this stack may mute"));
    }
    let mut ended = state.unmute_alert(lifecycle, MuteEnd::Due(mute), now).await.map_err(|e| e.to_string())?;
    if !ended && *until_ok {
        if muting.is_ok(alarm).await? {
            ended = state.unmute_alert(lifecycle, MuteEnd::AlarmOk(mute), now).await.map_err(|e| e.to_string())?;
        } else if let Some(scheduler) = app.scheduler {
            scheduler.at(&unmute_schedule(lifecycle), now + OK_CHECK_S, timer).await.map_err(|e| e.to_string())?;
            return Err(format!("{alarm} is not OK yet: looked at again in 5 minutes"));
        }
    }
    if !ended {
        return Err("unmuted or muted again since, or not due".into());
    }
    muting.set_actions(alarm, true).await?;
    if let Some(bot) = app.bot {
        let line =
            format!("🔔 Unmuted at {}: the alarm's actions are enabled again.", crate::notify::slack_date_at(now));
        let reply = json!({"text": format!("🔔 `{}` unmuted: its actions are enabled again.", escape(alarm))});
        let update = async {
            // The alert's message as it stands, the mute's line and [Unmute] replaced by the unmute's.
            let args = [("channel", channel.as_str()), ("latest", ts.as_str()), ("inclusive", "true"), ("limit", "1")];
            let found = bot.read("conversations.history", &args, deadline).await.map_err(|e| e.to_string())?;
            let Some(message) = found["messages"].as_array().and_then(|m| m.iter().find(|m| m["ts"] == ts.as_str()))
            else {
                return Err("the alert's message is gone".to_owned());
            };
            let in_attachment = message["blocks"].as_array().is_none_or(Vec::is_empty);
            let blocks = if in_attachment { &message["attachments"][0]["blocks"] } else { &message["blocks"] };
            let click = BlockAction {
                message_blocks: blocks.as_array().cloned().unwrap_or_default(),
                in_attachment,
                message_color: message["attachments"][0]["color"].as_str().map(str::to_owned),
                message_text: message["text"].as_str().unwrap_or_default().to_owned(),
                ..BlockAction::default()
            };
            let body = replaced(&click, &[UNMUTE_ACTION], line, Vec::new()).to_json();
            bot.update(channel, ts, &body, deadline).await.map(drop).map_err(|e| e.to_string())
        };
        let (updated, replied) = tokio::join!(update, bot.post_message(channel, &reply, Some((ts, false)), deadline));
        if let Err(err) = updated {
            tracing::warn!(error = %err, alarm = %alarm, "the alert's message was not updated after the unmute");
        }
        if let Err(err) = replied {
            tracing::warn!(error = %err, alarm = %alarm, "no unmute reply in the alert's thread");
        }
    }
    Ok(format!("{alarm} unmuted"))
}

/// What [Silence 1 h] and [Expire silence] carry: the group's lifecycle key, and its common labels (to
/// silence) or the silence's ID and the group's `alertname` (to expire).
#[derive(Deserialize)]
struct SilenceButton {
    #[serde(rename = "k")]
    lifecycle: String,
    #[serde(rename = "m", default)]
    labels: std::collections::BTreeMap<String, String>,
    #[serde(rename = "s", default)]
    silence: String,
    #[serde(rename = "a", default)]
    alertname: Option<String>,
}

/// A click on [Silence 1 h] or [Expire silence].
pub async fn silence_click(
    app: AlertDeps<'_>,
    click: &BlockAction,
    gate: &Gate<'_>,
    now: i64,
    deadline: Instant,
) -> Outcome {
    let Ok(button) = serde_json::from_str::<SilenceButton>(&click.value) else {
        return refused("This button's value is not one I made: nothing was done.", "bad button value", "");
    };
    // Both buttons are governed by the group's `alertname` (`alertmanager:silence`); a group without
    // one by its lifecycle key.
    let resource = button
        .labels
        .get("alertname")
        .or(button.alertname.as_ref())
        .cloned()
        .unwrap_or_else(|| button.lifecycle.trim_start_matches("alertmanager:").to_owned());
    let Some(api) = app.silences else {
        return refused(
            ":warning: Silencing needs `ALERTMANAGER_URL` (the stack's `AlertmanagerUrl`). Nothing was done.",
            "silences not configured",
            &resource,
        );
    };
    if let Some(refusal) = without_approval(gate, SILENCE_ACTION, &resource, ("silencing", "silencing")) {
        return refusal;
    }
    let user = &gate.caller;
    if click.action_id == EXPIRE_SILENCE_ACTION {
        if let Err(err) = api.expire(&button.silence, deadline).await {
            tracing::error!(error = %err, "Alertmanager did not expire the silence");
            return failed(
                format!(":x: Alertmanager did not expire the silence ({err}); it still holds."),
                err.to_string(),
                &resource,
            );
        }
        if let Some(state) = app.state
            && let Err(err) = state.unsilence_alert(&button.lifecycle, &button.silence).await
        {
            tracing::warn!(error = %err, "the silence's end is not on the group's record: its next update may still show it");
        }
        let line = format!("🔊 Silence `{}` expired by <@{}>.", escape(&button.silence), escape(&user.user_id));
        let mut outcome = Outcome::ephemeral("", Decision::Done).on(&resource);
        outcome.message = replaced(click, &[EXPIRE_SILENCE_ACTION], line, Vec::new());
        return outcome;
    }
    if button.labels.is_empty() {
        return refused("This group has no common labels to silence by.", "no labels", &resource);
    }
    // The message's link goes in the silence's comment, so Alertmanager's users can find the context.
    let link = match (app.bot, &click.message_ts) {
        (Some(bot), Some(ts)) => bot
            .read("chat.getPermalink", &[("channel", &click.channel_id), ("message_ts", ts)], deadline)
            .await
            .ok()
            .and_then(|a| a["permalink"].as_str().map(str::to_owned)),
        _ => None,
    };
    let until = now + 3600;
    let who = if user.user_name.is_empty() { user.user_id.clone() } else { user.user_name.clone() };
    let comment = match &link {
        Some(link) => format!("Silenced from Slack by {who} ({}): {link}", user.user_id),
        None => format!("Silenced from Slack by {who} ({})", user.user_id),
    };
    let id = match api
        .create(&button.labels, (now, until), &format!("{who} (Slack {})", user.user_id), &comment, deadline)
        .await
    {
        Ok(id) => id,
        Err(err) => {
            tracing::error!(error = %err, "Alertmanager did not create the silence");
            return failed(
                format!(":x: Alertmanager did not create the silence ({err}). Nothing is silenced."),
                err.to_string(),
                &resource,
            );
        }
    };
    let silence = Silence { id: id.clone(), by: user.user_id.clone(), until };
    if let Some(state) = app.state
        && let Err(err) = state.silence_alert(&button.lifecycle, &silence).await
    {
        tracing::warn!(error = %err, "the silence is not on the group's record: its next update will not show it");
    }
    let expire = Button {
        text: "🔊 Expire silence".into(),
        action_id: EXPIRE_SILENCE_ACTION.into(),
        value: Some(json!({"k": button.lifecycle, "s": id, "a": button.labels.get("alertname")}).to_string()),
        url: None,
        style: None,
        confirm: None,
    };
    let mut outcome = Outcome::ephemeral("", Decision::Done).on(&resource);
    outcome.message = replaced(click, &[SILENCE_ACTION], silenced_line(&silence), vec![expire]);
    outcome
}
