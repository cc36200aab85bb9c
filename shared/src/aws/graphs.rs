//! Alarm graphs drawn by CloudWatch (`GetMetricWidgetImage`, PNG), and which accounts' metrics this
//! stack can draw: its own, and with `CROSS_ACCOUNT_OBSERVABILITY=true` (the stack's account is a
//! monitoring account of CloudWatch cross-account observability) those of its source accounts.
//!
//! `METRIC_GRAPHS=false` turns graphs off. A graph never holds an alarm back: it is drawn after the
//! message is posted, within [`DRAW_TIMEOUT`], and a failure leaves the message without it.
//!
//! Adapter floor: imports the base floor (`config`).

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Duration;

use aws_sdk_cloudwatch::error::{DisplayErrorContext, ProvideErrorMetadata};

use crate::config::{ConfigError, non_empty};

pub const GRAPHS_VAR: &str = "METRIC_GRAPHS";
pub const CROSS_ACCOUNT_VAR: &str = "CROSS_ACCOUNT_OBSERVABILITY";

/// The most one drawing may take, retries included.
pub const DRAW_TIMEOUT: Duration = Duration::from_secs(5);

/// Where the alarm's account stands for this stack.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccountAccess {
    /// The stack's own account.
    Own,
    /// Another account whose metrics this stack's account can read (CloudWatch cross-account
    /// observability, this account being a monitoring account): the metrics carry `accountId`.
    Linked,
}

/// A `true`/`false` variable (any case), `default` when unset.
pub fn switch(lookup: &dyn Fn(&str) -> Option<String>, var: &'static str, default: bool) -> Result<bool, ConfigError> {
    match non_empty(lookup, var) {
        None => Ok(default),
        Some(v) if v.eq_ignore_ascii_case("true") => Ok(true),
        Some(v) if v.eq_ignore_ascii_case("false") => Ok(false),
        Some(_) => Err(ConfigError::Invalid { var, problem: "must be true or false".into() }),
    }
}

/// Why no graph was drawn.
#[derive(Debug, thiserror::Error)]
pub enum GraphError {
    #[error("CloudWatch refused to draw the graph: {0}")]
    Refused(String),
    #[error("CloudWatch did not draw the graph within {0:?}")]
    Timeout(Duration),
    #[error("CloudWatch answered without an image")]
    Empty,
    /// The role may not draw (cloudwatch:GetMetricWidgetImage is not granted): no later try will do better.
    #[error(
        "CloudWatch refused to draw: {0} (grant cloudwatch:GetMetricWidgetImage, template parameter MetricGraphs=true)"
    )]
    NotAllowed(String),
}

/// Which accounts' metrics can be drawn here, given the stack's own account.
pub fn access(own: Option<&str>, alarm: Option<&str>, cross_account: bool) -> Option<AccountAccess> {
    match (own, alarm) {
        (_, None) => Some(AccountAccess::Own),
        (Some(own), Some(alarm)) if own == alarm => Some(AccountAccess::Own),
        _ if cross_account => Some(AccountAccess::Linked),
        _ => None,
    }
}

/// What a container keeps to draw graphs.
pub struct Graphs {
    cloudwatch: aws_sdk_cloudwatch::Client,
    pub cross_account: bool,
    /// Accounts whose alarms got no graph, said once each.
    said: Mutex<HashSet<String>>,
    /// Why graphs stopped in this container (a permission missing: every later try would fail alike).
    stopped: Mutex<Option<String>>,
}

impl Graphs {
    pub fn new(cloudwatch: aws_sdk_cloudwatch::Client, cross_account: bool) -> Self {
        Self { cloudwatch, cross_account, said: Mutex::default(), stopped: Mutex::default() }
    }

    /// Graphs are off in this container until it is replaced (a deploy that fixes the permission does).
    pub fn stopped(&self) -> bool {
        self.stopped.lock().is_ok_and(|s| s.is_some())
    }

    /// Stops graphs in this container, saying why once.
    pub fn stop(&self, why: &str) {
        if let Ok(mut stopped) = self.stopped.lock()
            && stopped.is_none()
        {
            tracing::error!(
                why,
                "alarm graphs stopped in this container: every alarm is still posted, without its graph"
            );
            *stopped = Some(why.to_owned());
        }
    }

    /// How this stack may draw the alarm of `alarm_account`; logs once per account when it may not.
    pub fn access(&self, own: Option<&str>, alarm_account: Option<&str>) -> Option<AccountAccess> {
        let found = access(own, alarm_account, self.cross_account);
        if found.is_none()
            && let Some(account) = alarm_account
            && self.said.lock().is_ok_and(|mut said| said.insert(account.to_owned()))
        {
            tracing::info!(
                account,
                "no graph for alarms of this account: CloudWatch draws another account's metrics only in a monitoring account of cross-account observability (set CROSS_ACCOUNT_OBSERVABILITY=true there)"
            );
        }
        found
    }

    /// The PNG of `widget` (a `MetricWidget` JSON document).
    pub async fn draw(&self, widget: &serde_json::Value) -> Result<Vec<u8>, GraphError> {
        let call =
            self.cloudwatch.get_metric_widget_image().metric_widget(widget.to_string()).output_format("png").send();
        let answer = tokio::time::timeout(DRAW_TIMEOUT, call).await.map_err(|_| GraphError::Timeout(DRAW_TIMEOUT))?;
        let out = answer.map_err(|e| match e.code() {
            Some(code @ ("AccessDenied" | "AccessDeniedException" | "UnauthorizedOperation")) => {
                GraphError::NotAllowed(format!("{code}: {}", e.message().unwrap_or_default()))
            }
            Some(code) => GraphError::Refused(format!("{code}: {}", e.message().unwrap_or_default())),
            None => GraphError::Refused(DisplayErrorContext(e).to_string()),
        })?;
        let bytes = out.metric_widget_image.map(|b| b.into_inner()).unwrap_or_default();
        if bytes.is_empty() {
            return Err(GraphError::Empty);
        }
        Ok(bytes)
    }
}

static OWN_ACCOUNT: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Notes the stack's account from an invocation's function ARN (the first one a container sees).
pub fn note_own_account(function_arn: &str) {
    if let Some(account) = account_of_arn(function_arn) {
        let _ = OWN_ACCOUNT.set(account.to_owned());
    }
}

/// The stack's account, once an invocation has shown it.
pub fn own_account() -> Option<String> {
    OWN_ACCOUNT.get().cloned()
}

/// The account of a Lambda function's ARN (`arn:aws:lambda:region:account:function:name`).
pub fn account_of_arn(arn: &str) -> Option<&str> {
    arn.split(':').nth(4).filter(|a| crate::aws::accounts::is_account_id(a))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_account_always_others_only_with_cross_account_observability() {
        assert_eq!(access(Some("111122223333"), Some("111122223333"), false), Some(AccountAccess::Own));
        assert_eq!(access(Some("111122223333"), None, false), Some(AccountAccess::Own));
        assert_eq!(access(Some("111122223333"), Some("444455556666"), false), None);
        assert_eq!(access(Some("111122223333"), Some("444455556666"), true), Some(AccountAccess::Linked));
        assert_eq!(account_of_arn("arn:aws:lambda:eu-west-1:123456789012:function:f"), Some("123456789012"));
        assert_eq!(account_of_arn("nonsense"), None);
    }
}
