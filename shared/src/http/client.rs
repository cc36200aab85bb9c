//! The one HTTP client a container shares, and how its errors are told. HTTP floor: imports nothing
//! from this crate.

use std::time::Duration;

/// Builds the one HTTP client a container shares (rustls; connection reuse across invocations).
///
/// Its trust roots are Mozilla's, compiled in (webpki-roots), instead of the platform store: loading
/// and parsing the ~150 certificates of `/etc/ssl/certs` took milliseconds of every cold start.
pub fn http_client() -> Result<reqwest::Client, HttpClientError> {
    let roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
    let tls =
        rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| HttpClientError(e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .connect_timeout(Duration::from_secs(3))
        .pool_idle_timeout(Duration::from_secs(50))
        .user_agent(concat!("chatops-lambda/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| HttpClientError(e.to_string()))
}

/// The HTTP client could not be built (TLS configuration).
#[derive(Debug, thiserror::Error)]
#[error("could not build the HTTP client: {0}")]
pub struct HttpClientError(String);

/// An error with its causes ("error sending request: ... invalid peer certificate: UnknownIssuer"): reqwest's
/// own message alone does not say what went wrong. Callers strip the URL first (`without_url`).
pub fn error_chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !out.ends_with(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = cause.source();
    }
    out
}
