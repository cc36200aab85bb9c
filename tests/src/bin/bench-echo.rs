//! The floor: a bare `lambda_runtime` function that echoes its event, built with the same profile as
//! the real functions. The benchmark reports every figure as a ratio to this one.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| async move { Ok::<Value, Error>(event.payload) })).await
}
