//! Lambda function: DRS reported the result of a recovery launch.
//!
//! Parses the EventBridge event, hands it to [`autorestart_flows::agent::Agent::handle_drs_result`], and
//! returns the typed report. DRS events are best effort: nothing depends on receiving one.
// The flows' futures, with their tracing spans, nest deeper than the default limit of 128
// when the compiler lays out the handler's future.
#![recursion_limit = "256"]

mod event;

use autorestart_core::report::DrsReport;
use function_support::{bad_event_diagnostic, flow_diagnostic};
use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use serde_json::Value;

use crate::event::Parsed;

/// The handler's answer: a report, or why the event was not ours.
#[derive(Debug, serde::Serialize)]
#[serde(untagged)]
enum Answer {
    Handled(Box<DrsReport>),
    Ignored { ignored_because: String },
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let function = function_support::cold_start().await?;
    let agent = &function.agent;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        handle(agent, event)
    }))
    .await
}

async fn handle(
    agent: &function_support::AwsAgent,
    event: LambdaEvent<Value>,
) -> Result<Answer, Diagnostic> {
    let budget = function_support::budget(&event.context);
    let result = match event::parse(event.payload).map_err(bad_event_diagnostic)? {
        Parsed::Result(result) => result,
        Parsed::Other(reason) => {
            tracing::info!(%reason, "ignoring event");
            return Ok(Answer::Ignored {
                ignored_because: reason,
            });
        }
    };
    let report = budget
        .scope(agent.handle_drs_result(&result))
        .await
        .map_err(flow_diagnostic)?;
    function_support::log_report("INFO", "DRS result handled", &report);
    Ok(Answer::Handled(Box::new(report)))
}
