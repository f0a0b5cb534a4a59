//! The deployed stack as the CLI reaches it: its outputs (CloudFormation), a function's
//! environment and its invocation (Lambda). Thin: each call is translated, nothing decided.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_config::SdkConfig;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_lambda::primitives::Blob;
use serde_json::Value;

use crate::CliError;

/// Lambda's longest invocation (15 min), and a minute for the answer to arrive.
const INVOKE_READ_TIMEOUT: Duration = Duration::from_secs(16 * 60);

/// Function errors that mean the function refused the request (exit 2, not 1).
const REFUSALS: [&str; 4] = [
    "BadEvent",
    "DrillRefused",
    "FailoverRefused",
    "FailbackRefused",
];

/// One deployment of the stack.
pub struct Deployment {
    /// The stack's name.
    pub stack: String,
    /// Its outputs, by key.
    pub outputs: BTreeMap<String, String>,
    sdk: SdkConfig,
}

impl Deployment {
    /// Reads the stack's outputs; a stack that does not exist is a refusal that says what to pass.
    pub async fn find(sdk: &SdkConfig, stack: &str) -> Result<Self, CliError> {
        let region = sdk.region().map(|r| r.to_string()).unwrap_or_default();
        let missing = || {
            CliError::Refused(format!(
                "no stack named {stack} in {region}: pass --stack with the name `sam deploy` used (or set AUTORESTART_STACK) and --region with its Region"
            ))
        };
        let answer = aws_sdk_cloudformation::Client::new(sdk)
            .describe_stacks()
            .stack_name(stack)
            .send()
            .await;
        let found = match answer {
            Ok(found) => found,
            Err(error) => {
                let text = aws_sdk_cloudformation::error::DisplayErrorContext(&error).to_string();
                return Err(if text.contains("does not exist") {
                    missing()
                } else {
                    CliError::Aws(format!("cloudformation:DescribeStacks {stack}: {text}"))
                });
            }
        };
        let Some(found) = found.stacks().first().filter(|s| {
            s.stack_status()
                .is_some_and(|status| status.as_str() != "DELETE_COMPLETE")
        }) else {
            return Err(missing());
        };
        let outputs = Some(found)
            .map(|s| {
                s.outputs()
                    .iter()
                    .filter_map(|o| {
                        Some((o.output_key()?.to_owned(), o.output_value()?.to_owned()))
                    })
                    .collect()
            })
            .unwrap_or_default();
        Ok(Self {
            stack: stack.to_owned(),
            outputs,
            sdk: sdk.clone(),
        })
    }

    /// The stacks of this project in the Region (any name): those whose outputs name a sweeper
    /// and a drill function.
    pub async fn all(sdk: &SdkConfig) -> Result<Vec<String>, CliError> {
        let mut pages = aws_sdk_cloudformation::Client::new(sdk)
            .describe_stacks()
            .into_paginator()
            .send();
        let mut found = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| {
                CliError::Aws(format!(
                    "cloudformation:DescribeStacks: {}",
                    aws_sdk_cloudformation::error::DisplayErrorContext(&e)
                ))
            })?;
            for stack in page.stacks() {
                let keys: Vec<&str> = stack
                    .outputs()
                    .iter()
                    .filter_map(|o| o.output_key())
                    .collect();
                let live = stack
                    .stack_status()
                    .is_some_and(|s| s.as_str() != "DELETE_COMPLETE");
                if live
                    && keys.contains(&"SweeperFunctionName")
                    && keys.contains(&"DrillFunctionName")
                {
                    found.extend(stack.stack_name().map(str::to_owned));
                }
            }
        }
        Ok(found)
    }

    /// The value of output `key`; missing, a refusal naming it (an older stack: redeploy).
    pub fn output(&self, key: &str) -> Result<&str, CliError> {
        self.outputs.get(key).map(String::as_str).ok_or_else(|| {
            CliError::Refused(format!(
                "stack {} has no output {key}: it was deployed from an older template; deploy this one (cargo xtask deploy)",
                self.stack
            ))
        })
    }

    /// The environment variables of the function named by output `key`: the settings it runs with.
    pub async fn environment(&self, key: &str) -> Result<BTreeMap<String, String>, CliError> {
        let name = self.output(key)?;
        let answer = aws_sdk_lambda::Client::new(&self.sdk)
            .get_function_configuration()
            .function_name(name)
            .send()
            .await
            .map_err(|e| {
                CliError::Aws(format!(
                    "lambda:GetFunctionConfiguration {name}: {}",
                    aws_sdk_lambda::error::DisplayErrorContext(&e)
                ))
            })?;
        Ok(answer
            .environment()
            .and_then(|e| e.variables())
            .map(|v| v.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default())
    }

    /// Invokes the function named by output `key` with `payload` and waits for its answer (up to
    /// Lambda's 15 minutes). Never retried: a live request sent twice would act twice.
    pub async fn invoke(&self, key: &str, payload: &Value) -> Result<Value, CliError> {
        let name = self.output(key)?;
        let config = aws_sdk_lambda::config::Builder::from(&self.sdk)
            .retry_config(RetryConfig::disabled())
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(10))
                    .read_timeout(INVOKE_READ_TIMEOUT)
                    .build(),
            )
            .build();
        let answer = aws_sdk_lambda::Client::from_conf(config)
            .invoke()
            .function_name(name)
            .payload(Blob::new(payload.to_string()))
            .send()
            .await
            .map_err(|e| {
                let text = aws_sdk_lambda::error::DisplayErrorContext(&e);
                CliError::Aws(match e {
                    // Lambda answered: the function was not run.
                    aws_sdk_lambda::error::SdkError::ServiceError(_) => {
                        format!("lambda:Invoke {name}: {text}. The function did not run")
                    }
                    _ => format!(
                        "lambda:Invoke {name}: {text}. Whether the function ran is not known: read its log group, or `autorestart status`, before you send it again"
                    ),
                })
            })?;
        let body: Value = answer
            .payload()
            .and_then(|p| serde_json::from_slice(p.as_ref()).ok())
            .ok_or_else(|| {
                CliError::Function(format!(
                    "{name} answered without a readable report. Its log group has what it did"
                ))
            })?;
        match answer.function_error() {
            None => Ok(body),
            Some(_) => {
                let kind = body["errorType"].as_str().unwrap_or("Unhandled").to_owned();
                let message = body["errorMessage"]
                    .as_str()
                    .unwrap_or("no message")
                    .to_owned();
                Err(if REFUSALS.contains(&kind.as_str()) {
                    CliError::Refused(format!("{name} refused: {message}"))
                } else {
                    CliError::Function(format!(
                        "{name} failed ({kind}): {message}. Its log group has the details"
                    ))
                })
            }
        }
    }
}
