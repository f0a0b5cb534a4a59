//! The recovery template generator (`autorestart template`): from a running opted-in instance, the launch template that
//! relaunches it on an alternate Outpost server, then the instance tagged with it.
//!
//! [`plan_template`] decides (pure); [`generate`] reads, creates and tags through a
//! [`TemplateStore`]. Running it again for the same instance and subnet finds the template it
//! made and changes nothing.

use crate::alarm::OutpostId;
use crate::ids::InstanceId;
use crate::tags::{self, TemplateListError};
use crate::vocabulary::InstanceState;

/// The device index of an Outposts server's local network interface (LNI).
pub const LNI_DEVICE_INDEX: i32 = 1;

/// The running instance a template is generated from, as EC2 describes it.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct SourceInstance {
    /// Instance id.
    pub instance_id: InstanceId,
    /// EC2's state name.
    pub state: InstanceState,
    /// Its tags.
    pub tags: Vec<(String, String)>,
    /// The AMI it was launched from.
    pub image_id: String,
    /// Its instance type.
    pub instance_type: String,
    /// Its key pair, if any.
    pub key_name: Option<String>,
    /// Its IAM instance profile ARN, if any.
    pub iam_instance_profile_arn: Option<String>,
    /// Its user data, base64 as EC2 returns it.
    pub user_data: Option<String>,
    /// Its instance metadata options.
    pub metadata: Option<MetadataOptions>,
    /// Its network interfaces.
    pub interfaces: Vec<SourceInterface>,
    /// Its EBS volumes by device.
    pub block_devices: Vec<BlockDevice>,
    /// The device name of its root volume.
    pub root_device_name: Option<String>,
    /// Its VPC.
    pub vpc_id: Option<String>,
    /// The Outpost of its subnet; none in the Region.
    pub outpost_arn: Option<String>,
}

impl SourceInstance {
    /// The value of the instance's tag `key`, if it has one.
    pub fn tag(&self, key: &str) -> Option<&str> {
        crate::tags::value_in(&self.tags, key)
    }
}

/// Instance metadata service options, as strings EC2 uses (`required`, `enabled`, ...).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct MetadataOptions {
    /// `optional` or `required` (IMDSv2).
    pub http_tokens: Option<String>,
    /// `enabled` or `disabled`.
    pub http_endpoint: Option<String>,
    /// Hop limit for PUT responses.
    pub http_put_response_hop_limit: Option<i32>,
    /// `enabled` or `disabled`.
    pub http_protocol_ipv6: Option<String>,
    /// `enabled` or `disabled`: tags readable from metadata.
    pub instance_metadata_tags: Option<String>,
}

/// One network interface of the source instance.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct SourceInterface {
    /// Its attachment's device index.
    pub device_index: i32,
    /// Its security groups.
    pub security_group_ids: Vec<String>,
    /// Its description.
    pub description: Option<String>,
}

/// An EBS volume by device, as launched or as the template asks for it.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct BlockDevice {
    /// `/dev/xvda`, `/dev/sdf`, ...
    pub device_name: String,
    /// Size in GiB.
    pub volume_size_gib: Option<i32>,
    /// `gp3`, `io2`, ...
    pub volume_type: Option<String>,
    /// Provisioned IOPS.
    pub iops: Option<i32>,
    /// Provisioned throughput, MiB/s.
    pub throughput: Option<i32>,
    /// Whether it is encrypted.
    pub encrypted: Option<bool>,
    /// The KMS key of an encrypted volume.
    pub kms_key_id: Option<String>,
    /// Whether it goes with the instance.
    pub delete_on_termination: Option<bool>,
}

/// The subnet chosen for the replacement.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct SubnetFacts {
    /// Subnet id.
    pub subnet_id: String,
    /// Its VPC.
    pub vpc_id: Option<String>,
    /// Its Outpost; none in the Region.
    pub outpost_arn: Option<String>,
    /// The device index at which interfaces in it are local network interfaces, if set.
    pub lni_device_index: Option<i32>,
}

/// One network interface of the template.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct PlannedInterface {
    /// Device index: 0 primary, 1 the LNI on Outposts servers.
    pub device_index: i32,
    /// The chosen subnet.
    pub subnet_id: String,
    /// Copied from the source interface.
    pub security_group_ids: Vec<String>,
    /// Copied from the source interface.
    pub description: Option<String>,
}

/// What the launch template launches.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct TemplateData {
    /// AMI.
    pub image_id: String,
    /// Instance type.
    pub instance_type: String,
    /// Key pair.
    pub key_name: Option<String>,
    /// IAM instance profile ARN.
    pub iam_instance_profile_arn: Option<String>,
    /// User data, base64.
    pub user_data: Option<String>,
    /// Metadata options.
    pub metadata: Option<MetadataOptions>,
    /// Network interfaces, device index 0 first.
    pub interfaces: Vec<PlannedInterface>,
    /// EBS volumes as the instance has them (usually none on Outposts servers, whose storage
    /// is the instance store).
    pub block_devices: Vec<BlockDevice>,
    /// Tags for the instance it launches: the workload's own, not this project's nor `Name`,
    /// which recovery writes itself.
    pub instance_tags: Vec<(String, String)>,
}

/// The launch template to create for one instance on one subnet.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct TemplatePlan {
    /// The instance it protects.
    pub instance_id: InstanceId,
    /// `autorestart-<instance>-<subnet>`: the same inputs always give the same name.
    pub template_name: String,
    /// CreateLaunchTemplate idempotency token, derived from the name and the data, so a retry
    /// matches and a changed instance does not meet `IdempotentParameterMismatch`.
    pub client_token: String,
    /// A digest of [`TemplateData`], kept on the template to spot a template that no longer
    /// matches its instance.
    pub shape: String,
    /// The Outpost the template launches on.
    pub target_outpost: String,
    /// What it launches.
    pub data: TemplateData,
    /// Tags on the template itself.
    pub template_tags: Vec<(String, String)>,
    /// What an operator should know before relying on it.
    pub warnings: Vec<String>,
}

/// Why no template is generated; each says what to do.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// No such instance.
    #[error("instance {0} does not exist in this account and Region: check the id and AWS_REGION")]
    InstanceNotFound(String),
    /// No such subnet.
    #[error("subnet {0} does not exist in this account and Region: check the id")]
    SubnetNotFound(String),
    /// The instance is not opted in.
    #[error(
        "instance {0} is not opted in: tag it {enabled}=true first, so that the agent recovers it",
        enabled = tags::ENABLED
    )]
    NotOptedIn(String),
    /// A link-loss policy the agent would not read.
    #[error("{0}")]
    BadLinkLossPolicy(String),
    /// The instance is recovered by DRS, which uses no template.
    #[error(
        "instance {0} is recovered by AWS DRS ({strategy}=drs): recovery templates are not used for it",
        strategy = tags::STRATEGY
    )]
    RecoveredByDrs(String),
    /// The instance is not running, so what it runs with cannot be read as it is.
    #[error("instance {instance} is {state}: generate its template while it is running")]
    NotRunning {
        /// Instance id.
        instance: String,
        /// Its state.
        state: InstanceState,
    },
    /// The instance is not on an Outpost.
    #[error("instance {0} is not on an Outpost: there is no Outpost server to recover it from")]
    InstanceNotOnOutpost(String),
    /// The subnet is in the Region.
    #[error("subnet {0} is not on an Outpost: choose a subnet on an alternate Outpost server")]
    SubnetNotOnOutpost(String),
    /// The subnet is on the Outpost that the template must survive.
    #[error(
        "subnet {subnet} is on Outpost {outpost}, the instance's own Outpost: a replacement there fails with it; choose a subnet on an alternate Outpost server"
    )]
    SameOutpost {
        /// Subnet id.
        subnet: String,
        /// The shared Outpost.
        outpost: String,
    },
    /// The subnet is in another VPC than the instance's security groups.
    #[error(
        "subnet {subnet} is in VPC {subnet_vpc} but the instance and its security groups are in VPC {instance_vpc}: choose a subnet in {instance_vpc}"
    )]
    OtherVpc {
        /// Subnet id.
        subnet: String,
        /// The subnet's VPC.
        subnet_vpc: String,
        /// The instance's VPC.
        instance_vpc: String,
    },
    /// The instance has an LNI but the subnet makes none.
    #[error(
        "instance {instance} has a network interface at device index {LNI_DEVICE_INDEX} (its local network interface) but subnet {subnet} does not make LNIs there: run `aws ec2 modify-subnet-attribute --subnet-id {subnet} --enable-lni-at-device-index {LNI_DEVICE_INDEX}` first"
    )]
    NoLni {
        /// Instance id.
        instance: String,
        /// Subnet id.
        subnet: String,
    },
    /// More interfaces than an Outposts server's two.
    #[error(
        "instance {instance} has network interfaces at device indexes {indexes:?}: the generator copies 0 and {LNI_DEVICE_INDEX} only; write this template by hand"
    )]
    UnsupportedInterfaces {
        /// Instance id.
        instance: String,
        /// The device indexes it has.
        indexes: Vec<i32>,
    },
    /// The instance's templates tag cannot be extended.
    #[error("instance {instance}: {problem}; fix the tag, then run again")]
    BadTemplatesTag {
        /// Instance id.
        instance: String,
        /// What is wrong with it.
        problem: String,
    },
}

/// The template name for an instance and subnet; launch template names are unique per Region.
pub fn template_name(instance_id: &str, subnet_id: &str) -> String {
    format!("autorestart-{instance_id}-{subnet_id}")
}

/// Decides the template for `source` on `subnet`, or why there is none.
pub fn plan_template(
    source: &SourceInstance,
    subnet: &SubnetFacts,
) -> Result<TemplatePlan, Refusal> {
    let instance = source.instance_id.clone();
    if !tags::is_opted_in(source.tag(tags::ENABLED)) {
        return Err(Refusal::NotOptedIn(instance.to_string()));
    }
    if tags::parse_strategy(source.tag(tags::STRATEGY)) == Ok(tags::Strategy::Drs) {
        return Err(Refusal::RecoveredByDrs(instance.to_string()));
    }
    if source.state != InstanceState::Running {
        return Err(Refusal::NotRunning {
            instance: instance.to_string(),
            state: source.state.clone(),
        });
    }
    let Some(own_outpost) = source.outpost_arn.as_deref() else {
        return Err(Refusal::InstanceNotOnOutpost(instance.to_string()));
    };
    let Some(target_outpost) = subnet.outpost_arn.as_deref() else {
        return Err(Refusal::SubnetNotOnOutpost(subnet.subnet_id.clone()));
    };
    if same_outpost(own_outpost, target_outpost) {
        return Err(Refusal::SameOutpost {
            subnet: subnet.subnet_id.clone(),
            outpost: outpost_name(own_outpost),
        });
    }
    if let (Some(instance_vpc), Some(subnet_vpc)) = (&source.vpc_id, &subnet.vpc_id)
        && instance_vpc != subnet_vpc
    {
        return Err(Refusal::OtherVpc {
            subnet: subnet.subnet_id.clone(),
            subnet_vpc: subnet_vpc.clone(),
            instance_vpc: instance_vpc.clone(),
        });
    }
    let interfaces = plan_interfaces(source, subnet)?;
    let (block_devices, mut warnings) = plan_block_devices(source);
    if interfaces
        .iter()
        .any(|i| i.device_index == LNI_DEVICE_INDEX)
    {
        warnings.push(format!(
            "the replacement's local network interface (device index {LNI_DEVICE_INDEX}) gets a new MAC and IP address: update DHCP reservations and firewall rules on the local network that name the original's"
        ));
    } else {
        warnings.push(format!(
            "instance {instance} has no interface at device index {LNI_DEVICE_INDEX}, so neither will its replacement: Outposts servers reach the local network only through an LNI there"
        ));
    }
    let template_name = template_name(&source.instance_id, &subnet.subnet_id);
    let data = TemplateData {
        image_id: source.image_id.clone(),
        instance_type: source.instance_type.clone(),
        key_name: source.key_name.clone(),
        iam_instance_profile_arn: source.iam_instance_profile_arn.clone(),
        user_data: source.user_data.clone().filter(|u| !u.is_empty()),
        metadata: source.metadata.clone(),
        interfaces,
        block_devices,
        instance_tags: source
            .tags
            .iter()
            .filter(|(key, _)| {
                key != tags::NAME && !key.starts_with(tags::PREFIX) && !key.starts_with("aws:")
            })
            .cloned()
            .collect(),
    };
    let shape =
        crate::sha256_hex(&serde_json::to_string(&data).expect("template data always serializes"));
    Ok(TemplatePlan {
        client_token: crate::sha256_hex(&format!("{template_name}\n{shape}")),
        template_tags: vec![
            (tags::TEMPLATE_FOR.into(), instance.to_string()),
            (tags::TEMPLATE_SHAPE.into(), shape.clone()),
            (tags::NAME.into(), template_name.clone()),
        ],
        shape,
        template_name,
        target_outpost: outpost_name(target_outpost),
        data,
        instance_id: instance,
        warnings,
    })
}

/// The source's interfaces 0 and 1 (the LNI), moved to `subnet`.
fn plan_interfaces(
    source: &SourceInstance,
    subnet: &SubnetFacts,
) -> Result<Vec<PlannedInterface>, Refusal> {
    let mut indexes: Vec<i32> = source.interfaces.iter().map(|i| i.device_index).collect();
    indexes.sort_unstable();
    if indexes.iter().any(|i| *i > LNI_DEVICE_INDEX) || indexes.windows(2).any(|w| w[0] == w[1]) {
        return Err(Refusal::UnsupportedInterfaces {
            instance: source.instance_id.to_string(),
            indexes,
        });
    }
    if indexes.contains(&LNI_DEVICE_INDEX) && subnet.lni_device_index != Some(LNI_DEVICE_INDEX) {
        return Err(Refusal::NoLni {
            instance: source.instance_id.to_string(),
            subnet: subnet.subnet_id.clone(),
        });
    }
    let mut planned: Vec<PlannedInterface> = source
        .interfaces
        .iter()
        .map(|i| PlannedInterface {
            device_index: i.device_index,
            subnet_id: subnet.subnet_id.clone(),
            // A local network interface does not use security groups.
            security_group_ids: if i.device_index == LNI_DEVICE_INDEX {
                Vec::new()
            } else {
                i.security_group_ids.clone()
            },
            description: i.description.clone().filter(|d| !d.is_empty()),
        })
        .collect();
    if planned.iter().all(|i| i.device_index != 0) {
        planned.push(PlannedInterface {
            device_index: 0,
            subnet_id: subnet.subnet_id.clone(),
            security_group_ids: Vec::new(),
            description: None,
        });
    }
    planned.sort_by_key(|i| i.device_index);
    Ok(planned)
}

/// The source's volumes as new volumes of the same shape, with only the settings EC2 takes for
/// them: the root comes from the AMI's snapshot (its encryption too); data volumes start empty,
/// so say so, and go with the instance so that drills leave none behind.
fn plan_block_devices(source: &SourceInstance) -> (Vec<BlockDevice>, Vec<String>) {
    let mut warnings = Vec::new();
    let devices = source
        .block_devices
        .iter()
        .map(|device| {
            let root = source.root_device_name.as_deref() == Some(device.device_name.as_str());
            if !root {
                warnings.push(format!(
                    "{} becomes a new empty {} GiB volume on the replacement: the original's data is not copied",
                    device.device_name,
                    device.volume_size_gib.map_or("?".into(), |s| s.to_string())
                ));
            }
            let kind = device.volume_type.as_deref().unwrap_or_default();
            let encrypted = !root && device.encrypted == Some(true);
            BlockDevice {
                device_name: device.device_name.clone(),
                volume_size_gib: device.volume_size_gib,
                volume_type: device.volume_type.clone(),
                iops: device
                    .iops
                    .filter(|_| matches!(kind, "io1" | "io2" | "gp3")),
                throughput: device.throughput.filter(|_| kind == "gp3"),
                encrypted: encrypted.then_some(true),
                kms_key_id: device.kms_key_id.clone().filter(|_| encrypted),
                delete_on_termination: Some(if root {
                    device.delete_on_termination.unwrap_or(true)
                } else {
                    true
                }),
            }
        })
        .collect();
    (devices, warnings)
}

fn same_outpost(a: &str, b: &str) -> bool {
    a == b || outpost_name(a) == outpost_name(b)
}

fn outpost_name(arn: &str) -> String {
    OutpostId::from_arn(arn)
        .map(|id| id.as_str().to_owned())
        .unwrap_or_else(|| arn.to_owned())
}

/// The instance's `autorestart:recovery-templates` with `template_id` added last, or `None`
/// when it is there already (any version).
pub fn templates_tag_with(
    current: Option<&str>,
    template_id: &str,
) -> Result<Option<String>, TemplateListError> {
    let existing = match tags::parse_recovery_templates(current) {
        Ok(list) => list,
        Err(TemplateListError::Empty) => Vec::new(),
        Err(bad) => return Err(bad),
    };
    if existing.iter().any(|t| t.id == template_id) {
        return Ok(None);
    }
    let mut entries: Vec<String> = current
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(|v| v.split(',').map(|e| e.trim().to_owned()).collect())
        .unwrap_or_default();
    entries.push(template_id.to_owned());
    Ok(Some(entries.join(",")))
}

#[cfg(test)]
mod tests;
