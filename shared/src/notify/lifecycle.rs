//! One Slack message per alarm (and per deployment) lifecycle: what identifies a lifecycle, and the
//! words of its updates: the note on the parent message (`OK after 12 min in ALARM`) and the short
//! reply in its thread (`✅ OK after 12 min`, `🔴 ALARM again`). The state itself lives in the state
//! table (`crate::state`); the posting in the function.

use std::time::Duration;

use super::alarm::AlarmState;
use super::time_fmt::{duration_text, parse};
use super::{Notification, render};
use crate::slack::escape;

/// What identifies a lifecycle, and its kind (`alarm`, `deployment`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LifecycleKey {
    pub key: String,
    pub kind: &'static str,
}

/// What a lifecycle was before this notification, as the state table remembers it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Before<'a> {
    pub state: Option<&'a str>,
    pub changed_at_ms: Option<i64>,
    pub alarm_since_ms: Option<i64>,
}

impl Notification {
    /// Alarms by ARN (or account + region + name without one), deployments by ID; other notifications
    /// have no lifecycle and are posted as they come.
    pub fn lifecycle_key(&self) -> Option<LifecycleKey> {
        match self {
            Self::Alarm(a) => {
                let key = match &a.arn {
                    Some(arn) => arn.clone(),
                    None => format!(
                        "{}:{}:{}",
                        a.account.as_deref().unwrap_or("-"),
                        a.region.as_deref().or(a.region_name.as_deref()).unwrap_or("-"),
                        a.name
                    ),
                };
                Some(LifecycleKey { key: format!("alarm:{key}"), kind: "alarm" })
            }
            Self::Deployment(d) => {
                Some(LifecycleKey { key: format!("deployment:{}", d.deployment_id), kind: "deployment" })
            }
            Self::Service(e) => e.lifecycle.clone().map(|key| LifecycleKey { key, kind: "event" }),
            Self::Alertmanager(g) => Some(LifecycleKey { key: g.lifecycle_key(), kind: "alertmanager" }),
            Self::Generic(_) | Self::SlackPayload(_) => None,
        }
    }

    /// When the state changed (epoch ms), as the event says.
    pub fn changed_at_ms(&self) -> Option<i64> {
        let raw = match self {
            Self::Alarm(a) => a.changed_at.as_deref(),
            Self::Deployment(d) => d.time.as_deref(),
            Self::Service(e) => e.time.as_deref(),
            Self::Alertmanager(g) => g.changed_at(),
            Self::Generic(g) => g.time.as_deref(),
            Self::SlackPayload(_) => None,
        }?;
        parse(raw).map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64)
    }

    /// Pages: an alarm in ALARM, or a service notice of high severity or worse.
    pub fn is_alarm_state(&self) -> bool {
        match self {
            Self::Alarm(a) => a.new_state == AlarmState::Alarm,
            Self::Service(e) => e.severity.is_urgent(),
            Self::Alertmanager(g) => g.is_firing(),
            _ => false,
        }
    }

    fn reason(&self) -> Option<&str> {
        match self {
            Self::Alarm(a) => a.reason.as_deref(),
            Self::Service(e) => e.reason.as_deref(),
            _ => None,
        }
    }

    pub(crate) fn emoji(&self) -> &'static str {
        match self {
            Self::Alarm(a) => render::state_style(&a.new_state).0,
            Self::Deployment(d) => super::codedeploy::deployment_style(&d.state).0,
            Self::Service(e) => e.severity.style().0,
            Self::Alertmanager(g) if g.is_firing() => "🔥",
            Self::Alertmanager(_) => "✅",
            _ => "📣",
        }
    }
}

fn since(from_ms: i64, to_ms: i64) -> String {
    duration_text(Duration::from_millis(to_ms.saturating_sub(from_ms).max(0) as u64))
}

/// The note on the parent message after an update: how long the alarm was (or has been) in ALARM.
pub fn parent_note(n: &Notification, before: &Before<'_>, at_ms: i64, changes: i64) -> Option<String> {
    let history =
        if changes > 1 { format!(" · {changes} state changes, history in the thread") } else { String::new() };
    let note = match n {
        Notification::Alarm(a) => match (&a.new_state, before.state, before.alarm_since_ms) {
            (AlarmState::Alarm, Some("ALARM"), Some(since_ms)) => {
                format!("🔴 In ALARM for {} (since {})", since(since_ms, at_ms), slack_date_ms(since_ms))
            }
            (AlarmState::Alarm, _, _) => "🔴 ALARM again".to_owned(),
            (state, Some("ALARM"), Some(since_ms)) => {
                format!("{} {} after {} in ALARM", render::state_style(state).0, state.as_str(), since(since_ms, at_ms))
            }
            (state, _, _) => format!("{} {}", render::state_style(state).0, state.as_str()),
        },
        Notification::Deployment(d) => {
            format!("{} {}", super::codedeploy::deployment_style(&d.state).0, escape(&d.state))
        }
        Notification::Service(e) => format!("{} {}", e.severity.style().0, escape(&e.status)),
        Notification::Alertmanager(g) => match (g.is_firing(), before.state, before.alarm_since_ms) {
            (true, Some("FIRING"), Some(since_ms)) => format!(
                "🔥 Firing for {} (since {}): {} alerts",
                since(since_ms, at_ms),
                slack_date_ms(since_ms),
                g.firing_count()
            ),
            (true, Some(_), _) => format!("🔥 Firing again: {} alerts", g.firing_count()),
            (true, None, _) => format!("🔥 Firing: {} alerts", g.firing_count()),
            (false, Some("FIRING"), Some(since_ms)) => format!("✅ Resolved after {}", since(since_ms, at_ms)),
            (false, _, _) => "✅ Resolved".to_owned(),
        },
        _ => return None,
    };
    Some(format!("{note}{history}"))
}

/// The reply in the thread for this notification: the state, since when, and why. `late` marks a
/// notification older than the state the parent shows (it arrived after a later one).
pub fn thread_reply(n: &Notification, before: &Before<'_>, at_ms: i64, mention: Option<&str>, late: bool) -> String {
    let emoji = n.emoji();
    let state = escape(n.state());
    let mut line = match (n, before.state, before.alarm_since_ms) {
        (Notification::Alarm(a), Some("ALARM"), Some(since_ms)) if a.new_state != AlarmState::Alarm => {
            format!("{emoji} *{state}* after {}", since(since_ms, at_ms))
        }
        (Notification::Alarm(a), Some(prev), _) if a.new_state == AlarmState::Alarm && prev != "ALARM" => {
            format!("{emoji} *{state}* again")
        }
        (Notification::Alertmanager(g), Some("FIRING"), Some(since_ms)) if !g.is_firing() => {
            format!("{emoji} *{state}* after {}", since(since_ms, at_ms))
        }
        (Notification::Alertmanager(g), Some(prev), _) if g.is_firing() && prev != "FIRING" => {
            format!("{emoji} *{state}* again: {} alerts", g.firing_count())
        }
        (Notification::Deployment(d), _, _) => {
            format!("{emoji} Deployment *{}*: {}", escape(&d.state), super::codedeploy::deployment_style(&d.state).2)
        }
        _ => format!("{emoji} *{state}*"),
    };
    if let Some(reason) = n.reason() {
        line.push_str(&format!(": {}", escape(&crate::text::truncate(reason, 500))));
    }
    if late {
        line.push_str(&format!(" _(state at {}; arrived after a later change)_", slack_date_ms(at_ms)));
    }
    if let Some(m) = mention {
        line = format!("{m} {line}");
    }
    line
}

fn slack_date_ms(ms: i64) -> String {
    let secs = ms / 1000;
    let fallback = time::OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| t.format(time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC")).ok())
        .unwrap_or_else(|| secs.to_string());
    format!("<!date^{secs}^{{date_short_pretty}} {{time}}|{fallback}>")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::notifications_from_event;

    fn alarm(state: &str, arn: Option<&str>) -> Notification {
        let mut msg = serde_json::json!({
            "AlarmName": "api-high-cpu", "NewStateValue": state, "OldStateValue": "OK",
            "NewStateReason": "Threshold Crossed", "StateChangeTime": "2024-05-01T12:00:00.000+0000",
            "AWSAccountId": "123456789012", "Region": "EU (Ireland)"
        });
        if let Some(arn) = arn {
            msg["AlarmArn"] = serde_json::json!(arn);
        }
        notifications_from_event(&msg).unwrap().remove(0)
    }

    #[test]
    fn alarms_are_keyed_by_arn_or_account_region_name() {
        let a = alarm("ALARM", Some("arn:aws:cloudwatch:eu-west-1:123456789012:alarm:api-high-cpu"));
        assert_eq!(
            a.lifecycle_key().unwrap().key,
            "alarm:arn:aws:cloudwatch:eu-west-1:123456789012:alarm:api-high-cpu"
        );
        let b = alarm("ALARM", None);
        assert_eq!(b.lifecycle_key().unwrap().key, "alarm:123456789012:EU (Ireland):api-high-cpu");
        assert_eq!(a.changed_at_ms(), Some(1_714_564_800_000));
    }

    #[test]
    fn replies_say_how_long_and_what_again() {
        let at = 1_714_564_800_000;
        let ok = alarm("OK", None);
        let before = Before { state: Some("ALARM"), changed_at_ms: None, alarm_since_ms: Some(at - 12 * 60_000) };
        assert_eq!(thread_reply(&ok, &before, at, None, false), "✅ *OK* after 12 min: Threshold Crossed");
        assert_eq!(
            parent_note(&ok, &before, at, 2).unwrap(),
            "✅ OK after 12 min in ALARM · 2 state changes, history in the thread"
        );
        let again = alarm("ALARM", None);
        let before = Before { state: Some("OK"), ..Before::default() };
        assert_eq!(
            thread_reply(&again, &before, at, Some("<!subteam^S0>"), false),
            "<!subteam^S0> 🔴 *ALARM* again: Threshold Crossed"
        );
        let late = thread_reply(&ok, &Before::default(), at, None, true);
        assert!(late.contains("arrived after a later change"), "{late}");
    }
}
