//! AWS adapters: KMS decryption of configured secrets, the SDK's HTTP client, and the SDK configuration
//! we share.
//!
//! The configuration is read from the Lambda environment directly instead of through `aws-config`.
//! Lambda hands a function everything the SDK needs in environment variables: the region, and the
//! execution role's credentials. `aws-config` would also probe profile files, build the STS, SSO and
//! instance-metadata providers and their clients, and cost a third of a millisecond on every cold start
//! plus about 0.5 MiB of binary for code a Lambda function never runs (docs/performance.md).
//!
//! The standard endpoint settings are honoured exactly as the SDK defines them, so a local emulator is
//! reached unchanged: `AWS_ENDPOINT_URL_<SERVICE>` (e.g. `AWS_ENDPOINT_URL_KMS`,
//! `AWS_ENDPOINT_URL_AUTO_SCALING`, `AWS_ENDPOINT_URL_CODEDEPLOY`, `AWS_ENDPOINT_URL_DYNAMODB`,
//! `AWS_ENDPOINT_URL_SECRETS_MANAGER`, `AWS_ENDPOINT_URL_CLOUDWATCH`, `AWS_ENDPOINT_URL_SCHEDULER`,
//! `AWS_ENDPOINT_URL_ORGANIZATIONS`, `AWS_ENDPOINT_URL_CLOUDWATCH_LOGS`), then `AWS_ENDPOINT_URL`, both off
//! when `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true`; and `AWS_USE_FIPS_ENDPOINT`, `AWS_USE_DUALSTACK_ENDPOINT`.
//!
//! Adapter floor: imports `http` and the base floor (`config`, `secret`).

pub mod accounts;
pub mod graphs;
pub mod http;
pub mod init_error;
pub mod kms;
pub mod logs;
pub mod scheduler;
pub mod secrets;

use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_types::SdkConfig;
use aws_types::region::Region;
use aws_types::service_config::{LoadServiceConfig, ServiceConfigKey};

use crate::config::{ConfigError, non_empty};

/// Builds the SDK configuration once per container from `lookup` (the process environment in `main`, a
/// map in tests), served by the container's HTTP client. Fails, naming the variable, when the region or
/// the credentials are missing or a switch is not `true`/`false`; never prints a credential.
pub fn sdk_config(http: &reqwest::Client, lookup: &dyn Fn(&str) -> Option<String>) -> Result<SdkConfig, ConfigError> {
    let region = non_empty(lookup, "AWS_REGION")
        .or_else(|| non_empty(lookup, "AWS_DEFAULT_REGION"))
        .ok_or(ConfigError::Missing { var: "AWS_REGION", hint: "Lambda sets it; set it for local runs" })?;
    let missing_credentials = |var| ConfigError::Missing {
        var,
        hint: "Lambda sets it from the execution role; export credentials for local runs",
    };
    let access_key = non_empty(lookup, "AWS_ACCESS_KEY_ID").ok_or_else(|| missing_credentials("AWS_ACCESS_KEY_ID"))?;
    let secret_key =
        non_empty(lookup, "AWS_SECRET_ACCESS_KEY").ok_or_else(|| missing_credentials("AWS_SECRET_ACCESS_KEY"))?;
    let credentials = Credentials::new(access_key, secret_key, non_empty(lookup, "AWS_SESSION_TOKEN"), None, "Lambda");
    let endpoints = EnvEndpoints::from_lookup(lookup)?;
    Ok(SdkConfig::builder()
        .behavior_version(aws_smithy_runtime_api::client::behavior_version::BehaviorVersion::latest())
        .region(Region::new(region))
        .credentials_provider(SharedCredentialsProvider::new(credentials))
        .use_fips(flag(lookup, "AWS_USE_FIPS_ENDPOINT")?)
        .use_dual_stack(flag(lookup, "AWS_USE_DUALSTACK_ENDPOINT")?)
        .service_config(endpoints)
        .http_client(http::sdk_http_client(http.clone()))
        .build())
}

/// A `true`/`false` switch (any case); unset or blank is false.
fn flag(lookup: &dyn Fn(&str) -> Option<String>, var: &'static str) -> Result<bool, ConfigError> {
    match non_empty(lookup, var) {
        None => Ok(false),
        Some(v) if v.eq_ignore_ascii_case("true") => Ok(true),
        Some(v) if v.eq_ignore_ascii_case("false") => Ok(false),
        Some(_) => Err(ConfigError::Invalid { var, problem: "must be true or false".into() }),
    }
}

/// The endpoint URLs configured in the environment, read once. The SDK asks, per service, for the key
/// `AWS_ENDPOINT_URL` and service id (e.g. "Auto Scaling"); the service's own variable is the key with
/// the id in upper case, spaces as underscores (`AWS_ENDPOINT_URL_AUTO_SCALING`), as the SDKs define it.
#[derive(Debug, Clone, Default)]
struct EnvEndpoints {
    /// (variable, URL) pairs, global and per service.
    urls: Vec<(String, String)>,
}

impl EnvEndpoints {
    const VAR: &'static str = "AWS_ENDPOINT_URL";
    const SERVICE_IDS: [&'static str; 9] = [
        "KMS",
        "Auto Scaling",
        "CodeDeploy",
        "DynamoDB",
        "Secrets Manager",
        "CloudWatch",
        "Scheduler",
        "Organizations",
        "CloudWatch Logs",
    ];

    fn from_lookup(lookup: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        if flag(lookup, "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")? {
            return Ok(Self::default());
        }
        let vars =
            std::iter::once(Self::VAR.to_owned()).chain(Self::SERVICE_IDS.iter().map(|id| Self::service_var(id)));
        Ok(Self { urls: vars.filter_map(|var| non_empty(lookup, &var).map(|url| (var, url))).collect() })
    }

    fn service_var(service_id: &str) -> String {
        format!("{}_{}", Self::VAR, service_id.to_uppercase().replace(' ', "_"))
    }

    fn get(&self, var: &str) -> Option<String> {
        self.urls.iter().find(|(v, _)| v == var).map(|(_, url)| url.clone())
    }
}

impl LoadServiceConfig for EnvEndpoints {
    fn load_config(&self, key: ServiceConfigKey<'_>) -> Option<String> {
        if key.env() != Self::VAR {
            return None;
        }
        self.get(&Self::service_var(key.service_id())).or_else(|| self.get(Self::VAR))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::config::test_lookup as lookup;

    const LAMBDA: [(&str, &str); 4] = [
        ("AWS_REGION", "eu-west-1"),
        ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
        ("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
        ("AWS_SESSION_TOKEN", "session-token-example"),
    ];

    fn http() -> reqwest::Client {
        crate::http::http_client().unwrap()
    }

    /// The Lambda variables and `extra`.
    fn with<'a>(extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
        LAMBDA.iter().chain(extra).copied().collect()
    }

    #[test]
    fn region_and_credentials_come_from_the_lambda_variables() {
        let sdk = sdk_config(&http(), &lookup(&LAMBDA)).unwrap();
        assert_eq!(sdk.region().map(|r| r.as_ref()), Some("eu-west-1"));
        assert!(sdk.credentials_provider().is_some());
        assert!(sdk.http_client().is_some(), "the SDK must be served by our client: it has none of its own");
        assert_eq!(sdk.use_fips(), Some(false));
        let kms = aws_sdk_kms::config::Config::from(&sdk);
        assert_eq!(kms.region().map(|r| r.as_ref()), Some("eu-west-1"));
    }

    #[test]
    fn default_region_is_the_fallback() {
        let pairs: Vec<_> = LAMBDA.iter().filter(|(k, _)| *k != "AWS_REGION").copied().collect();
        let pairs = [pairs, vec![("AWS_DEFAULT_REGION", "us-gov-west-1")]].concat();
        let sdk = sdk_config(&http(), &lookup(&pairs)).unwrap();
        assert_eq!(sdk.region().map(|r| r.as_ref()), Some("us-gov-west-1"));
    }

    #[test]
    fn missing_settings_are_named_and_secrets_are_not_printed() {
        for absent in ["AWS_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"] {
            let pairs: Vec<_> = LAMBDA.iter().filter(|(k, _)| *k != absent).copied().collect();
            let err = sdk_config(&http(), &lookup(&pairs)).unwrap_err();
            assert_eq!(err.var(), absent);
            let text = err.to_string();
            assert!(text.contains(absent), "{text}");
            for (_, value) in LAMBDA {
                assert!(!text.contains(value), "{text} prints a configured value");
            }
        }
        // Blank counts as unset.
        let blank: Vec<_> =
            LAMBDA.iter().map(|&(k, v)| if k == "AWS_ACCESS_KEY_ID" { (k, "  ") } else { (k, v) }).collect();
        assert_eq!(sdk_config(&http(), &lookup(&blank)).unwrap_err().var(), "AWS_ACCESS_KEY_ID");
    }

    #[test]
    fn switches_accept_true_and_false_only() {
        let sdk = sdk_config(&http(), &lookup(&with(&[("AWS_USE_FIPS_ENDPOINT", "TRUE")]))).unwrap();
        assert_eq!(sdk.use_fips(), Some(true));
        let sdk = sdk_config(&http(), &lookup(&with(&[("AWS_USE_DUALSTACK_ENDPOINT", "true")]))).unwrap();
        assert_eq!(sdk.use_dual_stack(), Some(true));
        let err = sdk_config(&http(), &lookup(&with(&[("AWS_USE_FIPS_ENDPOINT", "yes")]))).unwrap_err();
        assert_eq!(err.var(), "AWS_USE_FIPS_ENDPOINT");
    }

    /// A loopback listener that counts the connections it gets and answers each with a 400.
    async fn listener() -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
        use std::sync::atomic::Ordering;
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", l.local_addr().unwrap());
        let hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = hits.clone();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = l.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                let mut buf = [0u8; 8192];
                let _ = stream.read(&mut buf).await;
                let body = r#"{"__type":"ValidationException","message":"no"}"#;
                let reply = format!(
                    "HTTP/1.1 400 Bad Request\r\ncontent-type: application/x-amz-json-1.1\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(reply.as_bytes()).await;
            }
        });
        (url, hits)
    }

    /// Which of the listeners each client calls, by sending one request with each.
    async fn calls(sdk: &SdkConfig) {
        let kms = aws_sdk_kms::Client::new(sdk);
        let _ = kms.decrypt().ciphertext_blob(aws_sdk_kms::primitives::Blob::new(vec![1u8])).send().await;
        let asg = aws_sdk_autoscaling::Client::new(sdk);
        let _ = asg.describe_auto_scaling_groups().send().await;
        let cd = aws_sdk_codedeploy::Client::new(sdk);
        let _ = cd.get_deployment().deployment_id("d-1").send().await;
    }

    #[tokio::test]
    async fn each_service_goes_to_its_own_endpoint_then_the_global_one() {
        use std::sync::atomic::Ordering::SeqCst;
        let (global, global_hits) = listener().await;
        let (asg, asg_hits) = listener().await;
        let (cd, cd_hits) = listener().await;
        let pairs = with(&[
            ("AWS_ENDPOINT_URL", global.as_str()),
            ("AWS_ENDPOINT_URL_AUTO_SCALING", asg.as_str()),
            ("AWS_ENDPOINT_URL_CODEDEPLOY", cd.as_str()),
        ]);
        calls(&sdk_config(&http(), &lookup(&pairs)).unwrap()).await;
        // KMS has no variable of its own here, so it takes the global one; 400s are not retried.
        assert_eq!((global_hits.load(SeqCst), asg_hits.load(SeqCst), cd_hits.load(SeqCst)), (1, 1, 1));

        let (kms, kms_hits) = listener().await;
        let pairs = with(&[("AWS_ENDPOINT_URL", global.as_str()), ("AWS_ENDPOINT_URL_KMS", kms.as_str())]);
        calls(&sdk_config(&http(), &lookup(&pairs)).unwrap()).await;
        assert_eq!(kms_hits.load(SeqCst), 1);
        assert_eq!(global_hits.load(SeqCst), 3, "Auto Scaling and CodeDeploy fall back to AWS_ENDPOINT_URL");
    }

    #[tokio::test]
    async fn configured_endpoints_can_be_ignored() {
        use std::sync::atomic::Ordering::SeqCst;
        let (global, global_hits) = listener().await;
        let (kms, kms_hits) = listener().await;
        let pairs = with(&[
            ("AWS_ENDPOINT_URL", global.as_str()),
            ("AWS_ENDPOINT_URL_KMS", kms.as_str()),
            ("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true"),
        ]);
        let sdk = sdk_config(&http(), &lookup(&pairs)).unwrap();
        // With the endpoints ignored the request would go to AWS itself: check only the resolution.
        let endpoints = sdk.service_config().expect("endpoint settings");
        let key = ServiceConfigKey::builder().service_id("KMS").env("AWS_ENDPOINT_URL").profile("endpoint_url");
        assert_eq!(endpoints.load_config(key.build().unwrap()), None);
        assert_eq!((global_hits.load(SeqCst), kms_hits.load(SeqCst)), (0, 0));
    }
}
