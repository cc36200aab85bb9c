//! Property tests: the form parser and the verifier never panic on any bytes, a signature only passes
//! when it is the right one, and no request of any shape gets a 5xx.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chatops_shared::aws::kms::CachedSecret;
use chatops_shared::commands::Services;
use chatops_shared::config::SecretSource;
use chatops_shared::secret::Secret;
use chatops_shared::slack::form::{SlashCommand, parse_form};
use chatops_shared::slack::signature::{compute_signature, verify_slack_signature};
use chatops_tests::slack_requests::{SHAPES, event_raw, signed_headers};
use lambda_runtime::{Context, LambdaEvent};
use proptest::prelude::*;
use slack_command::{Deps, handle_event};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn form_parser_never_panics(body in prop::collection::vec(any::<u8>(), 0..256)) {
        if let Ok(form) = parse_form(&body) {
            let _ = SlashCommand::from_form(form);
        }
    }

    #[test]
    fn form_parser_round_trips_encoded_text(text in "\\PC{0,60}") {
        let encoded: String = text.bytes().map(|b| format!("%{b:02X}")).collect();
        let form = parse_form(format!("text={encoded}").as_bytes()).unwrap();
        prop_assert_eq!(&form["text"], &text);
    }

    #[test]
    fn verifier_never_panics_and_only_the_right_signature_passes(
        ts in prop::collection::vec(any::<u8>(), 0..16),
        sig in prop::collection::vec(any::<u8>(), 0..80),
        body in prop::collection::vec(any::<u8>(), 0..128),
        skew in -400i64..400,
    ) {
        let secret = Secret::new("s3cr3t");
        let now = 1_700_000_000;
        let ok = verify_slack_signature(&secret, Some(&ts), Some(&sig), &body, now).is_ok();
        prop_assert!(!ok || compute_signature(&secret, &ts, &body).as_bytes() == sig.as_slice());
        // A correct signature passes exactly when the timestamp is within 5 minutes.
        let ts = (now + skew).to_string();
        let good = compute_signature(&secret, ts.as_bytes(), &body);
        let passed = verify_slack_signature(&secret, Some(ts.as_bytes()), Some(good.as_bytes()), &body, now).is_ok();
        prop_assert_eq!(passed, skew.abs() <= 300);
    }
}

fn deps() -> Deps {
    let secret = SecretSource::Plain { var: "S", value: Secret::new("s3cr3t") };
    let services = Services {
        // Any call would fail fast and show as an error answer.
        autoscaling: chatops_tests::unreachable_autoscaling(),
        codedeploy: chatops_tests::unreachable_codedeploy(),
        codedeploy_settings: Default::default(),
    };
    let http = chatops_shared::http::http_client().unwrap();
    Deps { budget: Duration::from_millis(300), ..Deps::basic(CachedSecret::new(secret, None, None), services, http) }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn no_request_gets_a_5xx(
        body in prop::collection::vec(any::<u8>(), 0..200),
        raw_body in "\\PC{0,80}",
        shape in 0usize..3,
        base64 in any::<bool>(),
        signed in any::<bool>(),
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let deps = deps();
        let ts = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs().to_string();
        let headers = if signed { signed_headers("s3cr3t", &ts, &body) } else { vec![] };
        use base64::Engine as _;
        let encoded = if base64 { base64::engine::general_purpose::STANDARD.encode(&body) } else { raw_body.clone() };
        for event in [event_raw(SHAPES[shape], &headers, &encoded, base64), event_raw(SHAPES[shape], &headers, &raw_body, base64)] {
            let mut ctx = Context::default();
            ctx.deadline = (SystemTime::now().duration_since(UNIX_EPOCH).unwrap() + Duration::from_secs(5)).as_millis() as u64;
            let raw = serde_json::value::to_raw_value(&event).unwrap();
            let out = rt.block_on(handle_event(&deps, LambdaEvent::new(raw, ctx))).unwrap();
            let status = out["statusCode"].as_u64().unwrap();
            prop_assert!(status < 500, "status {} for {:?}", status, event);
        }
    }
}
