//! Interaction payloads (button clicks): as a form body's `payload` field and as raw JSON. Never
//! panics; a click it reads has the action it names.
#![no_main]

use chatops_shared::slack::form::parse_form;
use chatops_shared::slack::interaction::BlockAction;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(action) = BlockAction::parse(text)
    {
        let v: serde_json::Value = serde_json::from_str(text).expect("parsed as JSON");
        let named = v.pointer("/actions/0/action_id").and_then(|a| a.as_str()).unwrap_or_default();
        assert_eq!(action.action_id, named);
    }
    if let Ok(form) = parse_form(data)
        && let Some(payload) = form.get("payload")
    {
        let _ = BlockAction::parse(payload);
    }
});
