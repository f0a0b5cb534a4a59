//! What every function shares, at its edge: configuration from the environment (checked once at
//! cold start), the flows' ports over the AWS SDK, and the error shape Lambda records.

pub mod config;

use autorestart_aws::{
    CloudWatchAlarms, DrsService, Ec2Compute, ElbTargetGroups, OutpostsApi, Sdk, SnsNotifier,
};
use autorestart_flows::agent::{Agent, Ports};
use autorestart_flows::error::FlowError;
use aws_config::BehaviorVersion;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use lambda_runtime::Diagnostic;

use crate::config::Config;

/// The agent over the AWS SDK: each function runs one of its flows.
pub type AwsAgent = Agent<Sdk>;

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
            let line = ServiceLines::from_env().stamp(document.to_string().as_bytes());
            println!("{}", String::from_utf8_lossy(&line));
        }
    }
}

/// Attempts per AWS request (one page of a read) the SDK makes, throttling included, before
/// it hands the error to the agent, whose own retries are bounded by the invocation
/// (`autorestart_flows::patient`).
const SDK_ATTEMPTS: u32 = 3;
/// The SDK's longest pause between its attempts.
const SDK_MAX_BACKOFF: Duration = Duration::from_secs(2);
/// How long one attempt may take, connection included.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(20);
/// How long one request may take, its SDK attempts included: less than the time the agent
/// keeps to report (`autorestart_flows::budget::PUBLISH_MARGIN`), so a request started
/// before the agent stops working ends before the invocation does.
const OPERATION_TIMEOUT: Duration = Duration::from_secs(25);
/// How long to wait for a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The SDK's retries and timeouts: few quick retries per request (they smooth over a throttled
/// page of a read), every request bounded in time. Standard mode, not adaptive: adaptive mode's
/// client-side rate limiter sleeps for as long as it likes, past the invocation's deadline.
pub fn sdk_limits() -> (RetryConfig, TimeoutConfig) {
    (
        RetryConfig::standard()
            .with_max_attempts(SDK_ATTEMPTS)
            .with_max_backoff(SDK_MAX_BACKOFF),
        TimeoutConfig::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .operation_attempt_timeout(ATTEMPT_TIMEOUT)
            .operation_timeout(OPERATION_TIMEOUT)
            .build(),
    )
}

/// Cold start: logging, configuration, SDK clients. A bad configuration is logged and returned.
pub async fn cold_start() -> Result<Function, lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber_with_writer(ServiceLines::from_env());
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(error) => {
            tracing::error!(%error, "bad configuration; fix the function's environment in template.yaml");
            return Err(error.into());
        }
    };
    let (retry, timeout) = sdk_limits();
    let sdk = aws_config::defaults(BehaviorVersion::latest())
        .retry_config(retry)
        .timeout_config(timeout)
        .load()
        .await;
    Ok(Function {
        agent: Agent::new(ports(&sdk, config.topic_arn), config.settings),
        metrics_namespace: config.metrics_namespace,
    })
}

/// The `service` of every log line when `POWERTOOLS_SERVICE_NAME` is unset.
const DEFAULT_SERVICE: &str = "outposts-autorestart";

/// Standard output, each JSON log line starting with `"service"` (Powertools' key, from
/// `POWERTOOLS_SERVICE_NAME`), so that one query finds a deployment's lines across functions.
/// The subscriber writes each event in one go, through a writer made for it.
#[derive(Clone, Debug)]
pub struct ServiceLines {
    prefix: std::sync::Arc<str>,
}

impl ServiceLines {
    /// The service named by `POWERTOOLS_SERVICE_NAME`, else [`DEFAULT_SERVICE`].
    pub fn from_env() -> Self {
        let service = std::env::var("POWERTOOLS_SERVICE_NAME")
            .ok()
            .filter(|s| !s.trim().is_empty())
            .unwrap_or_else(|| DEFAULT_SERVICE.to_owned());
        Self::named(&service)
    }

    /// Lines of `service`.
    pub fn named(service: &str) -> Self {
        Self {
            prefix: format!("{{\"service\":{},", serde_json::Value::from(service)).into(),
        }
    }

    /// `line` with the service first, when it is a JSON object; else as it is.
    pub fn stamp(&self, line: &[u8]) -> Vec<u8> {
        match line.strip_prefix(b"{") {
            Some(rest) if rest.first() == Some(&b'}') => {
                let mut out = self.prefix.as_bytes().to_vec();
                out.pop();
                out.extend_from_slice(rest);
                out
            }
            Some(rest) => {
                let mut out = Vec::with_capacity(self.prefix.len() + rest.len());
                out.extend_from_slice(self.prefix.as_bytes());
                out.extend_from_slice(rest);
                out
            }
            None => line.to_vec(),
        }
    }
}

/// One event's writer: stamps what it is given first.
pub struct ServiceLine {
    lines: ServiceLines,
    started: bool,
}

impl std::io::Write for ServiceLine {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut out = std::io::stdout().lock();
        if self.started {
            out.write_all(buf)?;
        } else {
            self.started = true;
            out.write_all(&self.lines.stamp(buf))?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stdout().flush()
    }
}

impl<'a> lambda_runtime::tracing::subscriber::fmt::MakeWriter<'a> for ServiceLines {
    type Writer = ServiceLine;

    fn make_writer(&'a self) -> Self::Writer {
        ServiceLine {
            lines: self.clone(),
            started: false,
        }
    }
}

/// Every port over the SDK clients of `sdk`; notices go to `topic_arn`. The functions' agent,
/// and the operator CLI's.
pub fn ports(sdk: &aws_config::SdkConfig, topic_arn: String) -> Ports<Sdk> {
    Ports {
        compute: Ec2Compute::new(aws_sdk_ec2::Client::new(sdk))
            .with_sts(aws_sdk_sts::Client::new(sdk)),
        balancer: ElbTargetGroups::new(aws_sdk_elasticloadbalancingv2::Client::new(sdk)),
        notifier: SnsNotifier::new(aws_sdk_sns::Client::new(sdk), topic_arn),
        drs: DrsService::new(aws_sdk_drs::Client::new(sdk)),
        alarms: CloudWatchAlarms::new(aws_sdk_cloudwatch::Client::new(sdk)),
        outposts: OutpostsApi::new(aws_sdk_outposts::Client::new(sdk)),
    }
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

/// Prints [`report_line`] to standard output, which Lambda sends to the function's log group,
/// with the service first as every log line has it.
pub fn log_report(level: &str, message: &str, report: &impl serde::Serialize) {
    let line = ServiceLines::from_env().stamp(report_line(level, message, report).as_bytes());
    println!("{}", String::from_utf8_lossy(&line));
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
    fn a_json_line_gets_the_service_first_and_other_text_is_left_alone() {
        let lines = ServiceLines::named("prod \"stack\"");
        let stamped = lines.stamp(br#"{"level":"INFO","fields":{"message":"m"}}"#);
        let value: serde_json::Value = serde_json::from_slice(&stamped).unwrap();
        assert_eq!(value["service"], "prod \"stack\"");
        assert_eq!(value["level"], "INFO");
        assert!(stamped.starts_with(br#"{"service":"#));
        assert_eq!(lines.stamp(b"plain text"), b"plain text");
        assert_eq!(
            lines.stamp(b"{}\n"),
            br#"{"service":"prod \"stack\""}"#.iter().chain(b"\n").copied().collect::<Vec<u8>>()
        );
    }

    #[test]
    fn no_sdk_request_outlasts_the_time_kept_to_report() {
        let (retry, timeout) = sdk_limits();
        assert_eq!(retry.max_attempts(), SDK_ATTEMPTS);
        assert_eq!(retry.mode(), aws_config::retry::RetryMode::Standard);
        assert!(retry.max_backoff() <= SDK_MAX_BACKOFF);
        let operation = timeout.operation_timeout().expect("an operation timeout");
        assert!(operation < autorestart_flows::budget::PUBLISH_MARGIN);
        assert!(
            timeout
                .operation_attempt_timeout()
                .expect("an attempt timeout")
                <= operation
        );
        assert!(timeout.connect_timeout().is_some());
    }

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
