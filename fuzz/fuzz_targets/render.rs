//! The renderers on their own: a message of arbitrary text (mrkdwn, links, entities, dates, any
//! length) rendered for every platform stays within that platform's limits.
#![no_main]

#[path = "../../shared/tests/support/platform_limits.rs"]
mod platform_limits;

use chatops_shared::chat::Platform;
use chatops_shared::slack::{Block, Message};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    // Parts separated by NUL: header, then sections, fields (`label\x01value`) and context.
    let mut parts = text.split('\0');
    let header = parts.next().unwrap_or_default().to_owned();
    let mut m = Message::new(header.clone()).block(Block::Header(header));
    m.color = Some("#E01E5A".into());
    let mut fields = Vec::new();
    for (i, part) in parts.enumerate() {
        match (i % 3, part.split_once('\u{1}')) {
            (_, Some((label, value))) => fields.push(format!("*{label}*\n{value}")),
            (0, None) => m = m.block(Block::section(part)),
            (1, None) => m = m.block(Block::Context(vec![part.to_owned()])),
            (_, None) => fields.push(part.to_owned()),
        }
    }
    m = m.block(Block::Fields(fields));
    for platform in Platform::ALL {
        platform_limits::assert_within(platform, &platform.render(&m));
    }
});
