//! Alertmanager webhook bodies: any bytes parse or fail with an error; a group that parses renders for
//! every platform within its limits, and its lifecycle key is short whatever its group key.
#![no_main]

#[path = "../../shared/tests/support/platform_limits.rs"]
mod platform_limits;

use chatops_shared::chat::Platform;
use chatops_shared::notify::{AlertGroup, Extras, MessageDefaults, Notification};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(group) = AlertGroup::parse(data) else { return };
    let n = Notification::Alertmanager(Box::new(group));
    let key = n.lifecycle_key().expect("every group has a lifecycle");
    assert!(key.key.len() <= 64, "{}", key.key);
    let _ = n.changed_at_ms();
    for platform in Platform::ALL {
        let body = n.render_for(
            platform,
            &MessageDefaults::default(),
            &Extras { mention: Some("<!here>".into()), ..Extras::default() },
        );
        platform_limits::assert_within(platform, &body);
    }
});
