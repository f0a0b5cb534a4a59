//! The agent over the real SDK adapters with mocked AWS: the calls a recovery makes, in order,
//! when the first alternate has no capacity.

use aws_sdk_ec2::error::ErrorMetadata;
use aws_sdk_ec2::operation::create_tags::CreateTagsOutput;
use aws_sdk_ec2::operation::describe_instances::DescribeInstancesOutput;
use aws_sdk_ec2::operation::describe_subnets::DescribeSubnetsOutput;
use aws_sdk_ec2::operation::run_instances::{RunInstancesError, RunInstancesOutput};
use aws_sdk_ec2::types::{Instance, InstanceState, InstanceStateName, Reservation, Subnet};
use aws_sdk_elasticloadbalancingv2::operation::describe_target_groups::DescribeTargetGroupsOutput;
use aws_sdk_sns::operation::publish::PublishOutput;
use aws_smithy_mocks::{RuleMode, mock, mock_client};

mod support;
use shared::report::Notification;

use support::{ARN_A, tag};
const ARN_B: &str = "arn:aws:outposts:us-east-1:111122223333:outpost/op-0bbbbbbbbbbbbbbb2";
const ARN_C: &str = "arn:aws:outposts:us-east-1:111122223333:outpost/op-0ccccccccccccccc3";

fn instance(id: &str, subnet: &str) -> Instance {
    Instance::builder()
        .instance_id(id)
        .subnet_id(subnet)
        .private_ip_address("10.0.0.10")
        .state(
            InstanceState::builder()
                .name(InstanceStateName::Running)
                .build(),
        )
        .tags(tag("autorestart:enabled", "true"))
        .tags(tag("autorestart:recovery-templates", "lt-0b,lt-0c"))
        .build()
}

#[tokio::test]
async fn insufficient_capacity_on_the_first_alternate_then_success_on_the_next() {
    let protected = mock!(aws_sdk_ec2::Client::describe_instances)
        .match_requests(|r| r.filters().iter().any(|f| f.name() == Some("tag-key")))
        .then_output(|| {
            DescribeInstancesOutput::builder()
                .reservations(
                    Reservation::builder()
                        .instances(instance("i-1", "subnet-a"))
                        .build(),
                )
                .build()
        });
    let no_replacements = mock!(aws_sdk_ec2::Client::describe_instances)
        .match_requests(|r| {
            r.filters().iter().any(|f| {
                f.name() == Some("tag:autorestart:replacement-of") && f.values() == ["i-1"]
            })
        })
        .then_output(|| DescribeInstancesOutput::builder().build());
    let subnet_read = mock!(aws_sdk_ec2::Client::describe_subnets).then_output(|| {
        DescribeSubnetsOutput::builder()
            .subnets(
                Subnet::builder()
                    .subnet_id("subnet-a")
                    .outpost_arn(ARN_A)
                    .build(),
            )
            .subnets(
                Subnet::builder()
                    .subnet_id("subnet-b")
                    .outpost_arn(ARN_B)
                    .build(),
            )
            .subnets(
                Subnet::builder()
                    .subnet_id("subnet-c")
                    .outpost_arn(ARN_C)
                    .build(),
            )
            .build()
    });
    let lt_b = mock!(aws_sdk_ec2::Client::describe_launch_template_versions)
        .match_requests(|r| r.launch_template_id() == Some("lt-0b"))
        .then_output(|| support::template_version(&[(0, "subnet-b")]));
    let lt_c = mock!(aws_sdk_ec2::Client::describe_launch_template_versions)
        .match_requests(|r| r.launch_template_id() == Some("lt-0c"))
        .then_output(|| support::template_version(&[(0, "subnet-c")]));
    let full = mock!(aws_sdk_ec2::Client::run_instances)
        .match_requests(|r| {
            r.launch_template().and_then(|t| t.launch_template_id()) == Some("lt-0b")
        })
        .then_error(|| {
            RunInstancesError::generic(
                ErrorMetadata::builder()
                    .code("InsufficientInstanceCapacity")
                    .message("We currently do not have sufficient m5.large capacity")
                    .build(),
            )
        });
    let launched = mock!(aws_sdk_ec2::Client::run_instances)
        .match_requests(|r| {
            r.launch_template().and_then(|t| t.launch_template_id()) == Some("lt-0c")
        })
        .then_output(|| {
            RunInstancesOutput::builder()
                .instances(instance("i-new", "subnet-c"))
                .build()
        });
    let tagged =
        mock!(aws_sdk_ec2::Client::create_tags).then_output(|| CreateTagsOutput::builder().build());
    // The wait for the replacement to run reads it by id.
    let running = mock!(aws_sdk_ec2::Client::describe_instances)
        .match_requests(|r| {
            r.filters()
                .iter()
                .any(|f| f.name() == Some("instance-id") && f.values() == ["i-new"])
        })
        .then_output(|| {
            DescribeInstancesOutput::builder()
                .reservations(
                    Reservation::builder()
                        .instances(instance("i-new", "subnet-c"))
                        .build(),
                )
                .build()
        });
    let ec2 = mock_client!(
        aws_sdk_ec2,
        RuleMode::MatchAny,
        [
            &protected,
            &no_replacements,
            &running,
            &subnet_read,
            &lt_b,
            &lt_c,
            &full,
            &launched,
            &tagged
        ]
    );
    let groups = mock!(aws_sdk_elasticloadbalancingv2::Client::describe_target_groups)
        .then_output(|| DescribeTargetGroupsOutput::builder().build());
    let elb = mock_client!(aws_sdk_elasticloadbalancingv2, [&groups]);
    let publish = mock!(aws_sdk_sns::Client::publish)
        .match_requests(|r| {
            r.message()
                .is_some_and(|m| m.contains("tried lt-0b:$Default"))
        })
        .then_output(|| PublishOutput::builder().message_id("m-1").build());
    let sns = mock_client!(aws_sdk_sns, [&publish]);

    let no_drs_calls: [&aws_smithy_mocks::Rule; 0] = [];
    let drs = mock_client!(aws_sdk_drs, no_drs_calls);
    let report = support::sdk_agent(ec2, elb, sns, drs)
        .handle(&support::outage())
        .await
        .unwrap();

    let i1 = &report.instances[0];
    assert_eq!(i1.outcome, "recovered");
    assert_eq!(i1.replacement_id.as_deref(), Some("i-new"));
    assert_eq!(i1.template.as_deref(), Some("lt-0c:$Default"));
    assert_eq!(
        i1.failed_attempts[0].error.code,
        "InsufficientInstanceCapacity"
    );
    assert_eq!(
        report.notification,
        Notification::Published {
            message_id: "m-1".into()
        }
    );
    assert_eq!((full.num_calls(), launched.num_calls()), (1, 1));
    assert_eq!(
        tagged.num_calls(),
        2,
        "the original's replaced-by tag, then the reported tag"
    );
}
