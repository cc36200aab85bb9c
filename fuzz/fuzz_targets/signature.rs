//! The Slack signature verifier: a request it accepts really carries `v0=` + HMAC-SHA256 of
//! `v0:{timestamp}:{body}` with a timestamp within five minutes; a correctly signed fresh request is
//! always accepted.
#![no_main]

use chatops_shared::secret::Secret;
use chatops_shared::slack::signature::{MAX_CLOCK_SKEW_SECS, compute_signature, verify_slack_signature};
use libfuzzer_sys::fuzz_target;

fn split(data: &[u8]) -> Option<(&[u8], &[u8])> {
    let (&n, rest) = data.split_first()?;
    let n = usize::from(n).min(rest.len());
    Some(rest.split_at(n))
}

fuzz_target!(|data: &[u8]| {
    let Some((secret, rest)) = split(data) else { return };
    let Some((timestamp, rest)) = split(rest) else { return };
    let Some((signature, body)) = split(rest) else { return };
    let secret = Secret::new(String::from_utf8_lossy(secret).into_owned());
    let now = 1_795_167_667_i64;
    if verify_slack_signature(&secret, Some(timestamp), Some(signature), body, now).is_ok() {
        assert_eq!(signature, compute_signature(&secret, timestamp, body).as_bytes());
        let ts: i64 = std::str::from_utf8(timestamp).unwrap().parse().unwrap();
        assert!((now - ts).abs() <= MAX_CLOCK_SKEW_SECS);
        assert!(timestamp.iter().all(u8::is_ascii_digit));
    }
    // The same body, signed correctly for a timestamp near `now`, is accepted.
    let offset = i64::from(*data.first().unwrap_or(&0)) - 128;
    let fresh = (now + offset).to_string();
    let good = compute_signature(&secret, fresh.as_bytes(), body);
    assert_eq!(verify_slack_signature(&secret, Some(fresh.as_bytes()), Some(good.as_bytes()), body, now), Ok(()));
    // And a signature with one byte changed is not.
    let mut bad = good.into_bytes();
    let i = bad.len() - 1;
    bad[i] = if bad[i] == b'0' { b'1' } else { b'0' };
    assert!(verify_slack_signature(&secret, Some(fresh.as_bytes()), Some(&bad), body, now).is_err());
});
