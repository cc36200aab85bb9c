//! Regression tests from fuzzing (`scripts/fuzz`, target `envelope`): events that made lambda_http's
//! request conversion panic inside the envelope reader (an `unwrap` on the URL it builds from the Host
//! header, the forwarded scheme and the path). The reader used to catch that panic and answer 400, so
//! nothing crashed, but a panic is not an answer: these count panics with a hook of their own (this file
//! is its own process) and require none.

use std::sync::atomic::{AtomicUsize, Ordering};

use chatops_shared::http::gateway::{EnvelopeError, request_from_event};
use serde_json::value::RawValue;
use serde_json::{Value, json};

static PANICS: AtomicUsize = AtomicUsize::new(0);

fn read(event: &Value) -> Result<lambda_http::Request, EnvelopeError> {
    let raw = RawValue::from_string(event.to_string()).unwrap();
    request_from_event(&raw)
}

fn http_api(headers: Value, path: &str) -> Value {
    json!({
        "version": "2.0", "routeKey": "POST /slack/commands", "rawPath": path, "rawQueryString": "",
        "headers": headers,
        "requestContext": {"accountId": "123456789012", "apiId": "abc", "domainName": "abc.execute-api.eu-west-1.amazonaws.com",
            "http": {"method": "POST", "path": path, "protocol": "HTTP/1.1", "sourceIp": "1.2.3.4", "userAgent": "x"},
            "requestId": "r", "routeKey": "POST /slack/commands", "stage": "$default", "time": "x", "timeEpoch": 0},
        "body": "a=b", "isBase64Encoded": false
    })
}

#[test]
fn odd_hosts_schemes_and_paths_are_refused_or_read_without_a_panic() {
    std::panic::set_hook(Box::new(|info| {
        eprintln!("panic: {info}");
        PANICS.fetch_add(1, Ordering::SeqCst);
    }));
    let cases = [
        // Found by the fuzzer: a port out of range in the Host header.
        http_api(
            json!({"host": "abc.example:99999", "content-type": "application/x-www-form-urlencoded"}),
            "/slack/commands",
        ),
        http_api(json!({"host": "exa mple"}), "/slack/commands"),
        http_api(json!({"x-forwarded-proto": "not a scheme"}), "/slack/commands"),
        http_api(json!({}), ":99999"),
        http_api(json!({}), &format!("/{}", "a".repeat(70_000))),
        http_api(json!({"host": "[::1"}), "/x"),
    ];
    for event in &cases {
        match read(event) {
            Ok(request) => assert_eq!(request.body().as_ref(), b"a=b"),
            Err(err) => assert_eq!(err, EnvelopeError::NotHttp),
        }
    }
    // A good request still reads, headers, path and query included.
    let mut good = http_api(json!({"host": "abc.example", "x-slack-signature": "v0=1"}), "/slack/commands");
    good["rawQueryString"] = json!("a=1&b=2");
    let request = read(&good).unwrap();
    assert_eq!((request.uri().path(), request.uri().query()), ("/slack/commands", Some("a=1&b=2")));
    assert_eq!(request.headers()["x-slack-signature"], "v0=1");
    assert_eq!(request.method(), "POST");
    assert_eq!(PANICS.load(Ordering::SeqCst), 0, "the envelope reader panicked (and caught it)");
}
