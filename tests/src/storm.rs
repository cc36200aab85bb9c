//! An alarm storm, as the burst test and the benchmark run it: the built `alarm-to-slack` binary in
//! several processes pulling from one Runtime API queue (as Lambda's containers take async invokes),
//! the state table on moto, and the Slack Web API stand-in enforcing Slack's rate limits with 429 and
//! `Retry-After`. A timed-out invocation is sent again, as Lambda retries an async invoke.
//!
//! Alarm names are `burst-<channel letter>-<number>`, so that where each alarm shows can be read from
//! every message Slack accepted.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::slack_standin::{Reply, SlackStandIn};
use crate::{ApiReply, FunctionProcess, Moto, RateLimits, RuntimeApi, SlackApiStandIn, build_binary, sns_alarm};

pub const TOKEN: &str = "xoxb-storm-SECRETTOKEN";

/// What to run.
#[derive(Clone, Debug)]
pub struct Burst {
    /// Alarms per channel.
    pub alarms: usize,
    /// The channels (`C0STORMA`, ...): each gets its own burst at the same time.
    pub channels: usize,
    /// Over how long the alarms arrive.
    pub spread: Duration,
    pub processes: usize,
    /// Kill the process that holds a digest's lease, once, mid-storm.
    pub kill_holder: bool,
    pub release: bool,
    pub extra_env: Vec<(&'static str, String)>,
    /// Lambda's retries of an invocation that failed: two more, this long apart; after the third failure
    /// the event is in the failure queue (`BurstReport::dead`). `None`: a failure is final.
    pub lambda_retry: Option<Duration>,
    /// Slack's faults, in time from the start: from `at`, every call of `method` (`None`: every call)
    /// gets `reply`; a fault with `reply: None` ends the one before it.
    pub faults: Vec<Fault>,
    /// Through an incoming webhook instead of the Web API (faults' replies are their HTTP status).
    pub webhook: bool,
    /// The function's timeout (Lambda's `Timeout`): each invocation's deadline.
    pub timeout: Duration,
    /// Once every invocation has ended and Slack has recovered: the failure queue re-driven, as the
    /// event source mapping hands it to the function (batches of 10 on-failure records).
    pub redrive: bool,
}

/// A change in how the Slack stand-in answers, `at` after the burst starts.
#[derive(Clone, Debug)]
pub struct Fault {
    pub at: Duration,
    pub method: Option<&'static str>,
    pub reply: Option<ApiReply>,
}

impl Default for Burst {
    fn default() -> Self {
        Self {
            alarms: 240,
            channels: 1,
            spread: Duration::from_secs(5),
            processes: 8,
            kill_holder: false,
            release: false,
            extra_env: Vec::new(),
            lambda_retry: None,
            faults: Vec::new(),
            webhook: false,
            redrive: false,
            timeout: Duration::from_secs(30),
        }
    }
}

/// What happened.
#[derive(Debug, Default)]
pub struct BurstReport {
    /// Per alarm: how long after its arrival it first showed in its channel (a top-level message).
    pub visible: BTreeMap<String, Duration>,
    /// Alarms that never showed.
    pub lost: Vec<String>,
    /// Alarms shown in more than one top-level message at the end.
    pub repeated: Vec<String>,
    /// Invocations that answered with an error (with Lambda's retries: all three attempts did).
    pub failed: Vec<String>,
    /// Alarms in the failure queue: every attempt failed (only with `lambda_retry`).
    pub dead: Vec<String>,
    /// Error answers, retries included.
    pub errors: usize,
    /// Re-drive batches' failed records, and whether a re-drive invocation failed.
    pub redrive_failures: Vec<String>,
    /// Alarms not shown when the invocations (retries included) had ended, before any re-drive.
    pub unshown_before_redrive: Vec<String>,
    /// Invocations that got no answer (a killed process): sent again.
    pub timed_out: usize,
    pub posts: usize,
    pub updates: usize,
    pub rate_limited: usize,
    pub calls: usize,
    pub top_level: usize,
    /// The pid killed, when one was.
    pub killed: Option<u32>,
    pub took: Duration,
    /// The processes' warnings and errors (for a failed check).
    pub warnings: Vec<String>,
    /// The metrics every process wrote (Embedded Metric Format lines), summed by name.
    pub metrics: BTreeMap<String, f64>,
}

impl BurstReport {
    /// The `q` quantile (0..=1) of the visible times, in seconds.
    pub fn quantile(&self, q: f64) -> f64 {
        let mut all: Vec<f64> = self.visible.values().map(Duration::as_secs_f64).collect();
        all.sort_by(f64::total_cmp);
        if all.is_empty() {
            return f64::NAN;
        }
        all[((all.len() - 1) as f64 * q).round() as usize]
    }

    pub fn summary(&self) -> String {
        format!(
            "{} alarms visible, p50 {:.1} s, p95 {:.1} s, max {:.1} s; {} lost, {} in two messages, {} failed invocations, {} timed out; {} posts, {} updates, {} of {} calls answered 429 ({:.1} %); {} top-level messages; {:.0} s in all",
            self.visible.len(),
            self.quantile(0.5),
            self.quantile(0.95),
            self.quantile(1.0),
            self.lost.len(),
            self.repeated.len(),
            self.failed.len(),
            self.timed_out,
            self.posts,
            self.updates,
            self.rate_limited,
            self.calls,
            100.0 * self.rate_limited as f64 / self.calls.max(1) as f64,
            self.top_level,
            self.took.as_secs_f64(),
        )
    }
}

pub fn channel_id(i: usize) -> String {
    format!("C0STORM{}", (b'A' + i as u8) as char)
}

fn alarm_name(channel: usize, i: usize) -> String {
    format!("burst-{}-{i:04}", (b'a' + channel as u8) as char)
}

/// Every alarm name in `text`.
fn names_in(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find("burst-") {
        let candidate: String = rest[at..].chars().take(12).collect();
        let bytes = candidate.as_bytes();
        if bytes.len() == 12 && bytes[7] == b'-' && bytes[8..].iter().all(u8::is_ascii_digit) {
            names.insert(candidate);
        }
        rest = &rest[at + 6..];
    }
    names
}

/// Runs the burst and reports.
pub async fn run(burst: &Burst) -> (BurstReport, SlackApiStandIn) {
    let moto = Moto::shared();
    let table = moto.create_state_table().await;
    let api = SlackApiStandIn::start(TOKEN).await;
    api.enforce_rate_limits(RateLimits::slack());
    let runtime = RuntimeApi::start().await;
    let bin = build_binary("alarm-to-slack", burst.release);
    let routes: Vec<_> = (0..burst.channels)
        .map(|c| {
            json!({"alarm": format!("burst-{}-*", (b'a' + c as u8) as char), "channel": channel_id(c), "mention": format!("<!subteam^S0ONCALL{c}>")})
        })
        .collect();
    let hook = SlackStandIn::start().await;
    let mut env = moto.env();
    if burst.webhook {
        env.extend([("SLACK_WEBHOOK_URL", hook.url("/services/T0/B0/STORM")), ("STATE_TABLE", table.clone())]);
    } else {
        env.extend([
            ("SLACK_BOT_TOKEN", TOKEN.to_owned()),
            ("SLACK_API_URL", api.url()),
            ("SLACK_CHANNEL", channel_id(0)),
            ("SLACK_ROUTES", serde_json::to_string(&routes).unwrap_or_default()),
            ("STATE_TABLE", table.clone()),
        ]);
    }
    env.extend(burst.extra_env.iter().cloned());
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let processes: Vec<_> = (0..burst.processes).map(|_| FunctionProcess::spawn(&bin, &runtime, &env)).collect();
    let processes = Arc::new(std::sync::Mutex::new(processes));
    let started = Instant::now();
    for fault in burst.faults.clone() {
        let (api, hook, webhook) = (api.clone(), hook.clone(), burst.webhook);
        tokio::spawn(async move {
            tokio::time::sleep_until(tokio::time::Instant::from_std(started + fault.at)).await;
            if webhook {
                match fault.reply {
                    Some(ApiReply::Status(code)) => hook.always(Reply::status(code, "<html>upstream error</html>")),
                    Some(ApiReply::RateLimited(secs)) => hook.always(Reply::rate_limited(secs)),
                    Some(other) => panic!("a webhook fault is an HTTP status: {other:?}"),
                    None => hook.recover(),
                }
            } else {
                api.outage(fault.method, fault.reply);
            }
        });
    }
    let total = burst.alarms * burst.channels;
    let arrivals = Arc::new(std::sync::Mutex::new(BTreeMap::new()));
    let mut tasks = Vec::new();
    for i in 0..burst.alarms {
        for c in 0..burst.channels {
            let at = burst.spread.mul_f64(i as f64 / burst.alarms as f64);
            let name = alarm_name(c, i);
            let event = sns_alarm(&name, "ALARM", "OK", "2026-11-20T10:02:00.000+0000", &format!("m-{name}"), "alarms");
            let runtime = runtime.clone();
            let arrivals = arrivals.clone();
            let retry = burst.lambda_retry;
            let timeout = burst.timeout;
            tasks.push(tokio::spawn(async move {
                tokio::time::sleep_until(tokio::time::Instant::from_std(started + at)).await;
                arrivals.lock().unwrap().insert(name.clone(), Instant::now());
                let bytes = axum::body::Bytes::from(serde_json::to_vec(&event).unwrap_or_default());
                let (mut timed_out, mut errors) = (0, 0);
                loop {
                    let inv = runtime.invoke_bytes(bytes.clone(), timeout, timeout + Duration::from_secs(6)).await;
                    match inv.outcome {
                        crate::runtime_api::Outcome::TimedOut if timed_out < 2 => timed_out += 1, // Lambda retries it
                        crate::runtime_api::Outcome::Response(_) => return (name, None, timed_out, errors, event),
                        crate::runtime_api::Outcome::Error(_) if retry.is_some() && errors < 2 => {
                            errors += 1;
                            tokio::time::sleep(retry.unwrap_or_default()).await;
                        }
                        other => {
                            let errors = errors + usize::from(matches!(other, crate::runtime_api::Outcome::Error(_)));
                            return (name, Some(format!("{other:?}")), timed_out, errors, event);
                        }
                    }
                }
            }));
        }
    }
    let mut killed = None;
    if burst.kill_holder {
        // The first process seen holding a digest's lease is killed, as a container can die mid-storm.
        let dynamodb = moto.dynamodb().await;
        let until = Instant::now() + Duration::from_secs(20);
        while killed.is_none() && Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(200)).await;
            let Ok(out) = dynamodb.scan().table_name(&table).send().await else { continue };
            let owner = out.items().iter().find_map(|item| {
                let digest = item.get("sk").and_then(|v| v.as_s().ok()).is_some_and(|sk| sk == "digest");
                digest.then(|| item.get("lease_owner").and_then(|v| v.as_s().ok()).cloned()).flatten()
            });
            let Some(pid) = owner.and_then(|o| o.split(':').nth(1).and_then(|p| p.parse::<u32>().ok())) else {
                continue;
            };
            let mut all = processes.lock().unwrap();
            if let Some(process) = all.iter_mut().find(|p| p.pid() == pid) {
                process.kill();
                killed = Some(pid);
            }
        }
    }
    let mut report = BurstReport { killed, ..Default::default() };
    let mut queue = Vec::new();
    for task in tasks {
        let Ok((name, error, timed_out, errors, event)) = task.await else { continue };
        report.timed_out += timed_out;
        report.errors += errors;
        if let Some(error) = error {
            report.failed.push(format!("{name}: {error}"));
            if burst.lambda_retry.is_some() {
                report.dead.push(name);
                queue.push(event);
            }
        }
    }
    report.took = started.elapsed();
    let redrive_started = Instant::now();
    if burst.redrive && !queue.is_empty() {
        api.outage(None, None);
        hook.recover();
        for fault in &burst.faults {
            api.outage(fault.method, None);
        }
        let template = crate::fixture("sqs-failure-queue.json");
        for (b, batch) in queue.chunks(10).enumerate() {
            let mut records = Vec::new();
            for (i, event) in batch.iter().enumerate() {
                let mut record = template["Records"][0].clone();
                let mut body: serde_json::Value =
                    serde_json::from_str(record["body"].as_str().unwrap_or_default()).unwrap_or_default();
                body["requestPayload"] = event.clone();
                record["body"] = body.to_string().into();
                record["messageId"] = format!("redrive-{b}-{i}").into();
                records.push(record);
            }
            let answer = runtime.invoke(&json!({"Records": records})).await;
            match answer.outcome {
                crate::runtime_api::Outcome::Response(_) => {
                    let failures = answer.response_json()["batchItemFailures"].clone();
                    if failures.as_array().is_some_and(|f| !f.is_empty()) {
                        report.redrive_failures.push(failures.to_string());
                    }
                }
                other => report.redrive_failures.push(format!("batch {b}: {other:?}")),
            }
        }
    }
    // Every process's last words are in its output once it has stopped.
    tokio::time::sleep(Duration::from_millis(300)).await;
    for process in processes.lock().unwrap().iter() {
        for line in process.json_logs().into_iter().filter(|l| l.get("_aws").is_some()) {
            for m in line["_aws"]["CloudWatchMetrics"][0]["Metrics"].as_array().into_iter().flatten() {
                let name = m["Name"].as_str().unwrap_or_default();
                *report.metrics.entry(name.to_owned()).or_default() += line[name].as_f64().unwrap_or(0.0);
            }
        }
        report.warnings.extend(
            process
                .output()
                .lines()
                .filter(|l| {
                    l.contains("\"WARN\"")
                        || l.contains("\"ERROR\"")
                        || l.contains("storm digest")
                        || l.contains("storm over")
                })
                .map(|l| format!("[{}] {l}", process.pid())),
        );
    }
    let arrivals = arrivals.lock().unwrap().clone();
    // Where and when each alarm showed: every top-level post or update Slack accepted.
    if burst.webhook {
        // Each accepted POST is a message of its own: a list of the digest's lines, or one alarm.
        let accepted: Vec<_> = hook.received().into_iter().filter(|r| (200..300).contains(&r.status)).collect();
        report.calls = hook.received().len();
        report.posts = accepted.len();
        report.top_level = accepted.len();
        let mut shown_in: BTreeMap<String, usize> = BTreeMap::new();
        let before: BTreeSet<String> = accepted
            .iter()
            .filter(|p| p.at < redrive_started)
            .flat_map(|p| names_in(&String::from_utf8_lossy(&p.body)))
            .collect();
        report.unshown_before_redrive = arrivals.keys().filter(|n| !before.contains(*n)).cloned().collect();
        for post in &accepted {
            for name in names_in(&String::from_utf8_lossy(&post.body)) {
                if let Some(arrived) = arrivals.get(&name) {
                    report.visible.entry(name.clone()).or_insert_with(|| post.at.saturating_duration_since(*arrived));
                }
                *shown_in.entry(name).or_default() += 1;
            }
        }
        report.lost = arrivals.keys().filter(|n| !report.visible.contains_key(*n)).cloned().collect();
        report.repeated = shown_in.into_iter().filter(|(_, n)| *n > 1).map(|(name, _)| name).collect();
        assert_eq!(arrivals.len(), total, "every alarm was sent");
        return (report, api);
    }
    let calls = api.calls();
    report.calls = calls.iter().filter(|c| c.method.starts_with("chat.")).count();
    report.rate_limited = calls.iter().filter(|c| c.answer == "ratelimited").count();
    report.posts = calls.iter().filter(|c| c.method == "chat.postMessage" && c.answer == "ok").count();
    report.updates = calls.iter().filter(|c| c.method == "chat.update" && c.answer == "ok").count();
    for call in calls.iter().filter(|c| c.answer == "ok" && c.body.get("thread_ts").is_none()) {
        if !matches!(call.method.as_str(), "chat.postMessage" | "chat.update") {
            continue;
        }
        for name in names_in(&call.body.to_string()) {
            if let Some(arrived) = arrivals.get(&name) {
                report.visible.entry(name).or_insert_with(|| call.at.saturating_duration_since(*arrived));
            }
        }
    }
    report.lost = arrivals.keys().filter(|n| !report.visible.contains_key(*n)).cloned().collect();
    let before: BTreeSet<String> = calls
        .iter()
        .filter(|c| c.answer == "ok" && c.body.get("thread_ts").is_none() && c.at < redrive_started)
        .filter(|c| matches!(c.method.as_str(), "chat.postMessage" | "chat.update"))
        .flat_map(|c| names_in(&c.body.to_string()))
        .collect();
    report.unshown_before_redrive = arrivals.keys().filter(|n| !before.contains(*n)).cloned().collect();
    let mut shown_in: BTreeMap<String, usize> = BTreeMap::new();
    let top = api.top_level();
    report.top_level = top.len();
    for message in &top {
        for name in names_in(&message.body.to_string()) {
            *shown_in.entry(name).or_default() += 1;
        }
    }
    report.repeated = shown_in.into_iter().filter(|(_, n)| *n > 1).map(|(name, _)| name).collect();
    assert_eq!(arrivals.len(), total, "every alarm was sent");
    (report, api)
}
