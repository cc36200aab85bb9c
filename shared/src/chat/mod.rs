//! Chat platforms: one [`Message`] model (Block Kit blocks with mrkdwn, built by the notifier), rendered
//! for Slack (Block Kit, in `slack::message`), Mattermost (Slack-style attachments), Microsoft Teams (an
//! Adaptive Card for a Workflows webhook) and Discord (embeds). Each renderer keeps its platform's
//! limits; each platform's rate-limit answer is read in `Platform::retry_after`.
//!
//! Render floor: imports `slack` (its Message model), `http` (the rate-limit reader it implements) and the
//! base floor; nothing above.

mod discord;
pub(crate) mod markup;
mod mattermost;
mod teams;

use std::time::Duration;

use serde_json::{Map, Value};

use crate::slack::{Block, Message};

pub const PLATFORM_VAR: &str = "CHAT_PLATFORM";

/// Where a webhook posts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Platform {
    #[default]
    Slack,
    Mattermost,
    Teams,
    Discord,
}

impl Platform {
    pub const ALL: [Self; 4] = [Self::Slack, Self::Mattermost, Self::Teams, Self::Discord];

    /// `slack`, `mattermost`, `teams`, `discord` (any case).
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str().eq_ignore_ascii_case(name.trim()))
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Slack => "slack",
            Self::Mattermost => "mattermost",
            Self::Teams => "teams",
            Self::Discord => "discord",
        }
    }

    /// The platform a webhook URL's host names unambiguously; `None` for any other host (a self-hosted
    /// Mattermost looks like anything: say `CHAT_PLATFORM=mattermost`).
    pub fn from_webhook_url(url: &str) -> Option<Self> {
        let rest = url.trim().split_once("://").map_or(url.trim(), |(_, rest)| rest);
        let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
        let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
        let host = host.split(':').next().unwrap_or_default().to_ascii_lowercase();
        let under = |domain: &str| host == domain || host.ends_with(&format!(".{domain}"));
        if host == "hooks.slack.com" || host == "hooks.slack-gov.com" {
            Some(Self::Slack)
        } else if under("discord.com") || under("discordapp.com") {
            Some(Self::Discord)
        } else if under("logic.azure.com") || under("api.powerplatform.com") || under("webhook.office.com") {
            Some(Self::Teams)
        } else if under("cloud.mattermost.com") {
            Some(Self::Mattermost)
        } else {
            None
        }
    }

    /// The body to post for `message`.
    pub fn render(self, message: &Message) -> Value {
        match self {
            Self::Slack => message.to_json(),
            Self::Mattermost => mattermost::render(message),
            Self::Teams => teams::render(message),
            Self::Discord => discord::render(message),
        }
    }

    /// How long a 429 asks to wait: Discord says it in the JSON body (`retry_after`, seconds with a
    /// fraction), Mattermost in `X-Ratelimit-Reset`, the others in `Retry-After`.
    pub(crate) fn retry_after(self, header: Option<Duration>, reset: Option<Duration>, body: &str) -> Option<Duration> {
        let from_body = || {
            let v: Value = serde_json::from_str(body).ok()?;
            let secs = v.get("retry_after")?.as_f64().filter(|s| s.is_finite() && *s >= 0.0)?;
            Some(Duration::from_secs_f64(secs.min(3600.0)))
        };
        match self {
            Self::Discord => from_body().or(header).or(reset),
            Self::Mattermost => header.or(reset),
            Self::Slack | Self::Teams => header,
        }
    }
}

impl crate::http::RateLimitReader for Platform {
    fn retry_after(&self, exchange: &crate::http::Exchange) -> Option<Duration> {
        Platform::retry_after(*self, exchange.retry_after, exchange.reset_after, &exchange.body)
    }
}

/// A message read once into what every non-Slack renderer needs.
#[derive(Debug, Default)]
pub(crate) struct Card {
    /// Plain text.
    pub title: Option<String>,
    pub color: Option<String>,
    pub parts: Vec<Part>,
    /// Buttons that open a URL: `(label, url)`. Interactive buttons have no meaning elsewhere.
    pub links: Vec<(String, String)>,
    /// The message's fallback text (mrkdwn).
    pub text: String,
}

#[derive(Debug)]
pub(crate) enum Part {
    /// mrkdwn
    Text(String),
    /// `(label, value)`: label plain, value mrkdwn.
    Fields(Vec<(String, String)>),
    /// mrkdwn, small print.
    Footer(String),
}

impl Card {
    pub(crate) fn from_message(message: &Message) -> Self {
        let mut card = Card { color: message.color.clone(), text: message.text.clone(), ..Card::default() };
        for block in &message.blocks {
            card.add(block);
        }
        card
    }

    fn add(&mut self, block: &Block) {
        match block {
            Block::Header(text) if self.title.is_none() => self.title = Some(text.clone()),
            Block::Header(text) => self.parts.push(Part::Text(format!("*{text}*"))),
            Block::Section { text, fields } => {
                if !text.trim().is_empty() {
                    self.parts.push(Part::Text(text.clone()));
                }
                if !fields.is_empty() {
                    self.parts.push(Part::Fields(fields.iter().map(|f| split_field(f)).collect()));
                }
            }
            Block::Fields(fields) if !fields.is_empty() => {
                self.parts.push(Part::Fields(fields.iter().map(|f| split_field(f)).collect()))
            }
            // An image uploaded to Slack cannot be shown elsewhere: other platforms get no graph.
            Block::Fields(_) | Block::Divider | Block::Image { .. } => {}
            Block::Context(elements) => {
                let text: Vec<&str> = elements.iter().map(String::as_str).filter(|e| !e.trim().is_empty()).collect();
                if !text.is_empty() {
                    self.parts.push(Part::Footer(text.join(" · ")));
                }
            }
            Block::Actions { buttons, .. } => {
                self.links.extend(buttons.iter().filter_map(|b| Some((b.text.clone(), b.url.clone()?))))
            }
            Block::Raw(value) => {
                if let Some(block) = block_from_json(value) {
                    self.add(&block);
                }
            }
        }
    }
}

/// `*Label*\nvalue`, as the notifier writes fields, into its label and value.
fn split_field(field: &str) -> (String, String) {
    if let Some(rest) = field.strip_prefix('*')
        && let Some((label, value)) = rest.split_once("*\n")
        && !label.contains('\n')
    {
        return (markup::plain(&markup::parse(label)), value.to_owned());
    }
    (String::new(), field.to_owned())
}

/// A Block Kit block as JSON (a Slack payload passed through, a block Slack sent back) in our model.
fn block_from_json(v: &Value) -> Option<Block> {
    let text_of = |t: Option<&Value>| t.and_then(|t| t.get("text")).and_then(Value::as_str).map(str::to_owned);
    match v.get("type")?.as_str()? {
        "header" => text_of(v.get("text")).map(Block::Header),
        "section" => {
            let fields = v
                .get("fields")
                .and_then(Value::as_array)
                .map(|f| f.iter().filter_map(|x| text_of(Some(x))).collect())
                .unwrap_or_default();
            Some(Block::Section { text: text_of(v.get("text")).unwrap_or_default(), fields })
        }
        "context" => {
            Some(Block::Context(v.get("elements")?.as_array()?.iter().filter_map(|e| text_of(Some(e))).collect()))
        }
        "divider" => Some(Block::Divider),
        _ => None,
    }
}

impl Message {
    /// A Slack payload (`text`, `blocks`, `attachments` with `color`, `blocks`, `text`, `fields`) read
    /// into the model, for platforms other than Slack. What it cannot read is left out, the text stays.
    pub fn from_slack_json(payload: &Map<String, Value>) -> Self {
        let str_of = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_owned);
        let mut message = Message::new(str_of(payload.get("text")).unwrap_or_default());
        let blocks = |v: Option<&Value>| -> Vec<Block> {
            v.and_then(Value::as_array).map(|b| b.iter().filter_map(block_from_json).collect()).unwrap_or_default()
        };
        message.blocks = blocks(payload.get("blocks"));
        for attachment in payload.get("attachments").and_then(Value::as_array).into_iter().flatten() {
            if message.color.is_none() {
                message.color = str_of(attachment.get("color"));
            }
            if let Some(title) = str_of(attachment.get("title")) {
                message.blocks.push(Block::Header(title));
            }
            if let Some(text) = str_of(attachment.get("text")) {
                message.blocks.push(Block::section(text));
            }
            let fields: Vec<String> = attachment
                .get("fields")
                .and_then(Value::as_array)
                .map(|f| {
                    f.iter()
                        .filter_map(|x| {
                            let value = str_of(x.get("value"))?;
                            Some(match str_of(x.get("title")) {
                                Some(t) => format!("*{t}*\n{value}"),
                                None => value,
                            })
                        })
                        .collect()
                })
                .unwrap_or_default();
            if !fields.is_empty() {
                message.blocks.push(Block::Fields(fields));
            }
            message.blocks.extend(blocks(attachment.get("blocks")));
        }
        if message.blocks.is_empty() && !message.text.is_empty() {
            message.blocks.push(Block::section(message.text.clone()));
        }
        for (key, slot) in [
            ("channel", &mut message.channel),
            ("username", &mut message.username),
            ("icon_emoji", &mut message.icon_emoji),
        ] {
            *slot = str_of(payload.get(key));
        }
        message
    }
}

/// `#RRGGBB` as a number (Discord), `None` when it is not one.
pub(crate) fn color_number(color: Option<&str>) -> Option<u32> {
    let hex = color?.trim().strip_prefix('#')?;
    (hex.len() == 6).then(|| u32::from_str_radix(hex, 16).ok()).flatten()
}

/// Cuts to at most `max` characters, ending with `…` when cut.
pub(crate) fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platforms_from_unambiguous_hosts_only() {
        for (url, want) in [
            ("https://hooks.slack.com/services/T/B/x", Some(Platform::Slack)),
            ("hooks.slack.com/services/T/B/x", Some(Platform::Slack)),
            ("https://discord.com/api/webhooks/1/abc", Some(Platform::Discord)),
            ("https://canary.discord.com/api/webhooks/1/abc", Some(Platform::Discord)),
            ("https://discordapp.com/api/webhooks/1/abc", Some(Platform::Discord)),
            (
                "https://prod-12.westeurope.logic.azure.com:443/workflows/abc/triggers/manual/paths/invoke?sig=x",
                Some(Platform::Teams),
            ),
            (
                "https://default1234.56.environment.api.powerplatform.com:443/powerautomate/automations/direct/workflows/x",
                Some(Platform::Teams),
            ),
            ("https://example.webhook.office.com/webhookb2/x", Some(Platform::Teams)),
            ("https://acme.cloud.mattermost.com/hooks/xyz", Some(Platform::Mattermost)),
            ("https://chat.example.com/hooks/xyz", None),
            ("https://discord.com.evil.example/api/webhooks/1/abc", None),
            ("https://user@evildiscord.com/x", None),
            ("http://127.0.0.1:9000/hook", None),
        ] {
            assert_eq!(Platform::from_webhook_url(url), want, "{url}");
        }
        assert_eq!(Platform::parse(" Teams "), Some(Platform::Teams));
        assert_eq!(Platform::parse("msteams"), None);
    }

    #[test]
    fn discord_reads_the_wait_from_the_body() {
        let body = r#"{"message": "You are being rate limited.", "retry_after": 0.35, "global": false}"#;
        let header = Some(Duration::from_secs(1));
        assert_eq!(Platform::Discord.retry_after(header, None, body), Some(Duration::from_millis(350)));
        assert_eq!(Platform::Discord.retry_after(header, None, "nope"), header);
        assert_eq!(Platform::Slack.retry_after(None, None, body), None);
        assert_eq!(
            Platform::Mattermost.retry_after(None, Some(Duration::from_secs(2)), ""),
            Some(Duration::from_secs(2))
        );
    }

    #[test]
    fn a_slack_payload_reads_into_the_model() {
        let payload = serde_json::json!({"text": "fallback", "attachments": [{"color": "#E01E5A", "title": "Disk full",
            "text": "on *db-1*", "fields": [{"title": "Host", "value": "db-1"}]}]});
        let m = Message::from_slack_json(payload.as_object().unwrap());
        assert_eq!(m.color.as_deref(), Some("#E01E5A"));
        let card = Card::from_message(&m);
        assert_eq!(card.title.as_deref(), Some("Disk full"));
        assert!(matches!(&card.parts[1], Part::Fields(f) if f[0] == ("Host".to_owned(), "db-1".to_owned())));
    }
}
