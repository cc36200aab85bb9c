//! The HTTP envelope requests arrive in: API Gateway REST APIs (payload 1.0), HTTP APIs (2.0) and
//! Lambda function URLs (2.0), turned into an `http::Request` with the body's raw bytes.
//!
//! Read here, field by field, with every step fallible, instead of by `lambda_http`'s conversion: that
//! one panics on an invalid base64 body (`Body::from_maybe_encoded` uses `expect`) and on any Host
//! header, forwarded scheme or path it cannot make a URL of (`Url::parse(..).unwrap()`; found by
//! fuzzing). A request we cannot read is a 400, never a panic. Only what the handlers use is carried:
//! method, path, query, headers, body.

use base64::Engine as _;
use lambda_http::http::{HeaderName, HeaderValue, Method, Uri};
use lambda_http::{Body, Request, Response};
use serde_json::value::RawValue;
use serde_json::{Map, Value, json};

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    #[error("the body is marked base64 but is not valid base64")]
    BadBase64,
    #[error("not an API Gateway or function URL request")]
    NotHttp,
}

/// Converts the raw Lambda event into a request. Never panics.
pub fn request_from_event(raw: &RawValue) -> Result<Request, EnvelopeError> {
    let event: Map<String, Value> = serde_json::from_str(raw.get()).map_err(|_| EnvelopeError::NotHttp)?;
    let context = event.get("requestContext").and_then(Value::as_object).ok_or(EnvelopeError::NotHttp)?;
    // 2.0 (HTTP API, function URL): requestContext.http.method, rawPath, rawQueryString.
    // 1.0 (REST API): httpMethod, path, the query string parameters.
    let (method, path, query) = match text(context.get("http").and_then(|h| h.get("method"))) {
        Some(method) => {
            let path = text(event.get("rawPath")).unwrap_or("/");
            (method, path, text(event.get("rawQueryString")).unwrap_or_default().to_owned())
        }
        None => {
            let method = text(event.get("httpMethod")).ok_or(EnvelopeError::NotHttp)?;
            (method, text(event.get("path")).unwrap_or("/"), rest_query(&event))
        }
    };
    let method = Method::from_bytes(method.as_bytes()).map_err(|_| EnvelopeError::NotHttp)?;
    if !path.starts_with('/') {
        return Err(EnvelopeError::NotHttp);
    }
    let target = if query.is_empty() { path.to_owned() } else { format!("{path}?{query}") };
    let uri: Uri = target.parse().map_err(|_| EnvelopeError::NotHttp)?;
    let body = match text(event.get("body")) {
        None => Body::Empty,
        Some(body) if event.get("isBase64Encoded").and_then(Value::as_bool).unwrap_or(false) => Body::Binary(
            base64::engine::general_purpose::STANDARD.decode(body.as_bytes()).map_err(|_| EnvelopeError::BadBase64)?,
        ),
        Some(body) => Body::Text(body.to_owned()),
    };
    let mut request = Request::new(body);
    *request.method_mut() = method;
    *request.uri_mut() = uri;
    let headers = request.headers_mut();
    // 1.0 carries repeated headers in multiValueHeaders; 2.0 joins them with commas in headers.
    match event.get("multiValueHeaders").and_then(Value::as_object) {
        Some(multi) => {
            for (name, values) in multi {
                for value in values.as_array().into_iter().flatten().filter_map(Value::as_str) {
                    if let (Ok(name), Ok(value)) =
                        (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_str(value))
                    {
                        headers.append(name, value);
                    }
                }
            }
        }
        None => {
            for (name, value) in event.get("headers").and_then(Value::as_object).into_iter().flatten() {
                // A header that cannot be represented is left out: no header we act on can be like that.
                if let (Ok(name), Some(Ok(value))) =
                    (HeaderName::from_bytes(name.as_bytes()), value.as_str().map(HeaderValue::from_str))
                {
                    headers.append(name, value);
                }
            }
        }
    }
    Ok(request)
}

fn text(v: Option<&Value>) -> Option<&str> {
    v.and_then(Value::as_str)
}

/// A REST API's query string, rebuilt from its parameters (`multiValueQueryStringParameters` first).
fn rest_query(event: &Map<String, Value>) -> String {
    let encode = |s: &str| {
        let mut out = String::with_capacity(s.len());
        for b in s.bytes() {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
                out.push(b as char);
            } else {
                out.push_str(&format!("%{b:02X}"));
            }
        }
        out
    };
    let mut pairs = Vec::new();
    let multi = event.get("multiValueQueryStringParameters").and_then(Value::as_object);
    let single = event.get("queryStringParameters").and_then(Value::as_object);
    for (name, values) in multi.or(single).into_iter().flatten() {
        let values: Vec<&str> = match values {
            Value::Array(all) => all.iter().filter_map(Value::as_str).collect(),
            Value::String(one) => vec![one.as_str()],
            _ => Vec::new(),
        };
        pairs.extend(values.into_iter().map(|v| format!("{}={}", encode(name), encode(v))));
    }
    pairs.join("&")
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
/// The JSON error our own endpoints (`/alertmanager`, `/deploy/notify`) answer with: `{"ok": false, "error": "..."}`.
pub fn json_error(status: u16, error: &str) -> Response<Body> {
    json_response(status, &json!({"ok": false, "error": error}))
}

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
