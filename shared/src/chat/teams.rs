//! Microsoft Teams: an Adaptive Card (1.4) in the message shape a Teams Workflows webhook ("Post to a
//! channel when a webhook request is received") takes. Teams refuses cards over about 28 KB: parts are
//! dropped from the end, and the card says so, until the payload fits.

use serde_json::{Value, json};

use super::markup::{Flavour, convert};
use super::{Card, Part, cut};
use crate::slack::Message;

/// Teams' limit is 28 KB for the whole message; this leaves room for its own envelope.
pub(crate) const MAX_PAYLOAD_BYTES: usize = 27_000;
const MAX_TEXT_BLOCK: usize = 5000;
const MAX_TITLE: usize = 300;

pub(super) fn render(m: &Message) -> Value {
    let card = Card::from_message(m);
    let md = |s: &str| cut(&convert(s, Flavour::Teams), MAX_TEXT_BLOCK);
    let mut head = Vec::new();
    if let Some(title) = &card.title {
        head.push(json!({
            "type": "Container",
            "style": container_style(card.color.as_deref()),
            "bleed": true,
            "items": [{ "type": "TextBlock", "text": cut(title, MAX_TITLE), "size": "Large", "weight": "Bolder", "wrap": true }],
        }));
    }
    let mut parts: Vec<Value> = Vec::new();
    let mut footer = Vec::new();
    for part in &card.parts {
        match part {
            Part::Text(t) => parts.push(json!({ "type": "TextBlock", "text": md(t), "wrap": true })),
            Part::Fields(fields) => parts.push(json!({
                "type": "FactSet",
                "facts": fields.iter().map(|(label, value)| json!({ "title": label, "value": md(value) })).collect::<Vec<_>>(),
            })),
            // Small print stays last, whatever is cut.
            Part::Footer(f) => footer.push(json!({ "type": "TextBlock", "text": md(f), "wrap": true, "size": "Small", "isSubtle": true })),
        }
    }
    if head.is_empty() && parts.is_empty() && footer.is_empty() {
        parts.push(json!({ "type": "TextBlock", "text": md(&card.text), "wrap": true }));
    }
    let mut actions: Vec<Value> = card
        .links
        .iter()
        .filter(|(_, url)| (url.starts_with("https://") || url.starts_with("http://")) && url.len() <= 2000)
        .take(5)
        .map(|(label, url)| json!({ "type": "Action.OpenUrl", "title": cut(label, 60), "url": url }))
        .collect();
    let envelope = |body: Vec<Value>, actions: &[Value]| {
        json!({
            "type": "message",
            "attachments": [{
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": null,
                "content": {
                    "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                    "type": "AdaptiveCard",
                    "version": "1.4",
                    "msteams": { "width": "Full" },
                    "fallbackText": cut(&convert(&card.text, Flavour::Teams), 500),
                    "body": body,
                    "actions": actions,
                },
            }],
        })
    };
    // Too big: parts go from the end, then the small print from the end; the title always stays.
    let mut dropped = 0;
    loop {
        let mut body = head.clone();
        body.extend(parts.iter().cloned());
        if dropped > 0 {
            body.push(json!({ "type": "TextBlock", "text": format!("… {dropped} more parts not shown (Teams card size limit)"), "wrap": true, "isSubtle": true }));
        }
        body.extend(footer.iter().cloned());
        let payload = envelope(body, &actions);
        if payload.to_string().len() <= MAX_PAYLOAD_BYTES {
            return payload;
        }
        if parts.pop().is_none() && footer.pop().is_none() {
            // Only the title is left and still too big (actions with huge URLs): the title alone.
            actions.clear();
            return envelope(head, &actions);
        }
        dropped += 1;
    }
}

/// The nearest of Adaptive Cards' container styles to a colour bar.
fn container_style(color: Option<&str>) -> &'static str {
    let Some(n) = super::color_number(color) else { return "default" };
    let (r, g, b) = ((n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff);
    if g > r && g > b {
        "good"
    } else if r > 150 && g > 100 && b < 100 {
        "warning"
    } else if r > g && r > b {
        "attention"
    } else {
        "accent"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_map_to_container_styles() {
        for (color, style) in [
            ("#E01E5A", "attention"),
            ("#8E1600", "attention"),
            ("#2EB67D", "good"),
            ("#ECB22E", "warning"),
            ("#F2952F", "warning"),
            ("#1D9BD1", "accent"),
        ] {
            assert_eq!(container_style(Some(color)), style, "{color}");
        }
        assert_eq!(container_style(None), "default");
    }
}
