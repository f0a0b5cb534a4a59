//! Lambda function: a drill, invoked by hand.
//!
//! Payload: `{"outpost": "op-…", "mode": "dry-run" | "live", "targetGroupArn": "…"}` (the target
//! group only for live drills, and only one holding no protected instance). Hands the request
//! to [`autorestart_flows::agent::Agent::drill`] and returns its report.
//!
//! `{"outpost": "op-…", "mode": "failover"}`, sent once a person has confirmed the Outpost's
//! server is down, recovers its instances held by `autorestart:on-link-loss=hold`, through
//! [`autorestart_flows::agent::Agent::failover`] (accepted only while its alarm is in ALARM).
// The flows' futures, with their tracing spans, nest deeper than the default limit of 128
// when the compiler lays out the handler's future.
#![recursion_limit = "256"]

mod request;

use request::Request;

use autorestart_core::drill::DrillReport;
use autorestart_core::report::AlarmReport;
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

/// What the function answers: a drill's report, or a failover's recovery report.
#[derive(serde::Serialize)]
#[serde(untagged)]
enum Answer {
    Drill(Box<DrillReport>),
    Failover(Box<AlarmReport>),
}

async fn drill(function: &Function, event: LambdaEvent<Value>) -> Result<Answer, Diagnostic> {
    // Every AWS call of the drill ends before the invocation does.
    let budget = function_support::budget(&event.context);
    let request =
        request::parse(event.payload, chrono::Utc::now()).map_err(bad_event_diagnostic)?;
    match request {
        Request::Drill(request) => {
            let report = budget
                .scope(function.agent.drill(&request))
                .await
                .map_err(refused_diagnostic)?;
            function_support::log_report("INFO", "drill done", &report);
            Ok(Answer::Drill(Box::new(report)))
        }
        Request::Failover(outpost) => {
            let report = function
                .agent
                .failover(&outpost, budget)
                .await
                .map_err(refused_diagnostic)?;
            function_support::log_report("INFO", "failover done", &report);
            Ok(Answer::Failover(Box::new(report)))
        }
    }
}

fn refused_diagnostic(error: DrillError) -> Diagnostic {
    match error {
        DrillError::Flow(error) => flow_diagnostic(error),
        refused => Diagnostic {
            error_type: "DrillRefused".into(),
            error_message: refused.to_string(),
        },
    }
}
