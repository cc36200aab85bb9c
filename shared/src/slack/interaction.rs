//! Interactive payloads (button clicks): the form field `payload`, a JSON document of `type:
//! block_actions`. Read field by field, so an unexpected shape is a clear error, never a panic.

use serde_json::Value;

use crate::json::text;

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum InteractionError {
    #[error("the `payload` field is not JSON")]
    NotJson,
    #[error("interactions of type `{0}` are not handled")]
    UnsupportedType(String),
    #[error("the payload has no `{0}`")]
    Missing(&'static str),
}

/// One button click.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BlockAction {
    pub team_id: String,
    pub user_id: String,
    pub user_name: String,
    pub channel_id: String,
    pub channel_name: String,
    pub action_id: String,
    pub block_id: String,
    pub value: String,
    pub response_url: Option<String>,
    /// The blocks of the message the button is in (top level, or in its first attachment), to rebuild it.
    pub message_blocks: Vec<Value>,
    /// Where the blocks were: `true` when inside `attachments[0]` (messages with a colour bar).
    pub in_attachment: bool,
    pub message_color: Option<String>,
    pub message_text: String,
    /// The `ts` of the message the button is on (`container.message_ts`).
    pub message_ts: Option<String>,
}

impl BlockAction {
    /// The clicked message's blocks without button `action_id` (an actions block left empty goes too),
    /// for the message that replaces it.
    pub fn blocks_without(&self, action_id: &str) -> Vec<Value> {
        let mut blocks = Vec::new();
        for block in &self.message_blocks {
            let Some(elements) = block["elements"].as_array().filter(|_| block["type"] == "actions") else {
                blocks.push(block.clone());
                continue;
            };
            let kept: Vec<Value> = elements.iter().filter(|e| e["action_id"] != action_id).cloned().collect();
            if !kept.is_empty() {
                let mut block = block.clone();
                block["elements"] = Value::Array(kept);
                blocks.push(block);
            }
        }
        blocks
    }

    /// Reads a click's payload.
    pub fn parse(payload: &str) -> Result<Self, InteractionError> {
        let v: Value = serde_json::from_str(payload).map_err(|_| InteractionError::NotJson)?;
        let kind = text(v.get("type")).unwrap_or_default();
        if kind != "block_actions" {
            return Err(InteractionError::UnsupportedType(kind));
        }
        let action = v
            .get("actions")
            .and_then(Value::as_array)
            .and_then(|a| a.first())
            .ok_or(InteractionError::Missing("actions"))?;
        let user = v.get("user").ok_or(InteractionError::Missing("user"))?;
        let message = v.get("message").unwrap_or(&Value::Null);
        let attachment_blocks = message.pointer("/attachments/0/blocks").and_then(Value::as_array);
        let (message_blocks, in_attachment) = match (message.get("blocks").and_then(Value::as_array), attachment_blocks)
        {
            (Some(b), _) if !b.is_empty() => (b.iter().map(as_sent).collect(), false),
            (_, Some(b)) => (b.iter().map(as_sent).collect(), true),
            _ => (Vec::new(), false),
        };
        Ok(Self {
            team_id: text(v.pointer("/team/id")).or_else(|| text(user.get("team_id"))).unwrap_or_default(),
            user_id: text(user.get("id")).ok_or(InteractionError::Missing("user.id"))?,
            user_name: text(user.get("username")).or_else(|| text(user.get("name"))).unwrap_or_default(),
            channel_id: text(v.pointer("/channel/id")).unwrap_or_default(),
            channel_name: text(v.pointer("/channel/name")).unwrap_or_default(),
            action_id: text(action.get("action_id")).ok_or(InteractionError::Missing("actions[0].action_id"))?,
            block_id: text(action.get("block_id")).unwrap_or_default(),
            value: text(action.get("value")).unwrap_or_default(),
            response_url: text(v.get("response_url")),
            message_blocks,
            in_attachment,
            message_color: text(message.pointer("/attachments/0/color")),
            message_text: text(message.get("text")).unwrap_or_default(),
            message_ts: text(v.pointer("/container/message_ts")).or_else(|| text(message.get("ts"))),
        })
    }
}

/// A block as it can be sent again. Slack gives an image block back with what it worked out (`image_url`
/// of its own file server, `image_width`, `image_bytes`, `fallback`, …) beside the `slack_file` it was
/// sent with; sending all of that back is refused, so an image keeps only what it was made of.
fn as_sent(block: &Value) -> Value {
    if block["type"] != "image" {
        return block.clone();
    }
    let mut image = serde_json::Map::new();
    for key in ["type", "block_id", "alt_text", "title"] {
        if let Some(v) = block.get(key) {
            image.insert(key.to_owned(), v.clone());
        }
    }
    match block.pointer("/slack_file/id").or_else(|| block.pointer("/slack_file/url")) {
        Some(_) => {
            let file = &block["slack_file"];
            let kept = match file.get("id") {
                Some(id) => serde_json::json!({ "id": id }),
                None => serde_json::json!({ "url": file["url"] }),
            };
            image.insert("slack_file".to_owned(), kept);
        }
        None => {
            if let Some(url) = block.get("image_url") {
                image.insert("image_url".to_owned(), url.clone());
            }
        }
    }
    Value::Object(image)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_image_block_goes_back_as_it_was_made() {
        let payload = serde_json::json!({
            "type": "block_actions",
            "user": {"id": "U0ALICE"},
            "actions": [{"action_id": "ack", "value": "{}"}],
            "message": {"attachments": [{"color": "#E01E5A", "blocks": [
                {"type": "section", "text": {"type": "mrkdwn", "text": "x"}},
                {"type": "image", "block_id": "graph", "alt_text": "Graph of it",
                 "image_url": "https://files.slack.com/files-tmb/T0-F0GRAPH1-abc/graph.png",
                 "image_width": 800, "image_height": 320, "image_bytes": 20411, "is_animated": false,
                 "fallback": "800x320px image", "slack_file": {"id": "F0GRAPH01", "url": null}},
                {"type": "actions", "elements": [{"type": "button", "action_id": "ack"}]}
            ]}]}
        });
        let click = BlockAction::parse(&payload.to_string()).unwrap();
        assert_eq!(
            click.message_blocks[1],
            serde_json::json!({"type": "image", "block_id": "graph", "alt_text": "Graph of it", "slack_file": {"id": "F0GRAPH01"}})
        );
        assert_eq!(click.blocks_without("ack").len(), 2, "the image stays, the button goes");
    }
}
