//! `application/x-www-form-urlencoded` bodies, decoded strictly (invalid UTF-8 is an error, not a
//! replacement character), and the slash-command payload Slack sends in them.

use std::collections::HashMap;

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FormError {
    #[error("the body is not valid UTF-8")]
    NotUtf8,
    #[error("the body is not form-encoded: {0}")]
    Malformed(String),
    #[error("the body is not a Slack slash command: `{0}` is missing")]
    MissingField(&'static str),
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn decode_component(raw: &[u8]) -> Result<String, FormError> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let (Some(h), Some(l)) =
                    (raw.get(i + 1).and_then(|b| hex_val(*b)), raw.get(i + 2).and_then(|b| hex_val(*b)))
                else {
                    return Err(FormError::Malformed("a `%` is not followed by two hex digits".into()));
                };
                out.push(h << 4 | l);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| FormError::NotUtf8)
}

/// Decodes a form body into its fields. A repeated key keeps its first value.
pub fn parse_form(body: &[u8]) -> Result<HashMap<String, String>, FormError> {
    std::str::from_utf8(body).map_err(|_| FormError::NotUtf8)?;
    let mut fields = HashMap::new();
    for pair in body.split(|b| *b == b'&').filter(|p| !p.is_empty()) {
        let (key, value) = match pair.iter().position(|b| *b == b'=') {
            Some(i) => (&pair[..i], &pair[i + 1..]),
            None => (pair, &b""[..]),
        };
        fields.entry(decode_component(key)?).or_insert(decode_component(value)?);
    }
    Ok(fields)
}

/// What Slack sends for a slash command (the fields we use).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SlashCommand {
    pub team_id: String,
    pub team_domain: String,
    pub enterprise_id: Option<String>,
    pub channel_id: String,
    pub channel_name: String,
    pub user_id: String,
    pub user_name: String,
    pub command: String,
    pub text: String,
    pub response_url: Option<String>,
    pub trigger_id: Option<String>,
}

impl SlashCommand {
    pub fn from_form(mut form: HashMap<String, String>) -> Result<Self, FormError> {
        let mut take = |key: &str| form.remove(key).filter(|v| !v.is_empty());
        Ok(Self {
            command: take("command").ok_or(FormError::MissingField("command"))?,
            user_id: take("user_id").ok_or(FormError::MissingField("user_id"))?,
            team_id: take("team_id").unwrap_or_default(),
            team_domain: take("team_domain").unwrap_or_default(),
            enterprise_id: take("enterprise_id"),
            channel_id: take("channel_id").unwrap_or_default(),
            channel_name: take("channel_name").unwrap_or_default(),
            user_name: take("user_name").unwrap_or_default(),
            text: take("text").unwrap_or_default(),
            response_url: take("response_url"),
            trigger_id: take("trigger_id"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_plus_percent_and_utf8() {
        let f = parse_form(b"text=web+%2B2+caf%C3%A9&command=%2Fscale&empty=&flag&text=second").unwrap();
        assert_eq!(f["text"], "web +2 café");
        assert_eq!(f["command"], "/scale");
        assert_eq!(f["empty"], "");
        assert_eq!(f["flag"], "");
    }

    #[test]
    fn rejects_invalid_utf8_and_broken_escapes() {
        assert_eq!(parse_form(b"text=%FF%FE"), Err(FormError::NotUtf8));
        assert_eq!(parse_form(b"text=\xff"), Err(FormError::NotUtf8));
        assert!(matches!(parse_form(b"text=%G1"), Err(FormError::Malformed(_))));
        assert!(matches!(parse_form(b"text=%4"), Err(FormError::Malformed(_))));
    }

    #[test]
    fn a_slash_command_needs_command_and_user() {
        let form = parse_form(b"command=%2Fscale&user_id=U1&text=web+3").unwrap();
        let cmd = SlashCommand::from_form(form).unwrap();
        assert_eq!((cmd.command.as_str(), cmd.user_id.as_str(), cmd.text.as_str()), ("/scale", "U1", "web 3"));
        let json = parse_form(br#"{"command":"/scale"}"#).unwrap();
        assert_eq!(SlashCommand::from_form(json), Err(FormError::MissingField("command")));
    }
}
