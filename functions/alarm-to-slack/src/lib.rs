//! alarm-to-slack: the notifier function's routing. An event is an Alertmanager HTTP request
//! (`POST /alertmanager`) or notifications (SNS, EventBridge, a direct alarm action); the flow that
//! delivers them, its configuration and its container state live in `chatops_shared::flows::notifier`.

use chatops_shared::flows::notifier::{alertmanager, deliver_all, redrive_all};
use chatops_shared::metrics::{self, Metric};
use chatops_shared::notify::envelope::failure_queue_records;
use chatops_shared::notify::incoming_from_event;
use lambda_runtime::LambdaEvent;
use serde_json::Value;

pub use chatops_shared::flows::notifier::{
    Config, Deps, Destination, HandlerError, KMS_WEBHOOK_VAR, Outcome, PLAIN_WEBHOOK_VAR, PostError, Sink,
    StormSettings, normalise_webhook_url,
};

/// The metrics every invocation reports, zero when nothing happened.
const REPORTED: &[Metric] = &[
    Metric::Delivered,
    Metric::SkippedDuplicates,
    Metric::Failed,
    Metric::Retries,
    Metric::SlackRateLimited,
    Metric::DigestEntries,
];

/// Parses the event, then delivers each notification (or skips one that was delivered before).
/// Returns a summary: `delivered`, and `skipped` / `ignored` when some were. An HTTP request
/// (`POST /alertmanager`) gets an HTTP answer instead. Ends with the invocation's metrics on stdout
/// (CloudWatch's Embedded Metric Format).
pub async fn handle(deps: &Deps, event: LambdaEvent<Value>) -> Result<Value, HandlerError> {
    let started = std::time::Instant::now();
    let result = Box::pin(serve(deps, event)).await;
    // An invocation that failed before delivering (an event not understood, no configuration, a secret
    // not readable) counts as one failure; a failed delivery counted its notifications already.
    if let Err(err) = &result
        && !matches!(err, HandlerError::Delivery { .. })
    {
        metrics::count(Metric::Failed, 1);
    }
    metrics::flush(&metrics::Report {
        function: metrics::function_name("alarm-to-slack"),
        always: REPORTED,
        latency_ms: started.elapsed().as_secs_f64() * 1000.0,
        now_ms: chatops_shared::clock::now_ms(),
    });
    result
}

async fn serve(deps: &Deps, event: LambdaEvent<Value>) -> Result<Value, HandlerError> {
    chatops_shared::aws::graphs::note_own_account(&event.context.invoked_function_arn);
    if alertmanager::is_http(&event.payload) {
        return Ok(alertmanager::handle_http(deps, &event).await);
    }
    // The failure queue, re-driven (the template's mapping, when it is turned on).
    if let Some(records) = failure_queue_records(&event.payload) {
        return Ok(redrive_all(deps, records, &event.context).await);
    }
    let mut incoming = incoming_from_event(&event.payload).inspect_err(|err| {
        tracing::error!(error = %err, "event not recognised");
    })?;
    deliver_all(deps, &mut incoming, &event.context).await
}
