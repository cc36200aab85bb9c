//! Events API bodies and the words of a mention. Never panics; a mention it reads has a thread to
//! answer in.
#![no_main]

use chatops_shared::slack::events::{EventEnvelope, MentionRequest};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(EventEnvelope::Mention(m)) = EventEnvelope::parse(data) {
        assert!(!m.thread_ts.is_empty() && !m.event_id.is_empty(), "{m:?}");
        let _ = MentionRequest::parse(&m.text);
    }
    if let Ok(text) = std::str::from_utf8(data)
        && let MentionRequest::Deploy { project: Some(p), .. } = MentionRequest::parse(text)
    {
        assert!(!p.is_empty());
    }
});
