//! The alarm flow: from an alarm change to recovered instances, moved membership and a notice.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use tracing::{info, warn};

use autorestart_core::alarm::{self, AlarmChange, IncidentId, OutpostId, Signal};
use autorestart_core::error::AwsError;
use autorestart_core::ids::InstanceId;
use autorestart_core::launching;
use autorestart_core::link_loss::{self, Gate};
use autorestart_core::moves::{self, MoveOutcome, Unmovable};
use autorestart_core::outcome::{Execution, InstanceOutcome, Outcome};
use autorestart_core::plan::{self};
use autorestart_core::recovery::{self, OutpostPlan};
use autorestart_core::report::{self, Action, AlarmReport, Notification, Ran, WaveReport};
use autorestart_core::settings::Mode;
use autorestart_core::tags;
use autorestart_core::waves::{self, Settling, WaveStop};

use crate::agent::{Agent, Services};
use crate::budget::Budget;
use crate::error::FlowError;
use crate::launch::{self, Capacity, Limits};
use crate::observe::Seen;
use crate::ports::{Compute, Membership};
use crate::{drs_start, membership, notify, observe, standby};

impl<S: Services> Agent<S> {
    /// Handles one alarm state change with no deadline (tests, benchmarks).
    pub async fn handle_alarm(&self, change: &AlarmChange) -> Result<AlarmReport, FlowError> {
        self.handle_alarm_until(change, Budget::unbounded()).await
    }

    /// Handles one alarm state change, every wait and AWS call bounded by `budget`: for an
    /// ALARM, observes the alarm's current state first and reconciles the Outpost only while
    /// it is down.
    pub async fn handle_alarm_until(
        &self,
        change: &AlarmChange,
        budget: Budget,
    ) -> Result<AlarmReport, FlowError> {
        budget.scope(async {
        match alarm::classify(change) {
            Signal::Ignore(reason) => {
                info!(alarm = %change.alarm_name, %reason, "ignoring alarm change");
                let mut report = AlarmReport::for_change(change, self.settings.mode);
                report.ignored_because = Some(reason.to_string());
                Ok(report)
            }
            Signal::OutpostDown { outpost, .. } => {
                let alarms = self.alarms_as_new_as(change, budget).await?;
                let current = match alarm::still_down(change, &alarms) {
                    Ok(current) => current,
                    Err(reason) => {
                        warn!(%outpost, alarm = %change.alarm_name, %reason, "stale ALARM: nothing launched");
                        let mut report = AlarmReport::for_change(change, self.settings.mode);
                        report.action = Action::Stale;
                        report.outpost = Some(outpost);
                        report.ignored_because = Some(reason);
                        return Ok(report);
                    }
                };
                let Signal::OutpostDown { outpost, incident } = alarm::classify(current) else {
                    unreachable!("still_down returns an alarm in ALARM on the same metric")
                };
                let maintenance = observe::maintenance(&self.alarms, current).await;
                self.reconcile_outpost(
                    current,
                    (&outpost, &incident),
                    maintenance,
                    &alarms,
                    budget,
                    Run {
                        shares_bucket: true,
                        failover: false,
                        waits_for_fences: true,
                    },
                )
                .await
            }
            Signal::OutpostBack { outpost } => {
                let alarms = self.alarms_as_new_as(change, budget).await?;
                let mut report = AlarmReport::for_change(change, self.settings.mode);
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
        })
        .await
    }

    /// The alarms as CloudWatch shows them now, read again while the read is older than the
    /// event (`alarm::read_lags`): acting on an older read would report the event stale and
    /// do nothing. Should CloudWatch still lag after [`LAG_READS`] reads, the invocation
    /// fails, so that Lambda delivers the event again: never a success that did nothing.
    async fn alarms_as_new_as(
        &self,
        change: &AlarmChange,
        budget: Budget,
    ) -> Result<Vec<AlarmChange>, FlowError> {
        let mut reads = 0;
        loop {
            let alarms = observe::current_alarms(&self.alarms, &self.settings)
                .await
                .map_err(FlowError::Read)?;
            reads += 1;
            let Some(lag) = alarm::read_lags(change, &alarms) else {
                return Ok(alarms);
            };
            if reads >= LAG_READS || budget.left().is_some_and(|left| left < LAG_PAUSE) {
                warn!(alarm = %change.alarm_name, %lag, reads, "CloudWatch lags the event; failing so that it is delivered again");
                return Err(FlowError::Read(AwsError::transient(
                    "cloudwatch:DescribeAlarms",
                    format!("{lag} after {reads} reads; the event is delivered again"),
                )));
            }
            info!(alarm = %change.alarm_name, %lag, "CloudWatch lags the event; reading again");
            tokio::time::sleep(LAG_PAUSE).await;
        }
    }

    /// Reconciles a down Outpost's instances, unless `maintenance` (the alarm's tag, as read)
    /// is on. `change` is the alarm as CloudWatch shows it now, in ALARM; `alarms` all of them.
    /// `run` says whether this run shares EC2's RunInstances bucket and whether it is a
    /// person's `failover` (which recovers held instances too).
    ///
    /// Observes, decides and acts; when self-fenced originals wait to have fenced themselves
    /// and the budget reaches past that, sleeps until then and reconciles again (while the
    /// Outpost is still in the same ALARM); else the next run (a retry, the sweep) does.
    #[tracing::instrument(name = "incident", skip_all, fields(incident = %incident, outpost = %outpost))]
    pub async fn reconcile_outpost(
        &self,
        change: &AlarmChange,
        (outpost, incident): (&OutpostId, &IncidentId),
        maintenance: Result<bool, AwsError>,
        alarms: &[AlarmChange],
        budget: Budget,
        run: Run,
    ) -> Result<AlarmReport, FlowError> {
        let mut report = AlarmReport::for_change(change, self.settings.mode);
        report.outpost = Some(outpost.clone());
        report.incident = Some(incident.clone());
        match maintenance {
            Ok(true) => {
                info!(%outpost, "Outpost down, but its alarm is in maintenance: recovery suppressed");
                report.action = Action::Suppressed;
                return notify::publish(
                    &self.notifier,
                    &self.compute,
                    &self.settings.place,
                    report,
                    &[],
                )
                .await;
            }
            Ok(false) => {}
            Err(error) => {
                warn!(%outpost, %error, "could not read the alarm's maintenance tag; recovering");
                report.warnings.push(report::maintenance_unread(&error));
            }
        }
        info!(%outpost, %incident, mode = ?self.settings.mode, "Outpost down: recovering its protected instances");
        report.action = Action::Recovery;
        let down = alarm::down_outposts(alarms);
        let execution = match self.settings.mode {
            Mode::Recover => Execution::Live,
            Mode::NotifyOnly => Execution::DryRun,
        };
        let mut ran = Ran::default();
        let mut pass = 0;
        loop {
            pass += 1;
            let seen = self
                .observe_outpost(outpost, incident, &down, execution)
                .await?;
            for error in &seen.load_balancing_errors {
                if !report.load_balancing_errors.contains(error) {
                    report.load_balancing_errors.push(error.clone());
                }
            }
            let timing = link_loss::Timing {
                lost_by: link_loss::lost_by(change),
                now: (self.clock)(),
                margin: self.settings.fence_margin,
                failover: run.failover,
                region: self.settings.place.region.clone(),
            };
            let decision = recovery::decide(seen.as_observed(
                outpost,
                incident,
                &down,
                self.settings.launch_wait,
                Some(timing),
            ));
            if decision.placed > 0 {
                info!(
                    moved = decision.placed,
                    "launches planned onto the alternates' free slots"
                );
            }
            let next_wait = decision.next_wait();
            if execution == Execution::Live {
                if run.shares_bucket {
                    self.share_launches(outpost, &down, decision.launches())
                        .await;
                } else {
                    self.launches.expect_share(1.0);
                }
            }
            let capacity = Capacity::default();
            let act = Act {
                change,
                incident,
                execution,
                budget,
                seen: &seen,
                capacity: &capacity,
            };
            let this_run = self.run_waves(&act, decision, &mut report).await;
            if execution == Execution::Live {
                self.record_full(incident, &capacity, &this_run.outcomes)
                    .await;
            }
            report::merge(&mut ran, this_run);
            let again = match next_wait {
                Some(until)
                    if execution == Execution::Live
                        && run.waits_for_fences
                        && pass < MAX_PASSES =>
                {
                    self.wait_for_fences(change, until, budget).await
                }
                _ => false,
            };
            if !again {
                return self.tell(&act, report, &ran).await;
            }
        }
    }

    /// Sleeps until `until`, when self-fenced originals have fenced themselves, if the budget
    /// reaches past it with time to launch; then whether the Outpost is still in the same
    /// ALARM, so that the caller reconciles again. False when the next run must do it.
    async fn wait_for_fences(
        &self,
        change: &AlarmChange,
        until: DateTime<Utc>,
        budget: Budget,
    ) -> bool {
        let wait = (until - (self.clock)()).to_std().unwrap_or_default();
        let fits = budget
            .left()
            .is_none_or(|left| left > wait + FENCE_WAIT_RESERVE);
        if !fits {
            info!(%until, "self-fenced originals fence after this invocation's time: the next run launches their replacements");
            return false;
        }
        info!(%until, waited_seconds = wait.as_secs(), "waiting for self-fenced originals to fence themselves");
        tokio::time::sleep(wait).await;
        match self.still_down_before_wave(change).await {
            Ok(_) => true,
            Err(stop) => {
                warn!(reason = %stop.reason(0), "not launching for self-fenced originals");
                false
            }
        }
    }

    /// Completes the report of what `ran` did and publishes what is new in it (nothing when
    /// every outcome was said before), then records on the instances what was said.
    async fn tell(
        &self,
        act: &Act<'_>,
        mut report: AlarmReport,
        ran: &Ran,
    ) -> Result<AlarmReport, FlowError> {
        let would_move = match act.execution {
            Execution::Live => Vec::new(),
            Execution::DryRun => act.seen.memberships.clone(),
        };
        report::complete(&mut report, ran, &would_move);
        let news = report::news(&report, ran, act.incident);
        if !news.anything_new() {
            info!(incident = %act.incident, "every replacement was reported already; no new notice");
            report.notification = Notification::AlreadyReported;
            return Ok(report);
        }
        let tag_after = match act.execution {
            Execution::Live => news.unreported,
            Execution::DryRun => Vec::new(),
        };
        let report = notify::publish(
            &self.notifier,
            &self.compute,
            &self.settings.place,
            report,
            &tag_after,
        )
        .await?;
        if act.execution == Execution::Live {
            notify::record_said(&self.compute, &news.unsaid).await;
        }
        Ok(report)
    }

    /// Records on the originals this run leaves unrecovered the pools it found full
    /// (`tags::FULL`), so that the retry or the sweep tries them last. A failure is logged:
    /// the next run then asks those servers first again, as before this record existed.
    async fn record_full(
        &self,
        incident: &IncidentId,
        capacity: &Capacity,
        outcomes: &[InstanceOutcome],
    ) {
        let pools = capacity.full();
        if pools.is_empty() {
            return;
        }
        // Added to what earlier runs of the incident recorded on each original.
        let records: Vec<(InstanceId, Vec<(String, String)>)> = outcomes
            .iter()
            .filter(|o| {
                matches!(
                    o.outcome,
                    Outcome::Failed { .. } | Outcome::Unfinished { .. }
                )
            })
            .filter(|o| !plan::uses_drs(&o.original))
            .map(|o| {
                let record = plan::full_record_with(&o.original, incident, &pools);
                (o.original.id.clone(), vec![(tags::FULL.to_owned(), record)])
            })
            .collect();
        if records.is_empty() {
            return;
        }
        let originals = records.len();
        match crate::ports::tag_grouped(&self.compute, records).await {
            None => info!(
                originals,
                ?pools,
                "recorded the servers found full for the next run"
            ),
            Some(error) => warn!(%error, ?pools, "could not record the servers found full"),
        }
    }

    /// Several Outposts down are several invocations drawing from the account's RunInstances
    /// bucket at once, none seeing the others: this run takes a share of the bucket in
    /// proportion to its launches against those every Outpost down needs (its protected
    /// instances running without a recorded replacement; as many as this run's when they
    /// cannot be read), so that all finish together. Its pacer then probes for more.
    async fn share_launches(&self, outpost: &OutpostId, down: &HashSet<OutpostId>, mine: usize) {
        let others: Vec<&OutpostId> = down.iter().filter(|o| *o != outpost).collect();
        if mine == 0 || others.is_empty() {
            self.launches.expect_share(1.0);
            return;
        }
        let reads = futures::future::join_all(
            others
                .iter()
                .map(|o| self.compute.protected_instances_on(o)),
        )
        .await;
        let theirs: usize = reads
            .into_iter()
            .map(|read| {
                read.map_or(mine, |instances| {
                    instances
                        .iter()
                        .filter(|i| {
                            i.is_starting_or_running()
                                && !plan::uses_drs(i)
                                && i.tag(tags::REPLACED_BY).is_none()
                        })
                        .count()
                })
            })
            .sum();
        let share = mine as f64 / (mine + theirs) as f64;
        info!(
            launches = mine,
            others = theirs,
            share,
            "sharing EC2's RunInstances bucket with the other Outposts down"
        );
        self.launches.expect_share(share);
    }

    /// Runs the waves in order: each launched, then settled (live) before the next starts; a
    /// wave the budget or the alarm does not allow, and every later one, is unfinished.
    async fn run_waves(
        &self,
        act: &Act<'_>,
        decision: OutpostPlan,
        report: &mut AlarmReport,
    ) -> Ran {
        let Act {
            change,
            execution,
            budget,
            ..
        } = *act;
        let by_wave = decision.waves;
        let wave_count = by_wave.len();
        let mut ran = Ran::default();
        let mut stop: Option<WaveStop> = None;
        for (index, (number, mut plan)) in by_wave.into_iter().enumerate() {
            ran.wave_of
                .extend(plan.original_ids().map(|id| (id, number)));
            if stop.is_none() && budget.spent() {
                stop = Some(WaveStop::OutOfTime);
            }
            if stop.is_none() && index > 0 && execution == Execution::Live {
                match self.still_down_before_wave(change).await {
                    // Outposts that went down since the plan take no launch of this wave.
                    Ok(alarms) => {
                        let down = alarm::down_outposts(&alarms);
                        for planned in &mut plan.templates {
                            plan::without_down(planned, &down);
                        }
                    }
                    Err(reason) => stop = Some(reason),
                }
            }
            if let Some(stop) = &stop {
                let reason = stop.reason(number);
                warn!(wave = number, %reason, "wave not started");
                ran.outcomes.extend(plan.into_originals().map(|original| {
                    let reason = reason.clone();
                    InstanceOutcome::of(original, Outcome::Unfinished { reason })
                }));
                continue;
            }
            let waits_until = plan.waits_until();
            ran.outcomes.extend(
                plan.gated
                    .drain(..)
                    .map(|g| gated_outcome(g.original, g.gate)),
            );
            info!(wave = number, instances = plan.len(), "recovering wave");
            // Both strategies at once: launched, or in a dry run planned.
            let limits = Limits {
                pacer: &self.launches,
                budget,
                capacity: act.capacity,
            };
            let concurrency = self.settings.concurrency;
            // Warm standbys first: one StartInstances for the wave; the rest launch.
            let started = standby::start_standbys(
                &self.compute,
                act.incident,
                &act.seen.remember,
                plan.templates,
                &act.seen.standbys,
                execution,
                concurrency,
            )
            .await;
            let (mut wave_outcomes, drs_outcomes) = futures::join!(
                launch::execute(
                    &self.compute,
                    limits,
                    &act.seen.remember,
                    act.incident,
                    started.to_launch,
                    concurrency,
                    execution
                ),
                drs_start::execute_drs(
                    &self.compute,
                    &self.drs,
                    act.incident,
                    plan.drs,
                    concurrency,
                    execution
                ),
            );
            wave_outcomes.extend(drs_outcomes);
            wave_outcomes.extend(started.outcomes);
            for (id, warning) in started.warnings {
                if let Some(outcome) = wave_outcomes.iter_mut().find(|o| o.original.id == id) {
                    outcome.warnings.push(warning);
                }
            }
            wave_outcomes.sort_by(|a, b| a.original.id.cmp(&b.original.id));
            if execution == Execution::Live {
                let more_waves = index + 1 < wave_count;
                let (wave_report, wave_moves, wave_unmovable, running_at) = self
                    .settle_wave(
                        number,
                        &mut wave_outcomes,
                        &act.seen.memberships,
                        more_waves,
                        budget,
                    )
                    .await;
                ran.running_at.extend(running_at);
                ran.moves.extend(wave_moves);
                ran.unmovable.extend(wave_unmovable);
                report.waves.push(wave_report);
            }
            ran.outcomes.extend(wave_outcomes);
            if let Some(until) = waits_until {
                stop = stop.or(Some(WaveStop::WaitsForFence {
                    wave: number,
                    until,
                }));
            }
        }
        for (id, warning) in decision.wave_warnings {
            if let Some(outcome) = ran.outcomes.iter_mut().find(|o| o.original.id == id) {
                outcome.warnings.push(warning);
            }
        }
        ran
    }

    /// The alarms as they are before the next wave, while this Outpost's is still in the same
    /// ALARM; why not otherwise (the Outpost came back, or a read failed: launching blind is
    /// not reconciling).
    async fn still_down_before_wave(
        &self,
        change: &AlarmChange,
    ) -> Result<Vec<AlarmChange>, WaveStop> {
        match observe::current_alarms(&self.alarms, &self.settings).await {
            Ok(alarms) => match alarm::still_down(change, &alarms) {
                Ok(now) if now.state_since == change.state_since => Ok(alarms),
                Ok(_) => Err(WaveStop::Transitioned(change.alarm_name.clone())),
                Err(reason) => Err(WaveStop::NotDown(reason)),
            },
            Err(error) => Err(WaveStop::Unreadable(error.to_string())),
        }
    }

    /// Tags each replacement with its new IP registrations (`moves::ip_registration_tags`), so
    /// that they are deregistered should it die. A failure is logged: the registration stays
    /// until a person removes it, as before this record existed.
    async fn remember_ip_registrations(&self, running: &[&InstanceOutcome], moves: &[MoveOutcome]) {
        let registered: Vec<moves::Move> = moves
            .iter()
            .filter(|m| m.registered)
            .map(|m| m.planned.clone())
            .collect();
        for replacement in running.iter().filter_map(|o| o.replacement()) {
            let incident = replacement.tag(tags::INCIDENT).unwrap_or_default();
            let record = moves::ip_registration_tags(replacement, &registered, incident);
            if record.is_empty() {
                continue;
            }
            let ids = std::slice::from_ref(&replacement.id);
            if let Err(error) = self.compute.tag(ids, &record).await {
                warn!(instance = %replacement.id, %error, "could not remember the replacement's IP registrations");
            }
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
        HashMap<InstanceId, DateTime<Utc>>,
    ) {
        let replacements: Vec<InstanceId> = outcomes
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
                outcome
                    .warnings
                    .push(waves::not_running_yet(&replacement.id, state));
            }
        }
        let running: Vec<&InstanceOutcome> = outcomes
            .iter()
            .filter(|o| {
                o.replacement()
                    .is_some_and(|r| wait.running_at.contains_key(&r.id))
            })
            .collect();
        let (moves, unmovable) = membership::move_memberships(
            &self.balancer,
            &self.settings,
            &running,
            memberships,
            budget,
        )
        .await;
        self.remember_ip_registrations(&running, &moves).await;
        let healthy = moves
            .iter()
            .all(|m| m.is_healthy() || m.planned.already_registered && m.health.is_none());
        let settling = Settling {
            timed_out: wait.timed_out,
            waited_seconds: wait.waited.as_secs(),
            some_not_running: !wait.not_running.is_empty(),
            healthy,
        };
        let report = WaveReport {
            wave: number,
            instances: outcomes.len(),
            settled: settling.settled(),
            waited_seconds: settling.waited_seconds,
            not_running: wait.not_running,
            note: settling.note(number, more_waves),
        };
        (report, moves, unmovable, wait.running_at)
    }
}

/// How many times the alarms are read while CloudWatch lags the event.
pub const LAG_READS: u32 = 3;
/// The pause between those reads.
const LAG_PAUSE: std::time::Duration = std::time::Duration::from_secs(2);

/// How a reconcile runs.
#[derive(Clone, Copy, Debug, Default)]
pub struct Run {
    /// It shares EC2's RunInstances bucket with the invocations of the other Outposts down
    /// (the alarm handler: one invocation per Outpost), or has it to itself (the sweep, which
    /// reconciles the Outposts one after another).
    pub shares_bucket: bool,
    /// A person confirmed the server is down: held instances are recovered too.
    pub failover: bool,
    /// It may sleep until self-fenced originals have fenced themselves (the alarm handler, a
    /// failover); the sweep does not, so that fencing and the other Outposts are not kept
    /// waiting: it launches them on the first sweep after their time.
    pub waits_for_fences: bool,
}

/// At most this many passes of one reconcile wait for self-fenced originals (each pass
/// launches what the time lets go; a later T waits again); the next run does the rest.
const MAX_PASSES: u32 = 4;

/// Time kept after a wait for self-fenced originals, to launch their replacements.
const FENCE_WAIT_RESERVE: std::time::Duration = std::time::Duration::from_secs(120);

/// The outcome of an instance its link-loss policy kept from launching now.
fn gated_outcome(original: autorestart_core::inventory::Instance, gate: Gate) -> InstanceOutcome {
    let outcome = match gate {
        Gate::Wait { reason, .. } => Outcome::Unfinished { reason },
        Gate::Hold { reason } => Outcome::Held { reason },
        Gate::BadTag { reason } => Outcome::Failed {
            reason,
            kind: None,
            advice: launching::UNRECOVERABLE_ADVICE.into(),
        },
        Gate::Go => unreachable!("core gates only what does not go now"),
    };
    InstanceOutcome::of(original, outcome)
}

/// What the act step of one reconcile carries: the alarm it answers, how it runs, what it
/// observed, and what it learns of full servers (for all its waves, and recorded for the next
/// run on the originals it leaves to it).
#[derive(Clone, Copy)]
struct Act<'a> {
    change: &'a AlarmChange,
    incident: &'a IncidentId,
    execution: Execution,
    budget: Budget,
    seen: &'a Seen,
    capacity: &'a Capacity,
}
