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

/// The clients the CLI reaches the deployment through.
#[derive(Clone, Debug)]
pub struct Clients {
    /// CloudFormation: the stack's outputs.
    pub cloudformation: aws_sdk_cloudformation::Client,
    /// Lambda, for reads.
    pub lambda: aws_sdk_lambda::Client,
    /// Lambda for `Invoke`: no retries, a read timeout past Lambda's 15 minutes.
    pub invoker: aws_sdk_lambda::Client,
    /// The Region, for messages.
    pub region: String,
}

impl Clients {
    /// The clients over the usual credentials.
    pub fn new(sdk: &SdkConfig) -> Self {
        let invoker = aws_sdk_lambda::config::Builder::from(sdk)
            .retry_config(RetryConfig::disabled())
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(10))
                    .read_timeout(INVOKE_READ_TIMEOUT)
                    .build(),
            )
            .build();
        Self {
            cloudformation: aws_sdk_cloudformation::Client::new(sdk),
            lambda: aws_sdk_lambda::Client::new(sdk),
            invoker: aws_sdk_lambda::Client::from_conf(invoker),
            region: sdk.region().map(|r| r.to_string()).unwrap_or_default(),
        }
    }
}

/// One deployment of the stack.
pub struct Deployment {
    /// The stack's name.
    pub stack: String,
    /// Its outputs, by key.
    pub outputs: BTreeMap<String, String>,
    clients: Clients,
}

impl Deployment {
    /// Reads the stack's outputs; a stack that does not exist is a refusal that says what to pass.
    pub async fn find(clients: &Clients, stack: &str) -> Result<Self, CliError> {
        let region = &clients.region;
        let missing = || {
            CliError::Refused(format!(
                "no stack named {stack} in {region}: pass --stack with the name `sam deploy` used (or set AUTORESTART_STACK) and --region with its Region"
            ))
        };
        let answer = clients
            .cloudformation
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
        let outputs = found
            .outputs()
            .iter()
            .filter_map(|o| Some((o.output_key()?.to_owned(), o.output_value()?.to_owned())))
            .collect();
        Ok(Self {
            stack: stack.to_owned(),
            outputs,
            clients: clients.clone(),
        })
    }

    /// The stacks of this project in the Region (any name): those whose outputs name a sweeper
    /// and a drill function.
    pub async fn all(clients: &Clients) -> Result<Vec<String>, CliError> {
        let mut pages = clients
            .cloudformation
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
        let answer = self
            .clients
            .lambda
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
        let answer = self
            .clients
            .invoker
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

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_cloudformation::operation::describe_stacks::{
        DescribeStacksError, DescribeStacksOutput,
    };
    use aws_sdk_cloudformation::types::{Output, Stack, StackStatus};
    use aws_sdk_lambda::operation::get_function_configuration::GetFunctionConfigurationOutput;
    use aws_sdk_lambda::operation::invoke::{InvokeError, InvokeOutput};
    use aws_sdk_lambda::types::EnvironmentResponse;
    use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
    use aws_smithy_types::error::ErrorMetadata;
    use serde_json::json;

    fn stack(name: &str, status: StackStatus, outputs: &[(&str, &str)]) -> Stack {
        let mut stack = Stack::builder()
            .stack_name(name)
            .stack_status(status)
            .creation_time(aws_smithy_types::DateTime::from_secs(0));
        for (key, value) in outputs {
            stack = stack.outputs(
                Output::builder()
                    .output_key(*key)
                    .output_value(*value)
                    .build(),
            );
        }
        stack.build()
    }

    const OUTPUTS: [(&str, &str); 3] = [
        ("DrillFunctionName", "s-DrillFunction-1"),
        ("SweeperFunctionName", "s-SweeperFunction-1"),
        ("AlarmHandlerFunctionName", "s-AlarmHandlerFunction-1"),
    ];

    fn clients(cloudformation: &[&Rule], lambda: &[&Rule]) -> Clients {
        Clients {
            cloudformation: mock_client!(
                aws_sdk_cloudformation,
                RuleMode::MatchAny,
                cloudformation
            ),
            lambda: mock_client!(aws_sdk_lambda, RuleMode::MatchAny, lambda),
            invoker: mock_client!(aws_sdk_lambda, RuleMode::MatchAny, lambda),
            region: "eu-west-1".into(),
        }
    }

    fn found(status: StackStatus) -> Rule {
        mock!(aws_sdk_cloudformation::Client::describe_stacks)
            .match_requests(|r| r.stack_name() == Some("s"))
            .then_output(move || {
                DescribeStacksOutput::builder()
                    .stacks(stack("s", status.clone(), &OUTPUTS))
                    .build()
            })
    }

    fn refused(result: Result<impl std::fmt::Debug, CliError>, says: &str) {
        match result {
            Err(CliError::Refused(message)) => assert!(message.contains(says), "{message}"),
            other => panic!("not refused: {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_stack_is_found_by_name_and_a_missing_or_deleted_one_is_refused() {
        let live = found(StackStatus::UpdateComplete);
        let deployment = Deployment::find(&clients(&[&live], &[]), "s")
            .await
            .unwrap();
        assert_eq!(
            deployment.output("DrillFunctionName").unwrap(),
            "s-DrillFunction-1"
        );
        refused(
            deployment.output("Nope"),
            "has no output Nope: it was deployed from an older template",
        );

        let deleted = found(StackStatus::DeleteComplete);
        refused(
            Deployment::find(&clients(&[&deleted], &[]), "s")
                .await
                .map(|_| ()),
            "no stack named s in eu-west-1",
        );
        let missing = mock!(aws_sdk_cloudformation::Client::describe_stacks).then_error(|| {
            DescribeStacksError::generic(
                ErrorMetadata::builder()
                    .code("ValidationError")
                    .message("Stack with id s does not exist")
                    .build(),
            )
        });
        refused(
            Deployment::find(&clients(&[&missing], &[]), "s")
                .await
                .map(|_| ()),
            "pass --stack",
        );
        // Any other error is a failed call, never "no stack".
        let denied = mock!(aws_sdk_cloudformation::Client::describe_stacks).then_error(|| {
            DescribeStacksError::generic(
                ErrorMetadata::builder()
                    .code("AccessDenied")
                    .message("not allowed")
                    .build(),
            )
        });
        let failed = Deployment::find(&clients(&[&denied], &[]), "s").await;
        assert!(
            matches!(failed, Err(CliError::Aws(ref m)) if m.contains("AccessDenied")),
            "{:?}",
            failed.err()
        );
        let listed = Deployment::all(&clients(&[&denied], &[])).await;
        assert!(
            matches!(listed, Err(CliError::Aws(_))),
            "cleanup must not take it for none"
        );
    }

    #[tokio::test]
    async fn every_live_stack_of_this_project_is_listed_whatever_its_name() {
        let all = mock!(aws_sdk_cloudformation::Client::describe_stacks).then_output(|| {
            DescribeStacksOutput::builder()
                .stacks(stack("prod", StackStatus::CreateComplete, &OUTPUTS))
                .stacks(stack("gone", StackStatus::DeleteComplete, &OUTPUTS))
                .stacks(stack(
                    "web-app",
                    StackStatus::CreateComplete,
                    &[("Url", "x")],
                ))
                .build()
        });
        assert_eq!(
            Deployment::all(&clients(&[&all], &[])).await.unwrap(),
            vec!["prod".to_owned()]
        );
    }

    #[tokio::test]
    async fn the_sweepers_environment_is_read_from_lambda() {
        let live = found(StackStatus::CreateComplete);
        let configuration = mock!(aws_sdk_lambda::Client::get_function_configuration)
            .match_requests(|r| r.function_name() == Some("s-SweeperFunction-1"))
            .then_output(|| {
                GetFunctionConfigurationOutput::builder()
                    .environment(
                        EnvironmentResponse::builder()
                            .variables("TOPIC_ARN", "arn:aws:sns:eu-west-1:111122223333:t")
                            .build(),
                    )
                    .build()
            });
        let clients = clients(&[&live], &[&configuration]);
        let deployment = Deployment::find(&clients, "s").await.unwrap();
        let environment = deployment.environment("SweeperFunctionName").await.unwrap();
        assert_eq!(
            environment.get("TOPIC_ARN").map(String::as_str),
            Some("arn:aws:sns:eu-west-1:111122223333:t")
        );
    }

    #[tokio::test]
    async fn an_invocation_answers_its_report_or_says_how_it_failed() {
        let answer = |function_error: Option<&'static str>, body: &'static str| {
            mock!(aws_sdk_lambda::Client::invoke)
                .match_requests(|r| {
                    let sent: Option<Value> = r
                        .payload()
                        .and_then(|p| serde_json::from_slice(p.as_ref()).ok());
                    r.function_name() == Some("s-DrillFunction-1")
                        && sent
                            == Some(json!({"outpost": "op-0a1b2c3d4e5f60718", "mode": "dry-run"}))
                })
                .then_output(move || {
                    InvokeOutput::builder()
                        .status_code(200)
                        .set_function_error(function_error.map(str::to_owned))
                        .payload(Blob::new(body))
                        .build()
                })
        };
        let payload = json!({"outpost": "op-0a1b2c3d4e5f60718", "mode": "dry-run"});
        let invoke = |rule: Rule| {
            let (live, payload) = (found(StackStatus::CreateComplete), payload.clone());
            async move {
                let deployment = Deployment::find(&clients(&[&live], &[&rule]), "s")
                    .await
                    .unwrap();
                deployment.invoke("DrillFunctionName", &payload).await
            }
        };
        let report = invoke(answer(None, r#"{"drill_id": "d"}"#)).await.unwrap();
        assert_eq!(report["drill_id"], "d");
        refused(
            invoke(answer(
                Some("Unhandled"),
                r#"{"errorType": "DrillRefused", "errorMessage": "copies still run: i-1"}"#,
            ))
            .await,
            "s-DrillFunction-1 refused: copies still run: i-1",
        );
        let failed = invoke(answer(
            Some("Unhandled"),
            r#"{"errorType": "ReadFailed", "errorMessage": "ec2 throttled"}"#,
        ))
        .await;
        assert!(
            matches!(failed, Err(CliError::Function(ref m)) if m.contains("failed (ReadFailed): ec2 throttled")),
            "{:?}",
            failed.err()
        );
        let unreadable = invoke(answer(None, "not json")).await;
        assert!(
            matches!(unreadable, Err(CliError::Function(ref m)) if m.contains("without a readable report"))
        );
        let throttled = mock!(aws_sdk_lambda::Client::invoke).then_error(|| {
            InvokeError::generic(
                ErrorMetadata::builder()
                    .code("TooManyRequestsException")
                    .message("Rate exceeded")
                    .build(),
            )
        });
        let refused_by_lambda = invoke(throttled).await;
        assert!(
            matches!(refused_by_lambda, Err(CliError::Aws(ref m)) if m.contains("The function did not run")),
            "{:?}",
            refused_by_lambda.err()
        );
    }
}
