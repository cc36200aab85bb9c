//! [Show logs] on an alarm's message: a CloudWatch Logs Insights query over the alarm's window (two
//! queries side by side: its error lines, and its latest lines), the lines posted in the alarm's thread as
//! a code block with a link to the same query in the console, visible to the channel. Policy action
//! `alert:logs`, resource the alarm.
//!
//! Within Slack's 3 s: the queries are polled until the click's deadline; a query not complete by then is
//! answered with [Show results] for its IDs (the same policy action), and that click reads them again. No
//! click is lost and nothing invokes itself.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::aws::logs::{LogsInsights, QueryState};
use crate::governance::{Decision, Gate, Outcome, Pass};
use crate::notify::logs::{LogGroups, LogLine, LogsButton};
use crate::notify::{LOGS_ACTION, LOGS_RESULTS_ACTION};
use crate::slack::interaction::BlockAction;
use crate::slack::{Block, Button, Message, escape};

/// What [Show logs] needs in slack-command.
pub struct LogsDeps {
    pub insights: LogsInsights,
    pub groups: LogGroups,
    /// `CROSS_ACCOUNT_OBSERVABILITY`: a source account's log groups are queried by ARN.
    pub cross_account: bool,
}

/// How often a running query is asked about.
const POLL: Duration = Duration::from_millis(250);

/// What [Show results] carries: the two query IDs, the alarm, the region, the window and the groups'
/// summary for the reply.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
struct ResultsButton {
    #[serde(rename = "q")]
    queries: (String, String),
    #[serde(rename = "a")]
    alarm: String,
    #[serde(rename = "r")]
    region: String,
    #[serde(rename = "g")]
    groups: Vec<String>,
    #[serde(rename = "s")]
    start: i64,
    #[serde(rename = "e")]
    end: i64,
    /// The alarm's message, whose thread gets the lines.
    #[serde(rename = "t")]
    thread: String,
}

fn refused(text: impl Into<String>, why: &str, resource: &str) -> Outcome {
    Outcome::ephemeral(text, Decision::Refused(why.into())).on(resource)
}

fn failed(text: impl Into<String>, why: String, resource: &str) -> Outcome {
    Outcome::ephemeral(text, Decision::Failed(why)).on(resource)
}

/// The policy's word on reading `alarm`'s logs: reading changes nothing, so a rule asking approval for
/// it is answered as a refusal that says so.
fn allowed(gate: &Gate<'_>, alarm: &str) -> Option<Outcome> {
    match gate.check(LOGS_ACTION, alarm, None) {
        Pass::Go => None,
        Pass::Refused(outcome) => Some(*outcome),
        Pass::NeedsApproval(rule) => Some(refused(
            format!(
                "Rule `{}` asks approval for reading logs, which I don't do: reading needs no approval.",
                escape(&rule)
            ),
            &format!("policy: rule {rule} asks approval for {LOGS_ACTION}"),
            alarm,
        )),
    }
}

/// A click on [Show logs].
pub async fn click(
    deps: Option<&LogsDeps>,
    bot: Option<&crate::slack::bot::Bot>,
    click: &BlockAction,
    gate: &Gate<'_>,
    deadline: Instant,
) -> Outcome {
    let Ok(button) = serde_json::from_str::<LogsButton>(&click.value) else {
        return refused("This button's value is not one I made: nothing was done.", "bad button value", "");
    };
    let alarm = button.alarm.clone();
    if let Some(refusal) = allowed(gate, &alarm) {
        return refusal;
    }
    let (Some(deps), Some(bot), Some(thread)) = (deps, bot, click.message_ts.clone()) else {
        return refused(
            ":warning: Showing logs needs the bot token and CloudWatch Logs, which this stack does not have set up. Nothing was done.",
            "logs not configured",
            &alarm,
        );
    };
    let Some((groups, filter)) = deps.groups.for_alarm(&alarm, button.function.as_deref()) else {
        return refused(
            format!("I don't know where the logs of *{}* are: add it to `ALARM_LOG_GROUPS`.", escape(&alarm)),
            "no log groups",
            &alarm,
        );
    };
    // A source account's groups are queried by ARN from its monitoring account.
    let own = crate::aws::graphs::own_account();
    let groups: Vec<String> = match (&button.account, own.as_deref()) {
        (Some(account), Some(own)) if account != own => {
            if !deps.cross_account {
                return refused(
                    format!(
                        "The logs of account {account} can be read only from a monitoring account of CloudWatch cross-account observability."
                    ),
                    "other account",
                    &alarm,
                );
            }
            let partition = if button.region.starts_with("cn-") { "aws-cn" } else { "aws" };
            groups.iter().map(|g| format!("arn:{partition}:logs:{}:{account}:log-group:{g}", button.region)).collect()
        }
        _ => groups,
    };
    let (errors, latest) = crate::notify::logs::queries(filter.as_deref());
    let window = (button.start, button.end);
    let region = button.region.clone();
    let (a, b) = tokio::join!(
        deps.insights.start(&region, &groups, window, &errors),
        deps.insights.start(&region, &groups, window, &latest)
    );
    let queries = match (a, b) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(err), _) | (_, Err(err)) => {
            tracing::warn!(error = %err, alarm = %alarm, "logs query not started");
            return failed(
                format!(
                    ":warning: CloudWatch Logs did not start the query for *{}*: {}",
                    escape(&alarm),
                    escape(&err.detail)
                ),
                err.to_string(),
                &alarm,
            );
        }
    };
    let pending = ResultsButton { queries, alarm, region, groups, start: window.0, end: window.1, thread };
    Box::pin(show(deps, bot, click, pending, deadline)).await
}

/// A click on [Show results].
pub async fn results_click(
    deps: Option<&LogsDeps>,
    bot: Option<&crate::slack::bot::Bot>,
    click: &BlockAction,
    gate: &Gate<'_>,
    deadline: Instant,
) -> Outcome {
    let Ok(pending) = serde_json::from_str::<ResultsButton>(&click.value) else {
        return refused("This button's value is not one I made: nothing was done.", "bad button value", "");
    };
    if let Some(refusal) = allowed(gate, &pending.alarm) {
        return refusal;
    }
    let (Some(deps), Some(bot)) = (deps, bot) else {
        return refused(
            ":warning: Showing logs is not set up here. Nothing was done.",
            "logs not configured",
            &pending.alarm,
        );
    };
    Box::pin(show(deps, bot, click, pending, deadline)).await
}

/// Waits for both queries until `deadline`; posts the lines in the alarm's thread, or answers with
/// [Show results] when they are not done yet.
async fn show(
    deps: &LogsDeps,
    bot: &crate::slack::bot::Bot,
    click: &BlockAction,
    pending: ResultsButton,
    deadline: Instant,
) -> Outcome {
    let alarm = pending.alarm.clone();
    // Time to post the lines after the queries are done.
    let wait_until = deadline.checked_sub(Duration::from_millis(700)).unwrap_or(deadline);
    let rows = loop {
        let (a, b) = tokio::join!(
            deps.insights.results(&pending.region, &pending.queries.0),
            deps.insights.results(&pending.region, &pending.queries.1)
        );
        match (a, b) {
            (Ok(QueryState::Complete(errors)), Ok(QueryState::Complete(latest))) => break (errors, latest),
            (Ok(QueryState::Failed(status)), _) | (_, Ok(QueryState::Failed(status))) => {
                return failed(
                    format!(":warning: The logs query for *{}* ended {status}.", escape(&alarm)),
                    format!("query {status}"),
                    &alarm,
                );
            }
            (Err(err), _) | (_, Err(err)) => {
                tracing::warn!(error = %err, alarm = %alarm, "logs query results not read");
                return failed(
                    format!(
                        ":warning: CloudWatch Logs did not answer for *{}*: {}",
                        escape(&alarm),
                        escape(&err.detail)
                    ),
                    err.to_string(),
                    &alarm,
                );
            }
            _ if Instant::now() + POLL < wait_until => tokio::time::sleep(POLL).await,
            _ => return still_running(&pending),
        }
    };
    let to_lines = |rows: Vec<Vec<(String, String)>>| -> Vec<LogLine> {
        rows.into_iter()
            .map(|row| {
                let get = |k: &str| row.iter().find(|(f, _)| f == k).map(|(_, v)| v.clone()).unwrap_or_default();
                LogLine { timestamp: get("@timestamp"), message: get("@message"), stream: get("@logStream") }
            })
            .collect()
    };
    let lines = crate::notify::logs::merge(&to_lines(rows.0), &to_lines(rows.1));
    let names: Vec<String> =
        pending.groups.iter().map(|g| g.rsplit(":log-group:").next().unwrap_or(g).to_owned()).collect();
    let (errors_query, _) = crate::notify::logs::queries(None);
    let console = crate::notify::logs::console_link(
        &pending.region,
        &pending.groups,
        &errors_query,
        (pending.start, pending.end),
    );
    let reply = crate::notify::logs::reply(&alarm, &names, &lines, &console);
    match bot.post_message(&click.channel_id, &reply, Some((&pending.thread, false)), deadline).await {
        Ok(_) => {
            let text = format!(
                "📜 {} log lines of *{}* are in its thread, for everyone in the channel.",
                lines.len(),
                escape(&alarm)
            );
            Outcome::ephemeral(text, Decision::Info).on(&alarm)
        }
        Err(err) => failed(
            format!(":warning: I could not post the log lines in the alarm's thread: {err}"),
            err.to_string(),
            &alarm,
        ),
    }
}

/// The answer while the queries run: [Show results] for their IDs.
fn still_running(pending: &ResultsButton) -> Outcome {
    let text = format!(
        "⏳ The logs query for *{}* is still running (Logs Insights takes longer than Slack's 3 seconds here).",
        escape(&pending.alarm)
    );
    let value = serde_json::to_string(pending).unwrap_or_default();
    let mut message = Message::new(text.clone()).block(Block::section(text));
    // A value over Slack's 2,000 characters (many long group names) would be refused: without it, ask again.
    if value.len() <= 2000 {
        message.blocks.push(Block::Actions {
            block_id: Some("logs-results".into()),
            buttons: vec![Button {
                text: "Show results".into(),
                action_id: LOGS_RESULTS_ACTION.into(),
                value: Some(value),
                url: None,
                style: Some("primary"),
                confirm: None,
            }],
        });
    }
    message.response_type = Some("ephemeral");
    let mut outcome = Outcome::ephemeral("", Decision::Info).on(&pending.alarm);
    outcome.message = message;
    outcome
}
