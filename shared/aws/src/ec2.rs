//! [`Compute`] over Amazon EC2.

use std::collections::HashMap;

use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::{
    Filter, LaunchTemplateSpecification, ResourceType, Tag, TagSpecification,
};
use futures::{StreamExt, TryStreamExt};

use super::sdk_error::from_sdk;
use super::{MAX_FILTER_VALUES, READ_CONCURRENCY};
use autorestart_core::alarm::OutpostId;
use autorestart_core::error::{AwsError, ErrorKind};
use autorestart_core::ids::InstanceId;
use autorestart_core::inventory::{Instance, PrivateAddress, TemplateTarget};
use autorestart_core::tags::{self, TemplateRef};
use autorestart_flows::ports::{Compute, LaunchRequest};

/// States in which an instance still exists.
const EXISTING_STATES: [&str; 5] = ["pending", "running", "stopping", "stopped", "shutting-down"];

/// EC2 through the SDK client.
#[derive(Clone, Debug)]
pub struct Ec2Compute {
    client: Client,
    /// Decodes the authorization message of a refused dry run, where IAM allows it.
    sts: Option<aws_sdk_sts::Client>,
}

impl Ec2Compute {
    /// Wraps a configured client.
    pub fn new(client: Client) -> Self {
        Self { client, sts: None }
    }

    /// One instance from the request's template, tagged as it says: what a launch and a dry
    /// run of it both send.
    fn run_from_template(
        &self,
        request: &LaunchRequest,
    ) -> aws_sdk_ec2::operation::run_instances::builders::RunInstancesFluentBuilder {
        self.client
            .run_instances()
            .launch_template(
                LaunchTemplateSpecification::builder()
                    .launch_template_id(&request.template.id)
                    .version(&request.template.version)
                    .build(),
            )
            .min_count(1)
            .max_count(1)
            .tag_specifications(
                TagSpecification::builder()
                    .resource_type(ResourceType::Instance)
                    .set_tags(Some(sdk_tags(&request.tags)))
                    .build(),
            )
    }

    /// Decodes the reason of a refused dry-run launch with STS
    /// (`sts:DecodeAuthorizationMessage`) where the role may.
    pub fn with_sts(self, sts: aws_sdk_sts::Client) -> Self {
        Self {
            sts: Some(sts),
            ..self
        }
    }

    /// EC2's refusal with its encoded authorization message decoded, when STS answers; as it
    /// was otherwise (the raw code and message).
    async fn decoded(&self, mut error: AwsError) -> AwsError {
        const MARK: &str = "Encoded authorization failure message: ";
        let (Some(sts), Some(at)) = (&self.sts, error.message.find(MARK)) else {
            return error;
        };
        let encoded = error.message[at + MARK.len()..].trim().to_owned();
        match sts
            .decode_authorization_message()
            .encoded_message(encoded)
            .send()
            .await
        {
            Ok(out) => {
                if let Some(decoded) = out.decoded_message() {
                    error.message =
                        format!("{} (decoded: {decoded})", &error.message[..at].trim_end());
                }
            }
            Err(e) => {
                let e = from_sdk("sts:DecodeAuthorizationMessage", e);
                error.message.push_str(&format!(" (not decoded: {e})"));
            }
        }
        error
    }

    /// Instances matching `filters`, every page read.
    async fn describe_instances(&self, filters: Vec<Filter>) -> Result<Vec<Instance>, AwsError> {
        let mut pages = self
            .client
            .describe_instances()
            .set_filters(Some(filters))
            .into_paginator()
            .send();
        let mut instances = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| from_sdk("ec2:DescribeInstances", e))?;
            for reservation in page.reservations() {
                instances.extend(reservation.instances().iter().map(instance_from_sdk));
            }
        }
        Ok(instances)
    }

    /// The Outpost ARN of each subnet (none for Region subnets); subnets that do not exist are absent.
    async fn subnet_outposts(
        &self,
        subnet_ids: &[String],
    ) -> Result<HashMap<String, Option<String>>, AwsError> {
        let mut unique: Vec<String> = subnet_ids.to_vec();
        unique.sort();
        unique.dedup();
        let mut outposts = HashMap::new();
        for chunk in unique.chunks(MAX_FILTER_VALUES) {
            // A filter, not SubnetIds: a subnet deleted since is absent rather than failing the read.
            let mut pages = self
                .client
                .describe_subnets()
                .filters(filter("subnet-id", chunk.iter().cloned()))
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| from_sdk("ec2:DescribeSubnets", e))?;
                for subnet in page.subnets() {
                    if let Some(id) = subnet.subnet_id() {
                        outposts.insert(id.to_owned(), subnet.outpost_arn().map(str::to_owned));
                    }
                }
            }
        }
        Ok(outposts)
    }

    /// Fills in each instance's Outpost from its subnet.
    async fn with_outposts(&self, mut instances: Vec<Instance>) -> Result<Vec<Instance>, AwsError> {
        let subnets: Vec<String> = instances
            .iter()
            .filter_map(|i| i.subnet_id.clone())
            .collect();
        let outposts = self.subnet_outposts(&subnets).await?;
        for instance in &mut instances {
            if let Some(subnet) = &instance.subnet_id {
                instance.outpost_arn = outposts.get(subnet).cloned().flatten();
            }
        }
        Ok(instances)
    }

    /// The subnet of a template's primary network interface with its AMI and type, or why it has no subnet.
    async fn template_subnet(
        &self,
        template: &TemplateRef,
    ) -> Result<Result<TemplateData, String>, AwsError> {
        let answer = self
            .client
            .describe_launch_template_versions()
            .launch_template_id(&template.id)
            .versions(&template.version)
            .send()
            .await;
        let output = match answer {
            Ok(output) => output,
            Err(error) => {
                let error = from_sdk("ec2:DescribeLaunchTemplateVersions", error);
                return match error.kind {
                    ErrorKind::Throttled | ErrorKind::Transient => Err(error),
                    _ => Ok(Err(format!(
                        "launch template {template} cannot be read: {error}"
                    ))),
                };
            }
        };
        let Some(version) = output.launch_template_versions().first() else {
            return Ok(Err(format!(
                "launch template {template} has no such version"
            )));
        };
        let data = version.launch_template_data();
        let interfaces = data.map(|d| d.network_interfaces()).unwrap_or_default();
        let primary = interfaces
            .iter()
            .find(|n| n.device_index() == Some(0))
            .or_else(|| interfaces.iter().find(|n| n.device_index().is_none()));
        Ok(match primary.and_then(|n| n.subnet_id()) {
            Some(subnet) => Ok(TemplateData {
                subnet_id: subnet.to_owned(),
                image_id: data.and_then(|d| d.image_id()).map(str::to_owned),
                instance_type: data
                    .and_then(|d| d.instance_type())
                    .map(|t| t.as_str().to_owned()),
            }),
            None => Err(format!(
                "launch template {template} names no subnet: set NetworkInterfaces DeviceIndex 0 SubnetId to a subnet on the alternate Outpost server"
            )),
        })
    }
}

/// What a template version says about where and what it launches.
struct TemplateData {
    subnet_id: String,
    image_id: Option<String>,
    instance_type: Option<String>,
}

impl Compute for Ec2Compute {
    async fn protected_instances_on(&self, outpost: &OutpostId) -> Result<Vec<Instance>, AwsError> {
        let opted_in: Vec<Instance> = self
            .describe_instances(vec![
                filter("tag-key", [tags::ENABLED.to_owned()]),
                filter("instance-state-name", EXISTING_STATES.map(str::to_owned)),
            ])
            .await?
            .into_iter()
            .filter(Instance::is_opted_in)
            .collect();
        let on_outpost = self
            .with_outposts(opted_in)
            .await?
            .into_iter()
            .filter(|i| {
                i.outpost_arn
                    .as_deref()
                    .is_some_and(|arn| outpost.is_named_by_arn(arn))
            })
            .collect();
        Ok(on_outpost)
    }

    async fn template_targets(
        &self,
        templates: &[TemplateRef],
    ) -> Result<Vec<(TemplateRef, TemplateTarget)>, AwsError> {
        let subnets: Vec<(TemplateRef, Result<TemplateData, String>)> =
            futures::stream::iter(templates.iter().cloned())
                .map(|t| async move {
                    let subnet = self.template_subnet(&t).await?;
                    Ok::<_, AwsError>((t, subnet))
                })
                .buffered(READ_CONCURRENCY)
                .try_collect()
                .await?;
        let named: Vec<String> = subnets
            .iter()
            .filter_map(|(_, s)| s.as_ref().ok().map(|d| d.subnet_id.clone()))
            .collect();
        let outposts = self.subnet_outposts(&named).await?;
        Ok(subnets
            .into_iter()
            .map(|(template, subnet)| {
                let target = match subnet {
                    Ok(TemplateData {
                        subnet_id,
                        image_id,
                        instance_type,
                    }) => match outposts.get(&subnet_id) {
                        Some(outpost_arn) => TemplateTarget::Subnet {
                            outpost_arn: outpost_arn.clone(),
                            subnet_id,
                            image_id,
                            instance_type,
                        },
                        None => TemplateTarget::Unusable {
                            reason: format!("launch template {template} names subnet {subnet_id}, which does not exist"),
                        },
                    },
                    Err(reason) => TemplateTarget::Unusable { reason },
                };
                (template, target)
            })
            .collect())
    }

    async fn instances_tagged(
        &self,
        key: &str,
        values: &[String],
    ) -> Result<Vec<Instance>, AwsError> {
        let mut found = Vec::new();
        for chunk in values.chunks(MAX_FILTER_VALUES) {
            found.extend(
                self.describe_instances(vec![
                    filter(&format!("tag:{key}"), chunk.iter().cloned()),
                    filter("instance-state-name", EXISTING_STATES.map(str::to_owned)),
                ])
                .await?,
            );
        }
        self.with_outposts(found).await
    }

    async fn instances(&self, ids: &[InstanceId]) -> Result<Vec<Instance>, AwsError> {
        let mut found = Vec::new();
        // A filter, not InstanceIds: an id that no longer exists is absent rather than an error.
        for chunk in ids.chunks(MAX_FILTER_VALUES) {
            found.extend(
                self.describe_instances(vec![
                    filter("instance-id", chunk.iter().map(InstanceId::to_string)),
                    filter("instance-state-name", EXISTING_STATES.map(str::to_owned)),
                ])
                .await?,
            );
        }
        self.with_outposts(found).await
    }

    async fn states(
        &self,
        ids: &[InstanceId],
    ) -> Result<Vec<(InstanceId, autorestart_core::vocabulary::InstanceState)>, AwsError> {
        let mut found = Vec::new();
        // A filter, not InstanceIds, and no state filter: terminated ones are answered too.
        for chunk in ids.chunks(MAX_FILTER_VALUES) {
            found.extend(
                self.describe_instances(vec![filter(
                    "instance-id",
                    chunk.iter().map(InstanceId::to_string),
                )])
                .await?
                .into_iter()
                .map(|i| (i.id, i.state)),
            );
        }
        Ok(found)
    }

    async fn launch(&self, request: &LaunchRequest) -> Result<Instance, AwsError> {
        let output = self
            .run_from_template(request)
            .client_token(&request.client_token)
            // The agent paces RunInstances to EC2's bucket and retries it with the same token
            // (`autorestart_flows::launch`); an SDK retry would draw from the bucket unpaced.
            .customize()
            .config_override(
                aws_sdk_ec2::config::Builder::default()
                    .retry_config(aws_sdk_ec2::config::retry::RetryConfig::disabled()),
            )
            .send()
            .await
            .map_err(|e| from_sdk("ec2:RunInstances", e))?;
        output
            .instances()
            .first()
            .map(instance_from_sdk)
            .ok_or_else(|| AwsError::malformed("ec2:RunInstances", "instance"))
    }

    async fn dry_run_launch(&self, request: &LaunchRequest) -> Result<(), AwsError> {
        let answer = self.run_from_template(request).dry_run(true).send().await;
        match answer.map_err(|e| from_sdk("ec2:RunInstances", e)) {
            // EC2 answers a dry run that would succeed with this error.
            Err(error) if error.code == "DryRunOperation" => Ok(()),
            Err(error) if error.code == "UnauthorizedOperation" => Err(self.decoded(error).await),
            Err(error) => Err(error),
            Ok(_) => Err(AwsError::malformed(
                "ec2:RunInstances",
                "an answer to a dry run (it launched nothing)",
            )),
        }
    }

    async fn untag(&self, instance_ids: &[InstanceId], keys: &[&str]) -> Result<(), AwsError> {
        // A tag given by key alone is deleted whatever its value.
        let tags: Vec<Tag> = keys
            .iter()
            .map(|k| Tag::builder().key(*k).build())
            .collect();
        for chunk in instance_ids.chunks(MAX_FILTER_VALUES) {
            self.client
                .delete_tags()
                .set_resources(Some(chunk.iter().map(InstanceId::to_string).collect()))
                .set_tags(Some(tags.clone()))
                .send()
                .await
                .map_err(|e| from_sdk("ec2:DeleteTags", e))?;
        }
        Ok(())
    }

    async fn start(&self, instance_ids: &[InstanceId]) -> Result<(), AwsError> {
        for chunk in instance_ids.chunks(MAX_FILTER_VALUES) {
            self.client
                .start_instances()
                .set_instance_ids(Some(chunk.iter().map(InstanceId::to_string).collect()))
                .send()
                .await
                .map_err(|e| from_sdk("ec2:StartInstances", e))?;
        }
        Ok(())
    }

    async fn stop(&self, instance_ids: &[InstanceId]) -> Result<(), AwsError> {
        self.change_state(instance_ids, true).await
    }

    async fn terminate(&self, instance_ids: &[InstanceId]) -> Result<(), AwsError> {
        self.change_state(instance_ids, false).await
    }

    async fn existing_images(&self, image_ids: &[String]) -> Result<Vec<String>, AwsError> {
        let mut found = Vec::new();
        // A filter, not ImageIds: an AMI deregistered since is absent rather than an error.
        for chunk in image_ids.chunks(MAX_FILTER_VALUES) {
            let mut pages = self
                .client
                .describe_images()
                .filters(filter("image-id", chunk.iter().cloned()))
                .filters(filter("state", ["available".to_owned()]))
                // A deprecated AMI still launches; EC2 hides it from this call unless asked.
                .include_deprecated(true)
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| from_sdk("ec2:DescribeImages", e))?;
                found.extend(
                    page.images()
                        .iter()
                        .filter_map(|i| i.image_id().map(str::to_owned)),
                );
            }
        }
        Ok(found)
    }

    async fn managed_templates(&self) -> Result<std::collections::HashSet<String>, AwsError> {
        // No filter: every page of the account's templates, kept when tagged by the generator.
        let mut pages = self
            .client
            .describe_launch_templates()
            .max_results(200)
            .into_paginator()
            .send();
        let mut managed = std::collections::HashSet::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| from_sdk("ec2:DescribeLaunchTemplates", e))?;
            managed.extend(
                page.launch_templates()
                    .iter()
                    .filter(|t| {
                        t.tags()
                            .iter()
                            .any(|tag| tag.key() == Some(tags::TEMPLATE_FOR))
                    })
                    .filter_map(|t| t.launch_template_id().map(str::to_owned)),
            );
        }
        Ok(managed)
    }

    async fn tag(
        &self,
        instance_ids: &[InstanceId],
        tags: &[(String, String)],
    ) -> Result<(), AwsError> {
        let tags = sdk_tags(tags);
        for chunk in instance_ids.chunks(MAX_FILTER_VALUES) {
            self.client
                .create_tags()
                .set_resources(Some(chunk.iter().map(InstanceId::to_string).collect()))
                .set_tags(Some(tags.clone()))
                .send()
                .await
                .map_err(|e| from_sdk("ec2:CreateTags", e))?;
        }
        Ok(())
    }
}

impl Ec2Compute {
    /// Changes instances' power state; one call per chunk of ids.
    async fn change_state(&self, ids: &[InstanceId], stop: bool) -> Result<(), AwsError> {
        for chunk in ids.chunks(MAX_FILTER_VALUES) {
            let ids = Some(chunk.iter().map(InstanceId::to_string).collect());
            if stop {
                self.client
                    .stop_instances()
                    .set_instance_ids(ids)
                    .send()
                    .await
                    .map_err(|e| from_sdk("ec2:StopInstances", e))?;
            } else {
                self.client
                    .terminate_instances()
                    .set_instance_ids(ids)
                    .send()
                    .await
                    .map_err(|e| from_sdk("ec2:TerminateInstances", e))?;
            }
        }
        Ok(())
    }
}

/// Tag pairs as EC2's tags.
pub(super) fn sdk_tags(pairs: &[(String, String)]) -> Vec<Tag> {
    pairs
        .iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

fn filter(name: &str, values: impl IntoIterator<Item = String>) -> Filter {
    Filter::builder()
        .name(name)
        .set_values(Some(values.into_iter().collect()))
        .build()
}

fn instance_from_sdk(i: &aws_sdk_ec2::types::Instance) -> Instance {
    let mut addresses: Vec<PrivateAddress> = i
        .network_interfaces()
        .iter()
        .flat_map(|eni| {
            let device_index = eni.attachment().and_then(|a| a.device_index()).unwrap_or(0);
            let listed = eni
                .private_ip_addresses()
                .iter()
                .filter_map(|a| a.private_ip_address());
            // Some answers list only the interface's primary address.
            let primary = eni
                .private_ip_addresses()
                .is_empty()
                .then(|| eni.private_ip_address())
                .flatten();
            listed.chain(primary).map(move |ip| PrivateAddress {
                device_index,
                ip: ip.to_owned(),
            })
        })
        .collect();
    if let Some(primary) = i.private_ip_address()
        && !addresses.iter().any(|a| a.ip == primary)
    {
        addresses.insert(
            0,
            PrivateAddress {
                device_index: 0,
                ip: primary.to_owned(),
            },
        );
    }
    Instance {
        id: i.instance_id().unwrap_or_default().into(),
        state: i
            .state()
            .and_then(|s| s.name())
            .map(|n| n.as_str().into())
            .unwrap_or_default(),
        subnet_id: i.subnet_id().map(str::to_owned),
        outpost_arn: i.outpost_arn().map(str::to_owned),
        instance_type: i.instance_type().map(|t| t.as_str().to_owned()),
        tags: i
            .tags()
            .iter()
            .filter_map(|t| {
                Some((
                    t.key()?.to_owned(),
                    t.value().unwrap_or_default().to_owned(),
                ))
            })
            .collect(),
        addresses,
        launched_at: i
            .launch_time()
            .and_then(|t| t.to_millis().ok())
            .and_then(chrono::DateTime::from_timestamp_millis),
        client_token: i
            .client_token()
            .filter(|t| !t.is_empty())
            .map(str::to_owned),
    }
}
