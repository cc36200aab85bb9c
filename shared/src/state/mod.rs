//! The DynamoDB state table that every function shares (`STATE_TABLE`): one item per thing we must
//! remember, keyed `pk` / `sk`, with a `kind` and a TTL (`expires_at`, epoch seconds) on everything.
//!
//! Many containers use it at once, so every claim and transition is one conditional write, never a
//! read followed by a write:
//! - a notification (SNS `MessageId`, EventBridge `id`) is claimed before it is posted and marked
//!   delivered after ([`StateTable::claim_notification`]);
//! - a Slack event (`event_id`) is claimed before a mention is acted on, so Slack's retries never start a
//!   second pipeline ([`StateTable::claim_event`]); the deploy it started is recorded under its thread for
//!   the pipeline's callback, which reports the result once ([`StateTable::finish_deploy`]);
//! - a change waiting for approval is a request that approvers join once and one container runs
//!   ([`StateTable::approve_request`], [`StateTable::move_request`]);
//! - an alarm's or deployment's lifecycle (the Slack message that shows it) is changed only under a
//!   short lease taken by conditional update ([`StateTable::lock_lifecycle`]), so two containers never
//!   create two messages for it or update it out of order.
//!
//! - in an alarm storm, channels are paced and a storm's alarms join one live digest (`storm.rs`).
//! - incidents are numbered by a counter, declared once by a claim, changed only while open, and their
//!   timeline entries written once each (`incidents.rs`).
//! - what is open (paging, muted or waiting alerts, incidents, approvals, deploys, storms) is in one
//!   sparse index, joined and left by the very writes above (`open.rs`), for `/status`.
//!
//! Attribute names without an underscore are always written through `#aliases` in expressions: many
//! plain words (`state`, `status`, ...) are reserved in DynamoDB's expression language.
//!
//! DynamoDB's TTL deletes expired items lazily (within days), so reads treat `expires_at` in the past
//! as absent, and the conditions do too.
//!
//! Adapter floor: imports the base floor only.

mod changes;
mod followups;
mod history;
mod incidents;
mod open;
mod requests;
mod storm;

pub use changes::{
    CHANGE_KEEP_DAYS, Change, LATEST as LATEST_CHANGES, account_key as change_account_key,
    channel_key as change_channel_key,
};
pub use followups::FollowUp;
pub use history::{ApprovalSummary, Episode, History, IncidentSummary};
pub use incidents::{
    Acknowledgement, Declaration, INCIDENT_RETENTION_S, IncidentChange, IncidentRecord, IncidentStatus, MuteEnd,
    TimelineEntry,
};
pub use open::{
    MAX_PAGES as MAX_INDEX_PAGES, OPEN_INDEX, OPEN_PARTITION, OPEN_SORT, OpenAlert, OpenDeploy, OpenItem, OpenItems,
};
pub use requests::{Approval, EXECUTING_LEASE_S, RequestStatus, StoredRequest};
pub use storm::{ChannelView, DigestMeta, Rate, StoredEntry};

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::put_item::builders::PutItemFluentBuilder;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure};

/// The table's TTL attribute (template.yaml enables TTL on it).
pub const TTL_ATTRIBUTE: &str = "expires_at";

/// How long history is kept: a year and a bit, for a period compared with the same one a year before.
pub const HISTORY_KEEP_DAYS: i64 = 400;

/// `history#2026-12-06`: the partition of the UTC day of `at_ms`.
pub fn history_day_key(at_ms: i64) -> String {
    let day =
        time::OffsetDateTime::from_unix_timestamp(at_ms.div_euclid(1000)).map(|t| t.date()).unwrap_or(time::Date::MIN);
    format!("history#{:04}-{:02}-{:02}", day.year(), u8::from(day.month()), day.day())
}

type Item = HashMap<String, AttributeValue>;

/// A state-table call failed: DynamoDB unreachable, throttled, or refusing access.
#[derive(Clone, Debug, thiserror::Error)]
#[error("state table {operation} failed: {detail}")]
pub struct StateError {
    pub operation: &'static str,
    pub detail: String,
}

fn state_error<E, R>(operation: &'static str) -> impl FnOnce(aws_sdk_dynamodb::error::SdkError<E, R>) -> StateError
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug,
{
    move |err| StateError { operation, detail: DisplayErrorContext(err).to_string() }
}

fn is_condition_failure<E: ProvideErrorMetadata, R>(err: &aws_sdk_dynamodb::error::SdkError<E, R>) -> bool {
    err.as_service_error().and_then(ProvideErrorMetadata::code) == Some("ConditionalCheckFailedException")
}

/// The item a conditional `PutItem` found when its condition failed (asked for with
/// `ReturnValuesOnConditionCheckFailure::AllOld`).
fn put_conflict<R>(err: &aws_sdk_dynamodb::error::SdkError<PutItemError, R>) -> Option<Item> {
    match err.as_service_error()? {
        PutItemError::ConditionalCheckFailedException(c) => c.item.clone(),
        _ => None,
    }
}

/// The item a conditional `UpdateItem` found when its condition failed (as [`put_conflict`]).
fn update_conflict<R>(err: &aws_sdk_dynamodb::error::SdkError<UpdateItemError, R>) -> Option<Item> {
    match err.as_service_error()? {
        UpdateItemError::ConditionalCheckFailedException(c) => c.item.clone(),
        _ => None,
    }
}

/// The outcome of claiming a notification.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Claim {
    /// Ours to post; mark it delivered, or release it, afterwards.
    Claimed,
    /// Posted before (a redelivery or a retry): skip it.
    Delivered,
    /// Another container holds it right now; if that one fails it releases the claim, and its own
    /// retry posts it.
    InProgress,
    /// Ours, taken over from an attempt whose lease ran out without a word (a container that died):
    /// that attempt may have got part of the way (a line in a storm digest, say).
    TakenOver,
}

/// Where a lifecycle's Slack message is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Thread {
    pub channel: String,
    pub ts: String,
}

/// A lifecycle as found under our lease: `thread` is `None` when there is no message yet (or the record
/// expired, which counts as none).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Lifecycle {
    pub thread: Option<Thread>,
    pub state: Option<String>,
    /// When the state shown was entered (epoch ms), to put late notifications in their place.
    pub changed_at_ms: Option<i64>,
    /// When the current ALARM began (epoch ms), while in ALARM.
    pub alarm_since_ms: Option<i64>,
    /// How many state changes the message has shown.
    pub changes: i64,
    /// The incident declared from this alert (`🚨 INC-12 declared by …`), shown on its message from then on.
    pub incident: Option<String>,
    /// Who acknowledged the alert, and when (epoch s), while it pages: its repeats do not page again.
    pub acknowledged: Option<(String, i64)>,
    /// The alarm's actions are muted: by whom, until when (epoch s), and whether until it is OK.
    pub muted: Option<Mute>,
    /// The Alertmanager group is silenced.
    pub silenced: Option<Silence>,
}

/// An Alertmanager silence made from an alert's message, as its lifecycle record keeps it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Silence {
    pub id: String,
    pub by: String,
    /// Epoch s.
    pub until: i64,
}

/// A mute of an alarm's actions, as its lifecycle record keeps it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mute {
    pub by: String,
    /// Epoch s; for a mute until OK, the latest it ends.
    pub until: i64,
    pub until_ok: bool,
}

/// What to record when the lease is given back after the message was posted or updated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LifecycleUpdate {
    pub thread: Thread,
    pub state: String,
    pub changed_at_ms: i64,
    pub alarm_since_ms: Option<i64>,
    pub changes: i64,
    pub expires_at: i64,
    /// In the open index from now on (it pages, or waits for someone: a deployment at READY), or not.
    pub open: bool,
    /// Muted or silenced, as the lease found it: then it stays in the open index when it stops paging.
    pub quiet: bool,
    /// What `/status` shows of it.
    pub facts: AlertFacts,
}

/// The attributes joining the open index (`open.rs`), for the item of key `pk` (also the values `:open_in`
/// and `:open_sk` of an update expression `SET open_in = :open_in, open_sk = :open_sk`). Here, beside the
/// table's other write helpers, so the items' modules use it without importing the index's reader.
pub(crate) fn join_open(pk: &str) -> [(String, AttributeValue); 2] {
    [(OPEN_PARTITION.to_owned(), s(OPEN_INDEX)), (OPEN_SORT.to_owned(), s(pk))]
}

/// `update` with the values of `SET open_in = :open_in, open_sk = :open_sk` for the item of key `pk`.
pub(crate) fn open_values(
    update: aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder,
    pk: &str,
) -> aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder {
    join_open(pk).into_iter().fold(update, |u, (name, value)| u.expression_attribute_values(format!(":{name}"), value))
}

/// How an unlock's conditional write ended.
enum Unlock {
    Done,
    LeaseLost,
    /// The lease is ours, but a mute or silence came or went since the lock: send the other form.
    QuietChanged,
}

/// What `/status` shows of an alert beside its state, written with its lifecycle record.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AlertFacts {
    pub title: String,
    pub account: Option<String>,
    pub account_name: Option<String>,
    pub region: Option<String>,
    /// The route's team.
    pub team: Option<String>,
    /// The alarm in the AWS console.
    pub url: Option<String>,
}

/// A deploy started from a Slack thread, as the callback finds it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeployRecord {
    pub channel: String,
    /// The thread the deploy was asked for in, and answered in.
    pub thread_ts: String,
    /// The mention itself (reactions go on it).
    pub mention_ts: String,
    /// Our answer in the thread (updated with the result).
    pub reply_ts: Option<String>,
    pub project: String,
    pub provider: String,
    pub requested_by: String,
    pub pipeline_id: Option<String>,
    pub pipeline_url: String,
    /// `started`, or `unknown` when the CI server did not answer in time.
    pub status: String,
}

impl DeployRecord {
    fn from_item(item: &Item) -> Self {
        let get = |k: &str| get_s(item, k).unwrap_or_default();
        Self {
            channel: get("channel"),
            thread_ts: get("thread_ts"),
            mention_ts: get("mention_ts"),
            reply_ts: get_s(item, "reply_ts"),
            project: get("project"),
            provider: get("provider"),
            requested_by: get("requested_by"),
            pipeline_id: get_s(item, "pipeline_id"),
            pipeline_url: get("pipeline_url"),
            status: get("status"),
        }
    }
}

/// What the pipeline's callback found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeployFinish {
    /// The result is ours to post.
    Finished(Box<DeployRecord>),
    /// A result was reported before (the callback was repeated): nothing to post.
    AlreadyReported(String),
    /// No deploy was started in that thread (or its record expired).
    NoDeploy,
}

/// An owner name for claims and leases, unique to this process, moment and call: `prefix:pid:nanos:n`.
pub fn unique_owner(prefix: &str) -> String {
    static CALLS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let nanos = crate::clock::subsec_nanos();
    let n = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{prefix}:{}:{nanos}:{n}", std::process::id())
}

/// A DynamoDB client for the state table: short timeouts and one retry, so an unreachable DynamoDB
/// costs an invocation about a second, once (the caller then does without the table), not its deadline.
pub fn dynamodb_client(sdk: &aws_types::SdkConfig) -> aws_sdk_dynamodb::Client {
    let config = aws_sdk_dynamodb::config::Builder::from(sdk)
        .timeout_config(
            aws_sdk_dynamodb::config::timeout::TimeoutConfig::builder()
                .connect_timeout(std::time::Duration::from_millis(500))
                // Through our HTTP adapter, connect + read is one request's whole time: without a read
                // timeout each attempt ended at the 500 ms connect timeout.
                .read_timeout(std::time::Duration::from_millis(700))
                .operation_attempt_timeout(std::time::Duration::from_millis(700))
                .operation_timeout(std::time::Duration::from_millis(1500))
                .build(),
        )
        .retry_config(aws_sdk_dynamodb::config::retry::RetryConfig::standard().with_max_attempts(2))
        .build();
    aws_sdk_dynamodb::Client::from_conf(config)
}

/// The state table of a container.
#[derive(Clone, Debug)]
pub struct StateTable {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn get_s(item: &Item, key: &str) -> Option<String> {
    item.get(key).and_then(|v| v.as_s().ok()).cloned()
}

fn get_n(item: &Item, key: &str) -> Option<i64> {
    item.get(key).and_then(|v| v.as_n().ok()).and_then(|v| v.parse().ok())
}

impl StateTable {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into() }
    }

    /// The same table through a client that waits longer and retries more: for work that must finish
    /// rather than fail fast (showing a storm digest, when DynamoDB is busy with the storm itself).
    pub fn patient(&self) -> Self {
        self.with_timeouts(Duration::from_secs(6), Some(3))
    }

    /// The same table through a client for a person's read of many items (`/status`: the open index, up to
    /// 1 MB a page): one attempt may take 2 s (the notifier's 700 ms fit single items), all of them 2.2 s,
    /// within a command's 2.5 s.
    pub fn for_reads(&self) -> Self {
        self.with_timeouts(Duration::from_millis(2200), None)
    }

    /// This client with 2 s an attempt (connecting 500 ms), `total` in all, and `attempts` (`None`: as it was).
    fn with_timeouts(&self, total: Duration, attempts: Option<u32>) -> Self {
        use aws_sdk_dynamodb::config::{retry::RetryConfig, timeout::TimeoutConfig};
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(Duration::from_millis(500))
            .read_timeout(Duration::from_secs(2))
            .operation_attempt_timeout(Duration::from_secs(2))
            .operation_timeout(total)
            .build();
        let mut config = self.client.config().to_builder().timeout_config(timeouts);
        if let Some(attempts) = attempts {
            config = config.retry_config(RetryConfig::standard().with_max_attempts(attempts));
        }
        Self { client: aws_sdk_dynamodb::Client::from_conf(config.build()), table: self.table.clone() }
    }

    fn key(pk: String, sk: &str) -> Item {
        HashMap::from([("pk".to_owned(), s(pk)), ("sk".to_owned(), s(sk))])
    }

    /// A conditional `PutItem` of `item` that knows its own write: `item` gets a `writer` unique to this
    /// call, so when the SDK sends the write again after an answer that came too late, the item it finds
    /// is recognised as this one. `Ok(None)`: written; `Ok(Some(found))`: the condition failed on `found`.
    async fn put_once(
        &self,
        mut item: Item,
        condition: impl FnOnce(PutItemFluentBuilder) -> PutItemFluentBuilder,
        operation: &'static str,
    ) -> Result<Option<Item>, StateError> {
        let writer = unique_owner("put");
        item.insert("writer".to_owned(), s(&writer));
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        match condition(put).send().await {
            Ok(_) => Ok(None),
            Err(err) if is_condition_failure(&err) => {
                let found = put_conflict(&err).unwrap_or_default();
                Ok((get_s(&found, "writer").as_deref() != Some(writer.as_str())).then_some(found))
            }
            Err(err) => Err(state_error(operation)(err)),
        }
    }

    /// Every item under partition `pk` (whose sort key begins with `sk_prefix`, when given), all pages, in
    /// sort-key order: `consistent` reads strongly.
    async fn query_all(
        &self,
        pk: &str,
        sk_prefix: Option<&str>,
        consistent: bool,
        operation: &'static str,
    ) -> Result<Vec<Item>, StateError> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let mut query = self
                .client
                .query()
                .table_name(&self.table)
                .expression_attribute_values(":pk", s(pk))
                .consistent_read(consistent)
                .set_exclusive_start_key(start);
            query = match sk_prefix {
                Some(prefix) => query
                    .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                    .expression_attribute_values(":prefix", s(prefix)),
                None => query.key_condition_expression("pk = :pk"),
            };
            let page = query.send().await.map_err(state_error(operation))?;
            items.extend(page.items().iter().cloned());
            match page.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(items),
            }
        }
    }

    /// Sends a conditional `UpdateItem`: `true` when written, `false` when its condition failed.
    async fn update_if(
        &self,
        update: aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder,
        operation: &'static str,
    ) -> Result<bool, StateError> {
        match update.send().await {
            Ok(_) => Ok(true),
            Err(err) if is_condition_failure(&err) => Ok(false),
            Err(err) => Err(state_error(operation)(err)),
        }
    }

    /// An `UpdateItem` of lifecycle `key`'s record, to build on.
    fn lifecycle_update(
        &self,
        key: &str,
    ) -> aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder {
        self.client.update_item().table_name(&self.table).set_key(Some(Self::lifecycle_key(key)))
    }

    /// The item under `key`, read strongly consistent.
    async fn get_consistent(&self, key: Item, operation: &'static str) -> Result<Option<Item>, StateError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(state_error(operation))?;
        Ok(out.item)
    }

    fn notification_key(id: &str) -> Item {
        Self::key(format!("notification#{id}"), "notification")
    }

    /// Claims notification `id` for `owner` until `lease_until_ms`. A claim whose holder vanished
    /// (lease over, never delivered) may be taken again.
    pub async fn claim_notification(
        &self,
        id: &str,
        owner: &str,
        now_ms: i64,
        lease_until_ms: i64,
        expires_at: i64,
    ) -> Result<Claim, StateError> {
        let key = Self::notification_key(id);
        self.claim(key, "notification", owner, now_ms, Some(lease_until_ms), expires_at, "PutItem (claim notification)")
            .await
    }

    /// One conditional PutItem that claims `key`: free, expired, or (with a lease) a claim whose lease
    /// ran out. Without a lease a claim is never taken over: its holder may have acted before it vanished.
    #[allow(clippy::too_many_arguments)]
    async fn claim(
        &self,
        key: Item,
        kind: &str,
        owner: &str,
        now_ms: i64,
        lease_until_ms: Option<i64>,
        expires_at: i64,
        operation: &'static str,
    ) -> Result<Claim, StateError> {
        let mut item = key;
        item.extend([
            ("kind".to_owned(), s(kind)),
            ("status".to_owned(), s("claimed")),
            ("owner".to_owned(), s(owner)),
            (TTL_ATTRIBUTE.to_owned(), n(expires_at)),
        ]);
        let mut put = self
            .client
            .put_item()
            .table_name(&self.table)
            .expression_attribute_names("#exp", TTL_ATTRIBUTE)
            .expression_attribute_values(":now_s", n(now_ms / 1000))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        put = match lease_until_ms {
            Some(until) => {
                item.insert("lease_until".to_owned(), n(until));
                put.condition_expression(
                    "attribute_not_exists(pk) OR #exp < :now_s OR (#status = :claimed AND lease_until < :now_ms)",
                )
                .expression_attribute_names("#status", "status")
                .expression_attribute_values(":claimed", s("claimed"))
                .expression_attribute_values(":now_ms", n(now_ms))
            }
            None => put.condition_expression("attribute_not_exists(pk) OR #exp < :now_s"),
        };
        let leased = lease_until_ms.is_some();
        match put.set_item(Some(item)).return_values(ReturnValue::AllOld).send().await {
            Ok(out) => {
                let old = out.attributes.unwrap_or_default();
                let crashed = leased
                    && get_s(&old, "status").as_deref() == Some("claimed")
                    && get_s(&old, "owner").as_deref() != Some(owner);
                Ok(if crashed { Claim::TakenOver } else { Claim::Claimed })
            }
            Err(err) if is_condition_failure(&err) => {
                let old = put_conflict(&err);
                let status = old.as_ref().and_then(|i| get_s(i, "status"));
                let holder = old.as_ref().and_then(|i| get_s(i, "owner"));
                Ok(match status.as_deref() {
                    Some("delivered") => Claim::Delivered,
                    // Our own earlier attempt of this very write: it succeeded, but its answer came too late
                    // and the SDK sent it again. The claim is ours.
                    Some("claimed") if holder.as_deref() == Some(owner) => Claim::Claimed,
                    _ => Claim::InProgress,
                })
            }
            Err(err) => Err(state_error(operation)(err)),
        }
    }

    /// Marks notification `id` delivered: a redelivery of it is skipped until `expires_at`.
    pub async fn mark_delivered(&self, id: &str, expires_at: i64) -> Result<(), StateError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::notification_key(id)))
            .update_expression("SET #status = :delivered, #exp = :exp REMOVE lease_until")
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#exp", TTL_ATTRIBUTE)
            .expression_attribute_values(":delivered", s("delivered"))
            .expression_attribute_values(":exp", n(expires_at))
            .send()
            .await
            .map(drop)
            .map_err(state_error("UpdateItem (mark delivered)"))
    }

    /// Leaves `owner`'s claim of notification `id` as a dead attempt's: its lease run out, so the next
    /// attempt (Lambda's retry, the failure queue's re-drive) takes it over and knows this one may have
    /// got part of the way (its line in a storm digest), instead of starting afresh.
    pub async fn abandon_notification(&self, id: &str, owner: &str) -> Result<(), StateError> {
        let update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::notification_key(id)))
            .update_expression("SET lease_until = :zero")
            .condition_expression("#owner = :owner AND #status = :claimed")
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":owner", s(owner))
            .expression_attribute_values(":claimed", s("claimed"))
            .expression_attribute_values(":zero", n(0));
        self.update_if(update, "UpdateItem (abandon notification)").await.map(drop)
    }

    /// Gives a claim back after a failed post, so a retry may claim it at once. Only `owner`'s claim.
    pub async fn release_notification(&self, id: &str, owner: &str) -> Result<(), StateError> {
        self.release(Self::notification_key(id), owner, "DeleteItem (release notification)").await
    }

    async fn release(&self, key: Item, owner: &str, operation: &'static str) -> Result<(), StateError> {
        let deleted = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .condition_expression("#owner = :owner AND #status = :claimed")
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":owner", s(owner))
            .expression_attribute_values(":claimed", s("claimed"))
            .send()
            .await;
        match deleted {
            Ok(_) => Ok(()),
            Err(err) if is_condition_failure(&err) => Ok(()), // someone else's by now: nothing of ours to give back
            Err(err) => Err(state_error(operation)(err)),
        }
    }

    /// Records a signed Slack request (`id`: a hash of its signature) as seen, until `expires_at` (past
    /// the 5-minute window in which the signature is accepted): a claim that is never given back.
    /// Returns false when it was seen before: a replay of a captured request.
    pub async fn first_arrival(&self, id: &str, now_ms: i64, expires_at: i64) -> Result<bool, StateError> {
        let key = Self::key(format!("replay#{id}"), "replay");
        // An owner of this arrival alone, so the SDK's retry of this write is not taken for a replay.
        let owner = unique_owner("request");
        let claim =
            self.claim(key, "slack_request", &owner, now_ms, None, expires_at, "PutItem (request seen)").await?;
        Ok(claim == Claim::Claimed)
    }

    fn event_key(event_id: &str) -> Item {
        Self::key(format!("event#{event_id}"), "event")
    }

    /// Claims Slack event `event_id` before anything is done for it. Never taken over: a holder that
    /// vanished may have started a pipeline, so only its own [`release_event`](Self::release_event)
    /// (nothing was started) lets a retry run it again.
    pub async fn claim_event(
        &self,
        event_id: &str,
        owner: &str,
        now_ms: i64,
        expires_at: i64,
    ) -> Result<Claim, StateError> {
        self.claim(Self::event_key(event_id), "slack_event", owner, now_ms, None, expires_at, "PutItem (claim event)")
            .await
    }

    /// Marks event `event_id` handled (`Claim::Delivered` to a retry from now on).
    pub async fn finish_event(&self, event_id: &str) -> Result<(), StateError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::event_key(event_id)))
            .update_expression("SET #status = :done")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":done", s("delivered"))
            .send()
            .await
            .map(drop)
            .map_err(state_error("UpdateItem (finish event)"))
    }

    /// Gives event `event_id` back when nothing was started for it, so Slack's retry may run it.
    pub async fn release_event(&self, event_id: &str, owner: &str) -> Result<(), StateError> {
        self.release(Self::event_key(event_id), owner, "DeleteItem (release event)").await
    }

    fn deploy_key(channel: &str, thread_ts: &str) -> Item {
        Self::key(format!("deploy#{channel}#{thread_ts}"), "deploy")
    }

    /// Records the deploy started in a thread, for the pipeline's callback. A later deploy in the same
    /// thread replaces it: the callback reports the newest.
    pub async fn record_deploy(
        &self,
        deploy: &DeployRecord,
        timeout_at: i64,
        expires_at: i64,
    ) -> Result<(), StateError> {
        let mut item = Self::deploy_key(&deploy.channel, &deploy.thread_ts);
        item.extend([
            ("kind".to_owned(), s("deploy")),
            ("channel".to_owned(), s(&deploy.channel)),
            ("thread_ts".to_owned(), s(&deploy.thread_ts)),
            ("mention_ts".to_owned(), s(&deploy.mention_ts)),
            ("project".to_owned(), s(&deploy.project)),
            ("provider".to_owned(), s(&deploy.provider)),
            ("requested_by".to_owned(), s(&deploy.requested_by)),
            ("pipeline_url".to_owned(), s(&deploy.pipeline_url)),
            ("status".to_owned(), s(&deploy.status)),
            ("timeout_at".to_owned(), n(timeout_at)),
            ("requested_at".to_owned(), n(crate::clock::now_unix())),
            (TTL_ATTRIBUTE.to_owned(), n(expires_at)),
        ]);
        if let Some(ts) = &deploy.reply_ts {
            item.insert("reply_ts".to_owned(), s(ts));
        }
        if let Some(id) = &deploy.pipeline_id {
            item.insert("pipeline_id".to_owned(), s(id));
        }
        // Not reported back yet: in the open index until its result or its timeout (state/open.rs).
        item.extend(join_open(&format!("deploy#{}#{}", deploy.channel, deploy.thread_ts)));
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map(drop)
            .map_err(state_error("PutItem (record deploy)"))
    }

    /// Records the result of the deploy in the thread, once: the first callback wins, a repeated one
    /// finds it reported, a callback for a thread with no deploy finds nothing.
    pub async fn finish_deploy(
        &self,
        channel: &str,
        thread_ts: &str,
        result: &str,
        now_ms: i64,
    ) -> Result<DeployFinish, StateError> {
        let updated = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::deploy_key(channel, thread_ts)))
            .update_expression("SET #result = :result, finished_at = :now REMOVE open_in, open_sk")
            .condition_expression("attribute_exists(pk) AND attribute_not_exists(#result) AND #exp >= :now_s")
            .expression_attribute_names("#result", "result")
            .expression_attribute_names("#exp", TTL_ATTRIBUTE)
            .expression_attribute_values(":result", s(result))
            .expression_attribute_values(":now", n(now_ms))
            .expression_attribute_values(":now_s", n(now_ms / 1000))
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match updated {
            Ok(out) => {
                Ok(DeployFinish::Finished(Box::new(DeployRecord::from_item(&out.attributes.unwrap_or_default()))))
            }
            Err(err) if is_condition_failure(&err) => {
                let old = update_conflict(&err);
                Ok(match old {
                    Some(item) if get_n(&item, TTL_ATTRIBUTE).is_none_or(|e| e >= now_ms / 1000) => {
                        DeployFinish::AlreadyReported(get_s(&item, "result").unwrap_or_default())
                    }
                    _ => DeployFinish::NoDeploy,
                })
            }
            Err(err) => Err(state_error("UpdateItem (finish deploy)")(err)),
        }
    }

    /// Marks the deploy of mention `mention_ts` in a thread as timed out, once, when it has no result and
    /// its `timeout_at` has passed. `None`: not so (finished, replaced by a newer deploy, not due, timed
    /// out before): nothing to say. A late result is still reported by the callback.
    pub async fn time_out_deploy(
        &self,
        channel: &str,
        thread_ts: &str,
        mention_ts: &str,
        now_s: i64,
    ) -> Result<Option<DeployRecord>, StateError> {
        let updated = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::deploy_key(channel, thread_ts)))
            .update_expression("SET timed_out_at = :now REMOVE open_in, open_sk")
            .condition_expression(
                "mention_ts = :mention AND attribute_not_exists(#result) AND attribute_not_exists(timed_out_at) AND timeout_at <= :now",
            )
            .expression_attribute_names("#result", "result")
            .expression_attribute_values(":mention", s(mention_ts))
            .expression_attribute_values(":now", n(now_s))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match updated {
            Ok(out) => Ok(Some(DeployRecord::from_item(&out.attributes.unwrap_or_default()))),
            Err(err) if is_condition_failure(&err) => Ok(None),
            Err(err) => Err(state_error("UpdateItem (time out deploy)")(err)),
        }
    }

    /// Takes a recorded result back when it could not be posted, so the pipeline's retry of the callback
    /// posts it.
    pub async fn reopen_deploy(&self, channel: &str, thread_ts: &str, result: &str) -> Result<(), StateError> {
        let updated = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::deploy_key(channel, thread_ts)))
            .update_expression("SET open_in = :open_in, open_sk = :open_sk REMOVE #result, finished_at")
            .condition_expression("#result = :result")
            .expression_attribute_names("#result", "result")
            .expression_attribute_values(":result", s(result))
            .expression_attribute_values(":open_in", s(OPEN_INDEX))
            .expression_attribute_values(":open_sk", s(format!("deploy#{channel}#{thread_ts}")))
            .send()
            .await;
        match updated {
            Ok(_) => Ok(()),
            Err(err) if is_condition_failure(&err) => Ok(()),
            Err(err) => Err(state_error("UpdateItem (reopen deploy)")(err)),
        }
    }

    fn lifecycle_key(key: &str) -> Item {
        Self::key(format!("lifecycle#{key}"), "lifecycle")
    }

    /// Takes the lease on lifecycle `key` (`kind` is `alarm` or `deployment`) until `lease_until_ms`,
    /// creating the record if there is none. Returns the lifecycle as it stands, or `None` when another
    /// container holds the lease.
    pub async fn lock_lifecycle(
        &self,
        key: &str,
        kind: &str,
        owner: &str,
        now_ms: i64,
        lease_until_ms: i64,
        expires_at: i64,
    ) -> Result<Option<Lifecycle>, StateError> {
        let updated = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::lifecycle_key(key)))
            .update_expression(
                "SET lease_owner = :owner, lease_until = :until, #kind = :kind, #exp = if_not_exists(#exp, :exp)",
            )
            .condition_expression("attribute_not_exists(lease_owner) OR lease_until < :now")
            .expression_attribute_names("#kind", "kind")
            .expression_attribute_names("#exp", TTL_ATTRIBUTE)
            .expression_attribute_values(":owner", s(owner))
            .expression_attribute_values(":until", n(lease_until_ms))
            .expression_attribute_values(":kind", s(kind))
            .expression_attribute_values(":exp", n(expires_at))
            .expression_attribute_values(":now", n(now_ms))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        let item = match updated {
            Ok(out) => out.attributes.unwrap_or_default(),
            Err(err) if is_condition_failure(&err) => return Ok(None),
            Err(err) => return Err(state_error("UpdateItem (lock lifecycle)")(err)),
        };
        if get_n(&item, TTL_ATTRIBUTE).is_some_and(|e| e < now_ms / 1000) {
            return Ok(Some(Lifecycle::default())); // expired, not yet deleted by TTL: a new lifecycle
        }
        let thread = match (get_s(&item, "channel"), get_s(&item, "ts")) {
            (Some(channel), Some(ts)) => Some(Thread { channel, ts }),
            _ => None,
        };
        Ok(Some(Lifecycle {
            thread,
            state: get_s(&item, "state"),
            changed_at_ms: get_n(&item, "changed_at"),
            alarm_since_ms: get_n(&item, "alarm_since"),
            changes: get_n(&item, "changes").unwrap_or(0),
            incident: get_s(&item, "incident"),
            acknowledged: get_s(&item, "ack_by").zip(get_n(&item, "ack_at")),
            muted: get_s(&item, "mute_by").zip(get_n(&item, "mute_until")).map(|(by, until)| Mute {
                by,
                until,
                until_ok: item.get("mute_ok").and_then(|v| v.as_bool().ok()).copied().unwrap_or(false),
            }),
            silenced: match (get_s(&item, "silence_id"), get_s(&item, "silence_by"), get_n(&item, "silence_until")) {
                (Some(id), Some(by), Some(until)) => Some(Silence { id, by, until }),
                _ => None,
            },
        }))
    }

    /// Whether lifecycle `key` has a message (an eventually consistent read, no lease): in a storm, an
    /// alarm without one joins the digest without taking the lease.
    pub async fn lifecycle_has_message(&self, key: &str, now_ms: i64) -> Result<bool, StateError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Self::lifecycle_key(key)))
            .projection_expression("#ts, #exp")
            .expression_attribute_names("#ts", "ts")
            .expression_attribute_names("#exp", TTL_ATTRIBUTE)
            .send()
            .await
            .map_err(state_error("GetItem (lifecycle)"))?;
        Ok(out.item.is_some_and(|item| {
            get_s(&item, "ts").is_some() && get_n(&item, TTL_ATTRIBUTE).is_none_or(|e| e >= now_ms / 1000)
        }))
    }

    /// Gives the lease back after the message got its graph, recording the graph's file for `/status`.
    pub async fn unlock_lifecycle_with_graph(&self, key: &str, owner: &str, file_id: &str) -> Result<bool, StateError> {
        let update = self
            .lifecycle_update(key)
            .update_expression("SET graph_file = :file REMOVE lease_owner, lease_until")
            .condition_expression("lease_owner = :owner")
            .expression_attribute_values(":owner", s(owner))
            .expression_attribute_values(":file", s(file_id));
        self.update_if(update, "UpdateItem (lifecycle graph)").await
    }

    /// Gives the lease back, recording `update` when the message was posted or changed. Returns false
    /// when the lease was no longer ours (it ran out and another container took it): nothing was written.
    ///
    /// The record joins the open index when the update is open (it pages, or waits at READY); otherwise it
    /// leaves it, unless it is muted or silenced (state/open.rs): the form is chosen from what the lease
    /// saw (`update.quiet`), and when a mute came or went since, the condition fails and the other form is
    /// sent.
    pub async fn unlock_lifecycle(
        &self,
        key: &str,
        owner: &str,
        update: Option<&LifecycleUpdate>,
    ) -> Result<bool, StateError> {
        let Some(u) = update else {
            let release = self
                .lifecycle_update(key)
                .condition_expression("lease_owner = :owner")
                .expression_attribute_values(":owner", s(owner))
                .update_expression("REMOVE lease_owner, lease_until");
            return self.update_if(release, "UpdateItem (unlock lifecycle)").await;
        };
        let mut quiet = u.quiet;
        for _ in 0..3 {
            match self.send_unlock(key, owner, u, quiet).await? {
                Unlock::Done => return Ok(true),
                Unlock::LeaseLost => return Ok(false),
                Unlock::QuietChanged => quiet = !quiet,
            }
        }
        // A mute made and ended three times within one unlock: leave the index as the last form had it.
        Ok(false)
    }

    async fn send_unlock(
        &self,
        key: &str,
        owner: &str,
        u: &LifecycleUpdate,
        quiet: bool,
    ) -> Result<Unlock, StateError> {
        // Leaving the paging state ends its acknowledgement: the next time it fires, it pages.
        let (set_since, remove_since) = match u.alarm_since_ms {
            Some(_) => (", alarm_since = :since", ""),
            None => ("", ", alarm_since, ack_by, ack_at"),
        };
        // The open index follows the state in this same write; a muted or silenced alert stays in it.
        let (set_open, remove_open, condition) = match (u.open, quiet) {
            (true, _) => (", open_in = :open_in, open_sk = :open_sk", "", "lease_owner = :owner"),
            (false, true) => {
                ("", "", "lease_owner = :owner AND (attribute_exists(mute_id) OR attribute_exists(silence_id))")
            }
            (false, false) => (
                "",
                ", open_in, open_sk",
                "lease_owner = :owner AND attribute_not_exists(mute_id) AND attribute_not_exists(silence_id)",
            ),
        };
        let mut sets = String::new();
        let mut facts = Vec::new();
        for (name, value) in [
            ("title", Some(&u.facts.title).filter(|t| !t.is_empty())),
            ("account", u.facts.account.as_ref()),
            ("account_name", u.facts.account_name.as_ref()),
            ("region", u.facts.region.as_ref()),
            ("team", u.facts.team.as_ref()),
            ("url", u.facts.url.as_ref()),
        ] {
            if let Some(value) = value {
                sets.push_str(&format!(", #f_{name} = :f_{name}"));
                facts.push((name, value));
            }
        }
        // The graph of the state before goes (the new state's own is recorded when it is shown).
        let mut r = self
            .lifecycle_update(key)
            .update_expression(format!(
                "SET #channel = :channel, #ts = :ts, #state = :state, changed_at = :changed, #changes = :changes, #exp = :exp{set_since}{set_open}{sets} REMOVE lease_owner, lease_until, graph_file{remove_since}{remove_open}"
            ))
            .condition_expression(condition)
            .expression_attribute_values(":owner", s(owner))
            .expression_attribute_names("#channel", "channel")
            .expression_attribute_names("#ts", "ts")
            .expression_attribute_names("#state", "state")
            .expression_attribute_names("#changes", "changes")
            .expression_attribute_names("#exp", TTL_ATTRIBUTE)
            .expression_attribute_values(":channel", s(&u.thread.channel))
            .expression_attribute_values(":ts", s(&u.thread.ts))
            .expression_attribute_values(":state", s(&u.state))
            .expression_attribute_values(":changed", n(u.changed_at_ms))
            .expression_attribute_values(":changes", n(u.changes))
            .expression_attribute_values(":exp", n(u.expires_at))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        if let Some(since) = u.alarm_since_ms {
            r = r.expression_attribute_values(":since", n(since));
        }
        if u.open {
            r = open_values(r, &format!("lifecycle#{key}"));
        }
        for (name, value) in facts {
            r = r
                .expression_attribute_names(format!("#f_{name}"), name)
                .expression_attribute_values(format!(":f_{name}"), s(value));
        }
        match r.send().await {
            Ok(_) => Ok(Unlock::Done),
            Err(err) if is_condition_failure(&err) => {
                let found = update_conflict(&err).unwrap_or_default();
                Ok(if get_s(&found, "lease_owner").as_deref() == Some(owner) {
                    Unlock::QuietChanged
                } else {
                    Unlock::LeaseLost
                })
            }
            Err(err) => Err(state_error("UpdateItem (unlock lifecycle)")(err)),
        }
    }
}
