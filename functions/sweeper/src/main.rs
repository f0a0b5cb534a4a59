//! Lambda function: the scheduled sweep.
//!
//! The schedule's event carries nothing the sweep needs, so any payload is accepted. The sweep
//! itself is [`autorestart_flows::agent::Agent::sweep_until`]; this binary prints its metrics (embedded metric
//! format) and fails the invocation when a step failed, so the function-errors alarm sees it.
// The flows' futures, with their tracing spans, nest deeper than the default limit of 128
// when the compiler lays out the handler's future.
#![recursion_limit = "256"]

use autorestart_core::metrics;
use autorestart_core::report::SweepReport;
use autorestart_flows::budget::Budget;
use function_support::{Function, flow_diagnostic};
use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let function = function_support::cold_start().await?;
    let function = &function;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        sweep(function, function_support::budget(&event.context))
    }))
    .await
}

async fn sweep(function: &Function, budget: Budget) -> Result<SweepReport, Diagnostic> {
    let report = function
        .agent
        .sweep_until(budget)
        .await
        .map_err(flow_diagnostic)?;
    function.emit_metrics(&metrics::sweep_documents(
        &function.metrics_namespace,
        &report,
        chrono::Utc::now(),
    ));
    if report.errors.is_empty() {
        function_support::log_report("INFO", "sweep complete", &report);
        Ok(report)
    } else {
        function_support::log_report(
            "ERROR",
            "sweep incomplete; the next sweep tries again",
            &report,
        );
        Err(Diagnostic {
            error_type: "SweepIncomplete".into(),
            error_message: report.errors.join("; "),
        })
    }
}
