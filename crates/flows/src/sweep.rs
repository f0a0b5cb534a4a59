//! The scheduled sweep: finish recoveries events missed, fence originals on Outposts that are
//! back, and check that every protected instance could be recovered now. Each step is
//! idempotent: once all is done, another sweep changes nothing and says nothing.

use std::collections::{HashMap, HashSet};

use chrono::Utc;
use tracing::{info, warn};

use autorestart_core::alarm::{self, AlarmChange, AlarmState, IncidentId, OutpostId, Signal};
use autorestart_core::drs::{self, SourceServer};
use autorestart_core::error::AwsError;
use autorestart_core::inventory::{Instance, TemplateTarget};
use autorestart_core::plan;
use autorestart_core::readiness::{self, ReadinessInputs, ReadinessReport};
use autorestart_core::report::{Action, AlarmReport, DrsLaunchResult, DrsReport, SweepReport};
use autorestart_core::tags;

use crate::budget::Budget;
use crate::outage::{Agent, AgentError};
use crate::ports::{Alarms, Compute, DisasterRecovery, LoadBalancing, Notifier, Outposts};

/// Kept from the recoveries' share of a sweep's time for fencing and readiness.
const SWEEP_RESERVE: std::time::Duration = std::time::Duration::from_secs(60);

impl<C, L, N, D, A, O> Agent<C, L, N, D, A, O>
where
    C: Compute,
    L: LoadBalancing,
    N: Notifier,
    D: DisasterRecovery,
    A: Alarms,
    O: Outposts,
{
    /// Runs one sweep over the alarms named by the settings' prefix, with no deadline.
    pub async fn sweep(&self) -> Result<SweepReport, AgentError> {
        self.sweep_until(Budget::unbounded()).await
    }

    /// Runs one sweep within `budget`. Each Outpost in ALARM gets an equal share of what is
    /// left when its turn comes, less a reserve for fencing and readiness, so one Outpost's
    /// recovery never starves another's, nor fencing.
    pub async fn sweep_until(&self, budget: Budget) -> Result<SweepReport, AgentError> {
        let alarms = self.current_alarms().await.map_err(AgentError::Read)?;
        let mut report = SweepReport {
            alarms: alarms.len(),
            ..SweepReport::default()
        };
        let mut down_left = alarms
            .iter()
            .filter(|a| matches!(alarm::classify(a), Signal::OutpostDown { .. }))
            .count();
        for change in &alarms {
            match alarm::classify(change) {
                Signal::OutpostDown { outpost, incident } => {
                    let share = budget.less(SWEEP_RESERVE).share(down_left);
                    down_left -= 1;
                    self.reconcile(change, &outpost, &incident, &alarms, share, &mut report)
                        .await;
                }
                Signal::OutpostBack { outpost } => {
                    // A launch whose event was lost is finished first, so that fencing finds
                    // its original from both sides.
                    match self.finish_drs_jobs(&outpost).await {
                        Ok(results) => report.drs_results.extend(results),
                        Err(error) => report
                            .errors
                            .push(format!("DRS jobs of {outpost}: {error}")),
                    }
                    let back = AlarmReport {
                        action: Action::OutpostBack,
                        outpost: Some(outpost.clone()),
                        ..self.report_for(change)
                    };
                    match self.outpost_back(&outpost, &alarms, back, false).await {
                        Ok(done) => report.fencing.push(done),
                        Err(error) => report.errors.push(format!("fencing {outpost}: {error}")),
                    }
                }
                Signal::Ignore(reason) => {
                    info!(alarm = %change.alarm_name, %reason, "sweep passes over alarm");
                }
            }
        }
        let states = alarm::outpost_states(&alarms);
        let silent = alarm::silent_outposts(&alarms, self.settings.alarm_window, Utc::now());
        for (outpost, since) in &silent {
            warn!(%outpost, %since, "ConnectedStatus alarm without data: an outage would not be seen");
        }
        report.readiness = match self.check_readiness(&states, &silent).await {
            Ok(readiness) => readiness,
            Err(error) => {
                report.errors.push(format!("readiness: {error}"));
                ReadinessReport {
                    error: Some(error.to_string()),
                    ..ReadinessReport::default()
                }
            }
        };
        info!(
            alarms = report.alarms,
            recoveries = report.recoveries.len(),
            fenced = report
                .fencing
                .iter()
                .filter_map(|f| f.fencing.as_ref())
                .map(|f| f.fenced.len())
                .sum::<usize>(),
            ready = report.readiness.ready,
            not_ready = report.readiness.not_ready,
            errors = report.errors.len(),
            "sweep done"
        );
        Ok(report)
    }

    /// Finishes the recovery of an Outpost in ALARM, unless its alarm is in maintenance (then
    /// silently: the alarm handler announced the suppression).
    async fn reconcile(
        &self,
        change: &AlarmChange,
        outpost: &OutpostId,
        incident: &IncidentId,
        alarms: &[AlarmChange],
        budget: Budget,
        report: &mut SweepReport,
    ) {
        let maintenance = self.maintenance(change).await;
        if matches!(maintenance, Ok(true)) {
            info!(%outpost, "Outpost in maintenance: the sweep recovers nothing");
            report.in_maintenance.push(outpost.clone());
            return;
        }
        // DRS jobs that ended first: a failure is reported before its retry starts.
        match self.finish_drs_jobs(outpost).await {
            Ok(results) => report.drs_results.extend(results),
            Err(error) => report
                .errors
                .push(format!("DRS jobs of {outpost}: {error}")),
        }
        match self
            .outpost_down(change, outpost, incident, maintenance, alarms, budget)
            .await
        {
            Ok(recovery) => report.recoveries.push(recovery),
            Err(error) => report
                .errors
                .push(format!("recovery of {outpost}: {error}")),
        }
    }

    /// Finishes DRS recoveries whose job ended without its event reaching the agent, whether
    /// the Outpost is still down or back: a launch is handled as its event would have been (so
    /// fencing finds the original from either side), a failure is reported once per source
    /// server, and a job that runs longer than `Settings::drs_job_timeout` is reported once as
    /// stuck. Only jobs this agent started (recorded on an original) are followed.
    async fn finish_drs_jobs(&self, outpost: &OutpostId) -> Result<Vec<DrsReport>, AgentError> {
        let waiting: Vec<Instance> = self
            .compute
            .protected_instances_on(outpost)
            .await
            .map_err(AgentError::Read)?
            .into_iter()
            .filter(|i| {
                plan::uses_drs(i)
                    && i.tag(tags::DRS_JOB).is_some()
                    && i.tag(tags::REPLACED_BY).is_none()
            })
            .collect();
        let mut jobs: Vec<&str> = waiting
            .iter()
            .filter_map(|i| i.tag(tags::DRS_JOB))
            .collect();
        jobs.sort();
        jobs.dedup();
        let mut results = Vec::new();
        for job_id in jobs {
            let Some(job) = self.drs.job(job_id).await.map_err(AgentError::Read)? else {
                warn!(job = job_id, "DRS does not know the job an instance names");
                continue;
            };
            let originals: Vec<&Instance> = waiting
                .iter()
                .filter(|i| i.tag(tags::DRS_JOB) == Some(job_id))
                .collect();
            if job.is_stuck(self.settings.drs_job_timeout, Utc::now()) {
                results.extend(self.report_stuck(&job, &originals).await?);
                continue;
            }
            if job.status != "COMPLETED" {
                continue;
            }
            for (server, launch_status) in &job.servers {
                let succeeded = launch_status == "LAUNCHED";
                if !succeeded && launch_status != "FAILED" {
                    continue;
                }
                info!(job = job_id, %server, %launch_status, "finishing a DRS launch no event reported");
                let result = DrsLaunchResult {
                    source_server_id: server.clone(),
                    job_id: job_id.to_owned(),
                    succeeded,
                    drill: false,
                    time: Utc::now(),
                };
                let handled = self.handle_drs_result(&result).await?;
                if handled.message_id.is_some() || succeeded {
                    results.push(handled);
                }
            }
        }
        Ok(results)
    }

    /// Reports once, in one notice per job, a job that has not finished in time: its source
    /// servers and the originals waiting for it, which are then tagged `autorestart:drs-stuck`.
    async fn report_stuck(
        &self,
        job: &drs::JobSnapshot,
        originals: &[&Instance],
    ) -> Result<Option<DrsReport>, AgentError> {
        let new: Vec<String> = originals
            .iter()
            .filter(|o| o.tag(tags::DRS_STUCK) != Some(job.job_id.as_str()))
            .map(|o| o.id.clone())
            .collect();
        if new.is_empty() {
            return Ok(None);
        }
        let minutes = self.settings.drs_job_timeout.as_secs() / 60;
        warn!(job = %job.job_id, status = %job.status, minutes, originals = ?new, "DRS job stuck");
        let servers: Vec<&str> = job.servers.iter().map(|(id, _)| id.as_str()).collect();
        let report = DrsReport {
            source_server_id: servers.join(", "),
            job_id: job.job_id.clone(),
            succeeded: false,
            drill: false,
            stuck: true,
            original_id: (new.len() == 1).then(|| new[0].clone()),
            recovery_instance_id: None,
            target_groups: Vec::new(),
            reason: Some(format!(
                "DRS job {} is STUCK: still {} more than {minutes} minutes after it was created (the bound is DRS_JOB_TIMEOUT_MINUTES). Source servers: {}. Protected instances waiting for it: {}.",
                job.job_id,
                job.status,
                servers.join(", "),
                new.join(", ")
            )),
            advice: Some(format!(
                "open the job in the DRS console and read its log; the agent starts no second job while this one runs. Once it ends, the agent finishes a launch or retries a failure (up to {} jobs). This is reported once.",
                drs::MAX_DRS_ATTEMPTS
            )),
            message_id: None,
        };
        let mut report = self.publish_drs(report, None).await?;
        let marker = [(tags::DRS_STUCK.to_owned(), job.job_id.clone())];
        if let Err(error) = self.compute.tag(&new, &marker).await {
            warn!(%error, "could not record that the stuck job was reported; the next sweep reports it again");
            report.advice = Some(format!(
                "{} (not recorded: {error})",
                report.advice.unwrap_or_default()
            ));
        }
        Ok(Some(report))
    }

    /// Judges every opted-in instance, records changed verdicts on the instances and announces
    /// them in one notice.
    async fn check_readiness(
        &self,
        states: &HashMap<OutpostId, AlarmState>,
        silent: &HashMap<OutpostId, chrono::DateTime<Utc>>,
    ) -> Result<ReadinessReport, AwsError> {
        let instances = self.opted_in_instances().await?;
        let verdicts = self.judge_readiness(&instances, states, silent).await?;
        let mut report = ReadinessReport::of(verdicts);
        if report.changed.is_empty() {
            return Ok(report);
        }
        let notice = autorestart_core::notice::readiness(&report);
        report.message_id = Some(self.notifier.publish(&notice).await?);
        for verdict in report.instances.iter().filter(|v| v.changed()) {
            let tag = [(tags::READINESS.to_owned(), verdict.tag_value())];
            if let Err(error) = self
                .compute
                .tag(std::slice::from_ref(&verdict.instance_id), &tag)
                .await
            {
                warn!(instance = %verdict.instance_id, %error, "could not record readiness; the next sweep notifies again");
            }
        }
        Ok(report)
    }

    /// Every opted-in instance, whatever the letter case of `true`.
    pub(crate) async fn opted_in_instances(&self) -> Result<Vec<Instance>, AwsError> {
        let spellings = ["true", "True", "TRUE"].map(str::to_owned);
        Ok(self
            .compute
            .instances_tagged(tags::ENABLED, &spellings)
            .await?
            .into_iter()
            .filter(Instance::is_opted_in)
            .collect())
    }

    /// Reads what readiness needs for `instances` and judges them.
    pub(crate) async fn judge_readiness(
        &self,
        instances: &[Instance],
        states: &HashMap<OutpostId, AlarmState>,
        silent: &HashMap<OutpostId, chrono::DateTime<Utc>>,
    ) -> Result<Vec<readiness::InstanceReadiness>, AwsError> {
        let templates = plan::templates_named_by(instances);
        let targets: HashMap<_, _> = if templates.is_empty() {
            HashMap::new()
        } else {
            self.compute
                .template_targets(&templates)
                .await?
                .into_iter()
                .collect()
        };
        let managed_templates: Result<HashSet<String>, String> = if templates.is_empty() {
            Ok(HashSet::new())
        } else {
            self.compute
                .managed_templates()
                .await
                .map_err(|e| e.to_string())
        };
        let mut image_ids: Vec<String> = Vec::new();
        let mut target_outposts: HashSet<OutpostId> = HashSet::new();
        for target in targets.values() {
            if let TemplateTarget::Subnet {
                image_id,
                outpost_arn,
                ..
            } = target
            {
                image_ids.extend(image_id.clone());
                target_outposts.extend(outpost_arn.as_deref().and_then(OutpostId::from_arn));
            }
        }
        image_ids.sort();
        image_ids.dedup();
        let images: HashSet<String> = if image_ids.is_empty() {
            HashSet::new()
        } else {
            self.compute
                .existing_images(&image_ids)
                .await?
                .into_iter()
                .collect()
        };
        let mut assets = HashMap::new();
        for outpost in target_outposts {
            let read = self
                .outposts
                .assets(&outpost)
                .await
                .map_err(|e| e.to_string());
            assets.insert(outpost, read);
        }
        let (drs_servers, drs_targets) = if instances.iter().any(plan::uses_drs) {
            let target_tag = [drs::TARGET_TAG_VALUE.to_owned()];
            let servers: Result<Vec<SourceServer>, String> = self
                .drs
                .source_servers(&[])
                .await
                .map_err(|e| e.to_string());
            let targets = self
                .compute
                .instances_tagged(drs::TARGET_TAG_KEY, &target_tag)
                .await?;
            (servers, targets)
        } else {
            (Ok(Vec::new()), Vec::new())
        };
        Ok(readiness::assess(&ReadinessInputs {
            instances,
            template_targets: &targets,
            images: &images,
            alarm_states: states,
            silent_alarms: silent,
            managed_templates: &managed_templates,
            listed_templates: &self.settings.listed_templates,
            assets: &assets,
            drs_servers: &drs_servers,
            drs_targets: &drs_targets,
        }))
    }
}
