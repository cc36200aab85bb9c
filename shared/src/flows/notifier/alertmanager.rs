//! `POST /alertmanager` (the contract): Alertmanager's webhook, through API Gateway or a function URL,
//! authenticated with `Authorization: Bearer` against `ALERTMANAGER_TOKEN` (constant time). The group
//! is delivered like any notification: routed by its labels, one message per `groupKey`.
//!
//! Always an HTTP answer, never a failed invocation: 200 delivered (or ignored), 400 a payload that is
//! not Alertmanager's, 401 no or a wrong token, 404/405 another route, 503 Slack (or the chat platform)
//! could not be reached, so that Alertmanager retries; it does not retry a 4xx.

use crate::http::bearer::{Endpoint, authorise};
use crate::http::gateway::{EnvelopeError, json_error, json_response, request_from_event, response_to_event};
use crate::notify::{AlertGroup, Incoming, Notification};
use lambda_http::lambda_runtime::LambdaEvent;
use serde_json::Value;

use super::{Deps, HandlerError, deliver_all};

/// An API Gateway (REST or HTTP API) or function URL event rather than SNS or EventBridge.
pub fn is_http(event: &Value) -> bool {
    event.get("requestContext").is_some()
        && (event.get("rawPath").is_some() || event.get("httpMethod").is_some() || event.get("routeKey").is_some())
}

fn answer(status: u16, body: Value) -> Value {
    response_to_event(json_response(status, &body))
}

fn refused(status: u16, error: &str) -> Value {
    response_to_event(json_error(status, error))
}

/// The route's endpoint, as its refusals name it.
const ENDPOINT: Endpoint = Endpoint {
    name: "Alertmanager request",
    token_vars: "ALERTMANAGER_TOKEN / KMS_ENCRYPTED_ALERTMANAGER_TOKEN",
    header_hint: "send the token in the Authorization header (http_config.authorization), never in the URL",
};

pub async fn handle_http(deps: &Deps, event: &LambdaEvent<Value>) -> Value {
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
    if let Err(refused) = authorise(&ENDPOINT, &request, deps.alertmanager_token.as_ref()).await {
        return response_to_event(refused);
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
    let mut incoming =
        [Incoming { notification: Notification::Alertmanager(Box::new(group)), delivery_id: None, topic: None }];
    match deliver_all(deps, &mut incoming, &event.context).await {
        Ok(summary) => answer(200, summary),
        Err(err @ (HandlerError::Delivery { .. } | HandlerError::Secret(_))) => {
            // Alertmanager retries a 5xx: the alert is not lost.
            refused(503, &err.to_string())
        }
        Err(err) => refused(500, &err.to_string()),
    }
}
