//! The state table's conditional writes against moto's DynamoDB: a retry of one's own claim is one's
//! own, a replay is not; approval requests count each approver once and let one mover win.

use chatops_shared::clock::now_ms;
use chatops_shared::state::{Approval, Claim, RequestStatus, StateTable};
use std::time::Duration;

use chatops_tests::Moto;

async fn table() -> StateTable {
    let moto = Moto::shared();
    let name = moto.create_state_table().await;
    StateTable::new(moto.dynamodb().await, name)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_sdks_retry_of_a_claim_that_succeeded_is_still_the_claimers() {
    let state = table().await;
    let (now, until) = (now_ms(), now_ms() / 1000 + 600);
    // The first attempt succeeded but its answer was lost; the SDK sends the same write again.
    assert_eq!(state.claim_event("Ev1", "container-a", now, until).await.unwrap(), Claim::Claimed);
    assert_eq!(state.claim_event("Ev1", "container-a", now, until).await.unwrap(), Claim::Claimed);
    // Anyone else finds it taken; once done, everyone finds it done.
    assert_eq!(state.claim_event("Ev1", "container-b", now, until).await.unwrap(), Claim::InProgress);
    state.finish_event("Ev1").await.unwrap();
    assert_eq!(state.claim_event("Ev1", "container-a", now, until).await.unwrap(), Claim::Delivered);
    // Each arrival of a signed request is its own claimer: a second arrival is a replay.
    assert!(state.first_arrival("hash-1", now, until).await.unwrap());
    assert!(!state.first_arrival("hash-1", now, until).await.unwrap());
}

#[tokio::test(flavor = "multi_thread")]
async fn approvals_count_each_approver_once_and_one_mover_wins() {
    let state = table().await;
    let now = now_ms() / 1000;
    assert!(state.create_request("R-1", "{}", now + 60, now + 3600).await.unwrap());
    assert!(!state.create_request("R-1", "{}", now + 60, now + 3600).await.unwrap(), "IDs are not reused");

    // Two approvers at the same moment: both counted.
    let (a, b) = tokio::join!(state.approve_request("R-1", "U1", now), state.approve_request("R-1", "U2", now));
    for counted in [a.unwrap(), b.unwrap()] {
        assert!(matches!(counted, Approval::Counted(_)), "{counted:?}");
    }
    match state.approve_request("R-1", "U1", now).await.unwrap() {
        Approval::NotCounted(Some(r)) => assert_eq!(r.approved_by, ["U1", "U2"]),
        other => panic!("the same approver counted twice: {other:?}"),
    }
    // Both then try to run it: one wins.
    let (a, b) = tokio::join!(
        state.move_request("R-1", RequestStatus::Open, RequestStatus::Executing, "U1", None, now),
        state.move_request("R-1", RequestStatus::Open, RequestStatus::Executing, "U2", None, now)
    );
    assert_eq!([a.unwrap(), b.unwrap()].iter().filter(|won| **won).count(), 1);
    assert!(matches!(state.approve_request("R-1", "U3", now).await.unwrap(), Approval::NotCounted(_)));

    // Expiry: not approvable after open_until, and only then may it be moved to expired.
    assert!(state.create_request("R-2", "{}", now + 60, now + 3600).await.unwrap());
    assert!(
        !state.move_request("R-2", RequestStatus::Open, RequestStatus::Expired, "expiry", None, now).await.unwrap(),
        "not yet"
    );
    assert!(matches!(state.approve_request("R-2", "U1", now + 61).await.unwrap(), Approval::NotCounted(_)));
    assert!(
        !state.move_request("R-2", RequestStatus::Open, RequestStatus::Denied, "U1", None, now + 61).await.unwrap(),
        "too late to deny"
    );
    assert!(
        state.move_request("R-2", RequestStatus::Open, RequestStatus::Expired, "expiry", None, now + 61).await.unwrap()
    );
    assert_eq!(state.get_request("R-2").await.unwrap().unwrap().status, Some(RequestStatus::Expired));
    assert!(state.get_request("R-404").await.unwrap().is_none());

    // A run that never reported: closed as abandoned only once its lease is long past.
    assert!(state.create_request("R-3", "{}", now + 60, now + 3600).await.unwrap());
    assert!(state.move_request("R-3", RequestStatus::Open, RequestStatus::Executing, "U1", None, now).await.unwrap());
    assert!(
        !state
            .move_request("R-3", RequestStatus::Executing, RequestStatus::Abandoned, "expiry", None, now + 10)
            .await
            .unwrap()
    );
    let lease = chatops_shared::state::EXECUTING_LEASE_S;
    assert!(
        state
            .move_request("R-3", RequestStatus::Executing, RequestStatus::Abandoned, "expiry", None, now + lease)
            .await
            .unwrap()
    );
    assert_eq!(state.get_request("R-3").await.unwrap().unwrap().status, Some(RequestStatus::Abandoned));
}

/// The state table through a proxy that holds back the first answer: the write lands, its answer comes
/// after the SDK's attempt timeout, and the SDK sends it again, which then fails its own condition.
async fn through_a_late_answer(table: &str) -> (StateTable, chatops_tests::slow_proxy::SlowOnceProxy) {
    use aws_sdk_dynamodb::config::retry::RetryConfig;
    use aws_sdk_dynamodb::config::timeout::TimeoutConfig;
    let moto = Moto::shared();
    let proxy = chatops_tests::slow_proxy::SlowOnceProxy::start(
        moto.endpoint.trim_start_matches("http://"),
        Duration::from_millis(800),
    )
    .await;
    let conf = aws_sdk_dynamodb::config::Builder::from(&moto.sdk_config().await)
        .endpoint_url(proxy.endpoint())
        .timeout_config(TimeoutConfig::builder().operation_attempt_timeout(Duration::from_millis(300)).build())
        .retry_config(RetryConfig::standard().with_max_attempts(3))
        .build();
    (StateTable::new(aws_sdk_dynamodb::Client::from_conf(conf), table), proxy)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_write_that_succeeded_but_answered_late_is_still_the_writers() {
    let moto = Moto::shared();
    let name = moto.create_state_table().await;
    let direct = StateTable::new(moto.dynamodb().await, name.clone());
    let now = now_ms() / 1000;

    let (state, proxy) = through_a_late_answer(&name).await;
    assert!(state.first_arrival("late-1", now * 1000, now + 600).await.unwrap(), "not a replay of itself");
    assert!(proxy.connections() >= 2, "the SDK retried");
    assert!(!direct.first_arrival("late-1", now * 1000, now + 600).await.unwrap(), "a real replay still is one");

    let (state, proxy) = through_a_late_answer(&name).await;
    assert_eq!(state.claim_event("EvLATE", "container-a", now * 1000, now + 600).await.unwrap(), Claim::Claimed);
    assert!(proxy.connections() >= 2);

    let (state, proxy) = through_a_late_answer(&name).await;
    assert!(state.create_request("R-LATE", "{\"id\":\"R-LATE\"}", now + 60, now + 3600).await.unwrap());
    assert!(proxy.connections() >= 2);
    assert!(!direct.create_request("R-LATE", "{\"id\":\"other\"}", now + 60, now + 3600).await.unwrap());

    let (state, proxy) = through_a_late_answer(&name).await;
    assert!(
        matches!(state.approve_request("R-LATE", "U1", now).await.unwrap(), Approval::Counted(r) if r.approved_by == ["U1"])
    );
    assert!(proxy.connections() >= 2);

    let (state, proxy) = through_a_late_answer(&name).await;
    assert!(
        state.move_request("R-LATE", RequestStatus::Open, RequestStatus::Executing, "U1", None, now).await.unwrap(),
        "the move is ours"
    );
    assert!(proxy.connections() >= 2);
    assert!(
        !direct.move_request("R-LATE", RequestStatus::Open, RequestStatus::Executing, "U2", None, now).await.unwrap(),
        "and nobody else's"
    );
}

/// The functions' DynamoDB clients are built through our own HTTP adapter, where reqwest's per-request
/// timeout is the whole exchange. It was the SDK's connect timeout (500 ms) alone, so every attempt gave
/// up after 500 ms however long its attempt timeout: the "patient" client of a storm digest's holder
/// (2 s attempts) was no more patient than the fast one, and a slow answer always cost a second attempt.
#[tokio::test(flavor = "multi_thread")]
async fn the_functions_dynamodb_clients_wait_their_attempt_timeout_not_their_connect_timeout() {
    use chatops_tests::slow_proxy::SlowOnceProxy;
    let moto = Moto::shared();
    let name = moto.create_state_table().await;
    let http = chatops_shared::http::http_client().unwrap();
    let through = |proxy: &SlowOnceProxy| {
        let env: Vec<(&str, String)> = vec![
            ("AWS_ENDPOINT_URL", proxy.endpoint()),
            ("AWS_ACCESS_KEY_ID", "testing".into()),
            ("AWS_SECRET_ACCESS_KEY", "testing".into()),
            ("AWS_REGION", "eu-west-1".into()),
        ];
        let lookup = move |k: &str| env.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone());
        let sdk = chatops_shared::aws::sdk_config(&http, &lookup).unwrap();
        StateTable::new(chatops_shared::state::dynamodb_client(&sdk), name.clone())
    };
    let upstream = moto.endpoint.trim_start_matches("http://").to_owned();
    // An answer after 0.8 s: past the 500 ms that cut every attempt short, and within the patient
    // client's 2 s attempt with 1.2 s to spare for moto on a loaded machine (1.2 s held back left too
    // little: it failed once beside a release build).
    let proxy = SlowOnceProxy::start(&upstream, Duration::from_millis(800)).await;
    let patient = through(&proxy).patient();
    let now = now_ms();
    let claimed = patient.claim_notification("late-answer", "container-a", now, now + 30_000, now / 1000 + 600).await;
    assert_eq!(claimed.unwrap(), Claim::Claimed);
    assert_eq!(proxy.connections(), 1, "the patient client waited for the answer");
}

/// Changes written at the same moment by many containers: each is in the history once, and the scope's
/// `latest` holds three whole ones (the shift is one atomic update: none torn, none twice); a retry of a
/// change already written changes nothing.
#[tokio::test(flavor = "multi_thread")]
async fn changes_written_at_once_keep_a_whole_latest_and_a_retry_adds_nothing() {
    use chatops_shared::state::Change;
    let moto = Moto::shared();
    let name = moto.create_state_table().await;
    let clients: Vec<StateTable> = {
        let mut v = Vec::new();
        for _ in 0..4 {
            v.push(StateTable::new(moto.dynamodb().await, name.clone()));
        }
        v
    };
    let now = now_ms();
    let change = |i: i64| Change {
        at_ms: now - 1000 + i,
        id: format!("c-{i}"),
        kind: "scale".into(),
        what: format!("web {i} → {}", i + 1),
        account: Some("111122223333".into()),
        channel: Some("C0OPS".into()),
        ..Change::default()
    };
    let writes = (0..8).map(|i| {
        let state = clients[i as usize % clients.len()].clone();
        let c = change(i);
        async move { state.record_change(&c, now / 1000).await }
    });
    let mut handles = Vec::new();
    for w in writes {
        handles.push(tokio::spawn(w));
    }
    for h in handles {
        h.await.unwrap().unwrap();
    }
    // A retry of change 7 (the same ID): no second history item, no second place in `latest`.
    clients[0].record_change(&change(7), now / 1000).await.unwrap();
    let items = moto.items(&name).await;
    let history = items.iter().filter(|i| i["pk"] == "changes#111122223333" && i["sk"] != "latest").count();
    assert_eq!(history, 8);
    // And once each in the day's history the reports read.
    let days = clients[3].history(now - 1000, now).await.unwrap();
    let mut ids: Vec<&str> = days.changes.iter().map(|c| c.id.as_str()).collect();
    ids.sort();
    assert_eq!(ids, ["c-0", "c-1", "c-2", "c-3", "c-4", "c-5", "c-6", "c-7"]);
    assert!(days.changes.iter().all(|c| c.kind == "scale" && c.channel.as_deref() == Some("C0OPS")), "{days:?}");
    let window = (now - 60_000, now + 60_000);
    for scope in
        [chatops_shared::state::change_account_key("111122223333"), chatops_shared::state::change_channel_key("C0OPS")]
    {
        let latest = clients[1].recent_changes(&scope, window, 3).await.unwrap();
        assert_eq!(latest.len(), 3, "{latest:?}");
        let mut ids: Vec<&str> = latest.iter().map(|c| c.id.as_str()).collect();
        ids.dedup();
        assert_eq!(ids.len(), 3, "three different changes: {latest:?}");
        assert!(latest.iter().all(|c| c.what.starts_with("web ") && c.at_ms >= now - 1000), "{latest:?}");
        assert!(latest.windows(2).all(|w| w[0].at_ms >= w[1].at_ms), "newest first");
        // Outside the window: nothing.
        assert!(clients[2].recent_changes(&scope, (now + 120_000, now + 180_000), 3).await.unwrap().is_empty());
    }
}

/// The reports' history (#35): an episode and an incident summary are written once each, whoever writes
/// them at the same moment, and read back by day; a day holds only its own.
#[tokio::test(flavor = "multi_thread")]
async fn history_items_are_written_once_each_and_read_back_by_day() {
    use chatops_shared::state::{Episode, IncidentSummary};
    let moto = Moto::shared();
    let name = moto.create_state_table().await;
    let a = StateTable::new(moto.dynamodb().await, name.clone());
    let b = StateTable::new(moto.dynamodb().await, name.clone());
    let day = 1_796_515_200_000; // 2026-12-06 00:00 UTC
    let episode = Episode {
        key: "alarm:arn:aws:cloudwatch:eu-west-1:123456789012:alarm:orders-5xx".into(),
        title: "orders-5xx".into(),
        channel: "C0OPS".into(),
        team: Some("payments".into()),
        started_ms: day + 3_600_000,
        resolved_ms: day + 4_200_000,
        acked: Some(("U0ALICE".into(), (day + 3_720_000) / 1000)),
        changes: 2,
        ..Episode::default()
    };
    let (one, two) = tokio::join!(a.record_episode(&episode), b.record_episode(&episode));
    assert_eq!([one.unwrap(), two.unwrap()].iter().filter(|w| **w).count(), 1, "one writer wins");
    let summary = IncidentSummary {
        number: 7,
        severity: 2,
        declared_at: (day + 3_700_000) / 1000,
        resolved_at: (day + 7_000_000) / 1000,
        followups: 3,
        ..IncidentSummary::default()
    };
    assert!(a.record_incident_summary(&summary).await.unwrap());
    assert!(!b.record_incident_summary(&summary).await.unwrap(), "a retry writes nothing");
    // An episode of the day before: not in this day's history.
    let before = Episode { started_ms: day - 7_200_000, resolved_ms: day - 3_600_000, ..episode.clone() };
    assert!(a.record_episode(&before).await.unwrap());
    let history = b.history(day, day + 86_399_999).await.unwrap();
    assert_eq!(history.episodes, std::slice::from_ref(&episode));
    assert_eq!(history.incidents, [summary]);
    let both = b.history(day - 86_400_000, day + 86_399_999).await.unwrap();
    assert_eq!(both.episodes.len(), 2);
    let items = moto.items(&name).await;
    let ttl: i64 = items
        .iter()
        .find(|i| i["sk"].starts_with("episode#") && i["pk"] == "history#2026-12-06")
        .and_then(|i| i["expires_at"].parse().ok())
        .expect("the episode's expiry");
    assert!(ttl >= (day + 4_200_000) / 1000 + 90 * 86_400, "kept at least 90 days");
}
