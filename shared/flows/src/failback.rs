//! Failback: each recovered instance of an Outpost that is back goes home. Observe the pairs
//! (original, end of its proven chain), their registrations and health, the Outpost's alarm
//! and free slots; ask `failback::decide` for each pair's next step; act; look again, until
//! every pair is home, rolled back, blocked, or the budget ends (the sweep goes on from there).

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tracing::{info, warn};

use autorestart_core::alarm::{self, AlarmState, OutpostId};
use autorestart_core::drs::{JobSnapshot, LaunchUpdate, RecoveryStart, SourceServer};
use autorestart_core::error::AwsError;
use autorestart_core::failback::{
    self, DrsFailback, FailbackReport, Home, InstanceFailback, Marker, Pair, Phase, Request,
    Status, Step, Timing,
};
use autorestart_core::fence::Chains;
use autorestart_core::ids::{InstanceId, TargetGroupArn};
use autorestart_core::inventory::{Instance, Target};
use autorestart_core::moves::{self, Move};
use autorestart_core::notice;
use autorestart_core::report::Notification;
use autorestart_core::settings::Mode;
use autorestart_core::tags;
use autorestart_core::vocabulary::TargetHealth;

use crate::agent::{Agent, Services};
use crate::budget::Budget;
use crate::error::FlowError;
use crate::observe;
use crate::ports::{Compute, DisasterRecovery, LoadBalancing, Notifier};

/// The most looks one run takes at the pairs: each acts, or waits a poll interval.
const MAX_PASSES: usize = 400;
/// Kept from the budget for the report and the notice.
const RESERVE: Duration = Duration::from_secs(20);

/// Why a failback request did nothing.
#[derive(Debug, thiserror::Error)]
pub enum FailbackError {
    /// No ConnectedStatus alarm of this deployment watches the Outpost.
    #[error(
        "no ConnectedStatus alarm of this deployment watches Outpost {0}: nothing of it was recovered by this agent"
    )]
    Unwatched(OutpostId),
    /// Reading or acting on AWS failed.
    #[error(transparent)]
    Flow(#[from] FlowError),
}

/// One pair as read: owned, for `failback::Pair` to borrow.
struct Seen {
    original: Instance,
    replacement: Option<Instance>,
    /// Replacements on the way to the end (dead ones a later one superseded).
    rest: Vec<InstanceId>,
    unlinked: bool,
    claims: Vec<InstanceId>,
    back: Vec<Move>,
    forth: Vec<Move>,
    health: BTreeMap<(TargetGroupArn, Target), TargetHealth>,
    /// A DRS-protected original: the reversed server and the job its marker names, as DRS
    /// answered (Err: DRS could not be read).
    drs: Option<Result<DrsRead, ()>>,
}

/// What DRS answered for a failback: the reversed server and the job its marker names.
type DrsRead = (Option<SourceServer>, Option<JobSnapshot>);

impl Seen {
    fn pair(&self) -> Pair<'_> {
        Pair {
            original: &self.original,
            replacement: self.replacement.as_ref(),
            unlinked: self.unlinked,
            claims: &self.claims,
            back: &self.back,
            forth: &self.forth,
            health: &self.health,
            drs: self.drs.as_ref().map(|read| {
                read.as_ref()
                    .map(|(reversed, job)| DrsFailback {
                        reversed: reversed.as_ref(),
                        job: job.as_ref(),
                    })
                    .map_err(|_| ())
            }),
        }
    }
}

/// An original as read, the end of its chain with the replacements on the way, and the
/// instances its link tags claim without proof.
type PairRead = (
    Instance,
    Option<(Instance, Vec<InstanceId>)>,
    Vec<InstanceId>,
);

/// What this run saw and did for one original.
#[derive(Default)]
struct Trail {
    name: String,
    replacement: Option<InstanceId>,
    groups: Vec<TargetGroupArn>,
    did: Vec<String>,
    last: Option<Step>,
    since: Option<DateTime<Utc>>,
    ended: Option<Status>,
}

impl<S: Services> Agent<S> {
    /// Fails `request.outpost`'s recovered instances back (or, in a dry run, says what it would
    /// do and what blocks), notifies once, and returns the report. Idempotent: a repeat finds
    /// what is home gone from the pairs and goes on with what is not.
    #[tracing::instrument(name = "failback", skip_all, fields(outpost = %request.outpost, dry_run = request.dry_run))]
    pub async fn failback(
        &self,
        request: &Request,
        budget: Budget,
    ) -> Result<FailbackReport, FailbackError> {
        budget
            .scope(async {
                let alarms = observe::current_alarms(&self.alarms, &self.settings)
                    .await
                    .map_err(FlowError::Read)?;
                if !alarms
                    .iter()
                    .any(|a| alarm::watched_outpost(a).is_ok_and(|o| o == request.outpost))
                {
                    return Err(FailbackError::Unwatched(request.outpost.clone()));
                }
                let report = self
                    .go_home(&request.outpost, Some(request), budget, true)
                    .await?;
                Ok(self.tell_failback(report).await?)
            })
            .await
    }

    /// The sweep's part: goes on with the failbacks in progress on `outpost` (its alarm OK
    /// since `ok_since`; None: down, when only a rollback goes on), and begins one when the
    /// automatic failback is on and the alarm has been OK long enough.
    /// `None` when there is nothing to fail back.
    pub(crate) async fn failbacks_of(
        &self,
        outpost: &OutpostId,
        ok_since: Option<DateTime<Utc>>,
        budget: Budget,
    ) -> Result<Option<FailbackReport>, FlowError> {
        let now = (self.clock)();
        let auto = self.settings.auto_failback_after.filter(|after| {
            ok_since.is_some_and(|since| {
                chrono::Duration::from_std(*after).is_ok_and(|after| now >= since + after)
            })
        });
        let request = auto.map(|_| Request {
            outpost: outpost.clone(),
            dry_run: false,
            handover: failback::Handover::default(),
            retire: failback::Retire::default(),
        });
        let mut report = self
            .go_home(outpost, request.as_ref(), budget, false)
            .await?;
        // Recovered instances nobody asked to fail back are no news of the sweep.
        report.instances.retain(|i| i.status != Status::NotAsked);
        if report.instances.is_empty() {
            return Ok(None);
        }
        Ok(Some(self.tell_failback(report).await?))
    }

    async fn go_home(
        &self,
        outpost: &OutpostId,
        request: Option<&Request>,
        budget: Budget,
        asked: bool,
    ) -> Result<FailbackReport, FlowError> {
        let dry_run = request.is_some_and(|r| r.dry_run) || self.settings.mode == Mode::NotifyOnly;
        let mut report = FailbackReport {
            outpost: outpost.clone(),
            dry_run,
            asked,
            handover: request.map(|r| r.handover).unwrap_or_default(),
            retire: request.map(|r| r.retire).unwrap_or_default(),
            instances: Vec::new(),
            errors: Vec::new(),
            notification: Notification::NotNeeded,
        };
        let mut trails: BTreeMap<InstanceId, Trail> = BTreeMap::new();
        let mut free = None;
        for pass in 0..MAX_PASSES {
            let (seen, ok_since) = self
                .observe_home(outpost, request.is_some())
                .await
                .map_err(FlowError::Read)?;
            if request.is_some() && pass == 0 {
                free = self
                    .free_slots(std::collections::HashSet::from([outpost.clone()]))
                    .await
                    .remove(outpost);
            }
            let home = Home {
                ok_since,
                free: free.clone(),
            };
            let timing = Timing {
                now: (self.clock)(),
                settle: self.settings.failback_settle,
                wait: self.settings.launch_wait + self.settings.health_wait.timeout,
            };
            let pairs: Vec<Pair<'_>> = seen.iter().map(Seen::pair).collect();
            let steps = failback::decide(&pairs, &home, request, &timing);
            // Pairs gone since the last look are home (their links and marker cleared).
            for (id, trail) in &mut trails {
                if trail.ended.is_none()
                    && !seen.iter().any(|s| &s.original.id == id)
                    && trail.last == Some(Step::CleanUp)
                {
                    trail.ended = Some(Status::FailedBack);
                }
            }
            for (one, step) in seen.iter().zip(&steps) {
                let trail = trails.entry(one.original.id.clone()).or_default();
                trail.name = one.original.display_name().to_owned();
                trail.replacement = one.replacement.as_ref().map(|r| r.id.clone());
                for m in one.back.iter().chain(&one.forth) {
                    if !trail.groups.contains(&m.target_group_arn) {
                        trail.groups.push(m.target_group_arn.clone());
                    }
                }
                if let Some(marker) = one.original.tag(tags::FAILBACK).and_then(Marker::parse) {
                    trail.since = Some(marker.since);
                }
                if let Step::Begin(marker) = step {
                    trail.since = Some(marker.since);
                }
                trail.last = Some(step.clone());
            }
            if dry_run || !steps.iter().any(Step::acts) && !waits(&steps) {
                break;
            }
            let poll = self.settings.health_wait.poll_interval;
            if steps.iter().any(Step::acts) {
                let errors = report.errors.len();
                let done = |trails: &BTreeMap<InstanceId, Trail>| {
                    trails.values().map(|t| t.did.len()).sum::<usize>()
                };
                let before = done(&trails);
                self.act(&seen, &steps, &mut trails, &mut report.errors)
                    .await;
                // Something changed and nothing failed: look again at once, while time lasts.
                if report.errors.len() == errors
                    && done(&trails) > before
                    && budget.left().is_none_or(|left| left > RESERVE)
                {
                    continue;
                }
                // A step failed, or nothing could be done: not again at once.
            }
            // Waits (or a failed step): look again after a poll, while the budget lasts.
            match budget.left() {
                Some(left) if left <= poll + RESERVE => break,
                _ => tokio::time::sleep(poll).await,
            }
        }
        let now = (self.clock)();
        report.instances = trails
            .into_iter()
            .filter_map(|(id, trail)| entry(id, trail, dry_run, now))
            .collect();
        info!(%outpost, summary = %report.summary(), "failback done");
        Ok(report)
    }

    /// The Outpost's pairs, and when its alarm turned OK if it is OK now.
    async fn observe_home(
        &self,
        outpost: &OutpostId,
        asked_now: bool,
    ) -> Result<(Vec<Seen>, Option<DateTime<Utc>>), AwsError> {
        let alarms = observe::current_alarms(&self.alarms, &self.settings).await?;
        // OK when every alarm watching it is OK, since the latest turned OK.
        let watching: Vec<_> = alarms
            .iter()
            .filter(|a| alarm::watched_outpost(a).is_ok_and(|o| &o == outpost))
            .collect();
        let ok_since = watching
            .iter()
            .all(|a| a.state == AlarmState::Ok)
            .then(|| watching.iter().map(|a| a.state_since).max())
            .flatten();
        let originals = self.compute.protected_instances_on(outpost).await?;
        // Without a request only failbacks in progress go on: none, nothing more to read.
        if !asked_now && originals.iter().all(|o| o.tag(tags::FAILBACK).is_none()) {
            return Ok((Vec::new(), ok_since));
        }
        let walk = self.chains(&originals).await?;
        let links = Chains::new(&walk.chains);
        let mut seen = Vec::new();
        let mut pairs_read: Vec<PairRead> = Vec::new();
        // An instance that replaced another is no original: its chain's original fails back.
        for original in originals
            .into_iter()
            .filter(|o| o.tag(tags::REPLACEMENT_OF).is_none())
        {
            // The copy the failback began with (its marker's `from`), else the one that serves
            // (the live end), else the deepest; the others on the way.
            let chosen = original
                .tag(tags::FAILBACK)
                .and_then(Marker::parse)
                .and_then(|m| m.from);
            let live = links.live_end(&original).map(|(_, end)| end.clone());
            let end = links.last(&original).map(|(deepest, mut rest)| {
                rest.push(deepest);
                let end = chosen
                    .as_ref()
                    .and_then(|id| rest.iter().find(|i| &i.id == id))
                    .map(|i| (*i).clone())
                    .or_else(|| live.clone())
                    .unwrap_or_else(|| deepest.clone());
                let others: Vec<InstanceId> = rest
                    .iter()
                    .filter(|i| i.id != end.id)
                    .map(|i| i.id.clone())
                    .collect();
                (end, others)
            });
            let claims: Vec<InstanceId> = walk
                .claims
                .iter()
                .filter(|(p, _)| p.id == original.id)
                .flat_map(|(_, c)| c.clone())
                .collect();
            let relevant = end.is_some()
                || original.tag(tags::FAILBACK).is_some()
                || original.tag(tags::REPLACED_BY).is_some();
            if relevant {
                pairs_read.push((original, end, claims));
            }
        }
        if pairs_read.is_empty() {
            return Ok((seen, ok_since));
        }
        let memberships = self
            .balancer
            .memberships(&self.settings.target_groups)
            .await?;
        let scope = &self.settings.target_groups;
        for (original, end, claims) in pairs_read {
            let (replacement, rest) = match end {
                Some((r, rest)) => (Some(r), rest),
                None => (None, Vec::new()),
            };
            let (back, forth) = match &replacement {
                Some(r) => (
                    moves::plan_moves(&memberships.registered, &[(r, &original)], scope).0,
                    moves::plan_moves(&memberships.registered, &[(&original, r)], scope).0,
                ),
                None => (Vec::new(), Vec::new()),
            };
            let unlinked = replacement
                .as_ref()
                .is_some_and(|r| walk.lost_links.iter().any(|(id, _)| id == &r.id));
            let health = self.health_of_original(&back).await;
            // A link DRS could not confirm now: nothing is decided on it.
            let unknown = original
                .tag(tags::REPLACED_BY)
                .is_some_and(|by| walk.unknown.iter().any(|u| u == by));
            let drs = if autorestart_core::plan::uses_drs(&original) {
                if unknown {
                    Some(Err(()))
                } else {
                    Some(self.drs_failback_of(&original).await)
                }
            } else {
                None
            };
            seen.push(Seen {
                original,
                replacement,
                rest,
                unlinked,
                claims,
                back,
                forth,
                health,
                drs,
            });
        }
        Ok((seen, ok_since))
    }

    /// What DRS says of a DRS original's failback: the server and job its marker names.
    async fn drs_failback_of(&self, original: &Instance) -> Result<DrsRead, ()> {
        let Some(marker) = original.tag(tags::FAILBACK).and_then(Marker::parse) else {
            // Not begun: only whether DRS answers (a failback of it starts there).
            return match self.drs.source_servers(&[]).await {
                Ok(_) => Ok((None, None)),
                Err(error) => {
                    warn!(original = %original.id, %error, "could not read DRS; its failback waits");
                    Err(())
                }
            };
        };
        let read = async {
            let reversed = match &marker.reversed {
                Some(id) => self
                    .drs
                    .source_servers(std::slice::from_ref(id))
                    .await?
                    .into_iter()
                    .find(|s| &s.id == id),
                None => None,
            };
            let job = match &marker.job {
                Some(id) => self.drs.job(id).await?,
                None => None,
            };
            Ok::<_, AwsError>((reversed, job))
        };
        read.await.map_err(|error| {
            warn!(original = %original.id, %error, "could not read DRS for the failback; the next look asks again");
        })
    }

    /// The original's health in each group it is registered in; a group that cannot be read
    /// is left out (not healthy: the next look asks again).
    async fn health_of_original(
        &self,
        back: &[Move],
    ) -> BTreeMap<(TargetGroupArn, Target), TargetHealth> {
        let mut by_group: BTreeMap<&TargetGroupArn, Vec<Target>> = BTreeMap::new();
        for m in back.iter().filter(|m| m.already_registered) {
            by_group
                .entry(&m.target_group_arn)
                .or_default()
                .push(m.to.clone());
        }
        let mut health = BTreeMap::new();
        for (group, targets) in by_group {
            match crate::membership::health_of(&self.balancer, group, &targets).await {
                Ok(states) => {
                    for (target, state) in states {
                        health.insert((group.clone(), target), state);
                    }
                }
                Err(error) => {
                    warn!(target_group = %group, %error, "could not read the original's health; asked again next look")
                }
            }
        }
        health
    }

    /// Carries out one step per pair: the starts and stops of all pairs in one call each.
    async fn act(
        &self,
        seen: &[Seen],
        steps: &[Step],
        trails: &mut BTreeMap<InstanceId, Trail>,
        errors: &mut Vec<String>,
    ) {
        let mut starts: Vec<(InstanceId, &Seen)> = Vec::new();
        let mut stops: Vec<(InstanceId, &Seen)> = Vec::new();
        let mut restarts: Vec<(InstanceId, &Seen)> = Vec::new();
        for (one, step) in seen.iter().zip(steps) {
            let original = &one.original;
            let replacement = one.replacement.as_ref().map(|r| r.id.clone());
            let marker = original.tag(tags::FAILBACK).and_then(Marker::parse);
            let done: Result<(), AwsError> = match step {
                Step::Begin(marker) => self.mark(original, marker).await,
                Step::StopReplacement => {
                    stops.extend(replacement.map(|r| (r, one)));
                    continue;
                }
                Step::StartOriginal => {
                    starts.push((original.id.clone(), one));
                    continue;
                }
                Step::StopOriginal => {
                    stops.push((original.id.clone(), one));
                    continue;
                }
                Step::StartReplacement => {
                    restarts.extend(replacement.map(|r| (r, one)));
                    continue;
                }
                Step::RegisterOriginal(moves) | Step::RegisterReplacement(moves) => {
                    self.registrations(moves, true).await
                }
                Step::DeregisterReplacement(moves) | Step::DeregisterOriginal(moves) => {
                    self.registrations(moves, false).await
                }
                Step::TerminateReplacement => match replacement {
                    Some(r) => self.compute.terminate(&[r]).await,
                    None => continue,
                },
                Step::KeepAsStandby => match replacement {
                    Some(r) => self.keep_as_standby(&r, &original.id).await,
                    None => continue,
                },
                Step::CleanUp => self.failback_clean_up(one).await,
                Step::RollBack(fault) => match marker {
                    Some(marker) => self.mark(original, &marker.rolling_back(*fault)).await,
                    None => continue,
                },
                Step::EndRollBack => {
                    let done = self
                        .compute
                        .untag(std::slice::from_ref(&original.id), &[tags::FAILBACK])
                        .await;
                    if done.is_ok()
                        && let Some(Marker {
                            phase: Phase::RollingBack(fault),
                            ..
                        }) = marker
                    {
                        trail(trails, original).ended = Some(Status::RolledBack { fault });
                    }
                    done
                }
                Step::ReverseReplication => match (&replacement, &marker) {
                    (Some(r), Some(m)) => match self.drs.reverse_replication(r).await {
                        Ok(server) => {
                            let marked = Marker {
                                reversed: Some(server),
                                ..m.clone()
                            };
                            self.mark(original, &marked).await
                        }
                        Err(error) => Err(error),
                    },
                    _ => continue,
                },
                Step::LaunchIntoOriginal => match &marker {
                    Some(m) => self.launch_into_original(original, m).await,
                    None => continue,
                },
                Step::Reprotect => match &marker {
                    Some(m) => match self.drs.reverse_replication(&original.id).await {
                        // Asked before (a crash before the marker, a lost answer): protected.
                        Err(error) if error.code == "ConflictException" => {
                            let marked = Marker {
                                reprotected: true,
                                ..m.clone()
                            };
                            self.mark(original, &marked).await
                        }
                        Ok(server) => {
                            info!(original = %original.id, %server, "the original is protected again");
                            let marked = Marker {
                                reprotected: true,
                                ..m.clone()
                            };
                            self.mark(original, &marked).await
                        }
                        Err(error) => Err(error),
                    },
                    None => continue,
                },
                Step::UnlinkTarget => match replacement {
                    Some(r) => self.compute.untag(&[r], &failback::STANDBY_CLEARS).await,
                    None => continue,
                },
                Step::Idle | Step::Blocked(_) | Step::Wait(_) => continue,
            };
            self.record(trails, original, step, done, errors);
        }
        for (ids, start) in [(stops, false), (starts, true), (restarts, true)] {
            if ids.is_empty() {
                continue;
            }
            let list: Vec<InstanceId> = ids.iter().map(|(id, _)| id.clone()).collect();
            let answer = if start {
                self.compute.start(&list).await
            } else {
                self.compute.stop(&list).await
            };
            match answer {
                Ok(()) => {
                    for (one, step) in ids
                        .iter()
                        .map(|(_, one)| one)
                        .zip(steps_of(seen, steps, &ids))
                    {
                        self.record(trails, &one.original, step, Ok(()), errors);
                    }
                }
                // One refusal fails the whole call: each instance asked alone, so that one
                // that cannot start rolls back and the others go on.
                Err(_) if ids.len() > 1 => {
                    for ((id, one), step) in ids.iter().zip(steps_of(seen, steps, &ids)) {
                        let answer = if start {
                            self.compute.start(std::slice::from_ref(id)).await
                        } else {
                            self.compute.stop(std::slice::from_ref(id)).await
                        };
                        self.after_power(trails, one, step, answer, errors).await;
                    }
                }
                Err(error) => {
                    let (_, one) = &ids[0];
                    let step = steps_of(seen, steps, &ids)[0];
                    self.after_power(trails, one, step, Err(error), errors)
                        .await;
                }
            }
        }
    }

    /// After a start or stop: a definite refusal to start the original rolls back.
    async fn after_power(
        &self,
        trails: &mut BTreeMap<InstanceId, Trail>,
        one: &Seen,
        step: &Step,
        answer: Result<(), AwsError>,
        errors: &mut Vec<String>,
    ) {
        if let (Step::StartOriginal, Err(error)) = (step, &answer)
            && let Some(fault) = failback::start_refused(error)
            && let Some(marker) = one.original.tag(tags::FAILBACK).and_then(Marker::parse)
        {
            warn!(original = %one.original.id, %error, "EC2 refused to start the original: rolling back");
            let rolled = self.mark(&one.original, &marker.rolling_back(fault)).await;
            self.record(
                trails,
                &one.original,
                &Step::RollBack(fault),
                rolled,
                errors,
            );
        }
        self.record(trails, &one.original, step, answer, errors);
    }

    fn record(
        &self,
        trails: &mut BTreeMap<InstanceId, Trail>,
        original: &Instance,
        step: &Step,
        done: Result<(), AwsError>,
        errors: &mut Vec<String>,
    ) {
        match done {
            Ok(()) => {
                info!(original = %original.id, step = %step, "failback step done");
                trail(trails, original).did.push(step.to_string());
            }
            Err(error) => {
                warn!(original = %original.id, step = %step, %error, "failback step failed; the next look tries again");
                errors.push(format!("{}: {step}: {error}", original.id));
            }
        }
    }

    /// DRS: the reversed server set to launch into the original, then its recovery job started;
    /// the job recorded on the original, the failback's time starting now.
    async fn launch_into_original(
        &self,
        original: &Instance,
        marker: &Marker,
    ) -> Result<(), AwsError> {
        let Some(server) = &marker.reversed else {
            return Ok(());
        };
        for update in [
            LaunchUpdate::Prepare,
            LaunchUpdate::LaunchInto {
                instance_id: original.id.to_string(),
            },
        ] {
            self.drs.update_launch_settings(server, &update).await?;
        }
        let start = [RecoveryStart {
            source_server_id: server.clone(),
            snapshot_id: None,
        }];
        let incident = format!("failback-{}", original.id);
        // A job started before (its record lost in a crash) is this failback's: not doubled.
        let started = self
            .drs
            .active_jobs()
            .await?
            .into_iter()
            .find(|j| j.incident.as_deref() == Some(incident.as_str()))
            .map(|j| j.job_id);
        let job = match started {
            Some(job) => job,
            None => {
                let job_tags = [(tags::INCIDENT.to_owned(), incident)];
                self.drs.start_recovery(&start, false, &job_tags).await?
            }
        };
        info!(original = %original.id, %server, %job, "DRS launches into the original");
        let marked = Marker {
            job: Some(job),
            since: (self.clock)(),
            ..marker.clone()
        };
        self.mark(original, &marked).await
    }

    async fn mark(&self, original: &Instance, marker: &Marker) -> Result<(), AwsError> {
        let tag = [(tags::FAILBACK.to_owned(), marker.value())];
        self.compute
            .tag(std::slice::from_ref(&original.id), &tag)
            .await
    }

    /// Registers (or deregisters) the targets of `moves`: the new side's when registering, the
    /// old side's when deregistering; one call per group.
    async fn registrations(&self, moves: &[Move], register: bool) -> Result<(), AwsError> {
        let mut by_group: BTreeMap<&TargetGroupArn, Vec<Target>> = BTreeMap::new();
        for m in moves {
            let target = if register { &m.to } else { &m.from };
            by_group
                .entry(&m.target_group_arn)
                .or_default()
                .push(target.clone());
        }
        for (group, targets) in by_group {
            if register {
                self.balancer.register(group, &targets).await?;
            } else {
                self.balancer.deregister(group, &targets).await?;
            }
        }
        Ok(())
    }

    /// The replacement's link and report removed first, then the standby tag: a crash between
    /// leaves an unlinked replacement, which the next look tags.
    async fn keep_as_standby(
        &self,
        replacement: &InstanceId,
        of: &InstanceId,
    ) -> Result<(), AwsError> {
        let ids = std::slice::from_ref(replacement);
        self.compute.untag(ids, &failback::STANDBY_CLEARS).await?;
        let tag = [(tags::STANDBY_FOR.to_owned(), of.to_string())];
        self.compute.tag(ids, &tag).await
    }

    /// The superseded replacements unlinked, then the original's incident tags and marker
    /// removed in one call: home.
    async fn failback_clean_up(&self, one: &Seen) -> Result<(), AwsError> {
        if !one.rest.is_empty() {
            self.compute
                .untag(&one.rest, &[tags::REPLACEMENT_OF, tags::REPLACED_BY])
                .await?;
        }
        self.compute
            .untag(
                std::slice::from_ref(&one.original.id),
                &failback::HOME_CLEARS,
            )
            .await
    }

    /// Publishes the report's notice when it has news.
    async fn tell_failback(&self, mut report: FailbackReport) -> Result<FailbackReport, FlowError> {
        if !report.has_news() {
            return Ok(report);
        }
        let notice = notice::failback(&report, &self.settings.place);
        match self.notifier.publish(&notice).await {
            Ok(message_id) => {
                report.notification = Notification::Published { message_id };
                Ok(report)
            }
            Err(error) => Err(FlowError::Notify {
                report: serde_json::to_value(&report).unwrap_or_default(),
                error,
            }),
        }
    }
}

fn trail<'t>(trails: &'t mut BTreeMap<InstanceId, Trail>, original: &Instance) -> &'t mut Trail {
    trails.entry(original.id.clone()).or_default()
}

/// The step each of `ids` was decided (by its pair).
fn steps_of<'s>(seen: &[Seen], steps: &'s [Step], ids: &[(InstanceId, &Seen)]) -> Vec<&'s Step> {
    ids.iter()
        .map(|(_, one)| {
            let at = seen
                .iter()
                .position(|s| s.original.id == one.original.id)
                .expect("the pair was seen");
            &steps[at]
        })
        .collect()
}

/// Whether a pair waits for something a later look may see changed.
fn waits(steps: &[Step]) -> bool {
    steps.iter().any(|s| {
        matches!(
            s,
            Step::Wait(
                failback::Waiting::Original
                    | failback::Waiting::Replacement
                    | failback::Waiting::Healthy { .. }
                    | failback::Waiting::EarlierWave { .. }
                    | failback::Waiting::Job
            )
        )
    })
}

/// The report's entry for one original.
fn entry(
    id: InstanceId,
    trail: Trail,
    dry_run: bool,
    now: DateTime<Utc>,
) -> Option<InstanceFailback> {
    let last = trail.last.clone()?;
    let (status, reasons, codes) = match (&trail.ended, &last) {
        (Some(ended), _) => (ended.clone(), Vec::new(), Vec::new()),
        (None, Step::Blocked(blockers)) => (
            Status::Blocked,
            blockers.iter().map(failback::Blocker::explain).collect(),
            blockers.iter().map(|b| b.code().to_owned()).collect(),
        ),
        (None, Step::Idle) => (Status::NotAsked, Vec::new(), Vec::new()),
        (None, Step::Begin(_)) if dry_run => (Status::WouldFailBack, Vec::new(), Vec::new()),
        (None, step) => (
            Status::InProgress {
                next: step.to_string(),
            },
            Vec::new(),
            Vec::new(),
        ),
    };
    let seconds = match status {
        Status::FailedBack | Status::RolledBack { .. } => {
            trail.since.map(|since| (now - since).num_seconds())
        }
        _ => None,
    };
    Some(InstanceFailback {
        original_id: id,
        name: trail.name,
        replacement_id: trail.replacement,
        target_groups: trail.groups,
        status,
        reasons,
        codes,
        did: trail.did,
        seconds,
    })
}
