//! CloudWatch Logs Insights for [Show logs]: `StartQuery` and `GetQueryResults`, in the alarm's region.
//!
//! Adapter floor: imports the base floor only.

use aws_sdk_cloudwatchlogs::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_types::region::Region;

/// A query's state, as Logs Insights reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum QueryState {
    /// Still running (or scheduled): the lines so far, if any.
    Running,
    /// Done: the rows, each a list of `(field, value)`.
    Complete(Vec<Vec<(String, String)>>),
    /// Failed, cancelled or timed out.
    Failed(String),
}

#[derive(Debug, thiserror::Error)]
#[error("CloudWatch Logs {operation} failed: {detail}")]
pub struct LogsError {
    pub operation: &'static str,
    pub detail: String,
}

fn logs_error<E: ProvideErrorMetadata + std::error::Error + 'static, R: std::fmt::Debug>(
    operation: &'static str,
) -> impl Fn(aws_sdk_cloudwatchlogs::error::SdkError<E, R>) -> LogsError {
    move |e| {
        let detail = match e.code() {
            Some(code) => format!("{code}: {}", e.message().unwrap_or_default()),
            None => DisplayErrorContext(e).to_string(),
        };
        LogsError { operation, detail }
    }
}

/// The Logs client of a container.
#[derive(Clone, Debug)]
pub struct LogsInsights {
    client: aws_sdk_cloudwatchlogs::Client,
}

impl LogsInsights {
    pub fn new(client: aws_sdk_cloudwatchlogs::Client) -> Self {
        Self { client }
    }

    fn in_region(&self, region: &str) -> aws_sdk_cloudwatchlogs::config::Builder {
        aws_sdk_cloudwatchlogs::config::Builder::default().region(Region::new(region.to_owned()))
    }

    /// Starts `query` over `groups` (names, or ARNs for a source account) from `start` to `end` (epoch s).
    pub async fn start(
        &self,
        region: &str,
        groups: &[String],
        (start, end): (i64, i64),
        query: &str,
    ) -> Result<String, LogsError> {
        let mut call = self.client.start_query().start_time(start).end_time(end).query_string(query).limit(20);
        for group in groups {
            call =
                if group.starts_with("arn:") { call.log_group_identifiers(group) } else { call.log_group_names(group) };
        }
        let out =
            call.customize().config_override(self.in_region(region)).send().await.map_err(logs_error("StartQuery"))?;
        out.query_id.ok_or(LogsError { operation: "StartQuery", detail: "no query ID".into() })
    }

    /// Where query `id` stands.
    pub async fn results(&self, region: &str, id: &str) -> Result<QueryState, LogsError> {
        let out = self
            .client
            .get_query_results()
            .query_id(id)
            .customize()
            .config_override(self.in_region(region))
            .send()
            .await
            .map_err(logs_error("GetQueryResults"))?;
        use aws_sdk_cloudwatchlogs::types::QueryStatus;
        Ok(match out.status {
            Some(QueryStatus::Complete) => QueryState::Complete(
                out.results
                    .unwrap_or_default()
                    .into_iter()
                    .map(|row| {
                        row.into_iter()
                            .filter_map(|f| Some((f.field?, f.value.unwrap_or_default())))
                            .collect::<Vec<_>>()
                    })
                    .collect(),
            ),
            Some(QueryStatus::Running | QueryStatus::Scheduled) | None => QueryState::Running,
            Some(other) => QueryState::Failed(other.as_str().to_owned()),
        })
    }
}
