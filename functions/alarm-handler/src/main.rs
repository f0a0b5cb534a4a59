//! Lambda function: an Outpost's ConnectedStatus alarm changed state.
//!
//! Parses the EventBridge event, hands it to [`shared::agent::Agent`], and returns the typed
//! report. Configuration is read once, at cold start.

mod config;
mod event;

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use serde_json::Value;
use shared::agent::{Agent, AgentError};
use shared::aws::{Ec2Compute, ElbTargetGroups, SnsNotifier};
use shared::report::AlarmReport;

use crate::config::Config;
use crate::event::{BadEvent, Parsed};

type AwsAgent = Agent<Ec2Compute, ElbTargetGroups, SnsNotifier>;

/// Attempts per AWS call, throttling included, before the SDK gives up.
const MAX_ATTEMPTS: u32 = 6;

/// Why an invocation failed; each is safe to retry.
#[derive(Debug, thiserror::Error)]
enum HandlerError {
    #[error(transparent)]
    BadEvent(#[from] BadEvent),
    #[error(transparent)]
    Agent(#[from] AgentError),
}

impl From<HandlerError> for Diagnostic {
    fn from(error: HandlerError) -> Self {
        let error_type = match &error {
            HandlerError::BadEvent(_) => "BadEvent",
            HandlerError::Agent(AgentError::Read(_)) => "ReadFailed",
            HandlerError::Agent(AgentError::Notify { .. }) => "NotifyFailed",
        };
        Diagnostic {
            error_type: error_type.into(),
            error_message: error.to_string(),
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(error) => {
            tracing::error!(%error, "bad configuration; fix the function's environment in template.yaml");
            return Err(error.into());
        }
    };
    let sdk = aws_config::defaults(BehaviorVersion::latest())
        .retry_config(RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS))
        .load()
        .await;
    let agent: AwsAgent = Agent::new(
        Ec2Compute::new(aws_sdk_ec2::Client::new(&sdk)),
        ElbTargetGroups::new(aws_sdk_elasticloadbalancingv2::Client::new(&sdk)),
        SnsNotifier::new(aws_sdk_sns::Client::new(&sdk), config.topic_arn),
        config.settings,
    );
    let agent = &agent;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| handle(agent, event))).await
}

async fn handle(agent: &AwsAgent, event: LambdaEvent<Value>) -> Result<AlarmReport, HandlerError> {
    let change = match event::parse(event.payload)? {
        Parsed::Alarm(change) => change,
        Parsed::NotAnAlarm { reason, time } => {
            tracing::info!(%reason, "ignoring event");
            return Ok(agent.ignored(reason, time));
        }
    };
    match agent.handle(&change).await {
        Ok(report) => {
            tracing::info!(report = %serde_json::to_string(&report).unwrap_or_default(), "alarm handled");
            Ok(report)
        }
        Err(error) => {
            if let AgentError::Notify { report, .. } = &error {
                tracing::error!(report = %serde_json::to_string(report).unwrap_or_default(), "work done, notice not sent");
            }
            Err(error.into())
        }
    }
}
