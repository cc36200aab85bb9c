//! One-time EventBridge Scheduler schedules: what must happen later without a click (an alarm's unmute,
//! an approval request's expiry, a deploy's timeout). Each is `at(...)` in UTC, in the stack's schedule
//! group, deleted by the scheduler once it ran, and invokes slack-command with its input (a timer the
//! function recognises). A schedule's name is the thing it is for, so scheduling that thing again moves
//! its schedule: there are never two.
//! Adapter floor: imports the base floor only.

use std::time::Duration;

use aws_sdk_scheduler::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_scheduler::types::{
    ActionAfterCompletion, FlexibleTimeWindow, FlexibleTimeWindowMode, RetryPolicy, ScheduleState, Target,
};
use serde_json::Value;

use crate::config::{ConfigError, non_empty};

pub const GROUP_VAR: &str = "SCHEDULE_GROUP";
pub const ROLE_VAR: &str = "SCHEDULER_ROLE_ARN";
pub const TARGET_VAR: &str = "SCHEDULE_TARGET_ARN";

/// Where schedules go and what they invoke (the names are the contract; the template sets them).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SchedulerConfig {
    /// `SCHEDULE_GROUP`: the stack's schedule group.
    pub group: String,
    /// `SCHEDULER_ROLE_ARN`: the role the scheduler assumes to invoke the target.
    pub role_arn: String,
    /// `SCHEDULE_TARGET_ARN`: the function the schedules invoke (slack-command).
    pub target_arn: String,
}

impl SchedulerConfig {
    /// All three variables, or none (no schedules: expiries are seen on the next click, mutes need one).
    pub fn from_lookup(lookup: &dyn Fn(&str) -> Option<String>) -> Result<Option<Self>, ConfigError> {
        let (group, role, target) =
            (non_empty(lookup, GROUP_VAR), non_empty(lookup, ROLE_VAR), non_empty(lookup, TARGET_VAR));
        match (group, role, target) {
            (None, None, None) => Ok(None),
            (Some(group), Some(role_arn), Some(target_arn)) => Ok(Some(Self { group, role_arn, target_arn })),
            (group, role, _) => Err(ConfigError::Missing {
                var: if group.is_none() {
                    GROUP_VAR
                } else if role.is_none() {
                    ROLE_VAR
                } else {
                    TARGET_VAR
                },
                hint: "schedules need SCHEDULE_GROUP, SCHEDULER_ROLE_ARN and SCHEDULE_TARGET_ARN together",
            }),
        }
    }
}

/// The key of a timer event: a schedule's input is `{"chatops_timer": <Timer>}`.
pub const TIMER_KEY: &str = "chatops_timer";

/// What a schedule does when it fires (slack-command's `flows::timers` acts on it).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Timer {
    /// An approval request's time is up: closed as expired if it is still open.
    ApprovalExpiry { request: String },
    /// A deploy's pipeline has not called back within `DEPLOY_TIMEOUT_MINUTES`.
    DeployTimeout { channel: String, thread_ts: String, mention_ts: String },
    /// A mute ends (or, muted until OK, the alarm is checked): the alarm's actions are enabled again if
    /// that mute (`mute`, its ID) is still the alarm's and its time has come (or the alarm is OK).
    Unmute {
        alarm: String,
        lifecycle: String,
        mute: String,
        until_ok: bool,
        /// The alert's message.
        channel: String,
        ts: String,
    },
    /// An incident is due a status update (`INCIDENT_REMINDERS`): a nudge in its channel, if it is still
    /// open and its last update is still the one at `since` (epoch s); `stale`: the long-quiet reminder.
    IncidentReminder { number: i64, since: i64, due: i64, stale: bool },
    /// The operations report of the `days` before now (the stack's recurring schedule: weekly by default).
    Report { days: i64 },
}

impl Timer {
    pub fn kind(&self) -> &'static str {
        match self {
            Self::ApprovalExpiry { .. } => "approval_expiry",
            Self::DeployTimeout { .. } => "deploy_timeout",
            Self::Unmute { .. } => "unmute",
            Self::IncidentReminder { .. } => "incident_reminder",
            Self::Report { .. } => "report",
        }
    }

    /// The schedule input that fires this timer.
    pub fn input(&self) -> Value {
        serde_json::json!({ TIMER_KEY: self })
    }
}

/// A scheduler call failed.
#[derive(Clone, Debug, thiserror::Error)]
#[error("EventBridge Scheduler {operation} failed: {detail}")]
pub struct ScheduleError {
    pub operation: &'static str,
    pub detail: String,
}

/// The schedules of a container.
#[derive(Clone, Debug)]
pub struct Scheduler {
    client: aws_sdk_scheduler::Client,
    config: SchedulerConfig,
}

/// A schedule's name for `key` (the thing it is for), under `prefix`: within the scheduler's 64
/// characters of `[0-9A-Za-z_.-]`, the same for the same key.
pub fn schedule_name(prefix: &str, key: &str) -> String {
    use sha2::Digest as _;
    let hash = hex::encode(sha2::Sha256::digest(key.as_bytes()));
    format!("{prefix}-{}", &hash[..32])
}

/// `at(2026-11-26T10:04:00)`, in UTC.
fn at_expression(at_s: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(at_s).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let text = t
        .format(time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]"))
        .unwrap_or_default();
    format!("at({text})")
}

impl Scheduler {
    pub fn new(client: aws_sdk_scheduler::Client, config: SchedulerConfig) -> Self {
        Self { client, config }
    }

    /// A scheduler client with short timeouts: a schedule is made inside Slack's 3 s.
    pub fn client(sdk: &aws_types::SdkConfig) -> aws_sdk_scheduler::Client {
        let timeouts = aws_sdk_scheduler::config::timeout::TimeoutConfig::builder()
            .connect_timeout(Duration::from_millis(500))
            .operation_attempt_timeout(Duration::from_millis(1000))
            .operation_timeout(Duration::from_millis(2000))
            .build();
        let config = aws_sdk_scheduler::config::Builder::from(sdk)
            .timeout_config(timeouts)
            .retry_config(aws_sdk_scheduler::config::retry::RetryConfig::standard().with_max_attempts(2))
            .build();
        aws_sdk_scheduler::Client::from_conf(config)
    }

    fn target(&self, input: &Value) -> Result<Target, ScheduleError> {
        Target::builder()
            .arn(&self.config.target_arn)
            .role_arn(&self.config.role_arn)
            .input(input.to_string())
            // A missed invocation is tried again for a while; the timer acts once (its record's state says).
            .retry_policy(RetryPolicy::builder().maximum_event_age_in_seconds(3600).maximum_retry_attempts(10).build())
            .build()
            .map_err(|e| ScheduleError { operation: "Target", detail: e.to_string() })
    }

    /// Fires `timer` at `at_s` (epoch s), under `name`: a schedule of that name is moved.
    pub async fn at(&self, name: &str, at_s: i64, timer: &Timer) -> Result<(), ScheduleError> {
        let input = &timer.input();
        let window = FlexibleTimeWindow::builder()
            .mode(FlexibleTimeWindowMode::Off)
            .build()
            .map_err(|e| ScheduleError { operation: "FlexibleTimeWindow", detail: e.to_string() })?;
        let expression = at_expression(at_s);
        let created = self
            .client
            .create_schedule()
            .name(name)
            .group_name(&self.config.group)
            .schedule_expression(&expression)
            .schedule_expression_timezone("UTC")
            .flexible_time_window(window.clone())
            .target(self.target(input)?)
            .action_after_completion(ActionAfterCompletion::Delete)
            .state(ScheduleState::Enabled)
            .send()
            .await;
        match created {
            Ok(_) => Ok(()),
            Err(err) if err.as_service_error().and_then(ProvideErrorMetadata::code) == Some("ConflictException") => {
                // Scheduled before: moved (UpdateSchedule replaces every field, so all are given again).
                self.client
                    .update_schedule()
                    .name(name)
                    .group_name(&self.config.group)
                    .schedule_expression(&expression)
                    .schedule_expression_timezone("UTC")
                    .flexible_time_window(window)
                    .target(self.target(input)?)
                    .action_after_completion(ActionAfterCompletion::Delete)
                    .state(ScheduleState::Enabled)
                    .send()
                    .await
                    .map(drop)
                    .map_err(|e| ScheduleError {
                        operation: "UpdateSchedule",
                        detail: DisplayErrorContext(e).to_string(),
                    })
            }
            Err(err) => {
                Err(ScheduleError { operation: "CreateSchedule", detail: DisplayErrorContext(err).to_string() })
            }
        }
    }

    /// Deletes schedule `name`; `false` when there was none (it ran, or never was).
    pub async fn cancel(&self, name: &str) -> Result<bool, ScheduleError> {
        match self.client.delete_schedule().name(name).group_name(&self.config.group).send().await {
            Ok(_) => Ok(true),
            Err(err)
                if err.as_service_error().and_then(ProvideErrorMetadata::code) == Some("ResourceNotFoundException") =>
            {
                Ok(false)
            }
            Err(err) => {
                Err(ScheduleError { operation: "DeleteSchedule", detail: DisplayErrorContext(err).to_string() })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_fit_the_scheduler_and_expressions_are_utc() {
        let name = schedule_name("unmute", &"alarm:arn:aws:cloudwatch:eu-west-1:1:alarm:x".repeat(5));
        assert!(name.len() <= 64 && name.starts_with("unmute-"), "{name}");
        assert!(name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
        assert_eq!(name, schedule_name("unmute", &"alarm:arn:aws:cloudwatch:eu-west-1:1:alarm:x".repeat(5)));
        assert_eq!(at_expression(1_764_151_440), "at(2025-11-26T10:04:00)");
    }

    #[test]
    fn the_three_variables_come_together() {
        let lookup = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| (*v).to_owned())
        };
        assert_eq!(SchedulerConfig::from_lookup(&lookup(&[])).unwrap(), None);
        let all = lookup(&[(GROUP_VAR, "g"), (ROLE_VAR, "arn:role"), (TARGET_VAR, "arn:fn")]);
        assert_eq!(SchedulerConfig::from_lookup(&all).unwrap().unwrap().group, "g");
        let partial = lookup(&[(GROUP_VAR, "g")]);
        assert_eq!(SchedulerConfig::from_lookup(&partial).unwrap_err().var(), ROLE_VAR);
    }
}
