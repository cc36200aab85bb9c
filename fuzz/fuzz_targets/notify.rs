//! The notifier's parsers and renderers: any JSON event (SNS, EventBridge, alarm actions, every AWS
//! source) → notifications → every platform's payload, each within that platform's limits; routes,
//! lifecycle keys and thread replies never panic.
#![no_main]

#[path = "../../shared/tests/support/platform_limits.rs"]
mod platform_limits;

use chatops_shared::chat::Platform;
use chatops_shared::notify::lifecycle::{Before, parent_note, thread_reply};
use chatops_shared::notify::routing::Routes;
use chatops_shared::notify::{AlertActions, Extras, MessageDefaults, incoming_from_event};
use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};

fn exercise(event: &Value, routes: &Routes) {
    for incoming in incoming_from_event(event).unwrap_or_default() {
        let n = &incoming.notification;
        let route = routes.route(&n.route_key(incoming.topic.as_deref()));
        assert!(route.channel.is_some(), "the default channel catches everything");
        let _ = n.lifecycle_key();
        let at = n.changed_at_ms().unwrap_or(0);
        let before = Before { state: Some("ALARM"), changed_at_ms: Some(0), alarm_since_ms: Some(at - 60_000) };
        // With the alert's buttons and lines as bot-token mode shows them.
        let actions = AlertActions {
            lifecycle: n.lifecycle_key().map(|k| k.key),
            can_acknowledge: true,
            incident: Some("🚨 *INC-7* declared by <@U0ALICE> → <#C0INC7>".into()),
            ..AlertActions::default()
        };
        let extras = Extras { mention: route.mention.clone(), note: parent_note(n, &before, at, 2), actions: Some(actions), ..Extras::default() };
        for platform in Platform::ALL {
            let body = n.render_for(platform, &MessageDefaults::default(), &extras);
            platform_limits::assert_within(platform, &body);
        }
        assert!(!thread_reply(n, &before, at, route.mention.as_deref(), false).is_empty());
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(event) = serde_json::from_slice::<Value>(data) else { return };
    let routes = Routes::parse(
        Some(r#"[{"alarm": "a*", "channel": "C1", "mention": "<!here>"}, {"source": "aws.*", "labels": {"team": "x*"}, "channel": "C2"}]"#),
        Some("C0".into()),
    )
    .expect("valid routes");
    exercise(&event, &routes);
    // The same value as an SNS message: the corpus (events/) holds the other shapes.
    exercise(&json!({"Records": [{"Sns": {"Message": event.to_string(), "MessageId": "m"}}]}), &routes);
});
