//! The one clock: the wall time as the state table, Slack's signatures and the deadlines count it.
//! Code that decides by time takes `now` as an argument (or a `fn() -> i64` in its dependencies) so tests
//! pin it; only the edges call these. Base floor: imports nothing from this crate.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

fn since_epoch() -> Duration {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default()
}

/// Milliseconds since the epoch (claims, leases, pacing slots).
pub fn now_ms() -> i64 {
    since_epoch().as_millis() as i64
}

/// Seconds since the epoch (Slack's request timestamps, records' expiry).
pub fn now_unix() -> i64 {
    since_epoch().as_secs() as i64
}

/// Nanoseconds within the current second: a cheap source of uniqueness for owner names.
pub fn subsec_nanos() -> u32 {
    since_epoch().subsec_nanos()
}

/// The instant by which an invocation must be finished, from the runtime's deadline (milliseconds since
/// the epoch, `Context::deadline`), less `reserve` kept for reporting the outcome.
pub fn invocation_deadline(deadline_ms: u64, reserve: Duration) -> Instant {
    let now_ms = since_epoch().as_millis() as u64;
    let left = Duration::from_millis(deadline_ms.saturating_sub(now_ms)).saturating_sub(reserve);
    Instant::now() + left
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deadline_in_the_past_is_now_and_the_reserve_is_kept() {
        let before = Instant::now();
        assert!(
            invocation_deadline(0, Duration::ZERO) <= Instant::now()
                && invocation_deadline(0, Duration::ZERO) >= before
        );
        let in_ten = now_ms() as u64 + 10_000;
        let deadline = invocation_deadline(in_ten, Duration::from_secs(4));
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(left > Duration::from_millis(5_500) && left <= Duration::from_secs(6), "{left:?}");
        assert_eq!(now_ms() / 1000 - now_unix(), 0, "one clock: the same second in both units");
    }
}
