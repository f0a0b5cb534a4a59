//! Elastic Load Balancing in memory: `initial` targets, refusals of targets that do not run.

use super::*;
use crate::Op;
use autorestart_core::ids::TargetGroupArn;
use autorestart_core::vocabulary::TargetHealth;

impl LoadBalancing for InMemoryAws {
    async fn memberships(&self, scope: &TargetGroupScope) -> Result<Memberships, AwsError> {
        self.call(Op::DescribeTargetHealth, |w| {
            let missing = match scope {
                TargetGroupScope::All => Vec::new(),
                TargetGroupScope::Only(list) => list
                    .iter()
                    .filter(|arn| !w.target_groups.contains_key(arn.as_str()))
                    .cloned()
                    .collect(),
            };
            let registered = w
                .target_groups
                .iter()
                .filter(|(arn, _)| match scope {
                    TargetGroupScope::All => true,
                    TargetGroupScope::Only(list) => list.iter().any(|a| a == *arn),
                })
                .flat_map(|(arn, (kind, targets))| {
                    targets.iter().map(|t| Membership {
                        target_group_arn: arn.into(),
                        kind: *kind,
                        target: t.clone(),
                    })
                })
                .collect();
            Ok(Memberships {
                registered,
                missing,
            })
        })
        .await
    }

    async fn register(
        &self,
        target_group_arn: &TargetGroupArn,
        targets: &[Target],
    ) -> Result<(), AwsError> {
        self.call(Op::RegisterTargets, |w| {
            let (kind, _) = w
                .target_groups
                .get(target_group_arn.as_str())
                .ok_or_else(|| not_found(target_group_arn))?;
            if *kind == TargetKind::Instance {
                if targets.iter().any(|t| t.availability_zone.is_some()) {
                    return Err(AwsError::from_code(
                        "elasticloadbalancing:RegisterTargets",
                        "ValidationError",
                        "You cannot specify an Availability Zone for instance targets",
                    ));
                }
                let not_running: Vec<&str> = targets
                    .iter()
                    .filter(|t| w.instances.get(&t.id).is_none_or(|i| !i.is_running()))
                    .map(|t| t.id.as_str())
                    .collect();
                if !not_running.is_empty() {
                    return Err(AwsError::from_code(
                        "elasticloadbalancing:RegisterTargets",
                        "InvalidTarget",
                        format!(
                            "The following targets are not in a running state and cannot be registered: '{}'",
                            not_running.join("', '")
                        ),
                    ));
                }
            }
            let now = Instant::now();
            for t in targets {
                w.registered_at
                    .entry((target_group_arn.to_string(), t.clone()))
                    .or_insert(now);
            }
            let (_, registered) = w.target_groups.get_mut(target_group_arn.as_str()).expect("read above");
            registered.extend(targets.iter().cloned());
            Ok(())
        })
        .await
    }

    async fn health(
        &self,
        target_group_arn: &TargetGroupArn,
        targets: &[Target],
    ) -> Result<Vec<TargetState>, AwsError> {
        self.call(Op::DescribeTargetHealth, |w| {
            let (_, registered) = w
                .target_groups
                .get(target_group_arn.as_str())
                .ok_or_else(|| not_found(target_group_arn))?;
            Ok(targets
                .iter()
                .filter(|t| registered.contains(t))
                .map(|t| TargetState {
                    target: t.clone(),
                    state: if w
                        .registered_at
                        .get(&(target_group_arn.to_string(), t.clone()))
                        .is_some_and(|at| Instant::now() < *at + w.initial_for)
                    {
                        "initial".into()
                    } else {
                        w.health
                            .get(&t.id)
                            .or(w.default_health.as_ref())
                            .map_or(TargetHealth::Healthy, |h| TargetHealth::parse(h))
                    },
                })
                .collect())
        })
        .await
    }

    async fn deregister(
        &self,
        target_group_arn: &TargetGroupArn,
        targets: &[Target],
    ) -> Result<(), AwsError> {
        self.call(Op::DeregisterTargets, |w| {
            let strict = w.deregister_absent_is_invalid;
            let (_, registered) = w
                .target_groups
                .get_mut(target_group_arn.as_str())
                .ok_or_else(|| not_found(target_group_arn))?;
            if let Some(absent) = targets.iter().find(|t| !registered.contains(*t))
                && strict
            {
                return Err(AwsError::from_code(
                    "elasticloadbalancing:DeregisterTargets",
                    "InvalidTarget",
                    format!("The following targets are not registered: '{}'", absent.id),
                ));
            }
            for t in targets {
                registered.remove(t);
                w.registered_at
                    .remove(&(target_group_arn.to_string(), t.clone()));
            }
            Ok(())
        })
        .await
    }
}

fn not_found(target_group_arn: &TargetGroupArn) -> AwsError {
    AwsError::from_code(
        "elasticloadbalancing:TargetGroups",
        "TargetGroupNotFound",
        format!("{target_group_arn} not found"),
    )
}
