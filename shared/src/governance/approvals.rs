//! Four eyes: a change the rules send for approval is not run; it becomes a request in the state table
//! and a message to its approvers with \[Approve\] \[Deny\].
//!
//! Every step is a conditional write (see `state::requests` and its [`RequestStatus`] machine): an
//! approver counts once, the requester never; the approval that completes the count moves the request
//! to `executing`, which one container wins, and that one runs the change through the caller's re-run
//! (the same command, button or mention code as a direct request), with the requester's rights checked
//! again and the resource read again (a group's bounds, a deployment's status). A denial or the expiry
//! closes it; a click on a closed request changes nothing. Each step leaves an audit line with the
//! request's ID.

use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::outcome::{Caller, Decision, Outcome, Proposal, Rerun, audit};
use super::{At, Gate, Governance};
use crate::notify::slack_date_at as date;
use crate::slack::interaction::BlockAction;
use crate::slack::{Block, Button, Message, escape};
use crate::state::{Approval, EXECUTING_LEASE_S, RequestStatus, StateError, StateTable, StoredRequest};

/// Every approval button's `action_id` starts so; an unknown one is refused here, with the request's ID.
pub const APPROVAL_PREFIX: &str = "approval:";
pub const ACTION_APPROVE: &str = "approval:approve";
pub const ACTION_DENY: &str = "approval:deny";
/// A closed request stays readable (a late click is answered) this long after it stopped being open.
const KEEP_AFTER_CLOSE_S: i64 = 7 * 24 * 3600;

/// A request as stored: who asked, what runs, and what the approvers were told.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct RequestBody {
    id: String,
    requester: Caller,
    proposal: Proposal,
    count: usize,
    approvers: String,
    open_until: i64,
    /// Where the approvers' message is.
    channel: String,
    /// When it was asked (epoch s; 0 for a request stored by an older version).
    #[serde(default)]
    requested_at: i64,
}

/// Records `body`'s outcome in the history the operations report reads (its wait); a failure is logged.
async fn summarise(state: &StateTable, body: &RequestBody, outcome: &str, now: i64) {
    if body.requested_at <= 0 {
        return;
    }
    let summary = crate::state::ApprovalSummary {
        id: body.id.clone(),
        action: body.proposal.action.clone(),
        resource: body.proposal.resource.clone(),
        requested_at: body.requested_at,
        decided_at: now,
        outcome: outcome.to_owned(),
    };
    if let Err(err) = state.record_approval_summary(&summary).await {
        tracing::warn!(error = %err, request = %body.id, "approval not recorded in the history");
    }
}

fn new_request_id(caller: &Caller) -> String {
    use sha2::Digest as _;
    let seed = format!("{}{}{}", crate::state::unique_owner("r"), crate::clock::now_ms(), caller.user_id);
    let hash = hex::encode_upper(sha2::Sha256::digest(seed.as_bytes()));
    format!("R-{}", &hash[..8])
}

/// The approvers' message, from the request and where it stands.
fn request_message(body: &RequestBody, stored: Option<&StoredRequest>) -> Message {
    let requester = format!("<@{}>", escape(&body.requester.user_id));
    let status = stored.map_or(Some(RequestStatus::Open), |s| s.status);
    let icon = match status {
        Some(RequestStatus::Open) => "🔐",
        Some(RequestStatus::Executing) => "⏳",
        Some(RequestStatus::Executed) => "✅",
        Some(RequestStatus::Denied | RequestStatus::Expired) => "🚫",
        Some(RequestStatus::Abandoned) => "⚠️",
        Some(RequestStatus::Failed) | None => "❌",
    };
    let text =
        format!("{icon} {} — {requester} asks to {}. Request `{}`.", body.approvers, body.proposal.summary, body.id);
    let mut message = Message::new(text.clone()).block(Block::section(text));
    let mut context = vec![format!(
        "Rule `{}` · needs {} approval{} · open until {}",
        escape(&body.proposal.rule),
        body.count,
        if body.count == 1 { "" } else { "s" },
        date(body.open_until)
    )];
    if let Some(reason) = &body.requester.reason {
        context.insert(0, format!("Reason: {}", escape(reason)));
    }
    message = message.block(Block::Context(context));
    if let Some(stored) = stored {
        if !stored.approved_by.is_empty() {
            let who: Vec<String> = stored.approved_by.iter().map(|u| format!("<@{}>", escape(u))).collect();
            message = message.block(Block::Context(vec![format!(
                "👍 Approved by {} ({} of {})",
                who.join(", "),
                stored.approved_by.len(),
                body.count
            )]));
        }
        let by = stored.closed_by.as_deref().map(|u| format!("<@{}>", escape(u))).unwrap_or_default();
        let result = stored.result.as_deref().unwrap_or_default();
        let line = match status {
            Some(RequestStatus::Executing) => Some("Running now…".to_owned()),
            Some(RequestStatus::Executed) => Some(format!("Ran: {result}")),
            Some(RequestStatus::Failed) => Some(format!("Did not run: {result}")),
            Some(RequestStatus::Abandoned) => Some(format!("⚠️ Unknown: {result}")),
            Some(RequestStatus::Denied) => Some(format!("Denied by {by}. Nothing was done.")),
            Some(RequestStatus::Expired) => Some("Expired without enough approvals. Nothing was done.".to_owned()),
            Some(RequestStatus::Open) | None => None,
        };
        if let Some(line) = line {
            message = message.block(Block::section(line));
        }
    }
    if status == Some(RequestStatus::Open) {
        let button = |text: &str, action_id: &str, style| Button {
            text: text.to_owned(),
            action_id: action_id.to_owned(),
            value: Some(body.id.clone()),
            url: None,
            style: Some(style),
            confirm: None,
        };
        message = message.block(Block::Actions {
            block_id: Some(format!("approval:{}", body.id)),
            buttons: vec![button("Approve", ACTION_APPROVE, "primary"), button("Deny", ACTION_DENY, "danger")],
        });
    }
    message.replace_original = Some(true);
    message
}

impl Governance {
    /// A command's outcome that needs approval becomes a stored request and a message to its approvers;
    /// the requester is told it waits. Any other outcome passes through.
    pub(crate) async fn open_if_pending(&self, caller: &Caller, outcome: Outcome, at: At) -> Outcome {
        let Some(proposal) = outcome.proposal.clone().filter(|_| outcome.decision == Decision::Pending) else {
            return outcome;
        };
        let failed = |why: &str| {
            let mut refused = Outcome::ephemeral(
            format!(":x: This needs approval, and I can't file the request right now ({why}). Nothing was done; please try again in a minute."),
            Decision::Failed(why.to_owned()),
        )
        .on(&proposal.resource);
            refused.before = outcome.before;
            refused.after = outcome.after;
            refused
        };
        let Some(rule) = self.rules.as_ref().and_then(|policy| policy.rule(&proposal.rule)) else {
            return failed("no policy");
        };
        let (Some(state), Some(bot), Some(approval)) = (&self.state, &self.bot, &rule.approval) else {
            return failed("approvals are not configured");
        };
        let now = at.now_unix;
        let open_until = now + approval.expires_after.as_secs() as i64;
        let mut body = RequestBody {
            id: new_request_id(caller),
            requester: caller.clone(),
            proposal: (*proposal).clone(),
            count: approval.count,
            approvers: rule.approvers_text(),
            open_until,
            channel: approval.channel.clone().unwrap_or_else(|| caller.channel_id.clone()),
            requested_at: now,
        };
        let mut stored = false;
        for _ in 0..3 {
            let Ok(json) = serde_json::to_string(&body) else { return failed("the request could not be written") };
            match state.create_request(&body.id, &json, open_until, open_until + KEEP_AFTER_CLOSE_S).await {
                Ok(true) => {
                    stored = true;
                    break;
                }
                Ok(false) => body.id = new_request_id(caller),
                Err(err) => {
                    tracing::error!(error = %err, "could not store an approval request");
                    return failed("the state table is unavailable");
                }
            }
        }
        if !stored {
            return failed("no free request ID");
        }
        let message = request_message(&body, None).to_json();
        match bot.post_message(&body.channel, &message, None, at.deadline).await {
            Ok(posted) => {
                // Where the message is, and a schedule for its expiry, so it says so when the time comes.
                let place = state.set_request_message(&body.id, &posted.channel, &posted.ts);
                let timer = async {
                    let Some(scheduler) = &self.scheduler else { return Ok(()) };
                    let timer = crate::aws::scheduler::Timer::ApprovalExpiry { request: body.id.clone() };
                    scheduler.at(&expiry_schedule(&body.id), open_until, &timer).await
                };
                let (place, timer) = tokio::join!(place, timer);
                if let Err(err) = place {
                    tracing::warn!(error = %err, request = %body.id, "the approvers' message was not recorded: its expiry will show on the next click");
                }
                if let Err(err) = timer {
                    tracing::warn!(error = %err, request = %body.id, "no expiry schedule: the expiry will show on the next click");
                }
            }
            Err(crate::slack::bot::BotError::Token(err)) => {
                tracing::error!(error = %err, "bot token unavailable: cannot ask the approvers");
                close_unposted(state, &body.id, now).await;
                return failed("the bot token is unavailable");
            }
            Err(err) => {
                tracing::error!(error = %err, request = %body.id, "could not post the approval request");
                close_unposted(state, &body.id, now).await;
                return failed("Slack did not take the message to the approvers");
            }
        }
        let text = format!(
            "⏳ Waiting for approval: request `{}` to {}. {} {} been asked in <#{}>; it stays open until {}.",
            body.id,
            proposal.summary,
            body.approvers,
            if approval.approvers.len() == 1 { "has" } else { "have" },
            escape(&body.channel),
            date(open_until)
        );
        let mut pending = Outcome::ephemeral(text, Decision::Pending).on(&proposal.resource);
        pending.before = outcome.before;
        pending.after = outcome.after;
        pending.approval = Some((body.id, "requested"));
        pending
    }

    /// A click on \[Approve\] or \[Deny\], answered by `click`'s caller with the outcome (the approvers'
    /// message as it now stands, or, for a click that changes nothing, a line for the clicker alone).
    /// `rerun` runs an approved request (its ID, requester and re-run) as its requester, with the gate it
    /// is given.
    pub async fn click(
        &self,
        click: &BlockAction,
        at: At,
        rerun: impl AsyncFnOnce(&str, &Caller, &Rerun, &Gate<'_>) -> Outcome,
    ) -> Outcome {
        let id = click.value.trim();
        let refuse = |text: String, why: &str| {
            let mut o = Outcome::ephemeral(text, Decision::Refused(why.to_owned()));
            o.approval = Some((id.to_owned(), "refused"));
            o
        };
        if click.action_id != ACTION_APPROVE && click.action_id != ACTION_DENY {
            return refuse(format!("I don't know the action `{}`.", escape(&click.action_id)), "unknown action");
        }
        let Some(policy) = &self.rules else {
            return refuse("Approvals are not configured here.".into(), "no policy");
        };
        let Some(state) = &self.state else {
            return refuse("Approvals are not configured here.".into(), "no state table");
        };
        let stored = match state.get_request(id).await {
            Ok(Some(stored)) => stored,
            Ok(None) => return refuse(format!("There is no request `{}` (any more).", escape(id)), "unknown request"),
            Err(err) => {
                tracing::error!(error = %err, "state table unavailable: approval click not handled");
                return Outcome::ephemeral(
                    ":x: I can't read the request right now. Nothing changed; please click again in a minute.",
                    Decision::Failed("state table unavailable".into()),
                );
            }
        };
        let Ok(body) = serde_json::from_str::<RequestBody>(&stored.body) else {
            return refuse("This request cannot be read. Nothing changed.".into(), "unreadable request");
        };
        let now = at.now_unix;
        let closed = |stored: &StoredRequest| {
            refuse(
                format!("Request `{}` is already {}. Nothing changed.", escape(id), status_text(stored)),
                "request closed",
            )
        };
        let open = stored.status == Some(RequestStatus::Open);
        if open && stored.open_until <= now {
            return expire(state, &body, now).await;
        }
        if stored.status == Some(RequestStatus::Executing)
            && stored.moved_at.is_some_and(|at| at <= now - EXECUTING_LEASE_S)
        {
            return abandon(state, &body, now).await;
        }
        if !open {
            return closed(&stored);
        }
        let Some(rule) = policy.rule(&body.proposal.rule) else {
            return refuse(
                format!(
                    "The rule `{}` that asked for this approval is no longer in the policy. Nothing changed.",
                    escape(&body.proposal.rule)
                ),
                "rule gone",
            );
        };
        if click.action_id == ACTION_APPROVE && click.user_id == body.requester.user_id {
            return refuse(
                "You cannot approve your own request: someone else must. Nothing changed.".into(),
                "self-approval",
            );
        }
        let groups = self.groups.groups_of(self.bot.as_deref(), &click.user_id, at.deadline).await;
        if !rule.may_approve(&click.user_id, &groups) {
            return refuse(
                format!(
                    "Only {} may approve or deny request `{}`. Nothing changed.",
                    rule.approvers_text(),
                    escape(id)
                ),
                &format!("policy: not an approver of rule {}", rule.name),
            );
        }
        if click.action_id == ACTION_DENY {
            return match state
                .move_request(id, RequestStatus::Open, RequestStatus::Denied, &click.user_id, None, now)
                .await
            {
                Ok(true) => {
                    let (outcome, ()) = tokio::join!(
                        step(&body, state, "denied", Decision::Info),
                        summarise(state, &body, "denied", now)
                    );
                    outcome
                }
                Ok(false) => reread(state, &body, now).await,
                Err(err) => unavailable(&err),
            };
        }
        let counted = match state.approve_request(id, &click.user_id, now).await {
            Ok(Approval::Counted(counted)) => counted,
            // Already counted, and enough approvals but not run (the click that completed the count never
            // got to run it): this click runs it. Otherwise the request needs someone else.
            Ok(Approval::NotCounted(Some(now_stored)))
                if now_stored.status == Some(RequestStatus::Open)
                    && now_stored.open_until > now
                    && now_stored.approved_by.contains(&click.user_id) =>
            {
                if now_stored.approved_by.len() < body.count {
                    return refuse(
                        "You already approved this request; it needs someone else now.".into(),
                        "approved twice",
                    );
                }
                now_stored
            }
            Ok(Approval::NotCounted(_)) => return reread(state, &body, now).await,
            Err(err) => return unavailable(&err),
        };
        if counted.approved_by.len() < body.count {
            let mut outcome =
                Outcome { message: request_message(&body, Some(&counted)), ..Outcome::ephemeral("", Decision::Info) };
            outcome.approval = Some((body.id.clone(), "approved"));
            return outcome.on(&body.proposal.resource);
        }
        // Enough approvals: one container wins the right to run it.
        match state.move_request(id, RequestStatus::Open, RequestStatus::Executing, &click.user_id, None, now).await {
            Ok(true) => {}
            Ok(false) => return reread(state, &body, now).await,
            Err(err) => return unavailable(&err),
        }
        execute(self, state, &body, &counted.approved_by, at, rerun).await
    }
}

/// A request whose message never reached the approvers is closed, so nobody can act on it blind.
async fn close_unposted(state: &StateTable, id: &str, now: i64) {
    if let Err(err) = state
        .move_request(
            id,
            RequestStatus::Open,
            RequestStatus::Failed,
            "slack-command",
            Some("the approvers could not be asked"),
            now,
        )
        .await
    {
        tracing::warn!(error = %err, request = id, "could not close an unposted request");
    }
}

/// A stored status as the clicker is told it.
fn status_text(stored: &StoredRequest) -> &'static str {
    stored.status.map_or("closed", RequestStatus::as_str)
}

/// Reads the request again after a conditional write lost: someone moved it first.
async fn reread(state: &StateTable, body: &RequestBody, now: i64) -> Outcome {
    match state.get_request(&body.id).await {
        Ok(Some(s)) if s.status == Some(RequestStatus::Open) && s.open_until <= now => expire(state, body, now).await,
        Ok(Some(s)) => {
            let mut o = Outcome::ephemeral(
                format!("Request `{}` is already {}. Nothing changed.", escape(&body.id), status_text(&s)),
                Decision::Refused("request closed".into()),
            );
            o.approval = Some((body.id.clone(), "refused"));
            o
        }
        Ok(None) => {
            Outcome::ephemeral("This request is gone. Nothing changed.", Decision::Refused("unknown request".into()))
        }
        Err(err) => unavailable(&err),
    }
}

fn unavailable(err: &StateError) -> Outcome {
    tracing::error!(error = %err, "state table unavailable during an approval click");
    Outcome::ephemeral(
        ":x: I can't record this right now. Nothing changed; please click again in a minute.",
        Decision::Failed("state table unavailable".into()),
    )
}

/// The request's message as it now stands, as the outcome of a step.
async fn step(body: &RequestBody, state: &StateTable, name: &'static str, decision: Decision) -> Outcome {
    let stored = state.get_request(&body.id).await.ok().flatten();
    let mut outcome = Outcome { message: request_message(body, stored.as_ref()), ..Outcome::ephemeral("", decision) };
    outcome.approval = Some((body.id.clone(), name));
    outcome.on(&body.proposal.resource)
}

/// A run that never reported (its container stopped mid-way): closed so that it shows, with a warning,
/// since whether the change was made is unknown.
async fn abandon(state: &StateTable, body: &RequestBody, now: i64) -> Outcome {
    let why = format!(
        "the run did not report back (its container stopped); the change may or may not have been made: check `{}` before asking again.",
        escape(&body.proposal.resource)
    );
    match state
        .move_request(&body.id, RequestStatus::Executing, RequestStatus::Abandoned, "expiry", Some(&why), now)
        .await
    {
        Ok(_) => step(body, state, "abandoned", Decision::Failed("run abandoned".into())).await,
        Err(err) => unavailable(&err),
    }
}

/// The schedule that announces request `id`'s expiry.
fn expiry_schedule(id: &str) -> String {
    crate::aws::scheduler::schedule_name("approval", id)
}

impl Governance {
    /// Request `id`'s expiry, when its schedule fires: closed as expired if it is still open and its time
    /// has come (a late or forged timer changes nothing), the approvers' message updated, the requester
    /// told. `None`: nothing to do (and why).
    pub async fn expire_when_due(&self, id: &str, now: i64, deadline: Instant) -> Result<Outcome, String> {
        let (Some(state), Some(bot)) = (&self.state, &self.bot) else {
            return Err("approvals are not configured".into());
        };
        let stored = match state.get_request(id).await {
            Ok(Some(stored)) => stored,
            Ok(None) => return Err("no such request".into()),
            Err(err) => return Err(err.to_string()),
        };
        if stored.status != Some(RequestStatus::Open) {
            return Err(format!("already {}", status_text(&stored)));
        }
        if stored.open_until > now {
            return Err("not due yet".into());
        }
        let Ok(body) = serde_json::from_str::<RequestBody>(&stored.body) else {
            return Err("unreadable request".into());
        };
        match state.move_request(id, RequestStatus::Open, RequestStatus::Expired, "expiry", None, now).await {
            Ok(true) => {}
            Ok(false) => return Err("closed meanwhile".into()),
            Err(err) => return Err(err.to_string()),
        }
        let (outcome, ()) = tokio::join!(
            step(&body, state, "expired", Decision::Refused("request expired".into())),
            summarise(state, &body, "expired", now)
        );
        let requester = &body.requester;
        let told = format!(
            "⌛ <@{}>, your request `{}` to {} expired without enough approvals. Nothing was done.",
            escape(&requester.user_id),
            body.id,
            body.proposal.summary
        );
        let told = Message::new(told.clone()).block(Block::section(told)).to_json();
        let update = async {
            match &stored.message {
                Some((channel, ts)) => bot.update(channel, ts, &outcome.message.to_json(), deadline).await.map(drop),
                None => Ok(()),
            }
        };
        let (updated, posted) = tokio::join!(update, bot.post_message(&requester.channel_id, &told, None, deadline));
        if let Err(err) = updated {
            tracing::warn!(error = %err, request = id, "the approvers' message was not updated to expired");
        }
        if let Err(err) = posted {
            tracing::warn!(error = %err, request = id, "the requester was not told of the expiry");
        }
        audit(requester, &outcome, std::time::Duration::ZERO);
        Ok(outcome)
    }
}

/// Past its time: closed as expired (by whichever click sees it first).
async fn expire(state: &StateTable, body: &RequestBody, now: i64) -> Outcome {
    match state.move_request(&body.id, RequestStatus::Open, RequestStatus::Expired, "expiry", None, now).await {
        Ok(true) => {
            let (outcome, ()) = tokio::join!(
                step(body, state, "expired", Decision::Refused("request expired".into())),
                summarise(state, body, "expired", now)
            );
            outcome
        }
        Ok(false) => step(body, state, "expired", Decision::Refused("request expired".into())).await,
        Err(err) => unavailable(&err),
    }
}

/// Runs an approved request as its requester, with the policy checked again and the resource read again.
async fn execute(
    g: &Governance,
    state: &StateTable,
    body: &RequestBody,
    approvers: &[String],
    at: At,
    rerun: impl AsyncFnOnce(&str, &Caller, &Rerun, &Gate<'_>) -> Outcome,
) -> Outcome {
    let started = Instant::now();
    let requester = &body.requester;
    let gate = g.gate(requester, true, at.deadline).await;
    let ran = rerun(&body.id, requester, &body.proposal.rerun, &gate).await;
    let (status, step_name) = match ran.decision {
        Decision::Done | Decision::Info => (RequestStatus::Executed, "executed"),
        _ => (RequestStatus::Failed, "failed"),
    };
    // A button's outcome is the rebuilt deployment message, not a sentence: say what was done instead.
    let result = match (&body.proposal.rerun, &ran.decision) {
        (Rerun::Button { .. }, Decision::Done) => format!("{}: done.", body.proposal.summary),
        _ => ran.message.text.clone(),
    };
    let mut executed = ran.clone();
    executed.approval = Some((body.id.clone(), step_name));
    audit(requester, &executed, started.elapsed());
    // The change it made, and its wait for the report: side by side.
    tokio::join!(
        super::outcome::record_change(Some(state), requester, &executed),
        summarise(state, body, "approved", at.now_unix)
    );
    let now = at.now_unix;
    if let Err(err) = state
        .move_request(
            &body.id,
            RequestStatus::Executing,
            status,
            approvers.last().map_or("", String::as_str),
            Some(&result),
            now,
        )
        .await
    {
        tracing::error!(error = %err, request = %body.id, "could not record the result of an approved request");
    }
    // Tell the requester where they asked (a deploy answers in its own thread).
    if !matches!(body.proposal.rerun, Rerun::Mention { .. })
        && let Some(bot) = &g.bot
    {
        let who: Vec<String> = approvers.iter().map(|u| format!("<@{}>", escape(u))).collect();
        let text = format!(
            "{} <@{}>, your request `{}` was approved by {}: {}",
            if status == RequestStatus::Executed { "✅" } else { "❌" },
            escape(&requester.user_id),
            body.id,
            who.join(", "),
            result
        );
        let message = Message::new(text.clone()).block(Block::section(text)).to_json();
        if let Err(err) = bot.post_message(&requester.channel_id, &message, None, at.deadline).await {
            tracing::warn!(error = %err, request = %body.id, "could not tell the requester in their channel");
        }
    }
    // The click's audit line (`approved`) follows the run's (`executed` or `failed`).
    let mut outcome = step(body, state, "approved", Decision::Info).await;
    outcome.resource = ran.resource;
    outcome
}
