//! A loopback CodeDeploy endpoint speaking its JSON protocol (`X-Amz-Target: CodeDeploy_20141006.*`,
//! awsJson1.1), because moto has no `ContinueDeployment` or `StopDeployment`. It keeps a small state
//! machine per deployment and records every call, so tests can assert exactly what was asked of AWS.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Deployment {
    pub application: String,
    pub group: String,
    /// CodeDeploy's status: `Ready`, `InProgress`, `Succeeded`, `Stopped`, ...
    pub status: String,
    pub termination_wait_started: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Call {
    pub operation: String,
    pub body: Value,
}

#[derive(Default)]
struct Inner {
    deployments: HashMap<String, Deployment>,
    calls: Vec<Call>,
    delay: Option<std::time::Duration>,
}

#[derive(Clone)]
pub struct CodeDeployStandIn {
    pub addr: SocketAddr,
    inner: Arc<Mutex<Inner>>,
}

impl CodeDeployStandIn {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind loopback");
        let addr = listener.local_addr().expect("local addr");
        let standin = Self { addr, inner: Arc::default() };
        let app = Router::new().fallback(handle).with_state(standin.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        standin
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A blue/green deployment waiting for traffic to be rerouted.
    pub fn add_ready(&self, id: &str, application: &str, group: &str) {
        self.inner.lock().unwrap().deployments.insert(
            id.to_owned(),
            Deployment {
                application: application.into(),
                group: group.into(),
                status: "Ready".into(),
                termination_wait_started: false,
            },
        );
    }

    pub fn deployment(&self, id: &str) -> Option<Deployment> {
        self.inner.lock().unwrap().deployments.get(id).cloned()
    }

    /// Every call made, in order.
    pub fn calls(&self) -> Vec<Call> {
        self.inner.lock().unwrap().calls.clone()
    }

    /// Calls other than reads.
    pub fn changes(&self) -> Vec<Call> {
        self.calls().into_iter().filter(|c| c.operation != "GetDeployment").collect()
    }

    pub fn slow_down(&self, delay: std::time::Duration) {
        self.inner.lock().unwrap().delay = Some(delay);
    }
}

fn error(kind: &str, message: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        [("content-type", "application/x-amz-json-1.1")],
        json!({ "__type": kind, "message": message }).to_string(),
    )
        .into_response()
}

fn ok(body: Value) -> Response {
    (StatusCode::OK, [("content-type", "application/x-amz-json-1.1")], body.to_string()).into_response()
}

async fn handle(State(standin): State<CodeDeployStandIn>, headers: HeaderMap, body: Bytes) -> Response {
    let target = headers.get("x-amz-target").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let Some(operation) = target.strip_prefix("CodeDeploy_20141006.") else {
        return error("UnknownOperationException", "missing or foreign X-Amz-Target");
    };
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let delay = standin.inner.lock().unwrap().delay;
    if let Some(d) = delay {
        tokio::time::sleep(d).await;
    }
    let mut inner = standin.inner.lock().unwrap();
    inner.calls.push(Call { operation: operation.to_owned(), body: body.clone() });
    let id = body["deploymentId"].as_str().unwrap_or_default().to_owned();
    let Some(dep) = inner.deployments.get_mut(&id) else {
        return error("DeploymentDoesNotExistException", &format!("The deployment {id} could not be found."));
    };
    let ended = matches!(dep.status.as_str(), "Succeeded" | "Failed" | "Stopped");
    match operation {
        "GetDeployment" => ok(json!({ "deploymentInfo": {
            "applicationName": dep.application,
            "deploymentGroupName": dep.group,
            "deploymentId": id,
            "status": dep.status,
            "instanceTerminationWaitTimeStarted": dep.termination_wait_started,
            "deploymentStyle": { "deploymentType": "BLUE_GREEN", "deploymentOption": "WITH_TRAFFIC_CONTROL" },
            "computePlatform": "ECS",
            "createTime": 1_795_170_000.0,
        }})),
        "ContinueDeployment" => match body["deploymentWaitType"].as_str() {
            Some("READY_WAIT") | None if dep.status == "Ready" => {
                // Traffic rerouted; the original now waits for termination.
                dep.status = "InProgress".into();
                dep.termination_wait_started = true;
                ok(json!({}))
            }
            Some("TERMINATION_WAIT") if dep.termination_wait_started && !ended => {
                dep.status = "Succeeded".into();
                ok(json!({}))
            }
            _ => error("DeploymentIsNotInReadyStateException", "The deployment is not in a ready state."),
        },
        "StopDeployment" => {
            if ended {
                return error("DeploymentAlreadyCompletedException", "The deployment is already complete.");
            }
            dep.status = "Stopped".into();
            ok(json!({ "status": "Succeeded", "statusMessage": "Deployment stopped; rolled back." }))
        }
        other => error("UnknownOperationException", &format!("{other} is not emulated")),
    }
}
