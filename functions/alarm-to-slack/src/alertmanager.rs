//! `POST /alertmanager` (the contract): Alertmanager's webhook, through API Gateway or a function URL,
//! authenticated with `Authorization: Bearer` against `ALERTMANAGER_TOKEN` (constant time). The group
//! is delivered like any notification: routed by its labels, one message per `groupKey`.
//!
//! Always an HTTP answer, never a failed invocation: 200 delivered (or ignored), 400 a payload that is
//! not Alertmanager's, 401 no or a wrong token, 404/405 another route, 503 Slack (or the chat platform)
//! could not be reached, so that Alertmanager retries; it does not retry a 4xx.

use chatops_shared::aws::kms::Bearer;
use chatops_shared::notify::{AlertGroup, Incoming, Notification};
use chatops_shared::slack::gateway::{EnvelopeError, json_response, request_from_event, response_to_event};
use lambda_runtime::LambdaEvent;
use serde_json::{Value, json};

use crate::{Deps, HandlerError, deliver_all};

/// An API Gateway (REST or HTTP API) or function URL event rather than SNS or EventBridge.
pub(crate) fn is_http(event: &Value) -> bool {
    event.get("requestContext").is_some()
        && (event.get("rawPath").is_some() || event.get("httpMethod").is_some() || event.get("routeKey").is_some())
}

fn answer(status: u16, body: Value) -> Value {
    response_to_event(json_response(status, &body))
}

fn refused(status: u16, error: &str) -> Value {
    answer(status, json!({ "ok": false, "error": error }))
}

pub(crate) async fn handle_http(deps: &Deps, event: &LambdaEvent<Value>) -> Value {
    let raw = match serde_json::value::to_raw_value(&event.payload) {
        Ok(raw) => raw,
        Err(_) => return refused(400, "unreadable request"),
    };
    let request = match request_from_event(&raw) {
        Ok(request) => request,
        Err(EnvelopeError::BadBase64) => return refused(400, "the body is marked base64 but is not valid base64"),
        Err(EnvelopeError::NotHttp) => return refused(400, "not an HTTP request"),
    };
    // The HTTP API's stage may prefix the path (`/prod/alertmanager`).
    if !request.uri().path().trim_end_matches('/').ends_with("/alertmanager") {
        return refused(404, "alarm-to-slack answers POST /alertmanager only");
    }
    if request.method() != lambda_http::http::Method::POST {
        return refused(405, "use POST");
    }
    if request.uri().query().is_some_and(|q| q.split('&').any(|p| p.starts_with("token="))) {
        tracing::warn!("Alertmanager request refused: token in the query string");
        return refused(
            400,
            "send the token in the Authorization header (http_config.authorization), never in the URL",
        );
    }
    let Some(token) = &deps.alertmanager_token else {
        tracing::error!(
            "Alertmanager request refused: no ALERTMANAGER_TOKEN / KMS_ENCRYPTED_ALERTMANAGER_TOKEN configured"
        );
        return refused(401, "unauthorised");
    };
    let authorization = request.headers().get("authorization").and_then(|v| v.to_str().ok());
    match token.check_bearer(authorization).await {
        Ok(Bearer::Valid) => {}
        Ok(refusal) => {
            tracing::warn!(
                present = refusal == Bearer::Wrong,
                "Alertmanager request refused: wrong or missing bearer token"
            );
            return refused(401, "unauthorised");
        }
        Err(err) => {
            tracing::error!(error = %err, "Alertmanager token unavailable");
            return refused(503, "the function cannot check tokens right now");
        }
    }
    let group = match AlertGroup::parse(request.body().as_ref()) {
        Ok(group) => group,
        Err(err) => {
            tracing::warn!(error = %err, "Alertmanager request refused: bad payload");
            return refused(400, &err.to_string());
        }
    };
    tracing::info!(group = %group.name(), status = group.state(), alerts = group.alerts.len(), "Alertmanager notification");
    // No delivery ID: a retried or repeated notification of the group updates its message (with a bot
    // token and the state table) instead of being skipped, so `repeat_interval` refreshes it.
    let incoming =
        [Incoming { notification: Notification::Alertmanager(Box::new(group)), delivery_id: None, topic: None }];
    match deliver_all(deps, &incoming, &event.context).await {
        Ok(summary) => answer(200, summary),
        Err(err @ (HandlerError::Delivery { .. } | HandlerError::Secret(_))) => {
            // Alertmanager retries a 5xx: the alert is not lost.
            refused(503, &err.to_string())
        }
        Err(err) => refused(500, &err.to_string()),
    }
}
