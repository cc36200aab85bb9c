//! Slack request signatures: `v0=` + hex HMAC-SHA256 of `v0:{timestamp}:{raw body}` with the signing
//! secret. Checked over the raw bytes, before anything parses the body, in constant time, and only
//! within five minutes of now in either direction (Bolt accepts any future timestamp; we do not).

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::secret::Secret;

/// How far a request's timestamp may be from now, past or future.
pub const MAX_CLOCK_SKEW_SECS: i64 = 300;

/// Why a request was refused. The HTTP answer is a bare 401 whatever the reason; the reason is for logs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("X-Slack-Request-Timestamp header missing")]
    MissingTimestamp,
    #[error("X-Slack-Signature header missing")]
    MissingSignature,
    #[error("timestamp is not a number of seconds")]
    MalformedTimestamp,
    #[error("timestamp is more than 5 minutes from now")]
    StaleTimestamp,
    #[error("signature does not match")]
    Mismatch,
}

/// Checks a Slack request. `now_unix` is the current time in seconds (a parameter, so tests control it).
pub fn verify_slack_signature(
    secret: &Secret,
    timestamp: Option<&[u8]>,
    signature: Option<&[u8]>,
    body: &[u8],
    now_unix: i64,
) -> Result<(), SignatureError> {
    let timestamp = timestamp.ok_or(SignatureError::MissingTimestamp)?;
    let signature = signature.ok_or(SignatureError::MissingSignature)?;
    // Digits only: no sign, no spaces, no exponent; at most 12 so the parse cannot overflow.
    if timestamp.is_empty() || timestamp.len() > 12 || !timestamp.iter().all(u8::is_ascii_digit) {
        return Err(SignatureError::MalformedTimestamp);
    }
    let ts: i64 =
        std::str::from_utf8(timestamp).ok().and_then(|t| t.parse().ok()).ok_or(SignatureError::MalformedTimestamp)?;
    if (now_unix - ts).abs() > MAX_CLOCK_SKEW_SECS {
        return Err(SignatureError::StaleTimestamp);
    }
    let expected = compute_signature(secret, timestamp, body);
    if expected.as_bytes().ct_eq(signature).into() { Ok(()) } else { Err(SignatureError::Mismatch) }
}

/// `v0=` + lowercase hex, as Slack sends it.
pub fn compute_signature(secret: &Secret, timestamp: &[u8], body: &[u8]) -> String {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes()) {
        Ok(mac) => mac,
        Err(_) => return String::new(),
    };
    mac.update(b"v0:");
    mac.update(timestamp);
    mac.update(b":");
    mac.update(body);
    format!("v0={}", hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Slack's documented example.
    const SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
    const TS: &str = "1531420618";
    const BODY: &str = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    const SIG: &str = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";

    #[test]
    fn slacks_documented_example_verifies() {
        let secret = Secret::new(SECRET);
        assert_eq!(compute_signature(&secret, TS.as_bytes(), BODY.as_bytes()), SIG);
        let now = TS.parse::<i64>().unwrap() + 10;
        assert_eq!(
            verify_slack_signature(&secret, Some(TS.as_bytes()), Some(SIG.as_bytes()), BODY.as_bytes(), now),
            Ok(())
        );
    }
}
