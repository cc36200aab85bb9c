//! Mattermost incoming webhooks: Slack-style `attachments` (no Block Kit), Markdown text. A post holds
//! at most 16,383 characters; we stay well inside it.

use serde_json::{Value, json};

use super::markup::{Flavour, convert, parse, plain};
use super::{Card, Part, cut};
use crate::slack::Message;

/// The attachment's text and the top-level text, each.
const MAX_TEXT: usize = 8000;
const MAX_FIELD_VALUE: usize = 2000;
const MAX_FIELDS: usize = 40;

pub(super) fn render(m: &Message) -> Value {
    let card = Card::from_message(m);
    let md = |s: &str| convert(s, Flavour::Mattermost);
    let mut body = json!({});
    if card.title.is_none() && card.color.is_none() && card.parts.iter().all(|p| matches!(p, Part::Text(_))) {
        let text: Vec<String> =
            card.parts.iter().filter_map(|p| if let Part::Text(t) = p { Some(md(t)) } else { None }).collect();
        body["text"] = json!(cut(&if text.is_empty() { md(&card.text) } else { text.join("\n\n") }, MAX_TEXT));
    } else {
        let mut text = Vec::new();
        let mut fields = Vec::new();
        for part in &card.parts {
            match part {
                // The route's mention goes into the post's own text, where Mattermost notifies it.
                Part::Text(t) if t.starts_with("🔔 ") => body["text"] = json!(md(t)),
                Part::Text(t) => text.push(md(t)),
                Part::Fields(fs) => fields.extend(fs.iter().map(|(label, value)| {
                    json!({ "short": value.chars().count() < 40, "title": label, "value": cut(&md(value), MAX_FIELD_VALUE) })
                })),
                Part::Footer(f) => text.push(md(f)),
            }
        }
        text.extend(card.links.iter().map(|(label, url)| md(&format!("<{url}|{label}>"))));
        fields.truncate(MAX_FIELDS);
        let mut attachment = json!({
            "fallback": cut(&plain(&parse(&card.text)), 500),
            "text": cut(&text.join("\n\n"), MAX_TEXT),
            "fields": fields,
        });
        if let Some(title) = &card.title {
            attachment["title"] = json!(cut(title, 250));
        }
        if let Some(color) = &card.color {
            attachment["color"] = json!(color);
        }
        body["attachments"] = json!([attachment]);
    }
    for (key, value) in [("channel", &m.channel), ("username", &m.username), ("icon_emoji", &m.icon_emoji)] {
        if let Some(value) = value {
            body[key] = json!(value.trim_matches(':'));
        }
    }
    body
}
