//! AWS adapters: KMS decryption of configured secrets, the SDK's HTTP client, and the SDK configuration
//! we share.

pub mod http;
pub mod kms;

/// Loads the SDK configuration once per container, served by the container's HTTP client. Endpoints,
/// region and credentials come from the SDK's standard settings, so `AWS_ENDPOINT_URL` (or a per-service
/// `AWS_ENDPOINT_URL_<SERVICE>`) points the clients at a local emulator unchanged.
pub async fn load_sdk_config(http: &reqwest::Client) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(http::sdk_http_client(http.clone()))
        .load()
        .await
}
