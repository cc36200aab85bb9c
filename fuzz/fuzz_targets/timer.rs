//! A scheduler's firing (`{"chatops_timer": …}`) as slack-command reads any Lambda event: not a timer,
//! a timer, or one this version does not know, never a panic; a timer read is the input it came from.
#![no_main]

use chatops_shared::flows::timers::timer_from_event;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Ok(event) = serde_json::from_slice::<Value>(data) else { return };
    match timer_from_event(&event) {
        None => assert!(event.get("chatops_timer").is_none()),
        Some(Ok(timer)) => {
            let again = timer_from_event(&timer.input()).expect("its input is a timer").expect("and a known one");
            assert_eq!(again, timer, "written and read back the same");
        }
        Some(Err(why)) => assert!(!why.is_empty()),
    }
});
