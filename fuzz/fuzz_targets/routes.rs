//! `SLACK_ROUTES`: any text parses or fails with a config error naming the variable; parsed routes
//! route any notification key.
#![no_main]

use chatops_shared::notify::routing::{RouteKey, Routes};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    match Routes::parse(Some(&text), Some("C0".into())) {
        Ok(routes) => {
            let key = RouteKey {
                alarm: Some(&text),
                account: Some("111122223333"),
                account_name: Some(&text),
                source: Some("aws.guardduty"),
                state: "ALARM",
                urgent: true,
                ..RouteKey::default()
            };
            assert!(routes.route(&key).channel.is_some(), "the default channel catches everything");
        }
        Err(err) => assert_eq!(err.var(), "SLACK_ROUTES"),
    }
});
