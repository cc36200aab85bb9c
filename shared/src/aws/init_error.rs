//! Reporting a failed init to Lambda: `POST /runtime/init/error` on the Runtime API, with the error's
//! type and message, before the process exits. Without it Lambda sees only the exit (`Runtime.ExitError`)
//! and `aws lambda invoke` or the console's test shows nothing of what went wrong. The message names the
//! variable or the policy rule at fault, never a secret (the errors carry no secret values).
//! `lambda_runtime` reports its own init failures this way, but offers no call for the application's.

use std::time::Duration;

/// Where the Runtime API is (set by Lambda, and by the test emulator).
pub const RUNTIME_API_VAR: &str = "AWS_LAMBDA_RUNTIME_API";

/// Posts `error_type` (`ConfigError`, `SecretError`, ...) and `message` to the Runtime API's init error
/// endpoint. A failure to report is logged: the process exits either way.
pub async fn report_init_error(
    http: &reqwest::Client,
    lookup: &dyn Fn(&str) -> Option<String>,
    error_type: &str,
    message: &str,
) {
    let Some(api) = crate::config::non_empty(lookup, RUNTIME_API_VAR) else {
        return; // not on Lambda (a local run): the log line is all there is
    };
    let body = serde_json::json!({ "errorType": error_type, "errorMessage": message, "stackTrace": [] });
    let sent = http
        .post(format!("http://{api}/2018-06-01/runtime/init/error"))
        .header("Lambda-Runtime-Function-Error-Type", error_type)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body.to_string())
        .timeout(Duration::from_secs(2))
        .send()
        .await;
    match sent {
        Ok(answer) if answer.status().is_success() => {}
        Ok(answer) => tracing::warn!(status = answer.status().as_u16(), "the Runtime API refused the init error"),
        Err(err) => tracing::warn!(error = %err.without_url(), "could not report the init error to the Runtime API"),
    }
}
