//! The policy as it applies to one caller, asked by a command just before it changes anything, once it
//! knows the resource and the size of the change: go, refused (by which rule), or needs approval.

use std::collections::BTreeSet;

use super::outcome::{Caller, Decision, Outcome};
use super::rules::{Ask, Policy, Verdict};

/// What the policy says of one change, for the command that is about to make it.
#[derive(Clone, Debug, PartialEq)]
pub enum Pass {
    Go,
    Refused(Box<Outcome>),
    /// Under this rule: the command returns a [`Proposal`](super::Proposal) instead of acting.
    NeedsApproval(String),
}

/// The policy as it applies to one caller: asked by commands just before they change anything.
#[derive(Clone, Debug)]
pub struct Gate<'a> {
    pub caller: &'a Caller,
    /// `None` without `CHATOPS_POLICY`: the access list alone decides, nothing needs approval.
    pub policy: Option<&'a Policy>,
    /// The caller's user groups, among those the policy names.
    pub groups: BTreeSet<String>,
    /// Running an approved request: its approval rule is satisfied; the rest is checked again.
    pub approved: bool,
}

impl<'a> Gate<'a> {
    /// No policy: every change the access list lets through runs.
    pub fn open(caller: &'a Caller) -> Self {
        Self { caller, policy: None, groups: BTreeSet::new(), approved: false }
    }

    /// May the caller make this change now? `change` is the capacity before and after, for `/scale`.
    pub fn check(&self, action: &str, resource: &str, change: Option<(i64, i64)>) -> Pass {
        let Some(policy) = self.policy else { return Pass::Go };
        let ask = Ask { action, resource, user: &self.caller.user_id, channel: &self.caller.channel_id, change };
        match policy.decide(&ask, &self.groups) {
            Verdict::Allowed { .. } => Pass::Go,
            Verdict::NeedsApproval { .. } if self.approved => Pass::Go,
            Verdict::NeedsApproval { rule, .. } => Pass::NeedsApproval(rule.name.clone()),
            Verdict::Refused { reason, message } => {
                Pass::Refused(Box::new(Outcome::ephemeral(message, Decision::Refused(reason)).on(resource)))
            }
        }
    }

    /// Whether the caller may ask for `action` on `resource` at all (perhaps with approval): for lists.
    pub fn may_request(&self, action: &str, resource: &str) -> bool {
        !matches!(self.check(action, resource, None), Pass::Refused(_))
    }
}
