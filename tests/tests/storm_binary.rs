//! Alarm storms on the built `alarm-to-slack` binary (#20): eight processes pulling from one Runtime
//! API queue, 240 alarms reaching one channel within 5 s, the state table on moto, and a Slack stand-in
//! that enforces Slack's limits (1 `chat.postMessage` a second per channel with bursts of 3, 50
//! `chat.update` a minute with bursts of 10) with 429 and `Retry-After`.
//!
//! Required: every alarm visible in its channel within 60 s of its arrival, no invocation failed after
//! Lambda's retries (a retry is allowed, rarely: it is how a joiner's alarm outlives a slow holder), no
//! alarm lost, each alarm in at most one top-level message. Also two bursts into two channels at once,
//! and a container killed while it holds a digest's lease.

use std::time::Duration;

use chatops_tests::ApiReply;
use chatops_tests::storm::{self, Burst, BurstReport, Fault, channel_id};

/// One storm at a time: each runs eight processes against one moto, which is the pace-setter here
/// (about 150 writes a second on this machine); three at once would measure moto, not the function.
static ONE_STORM_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn check(report: &BurstReport, allow_timeouts: bool) {
    eprintln!("{}", report.summary());
    if !(report.lost.is_empty() && report.failed.is_empty()) {
        eprintln!("{}", report.warnings.join("\n"));
    }
    assert!(report.lost.is_empty(), "alarms never shown: {:?}", report.lost);
    assert!(report.failed.is_empty(), "failed invocations: {:#?}", report.failed);
    assert!(report.repeated.is_empty(), "alarms in more than one top-level message: {:?}", report.repeated);
    if !allow_timeouts {
        assert_eq!(report.timed_out, 0, "invocations without an answer");
    }
    let slowest = report.visible.iter().max_by_key(|(_, d)| **d).map(|(n, d)| (n.clone(), *d));
    if let Some((name, took)) = slowest {
        assert!(took <= Duration::from_secs(60), "{name} took {took:?} to show");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_storm_of_240_alarms_shows_every_one_within_a_minute_and_loses_none() {
    let _one = ONE_STORM_AT_A_TIME.lock().await;
    // Lambda retries a failed invocation, and the function counts on it: a joiner whose line its holder has not
    // shown when its own deadline nears fails so that the retry shows it (docs/notifier.md, "Nothing is lost").
    // On a machine loaded by other work (a release build beside the suite) one of 240 has done so; without the
    // retry that was a lost alarm in the test and not in Lambda. What stays required: no alarm lost or
    // repeated, none in the failure queue, and retries the exception (at most 1 in 40 invocations).
    let burst = Burst { lambda_retry: Some(std::time::Duration::from_secs(5)), ..Burst::default() };
    let (report, api) = storm::run(&burst).await;
    check(&report, false);
    assert!(report.dead.is_empty(), "in the failure queue: {:?}", report.dead);
    assert!(report.errors <= 6, "{} of 240 invocations failed and were retried", report.errors);
    // The channel shows a handful of alarms on their own, then the digest: far fewer messages than alarms.
    let channel = api.channel(&channel_id(0));
    assert!(channel.len() < 20, "{} top-level messages", channel.len());
    let digest = channel.iter().find(|m| m.all_text().contains("Alarm storm")).expect("a digest message");
    assert!(digest.all_text().contains("in ALARM"), "{}", digest.all_text());
    // The on-call is mentioned once, by the digest's first message, not once per alarm.
    let mentions = api
        .calls()
        .iter()
        .filter(|c| c.answer == "ok" && c.method == "chat.postMessage")
        .filter(|c| c.body["text"].as_str().is_some_and(|t| t.contains("<!subteam^S0ONCALL0>")))
        .count();
    let own_messages = channel.iter().filter(|m| !m.all_text().contains("Alarm storm")).count();
    assert_eq!(mentions, own_messages + 1, "one mention per own message and one for the digest");
    // The functions' own metrics say the same: every alarm delivered once, each that is not a message of its
    // own a digest line, nothing failed.
    assert_eq!(report.metrics.get("Delivered"), Some(&240.0), "{:?}", report.metrics);
    assert_eq!(report.metrics.get("DigestEntries").copied(), Some((240 - own_messages) as f64), "{:?}", report.metrics);
    // An invocation that failed for its retry to show its alarm counted that alarm as failed, once.
    assert_eq!(report.metrics.get("Failed").copied(), Some(report.errors as f64), "{:?}", report.metrics);
    assert_eq!(
        report.metrics.get("SlackRateLimited").copied(),
        Some(report.rate_limited as f64),
        "every 429 the stand-in gave was counted"
    );
    // The last holder stayed until the storm was over and said so.
    assert!(digest.all_text().contains("storm over:"), "{}\n{}", report.warnings.join("\n"), digest.all_text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_storms_in_two_channels_at_once_each_get_their_digest() {
    let _one = ONE_STORM_AT_A_TIME.lock().await;
    let (report, api) = storm::run(&Burst { alarms: 120, channels: 2, ..Burst::default() }).await;
    check(&report, false);
    for c in 0..2 {
        let channel = api.channel(&channel_id(c));
        assert!(channel.iter().any(|m| m.all_text().contains("Alarm storm")), "no digest in {}", channel_id(c));
        // Each channel lists only its own alarms.
        let other = format!("burst-{}-", (b'a' + (1 - c) as u8) as char);
        assert!(channel.iter().all(|m| !m.all_text().contains(&other)), "{} shows the other storm", channel_id(c));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_container_killed_while_it_holds_the_digest_loses_nothing() {
    let _one = ONE_STORM_AT_A_TIME.lock().await;
    // Lambda retries a failed invocation as it retries one that got no answer. The alarms that join a
    // digest its killed holder never showed wait for its lease to run out (10 s); on a loaded machine
    // the container that then takes it over can run out of time with lines still coming in, and fails
    // so that its retry shows them (docs/notifier.md, "Nothing is lost").
    let burst = Burst { kill_holder: true, lambda_retry: Some(Duration::from_secs(5)), ..Burst::default() };
    let (report, _api) = storm::run(&burst).await;
    assert!(report.killed.is_some(), "no process was seen holding the lease");
    // The killed container's invocations got no answer and were sent again, as Lambda does.
    check(&report, true);
    assert!(report.dead.is_empty(), "in the failure queue: {:?}", report.dead);
}

/// A storm under Slack's faults (#30): 8 alarms into one channel within a second, 8 containers, a digest
/// from the third alarm on, Lambda's retries 5 s apart (past the 2 s quiet time), then the failure queue
/// re-driven. Whatever fails and in whatever order: an alarm is reported delivered only when it is shown
/// or held by a live holder that shows it, every alarm never shown is in the failure queue, the re-drive
/// shows it exactly once, and no alarm is in two top-level messages (or two webhook lists).
fn faulty(faults: Vec<Fault>, webhook: bool) -> Burst {
    Burst {
        alarms: 8,
        spread: Duration::from_millis(800),
        lambda_retry: Some(Duration::from_secs(5)),
        faults,
        webhook,
        redrive: true,
        // A shorter function timeout than the stack's 30 s: the same logic, shorter waits.
        timeout: Duration::from_secs(12),
        extra_env: vec![
            ("STORM_THRESHOLD", "2".into()),
            ("STORM_WINDOW_SECONDS", "10".into()),
            ("STORM_QUIET_SECONDS", "2".into()),
        ],
        ..Burst::default()
    }
}

fn fault(at_ms: u64, method: Option<&'static str>, reply: Option<ApiReply>) -> Fault {
    Fault { at: Duration::from_millis(at_ms), method, reply }
}

fn check_faults(report: &BurstReport) {
    eprintln!(
        "{}; in the failure queue: {:?}; not shown before the re-drive: {:?}",
        report.summary(),
        report.dead,
        report.unshown_before_redrive
    );
    let reported_but_unshown: Vec<&String> =
        report.unshown_before_redrive.iter().filter(|n| !report.dead.contains(n)).collect();
    if !reported_but_unshown.is_empty() || !report.lost.is_empty() || !report.repeated.is_empty() {
        eprintln!("{}", report.warnings.join("\n"));
    }
    assert!(
        reported_but_unshown.is_empty(),
        "reported delivered, never shown, not in the failure queue: {reported_but_unshown:?}"
    );
    assert!(report.redrive_failures.is_empty(), "the re-drive failed: {:?}", report.redrive_failures);
    assert!(report.lost.is_empty(), "never shown, even after the re-drive: {:?}", report.lost);
    assert!(report.repeated.is_empty(), "alarms in more than one top-level message: {:?}", report.repeated);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_digest_whose_first_post_fails_on_every_attempt_is_shown_once_by_someone() {
    let _one = ONE_STORM_AT_A_TIME.lock().await;
    // chat.postMessage answers 500 for 4.5 s: the holder's five attempts (3.75 s of backoff) all fail.
    let faults = vec![
        fault(0, Some("chat.postMessage"), Some(ApiReply::Status(500))),
        fault(4_500, Some("chat.postMessage"), None),
    ];
    let (report, api) = storm::run(&faulty(faults, false)).await;
    check_faults(&report);
    assert!(api.calls().iter().any(|c| c.answer == "HTTP 500"), "the fault happened");
    assert!(report.errors > 0, "some invocation failed and was retried");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_digest_whose_updates_fail_for_ten_seconds_ends_complete_with_each_alarm_once() {
    let _one = ONE_STORM_AT_A_TIME.lock().await;
    let mut burst = faulty(
        vec![fault(1_000, Some("chat.update"), Some(ApiReply::Status(500))), fault(11_000, Some("chat.update"), None)],
        false,
    );
    burst.alarms = 16;
    burst.spread = Duration::from_secs(3);
    let (report, api) = storm::run(&burst).await;
    check_faults(&report);
    assert!(api.calls().iter().any(|c| c.method == "chat.update" && c.answer == "HTTP 500"), "the fault happened");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_slack_down_for_every_attempt_each_alarm_is_in_the_failure_queue_and_the_redrive_shows_it_once() {
    let _one = ONE_STORM_AT_A_TIME.lock().await;
    let (report, _api) = storm::run(&faulty(vec![fault(0, None, Some(ApiReply::Status(500)))], false)).await;
    check_faults(&report);
    assert_eq!(report.dead.len(), 8, "no alarm reported delivered while Slack was down: {:?}", report.dead);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn through_a_webhook_that_fails_no_alarm_goes_out_in_a_list_and_on_its_own() {
    let _one = ONE_STORM_AT_A_TIME.lock().await;
    let faults = vec![fault(0, None, Some(ApiReply::Status(500))), fault(4_500, None, None)];
    let (report, _api) = storm::run(&faulty(faults, true)).await;
    check_faults(&report);
    assert!(report.errors > 0, "some invocation failed and was retried");
}
