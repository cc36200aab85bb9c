//! What an incident looks like: the pinned status message in its channel, the announcement in
//! `INCIDENTS_CHANNEL` (the same card, with the channel's link), the channel's topic and name, the
//! state `/incident` answers with, the timeline, and the post-mortem draft in Markdown.

use std::collections::BTreeMap;

use std::time::Duration;

use time::OffsetDateTime;
use time::macros::format_description;

use crate::notify::{duration_text, slack_date_at};
use crate::slack::{Block, Message, escape};
use crate::state::{FollowUp, IncidentRecord, TimelineEntry};

/// Slack's longest channel name.
const MAX_CHANNEL_NAME: usize = 80;

/// The colour of an open incident by severity, and of a resolved one.
fn color(record: &IncidentRecord) -> &'static str {
    match (record.resolved, record.severity) {
        (true, _) => "#2EB67D",
        (false, 1) => "#E01E5A",
        (false, 2) => "#F2A33A",
        (false, 3) => "#ECB22E",
        (false, _) => "#1D9BD1",
    }
}

/// `SEV2`.
pub fn sev(severity: i64) -> String {
    format!("SEV{severity}")
}

/// `inc-12-checkout-errors-above-5` (lowercase, letters, digits and dashes, at most 80 characters);
/// `attempt` > 1 adds `-<attempt>` for a name that was taken.
pub fn channel_name(number: i64, title: &str, attempt: u32) -> String {
    let mut slug = String::new();
    for c in title.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.ends_with('-') {
            slug.push('-');
        }
    }
    let prefix = format!("inc-{number}");
    let suffix = if attempt > 1 { format!("-{attempt}") } else { String::new() };
    let room = MAX_CHANNEL_NAME.saturating_sub(prefix.len() + suffix.len() + 1);
    let slug: String = slug.trim_matches('-').chars().take(room).collect();
    let slug = slug.trim_end_matches('-');
    if slug.is_empty() { format!("{prefix}{suffix}") } else { format!("{prefix}-{slug}{suffix}") }
}

fn status_word(record: &IncidentRecord) -> &'static str {
    if record.resolved { "Resolved" } else { "Open" }
}

/// How long it has lasted, at `now` (epoch s), or lasted, once resolved.
pub fn duration(record: &IncidentRecord, now: i64) -> String {
    let end = record.resolved_at.unwrap_or(now);
    duration_text(Duration::from_secs(end.saturating_sub(record.declared_at).max(0) as u64))
}

/// The channel's topic: severity, status, lead and title.
pub fn topic(record: &IncidentRecord) -> String {
    let mut roles = format!("lead <@{}>", record.lead);
    for (role, who) in [("comms", &record.comms), ("scribe", &record.scribe)] {
        if let Some(who) = who {
            roles.push_str(&format!(" · {role} <@{who}>"));
        }
    }
    let topic = format!("{} | {} | {roles} | {}", sev(record.severity), status_word(record), escape(&record.title));
    // Slack's topics hold 250 characters: the title gives way first, then the roles beyond the lead.
    if topic.chars().count() > 250 && (record.comms.is_some() || record.scribe.is_some()) {
        let short = IncidentRecord { comms: None, scribe: None, ..record.clone() };
        let without = topic_of(&short);
        if without.chars().count() <= 250 {
            return without;
        }
    }
    crate::text::truncate(&topic, 250).into_owned()
}

fn topic_of(record: &IncidentRecord) -> String {
    format!("{} | {} | lead <@{}> | {}", sev(record.severity), status_word(record), record.lead, escape(&record.title))
}

/// The incident's card: the pinned message, and with `channel_link` the announcement.
pub fn card(record: &IncidentRecord, now: i64, channel_link: bool) -> Message {
    let emoji = if record.resolved { "✅" } else { "🚨" };
    let title = format!("{emoji} {}: {}", record.name(), record.title);
    let mut fields = vec![
        format!("*Severity*\n{}", sev(record.severity)),
        format!("*Status*\n{}", status_word(record)),
        format!("*Lead*\n<@{}>", escape(&record.lead)),
        format!("*Declared*\n{} by <@{}>", slack_date_at(record.declared_at), escape(&record.declared_by)),
    ];
    for (role, who) in [("Comms", &record.comms), ("Scribe", &record.scribe)] {
        if let Some(who) = who {
            fields.push(format!("*{role}*\n<@{}>", escape(who)));
        }
    }
    if let Some(times) = response_times(record) {
        fields.push(format!("*Since the alert fired*\n{}", times.join(" · ")));
    }
    fields.push(match record.resolved_at {
        Some(at) => format!("*Resolved*\n{} after {}", slack_date_at(at), duration(record, now)),
        None => format!("*Duration*\n{} so far", duration(record, now)),
    });
    if channel_link && let Some(channel) = &record.channel_id {
        fields.push(format!("*Channel*\n<#{}>", escape(channel)));
    }
    let mut message =
        Message::new(format!("{} {}: {} ({})", emoji, record.name(), escape(&record.title), sev(record.severity)))
            .block(Block::Header(title))
            .block(Block::Section { text: String::new(), fields });
    if let Some(update) = &record.update {
        message = message.block(Block::section(format!("*Latest update*\n{}", escape(update))));
    }
    if let Some(summary) = &record.summary {
        message = message.block(Block::section(format!("*Summary*\n{}", escape(summary))));
    }
    if !record.followups.is_empty() {
        let mut text = format!("*Follow-ups* ({})", record.followups.len());
        for f in record.followups.iter().take(CARD_FOLLOWUPS) {
            text.push_str(&format!("\n📝 {}", escape(&crate::text::truncate(f, 200))));
        }
        if record.followups.len() > CARD_FOLLOWUPS {
            text.push_str(&format!("\n… and {} more: `/incident followups`", record.followups.len() - CARD_FOLLOWUPS));
        }
        message = message.block(Block::section(text));
    }
    if !record.alerts.is_empty() {
        message = message.block(Block::Context(vec![format!("Alerts: {}", record.alerts.join(", "))]));
    }
    message.color = Some(color(record).to_owned());
    message
}

/// How many follow-ups the card lists before "and N more".
const CARD_FOLLOWUPS: usize = 5;

/// The announcement in `INCIDENTS_CHANNEL`: the card with its channel's link; for a private incident only
/// its number, severity, that it is private and whether it is resolved: no title, people or channel.
pub fn announcement(record: &IncidentRecord, now: i64) -> Message {
    if !record.private {
        return card(record, now, true);
    }
    let (emoji, state) = match record.resolved_at {
        Some(at) => ("✅", format!("resolved {}", slack_date_at(at))),
        None => ("🔒", format!("declared {}", slack_date_at(record.declared_at))),
    };
    let line = format!(
        "{emoji} *{}* · {} · private incident · {state}. Its details are shared with its members only.",
        record.name(),
        sev(record.severity)
    );
    let mut message = Message::new(format!("{} {}: private incident", record.name(), sev(record.severity)))
        .block(Block::section(line));
    message.color = Some(color(record).to_owned());
    message
}

/// The answer to `/incident` in an incident's channel: its state, only to the asker.
pub fn state_answer(record: &IncidentRecord, now: i64) -> Message {
    let mut message = card(record, now, true);
    message.response_type = Some("ephemeral");
    message
}

/// One line per open incident, for `/incident list`.
pub fn list(records: &[IncidentRecord], now: i64) -> String {
    if records.is_empty() {
        return "No open incidents. 🎉".to_owned();
    }
    let mut text = format!("*Open incidents* ({})", records.len());
    for r in records {
        let channel = r.channel_id.as_deref().map(|c| format!(" <#{}>", escape(c))).unwrap_or_default();
        text.push_str(&format!(
            "\n• *{}* {} · {} · lead <@{}> · {}{}",
            r.name(),
            escape(&r.title),
            sev(r.severity),
            escape(&r.lead),
            duration(r, now),
            channel
        ));
    }
    text
}

/// `2025-11-26 09:40 UTC`.
pub fn utc(at_ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp(at_ms.div_euclid(1000))
        .ok()
        .and_then(|t| t.format(format_description!("[year]-[month]-[day] [hour]:[minute] UTC")).ok())
        .unwrap_or_else(|| at_ms.to_string())
}

fn time_only(at_ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp(at_ms.div_euclid(1000))
        .ok()
        .and_then(|t| t.format(format_description!("[hour]:[minute]:[second]")).ok())
        .unwrap_or_else(|| at_ms.to_string())
}

/// The timeline as a Slack message, posted in the channel when the incident is resolved.
pub fn timeline_message(record: &IncidentRecord, entries: &[TimelineEntry]) -> Message {
    let mut lines = vec![format!("*Timeline of {}* (UTC)", record.name())];
    for e in entries {
        let link = e.link.as_deref().map(|l| format!(" <{l}|↗>")).unwrap_or_default();
        let who = if e.author.is_empty() { String::new() } else { format!("<@{}> ", escape(&e.author)) };
        lines.push(format!("`{}` {who}{}{}", time_only(e.at_ms), e.text, link));
    }
    let mut message = Message::new(format!("Timeline of {}", record.name()));
    // A section holds 3,000 characters: long timelines go in several.
    let mut chunk = String::new();
    for line in lines {
        if chunk.len() + line.len() > 2900 {
            message = message.block(Block::section(std::mem::take(&mut chunk)));
        }
        chunk.push_str(&line);
        chunk.push('\n');
    }
    message.block(Block::section(chunk))
}

/// The user IDs `text` mentions (`<@U…>`, `<@U…|name>`).
pub fn mentioned(text: &str) -> Vec<String> {
    text.split("<@")
        .skip(1)
        .filter_map(|rest| {
            let id: String = rest.chars().take_while(char::is_ascii_alphanumeric).collect();
            (id.len() >= 3 && matches!(id.as_bytes()[0], b'U' | b'W')).then_some(id)
        })
        .collect()
}

/// A person in the post-mortem: their name when it was read, else `@<ID>` (nobody: `—`).
fn person(id: &str, names: &BTreeMap<String, String>) -> String {
    if id.is_empty() {
        return "—".to_owned();
    }
    names.get(id).cloned().unwrap_or_else(|| format!("@{id}"))
}

/// The times that matter, from the alert's firing: acknowledged, declared, resolved (those known).
pub fn response_times(record: &IncidentRecord) -> Option<Vec<String>> {
    let fired = record.alert_fired_at?;
    let after = |at: i64| crate::notify::duration_text(std::time::Duration::from_secs((at - fired).max(0) as u64));
    let mut times = Vec::new();
    if let Some(at) = record.alert_acked_at {
        times.push(format!("acknowledged after {}", after(at)));
    }
    times.push(format!("declared after {}", after(record.declared_at)));
    if let Some(at) = record.resolved_at {
        times.push(format!("resolved after {}", after(at)));
    }
    Some(times)
}

/// Slack mrkdwn to Markdown for the post-mortem: `<url|text>` links, `<@U…>` mentions (as names), escapes.
fn markdown(text: &str, names: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(open) = rest.find('<') {
        out.push_str(&rest[..open]);
        let Some(close) = rest[open..].find('>') else {
            out.push_str(&rest[open..]);
            rest = "";
            break;
        };
        let inner = &rest[open + 1..open + close];
        out.push_str(&match inner.split_once('|') {
            Some((target, _)) if target.starts_with('@') && names.contains_key(&target[1..]) => {
                person(&target[1..], names)
            }
            None if inner.starts_with('@') && names.contains_key(&inner[1..]) => person(&inner[1..], names),
            Some((target, label)) if target.starts_with('@') || target.starts_with('#') => label.to_owned(),
            Some((url, label)) => format!("[{label}]({url})"),
            None if inner.starts_with('@') || inner.starts_with('#') => inner.to_owned(),
            None => inner.to_owned(),
        });
        rest = &rest[open + close + 1..];
    }
    out.push_str(rest);
    crate::slack::unescape(&out).replace('\n', " ")
}

/// The post-mortem draft: what is known filled in, what needs people left as empty sections.
pub fn postmortem(
    record: &IncidentRecord,
    entries: &[TimelineEntry],
    followups: &[FollowUp],
    names: &BTreeMap<String, String>,
) -> String {
    let resolved = record.resolved_at.unwrap_or(record.declared_at);
    let markdown = |text: &str| markdown(text, names);
    let mut participants: Vec<&str> = vec![record.declared_by.as_str(), record.lead.as_str()];
    participants.extend(record.comms.iter().chain(record.scribe.iter()).map(String::as_str));
    participants.extend(entries.iter().map(|e| e.author.as_str()));
    let mut seen = std::collections::BTreeSet::new();
    participants.retain(|p| !p.is_empty() && seen.insert(*p));
    let mut md = format!("# {}: {}\n\n", record.name(), record.title.replace('\n', " "));
    md.push_str(
        "_Post-mortem draft, written by ChatOps when the incident was resolved. Fill in the empty sections._\n\n",
    );
    md.push_str("| | |\n|---|---|\n");
    md.push_str(&format!("| Severity | {} |\n", sev(record.severity)));
    md.push_str(&format!("| Lead | {} |\n", person(&record.lead, names)));
    for (role, who) in [("Comms", &record.comms), ("Scribe", &record.scribe)] {
        if let Some(who) = who {
            md.push_str(&format!("| {role} | {} |\n", person(who, names)));
        }
    }
    md.push_str(&format!("| Declared by | {} |\n", person(&record.declared_by, names)));
    if let Some(fired) = record.alert_fired_at {
        md.push_str(&format!("| Alert fired | {} |\n", utc(fired * 1000)));
        let after = |at: i64| duration_text(std::time::Duration::from_secs((at - fired).max(0) as u64));
        if let Some(acked) = record.alert_acked_at {
            md.push_str(&format!("| Time to acknowledge | {} |\n", after(acked)));
        }
        md.push_str(&format!("| Time to declare | {} |\n", after(record.declared_at)));
        md.push_str(&format!("| Time to resolve | {} (from the alert) |\n", after(resolved)));
    }
    md.push_str(&format!("| Start | {} |\n", utc(record.declared_at * 1000)));
    md.push_str(&format!("| Resolved | {} |\n", utc(resolved * 1000)));
    md.push_str(&format!("| Duration | {} |\n", duration(record, resolved)));
    if let Some(channel) = &record.channel_name {
        md.push_str(&format!("| Channel | #{channel} |\n"));
    }
    md.push_str("\n## Summary\n\n");
    md.push_str(&record.summary.as_deref().map(markdown).unwrap_or_else(|| "_To be written._".to_owned()));
    md.push_str("\n\n## Linked alerts\n\n");
    if record.alerts.is_empty() {
        md.push_str("_None linked._\n");
    }
    for alert in &record.alerts {
        md.push_str(&format!("- {}\n", markdown(alert)));
    }
    md.push_str("\n## Timeline\n\n| Time (UTC) | Who | What |\n|---|---|---|\n");
    for e in entries {
        let link = e.link.as_deref().map(|l| format!(" ([message]({l}))")).unwrap_or_default();
        md.push_str(&format!(
            "| {} | {} | {}{} |\n",
            utc(e.at_ms),
            person(&e.author, names),
            markdown(&e.text).replace('|', "\\|"),
            link
        ));
    }
    md.push_str("\n## Participants\n\n");
    for p in &participants {
        match names.get(*p) {
            Some(name) => md.push_str(&format!("- {name} (@{p})\n")),
            None => md.push_str(&format!("- @{p}\n")),
        }
    }
    md.push_str("\n## Impact\n\n_Who and what was affected, for how long, how badly._\n");
    md.push_str("\n## Root cause\n\n_Why it happened; the contributing factors._\n");
    md.push_str("\n## Follow-ups\n\n");
    if followups.is_empty() {
        md.push_str("_None recorded (`/incident followup <text>`, or 📝 on a message)._\n");
    }
    for f in followups {
        let issue = match (&f.issue, &f.error) {
            (Some(url), _) => format!(" ([issue]({url}))"),
            (None, Some(_)) => " (not filed: the tracker refused it)".to_owned(),
            (None, None) => String::new(),
        };
        md.push_str(&format!(
            "- [{}] {} ({}, {}){issue}\n",
            if f.issue.is_some() { "x" } else { " " },
            f.text.replace('\n', " "),
            person(&f.author, names),
            utc(f.at_ms)
        ));
    }
    md.push_str("\n## Actions\n\n| Action | Owner | Due |\n|---|---|---|\n| | | |\n");
    md
}

/// `/incident followups`: each follow-up with its issue, or why it is not filed.
pub fn followups_text(record: &IncidentRecord, followups: &[FollowUp]) -> String {
    if followups.is_empty() {
        return format!(
            "{} has no follow-ups yet: `/incident followup <what is to be done>`, or a 📝 on a message in its channel.",
            record.name()
        );
    }
    let mut text = format!("*Follow-ups of {}* ({})", record.name(), followups.len());
    for (shown, f) in followups.iter().enumerate() {
        let state = match (&f.issue, &f.error) {
            (Some(url), _) => format!(" · <{url}|issue>"),
            (None, Some(why)) => format!(" · ❌ not filed: {}", escape(&crate::text::truncate(why, 200))),
            (None, None) => " · not filed yet".to_owned(),
        };
        let line = format!("\n📝 {} (<@{}>){state}", escape(&crate::text::truncate(&f.text, 300)), escape(&f.author));
        // One section holds 3,000 characters: whole lines only.
        if text.len() + line.len() > 2_800 {
            text.push_str(&format!("\n… and {} more", followups.len() - shown));
            break;
        }
        text.push_str(&line);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> IncidentRecord {
        IncidentRecord {
            number: 12,
            title: "Checkout errors above 5 %".into(),
            severity: 2,
            lead: "U0ALICE".into(),
            declared_by: "U0BOB".into(),
            declared_at: 1_764_150_000,
            channel_id: Some("C0INC".into()),
            channel_name: Some("inc-12-checkout-errors-above-5".into()),
            ..IncidentRecord::default()
        }
    }

    #[test]
    fn channel_names_are_slugs_within_slacks_limit() {
        assert_eq!(channel_name(12, "Checkout errors above 5 %!", 1), "inc-12-checkout-errors-above-5");
        assert_eq!(channel_name(12, "Checkout", 2), "inc-12-checkout-2");
        assert_eq!(channel_name(3, "ÉTÉ — ???", 1), "inc-3-t");
        assert_eq!(channel_name(4, "!!!", 1), "inc-4");
        // Titles are kept as typed (the command's `&amp;` read back): no entity in the slug.
        assert_eq!(channel_name(4, "Checkout & payment gateway <card>", 1), "inc-4-checkout-payment-gateway-card");
        let long = channel_name(123_456, &"word ".repeat(40), 3);
        assert!(long.len() <= 80 && long.ends_with("-3") && !long.contains("--"), "{long}");
    }

    #[test]
    fn a_title_with_mrkdwn_characters_is_escaped_where_slack_reads_mrkdwn_and_raw_elsewhere() {
        let mut r = record();
        r.title = "Checkout & payment <card>".into();
        assert!(topic(&r).ends_with("| Checkout &amp; payment &lt;card&gt;"), "{}", topic(&r));
        let text = format!("{:?}", card(&r, r.declared_at, true).blocks);
        assert!(text.contains("Checkout & payment <card>"), "the header is plain text: {text}");
        assert!(!text.contains("&amp;amp;"), "{text}");
        assert!(postmortem(&r, &[], &[], &BTreeMap::new()).starts_with("# INC-12: Checkout & payment <card>\n"));
    }

    #[test]
    fn a_private_incidents_announcement_says_only_its_number_severity_and_state() {
        let mut r = record();
        r.private = true;
        r.followups = vec!["Rotate the key".into()];
        let text = announcement(&r, r.declared_at + 60).to_json().to_string();
        assert!(text.contains("INC-12") && text.contains("SEV2") && text.contains("private incident"), "{text}");
        for secret in ["Checkout", "U0ALICE", "U0BOB", "C0INC", "Rotate"] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
        r.resolved = true;
        r.resolved_at = Some(r.declared_at + 600);
        assert!(announcement(&r, r.declared_at + 700).to_json().to_string().contains("resolved"));
        // Its card, inside its channel, has everything; a public announcement is the card.
        assert!(format!("{:?}", card(&r, r.declared_at, false).blocks).contains("Rotate the key"));
        r.private = false;
        assert_eq!(announcement(&r, 1).to_json(), card(&r, 1, true).to_json());
    }

    #[test]
    fn follow_ups_are_on_the_card_and_in_the_postmortem_with_their_issues() {
        let mut r = record();
        r.followups = (1..=7).map(|n| format!("Action {n}")).collect();
        let text = format!("{:?}", card(&r, r.declared_at, false).blocks);
        assert!(text.contains("*Follow-ups* (7)") && text.contains("Action 5") && !text.contains("Action 6"), "{text}");
        assert!(text.contains("… and 2 more"), "{text}");
        let followups = vec![
            FollowUp {
                id: "a".into(),
                at_ms: r.declared_at * 1000,
                author: "U0ALICE".into(),
                text: "Alarm on age".into(),
                issue: Some("https://github.com/acme/ops/issues/7".into()),
                error: None,
            },
            FollowUp {
                id: "b".into(),
                author: "U0BOB".into(),
                text: "Load test".into(),
                error: Some("422".into()),
                ..FollowUp::default()
            },
        ];
        let names = BTreeMap::from([("U0ALICE".to_owned(), "Alice".to_owned())]);
        let md = postmortem(&r, &[], &followups, &names);
        assert!(
            md.contains(
                "- [x] Alarm on age (Alice, 2025-11-26 09:40 UTC) ([issue](https://github.com/acme/ops/issues/7))"
            ),
            "{md}"
        );
        assert!(
            md.contains("- [ ] Load test (@U0BOB, 1970-01-01 00:00 UTC) (not filed: the tracker refused it)"),
            "{md}"
        );
        let listed = followups_text(&r, &followups);
        assert!(
            listed.contains("<https://github.com/acme/ops/issues/7|issue>") && listed.contains("❌ not filed: 422"),
            "{listed}"
        );
        // Many long ones: whole lines within one section's 3,000 characters.
        let many: Vec<FollowUp> =
            (0..40).map(|n| FollowUp { id: n.to_string(), text: "x".repeat(290), ..FollowUp::default() }).collect();
        let listed = followups_text(&r, &many);
        assert!(listed.len() <= 3000 && listed.contains("more"), "{}", listed.len());
    }

    #[test]
    fn the_card_turns_green_with_the_duration_once_resolved() {
        let mut r = record();
        let open = card(&r, r.declared_at + 600, true);
        assert_eq!(open.color.as_deref(), Some("#F2A33A"));
        let text = format!("{:?}", open.blocks);
        assert!(text.contains("10 min so far") && text.contains("<#C0INC>"), "{text}");
        r.resolved = true;
        r.resolved_at = Some(r.declared_at + 4_500);
        let done = card(&r, r.declared_at + 9_999, false);
        assert_eq!(done.color.as_deref(), Some("#2EB67D"));
        let text = format!("{:?}", done.blocks);
        assert!(text.contains("after 1 h 15 min") && !text.contains("<#C0INC>"), "{text}");
    }

    #[test]
    fn the_postmortem_has_every_section_and_the_timeline_in_order() {
        let mut r = record();
        r.resolved = true;
        r.resolved_at = Some(r.declared_at + 3_600);
        r.summary = Some("Rolled back <https://ci.example/p/1|release 42>".into());
        r.alerts = vec!["<https://acme.slack.com/archives/C0ALERTS/p1|checkout-5xx>".into()];
        let entries = vec![
            TimelineEntry {
                id: "declared".into(),
                at_ms: r.declared_at * 1000,
                author: "U0BOB".into(),
                kind: "declared".into(),
                text: "declared SEV2".into(),
                link: None,
            },
            TimelineEntry {
                id: "pin#1".into(),
                at_ms: r.declared_at * 1000 + 60_000,
                author: "U0CAROL".into(),
                kind: "pin".into(),
                text: "error rate | 7 %".into(),
                link: Some("https://acme.slack.com/archives/C0INC/p2".into()),
            },
        ];
        let md = postmortem(&r, &entries, &[], &BTreeMap::new());
        for section in [
            "# INC-12: Checkout errors above 5 %",
            "| Severity | SEV2 |",
            "| Lead | @U0ALICE |",
            "| Start | 2025-11-26 09:40 UTC |",
            "| Resolved | 2025-11-26 10:40 UTC |",
            "| Duration | 1 h |",
            "## Summary\n\nRolled back [release 42](https://ci.example/p/1)",
            "- [checkout-5xx](https://acme.slack.com/archives/C0ALERTS/p1)",
            "| 2025-11-26 09:41 UTC | @U0CAROL | error rate \\| 7 % ([message](https://acme.slack.com/archives/C0INC/p2)) |",
            "## Participants\n\n- @U0BOB\n- @U0ALICE\n- @U0CAROL\n",
            "## Impact",
            "## Root cause",
            "## Actions",
        ] {
            assert!(md.contains(section), "missing {section:?} in\n{md}");
        }
        assert!(md.find("declared SEV2") < md.find("error rate"), "{md}");
    }

    #[test]
    fn roles_are_on_the_card_the_topic_and_the_postmortem_and_people_by_their_names() {
        let mut r = record();
        r.comms = Some("U0DAN".into());
        r.scribe = Some("U0EVE".into());
        let text = format!("{:?}", card(&r, r.declared_at + 60, true).blocks);
        assert!(text.contains("*Comms*\\n<@U0DAN>") && text.contains("*Scribe*\\n<@U0EVE>"), "{text}");
        assert!(topic(&r).contains("lead <@U0ALICE> · comms <@U0DAN> · scribe <@U0EVE>"), "{}", topic(&r));
        // A long title: the topic keeps the lead and the title's start within Slack's 250.
        r.title = "t".repeat(240);
        assert!(topic(&r).chars().count() <= 250 && topic(&r).contains("lead <@U0ALICE>"), "{}", topic(&r));
        r.title = "Checkout errors".into();
        r.resolved = true;
        r.resolved_at = Some(r.declared_at + 600);
        let entries = vec![TimelineEntry {
            id: "role#1".into(),
            at_ms: r.declared_at * 1000 + 60_000,
            author: "U0ALICE".into(),
            kind: "role".into(),
            text: "comms → <@U0DAN>".into(),
            link: None,
        }];
        let names = BTreeMap::from([
            ("U0ALICE".to_owned(), "Alice Liddell".to_owned()),
            ("U0DAN".to_owned(), "Dan".to_owned()),
        ]);
        let md = postmortem(&r, &entries, &[], &names);
        for part in [
            "| Lead | Alice Liddell |",
            "| Comms | Dan |",
            "| Scribe | @U0EVE |",
            "| Alice Liddell | comms → Dan |",
            "- Alice Liddell (@U0ALICE)",
            "- Dan (@U0DAN)",
            "- @U0EVE",
        ] {
            assert!(md.contains(part), "missing {part:?} in\n{md}");
        }
        assert_eq!(mentioned("<@U0A> and <@W0B|bob>, not <@x>"), ["U0A", "W0B"]);
        // The times that matter, from the alert's firing; none for an incident declared by command.
        let mut r = record();
        assert_eq!(response_times(&r), None);
        r.alert_fired_at = Some(r.declared_at - 600);
        r.alert_acked_at = Some(r.declared_at - 420);
        r.resolved_at = Some(r.declared_at + 3000);
        assert_eq!(
            response_times(&r).unwrap(),
            ["acknowledged after 3 min", "declared after 10 min", "resolved after 1 h"]
        );
    }
}
