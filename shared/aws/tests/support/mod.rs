//! Builders the integration tests share.
#![allow(dead_code, unused_imports)] // each test file uses its part

pub mod drs_world;
pub mod sweep_world;
pub mod template_world;
use std::time::Duration;

use autorestart_aws::{
    CloudWatchAlarms, DrsService, Ec2Compute, ElbTargetGroups, OutpostsApi, SnsNotifier,
};
use autorestart_flows::agent::{Agent, Ports};
use aws_sdk_ec2::operation::describe_launch_template_versions::DescribeLaunchTemplateVersionsOutput;
use aws_sdk_ec2::types::{
    LaunchTemplateInstanceNetworkInterfaceSpecification, LaunchTemplateVersion,
    ResponseLaunchTemplateData, Tag,
};
use aws_smithy_mocks::{RuleMode, mock_client};

#[allow(unused_imports)] // each test file uses its part
pub use autorestart_testkit::fixtures::{ARN_A, OUTPOST_A, outage, quick_settings};

/// The topic notices go to.
pub const TOPIC: &str = "arn:aws:sns:us-east-1:111122223333:t";

/// The agent over SDK clients (mocked by the caller).
pub fn sdk_agent(
    ec2: aws_sdk_ec2::Client,
    elb: aws_sdk_elasticloadbalancingv2::Client,
    sns: aws_sdk_sns::Client,
    drs: aws_sdk_drs::Client,
) -> SdkAgent {
    sdk_agent_with(ec2, elb, sns, drs, outage_cloudwatch(), outposts_denied())
}

/// A CloudWatch client that shows the alarm of [`outage`] in ALARM, as often as asked: what
/// the agent reads before it acts on an ALARM.
pub fn outage_cloudwatch() -> aws_sdk_cloudwatch::Client {
    cloudwatch_showing(aws_sdk_cloudwatch::types::StateValue::Alarm)
}

/// A CloudWatch client that shows the alarm of [`outage`] in `state`, as often as asked.
pub fn cloudwatch_showing(
    state: aws_sdk_cloudwatch::types::StateValue,
) -> aws_sdk_cloudwatch::Client {
    cloudwatch_showing_since(state, outage().state_since)
}

/// A CloudWatch client that shows the alarm of [`outage`] in `state` since `since`, as often
/// as asked.
pub fn cloudwatch_showing_since(
    state: aws_sdk_cloudwatch::types::StateValue,
    since: chrono::DateTime<chrono::Utc>,
) -> aws_sdk_cloudwatch::Client {
    use aws_sdk_cloudwatch::operation::describe_alarms::DescribeAlarmsOutput;
    use aws_sdk_cloudwatch::types::{Dimension, MetricAlarm};
    let mut alarm = outage();
    alarm.state_since = since;
    let describe = aws_smithy_mocks::mock!(aws_sdk_cloudwatch::Client::describe_alarms)
        .sequence()
        .output(move || {
            DescribeAlarmsOutput::builder()
                .metric_alarms(
                    MetricAlarm::builder()
                        .alarm_name(&alarm.alarm_name)
                        .namespace("AWS/Outposts")
                        .metric_name("ConnectedStatus")
                        .dimensions(
                            Dimension::builder()
                                .name("OutpostId")
                                .value(OUTPOST_A)
                                .build(),
                        )
                        .state_value(state.clone())
                        .state_transitioned_timestamp(aws_smithy_types::DateTime::from_millis(
                            alarm.state_since.timestamp_millis(),
                        ))
                        .build(),
                )
                .build()
        })
        .repeatedly()
        .build();
    mock_client!(aws_sdk_cloudwatch, RuleMode::MatchAny, [&describe])
}

/// The agent over SDK clients, all six mocked by the caller.
pub fn sdk_agent_with(
    ec2: aws_sdk_ec2::Client,
    elb: aws_sdk_elasticloadbalancingv2::Client,
    sns: aws_sdk_sns::Client,
    drs: aws_sdk_drs::Client,
    cloudwatch: aws_sdk_cloudwatch::Client,
    outposts: aws_sdk_outposts::Client,
) -> SdkAgent {
    let ports = Ports {
        compute: Ec2Compute::new(ec2),
        balancer: ElbTargetGroups::new(elb),
        notifier: SnsNotifier::new(sns, TOPIC),
        drs: DrsService::new(drs),
        alarms: CloudWatchAlarms::new(cloudwatch),
        outposts: OutpostsApi::new(outposts),
    };
    Agent::new(ports, quick_settings())
}

/// The agent over SDK clients.
pub type SdkAgent = Agent<autorestart_aws::Sdk>;

/// A CloudWatch client with no mocked answer: for tests whose flow never calls it.
pub fn no_calls_cloudwatch() -> aws_sdk_cloudwatch::Client {
    mock_client!(aws_sdk_cloudwatch, RuleMode::MatchAny, [])
}

/// An Outposts client with no mocked answer: for tests whose flow never calls it.
pub fn no_calls_outposts() -> aws_sdk_outposts::Client {
    mock_client!(aws_sdk_outposts, RuleMode::MatchAny, [])
}

/// An Outposts client answering `AccessDeniedException` to the reads of free slots, as the
/// API answers a workload account for an Outpost another account owns: the recovery keeps the
/// operator's order.
pub fn outposts_denied() -> aws_sdk_outposts::Client {
    use aws_sdk_outposts::operation::list_asset_instances::ListAssetInstancesError;
    use aws_sdk_outposts::operation::list_assets::ListAssetsError;
    let assets = aws_smithy_mocks::mock!(aws_sdk_outposts::Client::list_assets)
        .sequence()
        .error(|| ListAssetsError::generic(aws_error("AccessDeniedException")))
        .repeatedly()
        .build();
    let instances = aws_smithy_mocks::mock!(aws_sdk_outposts::Client::list_asset_instances)
        .sequence()
        .error(|| ListAssetInstancesError::generic(aws_error("AccessDeniedException")))
        .repeatedly()
        .build();
    mock_client!(aws_sdk_outposts, RuleMode::MatchAny, [&assets, &instances])
}

/// DescribeSubnets answering these (subnet, Outpost ARN; none for a Region subnet).
pub fn subnets(list: &'static [(&'static str, Option<&'static str>)]) -> aws_smithy_mocks::Rule {
    aws_smithy_mocks::mock!(aws_sdk_ec2::Client::describe_subnets).then_output(move || {
        let mut output = aws_sdk_ec2::operation::describe_subnets::DescribeSubnetsOutput::builder();
        for (id, outpost) in list {
            output = output.subnets(
                aws_sdk_ec2::types::Subnet::builder()
                    .subnet_id(*id)
                    .set_outpost_arn(outpost.map(str::to_owned))
                    .build(),
            );
        }
        output.build()
    })
}

/// An EC2 tag.
pub fn tag(key: &str, value: &str) -> Tag {
    Tag::builder().key(key).value(value).build()
}

/// A service error with this code, as any of the SDKs reports it.
pub fn aws_error(code: &str) -> aws_smithy_types::error::ErrorMetadata {
    aws_smithy_types::error::ErrorMetadata::builder()
        .code(code)
        .message(format!("{code} (mock)"))
        .build()
}

/// Three attempts, a millisecond or so apart: the SDK's retries without the wait.
pub fn fast_retries() -> aws_smithy_types::retry::RetryConfig {
    aws_smithy_types::retry::RetryConfig::standard()
        .with_max_attempts(3)
        .with_initial_backoff(Duration::from_millis(1))
        .with_max_backoff(Duration::from_millis(5))
}

/// A launch template version whose network interfaces are these (device index, subnet).
pub fn template_version(interfaces: &[(i32, &str)]) -> DescribeLaunchTemplateVersionsOutput {
    let mut data = ResponseLaunchTemplateData::builder();
    for (device_index, subnet) in interfaces {
        data = data.network_interfaces(
            LaunchTemplateInstanceNetworkInterfaceSpecification::builder()
                .device_index(*device_index)
                .subnet_id(*subnet)
                .build(),
        );
    }
    DescribeLaunchTemplateVersionsOutput::builder()
        .launch_template_versions(
            LaunchTemplateVersion::builder()
                .launch_template_data(data.build())
                .build(),
        )
        .build()
}
