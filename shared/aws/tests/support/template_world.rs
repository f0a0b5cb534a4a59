//! The helpers of `recovery_template_over_sdk.rs`.

use super::{aws_error, fast_retries, tag};
use autorestart_aws::Ec2Templates;
use autorestart_core::error::{AwsError, ErrorKind};
use autorestart_core::template_plan::Refusal;
use autorestart_flows::template::{GenerateError, GenerateReport, GenerateRequest, generate};
use aws_sdk_ec2::operation::create_launch_template::{
    CreateLaunchTemplateError, CreateLaunchTemplateInput, CreateLaunchTemplateOutput,
};
use aws_sdk_ec2::operation::create_tags::CreateTagsOutput;
use aws_sdk_ec2::operation::describe_instance_attribute::DescribeInstanceAttributeOutput;
use aws_sdk_ec2::operation::describe_instances::{DescribeInstancesError, DescribeInstancesOutput};
use aws_sdk_ec2::operation::describe_launch_templates::{
    DescribeLaunchTemplatesInput, DescribeLaunchTemplatesOutput,
};
use aws_sdk_ec2::operation::describe_subnets::{DescribeSubnetsError, DescribeSubnetsOutput};
use aws_sdk_ec2::operation::describe_volumes::DescribeVolumesOutput;
use aws_sdk_ec2::types::{
    AttributeValue, EbsInstanceBlockDevice, GroupIdentifier, HttpTokensState, IamInstanceProfile,
    Instance, InstanceAttributeName, InstanceBlockDeviceMapping, InstanceMetadataOptionsResponse,
    InstanceMetadataTagsState, InstanceNetworkInterface, InstanceNetworkInterfaceAttachment,
    InstanceState, InstanceStateName, InstanceType, LaunchTemplate,
    LaunchTemplateBlockDeviceMappingRequest, LaunchTemplateEbsBlockDeviceRequest,
    LaunchTemplateHttpTokensState, LaunchTemplateInstanceMetadataOptionsRequest,
    LaunchTemplateInstanceMetadataTagsState,
    LaunchTemplateInstanceNetworkInterfaceSpecificationRequest,
    LaunchTemplateTagSpecificationRequest, Reservation, ResourceType, Subnet, TagSpecification,
    Volume, VolumeType,
};
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use std::sync::{Arc, Mutex};

pub const INSTANCE: &str = "i-0123456789abcdef0";

pub const VPC: &str = "vpc-0a1b2c3d";

/// The instance's subnet, on Outpost A.
pub const OWN_SUBNET: &str = "subnet-0aaa";

/// The subnet the template launches into, on Outpost B.
pub const TARGET_SUBNET: &str = "subnet-0bbb";

pub const OUTPOST_A: &str = "op-0aaaaaaaaaaaaaaa1";

pub const OUTPOST_B: &str = "op-0bbbbbbbbbbbbbbb2";

pub const ARN_A: &str = "arn:aws:outposts:us-east-1:111122223333:outpost/op-0aaaaaaaaaaaaaaa1";

pub const ARN_B: &str = "arn:aws:outposts:us-east-1:111122223333:outpost/op-0bbbbbbbbbbbbbbb2";

pub const IMAGE: &str = "ami-0fedcba9876543210";

pub const KEY_NAME: &str = "ops-key";

pub const PROFILE_ARN: &str = "arn:aws:iam::111122223333:instance-profile/payments-web";

/// `#!/bin/bash\necho recovered\n`, base64 as EC2 returns it.
pub const USER_DATA: &str = "IyEvYmluL2Jhc2gKZWNobyByZWNvdmVyZWQK";

pub const ROOT_VOLUME: &str = "vol-0root";

pub const DATA_VOLUME: &str = "vol-0data";

pub const TEMPLATES_TAG: &str = "autorestart:recovery-templates";

/// The instance's `autorestart:recovery-templates` before the generator runs.
pub const EXISTING_TEMPLATES: &str = "lt-0aaa:2";

/// The name the generator gives the template for [`INSTANCE`] on [`TARGET_SUBNET`].
pub const TEMPLATE_NAME: &str = "autorestart-i-0123456789abcdef0-subnet-0bbb";

/// The id EC2 gives the new template.
pub const NEW_TEMPLATE: &str = "lt-0123456789abcdef0";

/// The instance's `autorestart:recovery-templates` once the new template is added last.
pub const TEMPLATES_AFTER: &str = "lt-0aaa:2,lt-0123456789abcdef0";

pub fn request(dry_run: bool) -> GenerateRequest {
    GenerateRequest {
        instance_id: INSTANCE.into(),
        subnet_id: TARGET_SUBNET.into(),
        dry_run,
    }
}

/// A network interface attached at `device_index`.
pub fn interface(
    device_index: i32,
    groups: &[&str],
    description: &str,
) -> InstanceNetworkInterface {
    let mut interface = InstanceNetworkInterface::builder()
        .attachment(
            InstanceNetworkInterfaceAttachment::builder()
                .device_index(device_index)
                .build(),
        )
        .subnet_id(OWN_SUBNET)
        .description(description);
    for group in groups {
        interface = interface.groups(GroupIdentifier::builder().group_id(*group).build());
    }
    interface.build()
}

pub fn ebs_mapping(
    device: &str,
    volume: &str,
    delete_on_termination: bool,
) -> InstanceBlockDeviceMapping {
    InstanceBlockDeviceMapping::builder()
        .device_name(device)
        .ebs(
            EbsInstanceBlockDevice::builder()
                .volume_id(volume)
                .delete_on_termination(delete_on_termination)
                .build(),
        )
        .build()
}

/// The opted-in Outposts server instance on Outpost A, with this `autorestart:recovery-templates`.
pub fn source_instance(templates: &str) -> Instance {
    Instance::builder()
        .instance_id(INSTANCE)
        .state(
            InstanceState::builder()
                .name(InstanceStateName::Running)
                .build(),
        )
        .image_id(IMAGE)
        .instance_type(InstanceType::C6idLarge)
        .key_name(KEY_NAME)
        .iam_instance_profile(IamInstanceProfile::builder().arn(PROFILE_ARN).build())
        .metadata_options(
            InstanceMetadataOptionsResponse::builder()
                .http_tokens(HttpTokensState::Required)
                .http_put_response_hop_limit(2)
                .instance_metadata_tags(InstanceMetadataTagsState::Enabled)
                .build(),
        )
        .subnet_id(OWN_SUBNET)
        .vpc_id(VPC)
        .root_device_name("/dev/xvda")
        // The LNI listed first: the template must still start at device index 0.
        .network_interfaces(interface(1, &["sg-0lni"], ""))
        .network_interfaces(interface(0, &["sg-0web", "sg-0ops"], "primary"))
        .block_device_mappings(ebs_mapping("/dev/xvda", ROOT_VOLUME, true))
        .block_device_mappings(ebs_mapping("/dev/sdf", DATA_VOLUME, false))
        .tags(tag("autorestart:enabled", "true"))
        .tags(tag("Name", "payments-web-1"))
        .tags(tag("team", "payments"))
        .tags(tag(TEMPLATES_TAG, templates))
        .build()
}

/// DescribeInstances for [`INSTANCE`], answering with [`source_instance`].
pub fn describe_instance(templates: &str) -> Rule {
    let templates = templates.to_owned();
    mock!(aws_sdk_ec2::Client::describe_instances)
        .match_requests(|r| r.instance_ids() == [INSTANCE])
        .then_output(move || {
            DescribeInstancesOutput::builder()
                .reservations(
                    Reservation::builder()
                        .instances(source_instance(&templates))
                        .build(),
                )
                .build()
        })
}

/// DescribeSubnets for `id`, on this Outpost, making LNIs at `lni_device_index` if set.
pub fn describe_subnet(
    id: &'static str,
    outpost_arn: &'static str,
    lni_device_index: Option<i32>,
) -> Rule {
    mock!(aws_sdk_ec2::Client::describe_subnets)
        .match_requests(move |r| r.subnet_ids() == [id])
        .then_output(move || {
            DescribeSubnetsOutput::builder()
                .subnets(
                    Subnet::builder()
                        .subnet_id(id)
                        .vpc_id(VPC)
                        .outpost_arn(outpost_arn)
                        .set_enable_lni_at_device_index(lni_device_index)
                        .build(),
                )
                .build()
        })
}

pub fn describe_user_data() -> Rule {
    mock!(aws_sdk_ec2::Client::describe_instance_attribute)
        .match_requests(|r| {
            r.instance_id() == Some(INSTANCE)
                && r.attribute() == Some(&InstanceAttributeName::UserData)
        })
        .then_output(|| {
            DescribeInstanceAttributeOutput::builder()
                .instance_id(INSTANCE)
                .user_data(AttributeValue::builder().value(USER_DATA).build())
                .build()
        })
}

/// The root gp3 volume and the io2 data volume, in the order the instance maps them.
pub fn describe_volumes() -> Rule {
    mock!(aws_sdk_ec2::Client::describe_volumes)
        .match_requests(|r| r.volume_ids() == [ROOT_VOLUME, DATA_VOLUME])
        .then_output(|| {
            DescribeVolumesOutput::builder()
                .volumes(
                    Volume::builder()
                        .volume_id(DATA_VOLUME)
                        .size(100)
                        .volume_type(VolumeType::Io2)
                        .iops(3000)
                        .build(),
                )
                .volumes(
                    Volume::builder()
                        .volume_id(ROOT_VOLUME)
                        .size(30)
                        .volume_type(VolumeType::Gp3)
                        .iops(3000)
                        .throughput(125)
                        .build(),
                )
                .build()
        })
}

/// Whether a DescribeLaunchTemplates looks the template up by name, with a filter.
pub fn asks_for_the_template_by_name(r: &DescribeLaunchTemplatesInput) -> bool {
    r.launch_template_names().is_empty()
        && r.filters()
            .iter()
            .any(|f| f.name() == Some("launch-template-name") && f.values() == [TEMPLATE_NAME])
}

/// DescribeLaunchTemplates finding the template with this id, or none.
pub fn templates_named(found: Option<&str>) -> DescribeLaunchTemplatesOutput {
    DescribeLaunchTemplatesOutput::builder()
        .set_launch_templates(Some(
            found
                .into_iter()
                .map(|id| {
                    LaunchTemplate::builder()
                        .launch_template_id(id)
                        .launch_template_name(TEMPLATE_NAME)
                        .build()
                })
                .collect(),
        ))
        .build()
}

pub fn template_lookup(found: Option<&'static str>) -> Rule {
    mock!(aws_sdk_ec2::Client::describe_launch_templates)
        .match_requests(asks_for_the_template_by_name)
        .then_output(move || templates_named(found))
}

pub fn template_created() -> CreateLaunchTemplateOutput {
    CreateLaunchTemplateOutput::builder()
        .launch_template(
            LaunchTemplate::builder()
                .launch_template_id(NEW_TEMPLATE)
                .launch_template_name(TEMPLATE_NAME)
                .build(),
        )
        .build()
}

/// CreateLaunchTemplate for any request: for counting calls that must not happen.
pub fn any_create() -> Rule {
    mock!(aws_sdk_ec2::Client::create_launch_template).then_output(template_created)
}

/// CreateTags for any request: for counting calls that must not happen.
pub fn any_tagging() -> Rule {
    mock!(aws_sdk_ec2::Client::create_tags).then_output(|| CreateTagsOutput::builder().build())
}

/// CreateTags setting the instance's `autorestart:recovery-templates` to `value`, and nothing else.
pub fn tagging_templates(value: &str) -> Rule {
    let expected = tag(TEMPLATES_TAG, value);
    mock!(aws_sdk_ec2::Client::create_tags)
        .match_requests(move |r| {
            r.resources() == [INSTANCE] && r.tags() == std::slice::from_ref(&expected)
        })
        .then_output(|| CreateTagsOutput::builder().build())
}

/// The reads every run starts with, one rule each so that their calls can be counted.
pub struct Reads {
    pub instance: Rule,
    pub own_subnet: Rule,
    pub target_subnet: Rule,
    pub user_data: Rule,
    pub volumes: Rule,
}

impl Reads {
    /// The instance with this `autorestart:recovery-templates`, and a target subnet in its VPC
    /// on Outpost B that makes LNIs at device index 1.
    pub fn with_templates_tag(templates: &str) -> Self {
        Self {
            instance: describe_instance(templates),
            own_subnet: describe_subnet(OWN_SUBNET, ARN_A, Some(1)),
            target_subnet: describe_subnet(TARGET_SUBNET, ARN_B, Some(1)),
            user_data: describe_user_data(),
            volumes: describe_volumes(),
        }
    }

    /// The instance as it is before its first template.
    pub fn standard() -> Self {
        Self::with_templates_tag(EXISTING_TEMPLATES)
    }

    /// The generator over a client answering these reads and `writes`, in any order.
    pub fn store(&self, writes: &[&Rule]) -> Ec2Templates {
        let rules: Vec<&Rule> = [
            &self.instance,
            &self.own_subnet,
            &self.target_subnet,
            &self.user_data,
            &self.volumes,
        ]
        .into_iter()
        .chain(writes.iter().copied())
        .collect();
        let client = mock_client!(aws_sdk_ec2, RuleMode::MatchAny, rules, |c| c
            .retry_config(fast_retries()));
        Ec2Templates::new(client)
    }

    /// Calls made: instance, its subnet, the target subnet, user data, volumes.
    pub fn calls(&self) -> [usize; 5] {
        [
            self.instance.num_calls(),
            self.own_subnet.num_calls(),
            self.target_subnet.num_calls(),
            self.user_data.num_calls(),
            self.volumes.num_calls(),
        ]
    }
}

/// The refusal `generate` answered with; anything else fails the test.
pub fn refused(outcome: Result<GenerateReport, GenerateError>) -> Refusal {
    match outcome {
        Err(GenerateError::Refused(refusal)) => refusal,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// The AWS error `generate` answered with; anything else fails the test.
pub fn aws_failure(outcome: Result<GenerateReport, GenerateError>) -> AwsError {
    match outcome {
        Err(GenerateError::Aws(error)) => error,
        other => panic!("expected an AWS error, got {other:?}"),
    }
}
