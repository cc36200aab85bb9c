//! Delivering one notification: claim it (exactly once), then post it through the webhook, or through
//! the Web API as a new message or as an update of its lifecycle's message with a reply in the thread.
//! The state table is asked twice, two calls each time: claim and lease together before Slack, give
//! the lease back and mark the claim together after.
//!
//! The state table helps and never hinders: when DynamoDB fails, the notification is still posted (a
//! new message rather than an update), the failure is logged once, and the rest of the invocation
//! does without the table.

pub mod storm;

use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::time::{Duration, Instant};

use crate::chat::Platform;
use crate::clock::now_ms;
use crate::notify::lifecycle::{Before, LifecycleKey, parent_note, thread_reply};
use crate::notify::routing::Route;
use crate::notify::{AlertActions, Extras, Incoming};
use crate::secret::Secret;
use crate::slack::api::{ApiError, Posted, SlackApi};
use crate::state::{Claim, Lifecycle, LifecycleUpdate, StateError, StateTable, Thread};
use lambda_http::Context;
use serde_json::Value;

use super::{Deps, PostError, Sink};
use storm::{DigestFailure, POST_RATE, StormRoute, UPDATE_RATE, UPDATE_SCOPE};

/// How a notification ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Posted through the webhook, or as a new Web API message.
    Posted,
    /// Its lifecycle's message was updated and the change replied in the thread.
    Updated,
    /// Delivered before (a redelivery), or being delivered by another container right now.
    Skipped,
    /// Not worth a message: routine (a task stopped by a deployment) or a finding below
    /// `FINDINGS_MIN_SEVERITY`. Logged with the reason.
    Ignored,
    /// A line of its channel's storm digest (the channel got more new messages than it can take).
    Digested,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Self::Posted => "posted",
            Self::Updated => "updated",
            Self::Skipped => "skipped",
            Self::Ignored => "ignored",
            Self::Digested => "digest",
        }
    }
}

/// A notification ready to deliver: routed, and rendered as a new message.
pub(crate) struct Plan<'a> {
    pub(crate) incoming: &'a Incoming,
    pub(crate) route: Route,
    body: Value,
    /// What `body` was rendered with.
    extras: Extras,
    /// What the message was last rendered with by this invocation (the graph re-renders it).
    rendered: RefCell<Option<Extras>>,
    /// Why it is not posted at all.
    ignore: Option<String>,
    /// The pacer of the channel it goes to: the channel, or `webhook` (one channel, the webhook's).
    scope: Option<String>,
    /// A post slot taken with the arrival (a quiet channel): used by the first post.
    slot: Cell<Option<i64>>,
    /// An update slot taken beside it (a quiet workspace), for a notification that may update its message.
    update_slot: Cell<Option<i64>>,
}

/// Records whose state is ALARM are kept at least this long, so a long incident still resolves on its message.
const ALARM_RETENTION: Duration = Duration::from_secs(30 * 86_400);
/// How long to wait for another container's lease on the same lifecycle before posting a new message.
const LEASE_WAIT: Duration = Duration::from_secs(5);
/// How far back an alarm's `🔧 Recent changes` line looks, and how many it shows.
const CHANGES_LOOKBACK_MS: i64 = 2 * 3_600_000;
const CHANGES_SHOWN: usize = 3;

/// A message that gets its graph once every message of the invocation is posted.
struct GraphJob {
    /// The notification's place in the invocation.
    index: usize,
    channel: String,
    ts: String,
    key: Option<LifecycleKey>,
    /// The state and its time that the message shows (the graph is drawn only while it still does).
    state: String,
    changed_at_ms: i64,
    /// A Discord webhook's message instead: its ID and the body it was posted with.
    discord: Option<(String, Value)>,
}

/// One invocation's delivery: its deadline, its identity for claims and leases, and whether the state
/// table still answers.
pub(crate) struct Run<'d> {
    deps: &'d Deps,
    deadline: Instant,
    deadline_ms: i64,
    owner: String,
    state: Option<&'d StateTable>,
    /// The stack's own account (from the function's ARN): whose metrics CloudWatch draws here.
    own_account: Option<String>,
    graph_jobs: Vec<GraphJob>,
    /// The `ts` of the last new message posted without a lifecycle (no state table).
    last_posted: Cell<Option<String>>,
}

impl<'d> Run<'d> {
    pub(crate) fn new(deps: &'d Deps, context: &Context) -> Self {
        // The Slack calls keep their own reserve before this deadline.
        let deadline = crate::clock::invocation_deadline(context.deadline, Duration::ZERO);
        // Unique per attempt: Lambda retries an event with the same request ID.
        let owner = crate::state::unique_owner(&context.request_id);
        let own_account = crate::aws::graphs::account_of_arn(&context.invoked_function_arn).map(str::to_owned);
        Self {
            deps,
            deadline,
            deadline_ms: context.deadline as i64,
            owner,
            state: deps.state.as_ref(),
            own_account,
            graph_jobs: Vec::new(),
            last_posted: Cell::new(None),
        }
    }

    pub(crate) fn plan<'a>(&self, incoming: &'a Incoming) -> Plan<'a> {
        let n = &incoming.notification;
        let route = self.deps.routes.route(&n.route_key(incoming.topic.as_deref()));
        // Bot-token mode: a paging alert carries [Acknowledge] (with the state table, which records it)
        // and [Declare incident]; slack-command answers both.
        let actions = match &self.deps.sink {
            Sink::WebApi { .. } => {
                let lifecycle = n.lifecycle_key().map(|k| k.key);
                let can_acknowledge = self.deps.state.is_some() && lifecycle.is_some();
                Some(AlertActions { lifecycle, can_acknowledge, logs: self.logs_value(n), ..AlertActions::default() })
            }
            Sink::Webhook { .. } => None,
        };
        let extras = Extras { mention: route.mention.clone(), actions, ..Extras::default() };
        let body = n.to_slack_with(&self.deps.defaults, &extras);
        let scope = match &self.deps.sink {
            Sink::WebApi { .. } => route.channel.clone(),
            Sink::Webhook { .. } => Some("webhook".to_owned()),
        };
        Plan {
            incoming,
            route,
            body,
            extras,
            rendered: RefCell::new(None),
            ignore: self.ignore(n),
            scope,
            slot: Cell::new(None),
            update_slot: Cell::new(None),
        }
    }

    pub(crate) fn deps(&self) -> &'d Deps {
        self.deps
    }

    pub(crate) fn deadline(&self) -> Instant {
        self.deadline
    }

    /// The invocation's deadline, epoch ms.
    pub(crate) fn deadline_ms(&self) -> i64 {
        self.deadline_ms
    }

    /// The actions part of an alert's message with a lifecycle: what was done on it (from its record) and
    /// its buttons; `acknowledged` only while it pages.
    fn lifecycle_actions(
        &self,
        n: &crate::notify::Notification,
        key: &LifecycleKey,
        lifecycle: &Lifecycle,
        acknowledged: Option<&(String, i64)>,
    ) -> AlertActions {
        AlertActions {
            lifecycle: Some(key.key.clone()),
            can_acknowledge: true,
            acknowledged: acknowledged.map(|(by, at)| crate::notify::acknowledged_line(by, *at)),
            incident: lifecycle.incident.clone(),
            muted: lifecycle.muted.clone(),
            silenced: lifecycle.silenced.clone(),
            logs: self.logs_value(n),
            since_ms: lifecycle.alarm_since_ms,
        }
    }

    /// [Show logs]'s value for `n`: a CloudWatch alarm whose logs are known (its Lambda function, or
    /// `ALARM_LOG_GROUPS`), in the stack's account or, with cross-account observability, a source account.
    fn logs_value(&self, n: &crate::notify::Notification) -> Option<String> {
        let crate::notify::Notification::Alarm(alarm) = n else { return None };
        crate::aws::graphs::access(self.own_account.as_deref(), alarm.account.as_deref(), self.deps.cross_account)?;
        let changed_at_s = n.changed_at_ms().unwrap_or_else(now_ms) / 1000;
        let button = crate::notify::logs::button(alarm, self.deps.log_groups.as_ref()?, changed_at_s)?;
        serde_json::to_string(&button).ok()
    }

    /// The state table, while it answers.
    pub(crate) fn table(&self) -> Option<&'d StateTable> {
        self.state
    }

    /// How long a storm digest's lines are kept: as long as an alarm's record.
    pub(crate) fn digest_expires_at(&self) -> i64 {
        self.expires_at(true)
    }

    /// Waits for a post slot in the plan's channel (the one taken on arrival, if any).
    async fn pace_post(&self, plan: &Plan<'_>) {
        if let Some(scope) = &plan.scope {
            self.pace(scope, POST_RATE, plan.slot.take()).await;
        }
    }

    fn ignore(&self, n: &crate::notify::Notification) -> Option<String> {
        let crate::notify::Notification::Service(event) = n else { return None };
        if let Some(routine) = &event.routine {
            return Some(format!("routine: {routine}"));
        }
        match self.deps.min_finding_severity {
            Some(min) if event.finding && event.severity < min => {
                Some(format!("finding below FINDINGS_MIN_SEVERITY {}", min.as_str()))
            }
            _ => None,
        }
    }

    /// The webhook's platform: `CHAT_PLATFORM`, else the URL's host, else Slack.
    fn platform(&self, url: &Secret) -> Platform {
        self.deps.platform.or_else(|| Platform::from_webhook_url(url.expose())).unwrap_or_default()
    }

    /// The state table failed: say so, and do without it for the rest of this invocation.
    fn state_failed(&mut self, err: &StateError) {
        if self.state.take().is_some() {
            tracing::warn!(error = %err, "state table unavailable: delivering without it (new messages, no de-duplication)");
        }
    }

    fn expires_at(&self, alarm: bool) -> i64 {
        let keep = if alarm { self.deps.retention.max(ALARM_RETENTION) } else { self.deps.retention };
        now_ms() / 1000 + keep.as_secs() as i64
    }

    /// Takes the lease on `key` once: the lifecycle, `None` when another container holds it.
    async fn lock(
        &self,
        key: &LifecycleKey,
        owner: &str,
        alarm: bool,
    ) -> Option<Result<Option<Lifecycle>, StateError>> {
        let state = self.state?;
        Some(state.lock_lifecycle(&key.key, key.kind, owner, now_ms(), self.deadline_ms, self.expires_at(alarm)).await)
    }

    /// Waits for another container's lease on `key`, a few seconds at most; `None` when it is not
    /// given back in time (then a new message is better than a late one) or the table fails.
    async fn wait_for_lease(&mut self, key: &LifecycleKey, owner: &str, alarm: bool) -> Option<Lifecycle> {
        let until = Instant::now() + LEASE_WAIT.min(self.deadline.saturating_duration_since(Instant::now()) / 3);
        loop {
            match self.lock(key, owner, alarm).await? {
                Ok(Some(lifecycle)) => return Some(lifecycle),
                Ok(None) if Instant::now() < until => tokio::time::sleep(Duration::from_millis(100)).await,
                Ok(None) => {
                    tracing::warn!(lifecycle = %key.key, "another container held this lifecycle too long: posting a new message");
                    return None;
                }
                Err(err) => {
                    self.state_failed(&err);
                    return None;
                }
            }
        }
    }

    pub(crate) async fn deliver(
        &mut self,
        plan: &Plan<'_>,
        secret: &Secret,
        index: usize,
    ) -> Result<Outcome, PostError> {
        let started = Instant::now();
        let n = &plan.incoming.notification;
        if let Some(why) = &plan.ignore {
            tracing::info!(outcome = "ignored", why = %why, alarm = %n.label(), state = n.state(), "notification not posted");
            return Ok(Outcome::Ignored);
        }
        let owner = format!("{}:{index}", self.owner);
        let deps = self.deps;
        self.last_posted.take();
        let platform = match &deps.sink {
            Sink::Webhook { .. } => self.platform(secret),
            Sink::WebApi { .. } => Platform::Slack,
        };
        let alarm = n.is_alarm_state();
        // Through the Web API, a notification with a lifecycle updates that lifecycle's message, under its lease.
        let key = match &deps.sink {
            Sink::WebApi { .. } => n.lifecycle_key(),
            Sink::Webhook { .. } => None,
        };
        let claim_id = plan.incoming.delivery_id.as_deref();
        // The table as it was asked: a lease it granted is given back even if the claim failed meanwhile.
        let table = self.state;
        let digestable =
            !matches!(n, crate::notify::Notification::Deployment(_) | crate::notify::Notification::SlackPayload(_));
        let in_storm = digestable && plan.scope.as_deref().is_some_and(|s| deps.in_storm(s, now_ms()));
        // The claim and the lease are asked for at once: one round trip to the table instead of two. A
        // lease taken for a notification that turns out to be a redelivery is given back at once.
        let claim = {
            let claim = async {
                match (self.state, claim_id) {
                    (Some(state), Some(id)) => Some(
                        state.claim_notification(id, &owner, now_ms(), self.deadline_ms, self.expires_at(false)).await,
                    ),
                    _ => None,
                }
            };
            let lock = async {
                match &key {
                    // In a storm, an alarm without a message of its own joins the digest: no lease needed.
                    Some(k) if in_storm => match self.state?.lifecycle_has_message(&k.key, now_ms()).await {
                        Ok(false) => None,
                        _ => self.lock(k, &owner, alarm).await,
                    },
                    Some(key) => self.lock(key, &owner, alarm).await,
                    None => None,
                }
            };
            // The channel's arrival is counted (a storm?), and its post slot taken while it is quiet.
            let arrive = async {
                match (self.state, &plan.scope) {
                    (Some(state), Some(scope)) => {
                        let rate = (!in_storm).then_some(POST_RATE);
                        Some(state.arrive(scope, rate, deps.storm.window_ms(), now_ms()).await)
                    }
                    _ => None,
                }
            };
            // An alarm whose message this container posted or updated before will most likely update it
            // again: its update slot is taken here too while the pacer is idle, at no extra round trip.
            // Not for alarms it does not know (a storm's new alarms would waste the workspace's slots).
            let update_slot = async {
                match (self.state, &key) {
                    (Some(state), Some(k)) if !in_storm && deps.knows_message(&k.key) => {
                        state.idle_slot(UPDATE_SCOPE, UPDATE_RATE, now_ms()).await.ok().flatten()
                    }
                    _ => None,
                }
            };
            // What changed in its account and channel just before it fired: read beside the claim.
            let changes = async {
                let state = self.state.filter(|_| alarm && !in_storm)?;
                let fired = n.changed_at_ms().unwrap_or_else(now_ms);
                // Before it fired (a minute's grace for clocks), not what was done about it since.
                let window = (fired - CHANGES_LOOKBACK_MS, fired + 60_000);
                let scopes: Vec<String> = n
                    .account()
                    .map(|(id, _)| crate::state::change_account_key(id))
                    .into_iter()
                    .chain(plan.route.channel.as_deref().map(crate::state::change_channel_key))
                    .collect();
                let reads = scopes.iter().map(|scope| state.recent_changes(scope, window, CHANGES_SHOWN as i32));
                let mut lists = Vec::new();
                let mut reads = reads.collect::<Vec<_>>().into_iter();
                let (first, second) = (reads.next(), reads.next());
                let (a, b) = tokio::join!(
                    async {
                        match first {
                            Some(f) => Some(f.await),
                            None => None,
                        }
                    },
                    async {
                        match second {
                            Some(f) => Some(f.await),
                            None => None,
                        }
                    }
                );
                for read in [a, b].into_iter().flatten() {
                    match read {
                        Ok(list) => lists.push(list),
                        Err(err) => {
                            tracing::warn!(error = %err, "recent changes not read: the message goes without them")
                        }
                    }
                }
                crate::notify::changes::recent_changes_line(&lists, now_ms(), CHANGES_SHOWN)
            };
            tokio::join!(claim, lock, arrive, update_slot, changes)
        };
        let (claim, first_lock, arrival, update_slot, changes) = claim;
        // The message with its recent changes, when there are any.
        let extras = Extras { changes: changes.clone(), ..plan.extras.clone() };
        let body: Cow<'_, Value> = match &changes {
            Some(_) => Cow::Owned(n.to_slack_with(&deps.defaults, &extras)),
            None => Cow::Borrowed(&plan.body),
        };
        plan.update_slot.set(update_slot);
        // The table that holds our claim: marked or released after the post even if a later call failed.
        let mut claimed_in = None;
        // A retry of an attempt that died: it may have joined a storm digest already.
        let mut taken_over = false;
        match claim {
            Some(Ok(Claim::Claimed)) => claimed_in = self.state,
            Some(Ok(Claim::TakenOver)) => {
                claimed_in = self.state;
                taken_over = true;
            }
            Some(Ok(other)) => {
                if let (Some(key), Some(Ok(Some(_))), Some(state)) = (&key, &first_lock, table) {
                    let _ = state.unlock_lifecycle(&key.key, &owner, None).await;
                }
                if let (Some(Ok(view)), Some(state), Some(scope)) = (&arrival, table, &plan.scope) {
                    let _ = state.uncount_arrival(scope, view.window).await; // no new message
                }
                let why = if other == Claim::Delivered { "delivered before" } else { "in progress elsewhere" };
                tracing::info!(outcome = "skipped", why, alarm = %n.label(), state = n.state(), delivery_id = claim_id, "notification skipped");
                return Ok(Outcome::Skipped);
            }
            Some(Err(err)) => self.state_failed(&err),
            None => {}
        }
        let lease = match (&key, first_lock) {
            (Some(key), Some(Ok(Some(lifecycle)))) => table.map(|state| (key, state, lifecycle)),
            (Some(key), Some(Ok(None))) => match self.wait_for_lease(key, &owner, alarm).await {
                Some(lifecycle) => self.state.map(|state| (key, state, lifecycle)),
                None => None,
            },
            (_, Some(Err(err))) => {
                self.state_failed(&err);
                None
            }
            _ => None,
        };
        let view = match arrival {
            Some(Ok(view)) => {
                plan.slot.set(view.slot_ms);
                Some(view)
            }
            Some(Err(err)) => {
                self.state_failed(&err);
                None
            }
            None => None,
        };
        // A new message for a channel in a storm joins the channel's digest instead. Deployments keep
        // their own (their buttons), and Slack payloads are passed on as they are.
        let new_message = lease.as_ref().is_none_or(|(_, _, lifecycle)| lifecycle.thread.is_none());
        let mut digested = None;
        // Joined a storm digest: its line may be there even if this attempt fails.
        let mut joined = false;
        let route = match (&view, &plan.scope) {
            (Some(view), Some(_)) if digestable => self.storm_route(n, view, taken_over, new_message).await,
            _ => StormRoute::Own,
        };
        match (route, &view, &plan.scope) {
            (StormRoute::Own, ..) => {}
            (StormRoute::ShownBefore, ..) => {
                tracing::info!(outcome = "skipped", why = "shown in a storm digest before", alarm = %n.label(), "notification skipped");
                digested = Some(Ok((Outcome::Digested, 0, plan.scope.clone(), None)));
            }
            (StormRoute::Digest { rejoin }, Some(view), Some(scope)) => {
                joined = true;
                match self.join_digest(plan, secret, scope, view, &owner, rejoin.as_deref()).await {
                    Ok(outcome) => {
                        deps.saw_storm(scope, now_ms() + deps.storm.quiet.as_millis() as i64);
                        digested = Some(Ok((outcome, 1, Some(scope.clone()), None)));
                    }
                    Err(DigestFailure::NotShown(err)) => digested = Some(Err(err)),
                    Err(DigestFailure::NotRecorded(err)) => {
                        joined = false;
                        // Not recorded anywhere: it gets its own message, as without a storm.
                        tracing::warn!(error = %err, alarm = %n.label(), "could not join the storm digest: posting its own message");
                    }
                }
            }
            (StormRoute::Digest { .. }, ..) => {}
        }
        let result: Result<(Outcome, u32, Option<String>, Option<LifecycleUpdate>), PostError> = match digested {
            Some(result) => result,
            None => match &deps.sink {
                Sink::Webhook { poster, .. } => {
                    // A Discord alarm that will get its graph: Discord answers with the message (`wait=true`),
                    // whose ID the graph's edit needs.
                    let discord_graph = platform == Platform::Discord
                        && deps.graphs.as_ref().is_some_and(|g| !g.stopped())
                        && matches!(n, crate::notify::Notification::Alarm(_))
                        && !in_storm;
                    let waited;
                    let target = if discord_graph {
                        waited = Secret::new(crate::slack::webhook::discord_wait_url(secret.expose()));
                        &waited
                    } else {
                        secret
                    };
                    let other;
                    let body = match platform {
                        Platform::Slack => body.as_ref(),
                        _ => {
                            let extras = Extras { mention: plan.route.mention.clone(), changes, ..Extras::default() };
                            other = n.render_for(platform, &deps.defaults, &extras);
                            &other
                        }
                    };
                    self.pace_post(plan).await;
                    let posted = poster.post_to(&platform, target, body, self.deadline).await;
                    if let Ok(delivered) = &posted
                        && discord_graph
                        && let Some(id) = serde_json::from_str::<Value>(&delivered.answer)
                            .ok()
                            .and_then(|m| m["id"].as_str().map(str::to_owned))
                    {
                        self.graph_jobs.push(GraphJob {
                            index,
                            channel: "(webhook)".to_owned(),
                            ts: String::new(),
                            key: None,
                            state: n.state().to_owned(),
                            changed_at_ms: n.changed_at_ms().unwrap_or_else(now_ms),
                            discord: Some((id, body.clone())),
                        });
                    }
                    posted.map(|d| (Outcome::Posted, d.attempts, None, None)).map_err(PostError::from)
                }
                Sink::WebApi { api, .. } => {
                    let posted = match &lease {
                        Some((key, _, lifecycle)) => {
                            self.change_lifecycle(api, plan, &body, &extras, secret, key, lifecycle).await
                        }
                        None => {
                            plan.rendered.replace(Some(extras.clone()));
                            self.post_new(api, plan, &body, secret).await.map(|p| (Outcome::Posted, p, None))
                        }
                    };
                    posted.map(|(o, p, update)| (o, p.attempts, Some(p.channel), update)).map_err(PostError::from)
                }
            },
        };
        // Giving the lease back and marking (or releasing) the claim: again one round trip for both.
        let update = result.as_ref().ok().and_then(|(.., update)| update.as_ref());
        let unlock = async {
            match &lease {
                Some((key, state, _)) => Some((key, state.unlock_lifecycle(&key.key, &owner, update).await)),
                None => None,
            }
        };
        let settle = async {
            match (claimed_in, claim_id) {
                (Some(state), Some(id)) if result.is_ok() => {
                    Some(state.mark_delivered(id, self.expires_at(false)).await)
                }
                // Its line may be in a digest that was not shown (or is shown by someone else): the claim
                // is left as a dead attempt's, so the retry takes it over, finds the line and rejoins
                // (or knows it was shown) instead of posting a message of its own as well.
                (Some(state), Some(id)) if joined => Some(state.abandon_notification(id, &owner).await),
                // Give the claim back at once, so Lambda's retry posts it.
                (Some(state), Some(id)) => Some(state.release_notification(id, &owner).await),
                _ => None,
            }
        };
        // An update of the alarm's own message is no new message: the storm threshold does not count it.
        let uncount = async {
            if let (Some(view), Some(state), Some(scope), Ok((Outcome::Updated, ..))) =
                (&view, self.state, &plan.scope, &result)
            {
                let _ = state.uncount_arrival(scope, view.window).await;
            }
        };
        // A CodeDeploy deployment it showed is a change: alarms of its account show it as recent.
        let change = async {
            if let (Ok(_), Some(state), crate::notify::Notification::Deployment(d)) = (&result, self.state, n) {
                let change = crate::state::Change {
                    at_ms: n.changed_at_ms().unwrap_or_else(now_ms),
                    id: format!("{}-{}", d.deployment_id, d.state),
                    kind: "codedeploy".into(),
                    what: format!(
                        "CodeDeploy {}: deployment {} {}",
                        d.group_key(),
                        d.deployment_id,
                        d.state.to_lowercase()
                    ),
                    by: None,
                    link: None,
                    account: d.account.clone(),
                    region: d.region.clone(),
                    channel: plan.route.channel.clone(),
                };
                if let Err(err) = state.record_change(&change, now_ms() / 1000).await {
                    tracing::warn!(error = %err, "deployment not recorded as a change");
                }
            }
        };
        // An alert that stops paging closes its episode (the reports' history): written beside the unlock,
        // from what the lease read, once however many containers close it.
        let episode = async {
            let (Some((key, state, lifecycle)), Some(update)) = (&lease, update) else { return };
            let Some(started_ms) = lifecycle.alarm_since_ms.filter(|_| update.alarm_since_ms.is_none()) else {
                return;
            };
            let episode = crate::state::Episode {
                key: key.key.clone(),
                title: update.facts.title.clone(),
                account: update.facts.account.clone(),
                region: update.facts.region.clone(),
                channel: update.thread.channel.clone(),
                team: update.facts.team.clone(),
                url: update.facts.url.clone(),
                started_ms,
                resolved_ms: update.changed_at_ms.max(started_ms),
                acked: lifecycle.acknowledged.clone(),
                changes: update.changes,
                muted: lifecycle.muted.is_some() || lifecycle.silenced.is_some(),
                incident: lifecycle.incident.clone(),
            };
            if let Err(err) = state.record_episode(&episode).await {
                tracing::warn!(error = %err, lifecycle = %key.key, "alert episode not recorded in the history");
            }
        };
        let (unlocked, settled, (), (), ()) = tokio::join!(unlock, settle, uncount, change, episode);
        // A CloudWatch metric alarm's message gets its graph once every message is posted.
        if let (Ok((outcome @ (Outcome::Posted | Outcome::Updated), _, Some(channel), update)), Sink::WebApi { .. }) =
            (&result, &deps.sink)
            && deps.graphs.is_some()
            && matches!(n, crate::notify::Notification::Alarm(_))
            // A channel in a storm keeps chat.update for its digest.
            && !in_storm
            && !plan.scope.as_deref().is_some_and(|s| deps.in_storm(s, now_ms()))
        {
            let shown = match update {
                Some(update) => Some((update.thread.channel.clone(), update.thread.ts.clone(), update.changed_at_ms)),
                // A new message without the table; an older state's reply in the thread shows no graph.
                None if *outcome == Outcome::Posted => {
                    self.last_posted.take().map(|ts| (channel.clone(), ts, n.changed_at_ms().unwrap_or_else(now_ms)))
                }
                None => None,
            };
            if let Some((channel, ts, changed_at_ms)) = shown {
                self.graph_jobs.push(GraphJob {
                    index,
                    channel,
                    ts,
                    key: key.clone(),
                    state: n.state().to_owned(),
                    changed_at_ms,
                    discord: None,
                });
            }
        }
        if let (Some(key), Some(_)) = (&key, update) {
            deps.saw_message(&key.key);
        }
        match unlocked {
            Some((key, Ok(false))) => {
                tracing::warn!(lifecycle = %key.key, "the lease ran out before the message was recorded")
            }
            Some((_, Err(err))) => self.state_failed(&err),
            _ => {}
        }
        if let Some(Err(err)) = settled {
            self.state_failed(&err);
        }
        let latency_ms = started.elapsed().as_millis() as u64;
        match result {
            Ok((outcome, attempts, channel, _)) => {
                tracing::info!(
                    outcome = "delivered",
                    action = outcome.as_str(),
                    platform = platform.as_str(),
                    alarm = %n.label(),
                    state = n.state(),
                    channel = channel.as_deref().unwrap_or("(webhook)"),
                    rule = plan.route.rule,
                    attempts,
                    latency_ms,
                    "message delivered"
                );
                Ok(outcome)
            }
            Err(err) => {
                tracing::error!(
                    outcome = "failed",
                    platform = platform.as_str(),
                    alarm = %n.label(),
                    state = n.state(),
                    channel = plan.route.channel.as_deref().unwrap_or("(webhook)"),
                    slack_error = err_code(&err),
                    attempts = err.attempts(),
                    latency_ms,
                    error = %err,
                    "message NOT delivered"
                );
                Err(err)
            }
        }
    }

    /// Draws the graphs of the messages this invocation posted or updated, and shows each in its message
    /// (`chat.update`), one after the other: after every first post, so no alarm waits for a graph. A
    /// graph is shown only while its message still shows the state it was drawn for (under the
    /// lifecycle's lease: a newer state's container draws its own), and never fails the invocation.
    pub(crate) async fn draw_graphs(&mut self, plans: &[Plan<'_>], token: &Secret) {
        let Some(graphs) = &self.deps.graphs else { return };
        for job in std::mem::take(&mut self.graph_jobs) {
            if graphs.stopped() {
                break;
            }
            let Some(plan) = plans.get(job.index) else { continue };
            // A storm began since it was posted: its channel keeps chat.update for the digest.
            if plan.scope.as_deref().is_some_and(|s| self.deps.in_storm(s, now_ms())) {
                tracing::info!(channel = %job.channel, "no graph: the channel is in an alarm storm");
                continue;
            }
            let crate::notify::Notification::Alarm(alarm) = &plan.incoming.notification else { continue };
            // Time for the drawing, the upload and the update, and a reserve before the deadline.
            let deadline = self.deadline.checked_sub(GRAPH_RESERVE).unwrap_or(self.deadline);
            if Instant::now() + Duration::from_secs(2) > deadline {
                tracing::warn!(alarm = %alarm.name, "no time left for the graph: the message stays without it");
                break;
            }
            let started = Instant::now();
            let Some(access) = graphs.access(self.own_account.as_deref(), alarm.account.as_deref()) else { continue };
            let Some(request) = crate::notify::graph::request(alarm, job.changed_at_ms / 1000, Some(access)) else {
                continue;
            };
            let png = match graphs.draw(&request.widget).await {
                Ok(png) => png,
                Err(err @ crate::aws::graphs::GraphError::NotAllowed(_)) => {
                    graphs.stop(&err.to_string());
                    break;
                }
                Err(err) => {
                    tracing::warn!(error = %err, alarm = %alarm.name, "graph not drawn: the message stays without it");
                    continue;
                }
            };
            let filename = format!("{}.png", file_stem(&alarm.name));
            let (api, poster) = match &self.deps.sink {
                Sink::WebApi { api, .. } => (Some(api), None),
                Sink::Webhook { poster, .. } => (None, Some(poster)),
            };
            if let (Some((id, body)), Some(poster)) = (&job.discord, poster) {
                // Discord: the message is edited with the image attached, shown in its embed.
                let mut payload = serde_json::json!({ "embeds": body["embeds"].clone() });
                payload["embeds"][0]["image"] = serde_json::json!({ "url": format!("attachment://{filename}") });
                let description: String = request.alt_text.chars().take(1024).collect();
                payload["attachments"] =
                    serde_json::json!([{ "id": 0, "filename": filename, "description": description }]);
                match poster.edit_discord_with_file(token, id, &payload, (&filename, &png), deadline).await {
                    Ok(_) => tracing::info!(
                        alarm = %alarm.name,
                        platform = "discord",
                        metrics = request.metrics,
                        graph_ms = started.elapsed().as_millis() as u64,
                        "graph shown"
                    ),
                    Err(err) => {
                        tracing::warn!(error = %err, alarm = %alarm.name, "graph not shown on the Discord message")
                    }
                }
                continue;
            }
            let Some(api) = api else { continue };
            let title = format!("{} ({})", alarm.name, alarm.new_state.as_str());
            let file_id = match api.upload_private(token, &filename, &title, &request.alt_text, png, deadline).await {
                Ok(id) => id,
                // The app cannot upload (no files:write, a token of the wrong kind): no later try will do better.
                Err(err @ ApiError::Refused { class: crate::slack::api::ErrorClass::Config, .. }) => {
                    graphs.stop(&format!(
                        "{err}; add the files:write scope to the Slack app (slack/manifest.yaml) and reinstall it"
                    ));
                    break;
                }
                Err(err) => {
                    tracing::warn!(error = %err, alarm = %alarm.name, "graph not uploaded: the message stays without it");
                    continue;
                }
            };
            let graph = crate::notify::GraphImage { file_id, alt_text: request.alt_text.clone() };
            match self.show_graph(api, plan, &job, graph, token, deadline).await {
                Ok(true) => tracing::info!(
                    alarm = %alarm.name,
                    state = %job.state,
                    metrics = request.metrics,
                    graph_ms = started.elapsed().as_millis() as u64,
                    "graph shown"
                ),
                Ok(false) => {}
                Err(err) => {
                    tracing::warn!(error = %err, alarm = %alarm.name, "graph not shown: the message stays without it")
                }
            }
        }
    }

    /// Updates the message of `job` with `graph`: under the lifecycle's lease when there is one, and only
    /// while the message shows the job's state (`Ok(false)`: it moved on, or another container holds it).
    async fn show_graph(
        &mut self,
        api: &SlackApi,
        plan: &Plan<'_>,
        job: &GraphJob,
        graph: crate::notify::GraphImage,
        token: &Secret,
        deadline: Instant,
    ) -> Result<bool, ApiError> {
        let n = &plan.incoming.notification;
        let Some(mut extras) = plan.rendered.borrow().clone() else { return Ok(false) };
        let file_id = graph.file_id.clone();
        extras.graph = Some(graph);
        let owner = format!("{}:graph{}", self.owner, job.index);
        let alarm = n.is_alarm_state();
        let mut leased = None;
        if let (Some(key), Some(state)) = (&job.key, self.state) {
            let lifecycle = match self.lock(key, &owner, alarm).await {
                Some(Ok(Some(lifecycle))) => lifecycle,
                Some(Ok(None)) => {
                    tracing::info!(lifecycle = %key.key, "another container is changing this message: its graph follows from there");
                    return Ok(false);
                }
                Some(Err(err)) => {
                    self.state_failed(&err);
                    return Ok(false);
                }
                None => return Ok(false),
            };
            let unchanged = lifecycle.state.as_deref() == Some(job.state.as_str())
                && lifecycle.changed_at_ms == Some(job.changed_at_ms)
                && lifecycle.thread.as_ref().is_some_and(|t| t.ts == job.ts && t.channel == job.channel);
            if !unchanged {
                let _ = state.unlock_lifecycle(&key.key, &owner, None).await;
                tracing::info!(lifecycle = %key.key, "the message shows a newer state: this graph is not shown");
                return Ok(false);
            }
            // What was done on the alert meanwhile (acknowledged, muted, an incident) stays on it.
            let acknowledged = lifecycle.acknowledged.as_ref().filter(|_| alarm && lifecycle.alarm_since_ms.is_some());
            if acknowledged.is_some() {
                extras.mention = None;
            }
            extras.actions = Some(self.lifecycle_actions(n, key, &lifecycle, acknowledged));
            leased = Some((key, state));
        }
        let body = n.to_slack_with(&self.deps.defaults, &extras);
        let shown = self.update_with_image(api, token, job, &body, deadline).await;
        if let Some((key, state)) = leased {
            // The record keeps the graph's file: `/status <alarm>` shows the same image.
            let _ = match &shown {
                Ok(()) => state.unlock_lifecycle_with_graph(&key.key, &owner, &file_id).await,
                Err(_) => state.unlock_lifecycle(&key.key, &owner, None).await,
            };
        }
        shown.map(|()| true)
    }

    /// `chat.update` with an image just uploaded: Slack processes uploads asynchronously, and refuses a
    /// `slack_file` it has not finished with (`invalid_blocks`), so that answer is tried again a few times.
    async fn update_with_image(
        &self,
        api: &SlackApi,
        token: &Secret,
        job: &GraphJob,
        body: &Value,
        deadline: Instant,
    ) -> Result<(), ApiError> {
        let mut wait = Duration::from_millis(300);
        loop {
            self.pace(UPDATE_SCOPE, UPDATE_RATE, None).await;
            match api.update(token, &job.channel, &job.ts, body, deadline).await {
                Ok(_) => return Ok(()),
                Err(err) if err.code() == Some("invalid_blocks") && Instant::now() + wait < deadline => {
                    tokio::time::sleep(wait).await;
                    wait *= 2;
                }
                Err(err) => return Err(err),
            }
        }
    }

    /// A new message in the routed channel. `Config::from_lookup` makes sure every notification has a
    /// channel when a bot token is used.
    async fn post_new(
        &self,
        api: &SlackApi,
        plan: &Plan<'_>,
        body: &Value,
        token: &Secret,
    ) -> Result<Posted, ApiError> {
        let channel = plan.route.channel.as_deref().unwrap_or_default();
        self.pace_post(plan).await;
        let posted = api.post_message(token, channel, body, None, self.deadline).await?;
        self.last_posted.replace(Some(posted.ts.clone()));
        Ok(posted)
    }

    /// Under the lifecycle's lease: its first message, or an update of its message with a reply in the
    /// thread. Returns what to record when the lease is given back (`None`: nothing changed).
    #[allow(clippy::too_many_arguments)]
    async fn change_lifecycle(
        &self,
        api: &SlackApi,
        plan: &Plan<'_>,
        body: &Value,
        base: &Extras,
        token: &Secret,
        key: &LifecycleKey,
        lifecycle: &Lifecycle,
    ) -> Result<(Outcome, Posted, Option<LifecycleUpdate>), ApiError> {
        let n = &plan.incoming.notification;
        let at = n.changed_at_ms().unwrap_or_else(now_ms);
        let alarm = n.is_alarm_state();
        let before = Before {
            state: lifecycle.state.as_deref(),
            changed_at_ms: lifecycle.changed_at_ms,
            alarm_since_ms: lifecycle.alarm_since_ms,
        };
        // Open (in /status) while it pages, or while a deployment waits at READY for someone's click.
        let waits = matches!(n, crate::notify::Notification::Deployment(d) if d.state == "READY");
        let record = |thread: Thread, changes: i64, alarm_since_ms: Option<i64>| LifecycleUpdate {
            thread,
            state: n.state().to_owned(),
            changed_at_ms: at,
            alarm_since_ms,
            changes,
            expires_at: self.expires_at(alarm || waits),
            open: alarm_since_ms.is_some() || waits,
            quiet: lifecycle.muted.is_some() || lifecycle.silenced.is_some(),
            facts: n.alert_facts(plan.route.team.clone()),
        };
        let first = |posted: Posted, alarm_since: Option<i64>| {
            let update = record(Thread { channel: posted.channel.clone(), ts: posted.ts.clone() }, 1, alarm_since);
            (Outcome::Posted, posted, Some(update))
        };
        let Some(thread) = lifecycle.thread.clone() else {
            plan.rendered.replace(Some(base.clone()));
            return Ok(first(self.post_new(api, plan, body, token).await?, alarm.then_some(at)));
        };
        if before.changed_at_ms.is_some_and(|shown| at < shown) {
            // Older than what the message shows: history only.
            let reply = reply_body(thread_reply(n, &Before::default(), at, None, true));
            self.pace_post(plan).await;
            let posted =
                api.post_message(token, &thread.channel, &reply, Some((&thread.ts, false)), self.deadline).await?;
            return Ok((Outcome::Updated, posted, None));
        }
        let state_changed = before.state != Some(n.state());
        let changes = lifecycle.changes + i64::from(state_changed);
        // Still in the same paging state (ALARM, FIRING): it has been so since then.
        let alarm_since = match (alarm, before.state, before.alarm_since_ms) {
            (true, Some(prev), Some(since)) if prev == n.state() => Some(since),
            (true, _, _) => Some(at),
            (false, _, _) => None,
        };
        let note = parent_note(n, &before, at, changes);
        // Acknowledged while it pages: its repeats update the message without paging anyone again.
        let acknowledged = lifecycle.acknowledged.as_ref().filter(|_| alarm && alarm_since.is_some());
        let mention = if acknowledged.is_some() { None } else { plan.route.mention.clone() };
        let actions = AlertActions { since_ms: alarm_since, ..self.lifecycle_actions(n, key, lifecycle, acknowledged) };
        let extras = Extras {
            mention: mention.clone(),
            note,
            actions: Some(actions),
            changes: base.changes.clone(),
            graph: None,
        };
        let body = n.to_slack_with(&self.deps.defaults, &extras);
        plan.rendered.replace(Some(extras));
        self.pace(UPDATE_SCOPE, UPDATE_RATE, plan.update_slot.take()).await;
        match api.update(token, &thread.channel, &thread.ts, &body, self.deadline).await {
            Ok(_) => {}
            Err(err) if err.is_gone() => {
                // Someone deleted the message: start the lifecycle again with a new one.
                tracing::warn!(error = %err, lifecycle = %key.key, "the lifecycle's message is gone: posting a new one");
                plan.rendered.replace(Some(base.clone()));
                let body = n.to_slack_with(&self.deps.defaults, base);
                return Ok(first(self.post_new(api, plan, &body, token).await?, alarm_since));
            }
            Err(err) => return Err(err),
        }
        let update = record(thread.clone(), changes, alarm_since);
        if !state_changed {
            return Ok((
                Outcome::Updated,
                Posted { channel: thread.channel, ts: thread.ts, attempts: 1 },
                Some(update),
            ));
        }
        // A return to ALARM pages again: the reply mentions and shows in the channel too.
        let reply = reply_body(thread_reply(n, &before, at, mention.as_deref(), false));
        self.pace_post(plan).await;
        let posted = match api
            .post_message(token, &thread.channel, &reply, Some((&thread.ts, alarm)), self.deadline)
            .await
        {
            Ok(posted) => posted,
            // The message shows the new state; a lost history line must not fail the alarm, a lost page must.
            Err(err) if !alarm => {
                tracing::warn!(error = %err, lifecycle = %key.key, "thread reply not posted; the message itself was updated");
                Posted { channel: thread.channel, ts: thread.ts, attempts: err.attempts() }
            }
            Err(err) => return Err(err),
        };
        Ok((Outcome::Updated, posted, Some(update)))
    }
}

/// What is kept before the deadline when drawing graphs.
const GRAPH_RESERVE: Duration = Duration::from_secs(1);

/// A file name from an alarm's name: letters, digits, `-`, `_` and `.`, at most 80 characters.
fn file_stem(name: &str) -> String {
    let stem: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') { c } else { '-' })
        .take(80)
        .collect();
    if stem.trim_matches('-').is_empty() { "alarm".to_owned() } else { stem }
}

fn reply_body(text: String) -> Value {
    serde_json::json!({ "text": text })
}

fn err_code(err: &PostError) -> Option<&str> {
    match err {
        PostError::Api(e) => e.code(),
        PostError::Webhook(_) | PostError::Digest(_) | PostError::Exhausted(_) => None,
    }
}
