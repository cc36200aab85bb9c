//! Each platform's published limits, checked on a rendered payload: Discord's embed limits, Teams'
//! card size, Mattermost's post size, Slack's blocks (enforced in `slack::message`).

use chatops_shared::chat::Platform;
use serde_json::Value;

fn chars(v: &Value) -> usize {
    v.as_str().map_or(0, |s| s.chars().count())
}

pub fn assert_within(platform: Platform, body: &Value) {
    assert!(body.is_object(), "{platform:?}: {body}");
    match platform {
        Platform::Slack => {
            let blocks = body["blocks"].as_array().or(body["attachments"][0]["blocks"].as_array());
            assert!(blocks.is_none_or(|b| b.len() <= 50), "{body}");
        }
        Platform::Discord => {
            assert!(chars(&body["content"]) <= 2000, "content: {body}");
            let embeds = body["embeds"].as_array().cloned().unwrap_or_default();
            assert!(embeds.len() <= 10);
            for e in &embeds {
                assert!(chars(&e["title"]) <= 256, "title");
                assert!(chars(&e["description"]) <= 4096, "description");
                let fields = e["fields"].as_array().cloned().unwrap_or_default();
                assert!(fields.len() <= 25, "{} fields", fields.len());
                let mut total = chars(&e["title"]) + chars(&e["description"]) + chars(&e["footer"]["text"]);
                for f in &fields {
                    assert!((1..=256).contains(&chars(&f["name"])), "field name {f}");
                    assert!((1..=1024).contains(&chars(&f["value"])), "field value {f}");
                    total += chars(&f["name"]) + chars(&f["value"]);
                }
                assert!(total <= 6000, "embed total {total}");
            }
            assert!(body["allowed_mentions"]["parse"].is_array(), "mentions are always limited: {body}");
        }
        Platform::Teams => {
            let size = body.to_string().len();
            assert!(size <= 28_000, "Teams payload {size} bytes");
            assert_eq!(body["attachments"][0]["contentType"], "application/vnd.microsoft.card.adaptive");
            assert_eq!(body["attachments"][0]["content"]["type"], "AdaptiveCard");
        }
        Platform::Mattermost => {
            let text = chars(&body["text"]) + chars(&body["attachments"][0]["text"]);
            assert!(text <= 16_383, "Mattermost text {text}");
        }
    }
}
