//! The recovery-template generator: from a running opted-in instance, the launch template that
//! relaunches it on an alternate Outpost server, then the instance tagged with it.
//!
//! [`plan_template`] decides (pure); [`generate`] reads, creates and tags through a
//! [`TemplateStore`]. Running it again for the same instance and subnet finds the template it
//! made and changes nothing.

use crate::alarm::OutpostId;
use crate::tags::{self, TemplateListError};

/// The device index of an Outposts server's local network interface (LNI).
pub const LNI_DEVICE_INDEX: i32 = 1;

/// The running instance a template is generated from, as EC2 describes it.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct SourceInstance {
    /// Instance id.
    pub instance_id: String,
    /// EC2 state name: `running`, `stopped`, ...
    pub state: String,
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
        self.tags
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
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
    pub instance_id: String,
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
        state: String,
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
        return Err(Refusal::NotOptedIn(instance));
    }
    if tags::parse_strategy(source.tag(tags::STRATEGY)) == Ok(tags::Strategy::Drs) {
        return Err(Refusal::RecoveredByDrs(instance));
    }
    if source.state != "running" {
        return Err(Refusal::NotRunning {
            instance,
            state: source.state.clone(),
        });
    }
    let Some(own_outpost) = source.outpost_arn.as_deref() else {
        return Err(Refusal::InstanceNotOnOutpost(instance));
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
            (tags::TEMPLATE_FOR.into(), instance.clone()),
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
            instance: source.instance_id.clone(),
            indexes,
        });
    }
    if indexes.contains(&LNI_DEVICE_INDEX) && subnet.lni_device_index != Some(LNI_DEVICE_INDEX) {
        return Err(Refusal::NoLni {
            instance: source.instance_id.clone(),
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
mod tests {
    use super::*;

    const OWN: &str = "arn:aws:outposts:us-east-1:111122223333:outpost/op-0aaaaaaaaaaaaaaa1";
    const OTHER: &str = "arn:aws:outposts:us-east-1:111122223333:outpost/op-0bbbbbbbbbbbbbbb2";

    fn source() -> SourceInstance {
        SourceInstance {
            instance_id: "i-0source".into(),
            state: "running".into(),
            tags: vec![
                (tags::ENABLED.into(), "true".into()),
                (tags::NAME.into(), "web-1".into()),
                ("team".into(), "payments".into()),
                ("aws:cloudformation:stack-name".into(), "web".into()),
                (tags::REPLACEMENT_OF.into(), "i-0older".into()),
            ],
            image_id: "ami-0123".into(),
            instance_type: "c6id.large".into(),
            key_name: Some("ops".into()),
            iam_instance_profile_arn: Some("arn:aws:iam::111122223333:instance-profile/web".into()),
            user_data: Some("IyEvYmluL3NoCg==".into()),
            metadata: Some(MetadataOptions {
                http_tokens: Some("required".into()),
                http_put_response_hop_limit: Some(2),
                ..MetadataOptions::default()
            }),
            interfaces: vec![
                SourceInterface {
                    device_index: 1,
                    security_group_ids: vec!["sg-lni".into()],
                    description: Some(String::new()),
                },
                SourceInterface {
                    device_index: 0,
                    security_group_ids: vec!["sg-web".into(), "sg-ops".into()],
                    description: Some("primary".into()),
                },
            ],
            block_devices: Vec::new(),
            root_device_name: Some("/dev/xvda".into()),
            vpc_id: Some("vpc-1".into()),
            outpost_arn: Some(OWN.into()),
        }
    }

    fn subnet() -> SubnetFacts {
        SubnetFacts {
            subnet_id: "subnet-b".into(),
            vpc_id: Some("vpc-1".into()),
            outpost_arn: Some(OTHER.into()),
            lni_device_index: Some(1),
        }
    }

    #[test]
    fn copies_what_the_instance_runs_with_onto_the_alternate_subnet() {
        let plan = plan_template(&source(), &subnet()).unwrap();
        assert_eq!(plan.template_name, "autorestart-i-0source-subnet-b");
        assert_eq!(plan.client_token.len(), 64);
        assert_eq!(plan.target_outpost, "op-0bbbbbbbbbbbbbbb2");
        let data = &plan.data;
        assert_eq!(
            (data.image_id.as_str(), data.instance_type.as_str()),
            ("ami-0123", "c6id.large")
        );
        assert_eq!(data.key_name.as_deref(), Some("ops"));
        assert_eq!(data.user_data.as_deref(), Some("IyEvYmluL3NoCg=="));
        assert_eq!(
            data.metadata.as_ref().unwrap().http_tokens.as_deref(),
            Some("required")
        );
        assert_eq!(
            data.interfaces,
            vec![
                PlannedInterface {
                    device_index: 0,
                    subnet_id: "subnet-b".into(),
                    security_group_ids: vec!["sg-web".into(), "sg-ops".into()],
                    description: Some("primary".into()),
                },
                PlannedInterface {
                    device_index: 1,
                    subnet_id: "subnet-b".into(),
                    security_group_ids: vec![],
                    description: None,
                },
            ]
        );
        assert_eq!(
            data.instance_tags,
            vec![("team".to_owned(), "payments".to_owned())]
        );
        assert!(
            plan.template_tags
                .contains(&(tags::TEMPLATE_FOR.to_owned(), "i-0source".to_owned()))
        );
        assert_eq!(plan.warnings.len(), 1, "{:?}", plan.warnings);
        assert!(plan.warnings[0].contains("new MAC and IP address"));
    }

    #[test]
    fn the_same_instance_and_subnet_always_give_the_same_name_and_token() {
        let a = plan_template(&source(), &subnet()).unwrap();
        let b = plan_template(&source(), &subnet()).unwrap();
        assert_eq!(
            (&a.template_name, &a.client_token),
            (&b.template_name, &b.client_token)
        );
        let mut other = subnet();
        other.subnet_id = "subnet-c".into();
        let c = plan_template(&source(), &other).unwrap();
        assert_ne!(c.client_token, b.client_token);
    }

    #[test]
    fn refuses_a_subnet_on_the_instances_own_outpost_naming_it() {
        let mut own = subnet();
        own.outpost_arn = Some(OWN.into());
        let refusal = plan_template(&source(), &own).unwrap_err();
        assert_eq!(
            refusal,
            Refusal::SameOutpost {
                subnet: "subnet-b".into(),
                outpost: "op-0aaaaaaaaaaaaaaa1".into()
            }
        );
        assert!(
            refusal
                .to_string()
                .contains("choose a subnet on an alternate Outpost")
        );
    }

    #[test]
    fn refuses_what_cannot_give_a_usable_template_each_with_its_reason() {
        let cases: Vec<(SourceInstance, SubnetFacts, &str)> = vec![
            (
                SourceInstance {
                    tags: vec![],
                    ..source()
                },
                subnet(),
                "not opted in",
            ),
            (
                SourceInstance {
                    tags: vec![
                        (tags::ENABLED.into(), "true".into()),
                        (tags::STRATEGY.into(), "drs".into()),
                    ],
                    ..source()
                },
                subnet(),
                "AWS DRS",
            ),
            (
                SourceInstance {
                    state: "stopped".into(),
                    ..source()
                },
                subnet(),
                "is stopped",
            ),
            (
                SourceInstance {
                    outpost_arn: None,
                    ..source()
                },
                subnet(),
                "not on an Outpost: there is no",
            ),
            (
                source(),
                SubnetFacts {
                    outpost_arn: None,
                    ..subnet()
                },
                "subnet-b is not on an Outpost",
            ),
            (
                source(),
                SubnetFacts {
                    vpc_id: Some("vpc-2".into()),
                    ..subnet()
                },
                "choose a subnet in vpc-1",
            ),
            (
                source(),
                SubnetFacts {
                    lni_device_index: None,
                    ..subnet()
                },
                "--enable-lni-at-device-index 1",
            ),
            (
                SourceInstance {
                    interfaces: vec![
                        SourceInterface::default(),
                        SourceInterface {
                            device_index: 2,
                            ..SourceInterface::default()
                        },
                    ],
                    ..source()
                },
                subnet(),
                "write this template by hand",
            ),
        ];
        for (source, subnet, says) in cases {
            let refusal = plan_template(&source, &subnet).unwrap_err().to_string();
            assert!(refusal.contains(says), "{refusal:?} should say {says:?}");
        }
    }

    #[test]
    fn an_instance_without_an_lni_gets_a_primary_interface_and_a_warning() {
        let single = SourceInstance {
            interfaces: vec![SourceInterface {
                device_index: 0,
                security_group_ids: vec!["sg-web".into()],
                description: None,
            }],
            ..source()
        };
        let plan = plan_template(
            &single,
            &SubnetFacts {
                lni_device_index: None,
                ..subnet()
            },
        )
        .unwrap();
        assert_eq!(plan.data.interfaces.len(), 1);
        assert!(plan.warnings[0].contains("no interface at device index 1"));
    }

    #[test]
    fn data_volumes_keep_their_shape_and_are_flagged_as_empty() {
        let with_volumes = SourceInstance {
            block_devices: vec![
                BlockDevice {
                    device_name: "/dev/xvda".into(),
                    volume_size_gib: Some(30),
                    volume_type: Some("gp3".into()),
                    ..BlockDevice::default()
                },
                BlockDevice {
                    device_name: "/dev/sdf".into(),
                    volume_size_gib: Some(100),
                    volume_type: Some("io2".into()),
                    iops: Some(3000),
                    delete_on_termination: Some(false),
                    ..BlockDevice::default()
                },
            ],
            ..source()
        };
        let plan = plan_template(&with_volumes, &subnet()).unwrap();
        assert_eq!(plan.data.block_devices.len(), 2);
        assert_eq!(plan.data.block_devices[0].delete_on_termination, Some(true));
        assert_eq!(plan.data.block_devices[1].iops, Some(3000));
        assert_eq!(
            plan.data.block_devices[1].delete_on_termination,
            Some(true),
            "an empty data volume goes with its instance, so drills leave none behind"
        );
        assert!(
            plan.warnings
                .iter()
                .any(|w| w.contains("/dev/sdf becomes a new empty 100 GiB volume"))
        );
    }

    #[test]
    fn volumes_carry_only_the_settings_ec2_takes_for_their_type() {
        let with_volumes = SourceInstance {
            block_devices: vec![
                BlockDevice {
                    device_name: "/dev/xvda".into(),
                    volume_type: Some("gp2".into()),
                    iops: Some(100),
                    encrypted: Some(true),
                    kms_key_id: Some("key-root".into()),
                    ..BlockDevice::default()
                },
                BlockDevice {
                    device_name: "/dev/sdg".into(),
                    volume_type: Some("gp3".into()),
                    iops: Some(4000),
                    throughput: Some(250),
                    encrypted: Some(true),
                    kms_key_id: Some("key-data".into()),
                    ..BlockDevice::default()
                },
                BlockDevice {
                    device_name: "/dev/sdh".into(),
                    volume_type: Some("st1".into()),
                    iops: Some(500),
                    throughput: Some(40),
                    encrypted: Some(false),
                    ..BlockDevice::default()
                },
            ],
            ..source()
        };
        let devices = plan_template(&with_volumes, &subnet())
            .unwrap()
            .data
            .block_devices;
        let settings: Vec<_> = devices
            .iter()
            .map(|d| (d.iops, d.throughput, d.encrypted, d.kms_key_id.as_deref()))
            .collect();
        assert_eq!(
            settings,
            vec![
                (None, None, None, None),
                (Some(4000), Some(250), Some(true), Some("key-data")),
                (None, None, None, None),
            ],
            "gp2 takes no IOPS and the root's encryption comes from the AMI's snapshot"
        );
    }

    #[test]
    fn the_template_is_added_last_to_the_instance_tag_once() {
        assert_eq!(templates_tag_with(None, "lt-0b"), Ok(Some("lt-0b".into())));
        assert_eq!(
            templates_tag_with(Some("lt-0a:3, lt-0c"), "lt-0b"),
            Ok(Some("lt-0a:3,lt-0c,lt-0b".into()))
        );
        assert_eq!(templates_tag_with(Some("lt-0a,lt-0b:2"), "lt-0b"), Ok(None));
        assert!(templates_tag_with(Some("ami-1"), "lt-0b").is_err());
    }
}
