//! The failure queue's messages, re-driven through alarm-to-slack (an SQS event of Lambda's on-failure
//! records): any event is read as one, or not, never a panic; every record of an SQS event is accounted
//! for, with its original event when its body is such a record.
#![no_main]

use chatops_shared::notify::envelope::failure_queue_records;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Ok(event) = serde_json::from_slice::<Value>(data) else { return };
    let Some(records) = failure_queue_records(&event) else { return };
    let sent = event["Records"].as_array().map_or(0, Vec::len);
    assert_eq!(records.len(), sent, "every message is accounted for: delivered, or reported as a failure");
    for record in records {
        assert!(record.payload.as_ref().is_none_or(|p| !p.is_null()));
    }
});
