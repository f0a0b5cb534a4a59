//! What the flows read before they decide: the alarms as CloudWatch shows them now, the
//! maintenance tag, the opted-in instances, and what each recovery strategy needs for its plan.
//! `Agent::observe_outpost` is the one observe step of a down Outpost, the outage's and the
//! drill's: both strategies' reads, the target groups, and the alternates' free slots.

use std::collections::{HashMap, HashSet};

use chrono::Utc;
use tracing::{info, warn};

use autorestart_core::alarm::{AlarmChange, IncidentId, OutpostId};
use autorestart_core::drs::{self, DrsSnapshot, SourceServer};
use autorestart_core::error::AwsError;
use autorestart_core::inventory::{Instance, TemplateTarget};
use autorestart_core::plan::{self, Snapshot};
use autorestart_core::settings::Settings;
use autorestart_core::tags::{self, TemplateRef};

use autorestart_core::ids::InstanceId;
use autorestart_core::link_loss;
use autorestart_core::outcome::Execution;
use autorestart_core::recovery::{self, FreeSlots, Reads};
use autorestart_core::standby;
use autorestart_core::{moves, placement, report};

use crate::agent::{Agent, Services};
use crate::error::FlowError;
use crate::ports::{
    Alarms, Compute, DisasterRecovery, LoadBalancing, Membership, Memberships, Outposts,
};

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
    /// The failing events of each job of this incident that failed for an instance's server,
    /// by (job id, source server id).
    pub job_failures: HashMap<(String, String), Vec<drs::JobFailure>>,
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
            job_failures: &self.job_failures,
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
    // Why each job of this incident failed for an instance's server (the job recorded on the
    // original, or one found by its incident tag when that record was lost): a failure no retry
    // gets past stops the retries (`drs::refused_every_time`).
    let mut job_failures = HashMap::new();
    for instance in instances {
        let Some(server) = drs::source_server_of(&servers, instance) else {
            continue;
        };
        let recorded = instance
            .tag(tags::DRS_JOB)
            .filter(|_| instance.tag(tags::INCIDENT) == Some(incident.as_str()))
            .filter(|job| {
                recorded_jobs
                    .iter()
                    .any(|j| j.job_id == *job && j.failed_for(&server.id))
            });
        let tagged = active_jobs
            .iter()
            .filter(|j| !j.drill && j.incident.as_deref() == Some(incident.as_str()))
            .filter(|j| j.failed.contains(&server.id))
            .map(|j| j.job_id.as_str());
        for job in recorded.into_iter().chain(tagged) {
            if let std::collections::hash_map::Entry::Vacant(entry) =
                job_failures.entry((job.to_owned(), server.id.clone()))
            {
                entry.insert(drs.job_failures(job, &server.id).await?);
            }
        }
    }
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
        job_failures,
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

impl<S: Services> Agent<S> {
    /// The alternates' free slots by instance type, where the Outposts API tells them, to plan
    /// the launches onto (`placement`): a server known to be full is not asked first. An
    /// Outpost the API does not answer for (another account owns it, IAM, throttling) is left
    /// out, and its alternates keep the operator's order.
    pub(crate) async fn free_slots(&self, outposts: HashSet<OutpostId>) -> FreeSlots {
        if outposts.is_empty() {
            return HashMap::new();
        }
        let reads = futures::future::join_all(outposts.into_iter().map(|outpost| async move {
            let (assets, running) = futures::join!(
                self.outposts.assets(&outpost),
                self.outposts.running_types(&outpost)
            );
            (outpost, assets.and_then(|a| running.map(|r| (a, r))))
        }))
        .await;
        let mut free = HashMap::new();
        for (outpost, read) in reads {
            match read {
                Ok((assets, running)) => {
                    free.insert(outpost, placement::free_slots(&assets, &running));
                }
                Err(error) => {
                    info!(%outpost, %error, "no free slots from the Outposts API: the alternates keep their order");
                }
            }
        }
        free
    }

    /// Observes the Outpost's protected instances for both strategies, reading the target
    /// groups alongside and, for a live run, the free slots of the alternates the template
    /// strategy would launch onto. One strategy's failure never blocks the other: its instances
    /// are reported with the reason; only when neither can be read is nothing done.
    pub(crate) async fn observe_outpost(
        &self,
        outpost: &OutpostId,
        incident: &IncidentId,
        down: &HashSet<OutpostId>,
        execution: Execution,
    ) -> Result<Seen, FlowError> {
        let instances = self
            .compute
            .protected_instances_on(outpost)
            .await
            .map_err(FlowError::Read)?;
        info!(%outpost, protected = instances.len(), "found protected instances");
        let (template_instances, drs_instances): (Vec<Instance>, Vec<Instance>) =
            instances.into_iter().partition(|i| !plan::uses_drs(i));
        // Target groups are read with the plans: the originals' registrations are remembered
        // in the same CreateTags that records each replacement.
        let protected = !template_instances.is_empty() || !drs_instances.is_empty();
        let ((template_reads, drs_reads), (read, standbys)) = futures::join!(
            async {
                futures::join!(
                    template_reads(&self.compute, &template_instances),
                    drs_reads(&self.compute, &self.drs, incident, &drs_instances)
                )
            },
            async {
                futures::join!(
                    self.read_memberships(protected),
                    self.standbys(&template_instances, down)
                )
            }
        );
        let (template_reads, drs_reads) = match (template_reads, drs_reads) {
            (Err(error), Err(_)) => return Err(FlowError::Read(error)),
            reads => reads,
        };
        if let Err(error) = &template_reads {
            warn!(%error, "could not read the template recoveries");
        }
        if let Err(error) = &drs_reads {
            warn!(%error, "could not read DRS: its instances are reported, the others recover");
        }
        let free = match (&template_reads, execution) {
            (Ok(reads), Execution::Live) => {
                let snapshot = reads.snapshot(
                    outpost,
                    incident,
                    &template_instances,
                    down,
                    self.settings.launch_wait,
                );
                self.free_slots(recovery::outposts_to_ask(&snapshot)).await
            }
            _ => FreeSlots::new(),
        };
        let mut load_balancing_errors = Vec::new();
        let Memberships {
            registered: memberships,
            missing,
        } = read.unwrap_or_else(|error| {
            warn!(%error, "could not read target groups");
            load_balancing_errors.push(report::load_balancing_error(&error));
            Memberships::default()
        });
        for group in missing {
            warn!(target_group = %group, "a target group in scope no longer exists: skipped");
            load_balancing_errors.push(report::missing_target_group(&group));
        }
        let remember = template_instances
            .iter()
            .chain(&drs_instances)
            .map(|i| {
                (
                    i.id.clone(),
                    moves::member_tags(i, &memberships, incident.as_str()),
                )
            })
            .filter(|(_, tags)| !tags.is_empty())
            .collect();
        Ok(Seen {
            template_instances,
            drs_instances,
            template_reads,
            drs_reads,
            free,
            memberships,
            load_balancing_errors,
            remember,
            standbys,
        })
    }

    /// The standby to start for each running original (`standby::pick`), from the instances
    /// tagged `standby-for` one of them; none when they cannot be read (then it launches).
    async fn standbys(
        &self,
        originals: &[Instance],
        down: &HashSet<OutpostId>,
    ) -> HashMap<InstanceId, Instance> {
        let running: Vec<&Instance> = originals
            .iter()
            .filter(|i| i.is_starting_or_running())
            .collect();
        if running.is_empty() {
            return HashMap::new();
        }
        let ids: Vec<String> = running.iter().map(|i| i.id.to_string()).collect();
        match self.compute.instances_tagged(tags::STANDBY_FOR, &ids).await {
            Ok(tagged) => {
                let (chosen, unusable) = standby::pick(&running, &tagged, down);
                for (id, why) in unusable {
                    warn!(standby = %id, reason = %why.explain(), "a standby not used");
                }
                chosen
            }
            Err(error) => {
                warn!(%error, "could not read the standbys; their originals are launched");
                HashMap::new()
            }
        }
    }

    /// Every membership in scope, or none when there is nothing to recover.
    async fn read_memberships(&self, needed: bool) -> Result<Memberships, AwsError> {
        if needed {
            self.balancer
                .memberships(&self.settings.target_groups)
                .await
        } else {
            Ok(Memberships::default())
        }
    }
}

/// What a reconcile (or a drill) observed of an Outpost: each strategy's instances and reads,
/// the alternates' free slots, the target groups (and why some could not be read), and the
/// tags that remember each original's registrations.
pub(crate) struct Seen {
    pub(crate) template_instances: Vec<Instance>,
    pub(crate) drs_instances: Vec<Instance>,
    pub(crate) template_reads: Result<TemplateReads, AwsError>,
    pub(crate) drs_reads: Result<DrsReads, AwsError>,
    pub(crate) free: FreeSlots,
    pub(crate) memberships: Vec<Membership>,
    pub(crate) load_balancing_errors: Vec<String>,
    pub(crate) remember: HashMap<InstanceId, Vec<(String, String)>>,
    /// The standby to start, by original (`standby::pick`).
    pub(crate) standbys: HashMap<InstanceId, Instance>,
}

impl Seen {
    /// What core decides on, borrowed from what was read (the free slots copied: placement
    /// uses them up). `launch_wait` is `Settings::launch_wait`.
    pub(crate) fn as_observed<'a>(
        &'a self,
        outpost: &'a OutpostId,
        incident: &'a IncidentId,
        down: &'a HashSet<OutpostId>,
        launch_wait: std::time::Duration,
        link_loss: Option<link_loss::Timing>,
    ) -> recovery::Observed<'a> {
        recovery::Observed {
            templates: match &self.template_reads {
                Ok(reads) => Reads::Read(reads.snapshot(
                    outpost,
                    incident,
                    &self.template_instances,
                    down,
                    launch_wait,
                )),
                Err(error) => Reads::Unreadable(&self.template_instances, error),
            },
            drs: match &self.drs_reads {
                Ok(reads) => Reads::Read(reads.snapshot(outpost, incident, &self.drs_instances)),
                Err(error) => Reads::Unreadable(&self.drs_instances, error),
            },
            free: self.free.clone(),
            link_loss,
        }
    }
}
