//! The alarm flow: from an alarm change to recovered instances, moved membership and a notice.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use tracing::{info, warn};

use autorestart_core::alarm::{self, AlarmChange, IncidentId, OutpostId, Signal};
use autorestart_core::drs::{self, DrsSnapshot, PlannedDrs};
use autorestart_core::error::AwsError;
use autorestart_core::inventory::Instance;
use autorestart_core::moves::{self, MoveOutcome, Unmovable};
use autorestart_core::outcome::{Execution, InstanceOutcome, Outcome, OutcomeKind};
use autorestart_core::plan::{self, Snapshot};
use autorestart_core::report::{self, Action, AlarmReport, Notification, WaveReport};
use autorestart_core::settings::{Mode, Settings};
use autorestart_core::{notice, tags, waves};

use crate::budget::{Budget, Pacer, Rate};
use crate::launch::{self, Limits};
use crate::ports::{
    Alarms, Compute, DisasterRecovery, LoadBalancing, Membership, Notice, Notifier, Outposts,
};
use crate::{drs_start, membership};

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

/// The AWS services the agent works through, one port each.
pub struct Ports<C, L, N, D, A, O> {
    /// EC2.
    pub compute: C,
    /// Elastic Load Balancing.
    pub balancer: L,
    /// SNS.
    pub notifier: N,
    /// Elastic Disaster Recovery.
    pub drs: D,
    /// CloudWatch alarms.
    pub alarms: A,
    /// The Outposts API.
    pub outposts: O,
}

impl<T: Copy> Ports<T, T, T, T, T, T> {
    /// Every port served by one value, e.g. `&InMemoryAws`.
    pub fn all(one: T) -> Self {
        Self {
            compute: one,
            balancer: one,
            notifier: one,
            drs: one,
            alarms: one,
            outposts: one,
        }
    }
}

/// The agent over its ports.
pub struct Agent<C, L, N, D, A, O> {
    pub(crate) compute: C,
    pub(crate) balancer: L,
    pub(crate) notifier: N,
    pub(crate) drs: D,
    pub(crate) alarms: A,
    pub(crate) outposts: O,
    pub(crate) settings: Settings,
    /// This process's copy of EC2's RunInstances bucket.
    pub(crate) launches: Pacer,
}

impl<C, L, N, D, A, O> Agent<C, L, N, D, A, O>
where
    C: Compute,
    L: LoadBalancing,
    N: Notifier,
    D: DisasterRecovery,
    A: Alarms,
    O: Outposts,
{
    /// An agent over the given AWS ports.
    pub fn new(ports: Ports<C, L, N, D, A, O>, settings: Settings) -> Self {
        Self {
            compute: ports.compute,
            balancer: ports.balancer,
            notifier: ports.notifier,
            drs: ports.drs,
            alarms: ports.alarms,
            outposts: ports.outposts,
            settings,
            launches: Pacer::new(Rate::RUN_INSTANCES),
        }
    }

    /// What launches run within, for `budget`.
    pub(crate) fn limits(&self, budget: Budget) -> Limits<'_> {
        Limits {
            pacer: &self.launches,
            budget,
        }
    }

    /// The report for an event that is no alarm change of ours.
    pub fn ignored(&self, reason: String, time: Option<DateTime<Utc>>) -> AlarmReport {
        let mut report =
            AlarmReport::empty(String::new(), time.unwrap_or_default(), self.settings.mode);
        report.ignored_because = Some(reason);
        report
    }

    /// Handles one alarm state change with no deadline (tests, benchmarks).
    pub async fn handle(&self, change: &AlarmChange) -> Result<AlarmReport, AgentError> {
        self.handle_until(change, Budget::unbounded()).await
    }

    /// Handles one alarm state change, every wait bounded by `budget`: for an ALARM, observes
    /// the alarm's current state first and reconciles the Outpost only while it is down.
    pub async fn handle_until(
        &self,
        change: &AlarmChange,
        budget: Budget,
    ) -> Result<AlarmReport, AgentError> {
        match alarm::classify(change) {
            Signal::Ignore(reason) => {
                info!(alarm = %change.alarm_name, %reason, "ignoring alarm change");
                let mut report = self.report_for(change);
                report.ignored_because = Some(reason.to_string());
                Ok(report)
            }
            Signal::OutpostDown { outpost, .. } => {
                let alarms = self.current_alarms().await.map_err(AgentError::Read)?;
                let current = match alarm::still_down(change, &alarms) {
                    Ok(current) => current,
                    Err(reason) => {
                        warn!(%outpost, alarm = %change.alarm_name, %reason, "stale ALARM: nothing launched");
                        let mut report = self.report_for(change);
                        report.action = Action::Stale;
                        report.outpost = Some(outpost);
                        report.ignored_because = Some(reason);
                        return Ok(report);
                    }
                };
                let Signal::OutpostDown { outpost, incident } = alarm::classify(current) else {
                    unreachable!("still_down returns an alarm in ALARM on the same metric")
                };
                let maintenance = self.maintenance(current).await;
                self.outpost_down(current, &outpost, &incident, maintenance, &alarms, budget)
                    .await
            }
            Signal::OutpostBack { outpost } => {
                let alarms = self.current_alarms().await.map_err(AgentError::Read)?;
                let mut report = self.report_for(change);
                report.outpost = Some(outpost.clone());
                if alarm::not_ok_outposts(&alarms).contains(&outpost) {
                    let reason = "the Outpost's alarm is not OK now (in ALARM again, or without data): nothing is fenced until it is".to_owned();
                    warn!(%outpost, alarm = %change.alarm_name, %reason, "stale OK");
                    report.action = Action::Stale;
                    report.ignored_because = Some(reason);
                    return Ok(report);
                }
                info!(%outpost, "Outpost back: fencing its replaced originals");
                report.action = Action::OutpostBack;
                self.outpost_back(&outpost, &alarms, report, true).await
            }
        }
    }

    /// Every ConnectedStatus alarm the agent watches, as CloudWatch shows it now.
    pub(crate) async fn current_alarms(&self) -> Result<Vec<AlarmChange>, AwsError> {
        self.alarms
            .alarms_named(&self.settings.alarm_name_prefix)
            .await
    }

    /// An empty report for an alarm change.
    pub(crate) fn report_for(&self, change: &AlarmChange) -> AlarmReport {
        AlarmReport::empty(
            change.alarm_name.clone(),
            change.state_since,
            self.settings.mode,
        )
    }

    /// Reconciles a down Outpost's instances, unless `maintenance` (the alarm's tag, as read)
    /// is on. `change` is the alarm as CloudWatch shows it now, in ALARM; `alarms` all of them.
    pub(crate) async fn outpost_down(
        &self,
        change: &AlarmChange,
        outpost: &OutpostId,
        incident: &IncidentId,
        maintenance: Result<bool, AwsError>,
        alarms: &[AlarmChange],
        budget: Budget,
    ) -> Result<AlarmReport, AgentError> {
        let mut report = self.report_for(change);
        report.outpost = Some(outpost.clone());
        report.incident = Some(incident.clone());
        match maintenance {
            Ok(true) => {
                info!(%outpost, "Outpost down, but its alarm is in maintenance: recovery suppressed");
                report.action = Action::Suppressed;
                return self.publish(report, &[]).await;
            }
            Ok(false) => {}
            Err(error) => {
                warn!(%outpost, %error, "could not read the alarm's maintenance tag; recovering");
                report.warnings.push(format!(
                    "the alarm's tags could not be read ({error}), so maintenance mode was not checked; recovery went ahead"
                ));
            }
        }
        info!(%outpost, %incident, mode = ?self.settings.mode, "Outpost down: recovering its protected instances");
        report.action = Action::Recovery;
        let down = alarm::down_outposts(alarms);
        self.recover(change, outpost, incident, report, &down, budget)
            .await
    }

    async fn recover(
        &self,
        change: &AlarmChange,
        outpost: &OutpostId,
        incident: &IncidentId,
        mut report: AlarmReport,
        down: &std::collections::HashSet<OutpostId>,
        budget: Budget,
    ) -> Result<AlarmReport, AgentError> {
        let instances = self
            .compute
            .protected_instances_on(outpost)
            .await
            .map_err(AgentError::Read)?;
        info!(%outpost, protected = instances.len(), "found protected instances");
        let (template_instances, drs_instances): (Vec<Instance>, Vec<Instance>) =
            instances.into_iter().partition(|i| !plan::uses_drs(i));
        // Target groups are read with the plans: the originals' registrations are remembered
        // in the same CreateTags that records each replacement.
        let protected = !template_instances.is_empty() || !drs_instances.is_empty();
        let (plans, read) = futures::join!(
            async {
                futures::join!(
                    self.plan_templates(outpost, incident, &template_instances, down),
                    self.plan_drs(outpost, incident, &drs_instances)
                )
            },
            self.read_memberships(protected)
        );
        let (planned, drs_planned) = plans;
        // One strategy's failure never blocks the other: its instances are reported with the
        // reason, the others recover. Only when neither could be read is nothing done.
        let (planned, drs_planned) = match (planned, drs_planned) {
            (Err(error), Err(_)) => return Err(AgentError::Read(error)),
            (planned, drs_planned) => (
                planned.unwrap_or_else(|error| {
                    warn!(%error, "could not plan the template recoveries");
                    plan::unreadable(&template_instances, &error)
                }),
                drs_planned.unwrap_or_else(|error| {
                    warn!(%error, "could not read DRS: its instances are reported, the others recover");
                    drs::unreadable(&drs_instances, &error)
                }),
            ),
        };
        let memberships = match read {
            Ok(read) => read,
            Err(error) => {
                warn!(%error, "could not read target groups");
                report
                    .load_balancing_errors
                    .push(report::load_balancing_error(&error));
                Vec::new()
            }
        };
        let execution = match self.settings.mode {
            Mode::Recover => Execution::Live,
            Mode::NotifyOnly => Execution::DryRun,
        };
        let remember: HashMap<String, Vec<(String, String)>> = template_instances
            .iter()
            .chain(&drs_instances)
            .map(|i| {
                let tags = moves::member_tags(i, &memberships, incident.as_str());
                (i.id.clone(), tags)
            })
            .filter(|(_, tags)| !tags.is_empty())
            .collect();

        let (template_waves, mut wave_warnings) = waves::group(planned, |p| &p.original);
        let (drs_waves, drs_warnings) = waves::group(drs_planned, |p| &p.original);
        wave_warnings.extend(drs_warnings);
        let mut by_wave: std::collections::BTreeMap<u32, WavePlan> = Default::default();
        for wave in template_waves {
            by_wave.entry(wave.number).or_default().templates = wave.items;
        }
        for wave in drs_waves {
            by_wave.entry(wave.number).or_default().drs = wave.items;
        }

        let mut outcomes: Vec<InstanceOutcome> = Vec::new();
        let mut moves = Vec::new();
        let mut unmovable = Vec::new();
        let mut running_at: HashMap<String, DateTime<Utc>> = HashMap::new();
        let mut wave_of: HashMap<String, u32> = HashMap::new();
        let wave_count = by_wave.len();
        let mut stop: Option<String> = None;
        for (index, (number, plan)) in by_wave.into_iter().enumerate() {
            for id in plan.original_ids() {
                wave_of.insert(id, number);
            }
            if stop.is_none() && budget.spent() {
                stop = Some(format!(
                    "the invocation's time ran out before wave {number}; the next sweep launches it"
                ));
            }
            if stop.is_none() && index > 0 && execution == Execution::Live {
                stop = self.still_down_before_wave(change, number).await;
            }
            if let Some(reason) = &stop {
                warn!(wave = number, %reason, "wave not started");
                outcomes.extend(plan.into_originals().map(|original| {
                    InstanceOutcome::of(
                        original,
                        Outcome::Unfinished {
                            reason: reason.clone(),
                        },
                    )
                }));
                continue;
            }
            info!(wave = number, instances = plan.len(), "recovering wave");
            let mut wave_outcomes = self
                .launch_wave(incident, plan, execution, budget, &remember)
                .await;
            wave_outcomes.sort_by(|a, b| a.original.id.cmp(&b.original.id));
            if execution == Execution::Live {
                let (wave_report, wave_moves, wave_unmovable, ran) = self
                    .settle_wave(
                        number,
                        &mut wave_outcomes,
                        &memberships,
                        index + 1 < wave_count,
                        budget,
                    )
                    .await;
                running_at.extend(ran);
                moves.extend(wave_moves);
                unmovable.extend(wave_unmovable);
                report.waves.push(wave_report);
            }
            outcomes.extend(wave_outcomes);
        }
        for (id, warning) in wave_warnings {
            if let Some(outcome) = outcomes.iter_mut().find(|o| o.original.id == id) {
                outcome.warnings.push(warning);
            }
        }
        let would_move = match execution {
            Execution::Live => Vec::new(),
            Execution::DryRun => memberships,
        };
        report.instances = report::instance_reports(&outcomes, &moves, &unmovable, &would_move);
        for instance in &mut report.instances {
            instance.wave = wave_of.get(&instance.instance_id).copied().unwrap_or(0);
            instance.running_after_seconds = instance
                .replacement_id
                .as_ref()
                .and_then(|r| running_at.get(r))
                .map(|at| (*at - report.state_since).num_seconds().max(0));
        }

        let unreported: Vec<String> = outcomes
            .iter()
            .filter_map(InstanceOutcome::replacement)
            .filter(|r| r.tag(tags::REPORTED).is_none())
            .map(|r| r.id.clone())
            .collect();
        // A failure or an unfinished recovery is said once per reason: the original carries
        // `autorestart:outcome-reported` with a digest of what was said.
        let said_before: HashMap<&str, Option<&str>> = outcomes
            .iter()
            .map(|o| {
                (
                    o.original.id.as_str(),
                    o.original.tag(tags::OUTCOME_REPORTED),
                )
            })
            .collect();
        let unsaid: Vec<(String, String)> = report
            .instances
            .iter()
            .filter(|i| i.failed() || i.outcome == OutcomeKind::Unfinished)
            .map(|i| (i.instance_id.clone(), report::outcome_digest(i, incident)))
            .filter(|(id, digest)| {
                said_before.get(id.as_str()).copied().flatten() != Some(digest.as_str())
            })
            .collect();
        let anything_new = report.instances.is_empty()
            || !unreported.is_empty()
            || !unsaid.is_empty()
            || report.instances.iter().any(|i| {
                matches!(
                    i.outcome,
                    OutcomeKind::WouldLaunch
                        | OutcomeKind::WouldStartDrs
                        | OutcomeKind::DrsRecoveryStarted
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
        if execution == Execution::Live {
            self.record_said(&unsaid).await;
        }
        Ok(report)
    }

    /// Records on each original the digest of the failure or unfinished state just reported,
    /// one call per digest; a failed record only means it may be said again.
    async fn record_said(&self, said: &[(String, String)]) {
        let records = said.iter().map(|(id, digest)| {
            (
                id.clone(),
                vec![(tags::OUTCOME_REPORTED.to_owned(), digest.clone())],
            )
        });
        if let Some(error) = crate::ports::tag_grouped(&self.compute, records).await {
            warn!(%error, "could not record that the outcome was reported; it may be said again");
        }
    }

    /// Whether the alarm carries `autorestart:maintenance=true`; an alarm without ARN is not.
    pub(crate) async fn maintenance(&self, change: &AlarmChange) -> Result<bool, AwsError> {
        let Some(arn) = &change.alarm_arn else {
            return Ok(false);
        };
        let tags = self.alarms.alarm_tags(arn).await?;
        Ok(tags
            .iter()
            .any(|(k, v)| k == tags::MAINTENANCE && tags::is_opted_in(Some(v))))
    }

    /// Launches (or, in a dry run, plans) one wave, both strategies at once.
    async fn launch_wave(
        &self,
        incident: &IncidentId,
        plan: WavePlan,
        execution: Execution,
        budget: Budget,
        remember: &HashMap<String, Vec<(String, String)>>,
    ) -> Vec<InstanceOutcome> {
        let concurrency = self.settings.concurrency;
        let (mut outcomes, drs_outcomes) = futures::join!(
            launch::execute(
                &self.compute,
                self.limits(budget),
                remember,
                incident,
                plan.templates,
                concurrency,
                execution
            ),
            drs_start::execute_drs(
                &self.compute,
                &self.drs,
                incident,
                plan.drs,
                concurrency,
                execution
            ),
        );
        outcomes.extend(drs_outcomes);
        outcomes
    }

    /// Every membership in scope, or none when there is nothing to recover.
    async fn read_memberships(&self, needed: bool) -> Result<Vec<Membership>, AwsError> {
        if needed {
            self.balancer
                .memberships(&self.settings.target_groups)
                .await
        } else {
            Ok(Vec::new())
        }
    }

    /// Whether the alarm is still in the same ALARM before wave `number`; why not otherwise
    /// (the Outpost came back, or a read failed: launching blind is not reconciling).
    async fn still_down_before_wave(&self, change: &AlarmChange, number: u32) -> Option<String> {
        match self.current_alarms().await {
            Ok(alarms) => match alarm::still_down(change, &alarms) {
                Ok(now) if now.state_since == change.state_since => None,
                Ok(_) => Some(format!(
                    "alarm {} went through another transition before wave {number}; the next run reconciles the new incident",
                    change.alarm_name
                )),
                Err(reason) => Some(format!("before wave {number}: {reason}")),
            },
            Err(error) => Some(format!(
                "the alarm's state could not be read before wave {number} ({error}); the next sweep continues"
            )),
        }
    }

    /// Waits (bounded) for a wave's replacements to run, then moves the memberships of those
    /// that run (ELB refuses a target that does not), which waits for health; the next wave
    /// starts after this. A replacement not running yet is left to the next run.
    async fn settle_wave(
        &self,
        number: u32,
        outcomes: &mut [InstanceOutcome],
        memberships: &[Membership],
        more_waves: bool,
        budget: Budget,
    ) -> (
        WaveReport,
        Vec<MoveOutcome>,
        Vec<Unmovable>,
        HashMap<String, DateTime<Utc>>,
    ) {
        let replacements: Vec<String> = outcomes
            .iter()
            .filter_map(InstanceOutcome::replacement)
            .map(|r| r.id.clone())
            .collect();
        let wait = crate::waves::wait_running(
            &self.compute,
            &replacements,
            budget.bound(self.settings.wave_wait),
            self.settings.health_wait.poll_interval,
        )
        .await;
        for outcome in outcomes.iter_mut() {
            let Some(replacement) = outcome.replacement() else {
                continue;
            };
            if let Some((_, state)) = wait
                .not_running
                .iter()
                .find(|(id, _)| *id == replacement.id)
            {
                let note = format!(
                    "replacement {} is {state}, not running: its target groups move once it runs (the next sweep)",
                    replacement.id
                );
                outcome.warnings.push(note);
            }
        }
        let running: Vec<&InstanceOutcome> = outcomes
            .iter()
            .filter(|o| {
                o.replacement()
                    .is_some_and(|r| wait.running_at.contains_key(&r.id))
            })
            .collect();
        let (moves, unmovable) = self.move_memberships(&running, memberships, budget).await;
        let healthy = moves
            .iter()
            .all(|m| m.is_healthy() || m.planned.already_registered && m.health.is_none());
        let settled = wait.not_running.is_empty() && healthy;
        let note = (!settled && more_waves).then(|| {
            if wait.timed_out {
                format!(
                    "the next wave started after waiting {} s: not every replacement of wave {number} ran",
                    wait.waited.as_secs()
                )
            } else if !wait.not_running.is_empty() {
                format!("the next wave started although replacements of wave {number} do not run")
            } else {
                format!("the next wave started although not every replacement of wave {number} was healthy in its target groups")
            }
        });
        let report = WaveReport {
            wave: number,
            instances: outcomes.len(),
            settled,
            waited_seconds: wait.waited.as_secs(),
            not_running: wait.not_running,
            note,
        };
        (report, moves, unmovable, wait.running_at)
    }

    /// Reads what the template strategy needs and plans it.
    pub(crate) async fn plan_templates(
        &self,
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
            down_outposts,
            now: Utc::now(),
        }))
    }

    /// Reads what the DRS strategy needs and plans it; no DRS call without DRS-protected instances.
    pub(crate) async fn plan_drs(
        &self,
        outpost: &OutpostId,
        incident: &IncidentId,
        instances: &[Instance],
    ) -> Result<Vec<PlannedDrs>, AwsError> {
        if instances.is_empty() {
            return Ok(Vec::new());
        }
        let target_tag = [drs::TARGET_TAG_VALUE.to_owned()];
        let (servers, targets, active_jobs, recorded_jobs) = futures::try_join!(
            self.drs.source_servers(&[]),
            self.compute
                .instances_tagged(drs::TARGET_TAG_KEY, &target_tag),
            self.drs.active_jobs(),
            self.recorded_jobs(incident, instances)
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
    async fn recorded_jobs(
        &self,
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
            jobs.extend(self.drs.job(id).await?);
        }
        Ok(jobs)
    }

    pub(crate) async fn move_memberships(
        &self,
        outcomes: &[&InstanceOutcome],
        memberships: &[Membership],
        budget: Budget,
    ) -> (Vec<MoveOutcome>, Vec<Unmovable>) {
        // A dead replacement's registrations go to the new one as the original's do.
        let pairs: Vec<(&Instance, &Instance)> = outcomes
            .iter()
            .filter_map(|o| o.replacement().map(|r| (o, r)))
            .flat_map(|(o, r)| {
                std::iter::once(&o.original)
                    .chain(&o.superseded)
                    .map(move |from| (from, r))
            })
            .collect();
        let scope = &self.settings.target_groups;
        let (moves, unmovable) = moves::plan_moves(memberships, &pairs, scope);
        if moves.is_empty() {
            return (Vec::new(), unmovable);
        }
        let wait = autorestart_core::settings::HealthWait {
            timeout: budget.bound(self.settings.health_wait.timeout),
            ..self.settings.health_wait
        };
        let outcomes =
            membership::execute_moves(&self.balancer, moves, wait, self.settings.concurrency).await;
        (outcomes, unmovable)
    }

    /// Publishes the report; then records on `reported` replacements that they were reported,
    /// so that a repeated event does not notify again.
    pub(crate) async fn publish(
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

/// The planned instances of one wave, by strategy.
#[derive(Default)]
struct WavePlan {
    templates: Vec<plan::PlannedInstance>,
    drs: Vec<PlannedDrs>,
}

impl WavePlan {
    fn len(&self) -> usize {
        self.templates.len() + self.drs.len()
    }

    fn into_originals(self) -> impl Iterator<Item = Instance> {
        self.templates
            .into_iter()
            .map(|p| p.original)
            .chain(self.drs.into_iter().map(|p| p.original))
    }

    fn original_ids(&self) -> impl Iterator<Item = String> + '_ {
        self.templates
            .iter()
            .map(|p| p.original.id.clone())
            .chain(self.drs.iter().map(|p| p.original.id.clone()))
    }
}
