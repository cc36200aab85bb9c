//! Reading loosely typed JSON (AWS events, Slack payloads) the same way everywhere: a field is text when
//! it is a non-blank string, a number or a boolean. Base floor: imports nothing from this crate.

use serde_json::Value;

/// The field as text; `None` when it is missing, null, blank, an array or an object.
pub fn text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn text_takes_strings_numbers_and_booleans_only() {
        let v = json!({"s": "a", "blank": "  ", "n": 12, "b": true, "null": null, "o": {}});
        assert_eq!(text(v.get("s")).as_deref(), Some("a"));
        assert_eq!(text(v.get("n")).as_deref(), Some("12"));
        assert_eq!(text(v.get("b")).as_deref(), Some("true"));
        for k in ["blank", "null", "o", "missing"] {
            assert_eq!(text(v.get(k)), None, "{k}");
        }
    }
}
