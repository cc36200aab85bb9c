//! A Lambda Runtime API emulator on loopback (the `2018-06-01` protocol the runtime client speaks), and
//! the real function binaries run against it as child processes.

use std::collections::HashMap;
use std::io::Read;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio::sync::{mpsc, oneshot};

pub const FUNCTION_ARN: &str = "arn:aws:lambda:eu-west-1:123456789012:function:chatops-test";

/// How an invocation ended.
#[derive(Clone, Debug)]
pub enum Outcome {
    Response(Bytes),
    Error(serde_json::Value),
    /// Nothing came back in time.
    TimedOut,
}

#[derive(Clone, Debug)]
pub struct Invocation {
    pub request_id: String,
    pub outcome: Outcome,
    /// When the runtime picked the event up (`/next` answered), and when it posted the outcome.
    pub served_at: Option<Instant>,
    pub finished_at: Instant,
}

impl Invocation {
    pub fn response_json(&self) -> serde_json::Value {
        match &self.outcome {
            Outcome::Response(b) => serde_json::from_slice(b).unwrap_or(serde_json::Value::Null),
            other => panic!("expected a response, got {other:?}"),
        }
    }
    pub fn error(&self) -> &serde_json::Value {
        match &self.outcome {
            Outcome::Error(e) => e,
            other => panic!("expected an error, got {other:?}"),
        }
    }
}

struct Pending {
    id: String,
    event: Bytes,
    /// The invocation's time limit: its deadline counts from when a runtime picks it up, as on Lambda
    /// (an async invoke waiting in Lambda's queue has no deadline running yet).
    budget: Duration,
    reply: oneshot::Sender<(Outcome, Instant)>,
    served: oneshot::Sender<Instant>,
}

struct Shared {
    queue: tokio::sync::Mutex<mpsc::UnboundedReceiver<Pending>>,
    waiting: Mutex<HashMap<String, oneshot::Sender<(Outcome, Instant)>>>,
    next_calls: Mutex<Vec<Instant>>,
    init_error: Mutex<Option<serde_json::Value>>,
}

#[derive(Clone)]
pub struct RuntimeApi {
    pub addr: SocketAddr,
    tx: mpsc::UnboundedSender<Pending>,
    shared: Arc<Shared>,
    counter: Arc<AtomicU64>,
}

impl RuntimeApi {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind loopback");
        let addr = listener.local_addr().expect("local addr");
        let (tx, rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            queue: tokio::sync::Mutex::new(rx),
            waiting: Mutex::default(),
            next_calls: Mutex::default(),
            init_error: Mutex::default(),
        });
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route("/2018-06-01/runtime/invocation/{id}/response", post(response))
            .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(shared.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { addr, tx, shared, counter: Arc::default() }
    }

    /// `host:port` for `AWS_LAMBDA_RUNTIME_API`.
    pub fn endpoint(&self) -> String {
        self.addr.to_string()
    }

    /// Times at which the runtime asked for its next event (the first one marks the end of init).
    pub fn next_calls(&self) -> Vec<Instant> {
        self.shared.next_calls.lock().unwrap().clone()
    }

    pub fn init_error(&self) -> Option<serde_json::Value> {
        self.shared.init_error.lock().unwrap().clone()
    }

    /// Queues `event` with the given time budget and waits for the function's answer.
    pub async fn invoke_bytes(&self, event: Bytes, budget: Duration, wait: Duration) -> Invocation {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let id = format!("00000000-0000-4000-8000-{n:012}");
        let (reply_tx, reply_rx) = oneshot::channel();
        let (served_tx, served_rx) = oneshot::channel();
        let pending = Pending { id: id.clone(), event, budget, reply: reply_tx, served: served_tx };
        self.tx.send(pending).expect("emulator running");
        // `wait` counts from when a runtime picked the event up (an event may wait in the queue while
        // every runtime is busy, as in Lambda's async queue); one never picked up gives up after 4 × `wait`.
        let served_at = tokio::time::timeout(wait * 4, served_rx).await.ok().and_then(Result::ok);
        let (outcome, finished_at) = match tokio::time::timeout(wait, reply_rx).await {
            Ok(Ok(done)) => done,
            _ => (Outcome::TimedOut, Instant::now()),
        };
        Invocation { request_id: id, outcome, served_at, finished_at }
    }

    pub async fn invoke(&self, event: &serde_json::Value) -> Invocation {
        self.invoke_bytes(
            Bytes::from(serde_json::to_vec(event).unwrap()),
            Duration::from_secs(10),
            Duration::from_secs(30),
        )
        .await
    }
}

async fn next(State(shared): State<Arc<Shared>>) -> Response {
    shared.next_calls.lock().unwrap().push(Instant::now());
    let pending = {
        let mut queue = shared.queue.lock().await;
        queue.recv().await
    };
    let Some(p) = pending else {
        return StatusCode::GONE.into_response();
    };
    shared.waiting.lock().unwrap().insert(p.id.clone(), p.reply);
    let _ = p.served.send(Instant::now());
    let mut headers = HeaderMap::new();
    let set = |h: &mut HeaderMap, k: &'static str, v: &str| {
        h.insert(k, HeaderValue::from_str(v).expect("header value"));
    };
    set(&mut headers, "lambda-runtime-aws-request-id", &p.id);
    let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
    set(&mut headers, "lambda-runtime-deadline-ms", &(now_ms + p.budget.as_millis() as u64).to_string());
    set(&mut headers, "lambda-runtime-invoked-function-arn", FUNCTION_ARN);
    set(
        &mut headers,
        "lambda-runtime-trace-id",
        "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
    );
    set(&mut headers, "content-type", "application/json");
    (StatusCode::OK, headers, p.event).into_response()
}

fn finish(shared: &Shared, id: &str, outcome: Outcome) -> StatusCode {
    match shared.waiting.lock().unwrap().remove(id) {
        Some(tx) => {
            let _ = tx.send((outcome, Instant::now()));
            StatusCode::ACCEPTED
        }
        None => StatusCode::BAD_REQUEST,
    }
}

async fn response(State(shared): State<Arc<Shared>>, Path(id): Path<String>, body: Bytes) -> StatusCode {
    finish(&shared, &id, Outcome::Response(body))
}

async fn error(State(shared): State<Arc<Shared>>, Path(id): Path<String>, body: Bytes) -> StatusCode {
    let value = serde_json::from_slice(&body)
        .unwrap_or_else(|_| serde_json::Value::String(String::from_utf8_lossy(&body).into()));
    finish(&shared, &id, Outcome::Error(value))
}

async fn init_error(State(shared): State<Arc<Shared>>, body: Bytes) -> StatusCode {
    *shared.init_error.lock().unwrap() = serde_json::from_slice(&body).ok();
    StatusCode::ACCEPTED
}

/// Builds `name` (a package whose binary has the same name) and returns the binary's path. Runs cargo
/// once per name and profile per test process, so the binary under test is always the current code.
pub fn build_binary(name: &str, release: bool) -> PathBuf {
    build_bin(name, name, release)
}

/// Builds binary `name` of package `package`; see [`build_binary`].
pub fn build_bin(package: &str, name: &str, release: bool) -> PathBuf {
    static BUILT: OnceLock<Mutex<HashMap<(String, bool), PathBuf>>> = OnceLock::new();
    let built = BUILT.get_or_init(Mutex::default);
    let mut built = built.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(path) = built.get(&(name.to_owned(), release)) {
        return path.clone();
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let root = crate::workspace_root();
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&root).args(["build", "--quiet", "--bin", name]);
    // Release (the benchmark): the functions exactly as `sam build` ships them, the default members'
    // features. Debug (the tests): the workspace's features, the set `cargo test` compiled already, which
    // differs from the shipped one only by features the functions never use (scripts/check-features.py).
    match (release, matches!(package, "alarm-to-slack" | "slack-command")) {
        (true, true) => cmd.arg("--release"),
        (true, false) => cmd.args(["--release", "-p", package]),
        (false, _) => cmd.arg("--workspace"),
    };
    let status = cmd.status().expect("running cargo build");
    assert!(status.success(), "cargo build --bin {name} ({package}) failed");
    let target = std::env::var("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|_| root.join("target"));
    let path = target.join(if release { "release" } else { "debug" }).join(name);
    built.insert((name.to_owned(), release), path.clone());
    path
}

/// One Lambda container: a function binary (the current code, debug build) behind a Runtime API of its own.
pub struct Container {
    pub runtime: RuntimeApi,
    pub process: FunctionProcess,
}

impl Container {
    /// Starts binary `function` with `env` (and PATH) only, as Lambda would.
    pub async fn start(function: &str, env: &[(&str, String)]) -> Self {
        let binary = build_binary(function, false);
        let runtime = RuntimeApi::start().await;
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let process = FunctionProcess::spawn(&binary, &runtime, &env);
        Self { runtime, process }
    }
}

/// A function binary running against a Runtime API. Killed when dropped; its output is captured.
pub struct FunctionProcess {
    child: Child,
    pub started_at: Instant,
    output: Arc<Mutex<String>>,
    /// The threads copying stdout and stderr; joined once the process has exited, so its last words
    /// are in `output` before anyone reads them.
    readers: Vec<std::thread::JoinHandle<()>>,
}

impl FunctionProcess {
    /// Starts `binary` with only the variables given (plus PATH), as Lambda would.
    pub fn spawn(binary: &std::path::Path, runtime: &RuntimeApi, env: &[(&str, &str)]) -> Self {
        let mut cmd = Command::new(binary);
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("AWS_LAMBDA_RUNTIME_API", runtime.endpoint())
            .env("AWS_LAMBDA_FUNCTION_NAME", "chatops-test")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
            .env("AWS_REGION", "eu-west-1")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let started_at = Instant::now();
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("starting {}: {e}", binary.display()));
        let output = Arc::new(Mutex::new(String::new()));
        let mut readers = Vec::new();
        for stream in [
            child.stdout.take().map(|s| Box::new(s) as Box<dyn Read + Send>),
            child.stderr.take().map(|s| Box::new(s) as Box<dyn Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let output = output.clone();
            readers.push(std::thread::spawn(move || {
                let mut stream = stream;
                let mut buf = [0u8; 4096];
                while let Ok(n) = stream.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    output.lock().unwrap().push_str(&String::from_utf8_lossy(&buf[..n]));
                }
            }));
        }
        Self { child, started_at, output, readers }
    }

    /// Everything the function wrote so far (stdout and stderr).
    pub fn output(&self) -> String {
        self.output.lock().unwrap().clone()
    }

    /// Log lines that parse as JSON.
    pub fn json_logs(&self) -> Vec<serde_json::Value> {
        self.output().lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Kills the process, as a Lambda container can die mid-invocation.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Peak resident memory (VmHWM) in KiB, from /proc, while the process lives.
    pub fn peak_rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
    }

    /// Whether the process still runs; once it has exited, its output is complete.
    pub fn is_running(&mut self) -> bool {
        let running = matches!(self.child.try_wait(), Ok(None));
        if !running {
            for reader in self.readers.drain(..) {
                let _ = reader.join();
            }
        }
        running
    }
}

impl Drop for FunctionProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
