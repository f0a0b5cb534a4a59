//! The narrow capabilities the recovery needs from AWS, each implemented once over the SDK
//! (`crate::aws`) and by in-memory doubles in tests and benchmarks.

use std::future::Future;

use crate::alarm::{AlarmChange, OutpostId};
use crate::drs::{
    ActiveJob, JobFailure, JobSnapshot, LaunchSettings, LaunchUpdate, RecoveryInstance,
    SourceServer,
};
use crate::error::AwsError;
use crate::inventory::{Instance, TemplateTarget};
use crate::tags::TemplateRef;

/// A request to launch one replacement.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct LaunchRequest {
    /// The recovery launch template.
    pub template: TemplateRef,
    /// Idempotency token, one per (incident, instance, template).
    pub client_token: String,
    /// Tags for the new instance.
    pub tags: Vec<(String, String)>,
}

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
        ids: &[String],
    ) -> impl Future<Output = Result<Vec<Instance>, AwsError>> + Send;

    /// Launches one instance from a template; the instance as EC2 returned it.
    fn launch(
        &self,
        request: &LaunchRequest,
    ) -> impl Future<Output = Result<Instance, AwsError>> + Send;

    /// Adds or overwrites tags on instances.
    fn tag(
        &self,
        instance_ids: &[String],
        tags: &[(String, String)],
    ) -> impl Future<Output = Result<(), AwsError>> + Send;

    /// Stops instances.
    fn stop(&self, instance_ids: &[String]) -> impl Future<Output = Result<(), AwsError>> + Send;

    /// Terminates instances.
    fn terminate(
        &self,
        instance_ids: &[String],
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

/// One hardware asset (a server) of an Outpost, as the Outposts API describes it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Asset {
    /// The asset id.
    pub id: String,
    /// `ACTIVE`, `ISOLATED` or `RETIRING`, when the API tells.
    pub state: Option<String>,
    /// Instance types the asset is configured for, with how many.
    pub capacities: Vec<(String, i32)>,
}

/// AWS Outposts, as the readiness check reads it.
pub trait Outposts: Sync {
    /// The compute assets of an Outpost, every page read.
    fn assets(
        &self,
        outpost: &OutpostId,
    ) -> impl Future<Output = Result<Vec<Asset>, AwsError>> + Send;
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

    /// Launch jobs not completed.
    fn active_jobs(&self) -> impl Future<Output = Result<Vec<ActiveJob>, AwsError>> + Send;

    /// One job, if DRS knows it.
    fn job(
        &self,
        job_id: &str,
    ) -> impl Future<Output = Result<Option<JobSnapshot>, AwsError>> + Send;

    /// Starts one recovery (or drill) job for at most 100 servers; the job id.
    fn start_recovery(
        &self,
        source_server_ids: &[String],
        drill: bool,
    ) -> impl Future<Output = Result<String, AwsError>> + Send;

    /// The instance a job launched for a source server.
    fn recovery_instance(
        &self,
        source_server_id: &str,
        job_id: &str,
    ) -> impl Future<Output = Result<Option<RecoveryInstance>, AwsError>> + Send;

    /// The failing events of a job's log for a source server, every page read.
    fn job_failures(
        &self,
        job_id: &str,
        source_server_id: &str,
    ) -> impl Future<Output = Result<Vec<JobFailure>, AwsError>> + Send;
}

/// How a target group names its targets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum TargetKind {
    /// By instance id.
    Instance,
    /// By IP address.
    Ip,
}

/// One target of a target group.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct Target {
    /// Instance id or IP address.
    pub id: String,
    /// The port, when the target overrides the group's.
    pub port: Option<i32>,
    /// Availability Zone, for IP targets outside the VPC (`all`).
    pub availability_zone: Option<String>,
}

/// A target's health as the load balancer reports it (`healthy`, `initial`, `unhealthy`, …).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct TargetState {
    /// The target.
    pub target: Target,
    /// The reported state.
    pub state: String,
}

/// One registration in one target group.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Membership {
    /// The target group.
    pub target_group_arn: String,
    /// How it names targets.
    pub kind: TargetKind,
    /// The registered target.
    pub target: Target,
}

impl Membership {
    /// Whether this registration names `instance`: by its id, or by one of its private addresses.
    pub fn names(&self, instance: &Instance) -> bool {
        self.target.id == instance.id || instance.device_index_of(&self.target.id).is_some()
    }
}

/// Which target groups the agent may manage.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub enum TargetGroupScope {
    /// Every instance- or IP-type target group in the account and Region.
    All,
    /// Only these target groups.
    Only(Vec<String>),
}

impl TargetGroupScope {
    /// Whether the agent may change this target group.
    pub fn contains(&self, target_group_arn: &str) -> bool {
        match self {
            Self::All => true,
            Self::Only(list) => list.iter().any(|arn| arn == target_group_arn),
        }
    }
}

/// Elastic Load Balancing v2, as the recovery uses it.
pub trait LoadBalancing: Sync {
    /// Every registration in instance- and IP-type target groups of the scope, every page read.
    fn memberships(
        &self,
        scope: &TargetGroupScope,
    ) -> impl Future<Output = Result<Vec<Membership>, AwsError>> + Send;

    /// Registers targets.
    fn register(
        &self,
        target_group_arn: &str,
        targets: &[Target],
    ) -> impl Future<Output = Result<(), AwsError>> + Send;

    /// The health of the given targets.
    fn health(
        &self,
        target_group_arn: &str,
        targets: &[Target],
    ) -> impl Future<Output = Result<Vec<TargetState>, AwsError>> + Send;

    /// Deregisters targets.
    fn deregister(
        &self,
        target_group_arn: &str,
        targets: &[Target],
    ) -> impl Future<Output = Result<(), AwsError>> + Send;
}

/// A message for people.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Notice {
    /// One line, at most 100 characters.
    pub subject: String,
    /// Readable text followed by the same facts as JSON.
    pub body: String,
    /// Message attributes for subscription filter policies.
    pub attributes: Vec<(String, String)>,
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
    records: impl IntoIterator<Item = (String, Vec<(String, String)>)>,
) -> Option<AwsError> {
    let mut by_tags: std::collections::BTreeMap<Vec<(String, String)>, Vec<String>> =
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

impl<T: Compute> Compute for &T {
    fn protected_instances_on(
        &self,
        outpost: &OutpostId,
    ) -> impl Future<Output = Result<Vec<Instance>, AwsError>> + Send {
        (**self).protected_instances_on(outpost)
    }
    fn template_targets(
        &self,
        templates: &[TemplateRef],
    ) -> impl Future<Output = Result<Vec<(TemplateRef, TemplateTarget)>, AwsError>> + Send {
        (**self).template_targets(templates)
    }
    fn instances_tagged(
        &self,
        key: &str,
        values: &[String],
    ) -> impl Future<Output = Result<Vec<Instance>, AwsError>> + Send {
        (**self).instances_tagged(key, values)
    }
    fn instances(
        &self,
        ids: &[String],
    ) -> impl Future<Output = Result<Vec<Instance>, AwsError>> + Send {
        (**self).instances(ids)
    }
    fn launch(
        &self,
        request: &LaunchRequest,
    ) -> impl Future<Output = Result<Instance, AwsError>> + Send {
        (**self).launch(request)
    }
    fn tag(
        &self,
        instance_ids: &[String],
        tags: &[(String, String)],
    ) -> impl Future<Output = Result<(), AwsError>> + Send {
        (**self).tag(instance_ids, tags)
    }
    fn stop(&self, instance_ids: &[String]) -> impl Future<Output = Result<(), AwsError>> + Send {
        (**self).stop(instance_ids)
    }
    fn terminate(
        &self,
        instance_ids: &[String],
    ) -> impl Future<Output = Result<(), AwsError>> + Send {
        (**self).terminate(instance_ids)
    }
    fn existing_images(
        &self,
        image_ids: &[String],
    ) -> impl Future<Output = Result<Vec<String>, AwsError>> + Send {
        (**self).existing_images(image_ids)
    }
    fn managed_templates(
        &self,
    ) -> impl Future<Output = Result<std::collections::HashSet<String>, AwsError>> + Send {
        (**self).managed_templates()
    }
}

impl<T: Alarms> Alarms for &T {
    fn alarms_named(
        &self,
        prefix: &str,
    ) -> impl Future<Output = Result<Vec<AlarmChange>, AwsError>> + Send {
        (**self).alarms_named(prefix)
    }
    fn alarm_tags(
        &self,
        alarm_arn: &str,
    ) -> impl Future<Output = Result<Vec<(String, String)>, AwsError>> + Send {
        (**self).alarm_tags(alarm_arn)
    }
}

impl<T: Outposts> Outposts for &T {
    fn assets(
        &self,
        outpost: &OutpostId,
    ) -> impl Future<Output = Result<Vec<Asset>, AwsError>> + Send {
        (**self).assets(outpost)
    }
}

impl<T: LoadBalancing> LoadBalancing for &T {
    fn memberships(
        &self,
        scope: &TargetGroupScope,
    ) -> impl Future<Output = Result<Vec<Membership>, AwsError>> + Send {
        (**self).memberships(scope)
    }
    fn register(
        &self,
        target_group_arn: &str,
        targets: &[Target],
    ) -> impl Future<Output = Result<(), AwsError>> + Send {
        (**self).register(target_group_arn, targets)
    }
    fn health(
        &self,
        target_group_arn: &str,
        targets: &[Target],
    ) -> impl Future<Output = Result<Vec<TargetState>, AwsError>> + Send {
        (**self).health(target_group_arn, targets)
    }
    fn deregister(
        &self,
        target_group_arn: &str,
        targets: &[Target],
    ) -> impl Future<Output = Result<(), AwsError>> + Send {
        (**self).deregister(target_group_arn, targets)
    }
}

impl<T: Notifier> Notifier for &T {
    fn publish(&self, notice: &Notice) -> impl Future<Output = Result<String, AwsError>> + Send {
        (**self).publish(notice)
    }
}

impl<T: DisasterRecovery> DisasterRecovery for &T {
    fn source_servers(
        &self,
        ids: &[String],
    ) -> impl Future<Output = Result<Vec<SourceServer>, AwsError>> + Send {
        (**self).source_servers(ids)
    }
    fn launch_settings(
        &self,
        source_server_id: &str,
    ) -> impl Future<Output = Result<LaunchSettings, AwsError>> + Send {
        (**self).launch_settings(source_server_id)
    }
    fn update_launch_settings(
        &self,
        source_server_id: &str,
        update: &LaunchUpdate,
    ) -> impl Future<Output = Result<(), AwsError>> + Send {
        (**self).update_launch_settings(source_server_id, update)
    }
    fn active_jobs(&self) -> impl Future<Output = Result<Vec<ActiveJob>, AwsError>> + Send {
        (**self).active_jobs()
    }
    fn job(
        &self,
        job_id: &str,
    ) -> impl Future<Output = Result<Option<JobSnapshot>, AwsError>> + Send {
        (**self).job(job_id)
    }
    fn start_recovery(
        &self,
        source_server_ids: &[String],
        drill: bool,
    ) -> impl Future<Output = Result<String, AwsError>> + Send {
        (**self).start_recovery(source_server_ids, drill)
    }
    fn recovery_instance(
        &self,
        source_server_id: &str,
        job_id: &str,
    ) -> impl Future<Output = Result<Option<RecoveryInstance>, AwsError>> + Send {
        (**self).recovery_instance(source_server_id, job_id)
    }
    fn job_failures(
        &self,
        job_id: &str,
        source_server_id: &str,
    ) -> impl Future<Output = Result<Vec<JobFailure>, AwsError>> + Send {
        (**self).job_failures(job_id, source_server_id)
    }
}
