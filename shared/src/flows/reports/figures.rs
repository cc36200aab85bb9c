//! The operations report's figures, from a period's history (state/history.rs), and how they read in Slack.
//!
//! Definitions (docs/report.md says the same):
//! - a **page** is an alert episode (ALARM or firing, to OK or resolved) that ended in the period;
//! - **MTTA**: from the start of a page to its acknowledgement, over the acknowledged ones; **MTTR**: from
//!   its start to its end; median and p90 by nearest rank (the value below which at least that share lies);
//! - **flapping**: an alarm with 3 or more pages starting within one hour;
//! - **resolved by itself**: a page shorter than 5 minutes that nobody acknowledged, muted or declared an
//!   incident from;
//! - **change failure rate**: of the deploys with a result, those that failed, or succeeded and were followed
//!   within an hour by an incident's declaration or a CodeDeploy rollback or stop;
//! - **lead time**: from a deploy's request to its result (the latest request of the same project before it);
//! - **approval wait**: from a request for approval to its approval or denial (expired ones are counted apart).

use std::collections::BTreeMap;

use crate::slack::{Block, Message, escape};
use crate::state::{Change, Episode, History, IncidentSummary};

/// How many lines each top list shows before "and N more".
pub const TOP: usize = 5;
const FLAP_WINDOW_MS: i64 = 3_600_000;
const FLAP_PAGES: usize = 3;
const SELF_RESOLVED_MS: i64 = 5 * 60_000;
const FOLLOWED_WITHIN_MS: i64 = 3_600_000;

/// Median and p90, in seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Spread {
    pub median: i64,
    pub p90: i64,
}

impl Spread {
    /// By nearest rank; `None` for no values.
    pub fn of(mut values: Vec<i64>) -> Option<Self> {
        if values.is_empty() {
            return None;
        }
        values.sort_unstable();
        let rank = |q: f64| {
            let index = ((q * values.len() as f64).ceil() as usize).clamp(1, values.len()) - 1;
            values[index]
        };
        Some(Self { median: rank(0.5), p90: rank(0.9) })
    }
}

/// One alarm's pages in the period: their starts, its link and title, and how many resolved by themselves.
struct AlarmPages<'a> {
    starts: Vec<i64>,
    url: Option<&'a str>,
    title: &'a str,
    quick: usize,
}

/// One alarm in a top list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ranked {
    pub title: String,
    pub count: usize,
    pub url: Option<String>,
}

/// A period's figures.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Figures {
    pub pages: usize,
    pub acknowledged: usize,
    pub mtta: Option<Spread>,
    pub mttr: Option<Spread>,
    /// Pages per day of the period, oldest first.
    pub per_day: Vec<usize>,
    /// Alarms by pages, most first (all of them; the message shows [`TOP`]).
    pub noisiest: Vec<Ranked>,
    /// Alarms that flapped: the most pages within one hour.
    pub flapping: Vec<Ranked>,
    /// Alarms whose pages resolved by themselves within minutes, untouched: how many such pages.
    pub self_resolving: Vec<Ranked>,
    /// Alerts in ALARM for more than a day now (from the open items).
    pub long_firing: Vec<Ranked>,
    /// Incidents resolved, by severity (SEV1..SEV4), private ones included (counted only).
    pub incidents: [usize; 4],
    pub time_to_resolve: Option<Spread>,
    pub followups: i64,
    /// Deploys with a result; those that failed; those followed by an incident or a rollback within an hour.
    pub deploys: usize,
    pub deploys_failed: usize,
    pub deploys_followed: usize,
    pub lead_time: Option<Spread>,
    /// Approval requests decided (or expired) in the period: approved, denied, expired, and the wait for
    /// a decision (request to approval or denial).
    pub approvals: [usize; 3],
    pub approval_wait: Option<Spread>,
}

impl Figures {
    /// The figures of `history` for the period `[from_ms, to_ms)`, of `team`'s pages only when given (the
    /// incidents and deploys are everyone's). `long_firing`: alerts firing for over a day now (title, url).
    pub fn compute(
        history: &History,
        (from_ms, to_ms): (i64, i64),
        team: Option<&str>,
        long_firing: Vec<(String, Option<String>)>,
    ) -> Self {
        let in_period = |at: i64| (from_ms..to_ms).contains(&at);
        let episodes: Vec<&Episode> = history
            .episodes
            .iter()
            .filter(|e| in_period(e.resolved_ms))
            .filter(|e| team.is_none_or(|t| e.team.as_deref().is_some_and(|et| et.eq_ignore_ascii_case(t))))
            .collect();
        let mut out = Self { pages: episodes.len(), ..Self::default() };
        out.acknowledged = episodes.iter().filter(|e| e.acked.is_some()).count();
        out.mtta = Spread::of(
            episodes
                .iter()
                .filter_map(|e| e.acked.as_ref().map(|(_, at)| (at * 1000 - e.started_ms).max(0) / 1000))
                .collect(),
        );
        out.mttr = Spread::of(episodes.iter().map(|e| (e.resolved_ms - e.started_ms).max(0) / 1000).collect());
        let days = ((to_ms - from_ms).max(0) as usize).div_ceil(86_400_000).max(1);
        out.per_day = vec![0; days];
        for e in &episodes {
            let day = ((e.resolved_ms - from_ms) / 86_400_000) as usize;
            if let Some(slot) = out.per_day.get_mut(day) {
                *slot += 1;
            }
        }
        // Per alarm: its pages' starts, for the top list and flapping.
        let mut by_alarm: BTreeMap<&str, AlarmPages<'_>> = BTreeMap::new();
        for e in &episodes {
            let entry = by_alarm.entry(e.key.as_str()).or_insert(AlarmPages {
                starts: Vec::new(),
                url: e.url.as_deref(),
                title: &e.title,
                quick: 0,
            });
            entry.starts.push(e.started_ms);
            let untouched = e.acked.is_none() && !e.muted && e.incident.is_none();
            if untouched && e.resolved_ms - e.started_ms < SELF_RESOLVED_MS {
                entry.quick += 1;
            }
        }
        let ranked = |title: &str, count: usize, url: Option<&str>| Ranked {
            title: title.to_owned(),
            count,
            url: url.map(str::to_owned),
        };
        for AlarmPages { starts, url, title, quick } in by_alarm.values() {
            out.noisiest.push(ranked(title, starts.len(), *url));
            let mut starts = starts.clone();
            starts.sort_unstable();
            let most_in_hour = (0..starts.len())
                .map(|i| starts[i..].iter().take_while(|s| **s - starts[i] < FLAP_WINDOW_MS).count())
                .max()
                .unwrap_or(0);
            if most_in_hour >= FLAP_PAGES {
                out.flapping.push(ranked(title, most_in_hour, *url));
            }
            if *quick > 0 {
                out.self_resolving.push(ranked(title, *quick, *url));
            }
        }
        for list in [&mut out.noisiest, &mut out.flapping, &mut out.self_resolving] {
            list.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.title.cmp(&b.title)));
        }
        out.long_firing = long_firing.into_iter().map(|(title, url)| Ranked { title, count: 1, url }).collect();
        // Incidents resolved in the period.
        let incidents: Vec<&IncidentSummary> =
            history.incidents.iter().filter(|i| in_period(i.resolved_at * 1000)).collect();
        for i in &incidents {
            out.incidents[(i.severity.clamp(1, 4) - 1) as usize] += 1;
        }
        out.time_to_resolve = Spread::of(incidents.iter().map(|i| (i.resolved_at - i.declared_at).max(0)).collect());
        out.followups = incidents.iter().map(|i| i.followups).sum();
        // Deploys with a result in the period.
        let changes: Vec<&Change> = history.changes.iter().collect();
        let results: Vec<&&Change> =
            changes.iter().filter(|c| c.kind == "deploy-result" && in_period(c.at_ms)).collect();
        out.deploys = results.len();
        let mut lead = Vec::new();
        for r in &results {
            let failed = r.what.ends_with("deploy failed");
            if failed {
                out.deploys_failed += 1;
            } else {
                let after = |at: i64| at >= r.at_ms && at - r.at_ms <= FOLLOWED_WITHIN_MS;
                let incident = history.incidents.iter().any(|i| after(i.declared_at * 1000));
                let rollback = changes.iter().any(|c| {
                    c.kind == "codedeploy" && after(c.at_ms) && (c.what.contains("rollback") || c.what.contains("stop"))
                });
                if incident || rollback {
                    out.deploys_followed += 1;
                }
            }
            let project = project_of(&r.what);
            let requested = changes
                .iter()
                .filter(|c| c.kind == "deploy" && c.at_ms <= r.at_ms && r.at_ms - c.at_ms <= 86_400_000)
                .filter(|c| project_of(&c.what) == project)
                .map(|c| c.at_ms)
                .max();
            if let Some(at) = requested {
                lead.push((r.at_ms - at) / 1000);
            }
        }
        out.lead_time = Spread::of(lead);
        let mut waits = Vec::new();
        for a in history.approvals.iter().filter(|a| in_period(a.decided_at * 1000)) {
            match a.outcome.as_str() {
                "approved" => out.approvals[0] += 1,
                "denied" => out.approvals[1] += 1,
                _ => out.approvals[2] += 1,
            }
            if a.outcome != "expired" {
                waits.push((a.decided_at - a.requested_at).max(0));
            }
        }
        out.approval_wait = Spread::of(waits);
        out
    }

    /// The change failure rate, in percent; `None` without deploys.
    pub fn failure_rate(&self) -> Option<f64> {
        (self.deploys > 0).then(|| 100.0 * (self.deploys_failed + self.deploys_followed) as f64 / self.deploys as f64)
    }

    /// The acknowledged share, in percent.
    pub fn acknowledged_share(&self) -> Option<f64> {
        (self.pages > 0).then(|| 100.0 * self.acknowledged as f64 / self.pages as f64)
    }

    pub fn is_empty(&self) -> bool {
        self.pages == 0
            && self.incidents.iter().sum::<usize>() == 0
            && self.deploys == 0
            && self.long_firing.is_empty()
            && self.approvals.iter().sum::<usize>() == 0
    }
}

/// `orders deployed` / `orders deploy started` / `orders deploy failed`: `orders`.
fn project_of(what: &str) -> &str {
    what.split_whitespace().next().unwrap_or_default()
}

/// `▁▃█`: one bar per value, scaled to the largest.
pub fn sparkline(values: &[usize]) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let max = values.iter().copied().max().unwrap_or(0);
    values
        .iter()
        .map(|v| if max == 0 { BARS[0] } else { BARS[(v * (BARS.len() - 1)).div_ceil(max).min(BARS.len() - 1)] })
        .collect()
}

/// `12 min`, `2 h 5 min`.
fn duration(seconds: i64) -> String {
    crate::notify::duration_text(std::time::Duration::from_secs(seconds.max(0) as u64))
}

/// `(↑ 8 from 34)`, `(↓ from 5 min)`, `(=)`; nothing without a previous figure.
fn versus<T: PartialOrd + Copy>(now: T, before: Option<T>, show: impl Fn(T) -> String) -> String {
    match before {
        None => String::new(),
        Some(b) if now > b => format!(" (↑ from {})", show(b)),
        Some(b) if now < b => format!(" (↓ from {})", show(b)),
        Some(_) => " (=)".to_owned(),
    }
}

/// `title:` then the first [`TOP`] items (`• name (3 pages)`), then `… and N more`. `unit`: (one, many), or
/// none for a list without counts.
fn list(title: &str, items: &[Ranked], unit: Option<(&str, &str)>) -> Option<String> {
    if items.is_empty() {
        return None;
    }
    let mut text = format!("{title}:");
    for r in items.iter().take(TOP) {
        let name = match &r.url {
            Some(url) => format!("<{}|{}>", url, escape(&crate::text::truncate(&r.title, 120))),
            None => escape(&crate::text::truncate(&r.title, 120)),
        };
        let count = match unit {
            Some((one, _)) if r.count == 1 => format!(" (1 {one})"),
            Some((_, many)) => format!(" ({} {many})", r.count),
            None => String::new(),
        };
        text.push_str(&format!("\n• {name}{count}"));
    }
    if items.len() > TOP {
        text.push_str(&format!("\n… and {} more", items.len() - TOP));
    }
    Some(text)
}

/// The report as a message: `title` (`all teams`, `team payments`), the period's label, its figures and the
/// previous period's for the arrows.
pub fn message(title: &str, period: &str, now: &Figures, before: &Figures) -> Message {
    let header = format!("📊 Operations report: {}", crate::text::truncate(title, 100));
    let mut message = Message::new(format!("Operations report, {title}, {period}"))
        .block(Block::Header(header))
        .block(Block::Context(vec![format!("{period} · compared with the period before")]));
    if now.is_empty() {
        let quiet = if before.is_empty() {
            "No pages, incidents or deploys in this period, nor in the one before."
        } else {
            "No pages, incidents or deploys in this period."
        };
        return message.block(Block::section(format!("✅ {quiet}")));
    }
    // Pages.
    let count = |n: usize| n.to_string();
    let mut pages = format!("🔔 *Pages*: {}{}", now.pages, versus(now.pages, Some(before.pages), count));
    if let Some(share) = now.acknowledged_share() {
        pages.push_str(&format!(
            " · acknowledged {share:.0} %{} · never acknowledged {}",
            versus(share.round(), before.acknowledged_share().map(f64::round), |v| format!("{v:.0} %")),
            now.pages - now.acknowledged
        ));
    }
    if let Some(mtta) = now.mtta {
        pages.push_str(&format!(
            "\nMTTA median {}{} · p90 {}",
            duration(mtta.median),
            versus(mtta.median, before.mtta.map(|s| s.median), duration),
            duration(mtta.p90)
        ));
    }
    if let Some(mttr) = now.mttr {
        pages.push_str(&format!(
            "\nMTTR median {}{} · p90 {}",
            duration(mttr.median),
            versus(mttr.median, before.mttr.map(|s| s.median), duration),
            duration(mttr.p90)
        ));
    }
    if now.per_day.len() > 1 {
        pages.push_str(&format!(
            "\nPer day: `{}` ({})",
            sparkline(&now.per_day),
            now.per_day.iter().map(ToString::to_string).collect::<Vec<_>>().join(" ")
        ));
    }
    message = message.block(Block::section(pages));
    // Noisy alarms.
    let noisy: Vec<String> = [
        list("Most pages", &now.noisiest, Some(("page", "pages"))),
        list("Flapping (pages within one hour)", &now.flapping, Some(("in an hour", "in an hour"))),
        list("In ALARM for more than a day", &now.long_firing, None),
        list(
            "Resolved by themselves within 5 min, untouched (tuning candidates)",
            &now.self_resolving,
            Some(("page", "pages")),
        ),
    ]
    .into_iter()
    .flatten()
    .collect();
    if !noisy.is_empty() {
        message = message.block(Block::section(format!("🔊 *Noisy alarms*\n{}", noisy.join("\n"))));
    }
    // Incidents.
    let total: usize = now.incidents.iter().sum();
    let mut incidents =
        format!("🚨 *Incidents*: {total}{}", versus(total, Some(before.incidents.iter().sum::<usize>()), count));
    if total > 0 {
        let by: Vec<String> = now
            .incidents
            .iter()
            .enumerate()
            .filter(|(_, n)| **n > 0)
            .map(|(i, n)| format!("SEV{} {n}", i + 1))
            .collect();
        incidents.push_str(&format!(" ({})", by.join(", ")));
    }
    if let Some(ttr) = now.time_to_resolve {
        incidents.push_str(&format!(" · time to resolve median {} · p90 {}", duration(ttr.median), duration(ttr.p90)));
    }
    if now.followups > 0 {
        incidents.push_str(&format!(" · {} follow-ups recorded", now.followups));
    }
    message = message.block(Block::section(incidents));
    // Deploys.
    let mut deploys = format!("🚀 *Deploys*: {}{}", now.deploys, versus(now.deploys, Some(before.deploys), count));
    if let Some(rate) = now.failure_rate() {
        deploys.push_str(&format!(
            " · change failure rate {rate:.0} %{} ({} failed, {} followed by an incident or a rollback within an hour)",
            versus(rate.round(), before.failure_rate().map(f64::round), |v| format!("{v:.0} %")),
            now.deploys_failed,
            now.deploys_followed
        ));
    }
    if let Some(lead) = now.lead_time {
        deploys.push_str(&format!(" · lead time median {} · p90 {}", duration(lead.median), duration(lead.p90)));
    }
    let asked: usize = now.approvals.iter().sum();
    if asked > 0 {
        deploys.push_str(&format!(
            "\n🔐 *Approvals*: {asked} ({} approved, {} denied, {} expired)",
            now.approvals[0], now.approvals[1], now.approvals[2]
        ));
        if let Some(wait) = now.approval_wait {
            deploys.push_str(&format!(
                " · waited median {}{} · p90 {}",
                duration(wait.median),
                versus(wait.median, before.approval_wait.map(|s| s.median), duration),
                duration(wait.p90)
            ));
        }
    }
    message.block(Block::section(deploys))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_medians_and_p90s() {
        assert_eq!(Spread::of(vec![]), None);
        assert_eq!(Spread::of(vec![7]), Some(Spread { median: 7, p90: 7 }));
        assert_eq!(Spread::of(vec![4, 1, 3, 2]), Some(Spread { median: 2, p90: 4 }));
        assert_eq!(Spread::of((1..=10).collect()), Some(Spread { median: 5, p90: 9 }));
        assert_eq!(sparkline(&[0, 1, 2, 4]), "▁▃▅█");
        assert_eq!(sparkline(&[0, 0]), "▁▁");
    }

    #[test]
    fn top_lists_stop_at_five_and_a_rollback_after_a_deploy_counts_as_a_failure() {
        let day = 86_400_000;
        let mut history = History::default();
        for alarm in 0..12 {
            for n in 0..=alarm {
                history.episodes.push(Episode {
                    key: format!("alarm:{alarm}"),
                    title: format!("alarm-{alarm:02}-{}", "x".repeat(200)),
                    started_ms: day + n * 7_200_000,
                    resolved_ms: day + n * 7_200_000 + 600_000,
                    ..Episode::default()
                });
            }
        }
        history.changes = vec![
            Change { at_ms: day, kind: "deploy-result".into(), what: "web deployed".into(), ..Change::default() },
            Change {
                at_ms: day + 1_800_000,
                kind: "codedeploy".into(),
                what: "CodeDeploy app/group: rollback".into(),
                ..Change::default()
            },
            Change { at_ms: day * 2, kind: "deploy-result".into(), what: "api deployed".into(), ..Change::default() },
        ];
        let now = Figures::compute(&history, (day, 3 * day), None, Vec::new());
        assert_eq!((now.pages, now.noisiest[0].count, now.noisiest[0].title.starts_with("alarm-11")), (78, 12, true));
        assert_eq!((now.deploys, now.deploys_failed, now.deploys_followed), (2, 0, 1));
        assert_eq!(now.failure_rate(), Some(50.0));
        let message = message("all teams", "a week", &now, &Figures::default()).to_json();
        let text = message.to_string();
        assert!(text.contains("… and 7 more"), "{text}");
        for block in message["blocks"].as_array().unwrap() {
            let len = block["text"]["text"].as_str().map_or(0, |t| t.chars().count());
            assert!(len <= 3000, "{len}");
        }
        // A team's report has only its pages.
        assert_eq!(Figures::compute(&history, (day, 3 * day), Some("payments"), Vec::new()).pages, 0);
    }
}
