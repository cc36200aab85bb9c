//! What is going on right now: `/status` (everyone's overview, narrowed by a filter, or one alert in
//! detail), the App Home tab (the same for the person who opens it, with what waits for them first), and
//! help that knows the policy (`/status help`, `/scale help`, `/incident help`, the App Home's section).
//!
//! Everything is read from the state table's open index (`state::open`) with one query, within Slack's
//! 3 s; one alert's detail adds its thread (`conversations.replies`) and its recent changes (two `GetItem`s),
//! side by side and under their own short budget, and goes without what does not come in time.

pub mod filter;
pub mod help;
pub mod view;

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::governance::{Decision, Governance, Outcome};
use crate::slack::bot::Bot;
use crate::slack::form::SlashCommand;
use crate::slack::interaction::BlockAction;
use crate::slack::{Block, Button, Message, escape};
use crate::state::{OpenAlert, OpenItem, OpenItems, RequestStatus, StateTable};
use filter::Filter;
use view::{Links, Overview};

pub const COMMAND: &str = "/status";
/// [Share in channel] on a `/status` answer.
pub const SHARE_ACTION: &str = "status:share";
/// The index's read may take this long (within the command's own budget); the answer then says it could not.
const READ_BUDGET: Duration = Duration::from_millis(2200);
/// One alert's thread and changes may take this long; the detail goes without them after.
const DETAIL_BUDGET: Duration = Duration::from_millis(900);
/// How far back `/status <alarm>` shows what changed.
const CHANGES_LOOKBACK_MS: i64 = 24 * 3_600_000;
/// A mute ending within this is "about to end" on its author's App Home.
const MUTE_ENDING_S: i64 = 3600;
/// How narrowing is offered when a kind has more than it shows.
const NARROW_HINT: &str = ": `/status <team | #channel | account | name-*>` narrows it";

/// What `/status` and the App Home use.
pub struct StatusDeps<'a> {
    /// `None`: no state table, so nothing to list (help still works).
    pub state: Option<&'a StateTable>,
    /// Reads an alert's thread and publishes the App Home; `None` without the bot token.
    pub bot: Option<&'a Bot>,
    pub governance: &'a Governance,
}

/// The workspace's domain, for permalinks: from a slash command (`team_domain`), else `auth.test` once.
static DOMAIN: Mutex<Option<String>> = Mutex::new(None);

fn remember_domain(domain: &str) {
    if !domain.is_empty()
        && let Ok(mut known) = DOMAIN.lock()
    {
        *known = Some(domain.to_owned());
    }
}

async fn links(bot: Option<&Bot>, deadline: Instant) -> Links {
    if let Some(domain) = DOMAIN.lock().ok().and_then(|d| d.clone()) {
        return Links::from_domain(&domain);
    }
    let Some(bot) = bot else { return Links::default() };
    match bot.read("auth.test", &[], deadline).await {
        Ok(answer) => {
            // `url` is `https://acme.slack.com/`.
            let domain = answer["url"]
                .as_str()
                .and_then(|u| u.strip_prefix("https://"))
                .and_then(|u| u.split('.').next())
                .unwrap_or_default()
                .to_owned();
            remember_domain(&domain);
            Links::from_domain(&domain)
        }
        Err(err) => {
            tracing::warn!(error = %err, "auth.test failed: /status links channels instead of messages");
            Links::default()
        }
    }
}

fn info(message: Message) -> Outcome {
    let mut outcome = Outcome::ephemeral("", Decision::Info);
    outcome.message = message;
    outcome
}

fn ephemeral(text: &str, decision: Decision) -> Outcome {
    Outcome::ephemeral(text.to_owned(), decision)
}

/// Reads the open index within [`READ_BUDGET`] (and `deadline`).
async fn read_open(state: &StateTable, now_s: i64, deadline: Instant) -> Result<OpenItems, String> {
    let budget = deadline.min(Instant::now() + READ_BUDGET);
    match tokio::time::timeout_at(budget.into(), state.open_items(now_s)).await {
        Ok(Ok(open)) => Ok(open),
        Ok(Err(err)) => Err(err.to_string()),
        Err(_) => Err("the state table did not answer in time".to_owned()),
    }
}

/// Takes the private incidents `user` is not a member of out of `open` (`None`, a message for a whole
/// channel: all of them).
async fn hide_private(open: &mut OpenItems, bot: Option<&Bot>, user: Option<&str>, deadline: Instant) {
    let records = open.items.iter().filter_map(|i| match i {
        OpenItem::Incident(record) => Some(record.as_ref()),
        _ => None,
    });
    let hidden = crate::flows::incidents::hidden_from(bot, records, user, deadline).await;
    if !hidden.is_empty() {
        open.items.retain(|i| !matches!(i, OpenItem::Incident(r) if hidden.contains(&r.number)));
    }
}

/// `/status [help | filter | alarm name]`.
pub async fn command(deps: &StatusDeps<'_>, command: &SlashCommand, now_s: i64, deadline: Instant) -> Outcome {
    remember_domain(&command.team_domain);
    let text = command.text.trim();
    if asks_help(text) {
        return help(deps, COMMAND, &command.user_id, deadline).await;
    }
    // `/status report [7d|30d] [team]`: the operations report, only to the asker.
    if let Some(rest) = text.strip_prefix("report").filter(|r| r.is_empty() || r.starts_with(char::is_whitespace)) {
        return super::reports::on_demand(deps.state, rest, now_s * 1000, deadline).await;
    }
    let Some(state) = deps.state else {
        return ephemeral(
            "`/status` lists what the state table knows: this stack has no state table (`STATE_TABLE`).",
            Decision::Refused("no state table".into()),
        );
    };
    let mut open = match read_open(state, now_s, deadline).await {
        Ok(open) => open,
        Err(why) => {
            tracing::error!(error = %why, "/status could not read the open items");
            return ephemeral(
                ":warning: I could not read what is open right now (the state table did not answer). Try again in a moment.",
                Decision::Failed(why),
            );
        }
    };
    let filter = Filter::parse(text);
    let (links, ()) =
        tokio::join!(links(deps.bot, deadline), hide_private(&mut open, deps.bot, Some(&command.user_id), deadline));
    // One alert asked for by its name: its detail.
    if let Some(word) = filter.single_word() {
        let named: Vec<&OpenAlert> = open
            .items
            .iter()
            .filter_map(|i| match i {
                OpenItem::Alert(a) if a.title.to_lowercase() == word => Some(a.as_ref()),
                _ => None,
            })
            .collect();
        if let [alert] = named.as_slice() {
            return detail(deps, state, alert, now_s, &links, deadline).await;
        }
    }
    let overview = view::overview(&open, &filter, now_s, &links);
    info(status_message(&overview, &filter, now_s, None))
}

/// The overview as a message: ephemeral with [Share in channel], or shared (by `shared_by`) in the channel.
fn status_message(overview: &Overview, filter: &Filter, now_s: i64, shared_by: Option<&str>) -> Message {
    let summary = overview.summary();
    let scope = if filter.is_empty() { String::new() } else { format!(" for `{}`", escape(&filter.text)) };
    let mut message = Message::new(format!("Status{scope}: {summary}"))
        .block(Block::section(format!("📋 *Status{scope}* · {summary}")));
    message.blocks.extend(overview.blocks(NARROW_HINT));
    let mut context = vec![format!("As of {}", crate::notify::slack_date_at(now_s))];
    match shared_by {
        Some(user) => {
            context.push(format!("shared by <@{}>", escape(user)));
            message.response_type = Some("in_channel");
            message.replace_original = Some(false);
        }
        None => {
            context.push("only you see this".to_owned());
            message.response_type = Some("ephemeral");
        }
    }
    message.blocks.push(Block::Context(context));
    if shared_by.is_none() && !overview.is_clear() {
        message.blocks.push(Block::Actions {
            block_id: Some("status-share".to_owned()),
            buttons: vec![Button {
                text: "Share in channel".to_owned(),
                action_id: SHARE_ACTION.to_owned(),
                value: Some(filter.text.chars().take(1000).collect()),
                url: None,
                style: None,
                confirm: None,
            }],
        });
    }
    message
}

/// [Share in channel]: the same overview, read again now, posted in the channel for everyone.
pub async fn share(deps: &StatusDeps<'_>, click: &BlockAction, now_s: i64, deadline: Instant) -> Outcome {
    let Some(state) = deps.state else {
        return ephemeral("There is no state table to read.", Decision::Refused("no state table".into()));
    };
    let mut open = match read_open(state, now_s, deadline).await {
        Ok(open) => open,
        Err(why) => {
            return ephemeral(
                ":warning: I could not read what is open right now: nothing was shared.",
                Decision::Failed(why),
            );
        }
    };
    let filter = Filter::parse(&crate::slack::message::escape(&click.value));
    // Shared with the whole channel: no private incident, whoever shares.
    hide_private(&mut open, deps.bot, None, deadline).await;
    let links = links(deps.bot, deadline).await;
    let overview = view::overview(&open, &filter, now_s, &links);
    info(status_message(&overview, &filter, now_s, Some(&click.user_id)))
}

/// One alert: its record, its thread's history and its recent changes (side by side, briefly).
async fn detail(
    deps: &StatusDeps<'_>,
    state: &StateTable,
    alert: &OpenAlert,
    now_s: i64,
    links: &Links,
    deadline: Instant,
) -> Outcome {
    let budget = deadline.min(Instant::now() + DETAIL_BUDGET);
    let history = async {
        let (Some(bot), Some(thread)) = (deps.bot, &alert.thread) else {
            return Err("no bot token to read its thread".to_owned());
        };
        let args = [("channel", thread.channel.as_str()), ("ts", thread.ts.as_str()), ("limit", "50")];
        match tokio::time::timeout_at(budget.into(), bot.read("conversations.replies", &args, budget)).await {
            Ok(Ok(answer)) => Ok(history_lines(&answer)),
            Ok(Err(err)) => Err(match err.code() {
                Some("missing_scope") => "the app lacks `channels:history` (slack/manifest.yaml)".to_owned(),
                _ => err.to_string(),
            }),
            Err(_) => Err("Slack did not answer in time".to_owned()),
        }
    };
    let changes = async {
        // The clock is whole seconds: a change made earlier within this second is still "before now".
        let now_ms = (now_s + 1) * 1000;
        let window = (alert.since_ms.unwrap_or(now_ms) - CHANGES_LOOKBACK_MS, now_ms);
        let account = alert.account.as_deref().map(crate::state::change_account_key);
        let channel = alert.thread.as_ref().map(|t| crate::state::change_channel_key(&t.channel));
        let read = |scope: Option<String>| async move {
            match scope {
                Some(scope) => state.recent_changes(&scope, window, 5).await.ok(),
                None => None,
            }
        };
        let lists =
            match tokio::time::timeout_at(budget.into(), async { tokio::join!(read(account), read(channel)) }).await {
                Ok((a, b)) => [a, b].into_iter().flatten().collect::<Vec<_>>(),
                Err(_) => Vec::new(),
            };
        crate::notify::changes::recent_changes_line(&lists, now_ms, 5)
    };
    let (history, changes) = tokio::join!(history, changes);
    let blocks = view::detail(alert, history, changes, now_s, links);
    let mut message = Message::new(format!("{}: {}", alert.title, alert.state));
    message.blocks = blocks;
    message
        .blocks
        .push(Block::Context(vec![format!("As of {} · only you see this", crate::notify::slack_date_at(now_s))]));
    message.response_type = Some("ephemeral");
    info(message)
}

/// The app's own messages of a thread (the alert, then each state change), oldest first, one line each.
fn history_lines(answer: &Value) -> Vec<String> {
    let messages = answer["messages"].as_array().map(Vec::as_slice).unwrap_or_default();
    let mut lines: Vec<String> = messages
        .iter()
        .filter(|m| m.get("bot_id").is_some() || m["subtype"] == "bot_message")
        .filter_map(|m| {
            let ts = m["ts"].as_str()?;
            let at: i64 = ts.split('.').next()?.parse().ok()?;
            let text = m["text"].as_str().unwrap_or_default().lines().next().unwrap_or_default();
            Some(format!("{} {}", crate::notify::slack_date_at(at), crate::text::truncate(text, 200)))
        })
        .collect();
    // The newest when there are many.
    if lines.len() > view::MAX_LINES {
        lines.drain(..lines.len() - view::MAX_LINES);
    }
    lines
}

/// The help of `command` for `user`: the commands with examples, and what the policy lets them do.
pub async fn help(deps: &StatusDeps<'_>, command: &str, user: &str, deadline: Instant) -> Outcome {
    let blocks = help_blocks(deps, command, user, deadline).await;
    let mut message = Message::new(format!("Help for {command}"));
    message.blocks = blocks;
    message.response_type = Some("ephemeral");
    info(message)
}

async fn help_blocks(deps: &StatusDeps<'_>, command: &str, user: &str, deadline: Instant) -> Vec<Block> {
    let groups = deps.governance.groups_of(user, deadline).await;
    let actions = help::actions_of(command);
    let lines = help::permission_lines(deps.governance.rules.as_ref(), user, &groups, &actions);
    let mut blocks = vec![Block::section(help::commands_text(command))];
    blocks.extend(view::section_all("🔑 *What you may do* (from `CHATOPS_POLICY`)", &lines));
    blocks
}

/// Whether a command's text asks for its help.
pub fn asks_help(text: &str) -> bool {
    matches!(text.trim().to_lowercase().as_str(), "help" | "-h" | "--help")
}

/// `/scale help` and `/incident help`: the command's own usage (`outcome`), then what the policy lets the
/// asker do. Any other text: `outcome` as it is.
pub async fn command_help(
    deps: &StatusDeps<'_>,
    outcome: Outcome,
    command: &SlashCommand,
    deadline: Instant,
) -> Outcome {
    if !asks_help(&command.text) {
        return outcome;
    }
    let mut outcome = outcome;
    let user = command.user_id.as_str();
    let groups = deps.governance.groups_of(user, deadline).await;
    let actions = help::actions_of(&command.command);
    let lines = help::permission_lines(deps.governance.rules.as_ref(), user, &groups, &actions);
    outcome.message.blocks.extend(view::section_all("🔑 *What you may do* (from `CHATOPS_POLICY`)", &lines));
    outcome
}

/// The App Home of `user`: what waits for them, the overview, and what they can do here, published with
/// `views.publish`.
pub async fn home(deps: &StatusDeps<'_>, user: &str, now_s: i64, deadline: Instant) -> Result<(), String> {
    let Some(bot) = deps.bot else { return Err("no bot token: the App Home cannot be published".to_owned()) };
    let (open, groups, links, help) = tokio::join!(
        async {
            match deps.state {
                Some(state) => {
                    let mut open = read_open(state, now_s, deadline).await;
                    if let Ok(open) = open.as_mut() {
                        hide_private(open, Some(bot), Some(user), deadline).await;
                    }
                    Some(open)
                }
                None => None,
            }
        },
        deps.governance.groups_of(user, deadline),
        links(Some(bot), deadline),
        help_blocks(deps, COMMAND, user, deadline)
    );
    let mut blocks = vec![Block::Header("ChatOps: what is going on".to_owned())];
    match open {
        Some(Ok(open)) => {
            let overview = view::overview(&open, &Filter::default(), now_s, &links);
            blocks.push(Block::Context(vec![format!(
                "As of {} · {}",
                crate::notify::slack_date_at(now_s),
                overview.summary()
            )]));
            let mine = waiting_for(deps.governance, &open, user, &groups, now_s, &links);
            let mine = if mine.is_empty() { vec!["Nothing waits for you.".to_owned()] } else { mine };
            blocks.extend(view::section("⏳ *Waiting for you*", &mine, mine.len(), ""));
            blocks.push(Block::Divider);
            blocks.extend(overview.blocks(NARROW_HINT));
        }
        Some(Err(why)) => {
            tracing::warn!(error = %why, "App Home without the overview");
            blocks.push(Block::section(
                ":warning: What is open could not be read just now: open this tab again in a moment.",
            ));
        }
        None => blocks.push(Block::section("This stack has no state table: there is nothing to list here.")),
    }
    blocks.push(Block::Divider);
    blocks.push(Block::section("🧭 *What you can do here*"));
    blocks.extend(help);
    let view = crate::slack::message::view_json("home", &blocks);
    bot.call("views.publish", &json!({ "user_id": user, "view": view }), deadline)
        .await
        .map(drop)
        .map_err(|e| e.to_string())
}

/// What waits for `user`: approvals they may give, incidents they lead, their mutes about to end, the
/// alerts they acknowledged that still fire.
fn waiting_for(
    governance: &Governance,
    open: &OpenItems,
    user: &str,
    groups: &BTreeSet<String>,
    now_s: i64,
    links: &Links,
) -> Vec<String> {
    let mut lines = Vec::new();
    for item in &open.items {
        match item {
            OpenItem::Approval(id, r) if r.status == Some(RequestStatus::Open) && r.open_until > now_s => {
                let body: Value = serde_json::from_str(&r.body).unwrap_or_default();
                let rule = body.pointer("/proposal/rule").and_then(Value::as_str).unwrap_or_default();
                let requester = body.pointer("/requester/user_id").and_then(Value::as_str).unwrap_or_default();
                let may =
                    governance.rules.as_ref().and_then(|p| p.rule(rule)).is_some_and(|r| r.may_approve(user, groups));
                if may && requester != user && !r.approved_by.iter().any(|a| a == user) {
                    let summary = body.pointer("/proposal/summary").and_then(Value::as_str).unwrap_or_default();
                    let place = match &r.message {
                        Some((channel, ts)) => links_to(links, channel, ts, "approve or deny"),
                        None => String::new(),
                    };
                    lines.push(format!(
                        "🔐 *{}* {} · asked by <@{}> · {place}",
                        escape(id),
                        crate::text::truncate(summary, 200),
                        escape(requester)
                    ));
                }
            }
            OpenItem::Incident(i) if !i.resolved && i.lead == user => {
                let since = i.update_at.unwrap_or(i.declared_at);
                lines.push(format!(
                    "🚨 You lead *{}* {}: the last update was {} ago{}",
                    i.name(),
                    escape(&i.title),
                    crate::notify::duration_text(Duration::from_secs((now_s - since).max(0) as u64)),
                    i.channel_id.as_ref().map(|c| format!(" · <#{}>", escape(c))).unwrap_or_default()
                ));
            }
            OpenItem::Alert(a) => {
                if let Some(m) =
                    a.muted.as_ref().filter(|m| m.by == user && m.until > now_s && m.until - now_s <= MUTE_ENDING_S)
                {
                    lines.push(format!(
                        "🔕 Your mute of *{}* ends {}",
                        escape(&a.title),
                        crate::notify::slack_date_at(m.until)
                    ));
                }
                if a.pages() && a.acknowledged.as_ref().is_some_and(|(by, _)| by == user) {
                    lines.push(format!("👀 You acknowledged {}: it still fires", view::alert_line(a, now_s, links)));
                }
            }
            _ => {}
        }
    }
    lines
}

fn links_to(links: &Links, channel: &str, ts: &str, text: &str) -> String {
    match links.message(channel, ts) {
        Some(url) => format!("<{url}|{text}>"),
        None => format!("in <#{}>", escape(channel)),
    }
}
