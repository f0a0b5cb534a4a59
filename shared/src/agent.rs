//! The alarm flow: from an alarm change to recovered instances, moved membership and a notice.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use tracing::{info, warn};

use crate::alarm::{self, AlarmChange, IncidentId, OutpostId, Signal};
use crate::balancing::{self, HealthWait, MoveOutcome, Unmovable};
use crate::drs::{self, DrsSnapshot, PlannedDrs};
use crate::drs_recovery;
use crate::error::AwsError;
use crate::inventory::Instance;
use crate::plan::{self, Decision, Snapshot};
use crate::ports::{
    Compute, DisasterRecovery, LoadBalancing, Membership, Notice, Notifier, TargetGroupScope,
};
use crate::recovery::{self, Execution, InstanceOutcome};
use crate::report::{self, Action, AlarmReport, Mode, Notification};
use crate::{notice, tags};

/// How the agent runs; built by the function from its environment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// Recover, or only report.
    pub mode: Mode,
    /// Most instances recovered (and target groups moved) at once.
    pub concurrency: usize,
    /// Target groups the agent may change.
    pub target_groups: TargetGroupScope,
    /// Wait for replacements to turn healthy.
    pub health_wait: HealthWait,
}

impl Default for Settings {
    /// The defaults `template.yaml` documents: recover, 16 at once, every target group,
    /// 300 s health wait polled every 10 s.
    fn default() -> Self {
        Self {
            mode: Mode::Recover,
            concurrency: 16,
            target_groups: TargetGroupScope::All,
            health_wait: HealthWait {
                timeout: std::time::Duration::from_secs(300),
                poll_interval: std::time::Duration::from_secs(10),
            },
        }
    }
}

/// Why an alarm could not be handled; every variant is safe to retry.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// Nothing was changed: the Outpost's instances or templates could not be read.
    #[error("could not read what to recover, nothing was changed: {0}. {advice}", advice = .0.kind.advice())]
    Read(#[source] AwsError),
    /// The work is done but people were not told; a retry repeats only the notice.
    #[error("recovery handled but the notification failed: {error}. {advice}", advice = .error.kind.advice())]
    Notify {
        /// The publish error.
        #[source]
        error: AwsError,
        /// What was done, as the report's JSON.
        report: serde_json::Value,
    },
}

impl AgentError {
    /// The notice failed after the work was done; `report` says what was done.
    pub(crate) fn notify(error: AwsError, report: &impl serde::Serialize) -> Self {
        Self::Notify {
            error,
            report: serde_json::to_value(report).unwrap_or_default(),
        }
    }
}

/// The agent over its four ports.
pub struct Agent<C, L, N, D> {
    pub(crate) compute: C,
    pub(crate) balancer: L,
    pub(crate) notifier: N,
    pub(crate) drs: D,
    pub(crate) settings: Settings,
}

impl<C: Compute, L: LoadBalancing, N: Notifier, D: DisasterRecovery> Agent<C, L, N, D> {
    /// An agent over the given AWS ports.
    pub fn new(compute: C, balancer: L, notifier: N, drs: D, settings: Settings) -> Self {
        Self {
            compute,
            balancer,
            notifier,
            drs,
            settings,
        }
    }

    /// The report for an event that is no alarm change of ours.
    pub fn ignored(&self, reason: String, time: Option<DateTime<Utc>>) -> AlarmReport {
        let mut report =
            AlarmReport::empty(String::new(), time.unwrap_or_default(), self.settings.mode);
        report.ignored_because = Some(reason);
        report
    }

    /// Handles one alarm state change.
    pub async fn handle(&self, change: &AlarmChange) -> Result<AlarmReport, AgentError> {
        let mut report = AlarmReport::empty(
            change.alarm_name.clone(),
            change.state_since,
            self.settings.mode,
        );
        match alarm::classify(change) {
            Signal::Ignore(reason) => {
                info!(alarm = %change.alarm_name, %reason, "ignoring alarm change");
                report.ignored_because = Some(reason.to_string());
                Ok(report)
            }
            Signal::OutpostDown { outpost, incident } => {
                info!(%outpost, %incident, mode = ?self.settings.mode, "Outpost down: recovering its protected instances");
                report.action = Action::Recovery;
                report.outpost = Some(outpost.clone());
                report.incident = Some(incident.clone());
                self.recover(&outpost, &incident, report).await
            }
            Signal::OutpostBack { outpost } => {
                info!(%outpost, "Outpost back");
                report.action = Action::OutpostBack;
                report.outpost = Some(outpost.clone());
                let instances = self
                    .compute
                    .protected_instances_on(&outpost)
                    .await
                    .map_err(AgentError::Read)?;
                report.replaced_originals = report::replaced_originals(&instances);
                self.publish(report, &[]).await
            }
        }
    }

    async fn recover(
        &self,
        outpost: &OutpostId,
        incident: &IncidentId,
        mut report: AlarmReport,
    ) -> Result<AlarmReport, AgentError> {
        let instances = self
            .compute
            .protected_instances_on(outpost)
            .await
            .map_err(AgentError::Read)?;
        info!(%outpost, protected = instances.len(), "found protected instances");
        let (template_instances, drs_instances): (Vec<Instance>, Vec<Instance>) =
            instances.into_iter().partition(|i| !plan::uses_drs(i));
        let (planned, drs_planned) = futures::try_join!(
            self.plan_templates(outpost, incident, &template_instances),
            self.plan_drs(outpost, incident, &drs_instances)
        )
        .map_err(AgentError::Read)?;
        let execution = match self.settings.mode {
            Mode::Recover => Execution::Live,
            Mode::NotifyOnly => Execution::DryRun,
        };
        let needs_balancing = planned
            .iter()
            .any(|p| !matches!(p.decision, Decision::Unrecoverable { .. }));

        // Target groups are read while the launches run: neither waits for the other.
        let concurrency = self.settings.concurrency;
        let (template_outcomes, drs_outcomes, memberships) = futures::join!(
            recovery::execute(&self.compute, incident, planned, concurrency, execution),
            drs_recovery::execute_drs(
                &self.compute,
                &self.drs,
                incident,
                drs_planned,
                concurrency,
                execution
            ),
            async {
                if needs_balancing {
                    Some(
                        self.balancer
                            .memberships(&self.settings.target_groups)
                            .await,
                    )
                } else {
                    None
                }
            }
        );
        let mut outcomes = template_outcomes;
        outcomes.extend(drs_outcomes);
        outcomes.sort_by(|a, b| a.original.id.cmp(&b.original.id));
        let memberships = match memberships {
            Some(Ok(memberships)) => memberships,
            Some(Err(error)) => {
                warn!(%error, "could not read target groups");
                report
                    .load_balancing_errors
                    .push(report::load_balancing_error(&error));
                Vec::new()
            }
            None => Vec::new(),
        };

        let (moves, unmovable, would_move) = match execution {
            Execution::Live => {
                let (moves, unmovable) = self.move_memberships(&outcomes, &memberships).await;
                (moves, unmovable, Vec::new())
            }
            Execution::DryRun => (Vec::new(), Vec::new(), memberships),
        };
        report.instances = report::instance_reports(&outcomes, &moves, &unmovable, &would_move);

        let unreported: Vec<String> = outcomes
            .iter()
            .filter_map(InstanceOutcome::replacement)
            .filter(|r| r.tag(tags::REPORTED).is_none())
            .map(|r| r.id.clone())
            .collect();
        let anything_new = report.instances.is_empty()
            || !unreported.is_empty()
            || report.instances.iter().any(|i| {
                i.failed()
                    || matches!(
                        i.outcome,
                        "would-launch" | "would-start-drs" | "drs-recovery-started"
                    )
            })
            || moves
                .iter()
                .any(|m| !m.planned.already_registered || m.deregistered)
            || !unmovable.is_empty()
            || !report.load_balancing_errors.is_empty();
        if !anything_new {
            info!(%incident, "every replacement was reported already; no new notice");
            report.notification = Notification::AlreadyReported;
            return Ok(report);
        }
        let tag_after = match execution {
            Execution::Live => unreported,
            Execution::DryRun => Vec::new(),
        };
        let report = self.publish(report, &tag_after).await?;
        Ok(report)
    }

    /// Reads what the template strategy needs and plans it.
    async fn plan_templates(
        &self,
        outpost: &OutpostId,
        incident: &IncidentId,
        instances: &[Instance],
    ) -> Result<Vec<plan::PlannedInstance>, AwsError> {
        if instances.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<String> = instances.iter().map(|i| i.id.clone()).collect();
        let templates = plan::templates_named_by(instances);
        let (replacements, targets) = futures::try_join!(
            self.compute.instances_tagged(tags::REPLACEMENT_OF, &ids),
            self.compute.template_targets(&templates)
        )?;
        let targets: HashMap<_, _> = targets.into_iter().collect();
        Ok(plan::plan_recovery(&Snapshot {
            outpost,
            incident,
            instances,
            replacements: &replacements,
            template_targets: &targets,
        }))
    }

    /// Reads what the DRS strategy needs and plans it; no DRS call without DRS-protected instances.
    async fn plan_drs(
        &self,
        outpost: &OutpostId,
        incident: &IncidentId,
        instances: &[Instance],
    ) -> Result<Vec<PlannedDrs>, AwsError> {
        if instances.is_empty() {
            return Ok(Vec::new());
        }
        let target_tag = [drs::TARGET_TAG_VALUE.to_owned()];
        let (servers, targets, active_jobs) = futures::try_join!(
            self.drs.source_servers(&[]),
            self.compute
                .instances_tagged(drs::TARGET_TAG_KEY, &target_tag),
            self.drs.active_jobs()
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
        }))
    }

    async fn move_memberships(
        &self,
        outcomes: &[InstanceOutcome],
        memberships: &[Membership],
    ) -> (Vec<MoveOutcome>, Vec<Unmovable>) {
        let pairs: Vec<(&Instance, &Instance)> = outcomes
            .iter()
            .filter_map(|o| o.replacement().map(|r| (&o.original, r)))
            .collect();
        let (moves, unmovable) = balancing::plan_moves(memberships, &pairs);
        if moves.is_empty() {
            return (Vec::new(), unmovable);
        }
        let outcomes = balancing::execute_moves(
            &self.balancer,
            moves,
            self.settings.health_wait,
            self.settings.concurrency,
        )
        .await;
        (outcomes, unmovable)
    }

    /// Publishes the report; then records on `reported` replacements that they were reported,
    /// so that a repeated event does not notify again.
    async fn publish(
        &self,
        mut report: AlarmReport,
        reported: &[String],
    ) -> Result<AlarmReport, AgentError> {
        let notice = notice::render(&report);
        let marker = report
            .incident
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default();
        match self.publish_marked(&notice, reported, &marker).await {
            Ok(message_id) => {
                report.notification = Notification::Published { message_id };
                Ok(report)
            }
            Err(error) => Err(AgentError::notify(error, &report)),
        }
    }

    /// Publishes a notice, then tags `reported` instances `autorestart:reported=<marker>` so that
    /// a repeat can tell it was said. A failed tag only risks a repeated notice: it is logged.
    pub(crate) async fn publish_marked(
        &self,
        notice: &Notice,
        reported: &[String],
        marker: &str,
    ) -> Result<String, AwsError> {
        let message_id = self.notifier.publish(notice).await.inspect_err(|error| {
            warn!(%error, "notification failed");
        })?;
        info!(%message_id, subject = %notice.subject, "notification published");
        if !reported.is_empty() {
            let tag = [(tags::REPORTED.to_owned(), marker.to_owned())];
            if let Err(error) = self.compute.tag(reported, &tag).await {
                warn!(%error, "could not record that the notice was sent; a repeat may notify again");
            }
        }
        Ok(message_id)
    }
}
