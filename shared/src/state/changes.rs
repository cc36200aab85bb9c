//! What changed, as the state table keeps it: every change the project makes or is told about (a deploy
//! by mention and its result, a CodeDeploy deployment and each button pressed on it, a `/scale`, a mute),
//! written once, read back by the notifier for an alarm's `🔧 Recent changes` line and by the reports.
//!
//! Items (design notes, "History in the state table"), under `changes#<account>` and
//! `changes#channel#<id>`:
//! - the history: sort key `<epoch ms, 13 digits>#<change id>`, one item per change, written with a
//!   conditional put (a retry of the same change writes nothing new), for the reports' `Query` by time;
//! - `latest`: the last [`LATEST`] changes of the scope, shifted in by one `UpdateItem` when a change is
//!   first written (`SET c2 = c1, c1 = c0, c0 = :new`: DynamoDB reads every right-hand side from the item as
//!   it was, so the shift is atomic under concurrent writers). The notifier reads it with one `GetItem`
//!   per scope, beside its claim: no `Query` on its path.
//!
//! Kept [`CHANGE_KEEP_DAYS`] days.

use super::{Item, StateError, StateTable, TTL_ATTRIBUTE, get_s, n, s, state_error};

/// How long changes are kept: long enough for the operations report's quarter.
pub const CHANGE_KEEP_DAYS: i64 = 90;

/// How many changes a scope's `latest` item keeps.
pub const LATEST: usize = 3;

/// One change.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Change {
    /// Epoch ms.
    pub at_ms: i64,
    /// Unique per change (a deployment ID, a request ID): the same change is written once.
    pub id: String,
    /// `deploy`, `deploy-result`, `codedeploy`, `scale`, `mute`.
    pub kind: String,
    /// What changed, as a reader says it (`orders deployed`, `web-asg 4 → 6`): plain text.
    pub what: String,
    /// The Slack user who did it.
    pub by: Option<String>,
    /// Where to see it: (label, URL).
    pub link: Option<(String, String)>,
    pub account: Option<String>,
    pub region: Option<String>,
    /// The channel it was made in (a channel ID).
    pub channel: Option<String>,
}

impl Change {
    fn sort_key(&self) -> String {
        format!("{:013}#{}", self.at_ms.max(0), self.id)
    }

    /// The change as an item under `pk` / `sk` (without its expiry).
    fn item(&self, pk: String, sk: String) -> Item {
        let mut item: Item = StateTable::key(pk, &sk);
        item.insert("at".into(), n(self.at_ms));
        item.insert("kind".into(), s(&self.kind));
        item.insert("what".into(), s(&self.what));
        let optional = [
            ("by", self.by.as_deref()),
            ("link_label", self.link.as_ref().map(|(l, _)| l.as_str())),
            ("link_url", self.link.as_ref().map(|(_, u)| u.as_str())),
            ("account", self.account.as_deref()),
            ("region", self.region.as_deref()),
            ("channel", self.channel.as_deref()),
            ("id", Some(self.id.as_str())),
        ];
        for (key, value) in optional {
            if let Some(value) = value.filter(|v| !v.is_empty()) {
                item.insert(key.into(), s(value));
            }
        }
        item
    }
}

pub fn account_key(account: &str) -> String {
    format!("changes#{account}")
}

pub fn channel_key(channel: &str) -> String {
    format!("changes#channel#{channel}")
}

impl StateTable {
    /// Records `change` under its account and its channel (those it has), once each.
    pub async fn record_change(&self, change: &Change, now_s: i64) -> Result<(), StateError> {
        let scopes: Vec<String> = change
            .account
            .iter()
            .map(|a| account_key(a))
            .chain(change.channel.iter().map(|c| channel_key(c)))
            .collect();
        let writes = scopes.into_iter().map(|pk| {
            let mut item = change.item(pk, change.sort_key());
            let expires_at = now_s + CHANGE_KEEP_DAYS * 86_400;
            item.insert(TTL_ATTRIBUTE.into(), n(expires_at));
            let pk = get_s(&item, "pk").unwrap_or_default();
            async move {
                let put =
                    self.put_once(item, |put| put.condition_expression("attribute_not_exists(pk)"), "record a change");
                // Written before (a retry): it is in `latest` already.
                if put.await?.is_some() {
                    return Ok(());
                }
                self.push_latest(&pk, change, expires_at).await
            }
        });
        // And the day's history, for the reports (state/history.rs): the same item under its own key.
        let history = async {
            let sk = format!("change#{:013}#{}", change.at_ms.max(0), change.id);
            let mut item = change.item(super::history_day_key(change.at_ms), sk);
            item.insert(TTL_ATTRIBUTE.into(), n(change.at_ms / 1000 + super::HISTORY_KEEP_DAYS * 86_400));
            self.put_once(item, |put| put.condition_expression("attribute_not_exists(pk)"), "record a change's history")
                .await
                .map(drop)
        };
        let (results, history) = tokio::join!(futures_join(writes), history);
        for result in results {
            result?;
        }
        history
    }

    /// Shifts `change` into `pk`'s `latest` item: one atomic `UpdateItem`.
    async fn push_latest(&self, pk: &str, change: &Change, expires_at: i64) -> Result<(), StateError> {
        let json = serde_json::to_string(change).unwrap_or_default();
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(pk.to_owned(), "latest")))
            .update_expression(
                "SET c2 = if_not_exists(c1, :none), c1 = if_not_exists(c0, :none), c0 = :new, #ttl = :ttl",
            )
            .expression_attribute_names("#ttl", TTL_ATTRIBUTE)
            .expression_attribute_values(":new", s(json))
            .expression_attribute_values(":none", s(""))
            .expression_attribute_values(":ttl", n(expires_at))
            .send()
            .await
            .map_err(state_error("record the latest change"))?;
        Ok(())
    }

    /// The latest changes (at most `limit`, of the last [`LATEST`]) under `scope` (an [`account_key`] or
    /// [`channel_key`]) from `since_ms` to `until_ms`, newest first: one `GetItem`.
    pub async fn recent_changes(
        &self,
        scope: &str,
        (since_ms, until_ms): (i64, i64),
        limit: i32,
    ) -> Result<Vec<Change>, StateError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(scope.to_owned(), "latest")))
            .send()
            .await
            .map_err(state_error("read recent changes"))?;
        let item = out.item.unwrap_or_default();
        let mut changes: Vec<Change> = ["c0", "c1", "c2"]
            .iter()
            .filter_map(|k| get_s(&item, k))
            .filter_map(|json| serde_json::from_str::<Change>(&json).ok())
            .filter(|c| (since_ms..=until_ms).contains(&c.at_ms))
            .collect();
        changes.sort_by_key(|c| std::cmp::Reverse(c.at_ms));
        changes.truncate(limit.max(0) as usize);
        Ok(changes)
    }
}

/// Runs the writes side by side (at most two).
async fn futures_join<F: std::future::Future>(futures: impl IntoIterator<Item = F>) -> Vec<F::Output> {
    let mut futures: Vec<F> = futures.into_iter().collect();
    match futures.len() {
        0 => Vec::new(),
        1 => vec![futures.remove(0).await],
        _ => {
            let second = futures.remove(1);
            let first = futures.remove(0);
            let (a, b) = tokio::join!(first, second);
            let mut out = vec![a, b];
            for rest in futures {
                out.push(rest.await);
            }
            out
        }
    }
}
