//! Incidents, as the state table keeps them between containers. Each is one of the table's four tools:
//! - `counter#incident`: the incident numbers, an atomic `ADD` (two declarations at once get two
//!   numbers). It has no TTL: numbers are never reused.
//! - `declare#<key>`: the claim that makes a declaration happen once, a conditional put: the same title
//!   from the same person within a minute, or one alert's [Declare incident] clicked by two people. It
//!   records the number once there is one, so the second asker is shown that incident.
//! - `incident#<n>` (sk `incident`): the record; every change is a conditional update that requires it
//!   to be open, so nothing changes a resolved incident, and resolving happens once.
//! - `incident#<n>` (sk `entry#<id>`): the timeline, each entry a conditional put under an ID that is
//!   the same for every retry of what caused it (a 📌 on message `ts` is `pin#<ts>`), so it is written once.
//! - `incident-channel#<channel>`: which incident a channel belongs to.
//! - `incidents#open`: the open incidents' numbers, a number set joined (`ADD`) and left (`DELETE`).
//!
//! And two attributes slack-command writes on an alert's lifecycle record (`lifecycle#<key>`, the
//! notifier's): `incident` (the line of the incident declared from it) and `ack_by` / `ack_at` (its
//! acknowledgement, set once while it pages; the notifier removes it when the alert stops paging).

use aws_sdk_dynamodb::operation::put_item::builders::PutItemFluentBuilder;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};

use super::{
    Item, Mute, Silence, StateError, StateTable, TTL_ATTRIBUTE, get_n, get_s, is_condition_failure, n, s, state_error,
};

/// Incidents are kept this long (a year and a bit: long enough for the yearly review).
pub const INCIDENT_RETENTION_S: i64 = 400 * 86_400;

/// Whether an incident is still being worked on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IncidentStatus {
    Open,
    Resolved,
}

impl IncidentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Resolved => "resolved",
        }
    }
}

/// An incident as recorded.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IncidentRecord {
    pub number: i64,
    pub title: String,
    /// 1 (worst) to 4.
    pub severity: i64,
    pub resolved: bool,
    /// The user ID of the person leading it.
    pub lead: String,
    /// Who keeps stakeholders informed (`/incident role comms @x`).
    pub comms: Option<String>,
    /// Who keeps the timeline and notes (`/incident role scribe @x`).
    pub scribe: Option<String>,
    pub declared_by: String,
    /// Epoch seconds.
    pub declared_at: i64,
    pub resolved_at: Option<i64>,
    /// The last status update's text.
    pub update: Option<String>,
    /// When it was given (epoch s).
    pub update_at: Option<i64>,
    pub summary: Option<String>,
    pub channel_id: Option<String>,
    pub channel_name: Option<String>,
    /// The status message pinned in the incident's channel.
    pub pinned_ts: Option<String>,
    /// The announcement in `INCIDENTS_CHANNEL`, updated in place.
    pub announcement: Option<(String, String)>,
    /// Alerts linked to the incident (Slack mrkdwn: `<permalink|title>`).
    pub alerts: Vec<String>,
    /// Declared from an alert: when it fired and when it was acknowledged (epoch s), for the times that
    /// matter (to acknowledge, to declare, to resolve).
    pub alert_fired_at: Option<i64>,
    pub alert_acked_at: Option<i64>,
    /// A private incident: its channel is private, and it is shown only to its channel's members.
    pub private: bool,
    /// Where it was declared (the alert's channel for [Declare incident]) and in which workspace: whose
    /// issue tracker its follow-ups go to.
    pub origin_channel: Option<String>,
    pub team: Option<String>,
    /// Its follow-ups' texts, in the order they were recorded (`followup#<id>` items keep each one's issue).
    pub followups: Vec<String>,
}

impl IncidentRecord {
    pub fn name(&self) -> String {
        format!("INC-{}", self.number)
    }

    pub fn status(&self) -> IncidentStatus {
        if self.resolved { IncidentStatus::Resolved } else { IncidentStatus::Open }
    }

    pub(super) fn from_item(item: &Item) -> Self {
        let get = |k: &str| get_s(item, k);
        Self {
            number: get_n(item, "number").unwrap_or_default(),
            title: get("title").unwrap_or_default(),
            severity: get_n(item, "severity").unwrap_or(3),
            resolved: get("status").as_deref() == Some(IncidentStatus::Resolved.as_str()),
            lead: get("lead").unwrap_or_default(),
            comms: get("comms"),
            scribe: get("scribe"),
            declared_by: get("declared_by").unwrap_or_default(),
            declared_at: get_n(item, "declared_at").unwrap_or_default(),
            resolved_at: get_n(item, "resolved_at"),
            update: get("update"),
            update_at: get_n(item, "update_at"),
            summary: get("summary"),
            channel_id: get("channel"),
            channel_name: get("channel_name"),
            pinned_ts: get("pinned_ts"),
            announcement: get("announce_channel").zip(get("announce_ts")),
            alerts: item
                .get("alerts")
                .and_then(|v| v.as_l().ok())
                .map(|l| l.iter().filter_map(|v| v.as_s().ok().cloned()).collect())
                .unwrap_or_default(),
            alert_fired_at: get_n(item, "alert_fired"),
            alert_acked_at: get_n(item, "alert_acked"),
            private: item.get("private").and_then(|v| v.as_bool().ok()).copied().unwrap_or(false),
            origin_channel: get("origin_channel"),
            team: get("team"),
            followups: item
                .get("followups")
                .and_then(|v| v.as_l().ok())
                .map(|l| l.iter().filter_map(|v| v.as_s().ok().cloned()).collect())
                .unwrap_or_default(),
        }
    }
}

/// One line of an incident's timeline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimelineEntry {
    /// The same for every retry of what caused it (`pin#<ts>`, `declared`, `status#<request>`).
    pub id: String,
    /// Epoch ms.
    pub at_ms: i64,
    /// The user ID of who did or said it.
    pub author: String,
    /// `declared`, `status`, `severity`, `lead`, `pin`, `resolved`.
    pub kind: String,
    /// Slack mrkdwn.
    pub text: String,
    /// A permalink to the message, for pinned messages.
    pub link: Option<String>,
}

/// What a declaration claim found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Declaration {
    /// Ours: declare it.
    Ours,
    /// Declared (or being declared) already: by whom, and its number once it has one.
    Taken { by: String, number: Option<i64> },
}

/// What an [Acknowledge] click found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Acknowledgement {
    Recorded,
    /// Acknowledged before, by `by` at `at` (epoch s).
    Already {
        by: String,
        at: i64,
    },
    /// The alert no longer pages (or has no record): nothing to acknowledge.
    NotPaging,
}

/// Which mute ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MuteEnd<'a> {
    /// Whatever mute there is ([Unmute]).
    Now,
    /// Mute `0`, its time having come.
    Due(&'a str),
    /// Mute `0` (until OK), the alarm being OK.
    AlarmOk(&'a str),
}

/// A change to an open incident, one attribute each.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IncidentChange {
    Severity(i64),
    Lead(String),
    /// A role other than the lead (`comms`, `scribe`) given to a user.
    Role {
        role: &'static str,
        user: String,
    },
    /// A status update, given at `at` (epoch s).
    Update {
        text: String,
        at: i64,
    },
    Channel {
        id: String,
        name: String,
    },
    Pinned(String),
    Announcement {
        channel: String,
        ts: String,
    },
    Alert(String),
    /// A follow-up's text, appended to the list the card shows.
    FollowUp(String),
}

impl StateTable {
    fn incident_key(number: i64) -> Item {
        Self::key(format!("incident#{number}"), "incident")
    }

    /// The next incident number: 1, 2, 3, … across every container.
    pub async fn next_incident_number(&self) -> Result<i64, StateError> {
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key("counter#incident".into(), "counter")))
            .update_expression("SET #kind = :kind ADD #value :one")
            .expression_attribute_names("#kind", "kind")
            .expression_attribute_names("#value", "value")
            .expression_attribute_values(":kind", s("counter"))
            .expression_attribute_values(":one", n(1))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(state_error("UpdateItem (incident counter)"))?;
        let attributes = out.attributes.unwrap_or_default();
        get_n(&attributes, "value")
            .ok_or_else(|| StateError { operation: "UpdateItem (incident counter)", detail: "no value".into() })
    }

    fn declaration_key(key: &str) -> Item {
        Self::key(format!("declare#{key}"), "declare")
    }

    /// Claims the declaration `key` for `by` until `expires_at` (epoch s), with its lease for `owner`
    /// until `lease_until_ms`: the time the declaration takes to make its channel and messages. The
    /// claim stays: a second claim before it expires is told who declared, and the number once
    /// [`Self::declared`] recorded it; it may finish what the declaration left undone only under the
    /// lease ([`Self::lease_declaration`]), once the first one gave it back or ran out of time.
    pub async fn claim_declaration(
        &self,
        key: &str,
        by: &str,
        owner: &str,
        now_s: i64,
        lease_until_ms: i64,
        expires_at: i64,
    ) -> Result<Declaration, StateError> {
        let mut item = Self::declaration_key(key);
        item.extend([
            ("kind".to_owned(), s("declaration")),
            ("by".to_owned(), s(by)),
            ("lease_owner".to_owned(), s(owner)),
            ("lease_until".to_owned(), n(lease_until_ms)),
            (TTL_ATTRIBUTE.to_owned(), n(expires_at)),
        ]);
        let condition = |put: PutItemFluentBuilder| {
            put.condition_expression("attribute_not_exists(pk) OR #exp < :now")
                .expression_attribute_names("#exp", TTL_ATTRIBUTE)
                .expression_attribute_values(":now", n(now_s))
        };
        Ok(match self.put_once(item, condition, "PutItem (claim declaration)").await? {
            None => Declaration::Ours,
            Some(found) => {
                Declaration::Taken { by: get_s(&found, "by").unwrap_or_default(), number: get_n(&found, "number") }
            }
        })
    }

    /// Takes the lease on declaration `key` for `owner` until `until_ms`, when nobody holds it (given
    /// back, or run out at `now_ms`): one conditional update, so of two takers one gets it.
    pub async fn lease_declaration(
        &self,
        key: &str,
        owner: &str,
        now_ms: i64,
        until_ms: i64,
    ) -> Result<bool, StateError> {
        let update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::declaration_key(key)))
            .update_expression("SET lease_owner = :owner, lease_until = :until")
            .condition_expression("attribute_exists(pk) AND (attribute_not_exists(lease_until) OR lease_until < :now)")
            .expression_attribute_values(":owner", s(owner))
            .expression_attribute_values(":until", n(until_ms))
            .expression_attribute_values(":now", n(now_ms));
        self.update_if(update, "UpdateItem (lease declaration)").await
    }

    /// Gives the lease on declaration `key` back, if `owner` still holds it.
    pub async fn release_declaration(&self, key: &str, owner: &str) -> Result<(), StateError> {
        let update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::declaration_key(key)))
            .update_expression("SET lease_until = :zero")
            .condition_expression("lease_owner = :owner")
            .expression_attribute_values(":owner", s(owner))
            .expression_attribute_values(":zero", n(0));
        self.update_if(update, "UpdateItem (release declaration)").await.map(drop)
    }

    /// The number declaration `key` got, once it has one.
    pub async fn declaration_number(&self, key: &str) -> Result<Option<i64>, StateError> {
        let item = self.get_consistent(Self::declaration_key(key), "GetItem (declaration)").await?;
        Ok(item.as_ref().and_then(|item| get_n(item, "number")))
    }

    /// Records the number the declaration `key` got.
    pub async fn declared(&self, key: &str, number: i64) -> Result<(), StateError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::declaration_key(key)))
            .update_expression("SET #number = :n")
            .expression_attribute_names("#number", "number")
            .expression_attribute_values(":n", n(number))
            .send()
            .await
            .map(drop)
            .map_err(state_error("UpdateItem (declared)"))
    }

    /// Stores a new open incident and adds it to the open ones.
    pub async fn create_incident(&self, record: &IncidentRecord) -> Result<(), StateError> {
        let mut item = Self::incident_key(record.number);
        item.extend([
            ("kind".to_owned(), s("incident")),
            ("number".to_owned(), n(record.number)),
            ("title".to_owned(), s(&record.title)),
            ("severity".to_owned(), n(record.severity)),
            ("status".to_owned(), s(IncidentStatus::Open.as_str())),
            ("lead".to_owned(), s(&record.lead)),
            ("declared_by".to_owned(), s(&record.declared_by)),
            ("declared_at".to_owned(), n(record.declared_at)),
            ("alerts".to_owned(), AttributeValue::L(record.alerts.iter().map(s).collect())),
            (TTL_ATTRIBUTE.to_owned(), n(record.declared_at + INCIDENT_RETENTION_S)),
        ]);
        for (name, at) in [("alert_fired", record.alert_fired_at), ("alert_acked", record.alert_acked_at)] {
            if let Some(at) = at {
                item.insert(name.to_owned(), n(at));
            }
        }
        if record.private {
            item.insert("private".to_owned(), AttributeValue::Bool(true));
        }
        for (name, value) in [("origin_channel", &record.origin_channel), ("team", &record.team)] {
            if let Some(value) = value.as_ref().filter(|v| !v.is_empty()) {
                item.insert(name.to_owned(), s(value));
            }
        }
        // Open: in the open index until it resolves (state/open.rs).
        item.extend(super::join_open(&format!("incident#{}", record.number)));
        // A fresh number: nothing is there, unless this very write is being sent again. The open set is
        // joined at the same time (a number in it without a record is skipped by the list).
        let put = self.client.put_item().table_name(&self.table).set_item(Some(item)).send();
        let (put, open) = tokio::join!(put, self.open_set("ADD", record.number));
        put.map_err(state_error("PutItem (incident)"))?;
        open
    }

    async fn open_set(&self, op: &str, number: i64) -> Result<(), StateError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key("incidents#open".into(), "open")))
            .update_expression(format!("SET #kind = :kind {op} numbers :n"))
            .expression_attribute_names("#kind", "kind")
            .expression_attribute_values(":kind", s("open_incidents"))
            .expression_attribute_values(":n", AttributeValue::Ns(vec![number.to_string()]))
            .send()
            .await
            .map(drop)
            .map_err(state_error("UpdateItem (open incidents)"))
    }

    /// Incident `number`, read strongly consistent.
    pub async fn get_incident(&self, number: i64) -> Result<Option<IncidentRecord>, StateError> {
        let item = self.get_consistent(Self::incident_key(number), "GetItem (incident)").await?;
        Ok(item.as_ref().map(IncidentRecord::from_item))
    }

    /// The numbers of the open incidents, lowest first.
    pub async fn open_incidents(&self) -> Result<Vec<i64>, StateError> {
        let item = self.get_consistent(Self::key("incidents#open".into(), "open"), "GetItem (open incidents)").await?;
        let mut numbers: Vec<i64> = item
            .and_then(|item| item.get("numbers").and_then(|v| v.as_ns().ok()).cloned())
            .unwrap_or_default()
            .iter()
            .filter_map(|n| n.parse().ok())
            .collect();
        numbers.sort_unstable();
        Ok(numbers)
    }

    fn channel_key(channel: &str) -> Item {
        Self::key(format!("incident-channel#{channel}"), "incident-channel")
    }

    /// Records that `channel` is incident `number`'s.
    pub async fn link_channel(&self, channel: &str, number: i64, expires_at: i64) -> Result<(), StateError> {
        let mut item = Self::channel_key(channel);
        item.extend([
            ("kind".to_owned(), s("incident_channel")),
            ("number".to_owned(), n(number)),
            (TTL_ATTRIBUTE.to_owned(), n(expires_at)),
        ]);
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map(drop)
            .map_err(state_error("PutItem (incident channel)"))
    }

    /// The incident whose channel `channel` is, if any.
    pub async fn incident_of_channel(&self, channel: &str) -> Result<Option<i64>, StateError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Self::channel_key(channel)))
            .send()
            .await
            .map_err(state_error("GetItem (incident channel)"))?;
        Ok(out.item.as_ref().and_then(|item| get_n(item, "number")))
    }

    /// Applies `changes` to incident `number` while it is open. Returns the incident as it now stands,
    /// or `None` when it is not open (resolved, or no such incident): nothing was written.
    pub async fn change_incident(
        &self,
        number: i64,
        changes: &[IncidentChange],
    ) -> Result<Option<IncidentRecord>, StateError> {
        let mut sets = Vec::new();
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::incident_key(number)))
            .condition_expression("#status = :open")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":open", s(IncidentStatus::Open.as_str()));
        for (i, change) in changes.iter().enumerate() {
            let mut set = |name: &str, value: AttributeValue| {
                sets.push(format!("#a{i}{name} = :v{i}{name}"));
                (format!("#a{i}{name}"), name.to_owned(), format!(":v{i}{name}"), value)
            };
            let pairs = match change {
                IncidentChange::Severity(sev) => vec![set("severity", n(*sev))],
                IncidentChange::Lead(user) => vec![set("lead", s(user))],
                IncidentChange::Role { role, user } => vec![set(role, s(user))],
                IncidentChange::Update { text, at } => vec![set("update", s(text)), set("update_at", n(*at))],
                IncidentChange::Channel { id, name } => vec![set("channel", s(id)), set("channel_name", s(name))],
                IncidentChange::Pinned(ts) => vec![set("pinned_ts", s(ts))],
                IncidentChange::Announcement { channel, ts } => {
                    vec![set("announce_channel", s(channel)), set("announce_ts", s(ts))]
                }
                IncidentChange::Alert(line) | IncidentChange::FollowUp(line) => {
                    let list = if matches!(change, IncidentChange::Alert(_)) { "alerts" } else { "followups" };
                    let name = format!("#a{i}{list}");
                    sets.push(format!("{name} = list_append(if_not_exists({name}, :empty), :v{i}{list})"));
                    update = update.expression_attribute_values(":empty", AttributeValue::L(Vec::new()));
                    vec![(name, list.to_owned(), format!(":v{i}{list}"), AttributeValue::L(vec![s(line)]))]
                }
            };
            for (alias, attribute, placeholder, value) in pairs {
                update =
                    update.expression_attribute_names(alias, attribute).expression_attribute_values(placeholder, value);
            }
        }
        if sets.is_empty() {
            return self.get_incident(number).await.map(|r| r.filter(|r| !r.resolved));
        }
        let sent = update
            .update_expression(format!("SET {}", sets.join(", ")))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match sent {
            Ok(out) => Ok(Some(IncidentRecord::from_item(&out.attributes.unwrap_or_default()))),
            Err(err) if is_condition_failure(&err) => Ok(None),
            Err(err) => Err(state_error("UpdateItem (incident)")(err)),
        }
    }

    /// Resolves incident `number` (once: `None` when it was not open), and takes it off the open ones.
    pub async fn resolve_incident(
        &self,
        number: i64,
        at_s: i64,
        summary: Option<&str>,
    ) -> Result<Option<IncidentRecord>, StateError> {
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::incident_key(number)))
            .condition_expression("#status = :open")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":open", s(IncidentStatus::Open.as_str()))
            .expression_attribute_values(":resolved", s(IncidentStatus::Resolved.as_str()))
            .expression_attribute_values(":at", n(at_s))
            .return_values(ReturnValue::AllNew);
        update = match summary {
            Some(text) => update
                .update_expression(
                    "SET #status = :resolved, resolved_at = :at, summary = :summary REMOVE open_in, open_sk",
                )
                .expression_attribute_values(":summary", s(text)),
            None => update.update_expression("SET #status = :resolved, resolved_at = :at REMOVE open_in, open_sk"),
        };
        let record = match update.send().await {
            Ok(out) => IncidentRecord::from_item(&out.attributes.unwrap_or_default()),
            Err(err) if is_condition_failure(&err) => return Ok(None),
            Err(err) => return Err(state_error("UpdateItem (resolve incident)")(err)),
        };
        self.open_set("DELETE", number).await?;
        Ok(Some(record))
    }

    /// Adds `entry` to incident `number`'s timeline; `false` when an entry with its ID is there already
    /// (a retry of the same event, a second 📌 on the same message).
    pub async fn add_timeline_entry(
        &self,
        number: i64,
        entry: &TimelineEntry,
        expires_at: i64,
    ) -> Result<bool, StateError> {
        let mut item = Self::key(format!("incident#{number}"), &format!("entry#{}", entry.id));
        item.extend([
            ("kind".to_owned(), s("timeline")),
            ("at".to_owned(), n(entry.at_ms)),
            ("author".to_owned(), s(&entry.author)),
            ("entry".to_owned(), s(&entry.kind)),
            ("text".to_owned(), s(&entry.text)),
            (TTL_ATTRIBUTE.to_owned(), n(expires_at)),
        ]);
        if let Some(link) = &entry.link {
            item.insert("link".to_owned(), s(link));
        }
        let condition = |put: PutItemFluentBuilder| put.condition_expression("attribute_not_exists(pk)");
        Ok(self.put_once(item, condition, "PutItem (timeline entry)").await?.is_none())
    }

    /// Incident `number`'s timeline, oldest first.
    pub async fn timeline(&self, number: i64) -> Result<Vec<TimelineEntry>, StateError> {
        let items = self.query_all(&format!("incident#{number}"), Some("entry#"), true, "Query (timeline)").await?;
        let mut entries: Vec<TimelineEntry> = items
            .iter()
            .map(|item| TimelineEntry {
                id: get_s(item, "sk").unwrap_or_default().trim_start_matches("entry#").to_owned(),
                at_ms: get_n(item, "at").unwrap_or_default(),
                author: get_s(item, "author").unwrap_or_default(),
                kind: get_s(item, "entry").unwrap_or_default(),
                text: get_s(item, "text").unwrap_or_default(),
                link: get_s(item, "link"),
            })
            .collect();
        entries.sort_by(|a, b| a.at_ms.cmp(&b.at_ms).then_with(|| a.id.cmp(&b.id)));
        Ok(entries)
    }

    /// Shows `line` (`🚨 INC-12 declared by …`) on the alert of lifecycle `key` from now on: the notifier
    /// keeps it when it updates the alert's message. `false` when there is no such lifecycle.
    pub async fn mark_lifecycle_incident(&self, key: &str, line: &str) -> Result<bool, StateError> {
        let update = self
            .lifecycle_update(key)
            .update_expression("SET incident = :line")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":line", s(line));
        self.update_if(update, "UpdateItem (lifecycle incident)").await
    }

    /// Records `user`'s acknowledgement of the alert of lifecycle `key` at `at_s`, while it pages (its
    /// record has `alarm_since`), once: two at the same moment keep the first.
    pub async fn acknowledge_alert(&self, key: &str, user: &str, at_s: i64) -> Result<Acknowledgement, StateError> {
        let sent = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::lifecycle_key(key)))
            .update_expression("SET ack_by = :user, ack_at = :at")
            .condition_expression("attribute_exists(alarm_since) AND attribute_not_exists(ack_by)")
            .expression_attribute_values(":user", s(user))
            .expression_attribute_values(":at", n(at_s))
            .return_values_on_condition_check_failure(
                aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure::AllOld,
            )
            .send()
            .await;
        match sent {
            Ok(_) => Ok(Acknowledgement::Recorded),
            Err(err) if is_condition_failure(&err) => {
                let found = super::update_conflict(&err).unwrap_or_default();
                Ok(match (get_s(&found, "ack_by"), get_n(&found, "ack_at")) {
                    // Our own write, sent again by the SDK, reads as ours.
                    (Some(by), Some(at)) if by == user && at == at_s => Acknowledgement::Recorded,
                    (Some(by), Some(at)) => Acknowledgement::Already { by, at },
                    _ => Acknowledgement::NotPaging,
                })
            }
            Err(err) => Err(state_error("UpdateItem (acknowledge)")(err)),
        }
    }

    /// Records a mute (`mute`: its ID) of the alert of lifecycle `key`: a later mute replaces it (and its
    /// schedule is moved), so there is only ever one. `false` when there is no such lifecycle.
    pub async fn mute_alert(&self, key: &str, mute: &str, by: &Mute) -> Result<bool, StateError> {
        let update = self
            .lifecycle_update(key)
            .update_expression(
                "SET mute_id = :id, mute_by = :by, mute_until = :until, mute_ok = :ok, open_in = :open_in, open_sk = :open_sk",
            )
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":id", s(mute))
            .expression_attribute_values(":by", s(&by.by))
            .expression_attribute_values(":until", n(by.until))
            .expression_attribute_values(":ok", AttributeValue::Bool(by.until_ok));
        let update = super::open_values(update, &format!("lifecycle#{key}"));
        self.update_if(update, "UpdateItem (mute)").await
    }

    /// Ends the mute of lifecycle `key`, once: `end` says which (any, by a click on [Unmute]; that mute
    /// when its time has come, or that mute until OK now that the alarm is OK). `false`: not so, nothing
    /// written (unmuted before, muted again since, not due).
    pub async fn unmute_alert(&self, key: &str, end: MuteEnd<'_>, now_s: i64) -> Result<bool, StateError> {
        let (condition, values): (&str, Vec<(&str, AttributeValue)>) = match end {
            MuteEnd::Now => ("attribute_exists(mute_id)", Vec::new()),
            MuteEnd::Due(mute) => ("mute_id = :id AND mute_until <= :now", vec![(":id", s(mute)), (":now", n(now_s))]),
            MuteEnd::AlarmOk(mute) => {
                ("mute_id = :id AND mute_ok = :true", vec![(":id", s(mute)), (":true", AttributeValue::Bool(true))])
            }
        };
        self.end_quiet(key, "mute_id, mute_by, mute_until, mute_ok", condition, values, "UpdateItem (unmute)").await
    }

    /// Removes `attributes` (a mute's or a silence's) from lifecycle `key` when `condition` holds, once, and
    /// takes it off the open index unless it still pages (state/open.rs): the form is guessed (not paging),
    /// and when the record's `alarm_since` says otherwise, the other form is sent. `false`: `condition`
    /// does not hold, nothing written.
    async fn end_quiet(
        &self,
        key: &str,
        attributes: &str,
        condition: &str,
        values: Vec<(&str, AttributeValue)>,
        operation: &'static str,
    ) -> Result<bool, StateError> {
        let mut paging = false;
        for _ in 0..3 {
            let (remove_open, paging_condition) = match paging {
                true => ("", "attribute_exists(alarm_since)"),
                false => (", open_in, open_sk", "attribute_not_exists(alarm_since)"),
            };
            let update = self
                .lifecycle_update(key)
                .update_expression(format!("REMOVE {attributes}{remove_open}"))
                .condition_expression(format!("({condition}) AND {paging_condition}"))
                .return_values_on_condition_check_failure(
                    aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure::AllOld,
                );
            let update =
                values.iter().fold(update, |u, (name, value)| u.expression_attribute_values(*name, value.clone()));
            match update.send().await {
                Ok(_) => return Ok(true),
                Err(err) if is_condition_failure(&err) => {
                    let found = super::update_conflict(&err).unwrap_or_default();
                    let pages_now = found.contains_key("alarm_since");
                    if found.is_empty() || pages_now == paging {
                        return Ok(false); // its own condition failed
                    }
                    paging = pages_now;
                }
                Err(err) => return Err(state_error(operation)(err)),
            }
        }
        Ok(false)
    }

    /// Records silence `silence` of the Alertmanager group of lifecycle `key` (a later one replaces it).
    pub async fn silence_alert(&self, key: &str, silence: &Silence) -> Result<bool, StateError> {
        let update = self
            .lifecycle_update(key)
            .update_expression(
                "SET silence_id = :id, silence_by = :by, silence_until = :until, open_in = :open_in, open_sk = :open_sk",
            )
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":id", s(&silence.id))
            .expression_attribute_values(":by", s(&silence.by))
            .expression_attribute_values(":until", n(silence.until));
        let update = super::open_values(update, &format!("lifecycle#{key}"));
        self.update_if(update, "UpdateItem (silence)").await
    }

    /// Forgets silence `id` of lifecycle `key` (expired from its message), if it is still the group's.
    pub async fn unsilence_alert(&self, key: &str, id: &str) -> Result<bool, StateError> {
        let values = vec![(":id", s(id))];
        self.end_quiet(
            key,
            "silence_id, silence_by, silence_until",
            "silence_id = :id",
            values,
            "UpdateItem (unsilence)",
        )
        .await
    }
}
