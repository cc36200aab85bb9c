//! The permission policy (`CHATOPS_POLICY`): any text parses or fails with an error; a policy that
//! parses decides any request without panicking, and an action no rule names is denied.
#![no_main]

use std::collections::BTreeSet;

use chatops_shared::governance::rules::{Ask, Policy, Verdict};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (policy_text, ask_text) = text.split_once('\0').unwrap_or((&text, "scale\u{1}web\u{1}U1\u{1}C1"));
    let Ok(policy) = Policy::parse(policy_text) else { return };
    let mut words = ask_text.split('\u{1}');
    let (action, resource, user, channel) = (
        words.next().unwrap_or(""),
        words.next().unwrap_or(""),
        words.next().unwrap_or(""),
        words.next().unwrap_or(""),
    );
    let groups: BTreeSet<String> = policy.groups();
    let ask = Ask { action, resource, user, channel, change: Some((2, 20)) };
    let _ = policy.decide(&ask, &groups);
    let _ = policy.decide(&Ask { change: None, ..ask }, &BTreeSet::new());
    // An action no rule names, and no rule takes every action (`*`): denied, whoever asks.
    let nonsense = Ask { action: "no-such-action\u{1}", resource, user, channel, change: None };
    if policy.rules.iter().all(|r| !r.actions.is_empty()) {
        assert!(matches!(policy.decide(&nonsense, &groups), Verdict::Refused { .. }));
    }
    // Whatever the verdict, a rule it names covers the action.
    if let Verdict::Allowed { rule } | Verdict::NeedsApproval { rule, .. } = policy.decide(&ask, &groups) {
        assert!(rule.actions.is_empty() || rule.actions.contains(action), "{rule:?}");
    }
});
