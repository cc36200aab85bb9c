//! Who may do what, decided in one place. Every entry point (a slash command, a button, a mention, an
//! approved re-run, and the incident commands to come) asks [`Governance::guard`] once: the access list
//! ([`AccessPolicy`]), then the entry's own work with a [`Gate`] that answers Go / Refused /
//! NeedsApproval from the policy's rules ([`rules`], `CHATOPS_POLICY`) once the resource is known, then,
//! for a change that needs approval, the request to its approvers ([`approvals`]), and last the audit
//! line with the outcome's fields. User groups the rules name are read through the bot and cached
//! ([`groups`]).
//!
//! Governance floor: imports adapters (`slack` for the bot and payloads, `state` for requests, `aws`
//! for the bot token) and the base floor; nothing from `commands`, `notify` or the flows, which re-run
//! an approved request through a callback they pass in.

mod access;
pub mod approvals;
mod gate;
pub mod groups;
mod outcome;
pub mod rules;

use std::sync::Arc;
use std::time::Instant;

pub use access::AccessPolicy;
pub use gate::{Gate, Pass};
pub use outcome::{Caller, Decision, Outcome, Proposal, Rerun, audit, change_of, record_change, split_reason};
pub use rules::{POLICY_VAR, Policy};

use crate::aws::scheduler::Scheduler;
use crate::config::ConfigError;
use crate::slack::bot::Bot;
use crate::state::StateTable;

/// When a request is being handled: for the audit line's latency, the rules' clock and the deadline.
#[derive(Clone, Copy, Debug)]
pub struct At {
    pub started: Instant,
    /// Seconds since the epoch (one clock, injected: tests pin it).
    pub now_unix: i64,
    pub deadline: Instant,
}

/// What an entry point asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Entry {
    /// A change: the rules gate it, and one that needs approval becomes a request to the approvers.
    Change,
    /// An answer that changes nothing the rules cover (a click on \[Approve\], a refusal): the access
    /// list and the audit line only.
    Answer,
}

/// The policy in force and what it needs, built once per container.
pub struct Governance {
    pub access: AccessPolicy,
    /// `CHATOPS_POLICY`; `None`: the access list alone decides and nothing needs approval.
    pub rules: Option<Policy>,
    /// Reads user groups and posts approval requests; set whenever the rules need it (checked at init).
    bot: Option<Arc<Bot>>,
    /// Where approval requests live; set whenever the rules ask for approvals (checked at init).
    state: Option<StateTable>,
    groups: groups::GroupCache,
    /// Announces a request's expiry when it comes, without a click; `None`: the next click sees it.
    scheduler: Option<Arc<Scheduler>>,
}

impl Default for Governance {
    fn default() -> Self {
        Self::access_only(AccessPolicy::default())
    }
}

impl Governance {
    pub fn new(access: AccessPolicy, rules: Option<Policy>, bot: Option<Arc<Bot>>, state: Option<StateTable>) -> Self {
        let named = rules.as_ref().map(Policy::groups).unwrap_or_default();
        Self { access, rules, bot, state, groups: groups::GroupCache::new(named), scheduler: None }
    }

    /// With schedules: each approval request announces its own expiry.
    pub fn with_scheduler(mut self, scheduler: Option<Arc<Scheduler>>) -> Self {
        self.scheduler = scheduler;
        self
    }

    /// The access list alone (no `CHATOPS_POLICY`).
    pub fn access_only(access: AccessPolicy) -> Self {
        Self::new(access, None, None, None)
    }

    /// The user groups the policy names that `user` is in (cached, as the gate reads them).
    pub async fn groups_of(&self, user: &str, deadline: Instant) -> std::collections::BTreeSet<String> {
        match &self.rules {
            None => std::collections::BTreeSet::new(),
            Some(_) => self.groups.groups_of(self.bot.as_deref(), user, deadline).await,
        }
    }

    /// The gate a caller's change asks before it is made; `approved` for the re-run of an approved request.
    pub async fn gate<'a>(&'a self, caller: &'a Caller, approved: bool, deadline: Instant) -> Gate<'a> {
        match &self.rules {
            None => Gate::open(caller),
            Some(policy) => Gate {
                caller,
                policy: Some(policy),
                groups: self.groups.groups_of(self.bot.as_deref(), &caller.user_id, deadline).await,
                approved,
            },
        }
    }

    /// The one call every entry point makes: the access list (`run` is not started for a caller it
    /// refuses), `run` with the caller's gate, the request to the approvers when `run` proposes a change
    /// that needs them, and the audit line. The same for a command, a button and a mention, so none can
    /// skip a step.
    pub async fn guard(
        &self,
        caller: &Caller,
        entry: Entry,
        at: At,
        run: impl AsyncFnOnce(&Gate<'_>) -> Outcome,
    ) -> Outcome {
        let outcome = match self.access.refuse(caller) {
            Some(refusal) => refusal,
            None => match entry {
                Entry::Change => {
                    let gate = self.gate(caller, false, at.deadline).await;
                    let outcome = run(&gate).await;
                    self.open_if_pending(caller, outcome, at).await
                }
                Entry::Answer => run(&Gate::open(caller)).await,
            },
        };
        audit(caller, &outcome, at.started.elapsed());
        record_change(self.state.as_ref(), caller, &outcome).await;
        outcome
    }
}

/// `CHATOPS_POLICY`, parsed; `None` when unset. What it needs is checked here, once, for every function:
/// user groups and approvals need the bot token; approvals need the state table.
pub fn policy_from_lookup(
    lookup: &dyn Fn(&str) -> Option<String>,
    has_bot_token: bool,
    has_state_table: bool,
) -> Result<Option<Policy>, ConfigError> {
    let Some(text) = crate::config::non_empty(lookup, POLICY_VAR) else {
        return Ok(None);
    };
    let policy = Policy::parse(&text)
        .map_err(|e| ConfigError::Invalid { var: POLICY_VAR, problem: format!("{}: {}", e.at, e.problem) })?;
    let approvals = policy.rules.iter().any(|r| r.approval.is_some());
    if (approvals || !policy.groups().is_empty()) && !has_bot_token {
        return Err(ConfigError::Missing {
            var: crate::config::BOT_TOKEN_PLAIN_VAR,
            hint: "CHATOPS_POLICY names user groups or asks for approvals: the bot token (or KMS_ENCRYPTED_SLACK_BOT_TOKEN) reads the groups and posts the requests",
        });
    }
    if approvals && !has_state_table {
        return Err(ConfigError::Missing {
            var: crate::config::STATE_TABLE_VAR,
            hint: "CHATOPS_POLICY asks for approvals: requests are kept in the state table",
        });
    }
    Ok(Some(policy))
}
