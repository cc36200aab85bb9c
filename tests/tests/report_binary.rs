//! The operations report (#35) on the built slack-command binary over the Lambda Runtime API, with moto's
//! DynamoDB and the Web API stand-in: a simulated week of history (as the functions write it: episodes with
//! known acknowledgement and resolution times, a flapping alarm, self-resolving ones, two incidents, deploys
//! with one failure and one followed by an incident) gives exactly the expected figures, on demand
//! (`/status report`, for everyone and for a team) and when the schedule fires (one report per channel);
//! an empty period says so.

use chatops_shared::state::{ApprovalSummary, Change, Episode, IncidentSummary, StateTable};
use chatops_tests::block_kit;
use chatops_tests::slack_requests::{Shape, command_body, event, signed_headers};
use chatops_tests::{Container, Moto, SlackApiStandIn};
use serde_json::{Value, json};

const SECRET: &str = "report-test-signing-secret";
const BOT: &str = "xoxb-report-test-token";
const MIN: i64 = 60_000;

fn now_s() -> i64 {
    chatops_shared::clock::now_unix()
}

async fn stack() -> (StateTable, SlackApiStandIn, Container) {
    let moto = Moto::shared();
    let table = moto.create_state_table().await;
    let slack = SlackApiStandIn::start(BOT).await;
    let mut env = moto.env();
    env.extend([
        ("SLACK_SIGNING_SECRET", SECRET.to_owned()),
        ("STATE_TABLE", table.clone()),
        ("SLACK_BOT_TOKEN", BOT.to_owned()),
        ("SLACK_API_URL", slack.url()),
        ("REPORT_CHANNEL", "C0OPS".to_owned()),
        ("REPORT_TEAM_CHANNELS", "payments=C0PAY, platform=C0PLAT".to_owned()),
    ]);
    let container = Container::start("slack-command", &env).await;
    (StateTable::new(moto.dynamodb().await, table), slack, container)
}

/// `/status <text>` as `user`; the answer.
async fn status(container: &Container, text: &str, user: &str) -> Value {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let body = command_body("/status", text, user, "T0123ABCD")
        .replace("trigger_id=1234.5678.abcdef", &format!("trigger_id=report-{n}"));
    let request =
        event(Shape::HttpApi, &signed_headers(SECRET, &now_s().to_string(), body.as_bytes()), body.as_bytes(), false);
    let response = container.runtime.invoke(&request).await.response_json();
    assert_eq!(response["statusCode"], 200, "{response}");
    serde_json::from_str(response["body"].as_str().unwrap_or_default()).unwrap()
}

/// Every block's text, joined.
fn texts(message: &Value) -> String {
    let mut out = Vec::new();
    for block in message["blocks"].as_array().into_iter().flatten() {
        for text in [&block["text"]["text"], &block["elements"][0]["text"]] {
            if let Some(t) = text.as_str() {
                out.push(t.to_owned());
            }
        }
    }
    out.join("\n")
}

fn episode(title: &str, team: &str, started_ms: i64, ack_after_s: Option<i64>, resolved_after_s: i64) -> Episode {
    Episode {
        key: format!("alarm:arn:aws:cloudwatch:eu-west-1:123456789012:alarm:{title}"),
        title: title.to_owned(),
        channel: "C0ALERTS".into(),
        team: Some(team.to_owned()),
        url: Some(format!("https://console.aws.amazon.com/cloudwatch/home#alarmsV2:alarm/{title}")),
        started_ms,
        resolved_ms: started_ms + resolved_after_s * 1000,
        acked: ack_after_s.map(|s| ("U0ALICE".to_owned(), started_ms / 1000 + s)),
        changes: 2,
        ..Episode::default()
    }
}

fn change(kind: &str, what: &str, at_ms: i64) -> Change {
    Change { at_ms, id: format!("{kind}-{at_ms}"), kind: kind.into(), what: what.into(), ..Change::default() }
}

/// The week before `now`: 8 pages (4 of orders-5xx acknowledged after 1, 2, 3 and 10 min and resolved after
/// 10, 20, 30 and 60 min; disk-flap 3 times within an hour, 2 min each, untouched; cpu-blip once, 3 min,
/// untouched), 2 incidents (SEV1 1 h, SEV2 private 30 min with 2 follow-ups), 3 deploys (orders in 5 min;
/// billing failed after 10 min; web in 2 min, then SEV1 declared 10 min later). The week before: 2 pages of
/// orders-5xx acknowledged after 5 min, resolved after 15.
async fn simulate_week(state: &StateTable, now: i64) {
    let day = 86_400_000;
    let mut episodes = Vec::new();
    for (i, (ack, resolved)) in [(60, 600), (120, 1200), (180, 1800), (600, 3600)].into_iter().enumerate() {
        episodes.push(episode("orders-5xx", "payments", now - (6 - i as i64) * day, Some(ack), resolved));
    }
    for i in 0..3 {
        episodes.push(episode("disk-flap", "platform", now - 2 * day + i * 15 * MIN, None, 120));
    }
    episodes.push(episode("cpu-blip", "payments", now - day, None, 180));
    for i in 0..2 {
        episodes.push(episode("orders-5xx", "payments", now - (12 - i) * day, Some(300), 900));
    }
    for e in &episodes {
        assert!(state.record_episode(e).await.unwrap());
    }
    let t2 = now - 3 * day;
    let incidents = [
        IncidentSummary {
            number: 1,
            severity: 1,
            declared_at: (t2 + 12 * MIN) / 1000,
            resolved_at: (t2 + 72 * MIN) / 1000,
            ..IncidentSummary::default()
        },
        IncidentSummary {
            number: 2,
            severity: 2,
            private: true,
            declared_at: (now - 4 * day) / 1000,
            resolved_at: (now - 4 * day + 30 * MIN) / 1000,
            followups: 2,
            ..IncidentSummary::default()
        },
    ];
    for i in &incidents {
        assert!(state.record_incident_summary(i).await.unwrap());
    }
    let (t0, t1) = (now - 5 * day, now - 4 * day - 60 * MIN);
    for c in [
        change("deploy", "orders deploy started", t0),
        change("deploy-result", "orders deployed", t0 + 5 * MIN),
        change("deploy", "billing deploy started", t1),
        change("deploy-result", "billing deploy failed", t1 + 10 * MIN),
        change("deploy", "web deploy started", t2),
        change("deploy-result", "web deployed", t2 + 2 * MIN),
        change("scale", "web-asg 4 → 6", t2 + 5 * MIN),
    ] {
        state.record_change(&c, c.at_ms / 1000).await.unwrap();
    }
    // Approvals: two approved after 4 and 10 min, one denied after 1 min, one expired.
    for (n, (outcome, wait)) in
        [("approved", 240), ("approved", 600), ("denied", 60), ("expired", 3600)].into_iter().enumerate()
    {
        let requested_at = (now - (n as i64 + 1) * day) / 1000;
        let approval = ApprovalSummary {
            id: format!("R-{n}"),
            action: "scale".into(),
            resource: "web-asg".into(),
            requested_at,
            decided_at: requested_at + wait,
            outcome: outcome.into(),
        };
        assert!(state.record_approval_summary(&approval).await.unwrap());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_simulated_week_gives_exactly_the_expected_figures_on_demand_and_on_schedule() {
    let (state, slack, container) = stack().await;
    // Whole seconds, as acknowledgements are recorded.
    let now = chatops_shared::clock::now_unix() * 1000;
    simulate_week(&state, now).await;

    let report = status(&container, "report", "U0ALICE").await;
    block_kit::check_message(&report).unwrap();
    assert_eq!(report["response_type"], "ephemeral");
    let text = texts(&report);
    for part in [
        "🔔 *Pages*: 8 (↑ from 2) · acknowledged 50 % (↓ from 100 %) · never acknowledged 4",
        "MTTA median 2 min (↓ from 5 min) · p90 10 min",
        "MTTR median 3 min (↓ from 15 min) · p90 1 h",
        "Most pages:\n• <https://console.aws.amazon.com/cloudwatch/home#alarmsV2:alarm/orders-5xx|orders-5xx> (4 pages)\n• <https://console.aws.amazon.com/cloudwatch/home#alarmsV2:alarm/disk-flap|disk-flap> (3 pages)\n• <https://console.aws.amazon.com/cloudwatch/home#alarmsV2:alarm/cpu-blip|cpu-blip> (1 page)",
        "Flapping (pages within one hour):\n• <https://console.aws.amazon.com/cloudwatch/home#alarmsV2:alarm/disk-flap|disk-flap> (3 in an hour)",
        "untouched (tuning candidates):\n• <https://console.aws.amazon.com/cloudwatch/home#alarmsV2:alarm/disk-flap|disk-flap> (3 pages)\n• <https://console.aws.amazon.com/cloudwatch/home#alarmsV2:alarm/cpu-blip|cpu-blip> (1 page)",
        "🚨 *Incidents*: 2 (↑ from 0) (SEV1 1, SEV2 1) · time to resolve median 30 min · p90 1 h · 2 follow-ups recorded",
        "🚀 *Deploys*: 3 (↑ from 0) · change failure rate 67 % (1 failed, 1 followed by an incident or a rollback within an hour) · lead time median 5 min · p90 10 min",
        "🔐 *Approvals*: 4 (2 approved, 1 denied, 1 expired) · waited median 4 min · p90 10 min",
    ] {
        assert!(text.contains(part), "missing {part:?} in\n{text}");
    }
    // A trend per day, the week's eight pages in it.
    let per_day = text.lines().find(|l| l.starts_with("Per day: `")).expect("a per-day line");
    let counts: usize =
        per_day.rsplit('(').next().unwrap().trim_end_matches(')').split(' ').map(|n| n.parse::<usize>().unwrap()).sum();
    assert_eq!(counts, 8, "{per_day}");

    // One team's: its own pages only.
    let payments = texts(&status(&container, "report 7d payments", "U0ALICE").await);
    assert!(payments.contains("🔔 *Pages*: 5 (↑ from 2)") && !payments.contains("disk-flap"), "{payments}");
    assert!(payments.contains("team payments"), "{payments}");
    // A bad period is refused, saying what works.
    assert!(texts(&status(&container, "report 400d", "U0ALICE").await).contains("1 to 90 days"));

    // The schedule fires: everyone's report in REPORT_CHANNEL, each team's in its channel.
    let fired =
        container.runtime.invoke(&json!({"chatops_timer": {"kind": "report", "days": 7}})).await.response_json();
    assert_eq!(fired["acted"], true, "{fired}");
    let ops = slack.channel("C0OPS");
    assert_eq!(ops.len(), 1);
    block_kit::check_message(&ops[0].body).unwrap();
    assert!(ops[0].all_text().contains("🔔 *Pages*: 8"), "{}", ops[0].all_text());
    assert!(slack.channel("C0PAY")[0].all_text().contains("🔔 *Pages*: 5"));
    let platform = slack.channel("C0PLAT")[0].all_text();
    assert!(platform.contains("🔔 *Pages*: 3") && platform.contains("disk-flap"), "{platform}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_period_without_history_says_so() {
    let (_, _, container) = stack().await;
    let report = status(&container, "report 30d", "U0ALICE").await;
    block_kit::check_message(&report).unwrap();
    let text = texts(&report);
    assert!(text.contains("No pages, incidents or deploys in this period, nor in the one before."), "{text}");
    assert!(text.contains("The 30 days to"), "{text}");
}
