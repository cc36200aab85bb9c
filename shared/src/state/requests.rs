//! Approval requests: a change the policy sent for approval, kept as one item (`approval#<id>`) whose
//! `status` moves `open` → `executing` → `executed` | `failed`, or `open` → `denied` | `expired`, each
//! step one conditional update; a run whose container stopped before reporting is closed `abandoned`
//! by the next click, once [`EXECUTING_LEASE_S`] has passed. Approvals are a string set that an approver joins once (`ADD` under
//! `NOT contains`), so two approvers clicking at the same moment are both counted, and the step that
//! runs the change (`open` → `executing`) is won by exactly one container.

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure};

use super::{
    Item, StateError, StateTable, TTL_ATTRIBUTE, get_n, get_s, is_condition_failure, n, s, state_error, unique_owner,
    update_conflict,
};

/// How long a run may stay `executing` before a click may close it as abandoned: far past the
/// function's own time limit, so a run still going is never taken for a dead one.
pub const EXECUTING_LEASE_S: i64 = 60;

/// Where a request stands: the approval state machine's states. Stored as their names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RequestStatus {
    /// Waiting for approvals, until `open_until`.
    Open,
    /// Approved; one container is running it.
    Executing,
    Executed,
    /// Ran and failed, or could not be put to the approvers.
    Failed,
    Denied,
    Expired,
    /// Its run never reported (the container stopped): whether the change was made is unknown.
    Abandoned,
}

impl RequestStatus {
    pub const ALL: [Self; 7] =
        [Self::Open, Self::Executing, Self::Executed, Self::Failed, Self::Denied, Self::Expired, Self::Abandoned];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Executing => "executing",
            Self::Executed => "executed",
            Self::Failed => "failed",
            Self::Denied => "denied",
            Self::Expired => "expired",
            Self::Abandoned => "abandoned",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// The moves the state machine has: `open` → `executing` | `denied` | `expired` | `failed` (never
    /// put to the approvers); `executing` → `executed` | `failed` | `abandoned`. Every other is refused.
    pub fn may_move_to(self, to: Self) -> bool {
        use RequestStatus::*;
        matches!((self, to), (Open, Executing | Denied | Expired | Failed) | (Executing, Executed | Failed | Abandoned))
    }
}

impl std::fmt::Display for RequestStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A request as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredRequest {
    /// The request itself (JSON written by the caller: who asked, what runs).
    pub body: String,
    /// `None` for a status this version does not know (written by a newer one): treated as closed.
    pub status: Option<RequestStatus>,
    /// Epoch seconds after which it can no longer be approved.
    pub open_until: i64,
    pub approved_by: Vec<String>,
    /// Who closed it (denied it, or ran it) and what came of it.
    pub closed_by: Option<String>,
    pub result: Option<String>,
    /// Epoch seconds of the last status change.
    pub moved_at: Option<i64>,
    /// Where the approvers' message is (channel, `ts`), once posted.
    pub message: Option<(String, String)>,
}

impl StoredRequest {
    pub(super) fn from_item(item: &Item) -> Self {
        let mut approved_by: Vec<String> =
            item.get("approved_by").and_then(|v| v.as_ss().ok()).cloned().unwrap_or_default();
        approved_by.sort();
        Self {
            body: get_s(item, "body").unwrap_or_default(),
            status: get_s(item, "status").as_deref().and_then(RequestStatus::parse),
            open_until: get_n(item, "open_until").unwrap_or(0),
            approved_by,
            closed_by: get_s(item, "closed_by"),
            result: get_s(item, "result"),
            moved_at: get_n(item, "moved_at"),
            message: get_s(item, "message_channel").zip(get_s(item, "message_ts")),
        }
    }
}

/// What an approval click did to the request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Approval {
    /// Counted: the request as it now stands.
    Counted(StoredRequest),
    /// Not counted: already approved by this user, no longer open, or past `open_until` (as it stands).
    NotCounted(Option<StoredRequest>),
}

impl StateTable {
    fn request_key(id: &str) -> Item {
        Self::key(format!("approval#{id}"), "approval")
    }

    /// Stores a new open request; `false` when the ID is taken (a new ID is then drawn).
    pub async fn create_request(
        &self,
        id: &str,
        body: &str,
        open_until: i64,
        expires_at: i64,
    ) -> Result<bool, StateError> {
        let mut item = Self::request_key(id);
        item.extend([
            ("kind".to_owned(), s("approval")),
            ("status".to_owned(), s(RequestStatus::Open.as_str())),
            ("body".to_owned(), s(body)),
            ("open_until".to_owned(), n(open_until)),
            (TTL_ATTRIBUTE.to_owned(), n(expires_at)),
        ]);
        // Waiting for its approvers: in the open index until it leaves `open` (state/open.rs).
        item.extend(super::join_open(&format!("approval#{id}")));
        let found = self
            .put_once(item, |put| put.condition_expression("attribute_not_exists(pk)"), "PutItem (create request)")
            .await?;
        Ok(found.is_none())
    }

    /// The request `id`, read strongly consistent; `None` when there is none.
    pub async fn get_request(&self, id: &str) -> Result<Option<StoredRequest>, StateError> {
        let item = self.get_consistent(Self::request_key(id), "GetItem (request)").await?;
        Ok(item.as_ref().map(StoredRequest::from_item))
    }

    /// Records where request `id`'s message to its approvers is, for updating it without a click.
    pub async fn set_request_message(&self, id: &str, channel: &str, ts: &str) -> Result<(), StateError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::request_key(id)))
            .update_expression("SET message_channel = :channel, message_ts = :ts")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":channel", s(channel))
            .expression_attribute_values(":ts", s(ts))
            .send()
            .await
            .map(drop)
            .map_err(state_error("UpdateItem (request message)"))
    }

    /// Counts `user`'s approval of `id`: only while it is open and before `open_until`, and once per user.
    pub async fn approve_request(&self, id: &str, user: &str, now_s: i64) -> Result<Approval, StateError> {
        let attempt = unique_owner("approval");
        let updated = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::request_key(id)))
            .update_expression("ADD approved_by :user SET last_approval = :attempt")
            .condition_expression(
                "attribute_exists(pk) AND #status = :open AND open_until > :now AND NOT contains(approved_by, :who)",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":user", AttributeValue::Ss(vec![user.to_owned()]))
            .expression_attribute_values(":who", s(user))
            .expression_attribute_values(":open", s(RequestStatus::Open.as_str()))
            .expression_attribute_values(":now", n(now_s))
            .expression_attribute_values(":attempt", s(&attempt))
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match updated {
            Ok(out) => Ok(Approval::Counted(StoredRequest::from_item(&out.attributes.unwrap_or_default()))),
            Err(err) if is_condition_failure(&err) => {
                let old = update_conflict(&err);
                Ok(match old {
                    // This very approval, counted by an attempt whose answer came too late.
                    Some(i) if get_s(&i, "last_approval").as_deref() == Some(attempt.as_str()) => {
                        Approval::Counted(StoredRequest::from_item(&i))
                    }
                    Some(i) => Approval::NotCounted(Some(StoredRequest::from_item(&i))),
                    None => Approval::NotCounted(None),
                })
            }
            Err(err) => Err(state_error("UpdateItem (approve request)")(err)),
        }
    }

    /// Moves `id` from status `from` to `to`, recording who did it and the result; `false` when it was
    /// not in `from` (someone else moved it first). Leaving `open` is only possible before `open_until`,
    /// except to `expired`, which is only possible after. A move the state machine does not have
    /// ([`RequestStatus::may_move_to`]) is an error and writes nothing.
    pub async fn move_request(
        &self,
        id: &str,
        from: RequestStatus,
        to: RequestStatus,
        by: &str,
        result: Option<&str>,
        now_s: i64,
    ) -> Result<bool, StateError> {
        if !from.may_move_to(to) {
            return Err(StateError {
                operation: "UpdateItem (move request)",
                detail: format!("a request cannot move from {from} to {to}"),
            });
        }
        let mover = unique_owner("move");
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::request_key(id)))
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#result", "result")
            .expression_attribute_values(":from", s(from.as_str()))
            .expression_attribute_values(":to", s(to.as_str()))
            .expression_attribute_values(":by", s(by))
            .expression_attribute_values(":result", s(result.unwrap_or_default()))
            .expression_attribute_values(":now", n(now_s))
            .expression_attribute_values(":mover", s(&mover))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .update_expression(if from == RequestStatus::Open {
                // No longer waiting: it leaves the open index in the same write.
                "SET #status = :to, closed_by = :by, #result = :result, moved_at = :now, mover = :mover REMOVE open_in, open_sk"
            } else {
                "SET #status = :to, closed_by = :by, #result = :result, moved_at = :now, mover = :mover"
            });
        update = match (from, to) {
            (RequestStatus::Open, RequestStatus::Expired) => {
                update.condition_expression("#status = :from AND open_until <= :now")
            }
            (RequestStatus::Open, _) => update.condition_expression("#status = :from AND open_until > :now"),
            // A run whose container stopped before it reported: only once its time is long past.
            (RequestStatus::Executing, RequestStatus::Abandoned) => update
                .condition_expression("#status = :from AND moved_at <= :stale")
                .expression_attribute_values(":stale", n(now_s - EXECUTING_LEASE_S)),
            _ => update.condition_expression("#status = :from"),
        };
        match update.send().await {
            Ok(_) => Ok(true),
            // Lost, unless to this very move (an attempt that succeeded but answered too late): the
            // mover is unique to this call, so two clicks never both win.
            Err(err) if is_condition_failure(&err) => {
                let old = update_conflict(&err);
                Ok(old.is_some_and(|i| get_s(&i, "mover").as_deref() == Some(mover.as_str())))
            }
            Err(err) => Err(state_error("UpdateItem (move request)")(err)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::RequestStatus::{self, *};

    #[test]
    fn the_state_machine_has_exactly_its_moves_and_every_status_reads_back() {
        let legal: Vec<(RequestStatus, RequestStatus)> = RequestStatus::ALL
            .into_iter()
            .flat_map(|from| RequestStatus::ALL.into_iter().map(move |to| (from, to)))
            .filter(|(from, to)| from.may_move_to(*to))
            .collect();
        assert_eq!(
            legal,
            [
                (Open, Executing),
                (Open, Failed),
                (Open, Denied),
                (Open, Expired),
                (Executing, Executed),
                (Executing, Failed),
                (Executing, Abandoned)
            ]
        );
        for status in RequestStatus::ALL {
            assert_eq!(RequestStatus::parse(status.as_str()), Some(status));
        }
        assert_eq!(RequestStatus::parse("Open"), None);
    }
}
