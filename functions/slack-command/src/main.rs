//! Wiring: tracing, configuration, AWS clients built once per container, then the runtime loop.

use std::time::Duration;

use aws_sdk_autoscaling::config::retry::RetryConfig;
use aws_sdk_autoscaling::config::timeout::TimeoutConfig;
use chatops_shared::aws::secrets::{LoadedBundle, bundle_from_env, with_bundle};
use lambda_runtime::{Error, service_fn};
use slack_command::{AwsClients, Config, handle_event};

type Configured = (Config, aws_types::SdkConfig, Option<std::sync::Arc<chatops_shared::aws::secrets::SecretsBundle>>);

/// The configuration, the SDK's and the stack's secret; or the error's type and message for Lambda.
async fn configure(http: &reqwest::Client) -> Result<Configured, (&'static str, String)> {
    let env = chatops_shared::config::process_env;
    let config_error = |err: chatops_shared::config::ConfigError| ("ConfigError", err.to_string());
    let loaded = bundle_from_env(http, &env)
        .await
        .map_err(|err| ("SecretError", format!("cannot read SLACK_SECRETS_ARN: {err}")))?;
    Ok(match loaded {
        None => {
            let config = Config::from_env().map_err(config_error)?;
            (config, chatops_shared::aws::sdk_config(http, &env).map_err(config_error)?, None)
        }
        Some(LoadedBundle { sdk, bundle, values }) => {
            let config = Config::from_lookup(&with_bundle(&env, &values)).map_err(config_error)?;
            (config, sdk, Some(bundle))
        }
    })
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    chatops_shared::logging::init();
    let env = chatops_shared::config::process_env;
    let http = chatops_shared::http::http_client()?;
    // Without its signing secret the function cannot verify anyone: fail init loudly, naming the variable,
    // in the log and to Lambda (`/runtime/init/error`, so `aws lambda invoke` shows why).
    // With SLACK_SECRETS_ARN the signing secret and tokens may come from that secret, read once here.
    let (config, sdk, bundle) = match configure(&http).await {
        Ok(configured) => configured,
        Err((error_type, message)) => {
            tracing::error!(error = %message, error_type, "slack-command cannot start");
            chatops_shared::aws::init_error::report_init_error(&http, &env, error_type, &message).await;
            return Err(message.into());
        }
    };
    let kms = config.needs_kms().then(|| aws_sdk_kms::Client::new(&sdk));
    // Slack waits 3 s: one quick retry at most, and no attempt may outlive the command's budget.
    let retry = RetryConfig::standard().with_max_attempts(2);
    let timeouts = TimeoutConfig::builder()
        .connect_timeout(Duration::from_millis(500))
        .read_timeout(Duration::from_millis(1500))
        .operation_attempt_timeout(Duration::from_millis(1500))
        .build();
    // Deploys read their mapping from Secrets Manager and claim events in the state table.
    let deploys = config.deploys.is_some();
    let aws = AwsClients {
        secrets: deploys.then(|| chatops_shared::aws::secrets::secrets_client(&sdk)),
        dynamodb: (deploys || config.state_table.is_some()).then(|| chatops_shared::state::dynamodb_client(&sdk)),
        scheduler: config.scheduler.is_some().then(|| chatops_shared::aws::scheduler::Scheduler::client(&sdk)),
        cloudwatch: (!config.mutable_alarms.is_empty()).then(|| {
            aws_sdk_cloudwatch::Client::from_conf(
                aws_sdk_cloudwatch::config::Builder::from(&sdk)
                    .retry_config(retry.clone())
                    .timeout_config(timeouts.clone())
                    .build(),
            )
        }),
        logs: (config.bot_token.is_some() && config.log_groups.is_some()).then(|| {
            aws_sdk_cloudwatchlogs::Client::from_conf(
                aws_sdk_cloudwatchlogs::config::Builder::from(&sdk)
                    .retry_config(retry.clone())
                    .timeout_config(timeouts.clone())
                    .build(),
            )
        }),
        autoscaling: aws_sdk_autoscaling::Client::from_conf(
            aws_sdk_autoscaling::config::Builder::from(&sdk)
                .retry_config(retry.clone())
                .timeout_config(timeouts.clone())
                .build(),
        ),
        codedeploy: aws_sdk_codedeploy::Client::from_conf(
            aws_sdk_codedeploy::config::Builder::from(&sdk).retry_config(retry).timeout_config(timeouts).build(),
        ),
    };
    let deps = slack_command::deps(config, kms, aws, http, bundle);
    // Decrypt the signing secret while the runtime fetches the first request (see alarm-to-slack).
    let prefetch = async {
        let _ = deps.signing_secret.get().await;
        // One bot token cell serves deploys and the policy: decrypted here once, with the deploy mapping.
        let bot_token = deps.bot.as_ref().map(|bot| &bot.token);
        let targets = deps.deploys.as_ref().map(|d| &d.targets);
        tokio::join!(
            async {
                if let Some(token) = bot_token {
                    let _ = token.get().await;
                }
            },
            async {
                if let Some(targets) = targets {
                    let _ = targets.get().await;
                }
            }
        );
    };
    let (_, served) = tokio::join!(prefetch, lambda_runtime::run(service_fn(|event| handle_event(&deps, event))));
    served
}
