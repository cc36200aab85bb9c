//! Block Kit as Slack documents it, for the blocks we send (messages, slash-command and `response_url`
//! answers, Home tabs): block types and their fields, text objects, lengths, counts and unique IDs
//! (https://api.slack.com/reference/block-kit/blocks, .../composition-objects, .../block-elements).
//! `Err`: what Slack would refuse, with where (`[json-pointer:/blocks/3/text]`).

use std::collections::BTreeSet;

use serde_json::Value;

/// Blocks a message may have.
pub const MESSAGE_BLOCKS: usize = 50;
/// Blocks a modal or a Home tab may have.
pub const VIEW_BLOCKS: usize = 100;

fn chars(v: &Value) -> usize {
    v.as_str().map(|s| s.chars().count()).unwrap_or(0)
}

/// A text object: `plain_text` (when `plain_only`) or `mrkdwn`, 1 to `max` characters.
fn text_object(v: &Value, max: usize, plain_only: bool, at: &str) -> Result<(), String> {
    let kind = v["type"].as_str().unwrap_or_default();
    let kind_ok = if plain_only { kind == "plain_text" } else { matches!(kind, "plain_text" | "mrkdwn") };
    if !kind_ok {
        return Err(format!("invalid text type `{kind}` {at}"));
    }
    let n = chars(&v["text"]);
    if n == 0 || n > max {
        return Err(format!("must be between 1 and {max} characters ({n}) {at}"));
    }
    if kind == "mrkdwn" && v.get("emoji").is_some() {
        return Err(format!("emoji is for plain_text only {at}"));
    }
    Ok(())
}

/// Checks `blocks` (at most `max_blocks`) as Slack does.
pub fn check(blocks: &[Value], max_blocks: usize, where_: &str) -> Result<(), String> {
    if blocks.len() > max_blocks {
        return Err(format!("no more than {max_blocks} items allowed [json-pointer:/{where_}]"));
    }
    let mut block_ids = BTreeSet::new();
    for (i, block) in blocks.iter().enumerate() {
        let at = format!("[json-pointer:/{where_}/{i}]");
        if let Some(id) = block.get("block_id") {
            let id = id.as_str().unwrap_or_default();
            if id.is_empty() || id.chars().count() > 255 || !block_ids.insert(id.to_owned()) {
                return Err(format!("invalid or repeated block_id {at}"));
            }
        }
        match block["type"].as_str().unwrap_or_default() {
            "header" => text_object(&block["text"], 150, true, &format!("{at}/text"))?,
            "divider" => {}
            "section" => {
                let (text, fields) = (block.get("text"), block.get("fields"));
                if text.is_none() && fields.is_none() {
                    return Err(format!("a section needs text or fields {at}"));
                }
                if let Some(text) = text {
                    text_object(text, 3000, false, &format!("{at}/text"))?;
                }
                if let Some(fields) = fields {
                    let fields = fields.as_array().ok_or(format!("fields is not a list {at}"))?;
                    if fields.is_empty() || fields.len() > 10 {
                        return Err(format!("fields must have 1 to 10 items {at}"));
                    }
                    for (j, f) in fields.iter().enumerate() {
                        text_object(f, 2000, false, &format!("{at}/fields/{j}"))?;
                    }
                }
            }
            "context" => {
                let elements = block["elements"].as_array().ok_or(format!("context without elements {at}"))?;
                if elements.is_empty() || elements.len() > 10 {
                    return Err(format!("context must have 1 to 10 elements {at}"));
                }
                for (j, e) in elements.iter().enumerate() {
                    if e["type"] != "image" {
                        text_object(e, 3000, false, &format!("{at}/elements/{j}"))?;
                    }
                }
            }
            "actions" => {
                let elements = block["elements"].as_array().ok_or(format!("actions without elements {at}"))?;
                if elements.is_empty() || elements.len() > 25 {
                    return Err(format!("actions must have 1 to 25 elements {at}"));
                }
                // Unique within the block (Block Kit: "unique among all other action_ids in the containing block").
                let mut action_ids = BTreeSet::new();
                for (j, e) in elements.iter().enumerate() {
                    let at = format!("{at}/elements/{j}");
                    if e["type"] != "button" {
                        continue;
                    }
                    text_object(&e["text"], 75, true, &format!("{at}/text"))?;
                    let id = e["action_id"].as_str().unwrap_or_default();
                    if id.is_empty() || id.chars().count() > 255 || !action_ids.insert(id.to_owned()) {
                        return Err(format!("invalid or repeated action_id {at}"));
                    }
                    if chars(&e["value"]) > 2000 || chars(&e["url"]) > 3000 {
                        return Err(format!("value or url too long {at}"));
                    }
                    if let Some(style) = e.get("style").and_then(Value::as_str)
                        && !matches!(style, "primary" | "danger")
                    {
                        return Err(format!("invalid style `{style}` {at}"));
                    }
                }
            }
            "image" => {
                let alt = chars(&block["alt_text"]);
                if alt == 0 || alt > 2000 {
                    return Err(format!("must be between 1 and 2000 characters: alt_text {at}"));
                }
                if let Some(title) = block.get("title") {
                    text_object(title, 2000, true, &format!("{at}/title"))?;
                }
                match (block.get("image_url"), block.get("slack_file")) {
                    (Some(url), None) if url.as_str().is_some_and(|u| u.starts_with("http") && u.len() <= 3000) => {}
                    (None, Some(file)) if file["id"].is_string() || file["url"].is_string() => {}
                    _ => return Err(format!("must provide exactly one of image_url or slack_file {at}")),
                }
            }
            other => return Err(format!("unsupported block type `{other}` {at}")),
        }
    }
    Ok(())
}

/// A message body (`chat.postMessage`, a slash-command answer, a `response_url` post): its blocks, or its
/// first attachment's, as a message.
pub fn check_message(body: &Value) -> Result<(), String> {
    if chars(&body["text"]) > 40_000 {
        return Err("text longer than 40,000 characters".into());
    }
    for (where_, blocks) in
        [("blocks", body.get("blocks")), ("attachments/0/blocks", body.pointer("/attachments/0/blocks"))]
    {
        if let Some(blocks) = blocks {
            let blocks = blocks.as_array().ok_or(format!("{where_} is not a list"))?;
            check(blocks, MESSAGE_BLOCKS, where_)?;
        }
    }
    Ok(())
}

/// A view (`views.publish`): a `home` or `modal` with at most [`VIEW_BLOCKS`] valid blocks.
pub fn check_view(view: &Value) -> Result<(), String> {
    let kind = view["type"].as_str().unwrap_or_default();
    if !matches!(kind, "home" | "modal") {
        return Err(format!("invalid view type `{kind}`"));
    }
    let blocks = view["blocks"].as_array().ok_or("a view needs blocks")?;
    check(blocks, VIEW_BLOCKS, "view/blocks")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn what_slack_refuses_is_refused() {
        let ok = json!([{"type": "section", "text": {"type": "mrkdwn", "text": "hi"}}]);
        assert_eq!(check(ok.as_array().unwrap(), 50, "blocks"), Ok(()));
        let long = json!([{"type": "section", "text": {"type": "mrkdwn", "text": "x".repeat(3001)}}]);
        assert!(check(long.as_array().unwrap(), 50, "blocks").is_err());
        let header = json!([{"type": "header", "text": {"type": "mrkdwn", "text": "x"}}]);
        assert!(check(header.as_array().unwrap(), 50, "blocks").is_err(), "a header is plain text");
        let twice = json!([{"type": "actions", "elements": [
            {"type": "button", "text": {"type": "plain_text", "text": "a"}, "action_id": "x"},
            {"type": "button", "text": {"type": "plain_text", "text": "b"}, "action_id": "x"}]}]);
        assert!(check(twice.as_array().unwrap(), 50, "blocks").is_err());
        let many: Vec<Value> = (0..51).map(|_| json!({"type": "divider"})).collect();
        assert!(check(&many, 50, "blocks").is_err());
        assert_eq!(check(&many, 100, "blocks"), Ok(()));
        assert!(check_view(&json!({"type": "page", "blocks": []})).is_err());
        let unknown = json!([{"type": "rich_table"}]);
        assert!(check(unknown.as_array().unwrap(), 50, "blocks").is_err());
    }
}
