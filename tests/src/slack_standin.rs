//! A loopback HTTP server standing where Slack is: it records every request and answers from a script
//! (status, `Retry-After`, body, delay), then `200 ok` once the script is used up.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

#[derive(Clone, Debug)]
pub struct Reply {
    pub status: u16,
    pub body: String,
    pub retry_after: Option<u64>,
    pub delay: Duration,
}

impl Reply {
    pub fn ok() -> Self {
        Self { status: 200, body: "ok".into(), retry_after: None, delay: Duration::ZERO }
    }
    pub fn status(status: u16, body: &str) -> Self {
        Self { status, body: body.into(), retry_after: None, delay: Duration::ZERO }
    }
    pub fn rate_limited(retry_after: u64) -> Self {
        Self { status: 429, body: "rate_limited".into(), retry_after: Some(retry_after), delay: Duration::ZERO }
    }
    /// Discord's 429: the wait in the JSON body, in seconds with a fraction (and a coarser header).
    pub fn discord_rate_limited(retry_after: f64, header_secs: u64) -> Self {
        let body =
            format!(r#"{{"message": "You are being rate limited.", "retry_after": {retry_after}, "global": false}}"#);
        Self { status: 429, body, retry_after: Some(header_secs), delay: Duration::ZERO }
    }
    pub fn slow(delay: Duration) -> Self {
        Self { delay, ..Self::ok() }
    }
}

#[derive(Clone, Debug)]
pub struct Received {
    pub method: String,
    pub path: String,
    /// The query string, when there is one (`wait=true`).
    pub query: Option<String>,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub at: std::time::Instant,
    /// The status it was answered with.
    pub status: u16,
}

impl Received {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

#[derive(Default)]
struct Inner {
    script: VecDeque<Reply>,
    /// Used for every request once the script is empty.
    fallback: Option<Reply>,
    received: Vec<Received>,
}

#[derive(Clone)]
pub struct SlackStandIn {
    pub addr: SocketAddr,
    inner: Arc<Mutex<Inner>>,
    on_receive: Option<tokio::sync::mpsc::UnboundedSender<Received>>,
}

impl SlackStandIn {
    /// Starts the server on an ephemeral loopback port, on the current tokio runtime.
    pub async fn start() -> Self {
        Self::start_with(None).await
    }

    /// Like `start`, and sends every request to `tx` as it arrives (the demo prints them).
    pub async fn start_with(tx: Option<tokio::sync::mpsc::UnboundedSender<Received>>) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind loopback");
        let addr = listener.local_addr().expect("local addr");
        let standin = Self { addr, inner: Arc::default(), on_receive: tx };
        let app = Router::new().fallback(handle).with_state(standin.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        standin
    }

    /// The webhook URL to configure.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn script(&self, replies: impl IntoIterator<Item = Reply>) {
        self.inner.lock().unwrap().script.extend(replies);
    }

    pub fn always(&self, reply: Reply) {
        self.inner.lock().unwrap().fallback = Some(reply);
    }

    /// Ends `always`: `200 ok` again once the script is used up.
    pub fn recover(&self) {
        self.inner.lock().unwrap().fallback = None;
    }

    pub fn received(&self) -> Vec<Received> {
        self.inner.lock().unwrap().received.clone()
    }

    /// Waits until at least `n` requests arrived, up to `timeout`.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Received> {
        let until = std::time::Instant::now() + timeout;
        loop {
            let got = self.received();
            if got.len() >= n || std::time::Instant::now() >= until {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

async fn handle(
    State(standin): State<SlackStandIn>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut received = Received {
        method: method.to_string(),
        path: uri.path().to_owned(),
        query: uri.query().map(str::to_owned),
        headers,
        body,
        at: std::time::Instant::now(),
        status: 0,
    };
    // Discord answers a post with `?wait=true` with the message it made (its ID is the number of requests).
    let waited = received.query.as_deref().is_some_and(|q| q.split('&').any(|p| p == "wait=true"));
    let message = waited.then(|| {
        let posted = received.json();
        serde_json::json!({"id": format!("{}", 1_000_000 + standin.inner.lock().unwrap().received.len()), "type": 0,
            "content": posted["content"], "embeds": posted["embeds"], "channel_id": "100"})
    });
    let reply = {
        let mut inner = standin.inner.lock().unwrap();
        let reply = inner.script.pop_front().or_else(|| inner.fallback.clone()).unwrap_or_else(Reply::ok);
        received.status = reply.status;
        inner.received.push(received.clone());
        reply
    };
    if let Some(tx) = &standin.on_receive {
        let _ = tx.send(received);
    }
    if !reply.delay.is_zero() {
        tokio::time::sleep(reply.delay).await;
    }
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = match message {
        Some(message) if status.is_success() => message.to_string(),
        _ => reply.body,
    };
    let mut response = (status, body).into_response();
    if let Some(secs) = reply.retry_after {
        response.headers_mut().insert("retry-after", secs.into());
    }
    response
}
