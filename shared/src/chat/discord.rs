//! Discord webhooks: one embed with colour, title, description and fields. Discord refuses a message
//! over its limits, so they are kept here: title 256, description 4096, 25 fields (name 256, value
//! 1024), 6000 characters over the whole embed, content 2000. Nobody is pinged by an alert's text:
//! `allowed_mentions` allows only a route's `@here` / `@everyone`.

use serde_json::{Value, json};

use super::markup::{Flavour, convert};
use super::{Card, Part, color_number, cut};
use crate::slack::Message;

pub(crate) const MAX_TITLE: usize = 256;
pub(crate) const MAX_DESCRIPTION: usize = 4096;
pub(crate) const MAX_FIELDS: usize = 25;
pub(crate) const MAX_FIELD_NAME: usize = 256;
pub(crate) const MAX_FIELD_VALUE: usize = 1024;
pub(crate) const MAX_EMBED_TOTAL: usize = 6000;
pub(crate) const MAX_CONTENT: usize = 2000;

pub(super) fn render(m: &Message) -> Value {
    let card = Card::from_message(m);
    let md = |s: &str| convert(s, Flavour::Discord);
    let mut content = String::new();
    let mut description = Vec::new();
    let mut fields = Vec::new();
    let mut footer = Vec::new();
    for part in &card.parts {
        match part {
            Part::Text(t) if t.starts_with("🔔 ") => content = md(t),
            Part::Text(t) => description.push(md(t)),
            Part::Fields(fs) => fields.extend(fs.iter().map(|(label, value)| {
                // Discord refuses an empty field name.
                let name = if label.trim().is_empty() { "\u{200b}".to_owned() } else { cut(label, MAX_FIELD_NAME) };
                let value = cut(&md(value), MAX_FIELD_VALUE);
                (name, if value.trim().is_empty() { "\u{200b}".to_owned() } else { value })
            })),
            Part::Footer(f) => footer.push(md(f)),
        }
    }
    footer.extend(card.links.iter().map(|(label, url)| md(&format!("<{url}|{label}>"))));
    fields.truncate(MAX_FIELDS);
    let title = card.title.as_deref().map(|t| cut(t, MAX_TITLE)).unwrap_or_default();
    // The footer (console link, source, time) is the last line of the description, where links work.
    let tail = if footer.is_empty() { String::new() } else { format!("\n\n{}", footer.join("\n")) };
    let count = |s: &str| s.chars().count();
    let fields_len = |f: &[(String, String)]| f.iter().map(|(n, v)| count(n) + count(v)).sum::<usize>();
    // Over the embed's total: the description gives way first, then fields from the end.
    while !fields.is_empty() && count(&title) + count(&tail) + fields_len(&fields) > MAX_EMBED_TOTAL - 200 {
        fields.pop();
    }
    let room = MAX_DESCRIPTION.min(MAX_EMBED_TOTAL.saturating_sub(count(&title) + fields_len(&fields)));
    let body_room = room.saturating_sub(count(&tail));
    let description = format!("{}{}", cut(&description.join("\n\n"), body_room), tail);
    let description = cut(description.trim(), room);
    let mut embed = json!({
        "fields": fields.iter().map(|(name, value)| json!({ "name": name, "value": value, "inline": count(value) < 40 })).collect::<Vec<_>>(),
    });
    if !title.is_empty() {
        embed["title"] = json!(title);
    }
    if !description.is_empty() {
        embed["description"] = json!(description);
    }
    if let Some(color) = color_number(card.color.as_deref()) {
        embed["color"] = json!(color);
    }
    let mut body = if title.is_empty() && fields.is_empty() && card.color.is_none() {
        // A plain message: content only.
        let text = if description.is_empty() { md(&card.text) } else { description };
        json!({ "content": cut(format!("{content}\n{text}").trim(), MAX_CONTENT) })
    } else {
        json!({ "content": cut(&content, MAX_CONTENT), "embeds": [embed] })
    };
    let loud = body["content"].as_str().is_some_and(|c| c.contains("@here") || c.contains("@everyone"));
    body["allowed_mentions"] = json!({ "parse": if loud { vec!["everyone"] } else { Vec::new() } });
    if let Some(name) = &m.username {
        body["username"] = json!(cut(name, 80));
    }
    body
}
