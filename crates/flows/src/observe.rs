//! What the flows read before they decide: the alarms as CloudWatch shows them now, the
//! maintenance tag, the opted-in instances, and what each recovery strategy needs for its plan.

use std::collections::HashMap;

use chrono::Utc;
use tracing::info;

use autorestart_core::alarm::{AlarmChange, IncidentId, OutpostId};
use autorestart_core::drs::{self, DrsSnapshot, PlannedDrs};
use autorestart_core::error::AwsError;
use autorestart_core::inventory::Instance;
use autorestart_core::plan::{self, Snapshot};
use autorestart_core::settings::Settings;
use autorestart_core::tags;

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

/// Reads what the template strategy needs and plans it.
pub async fn plan_templates<C: Compute>(
    compute: &C,
    outpost: &OutpostId,
    incident: &IncidentId,
    instances: &[Instance],
    down_outposts: &std::collections::HashSet<OutpostId>,
) -> Result<Vec<plan::PlannedInstance>, AwsError> {
    if instances.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<String> = instances.iter().map(|i| i.id.clone()).collect();
    let templates = plan::templates_named_by(instances);
    let (replacements, targets) = futures::try_join!(
        compute.instances_tagged(tags::REPLACEMENT_OF, &ids),
        compute.template_targets(&templates)
    )?;
    let targets: HashMap<_, _> = targets.into_iter().collect();
    Ok(plan::plan_recovery(&Snapshot {
        outpost,
        incident,
        instances,
        replacements: &replacements,
        template_targets: &targets,
        down_outposts,
        now: Utc::now(),
    }))
}

/// Reads what the DRS strategy needs and plans it; no DRS call without DRS-protected instances.
pub async fn plan_drs<C: Compute, D: DisasterRecovery>(
    compute: &C,
    drs: &D,
    outpost: &OutpostId,
    incident: &IncidentId,
    instances: &[Instance],
) -> Result<Vec<PlannedDrs>, AwsError> {
    if instances.is_empty() {
        return Ok(Vec::new());
    }
    let target_tag = [drs::TARGET_TAG_VALUE.to_owned()];
    let (servers, targets, active_jobs, recorded_jobs) = futures::try_join!(
        drs.source_servers(&[]),
        compute.instances_tagged(drs::TARGET_TAG_KEY, &target_tag),
        drs.active_jobs(),
        recorded_jobs(drs, incident, instances)
    )?;
    info!(
        servers = servers.len(),
        targets = targets.len(),
        "read DRS source servers and launch targets"
    );
    Ok(drs::plan_drs(&DrsSnapshot {
        outpost,
        incident,
        instances,
        servers: &servers,
        targets: &targets,
        active_jobs: &active_jobs,
        recorded_jobs: &recorded_jobs,
    }))
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
