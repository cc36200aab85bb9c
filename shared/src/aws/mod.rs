//! AWS adapters: KMS decryption of configured secrets, and the SDK configuration we share.

pub mod kms;

/// Loads the SDK configuration once per container. Endpoints, region and credentials come from the SDK's
/// standard settings, so `AWS_ENDPOINT_URL` points every client at a local emulator unchanged.
pub async fn load_sdk_config() -> aws_config::SdkConfig {
    aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await
}
