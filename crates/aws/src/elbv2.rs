//! [`LoadBalancing`] over Elastic Load Balancing v2.

use aws_sdk_elasticloadbalancingv2::Client;
use aws_sdk_elasticloadbalancingv2::types::{TargetDescription, TargetGroup, TargetTypeEnum};
use futures::{StreamExt, TryStreamExt};

use super::READ_CONCURRENCY;
use super::sdk_error::from_sdk;
use autorestart_core::error::AwsError;
use autorestart_flows::ports::{
    LoadBalancing, Membership, Target, TargetGroupScope, TargetKind, TargetState,
};

/// Target groups through the SDK client.
#[derive(Clone, Debug)]
pub struct ElbTargetGroups {
    client: Client,
}

impl ElbTargetGroups {
    /// Wraps a configured client.
    pub fn new(client: Client) -> Self {
        Self { client }
    }

    /// The instance- and IP-type target groups of the scope, every page read.
    async fn target_groups(
        &self,
        scope: &TargetGroupScope,
    ) -> Result<Vec<(String, TargetKind)>, AwsError> {
        let request = self.client.describe_target_groups();
        let request = match scope {
            TargetGroupScope::All => request,
            TargetGroupScope::Only(arns) => request.set_target_group_arns(Some(arns.clone())),
        };
        let mut pages = request.into_paginator().send();
        let mut groups = Vec::new();
        while let Some(page) = pages.next().await {
            let page =
                page.map_err(|e| from_sdk("elasticloadbalancing:DescribeTargetGroups", e))?;
            groups.extend(page.target_groups().iter().filter_map(kind_of));
        }
        Ok(groups)
    }

    async fn registrations(
        &self,
        arn: &str,
        kind: TargetKind,
    ) -> Result<Vec<Membership>, AwsError> {
        let output = self
            .client
            .describe_target_health()
            .target_group_arn(arn)
            .send()
            .await
            .map_err(|e| from_sdk("elasticloadbalancing:DescribeTargetHealth", e))?;
        Ok(output
            .target_health_descriptions()
            .iter()
            // A draining target is already on its way out: it is no membership to move.
            .filter(|d| {
                d.target_health()
                    .and_then(|h| h.state())
                    .map(|s| s.as_str())
                    != Some("draining")
            })
            .filter_map(|d| d.target())
            .map(|t| Membership {
                target_group_arn: arn.to_owned(),
                kind,
                target: target_from_sdk(t),
            })
            .collect())
    }
}

impl LoadBalancing for ElbTargetGroups {
    async fn memberships(&self, scope: &TargetGroupScope) -> Result<Vec<Membership>, AwsError> {
        let groups = self.target_groups(scope).await?;
        let per_group: Vec<Vec<Membership>> = futures::stream::iter(groups)
            .map(|(arn, kind)| async move { self.registrations(&arn, kind).await })
            .buffered(READ_CONCURRENCY)
            .try_collect()
            .await?;
        Ok(per_group.into_iter().flatten().collect())
    }

    async fn register(&self, target_group_arn: &str, targets: &[Target]) -> Result<(), AwsError> {
        self.client
            .register_targets()
            .target_group_arn(target_group_arn)
            .set_targets(Some(targets.iter().map(target_to_sdk).collect()))
            .send()
            .await
            .map_err(|e| from_sdk("elasticloadbalancing:RegisterTargets", e))?;
        Ok(())
    }

    async fn health(
        &self,
        target_group_arn: &str,
        targets: &[Target],
    ) -> Result<Vec<TargetState>, AwsError> {
        let output = self
            .client
            .describe_target_health()
            .target_group_arn(target_group_arn)
            .set_targets(Some(targets.iter().map(target_to_sdk).collect()))
            .send()
            .await
            .map_err(|e| from_sdk("elasticloadbalancing:DescribeTargetHealth", e))?;
        Ok(output
            .target_health_descriptions()
            .iter()
            .filter_map(|d| {
                Some(TargetState {
                    target: target_from_sdk(d.target()?),
                    state: d
                        .target_health()
                        .and_then(|h| h.state())
                        .map(|s| s.as_str().to_owned())
                        .unwrap_or_else(|| "unknown".into()),
                })
            })
            .collect())
    }

    async fn deregister(&self, target_group_arn: &str, targets: &[Target]) -> Result<(), AwsError> {
        self.client
            .deregister_targets()
            .target_group_arn(target_group_arn)
            .set_targets(Some(targets.iter().map(target_to_sdk).collect()))
            .send()
            .await
            .map_err(|e| from_sdk("elasticloadbalancing:DeregisterTargets", e))?;
        Ok(())
    }
}

fn kind_of(group: &TargetGroup) -> Option<(String, TargetKind)> {
    let kind = match group.target_type()? {
        TargetTypeEnum::Instance => TargetKind::Instance,
        TargetTypeEnum::Ip => TargetKind::Ip,
        _ => return None,
    };
    Some((group.target_group_arn()?.to_owned(), kind))
}

fn target_from_sdk(t: &TargetDescription) -> Target {
    Target {
        id: t.id().unwrap_or_default().to_owned(),
        port: t.port(),
        availability_zone: t.availability_zone().map(str::to_owned),
    }
}

fn target_to_sdk(t: &Target) -> TargetDescription {
    TargetDescription::builder()
        .id(&t.id)
        .set_port(t.port)
        .set_availability_zone(t.availability_zone.clone())
        .build()
}
