//! `/incident <text>` as a person types it (Slack's escapes included): any text is a request or a
//! clear refusal, never a panic; a declaration has a title of at most 150 characters with no Slack
//! entity left in it and a severity from 1 to 4.
#![no_main]

use chatops_shared::flows::incidents::Ask;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    match Ask::parse(&text) {
        Ok(Ask::Declare { title, severity, private, invite }) => {
            assert!(!title.trim().is_empty(), "a declaration has a title");
            assert!(private || invite.is_empty(), "only a private declaration invites by mention");
            assert!(invite.iter().all(|u| u.starts_with(['U', 'W']) && u.bytes().all(|b| b.is_ascii_alphanumeric())));
            assert!(!title.split_whitespace().any(|w| w.eq_ignore_ascii_case("--private")), "the flag is not in the title");
            assert!(title.chars().count() <= 150, "{} characters", title.chars().count());
            assert!((1..=4).contains(&severity), "severity {severity}");
        }
        Ok(Ask::Severity(sev)) => assert!((1..=4).contains(&sev)),
        Ok(Ask::Lead(user)) => assert!(user.starts_with(['U', 'W']) && user.bytes().all(|b| b.is_ascii_alphanumeric())),
        Ok(Ask::Role(role, user)) => {
            assert!(matches!(role, "comms" | "scribe"), "role {role}");
            assert!(user.starts_with(['U', 'W']) && user.bytes().all(|b| b.is_ascii_alphanumeric()));
        }
        Ok(Ask::Status(update)) => assert!(!update.is_empty() && update.chars().count() <= 2000),
        Ok(Ask::Resolve(summary)) => assert!(summary.is_none_or(|s| s.chars().count() <= 2000)),
        Ok(Ask::FollowUp(text)) => assert!(!text.is_empty() && text.chars().count() <= 500),
        Ok(Ask::Show | Ask::Help | Ask::List | Ask::FollowUps | Ask::FileFollowUps) => {}
        Err(problem) => assert!(!problem.is_empty(), "a refusal says why"),
    }
});
