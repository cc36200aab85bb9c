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

use crate::{FunctionProcess, Moto, RateLimits, RuntimeApi, SlackApiStandIn, build_binary, sns_alarm};

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
    /// Invocations that answered with an error.
    pub failed: Vec<String>,
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
    let mut env = moto.env();
    env.extend([
        ("SLACK_BOT_TOKEN", TOKEN.to_owned()),
        ("SLACK_API_URL", api.url()),
        ("SLACK_CHANNEL", channel_id(0)),
        ("SLACK_ROUTES", serde_json::to_string(&routes).unwrap_or_default()),
        ("STATE_TABLE", table.clone()),
    ]);
    env.extend(burst.extra_env.iter().cloned());
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let processes: Vec<_> = (0..burst.processes).map(|_| FunctionProcess::spawn(&bin, &runtime, &env)).collect();
    let processes = Arc::new(std::sync::Mutex::new(processes));
    let started = Instant::now();
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
            tasks.push(tokio::spawn(async move {
                tokio::time::sleep_until(tokio::time::Instant::from_std(started + at)).await;
                arrivals.lock().unwrap().insert(name.clone(), Instant::now());
                let bytes = axum::body::Bytes::from(serde_json::to_vec(&event).unwrap_or_default());
                let mut timed_out = 0;
                loop {
                    let inv =
                        runtime.invoke_bytes(bytes.clone(), Duration::from_secs(30), Duration::from_secs(36)).await;
                    match inv.outcome {
                        crate::runtime_api::Outcome::TimedOut if timed_out < 2 => timed_out += 1, // Lambda retries it
                        crate::runtime_api::Outcome::Response(_) => return (name, None, timed_out),
                        other => return (name, Some(format!("{other:?}")), timed_out),
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
    for task in tasks {
        let Ok((name, error, timed_out)) = task.await else { continue };
        report.timed_out += timed_out;
        if let Some(error) = error {
            report.failed.push(format!("{name}: {error}"));
        }
    }
    report.took = started.elapsed();
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
