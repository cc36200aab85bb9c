//! What happens later without a click: one-time EventBridge Scheduler schedules invoke slack-command
//! with a timer as their input, `{"chatops_timer": {"kind": …, …}}` (the shape is the contract; the
//! docs/alert-actions.md documents it). A timer acts only on a record still in the matching state: an approval request
//! still open past its time, a deploy still without a result past its timeout, an alarm still muted by
//! that very mute. So a timer that fires late, twice, or forged by someone allowed to invoke the
//! function changes nothing the state table does not allow.

use std::time::Instant;

use serde_json::{Value, json};

use super::requests::SlackApp;
pub use crate::aws::scheduler::{TIMER_KEY, Timer};

/// The timer in a Lambda event, when it is one: `None` for anything else (an HTTP request).
pub fn timer_from_event(event: &Value) -> Option<Result<Timer, String>> {
    let timer = event.get(TIMER_KEY)?;
    Some(serde_json::from_value(timer.clone()).map_err(|e| format!("not a timer this version knows: {e}")))
}

/// Fires `timer`: what it did, as the invocation's answer (`acted` false: nothing was due, and why).
pub async fn fire(app: &SlackApp, timer: &Timer, now: i64, deadline: Instant) -> Value {
    let done = match timer {
        Timer::ApprovalExpiry { request } => Box::pin(app.governance.expire_when_due(request, now, deadline))
            .await
            .map(|_| format!("request {request} expired")),
        Timer::DeployTimeout { channel, thread_ts, mention_ts } => {
            Box::pin(super::deploys::time_out(app.deploys.as_ref(), channel, thread_ts, mention_ts, now, deadline))
                .await
                .map(|()| "no result: said so in the thread".to_owned())
        }
        Timer::Unmute { .. } => Box::pin(super::alerts::unmute_when_due(app.alert_deps(), timer, now, deadline)).await,
        Timer::IncidentReminder { number, since, due, stale } => {
            Box::pin(super::incidents::remind(app.incidents.as_ref(), *number, (*since, *due, *stale), now, deadline))
                .await
        }
        Timer::Report { days } => {
            let state = app.reads.as_ref();
            Box::pin(super::reports::scheduled(&app.reports, state, app.bot.as_deref(), *days, now * 1000, deadline))
                .await
        }
    };
    match done {
        Ok(what) => {
            tracing::info!(timer = timer.kind(), what = %what, "timer acted");
            json!({"timer": timer.kind(), "acted": true, "detail": what})
        }
        Err(why) => {
            tracing::info!(timer = timer.kind(), why = %why, "timer changed nothing");
            json!({"timer": timer.kind(), "acted": false, "detail": why})
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sample_timers_are_read_and_anything_else_is_not_a_timer() {
        for (text, kind) in [
            (include_str!("../../../events/timer-approval-expiry.json"), "approval_expiry"),
            (include_str!("../../../events/timer-deploy-timeout.json"), "deploy_timeout"),
            (include_str!("../../../events/timer-unmute.json"), "unmute"),
            (include_str!("../../../events/timer-incident-reminder.json"), "incident_reminder"),
            (include_str!("../../../events/timer-report.json"), "report"),
        ] {
            let event: Value = serde_json::from_str(text).unwrap();
            let timer = timer_from_event(&event).expect("a timer").expect("one this version knows");
            assert_eq!(timer.kind(), kind);
            assert_eq!(timer.input(), event, "what the scheduler is given is what is read");
        }
        let http: Value = serde_json::from_str(include_str!("../../../events/slack-command-http-api.json")).unwrap();
        assert!(timer_from_event(&http).is_none());
        let unknown = json!({"chatops_timer": {"kind": "self_destruct"}});
        assert!(timer_from_event(&unknown).unwrap().is_err());
    }
}
