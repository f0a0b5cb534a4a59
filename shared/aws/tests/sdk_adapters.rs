//! Each SDK adapter's call paths against `aws-smithy-mocks`: requests sent, pagination, and
//! every error kind the agent acts on.

use aws_sdk_ec2::config::retry::RetryConfig;
use aws_sdk_ec2::error::ErrorMetadata;
use aws_sdk_ec2::operation::create_tags::CreateTagsOutput;
use aws_sdk_ec2::operation::describe_instances::{DescribeInstancesError, DescribeInstancesOutput};
use aws_sdk_ec2::operation::describe_launch_template_versions::DescribeLaunchTemplateVersionsError;
use aws_sdk_ec2::operation::describe_subnets::DescribeSubnetsOutput;
use aws_sdk_ec2::operation::run_instances::{RunInstancesError, RunInstancesOutput};
use aws_sdk_ec2::types::{
    Instance as Ec2Instance, InstanceNetworkInterface, InstanceNetworkInterfaceAttachment,
    InstancePrivateIpAddress, InstanceState, InstanceStateName, Reservation, Subnet,
};
use aws_sdk_elasticloadbalancingv2::operation::deregister_targets::DeregisterTargetsError;
use aws_sdk_elasticloadbalancingv2::operation::describe_target_groups::DescribeTargetGroupsOutput;
use aws_sdk_elasticloadbalancingv2::operation::describe_target_health::DescribeTargetHealthOutput;
use aws_sdk_elasticloadbalancingv2::operation::register_targets::RegisterTargetsOutput;
use aws_sdk_elasticloadbalancingv2::types::{
    TargetDescription, TargetGroup, TargetHealth, TargetHealthDescription, TargetHealthStateEnum,
    TargetTypeEnum,
};
use aws_sdk_sns::operation::publish::{PublishError, PublishOutput};
use aws_smithy_mocks::{RuleMode, mock, mock_client};

mod support;
use autorestart_aws::{Ec2Compute, ElbTargetGroups, SnsNotifier};
use autorestart_core::alarm::OutpostId;
use autorestart_core::error::ErrorKind;
use autorestart_core::inventory::TemplateTarget;
use autorestart_core::tags::TemplateRef;
use autorestart_flows::ports::{
    Compute, LaunchRequest, LoadBalancing, Notice, Notifier, Target, TargetGroupScope, TargetKind,
};
use support::tag;

const ARN_A: &str = "arn:aws:outposts:us-east-1:111122223333:outpost/op-0aaaaaaaaaaaaaaa1";
const ARN_B: &str = "arn:aws:outposts:us-east-1:111122223333:outpost/op-0bbbbbbbbbbbbbbb2";

fn ec2_error(code: &str) -> ErrorMetadata {
    ErrorMetadata::builder()
        .code(code)
        .message(format!("{code} (mock)"))
        .build()
}

fn ec2_instance(id: &str, subnet: &str, enabled: &str) -> Ec2Instance {
    Ec2Instance::builder()
        .instance_id(id)
        .subnet_id(subnet)
        .private_ip_address("10.0.0.10")
        .state(
            InstanceState::builder()
                .name(InstanceStateName::Running)
                .build(),
        )
        .tags(tag("autorestart:enabled", enabled))
        .tags(tag("Name", id))
        .network_interfaces(
            InstanceNetworkInterface::builder()
                .attachment(
                    InstanceNetworkInterfaceAttachment::builder()
                        .device_index(0)
                        .build(),
                )
                .private_ip_addresses(
                    InstancePrivateIpAddress::builder()
                        .private_ip_address("10.0.0.10")
                        .build(),
                )
                .build(),
        )
        .network_interfaces(
            InstanceNetworkInterface::builder()
                .attachment(
                    InstanceNetworkInterfaceAttachment::builder()
                        .device_index(1)
                        .build(),
                )
                .private_ip_address("192.168.1.10")
                .build(),
        )
        .build()
}

fn page(instances: Vec<Ec2Instance>, next: Option<&str>) -> DescribeInstancesOutput {
    DescribeInstancesOutput::builder()
        .reservations(
            Reservation::builder()
                .set_instances(Some(instances))
                .build(),
        )
        .set_next_token(next.map(str::to_owned))
        .build()
}

fn subnets(pairs: &[(&str, Option<&str>)]) -> DescribeSubnetsOutput {
    DescribeSubnetsOutput::builder()
        .set_subnets(Some(
            pairs
                .iter()
                .map(|(id, arn)| {
                    Subnet::builder()
                        .subnet_id(*id)
                        .set_outpost_arn(arn.map(str::to_owned))
                        .build()
                })
                .collect(),
        ))
        .build()
}

fn template(id: &str) -> TemplateRef {
    TemplateRef {
        id: id.into(),
        version: "$Default".into(),
    }
}

#[tokio::test]
async fn protected_instances_are_read_across_pages_and_kept_by_their_subnets_outpost() {
    let first = mock!(aws_sdk_ec2::Client::describe_instances)
        .match_requests(|r| {
            r.next_token().is_none()
                && r.filters()
                    .iter()
                    .any(|f| f.name() == Some("tag-key") && f.values() == ["autorestart:enabled"])
        })
        .then_output(|| {
            page(
                vec![
                    ec2_instance("i-1", "subnet-a", "true"),
                    ec2_instance("i-off", "subnet-a", "no"),
                ],
                Some("p2"),
            )
        });
    let second = mock!(aws_sdk_ec2::Client::describe_instances)
        .match_requests(|r| r.next_token() == Some("p2"))
        .then_output(|| {
            page(
                vec![
                    ec2_instance("i-2", "subnet-a", "TRUE"),
                    ec2_instance("i-3", "subnet-b", "true"),
                ],
                None,
            )
        });
    let subnet_read = mock!(aws_sdk_ec2::Client::describe_subnets)
        .match_requests(|r| {
            r.filters()
                .iter()
                .any(|f| f.name() == Some("subnet-id") && f.values().len() == 2)
        })
        .then_output(|| subnets(&[("subnet-a", Some(ARN_A)), ("subnet-b", Some(ARN_B))]));
    let client = mock_client!(
        aws_sdk_ec2,
        RuleMode::MatchAny,
        [&first, &second, &subnet_read]
    );

    let found = Ec2Compute::new(client)
        .protected_instances_on(&OutpostId::parse("op-0aaaaaaaaaaaaaaa1").unwrap())
        .await
        .unwrap();

    let ids: Vec<&str> = found.iter().map(|i| i.id.as_str()).collect();
    assert_eq!(
        ids,
        ["i-1", "i-2"],
        "opted in and on the Outpost, from both pages"
    );
    assert_eq!(found[0].outpost_arn.as_deref(), Some(ARN_A));
    assert_eq!(
        found[0].address_at(1),
        Some("192.168.1.10"),
        "the LNI's address is kept by device index"
    );
    assert_eq!(
        (
            first.num_calls(),
            second.num_calls(),
            subnet_read.num_calls()
        ),
        (1, 1, 1)
    );
}

#[tokio::test]
async fn access_denied_on_a_read_is_reported_as_such() {
    let denied = mock!(aws_sdk_ec2::Client::describe_instances)
        .then_error(|| DescribeInstancesError::generic(ec2_error("UnauthorizedOperation")));
    let client = mock_client!(aws_sdk_ec2, [&denied]);
    let error = Ec2Compute::new(client)
        .protected_instances_on(&OutpostId::parse("op-0aaaaaaaaaaaaaaa1").unwrap())
        .await
        .unwrap_err();
    assert_eq!(error.kind, ErrorKind::AccessDenied);
    assert_eq!(error.operation, "ec2:DescribeInstances");
    assert!(error.to_string().contains("UnauthorizedOperation"));
}

#[tokio::test]
async fn templates_resolve_to_their_subnets_outpost_or_to_a_reason() {
    // The LNI at DeviceIndex 1 comes first: the DeviceIndex 0 interface must decide.
    let with_subnet =
        |subnet: &'static str| move || support::template_version(&[(1, "subnet-lni"), (0, subnet)]);
    let b = mock!(aws_sdk_ec2::Client::describe_launch_template_versions)
        .match_requests(|r| r.launch_template_id() == Some("lt-0b"))
        .then_output(with_subnet("subnet-b"));
    let gone_subnet = mock!(aws_sdk_ec2::Client::describe_launch_template_versions)
        .match_requests(|r| r.launch_template_id() == Some("lt-0d"))
        .then_output(with_subnet("subnet-deleted"));
    let no_subnet = mock!(aws_sdk_ec2::Client::describe_launch_template_versions)
        .match_requests(|r| r.launch_template_id() == Some("lt-0e"))
        .then_output(|| support::template_version(&[]));
    let missing = mock!(aws_sdk_ec2::Client::describe_launch_template_versions)
        .match_requests(|r| r.launch_template_id() == Some("lt-0f"))
        .then_error(|| {
            DescribeLaunchTemplateVersionsError::generic(ec2_error(
                "InvalidLaunchTemplateId.NotFound",
            ))
        });
    let subnet_read = mock!(aws_sdk_ec2::Client::describe_subnets)
        .then_output(|| subnets(&[("subnet-b", Some(ARN_B))]));
    let client = mock_client!(
        aws_sdk_ec2,
        RuleMode::MatchAny,
        [&b, &gone_subnet, &no_subnet, &missing, &subnet_read]
    );

    let targets = Ec2Compute::new(client)
        .template_targets(&[
            template("lt-0b"),
            template("lt-0d"),
            template("lt-0e"),
            template("lt-0f"),
        ])
        .await
        .unwrap();

    assert_eq!(
        targets[0].1,
        TemplateTarget::Subnet {
            subnet_id: "subnet-b".into(),
            outpost_arn: Some(ARN_B.into()),
            image_id: None,
            instance_type: None,
        },
        "the DeviceIndex 0 interface decides, not the LNI"
    );
    let reason = |i: usize| match &targets[i].1 {
        TemplateTarget::Unusable { reason } => reason.clone(),
        other => panic!("{other:?}"),
    };
    assert!(
        reason(1).contains("subnet-deleted, which does not exist"),
        "{}",
        reason(1)
    );
    assert!(reason(2).contains("names no subnet"), "{}", reason(2));
    assert!(
        reason(3).contains("InvalidLaunchTemplateId.NotFound"),
        "{}",
        reason(3)
    );
}

#[tokio::test]
async fn throttled_template_reads_fail_the_read_instead_of_marking_the_template_unusable() {
    let throttled =
        mock!(aws_sdk_ec2::Client::describe_launch_template_versions).then_error(|| {
            DescribeLaunchTemplateVersionsError::generic(ec2_error("RequestLimitExceeded"))
        });
    let client = mock_client!(aws_sdk_ec2, [&throttled]);
    let error = Ec2Compute::new(client)
        .template_targets(&[template("lt-0b")])
        .await
        .unwrap_err();
    assert_eq!(error.kind, ErrorKind::Throttled);
    assert!(error.kind.is_retryable());
}

fn launch_request() -> LaunchRequest {
    LaunchRequest {
        template: template("lt-0b"),
        client_token: "a".repeat(64),
        tags: vec![("autorestart:replacement-of".into(), "i-1".into())],
    }
}

#[tokio::test]
async fn launch_sends_template_token_and_tags_and_returns_the_instance() {
    let run = mock!(aws_sdk_ec2::Client::run_instances)
        .match_requests(|r| {
            let spec = r.launch_template().unwrap();
            spec.launch_template_id() == Some("lt-0b")
                && spec.version() == Some("$Default")
                && r.client_token() == Some("a".repeat(64).as_str())
                && r.min_count() == Some(1)
                && r.max_count() == Some(1)
                && r.tag_specifications()[0].tags()[0].key() == Some("autorestart:replacement-of")
        })
        .then_output(|| {
            RunInstancesOutput::builder()
                .instances(ec2_instance("i-new", "subnet-b", "true"))
                .build()
        });
    let client = mock_client!(aws_sdk_ec2, [&run]);
    let launched = Ec2Compute::new(client)
        .launch(&launch_request())
        .await
        .unwrap();
    assert_eq!(launched.id, "i-new");
    assert_eq!(launched.subnet_id.as_deref(), Some("subnet-b"));
    assert_eq!(run.num_calls(), 1);
}

#[tokio::test]
async fn a_dry_run_launch_is_allowed_on_dry_run_operation_and_refused_otherwise() {
    let answers = [
        ("DryRunOperation", None),
        ("UnauthorizedOperation", Some(ErrorKind::AccessDenied)),
    ];
    for (code, refused) in answers {
        let run = mock!(aws_sdk_ec2::Client::run_instances)
            .match_requests(|r| {
                r.dry_run() == Some(true)
                    && r.launch_template().unwrap().launch_template_id() == Some("lt-0b")
            })
            .then_error(move || RunInstancesError::generic(ec2_error(code)));
        let client = mock_client!(aws_sdk_ec2, [&run]);
        let answer = Ec2Compute::new(client)
            .dry_run_launch(&launch_request())
            .await;
        assert_eq!(
            answer.as_ref().err().map(|e| e.kind),
            refused,
            "{code}: {answer:?}"
        );
        assert_eq!(run.num_calls(), 1, "{code}");
    }
}

#[tokio::test]
async fn a_refused_dry_run_is_decoded_by_sts_where_the_role_may() {
    use aws_sdk_sts::operation::decode_authorization_message::{
        DecodeAuthorizationMessageError, DecodeAuthorizationMessageOutput,
    };
    let refused = || {
        mock!(aws_sdk_ec2::Client::run_instances).then_error(|| {
            RunInstancesError::generic(
                ErrorMetadata::builder()
                    .code("UnauthorizedOperation")
                    .message("You are not authorized to perform this operation. Encoded authorization failure message: ENC123")
                    .build(),
            )
        })
    };
    let decoded = mock!(aws_sdk_sts::Client::decode_authorization_message)
        .match_requests(|r| r.encoded_message() == Some("ENC123"))
        .then_output(|| {
            DecodeAuthorizationMessageOutput::builder()
                .decoded_message(r#"{"allowed":false,"context":{"action":"iam:PassRole"}}"#)
                .build()
        });
    let run = refused();
    let compute = Ec2Compute::new(mock_client!(aws_sdk_ec2, [&run]))
        .with_sts(mock_client!(aws_sdk_sts, [&decoded]));
    let error = compute.dry_run_launch(&launch_request()).await.unwrap_err();
    assert_eq!(error.kind, ErrorKind::AccessDenied);
    assert!(
        error.message.contains("decoded:") && error.message.contains("iam:PassRole"),
        "{}",
        error.message
    );
    assert!(!error.message.contains("ENC123"), "{}", error.message);

    // The role may not decode: the raw message, and why it was not decoded.
    let denied = mock!(aws_sdk_sts::Client::decode_authorization_message).then_error(|| {
        DecodeAuthorizationMessageError::generic(
            aws_sdk_sts::error::ErrorMetadata::builder()
                .code("AccessDenied")
                .message("not authorized to perform: sts:DecodeAuthorizationMessage")
                .build(),
        )
    });
    let run = refused();
    let compute = Ec2Compute::new(mock_client!(aws_sdk_ec2, [&run]))
        .with_sts(mock_client!(aws_sdk_sts, [&denied]));
    let error = compute.dry_run_launch(&launch_request()).await.unwrap_err();
    assert!(
        error.message.contains("ENC123") && error.message.contains("not decoded"),
        "{}",
        error.message
    );
}

#[tokio::test]
async fn launch_errors_are_sorted_into_the_kinds_the_executor_acts_on() {
    let table = [
        (
            "InsufficientInstanceCapacity",
            ErrorKind::InsufficientCapacity,
        ),
        (
            "InsufficientCapacityOnOutpost",
            ErrorKind::InsufficientCapacity,
        ),
        (
            "InvalidLaunchTemplateId.VersionNotFound",
            ErrorKind::UnusableTemplate,
        ),
        ("UnauthorizedOperation", ErrorKind::AccessDenied),
        ("RequestLimitExceeded", ErrorKind::Throttled),
        ("IdempotentParameterMismatch", ErrorKind::Other),
    ];
    for (code, kind) in table {
        let failing = mock!(aws_sdk_ec2::Client::run_instances)
            .then_error(move || RunInstancesError::generic(ec2_error(code)));
        let client = mock_client!(aws_sdk_ec2, [&failing]);
        let error = Ec2Compute::new(client)
            .launch(&launch_request())
            .await
            .unwrap_err();
        assert_eq!(error.kind, kind, "{code}");
        assert_eq!(error.code, code);
    }
}

#[tokio::test]
async fn a_throttled_page_of_a_read_is_retried_by_the_sdk_but_run_instances_never_is() {
    let describe = mock!(aws_sdk_ec2::Client::describe_instances)
        .sequence()
        .error(|| DescribeInstancesError::generic(ec2_error("RequestLimitExceeded")))
        .times(2)
        .output(|| page(vec![ec2_instance("i-1", "subnet-a", "true")], None))
        .build();
    let subnet_read = mock!(aws_sdk_ec2::Client::describe_subnets)
        .then_output(|| subnets(&[("subnet-a", Some(ARN_A))]));
    // The agent paces RunInstances and retries it with its token: the SDK must not draw from
    // EC2's bucket behind its back, whatever retries the client is configured with.
    let run = mock!(aws_sdk_ec2::Client::run_instances)
        .sequence()
        .error(|| RunInstancesError::generic(ec2_error("RequestLimitExceeded")))
        .output(|| {
            RunInstancesOutput::builder()
                .instances(ec2_instance("i-new", "subnet-b", "true"))
                .build()
        })
        .build();
    let client = mock_client!(
        aws_sdk_ec2,
        RuleMode::Sequential,
        [&describe, &subnet_read, &run],
        |c| c.retry_config(RetryConfig::standard().with_max_attempts(3))
    );
    let compute = Ec2Compute::new(client);
    let found = compute.instances(&["i-1".into()]).await.unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(describe.num_calls(), 3);
    let error = compute.launch(&launch_request()).await.unwrap_err();
    assert_eq!(error.kind, ErrorKind::Throttled);
    assert_eq!(run.num_calls(), 1, "RunInstances retried by the SDK");
    let launched = compute.launch(&launch_request()).await.unwrap();
    assert_eq!(launched.id, "i-new");
}

#[tokio::test]
async fn tags_are_written_in_one_call_per_chunk() {
    let create = mock!(aws_sdk_ec2::Client::create_tags)
        .match_requests(|r| {
            r.resources().len() == 200 && r.tags()[0].key() == Some("autorestart:reported")
        })
        .then_output(|| CreateTagsOutput::builder().build());
    let rest = mock!(aws_sdk_ec2::Client::create_tags)
        .match_requests(|r| r.resources().len() == 50)
        .then_output(|| CreateTagsOutput::builder().build());
    let client = mock_client!(aws_sdk_ec2, RuleMode::MatchAny, [&create, &rest]);
    let ids: Vec<autorestart_core::ids::InstanceId> =
        (0..250).map(|i| format!("i-{i:017x}").into()).collect();
    Ec2Compute::new(client)
        .tag(&ids, &[("autorestart:reported".into(), "inc".into())])
        .await
        .unwrap();
    assert_eq!((create.num_calls(), rest.num_calls()), (1, 1));
}

fn group(arn: &str, kind: TargetTypeEnum) -> TargetGroup {
    TargetGroup::builder()
        .target_group_arn(arn)
        .target_type(kind)
        .build()
}

fn health(id: &str, port: i32, state: TargetHealthStateEnum) -> TargetHealthDescription {
    TargetHealthDescription::builder()
        .target(TargetDescription::builder().id(id).port(port).build())
        .target_health(TargetHealth::builder().state(state).build())
        .build()
}

#[tokio::test]
async fn memberships_cover_every_page_of_instance_and_ip_groups_but_not_draining_targets() {
    let first = mock!(aws_sdk_elasticloadbalancingv2::Client::describe_target_groups)
        .match_requests(|r| r.marker().is_none())
        .then_output(|| {
            DescribeTargetGroupsOutput::builder()
                .target_groups(group("tg-web", TargetTypeEnum::Instance))
                .target_groups(group("tg-alb", TargetTypeEnum::Alb))
                .next_marker("m2")
                .build()
        });
    let second = mock!(aws_sdk_elasticloadbalancingv2::Client::describe_target_groups)
        .match_requests(|r| r.marker() == Some("m2"))
        .then_output(|| {
            DescribeTargetGroupsOutput::builder()
                .target_groups(group("tg-ip", TargetTypeEnum::Ip))
                .build()
        });
    let web = mock!(aws_sdk_elasticloadbalancingv2::Client::describe_target_health)
        .match_requests(|r| r.target_group_arn() == Some("tg-web"))
        .then_output(|| {
            DescribeTargetHealthOutput::builder()
                .target_health_descriptions(health("i-1", 80, TargetHealthStateEnum::Unhealthy))
                .target_health_descriptions(health("i-old", 80, TargetHealthStateEnum::Draining))
                .build()
        });
    let ip = mock!(aws_sdk_elasticloadbalancingv2::Client::describe_target_health)
        .match_requests(|r| r.target_group_arn() == Some("tg-ip"))
        .then_output(|| {
            DescribeTargetHealthOutput::builder()
                .target_health_descriptions(health(
                    "10.0.0.10",
                    8080,
                    TargetHealthStateEnum::Healthy,
                ))
                .build()
        });
    let client = mock_client!(
        aws_sdk_elasticloadbalancingv2,
        RuleMode::MatchAny,
        [&first, &second, &web, &ip]
    );

    let found = ElbTargetGroups::new(client)
        .memberships(&TargetGroupScope::All)
        .await
        .unwrap();

    assert!(found.missing.is_empty());
    let summary: Vec<(&str, TargetKind, &str)> = found
        .registered
        .iter()
        .map(|m| (m.target_group_arn.as_str(), m.kind, m.target.id.as_str()))
        .collect();
    assert_eq!(
        summary,
        [
            ("tg-web", TargetKind::Instance, "i-1"),
            ("tg-ip", TargetKind::Ip, "10.0.0.10")
        ]
    );
}

fn target_group_not_found() -> aws_sdk_elasticloadbalancingv2::error::ErrorMetadata {
    aws_sdk_elasticloadbalancingv2::error::ErrorMetadata::builder()
        .code("TargetGroupNotFound")
        .message("One or more target groups not found")
        .build()
}

#[tokio::test]
async fn a_deleted_target_group_in_scope_is_listed_as_missing_and_the_others_are_read() {
    use aws_sdk_elasticloadbalancingv2::operation::describe_target_groups::DescribeTargetGroupsError;
    use aws_sdk_elasticloadbalancingv2::operation::describe_target_health::DescribeTargetHealthError;
    // ELB refuses the whole DescribeTargetGroups when one named group is gone.
    let together = mock!(aws_sdk_elasticloadbalancingv2::Client::describe_target_groups)
        .match_requests(|r| r.target_group_arns().len() > 1)
        .then_error(|| DescribeTargetGroupsError::generic(target_group_not_found()));
    let gone = mock!(aws_sdk_elasticloadbalancingv2::Client::describe_target_groups)
        .match_requests(|r| r.target_group_arns() == ["tg-gone"])
        .then_error(|| DescribeTargetGroupsError::generic(target_group_not_found()));
    let each = |arn: &'static str| {
        mock!(aws_sdk_elasticloadbalancingv2::Client::describe_target_groups)
            .match_requests(move |r| r.target_group_arns() == [arn])
            .then_output(move || {
                DescribeTargetGroupsOutput::builder()
                    .target_groups(group(arn, TargetTypeEnum::Instance))
                    .build()
            })
    };
    let (web, raced) = (each("tg-web"), each("tg-raced"));
    let web_health = mock!(aws_sdk_elasticloadbalancingv2::Client::describe_target_health)
        .match_requests(|r| r.target_group_arn() == Some("tg-web"))
        .then_output(|| {
            DescribeTargetHealthOutput::builder()
                .target_health_descriptions(health("i-1", 80, TargetHealthStateEnum::Healthy))
                .build()
        });
    // Deleted between DescribeTargetGroups and DescribeTargetHealth.
    let raced_health = mock!(aws_sdk_elasticloadbalancingv2::Client::describe_target_health)
        .match_requests(|r| r.target_group_arn() == Some("tg-raced"))
        .then_error(|| DescribeTargetHealthError::generic(target_group_not_found()));
    let client = mock_client!(
        aws_sdk_elasticloadbalancingv2,
        RuleMode::MatchAny,
        [&together, &gone, &web, &raced, &web_health, &raced_health]
    );
    let scope = TargetGroupScope::Only(vec!["tg-web".into(), "tg-gone".into(), "tg-raced".into()]);
    let found = ElbTargetGroups::new(client)
        .memberships(&scope)
        .await
        .unwrap();
    assert_eq!(found.missing, ["tg-gone", "tg-raced"]);
    assert_eq!(found.registered.len(), 1);
    assert_eq!(found.registered[0].target.id, "i-1");
    assert_eq!(together.num_calls(), 1);
}

#[tokio::test]
async fn register_health_and_deregister_send_the_targets_and_sort_errors() {
    let target = Target {
        id: "10.0.0.20".into(),
        port: Some(8080),
        availability_zone: Some("all".into()),
    };
    let register = mock!(aws_sdk_elasticloadbalancingv2::Client::register_targets)
        .match_requests(|r| {
            let t = &r.targets()[0];
            r.target_group_arn() == Some("tg-ip")
                && t.id() == Some("10.0.0.20")
                && t.port() == Some(8080)
                && t.availability_zone() == Some("all")
        })
        .then_output(|| RegisterTargetsOutput::builder().build());
    let health_read = mock!(aws_sdk_elasticloadbalancingv2::Client::describe_target_health)
        .match_requests(|r| r.targets().len() == 1)
        .then_output(|| {
            DescribeTargetHealthOutput::builder()
                .target_health_descriptions(health(
                    "10.0.0.20",
                    8080,
                    TargetHealthStateEnum::Initial,
                ))
                .build()
        });
    let deregister =
        mock!(aws_sdk_elasticloadbalancingv2::Client::deregister_targets).then_error(|| {
            DeregisterTargetsError::generic(
                aws_sdk_elasticloadbalancingv2::error::ErrorMetadata::builder()
                    .code("TargetGroupNotFound")
                    .message("One or more target groups not found")
                    .build(),
            )
        });
    let client = mock_client!(
        aws_sdk_elasticloadbalancingv2,
        RuleMode::MatchAny,
        [&register, &health_read, &deregister]
    );
    let elb = ElbTargetGroups::new(client);

    elb.register(&"tg-ip".into(), std::slice::from_ref(&target))
        .await
        .unwrap();
    let states = elb
        .health(&"tg-ip".into(), std::slice::from_ref(&target))
        .await
        .unwrap();
    assert_eq!(states[0].state, "initial");
    let error = elb
        .deregister(&"tg-ip".into(), &[target])
        .await
        .unwrap_err();
    assert_eq!(error.kind, ErrorKind::NotFound);
    assert_eq!(register.num_calls(), 1);
}

#[tokio::test]
async fn publish_sends_subject_body_and_attributes_and_sorts_errors() {
    let publish = mock!(aws_sdk_sns::Client::publish)
        .match_requests(|r| {
            r.topic_arn() == Some("arn:aws:sns:us-east-1:111122223333:t")
                && r.subject() == Some("subject")
                && r.message() == Some("body")
                && r.message_attributes().unwrap()["outpost"].string_value() == Some("op-1")
        })
        .then_output(|| PublishOutput::builder().message_id("m-1").build());
    let client = mock_client!(aws_sdk_sns, [&publish]);
    let notice = Notice {
        subject: "subject".into(),
        body: "body".into(),
        attributes: vec![("outpost".into(), "op-1".into())],
    };
    let sns = SnsNotifier::new(client, "arn:aws:sns:us-east-1:111122223333:t");
    assert_eq!(sns.publish(&notice).await.unwrap(), "m-1");

    let denied = mock!(aws_sdk_sns::Client::publish).then_error(|| {
        PublishError::generic(
            aws_sdk_sns::error::ErrorMetadata::builder()
                .code("AuthorizationError")
                .message("not authorized to publish")
                .build(),
        )
    });
    let client = mock_client!(aws_sdk_sns, [&denied]);
    let error = SnsNotifier::new(client, "arn:aws:sns:us-east-1:111122223333:t")
        .publish(&notice)
        .await
        .unwrap_err();
    assert_eq!(error.kind, ErrorKind::AccessDenied);
}

#[tokio::test]
async fn states_answer_terminated_instances_too_and_sort_errors() {
    let mut terminated = ec2_instance("i-dead", "subnet-b", "true");
    terminated.state = Some(
        InstanceState::builder()
            .name(InstanceStateName::Terminated)
            .build(),
    );
    let read = mock!(aws_sdk_ec2::Client::describe_instances)
        .match_requests(|r| {
            r.filters().len() == 1
                && r.filters()[0].name() == Some("instance-id")
                && r.filters()[0].values() == ["i-dead", "i-live"]
        })
        .then_output(move || {
            page(
                vec![
                    terminated.clone(),
                    ec2_instance("i-live", "subnet-b", "true"),
                ],
                None,
            )
        });
    let client = mock_client!(aws_sdk_ec2, [&read]);
    let states = Ec2Compute::new(client)
        .states(&["i-dead".into(), "i-live".into()])
        .await
        .unwrap();
    assert_eq!(
        states,
        [
            (
                "i-dead".into(),
                autorestart_core::vocabulary::InstanceState::Terminated
            ),
            (
                "i-live".into(),
                autorestart_core::vocabulary::InstanceState::Running
            )
        ]
    );
    let denied = mock!(aws_sdk_ec2::Client::describe_instances)
        .then_error(|| DescribeInstancesError::generic(ec2_error("UnauthorizedOperation")));
    let client = mock_client!(aws_sdk_ec2, [&denied]);
    let error = Ec2Compute::new(client)
        .states(&["i-dead".into()])
        .await
        .unwrap_err();
    assert_eq!(error.kind, ErrorKind::AccessDenied);
}
