//! Alarm storms: pacing every post and update so that all containers together stay within Slack's
//! rate limits, and the live digest that a channel's new alarms join once it gets more than it can
//! take (`STORM_THRESHOLD` new messages in `STORM_WINDOW_SECONDS`).
//!
//! Who shows a digest: the container that holds its lease. An alarm joins by writing its line and
//! counting it (`version`); if someone holds the lease, that container shows it (it gives the lease
//! back only once what it shows is the latest version); else the alarm's own container takes the
//! lease and shows it. The holder stays while the storm goes on, until `STORM_QUIET_SECONDS` pass
//! without a new line (then the digest says the storm is over) or its own time runs out. A holder
//! that dies leaves a lease that runs out in `DIGEST_LEASE`: the next alarm of the channel, or
//! Lambda's retry of the dead holder's own invocation, takes it over and shows whatever is pending.

use std::time::{Duration, Instant};

use crate::chat::Platform;
use crate::clock::now_ms;
use crate::notify::digest::{self, DigestInfo};
use crate::secret::Secret;
use crate::state::{ChannelView, DigestMeta, Rate, StateError, StateTable, StoredEntry};
use serde_json::Value;

use super::{Outcome, Plan, Run};
use crate::flows::notifier::{PostError, Sink};

/// `chat.postMessage` in one channel: Slack allows about one a second with short bursts; a little
/// slower, so that the clocks of many containers never add up to more.
pub(crate) const POST_RATE: Rate = Rate { interval_ms: 1_100, burst: 3 };
/// `chat.update` is Tier 3 for the whole workspace: about 50 a minute. 46 here.
pub(crate) const UPDATE_RATE: Rate = Rate { interval_ms: 1_300, burst: 5 };
/// The pacer of `chat.update`, shared by every channel.
pub(crate) const UPDATE_SCOPE: &str = "chat.update";
/// How long a digest's holder may go silent before another container takes over.
pub(crate) const DIGEST_LEASE: Duration = Duration::from_secs(10);
/// A holder stops waiting for the end of the storm this long before its deadline.
const LEAVE_BEFORE_DEADLINE: Duration = Duration::from_secs(6);
/// How often a holder looks for new lines while the storm goes on.
const POLL: Duration = Duration::from_millis(400);
/// How often an alarm that joined a digest not shown yet looks whether it is.
const FIRST_SHOW_POLL: Duration = Duration::from_millis(150);
/// Time kept, while waiting for a digest's first message, to fail cleanly (Lambda's retry rejoins).
const FIRST_SHOW_RESERVE: Duration = Duration::from_secs(2);

/// When a channel is in a storm, and whether the digest is used at all (the contract's variables).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StormSettings {
    /// `STORM_DIGEST` (`on` / `off`): with `off`, every alarm keeps its own message (still paced).
    pub digest: bool,
    /// `STORM_THRESHOLD`: more new messages than this within the window make a storm.
    pub threshold: u32,
    /// `STORM_WINDOW_SECONDS`.
    pub window: Duration,
    /// `STORM_QUIET_SECONDS`: a storm is over when its digest gets no new line for this long.
    pub quiet: Duration,
}

impl Default for StormSettings {
    fn default() -> Self {
        Self { digest: true, threshold: 5, window: Duration::from_secs(10), quiet: Duration::from_secs(10) }
    }
}

pub const DIGEST_VAR: &str = "STORM_DIGEST";
pub const THRESHOLD_VAR: &str = "STORM_THRESHOLD";
pub const WINDOW_VAR: &str = "STORM_WINDOW_SECONDS";
pub const QUIET_VAR: &str = "STORM_QUIET_SECONDS";

impl StormSettings {
    pub fn from_lookup(opt: &dyn Fn(&str) -> Option<String>) -> Result<Self, crate::config::ConfigError> {
        use crate::config::ConfigError;
        let mut settings = Self::default();
        if let Some(v) = opt(DIGEST_VAR) {
            settings.digest = match v.to_ascii_lowercase().as_str() {
                "on" | "true" | "1" => true,
                "off" | "false" | "0" => false,
                _ => return Err(ConfigError::Invalid { var: DIGEST_VAR, problem: "must be on or off".into() }),
            };
        }
        let number = |var: &'static str, range: std::ops::RangeInclusive<u64>| -> Result<Option<u64>, ConfigError> {
            match opt(var) {
                None => Ok(None),
                Some(v) => v.trim().parse::<u64>().ok().filter(|n| range.contains(n)).map(Some).ok_or_else(|| {
                    ConfigError::Invalid {
                        var,
                        problem: format!("must be a whole number from {} to {}", range.start(), range.end()),
                    }
                }),
            }
        };
        if let Some(n) = number(THRESHOLD_VAR, 1..=1000)? {
            settings.threshold = n as u32;
        }
        if let Some(n) = number(WINDOW_VAR, 1..=3600)? {
            settings.window = Duration::from_secs(n);
        }
        if let Some(n) = number(QUIET_VAR, 1..=3600)? {
            settings.quiet = Duration::from_secs(n);
        }
        Ok(settings)
    }

    pub(crate) fn window_ms(&self) -> i64 {
        self.window.as_millis() as i64
    }

    fn quiet_ms(&self) -> i64 {
        self.quiet.as_millis() as i64
    }

    /// A new message for a channel that looks like `view` joins the digest.
    pub(crate) fn joins_digest(&self, view: &ChannelView, now_ms: i64) -> bool {
        self.digest
            && (view.open_digest(now_ms, self.quiet_ms()).is_some() || view.recent() > f64::from(self.threshold))
    }
}

/// Where a notification goes when its channel may be in a storm.
pub(crate) enum StormRoute {
    /// A message of its own (or an update of its own), as without a storm.
    Own,
    /// A line of the channel's digest; `rejoin`: the digest a dead earlier attempt already joined.
    Digest { rejoin: Option<String> },
    /// A dead earlier attempt joined a digest whose storm is over since: its line was shown.
    ShownBefore,
}

/// What a notification is called in a digest: its lifecycle (one line per alarm), else its label.
pub(crate) fn digest_key(n: &crate::notify::Notification) -> String {
    n.lifecycle_key().map(|k| k.key).unwrap_or_else(|| n.label())
}

/// Why an alarm could not join the digest.
pub(crate) enum DigestFailure {
    /// Nothing was recorded (the state table failed first): post it as its own message instead.
    NotRecorded(StateError),
    /// Recorded, but showing it failed: the invocation fails, and Lambda's retry shows it.
    NotShown(PostError),
}

impl Run<'_> {
    /// Waits for the slot that `scope`'s pacer gives (`taken`: one taken already, with the arrival).
    /// Without the state table, or when it fails, nothing is paced: Slack's 429 is still waited out.
    pub(crate) async fn pace(&self, scope: &str, rate: Rate, taken: Option<i64>) {
        let slot = match (taken, self.table()) {
            (Some(slot), _) => slot,
            (None, Some(state)) => match state.reserve_slot(scope, rate, now_ms()).await {
                Ok(slot) => slot,
                Err(err) => {
                    tracing::warn!(error = %err, "pacing unavailable: posting without waiting for a slot");
                    return;
                }
            },
            (None, None) => return,
        };
        let wait = slot - now_ms();
        if wait > 0 {
            let wait = Duration::from_millis(wait as u64);
            // Never past the deadline: a late message is better than none (and Slack's 429 is waited out).
            let room = self.deadline().saturating_duration_since(Instant::now() + Duration::from_secs(1));
            tokio::time::sleep(wait.min(room)).await;
        }
    }

    /// Where a notification goes, given its channel as it arrived. `taken_over`: its claim was taken over
    /// from an attempt that died, which may have joined a digest already; then it joins that digest again
    /// (its line is there, and it must not also show in a message of its own), or, once that storm is
    /// over, knows its line was shown. `new_message`: it has no message of its own to update.
    pub(crate) async fn storm_route(
        &self,
        n: &crate::notify::Notification,
        view: &ChannelView,
        taken_over: bool,
        new_message: bool,
    ) -> StormRoute {
        if let (true, Some(state)) = (taken_over, self.table()) {
            let key = digest_key(n);
            let at = n.changed_at_ms().unwrap_or_else(now_ms);
            for (id, open) in [(&view.digest, true), (&view.last_digest, false)] {
                if let Some(id) = id
                    && state.digest_has_entry(id, &key, at).await.unwrap_or(false)
                {
                    if open {
                        return StormRoute::Digest { rejoin: Some(id.clone()) };
                    }
                    // A digest the channel has left was shown to its end only if its holder said the storm
                    // was over with every line shown; one whose last showing failed (Slack down) is joined
                    // again, and this attempt shows it.
                    return match state.digest_meta(id).await {
                        Ok(meta) if meta.over_ms.is_some() && meta.shown >= meta.version => StormRoute::ShownBefore,
                        _ => StormRoute::Digest { rejoin: Some(id.clone()) },
                    };
                }
            }
        }
        if new_message && self.deps().storm.joins_digest(view, now_ms()) {
            StormRoute::Digest { rejoin: None }
        } else {
            StormRoute::Own
        }
    }

    /// Records the notification as a line of the channel's digest, and shows it: itself when no one
    /// holds the digest's lease, else the holder does.
    pub(crate) async fn join_digest(
        &self,
        plan: &Plan<'_>,
        secret: &Secret,
        scope: &str,
        view: &ChannelView,
        owner: &str,
        rejoin: Option<&str>,
    ) -> Result<Outcome, DigestFailure> {
        self.table().ok_or_else(|| {
            DigestFailure::NotRecorded(StateError { operation: "digest", detail: "no state table".into() })
        })?;
        // Patient calls from here on: a write that timed out may have landed, so an alarm whose line may
        // be in the digest must not also post its own message. It fails instead, and Lambda's retry
        // joins again (the line is written the same way twice).
        let Some(state) = self.deps().patient_state.as_ref() else {
            return Err(DigestFailure::NotRecorded(StateError {
                operation: "digest",
                detail: "no state table".into(),
            }));
        };
        let settings = &self.deps().storm;
        let now = now_ms();
        let n = &plan.incoming.notification;
        let id = match rejoin.or_else(|| view.open_digest(now, settings.quiet_ms())) {
            Some(id) => id.to_owned(),
            None => {
                let stale = view.stale_digest(now, settings.quiet_ms());
                let id = state
                    .open_digest(scope, &format!("{scope}@{now}"), stale, now)
                    .await
                    .map_err(DigestFailure::NotRecorded)?;
                if let Some(stale) = stale.filter(|old| *old != id) {
                    // A storm whose holder could not stay to the end: it says it is over now.
                    self.close_stale(state, secret, scope, stale).await;
                }
                id
            }
        };
        let entry = n.digest_entry(digest_key(n), plan.route.mention.clone(), now);
        let before = state
            .add_entry(&id, scope, &entry, now, self.digest_expires_at())
            .await
            .map_err(|e| DigestFailure::NotShown(not_shown(e)))?;
        tracing::info!(digest = %id, alarm = %n.label(), state = n.state(), version = before.version + 1, "alarm joined the storm digest");
        // This alarm is reported delivered only once its line is shown, or held by a live holder that
        // has shown the digest (so Slack takes it), or held by this container. A holder that has not
        // shown the digest yet may never manage to (Slack down): then this alarm waits, takes the lease
        // if that holder gives it up, and, out of time, fails, so that Lambda's retry joins again (and
        // the failure queue has it if every attempt fails).
        let mine = before.version + 1;
        let mut meta = before;
        loop {
            let now = now_ms();
            if meta.leased(now) {
                let proven = !meta.pages.is_empty() || meta.shown > 0;
                if proven || meta.shown >= mine {
                    break;
                }
                if self.deadline().saturating_duration_since(Instant::now()) < FIRST_SHOW_RESERVE {
                    return Err(DigestFailure::NotShown(PostError::Exhausted(
                        "the storm digest this alarm joined was not shown in time: its holder could not post it".into(),
                    )));
                }
                tokio::time::sleep(FIRST_SHOW_POLL).await;
                meta = state.digest_meta(&id).await.map_err(|e| DigestFailure::NotShown(not_shown(e)))?;
                continue;
            }
            let lease = state
                .lease_digest(&id, owner, now, now + DIGEST_LEASE.as_millis() as i64, self.deadline_ms())
                .await
                .map_err(|e| DigestFailure::NotShown(not_shown(e)))?;
            match lease {
                Some(meta) => {
                    self.hold_digest(state, secret, scope, meta, owner, false)
                        .await
                        .map_err(DigestFailure::NotShown)?;
                    return Ok(Outcome::Digested);
                }
                // Taken since, by someone who reads our line: whether it shows it is seen as above.
                None => meta = state.digest_meta(&id).await.map_err(|e| DigestFailure::NotShown(not_shown(e)))?,
            }
        }
        // The holder shows it: it cannot give the lease back before. If the holder must leave before
        // this storm could be over, this container may wait to take over and say when it is.
        let now = now_ms();
        let leave_ms = LEAVE_BEFORE_DEADLINE.as_millis() as i64;
        let holder_leaves = meta.holder_until_ms.unwrap_or(i64::MAX).saturating_sub(leave_ms);
        let we_leave = self.deadline_ms() - leave_ms;
        if holder_leaves < now + settings.quiet_ms() && we_leave > holder_leaves + 1_000 {
            match state.claim_succession(&id, owner, self.deadline_ms()).await {
                Ok(true) => self.succeed(state, secret, scope, &id, owner).await.map_err(DigestFailure::NotShown)?,
                Ok(false) => {}
                Err(err) => tracing::warn!(error = %err, "storm digest: could not offer to take over"),
            }
        }
        Ok(Outcome::Digested)
    }

    /// Waits, as the holder's successor, for the holder to leave, then holds the digest to the end of the
    /// storm. Gives up when a container that can stay longer became the successor, or the storm is over.
    async fn succeed(
        &self,
        state: &StateTable,
        secret: &Secret,
        scope: &str,
        id: &str,
        owner: &str,
    ) -> Result<(), PostError> {
        let lease_ms = DIGEST_LEASE.as_millis() as i64;
        loop {
            tokio::time::sleep(POLL).await;
            if self.deadline().saturating_duration_since(Instant::now())
                < LEAVE_BEFORE_DEADLINE + Duration::from_secs(1)
            {
                return Ok(());
            }
            let Ok(meta) = state.digest_meta(id).await else { continue };
            if meta.over_ms.is_some() || meta.successor.as_deref() != Some(owner) {
                return Ok(());
            }
            let now = now_ms();
            if meta.leased(now) {
                continue;
            }
            if let Ok(Some(meta)) = state.lease_digest(id, owner, now, now + lease_ms, self.deadline_ms()).await {
                tracing::info!(digest = id, "storm digest taken over from a holder whose time was up");
                return self.hold_digest(state, secret, scope, meta, owner, false).await;
            }
        }
    }

    /// Closes a digest whose storm ended while no container stayed: shows it once more, as over.
    async fn close_stale(&self, state: &StateTable, secret: &Secret, scope: &str, id: &str) {
        let owner = crate::state::unique_owner("closer");
        let now = now_ms();
        if let Ok(Some(meta)) =
            state.lease_digest(id, &owner, now, now + DIGEST_LEASE.as_millis() as i64, self.deadline_ms()).await
            && let Err(err) = self.hold_digest(state, secret, scope, meta, &owner, true).await
        {
            tracing::warn!(error = %err, digest = id, "could not mark an old storm digest as over");
        }
    }

    /// The holder's loop: show what is new, stay while the storm goes on, say when it is over. A
    /// state-table failure (DynamoDB busy with the storm itself) is tried again while there is time;
    /// when there is none, the lease is given up for another container and the invocation fails, so
    /// that Lambda's retry shows what is pending.
    async fn hold_digest(
        &self,
        state: &StateTable,
        secret: &Secret,
        scope: &str,
        meta: DigestMeta,
        owner: &str,
        close_now: bool,
    ) -> Result<(), PostError> {
        let state = self.deps().patient_state.as_ref().unwrap_or(state);
        let mut holding = Holding { meta, shown_bodies: Vec::new(), first: true, close_now };
        loop {
            match self.hold_step(state, secret, scope, owner, &mut holding).await {
                Ok(true) => return Ok(()),
                Ok(false) => {}
                Err(err) => {
                    let left = self.deadline().saturating_duration_since(Instant::now());
                    if matches!(err, PostError::Digest(_)) && left > Duration::from_secs(3) {
                        tracing::warn!(error = %err, digest = %holding.meta.id, "storm digest: trying again");
                        tokio::time::sleep(Duration::from_millis(300)).await;
                        let now = now_ms();
                        match state
                            .lease_digest(
                                &holding.meta.id,
                                owner,
                                now,
                                now + DIGEST_LEASE.as_millis() as i64,
                                self.deadline_ms(),
                            )
                            .await
                        {
                            Ok(Some(meta)) => holding.meta = meta,
                            Ok(None) => return Ok(()), // taken over meanwhile
                            Err(_) => {}               // next round
                        }
                        continue;
                    }
                    // Out of time. If every line counted is shown (the lease is given back only on that
                    // condition), only the "storm over" line is missing: the channel's next alarm writes
                    // it. Otherwise another container, or Lambda's retry of this invocation, takes over.
                    let shown = holding.meta.shown;
                    if let Ok(true) = state.release_digest(&holding.meta.id, owner, shown, None).await {
                        tracing::warn!(error = %err, digest = %holding.meta.id, "storm digest: every line is shown; could not mark the storm over");
                        return Ok(());
                    }
                    let _ = state.drop_digest_lease(&holding.meta.id, owner).await;
                    return Err(err);
                }
            }
        }
    }

    /// One round of the holder's loop. `Ok(true)`: done (storm over, lease handed on, or lost).
    async fn hold_step(
        &self,
        state: &StateTable,
        secret: &Secret,
        scope: &str,
        owner: &str,
        holding: &mut Holding,
    ) -> Result<bool, PostError> {
        let settings = &self.deps().storm;
        let lease_ms = DIGEST_LEASE.as_millis() as i64;
        let now = now_ms();
        let quiet_left = holding.meta.last_entry_ms + settings.quiet_ms() - now;
        let over = holding.close_now || quiet_left <= 0;
        if over {
            // The storm is over: the channel's next alarm starts afresh, then the digest says so.
            state.end_digest(scope, &holding.meta.id).await.map_err(not_shown)?;
            holding.meta = state.digest_meta(&holding.meta.id).await.map_err(not_shown)?;
        }
        if holding.first || over || holding.meta.version > holding.meta.shown {
            let version = holding.meta.version;
            let entries = state.digest_entries(&holding.meta.id).await.map_err(not_shown)?;
            let meta = &mut holding.meta;
            if !self.show(state, secret, scope, meta, &entries, over, owner, &mut holding.shown_bodies).await? {
                return Ok(true); // the lease was lost: the new holder shows it
            }
            holding.first = false;
            if over {
                if state.release_digest(&meta.id, owner, version, Some(now)).await.map_err(not_shown)? {
                    tracing::info!(digest = %meta.id, alarms = entries.len(), "storm over");
                    return Ok(true);
                }
                // New lines came in meanwhile: show them first.
                holding.meta = state.digest_meta(&meta.id).await.map_err(not_shown)?;
                return Ok(false);
            }
            if !state.digest_shown(&meta.id, owner, version, now_ms() + lease_ms).await.map_err(not_shown)? {
                return Ok(true);
            }
            meta.shown = version;
        }
        // Stay for the rest of the storm while there is time; leave a little before the deadline.
        let left = self.deadline().saturating_duration_since(Instant::now());
        // Six seconds: enough to say the storm is over, or to hand on, with DynamoDB slow in a storm.
        if left < LEAVE_BEFORE_DEADLINE {
            if state.release_digest(&holding.meta.id, owner, holding.meta.shown, None).await.map_err(not_shown)? {
                tracing::info!(digest = %holding.meta.id, "storm digest handed on: this invocation's time is up");
                return Ok(true);
            }
            // Lines counted since: they are shown by this holder, with the time it has left.
            holding.meta = state.digest_meta(&holding.meta.id).await.map_err(not_shown)?;
            if left < Duration::from_millis(800) {
                return Err(PostError::Exhausted(
                    "the invocation ended while the storm digest still had lines to show".into(),
                ));
            }
            return Ok(false);
        }
        tokio::time::sleep(POLL.min(Duration::from_millis(quiet_left.max(0) as u64 + 1))).await;
        match state
            .lease_digest(&holding.meta.id, owner, now_ms(), now_ms() + lease_ms, self.deadline_ms())
            .await
            .map_err(not_shown)?
        {
            Some(renewed) => holding.meta = renewed,
            None => return Ok(true),
        }
        Ok(false)
    }

    /// Shows the digest as `entries` make it: updates its messages (or, through a webhook, posts the
    /// lines not sent yet as one list). Returns false when the lease was lost meanwhile.
    #[allow(clippy::too_many_arguments)]
    async fn show(
        &self,
        state: &StateTable,
        secret: &Secret,
        scope: &str,
        meta: &mut DigestMeta,
        entries: &[StoredEntry],
        over: bool,
        owner: &str,
        shown_bodies: &mut Vec<String>,
    ) -> Result<bool, PostError> {
        let deps = self.deps();
        let mut info = DigestInfo {
            started_ms: meta.started_ms,
            last_ms: meta.last_entry_ms,
            over,
            mentions: Vec::new(),
            list: false,
        };
        let (url, poster) = match &deps.sink {
            Sink::WebApi { api, .. } => {
                // Mentions once: on the first message when it is posted, later ones in its thread.
                let mut new_mentions: Vec<String> = entries.iter().filter_map(|e| e.mention.clone()).collect();
                new_mentions.sort();
                new_mentions.dedup();
                new_mentions.retain(|m| !meta.mentioned.contains(m));
                let first_post = meta.pages.is_empty();
                // The first message notifies them; later updates keep showing who was called (an update
                // notifies no one), and those who joined later are called in the thread below.
                info.mentions = meta.mentioned.iter().chain(&new_mentions).cloned().collect();
                info.mentions.sort();
                for (i, page) in digest::render(entries, &info).iter().enumerate() {
                    let body = page.to_json();
                    let text = body.to_string();
                    if shown_bodies.get(i) == Some(&text) {
                        continue;
                    }
                    let shown = match meta.pages.get(i).and_then(|p| p.split_once(' ')) {
                        Some((channel, ts)) => {
                            self.pace(UPDATE_SCOPE, UPDATE_RATE, None).await;
                            match api.update(secret, channel, ts, &body, self.deadline()).await {
                                Ok(_) => true,
                                Err(err) if err.is_gone() => {
                                    tracing::warn!(error = %err, "a storm digest message is gone: posting it again");
                                    self.post_page(state, secret, scope, meta, i, &body, owner).await?
                                }
                                Err(err) => return Err(err.into()),
                            }
                        }
                        None => self.post_page(state, secret, scope, meta, i, &body, owner).await?,
                    };
                    if !shown {
                        return Ok(false);
                    }
                    if shown_bodies.len() <= i {
                        shown_bodies.resize(i + 1, String::new());
                    }
                    shown_bodies[i] = text;
                }
                if !new_mentions.is_empty() {
                    if !first_post && let Some((channel, ts)) = meta.pages.first().and_then(|p| p.split_once(' ')) {
                        let reply = serde_json::json!({
                            "text": format!("🔔 {} — alarms of yours are in this storm", new_mentions.join(" "))
                        });
                        self.pace(scope, POST_RATE, None).await;
                        api.post_message(secret, channel, &reply, Some((ts, false)), self.deadline()).await?;
                    }
                    if !state.record_digest_mentions(&meta.id, owner, &new_mentions).await.map_err(not_shown)? {
                        return Ok(false);
                    }
                    meta.mentioned.extend(new_mentions);
                }
                return Ok(true);
            }
            Sink::Webhook { poster, .. } => (secret, poster),
        };
        // A webhook cannot update: the lines not sent yet go out together, each page one message.
        let pending: Vec<StoredEntry> = entries.iter().filter(|e| e.sent_ms.is_none()).cloned().collect();
        if pending.is_empty() {
            return Ok(true);
        }
        info.list = true;
        info.over = false;
        let mut mentions: Vec<String> = pending.iter().filter_map(|e| e.mention.clone()).collect();
        mentions.sort();
        mentions.dedup();
        info.mentions = mentions;
        let platform = deps.platform.or_else(|| Platform::from_webhook_url(url.expose())).unwrap_or_default();
        for page in digest::render(&pending, &info) {
            self.pace(scope, POST_RATE, None).await;
            poster.post_to(&platform, url, &platform.render(&page), self.deadline()).await?;
        }
        let sent: Vec<(String, i64)> = pending.iter().map(|e| (e.key.clone(), e.changed_at_ms)).collect();
        state.mark_entries_sent(&meta.id, &sent, now_ms()).await.map_err(not_shown)?;
        Ok(true)
    }

    /// Posts page `i` of the digest and records where it is, under the lease.
    #[allow(clippy::too_many_arguments)]
    async fn post_page(
        &self,
        state: &StateTable,
        secret: &Secret,
        scope: &str,
        meta: &mut DigestMeta,
        i: usize,
        body: &Value,
        owner: &str,
    ) -> Result<bool, PostError> {
        let Sink::WebApi { api, .. } = &self.deps().sink else { return Ok(true) };
        self.pace(scope, POST_RATE, None).await;
        let posted = api.post_message(secret, scope, body, None, self.deadline()).await?;
        let page = format!("{} {}", posted.channel, posted.ts);
        if !state.record_digest_page(&meta.id, owner, i, &page).await.map_err(not_shown)? {
            return Ok(false);
        }
        if meta.pages.len() <= i {
            meta.pages.resize(i + 1, String::new());
        }
        meta.pages[i] = page;
        Ok(true)
    }
}

/// What the holder of a digest keeps between rounds.
struct Holding {
    meta: DigestMeta,
    /// What each message shows now, to leave unchanged ones alone.
    shown_bodies: Vec<String>,
    first: bool,
    close_now: bool,
}

/// A state-table failure while showing a digest fails the invocation: Lambda's retry shows it.
fn not_shown(err: StateError) -> PostError {
    PostError::Digest(err.to_string())
}
