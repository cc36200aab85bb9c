//! A loopback server standing where GitLab and GitHub are (`GITLAB_URL`, `GITHUB_API_URL`): GitLab's
//! pipeline trigger (`POST /api/v4/projects/:id/trigger/pipeline`, form body, 201 with the pipeline) and
//! GitHub's `workflow_dispatch` (`POST /repos/:owner/:repo/actions/workflows/:id/dispatches`, JSON, 200
//! with the run's details or 204), and where incidents' follow-ups are filed: GitHub's
//! `POST /repos/:owner/:repo/issues` (bearer token, JSON, 201 with `number` and `html_url`) and GitLab's
//! `POST /api/v4/projects/:id/issues` (`PRIVATE-TOKEN`, JSON, 201 with `iid` and `web_url`); checking
//! tokens as they do, recording every call, and failing as scripted: an HTTP status with the provider's
//! error body, or a stall.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

/// A scripted answer for the next trigger.
#[derive(Clone, Debug)]
pub enum CiReply {
    /// This status with the provider's error body.
    Status(u16),
    /// Answer normally after a delay (longer than the caller's budget: a stall).
    Slow(Duration),
}

/// One trigger as received.
#[derive(Clone, Debug)]
pub struct CiCall {
    /// `gitlab` or `github`.
    pub provider: &'static str,
    /// The project ID (GitLab) or `owner/repo/workflow` (GitHub).
    pub target: String,
    /// GitLab's form fields, or GitHub's JSON body flattened (`ref`, `inputs.<name>`, `return_run_details`).
    pub fields: BTreeMap<String, String>,
    pub authorization: Option<String>,
    /// Whether the call was answered with a pipeline.
    pub started: bool,
}

#[derive(Default)]
struct Inner {
    gitlab_token: String,
    github_token: String,
    /// The tokens the issue endpoints take (GitLab's is an access token, not the trigger token).
    github_issues_token: String,
    gitlab_issues_token: String,
    /// Issues whose title contains this are refused as invalid (GitHub 422, GitLab 400) until cleared.
    refuse_titles: Option<String>,
    script: VecDeque<CiReply>,
    calls: Vec<CiCall>,
    /// Requests that arrived, counted before any scripted stall (a stalled one is recorded after it).
    received: usize,
    next_id: u64,
}

#[derive(Clone)]
pub struct CiStandIn {
    pub addr: SocketAddr,
    inner: Arc<Mutex<Inner>>,
}

impl CiStandIn {
    /// Accepts only `gitlab_token` as trigger token and `github_token` as bearer token.
    pub async fn start(gitlab_token: &str, github_token: &str) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind loopback");
        let addr = listener.local_addr().expect("local addr");
        let inner = Inner {
            gitlab_token: gitlab_token.into(),
            github_token: github_token.into(),
            next_id: 4100,
            ..Inner::default()
        };
        let standin = Self { addr, inner: Arc::new(Mutex::new(inner)) };
        let app = Router::new()
            .route("/api/v4/projects/{id}/trigger/pipeline", post(gitlab))
            .route("/repos/{owner}/{repo}/actions/workflows/{workflow}/dispatches", post(github))
            .route("/repos/{owner}/{repo}/issues", post(github_issue))
            .route("/api/v4/projects/{id}/issues", post(gitlab_issue))
            .with_state(standin.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        standin
    }

    /// The base URL for `GITLAB_URL` and `GITHUB_API_URL`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The tokens the issue endpoints accept: GitHub's bearer token and GitLab's `PRIVATE-TOKEN`.
    pub fn accept_issue_tokens(&self, github: &str, gitlab: &str) {
        let mut inner = self.inner.lock().unwrap();
        inner.github_issues_token = github.to_owned();
        inner.gitlab_issues_token = gitlab.to_owned();
    }

    /// Refuses (as invalid) every issue whose title contains `part`, until called with `None`.
    pub fn refuse_issues_titled(&self, part: Option<&str>) {
        self.inner.lock().unwrap().refuse_titles = part.map(str::to_owned);
    }

    /// The issues filed (`github-issue` / `gitlab-issue` calls that created one).
    pub fn issues(&self) -> Vec<CiCall> {
        self.started().into_iter().filter(|c| c.provider.ends_with("-issue")).collect()
    }

    pub fn script(&self, replies: impl IntoIterator<Item = CiReply>) {
        self.inner.lock().unwrap().script.extend(replies);
    }

    pub fn calls(&self) -> Vec<CiCall> {
        self.inner.lock().unwrap().calls.clone()
    }

    /// How many triggers arrived, stalled ones included.
    pub fn received(&self) -> usize {
        self.inner.lock().unwrap().received
    }

    /// The calls that started a pipeline.
    pub fn started(&self) -> Vec<CiCall> {
        self.calls().into_iter().filter(|c| c.started).collect()
    }
}

async fn scripted(standin: &CiStandIn) -> Option<CiReply> {
    let reply = {
        let mut inner = standin.inner.lock().unwrap();
        inner.received += 1;
        inner.script.pop_front()
    };
    if let Some(CiReply::Slow(delay)) = &reply {
        tokio::time::sleep(*delay).await;
    }
    reply
}

fn record(standin: &CiStandIn, call: CiCall) -> u64 {
    let mut inner = standin.inner.lock().unwrap();
    inner.next_id += 1;
    inner.calls.push(call);
    inner.next_id
}

async fn gitlab(State(standin): State<CiStandIn>, Path(id): Path<String>, headers: HeaderMap, body: Bytes) -> Response {
    let reply = scripted(&standin).await;
    let fields: BTreeMap<String, String> = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let authorization = headers.get("authorization").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let token_ok = fields.get("token") == Some(&standin.inner.lock().unwrap().gitlab_token);
    let (status, answer) = match reply {
        Some(CiReply::Status(code)) => {
            let message = match code {
                400 => json!({"message": {"base": ["Reference not found"]}}),
                404 => json!({"message": "404 Not Found"}),
                429 => json!({"message": "Retry later"}),
                _ => json!({"message": "500 Internal Server Error"}),
            };
            (code, message)
        }
        _ if !token_ok => (404, json!({"message": "404 Not Found"})),
        _ if fields.get("ref").is_none_or(String::is_empty) => {
            (400, json!({"message": {"base": ["Reference not found"]}}))
        }
        _ => (201, Value::Null),
    };
    let started = status == 201;
    let n = record(&standin, CiCall { provider: "gitlab", target: id.clone(), fields, authorization, started });
    let answer = if started {
        json!({
            "id": n, "iid": n - 4000, "project_id": id, "status": "created", "ref": "main", "source": "trigger",
            "web_url": format!("https://gitlab.example.com/acme/{id}/-/pipelines/{n}")
        })
    } else {
        answer
    };
    (StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR), axum::Json(answer)).into_response()
}

async fn github(
    State(standin): State<CiStandIn>,
    Path((owner, repo, workflow)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let reply = scripted(&standin).await;
    let parsed: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let mut fields = BTreeMap::new();
    if let Some(r) = parsed["ref"].as_str() {
        fields.insert("ref".to_owned(), r.to_owned());
    }
    if let Some(inputs) = parsed["inputs"].as_object() {
        for (k, v) in inputs {
            fields.insert(format!("inputs.{k}"), v.as_str().map_or_else(|| v.to_string(), str::to_owned));
        }
    }
    let details = parsed["return_run_details"] == json!(true);
    fields.insert("return_run_details".to_owned(), details.to_string());
    let authorization = headers.get("authorization").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let expected = format!("Bearer {}", standin.inner.lock().unwrap().github_token);
    let status = match reply {
        Some(CiReply::Status(code)) => code,
        _ if authorization.as_deref() != Some(expected.as_str()) => 401,
        _ if headers.get("user-agent").is_none() => 403, // GitHub refuses requests without one
        _ => {
            if details {
                200
            } else {
                204
            }
        }
    };
    let started = status == 200 || status == 204;
    let target = format!("{owner}/{repo}/{workflow}");
    let n = record(&standin, CiCall { provider: "github", target, fields, authorization, started });
    match status {
        200 => axum::Json(json!({
            "workflow_run_id": n,
            "run_url": format!("https://api.github.com/repos/{owner}/{repo}/actions/runs/{n}"),
            "html_url": format!("https://github.com/{owner}/{repo}/actions/runs/{n}")
        }))
        .into_response(),
        204 => StatusCode::NO_CONTENT.into_response(),
        401 => (StatusCode::UNAUTHORIZED, axum::Json(json!({"message": "Bad credentials", "status": "401"})))
            .into_response(),
        code => (
            StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            axum::Json(json!({"message": "Server Error"})),
        )
            .into_response(),
    }
}

/// An issue's fields as received: `title`, `body` (GitHub) or `description` (GitLab), `labels` (joined by `,`).
fn issue_fields(body: &Bytes) -> (BTreeMap<String, String>, bool) {
    let parsed: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let mut fields = BTreeMap::new();
    for key in ["title", "body", "description"] {
        if let Some(v) = parsed[key].as_str() {
            fields.insert(key.to_owned(), v.to_owned());
        }
    }
    let labels = match &parsed["labels"] {
        Value::Array(list) => list.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(","),
        Value::String(s) => s.clone(),
        _ => String::new(),
    };
    fields.insert("labels".to_owned(), labels);
    let title = fields.get("title").map_or(0, |t| t.chars().count());
    (fields, (1..=255).contains(&title))
}

/// Whether the stand-in was told to refuse this title.
fn refused_title(standin: &CiStandIn, fields: &BTreeMap<String, String>) -> bool {
    let refuse = standin.inner.lock().unwrap().refuse_titles.clone();
    refuse.is_some_and(|part| fields.get("title").is_some_and(|t| t.contains(&part)))
}

async fn github_issue(
    State(standin): State<CiStandIn>,
    Path((owner, repo)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let reply = scripted(&standin).await;
    let (fields, title_ok) = issue_fields(&body);
    let title_ok = title_ok && !refused_title(&standin, &fields);
    let authorization = headers.get("authorization").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let expected = format!("Bearer {}", standin.inner.lock().unwrap().github_issues_token);
    let status = match reply {
        Some(CiReply::Status(code)) => code,
        _ if authorization.as_deref() != Some(expected.as_str()) => 401,
        _ if headers.get("user-agent").is_none() => 403,
        _ if !title_ok => 422,
        _ => 201,
    };
    let target = format!("{owner}/{repo}");
    let n =
        record(&standin, CiCall { provider: "github-issue", target, fields, authorization, started: status == 201 });
    let number = n - 4000;
    match status {
        201 => (
            StatusCode::CREATED,
            axum::Json(json!({
                "number": number,
                "html_url": format!("https://github.com/{owner}/{repo}/issues/{number}"),
                "url": format!("https://api.github.com/repos/{owner}/{repo}/issues/{number}"),
                "state": "open"
            })),
        )
            .into_response(),
        401 => (StatusCode::UNAUTHORIZED, axum::Json(json!({"message": "Bad credentials", "status": "401"})))
            .into_response(),
        410 => (StatusCode::GONE, axum::Json(json!({"message": "Issues are disabled for this repo"}))).into_response(),
        422 => (
            StatusCode::UNPROCESSABLE_ENTITY,
            axum::Json(json!({"message": "Validation Failed", "errors": [{"resource": "Issue", "code": "custom"}]})),
        )
            .into_response(),
        code => (
            StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            axum::Json(json!({"message": "Server Error"})),
        )
            .into_response(),
    }
}

async fn gitlab_issue(
    State(standin): State<CiStandIn>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let reply = scripted(&standin).await;
    let (fields, title_ok) = issue_fields(&body);
    let title_ok = title_ok && !refused_title(&standin, &fields);
    let token = headers.get("private-token").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let expected = standin.inner.lock().unwrap().gitlab_issues_token.clone();
    let status = match reply {
        Some(CiReply::Status(code)) => code,
        _ if token.as_deref() != Some(expected.as_str()) => 401,
        _ if !title_ok => 400,
        _ => 201,
    };
    let n = record(
        &standin,
        CiCall { provider: "gitlab-issue", target: id.clone(), fields, authorization: token, started: status == 201 },
    );
    let iid = n - 4000;
    let (code, answer) = match status {
        201 => (
            201,
            json!({"id": n, "iid": iid, "project_id": id, "state": "opened",
            "web_url": format!("https://gitlab.example.com/acme/{id}/-/issues/{iid}")}),
        ),
        401 => (401, json!({"message": "401 Unauthorized"})),
        400 => (400, json!({"message": {"title": ["can't be blank"]}})),
        403 => (403, json!({"message": "403 Forbidden"})),
        code => (code, json!({"message": "500 Internal Server Error"})),
    };
    (StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR), axum::Json(answer)).into_response()
}
