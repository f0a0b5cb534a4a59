//! The scheduled sweep: finish recoveries events missed, fence originals on Outposts that are
//! back, and check that every protected instance could be recovered now. Each step is
//! idempotent: once all is done, another sweep changes nothing and says nothing.

use chrono::Utc;
use tracing::{info, warn};

use autorestart_core::alarm::{self, AlarmChange, IncidentId, OutpostId, Signal};
use autorestart_core::drs::{self};
use autorestart_core::ids::InstanceId;
use autorestart_core::inventory::Instance;
use autorestart_core::plan;
use autorestart_core::readiness::ReadinessReport;
use autorestart_core::report::{Action, AlarmReport, DrsLaunchResult, DrsReport, SweepReport};
use autorestart_core::tags;

use crate::agent::{Agent, Services};
use crate::budget::Budget;
use crate::error::FlowError;
use crate::observe;
use crate::ports::{Compute, DisasterRecovery};

/// Kept from the recoveries' share of a sweep's time for fencing and readiness.
const SWEEP_RESERVE: std::time::Duration = std::time::Duration::from_secs(60);

impl<S: Services> Agent<S> {
    /// Runs one sweep over the alarms named by the settings' prefix, with no deadline.
    pub async fn sweep(&self) -> Result<SweepReport, FlowError> {
        self.sweep_until(Budget::unbounded()).await
    }

    /// Runs one sweep within `budget`. Each Outpost in ALARM gets an equal share of what is
    /// left when its turn comes, less a reserve for fencing and readiness, so one Outpost's
    /// recovery never starves another's, nor fencing.
    pub async fn sweep_until(&self, budget: Budget) -> Result<SweepReport, FlowError> {
        budget.scope(self.sweep_within(budget)).await
    }

    async fn sweep_within(&self, budget: Budget) -> Result<SweepReport, FlowError> {
        let alarms = observe::current_alarms(&self.alarms, &self.settings)
            .await
            .map_err(FlowError::Read)?;
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
                    // A failback the outage caught before its original served hands back to
                    // the replacement first (`failback::Fault::HomeDown`).
                    match self.failbacks_of(&outpost, None, share).await {
                        Ok(Some(done)) => report.failbacks.push(done),
                        Ok(None) => {}
                        Err(error) => report.errors.push(format!("failback {outpost}: {error}")),
                    }
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
                        ..AlarmReport::for_change(change, self.settings.mode)
                    };
                    match self.outpost_back(&outpost, &alarms, back, false).await {
                        Ok(done) => report.fencing.push(done),
                        Err(error) => report.errors.push(format!("fencing {outpost}: {error}")),
                    }
                    // Failbacks in progress go on (and the automatic one begins, if on).
                    // At most half of what is left: the Outposts after it get their turn.
                    match self
                        .failbacks_of(
                            &outpost,
                            Some(change.state_since),
                            budget.less(SWEEP_RESERVE).share(2),
                        )
                        .await
                    {
                        Ok(Some(done)) => report.failbacks.push(done),
                        Ok(None) => {}
                        Err(error) => report.errors.push(format!("failback {outpost}: {error}")),
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
        let maintenance = observe::maintenance(&self.alarms, change).await;
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
            .reconcile_outpost(
                change,
                (outpost, incident),
                maintenance,
                alarms,
                budget,
                crate::outage::Run::default(),
            )
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
    async fn finish_drs_jobs(&self, outpost: &OutpostId) -> Result<Vec<DrsReport>, FlowError> {
        let waiting: Vec<Instance> = self
            .compute
            .protected_instances_on(outpost)
            .await
            .map_err(FlowError::Read)?
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
            let Some(job) = self.drs.job(job_id).await.map_err(FlowError::Read)? else {
                warn!(job = job_id, "DRS does not know the job an instance names");
                continue;
            };
            let originals: Vec<&Instance> = waiting
                .iter()
                .filter(|i| i.tag(tags::DRS_JOB) == Some(job_id))
                .collect();
            let ended = match drs::job_finish(&job, self.settings.drs_job_timeout, Utc::now()) {
                drs::JobFinish::Stuck => {
                    results.extend(self.report_stuck(&job, &originals).await?);
                    continue;
                }
                drs::JobFinish::Running => continue,
                drs::JobFinish::Ended(ended) => ended,
            };
            for (server, succeeded) in ended {
                info!(job = job_id, %server, succeeded, "finishing a DRS launch no event reported");
                let result = DrsLaunchResult {
                    source_server_id: server,
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
    ) -> Result<Option<DrsReport>, FlowError> {
        let new: Vec<InstanceId> = originals
            .iter()
            .filter(|o| o.tag(tags::DRS_STUCK) != Some(job.job_id.as_str()))
            .map(|o| o.id.clone())
            .collect();
        if new.is_empty() {
            return Ok(None);
        }
        warn!(job = %job.job_id, status = %job.status, originals = ?new, "DRS job stuck");
        let report = autorestart_core::report::drs_stuck(job, &new, self.settings.drs_job_timeout);
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
}
