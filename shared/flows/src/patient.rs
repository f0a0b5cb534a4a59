//! Patience with AWS under load. The agent reaches every port through [`Patient`], which
//! - bounds each call by the invocation's end ([`Budget::current`]): no call outlasts it;
//! - retries a throttled call (it did nothing) and an unanswered call that is safe to repeat,
//!   with jittered backoff, only while the budget has time for the pause;
//! - after a mutating call fails in a way that may have taken effect (no answer, or an error
//!   such as ELB's `InvalidTarget` for a target already gone), reads what the call did, and
//!   reports success when the world shows it done.
//!
//! The agent's retry loop owns the backoff: the SDK is configured to retry little, quickly
//! (`function_support`), and not RunInstances at all, which [`crate::launch`] paces and
//! retries with the same ClientToken.

use std::collections::HashSet;
use std::future::Future;

use tracing::{info, warn};

use autorestart_core::alarm::{AlarmChange, OutpostId};
use autorestart_core::drs::{
    ActiveJob, JobFailure, JobSnapshot, LaunchSettings, LaunchUpdate, RecoveryInstance,
    RecoveryPoint, RecoveryStart, SourceServer,
};
use autorestart_core::error::{AwsError, ErrorKind};
use autorestart_core::ids::InstanceId;
use autorestart_core::ids::TargetGroupArn;
use autorestart_core::inventory::{Instance, TemplateTarget};
use autorestart_core::tags::{self, TemplateRef};
use autorestart_core::vocabulary::InstanceState;

use crate::budget::{self, Budget};
use crate::ports::{
    Alarms, Asset, Compute, DisasterRecovery, LaunchRequest, LoadBalancing, Memberships, Notice,
    Notifier, Outposts, Target, TargetGroupScope, TargetState,
};

/// Most tries of one call, the first included, however much time is left.
pub const MAX_TRIES: u32 = 8;

/// A port reached with patience; see the module's documentation.
#[derive(Debug, Default)]
pub struct Patient<P>(P);

impl<P> Patient<P> {
    /// `port`, reached with patience.
    pub fn new(port: P) -> Self {
        Self(port)
    }

    /// The port itself.
    pub fn inner(&self) -> &P {
        &self.0
    }
}

/// Which failures a call may be repeated after.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Repeat {
    /// Only a throttled call: it did nothing. For calls whose repeat could act twice.
    Throttled,
    /// A throttled call or one without an answer: repeating it does no harm.
    Unanswered,
}

/// Whether a call that failed so may have done something: it was not answered, or answered
/// with an error the agent cannot place (ELB's `InvalidTarget`, say). A throttled or refused
/// call, or one naming what does not exist, did nothing.
pub fn may_have_acted(error: &AwsError) -> bool {
    matches!(error.kind, ErrorKind::Transient | ErrorKind::Other)
}

/// One try of `call`, cut off when the invocation ends.
async fn once<T, Fut>(operation: &'static str, call: Fut) -> Result<T, AwsError>
where
    Fut: Future<Output = Result<T, AwsError>>,
{
    match Budget::current().to_end() {
        None => call.await,
        Some(left) => tokio::time::timeout(left, call).await.unwrap_or_else(|_| {
            Err(AwsError::transient(
                operation,
                "no answer before the invocation's deadline",
            ))
        }),
    }
}

/// `call` until it succeeds, fails in a way `repeat` does not cover, has been tried
/// [`MAX_TRIES`] times, or the budget has no time left for the next pause.
async fn patiently<T, F, Fut>(
    operation: &'static str,
    repeat: Repeat,
    mut call: F,
) -> Result<T, AwsError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, AwsError>>,
{
    let budget = Budget::current();
    let mut tries = 0;
    loop {
        tries += 1;
        let error = match once(operation, call()).await {
            Ok(answer) => return Ok(answer),
            Err(error) => error,
        };
        let again = match error.kind {
            ErrorKind::Throttled => true,
            ErrorKind::Transient => repeat == Repeat::Unanswered,
            _ => false,
        };
        if !again || tries >= MAX_TRIES {
            return Err(error);
        }
        let pause = budget::backoff(tries, budget::jitter());
        if budget.left().is_some_and(|left| left < pause) {
            warn!(%operation, %error, tries, "out of time to retry");
            return Err(error);
        }
        info!(%operation, %error, tries, pause_ms = pause.as_millis() as u64, "retrying");
        tokio::time::sleep(pause).await;
    }
}

/// After `error`, whether a read shows the mutation done (`Ok(true)`); the read's own failure
/// leaves the error standing.
async fn confirmed(
    error: AwsError,
    read: impl Future<Output = Result<bool, AwsError>>,
) -> Result<(), AwsError> {
    if !may_have_acted(&error) {
        return Err(error);
    }
    match read.await {
        Ok(true) => {
            info!(operation = %error.operation, %error, "the call failed, but what it asked for is done");
            Ok(())
        }
        Ok(false) => Err(error),
        Err(read_error) => {
            warn!(operation = %error.operation, %error, %read_error, "could not read what a failed call did");
            Err(error)
        }
    }
}

impl<C: Compute> Compute for Patient<C> {
    async fn protected_instances_on(&self, outpost: &OutpostId) -> Result<Vec<Instance>, AwsError> {
        patiently("ec2:DescribeInstances", Repeat::Unanswered, || {
            self.0.protected_instances_on(outpost)
        })
        .await
    }

    async fn template_targets(
        &self,
        templates: &[TemplateRef],
    ) -> Result<Vec<(TemplateRef, TemplateTarget)>, AwsError> {
        patiently(
            "ec2:DescribeLaunchTemplateVersions",
            Repeat::Unanswered,
            || self.0.template_targets(templates),
        )
        .await
    }

    async fn instances_tagged(
        &self,
        key: &str,
        values: &[String],
    ) -> Result<Vec<Instance>, AwsError> {
        patiently("ec2:DescribeInstances", Repeat::Unanswered, || {
            self.0.instances_tagged(key, values)
        })
        .await
    }

    async fn instances(&self, ids: &[InstanceId]) -> Result<Vec<Instance>, AwsError> {
        patiently("ec2:DescribeInstances", Repeat::Unanswered, || {
            self.0.instances(ids)
        })
        .await
    }

    async fn states(
        &self,
        ids: &[InstanceId],
    ) -> Result<Vec<(InstanceId, InstanceState)>, AwsError> {
        patiently("ec2:DescribeInstances", Repeat::Unanswered, || {
            self.0.states(ids)
        })
        .await
    }

    async fn launch(&self, request: &LaunchRequest) -> Result<Instance, AwsError> {
        // Paced and retried with its ClientToken by `launch`: one bounded try here.
        once("ec2:RunInstances", self.0.launch(request)).await
    }

    async fn dry_run_launch(&self, request: &LaunchRequest) -> Result<(), AwsError> {
        patiently("ec2:RunInstances", Repeat::Unanswered, || {
            self.0.dry_run_launch(request)
        })
        .await
    }

    async fn tag(
        &self,
        instance_ids: &[InstanceId],
        tags: &[(String, String)],
    ) -> Result<(), AwsError> {
        let Err(error) = patiently("ec2:CreateTags", Repeat::Unanswered, || {
            self.0.tag(instance_ids, tags)
        })
        .await
        else {
            return Ok(());
        };
        confirmed(error, async {
            let found = self.instances(instance_ids).await?;
            Ok(found.len() == instance_ids.len()
                && found.iter().all(|i| {
                    tags.iter()
                        .all(|(key, value)| i.tag(key) == Some(value.as_str()))
                }))
        })
        .await
    }

    async fn untag(&self, instance_ids: &[InstanceId], keys: &[&str]) -> Result<(), AwsError> {
        let Err(error) = patiently("ec2:DeleteTags", Repeat::Unanswered, || {
            self.0.untag(instance_ids, keys)
        })
        .await
        else {
            return Ok(());
        };
        confirmed(error, async {
            let found = self.instances(instance_ids).await?;
            // Absent: terminated, tags and all.
            Ok(found
                .iter()
                .all(|i| keys.iter().all(|key| i.tag(key).is_none())))
        })
        .await
    }

    async fn start(&self, instance_ids: &[InstanceId]) -> Result<(), AwsError> {
        let Err(error) = patiently("ec2:StartInstances", Repeat::Unanswered, || {
            self.0.start(instance_ids)
        })
        .await
        else {
            return Ok(());
        };
        confirmed(error, async {
            let found = self.instances(instance_ids).await?;
            Ok(found.len() == instance_ids.len()
                && found.iter().all(|i| i.is_starting_or_running()))
        })
        .await
    }

    async fn stop(&self, instance_ids: &[InstanceId]) -> Result<(), AwsError> {
        let Err(error) = patiently("ec2:StopInstances", Repeat::Unanswered, || {
            self.0.stop(instance_ids)
        })
        .await
        else {
            return Ok(());
        };
        confirmed(error, async {
            let found = self.instances(instance_ids).await?;
            // Absent: terminated, which is more than stopped.
            Ok(found.iter().all(|i| i.state.is_down()))
        })
        .await
    }

    async fn terminate(&self, instance_ids: &[InstanceId]) -> Result<(), AwsError> {
        let Err(error) = patiently("ec2:TerminateInstances", Repeat::Unanswered, || {
            self.0.terminate(instance_ids)
        })
        .await
        else {
            return Ok(());
        };
        confirmed(error, async {
            let found = self.instances(instance_ids).await?;
            Ok(found.iter().all(|i| i.state.is_gone()))
        })
        .await
    }

    async fn existing_images(&self, image_ids: &[String]) -> Result<Vec<String>, AwsError> {
        patiently("ec2:DescribeImages", Repeat::Unanswered, || {
            self.0.existing_images(image_ids)
        })
        .await
    }

    async fn managed_templates(&self) -> Result<HashSet<String>, AwsError> {
        patiently("ec2:DescribeLaunchTemplates", Repeat::Unanswered, || {
            self.0.managed_templates()
        })
        .await
    }
}

impl<A: Alarms> Alarms for Patient<A> {
    async fn alarms_named(&self, prefix: &str) -> Result<Vec<AlarmChange>, AwsError> {
        patiently("cloudwatch:DescribeAlarms", Repeat::Unanswered, || {
            self.0.alarms_named(prefix)
        })
        .await
    }

    async fn alarm_tags(&self, alarm_arn: &str) -> Result<Vec<(String, String)>, AwsError> {
        patiently("cloudwatch:ListTagsForResource", Repeat::Unanswered, || {
            self.0.alarm_tags(alarm_arn)
        })
        .await
    }
}

impl<O: Outposts> Outposts for Patient<O> {
    async fn assets(&self, outpost: &OutpostId) -> Result<Vec<Asset>, AwsError> {
        patiently("outposts:ListAssets", Repeat::Unanswered, || {
            self.0.assets(outpost)
        })
        .await
    }

    async fn running_types(&self, outpost: &OutpostId) -> Result<Vec<String>, AwsError> {
        patiently("outposts:ListAssetInstances", Repeat::Unanswered, || {
            self.0.running_types(outpost)
        })
        .await
    }
}

impl<D: DisasterRecovery> DisasterRecovery for Patient<D> {
    async fn source_servers(&self, ids: &[String]) -> Result<Vec<SourceServer>, AwsError> {
        patiently("drs:DescribeSourceServers", Repeat::Unanswered, || {
            self.0.source_servers(ids)
        })
        .await
    }

    async fn launch_settings(&self, source_server_id: &str) -> Result<LaunchSettings, AwsError> {
        patiently("drs:GetLaunchConfiguration", Repeat::Unanswered, || {
            self.0.launch_settings(source_server_id)
        })
        .await
    }

    async fn update_launch_settings(
        &self,
        source_server_id: &str,
        update: &LaunchUpdate,
    ) -> Result<(), AwsError> {
        // Sets values: repeating it sets the same ones.
        patiently("drs:UpdateLaunchConfiguration", Repeat::Unanswered, || {
            self.0.update_launch_settings(source_server_id, update)
        })
        .await
    }

    async fn active_jobs(&self) -> Result<Vec<ActiveJob>, AwsError> {
        patiently("drs:DescribeJobs", Repeat::Unanswered, || {
            self.0.active_jobs()
        })
        .await
    }

    async fn job(&self, job_id: &str) -> Result<Option<JobSnapshot>, AwsError> {
        patiently("drs:DescribeJobs", Repeat::Unanswered, || {
            self.0.job(job_id)
        })
        .await
    }

    async fn latest_recovery_point(
        &self,
        source_server_id: &str,
    ) -> Result<Option<RecoveryPoint>, AwsError> {
        patiently("drs:DescribeRecoverySnapshots", Repeat::Unanswered, || {
            self.0.latest_recovery_point(source_server_id)
        })
        .await
    }

    async fn reverse_replication(
        &self,
        recovery_instance_id: &InstanceId,
    ) -> Result<String, AwsError> {
        let error = match patiently("drs:ReverseReplication", Repeat::Throttled, || {
            self.0.reverse_replication(recovery_instance_id)
        })
        .await
        {
            Ok(server) => return Ok(server),
            Err(error) => error,
        };
        // Unanswered, or refused as asked before (ConflictException): the server replicating
        // that instance back, if DRS shows one.
        if !may_have_acted(&error) && error.code != "ConflictException" {
            return Err(error);
        }
        let servers = self.source_servers(&[]).await?;
        servers
            .into_iter()
            .find(|s| s.replicates_back && s.aws_instance_id.as_ref() == Some(recovery_instance_id))
            .map(|s| s.id)
            .ok_or(error)
    }

    async fn start_recovery(
        &self,
        servers: &[RecoveryStart],
        drill: bool,
        job_tags: &[(String, String)],
    ) -> Result<String, AwsError> {
        // A second job for the same servers must not start: after an unanswered call, the job
        // it may have started is looked for (tagged with the incident, naming these servers)
        // before it is asked again.
        let incident = tags::value_in(job_tags, tags::INCIDENT);
        let mut tries = 0;
        loop {
            tries += 1;
            let error = match patiently("drs:StartRecovery", Repeat::Throttled, || {
                self.0.start_recovery(servers, drill, job_tags)
            })
            .await
            {
                Ok(job) => return Ok(job),
                Err(error) => error,
            };
            if !may_have_acted(&error) {
                return Err(error);
            }
            // Without the incident's tag, or without a read of DRS, what the call did is not
            // known: the error stands (the sweep looks again), nothing is asked twice.
            let Some(incident) = incident else {
                return Err(error);
            };
            let jobs = match self.active_jobs().await {
                Ok(jobs) => jobs,
                Err(read_error) => {
                    warn!(%error, %read_error, "StartRecovery was not answered and DRS could not be read");
                    return Err(error);
                }
            };
            let started = jobs.into_iter().find(|job| {
                job.incident.as_deref() == Some(incident)
                    && job.drill == drill
                    && servers
                        .iter()
                        .all(|s| job.source_server_ids.contains(&s.source_server_id))
            });
            if let Some(job) = started {
                info!(job = %job.job_id, %error, "StartRecovery was not answered, but DRS shows the job it started");
                return Ok(job.job_id);
            }
            // DRS refuses a second job for a server in a job (ConflictException), so a repeat
            // whose first did start after all is refused, not doubled.
            if error.kind != ErrorKind::Transient || tries >= 2 || Budget::current().spent() {
                return Err(error);
            }
            warn!(%error, "StartRecovery was not answered and DRS shows no job it started; asking again");
        }
    }

    async fn recovery_instance(
        &self,
        source_server_id: &str,
        job_id: &str,
    ) -> Result<Option<RecoveryInstance>, AwsError> {
        patiently("drs:DescribeRecoveryInstances", Repeat::Unanswered, || {
            self.0.recovery_instance(source_server_id, job_id)
        })
        .await
    }

    async fn job_failures(
        &self,
        job_id: &str,
        source_server_id: &str,
    ) -> Result<Vec<JobFailure>, AwsError> {
        patiently("drs:DescribeJobLogItems", Repeat::Unanswered, || {
            self.0.job_failures(job_id, source_server_id)
        })
        .await
    }
}

impl<L: LoadBalancing> LoadBalancing for Patient<L> {
    async fn memberships(&self, scope: &TargetGroupScope) -> Result<Memberships, AwsError> {
        patiently(
            "elasticloadbalancing:DescribeTargetHealth",
            Repeat::Unanswered,
            || self.0.memberships(scope),
        )
        .await
    }

    async fn register(
        &self,
        target_group_arn: &TargetGroupArn,
        targets: &[Target],
    ) -> Result<(), AwsError> {
        let Err(error) = patiently(
            "elasticloadbalancing:RegisterTargets",
            Repeat::Unanswered,
            || self.0.register(target_group_arn, targets),
        )
        .await
        else {
            return Ok(());
        };
        // ELB's InvalidTarget on a register means the target cannot be registered (not
        // running): that is an answer, not a lost one.
        if error.code == "InvalidTarget" {
            return Err(error);
        }
        confirmed(error, async {
            let registered = self.registered_in(target_group_arn).await?;
            Ok(targets
                .iter()
                .all(|t| registered.iter().any(|r| same_target(t, r))))
        })
        .await
    }

    async fn health(
        &self,
        target_group_arn: &TargetGroupArn,
        targets: &[Target],
    ) -> Result<Vec<TargetState>, AwsError> {
        patiently(
            "elasticloadbalancing:DescribeTargetHealth",
            Repeat::Unanswered,
            || self.0.health(target_group_arn, targets),
        )
        .await
    }

    async fn deregister(
        &self,
        target_group_arn: &TargetGroupArn,
        targets: &[Target],
    ) -> Result<(), AwsError> {
        let Err(error) = patiently(
            "elasticloadbalancing:DeregisterTargets",
            Repeat::Unanswered,
            || self.0.deregister(target_group_arn, targets),
        )
        .await
        else {
            return Ok(());
        };
        // A repeat of a deregister whose answer was lost meets `InvalidTarget`: the target is
        // gone already, which is what was asked.
        confirmed(error, async {
            let registered = self.registered_in(target_group_arn).await?;
            Ok(!targets
                .iter()
                .any(|t| registered.iter().any(|r| same_target(t, r))))
        })
        .await
    }
}

impl<L: LoadBalancing> Patient<L> {
    /// The targets registered in one target group now.
    async fn registered_in(
        &self,
        target_group_arn: &TargetGroupArn,
    ) -> Result<Vec<Target>, AwsError> {
        let scope = TargetGroupScope::Only(vec![target_group_arn.clone()]);
        let memberships = self.memberships(&scope).await?;
        Ok(memberships
            .registered
            .into_iter()
            .filter(|m| &m.target_group_arn == target_group_arn)
            .map(|m| m.target)
            .collect())
    }
}

/// Whether a registration read back is the target a call named: the same id, and the same
/// port when the call named one (ELB reports the group's port for a target named without).
fn same_target(named: &Target, read: &Target) -> bool {
    named.id == read.id && (named.port.is_none() || named.port == read.port)
}

impl<N: Notifier> Notifier for Patient<N> {
    async fn publish(&self, notice: &Notice) -> Result<String, AwsError> {
        // A notice whose answer was lost may be sent twice: a duplicate notice is better than
        // none at 3 a.m.
        patiently("sns:Publish", Repeat::Unanswered, || self.0.publish(notice)).await
    }
}
