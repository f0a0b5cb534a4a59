//! Lambda function: a drill, invoked by hand.
//!
//! Payload: `{"outpost": "op-…", "mode": "dry-run" | "live", "targetGroupArn": "…"}` (the target
//! group only for live drills, and only one holding no protected instance). Hands the request
//! to [`autorestart_flows::agent::Agent::drill`] and returns its report.
// The flows' futures, with their tracing spans, nest deeper than the default limit of 128
// when the compiler lays out the handler's future.
#![recursion_limit = "256"]

mod request;

use autorestart_core::drill::DrillReport;
use autorestart_flows::drill::DrillError;
use function_support::{Function, bad_event_diagnostic, flow_diagnostic};
use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let function = function_support::cold_start().await?;
    let function = &function;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        drill(function, event)
    }))
    .await
}

async fn drill(function: &Function, event: LambdaEvent<Value>) -> Result<DrillReport, Diagnostic> {
    // Every AWS call of the drill ends before the invocation does.
    let budget = function_support::budget(&event.context);
    let request =
        request::parse(event.payload, chrono::Utc::now()).map_err(bad_event_diagnostic)?;
    let report =
        budget
            .scope(function.agent.drill(&request))
            .await
            .map_err(|error| match error {
                DrillError::Flow(error) => flow_diagnostic(error),
                refused => Diagnostic {
                    error_type: "DrillRefused".into(),
                    error_message: refused.to_string(),
                },
            })?;
    function_support::log_report("INFO", "drill done", &report);
    Ok(report)
}
