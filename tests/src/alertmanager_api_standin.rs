//! A loopback server standing where Alertmanager's API v2 is (`ALERTMANAGER_URL`): `POST
//! /api/v2/silences` answers `{"silenceID": …}` and `DELETE /api/v2/silence/{id}` expires one, as
//! Alertmanager does; both require the bearer token it was started with, and every call is recorded.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, post};
use serde_json::{Value, json};

/// A silence as Alertmanager keeps it.
#[derive(Clone, Debug)]
pub struct StoredSilence {
    pub id: String,
    /// The request body as received (matchers, startsAt, endsAt, createdBy, comment).
    pub body: Value,
    pub expired: bool,
}

#[derive(Default)]
struct Inner {
    token: String,
    silences: Vec<StoredSilence>,
    refused: usize,
}

#[derive(Clone)]
pub struct AlertmanagerApiStandIn {
    pub addr: SocketAddr,
    inner: Arc<Mutex<Inner>>,
}

impl AlertmanagerApiStandIn {
    pub async fn start(token: &str) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind loopback");
        let addr = listener.local_addr().expect("local addr");
        let standin = Self { addr, inner: Arc::new(Mutex::new(Inner { token: token.to_owned(), ..Inner::default() })) };
        let app = Router::new()
            .route("/api/v2/silences", post(create))
            .route("/api/v2/silence/{id}", delete(expire))
            .with_state(standin.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        standin
    }

    /// The `ALERTMANAGER_URL` to configure.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn silences(&self) -> Vec<StoredSilence> {
        self.inner.lock().unwrap().silences.clone()
    }

    /// Calls refused for a missing or wrong token.
    pub fn refused(&self) -> usize {
        self.inner.lock().unwrap().refused
    }
}

fn authorised(inner: &mut Inner, headers: &HeaderMap) -> bool {
    let ok = headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(&format!("Bearer {}", inner.token));
    if !ok {
        inner.refused += 1;
    }
    ok
}

async fn create(State(standin): State<AlertmanagerApiStandIn>, headers: HeaderMap, body: Bytes) -> Response {
    let mut inner = standin.inner.lock().unwrap();
    if !authorised(&mut inner, &headers) {
        return (StatusCode::UNAUTHORIZED, "unauthorized").into_response();
    }
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return (StatusCode::BAD_REQUEST, "bad json").into_response();
    };
    let matchers_ok = body["matchers"].as_array().is_some_and(|m| {
        !m.is_empty() && m.iter().all(|m| m["name"].is_string() && m["value"].is_string() && m["isRegex"].is_boolean())
    });
    if !matchers_ok || !body["endsAt"].is_string() || !body["createdBy"].is_string() {
        return (StatusCode::BAD_REQUEST, "missing matchers, endsAt or createdBy").into_response();
    }
    let id = format!("4d6c1b2e-0000-4000-8000-{:012}", inner.silences.len() + 1);
    inner.silences.push(StoredSilence { id: id.clone(), body, expired: false });
    (StatusCode::OK, axum::Json(json!({"silenceID": id}))).into_response()
}

async fn expire(State(standin): State<AlertmanagerApiStandIn>, Path(id): Path<String>, headers: HeaderMap) -> Response {
    let mut inner = standin.inner.lock().unwrap();
    if !authorised(&mut inner, &headers) {
        return (StatusCode::UNAUTHORIZED, "unauthorized").into_response();
    }
    match inner.silences.iter_mut().find(|s| s.id == id) {
        Some(silence) => {
            silence.expired = true;
            StatusCode::OK.into_response()
        }
        None => (StatusCode::NOT_FOUND, "silence not found").into_response(),
    }
}
