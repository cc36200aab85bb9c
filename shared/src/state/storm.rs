//! Alarm storms, as the state table coordinates them between containers: pacing a channel and the
//! workspace's updates, telling a storm from a quiet channel, and the live digest that a storm's
//! alarms join instead of each posting its own message. Everything is one of the table's four
//! coordination tools: a counter (`ADD`), a claim or lease (conditional update), never read-then-write.
//!
//! Items:
//! - `pace#<scope>`: a GCRA pacer (`tat`, the theoretical arrival time in ms) for `chat.postMessage` in
//!   one channel (scope = the channel) or for `chat.update` in the workspace (scope = `chat.update`).
//!   A message takes the next slot with a conditional update (`tat` as it was read); in a quiet channel
//!   the first attempt (`tat <= now`) succeeds, one round trip.
//! - `storm#<channel>`: the channel's arrivals, counted per window (`w<index>`, an atomic `ADD`), the
//!   time of the last arrival, and the open digest's ID (`digest`), set by a conditional write so that
//!   one storm has one digest.
//! - `digest#<id>` / `digest`: the digest's meta: `version` (one `ADD` per entry written, after the
//!   entry), `shown` (the version its messages show), the lease of the container that shows it, the
//!   `ts` of each of its messages (`page0`, `page1`, ...), the mentions already made.
//! - `digest#<id>` / `entry#<key>`: one alarm's line, overwritten by a later state of the same alarm.
//!
//! The rule that loses nothing: an entry is written before its `version` is counted, and a lease is
//! given back only on the condition that `version` is still the one shown. So an entry counted while
//! a container holds the lease is shown by that container, and one counted while no one does is
//! shown by its own container, which then takes the lease.

use std::collections::BTreeMap;

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure};

use super::{
    Item, StateError, StateTable, TTL_ATTRIBUTE, get_n, get_s, is_condition_failure, n, s, state_error, update_conflict,
};

/// How long pacing and storm items are kept after their last use (they are small and rewritten often).
const PACE_KEEP_S: i64 = 86_400;

/// A pacer's rate: one message per `interval_ms`, with bursts of `burst` messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate {
    pub interval_ms: i64,
    pub burst: u32,
}

impl Rate {
    /// How far ahead of its slot a message may go: the burst.
    fn tolerance_ms(self) -> i64 {
        self.interval_ms * i64::from(self.burst.saturating_sub(1))
    }

    /// GCRA: the slot for a message at `now_ms` given the stored `tat`: (when it may be sent, the new `tat`).
    pub fn slot(self, tat: Option<i64>, now_ms: i64) -> (i64, i64) {
        let tat = tat.unwrap_or(now_ms).max(now_ms);
        let send_at = (tat - self.tolerance_ms()).max(now_ms);
        (send_at, tat + self.interval_ms)
    }
}

/// What a channel looked like when a notification arrived.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ChannelView {
    /// Arrivals counted in the current window, this one included.
    pub count: i64,
    /// Arrivals in the window before.
    pub previous: i64,
    /// How far into the current window we are (0.0 ..= 1.0).
    pub window_fraction: f64,
    /// The digest the channel points to, and when the channel last had an arrival before this one.
    pub digest: Option<String>,
    /// The digest of the channel's storm before (over, every line shown).
    pub last_digest: Option<String>,
    pub last_arrival_ms: Option<i64>,
    /// The post slot taken with the arrival (quiet channel): when the message may be sent.
    pub slot_ms: Option<i64>,
    /// The window the arrival was counted in, to take it back ([`StateTable::uncount_arrival`]).
    pub window: i64,
}

impl ChannelView {
    /// Arrivals in the last window, estimated from two fixed windows (the usual sliding-window count).
    pub fn recent(&self) -> f64 {
        self.count as f64 + self.previous as f64 * (1.0 - self.window_fraction)
    }

    /// The channel points to a digest and had an arrival within `quiet_ms`: the storm goes on.
    pub fn open_digest(&self, now_ms: i64, quiet_ms: i64) -> Option<&str> {
        match (&self.digest, self.last_arrival_ms) {
            (Some(id), Some(last)) if now_ms - last < quiet_ms => Some(id),
            _ => None,
        }
    }

    /// The channel points to a digest whose storm is over (no arrival for `quiet_ms`).
    pub fn stale_digest(&self, now_ms: i64, quiet_ms: i64) -> Option<&str> {
        match (&self.digest, self.open_digest(now_ms, quiet_ms)) {
            (Some(id), None) => Some(id),
            _ => None,
        }
    }
}

/// One alarm's line in a digest, as stored.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StoredEntry {
    /// The alarm's lifecycle key, or the notification's label when it has none.
    pub key: String,
    pub name: String,
    pub state: String,
    /// 0 is the most severe.
    pub rank: i64,
    pub emoji: String,
    pub url: Option<String>,
    pub account: Option<String>,
    pub region: Option<String>,
    /// When the state shown began (epoch ms).
    pub changed_at_ms: i64,
    /// The route's mention, for an entry that pages.
    pub mention: Option<String>,
    /// Webhook digests: when it went out in a list message.
    pub sent_ms: Option<i64>,
}

/// A digest's meta, as read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DigestMeta {
    pub id: String,
    pub channel: String,
    pub version: i64,
    pub shown: i64,
    pub lease_owner: Option<String>,
    pub lease_until_ms: Option<i64>,
    /// The `ts` of each message, in order.
    pub pages: Vec<String>,
    pub mentioned: Vec<String>,
    pub started_ms: i64,
    pub last_entry_ms: i64,
    pub over_ms: Option<i64>,
    /// When the holder's invocation ends (epoch ms).
    pub holder_until_ms: Option<i64>,
    /// The container waiting to take over when the holder must leave before the storm ends.
    pub successor: Option<String>,
}

impl DigestMeta {
    pub(super) fn from_item(id: &str, item: &Item) -> Self {
        let mut pages = Vec::new();
        while let Some(ts) = get_s(item, &format!("page{}", pages.len())) {
            pages.push(ts);
        }
        let mut mentioned: Vec<String> =
            item.get("mentioned").and_then(|v| v.as_ss().ok()).cloned().unwrap_or_default();
        mentioned.sort();
        Self {
            id: id.to_owned(),
            channel: get_s(item, "channel").unwrap_or_default(),
            version: get_n(item, "version").unwrap_or(0),
            shown: get_n(item, "shown").unwrap_or(0),
            lease_owner: get_s(item, "lease_owner"),
            lease_until_ms: get_n(item, "lease_until"),
            pages,
            mentioned,
            started_ms: get_n(item, "started").unwrap_or(0),
            last_entry_ms: get_n(item, "last_entry").unwrap_or(0),
            over_ms: get_n(item, "over"),
            holder_until_ms: get_n(item, "holder_until"),
            successor: get_s(item, "successor"),
        }
    }

    /// Someone holds the lease at `now_ms`.
    pub fn leased(&self, now_ms: i64) -> bool {
        self.lease_owner.is_some() && self.lease_until_ms.is_some_and(|until| until >= now_ms)
    }
}

impl StoredEntry {
    fn from_item(item: &Item) -> Self {
        Self {
            key: get_s(item, "entry").unwrap_or_default(),
            name: get_s(item, "name").unwrap_or_default(),
            state: get_s(item, "state").unwrap_or_default(),
            rank: get_n(item, "rank").unwrap_or(9),
            emoji: get_s(item, "emoji").unwrap_or_default(),
            url: get_s(item, "url"),
            account: get_s(item, "account"),
            region: get_s(item, "region"),
            changed_at_ms: get_n(item, "changed_at").unwrap_or(0),
            mention: get_s(item, "mention"),
            sent_ms: get_n(item, "sent"),
        }
    }
}

fn pace_key(scope: &str) -> Item {
    StateTable::key(format!("pace#{scope}"), "pace")
}

fn storm_key(channel: &str) -> Item {
    StateTable::key(format!("storm#{channel}"), "storm")
}

fn meta_key(id: &str) -> Item {
    StateTable::key(format!("digest#{id}"), "digest")
}

fn entry_key(id: &str, key: &str) -> Item {
    StateTable::key(format!("digest#{id}"), &format!("entry#{key}"))
}

impl StateTable {
    /// Takes the next slot of pacer `scope` at `rate`: returns when the message may be sent (epoch ms;
    /// `now_ms` or later). Conditional updates on the `tat` as last seen, so every container gets its
    /// own slot; a lost race reads the winner's `tat` from the failed write and tries again.
    pub async fn reserve_slot(&self, scope: &str, rate: Rate, now_ms: i64) -> Result<i64, StateError> {
        // First guess: the pacer is idle (its `tat` is past), as in a quiet channel.
        let mut seen: Option<i64> = None;
        for _ in 0..32 {
            match self.take_slot(scope, rate, now_ms, seen).await? {
                Ok(send_at) => return Ok(send_at),
                // `None`: the item vanished between the two writes; start from an idle pacer again.
                Err(current) => seen = current,
            }
        }
        Err(StateError { operation: "UpdateItem (reserve slot)", detail: "too much contention on the pacer".into() })
    }

    /// Takes the next slot of pacer `scope` only if the pacer is idle (its `tat` is past), in one
    /// conditional write: `None` when it is busy (then [`reserve_slot`](Self::reserve_slot) waits in line).
    /// Cheap enough to try beside other calls.
    pub async fn idle_slot(&self, scope: &str, rate: Rate, now_ms: i64) -> Result<Option<i64>, StateError> {
        Ok(self.take_slot(scope, rate, now_ms, None).await?.ok())
    }

    /// One conditional write for the next slot, given the `tat` last seen (`None`: the pacer is idle).
    /// `Err(tat)`: the condition failed; the `tat` the write found, if any.
    async fn take_slot(
        &self,
        scope: &str,
        rate: Rate,
        now_ms: i64,
        seen: Option<i64>,
    ) -> Result<Result<i64, Option<i64>>, StateError> {
        let (send_at, new_tat) = rate.slot(seen, now_ms);
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(pace_key(scope)))
            .update_expression("SET tat = :new, #exp = :exp")
            .expression_attribute_names("#exp", TTL_ATTRIBUTE)
            .expression_attribute_values(":new", n(new_tat))
            .expression_attribute_values(":exp", n(now_ms / 1000 + PACE_KEEP_S))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        update = match seen {
            None => update
                .condition_expression("attribute_not_exists(tat) OR tat <= :now")
                .expression_attribute_values(":now", n(now_ms)),
            Some(old) => update.condition_expression("tat = :old").expression_attribute_values(":old", n(old)),
        };
        match update.send().await {
            Ok(_) => Ok(Ok(send_at)),
            Err(err) if is_condition_failure(&err) => {
                Ok(Err(update_conflict(&err).and_then(|item| get_n(&item, "tat"))))
            }
            Err(err) => Err(state_error("UpdateItem (pace)")(err)),
        }
    }

    /// Counts an arrival in `channel` (windows of `window_ms`) and, when the channel's post pacer is
    /// idle, takes its slot beside it (two writes at once): a quiet channel costs one round trip, made
    /// beside the claim. Returns the channel as it was.
    pub async fn arrive(
        &self,
        channel: &str,
        post_rate: Option<Rate>,
        window_ms: i64,
        now_ms: i64,
    ) -> Result<ChannelView, StateError> {
        let window = now_ms.div_euclid(window_ms.max(1));
        let fraction = (now_ms - window * window_ms) as f64 / window_ms.max(1) as f64;
        let current = format!("w{window}");
        let previous = format!("w{}", window - 1);
        let stale = format!("w{}", window - 2);
        // In a storm (`post_rate` None: the caller knows) no slot is tried: it would not be free.
        let quiet = async {
            match post_rate {
                Some(rate) => self.idle_slot(channel, rate, now_ms).await,
                None => Ok(None),
            }
        };
        let count = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(storm_key(channel)))
            .update_expression("ADD #cur :one SET last_arrival = :now, #exp = :exp REMOVE #stale")
            .expression_attribute_names("#cur", &current)
            .expression_attribute_names("#stale", &stale)
            .expression_attribute_names("#exp", TTL_ATTRIBUTE)
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":now", n(now_ms))
            .expression_attribute_values(":exp", n(now_ms / 1000 + PACE_KEEP_S))
            .return_values(ReturnValue::AllOld)
            .send();
        let (quiet, count) = tokio::join!(quiet, count);
        let slot_ms = quiet?;
        let item = count.map_err(state_error("UpdateItem (count arrival)"))?.attributes.unwrap_or_default();
        Ok(ChannelView {
            count: get_n(&item, &current).unwrap_or(0) + 1,
            previous: get_n(&item, &previous).unwrap_or(0),
            window_fraction: fraction,
            digest: get_s(&item, "digest"),
            last_digest: get_s(&item, "last_digest"),
            last_arrival_ms: get_n(&item, "last_arrival"),
            slot_ms,
            window,
        })
    }

    /// Takes back an arrival counted in `window` that made no new message (an update of an alarm's own
    /// message, a redelivery): the storm threshold counts new messages.
    pub async fn uncount_arrival(&self, channel: &str, window: i64) -> Result<(), StateError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(storm_key(channel)))
            .update_expression("ADD #w :minus")
            .condition_expression("attribute_exists(#w)")
            .expression_attribute_names("#w", format!("w{window}"))
            .expression_attribute_values(":minus", n(-1))
            .send()
            .await
            .map(drop)
            .or_else(|err| {
                if is_condition_failure(&err) { Ok(()) } else { Err(state_error("UpdateItem (uncount arrival)")(err)) }
            })
    }

    /// Points `channel` to digest `id` unless it points to another open one (then that one's ID is
    /// returned): one storm, one digest. `replace` is a stale digest the channel may be moved off.
    pub async fn open_digest(
        &self,
        channel: &str,
        id: &str,
        replace: Option<&str>,
        now_ms: i64,
    ) -> Result<String, StateError> {
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(storm_key(channel)))
            .update_expression("SET digest = :id, digest_since = :now")
            .expression_attribute_values(":id", s(id))
            .expression_attribute_values(":now", n(now_ms))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        update = match replace {
            Some(old) => update
                .condition_expression("attribute_not_exists(digest) OR digest = :old")
                .expression_attribute_values(":old", s(old)),
            None => update.condition_expression("attribute_not_exists(digest)"),
        };
        match update.send().await {
            Ok(_) => Ok(id.to_owned()),
            Err(err) if is_condition_failure(&err) => {
                match update_conflict(&err).and_then(|item| get_s(&item, "digest")) {
                    Some(other) => Ok(other),
                    // Removed in between (that storm just ended): a new storm, try once more as the first.
                    None => Box::pin(self.open_digest(channel, id, None, now_ms)).await,
                }
            }
            Err(err) => Err(state_error("UpdateItem (open digest)")(err)),
        }
    }

    /// Takes `channel` off digest `id` (its storm is over); a channel already moved on is left alone.
    pub async fn end_digest(&self, channel: &str, id: &str) -> Result<(), StateError> {
        let updated = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(storm_key(channel)))
            .update_expression("SET last_digest = :id REMOVE digest, digest_since")
            .condition_expression("digest = :id")
            .expression_attribute_values(":id", s(id))
            .send()
            .await;
        match updated {
            Ok(_) => Ok(()),
            Err(err) if is_condition_failure(&err) => Ok(()),
            Err(err) => Err(state_error("UpdateItem (end digest)")(err)),
        }
    }

    /// Writes (or moves on) one alarm's line of digest `id`; an older state than the one stored is
    /// left out (the line shows the latest). Then counts it in the digest's `version`, and returns the
    /// meta as it was before: who holds the lease, what is shown.
    pub async fn add_entry(
        &self,
        id: &str,
        channel: &str,
        entry: &StoredEntry,
        now_ms: i64,
        expires_at: i64,
    ) -> Result<DigestMeta, StateError> {
        let mut item = entry_key(id, &entry.key);
        item.extend([
            ("kind".to_owned(), s("digest_entry")),
            ("entry".to_owned(), s(&entry.key)),
            ("name".to_owned(), s(&entry.name)),
            ("state".to_owned(), s(&entry.state)),
            ("rank".to_owned(), n(entry.rank)),
            ("emoji".to_owned(), s(&entry.emoji)),
            ("changed_at".to_owned(), n(entry.changed_at_ms)),
            (TTL_ATTRIBUTE.to_owned(), n(expires_at)),
        ]);
        for (name, value) in
            [("url", &entry.url), ("account", &entry.account), ("region", &entry.region), ("mention", &entry.mention)]
        {
            if let Some(value) = value {
                item.insert(name.to_owned(), s(value));
            }
        }
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            // Only a later state replaces a line: the same one written again (a retry rejoining) keeps
            // what the line already has (`sent`, through a webhook: not sent a second time).
            .condition_expression("attribute_not_exists(pk) OR changed_at < :at")
            .expression_attribute_values(":at", n(entry.changed_at_ms))
            .send()
            .await;
        match put {
            Ok(_) => {}
            // A later state of this alarm is there already: that is what the line shows.
            Err(err) if is_condition_failure(&err) => {}
            Err(err) => return Err(state_error("PutItem (digest entry)")(err)),
        }
        let touch = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(meta_key(id)))
            .update_expression(
                "ADD version :one SET #kind = :kind, channel = :channel, started = if_not_exists(started, :now), last_entry = :now, #exp = :exp",
            )
            .expression_attribute_names("#kind", "kind")
            .expression_attribute_names("#exp", TTL_ATTRIBUTE)
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":kind", s("digest"))
            .expression_attribute_values(":channel", s(channel))
            .expression_attribute_values(":now", n(now_ms))
            .expression_attribute_values(":exp", n(expires_at))
            .return_values(ReturnValue::AllOld);
        let old = touch.send().await.map_err(state_error("UpdateItem (count digest entry)"))?;
        Ok(DigestMeta::from_item(id, &old.attributes.unwrap_or_default()))
    }

    /// Takes (or renews) the lease on digest `id` until `until_ms`, for a holder whose invocation ends at
    /// `holder_until_ms`: the meta as it now stands, or `None` when another container holds it.
    pub async fn lease_digest(
        &self,
        id: &str,
        owner: &str,
        now_ms: i64,
        until_ms: i64,
        holder_until_ms: i64,
    ) -> Result<Option<DigestMeta>, StateError> {
        let updated = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(meta_key(id)))
            .update_expression("SET lease_owner = :owner, lease_until = :until, holder_until = :holder")
            .expression_attribute_values(":holder", n(holder_until_ms))
            .condition_expression(
                "attribute_exists(pk) AND (attribute_not_exists(lease_owner) OR lease_until < :now OR lease_owner = :owner)",
            )
            .expression_attribute_values(":owner", s(owner))
            .expression_attribute_values(":until", n(until_ms))
            .expression_attribute_values(":now", n(now_ms))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match updated {
            Ok(out) => Ok(Some(DigestMeta::from_item(id, &out.attributes.unwrap_or_default()))),
            Err(err) if is_condition_failure(&err) => Ok(None),
            Err(err) => Err(state_error("UpdateItem (lease digest)")(err)),
        }
    }

    /// Makes `owner` (whose invocation ends at `until_ms`) the holder's successor, unless a container
    /// that can stay longer already is. False: someone else is.
    pub async fn claim_succession(&self, id: &str, owner: &str, until_ms: i64) -> Result<bool, StateError> {
        let updated = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(meta_key(id)))
            .update_expression("SET successor = :owner, successor_until = :until")
            .condition_expression(
                "attribute_exists(pk) AND (attribute_not_exists(successor_until) OR successor_until < :until)",
            )
            .expression_attribute_values(":owner", s(owner))
            .expression_attribute_values(":until", n(until_ms))
            .send()
            .await;
        match updated {
            Ok(_) => Ok(true),
            Err(err) if is_condition_failure(&err) => Ok(false),
            Err(err) => Err(state_error("UpdateItem (digest successor)")(err)),
        }
    }

    /// Every entry of digest `id` (a consistent read: every entry counted so far is in it).
    pub async fn digest_entries(&self, id: &str) -> Result<Vec<StoredEntry>, StateError> {
        let items = self.query_all(&format!("digest#{id}"), Some("entry#"), true, "Query (digest entries)").await?;
        Ok(items.iter().map(StoredEntry::from_item).collect())
    }

    /// Records the `ts` of message `page` of digest `id`, under `owner`'s lease. False: the lease was lost.
    /// The first page puts the digest in the open index (state/open.rs) until its storm is over.
    pub async fn record_digest_page(&self, id: &str, owner: &str, page: usize, ts: &str) -> Result<bool, StateError> {
        let set = if page == 0 { "SET #page = :ts, open_in = :open_in, open_sk = :open_sk" } else { "SET #page = :ts" };
        self.under_digest_lease(id, owner, set, |u| {
            let u =
                u.expression_attribute_names("#page", format!("page{page}")).expression_attribute_values(":ts", s(ts));
            if page != 0 {
                return u;
            }
            super::join_open(&format!("digest#{id}"))
                .into_iter()
                .fold(u, |u, (name, value)| u.expression_attribute_values(format!(":{name}"), value))
        })
        .await
    }

    /// Records mentions made (a thread reply for those who joined after the first message).
    pub async fn record_digest_mentions(&self, id: &str, owner: &str, mentions: &[String]) -> Result<bool, StateError> {
        if mentions.is_empty() {
            return Ok(true);
        }
        let set = AttributeValue::Ss(mentions.to_vec());
        self.under_digest_lease(id, owner, "ADD mentioned :m", |u| u.expression_attribute_values(":m", set)).await
    }

    /// Marks webhook entries sent, each only if it still shows the state that was sent.
    pub async fn mark_entries_sent(&self, id: &str, sent: &[(String, i64)], now_ms: i64) -> Result<(), StateError> {
        for chunk in sent.chunks(16) {
            let writes = chunk.iter().map(|(key, changed_at)| {
                self.client
                    .update_item()
                    .table_name(&self.table)
                    .set_key(Some(entry_key(id, key)))
                    .update_expression("SET sent = :now")
                    .condition_expression("changed_at = :at")
                    .expression_attribute_values(":now", n(now_ms))
                    .expression_attribute_values(":at", n(*changed_at))
                    .send()
            });
            for result in join_all(writes).await {
                match result {
                    Ok(_) => {}
                    Err(err) if is_condition_failure(&err) => {} // a newer state: it goes out in the next list
                    Err(err) => return Err(state_error("UpdateItem (entry sent)")(err)),
                }
            }
        }
        Ok(())
    }

    /// Records that the messages show `version`, and extends the lease to `until_ms`.
    pub async fn digest_shown(&self, id: &str, owner: &str, version: i64, until_ms: i64) -> Result<bool, StateError> {
        self.under_digest_lease(id, owner, "SET shown = :v, lease_until = :until", |u| {
            u.expression_attribute_values(":v", n(version)).expression_attribute_values(":until", n(until_ms))
        })
        .await
    }

    /// Gives the lease back, only if nothing was counted since `version` was shown (else the holder
    /// shows the rest first). `over_ms`: the storm is over and the messages say so. False: not given
    /// back (new entries, or the lease was lost).
    pub async fn release_digest(
        &self,
        id: &str,
        owner: &str,
        version: i64,
        over_ms: Option<i64>,
    ) -> Result<bool, StateError> {
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(meta_key(id)))
            .condition_expression("lease_owner = :owner AND version = :v")
            .expression_attribute_values(":owner", s(owner))
            .expression_attribute_values(":v", n(version));
        update = match over_ms {
            Some(over) => update
                .update_expression("SET shown = :v, #over = :over REMOVE lease_owner, lease_until, open_in, open_sk")
                .expression_attribute_names("#over", "over")
                .expression_attribute_values(":over", n(over)),
            None => update.update_expression("SET shown = :v REMOVE lease_owner, lease_until"),
        };
        match update.send().await {
            Ok(_) => Ok(true),
            Err(err) if is_condition_failure(&err) => Ok(false),
            Err(err) => Err(state_error("UpdateItem (release digest)")(err)),
        }
    }

    /// Whether digest `id` has the line `key` showing the state of `changed_at_ms`: an attempt that died
    /// after joining the digest left it there, and its retry joins that digest again.
    pub async fn digest_has_entry(&self, id: &str, key: &str, changed_at_ms: i64) -> Result<bool, StateError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(entry_key(id, key)))
            .consistent_read(true)
            .send()
            .await
            .map_err(state_error("GetItem (digest entry)"))?;
        Ok(out.item.is_some_and(|item| get_n(&item, "changed_at") == Some(changed_at_ms)))
    }

    /// Gives up `owner`'s lease at once (a holder that cannot go on), without marking anything shown.
    pub async fn drop_digest_lease(&self, id: &str, owner: &str) -> Result<bool, StateError> {
        self.under_digest_lease(id, owner, "REMOVE lease_owner, lease_until", |u| u).await
    }

    /// The meta of digest `id` (a consistent read).
    pub async fn digest_meta(&self, id: &str) -> Result<DigestMeta, StateError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(meta_key(id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(state_error("GetItem (digest)"))?;
        Ok(DigestMeta::from_item(id, &out.item.unwrap_or_default()))
    }

    async fn under_digest_lease(
        &self,
        id: &str,
        owner: &str,
        expression: &str,
        values: impl FnOnce(
            aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder,
        ) -> aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder,
    ) -> Result<bool, StateError> {
        let update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(meta_key(id)))
            .update_expression(expression)
            .condition_expression("lease_owner = :owner")
            .expression_attribute_values(":owner", s(owner));
        match values(update).send().await {
            Ok(_) => Ok(true),
            Err(err) if is_condition_failure(&err) => Ok(false),
            Err(err) => Err(state_error("UpdateItem (digest under lease)")(err)),
        }
    }
}

/// Runs the futures at once and returns their outputs in order (a handful of writes; no extra crate).
async fn join_all<F: std::future::Future>(futures: impl IntoIterator<Item = F>) -> Vec<F::Output> {
    let handles: Vec<_> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: BTreeMap<usize, F::Output> = BTreeMap::new();
    let mut pending: Vec<(usize, std::pin::Pin<Box<F>>)> = handles.into_iter().enumerate().collect();
    std::future::poll_fn(|cx| {
        pending.retain_mut(|(i, f)| match f.as_mut().poll(cx) {
            std::task::Poll::Ready(out) => {
                outputs.insert(*i, out);
                false
            }
            std::task::Poll::Pending => true,
        });
        if pending.is_empty() { std::task::Poll::Ready(()) } else { std::task::Poll::Pending }
    })
    .await;
    outputs.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gcra_lets_a_burst_through_then_one_per_interval() {
        let rate = Rate { interval_ms: 1000, burst: 3 };
        let mut tat = None;
        let mut sends = Vec::new();
        for _ in 0..6 {
            let (send_at, new_tat) = rate.slot(tat, 10_000);
            sends.push(send_at - 10_000);
            tat = Some(new_tat);
        }
        assert_eq!(sends, [0, 0, 0, 1000, 2000, 3000]);
        // After a quiet spell the burst is there again.
        assert_eq!(rate.slot(tat, 60_000).0, 60_000);
    }

    #[test]
    fn a_storm_is_open_only_while_arrivals_keep_coming() {
        let view = ChannelView { digest: Some("d1".into()), last_arrival_ms: Some(50_000), ..Default::default() };
        assert_eq!(view.open_digest(60_000, 20_000), Some("d1"));
        assert_eq!(view.open_digest(71_000, 20_000), None);
        assert_eq!(view.stale_digest(71_000, 20_000), Some("d1"));
        let recent = ChannelView { count: 3, previous: 4, window_fraction: 0.25, ..Default::default() };
        assert!((recent.recent() - 6.0).abs() < 1e-9);
    }
}
