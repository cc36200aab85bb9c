//! An incident's follow-ups (action items): `incident#<n>` (sk `followup#<id>`), each written once under an
//! ID that every retry of what caused it shares (a 📝 on message `ts` is `memo#<ts>`), its text appended to
//! the record's `followups` list (which the card shows), and filed as an issue at most once: filing takes a
//! lease on the item (a conditional update that only one of two resolves at once wins, and nobody wins once
//! the item has its `issue`), then records the issue's link, or the failure, and gives the lease back.

use aws_sdk_dynamodb::operation::put_item::builders::PutItemFluentBuilder;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};

use super::{Item, StateError, StateTable, TTL_ATTRIBUTE, get_n, get_s, is_condition_failure, n, s, state_error};

/// One follow-up as recorded.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FollowUp {
    /// The same for every retry of what recorded it.
    pub id: String,
    /// Epoch ms.
    pub at_ms: i64,
    /// Who recorded it (a 📝: the message's author).
    pub author: String,
    /// As typed (raw, not mrkdwn).
    pub text: String,
    /// The issue's page, once filed.
    pub issue: Option<String>,
    /// Why the last attempt to file it failed.
    pub error: Option<String>,
}

impl StateTable {
    fn followup_key(number: i64, id: &str) -> Item {
        Self::key(format!("incident#{number}"), &format!("followup#{id}"))
    }

    /// Records `followup` on incident `number` (open or resolved: follow-ups often come after), once:
    /// `false` when one with its ID is there already. Its text joins the record's list.
    pub async fn add_followup(&self, number: i64, followup: &FollowUp, expires_at: i64) -> Result<bool, StateError> {
        let mut item = Self::followup_key(number, &followup.id);
        item.extend([
            ("kind".to_owned(), s("followup")),
            ("at".to_owned(), n(followup.at_ms)),
            ("author".to_owned(), s(&followup.author)),
            ("text".to_owned(), s(&followup.text)),
            (TTL_ATTRIBUTE.to_owned(), n(expires_at)),
        ]);
        let condition = |put: PutItemFluentBuilder| put.condition_expression("attribute_not_exists(pk)");
        if self.put_once(item, condition, "PutItem (follow-up)").await?.is_some() {
            return Ok(false);
        }
        let appended = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(format!("incident#{number}"), "incident")))
            .update_expression("SET followups = list_append(if_not_exists(followups, :empty), :text)")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":empty", AttributeValue::L(Vec::new()))
            .expression_attribute_values(":text", AttributeValue::L(vec![s(&followup.text)]))
            .return_values(ReturnValue::None)
            .send()
            .await;
        match appended {
            Ok(_) => Ok(true),
            Err(err) if is_condition_failure(&err) => Ok(true),
            Err(err) => Err(state_error("UpdateItem (follow-up on the incident)")(err)),
        }
    }

    /// Incident `number`'s follow-ups, oldest first.
    pub async fn followups(&self, number: i64) -> Result<Vec<FollowUp>, StateError> {
        let items =
            self.query_all(&format!("incident#{number}"), Some("followup#"), true, "Query (follow-ups)").await?;
        let mut out: Vec<FollowUp> = items
            .iter()
            .map(|item| FollowUp {
                id: get_s(item, "sk").unwrap_or_default().trim_start_matches("followup#").to_owned(),
                at_ms: get_n(item, "at").unwrap_or_default(),
                author: get_s(item, "author").unwrap_or_default(),
                text: get_s(item, "text").unwrap_or_default(),
                issue: get_s(item, "issue"),
                error: get_s(item, "error"),
            })
            .collect();
        out.sort_by(|a, b| a.at_ms.cmp(&b.at_ms).then_with(|| a.id.cmp(&b.id)));
        Ok(out)
    }

    /// Takes the filing lease of follow-up `id` for `owner` until `until_ms`: only while it has no issue
    /// and nobody else holds the lease (given back, or run out at `now_ms`). `false`: filed, or being filed.
    pub async fn claim_followup(
        &self,
        number: i64,
        id: &str,
        owner: &str,
        now_ms: i64,
        until_ms: i64,
    ) -> Result<bool, StateError> {
        let update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::followup_key(number, id)))
            .update_expression("SET filing_owner = :owner, filing_until = :until")
            .condition_expression(
                "attribute_exists(pk) AND attribute_not_exists(issue) AND (attribute_not_exists(filing_until) OR filing_until < :now)",
            )
            .expression_attribute_values(":owner", s(owner))
            .expression_attribute_values(":until", n(until_ms))
            .expression_attribute_values(":now", n(now_ms));
        self.update_if(update, "UpdateItem (claim follow-up)").await
    }

    /// Follow-up `id` was filed as `issue` (its page): recorded once, the lease given back.
    pub async fn followup_filed(&self, number: i64, id: &str, issue: &str) -> Result<bool, StateError> {
        let update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::followup_key(number, id)))
            .update_expression("SET issue = :issue REMOVE filing_owner, filing_until, #error")
            .condition_expression("attribute_exists(pk) AND attribute_not_exists(issue)")
            .expression_attribute_names("#error", "error")
            .expression_attribute_values(":issue", s(issue));
        self.update_if(update, "UpdateItem (follow-up filed)").await
    }

    /// Filing follow-up `id` failed (`why`): said on it, and the lease given back if `owner` holds it, so
    /// it can be filed again.
    pub async fn followup_failed(&self, number: i64, id: &str, owner: &str, why: &str) -> Result<bool, StateError> {
        let update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::followup_key(number, id)))
            .update_expression("SET #error = :why REMOVE filing_owner, filing_until")
            .condition_expression("filing_owner = :owner AND attribute_not_exists(issue)")
            .expression_attribute_names("#error", "error")
            .expression_attribute_values(":why", s(why))
            .expression_attribute_values(":owner", s(owner));
        self.update_if(update, "UpdateItem (follow-up not filed)").await
    }
}
