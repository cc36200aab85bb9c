//! Wiring: tracing, configuration, clients built once per container, then the runtime loop.

use alarm_to_slack::{Config, Deps, HandlerError, handle};
use chatops_shared::aws::sdk_config;
use chatops_shared::secret::process_env;
use chatops_shared::slack::webhook::{RetryPolicy, http_client};
use lambda_runtime::{Error, service_fn};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    chatops_shared::logging::init();
    let http = http_client()?;
    // The SDK is configured only when the webhook is a KMS ciphertext: a plaintext configuration starts faster.
    let setup = Config::from_env().and_then(|config| {
        let kms =
            if config.needs_kms() { Some(aws_sdk_kms::Client::new(&sdk_config(&http, &process_env)?)) } else { None };
        Ok((config, kms))
    });
    let (config, kms) = match setup {
        Ok(setup) => setup,
        Err(err) => {
            // Keep serving so every invocation fails with this clear error (and the alarm goes to the
            // on-failure destination) instead of a crash loop with a bare exit code.
            tracing::error!(error = %err, "alarm-to-slack is not configured");
            return lambda_runtime::run(service_fn(|_: lambda_runtime::LambdaEvent<serde_json::Value>| {
                let err = err.clone();
                async move { Err::<serde_json::Value, _>(HandlerError::Config(err)) }
            }))
            .await;
        }
    };
    let deps = Deps::new(config, kms, http, RetryPolicy::default());
    // Decrypt the webhook while the runtime fetches the first event, not after: the handler's get()
    // joins the decrypt in flight. A failure here is retried, and reported, by the handler.
    let prefetch = async {
        let _ = deps.webhook_url.get().await;
    };
    let (_, served) = tokio::join!(prefetch, lambda_runtime::run(service_fn(|event| handle(&deps, event))));
    served
}
