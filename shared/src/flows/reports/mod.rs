//! The operations report: how the period went, from the history the functions keep (state/history.rs) and
//! what is open now. Posted by the stack's recurring schedule (the timer `{"kind": "report", "days": 7}`) to
//! `REPORT_CHANNEL`, and one per team to the channels `REPORT_TEAM_CHANNELS` names; on demand with
//! `/status report [7d|30d] [team]`, only to the asker.

pub mod figures;

use std::time::{Duration, Instant};

use crate::config::ConfigError;
use crate::governance::{Decision, Outcome};
use crate::slack::bot::Bot;
use crate::slack::{Message, escape};
use crate::state::{OpenItem, StateTable};
use figures::Figures;

pub const CHANNEL_VAR: &str = "REPORT_CHANNEL";
pub const TEAM_CHANNELS_VAR: &str = "REPORT_TEAM_CHANNELS";
/// The longest period a report covers.
pub const MAX_DAYS: i64 = 90;
/// How long the history's read may take (within the command's or the timer's budget).
const READ_BUDGET: Duration = Duration::from_millis(2200);
/// An alert firing for longer than this is "in ALARM for more than a day".
const LONG_FIRING_MS: i64 = 86_400_000;

/// Where the scheduled report goes (the names are the contract).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReportConfig {
    /// `REPORT_CHANNEL`: everyone's report (a channel ID); `None`: not posted.
    pub channel: Option<String>,
    /// `REPORT_TEAM_CHANNELS`: `payments=C0PAY,platform=C0PLAT`: each team's own report (its pages).
    pub teams: Vec<(String, String)>,
}

fn channel_id(var: &'static str, id: &str) -> Result<String, ConfigError> {
    let id = id.trim();
    if id.len() >= 3 && matches!(id.as_bytes()[0], b'C' | b'G') && id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        Ok(id.to_owned())
    } else {
        Err(ConfigError::Invalid { var, problem: format!("`{id}` is not a channel ID (C…)") })
    }
}

impl ReportConfig {
    pub fn from_lookup(lookup: &dyn Fn(&str) -> Option<String>, has_bot_token: bool) -> Result<Self, ConfigError> {
        let channel = crate::config::non_empty(lookup, CHANNEL_VAR).map(|c| channel_id(CHANNEL_VAR, &c)).transpose()?;
        let mut teams = Vec::new();
        for pair in crate::config::non_empty(lookup, TEAM_CHANNELS_VAR)
            .iter()
            .flat_map(|t| t.split(','))
            .map(str::trim)
            .filter(|p| !p.is_empty())
        {
            let (team, channel) = pair.split_once('=').ok_or_else(|| ConfigError::Invalid {
                var: TEAM_CHANNELS_VAR,
                problem: format!("`{pair}` is not team=channel (payments=C0PAY)"),
            })?;
            teams.push((team.trim().to_owned(), channel_id(TEAM_CHANNELS_VAR, channel)?));
        }
        if (channel.is_some() || !teams.is_empty()) && !has_bot_token {
            return Err(ConfigError::Missing {
                var: crate::config::BOT_TOKEN_PLAIN_VAR,
                hint: "REPORT_CHANNEL / REPORT_TEAM_CHANNELS are set: the report is posted with the bot token",
            });
        }
        Ok(Self { channel, teams })
    }
}

/// `7d`, `30d`, `2w`, `1d` (at most [`MAX_DAYS`]).
fn parse_days(word: &str) -> Option<i64> {
    let word = word.to_ascii_lowercase();
    let (number, scale) = match word.strip_suffix('d') {
        Some(n) => (n, 1),
        None => (word.strip_suffix('w')?, 7),
    };
    number.parse::<i64>().ok().map(|n| n * scale).filter(|d| (1..=MAX_DAYS).contains(d))
}

/// What `/status report …` asks: the days (default 7) and the team, if any.
pub fn parse(words: &str) -> Result<(i64, Option<String>), String> {
    let mut days = 7;
    let mut team = None;
    for word in words.split_whitespace() {
        match parse_days(word) {
            Some(d) => days = d,
            None if word.ends_with(['d', 'w']) && word[..word.len() - 1].chars().all(|c| c.is_ascii_digit()) => {
                return Err(format!(
                    "A report covers 1 to {MAX_DAYS} days: `/status report 7d`, `/status report 30d`."
                ));
            }
            None if team.is_none() => team = Some(word.to_owned()),
            None => return Err("`/status report [7d|30d] [team]`: one period and one team at most.".to_owned()),
        }
    }
    Ok((days, team))
}

/// What a report is made from: the history of twice its period (the period and the one before) and what
/// fires now.
struct Read {
    history: crate::state::History,
    open: Vec<crate::state::OpenAlert>,
}

/// Reads the `days` before `now_ms` and as many before them, and the open alerts, side by side within
/// [`READ_BUDGET`].
async fn read(state: &StateTable, days: i64, now_ms: i64, deadline: Instant) -> Result<Read, String> {
    let budget = deadline.min(Instant::now() + READ_BUDGET);
    let reads =
        async { tokio::join!(state.history(now_ms - 2 * days * 86_400_000, now_ms), state.open_items(now_ms / 1000)) };
    let (history, open) =
        tokio::time::timeout_at(budget.into(), reads).await.map_err(|_| "the history could not be read in time")?;
    let history = history.map_err(|e| e.to_string())?;
    let open = match open {
        Ok(open) => open
            .items
            .into_iter()
            .filter_map(|i| match i {
                OpenItem::Alert(a) => Some(*a),
                _ => None,
            })
            .collect(),
        Err(err) => {
            tracing::warn!(error = %err, "open items unreadable: the report goes without what fires now");
            Vec::new()
        }
    };
    Ok(Read { history, open })
}

/// The report of the `days` before `now_ms` (compared with as many before) for `team` (everyone's when `None`).
fn report(read: &Read, days: i64, team: Option<&str>, now_ms: i64) -> Message {
    let span = days * 86_400_000;
    let (from, before_from) = (now_ms - span, now_ms - 2 * span);
    let of_team =
        |t: &Option<String>| team.is_none_or(|team| t.as_deref().is_some_and(|t| t.eq_ignore_ascii_case(team)));
    let long_firing = read
        .open
        .iter()
        .filter(|a| a.since_ms.is_some_and(|since| now_ms - since > LONG_FIRING_MS))
        .filter(|a| of_team(&a.team))
        .map(|a| (a.title.clone(), a.url.clone()))
        .collect();
    let now = Figures::compute(&read.history, (from, now_ms), team, long_firing);
    let before = Figures::compute(&read.history, (before_from, from), team, Vec::new());
    let title = match team {
        Some(team) => format!("team {team}"),
        None => "all teams".to_owned(),
    };
    let period = format!(
        "The {days} days to {} ({})",
        crate::notify::slack_date_at(now_ms / 1000),
        if days == 7 { "a week".to_owned() } else { format!("{days} days") }
    );
    figures::message(&title, &period, &now, &before)
}

/// `/status report [7d|30d] [team]`: the report, only to the asker.
pub async fn on_demand(state: Option<&StateTable>, words: &str, now_ms: i64, deadline: Instant) -> Outcome {
    let Some(state) = state else {
        return Outcome::ephemeral(
            "The report is made from the state table's history: this stack has no state table (`STATE_TABLE`).",
            Decision::Refused("no state table".into()),
        );
    };
    let (days, team) = match parse(words) {
        Ok(asked) => asked,
        Err(problem) => return Outcome::ephemeral(problem, Decision::Refused("not understood".into())),
    };
    match read(state, days, now_ms, deadline).await {
        Ok(read) => {
            let mut message = report(&read, days, team.as_deref(), now_ms);
            message.response_type = Some("ephemeral");
            let mut outcome = Outcome::ephemeral("", Decision::Info);
            outcome.message = message;
            outcome
        }
        Err(why) => {
            tracing::error!(error = %why, "report not made");
            Outcome::ephemeral(
                ":warning: I could not read the history just now: try again in a moment.",
                Decision::Failed(why),
            )
        }
    }
}

/// The schedule's firing: everyone's report in `REPORT_CHANNEL`, each team's in its channel.
pub async fn scheduled(
    config: &ReportConfig,
    state: Option<&StateTable>,
    bot: Option<&Bot>,
    days: i64,
    now_ms: i64,
    deadline: Instant,
) -> Result<String, String> {
    let (Some(state), Some(bot)) = (state, bot) else {
        return Err("the report needs the state table and the bot token".into());
    };
    let days = days.clamp(1, MAX_DAYS);
    let targets: Vec<(Option<&str>, &str)> = config
        .channel
        .iter()
        .map(|c| (None, c.as_str()))
        .chain(config.teams.iter().map(|(team, c)| (Some(team.as_str()), c.as_str())))
        .collect();
    if targets.is_empty() {
        return Err(format!("no {CHANNEL_VAR} or {TEAM_CHANNELS_VAR}: nowhere to post"));
    }
    // Read once; each team's report is made from the same reads.
    let read = read(state, days, now_ms, deadline).await?;
    let mut posted = Vec::new();
    let mut failed = Vec::new();
    for (team, channel) in targets {
        let message = report(&read, days, team, now_ms);
        match bot.post_message(channel, &message.to_json(), None, deadline).await {
            Ok(_) => posted.push(format!("<#{}>", escape(channel))),
            Err(err) => {
                tracing::warn!(error = %err, channel, "report not posted");
                failed.push(format!("{channel}: {err}"));
            }
        }
    }
    if posted.is_empty() {
        return Err(format!("not posted: {}", failed.join("; ")));
    }
    Ok(format!("report of {days} days posted in {}", posted.join(", ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_period_and_team_are_read_with_clear_errors() {
        assert_eq!(parse(""), Ok((7, None)));
        assert_eq!(parse("30d"), Ok((30, None)));
        assert_eq!(parse("payments 2w"), Ok((14, Some("payments".into()))));
        assert!(parse("365d").unwrap_err().contains("1 to 90"));
        assert!(parse("payments platform").is_err());
        let lookup = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| (*v).to_owned())
        };
        let ok = lookup(&[("REPORT_CHANNEL", "C0OPS"), ("REPORT_TEAM_CHANNELS", "payments=C0PAY, platform=C0PLAT")]);
        let config = ReportConfig::from_lookup(&ok, true).unwrap();
        assert_eq!(config.channel.as_deref(), Some("C0OPS"));
        assert_eq!(config.teams, [("payments".into(), "C0PAY".into()), ("platform".into(), "C0PLAT".into())]);
        assert_eq!(ReportConfig::from_lookup(&ok, false).unwrap_err().var(), "SLACK_BOT_TOKEN");
        let bad = lookup(&[("REPORT_TEAM_CHANNELS", "payments:C0PAY")]);
        assert_eq!(ReportConfig::from_lookup(&bad, true).unwrap_err().var(), "REPORT_TEAM_CHANNELS");
        let bad = lookup(&[("REPORT_CHANNEL", "#ops")]);
        assert_eq!(ReportConfig::from_lookup(&bad, true).unwrap_err().var(), "REPORT_CHANNEL");
    }
}
