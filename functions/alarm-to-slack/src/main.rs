//! Wiring: tracing, configuration, clients built once per container, then the runtime loop.

use alarm_to_slack::{Config, Deps, HandlerError, handle};
use chatops_shared::aws::accounts::AccountNames;
use chatops_shared::aws::sdk_config;
use chatops_shared::aws::secrets::{LoadedBundle, bundle_from_env, with_bundle};
use chatops_shared::config::process_env;
use chatops_shared::http::{RetryPolicy, http_client};
use chatops_shared::state::dynamodb_client;
use lambda_runtime::{Error, service_fn};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    chatops_shared::logging::init();
    let http = http_client()?;
    // With SLACK_SECRETS_ARN the webhook URL or bot token comes from that secret, read once here (a
    // failure stops init, and Lambda's retry of the event initialises again).
    let loaded = match bundle_from_env(&http, &process_env).await {
        Ok(loaded) => loaded,
        Err(err) => {
            // Lambda sees why (`/runtime/init/error`), not only an exit.
            tracing::error!(error = %err, "cannot read SLACK_SECRETS_ARN");
            let message = format!("cannot read SLACK_SECRETS_ARN: {err}");
            chatops_shared::aws::init_error::report_init_error(&http, &process_env, "SecretError", &message).await;
            return Err(message.into());
        }
    };
    let (bundle, bundle_sdk, values) = match loaded {
        Some(LoadedBundle { sdk, bundle, values }) => (Some(bundle), Some(sdk), values),
        None => (None, None, Default::default()),
    };
    let lookup = with_bundle(&process_env, &values);
    // The SDK is configured only when KMS or the state table is used: a plaintext webhook starts faster.
    let setup = Config::from_lookup(&lookup).and_then(|config| {
        let sdk = match bundle_sdk {
            Some(sdk) => Some(sdk),
            None if config.needs_sdk() => Some(sdk_config(&http, &process_env)?),
            None if config.draws_graphs() => match sdk_config(&http, &process_env) {
                Ok(sdk) => Some(sdk),
                Err(err) => {
                    tracing::warn!(error = %err, "no alarm graphs: the AWS SDK cannot be configured here");
                    None
                }
            },
            None => None,
        };
        let kms = sdk.as_ref().filter(|_| config.needs_kms()).map(aws_sdk_kms::Client::new);
        let dynamodb = sdk.as_ref().filter(|_| config.state_table.is_some()).map(dynamodb_client);
        let organizations = sdk.as_ref().filter(|_| config.accounts.lookup).map(AccountNames::organizations_client);
        let cloudwatch = sdk.as_ref().filter(|_| config.draws_graphs()).map(aws_sdk_cloudwatch::Client::new);
        Ok((config, kms, dynamodb, organizations, cloudwatch))
    });
    let (config, kms, dynamodb, organizations, cloudwatch) = match setup {
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
    let cross_account = config.cross_account;
    let mut deps = Deps::new(config, kms, dynamodb, http, RetryPolicy::default());
    if let Some(client) = cloudwatch {
        deps.use_graphs(client, cross_account);
    }
    if let Some(bundle) = &bundle {
        deps.use_bundle(bundle);
    }
    if let Some(client) = organizations {
        deps.use_organizations(client);
    }
    // Decrypt the secret while the runtime fetches the first event, not after: the handler's get()
    // joins the decrypt in flight. A failure here is retried, and reported, by the handler.
    let prefetch = async {
        let alertmanager = async {
            if let Some(token) = &deps.alertmanager_token {
                let _ = token.get().await;
            }
        };
        let _ = tokio::join!(deps.sink.secret().get(), alertmanager);
    };
    let (_, served) = tokio::join!(prefetch, lambda_runtime::run(service_fn(|event| handle(&deps, event))));
    served
}
