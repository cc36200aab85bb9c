//! The AWS SDK's HTTP client, served by the container's one reqwest client: one connection pool, one
//! rustls configuration (compiled-in roots, no reading of /etc/ssl/certs at cold start), and no second
//! HTTP stack in the binary.
//!
//! Request bodies are in memory (KMS, Auto Scaling and CodeDeploy calls are small JSON or form
//! documents); a streaming body is refused with a clear error rather than buffered silently.

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;

/// Wraps `client` as the SDK's HTTP client.
pub fn sdk_http_client(client: reqwest::Client) -> SharedHttpClient {
    SharedHttpClient::new(ReqwestHttpClient { client })
}

#[derive(Clone, Debug)]
struct ReqwestHttpClient {
    client: reqwest::Client,
}

impl HttpClient for ReqwestHttpClient {
    fn http_connector(&self, settings: &HttpConnectorSettings, _components: &RuntimeComponents) -> SharedHttpConnector {
        // The SDK's connect and read timeouts become one per-request timeout (reqwest's covers the whole
        // exchange); the operation and attempt timeouts are enforced by the SDK itself above this layer. A
        // client with a short connect timeout must set a read timeout too, or the connect timeout alone
        // bounds every request (see the DynamoDB clients).
        let timeout = match (settings.connect_timeout(), settings.read_timeout()) {
            (Some(c), Some(r)) => Some(c + r),
            (c, r) => c.or(r),
        };
        SharedHttpConnector::new(ReqwestConnector { client: self.client.clone(), timeout })
    }
}

#[derive(Clone, Debug)]
struct ReqwestConnector {
    client: reqwest::Client,
    timeout: Option<std::time::Duration>,
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct ConnectorMessage(String);

fn classify(err: reqwest::Error) -> ConnectorError {
    let err = err.without_url();
    if err.is_timeout() {
        ConnectorError::timeout(err.into())
    } else if err.is_connect() || err.is_request() || err.is_body() {
        ConnectorError::io(err.into())
    } else {
        ConnectorError::other(err.into(), None)
    }
}

impl HttpConnector for ReqwestConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let client = self.client.clone();
        let timeout = self.timeout;
        HttpConnectorFuture::new(async move {
            let request = request.try_into_http1x().map_err(|e| ConnectorError::user(e.into()))?;
            let (parts, body) = request.into_parts();
            let Some(bytes) = body.bytes().map(<[u8]>::to_vec) else {
                return Err(ConnectorError::user(Box::new(ConnectorMessage(
                    "streaming request bodies are not supported by this HTTP client".into(),
                ))));
            };
            let mut builder = client.request(parts.method, parts.uri.to_string()).headers(parts.headers).body(bytes);
            if let Some(t) = timeout {
                builder = builder.timeout(t);
            }
            let response = builder.send().await.map_err(classify)?;
            let status = response.status();
            let headers = response.headers().clone();
            let body = response.bytes().await.map_err(classify)?;
            let mut http_response = http::Response::new(SdkBody::from(body));
            *http_response.status_mut() = status;
            *http_response.headers_mut() = headers;
            HttpResponse::try_from(http_response).map_err(|e| ConnectorError::other(e.into(), None))
        })
    }
}
