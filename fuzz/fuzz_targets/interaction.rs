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
        // A number or a boolean is read as its text, as every field of a click is.
        let named = match v.pointer("/actions/0/action_id") {
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
            None => String::new(),
        };
        assert_eq!(action.action_id, named);
    }
    if let Ok(form) = parse_form(data)
        && let Some(payload) = form.get("payload")
    {
        let _ = BlockAction::parse(payload);
    }
});
