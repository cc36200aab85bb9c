//! What is open right now, for `/status` and the App Home: one sparse global secondary index of the state
//! table (`open`: partition `open_in` = `open`, sort `open_sk` = the item's `pk`), kept by the writes that
//! already happen, read with one `Query`.
//!
//! In it:
//! - an alert's lifecycle record while it pages, or is muted or silenced, or (a CodeDeploy deployment)
//!   waits at `READY`. Two writers decide this membership: the notifier's unlock that records a new state,
//!   and slack-command's mute, silence and their ends. Each sets `open_in` when its own reason holds, and
//!   removes it only on the condition that the other's does not (`attribute_not_exists(mute_id)`, or
//!   `attribute_not_exists(alarm_since)`), trying the other form when that condition is what failed. So
//!   after every write, in any order: in the index ⇔ paging, waiting, muted or silenced.
//! - an open incident (its creation joins, its resolution leaves);
//! - an approval request while it is open (its creation / its first move);
//! - a deploy started and not reported back (its record / its result or timeout);
//! - a storm digest, from its first message until its storm is over.
//!
//! Every join and leave is in the same `PutItem` / `UpdateItem` as the transition it follows, so the
//! index never disagrees with the records beyond its own replication (eventually consistent, well under a
//! second). The index projects every attribute: the records are small, and a new field on `/status` needs
//! no index rebuild. One index, not one per kind: CloudFormation adds one index per stack update, and
//! `/status` reads everything in one query. It reads at most [`MAX_PAGES`] pages (1 MB each).

use super::{
    DeployRecord, DigestMeta, IncidentRecord, Item, Mute, Silence, StateError, StateTable, StoredRequest,
    TTL_ATTRIBUTE, Thread, get_n, get_s, s, state_error,
};

/// The index of what is open, and its attributes.
pub const OPEN_INDEX: &str = "open";
pub const OPEN_PARTITION: &str = "open_in";
pub const OPEN_SORT: &str = "open_sk";
/// How many pages of 1 MB an index query reads at most (thousands of items): beyond, `/status` says so.
pub const MAX_PAGES: usize = 4;

/// An alert (or a CodeDeploy deployment waiting at `READY`) as its lifecycle record shows it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OpenAlert {
    /// The lifecycle key (`alarm:…`, `alertmanager:…`, `deployment:…`, an event's).
    pub key: String,
    /// `alarm`, `alertmanager`, `event`, `deployment`.
    pub kind: String,
    pub title: String,
    pub state: String,
    pub thread: Option<Thread>,
    pub account: Option<String>,
    pub account_name: Option<String>,
    pub region: Option<String>,
    /// The route's team (`SLACK_ROUTES` `team`).
    pub team: Option<String>,
    /// The alarm in the AWS console, when known.
    pub url: Option<String>,
    /// Since when it pages (epoch ms), while it does.
    pub since_ms: Option<i64>,
    pub changed_at_ms: Option<i64>,
    pub changes: i64,
    pub acknowledged: Option<(String, i64)>,
    pub muted: Option<Mute>,
    pub silenced: Option<Silence>,
    /// The incident declared from it (`🚨 INC-12 declared by …`).
    pub incident: Option<String>,
    /// Its latest graph (a Slack file ID), shown on its message.
    pub graph_file: Option<String>,
}

impl OpenAlert {
    pub(crate) fn from_item(item: &Item) -> Option<Self> {
        let pk = get_s(item, "pk")?;
        let key = pk.strip_prefix("lifecycle#")?.to_owned();
        let thread = match (get_s(item, "channel"), get_s(item, "ts")) {
            (Some(channel), Some(ts)) => Some(Thread { channel, ts }),
            _ => None,
        };
        Some(Self {
            kind: get_s(item, "kind").unwrap_or_default(),
            title: get_s(item, "title").unwrap_or_else(|| key.clone()),
            key,
            state: get_s(item, "state").unwrap_or_default(),
            thread,
            account: get_s(item, "account"),
            account_name: get_s(item, "account_name"),
            region: get_s(item, "region"),
            team: get_s(item, "team"),
            url: get_s(item, "url"),
            since_ms: get_n(item, "alarm_since"),
            changed_at_ms: get_n(item, "changed_at"),
            changes: get_n(item, "changes").unwrap_or(0),
            acknowledged: get_s(item, "ack_by").zip(get_n(item, "ack_at")),
            muted: get_s(item, "mute_by").zip(get_n(item, "mute_until")).map(|(by, until)| Mute {
                by,
                until,
                until_ok: item.get("mute_ok").and_then(|v| v.as_bool().ok()).copied().unwrap_or(false),
            }),
            silenced: match (get_s(item, "silence_id"), get_s(item, "silence_by"), get_n(item, "silence_until")) {
                (Some(id), Some(by), Some(until)) => Some(Silence { id, by, until }),
                _ => None,
            },
            incident: get_s(item, "incident"),
            graph_file: get_s(item, "graph_file"),
        })
    }

    /// Pages now (ALARM, firing, an urgent event).
    pub fn pages(&self) -> bool {
        self.since_ms.is_some() && self.kind != "deployment"
    }

    /// A CodeDeploy deployment waiting at READY for someone to switch traffic.
    pub fn waits(&self) -> bool {
        self.kind == "deployment" && self.state == "READY"
    }

    /// Muted (its actions) or silenced (its Alertmanager group), at `now_s`.
    pub fn quiet(&self, now_s: i64) -> bool {
        self.muted.as_ref().is_some_and(|m| m.until > now_s) || self.silenced.as_ref().is_some_and(|s| s.until > now_s)
    }
}

/// A deploy started from a thread and not reported back.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OpenDeploy {
    pub record: DeployRecord,
    /// When it was asked for (the mention's time, epoch s).
    pub started_at: Option<i64>,
    /// When it times out (epoch s).
    pub timeout_at: Option<i64>,
}

/// One open item.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OpenItem {
    Alert(Box<OpenAlert>),
    Incident(Box<IncidentRecord>),
    /// An approval request: its ID and the request as stored.
    Approval(String, Box<StoredRequest>),
    Deploy(Box<OpenDeploy>),
    Storm(Box<DigestMeta>),
}

/// What the index holds, as read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OpenItems {
    pub items: Vec<OpenItem>,
    /// The index had more than [`MAX_PAGES`] pages: what was read is shown, and the answer says so.
    pub truncated: bool,
}

impl OpenItem {
    fn from_item(item: &Item) -> Option<Self> {
        let pk = get_s(item, "pk")?;
        let (prefix, rest) = pk.split_once('#')?;
        Some(match prefix {
            "lifecycle" => Self::Alert(Box::new(OpenAlert::from_item(item)?)),
            "incident" => Self::Incident(Box::new(IncidentRecord::from_item(item))),
            "approval" => Self::Approval(rest.to_owned(), Box::new(StoredRequest::from_item(item))),
            "deploy" => Self::Deploy(Box::new(OpenDeploy {
                record: DeployRecord::from_item(item),
                started_at: get_n(item, "requested_at")
                    .or_else(|| get_s(item, "mention_ts").and_then(|ts| ts.split('.').next()?.parse().ok())),
                timeout_at: get_n(item, "timeout_at"),
            })),
            "digest" => Self::Storm(Box::new(DigestMeta::from_item(rest, item))),
            _ => return None,
        })
    }
}

impl StateTable {
    /// Everything open, up to [`MAX_PAGES`] pages of the index: the items not expired at `now_s`, and
    /// whether there was more.
    pub async fn open_items(&self, now_s: i64) -> Result<OpenItems, StateError> {
        let mut items = Vec::new();
        let mut start = None;
        for _ in 0..MAX_PAGES {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(OPEN_INDEX)
                .key_condition_expression("#p = :p")
                .expression_attribute_names("#p", OPEN_PARTITION)
                .expression_attribute_values(":p", s(OPEN_INDEX))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(state_error("Query (open items)"))?;
            items.extend(
                out.items
                    .unwrap_or_default()
                    .iter()
                    .filter(|i| get_n(i, TTL_ATTRIBUTE).is_none_or(|e| e >= now_s))
                    .filter_map(OpenItem::from_item),
            );
            match out.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(OpenItems { items, truncated: false }),
            }
        }
        Ok(OpenItems { items, truncated: true })
    }
}
