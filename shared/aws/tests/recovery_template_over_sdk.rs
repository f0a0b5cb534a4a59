//! The recovery template generator (`autorestart template`) end to end over EC2 (`generate` through [`Ec2Templates`])
//! against `aws-smithy-mocks`: the launch template and tag it writes for an Outposts server
//! instance, what a second run, a race, a dry run and a malformed tag change, the refusals that
//! stop it before anything is written, and the error kinds its AWS failures are sorted into.

use autorestart_core::error::ErrorKind;
use autorestart_core::template_plan::Refusal;
use autorestart_flows::template::{GenerateError, generate, prepare_sentinel};
use aws_sdk_ec2::operation::create_launch_template::{
    CreateLaunchTemplateError, CreateLaunchTemplateInput, CreateLaunchTemplateOutput,
};
use aws_sdk_ec2::operation::create_tags::CreateTagsOutput;
use aws_sdk_ec2::operation::describe_instances::DescribeInstancesError;
use aws_sdk_ec2::operation::describe_launch_templates::DescribeLaunchTemplatesOutput;
use aws_sdk_ec2::operation::describe_subnets::DescribeSubnetsError;
use aws_sdk_ec2::operation::modify_instance_metadata_options::{
    ModifyInstanceMetadataOptionsError, ModifyInstanceMetadataOptionsOutput,
};
use aws_sdk_ec2::types::{
    InstanceMetadataTagsState, InstanceType, LaunchTemplate,
    LaunchTemplateBlockDeviceMappingRequest, LaunchTemplateEbsBlockDeviceRequest,
    LaunchTemplateHttpTokensState, LaunchTemplateInstanceMetadataOptionsRequest,
    LaunchTemplateInstanceMetadataTagsState,
    LaunchTemplateInstanceNetworkInterfaceSpecificationRequest,
    LaunchTemplateTagSpecificationRequest, ResourceType, TagSpecification, VolumeType,
};
use aws_smithy_mocks::mock;
use std::sync::{Arc, Mutex};
use support::{aws_error, tag};

mod support;
use support::template_world::*;

#[tokio::test]
async fn a_new_template_relaunches_the_instance_on_the_alternate_outpost_and_is_added_to_its_tag() {
    let reads = Reads::standard();
    let lookup = template_lookup(None);
    let sent: Arc<Mutex<Vec<CreateLaunchTemplateInput>>> = Arc::default();
    let create = {
        let sent = Arc::clone(&sent);
        mock!(aws_sdk_ec2::Client::create_launch_template)
            .match_requests(|r| r.launch_template_name() == Some(TEMPLATE_NAME))
            .then_compute_output(move |r| {
                sent.lock().unwrap().push(r.clone());
                template_created()
            })
    };
    let tagging = tagging_templates(TEMPLATES_AFTER);
    let store = reads.store(&[&lookup, &create, &tagging]);

    let report = generate(&store, &request(false)).await.unwrap();

    assert_eq!(reads.calls(), [1, 1, 1, 1, 1]);
    assert_eq!(
        (lookup.num_calls(), create.num_calls(), tagging.num_calls()),
        (1, 1, 1),
        "looked up, created, then tagged {TEMPLATES_TAG}={TEMPLATES_AFTER}"
    );

    let sent = sent
        .lock()
        .unwrap()
        .pop()
        .expect("CreateLaunchTemplate was sent");
    assert_eq!(sent.launch_template_name(), Some(TEMPLATE_NAME));
    let token = sent.client_token().expect("a client token");
    assert!(
        token.len() == 64
            && token
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')),
        "{token:?} is not 64 lowercase hex digits"
    );
    assert_eq!(token, report.plan.client_token);
    let description = sent.version_description().unwrap_or_default();
    assert!(
        description.contains(INSTANCE) && description.contains(OUTPOST_B),
        "{description:?}"
    );
    assert_eq!(
        sent.tag_specifications(),
        [TagSpecification::builder()
            .resource_type(ResourceType::LaunchTemplate)
            .tags(tag("autorestart:template-for", INSTANCE))
            .tags(tag("autorestart:template-shape", &report.plan.shape))
            .tags(tag("Name", TEMPLATE_NAME))
            .build()]
    );

    let data = sent.launch_template_data().expect("launch template data");
    assert_eq!(data.image_id(), Some(IMAGE));
    assert_eq!(data.instance_type(), Some(&InstanceType::C6idLarge));
    assert_eq!(data.key_name(), Some(KEY_NAME));
    assert_eq!(
        data.iam_instance_profile().and_then(|p| p.arn()),
        Some(PROFILE_ARN)
    );
    assert_eq!(data.user_data(), Some(USER_DATA));
    assert_eq!(
        data.metadata_options(),
        Some(
            &LaunchTemplateInstanceMetadataOptionsRequest::builder()
                .http_tokens(LaunchTemplateHttpTokensState::Required)
                .http_put_response_hop_limit(2)
                .instance_metadata_tags(LaunchTemplateInstanceMetadataTagsState::Enabled)
                .build()
        )
    );
    assert_eq!(
        data.network_interfaces(),
        [
            LaunchTemplateInstanceNetworkInterfaceSpecificationRequest::builder()
                .device_index(0)
                .subnet_id(TARGET_SUBNET)
                .groups("sg-0web")
                .groups("sg-0ops")
                .description("primary")
                .delete_on_termination(true)
                .build(),
            // The LNI: no security groups (an LNI uses none), its empty description left out.
            LaunchTemplateInstanceNetworkInterfaceSpecificationRequest::builder()
                .device_index(1)
                .subnet_id(TARGET_SUBNET)
                .delete_on_termination(true)
                .build(),
        ]
    );
    assert!(
        data.security_group_ids().is_empty() && data.placement().is_none(),
        "security groups go on the interfaces and the subnet places the instance"
    );
    assert_eq!(
        data.block_device_mappings(),
        [
            LaunchTemplateBlockDeviceMappingRequest::builder()
                .device_name("/dev/xvda")
                .ebs(
                    LaunchTemplateEbsBlockDeviceRequest::builder()
                        .volume_size(30)
                        .volume_type(VolumeType::Gp3)
                        .iops(3000)
                        .throughput(125)
                        .delete_on_termination(true)
                        .build(),
                )
                .build(),
            LaunchTemplateBlockDeviceMappingRequest::builder()
                .device_name("/dev/sdf")
                .ebs(
                    LaunchTemplateEbsBlockDeviceRequest::builder()
                        .volume_size(100)
                        .volume_type(VolumeType::Io2)
                        .iops(3000)
                        // Empty on the replacement: it goes with it (the original kept its own).
                        .delete_on_termination(true)
                        .build(),
                )
                .build(),
        ]
    );
    assert!(
        data.block_device_mappings()
            .iter()
            .all(|m| m.ebs().is_some_and(|ebs| ebs.snapshot_id().is_none())),
        "volumes are new, not restored from a snapshot"
    );
    assert_eq!(
        data.tag_specifications(),
        [LaunchTemplateTagSpecificationRequest::builder()
            .resource_type(ResourceType::Instance)
            .tags(tag("team", "payments"))
            .build()],
        "the workload's own tags only: not Name, not autorestart:*"
    );

    assert!(
        report.created && report.tagged && !report.dry_run,
        "{report:?}"
    );
    assert_eq!(report.template_id.as_deref(), Some(NEW_TEMPLATE));
    assert_eq!(report.plan.template_name, TEMPLATE_NAME);
    assert_eq!(report.plan.target_outpost, OUTPOST_B);
    assert_eq!(
        report.templates_tag_before.as_deref(),
        Some(EXISTING_TEMPLATES)
    );
    assert_eq!(report.templates_tag_after.as_deref(), Some(TEMPLATES_AFTER));
    assert_eq!(report.plan.warnings.len(), 2, "{:?}", report.plan.warnings);
    assert!(
        report.plan.warnings[0].contains("/dev/sdf becomes a new empty 100 GiB volume")
            && report.plan.warnings[1].contains("new MAC and IP address"),
        "{:?}",
        report.plan.warnings
    );
    assert!(report.ec2_warnings.is_empty(), "{:?}", report.ec2_warnings);
}

#[tokio::test]
async fn running_again_finds_the_template_by_name_and_writes_nothing() {
    let reads = Reads::with_templates_tag(TEMPLATES_AFTER);
    let lookup = template_lookup(Some(NEW_TEMPLATE));
    let create = any_create();
    let tagging = any_tagging();
    let store = reads.store(&[&lookup, &create, &tagging]);

    let report = generate(&store, &request(false)).await.unwrap();

    assert_eq!(lookup.num_calls(), 1);
    assert_eq!(
        (create.num_calls(), tagging.num_calls()),
        (0, 0),
        "the template exists and the tag names it already"
    );
    assert!(!report.created && !report.tagged, "{report:?}");
    assert_eq!(report.template_id.as_deref(), Some(NEW_TEMPLATE));
    assert_eq!(
        report.templates_tag_before.as_deref(),
        Some(TEMPLATES_AFTER)
    );
    assert_eq!(report.templates_tag_after.as_deref(), Some(TEMPLATES_AFTER));
}

#[tokio::test]
async fn a_template_that_no_longer_matches_its_instance_is_kept_but_flagged() {
    let reads = Reads::with_templates_tag(TEMPLATES_AFTER);
    let lookup = mock!(aws_sdk_ec2::Client::describe_launch_templates)
        .match_requests(asks_for_the_template_by_name)
        .then_output(|| {
            DescribeLaunchTemplatesOutput::builder()
                .launch_templates(
                    LaunchTemplate::builder()
                        .launch_template_id(NEW_TEMPLATE)
                        .launch_template_name(TEMPLATE_NAME)
                        .tags(tag("autorestart:template-shape", "made-from-an-older-ami"))
                        .build(),
                )
                .build()
        });
    let create = any_create();
    let tagging = any_tagging();
    let store = reads.store(&[&lookup, &create, &tagging]);

    let report = generate(&store, &request(false)).await.unwrap();

    assert_eq!((create.num_calls(), tagging.num_calls()), (0, 0));
    assert!(
        report
            .plan
            .warnings
            .iter()
            .any(|w| w.contains("differs from it now") && w.contains("delete the template")),
        "{:?}",
        report.plan.warnings
    );
}

#[tokio::test]
async fn what_ec2_flags_in_a_new_template_is_reported() {
    let reads = Reads::standard();
    let lookup = template_lookup(None);
    let create = mock!(aws_sdk_ec2::Client::create_launch_template).then_output(|| {
        CreateLaunchTemplateOutput::builder()
            .launch_template(
                LaunchTemplate::builder()
                    .launch_template_id(NEW_TEMPLATE)
                    .launch_template_name(TEMPLATE_NAME)
                    .build(),
            )
            .warning(
                aws_sdk_ec2::types::ValidationWarning::builder()
                    .errors(
                        aws_sdk_ec2::types::ValidationError::builder()
                            .code("InvalidKeyPair.NotFound")
                            .message("The key pair 'ops' does not exist")
                            .build(),
                    )
                    .build(),
            )
            .build()
    });
    let tagging = tagging_templates(TEMPLATES_AFTER);
    let store = reads.store(&[&lookup, &create, &tagging]);

    let report = generate(&store, &request(false)).await.unwrap();

    assert!(report.created, "{report:?}");
    assert_eq!(
        report.ec2_warnings,
        vec!["InvalidKeyPair.NotFound: The key pair 'ops' does not exist".to_owned()]
    );
}

#[tokio::test]
async fn a_template_made_meanwhile_by_another_run_is_looked_up_again_and_tagged() {
    let reads = Reads::standard();
    let lookup = mock!(aws_sdk_ec2::Client::describe_launch_templates)
        .match_requests(asks_for_the_template_by_name)
        .sequence()
        .output(|| templates_named(None))
        .output(|| templates_named(Some(NEW_TEMPLATE)))
        .build();
    let create = mock!(aws_sdk_ec2::Client::create_launch_template)
        .match_requests(|r| r.launch_template_name() == Some(TEMPLATE_NAME))
        .then_error(|| {
            CreateLaunchTemplateError::generic(aws_error(
                "InvalidLaunchTemplateName.AlreadyExistsException",
            ))
        });
    let tagging = tagging_templates(TEMPLATES_AFTER);
    let store = reads.store(&[&lookup, &create, &tagging]);

    let report = generate(&store, &request(false)).await.unwrap();

    assert_eq!(
        (lookup.num_calls(), create.num_calls(), tagging.num_calls()),
        (2, 1, 1),
        "looked up, lost the race, looked up again, tagged with the winner's id"
    );
    assert!(!report.created && report.tagged, "{report:?}");
    assert_eq!(report.template_id.as_deref(), Some(NEW_TEMPLATE));
    assert_eq!(report.templates_tag_after.as_deref(), Some(TEMPLATES_AFTER));
}

#[tokio::test]
async fn a_name_taken_by_a_template_that_cannot_be_read_yet_is_a_retryable_error_and_tags_nothing()
{
    let reads = Reads::standard();
    let lookup = mock!(aws_sdk_ec2::Client::describe_launch_templates)
        .match_requests(asks_for_the_template_by_name)
        .then_output(|| templates_named(None));
    let create = mock!(aws_sdk_ec2::Client::create_launch_template)
        .match_requests(|r| r.launch_template_name() == Some(TEMPLATE_NAME))
        .then_error(|| {
            CreateLaunchTemplateError::generic(aws_error(
                "InvalidLaunchTemplateName.AlreadyExistsException",
            ))
        });
    let tagging = tagging_templates(TEMPLATES_AFTER);
    let store = reads.store(&[&lookup, &create, &tagging]);

    let error = generate(&store, &request(false)).await.unwrap_err();

    let GenerateError::Aws(error) = error else {
        panic!("expected an AWS error, got {error:?}");
    };
    assert!(error.kind.is_retryable(), "{error:?}");
    assert!(error.to_string().contains("run again"), "{error}");
    assert_eq!((lookup.num_calls(), tagging.num_calls()), (2, 0));
}

#[tokio::test]
async fn a_subnet_on_the_instances_own_outpost_is_refused_before_anything_is_written() {
    let reads = Reads {
        target_subnet: describe_subnet(TARGET_SUBNET, ARN_A, Some(1)),
        ..Reads::standard()
    };
    let lookup = template_lookup(None);
    let create = any_create();
    let tagging = any_tagging();
    let store = reads.store(&[&lookup, &create, &tagging]);

    let refusal = refused(generate(&store, &request(false)).await);

    assert_eq!(
        refusal,
        Refusal::SameOutpost {
            subnet: TARGET_SUBNET.into(),
            outpost: OUTPOST_A.into(),
        }
    );
    assert!(
        refusal
            .to_string()
            .contains("choose a subnet on an alternate Outpost server"),
        "{refusal}"
    );
    assert_eq!(reads.calls(), [1, 1, 1, 1, 1]);
    assert_eq!(
        (lookup.num_calls(), create.num_calls(), tagging.num_calls()),
        (0, 0, 0)
    );
}

#[tokio::test]
async fn a_subnet_without_lnis_at_device_index_one_is_refused_with_the_command_that_fixes_it() {
    let reads = Reads {
        target_subnet: describe_subnet(TARGET_SUBNET, ARN_B, None),
        ..Reads::standard()
    };
    let create = any_create();
    let tagging = any_tagging();
    let store = reads.store(&[&create, &tagging]);

    let refusal = refused(generate(&store, &request(false)).await);

    assert_eq!(
        refusal,
        Refusal::NoLni {
            instance: INSTANCE.into(),
            subnet: TARGET_SUBNET.into(),
        }
    );
    assert!(
        refusal.to_string().contains(
            "aws ec2 modify-subnet-attribute --subnet-id subnet-0bbb --enable-lni-at-device-index 1"
        ),
        "{refusal}"
    );
    assert_eq!((create.num_calls(), tagging.num_calls()), (0, 0));
}

#[tokio::test]
async fn an_unknown_instance_is_refused_as_not_found_without_reading_further() {
    let reads = Reads {
        instance: mock!(aws_sdk_ec2::Client::describe_instances)
            .match_requests(|r| r.instance_ids() == [INSTANCE])
            .then_error(|| {
                DescribeInstancesError::generic(aws_error("InvalidInstanceID.NotFound"))
            }),
        ..Reads::standard()
    };
    let create = any_create();
    let store = reads.store(&[&create]);

    let refusal = refused(generate(&store, &request(false)).await);

    assert_eq!(refusal, Refusal::InstanceNotFound(INSTANCE.into()));
    assert!(refusal.to_string().contains("does not exist"), "{refusal}");
    assert_eq!(
        reads.calls(),
        [1, 0, 0, 0, 0],
        "not retried, nothing else read"
    );
    assert_eq!(create.num_calls(), 0);
}

#[tokio::test]
async fn an_unknown_subnet_is_refused_as_not_found() {
    let reads = Reads {
        target_subnet: mock!(aws_sdk_ec2::Client::describe_subnets)
            .match_requests(|r| r.subnet_ids() == [TARGET_SUBNET])
            .then_error(|| DescribeSubnetsError::generic(aws_error("InvalidSubnetID.NotFound"))),
        ..Reads::standard()
    };
    let lookup = template_lookup(None);
    let create = any_create();
    let store = reads.store(&[&lookup, &create]);

    let refusal = refused(generate(&store, &request(false)).await);

    assert_eq!(refusal, Refusal::SubnetNotFound(TARGET_SUBNET.into()));
    assert!(
        refusal.to_string().contains("subnet-0bbb does not exist"),
        "{refusal}"
    );
    assert_eq!(reads.target_subnet.num_calls(), 1, "not retried");
    assert_eq!((lookup.num_calls(), create.num_calls()), (0, 0));
}

#[tokio::test]
async fn a_dry_run_reads_everything_and_writes_nothing() {
    let reads = Reads::standard();
    let lookup = template_lookup(None);
    let create = any_create();
    let tagging = any_tagging();
    let store = reads.store(&[&lookup, &create, &tagging]);

    let report = generate(&store, &request(true)).await.unwrap();

    assert_eq!(reads.calls(), [1, 1, 1, 1, 1]);
    assert_eq!(lookup.num_calls(), 1);
    assert_eq!((create.num_calls(), tagging.num_calls()), (0, 0));
    assert!(
        report.dry_run && !report.created && !report.tagged,
        "{report:?}"
    );
    assert!(report.template_id.is_none(), "no template yet: {report:?}");
    assert_eq!(
        report.templates_tag_after,
        Some(format!("{EXISTING_TEMPLATES},<new template>")),
        "the tag it would write, the new template's id still unknown"
    );
    assert_eq!(
        report.templates_tag_before.as_deref(),
        Some(EXISTING_TEMPLATES)
    );
    assert_eq!(report.plan.template_name, TEMPLATE_NAME);
    assert_eq!(report.plan.data.interfaces.len(), 2);
}

#[tokio::test]
async fn a_dry_run_over_an_existing_template_shows_the_tag_it_would_write() {
    let reads = Reads::standard();
    let lookup = template_lookup(Some(NEW_TEMPLATE));
    let create = any_create();
    let tagging = any_tagging();
    let store = reads.store(&[&lookup, &create, &tagging]);

    let report = generate(&store, &request(true)).await.unwrap();

    assert_eq!((create.num_calls(), tagging.num_calls()), (0, 0));
    assert!(
        report.dry_run && !report.created && !report.tagged,
        "{report:?}"
    );
    assert_eq!(report.template_id.as_deref(), Some(NEW_TEMPLATE));
    assert_eq!(report.templates_tag_after.as_deref(), Some(TEMPLATES_AFTER));
}

#[tokio::test]
async fn a_denied_create_is_an_access_denied_error_and_nothing_is_tagged() {
    let reads = Reads::standard();
    let lookup = template_lookup(None);
    let create = mock!(aws_sdk_ec2::Client::create_launch_template)
        .then_error(|| CreateLaunchTemplateError::generic(aws_error("UnauthorizedOperation")));
    let tagging = any_tagging();
    let store = reads.store(&[&lookup, &create, &tagging]);

    let error = aws_failure(generate(&store, &request(false)).await);

    assert_eq!(error.kind, ErrorKind::AccessDenied);
    assert_eq!(
        (error.operation, error.code.as_str()),
        ("ec2:CreateLaunchTemplate", "UnauthorizedOperation")
    );
    assert_eq!(create.num_calls(), 1, "a denial is not retried");
    assert_eq!(tagging.num_calls(), 0);
}

#[tokio::test]
async fn instance_read_throttling_that_outlasts_the_sdk_retries_is_reported_as_throttled() {
    let reads = Reads {
        instance: mock!(aws_sdk_ec2::Client::describe_instances)
            .then_error(|| DescribeInstancesError::generic(aws_error("RequestLimitExceeded"))),
        ..Reads::standard()
    };
    let lookup = template_lookup(None);
    let create = any_create();
    let store = reads.store(&[&lookup, &create]);

    let error = aws_failure(generate(&store, &request(false)).await);

    assert_eq!(error.kind, ErrorKind::Throttled);
    assert!(error.kind.is_retryable());
    assert_eq!(
        (error.operation, error.code.as_str()),
        ("ec2:DescribeInstances", "RequestLimitExceeded")
    );
    assert_eq!(
        reads.calls(),
        [3, 0, 0, 0, 0],
        "the SDK made every attempt, then nothing else was read"
    );
    assert_eq!((lookup.num_calls(), create.num_calls()), (0, 0));
}

#[tokio::test]
async fn a_malformed_templates_tag_is_refused_before_any_template_is_created() {
    let reads = Reads::with_templates_tag("ami-123");
    let lookup = template_lookup(None);
    let create = any_create();
    let tagging = any_tagging();
    let store = reads.store(&[&lookup, &create, &tagging]);

    let refusal = refused(generate(&store, &request(false)).await);

    let Refusal::BadTemplatesTag { instance, problem } = &refusal else {
        panic!("expected BadTemplatesTag, got {refusal:?}");
    };
    assert_eq!(instance, INSTANCE);
    assert!(problem.contains("\"ami-123\""), "{problem}");
    assert!(
        refusal.to_string().contains("fix the tag, then run again"),
        "{refusal}"
    );
    assert_eq!(
        (lookup.num_calls(), create.num_calls(), tagging.num_calls()),
        (0, 0, 0)
    );
}

/// `ModifyInstanceMetadataOptions` turning the instance's metadata tags on, counted.
fn enabling_metadata_tags() -> aws_smithy_mocks::Rule {
    mock!(aws_sdk_ec2::Client::modify_instance_metadata_options)
        .match_requests(|r| {
            r.instance_id() == Some(INSTANCE)
                && r.instance_metadata_tags() == Some(&InstanceMetadataTagsState::Enabled)
        })
        .then_output(|| ModifyInstanceMetadataOptionsOutput::builder().build())
}

fn tagging_policy(value: &str) -> aws_smithy_mocks::Rule {
    let expected = tag("autorestart:on-link-loss", value);
    mock!(aws_sdk_ec2::Client::create_tags)
        .match_requests(move |r| {
            r.resources() == [INSTANCE] && r.tags() == std::slice::from_ref(&expected)
        })
        .then_output(|| CreateTagsOutput::builder().build())
}

#[tokio::test]
async fn the_sentinel_setup_enables_metadata_tags_before_it_tags_the_policy() {
    let reads = Reads::standard();
    let enable = enabling_metadata_tags();
    let policy = tagging_policy("self-fenced:120");
    let store = reads.store(&[&enable, &policy]);

    let setup = prepare_sentinel(&store, INSTANCE, 120).await.unwrap();

    assert_eq!((enable.num_calls(), policy.num_calls()), (1, 1));
    assert_eq!(setup.policy, "self-fenced:120");
    assert_eq!(setup.policy_before, None);
}

#[tokio::test]
async fn the_sentinel_setup_refuses_a_fence_time_the_agent_would_not_read_before_any_call() {
    let reads = Reads::standard();
    let enable = enabling_metadata_tags();
    let store = reads.store(&[&enable]);

    for seconds in [0, 86_401] {
        let error = prepare_sentinel(&store, INSTANCE, seconds)
            .await
            .unwrap_err();
        assert!(
            matches!(&error, GenerateError::Refused(Refusal::BadLinkLossPolicy(why)) if why.contains("outside 1 to 86400")),
            "{error}"
        );
    }
    assert_eq!((reads.instance.num_calls(), enable.num_calls()), (0, 0));
}

#[tokio::test]
async fn a_denied_metadata_change_tags_nothing() {
    let reads = Reads::standard();
    let denied = mock!(aws_sdk_ec2::Client::modify_instance_metadata_options).then_error(|| {
        ModifyInstanceMetadataOptionsError::generic(aws_error("UnauthorizedOperation"))
    });
    let policy = tagging_policy("self-fenced:120");
    let store = reads.store(&[&denied, &policy]);

    let error = prepare_sentinel(&store, INSTANCE, 120).await.unwrap_err();

    assert!(
        matches!(&error, GenerateError::Aws(e) if e.kind == ErrorKind::AccessDenied),
        "{error}"
    );
    assert_eq!(policy.num_calls(), 0, "no policy without readable tags");
}
