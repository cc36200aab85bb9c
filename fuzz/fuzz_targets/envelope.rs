//! The API Gateway / function URL envelope reader: any bytes as a Lambda event. Never panics, and a
//! request it reads carries the event's body exactly (decoded when marked base64).
#![no_main]

use base64::Engine as _;
use chatops_shared::http::gateway::request_from_event;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use serde_json::value::RawValue;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(raw) = serde_json::from_str::<Box<RawValue>>(text) else { return };
    let Ok(request) = request_from_event(&raw) else { return };
    let event: Value = serde_json::from_str(text).expect("RawValue parsed it");
    let Some(body) = event.get("body").and_then(Value::as_str) else { return };
    let base64 = event.get("isBase64Encoded").and_then(Value::as_bool).unwrap_or(false);
    let expected = if base64 {
        base64::engine::general_purpose::STANDARD.decode(body).expect("checked before conversion")
    } else {
        body.as_bytes().to_vec()
    };
    assert_eq!(request.body().as_ref(), expected.as_slice(), "the request's body is the event's body");
});
