//! EC2 in memory: instances that start pending and may be invisible at first, ClientTokens, RunInstances' bucket.

use super::*;
use crate::Op;
use autorestart_core::ids::InstanceId;
use autorestart_core::vocabulary::InstanceState;

impl Compute for InMemoryAws {
    async fn protected_instances_on(&self, outpost: &OutpostId) -> Result<Vec<Instance>, AwsError> {
        self.call(Op::DescribeInstances, |w| {
            Ok(w.instances
                .values()
                .filter(|i| {
                    i.state != InstanceState::Terminated && i.is_opted_in() && w.visible(&i.id)
                })
                .filter(|i| {
                    i.outpost_arn
                        .as_deref()
                        .is_some_and(|arn| outpost.is_named_by_arn(arn))
                })
                .cloned()
                .collect())
        })
        .await
    }

    async fn instances_tagged(
        &self,
        key: &str,
        values: &[String],
    ) -> Result<Vec<Instance>, AwsError> {
        let values: HashSet<&str> = values.iter().map(String::as_str).collect();
        self.call(Op::DescribeInstances, |w| {
            Ok(w.instances
                .values()
                .filter(|i| i.state != InstanceState::Terminated && w.visible(&i.id))
                .filter(|i| i.tag(key).is_some_and(|v| values.contains(v)))
                .cloned()
                .collect())
        })
        .await
    }

    async fn instances(&self, ids: &[InstanceId]) -> Result<Vec<Instance>, AwsError> {
        self.call(Op::DescribeInstances, |w| {
            Ok(ids
                .iter()
                .filter_map(|id| w.instances.get(id.as_str()))
                .filter(|i| i.state != InstanceState::Terminated && w.visible(&i.id))
                .cloned()
                .collect())
        })
        .await
    }

    async fn states(
        &self,
        ids: &[InstanceId],
    ) -> Result<Vec<(InstanceId, InstanceState)>, AwsError> {
        self.call(Op::DescribeInstances, |w| {
            Ok(ids
                .iter()
                .filter_map(|id| w.instances.get(id.as_str()))
                .filter(|i| w.visible(&i.id))
                .map(|i| (i.id.clone(), i.state.clone()))
                .collect())
        })
        .await
    }

    async fn template_targets(
        &self,
        templates: &[TemplateRef],
    ) -> Result<Vec<(TemplateRef, TemplateTarget)>, AwsError> {
        self.call(Op::DescribeLaunchTemplateVersions, |w| {
            Ok(templates
                .iter()
                .map(|t| {
                    let target = match w.templates.get(t) {
                        Some(subnet) => TemplateTarget::Subnet {
                            subnet_id: subnet.clone(),
                            outpost_arn: w.subnets.get(subnet).cloned().flatten(),
                            image_id: w.template_images.get(t).cloned(),
                            instance_type: Some("m5.large".into()),
                        },
                        None => TemplateTarget::Unusable {
                            reason: format!("launch template {t} does not exist"),
                        },
                    };
                    (t.clone(), target)
                })
                .collect())
        })
        .await
    }

    async fn launch(&self, request: &LaunchRequest) -> Result<Instance, AwsError> {
        self.call(Op::RunInstances, |w| {
            if let Some(first) = w.tokens.get(&request.client_token) {
                return Ok(first.clone());
            }
            let subnet = w.templates.get(&request.template).cloned().ok_or_else(|| {
                AwsError::from_code(
                    "ec2:RunInstances",
                    "InvalidLaunchTemplateId.NotFound",
                    format!("{} not found", request.template),
                )
            })?;
            if w.refused_templates.contains(request.template.id.as_str()) {
                return Err(AwsError::from_code(
                    "ec2:RunInstances",
                    "UnauthorizedOperation",
                    "You are not authorized to perform this operation.",
                ));
            }
            w.take_instances(Op::RunInstances, 1)?;
            if let Some(room) = w.capacity.get_mut(&subnet) {
                if *room == 0 {
                    return Err(AwsError::from_code(
                        "ec2:RunInstances",
                        "InsufficientInstanceCapacity",
                        "There is no Spot capacity available that matches your request.",
                    ));
                }
                *room -= 1;
            }
            w.next_id += 1;
            let id = format!("i-{:017x}", 0xf000_0000_u64 + w.next_id);
            let tags: Vec<(&str, &str)> = request
                .tags
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            w.add_instance(&id, &subnet, &tags);
            // What EC2 itself records of a template launch: the token, and the template's
            // id and resolved version as `aws:` tags no principal can write.
            let instance = w.instances.get_mut(&id).expect("just added");
            instance.client_token = Some(request.client_token.clone());
            instance.tags.insert(
                autorestart_core::tags::LAUNCH_TEMPLATE_ID.into(),
                request.template.id.to_string(),
            );
            instance.tags.insert(
                autorestart_core::tags::LAUNCH_TEMPLATE_VERSION.into(),
                "1".into(),
            );
            w.launched_at.insert(id.clone(), Instant::now());
            if !w.pending_for.is_zero() {
                w.set_state(&id, "pending");
            }
            let answer = w.instances[&id].clone();
            w.tokens
                .insert(request.client_token.clone(), answer.clone());
            Ok(answer)
        })
        .await
    }

    async fn dry_run_launch(&self, request: &LaunchRequest) -> Result<(), AwsError> {
        self.call(Op::RunInstancesDryRun, |w| {
            if !w.templates.contains_key(&request.template) {
                return Err(AwsError::from_code(
                    "ec2:RunInstances",
                    "InvalidLaunchTemplateId.NotFound",
                    format!("{} not found", request.template),
                ));
            }
            if w.refused_templates.contains(request.template.id.as_str()) {
                return Err(AwsError::from_code(
                    "ec2:RunInstances",
                    "UnauthorizedOperation",
                    "You are not authorized to perform this operation. User is not authorized to perform: iam:PassRole",
                ));
            }
            Ok(())
        })
        .await
    }

    async fn tag(
        &self,
        instance_ids: &[InstanceId],
        tags: &[(String, String)],
    ) -> Result<(), AwsError> {
        self.call(Op::CreateTags, |w| {
            if let Some((key, _)) = tags.iter().find(|(k, _)| k.starts_with("aws:")) {
                // EC2 reserves the aws: prefix for the tags it sets itself.
                return Err(AwsError::from_code(
                    "ec2:CreateTags",
                    "InvalidParameterValue",
                    format!("Tag keys starting with 'aws:' are reserved for internal use: {key}"),
                ));
            }
            for id in instance_ids {
                let instance = w.instances.get_mut(id.as_str()).ok_or_else(|| {
                    AwsError::from_code(
                        "ec2:CreateTags",
                        "InvalidInstanceID.NotFound",
                        format!("{id} not found"),
                    )
                })?;
                instance.tags.extend(tags.iter().cloned());
            }
            Ok(())
        })
        .await
    }

    async fn untag(&self, instance_ids: &[InstanceId], keys: &[&str]) -> Result<(), AwsError> {
        self.call(Op::DeleteTags, |w| {
            for id in instance_ids {
                let instance = w.instances.get_mut(id.as_str()).ok_or_else(|| {
                    AwsError::from_code(
                        "ec2:DeleteTags",
                        "InvalidInstanceID.NotFound",
                        format!("{id} not found"),
                    )
                })?;
                instance.tags.retain(|k, _| !keys.contains(&k.as_str()));
            }
            Ok(())
        })
        .await
    }

    async fn start(&self, instance_ids: &[InstanceId]) -> Result<(), AwsError> {
        self.call(Op::StartInstances, |w| {
            // EC2 checks every instance before it starts any.
            for id in instance_ids {
                let state = w.instances.get(id.as_str()).map(|i| i.state.clone());
                match state {
                    None => {
                        return Err(AwsError::from_code(
                            "ec2:StartInstances",
                            "InvalidInstanceID.NotFound",
                            format!("{id} not found"),
                        ));
                    }
                    Some(s) if s.is_gone() || s == InstanceState::Stopping => {
                        return Err(AwsError::from_code(
                            "ec2:StartInstances",
                            "IncorrectInstanceState",
                            format!("The instance '{id}' is not in a state from which it can be started."),
                        ));
                    }
                    Some(_) => {}
                }
                if w.unstartable.contains(id.as_str()) {
                    return Err(AwsError::from_code(
                        "ec2:StartInstances",
                        "InsufficientInstanceCapacity",
                        "There is not enough capacity to fulfill your request.",
                    ));
                }
            }
            let stopped = instance_ids
                .iter()
                .filter(|id| w.instances[id.as_str()].state == InstanceState::Stopped)
                .count();
            w.take_instances(Op::StartInstances, stopped)?;
            let now = Instant::now();
            for id in instance_ids {
                let instance = w.instances.get_mut(id.as_str()).expect("checked above");
                if instance.state == InstanceState::Stopped {
                    // Pending like a launch, for the world's pending time.
                    instance.state = InstanceState::Pending;
                    w.started_at.insert(id.to_string(), now);
                }
            }
            Ok(())
        })
        .await
    }

    async fn stop(&self, instance_ids: &[InstanceId]) -> Result<(), AwsError> {
        self.set_state(Op::StopInstances, instance_ids, "stopped")
            .await
    }

    async fn terminate(&self, instance_ids: &[InstanceId]) -> Result<(), AwsError> {
        self.set_state(Op::TerminateInstances, instance_ids, "terminated")
            .await
    }

    async fn existing_images(&self, image_ids: &[String]) -> Result<Vec<String>, AwsError> {
        self.call(Op::DescribeImages, |w| {
            Ok(image_ids
                .iter()
                .filter(|id| w.images.contains(*id))
                .cloned()
                .collect())
        })
        .await
    }

    async fn managed_templates(&self) -> Result<HashSet<String>, AwsError> {
        self.call(Op::DescribeLaunchTemplates, |w| {
            Ok(w.templates
                .keys()
                .map(|t| t.id.to_string())
                .filter(|id| !w.unmanaged_templates.contains(id.as_str()))
                .collect())
        })
        .await
    }
}

impl InMemoryAws {
    async fn set_state(
        &self,
        operation: Op,
        instance_ids: &[InstanceId],
        state: &str,
    ) -> Result<(), AwsError> {
        self.call(operation, |w| {
            for id in instance_ids {
                let instance = w.instances.get_mut(id.as_str()).ok_or_else(|| {
                    AwsError::from_code(
                        operation.as_str(),
                        "InvalidInstanceID.NotFound",
                        format!("{id} not found"),
                    )
                })?;
                instance.state = state.into();
            }
            Ok(())
        })
        .await
    }
}
