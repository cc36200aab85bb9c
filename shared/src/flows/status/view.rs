//! What `/status` and the App Home show, from what the open index holds: pure functions of the items, the
//! filter and the clock, so every limit is tested without Slack. Slack's limits hold whatever the number of
//! items: each kind shows at most a few lines and says how many more there are, lines are cut at a few
//! hundred characters, and section texts are packed under Slack's 3,000.

use std::time::Duration;

use super::filter::Filter;
use crate::notify::{account_label, duration_text, slack_date_at};
use crate::slack::{Block, escape};
use crate::state::{
    DigestMeta, IncidentRecord, OpenAlert, OpenDeploy, OpenItem, OpenItems, RequestStatus, StoredRequest,
};

/// Lines of one kind shown at most; beyond, "… and N more".
pub const MAX_LINES: usize = 12;
/// Characters of one line at most.
const MAX_LINE_CHARS: usize = 450;
/// A section's text at most (Slack's limit is 3,000).
const MAX_SECTION: usize = 2900;
/// A storm digest with no new alarm for this long is over, whatever its holder said.
const STORM_STALE_S: i64 = 3600;

/// How a message is linked: Slack's permalinks are `https://<workspace>.slack.com/archives/<channel>/p<ts>`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Links {
    /// `https://acme.slack.com/` (from the slash command's `team_domain`, or `auth.test`).
    pub base: Option<String>,
}

impl Links {
    pub fn from_domain(domain: &str) -> Self {
        let ok = !domain.is_empty() && domain.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        Self { base: ok.then(|| format!("https://{domain}.slack.com/")) }
    }

    /// The permalink of message `ts` in `channel`.
    pub fn message(&self, channel: &str, ts: &str) -> Option<String> {
        let base = self.base.as_ref()?;
        let safe = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.');
        (safe(channel) && safe(ts)).then(|| format!("{base}archives/{channel}/p{}", ts.replace('.', "")))
    }

    /// `text` linked to message `ts` of `channel` when there is a link, else `text` and the channel.
    fn to(&self, channel: &str, ts: &str, text: &str) -> String {
        match self.message(channel, ts) {
            Some(url) => format!("<{url}|{}>", text.replace('|', "¦")),
            None => format!("{text} in <#{}>", escape(channel)),
        }
    }
}

/// A link in mrkdwn, when `url` is one Slack can show safely.
fn link(url: &str, text: &str) -> String {
    if url.starts_with("https://") && !url.contains(['<', '>', '|', ' ']) {
        format!("<{url}|{}>", text.replace('|', "¦"))
    } else {
        text.to_owned()
    }
}

fn ago(now_s: i64, then_s: i64) -> String {
    duration_text(Duration::from_secs((now_s - then_s).max(0) as u64))
}

/// One kind of the overview: its first [`MAX_LINES`] lines, most urgent first (only those are written), and
/// how many there are.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Kind {
    pub lines: Vec<String>,
    pub total: usize,
}

impl Kind {
    fn of<T>(items: &[T], line: impl Fn(&T) -> String) -> Self {
        Self { lines: items.iter().take(MAX_LINES).map(line).collect(), total: items.len() }
    }

    pub fn is_empty(&self) -> bool {
        self.total == 0
    }
}

/// The overview's parts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Overview {
    pub firing: Kind,
    pub acknowledged: usize,
    pub storms: Kind,
    pub incidents: Kind,
    pub approvals: Kind,
    pub deploys: Kind,
    pub ready: Kind,
    pub quiet: Kind,
    /// The index had more than it could read.
    pub truncated: bool,
}

impl Overview {
    pub fn is_clear(&self) -> bool {
        self.firing.is_empty()
            && self.storms.is_empty()
            && self.incidents.is_empty()
            && self.approvals.is_empty()
            && self.deploys.is_empty()
            && self.ready.is_empty()
            && self.quiet.is_empty()
    }

    /// One line of counts: `3 firing (1 acknowledged) · 2 incidents · …`.
    pub fn summary(&self) -> String {
        let mut parts = Vec::new();
        if !self.firing.is_empty() {
            parts.push(match self.acknowledged {
                0 => format!("{} firing", self.firing.total),
                n => format!("{} firing ({n} acknowledged)", self.firing.total),
            });
        }
        let mut count = |n: usize, one: &str, many: &str| {
            if n > 0 {
                parts.push(format!("{n} {}", if n == 1 { one } else { many }));
            }
        };
        count(self.storms.total, "alarm storm", "alarm storms");
        count(self.incidents.total, "open incident", "open incidents");
        count(self.approvals.total, "approval waiting", "approvals waiting");
        count(self.deploys.total, "deploy in progress", "deploys in progress");
        count(self.ready.total, "deployment waiting at READY", "deployments waiting at READY");
        count(self.quiet.total, "muted or silenced", "muted or silenced");
        if parts.is_empty() {
            return "✅ All clear: nothing firing, no open incident, nothing waiting.".to_owned();
        }
        parts.join(" · ")
    }

    /// The overview as blocks: a section per kind that has something, each within Slack's limits.
    pub fn blocks(&self, hint: &str) -> Vec<Block> {
        let mut blocks = Vec::new();
        for (title, lines) in [
            ("🔴 *Firing*", &self.firing),
            ("🌩 *Alarm storms*", &self.storms),
            ("🚨 *Open incidents*", &self.incidents),
            ("🔐 *Approvals waiting*", &self.approvals),
            ("🚀 *Deploys in progress*", &self.deploys),
            ("🚦 *Deployments waiting to switch traffic*", &self.ready),
            ("🔕 *Muted or silenced*", &self.quiet),
        ] {
            blocks.extend(section(title, &lines.lines, lines.total, hint));
        }
        if self.truncated {
            blocks.push(Block::Context(vec![
                "⚠️ More is open than one answer reads: narrow it with a filter (`/status payments`).".to_owned(),
            ]));
        }
        blocks
    }
}

/// A kind's title and lines (of `total`) as section blocks: at most [`MAX_LINES`] lines, then how many more.
pub fn section(title: &str, lines: &[String], total: usize, hint: &str) -> Vec<Block> {
    section_of(title, lines, total, hint, (MAX_LINES, MAX_LINE_CHARS))
}

/// Every line whole (help: each action the policy names, however many rules), packed into as many
/// sections as they need.
pub fn section_all(title: &str, lines: &[String]) -> Vec<Block> {
    section_of(title, lines, lines.len(), "", (usize::MAX, MAX_SECTION - 100))
}

fn section_of(
    title: &str,
    lines: &[String],
    total: usize,
    hint: &str,
    (max_lines, max_chars): (usize, usize),
) -> Vec<Block> {
    if total == 0 || lines.is_empty() {
        return Vec::new();
    }
    let mut shown: Vec<String> =
        lines.iter().take(max_lines).map(|l| crate::text::truncate(l, max_chars).into_owned()).collect();
    if total > shown.len() {
        shown.push(format!("_… and {} more{hint}_", total - shown.len()));
    }
    let mut blocks = Vec::new();
    let mut text = format!("{title} ({total})");
    for line in shown {
        if text.chars().count() + 1 + line.chars().count() > MAX_SECTION {
            blocks.push(Block::section(std::mem::take(&mut text)));
        }
        if !text.is_empty() {
            text.push('\n');
        }
        text.push_str(&line);
    }
    blocks.push(Block::section(text));
    blocks
}

/// What `/status` lists, from the index, narrowed by `filter`; `viewer` is who asks (their own items first
/// in the App Home).
pub fn overview(open: &OpenItems, filter: &Filter, now_s: i64, links: &Links) -> Overview {
    let mut out = Overview { truncated: open.truncated, ..Overview::default() };
    let mut firing: Vec<&OpenAlert> = Vec::new();
    let mut quiet: Vec<&OpenAlert> = Vec::new();
    let mut ready: Vec<&OpenAlert> = Vec::new();
    let mut incidents: Vec<&IncidentRecord> = Vec::new();
    let mut approvals: Vec<(&str, &StoredRequest, serde_json::Value)> = Vec::new();
    let mut deploys: Vec<&OpenDeploy> = Vec::new();
    let mut storms: Vec<&DigestMeta> = Vec::new();
    for item in open.items.iter().filter(|i| filter.item(i)) {
        match item {
            OpenItem::Alert(a) => {
                if a.pages() {
                    firing.push(a);
                } else if a.waits() {
                    ready.push(a);
                }
                if a.quiet(now_s) {
                    quiet.push(a);
                }
            }
            OpenItem::Incident(i) if !i.resolved => incidents.push(i),
            OpenItem::Approval(id, r) if r.status == Some(RequestStatus::Open) && r.open_until > now_s => {
                approvals.push((id, r, serde_json::from_str(&r.body).unwrap_or_default()));
            }
            OpenItem::Deploy(d) => deploys.push(d),
            OpenItem::Storm(s) if s.over_ms.is_none() && s.last_entry_ms / 1000 + STORM_STALE_S > now_s => {
                storms.push(s)
            }
            _ => {}
        }
    }
    firing.sort_by(|a, b| {
        (a.acknowledged.is_some(), a.since_ms.unwrap_or(i64::MAX), &a.title).cmp(&(
            b.acknowledged.is_some(),
            b.since_ms.unwrap_or(i64::MAX),
            &b.title,
        ))
    });
    out.acknowledged = firing.iter().filter(|a| a.acknowledged.is_some()).count();
    out.firing = Kind::of(&firing, |a| alert_line(a, now_s, links));
    storms.sort_by_key(|s| s.started_ms);
    out.storms = Kind::of(&storms, |s| storm_line(s, now_s, links));
    incidents.sort_by_key(|i| (i.severity, i.declared_at));
    out.incidents = Kind::of(&incidents, |i| incident_line(i, now_s, links));
    approvals.sort_by_key(|(_, r, _)| r.open_until);
    out.approvals = Kind::of(&approvals, |(id, r, body)| approval_line(id, r, body, now_s, links));
    deploys.sort_by_key(|d| d.started_at.unwrap_or(0));
    out.deploys = Kind::of(&deploys, |d| deploy_line(d, now_s, links));
    ready.sort_by_key(|a| a.changed_at_ms.unwrap_or(0));
    out.ready = Kind::of(&ready, |a| ready_line(a, now_s, links));
    quiet.sort_by_key(|a| quiet_until(a));
    out.quiet = Kind::of(&quiet, |a| quiet_line(a, links));
    out
}

fn quiet_until(a: &OpenAlert) -> i64 {
    a.muted.as_ref().map(|m| m.until).or(a.silenced.as_ref().map(|s| s.until)).unwrap_or(0)
}

/// An alert's name, linked to its message.
fn alert_name(a: &OpenAlert, links: &Links) -> String {
    let name = format!("*{}*", escape(&a.title));
    match &a.thread {
        Some(t) => links.to(&t.channel, &t.ts, &name),
        None => name,
    }
}

/// `INC-12` from the incident line on an alert (`🚨 *INC-12* declared by …`).
pub fn incident_name(line: &str) -> Option<&str> {
    let start = line.find("INC-")?;
    let rest = &line[start..];
    let end = 4 + rest[4..].find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len() - 4);
    (end > 4).then(|| &rest[..end])
}

pub fn alert_line(a: &OpenAlert, now_s: i64, links: &Links) -> String {
    let mut parts = vec![format!("🔴 {}", alert_name(a, links))];
    if let Some(since) = a.since_ms {
        parts.push(format!("since {} ({})", slack_date_at(since / 1000), ago(now_s, since / 1000)));
    }
    if let Some(account) = &a.account {
        parts.push(escape(&account_label(account, a.account_name.as_deref())));
    }
    if let Some(team) = &a.team {
        parts.push(format!("team {}", escape(team)));
    }
    match &a.acknowledged {
        Some((by, at)) => parts.push(format!("👀 <@{}> {} ago", escape(by), ago(now_s, *at))),
        None => parts.push("*not acknowledged*".to_owned()),
    }
    if let Some(m) = a.muted.as_ref().filter(|m| m.until > now_s) {
        parts.push(format!("🔕 until {}", if m.until_ok { "OK".to_owned() } else { slack_date_at(m.until) }));
    }
    if let Some(s) = a.silenced.as_ref().filter(|s| s.until > now_s) {
        parts.push(format!("🔇 until {}", slack_date_at(s.until)));
    }
    if let Some(inc) = a.incident.as_deref().and_then(incident_name) {
        parts.push(format!("🚨 {inc}"));
    }
    parts.join(" · ")
}

fn storm_line(s: &DigestMeta, now_s: i64, links: &Links) -> String {
    let digest = match s.pages.first() {
        Some(ts) => links.to(&s.channel, ts, "the digest"),
        None => format!("the digest in <#{}>", escape(&s.channel)),
    };
    format!(
        "🌩 <#{}> since {} · {} alarm notifications, the last {} ago · {digest}",
        escape(&s.channel),
        slack_date_at(s.started_ms / 1000),
        s.version,
        ago(now_s, s.last_entry_ms / 1000)
    )
}

fn incident_line(i: &IncidentRecord, now_s: i64, _links: &Links) -> String {
    let mut parts = vec![format!("🚨 *{}* {} · {}", i.name(), sev(i.severity), escape(&i.title))];
    if !i.lead.is_empty() {
        parts.push(format!("lead <@{}>", escape(&i.lead)));
    }
    if let Some(channel) = &i.channel_id {
        parts.push(format!("<#{}>", escape(channel)));
    }
    parts.push(match i.update_at {
        Some(at) => format!("last update {} ago", ago(now_s, at)),
        None => format!("no update since it was declared {} ago", ago(now_s, i.declared_at)),
    });
    parts.join(" · ")
}

fn sev(severity: i64) -> String {
    format!("SEV{severity}")
}

fn approval_line(id: &str, r: &StoredRequest, body: &serde_json::Value, now_s: i64, links: &Links) -> String {
    let text = |p: &str| body.pointer(p).and_then(|v| v.as_str()).unwrap_or_default();
    // The summary is the request's own mrkdwn (escaped when it was written).
    let mut what = format!("🔐 *{}* {}", escape(id), crate::text::truncate(text("/proposal/summary"), 200));
    if let Some((channel, ts)) = &r.message {
        what = format!("{what} ({})", links.to(channel, ts, "request"));
    }
    let mut parts = vec![what];
    let requester = text("/requester/user_id");
    if !requester.is_empty() {
        parts.push(format!("asked by <@{}>", escape(requester)));
    }
    let count = body["count"].as_u64().unwrap_or(1);
    let approvers = text("/approvers");
    parts.push(format!("{} of {count} approvals from {approvers}", r.approved_by.len()));
    parts.push(format!("expires in {}", ago(r.open_until, now_s)));
    parts.join(" · ")
}

fn deploy_line(d: &OpenDeploy, now_s: i64, links: &Links) -> String {
    let r = &d.record;
    let mut parts = vec![format!("🚀 *{}*", escape(&r.project))];
    if !r.requested_by.is_empty() {
        parts.push(format!("by <@{}>", escape(&r.requested_by)));
    }
    if let Some(at) = d.started_at {
        parts.push(format!("started {} ago", ago(now_s, at)));
    }
    if r.status == "unknown" {
        parts.push("the CI server did not say whether it started".to_owned());
    }
    if !r.pipeline_url.is_empty() {
        parts.push(link(&r.pipeline_url, "pipeline"));
    }
    parts.push(links.to(&r.channel, &r.thread_ts, "thread"));
    parts.join(" · ")
}

fn ready_line(a: &OpenAlert, now_s: i64, links: &Links) -> String {
    let mut line = format!("🚦 {}", alert_name(a, links));
    if let Some(at) = a.changed_at_ms {
        line.push_str(&format!(" · waiting since {} ({})", slack_date_at(at / 1000), ago(now_s, at / 1000)));
    }
    line
}

fn quiet_line(a: &OpenAlert, links: &Links) -> String {
    let name = alert_name(a, links);
    if let Some(m) = &a.muted {
        let until = if m.until_ok {
            format!("it is OK (at the latest {})", slack_date_at(m.until))
        } else {
            slack_date_at(m.until)
        };
        return format!("🔕 {name} · muted by <@{}> until {until}", escape(&m.by));
    }
    match &a.silenced {
        Some(s) => format!("🔇 {name} · silenced by <@{}> until {}", escape(&s.by), slack_date_at(s.until)),
        None => format!("🔕 {name}"),
    }
}

/// `/status <alarm>`: one alert in detail: its state, what was done on it, its graph, its thread's
/// history (the notifier's replies) and what changed before it.
pub fn detail(
    a: &OpenAlert,
    history: Result<Vec<String>, String>,
    changes: Option<String>,
    now_s: i64,
    links: &Links,
) -> Vec<Block> {
    let mut blocks = vec![Block::Header(format!("{} {}", emoji(a), a.title))];
    let mut facts = vec![format!("*State:* {}", escape(&a.state))];
    if let Some(since) = a.since_ms {
        facts.push(format!("*Since:* {} ({})", slack_date_at(since / 1000), ago(now_s, since / 1000)));
    }
    if let Some(account) = &a.account {
        facts.push(format!("*Account:* {}", escape(&account_label(account, a.account_name.as_deref()))));
    }
    if let Some(region) = &a.region {
        facts.push(format!("*Region:* {}", escape(region)));
    }
    if let Some(t) = &a.thread {
        facts.push(format!("*Message:* {}", links.to(&t.channel, &t.ts, "open")));
    }
    if let Some(url) = &a.url {
        facts.push(format!("*Console:* {}", link(url, "open")));
    }
    blocks.push(Block::Fields(facts));
    let mut done = Vec::new();
    if let Some((by, at)) = &a.acknowledged {
        done.push(crate::notify::acknowledged_line(by, *at));
    }
    if a.quiet(now_s) {
        done.push(quiet_line(a, links));
    }
    if let Some(line) = &a.incident {
        done.push(line.clone());
    }
    if !done.is_empty() {
        blocks.push(Block::section(done.join("\n")));
    }
    if let Some(file) = &a.graph_file {
        blocks.push(Block::Image {
            file_id: file.clone(),
            alt_text: format!("Graph of {} around its last state change", a.title),
            title: None,
            block_id: Some("status-graph".to_owned()),
        });
    }
    match history {
        Ok(lines) if !lines.is_empty() => {
            blocks.extend(section("🧵 *History* (its thread, newest last)", &lines, lines.len(), ""));
        }
        Ok(_) => {}
        Err(why) => blocks.push(Block::Context(vec![format!("History not read: {}", escape(&why))])),
    }
    if let Some(line) = changes {
        blocks.push(Block::section(line));
    }
    blocks
}

fn emoji(a: &OpenAlert) -> &'static str {
    if a.pages() {
        "🔴"
    } else if a.waits() {
        "🚦"
    } else if a.muted.is_some() {
        "🔕"
    } else if a.silenced.is_some() {
        "🔇"
    } else {
        "✅"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{Mute, Thread};

    fn firing(n: usize, acked: bool) -> OpenItem {
        OpenItem::Alert(Box::new(OpenAlert {
            key: format!("alarm:{n}"),
            kind: "alarm".into(),
            title: format!("alarm-{n:04}-{}", "x".repeat(200)),
            state: "ALARM".into(),
            thread: Some(Thread { channel: "C0ALERTS".into(), ts: format!("1700000000.{n:06}") }),
            account: Some("123456789012".into()),
            account_name: Some("prod".into()),
            since_ms: Some(1_700_000_000_000 + n as i64 * 1000),
            acknowledged: acked.then(|| ("U0BOB".to_owned(), 1_700_000_100)),
            ..OpenAlert::default()
        }))
    }

    #[test]
    fn five_hundred_alerts_fit_in_a_few_sections_with_how_many_more() {
        let open = OpenItems { items: (0..500).map(|n| firing(n, n % 7 == 0)).collect(), truncated: false };
        let links = Links::from_domain("acme");
        let view = overview(&open, &Filter::default(), 1_700_001_000, &links);
        assert_eq!((view.firing.total, view.firing.lines.len()), (500, MAX_LINES), "only the lines shown are written");
        assert_eq!(view.acknowledged, 72);
        // Unacknowledged first, the oldest first among them.
        assert!(view.firing.lines[0].contains("alarm-0001"), "{}", view.firing.lines[0]);
        assert!(view.firing.lines[0].contains("<https://acme.slack.com/archives/C0ALERTS/p1700000000000001|"));
        let blocks = view.blocks(" (narrow it)");
        assert!(blocks.len() <= 4, "{} blocks", blocks.len());
        let text: String = blocks
            .iter()
            .map(|b| match b {
                Block::Section { text, .. } => {
                    assert!(text.chars().count() <= 3000, "{} characters", text.chars().count());
                    text.clone()
                }
                _ => String::new(),
            })
            .collect();
        assert!(text.contains(&format!("… and {} more (narrow it)", 500 - MAX_LINES)), "{text}");
        assert_eq!(view.summary(), "500 firing (72 acknowledged)");
    }

    #[test]
    fn an_all_clear_is_one_line_and_expired_mutes_are_not_quiet() {
        let mut muted = firing(1, false);
        if let OpenItem::Alert(a) = &mut muted {
            a.since_ms = None;
            a.state = "OK".into();
            a.muted = Some(Mute { by: "U0AL".into(), until: 100, until_ok: false });
        }
        let view =
            overview(&OpenItems { items: vec![muted], truncated: false }, &Filter::default(), 200, &Links::default());
        assert!(view.is_clear());
        assert_eq!(view.summary(), "✅ All clear: nothing firing, no open incident, nothing waiting.");
        assert!(view.blocks("").is_empty());
    }

    #[test]
    fn help_lines_are_all_shown_whole_however_many() {
        let lines: Vec<String> =
            (0..20).map(|n| format!("• `action-{n}` {}", "on `x`: ✅ yes; otherwise ".repeat(30))).collect();
        let blocks = section_all("🔑 *What you may do*", &lines);
        let texts: Vec<&String> = blocks
            .iter()
            .map(|b| match b {
                Block::Section { text, .. } => text,
                other => panic!("{other:?}"),
            })
            .collect();
        assert!(texts.len() >= 3 && texts.iter().all(|t| t.chars().count() <= 3000), "{}", texts.len());
        let all: String = texts.iter().map(|t| t.as_str()).collect();
        assert!(lines.iter().all(|l| all.contains(l.as_str())), "every line, whole");
        assert!(!all.contains("more"));
    }

    #[test]
    fn links_are_permalinks_only_from_safe_parts() {
        let links = Links::from_domain("acme-corp");
        assert_eq!(
            links.message("C0ABC", "1700000000.000100").as_deref(),
            Some("https://acme-corp.slack.com/archives/C0ABC/p1700000000000100")
        );
        assert_eq!(Links::from_domain("evil.com/x").base, None);
        assert_eq!(links.message("C0ABC|x", "1.2"), None);
        assert_eq!(Links::default().to("C0ABC", "1.2", "*x*"), "*x* in <#C0ABC>");
        assert_eq!(incident_name("🚨 *INC-12* declared by <@U1>"), Some("INC-12"));
        assert_eq!(incident_name("INC-"), None);
    }
}
