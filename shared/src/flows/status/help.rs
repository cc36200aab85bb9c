//! Help that knows the policy: the commands with examples and, for the person asking, what
//! `CHATOPS_POLICY` lets them do, derived from the rules themselves (the same `covers` and requester test
//! [`Policy::decide`] uses), so it cannot disagree with them. A rule lets its requesters ask for its
//! actions on its resources; the rules are tried in order and the first that lets them ask decides. So for
//! one person the rules that matter are exactly those naming them (or a group of theirs, or `*`), in
//! order: each action's lines below are those rules' resources, first match first.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use crate::governance::rules::{ACTIONS, ApprovalRule, Policy, Rule, When};
use crate::slack::escape;

/// What one of the person's rules says about one action.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    pub rule: String,
    /// Resource patterns.
    pub resources: Vec<String>,
    /// Only from these channels (empty: any).
    pub channels: Vec<String>,
    /// `None`: allowed as asked; `Some`: approval first (when its `when` says).
    pub approval: Option<ApprovalRule>,
}

/// For `user` (a member of `groups`), each of `actions` with the grants of the rules that let them ask, in
/// the rules' order. An action without grants is refused to them.
pub fn grants(policy: &Policy, user: &str, groups: &BTreeSet<String>, actions: &[&str]) -> Vec<(String, Vec<Grant>)> {
    actions
        .iter()
        .map(|action| {
            let grants = policy
                .rules
                .iter()
                .filter(|r| r.covers_action(action) && r.names(user, groups))
                .map(|r: &Rule| Grant {
                    rule: r.name.clone(),
                    resources: r.resources.clone(),
                    channels: r.channels.clone(),
                    approval: r.approval.clone(),
                })
                .collect();
            ((*action).to_owned(), grants)
        })
        .collect()
}

/// The actions each command's help speaks for.
pub fn actions_of(command: &str) -> Vec<&'static str> {
    let prefix: &[&str] = match command {
        "/scale" => &["scale"],
        "/incident" => &["incident:"],
        _ => return ACTIONS.to_vec(),
    };
    ACTIONS.iter().copied().filter(|a| prefix.iter().any(|p| a.starts_with(p))).collect()
}

fn approval_text(a: &ApprovalRule) -> String {
    let who = format!(
        "after approval by {} of {}",
        a.count,
        a.approvers.iter().map(|p| p.mention()).collect::<Vec<_>>().join(", ")
    );
    let mut text = match &a.when {
        When::Always => format!("🔐 {who}"),
        When::Scale { change_over, to_zero } => {
            let mut when = Vec::new();
            if let Some(n) = change_over {
                when.push(format!("a change of more than {n} instances"));
            }
            if *to_zero {
                when.push("a change to 0".to_owned());
            }
            format!("✅ yes, but {who} for {}", when.join(" or "))
        }
    };
    let _ = write!(text, " (within {} min)", a.expires_after.as_secs() / 60);
    text
}

/// The person's permissions as mrkdwn lines: one per action they may ask for, then those they may not.
/// `None` policy: the access list alone decides.
pub fn permission_lines(
    policy: Option<&Policy>,
    user: &str,
    groups: &BTreeSet<String>,
    actions: &[&str],
) -> Vec<String> {
    let Some(policy) = policy else {
        return vec![
            "No `CHATOPS_POLICY` is set: everyone the access list lets in may use every command here, without approval."
                .to_owned(),
        ];
    };
    let mut lines = Vec::new();
    let mut refused = Vec::new();
    for (action, grants) in grants(policy, user, groups, actions) {
        if grants.is_empty() {
            refused.push(format!("`{action}`"));
            continue;
        }
        let parts: Vec<String> = grants
            .iter()
            .map(|g| {
                let resources = g.resources.iter().map(|r| format!("`{}`", escape(r))).collect::<Vec<_>>().join(", ");
                let mut part = format!(
                    "on {resources}: {}",
                    g.approval.as_ref().map(approval_text).unwrap_or_else(|| "✅ yes".to_owned())
                );
                if !g.channels.is_empty() && !g.channels.iter().any(|c| c == "*") {
                    let channels: Vec<String> = g.channels.iter().map(|c| format!("<#{}>", escape(c))).collect();
                    let _ = write!(part, ", only from {}", channels.join(", "));
                }
                let _ = write!(part, " _(rule `{}`)_", escape(&g.rule));
                part
            })
            .collect();
        lines.push(format!("• `{action}` {}", parts.join("; otherwise ")));
    }
    if !refused.is_empty() {
        lines.push(format!("• Not for you: {} (no rule names you for them).", refused.join(", ")));
    }
    lines
}

/// The commands, with examples.
pub fn commands_text(command: &str) -> String {
    let status = "*`/status`*: what is going on now: alerts firing, incidents, approvals waiting, deploys, mutes\n\
        • `/status payments` · `/status #alerts` · `/status 123456789012` · `/status api-*`: narrowed by team, channel, account or name\n\
        • `/status <alarm name>`: one alert: its state, graph, history and recent changes\n\
        • `/status report [7d|30d] [team]`: the operations report: pages (MTTA, MTTR), noisy alarms, incidents, deploys\n\
        • `/status help`: this help";
    let scale = "*`/scale`*: Auto Scaling groups\n• `/scale`: the groups you may scale · `/scale web` shows one\n\
        • `/scale web 6` · `/scale web +2 -- Black Friday` (after `--`, the reason approvers see)";
    let incident = "*`/incident`*: incidents\n• `/incident declare Checkout errors sev2` · `/incident declare --private Leaked key sev1 @bob` · `/incident list`\n\
        • in its channel: `/incident status <text>` · `sev 1` · `lead @someone` · `role comms @someone` · `followup <text>` (or 📝) · `followups [file]` · `resolve [summary]`";
    let alerts = "*On an alert*: [Acknowledge] · [Declare incident] · [🔒 Private incident] · [Mute …] · [Silence 1 h] · [Show logs]\n\
        *Deploys*: `@chatops deploy <project>` in a team's channel (if deploys are set up)";
    match command {
        "/scale" => scale.to_owned(),
        "/incident" => incident.to_owned(),
        _ => format!("{status}\n{scale}\n{incident}\n{alerts}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::governance::rules::{Ask, Verdict, glob};
    use proptest::prelude::*;

    const POLICY: &str = r#"{"rules": [
        {"name": "oncall", "actions": ["*"], "requesters": ["S0ONCALL"]},
        {"name": "web-small", "actions": ["scale"], "resources": ["web-*"], "requesters": ["*"], "channels": ["C0OPS"],
         "approval": {"when": {"scale_change_over": 5}, "approvers": ["U0LEAD"], "count": 1}},
        {"name": "prod-deploy", "actions": ["deploy"], "resources": ["*-production"], "requesters": ["U0DEV"],
         "approval": {"approvers": ["S0LEADS"], "count": 2, "expires_after_minutes": 30}},
        {"name": "dev-deploy", "actions": ["deploy", "alert:ack"], "resources": ["*"], "requesters": ["U0DEV"]}
    ]}"#;

    /// What the help says about asking `action` on `resource` from `channel`: the first grant whose resources
    /// and channels fit, as the verdict it promises.
    fn promised<'a>(
        grants: &'a [(String, Vec<Grant>)],
        action: &str,
        resource: &str,
        channel: &str,
    ) -> Option<&'a Grant> {
        grants.iter().find(|(a, _)| a == action)?.1.iter().find(|g| {
            g.resources.iter().any(|p| glob(p, resource))
                && (g.channels.is_empty() || g.channels.iter().any(|c| c == "*" || c == channel))
        })
    }

    #[test]
    fn three_people_get_three_different_helps_from_one_policy() {
        let policy = Policy::parse(POLICY).expect("policy");
        let none = BTreeSet::new();
        let oncall = BTreeSet::from(["S0ONCALL".to_owned()]);
        let text =
            |user: &str, groups: &BTreeSet<String>| permission_lines(Some(&policy), user, groups, ACTIONS).join("\n");
        let dev = text("U0DEV", &none);
        assert!(dev.contains("• `deploy` on `*-production`: 🔐 after approval by 2 of <!subteam^S0LEADS> (within 30 min) _(rule `prod-deploy`)_; otherwise on `*`: ✅ yes"), "{dev}");
        assert!(dev.contains("• `scale` on `web-*`: ✅ yes, but after approval by 1 of <@U0LEAD> for a change of more than 5 instances (within 60 min), only from <#C0OPS>"), "{dev}");
        assert!(dev.contains("Not for you: `codedeploy:switch`"), "{dev}");
        let someone = text("U0ELSE", &none);
        assert!(!someone.contains("`deploy` on"), "{someone}");
        assert!(someone.contains("`deploy`, `incident:declare`"), "{someone}");
        let responder = text("U0ELSE", &oncall);
        assert!(responder.contains("• `codedeploy:rollback` on `*`: ✅ yes _(rule `oncall`)_"), "{responder}");
        assert!(!responder.contains("Not for you"), "{responder}");
        // A rule changes, the help changes.
        let changed = Policy::parse(&POLICY.replace(r#""requesters": ["U0DEV"]}"#, r#""requesters": ["U0OTHER"]}"#))
            .expect("policy");
        let dev_after = permission_lines(Some(&changed), "U0DEV", &none, ACTIONS).join("\n");
        assert!(!dev_after.contains("otherwise on `*`"), "{dev_after}");
        assert!(dev_after.contains("`alert:ack`") && dev_after.contains("Not for you"), "{dev_after}");
        assert_eq!(actions_of("/scale"), ["scale"]);
        assert_eq!(
            actions_of("/incident"),
            ["incident:declare", "incident:update", "incident:resolve", "incident:private", "incident:followups"]
        );
    }

    proptest! {
        /// For any person, action, resource and channel, the help's first fitting grant is what the policy
        /// decides: allowed where it says yes, approval where it says so, refused where it has nothing.
        #[test]
        fn the_help_never_disagrees_with_the_policy(
            user in prop::sample::select(vec!["U0DEV", "U0ELSE", "U0LEAD"]),
            in_oncall: bool,
            action in prop::sample::select(ACTIONS.to_vec()),
            resource in prop::sample::select(vec!["web-1", "web-production", "api-production", "api", "sev1", "INC-3"]),
            channel in prop::sample::select(vec!["C0OPS", "C0ELSE"]),
            change in prop::option::of((0i64..20, 0i64..20)),
        ) {
            let policy = Policy::parse(POLICY).expect("policy");
            let groups = if in_oncall { BTreeSet::from(["S0ONCALL".to_owned()]) } else { BTreeSet::new() };
            let grants = grants(&policy, user, &groups, ACTIONS);
            let verdict = policy.decide(&Ask { action, resource, user, channel, change }, &groups);
            match (promised(&grants, action, resource, channel), verdict) {
                (None, Verdict::Refused { .. }) => {}
                (Some(g), Verdict::Allowed { rule }) => {
                    prop_assert_eq!(&g.rule, &rule.name);
                }
                (Some(g), Verdict::NeedsApproval { rule, .. }) => {
                    prop_assert_eq!(&g.rule, &rule.name);
                    prop_assert!(g.approval.is_some());
                }
                (promise, verdict) => prop_assert!(false, "help says {:?}, the policy {:?}", promise, verdict),
            }
        }
    }
}
