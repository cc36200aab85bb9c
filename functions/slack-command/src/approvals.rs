//! The policy in force (`CHATOPS_POLICY`) and four eyes: a change the policy sends for approval is not
//! run; it becomes a request in the state table and a message to its approvers with [Approve] [Deny].
//!
//! Every step is a conditional write (see `state::requests`): an approver counts once, the requester
//! never; the approval that completes the count moves the request to `executing`, which one container
//! wins, and that one runs the change through the same command or button code as a direct request, with
//! the requester's rights checked again and the resource read again (a group's bounds, a deployment's
//! status). A denial or the expiry closes it; a click on a closed request changes nothing. Each step
//! leaves an audit line with the request's ID.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chatops_shared::aws::kms::CachedSecret;
use chatops_shared::commands::{Caller, Decision, Gate, Outcome, Proposal, Rerun, audit, dispatch, dispatch_action};
use chatops_shared::notify::slack_date_at as date;
use chatops_shared::policy::Policy;
use chatops_shared::slack::api::SlackApi;
use chatops_shared::slack::events::Mention;
use chatops_shared::slack::form::SlashCommand;
use chatops_shared::slack::interaction::BlockAction;
use chatops_shared::slack::{Block, Button, Message, escape};
use chatops_shared::state::{Approval, EXECUTING_LEASE_S, StateTable, StoredRequest};
use serde::{Deserialize, Serialize};

use crate::Deps;

pub const ACTION_APPROVE: &str = "approval:approve";
pub const ACTION_DENY: &str = "approval:deny";
/// How long a user group's members are kept before `usergroups.users.list` is asked again.
pub const GROUPS_TTL: Duration = Duration::from_secs(60);
/// A closed request stays readable (a late click is answered) this long after it stopped being open.
const KEEP_AFTER_CLOSE_S: i64 = 7 * 24 * 3600;

/// A user group's members and when they were read.
type Members = (Instant, Arc<BTreeSet<String>>);

/// The policy and what it needs, built once per container.
pub struct Governance {
    pub policy: Policy,
    /// Posts requests and reads user groups; set whenever the policy needs it (checked at init).
    pub slack: Option<(SlackApi, Arc<CachedSecret>)>,
    /// Where requests live; set whenever the policy has approval rules (checked at init).
    pub state: Option<StateTable>,
    /// The user groups the policy names (worked out once, not per request).
    named_groups: BTreeSet<String>,
    /// User group → (read at, members).
    groups: Mutex<HashMap<String, Members>>,
}

impl Governance {
    pub fn new(policy: Policy, slack: Option<(SlackApi, Arc<CachedSecret>)>, state: Option<StateTable>) -> Self {
        Self { named_groups: policy.groups(), policy, slack, state, groups: Mutex::new(HashMap::new()) }
    }

    /// The user groups the policy names that `user` is in. A group that cannot be read counts as one
    /// the user is not in (the safe side) and is asked again on the next request.
    pub async fn groups_of(&self, user: &str, deadline: Instant) -> BTreeSet<String> {
        let mut mine = BTreeSet::new();
        for group in &self.named_groups {
            if let Some(members) = self.members(group, deadline).await
                && members.contains(user)
            {
                mine.insert(group.clone());
            }
        }
        mine
    }

    async fn members(&self, group: &str, deadline: Instant) -> Option<Arc<BTreeSet<String>>> {
        let cached = self.groups.lock().ok().and_then(|g| g.get(group).cloned());
        if let Some((at, members)) = cached
            && at.elapsed() < GROUPS_TTL
        {
            return Some(members);
        }
        let (api, token) = self.slack.as_ref()?;
        let token = token
            .get()
            .await
            .inspect_err(|err| tracing::error!(error = %err, "bot token unavailable: user groups cannot be read"))
            .ok()?;
        match api.usergroup_members(&token, group, deadline).await {
            Ok(members) => {
                let members = Arc::new(members.into_iter().collect::<BTreeSet<_>>());
                if let Ok(mut groups) = self.groups.lock() {
                    groups.insert(group.to_owned(), (Instant::now(), members.clone()));
                }
                Some(members)
            }
            Err(err) => {
                tracing::warn!(error = %err, group, "could not read a user group: its members are refused this time");
                None
            }
        }
    }
}

/// The gate a caller's command asks before changing anything.
pub async fn gate_for<'a>(deps: &'a Deps, caller: &'a Caller, approved: bool, deadline: Instant) -> Gate<'a> {
    match &deps.governance {
        None => Gate::open(caller),
        Some(g) => {
            Gate { caller, policy: Some(&g.policy), groups: g.groups_of(&caller.user_id, deadline).await, approved }
        }
    }
}

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
}

fn new_request_id(caller: &Caller) -> String {
    use sha2::Digest as _;
    let seed =
        format!("{}{}{}", chatops_shared::state::unique_owner("r"), chatops_shared::state::now_ms(), caller.user_id);
    let hash = hex::encode_upper(sha2::Sha256::digest(seed.as_bytes()));
    format!("R-{}", &hash[..8])
}

/// The approvers' message, from the request and where it stands.
fn request_message(body: &RequestBody, stored: Option<&StoredRequest>) -> Message {
    let requester = format!("<@{}>", escape(&body.requester.user_id));
    let status = stored.map_or("open", |s| s.status.as_str());
    let icon = match status {
        "open" => "🔐",
        "executing" => "⏳",
        "executed" => "✅",
        "denied" | "expired" => "🚫",
        "abandoned" => "⚠️",
        _ => "❌",
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
            "executing" => Some("Running now…".to_owned()),
            "executed" => Some(format!("Ran: {result}")),
            "failed" => Some(format!("Did not run: {result}")),
            "abandoned" => Some(format!("⚠️ Unknown: {result}")),
            "denied" => Some(format!("Denied by {by}. Nothing was done.")),
            "expired" => Some("Expired without enough approvals. Nothing was done.".to_owned()),
            _ => None,
        };
        if let Some(line) = line {
            message = message.block(Block::section(line));
        }
    }
    if status == "open" {
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

/// A command's outcome that needs approval becomes a stored request and a message to its approvers;
/// the requester is told it waits. Any other outcome passes through.
pub async fn open_if_pending(deps: &Deps, caller: &Caller, outcome: Outcome, deadline: Instant) -> Outcome {
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
    let Some((g, rule)) = deps.governance.as_ref().and_then(|g| Some((g, g.policy.rule(&proposal.rule)?))) else {
        return failed("no policy");
    };
    let (Some(state), Some((api, token)), Some(approval)) = (&g.state, &g.slack, &rule.approval) else {
        return failed("approvals are not configured");
    };
    let now = (deps.now_unix)();
    let open_until = now + approval.expires_after.as_secs() as i64;
    let mut body = RequestBody {
        id: new_request_id(caller),
        requester: caller.clone(),
        proposal: (*proposal).clone(),
        count: approval.count,
        approvers: rule.approvers_text(),
        open_until,
        channel: approval.channel.clone().unwrap_or_else(|| caller.channel_id.clone()),
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
    let token = match token.get().await {
        Ok(token) => token,
        Err(err) => {
            tracing::error!(error = %err, "bot token unavailable: cannot ask the approvers");
            close_unposted(state, &body.id, now).await;
            return failed("the bot token is unavailable");
        }
    };
    let message = request_message(&body, None).to_json();
    if let Err(err) = api.post_message(&token, &body.channel, &message, None, deadline).await {
        tracing::error!(error = %err, request = %body.id, "could not post the approval request");
        close_unposted(state, &body.id, now).await;
        return failed("Slack did not take the message to the approvers");
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

/// A request whose message never reached the approvers is closed, so nobody can act on it blind.
async fn close_unposted(state: &StateTable, id: &str, now: i64) {
    if let Err(err) =
        state.move_request(id, "open", "failed", "slack-command", Some("the approvers could not be asked"), now).await
    {
        tracing::warn!(error = %err, request = id, "could not close an unposted request");
    }
}

/// A click on [Approve] or [Deny]. The outcome's message replaces the approvers' message (or, for a
/// click that changes nothing, is shown to the clicker alone).
pub async fn click(deps: &Deps, click: &BlockAction, deadline: Instant) -> Outcome {
    let id = click.value.trim();
    let refuse = |text: String, why: &str| {
        let mut o = Outcome::ephemeral(text, Decision::Refused(why.to_owned()));
        o.approval = Some((id.to_owned(), "refused"));
        o
    };
    if click.action_id != ACTION_APPROVE && click.action_id != ACTION_DENY {
        return refuse(format!("I don't know the action `{}`.", escape(&click.action_id)), "unknown action");
    }
    let Some(g) = &deps.governance else {
        return refuse("Approvals are not configured here.".into(), "no policy");
    };
    let Some(state) = &g.state else {
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
    let now = (deps.now_unix)();
    let closed = |stored: &StoredRequest| {
        refuse(format!("Request `{}` is already {}. Nothing changed.", escape(id), stored.status), "request closed")
    };
    if stored.status == "open" && stored.open_until <= now {
        return expire(state, &body, now).await;
    }
    if stored.status == "executing" && stored.moved_at.is_some_and(|at| at <= now - EXECUTING_LEASE_S) {
        return abandon(state, &body, now).await;
    }
    if stored.status != "open" {
        return closed(&stored);
    }
    let Some(rule) = g.policy.rule(&body.proposal.rule) else {
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
    let groups = g.groups_of(&click.user_id, deadline).await;
    if !rule.may_approve(&click.user_id, &groups) {
        return refuse(
            format!("Only {} may approve or deny request `{}`. Nothing changed.", rule.approvers_text(), escape(id)),
            &format!("policy: not an approver of rule {}", rule.name),
        );
    }
    if click.action_id == ACTION_DENY {
        return match state.move_request(id, "open", "denied", &click.user_id, None, now).await {
            Ok(true) => step(&body, state, "denied", Decision::Info).await,
            Ok(false) => reread(state, &body, now).await,
            Err(err) => unavailable(&err),
        };
    }
    let counted = match state.approve_request(id, &click.user_id, now).await {
        Ok(Approval::Counted(counted)) => counted,
        // Already counted, and enough approvals but not run (the click that completed the count never
        // got to run it): this click runs it. Otherwise the request needs someone else.
        Ok(Approval::NotCounted(Some(now_stored)))
            if now_stored.status == "open"
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
    match state.move_request(id, "open", "executing", &click.user_id, None, now).await {
        Ok(true) => {}
        Ok(false) => return reread(state, &body, now).await,
        Err(err) => return unavailable(&err),
    }
    execute(deps, state, &body, &counted.approved_by, deadline).await
}

/// Reads the request again after a conditional write lost: someone moved it first.
async fn reread(state: &StateTable, body: &RequestBody, now: i64) -> Outcome {
    match state.get_request(&body.id).await {
        Ok(Some(s)) if s.status == "open" && s.open_until <= now => expire(state, body, now).await,
        Ok(Some(s)) => {
            let mut o = Outcome::ephemeral(
                format!("Request `{}` is already {}. Nothing changed.", escape(&body.id), s.status),
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

fn unavailable(err: &chatops_shared::state::StateError) -> Outcome {
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
    match state.move_request(&body.id, "executing", "abandoned", "expiry", Some(&why), now).await {
        Ok(_) => step(body, state, "abandoned", Decision::Failed("run abandoned".into())).await,
        Err(err) => unavailable(&err),
    }
}

/// Past its time: closed as expired (by whichever click sees it first).
async fn expire(state: &StateTable, body: &RequestBody, now: i64) -> Outcome {
    match state.move_request(&body.id, "open", "expired", "expiry", None, now).await {
        Ok(_) => step(body, state, "expired", Decision::Refused("request expired".into())).await,
        Err(err) => unavailable(&err),
    }
}

/// Runs an approved request as its requester, with the policy checked again and the resource read again.
async fn execute(
    deps: &Deps,
    state: &StateTable,
    body: &RequestBody,
    approvers: &[String],
    deadline: Instant,
) -> Outcome {
    let started = Instant::now();
    let requester = &body.requester;
    let gate = gate_for(deps, requester, true, deadline).await;
    let ran = match &body.proposal.rerun {
        Rerun::Command { command, text } => {
            let command = SlashCommand {
                team_id: requester.team_id.clone(),
                team_domain: String::new(),
                enterprise_id: None,
                channel_id: requester.channel_id.clone(),
                channel_name: requester.channel_name.clone(),
                user_id: requester.user_id.clone(),
                user_name: requester.user_name.clone(),
                command: command.clone(),
                text: text.clone(),
                response_url: None,
                trigger_id: None,
            };
            dispatch(&deps.services, &command, &gate, deadline).await
        }
        Rerun::Button { action_id, value } => {
            let click = BlockAction {
                team_id: requester.team_id.clone(),
                user_id: requester.user_id.clone(),
                user_name: requester.user_name.clone(),
                channel_id: requester.channel_id.clone(),
                channel_name: requester.channel_name.clone(),
                action_id: action_id.clone(),
                block_id: String::new(),
                value: value.clone(),
                response_url: None,
                message_blocks: Vec::new(),
                in_attachment: false,
                message_color: None,
                message_text: String::new(),
            };
            dispatch_action(&deps.services, &click, &gate, deadline).await
        }
        Rerun::Mention { channel, ts, thread_ts, text } => {
            let mention = Mention {
                event_id: format!("approved-{}", body.id),
                team_id: requester.team_id.clone(),
                user_id: requester.user_id.clone(),
                channel_id: channel.clone(),
                ts: ts.clone(),
                thread_ts: thread_ts.clone(),
                text: text.clone(),
            };
            crate::deploys::run_approved(deps, &mention, &gate, deadline).await
        }
    };
    let (status, step_name) = match ran.decision {
        Decision::Done | Decision::Info => ("executed", "executed"),
        _ => ("failed", "failed"),
    };
    // A button's outcome is the rebuilt deployment message, not a sentence: say what was done instead.
    let result = match (&body.proposal.rerun, &ran.decision) {
        (Rerun::Button { .. }, Decision::Done) => format!("{}: done.", body.proposal.summary),
        _ => ran.message.text.clone(),
    };
    let mut executed = ran.clone();
    executed.approval = Some((body.id.clone(), step_name));
    audit(requester, &executed, started.elapsed());
    let now = (deps.now_unix)();
    if let Err(err) = state
        .move_request(&body.id, "executing", status, approvers.last().map_or("", String::as_str), Some(&result), now)
        .await
    {
        tracing::error!(error = %err, request = %body.id, "could not record the result of an approved request");
    }
    // Tell the requester where they asked (a deploy answers in its own thread).
    if !matches!(body.proposal.rerun, Rerun::Mention { .. })
        && let Some((api, token)) = deps.governance.as_ref().and_then(|g| g.slack.as_ref())
        && let Ok(token) = token.get().await
    {
        let who: Vec<String> = approvers.iter().map(|u| format!("<@{}>", escape(u))).collect();
        let text = format!(
            "{} <@{}>, your request `{}` was approved by {}: {}",
            if status == "executed" { "✅" } else { "❌" },
            escape(&requester.user_id),
            body.id,
            who.join(", "),
            result
        );
        let message = Message::new(text.clone()).block(Block::section(text)).to_json();
        if let Err(err) = api.post_message(&token, &requester.channel_id, &message, None, deadline).await {
            tracing::warn!(error = %err, request = %body.id, "could not tell the requester in their channel");
        }
    }
    // The click's audit line (`approved`) follows the run's (`executed` or `failed`).
    let mut outcome = step(body, state, "approved", Decision::Info).await;
    outcome.resource = ran.resource;
    outcome
}
