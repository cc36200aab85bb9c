//! Our own endpoints that are not Slack (`POST /alertmanager`, `POST /deploy/notify`) accept a caller by
//! an `Authorization: Bearer` token, compared in constant time, one way for both: a token in the query
//! string is refused (URLs end up in access logs), an endpoint without a configured token refuses
//! everything, a wrong or missing token is a 401, a token we cannot read (KMS failing) a 503 so the
//! caller retries. A token from the secrets bundle that does not match is read again once (rotation).
//! HTTP floor: imports only the base floor; the token's holder (`aws::kms::CachedSecret`) implements
//! [`BearerToken`] from above.

use lambda_http::{Body, Request, Response};

use super::gateway::json_error as refusal;
use crate::secret::Secret;

/// Where an endpoint's expected token comes from.
pub trait BearerToken: Sync {
    /// The token; `Err` with a reason (never the value) when it cannot be had.
    fn current(&self) -> impl Future<Output = Result<Secret, String>> + Send;
    /// A new value when the stored one was rotated; `None` when nothing changed (or cannot change).
    fn reread(&self) -> impl Future<Output = Option<Secret>> + Send;
}

/// One endpoint, as its refusals name it.
pub struct Endpoint {
    /// For the log: "Alertmanager request", "deploy callback".
    pub name: &'static str,
    /// The variables that configure its token, for the log when none is set.
    pub token_vars: &'static str,
    /// The answer to a token in the URL: where the caller's configuration puts the header.
    pub header_hint: &'static str,
}

/// Lets the request in, or answers the refusal (and logs why, never the token).
pub async fn authorise<T: BearerToken>(
    endpoint: &Endpoint,
    request: &Request,
    token: Option<&T>,
) -> Result<(), Response<Body>> {
    if request.uri().query().is_some_and(|q| q.split('&').any(|p| p.starts_with("token="))) {
        tracing::warn!("{} refused: token in the query string", endpoint.name);
        return Err(refusal(400, endpoint.header_hint));
    }
    let Some(token) = token else {
        tracing::error!("{} refused: no {} configured", endpoint.name, endpoint.token_vars);
        return Err(refusal(401, "unauthorised"));
    };
    let presented = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(str::trim);
    let expected = match token.current().await {
        Ok(expected) => expected,
        Err(err) => {
            tracing::error!(error = %err, "{}: token unavailable", endpoint.name);
            return Err(refusal(503, "the function cannot check tokens right now"));
        }
    };
    let Some(presented) = presented else {
        tracing::warn!(present = false, "{} refused: wrong or missing bearer token", endpoint.name);
        return Err(refusal(401, "unauthorised"));
    };
    if expected.matches(presented.as_bytes()) {
        return Ok(());
    }
    match token.reread().await {
        Some(fresh) if fresh.matches(presented.as_bytes()) => Ok(()),
        _ => {
            tracing::warn!(present = true, "{} refused: wrong or missing bearer token", endpoint.name);
            Err(refusal(401, "unauthorised"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    struct Rotating {
        now: &'static str,
        after: Option<&'static str>,
        rereads: AtomicU32,
    }

    impl BearerToken for Rotating {
        async fn current(&self) -> Result<Secret, String> {
            if self.now.is_empty() { Err("KMS unavailable".into()) } else { Ok(Secret::new(self.now)) }
        }
        async fn reread(&self) -> Option<Secret> {
            self.rereads.fetch_add(1, Ordering::SeqCst);
            self.after.map(Secret::new)
        }
    }

    const ENDPOINT: Endpoint =
        Endpoint { name: "test endpoint", token_vars: "TEST_TOKEN", header_hint: "use the Authorization header" };

    fn request(uri: &str, authorization: Option<&str>) -> Request {
        let mut builder = lambda_http::http::Request::builder().method("POST").uri(uri);
        if let Some(a) = authorization {
            builder = builder.header("authorization", a);
        }
        builder.body(Body::Empty).unwrap()
    }

    fn token(now: &'static str, after: Option<&'static str>) -> Rotating {
        Rotating { now, after, rereads: AtomicU32::new(0) }
    }

    async fn status(request: &Request, token: Option<&Rotating>) -> u16 {
        match authorise(&ENDPOINT, request, token).await {
            Ok(()) => 200,
            Err(response) => response.status().as_u16(),
        }
    }

    #[tokio::test]
    async fn every_refusal_has_its_status_and_only_the_right_token_passes() {
        let t = token("s3cret", None);
        assert_eq!(status(&request("/x", Some("Bearer s3cret")), Some(&t)).await, 200);
        assert_eq!(status(&request("/x", Some("bearer s3cret ")), Some(&t)).await, 200);
        assert_eq!(status(&request("/x", Some("Bearer s3cre")), Some(&t)).await, 401);
        assert_eq!(status(&request("/x", Some("Basic s3cret")), Some(&t)).await, 401);
        assert_eq!(status(&request("/x", None), Some(&t)).await, 401);
        assert_eq!(status(&request("/x?token=s3cret", Some("Bearer s3cret")), Some(&t)).await, 400);
        assert_eq!(status(&request("/x", Some("Bearer s3cret")), None).await, 401, "no token configured");
        assert_eq!(status(&request("/x", Some("Bearer s3cret")), Some(&token("", None))).await, 503);
    }

    #[tokio::test]
    async fn a_rotated_token_is_read_again_once_and_then_accepted() {
        let t = token("old", Some("new"));
        assert_eq!(status(&request("/x", Some("Bearer new")), Some(&t)).await, 200);
        assert_eq!(t.rereads.load(Ordering::SeqCst), 1);
        assert_eq!(status(&request("/x", Some("Bearer old")), Some(&t)).await, 200, "no reread for a match");
        assert_eq!(t.rereads.load(Ordering::SeqCst), 1);
    }
}
