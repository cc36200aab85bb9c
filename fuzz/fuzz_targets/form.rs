//! The form parser (slash commands, interaction payloads): a parsed form round-trips (encoded again,
//! it parses to the same fields), and a slash command read from it never panics.
#![no_main]

use chatops_shared::slack::form::{SlashCommand, parse_form};
use libfuzzer_sys::fuzz_target;

fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' => out.push(b as char),
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let Ok(fields) = parse_form(data) else { return };
    let encoded: Vec<String> = fields.iter().map(|(k, v)| format!("{}={}", encode(k), encode(v))).collect();
    let again = parse_form(encoded.join("&").as_bytes()).expect("an encoded form parses");
    // A key that is empty once decoded is kept (`=x`); the round trip keeps every field.
    assert_eq!(again, fields, "a parsed form round-trips");
    let _ = SlashCommand::from_form(fields);
});
