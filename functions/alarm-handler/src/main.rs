//! Lambda function: an Outpost's ConnectedStatus alarm changed state.
//!
//! Parses the EventBridge event, hands it to
//! [`autorestart_flows::agent::Agent::handle_alarm_until`], and returns the typed report. A
//! person's failover request (`events/failover.json`), sent once they have confirmed a server is
//! down, goes to [`autorestart_flows::agent::Agent::failover`], a failback request
//! (`events/failback-dry-run.json`, `events/failback.json`) to
//! [`autorestart_flows::agent::Agent::failback`]: this function's role may recover instances
//! and move them home; the drill's may not touch production. Configuration is read once, at
//! cold start.
// The flows' futures, with their tracing spans, nest deeper than the default limit of 128
// when the compiler lays out the handler's future.
#![recursion_limit = "256"]

mod event;

use autorestart_core::failback::FailbackReport;
use autorestart_core::metrics;
use autorestart_core::report::AlarmReport;
use autorestart_flows::failback::FailbackError;
use autorestart_flows::failover::FailoverError;
use function_support::{Function, bad_event_diagnostic, flow_diagnostic};
use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use serde_json::Value;

use crate::event::Parsed;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let function = function_support::cold_start().await?;
    let function = &function;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        handle(function, event)
    }))
    .await
}

/// What the function returns: the alarm's (or a failover's) report, or a failback's.
#[derive(serde::Serialize)]
#[serde(untagged)]
enum Reply {
    Alarm(Box<AlarmReport>),
    Failback(Box<FailbackReport>),
}

async fn handle(function: &Function, event: LambdaEvent<Value>) -> Result<Reply, Diagnostic> {
    let agent = &function.agent;
    let budget = function_support::budget(&event.context);
    let change = match event::parse(event.payload).map_err(bad_event_diagnostic)? {
        Parsed::Alarm(change) => change,
        Parsed::Failover(outpost) => {
            let report = agent
                .failover(&outpost, budget)
                .await
                .map_err(|error| match error {
                    FailoverError::Flow(error) => flow_diagnostic(error),
                    refused => Diagnostic {
                        error_type: "FailoverRefused".into(),
                        error_message: refused.to_string(),
                    },
                })?;
            function_support::log_report("INFO", "failover done", &report);
            return Ok(Reply::Alarm(Box::new(report)));
        }
        Parsed::Failback(request) => {
            let report = agent
                .failback(&request, budget)
                .await
                .map_err(|error| match error {
                    FailbackError::Flow(error) => flow_diagnostic(error),
                    refused => Diagnostic {
                        error_type: "FailbackRefused".into(),
                        error_message: refused.to_string(),
                    },
                })?;
            function_support::log_report("INFO", "failback done", &report);
            function.emit_metrics(&metrics::failback_documents(
                &function.metrics_namespace,
                &report,
                chrono::Utc::now(),
            ));
            return Ok(Reply::Failback(Box::new(report)));
        }
        Parsed::NotAnAlarm { reason, time } => {
            tracing::info!(%reason, "ignoring event");
            return Ok(Reply::Alarm(Box::new(AlarmReport::ignored(
                reason,
                time,
                agent.settings().mode,
            ))));
        }
    };
    let report = agent
        .handle_alarm_until(&change, budget)
        .await
        .map_err(flow_diagnostic)?;
    function_support::log_report("INFO", "alarm handled", &report);
    function.emit_metrics(&metrics::recovery_documents(
        &function.metrics_namespace,
        &report,
        chrono::Utc::now(),
    ));
    Ok(Reply::Alarm(Box::new(report)))
}
