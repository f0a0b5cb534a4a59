//! What the flows read before they decide: the alarms as CloudWatch shows them now, the
//! maintenance tag, the opted-in instances, and what each recovery strategy needs for its plan.

use std::collections::{HashMap, HashSet};

use chrono::Utc;
use tracing::info;

use autorestart_core::alarm::{AlarmChange, IncidentId, OutpostId};
use autorestart_core::drs::{self, DrsSnapshot, SourceServer};
use autorestart_core::error::AwsError;
use autorestart_core::inventory::{Instance, TemplateTarget};
use autorestart_core::plan::{self, Snapshot};
use autorestart_core::settings::Settings;
use autorestart_core::tags::{self, TemplateRef};

use crate::ports::{Alarms, Compute, DisasterRecovery};

/// Every ConnectedStatus alarm the agent watches, as CloudWatch shows it now.
pub async fn current_alarms<A: Alarms>(
    alarms: &A,
    settings: &Settings,
) -> Result<Vec<AlarmChange>, AwsError> {
    alarms.alarms_named(&settings.alarm_name_prefix).await
}

/// Whether the alarm carries `autorestart:maintenance=true`; an alarm without ARN is not.
pub async fn maintenance<A: Alarms>(alarms: &A, change: &AlarmChange) -> Result<bool, AwsError> {
    let Some(arn) = &change.alarm_arn else {
        return Ok(false);
    };
    let tags = alarms.alarm_tags(arn).await?;
    Ok(tags
        .iter()
        .any(|(k, v)| k == tags::MAINTENANCE && tags::is_opted_in(Some(v))))
}

/// What the template strategy reads for its plan: the replacements of the instances, in any
/// state, and where each of their recovery templates launches.
pub struct TemplateReads {
    /// Instances tagged `autorestart:replacement-of` one of the instances.
    pub replacements: Vec<Instance>,
    /// Each template named by the instances, with its subnet and Outpost or why it is unusable.
    pub targets: HashMap<TemplateRef, TemplateTarget>,
}

impl TemplateReads {
    /// The planner's view of `instances` with these reads, now.
    pub fn snapshot<'a>(
        &'a self,
        outpost: &'a OutpostId,
        incident: &'a IncidentId,
        instances: &'a [Instance],
        down_outposts: &'a HashSet<OutpostId>,
        launch_wait: std::time::Duration,
    ) -> Snapshot<'a> {
        Snapshot {
            outpost,
            incident,
            instances,
            replacements: &self.replacements,
            template_targets: &self.targets,
            down_outposts,
            now: Utc::now(),
            launch_wait,
        }
    }
}

/// Reads what the template strategy needs for `instances`; nothing without instances.
pub async fn template_reads<C: Compute>(
    compute: &C,
    instances: &[Instance],
) -> Result<TemplateReads, AwsError> {
    if instances.is_empty() {
        return Ok(TemplateReads {
            replacements: Vec::new(),
            targets: HashMap::new(),
        });
    }
    let ids: Vec<String> = instances.iter().map(|i| i.id.to_string()).collect();
    let templates = plan::templates_named_by(instances);
    let (replacements, targets) = futures::try_join!(
        compute.instances_tagged(tags::REPLACEMENT_OF, &ids),
        compute.template_targets(&templates)
    )?;
    Ok(TemplateReads {
        replacements,
        targets: targets.into_iter().collect(),
    })
}

/// What the DRS strategy reads for its plan.
#[derive(Default)]
pub struct DrsReads {
    /// Every source server.
    pub servers: Vec<SourceServer>,
    /// Stopped instances tagged `AWSDRS=AllowLaunchingIntoThisInstance`.
    pub targets: Vec<Instance>,
    /// DRS's unfinished jobs.
    pub active_jobs: Vec<drs::ActiveJob>,
    /// The jobs recorded on the instances for this incident, as DRS reports them now.
    pub recorded_jobs: Vec<drs::JobSnapshot>,
}

impl DrsReads {
    /// The DRS planner's view of `instances` with these reads.
    pub fn snapshot<'a>(
        &'a self,
        outpost: &'a OutpostId,
        incident: &'a IncidentId,
        instances: &'a [Instance],
    ) -> DrsSnapshot<'a> {
        DrsSnapshot {
            outpost,
            incident,
            instances,
            servers: &self.servers,
            targets: &self.targets,
            active_jobs: &self.active_jobs,
            recorded_jobs: &self.recorded_jobs,
        }
    }
}

/// Reads what the DRS strategy needs; no DRS call without DRS-protected instances.
pub async fn drs_reads<C: Compute, D: DisasterRecovery>(
    compute: &C,
    drs: &D,
    incident: &IncidentId,
    instances: &[Instance],
) -> Result<DrsReads, AwsError> {
    if instances.is_empty() {
        return Ok(DrsReads::default());
    }
    let target_tag = [drs::TARGET_TAG_VALUE.to_owned()];
    let (mut servers, targets, active_jobs, recorded_jobs) = futures::try_join!(
        drs.source_servers(&[]),
        compute.instances_tagged(drs::TARGET_TAG_KEY, &target_tag),
        drs.active_jobs(),
        recorded_jobs(drs, incident, instances)
    )?;
    recovery_points(drs, &mut servers, instances).await?;
    info!(
        servers = servers.len(),
        targets = targets.len(),
        "read DRS source servers and launch targets"
    );
    Ok(DrsReads {
        servers,
        targets,
        active_jobs,
        recorded_jobs,
    })
}

/// Reads the latest recovery snapshot of each server that protects one of `instances` and does
/// not replicate continuously (a dark Outpost stalls it): what a recovery launches from then.
pub async fn recovery_points<D: DisasterRecovery>(
    drs: &D,
    servers: &mut [SourceServer],
    instances: &[Instance],
) -> Result<(), AwsError> {
    let wanted: Vec<String> = instances
        .iter()
        .filter_map(|i| drs::source_server_of(servers, i))
        .filter(|s| !s.is_continuous())
        .map(|s| s.id.clone())
        .collect();
    for server in servers.iter_mut().filter(|s| wanted.contains(&s.id)) {
        server.recovery_point = drs.latest_recovery_point(&server.id).await?;
    }
    Ok(())
}

/// The DRS jobs recorded on `instances` for this incident, as DRS reports them now.
async fn recorded_jobs<D: DisasterRecovery>(
    drs: &D,
    incident: &IncidentId,
    instances: &[Instance],
) -> Result<Vec<drs::JobSnapshot>, AwsError> {
    let mut ids: Vec<&str> = instances
        .iter()
        .filter(|i| i.tag(tags::INCIDENT) == Some(incident.as_str()))
        .filter_map(|i| i.tag(tags::DRS_JOB))
        .collect();
    ids.sort_unstable();
    ids.dedup();
    let mut jobs = Vec::new();
    for id in ids {
        jobs.extend(drs.job(id).await?);
    }
    Ok(jobs)
}

/// Every opted-in instance, whatever the letter case of `true`.
pub async fn opted_in_instances<C: Compute>(compute: &C) -> Result<Vec<Instance>, AwsError> {
    let spellings = ["true", "True", "TRUE"].map(str::to_owned);
    Ok(compute
        .instances_tagged(tags::ENABLED, &spellings)
        .await?
        .into_iter()
        .filter(Instance::is_opted_in)
        .collect())
}
