//! The Slack message we send: a `text` fallback plus Block Kit blocks. Slack's size limits are enforced
//! here, when the message is serialised, so no caller has to remember them and Slack never rejects a
//! message for its length.

use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};
use serde_json::{Value, json};

pub const MAX_BLOCKS: usize = 50;
pub const MAX_HEADER_CHARS: usize = 150;
pub const MAX_SECTION_CHARS: usize = 3000;
pub const MAX_FIELD_CHARS: usize = 2000;
pub const MAX_FIELDS: usize = 10;
pub const MAX_CONTEXT_ELEMENTS: usize = 10;
pub const MAX_BUTTON_TEXT_CHARS: usize = 75;
pub const MAX_BUTTONS: usize = 25;
/// Slack truncates `text` beyond 40,000 characters; a notification preview needs far less.
pub const MAX_TEXT_CHARS: usize = 3000;

/// Escapes the three characters Slack's mrkdwn treats as control characters.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            _ => out.push(c),
        }
    }
    out
}

/// Undoes [`escape`]: the text a person typed, from the escaped form Slack sends it in (slash command
/// text, message text). `&amp;` last, so `&amp;lt;` (a typed `&lt;`) stays `&lt;`.
pub fn unescape(text: &str) -> String {
    text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
}

use crate::text::truncate;

/// A Block Kit block, in the few shapes we use. Text in `Section`, `Context` and fields is mrkdwn and
/// must already be escaped by the caller (see [`escape`]); header and button texts are plain text.
#[derive(Clone, Debug, PartialEq)]
pub enum Block {
    Header(String),
    Section {
        text: String,
        fields: Vec<String>,
    },
    Fields(Vec<String>),
    Context(Vec<String>),
    Divider,
    Actions {
        block_id: Option<String>,
        buttons: Vec<Button>,
    },
    /// An image uploaded to Slack (`slack_file`), with its alternative text (at most 2,000 characters).
    Image {
        file_id: String,
        alt_text: String,
        title: Option<String>,
        block_id: Option<String>,
    },
    /// A block as Slack sent it (from an interaction payload), passed back unchanged.
    Raw(serde_json::Value),
}

/// Slack's limits of an image block: `alt_text` and `title` 2,000 characters each.
pub const MAX_IMAGE_TEXT_CHARS: usize = 2000;

#[derive(Clone, Debug, PartialEq)]
pub struct Button {
    pub text: String,
    pub action_id: String,
    pub value: Option<String>,
    pub url: Option<String>,
    pub style: Option<&'static str>,
    /// `(title, text, confirm, deny)` of a Block Kit confirmation dialog.
    pub confirm: Option<(String, String, String, String)>,
}

fn plain(text: &str, max: usize) -> Value {
    json!({ "type": "plain_text", "text": truncate(text, max), "emoji": true })
}

fn mrkdwn(text: &str, max: usize) -> Value {
    json!({ "type": "mrkdwn", "text": truncate(text, max) })
}

impl Block {
    pub fn section(text: impl Into<String>) -> Self {
        Self::Section { text: text.into(), fields: Vec::new() }
    }

    fn to_json(&self) -> Option<Value> {
        Some(match self {
            Self::Header(text) => {
                json!({ "type": "header", "text": plain(text, MAX_HEADER_CHARS) })
            }
            Self::Section { text, fields } => {
                if text.trim().is_empty() && fields.is_empty() {
                    return None; // Slack rejects an empty section
                }
                let mut block = json!({ "type": "section" });
                if !text.trim().is_empty() {
                    block["text"] = mrkdwn(text, MAX_SECTION_CHARS);
                }
                if !fields.is_empty() {
                    block["fields"] = fields_json(fields);
                }
                block
            }
            Self::Fields(fields) => {
                if fields.is_empty() {
                    return None;
                }
                json!({ "type": "section", "fields": fields_json(fields) })
            }
            Self::Context(elements) => {
                let elements: Vec<Value> = elements
                    .iter()
                    .filter(|e| !e.trim().is_empty())
                    .take(MAX_CONTEXT_ELEMENTS)
                    .map(|e| mrkdwn(e, MAX_SECTION_CHARS))
                    .collect();
                if elements.is_empty() {
                    return None;
                }
                json!({ "type": "context", "elements": elements })
            }
            Self::Divider => json!({ "type": "divider" }),
            Self::Raw(value) => value.clone(),
            Self::Image { file_id, alt_text, title, block_id } => {
                let mut block = json!({
                    "type": "image",
                    "slack_file": { "id": file_id },
                    "alt_text": truncate(alt_text, MAX_IMAGE_TEXT_CHARS),
                });
                if let Some(title) = title {
                    block["title"] = json!({ "type": "plain_text", "text": truncate(title, MAX_IMAGE_TEXT_CHARS) });
                }
                if let Some(id) = block_id {
                    block["block_id"] = json!(id);
                }
                block
            }
            Self::Actions { block_id, buttons } => {
                if buttons.is_empty() {
                    return None;
                }
                let mut block = json!({
                    "type": "actions",
                    "elements": buttons.iter().take(MAX_BUTTONS).map(Button::to_json).collect::<Vec<_>>(),
                });
                if let Some(id) = block_id {
                    block["block_id"] = json!(id);
                }
                block
            }
        })
    }
}

fn fields_json(fields: &[String]) -> Value {
    Value::Array(fields.iter().take(MAX_FIELDS).map(|f| mrkdwn(f, MAX_FIELD_CHARS)).collect())
}

impl Button {
    fn to_json(&self) -> Value {
        let mut b = json!({
            "type": "button",
            "text": plain(&self.text, MAX_BUTTON_TEXT_CHARS),
            "action_id": self.action_id,
        });
        if let Some(v) = &self.value {
            b["value"] = json!(truncate(v, 2000));
        }
        if let Some(u) = &self.url {
            b["url"] = json!(u);
        }
        if let Some(s) = self.style {
            b["style"] = json!(s);
        }
        if let Some((title, text, confirm, deny)) = &self.confirm {
            b["confirm"] = json!({
                "title": plain(title, 100),
                "text": mrkdwn(text, 300),
                "confirm": plain(confirm, 30),
                "deny": plain(deny, 30),
            });
        }
        b
    }
}

/// A message for an incoming webhook, a slash-command response or a `response_url` update.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Message {
    /// Fallback text for notifications and screen readers (mrkdwn, escaped by the caller).
    pub text: String,
    pub blocks: Vec<Block>,
    /// A colour bar (hex like `#E01E5A`); when set the blocks go into one attachment that carries it.
    pub color: Option<String>,
    pub channel: Option<String>,
    pub username: Option<String>,
    pub icon_emoji: Option<String>,
    /// `in_channel` or `ephemeral`, for slash-command responses.
    pub response_type: Option<&'static str>,
    pub replace_original: Option<bool>,
}

impl Message {
    pub fn new(text: impl Into<String>) -> Self {
        Self { text: text.into(), ..Self::default() }
    }

    pub fn block(mut self, block: Block) -> Self {
        self.blocks.push(block);
        self
    }

    /// Blocks as Slack will receive them: empty ones dropped, at most 50, the last one saying how
    /// many were cut when the limit was hit.
    pub fn blocks_json(&self) -> Vec<Value> {
        let mut out: Vec<Value> = self.blocks.iter().filter_map(Block::to_json).collect();
        if out.len() > MAX_BLOCKS {
            let cut = out.len() - (MAX_BLOCKS - 1);
            out.truncate(MAX_BLOCKS - 1);
            out.push(mrkdwn_context(&format!("… {cut} more blocks not shown (Slack allows {MAX_BLOCKS})")));
        }
        out
    }

    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// Blocks a modal or a Home tab may have (messages: [`MAX_BLOCKS`]).
pub const MAX_VIEW_BLOCKS: usize = 100;

/// A view (`views.publish` / `views.open`) of `kind` (`home`, `modal`) with `blocks`: empty ones dropped, at
/// most [`MAX_VIEW_BLOCKS`], the last saying how many were cut when the limit was hit.
pub fn view_json(kind: &str, blocks: &[Block]) -> Value {
    let mut out: Vec<Value> = blocks.iter().filter_map(Block::to_json).collect();
    if out.len() > MAX_VIEW_BLOCKS {
        let cut = out.len() - (MAX_VIEW_BLOCKS - 1);
        out.truncate(MAX_VIEW_BLOCKS - 1);
        out.push(mrkdwn_context(&format!("… {cut} more blocks not shown (Slack allows {MAX_VIEW_BLOCKS})")));
    }
    json!({ "type": kind, "blocks": out })
}

fn mrkdwn_context(text: &str) -> Value {
    json!({ "type": "context", "elements": [mrkdwn(text, MAX_SECTION_CHARS)] })
}

impl Serialize for Message {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        if let Some(channel) = &self.channel {
            map.serialize_entry("channel", channel)?;
        }
        if let Some(username) = &self.username {
            map.serialize_entry("username", username)?;
        }
        if let Some(icon) = &self.icon_emoji {
            map.serialize_entry("icon_emoji", icon)?;
        }
        if let Some(rt) = self.response_type {
            map.serialize_entry("response_type", rt)?;
        }
        if let Some(replace) = self.replace_original {
            map.serialize_entry("replace_original", &replace)?;
        }
        map.serialize_entry("text", &truncate(&self.text, MAX_TEXT_CHARS))?;
        let blocks = self.blocks_json();
        match (&self.color, blocks.is_empty()) {
            (_, true) => {}
            (Some(color), false) => {
                map.serialize_entry("attachments", &[json!({ "color": color, "blocks": blocks })])?;
            }
            (None, false) => map.serialize_entry("blocks", &blocks)?,
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_control_characters() {
        assert_eq!(escape("a < b && c > d"), "a &lt; b &amp;&amp; c &gt; d");
        assert_eq!(unescape(&escape("a < b && c > d &lt;")), "a < b && c > d &lt;");
    }

    #[test]
    fn truncation_counts_characters_and_never_splits_an_entity() {
        assert_eq!(truncate("héllo", 5), "héllo");
        assert_eq!(truncate("héllo wörld", 6), "héllo…");
        let t = truncate("abcd&amp;efgh", 7);
        assert_eq!(t, "abcd…");
        assert_eq!(truncate("ab&lt;cdef", 7), "ab&lt;…");
        assert_eq!(truncate("ab&lt;cdef", 5), "ab…");
    }

    #[test]
    fn limits_are_enforced_on_serialisation() {
        let mut msg = Message::new("x".repeat(5000)).block(Block::Header("h".repeat(400)));
        for i in 0..60 {
            msg = msg.block(Block::section(format!("{i} {}", "y".repeat(4000))));
        }
        let v = msg.to_json();
        assert_eq!(v["text"].as_str().unwrap().chars().count(), MAX_TEXT_CHARS);
        let blocks = v["blocks"].as_array().unwrap();
        assert_eq!(blocks.len(), MAX_BLOCKS);
        assert_eq!(blocks[0]["text"]["text"].as_str().unwrap().chars().count(), MAX_HEADER_CHARS);
        assert_eq!(blocks[1]["text"]["text"].as_str().unwrap().chars().count(), MAX_SECTION_CHARS);
        assert!(blocks[49]["elements"][0]["text"].as_str().unwrap().contains("12 more blocks"));
    }

    #[test]
    fn colour_moves_blocks_into_one_attachment_and_empty_blocks_are_dropped() {
        let mut msg = Message::new("t").block(Block::section("  ")).block(Block::Context(vec![]));
        msg.color = Some("#E01E5A".into());
        let v = msg.to_json();
        assert!(v.get("attachments").is_none() && v.get("blocks").is_none(), "{v}");
        let v = msg.block(Block::Divider).to_json();
        assert_eq!(v["attachments"][0]["color"], "#E01E5A");
        assert_eq!(v["attachments"][0]["blocks"][0]["type"], "divider");
    }
}
