//! What every function shares, at its edge: configuration from the environment (checked once at
//! cold start), the flows' ports over the AWS SDK, and the error shape Lambda records.

pub mod config;

use autorestart_aws::{
    CloudWatchAlarms, DrsService, Ec2Compute, ElbTargetGroups, OutpostsApi, SnsNotifier,
};
use autorestart_flows::agent::{Agent, Ports};
use autorestart_flows::error::FlowError;
use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use lambda_runtime::Diagnostic;

use crate::config::Config;

/// The agent over the AWS SDK: each function takes from it the flow it runs.
pub type AwsAgent =
    Agent<Ec2Compute, ElbTargetGroups, SnsNotifier, DrsService, CloudWatchAlarms, OutpostsApi>;

/// The DRS event handler's flow over the SDK: EC2, ELB, SNS and DRS.
pub type SdkDrsFinish<'a> = autorestart_flows::drs_finish::DrsFinish<
    'a,
    Ec2Compute,
    ElbTargetGroups,
    SnsNotifier,
    DrsService,
>;

/// What a function keeps from its cold start.
pub struct Function {
    /// The agent.
    pub agent: AwsAgent,
    /// Namespace of the embedded-format metrics the function prints.
    pub metrics_namespace: String,
}

impl Function {
    /// Prints embedded-metric-format documents, one per line, for CloudWatch Logs to extract.
    pub fn emit_metrics(&self, documents: &[serde_json::Value]) {
        for document in documents {
            println!("{document}");
        }
    }
}

/// Attempts per AWS call, throttling included, before the SDK gives up.
const MAX_ATTEMPTS: u32 = 6;

/// Cold start: logging, configuration, SDK clients. A bad configuration is logged and returned.
pub async fn cold_start() -> Result<Function, lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(error) => {
            tracing::error!(%error, "bad configuration; fix the function's environment in template.yaml");
            return Err(error.into());
        }
    };
    // Adaptive: besides backoff with jitter, the SDK slows its own sending when AWS throttles,
    // which is what concurrent invocations sharing one account's EC2 buckets need.
    let sdk = aws_config::defaults(BehaviorVersion::latest())
        .retry_config(RetryConfig::adaptive().with_max_attempts(MAX_ATTEMPTS))
        .load()
        .await;
    let ports = Ports {
        compute: Ec2Compute::new(aws_sdk_ec2::Client::new(&sdk))
            .with_sts(aws_sdk_sts::Client::new(&sdk)),
        balancer: ElbTargetGroups::new(aws_sdk_elasticloadbalancingv2::Client::new(&sdk)),
        notifier: SnsNotifier::new(aws_sdk_sns::Client::new(&sdk), config.topic_arn),
        drs: DrsService::new(aws_sdk_drs::Client::new(&sdk)),
        alarms: CloudWatchAlarms::new(aws_sdk_cloudwatch::Client::new(&sdk)),
        outposts: OutpostsApi::new(aws_sdk_outposts::Client::new(&sdk)),
    };
    Ok(Function {
        agent: Agent::new(ports, config.settings),
        metrics_namespace: config.metrics_namespace,
    })
}

/// The invocation's time: every wait ends [`autorestart_flows::budget::PUBLISH_MARGIN`] before Lambda's
/// deadline, so the report and the notice go out before the invocation is stopped.
pub fn budget(context: &lambda_runtime::Context) -> autorestart_flows::budget::Budget {
    let left = context
        .deadline()
        .duration_since(std::time::SystemTime::now())
        .unwrap_or_default();
    autorestart_flows::budget::Budget::until(tokio::time::Instant::now() + left)
}

/// Lambda's error record for a flow's error; the work done is logged when the notice failed.
pub fn flow_diagnostic(error: FlowError) -> Diagnostic {
    let error_type = match &error {
        FlowError::Read(_) => "ReadFailed",
        FlowError::Notify { report, .. } => {
            log_report("ERROR", "work done, notice not sent", report);
            "NotifyFailed"
        }
    };
    Diagnostic {
        error_type: error_type.into(),
        error_message: error.to_string(),
    }
}

/// The log line of a finished invocation: one JSON object with the report nested in it (not
/// an escaped string), so that Logs Insights can query inside it (`report.instances.0.outcome`),
/// and the incident and Outpost at the top, as the flows' spans carry them
/// (`span.incident`).
pub fn report_line(level: &str, message: &str, report: &impl serde::Serialize) -> String {
    let report = serde_json::to_value(report).unwrap_or_default();
    let mut line = serde_json::json!({
        "level": level,
        "fields": { "message": message },
        "report": report,
    });
    for key in ["incident", "outpost"] {
        if let Some(value) = report.get(key).filter(|v| !v.is_null()) {
            line[key] = value.clone();
        }
    }
    line.to_string()
}

/// Prints [`report_line`] to standard output, which Lambda sends to the function's log group.
pub fn log_report(level: &str, message: &str, report: &impl serde::Serialize) {
    println!("{}", report_line(level, message, report));
}

/// Lambda's error record for an event the function cannot read.
pub fn bad_event_diagnostic(error: impl std::fmt::Display) -> Diagnostic {
    Diagnostic {
        error_type: "BadEvent".into(),
        error_message: error.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_is_logged_as_nested_json_with_its_incident_at_the_top() {
        let report = serde_json::json!({
            "action": "recovery",
            "outpost": "op-0aaaaaaaaaaaaaaa1",
            "incident": "op-0aaaaaaaaaaaaaaa1-20261124T031000Z-0123abcd",
            "instances": [{ "instance_id": "i-1", "outcome": "recovered" }],
        });
        let line = report_line("INFO", "alarm handled", &report);
        assert!(!line.contains('\n'), "one log event: {line}");
        let parsed: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(parsed["report"]["instances"][0]["outcome"], "recovered");
        assert_eq!(parsed["incident"], report["incident"]);
        assert_eq!(parsed["outpost"], "op-0aaaaaaaaaaaaaaa1");
        assert_eq!(parsed["fields"]["message"], "alarm handled");
        assert_eq!(parsed["level"], "INFO");
        let sweep = report_line(
            "ERROR",
            "sweep incomplete",
            &serde_json::json!({"errors": ["x"]}),
        );
        let parsed: serde_json::Value = serde_json::from_str(&sweep).unwrap();
        assert!(parsed.get("incident").is_none(), "{sweep}");
    }
}
