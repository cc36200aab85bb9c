//! A loopback server standing where CloudWatch Logs is, for what moto cannot do: a Logs Insights query
//! that runs for a while. It speaks the JSON 1.1 protocol of the SDK (`X-Amz-Target:
//! Logs_20140328.StartQuery` / `GetQueryResults`), records each query, answers `Running` until the
//! query's time is up, then `Complete` with the scripted rows.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

#[derive(Default)]
struct Inner {
    /// Each StartQuery's body, in order.
    started: Vec<Value>,
    started_at: Vec<Instant>,
    /// How long each query runs.
    runs_for: Duration,
    /// The rows every query completes with: (timestamp, message).
    rows: Vec<(String, String)>,
    results_calls: usize,
}

#[derive(Clone)]
pub struct LogsStandIn {
    pub addr: SocketAddr,
    inner: Arc<Mutex<Inner>>,
}

impl LogsStandIn {
    pub async fn start(runs_for: Duration, rows: Vec<(String, String)>) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind loopback");
        let addr = listener.local_addr().expect("local addr");
        let inner = Inner { runs_for, rows, ..Inner::default() };
        let standin = Self { addr, inner: Arc::new(Mutex::new(inner)) };
        let app = Router::new().route("/", post(handle)).with_state(standin.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        standin
    }

    /// The `AWS_ENDPOINT_URL_CLOUDWATCH_LOGS` to configure.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every StartQuery's body.
    pub fn queries(&self) -> Vec<Value> {
        self.inner.lock().unwrap().started.clone()
    }

    pub fn results_calls(&self) -> usize {
        self.inner.lock().unwrap().results_calls
    }
}

async fn handle(State(standin): State<LogsStandIn>, headers: HeaderMap, body: Bytes) -> Response {
    let target = headers.get("x-amz-target").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let mut inner = standin.inner.lock().unwrap();
    let answer = match target.as_str() {
        "Logs_20140328.StartQuery" => {
            inner.started.push(body);
            inner.started_at.push(Instant::now());
            json!({ "queryId": format!("q-{}", inner.started.len()) })
        }
        "Logs_20140328.GetQueryResults" => {
            inner.results_calls += 1;
            let n: usize =
                body["queryId"].as_str().and_then(|q| q.strip_prefix("q-")).and_then(|n| n.parse().ok()).unwrap_or(0);
            let Some(started) = n.checked_sub(1).and_then(|i| inner.started_at.get(i)) else {
                let error = json!({"__type": "ResourceNotFoundException", "message": "no such query"});
                return (StatusCode::BAD_REQUEST, [("content-type", "application/x-amz-json-1.1")], error.to_string())
                    .into_response();
            };
            if started.elapsed() < inner.runs_for {
                json!({ "status": "Running", "results": [] })
            } else {
                let results: Vec<Value> = inner
                    .rows
                    .iter()
                    .map(|(t, m)| json!([{"field": "@timestamp", "value": t}, {"field": "@message", "value": m}]))
                    .collect();
                json!({ "status": "Complete", "results": results })
            }
        }
        other => {
            let error = json!({"__type": "UnknownOperationException", "message": other});
            return (StatusCode::BAD_REQUEST, [("content-type", "application/x-amz-json-1.1")], error.to_string())
                .into_response();
        }
    };
    (StatusCode::OK, [("content-type", "application/x-amz-json-1.1")], answer.to_string()).into_response()
}
