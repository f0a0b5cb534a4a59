//! Builders the integration tests share.
#![allow(dead_code)] // each test file uses its part

use std::time::Duration;

use aws_sdk_ec2::operation::describe_launch_template_versions::DescribeLaunchTemplateVersionsOutput;
use aws_sdk_ec2::types::{
    LaunchTemplateInstanceNetworkInterfaceSpecification, LaunchTemplateVersion,
    ResponseLaunchTemplateData, Tag,
};
use shared::agent::{Agent, Settings};
use shared::alarm::{AlarmChange, AlarmState};
use shared::aws::{DrsService, Ec2Compute, ElbTargetGroups, SnsNotifier};
use shared::balancing::HealthWait;

/// The Outpost that fails in these tests.
pub const OUTPOST_A: &str = "op-0aaaaaaaaaaaaaaa1";
/// Its ARN.
pub const ARN_A: &str = "arn:aws:outposts:us-east-1:111122223333:outpost/op-0aaaaaaaaaaaaaaa1";
/// The topic notices go to.
pub const TOPIC: &str = "arn:aws:sns:us-east-1:111122223333:t";

/// Outpost A went down at 03:10 UTC.
pub fn outage() -> AlarmChange {
    AlarmChange::connected_status(
        "connected-a",
        OUTPOST_A,
        AlarmState::Alarm,
        "2026-11-24T03:10:00Z".parse().unwrap(),
    )
}

/// Defaults with a one-second health wait.
pub fn quick_settings() -> Settings {
    Settings {
        concurrency: 4,
        health_wait: HealthWait {
            timeout: Duration::from_secs(1),
            poll_interval: Duration::from_secs(1),
        },
        ..Settings::default()
    }
}

/// The agent over SDK clients (mocked by the caller).
pub fn sdk_agent(
    ec2: aws_sdk_ec2::Client,
    elb: aws_sdk_elasticloadbalancingv2::Client,
    sns: aws_sdk_sns::Client,
    drs: aws_sdk_drs::Client,
) -> Agent<Ec2Compute, ElbTargetGroups, SnsNotifier, DrsService> {
    Agent::new(
        Ec2Compute::new(ec2),
        ElbTargetGroups::new(elb),
        SnsNotifier::new(sns, TOPIC),
        DrsService::new(drs),
        quick_settings(),
    )
}

/// An EC2 tag.
pub fn tag(key: &str, value: &str) -> Tag {
    Tag::builder().key(key).value(value).build()
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
