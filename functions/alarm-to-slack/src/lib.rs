//! alarm-to-slack: the notifier function's routing. An event is an Alertmanager HTTP request
//! (`POST /alertmanager`) or notifications (SNS, EventBridge, a direct alarm action); the flow that
//! delivers them, its configuration and its container state live in `chatops_shared::flows::notifier`.

use chatops_shared::flows::notifier::{alertmanager, deliver_all};
use chatops_shared::notify::incoming_from_event;
use lambda_runtime::LambdaEvent;
use serde_json::Value;

pub use chatops_shared::flows::notifier::{
    Config, Deps, Destination, HandlerError, KMS_WEBHOOK_VAR, Outcome, PLAIN_WEBHOOK_VAR, PostError, Sink,
    StormSettings, normalise_webhook_url,
};

/// Parses the event, then delivers each notification (or skips one that was delivered before).
/// Returns a summary: `delivered`, and `skipped` / `ignored` when some were. An HTTP request
/// (`POST /alertmanager`) gets an HTTP answer instead.
pub async fn handle(deps: &Deps, event: LambdaEvent<Value>) -> Result<Value, HandlerError> {
    if alertmanager::is_http(&event.payload) {
        return Ok(alertmanager::handle_http(deps, &event).await);
    }
    let incoming = incoming_from_event(&event.payload).inspect_err(|err| {
        tracing::error!(error = %err, "event not recognised");
    })?;
    deliver_all(deps, &incoming, &event.context).await
}
