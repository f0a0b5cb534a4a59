//! [`LoadBalancing`] over Elastic Load Balancing v2.

use aws_sdk_elasticloadbalancingv2::Client;
use aws_sdk_elasticloadbalancingv2::types::{TargetDescription, TargetGroup, TargetTypeEnum};
use futures::StreamExt;

use super::READ_CONCURRENCY;
use super::sdk_error::from_sdk;
use autorestart_core::error::AwsError;
use autorestart_core::ids::TargetGroupArn;
use autorestart_flows::ports::{
    LoadBalancing, Membership, Memberships, Target, TargetGroupScope, TargetKind, TargetState,
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

    /// The instance- and IP-type target groups of the scope, every page read, and the groups
    /// the scope names that do not exist. ELB answers `TargetGroupNotFound` for the whole call
    /// when one named group is gone: then each is asked for alone.
    async fn target_groups(
        &self,
        scope: &TargetGroupScope,
    ) -> Result<(Vec<(TargetGroupArn, TargetKind)>, Vec<TargetGroupArn>), AwsError> {
        let arns = match scope {
            TargetGroupScope::All => return Ok((self.described(None).await?, Vec::new())),
            TargetGroupScope::Only(arns) => arns,
        };
        match self.described(Some(arns)).await {
            Err(error) if is_not_found(&error) && arns.len() > 1 => {}
            Err(error) if is_not_found(&error) => return Ok((Vec::new(), arns.clone())),
            other => return other.map(|groups| (groups, Vec::new())),
        }
        let mut groups = Vec::new();
        let mut missing = Vec::new();
        for arn in arns {
            match self.described(Some(std::slice::from_ref(arn))).await {
                Ok(found) => groups.extend(found),
                Err(error) if is_not_found(&error) => missing.push(arn.clone()),
                Err(error) => return Err(error),
            }
        }
        Ok((groups, missing))
    }

    /// DescribeTargetGroups for these ARNs (all when none), every page read.
    async fn described(
        &self,
        arns: Option<&[TargetGroupArn]>,
    ) -> Result<Vec<(TargetGroupArn, TargetKind)>, AwsError> {
        let arns = arns.map(|arns| arns.iter().map(String::from).collect());
        let request = self
            .client
            .describe_target_groups()
            .set_target_group_arns(arns);
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
        arn: &TargetGroupArn,
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
                target_group_arn: arn.clone(),
                kind,
                target: target_from_sdk(t),
            })
            .collect())
    }
}

impl LoadBalancing for ElbTargetGroups {
    async fn memberships(&self, scope: &TargetGroupScope) -> Result<Memberships, AwsError> {
        let (groups, mut missing) = self.target_groups(scope).await?;
        let per_group: Vec<(TargetGroupArn, Result<Vec<Membership>, AwsError>)> =
            futures::stream::iter(groups)
                .map(|(arn, kind)| async move {
                    let read = self.registrations(&arn, kind).await;
                    (arn, read)
                })
                .buffered(READ_CONCURRENCY)
                .collect()
                .await;
        let mut registered = Vec::new();
        for (arn, read) in per_group {
            match read {
                Ok(memberships) => registered.extend(memberships),
                // Deleted between the two reads.
                Err(error) if is_not_found(&error) => missing.push(arn),
                Err(error) => return Err(error),
            }
        }
        Ok(Memberships {
            registered,
            missing,
        })
    }

    async fn register(
        &self,
        target_group_arn: &TargetGroupArn,
        targets: &[Target],
    ) -> Result<(), AwsError> {
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
        target_group_arn: &TargetGroupArn,
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
                        .map_or("unknown", |s| s.as_str())
                        .into(),
                })
            })
            .collect())
    }

    async fn deregister(
        &self,
        target_group_arn: &TargetGroupArn,
        targets: &[Target],
    ) -> Result<(), AwsError> {
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

/// ELB's answer for a target group that does not exist.
fn is_not_found(error: &AwsError) -> bool {
    error.code == "TargetGroupNotFound"
}

fn kind_of(group: &TargetGroup) -> Option<(TargetGroupArn, TargetKind)> {
    let kind = match group.target_type()? {
        TargetTypeEnum::Instance => TargetKind::Instance,
        TargetTypeEnum::Ip => TargetKind::Ip,
        _ => return None,
    };
    Some((group.target_group_arn()?.into(), kind))
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
