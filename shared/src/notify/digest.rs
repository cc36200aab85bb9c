//! The live digest of an alarm storm: one line per alarm (state, name linked to the console, since
//! when, the account and region when they differ), most severe first, under a header that counts the
//! alarms by state. Rendered as pages that each keep within Slack's limits (50 blocks, 3,000
//! characters a section, 40,000 a message), so a long storm continues in a second message rather than
//! dropping lines. The state table keeps the entries (`crate::state::StoredEntry`); the function shows them.

use std::collections::BTreeSet;

use super::Notification;
use super::alarm::AlarmState;
use super::service::Severity;
use crate::slack::{Block, Message, escape};
use crate::state::StoredEntry;

/// Slack's limits, with room for the header, the counts and the notes of a page.
pub const MAX_PAGE_CHARS: usize = 36_000;
pub const MAX_SECTION_CHARS: usize = 3_000;
/// Blocks of lines on one page (50 in all, less the header, counts, mention and note).
pub const MAX_LINE_BLOCKS: usize = 45;
/// A line longer than this (a name of kilobytes) is cut: every line fits a section with room to spare.
const MAX_LINE_CHARS: usize = 900;
const MAX_NAME_CHARS: usize = 200;

/// What the digest says besides its lines.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DigestInfo {
    /// When the first entry arrived and the last (epoch ms).
    pub started_ms: i64,
    pub last_ms: i64,
    /// The storm is over: the header says so.
    pub over: bool,
    /// Mentions for the first message (the routes' on-call, once per storm).
    pub mentions: Vec<String>,
    /// A webhook list: the alarms that arrived together, not a live digest.
    pub list: bool,
}

impl Notification {
    /// This notification as a line of a digest, under `key` (its lifecycle, else its label).
    pub fn digest_entry(&self, key: String, mention: Option<String>, now_ms: i64) -> StoredEntry {
        let (region, url) = match self {
            Self::Alarm(a) => (a.region.clone(), super::render::console_url(a)),
            Self::Service(e) => (e.region.clone(), e.console_url.clone()),
            Self::Deployment(d) => (d.region.clone(), d.console_url()),
            Self::Alertmanager(g) => (None, g.external_url.clone()),
            _ => (None, None),
        };
        // Shown as is: with the account's name when it has one.
        let account = self.account().map(|(id, name)| super::account_label(id, name));
        let name = match self {
            Self::Service(e) => format!("{}: {}", e.source.name(), e.title),
            other => other.label(),
        };
        StoredEntry {
            key,
            name,
            state: self.state().to_owned(),
            rank: self.severity_rank(),
            emoji: self.emoji().to_owned(),
            url: url.filter(|u| link_safe(u)),
            account,
            region,
            changed_at_ms: self.changed_at_ms().unwrap_or(now_ms),
            mention: mention.filter(|_| self.is_alarm_state()),
            sent_ms: None,
        }
    }

    /// What `/status` shows of this alert beside its state (its lifecycle record keeps it), `team` from its route.
    pub fn alert_facts(&self, team: Option<String>) -> crate::state::AlertFacts {
        let entry = self.digest_entry(String::new(), None, 0);
        let (account, account_name) = match self.account() {
            Some((id, name)) => (Some(id.to_owned()), name.map(str::to_owned)),
            None => (None, None),
        };
        crate::state::AlertFacts {
            title: entry.name,
            account,
            account_name,
            region: entry.region,
            team,
            url: entry.url,
        }
    }

    /// 0 is the most severe: what pages first, what is good news last.
    pub fn severity_rank(&self) -> i64 {
        match self {
            Self::Alarm(a) => match a.new_state {
                AlarmState::Alarm => 0,
                AlarmState::InsufficientData => 3,
                AlarmState::Other(_) => 4,
                AlarmState::Ok => 6,
            },
            Self::Service(e) => match e.severity {
                Severity::Critical => 0,
                Severity::High => 1,
                Severity::Medium => 2,
                Severity::Low => 3,
                Severity::Info => 5,
                Severity::Good => 6,
            },
            Self::Alertmanager(g) if g.is_firing() => {
                if g.severity().is_some_and(|s| s.eq_ignore_ascii_case("critical")) { 0 } else { 1 }
            }
            Self::Alertmanager(_) => 6,
            Self::Deployment(d) if d.state == "FAILURE" => 1,
            _ => 5,
        }
    }
}

fn link_safe(url: &str) -> bool {
    (url.starts_with("https://") || url.starts_with("http://"))
        && !url.contains(['|', '<', '>', ' ', '\n'])
        && url.len() <= 2_000
}

/// Most severe first, then the newest change, then by name: the order of the lines.
pub fn sort_entries(entries: &mut [StoredEntry]) {
    entries.sort_by(|a, b| {
        a.rank.cmp(&b.rank).then(b.changed_at_ms.cmp(&a.changed_at_ms)).then_with(|| a.name.cmp(&b.name))
    });
}

/// `🔥 37 in ALARM · ✅ 4 OK`: the entries counted by state, most severe first.
pub fn counts(entries: &[StoredEntry]) -> String {
    let mut states: Vec<(i64, &str, &str, usize)> = Vec::new();
    for e in entries {
        match states.iter_mut().find(|(_, state, ..)| *state == e.state) {
            Some(found) => found.3 += 1,
            None => states.push((e.rank, &e.state, &e.emoji, 1)),
        }
    }
    states.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(b.1)));
    states
        .iter()
        .map(|(rank, state, emoji, count)| match *rank {
            0 | 1 => format!("{} {count} in {}", if *state == "ALARM" { "🔥" } else { emoji }, escape(state)),
            _ => format!("{emoji} {count} {}", escape(state)),
        })
        .collect::<Vec<_>>()
        .join(" · ")
}

fn time_token(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let fallback = time::OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| t.format(time::macros::format_description!("[hour]:[minute] UTC")).ok())
        .unwrap_or_else(|| secs.to_string());
    format!("<!date^{secs}^{{time}}|{fallback}>")
}

/// One alarm's line.
pub fn line(entry: &StoredEntry, with_place: bool) -> String {
    let name: String = escape(&entry.name).chars().take(MAX_NAME_CHARS).collect();
    let name = match &entry.url {
        Some(url) => format!("<{url}|{name}>"),
        None => format!("*{name}*"),
    };
    let mut line =
        format!("{} {name} · {} since {}", entry.emoji, escape(&entry.state), time_token(entry.changed_at_ms));
    if with_place {
        let place: Vec<&str> = [entry.account.as_deref(), entry.region.as_deref()].into_iter().flatten().collect();
        if !place.is_empty() {
            line.push_str(&format!(" · {}", escape(&place.join("/"))));
        }
    }
    if line.chars().count() > MAX_LINE_CHARS {
        // Only the name can make a line this long, and it was cut: what is left is the link itself.
        line = format!(
            "{} *{}* · {}",
            entry.emoji,
            escape(&entry.name).chars().take(MAX_NAME_CHARS).collect::<String>(),
            escape(&entry.state)
        );
    }
    line
}

/// The digest's messages: every entry on exactly one page, each page within Slack's limits.
pub fn render(entries: &[StoredEntry], info: &DigestInfo) -> Vec<Message> {
    let mut sorted = entries.to_vec();
    sort_entries(&mut sorted);
    let places: BTreeSet<(Option<&str>, Option<&str>)> =
        sorted.iter().map(|e| (e.account.as_deref(), e.region.as_deref())).collect();
    let with_place = places.len() > 1;
    // Lines into sections of at most 3,000 characters, sections into pages.
    let mut pages: Vec<Vec<String>> = vec![Vec::new()];
    let mut page_chars = 0;
    for entry in &sorted {
        let text = line(entry, with_place);
        let len = text.chars().count() + 1;
        let page = pages.last_mut().expect("pages starts with one");
        let fits_section = page.last().is_some_and(|s: &String| s.chars().count() + len <= MAX_SECTION_CHARS);
        let new_blocks = page.len() + usize::from(!fits_section);
        if page_chars + len > MAX_PAGE_CHARS || new_blocks > MAX_LINE_BLOCKS {
            pages.push(vec![text]);
            page_chars = len;
            continue;
        }
        match page.last_mut() {
            Some(section) if fits_section => {
                section.push('\n');
                section.push_str(&text);
            }
            _ => page.push(text),
        }
        page_chars += len;
    }
    let total = pages.len();
    let summary = counts(&sorted);
    let title = if info.list {
        format!("🌩️ {} alarms at once", sorted.len())
    } else if info.over {
        "🌤️ Alarm storm over".to_owned()
    } else {
        "🌩️ Alarm storm".to_owned()
    };
    let note = if info.over {
        format!(
            "storm over: {} alarms between {} and {}",
            sorted.len(),
            time_token(info.started_ms),
            time_token(info.last_ms)
        )
    } else if info.list {
        "More alarms than the channel can take one by one: they are listed together.".to_owned()
    } else {
        format!(
            "Live digest since {}: one line per alarm, most severe first, updated as they change.",
            time_token(info.started_ms)
        )
    };
    let color = match sorted.first().map(|e| e.rank) {
        Some(0 | 1) => "#E01E5A",
        Some(6) => "#2EB67D",
        _ => "#ECB22E",
    };
    pages
        .into_iter()
        .enumerate()
        .map(|(i, sections)| {
            let plain = title.split_once(' ').map_or(title.as_str(), |(_, rest)| rest);
            let mut msg = Message::new(format!("{plain}: {summary}"));
            msg.color = Some(color.to_owned());
            if i == 0 {
                msg.blocks.push(Block::Header(title.clone()));
                msg.blocks.push(Block::section(summary.clone()));
                if !info.mentions.is_empty() {
                    let mentions = info.mentions.join(" ");
                    msg.text = format!("{mentions} {}", msg.text);
                    msg.blocks.push(Block::section(format!("🔔 {mentions}")));
                }
                msg.blocks.push(Block::Context(vec![note.clone()]));
            } else {
                msg.text = format!("{} (continued, {}/{total})", msg.text, i + 1);
                msg.blocks.push(Block::Context(vec![format!("{title}, continued ({}/{total})", i + 1)]));
            }
            msg.blocks.extend(sections.into_iter().map(Block::section));
            msg
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(i: usize, state: &str, rank: i64) -> StoredEntry {
        StoredEntry {
            key: format!("alarm:{i}"),
            name: format!("storm-alarm-{i:03}"),
            state: state.into(),
            rank,
            emoji: if state == "OK" { "✅" } else { "🔴" }.into(),
            url: Some(format!(
                "https://console.aws.amazon.com/cloudwatch/home?region=eu-west-1#alarmsV2:alarm/storm-alarm-{i:03}"
            )),
            account: Some("123456789012".into()),
            region: Some("eu-west-1".into()),
            changed_at_ms: 1_763_000_000_000 + i as i64,
            ..Default::default()
        }
    }

    #[test]
    fn counts_by_state_most_severe_first() {
        let entries = vec![entry(1, "OK", 6), entry(2, "ALARM", 0), entry(3, "ALARM", 0)];
        assert_eq!(counts(&entries), "🔥 2 in ALARM · ✅ 1 OK");
    }

    #[test]
    fn the_most_severe_come_first_and_the_place_only_when_it_differs() {
        let mut entries = vec![entry(1, "OK", 6), entry(2, "ALARM", 0)];
        let pages = render(&entries, &DigestInfo { mentions: vec!["<!subteam^S1>".into()], ..Default::default() });
        let text = serde_json::to_string(&pages[0].to_json()).unwrap();
        assert!(text.find("storm-alarm-002").unwrap() < text.find("storm-alarm-001").unwrap(), "{text}");
        assert!(!text.contains("123456789012/eu-west-1"), "one place: not repeated on every line");
        assert!(pages[0].text.starts_with("<!subteam^S1> "), "{}", pages[0].text);
        entries[0].account = Some("210987654321".into());
        let text = serde_json::to_string(&render(&entries, &DigestInfo::default())[0].to_json()).unwrap();
        assert!(text.contains("210987654321/eu-west-1") && text.contains("123456789012/eu-west-1"), "{text}");
    }

    #[test]
    fn a_storm_over_says_how_many_and_when() {
        let entries: Vec<_> = (0..240).map(|i| entry(i, "ALARM", 0)).collect();
        let info =
            DigestInfo { started_ms: 1_763_000_520_000, last_ms: 1_763_000_580_000, over: true, ..Default::default() };
        let text = serde_json::to_string(&render(&entries, &info)[0].to_json()).unwrap();
        assert!(text.contains("storm over: 240 alarms between"), "{text}");
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    fn arb_entry() -> impl Strategy<Value = StoredEntry> {
        (
            "[a-z0-9<>&|*_ -]{1,300}",
            prop_oneof![Just("ALARM"), Just("OK"), Just("INSUFFICIENT_DATA"), Just("FIRING")],
            0i64..7,
            proptest::option::of("https://[a-z]{1,20}\\.example/[a-z0-9/?=#&]{0,400}"),
            proptest::option::of("[0-9]{12}"),
            proptest::option::of(prop_oneof![Just("eu-west-1"), Just("us-east-1")]),
            0i64..2_000_000_000_000,
        )
            .prop_map(|(name, state, rank, url, account, region, at)| StoredEntry {
                key: name.clone(),
                name,
                state: state.into(),
                rank,
                emoji: "🟥".into(),
                url,
                account,
                region: region.map(str::to_owned),
                changed_at_ms: at,
                ..Default::default()
            })
    }

    fn text_chars(v: &serde_json::Value) -> usize {
        match v {
            serde_json::Value::String(s) => s.chars().count(),
            serde_json::Value::Array(a) => a.iter().map(text_chars).sum(),
            serde_json::Value::Object(m) => m.values().map(text_chars).sum(),
            _ => 0,
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

        /// Any number of lines: every page within Slack's limits, every entry on exactly one page.
        #[test]
        fn every_entry_on_one_page_and_every_page_within_slacks_limits(
            entries in proptest::collection::vec(arb_entry(), 0..700),
            over in any::<bool>(),
        ) {
            // Entries are keyed by name in the table: one line per key.
            let mut entries = entries;
            entries.sort_by(|a, b| a.key.cmp(&b.key));
            entries.dedup_by(|a, b| a.key == b.key);
            let pages = render(&entries, &DigestInfo { over, mentions: vec!["<!here>".into()], ..Default::default() });
            prop_assert!(!pages.is_empty());
            let mut listed = 0;
            for page in &pages {
                let json = page.to_json();
                let blocks = json["attachments"][0]["blocks"].as_array().cloned().unwrap_or_default();
                prop_assert!(blocks.len() <= crate::slack::message::MAX_BLOCKS, "{} blocks", blocks.len());
                for block in &blocks {
                    if block["type"] == "section" {
                        let text = block["text"]["text"].as_str().unwrap_or_default();
                        prop_assert!(text.chars().count() <= MAX_SECTION_CHARS);
                        listed += text.lines().filter(|l| l.starts_with("🟥 <") || l.starts_with("🟥 *")).count();
                    }
                }
                prop_assert!(text_chars(&json) <= 40_000, "{} characters", text_chars(&json));
                // Nothing was cut by the message type's own limits: the pages were made to fit.
                prop_assert!(!json.to_string().contains("more blocks not shown"));
            }
            prop_assert_eq!(listed, entries.len());
        }
    }
}
