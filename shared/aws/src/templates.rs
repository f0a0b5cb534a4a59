//! [`TemplateStore`] over Amazon EC2: what the recovery template generator (`autorestart template`) reads and writes.

use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::{
    Filter, InstanceAttributeName, InstanceMetadataTagsState,
    LaunchTemplateBlockDeviceMappingRequest, LaunchTemplateEbsBlockDeviceRequest,
    LaunchTemplateHttpTokensState, LaunchTemplateIamInstanceProfileSpecificationRequest,
    LaunchTemplateInstanceMetadataEndpointState, LaunchTemplateInstanceMetadataOptionsRequest,
    LaunchTemplateInstanceMetadataProtocolIpv6, LaunchTemplateInstanceMetadataTagsState,
    LaunchTemplateInstanceNetworkInterfaceSpecificationRequest,
    LaunchTemplateTagSpecificationRequest, RequestLaunchTemplateData, ResourceType, Tag,
    TagSpecification, VolumeType,
};

use super::ec2::sdk_tags;
use super::sdk_error::from_sdk;
use autorestart_core::error::{AwsError, ErrorKind};
use autorestart_core::tags;
use autorestart_core::template_plan::{
    BlockDevice, MetadataOptions, SourceInstance, SourceInterface, SubnetFacts, TemplatePlan,
};
use autorestart_flows::template::{ExistingTemplate, TemplateStore};

/// EC2 through the SDK client, for the generator.
#[derive(Clone, Debug)]
pub struct Ec2Templates {
    client: Client,
}

impl Ec2Templates {
    /// Wraps a configured client.
    pub fn new(client: Client) -> Self {
        Self { client }
    }

    async fn user_data(&self, instance_id: &str) -> Result<Option<String>, AwsError> {
        let output = self
            .client
            .describe_instance_attribute()
            .instance_id(instance_id)
            .attribute(InstanceAttributeName::UserData)
            .send()
            .await
            .map_err(|e| from_sdk("ec2:DescribeInstanceAttribute", e))?;
        Ok(output
            .user_data()
            .and_then(|u| u.value())
            .map(str::to_owned))
    }

    /// The shape of each volume, in the order of `devices`.
    async fn volumes(
        &self,
        devices: Vec<(String, String, Option<bool>)>,
    ) -> Result<Vec<BlockDevice>, AwsError> {
        if devices.is_empty() {
            return Ok(Vec::new());
        }
        let output = self
            .client
            .describe_volumes()
            .set_volume_ids(Some(devices.iter().map(|(_, id, _)| id.clone()).collect()))
            .send()
            .await
            .map_err(|e| from_sdk("ec2:DescribeVolumes", e))?;
        Ok(devices
            .into_iter()
            .map(|(device_name, volume_id, delete_on_termination)| {
                let volume = output
                    .volumes()
                    .iter()
                    .find(|v| v.volume_id() == Some(volume_id.as_str()));
                BlockDevice {
                    device_name,
                    volume_size_gib: volume.and_then(|v| v.size()),
                    volume_type: volume
                        .and_then(|v| v.volume_type())
                        .map(|t| t.as_str().to_owned()),
                    iops: volume.and_then(|v| v.iops()),
                    throughput: volume.and_then(|v| v.throughput()),
                    encrypted: volume.and_then(|v| v.encrypted()),
                    kms_key_id: volume.and_then(|v| v.kms_key_id()).map(str::to_owned),
                    delete_on_termination,
                }
            })
            .collect())
    }
}

/// An instance's metadata options, as a template copies them.
fn metadata_options(m: &aws_sdk_ec2::types::InstanceMetadataOptionsResponse) -> MetadataOptions {
    MetadataOptions {
        http_tokens: m.http_tokens().map(|v| v.as_str().to_owned()),
        http_endpoint: m.http_endpoint().map(|v| v.as_str().to_owned()),
        http_put_response_hop_limit: m.http_put_response_hop_limit(),
        http_protocol_ipv6: m.http_protocol_ipv6().map(|v| v.as_str().to_owned()),
        instance_metadata_tags: m.instance_metadata_tags().map(|v| v.as_str().to_owned()),
    }
}

/// One of an instance's network interfaces, as a template copies it.
fn source_interface(n: &aws_sdk_ec2::types::InstanceNetworkInterface) -> SourceInterface {
    SourceInterface {
        device_index: n
            .attachment()
            .and_then(|a| a.device_index())
            .unwrap_or_default(),
        security_group_ids: n
            .groups()
            .iter()
            .filter_map(|g| g.group_id())
            .map(str::to_owned)
            .collect(),
        description: n.description().map(str::to_owned),
    }
}

impl TemplateStore for Ec2Templates {
    async fn source_instance(&self, instance_id: &str) -> Result<Option<SourceInstance>, AwsError> {
        let answer = self
            .client
            .describe_instances()
            .instance_ids(instance_id)
            .send()
            .await
            .map_err(|e| from_sdk("ec2:DescribeInstances", e));
        let output = match answer {
            Err(error) if error.kind == ErrorKind::NotFound => return Ok(None),
            other => other?,
        };
        let Some(instance) = output
            .reservations()
            .iter()
            .flat_map(|r| r.instances())
            .find(|i| i.instance_id() == Some(instance_id))
        else {
            return Ok(None);
        };
        let devices = instance
            .block_device_mappings()
            .iter()
            .filter_map(|m| {
                let ebs = m.ebs()?;
                Some((
                    m.device_name()?.to_owned(),
                    ebs.volume_id()?.to_owned(),
                    ebs.delete_on_termination(),
                ))
            })
            .collect();
        let outpost_arn = match (instance.outpost_arn(), instance.subnet_id()) {
            (Some(arn), _) => Some(arn.to_owned()),
            (None, Some(subnet)) => self.subnet(subnet).await?.and_then(|s| s.outpost_arn),
            (None, None) => None,
        };
        Ok(Some(SourceInstance {
            instance_id: instance_id.into(),
            state: instance
                .state()
                .and_then(|s| s.name())
                .map(|n| n.as_str().into())
                .unwrap_or_default(),
            tags: instance
                .tags()
                .iter()
                .filter_map(|t| {
                    Some((
                        t.key()?.to_owned(),
                        t.value().unwrap_or_default().to_owned(),
                    ))
                })
                .collect(),
            image_id: instance.image_id().unwrap_or_default().to_owned(),
            instance_type: instance
                .instance_type()
                .map(|t| t.as_str().to_owned())
                .unwrap_or_default(),
            key_name: instance.key_name().map(str::to_owned),
            iam_instance_profile_arn: instance
                .iam_instance_profile()
                .and_then(|p| p.arn())
                .map(str::to_owned),
            user_data: self.user_data(instance_id).await?,
            metadata: instance.metadata_options().map(metadata_options),
            interfaces: instance
                .network_interfaces()
                .iter()
                .map(source_interface)
                .collect(),
            block_devices: self.volumes(devices).await?,
            root_device_name: instance.root_device_name().map(str::to_owned),
            vpc_id: instance.vpc_id().map(str::to_owned),
            outpost_arn,
        }))
    }

    async fn subnet(&self, subnet_id: &str) -> Result<Option<SubnetFacts>, AwsError> {
        let answer = self
            .client
            .describe_subnets()
            .subnet_ids(subnet_id)
            .send()
            .await
            .map_err(|e| from_sdk("ec2:DescribeSubnets", e));
        let output = match answer {
            Err(error) if error.kind == ErrorKind::NotFound => return Ok(None),
            // EC2 sorts an unknown subnet id as InvalidSubnetID.NotFound, which the launch
            // path files under unusable templates.
            Err(error) if error.code.starts_with("InvalidSubnetID") => return Ok(None),
            other => other?,
        };
        Ok(output
            .subnets()
            .iter()
            .find(|s| s.subnet_id() == Some(subnet_id))
            .map(|s| SubnetFacts {
                subnet_id: subnet_id.to_owned(),
                vpc_id: s.vpc_id().map(str::to_owned),
                outpost_arn: s.outpost_arn().map(str::to_owned),
                lni_device_index: s.enable_lni_at_device_index(),
            }))
    }

    async fn template_named(&self, name: &str) -> Result<Option<ExistingTemplate>, AwsError> {
        // A filter, not LaunchTemplateNames: an absent name is an empty answer, not an error.
        let output = self
            .client
            .describe_launch_templates()
            .filters(
                Filter::builder()
                    .name("launch-template-name")
                    .values(name)
                    .build(),
            )
            .send()
            .await
            .map_err(|e| from_sdk("ec2:DescribeLaunchTemplates", e))?;
        Ok(output
            .launch_templates()
            .iter()
            .find(|t| t.launch_template_name() == Some(name))
            .and_then(|t| {
                Some(ExistingTemplate {
                    id: t.launch_template_id()?.to_owned(),
                    name: name.to_owned(),
                    shape: t
                        .tags()
                        .iter()
                        .find(|tag| tag.key() == Some(tags::TEMPLATE_SHAPE))
                        .and_then(|tag| tag.value())
                        .map(str::to_owned),
                    ec2_warnings: Vec::new(),
                })
            }))
    }

    async fn create_template(
        &self,
        plan: &TemplatePlan,
    ) -> Result<Option<ExistingTemplate>, AwsError> {
        let answer = self
            .client
            .create_launch_template()
            .launch_template_name(&plan.template_name)
            .client_token(&plan.client_token)
            .version_description(format!(
                "Recovery of {} on {}, made by outposts-autorestart",
                plan.instance_id, plan.target_outpost
            ))
            .launch_template_data(launch_template_data(plan))
            .tag_specifications(
                TagSpecification::builder()
                    .resource_type(ResourceType::LaunchTemplate)
                    .set_tags(Some(sdk_tags(&plan.template_tags)))
                    .build(),
            )
            .send()
            .await
            .map_err(|e| from_sdk("ec2:CreateLaunchTemplate", e));
        match answer {
            Ok(output) => {
                // EC2 creates a template with some invalid parameters and says so here.
                let ec2_warnings = output
                    .warning()
                    .map(|w| {
                        w.errors()
                            .iter()
                            .map(|e| {
                                format!(
                                    "{}: {}",
                                    e.code().unwrap_or("Warning"),
                                    e.message().unwrap_or_default()
                                )
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                Ok(output.launch_template().and_then(|t| {
                    Some(ExistingTemplate {
                        id: t.launch_template_id()?.to_owned(),
                        name: plan.template_name.clone(),
                        shape: Some(plan.shape.clone()),
                        ec2_warnings,
                    })
                }))
            }
            Err(error) if error.code.contains("AlreadyExists") => Ok(None),
            Err(error) => Err(error),
        }
    }

    async fn enable_metadata_tags(&self, instance_id: &str) -> Result<(), AwsError> {
        self.client
            .modify_instance_metadata_options()
            .instance_id(instance_id)
            .instance_metadata_tags(InstanceMetadataTagsState::Enabled)
            .send()
            .await
            .map_err(|e| from_sdk("ec2:ModifyInstanceMetadataOptions", e))?;
        Ok(())
    }

    async fn tag_instance(
        &self,
        instance_id: &str,
        key: &str,
        value: &str,
    ) -> Result<(), AwsError> {
        self.client
            .create_tags()
            .resources(instance_id)
            .tags(Tag::builder().key(key).value(value).build())
            .send()
            .await
            .map_err(|e| from_sdk("ec2:CreateTags", e))?;
        Ok(())
    }
}

/// The plan as EC2's launch template data.
fn launch_template_data(plan: &TemplatePlan) -> RequestLaunchTemplateData {
    let data = &plan.data;
    let mut request = RequestLaunchTemplateData::builder()
        .image_id(&data.image_id)
        .instance_type(data.instance_type.as_str().into())
        .set_key_name(data.key_name.clone())
        .set_user_data(data.user_data.clone())
        .set_iam_instance_profile(data.iam_instance_profile_arn.as_ref().map(|arn| {
            LaunchTemplateIamInstanceProfileSpecificationRequest::builder()
                .arn(arn)
                .build()
        }))
        .set_metadata_options(data.metadata.as_ref().map(metadata_request));
    for interface in &data.interfaces {
        request = request.network_interfaces(
            LaunchTemplateInstanceNetworkInterfaceSpecificationRequest::builder()
                .device_index(interface.device_index)
                .subnet_id(&interface.subnet_id)
                .set_groups(
                    (!interface.security_group_ids.is_empty())
                        .then(|| interface.security_group_ids.clone()),
                )
                .set_description(interface.description.clone())
                .delete_on_termination(true)
                .build(),
        );
    }
    for device in &data.block_devices {
        request = request.block_device_mappings(
            LaunchTemplateBlockDeviceMappingRequest::builder()
                .device_name(&device.device_name)
                .ebs(
                    LaunchTemplateEbsBlockDeviceRequest::builder()
                        .set_volume_size(device.volume_size_gib)
                        .set_volume_type(device.volume_type.as_deref().map(VolumeType::from))
                        .set_iops(device.iops)
                        .set_throughput(device.throughput)
                        .set_encrypted(device.encrypted)
                        .set_kms_key_id(device.kms_key_id.clone())
                        .set_delete_on_termination(device.delete_on_termination)
                        .build(),
                )
                .build(),
        );
    }
    if !data.instance_tags.is_empty() {
        request = request.tag_specifications(
            LaunchTemplateTagSpecificationRequest::builder()
                .resource_type(ResourceType::Instance)
                .set_tags(Some(sdk_tags(&data.instance_tags)))
                .build(),
        );
    }
    request.build()
}

fn metadata_request(options: &MetadataOptions) -> LaunchTemplateInstanceMetadataOptionsRequest {
    LaunchTemplateInstanceMetadataOptionsRequest::builder()
        .set_http_tokens(
            options
                .http_tokens
                .as_deref()
                .map(LaunchTemplateHttpTokensState::from),
        )
        .set_http_endpoint(
            options
                .http_endpoint
                .as_deref()
                .map(LaunchTemplateInstanceMetadataEndpointState::from),
        )
        .set_http_put_response_hop_limit(options.http_put_response_hop_limit)
        .set_http_protocol_ipv6(
            options
                .http_protocol_ipv6
                .as_deref()
                .map(LaunchTemplateInstanceMetadataProtocolIpv6::from),
        )
        .set_instance_metadata_tags(
            options
                .instance_metadata_tags
                .as_deref()
                .map(LaunchTemplateInstanceMetadataTagsState::from),
        )
        .build()
}
