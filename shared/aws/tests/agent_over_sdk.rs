//! The agent over the real SDK adapters with mocked AWS: the calls a recovery makes, in order,
//! when the first alternate has no capacity.

use aws_sdk_ec2::error::ErrorMetadata;
use aws_sdk_ec2::operation::create_tags::CreateTagsOutput;
use aws_sdk_ec2::operation::describe_instances::DescribeInstancesOutput;
use aws_sdk_ec2::operation::run_instances::{RunInstancesError, RunInstancesOutput};
use aws_sdk_ec2::types::{Instance, InstanceState, InstanceStateName, Reservation};
use aws_sdk_elasticloadbalancingv2::operation::describe_target_groups::DescribeTargetGroupsOutput;
use aws_sdk_sns::operation::publish::PublishOutput;
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};

mod support;
use autorestart_core::outcome::OutcomeKind;
use autorestart_core::report::Notification;

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

/// What a recovery of i-1 (alternates lt-0b on B, then lt-0c on C) reads from EC2, and the
/// reads of its wait for i-new to run. The launches and tags are each test's own.
fn recovery_reads() -> Vec<Rule> {
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
    // It has no warm standby: launched.
    let no_standbys = mock!(aws_sdk_ec2::Client::describe_instances)
        .match_requests(|r| {
            r.filters()
                .iter()
                .any(|f| f.name() == Some("tag:autorestart:standby-for") && f.values() == ["i-1"])
        })
        .then_output(|| DescribeInstancesOutput::builder().build());
    let subnet_read = support::subnets(&[
        ("subnet-a", Some(ARN_A)),
        ("subnet-b", Some(ARN_B)),
        ("subnet-c", Some(ARN_C)),
    ]);
    let lt_b = mock!(aws_sdk_ec2::Client::describe_launch_template_versions)
        .match_requests(|r| r.launch_template_id() == Some("lt-0b"))
        .then_output(|| support::template_version(&[(0, "subnet-b")]));
    let lt_c = mock!(aws_sdk_ec2::Client::describe_launch_template_versions)
        .match_requests(|r| r.launch_template_id() == Some("lt-0c"))
        .then_output(|| support::template_version(&[(0, "subnet-c")]));
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
    vec![
        protected,
        no_replacements,
        no_standbys,
        running,
        subnet_read,
        lt_b,
        lt_c,
    ]
}

/// RunInstances from `template` answering i-new.
fn launches_from(template: &'static str) -> Rule {
    mock!(aws_sdk_ec2::Client::run_instances)
        .match_requests(move |r| {
            r.launch_template().and_then(|t| t.launch_template_id()) == Some(template)
        })
        .then_output(|| {
            RunInstancesOutput::builder()
                .instances(instance("i-new", "subnet-c"))
                .build()
        })
}

fn tags_anything() -> Rule {
    mock!(aws_sdk_ec2::Client::create_tags).then_output(|| CreateTagsOutput::builder().build())
}

#[tokio::test]
async fn insufficient_capacity_on_the_first_alternate_then_success_on_the_next() {
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
    let launched = launches_from("lt-0c");
    let tagged = tags_anything();
    let mut rules = recovery_reads();
    rules.extend([full.clone(), launched.clone(), tagged.clone()]);
    let ec2 = mock_client!(aws_sdk_ec2, RuleMode::MatchAny, &rules);
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
        .handle_alarm(&support::outage())
        .await
        .unwrap();

    let i1 = &report.instances[0];
    assert_eq!(i1.outcome, OutcomeKind::Recovered);
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

/// SNS accepting any notice; DRS and ELB with nothing in scope.
fn quiet_rest() -> (
    aws_sdk_elasticloadbalancingv2::Client,
    aws_sdk_sns::Client,
    aws_sdk_drs::Client,
) {
    let groups = mock!(aws_sdk_elasticloadbalancingv2::Client::describe_target_groups)
        .then_output(|| DescribeTargetGroupsOutput::builder().build());
    let publish = mock!(aws_sdk_sns::Client::publish)
        .then_output(|| PublishOutput::builder().message_id("m-1").build());
    let no_drs_calls: [&Rule; 0] = [];
    (
        mock_client!(aws_sdk_elasticloadbalancingv2, [&groups]),
        mock_client!(aws_sdk_sns, [&publish]),
        mock_client!(aws_sdk_drs, no_drs_calls),
    )
}

#[tokio::test]
async fn a_launch_throttled_past_the_sdks_retries_is_retried_by_the_agent_with_its_token() {
    // RequestLimitExceeded four times: the SDK's three attempts give up, the agent backs off
    // and tries again with the same ClientToken, which EC2 then launches.
    let throttled = mock!(aws_sdk_ec2::Client::run_instances)
        .sequence()
        .error(|| RunInstancesError::generic(support::aws_error("RequestLimitExceeded")))
        .times(4)
        .output(|| {
            RunInstancesOutput::builder()
                .instances(instance("i-new", "subnet-b"))
                .build()
        })
        .build();
    let tagged = tags_anything();
    let mut rules = recovery_reads();
    rules.extend([throttled.clone(), tagged.clone()]);
    let ec2 = mock_client!(aws_sdk_ec2, RuleMode::MatchAny, &rules, |c| c
        .retry_config(support::fast_retries()));
    let (elb, sns, drs) = quiet_rest();
    let report = support::sdk_agent(ec2, elb, sns, drs)
        .handle_alarm(&support::outage())
        .await
        .unwrap();
    let i1 = &report.instances[0];
    assert_eq!(i1.outcome, OutcomeKind::Recovered, "{i1:?}");
    assert_eq!(
        i1.template.as_deref(),
        Some("lt-0b:$Default"),
        "no fallback for throttling"
    );
    assert!(i1.failed_attempts.is_empty(), "{:?}", i1.failed_attempts);
    assert_eq!(throttled.num_calls(), 5);
}

#[tokio::test]
async fn a_stale_alarm_reads_cloudwatch_and_touches_nothing_else() {
    use aws_sdk_cloudwatch::operation::describe_alarms::DescribeAlarmsOutput;
    use aws_sdk_cloudwatch::types::{Dimension, MetricAlarm, StateValue};
    let ok = mock!(aws_sdk_cloudwatch::Client::describe_alarms).then_output(|| {
        DescribeAlarmsOutput::builder()
            .metric_alarms(
                MetricAlarm::builder()
                    .alarm_name(support::outage().alarm_name)
                    .namespace("AWS/Outposts")
                    .metric_name("ConnectedStatus")
                    .dimensions(
                        Dimension::builder()
                            .name("OutpostId")
                            .value(support::OUTPOST_A)
                            .build(),
                    )
                    .state_value(StateValue::Ok)
                    // OK an hour after the ALARM the event reports: the event is stale.
                    .state_transitioned_timestamp(aws_smithy_types::DateTime::from_secs(
                        1_795_489_800 + 3600,
                    ))
                    .build(),
            )
            .build()
    });
    let no_calls: [&Rule; 0] = [];
    // Strict clients: any EC2, ELB, SNS or DRS call would fail the test.
    let agent = support::sdk_agent_with(
        mock_client!(aws_sdk_ec2, no_calls),
        mock_client!(aws_sdk_elasticloadbalancingv2, no_calls),
        mock_client!(aws_sdk_sns, no_calls),
        mock_client!(aws_sdk_drs, no_calls),
        mock_client!(aws_sdk_cloudwatch, [&ok]),
        support::no_calls_outposts(),
    );
    let report = agent.handle_alarm(&support::outage()).await.unwrap();
    assert_eq!(report.action, autorestart_core::report::Action::Stale);
    assert!(
        report
            .ignored_because
            .as_deref()
            .is_some_and(|r| r.contains("is OK again")),
        "{report:?}"
    );
    assert_eq!(ok.num_calls(), 1);
}
