//! The Events API (`POST /slack/events`): the envelope Slack sends (`url_verification`, `event_callback`),
//! the `app_mention` event, and what a mention asks the bot to do. Parsed only after the signature
//! check; a body that is not an envelope is a clear error, an event we do not handle is `Ignored`.

use serde::Deserialize;

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EventsError {
    #[error("the body is not an Events API envelope: {0}")]
    NotAnEnvelope(String),
    #[error("the event callback has no {0}")]
    Missing(&'static str),
}

/// What an Events API request carries, as far as we act on it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EventEnvelope {
    /// Slack checking the request URL: answer with the challenge.
    UrlVerification { challenge: String },
    /// A mention of the bot.
    Mention(Mention),
    /// A reaction added to a message (`reaction_added`): incident timelines keep 📌 messages.
    Reaction(Reaction),
    /// Someone opened the app's Home tab (`app_home_opened` with `tab: home`): publish their view.
    HomeOpened(HomeOpened),
    /// Anything else (other event types, messages from bots): acknowledged, nothing done.
    Ignored { kind: String },
}

/// An `app_mention` event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mention {
    /// Unique per event across Slack's retries: the de-duplication key.
    pub event_id: String,
    pub team_id: String,
    pub user_id: String,
    pub channel_id: String,
    /// The mention message's own `ts` (reactions go on it).
    pub ts: String,
    /// The thread the answer goes to: the mention's thread when it was said in one, else the mention itself.
    pub thread_ts: String,
    pub text: String,
}

/// An `app_home_opened` event on the Home tab.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HomeOpened {
    pub event_id: String,
    pub team_id: String,
    /// Who opened it: whose view is published.
    pub user_id: String,
}

/// A `reaction_added` event on a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reaction {
    pub event_id: String,
    pub team_id: String,
    /// Who reacted.
    pub user_id: String,
    /// The emoji's name, without colons (`pushpin`).
    pub reaction: String,
    /// The message reacted to.
    pub channel_id: String,
    pub message_ts: String,
    /// Who wrote the message reacted to (`item_user`), when Slack says.
    pub item_user: Option<String>,
}

#[derive(Deserialize)]
struct RawEnvelope {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    challenge: Option<String>,
    #[serde(default)]
    team_id: Option<String>,
    #[serde(default)]
    event_id: Option<String>,
    #[serde(default)]
    event: Option<RawEvent>,
}

#[derive(Deserialize)]
struct RawEvent {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    bot_id: Option<String>,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    ts: Option<String>,
    #[serde(default)]
    thread_ts: Option<String>,
    #[serde(default)]
    channel: Option<String>,
    #[serde(default)]
    team: Option<String>,
    #[serde(default)]
    reaction: Option<String>,
    #[serde(default)]
    item: Option<RawItem>,
    #[serde(default)]
    item_user: Option<String>,
    /// `app_home_opened`: `home` or `messages`.
    #[serde(default)]
    tab: Option<String>,
}

#[derive(Deserialize)]
struct RawItem {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    channel: Option<String>,
    #[serde(default)]
    ts: Option<String>,
}

impl EventEnvelope {
    pub fn parse(body: &[u8]) -> Result<Self, EventsError> {
        let raw: RawEnvelope = serde_json::from_slice(body).map_err(|e| EventsError::NotAnEnvelope(e.to_string()))?;
        match raw.kind.as_str() {
            "url_verification" => {
                Ok(Self::UrlVerification { challenge: raw.challenge.ok_or(EventsError::Missing("challenge"))? })
            }
            "event_callback" => {
                let event = raw.event.ok_or(EventsError::Missing("event"))?;
                if event.kind == "reaction_added" {
                    // Reactions to files and file comments carry no message: nothing to keep.
                    let Some(item) = event.item.filter(|i| i.kind == "message") else {
                        return Ok(Self::Ignored { kind: event.kind });
                    };
                    return Ok(Self::Reaction(Reaction {
                        event_id: raw.event_id.filter(|id| !id.is_empty()).ok_or(EventsError::Missing("event_id"))?,
                        team_id: raw.team_id.unwrap_or_default(),
                        user_id: event.user.ok_or(EventsError::Missing("event.user"))?,
                        reaction: event.reaction.ok_or(EventsError::Missing("event.reaction"))?,
                        channel_id: item.channel.ok_or(EventsError::Missing("event.item.channel"))?,
                        message_ts: item.ts.ok_or(EventsError::Missing("event.item.ts"))?,
                        item_user: event.item_user.filter(|u| !u.is_empty()),
                    }));
                }
                if event.kind == "app_home_opened" {
                    // The Messages tab has nothing of ours to publish.
                    if event.tab.as_deref() != Some("home") {
                        return Ok(Self::Ignored { kind: event.kind });
                    }
                    return Ok(Self::HomeOpened(HomeOpened {
                        event_id: raw.event_id.unwrap_or_default(),
                        team_id: raw.team_id.or(event.team).unwrap_or_default(),
                        user_id: event.user.ok_or(EventsError::Missing("event.user"))?,
                    }));
                }
                // A bot's own messages never start anything: no loops between bots.
                if event.kind != "app_mention" || event.bot_id.is_some() {
                    return Ok(Self::Ignored { kind: event.kind });
                }
                let ts = event.ts.ok_or(EventsError::Missing("event.ts"))?;
                Ok(Self::Mention(Mention {
                    event_id: raw.event_id.filter(|id| !id.is_empty()).ok_or(EventsError::Missing("event_id"))?,
                    team_id: raw.team_id.or(event.team).unwrap_or_default(),
                    user_id: event.user.ok_or(EventsError::Missing("event.user"))?,
                    channel_id: event.channel.ok_or(EventsError::Missing("event.channel"))?,
                    thread_ts: event.thread_ts.unwrap_or_else(|| ts.clone()),
                    ts,
                    text: event.text.unwrap_or_default(),
                }))
            }
            other => Ok(Self::Ignored { kind: other.to_owned() }),
        }
    }
}

/// What a mention asks for: the first word after the bot's name, case-insensitive.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MentionRequest {
    /// `release <project>`, `deploy <project>`, `リリース <project>`; `project` is `None` when not named.
    Deploy {
        verb: String,
        project: Option<String>,
    },
    Help,
    Thanks,
    /// Anything else (the word, for the answer); empty when the mention had no words.
    Unknown(String),
}

/// Whether `word` is a user or bot mention as Slack writes it (`<@U0BOT>`, `<@U0BOT|chatops>`).
pub fn is_user_mention(word: &str) -> bool {
    word.starts_with("<@") && word.ends_with('>')
}

/// The words that start a deploy.
pub const DEPLOY_VERBS: &[&str] = &["release", "deploy", "リリース"];

impl MentionRequest {
    pub fn parse(text: &str) -> Self {
        let unescaped = crate::slack::unescape(text);
        // Drop user and bot mentions (`<@U0BOT>`, `<@U0BOT|chatops>`) wherever they are.
        let mut words = unescaped.split_whitespace().filter(|w| !is_user_mention(w));
        let Some(first) = words.next() else {
            return Self::Unknown(String::new());
        };
        let verb = first.trim_end_matches([':', ',', '!', '.', '、', '。']).to_lowercase();
        if DEPLOY_VERBS.contains(&verb.as_str()) {
            let project = words.next().map(clean_project).filter(|p| !p.is_empty());
            return Self::Deploy { verb, project };
        }
        match verb.as_str() {
            "help" | "ヘルプ" | "?" => Self::Help,
            v if is_thanks(v) => Self::Thanks,
            _ => Self::Unknown(first.to_owned()),
        }
    }
}

fn is_thanks(word: &str) -> bool {
    ["thanks", "thank", "thx", "ty", "cheers", "merci", "danke", "ありがとう"].contains(&word)
        || word.starts_with("よろ")
        || word.starts_with("ありがと")
}

/// A project name as typed: no surrounding backticks, quotes or punctuation, lower case kept as typed.
fn clean_project(word: &str) -> String {
    word.trim_matches(|c: char| matches!(c, '`' | '"' | '\'' | '*' | '_' | '.' | ',' | '!' | '?' | '。' | '、'))
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn callback(event: serde_json::Value) -> Vec<u8> {
        serde_json::json!({
            "token": "unused", "team_id": "T0TEAM", "api_app_id": "A0APP", "type": "event_callback",
            "event_id": "Ev0MENTION1", "event_time": 1_700_000_000, "event": event
        })
        .to_string()
        .into_bytes()
    }

    #[test]
    fn a_mention_in_a_channel_answers_in_its_own_thread() {
        let body = callback(serde_json::json!({
            "type": "app_mention", "user": "U0ALICE", "text": "<@U0BOT> release orders",
            "ts": "1700000000.000100", "channel": "C0OPS", "event_ts": "1700000000.000100"
        }));
        let EventEnvelope::Mention(m) = EventEnvelope::parse(&body).unwrap() else { panic!("not a mention") };
        assert_eq!(m.event_id, "Ev0MENTION1");
        assert_eq!((m.team_id.as_str(), m.user_id.as_str(), m.channel_id.as_str()), ("T0TEAM", "U0ALICE", "C0OPS"));
        assert_eq!(m.thread_ts, m.ts);
    }

    #[test]
    fn a_mention_inside_a_thread_answers_in_that_thread() {
        let body = callback(serde_json::json!({
            "type": "app_mention", "user": "U0ALICE", "text": "<@U0BOT> deploy orders",
            "ts": "1700000000.000200", "thread_ts": "1700000000.000100", "channel": "C0OPS"
        }));
        let EventEnvelope::Mention(m) = EventEnvelope::parse(&body).unwrap() else { panic!("not a mention") };
        assert_eq!((m.ts.as_str(), m.thread_ts.as_str()), ("1700000000.000200", "1700000000.000100"));
    }

    #[test]
    fn other_events_and_bots_are_ignored_and_junk_is_an_error() {
        let bot = callback(
            serde_json::json!({"type": "app_mention", "bot_id": "B0", "text": "<@U0BOT> deploy x", "ts": "1.2", "channel": "C"}),
        );
        assert!(matches!(EventEnvelope::parse(&bot).unwrap(), EventEnvelope::Ignored { .. }));
        let message =
            callback(serde_json::json!({"type": "message", "user": "U", "text": "hi", "ts": "1.2", "channel": "C"}));
        assert_eq!(EventEnvelope::parse(&message).unwrap(), EventEnvelope::Ignored { kind: "message".into() });
        assert_eq!(
            EventEnvelope::parse(br#"{"type":"url_verification","challenge":"3eZbrw1a"}"#).unwrap(),
            EventEnvelope::UrlVerification { challenge: "3eZbrw1a".into() }
        );
        assert!(EventEnvelope::parse(b"token=x&command=/scale").is_err());
        let no_id = br#"{"type":"event_callback","event":{"type":"app_mention","user":"U","ts":"1.2","channel":"C"}}"#;
        assert_eq!(EventEnvelope::parse(no_id).unwrap_err(), EventsError::Missing("event_id"));
    }

    #[test]
    fn a_reaction_to_a_message_is_read_and_one_to_a_file_ignored() {
        // Slack's reaction_added, as its Events API reference shows it.
        let body = callback(serde_json::json!({
            "type": "reaction_added", "user": "U0BOB", "reaction": "pushpin", "item_user": "U0ALICE",
            "item": {"type": "message", "channel": "C0INC12", "ts": "1700000000.000300"},
            "event_ts": "1700000001.000100"
        }));
        let EventEnvelope::Reaction(r) = EventEnvelope::parse(&body).unwrap() else { panic!("not a reaction") };
        assert_eq!((r.user_id.as_str(), r.reaction.as_str()), ("U0BOB", "pushpin"));
        assert_eq!((r.channel_id.as_str(), r.message_ts.as_str()), ("C0INC12", "1700000000.000300"));
        assert_eq!(r.item_user.as_deref(), Some("U0ALICE"), "the message's author, not the reactor");
        let file = callback(serde_json::json!({
            "type": "reaction_added", "user": "U0BOB", "reaction": "pushpin",
            "item": {"type": "file", "file": "F0123"}, "event_ts": "1700000001.000100"
        }));
        assert!(matches!(EventEnvelope::parse(&file).unwrap(), EventEnvelope::Ignored { .. }));
    }

    #[test]
    fn what_a_mention_asks_for() {
        let deploy =
            |verb: &str, project: &str| MentionRequest::Deploy { verb: verb.into(), project: Some(project.into()) };
        assert_eq!(MentionRequest::parse("<@U0BOT> release orders"), deploy("release", "orders"));
        assert_eq!(MentionRequest::parse("<@U0BOT|chatops> Deploy `orders`"), deploy("deploy", "orders"));
        assert_eq!(MentionRequest::parse("<@U0BOT>　リリース　orders"), deploy("リリース", "orders"));
        assert_eq!(MentionRequest::parse("<@U0BOT> RELEASE: orders!"), deploy("release", "orders"));
        assert_eq!(
            MentionRequest::parse("<@U0BOT> deploy"),
            MentionRequest::Deploy { verb: "deploy".into(), project: None }
        );
        assert_eq!(MentionRequest::parse("<@U0BOT> help"), MentionRequest::Help);
        assert_eq!(MentionRequest::parse("<@U0BOT> よろしく"), MentionRequest::Thanks);
        assert_eq!(MentionRequest::parse("<@U0BOT> Thanks!"), MentionRequest::Thanks);
        assert_eq!(MentionRequest::parse("<@U0BOT> rollback orders"), MentionRequest::Unknown("rollback".into()));
        assert_eq!(MentionRequest::parse("<@U0BOT>"), MentionRequest::Unknown(String::new()));
    }

    #[test]
    fn the_home_tab_opened_is_read_and_the_messages_tab_ignored() {
        let body = |tab: &str| {
            serde_json::json!({"type": "event_callback", "team_id": "T0TEAM", "event_id": "Ev1",
                "event": {"type": "app_home_opened", "user": "U0ALICE", "channel": "D0DM", "tab": tab,
                          "view": {"id": "V1", "type": "home", "blocks": []}}})
            .to_string()
        };
        assert_eq!(
            EventEnvelope::parse(body("home").as_bytes()),
            Ok(EventEnvelope::HomeOpened(HomeOpened {
                event_id: "Ev1".into(),
                team_id: "T0TEAM".into(),
                user_id: "U0ALICE".into()
            }))
        );
        assert_eq!(
            EventEnvelope::parse(body("messages").as_bytes()),
            Ok(EventEnvelope::Ignored { kind: "app_home_opened".into() })
        );
    }
}
