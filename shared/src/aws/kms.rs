//! Decrypts a secret configured as a base64 KMS ciphertext, once per container.

use aws_sdk_kms::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_kms::primitives::Blob;
use base64::Engine as _;
use std::sync::Arc;

use tokio::sync::Mutex;

use super::secrets::SecretsBundle;
use crate::config::SecretSource;
use crate::secret::Secret;

/// The encryption context key that the Lambda console's encryption helpers use.
pub const CONTEXT_KEY: &str = "LambdaFunctionName";

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("{var} is not valid base64 KMS ciphertext")]
    NotBase64 { var: &'static str },
    #[error("KMS failed to decrypt {var}: {detail}")]
    Kms { var: &'static str, detail: String },
    #[error("{var} decrypted to bytes that are not UTF-8 text")]
    NotUtf8 { var: &'static str },
    #[error("{var} is a KMS ciphertext but no KMS client was configured")]
    NoClient { var: &'static str },
}

/// Decrypts `ciphertext_b64` with the encryption context `LambdaFunctionName=<function_name>` (what the
/// Lambda console makes), falling back to no context (what the SAM-repo blueprints made). The fallback
/// runs only when KMS says the ciphertext does not match; access or network failures are reported as they are.
pub async fn decrypt(
    client: &aws_sdk_kms::Client,
    var: &'static str,
    ciphertext_b64: &str,
    function_name: Option<&str>,
) -> Result<Secret, SecretError> {
    let blob = base64::engine::general_purpose::STANDARD
        .decode(ciphertext_b64.trim())
        .map_err(|_| SecretError::NotBase64 { var })?;
    let attempt = |context: Option<&str>| {
        let mut req = client.decrypt().ciphertext_blob(Blob::new(blob.clone()));
        if let Some(name) = context {
            req = req.encryption_context(CONTEXT_KEY, name);
        }
        req.send()
    };
    let output = match function_name {
        Some(name) => match attempt(Some(name)).await {
            Ok(out) => out,
            Err(err) if err.code() == Some("InvalidCiphertextException") => {
                attempt(None).await.map_err(|e| SecretError::Kms { var, detail: DisplayErrorContext(e).to_string() })?
            }
            Err(err) => {
                return Err(SecretError::Kms { var, detail: DisplayErrorContext(err).to_string() });
            }
        },
        None => {
            attempt(None).await.map_err(|e| SecretError::Kms { var, detail: DisplayErrorContext(e).to_string() })?
        }
    };
    let plaintext = output.plaintext.ok_or(SecretError::Kms { var, detail: "response had no plaintext".into() })?;
    String::from_utf8(plaintext.into_inner()).map(Secret::new).map_err(|_| SecretError::NotUtf8 { var })
}

/// A configured secret, resolved on first use and cached for the life of the container. Lazy, so a
/// KMS failure fails the invocation with a clear error (and is retried by the next one) instead of
/// killing the runtime during init. A value from the secrets bundle can be read again
/// ([`refresh`](Self::refresh)) when it stops working.
#[derive(Debug)]
pub struct CachedSecret {
    source: SecretSource,
    kms: Option<aws_sdk_kms::Client>,
    function_name: Option<String>,
    transform: fn(String) -> String,
    cell: Mutex<Option<Secret>>,
    bundle: Option<Arc<SecretsBundle>>,
}

impl CachedSecret {
    pub fn new(source: SecretSource, kms: Option<aws_sdk_kms::Client>, function_name: Option<String>) -> Self {
        Self { source, kms, function_name, transform: |s| s, cell: Mutex::new(None), bundle: None }
    }

    /// Where a value of the bundle is read again from (only used for [`SecretSource::Bundle`]).
    pub fn with_bundle(mut self, bundle: Option<Arc<SecretsBundle>>) -> Self {
        self.bundle = bundle;
        self
    }

    /// Like [`with_bundle`](Self::with_bundle), on a secret already built.
    pub fn set_bundle(&mut self, bundle: Option<Arc<SecretsBundle>>) {
        self.bundle = bundle;
    }

    /// For a value from the secrets bundle: reads the bundle again (at most once per
    /// `SLACK_SECRETS_REFRESH_SECONDS`, 30 by default) and returns the new value when it changed (it was
    /// rotated), so the caller may try once more with it. `None` for every other source.
    pub async fn refresh(&self) -> Option<Secret> {
        let (SecretSource::Bundle { key, .. }, Some(bundle)) = (&self.source, &self.bundle) else {
            return None;
        };
        let fresh = Secret::new((self.transform)(bundle.reread(key).await?));
        let mut cell = self.cell.lock().await;
        if cell.as_ref() == Some(&fresh) {
            return None;
        }
        tracing::info!(key = *key, "a value of the secrets bundle changed (rotated): using the new one");
        *cell = Some(fresh.clone());
        Some(fresh)
    }

    /// Applies `transform` to the plaintext once, after decryption (e.g. adding a URL scheme).
    pub fn with_transform(mut self, transform: fn(String) -> String) -> Self {
        self.transform = transform;
        self
    }

    pub async fn get(&self) -> Result<Secret, SecretError> {
        let mut cell = self.cell.lock().await;
        if let Some(secret) = cell.as_ref() {
            return Ok(secret.clone());
        }
        let plain = match &self.source {
            SecretSource::Plain { value, .. } | SecretSource::Bundle { value, .. } => value.clone(),
            SecretSource::Kms { var, ciphertext } => {
                let client = self.kms.as_ref().ok_or(SecretError::NoClient { var })?;
                decrypt(client, var, ciphertext, self.function_name.as_deref()).await?
            }
        };
        let secret = Secret::new((self.transform)(plain.expose().to_owned()));
        *cell = Some(secret.clone());
        Ok(secret)
    }
}

/// Our endpoints' bearer tokens (`http::bearer`) are configured secrets like any other.
impl crate::http::bearer::BearerToken for CachedSecret {
    async fn current(&self) -> Result<Secret, String> {
        self.get().await.map_err(|e| e.to_string())
    }

    async fn reread(&self) -> Option<Secret> {
        self.refresh().await
    }
}
