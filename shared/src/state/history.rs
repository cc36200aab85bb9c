//! History for the operations report (design notes, "History in the state table"): items under
//! `history#<UTC day>`, one partition per day, so a week is seven `Query`s and nothing is scanned. Each is
//! written once (a conditional put under a key every writer of the same fact computes alike), beside a
//! write that already happens, never as a round trip of its own in sequence:
//! - `episode#<resolved ms>#<alert hash>#<started ms>`: an alert from ALARM (or firing) to OK (or resolved),
//!   written by the notifier beside the unlock that records the OK, from what its lease read: when it
//!   started, who acknowledged it when, how many state changes its message has seen, muted or silenced,
//!   its incident;
//! - `incident#<resolved ms>#<n>`: an incident's summary, written by slack-command beside its resolve;
//! - `approval#<decided ms>#<id>`: an approval request's outcome and wait, beside its decision;
//! - `change#<at ms>#<id>`: each change (deploys and their results, `/scale`, CodeDeploy, mutes), beside
//!   the `changes#…` items the context line reads.
//!
//! Kept [`HISTORY_KEEP_DAYS`] days.

use aws_sdk_dynamodb::operation::put_item::builders::PutItemFluentBuilder;
use aws_sdk_dynamodb::types::AttributeValue;

use super::{
    HISTORY_KEEP_DAYS, Item, StateError, StateTable, TTL_ATTRIBUTE, get_n, get_s, history_day_key as day_key, n, s,
};

/// An alert from ALARM (or firing) to OK (or resolved).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Episode {
    /// The alert's lifecycle key.
    pub key: String,
    pub title: String,
    pub account: Option<String>,
    pub region: Option<String>,
    /// Where its message is.
    pub channel: String,
    /// Its route's team.
    pub team: Option<String>,
    /// The console link.
    pub url: Option<String>,
    /// Epoch ms.
    pub started_ms: i64,
    pub resolved_ms: i64,
    /// Who acknowledged it, and when (epoch s).
    pub acked: Option<(String, i64)>,
    /// The state changes its message had shown by then.
    pub changes: i64,
    /// Muted (or silenced) when it resolved.
    pub muted: bool,
    /// Its incident's line (`🚨 INC-12 declared by …`), when one was declared from it.
    pub incident: Option<String>,
}

/// An incident, once resolved.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IncidentSummary {
    pub number: i64,
    pub severity: i64,
    pub private: bool,
    /// Epoch s.
    pub declared_at: i64,
    pub resolved_at: i64,
    /// Declared from an alert, fired then (epoch s).
    pub alert_fired_at: Option<i64>,
    pub followups: i64,
}

/// An approval request, once decided (or expired).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ApprovalSummary {
    /// `R-…`.
    pub id: String,
    /// The policy action and its resource.
    pub action: String,
    pub resource: String,
    /// Epoch s.
    pub requested_at: i64,
    pub decided_at: i64,
    /// `approved`, `denied` or `expired`.
    pub outcome: String,
}

/// What a period's history holds.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct History {
    pub episodes: Vec<Episode>,
    pub incidents: Vec<IncidentSummary>,
    pub changes: Vec<super::Change>,
    pub approvals: Vec<ApprovalSummary>,
}

/// A short stable hash of an alert's key, for sort keys (the key itself can be 1,000 characters).
fn key_hash(key: &str) -> String {
    use sha2::Digest as _;
    hex::encode(&sha2::Sha256::digest(key.as_bytes())[..8])
}

fn put_if_absent(put: PutItemFluentBuilder) -> PutItemFluentBuilder {
    put.condition_expression("attribute_not_exists(pk)")
}

impl StateTable {
    /// Records `episode` once: two containers closing the same episode (a lease that ran out under one
    /// of them) compute the same key, and the second put finds the first. `false`: written before.
    pub async fn record_episode(&self, e: &Episode) -> Result<bool, StateError> {
        let sk = format!("episode#{:013}#{}#{:013}", e.resolved_ms.max(0), key_hash(&e.key), e.started_ms.max(0));
        let mut item: Item = Self::key(day_key(e.resolved_ms), &sk);
        item.extend([
            ("kind".to_owned(), s("episode")),
            ("alert".to_owned(), s(&e.key)),
            ("title".to_owned(), s(&e.title)),
            ("channel".to_owned(), s(&e.channel)),
            ("started".to_owned(), n(e.started_ms)),
            ("resolved".to_owned(), n(e.resolved_ms)),
            ("changes".to_owned(), n(e.changes)),
            ("muted".to_owned(), AttributeValue::Bool(e.muted)),
            (TTL_ATTRIBUTE.to_owned(), n(e.resolved_ms / 1000 + HISTORY_KEEP_DAYS * 86_400)),
        ]);
        let optional = [
            ("account", e.account.as_deref()),
            ("region", e.region.as_deref()),
            ("team", e.team.as_deref()),
            ("url", e.url.as_deref()),
            ("incident", e.incident.as_deref()),
            ("ack_by", e.acked.as_ref().map(|(by, _)| by.as_str())),
        ];
        for (name, value) in optional {
            if let Some(value) = value.filter(|v| !v.is_empty()) {
                item.insert(name.to_owned(), s(value));
            }
        }
        if let Some((_, at)) = &e.acked {
            item.insert("ack_at".to_owned(), n(*at));
        }
        Ok(self.put_once(item, put_if_absent, "PutItem (episode)").await?.is_none())
    }

    /// Records incident `summary` once (its resolve happens once; a retry finds it).
    pub async fn record_incident_summary(&self, i: &IncidentSummary) -> Result<bool, StateError> {
        let resolved_ms = i.resolved_at * 1000;
        let sk = format!("incident#{resolved_ms:013}#{}", i.number);
        let mut item: Item = Self::key(day_key(resolved_ms), &sk);
        item.extend([
            ("kind".to_owned(), s("incident_summary")),
            ("number".to_owned(), n(i.number)),
            ("severity".to_owned(), n(i.severity)),
            ("private".to_owned(), AttributeValue::Bool(i.private)),
            ("declared_at".to_owned(), n(i.declared_at)),
            ("resolved_at".to_owned(), n(i.resolved_at)),
            ("followups".to_owned(), n(i.followups)),
            (TTL_ATTRIBUTE.to_owned(), n(i.resolved_at + HISTORY_KEEP_DAYS * 86_400)),
        ]);
        if let Some(at) = i.alert_fired_at {
            item.insert("alert_fired".to_owned(), n(at));
        }
        Ok(self.put_once(item, put_if_absent, "PutItem (incident summary)").await?.is_none())
    }

    /// Records approval request `a`'s outcome once (it is decided once; a retry finds it).
    pub async fn record_approval_summary(&self, a: &ApprovalSummary) -> Result<bool, StateError> {
        let decided_ms = a.decided_at * 1000;
        let mut item: Item = Self::key(day_key(decided_ms), &format!("approval#{decided_ms:013}#{}", a.id));
        item.extend([
            ("kind".to_owned(), s("approval_summary")),
            ("id".to_owned(), s(&a.id)),
            ("action".to_owned(), s(&a.action)),
            ("resource".to_owned(), s(&a.resource)),
            ("requested_at".to_owned(), n(a.requested_at)),
            ("decided_at".to_owned(), n(a.decided_at)),
            ("outcome".to_owned(), s(&a.outcome)),
            (TTL_ATTRIBUTE.to_owned(), n(a.decided_at + HISTORY_KEEP_DAYS * 86_400)),
        ]);
        Ok(self.put_once(item, put_if_absent, "PutItem (approval summary)").await?.is_none())
    }

    /// The history of the UTC days from `from_ms` to `to_ms` (both included): one `Query` per day, the days
    /// side by side, all pages.
    pub async fn history(&self, from_ms: i64, to_ms: i64) -> Result<History, StateError> {
        let mut days = tokio::task::JoinSet::new();
        let mut day = from_ms.div_euclid(86_400_000) * 86_400_000;
        while day <= to_ms {
            let table = self.clone();
            days.spawn(async move { table.history_day(day).await });
            day += 86_400_000;
        }
        let mut out = History::default();
        while let Some(joined) = days.join_next().await {
            let items = joined.map_err(|e| StateError { operation: "Query (history)", detail: e.to_string() })??;
            for item in &items {
                read_item(item, &mut out);
            }
        }
        out.episodes.sort_by(|a, b| a.resolved_ms.cmp(&b.resolved_ms).then_with(|| a.key.cmp(&b.key)));
        out.incidents.sort_by_key(|i| (i.resolved_at, i.number));
        out.changes.sort_by(|a, b| a.at_ms.cmp(&b.at_ms).then_with(|| a.id.cmp(&b.id)));
        out.approvals.sort_by(|a, b| a.decided_at.cmp(&b.decided_at).then_with(|| a.id.cmp(&b.id)));
        Ok(out)
    }

    /// Every item of the day of `day_ms`.
    async fn history_day(&self, day_ms: i64) -> Result<Vec<Item>, StateError> {
        self.query_all(&day_key(day_ms), None, false, "Query (history)").await
    }
}

fn read_item(item: &Item, out: &mut History) {
    let sk = get_s(item, "sk").unwrap_or_default();
    if sk.starts_with("episode#") {
        out.episodes.push(Episode {
            key: get_s(item, "alert").unwrap_or_default(),
            title: get_s(item, "title").unwrap_or_default(),
            account: get_s(item, "account"),
            region: get_s(item, "region"),
            channel: get_s(item, "channel").unwrap_or_default(),
            team: get_s(item, "team"),
            url: get_s(item, "url"),
            started_ms: get_n(item, "started").unwrap_or_default(),
            resolved_ms: get_n(item, "resolved").unwrap_or_default(),
            acked: get_s(item, "ack_by").zip(get_n(item, "ack_at")),
            changes: get_n(item, "changes").unwrap_or_default(),
            muted: item.get("muted").and_then(|v| v.as_bool().ok()).copied().unwrap_or(false),
            incident: get_s(item, "incident"),
        });
    } else if sk.starts_with("incident#") {
        out.incidents.push(IncidentSummary {
            number: get_n(item, "number").unwrap_or_default(),
            severity: get_n(item, "severity").unwrap_or(3),
            private: item.get("private").and_then(|v| v.as_bool().ok()).copied().unwrap_or(false),
            declared_at: get_n(item, "declared_at").unwrap_or_default(),
            resolved_at: get_n(item, "resolved_at").unwrap_or_default(),
            alert_fired_at: get_n(item, "alert_fired"),
            followups: get_n(item, "followups").unwrap_or_default(),
        });
    } else if sk.starts_with("approval#") {
        out.approvals.push(ApprovalSummary {
            id: get_s(item, "id").unwrap_or_default(),
            action: get_s(item, "action").unwrap_or_default(),
            resource: get_s(item, "resource").unwrap_or_default(),
            requested_at: get_n(item, "requested_at").unwrap_or_default(),
            decided_at: get_n(item, "decided_at").unwrap_or_default(),
            outcome: get_s(item, "outcome").unwrap_or_default(),
        });
    } else if sk.starts_with("change#") {
        let link = get_s(item, "link_label").zip(get_s(item, "link_url"));
        out.changes.push(super::Change {
            at_ms: get_n(item, "at").unwrap_or_default(),
            id: get_s(item, "id").unwrap_or_default(),
            kind: get_s(item, "kind").unwrap_or_default(),
            what: get_s(item, "what").unwrap_or_default(),
            by: get_s(item, "by"),
            link,
            account: get_s(item, "account"),
            region: get_s(item, "region"),
            channel: get_s(item, "channel"),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_are_utc_and_keys_sort_by_time() {
        assert_eq!(day_key(1_796_515_200_000), "history#2026-12-06");
        assert_eq!(day_key(1_796_515_199_999), "history#2026-12-05");
        assert_eq!(key_hash("alarm:a").len(), 16);
        assert_ne!(key_hash("alarm:a"), key_hash("alarm:b"));
    }
}
