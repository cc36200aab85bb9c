//! The permission policy (`CHATOPS_POLICY`): who may request which change on which resource, from which
//! channels, and which changes must first be approved by whom. Parsed once at init, where anything it
//! does not understand is an error (never a silent allow); evaluated in one place, [`Policy::decide`],
//! for slash commands, buttons and mentions alike. Once a policy is set, an action no rule allows is refused.
//!
//! Rules are tried in order: the first whose action, resource, requester and channel all match decides.
//! A refusal names the rules that cover the action and resource, and who they let ask instead.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::time::Duration;

use serde::Deserialize;

use crate::slack::escape;

pub const POLICY_VAR: &str = "CHATOPS_POLICY";

/// The actions a rule may name (`*`: all of them). A change is always one of these.
pub const ACTIONS: &[&str] = &[
    "scale",
    "codedeploy:switch",
    "codedeploy:rollback",
    "codedeploy:terminate",
    "deploy",
    "incident:declare",
    "incident:update",
    "incident:resolve",
    "incident:private",
    "incident:followups",
    "alert:ack",
    "alert:logs",
    "alarm:mute",
    "alertmanager:silence",
];

/// How long a request waits for its approvals unless the rule says otherwise.
pub const DEFAULT_EXPIRY: Duration = Duration::from_secs(3600);
const MAX_EXPIRY_MINUTES: u64 = 7 * 24 * 60;

/// The policy does not parse, or says something we cannot honour. Names the place.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{POLICY_VAR}: {at}: {problem}")]
pub struct PolicyError {
    pub at: String,
    pub problem: String,
}

fn error(at: impl Into<String>, problem: impl Into<String>) -> PolicyError {
    PolicyError { at: at.into(), problem: problem.into() }
}

/// Who a rule names: a user (`U…`, `W…`), a user group (`S…`, its members), or everyone (`*`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Principal {
    Anyone,
    User(String),
    Group(String),
}

impl Principal {
    fn parse(text: &str, at: &str) -> Result<Self, PolicyError> {
        let text = text.trim();
        let id_ok = |id: &str| {
            id.len() >= 3 && id.len() <= 24 && id.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        };
        match text.as_bytes().first() {
            _ if text == "*" => Ok(Self::Anyone),
            Some(b'U' | b'W') if id_ok(text) => Ok(Self::User(text.to_owned())),
            Some(b'S') if id_ok(text) => Ok(Self::Group(text.to_owned())),
            _ => Err(error(at, format!("`{text}` is not a Slack user ID (U…/W…), a user group ID (S…) or `*`"))),
        }
    }

    /// The principal as Slack shows it: a mention of the user or group.
    pub fn mention(&self) -> String {
        match self {
            Self::Anyone => "anyone".to_owned(),
            Self::User(id) => format!("<@{id}>"),
            Self::Group(id) => format!("<!subteam^{id}>"),
        }
    }

    fn includes(&self, user: &str, groups: &BTreeSet<String>) -> bool {
        match self {
            Self::Anyone => true,
            Self::User(id) => id == user,
            Self::Group(id) => groups.contains(id),
        }
    }
}

/// When a rule's changes need approval.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum When {
    Always,
    /// `/scale` only: a change of more than `change_over` instances, or (with `to_zero`) a change to 0.
    Scale {
        change_over: Option<i64>,
        to_zero: bool,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApprovalRule {
    pub when: When,
    pub approvers: Vec<Principal>,
    /// How many different approvers must approve.
    pub count: usize,
    pub expires_after: Duration,
    /// Where the request is posted; the requester's channel when `None`.
    pub channel: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    pub name: String,
    /// Empty: every action.
    pub actions: BTreeSet<String>,
    pub resources: Vec<String>,
    pub requesters: Vec<Principal>,
    /// Empty: any channel.
    pub channels: Vec<String>,
    pub approval: Option<ApprovalRule>,
}

impl Rule {
    fn covers(&self, action: &str, resource: &str) -> bool {
        self.covers_action(action) && self.resources.iter().any(|p| glob(p, resource))
    }

    fn lets_ask(&self, user: &str, channel: &str, groups: &BTreeSet<String>) -> bool {
        self.names(user, groups) && (self.channels.is_empty() || self.channels.iter().any(|c| c == "*" || c == channel))
    }

    /// Whether the rule is about `action` (on some resource).
    pub fn covers_action(&self, action: &str) -> bool {
        self.actions.is_empty() || self.actions.contains(action)
    }

    /// Whether `user` (a member of `groups`) is one of the rule's requesters.
    pub fn names(&self, user: &str, groups: &BTreeSet<String>) -> bool {
        self.requesters.iter().any(|p| p.includes(user, groups))
    }

    /// Whether `user` may approve requests this rule sent for approval.
    pub fn may_approve(&self, user: &str, groups: &BTreeSet<String>) -> bool {
        self.approval.as_ref().is_some_and(|a| a.approvers.iter().any(|p| p.includes(user, groups)))
    }

    /// Who may approve, as Slack mentions.
    pub fn approvers_text(&self) -> String {
        self.approval.as_ref().map(|a| mentions(&a.approvers)).unwrap_or_default()
    }
}

fn mentions(principals: &[Principal]) -> String {
    principals.iter().map(Principal::mention).collect::<Vec<_>>().join(", ")
}

/// What is asked: the action, the resource it acts on, who asks from where, and for `/scale` the
/// capacity before and after.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ask<'a> {
    pub action: &'a str,
    pub resource: &'a str,
    pub user: &'a str,
    pub channel: &'a str,
    pub change: Option<(i64, i64)>,
}

/// The policy's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict<'p> {
    Allowed {
        rule: &'p Rule,
    },
    NeedsApproval {
        rule: &'p Rule,
        approval: &'p ApprovalRule,
    },
    /// `reason` for the audit line (names the rule), `message` for the requester (who could do it).
    Refused {
        reason: String,
        message: String,
    },
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Policy {
    pub rules: Vec<Rule>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    rules: Vec<RawRule>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    name: Option<String>,
    actions: Vec<String>,
    resources: Option<Vec<String>>,
    requesters: Vec<String>,
    channels: Option<Vec<String>>,
    approval: Option<RawApproval>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawApproval {
    when: Option<RawWhen>,
    approvers: Vec<String>,
    count: Option<usize>,
    expires_after_minutes: Option<u64>,
    channel: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawWhen {
    Word(String),
    Scale(RawScaleWhen),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScaleWhen {
    scale_change_over: Option<i64>,
    #[serde(default)]
    scale_to_zero: bool,
}

fn channel_ok(id: &str) -> bool {
    id == "*"
        || (id.len() >= 3
            && matches!(id.as_bytes()[0], b'C' | b'G')
            && id.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()))
}

impl Policy {
    /// Parses the JSON of `CHATOPS_POLICY`. Every problem is an error naming where it is.
    pub fn parse(text: &str) -> Result<Self, PolicyError> {
        let raw: RawPolicy = serde_json::from_str(text).map_err(|e| error("the document", e.to_string()))?;
        let mut rules = Vec::with_capacity(raw.rules.len());
        let mut names = BTreeSet::new();
        for (i, r) in raw.rules.into_iter().enumerate() {
            let name = r.name.clone().unwrap_or_else(|| format!("rules[{i}]"));
            let at = format!("rule `{name}`");
            if !names.insert(name.clone()) {
                return Err(error(at, "two rules have this name"));
            }
            rules.push(Self::parse_rule(r, name, &at)?);
        }
        if rules.is_empty() {
            return Err(error("rules", "the policy has no rules: it would refuse everything"));
        }
        Ok(Self { rules })
    }

    fn parse_rule(r: RawRule, name: String, at: &str) -> Result<Rule, PolicyError> {
        if r.actions.is_empty() {
            return Err(error(at, "`actions` is empty"));
        }
        let mut actions = BTreeSet::new();
        for a in &r.actions {
            match a.trim() {
                "*" => actions.clear(),
                a if ACTIONS.contains(&a) => {
                    actions.insert(a.to_owned());
                }
                a => return Err(error(at, format!("unknown action `{a}` (known: {}, or `*`)", ACTIONS.join(", ")))),
            }
            if a.trim() == "*" {
                break;
            }
        }
        let resources = r.resources.unwrap_or_else(|| vec!["*".to_owned()]);
        if resources.is_empty() || resources.iter().any(|p| p.trim().is_empty()) {
            return Err(error(at, "`resources` has an empty pattern (leave it out for every resource)"));
        }
        if r.requesters.is_empty() {
            return Err(error(at, "`requesters` is empty: name users, user groups or `*`"));
        }
        let requesters =
            r.requesters.iter().map(|p| Principal::parse(p, &format!("{at} requesters"))).collect::<Result<_, _>>()?;
        let channels = r.channels.unwrap_or_default();
        if let Some(bad) = channels.iter().find(|c| !channel_ok(c)) {
            return Err(error(at, format!("`{bad}` is not a channel ID (C…/G…) or `*`")));
        }
        let scale_only = !actions.is_empty() && actions.iter().all(|a| a == "scale");
        let approval = match r.approval {
            None => None,
            Some(a) => Some(Self::parse_approval(a, scale_only, at)?),
        };
        Ok(Rule { name, actions, resources, requesters, channels, approval })
    }

    fn parse_approval(a: RawApproval, scale_only: bool, at: &str) -> Result<ApprovalRule, PolicyError> {
        let at = format!("{at} approval");
        let when = match a.when {
            None => When::Always,
            Some(RawWhen::Word(w)) if w == "always" => When::Always,
            Some(RawWhen::Word(w)) => {
                return Err(error(at, format!("`when` is `{w}`: use \"always\" or {{\"scale_change_over\": n}}")));
            }
            Some(RawWhen::Scale(s)) => {
                if !scale_only {
                    return Err(error(at, "scale conditions in `when` need a rule whose only action is `scale`"));
                }
                if s.scale_change_over.is_none() && !s.scale_to_zero {
                    return Err(error(at, "`when` names no condition"));
                }
                if s.scale_change_over.is_some_and(|n| n < 0) {
                    return Err(error(at, "`scale_change_over` is negative"));
                }
                When::Scale { change_over: s.scale_change_over, to_zero: s.scale_to_zero }
            }
        };
        if a.approvers.is_empty() {
            return Err(error(at, "`approvers` is empty: nobody could approve"));
        }
        let approvers: Vec<Principal> =
            a.approvers.iter().map(|p| Principal::parse(p, &format!("{at} approvers"))).collect::<Result<_, _>>()?;
        if approvers.contains(&Principal::Anyone) {
            return Err(error(at, "`*` cannot approve: name the approvers"));
        }
        let count = a.count.unwrap_or(1);
        let only_users = approvers.iter().all(|p| matches!(p, Principal::User(_)));
        if count == 0 || count > 10 {
            return Err(error(at, "`count` must be 1 to 10"));
        }
        if only_users && count > approvers.len() {
            return Err(error(at, format!("`count` is {count} but only {} approvers are named", approvers.len())));
        }
        let minutes = a.expires_after_minutes.unwrap_or(DEFAULT_EXPIRY.as_secs() / 60);
        if minutes == 0 || minutes > MAX_EXPIRY_MINUTES {
            return Err(error(at, format!("`expires_after_minutes` must be 1 to {MAX_EXPIRY_MINUTES}")));
        }
        if let Some(c) = a.channel.as_deref().filter(|c| !channel_ok(c) || *c == "*") {
            return Err(error(at, format!("`channel` `{c}` is not a channel ID (C…/G…)")));
        }
        Ok(ApprovalRule {
            when,
            approvers,
            count,
            expires_after: Duration::from_secs(minutes * 60),
            channel: a.channel,
        })
    }

    /// The user groups the policy names: membership in these is all [`decide`](Self::decide) needs.
    pub fn groups(&self) -> BTreeSet<String> {
        let mut groups = BTreeSet::new();
        for rule in &self.rules {
            let approvers = rule.approval.iter().flat_map(|a| a.approvers.iter());
            for p in rule.requesters.iter().chain(approvers) {
                if let Principal::Group(id) = p {
                    groups.insert(id.clone());
                }
            }
        }
        groups
    }

    pub fn rule(&self, name: &str) -> Option<&Rule> {
        self.rules.iter().find(|r| r.name == name)
    }

    /// Decides `ask`, the asker being a member of `groups` (of those [`groups`](Self::groups) names).
    pub fn decide(&self, ask: &Ask<'_>, groups: &BTreeSet<String>) -> Verdict<'_> {
        if let Some(rule) =
            self.rules.iter().find(|r| r.covers(ask.action, ask.resource) && r.lets_ask(ask.user, ask.channel, groups))
        {
            return match &rule.approval {
                Some(approval) if needs_approval(&approval.when, ask.change) => {
                    Verdict::NeedsApproval { rule, approval }
                }
                _ => Verdict::Allowed { rule },
            };
        }
        let covering: Vec<&Rule> = self.rules.iter().filter(|r| r.covers(ask.action, ask.resource)).collect();
        let what = format!("`{}` on `{}`", escape(ask.action), escape(ask.resource));
        if covering.is_empty() {
            return Verdict::Refused {
                reason: format!("policy: no rule covers {} on {}", ask.action, ask.resource),
                message: format!(
                    "No rule of the policy allows {what}: nothing was done. An admin can add one to {POLICY_VAR}."
                ),
            };
        }
        let mut message = format!("The policy does not let you request {what} here: nothing was done.");
        for rule in &covering {
            let _ = write!(message, "\n• rule `{}` lets {} ask", escape(&rule.name), mentions(&rule.requesters));
            if !rule.channels.is_empty() {
                let channels: Vec<String> = rule
                    .channels
                    .iter()
                    .map(|c| if c == "*" { "any channel".into() } else { format!("<#{c}>") })
                    .collect();
                let _ = write!(message, " from {}", channels.join(", "));
            }
        }
        let names: Vec<&str> = covering.iter().map(|r| r.name.as_str()).collect();
        Verdict::Refused {
            reason: format!(
                "policy: not a requester or channel of rule {} for {} on {}",
                names.join(", "),
                ask.action,
                ask.resource
            ),
            message,
        }
    }
}

fn needs_approval(when: &When, change: Option<(i64, i64)>) -> bool {
    match when {
        When::Always => true,
        When::Scale { change_over, to_zero } => match change {
            // Unknown size: the safe side.
            None => true,
            Some((before, after)) => {
                change_over.is_some_and(|n| (after - before).abs() > n) || (*to_zero && after == 0 && before != 0)
            }
        },
    }
}

/// `*` matches any run of characters, `?` one character; everything else itself.
pub fn glob(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    // Iterative matcher with one backtrack point: linear in practice, no recursion to blow the stack.
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const EXAMPLE: &str = r#"{
      "rules": [
        {"name": "oncall", "actions": ["*"], "requesters": ["S0ONCALL"]},
        {"name": "web-small", "actions": ["scale"], "resources": ["web-*"], "requesters": ["*"], "channels": ["C0OPS"],
         "approval": {"when": {"scale_change_over": 5, "scale_to_zero": true}, "approvers": ["U0LEAD", "U0CTO"], "count": 1, "channel": "C0APPROVE"}},
        {"name": "prod-deploy", "actions": ["deploy"], "resources": ["*-production"], "requesters": ["U0DEV"],
         "approval": {"approvers": ["S0LEADS"], "count": 2, "expires_after_minutes": 30}}
      ]
    }"#;

    fn ask<'a>(action: &'a str, resource: &'a str, user: &'a str, change: Option<(i64, i64)>) -> Ask<'a> {
        Ask { action, resource, user, channel: "C0OPS", change }
    }

    #[test]
    fn the_example_parses_and_decides() {
        let policy = Policy::parse(EXAMPLE).expect("parses");
        let none = BTreeSet::new();
        let oncall = BTreeSet::from(["S0ONCALL".to_owned()]);
        assert_eq!(policy.groups(), BTreeSet::from(["S0ONCALL".to_owned(), "S0LEADS".to_owned()]));
        // The on-call group may do anything, without approval.
        assert!(
            matches!(policy.decide(&ask("codedeploy:rollback", "app/blue", "U9", None), &oncall), Verdict::Allowed { rule } if rule.name == "oncall")
        );
        // Anyone in #ops may scale web-* by up to 5 at once.
        assert!(matches!(policy.decide(&ask("scale", "web-1", "U9", Some((2, 7))), &none), Verdict::Allowed { .. }));
        assert!(matches!(
            policy.decide(&ask("scale", "web-1", "U9", Some((2, 8))), &none),
            Verdict::NeedsApproval { .. }
        ));
        assert!(matches!(
            policy.decide(&ask("scale", "web-1", "U9", Some((2, 0))), &none),
            Verdict::NeedsApproval { .. }
        ));
        assert!(matches!(policy.decide(&ask("scale", "web-1", "U9", Some((0, 0))), &none), Verdict::Allowed { .. }));
        // ... but not from another channel: the refusal says where.
        let elsewhere = Ask { channel: "C0ELSE", ..ask("scale", "web-1", "U9", Some((2, 3))) };
        match policy.decide(&elsewhere, &none) {
            Verdict::Refused { reason, message } => {
                assert!(reason.contains("web-small"), "{reason}");
                assert!(message.contains("<#C0OPS>") && message.contains("anyone"), "{message}");
            }
            other => panic!("{other:?}"),
        }
        // Production deploys always need two approvals.
        match policy.decide(&ask("deploy", "shop-production", "U0DEV", None), &none) {
            Verdict::NeedsApproval { approval, .. } => assert_eq!(approval.count, 2),
            other => panic!("{other:?}"),
        }
        // A resource only the on-call rule covers: refused, saying who could.
        match policy.decide(&ask("scale", "db-1", "U9", Some((1, 2))), &none) {
            Verdict::Refused { reason, message } => {
                assert!(reason.contains("rule oncall"), "{reason}");
                assert!(message.contains("<!subteam^S0ONCALL>"), "{message}");
            }
            other => panic!("{other:?}"),
        }
        // An action no rule covers: default deny.
        let deploys_only =
            Policy::parse(r#"{"rules": [{"actions": ["deploy"], "requesters": ["*"]}]}"#).expect("parses");
        match deploys_only.decide(&ask("scale", "db-1", "U9", Some((1, 2))), &none) {
            Verdict::Refused { reason, .. } => assert!(reason.contains("no rule covers"), "{reason}"),
            other => panic!("{other:?}"),
        }
        let rule = policy.rule("prod-deploy").expect("rule");
        assert!(rule.may_approve("U1", &BTreeSet::from(["S0LEADS".to_owned()])));
        assert!(!rule.may_approve("U1", &oncall));
        assert_eq!(rule.approvers_text(), "<!subteam^S0LEADS>");
    }

    #[test]
    fn mistakes_are_errors_that_say_where() {
        let cases = [
            ("", "the document"),
            ("{}", "missing field `rules`"),
            (r#"{"rules": []}"#, "no rules"),
            (r#"{"rules": [{"actions": ["scael"], "requesters": ["*"]}]}"#, "unknown action `scael`"),
            (r#"{"rules": [{"actions": ["scale"], "requesters": ["bob"]}]}"#, "`bob` is not a Slack user ID"),
            (r#"{"rules": [{"actions": ["scale"], "requesters": []}]}"#, "`requesters` is empty"),
            (r#"{"rules": [{"actions": ["scale"], "requesters": ["*"], "extra": 1}]}"#, "unknown field `extra`"),
            (
                r#"{"rules": [{"actions": ["deploy"], "requesters": ["*"], "approval": {"when": {"scale_change_over": 3}, "approvers": ["U1AB"]}}]}"#,
                "only action is `scale`",
            ),
            (
                r#"{"rules": [{"actions": ["scale"], "requesters": ["*"], "approval": {"approvers": ["U1AB"], "count": 2}}]}"#,
                "only 1 approvers",
            ),
            (
                r#"{"rules": [{"actions": ["scale"], "requesters": ["*"], "approval": {"approvers": ["*"]}}]}"#,
                "`*` cannot approve",
            ),
            (
                r#"{"rules": [{"actions": ["scale"], "requesters": ["*"], "approval": {"when": "sometimes", "approvers": ["U1AB"]}}]}"#,
                "`when` is `sometimes`",
            ),
            (r#"{"rules": [{"actions": ["scale"], "requesters": ["*"], "channels": ["ops"]}]}"#, "not a channel ID"),
            (
                r#"{"rules": [{"name": "a", "actions": ["scale"], "requesters": ["*"]}, {"name": "a", "actions": ["deploy"], "requesters": ["*"]}]}"#,
                "two rules",
            ),
        ];
        for (text, expected) in cases {
            let err = Policy::parse(text).expect_err(text).to_string();
            assert!(err.starts_with("CHATOPS_POLICY: "), "{err}");
            assert!(err.contains(expected), "{text}: {err}");
        }
    }

    /// The manual's example (docs/policy.md) is a policy that parses, and means what the manual says of it.
    #[test]
    fn the_manuals_example_parses() {
        let readme = include_str!("../../../docs/policy.md");
        let section = &readme[readme.find("## Who may do what").expect("policy section")..];
        let start = section.find("```json\n").expect("json block") + 8;
        let end = start + section[start..].find("```").expect("end of block");
        let policy = Policy::parse(&section[start..end]).expect("the manual's policy parses");
        assert_eq!(policy.rules.len(), 4);
        let none = BTreeSet::new();
        let devs = BTreeSet::from(["S0DEVS".to_owned()]);
        let ask = |action, resource, channel, change| Ask { action, resource, user: "U0ANY", channel, change };
        assert!(matches!(
            policy.decide(&ask("scale", "web-1", "C0OPS", Some((4, 20))), &none),
            Verdict::NeedsApproval { .. }
        ));
        assert!(
            matches!(policy.decide(&ask("deploy", "shop-production", "C0X", None), &devs), Verdict::NeedsApproval { approval, .. } if approval.count == 2)
        );
        assert!(matches!(policy.decide(&ask("deploy", "shop-staging", "C0X", None), &devs), Verdict::Refused { .. }));
    }

    #[test]
    fn globs() {
        assert!(glob("*", ""));
        assert!(glob("web-*", "web-asg"));
        assert!(!glob("web-*", "api-web-asg"));
        assert!(glob("*-production", "shop-production"));
        assert!(glob("app/*", "app/blue-green"));
        assert!(glob("w?b", "web"));
        assert!(!glob("w?b", "weeb"));
        assert!(glob("a*b*c", "axxbyyc"));
        assert!(!glob("a*b*c", "axxbyy"));
    }

    proptest! {
        #[test]
        fn no_input_panics(text in ".{0,300}") {
            let _ = Policy::parse(&text);
        }

        #[test]
        fn glob_star_and_literal(text in "[a-z/-]{0,20}", prefix in "[a-z]{0,5}") {
            prop_assert!(glob("*", &text));
            prop_assert!(glob(&text, &text));
            prop_assert_eq!(glob(&format!("{prefix}*"), &text), text.starts_with(&prefix));
        }

        /// Once a policy exists, an action none of its rules names is refused, whoever asks, wherever.
        #[test]
        fn unmentioned_actions_are_denied(
            named in proptest::sample::subsequence(ACTIONS.to_vec(), 1..ACTIONS.len()),
            action in proptest::sample::select(ACTIONS.to_vec()),
            user in "U[A-Z0-9]{4}",
            resource in "[a-z/-]{1,12}",
            before in 0i64..100, after in 0i64..100,
        ) {
            let doc = serde_json::json!({"rules": [{"actions": named, "requesters": ["*"]}]}).to_string();
            let policy = Policy::parse(&doc).expect("parses");
            let verdict = policy.decide(&Ask { action, resource: &resource, user: &user, channel: "C1", change: Some((before, after)) }, &BTreeSet::new());
            if named.contains(&action) {
                prop_assert!(matches!(verdict, Verdict::Allowed { .. }), "{verdict:?}");
            } else {
                prop_assert!(matches!(verdict, Verdict::Refused { .. }), "{verdict:?}");
            }
        }

        /// A scale rule with a threshold asks for approval exactly when the change is larger than it.
        #[test]
        fn the_scale_threshold_is_exact(threshold in 0i64..50, before in 0i64..100, after in 1i64..100) {
            let doc = serde_json::json!({"rules": [{"actions": ["scale"], "requesters": ["*"],
                "approval": {"when": {"scale_change_over": threshold}, "approvers": ["U0LEAD"]}}]}).to_string();
            let policy = Policy::parse(&doc).expect("parses");
            let verdict = policy.decide(&Ask { action: "scale", resource: "g", user: "U1", channel: "C1", change: Some((before, after)) }, &BTreeSet::new());
            prop_assert_eq!(matches!(verdict, Verdict::NeedsApproval { .. }), (after - before).abs() > threshold);
        }
    }
}
