//! The narrow capabilities the recovery needs from AWS, each implemented once over the SDK
//! (`autorestart-aws`) and in memory (`autorestart-testkit`) for tests and benchmarks.

use std::future::Future;

use autorestart_core::alarm::{AlarmChange, OutpostId};
use autorestart_core::drs::{
    ActiveJob, JobFailure, JobSnapshot, LaunchSettings, LaunchUpdate, RecoveryInstance,
    RecoveryPoint, RecoveryStart, SourceServer,
};
use autorestart_core::error::AwsError;
use autorestart_core::ids::InstanceId;
use autorestart_core::ids::TargetGroupArn;
use autorestart_core::inventory::{Instance, TemplateTarget};
use autorestart_core::tags::TemplateRef;
use autorestart_core::vocabulary::InstanceState;

/// The data the ports carry, defined in the core.
pub use autorestart_core::inventory::{
    Asset, LaunchRequest, Membership, Memberships, Target, TargetGroupScope, TargetKind,
    TargetState,
};
pub use autorestart_core::notice::Notice;

/// EC2, as the recovery uses it.
pub trait Compute: Sync {
    /// Opted-in instances (any state but terminated) whose subnet lies on `outpost`, every page read.
    fn protected_instances_on(
        &self,
        outpost: &OutpostId,
    ) -> impl Future<Output = Result<Vec<Instance>, AwsError>> + Send;

    /// Where each template would launch, or why it cannot be used.
    fn template_targets(
        &self,
        templates: &[TemplateRef],
    ) -> impl Future<Output = Result<Vec<(TemplateRef, TemplateTarget)>, AwsError>> + Send;

    /// Instances (not terminated) carrying tag `key` with any of `values`, Outposts filled in.
    fn instances_tagged(
        &self,
        key: &str,
        values: &[String],
    ) -> impl Future<Output = Result<Vec<Instance>, AwsError>> + Send;

    /// The instances with these ids that exist (not terminated), Outposts filled in.
    fn instances(
        &self,
        ids: &[InstanceId],
    ) -> impl Future<Output = Result<Vec<Instance>, AwsError>> + Send;

    /// The state of each of these instances that EC2 still describes, terminated ones
    /// included (EC2 describes a terminated instance for about an hour): `(id, state)`.
    fn states(
        &self,
        ids: &[InstanceId],
    ) -> impl Future<Output = Result<Vec<(InstanceId, InstanceState)>, AwsError>> + Send;

    /// Launches one instance from a template; the instance as EC2 returned it.
    fn launch(
        &self,
        request: &LaunchRequest,
    ) -> impl Future<Output = Result<Instance, AwsError>> + Send;

    /// Asks EC2 whether `request` would launch (`RunInstances` with `DryRun`): `Ok` for
    /// `DryRunOperation`, the refusal otherwise (with its decoded reason where it can be had).
    fn dry_run_launch(
        &self,
        request: &LaunchRequest,
    ) -> impl Future<Output = Result<(), AwsError>> + Send;

    /// Adds or overwrites tags on instances.
    fn tag(
        &self,
        instance_ids: &[InstanceId],
        tags: &[(String, String)],
    ) -> impl Future<Output = Result<(), AwsError>> + Send;

    /// Removes tags (by key, whatever their value) from instances.
    fn untag(
        &self,
        instance_ids: &[InstanceId],
        keys: &[&str],
    ) -> impl Future<Output = Result<(), AwsError>> + Send;

    /// Starts stopped instances: one `StartInstances` call for many (EC2 draws each started
    /// instance from its resource bucket, not from the RunInstances request bucket).
    fn start(
        &self,
        instance_ids: &[InstanceId],
    ) -> impl Future<Output = Result<(), AwsError>> + Send;

    /// Stops instances.
    fn stop(
        &self,
        instance_ids: &[InstanceId],
    ) -> impl Future<Output = Result<(), AwsError>> + Send;

    /// Terminates instances.
    fn terminate(
        &self,
        instance_ids: &[InstanceId],
    ) -> impl Future<Output = Result<(), AwsError>> + Send;

    /// Of these AMIs, the ones that exist and are available.
    fn existing_images(
        &self,
        image_ids: &[String],
    ) -> impl Future<Output = Result<Vec<String>, AwsError>> + Send;

    /// Ids of the launch templates tagged `autorestart:template-for` (the generator tags each
    /// template it writes): the ones IAM lets the agent launch from, with those listed in
    /// `RecoveryLaunchTemplateArns`. Every page read.
    fn managed_templates(
        &self,
    ) -> impl Future<Output = Result<std::collections::HashSet<String>, AwsError>> + Send;
}

/// CloudWatch alarms, as the agent reads them.
pub trait Alarms: Sync {
    /// Every metric alarm whose name starts with `prefix`, in its current state, every page read.
    fn alarms_named(
        &self,
        prefix: &str,
    ) -> impl Future<Output = Result<Vec<AlarmChange>, AwsError>> + Send;

    /// The tags of an alarm.
    fn alarm_tags(
        &self,
        alarm_arn: &str,
    ) -> impl Future<Output = Result<Vec<(String, String)>, AwsError>> + Send;
}

/// AWS Outposts, as the readiness check reads it.
pub trait Outposts: Sync {
    /// The compute assets of an Outpost, every page read.
    fn assets(
        &self,
        outpost: &OutpostId,
    ) -> impl Future<Output = Result<Vec<Asset>, AwsError>> + Send;

    /// The instance type of every instance running on an Outpost's assets, of every account
    /// and service (`ListAssetInstances`), every page read.
    fn running_types(
        &self,
        outpost: &OutpostId,
    ) -> impl Future<Output = Result<Vec<String>, AwsError>> + Send;
}

/// AWS Elastic Disaster Recovery, as the recovery uses it.
pub trait DisasterRecovery: Sync {
    /// Source servers, every page read: these ids, or all when empty.
    fn source_servers(
        &self,
        ids: &[String],
    ) -> impl Future<Output = Result<Vec<SourceServer>, AwsError>> + Send;

    /// A source server's launch configuration.
    fn launch_settings(
        &self,
        source_server_id: &str,
    ) -> impl Future<Output = Result<LaunchSettings, AwsError>> + Send;

    /// Applies one launch-configuration update.
    fn update_launch_settings(
        &self,
        source_server_id: &str,
        update: &LaunchUpdate,
    ) -> impl Future<Output = Result<(), AwsError>> + Send;

    /// Launch jobs not completed, and completed ones the agent started (tagged with its
    /// `autorestart:incident`), with the servers they did not launch.
    fn active_jobs(&self) -> impl Future<Output = Result<Vec<ActiveJob>, AwsError>> + Send;

    /// One job, if DRS knows it.
    fn job(
        &self,
        job_id: &str,
    ) -> impl Future<Output = Result<Option<JobSnapshot>, AwsError>> + Send;

    /// The newest recovery snapshot DRS holds of a source server, if any.
    fn latest_recovery_point(
        &self,
        source_server_id: &str,
    ) -> impl Future<Output = Result<Option<RecoveryPoint>, AwsError>> + Send;

    /// Starts one recovery (or drill) job for at most 100 servers, each from the snapshot it
    /// names (or fresh data), the job tagged with `tags`; the job id.
    fn start_recovery(
        &self,
        servers: &[RecoveryStart],
        drill: bool,
        tags: &[(String, String)],
    ) -> impl Future<Output = Result<String, AwsError>> + Send;

    /// The instance a job launched for a source server.
    fn recovery_instance(
        &self,
        source_server_id: &str,
        job_id: &str,
    ) -> impl Future<Output = Result<Option<RecoveryInstance>, AwsError>> + Send;

    /// Starts replicating a recovery instance (an EC2 instance DRS launched, or launched into)
    /// back toward its origin (`ReverseReplication`): the id of the source server that
    /// replicates it. On a failed-back instance, it protects it again.
    fn reverse_replication(
        &self,
        recovery_instance_id: &InstanceId,
    ) -> impl Future<Output = Result<String, AwsError>> + Send;

    /// The failing events of a job's log for a source server, every page read.
    fn job_failures(
        &self,
        job_id: &str,
        source_server_id: &str,
    ) -> impl Future<Output = Result<Vec<JobFailure>, AwsError>> + Send;
}

/// Elastic Load Balancing v2, as the recovery uses it.
pub trait LoadBalancing: Sync {
    /// Every registration in instance- and IP-type target groups of the scope, every page read.
    fn memberships(
        &self,
        scope: &TargetGroupScope,
    ) -> impl Future<Output = Result<Memberships, AwsError>> + Send;

    /// Registers targets.
    fn register(
        &self,
        target_group_arn: &TargetGroupArn,
        targets: &[Target],
    ) -> impl Future<Output = Result<(), AwsError>> + Send;

    /// The health of the given targets.
    fn health(
        &self,
        target_group_arn: &TargetGroupArn,
        targets: &[Target],
    ) -> impl Future<Output = Result<Vec<TargetState>, AwsError>> + Send;

    /// Deregisters targets.
    fn deregister(
        &self,
        target_group_arn: &TargetGroupArn,
        targets: &[Target],
    ) -> impl Future<Output = Result<(), AwsError>> + Send;
}

/// SNS, as the agent uses it.
pub trait Notifier: Sync {
    /// Publishes a notice; the message id.
    fn publish(&self, notice: &Notice) -> impl Future<Output = Result<String, AwsError>> + Send;
}

/// Writes each instance's tags, one CreateTags per distinct set of tags (usually one); the
/// first error, if any. For records that differ by instance only in a value or two.
pub(crate) async fn tag_grouped<C: Compute>(
    compute: &C,
    records: impl IntoIterator<Item = (InstanceId, Vec<(String, String)>)>,
) -> Option<AwsError> {
    let mut by_tags: std::collections::BTreeMap<Vec<(String, String)>, Vec<InstanceId>> =
        Default::default();
    for (id, tags) in records {
        by_tags.entry(tags).or_default().push(id);
    }
    let mut first_error = None;
    for (tags, ids) in by_tags {
        if let Err(error) = compute.tag(&ids, &tags).await {
            first_error.get_or_insert(error);
        }
    }
    first_error
}

/// Ids as the strings a tag's values are (`autorestart:replacement-of=i-…`).
pub(crate) fn strings(ids: &[InstanceId]) -> Vec<String> {
    ids.iter().map(InstanceId::to_string).collect()
}
