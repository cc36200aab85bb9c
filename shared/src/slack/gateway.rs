//! The HTTP envelope Slack's requests arrive in: API Gateway REST APIs (payload 1.0), HTTP APIs (2.0)
//! and Lambda function URLs, turned into an `http::Request` with the body's raw bytes.
//!
//! Why not `lambda_http::run`: its event conversion panics on an invalid base64 body
//! (`aws_lambda_events` `Body::from_maybe_encoded` uses `expect`), and a panic becomes a 502. We check
//! the body first, then let `lambda_http` do the rest of the conversion, so a bad request gets a 400.

use base64::Engine as _;
use lambda_http::request::LambdaRequest;
use lambda_http::{Body, Request, Response};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Value, json};

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    #[error("the body is marked base64 but is not valid base64")]
    BadBase64,
    #[error("not an API Gateway or function URL request")]
    NotHttp,
}

#[derive(Deserialize)]
struct BodyProbe<'a> {
    #[serde(borrow, default)]
    body: Option<std::borrow::Cow<'a, str>>,
    #[serde(rename = "isBase64Encoded", default)]
    is_base64_encoded: bool,
}

/// Converts the raw Lambda event into a request. Never panics.
pub fn request_from_event(raw: &RawValue) -> Result<Request, EnvelopeError> {
    let probe: BodyProbe = serde_json::from_str(raw.get()).map_err(|_| EnvelopeError::NotHttp)?;
    if probe.is_base64_encoded
        && let Some(body) = &probe.body
        && base64::engine::general_purpose::STANDARD.decode(body.as_bytes()).is_err()
    {
        return Err(EnvelopeError::BadBase64);
    }
    let lambda_request: LambdaRequest = serde_json::from_str(raw.get()).map_err(|_| EnvelopeError::NotHttp)?;
    // The conversion builds a URI from the event with `expect`; an odd path must not cost a 502.
    std::panic::catch_unwind(move || Request::from(lambda_request)).map_err(|_| EnvelopeError::NotHttp)
}

/// The response in the shape all three accept (REST ignores nothing it needs, HTTP API and function URLs
/// read the same fields).
pub fn response_to_event(response: Response<Body>) -> Value {
    let (parts, body) = response.into_parts();
    let mut headers = serde_json::Map::new();
    for (name, value) in &parts.headers {
        if let Ok(v) = value.to_str() {
            headers.insert(name.as_str().to_owned(), Value::String(v.to_owned()));
        }
    }
    let (body, is_base64) = match body {
        Body::Empty => (String::new(), false),
        Body::Text(text) => (text, false),
        Body::Binary(bytes) => (base64::engine::general_purpose::STANDARD.encode(bytes), true),
        _ => (String::new(), false),
    };
    json!({
        "statusCode": parts.status.as_u16(),
        "headers": headers,
        "body": body,
        "isBase64Encoded": is_base64,
    })
}

/// A response with a JSON body.
pub fn json_response(status: u16, body: &Value) -> Response<Body> {
    let mut response = Response::new(Body::Text(body.to_string()));
    *response.status_mut() = lambda_http::http::StatusCode::from_u16(status).unwrap_or_default();
    response.headers_mut().insert("content-type", lambda_http::http::HeaderValue::from_static("application/json"));
    response
}

/// A response with a plain-text body (or none).
pub fn text_response(status: u16, text: &str) -> Response<Body> {
    let mut response = Response::new(if text.is_empty() { Body::Empty } else { Body::Text(text.to_owned()) });
    *response.status_mut() = lambda_http::http::StatusCode::from_u16(status).unwrap_or_default();
    if !text.is_empty() {
        response
            .headers_mut()
            .insert("content-type", lambda_http::http::HeaderValue::from_static("text/plain; charset=utf-8"));
    }
    response
}
