//! Drills: rehearse an Outpost's recovery without an outage. A dry run returns the plan and
//! every readiness problem and changes nothing; a live drill launches tagged copies of the
//! template-protected instances, checks they run (and turn healthy in a drill target group, if
//! one is given), reports timings and terminates them. Originals, their tags and production
//! target groups are never touched.

use std::collections::HashMap;

use futures::StreamExt;
use tracing::{info, warn};

use autorestart_core::alarm::{self, AlarmState, IncidentId, OutpostId};
use autorestart_core::drill::{self, DrillCopy, DrillReport, DrillRequest};
use autorestart_core::ids::InstanceId;
use autorestart_core::ids::TargetGroupArn;
use autorestart_core::inventory::Instance;
use autorestart_core::outcome::Execution;
use autorestart_core::plan::{self, Candidate, Decision, PlannedInstance};
use autorestart_core::recovery::{self};
use autorestart_core::vocabulary::TargetHealth;
use autorestart_core::{notice, tags, waves};

use crate::agent::{Agent, Services};
use crate::budget::Budget;
use crate::error::FlowError;
use crate::launch::Limits;
use crate::ports::{Alarms, Compute, LaunchRequest, LoadBalancing, Notifier, Target};
use crate::readiness::DryRuns;
use crate::{launch, membership};
use autorestart_core::launching::Launching;

/// Why a drill was refused.
#[derive(Debug, thiserror::Error)]
pub enum DrillError {
    /// The target group holds production targets.
    #[error("target group {0} holds protected instances: give a drill target group holding none (tag it {tag}=true)", tag = tags::DRILL_TARGET_GROUP)]
    ProductionTargetGroup(TargetGroupArn),
    /// The Outpost's alarm is in ALARM: this is an outage, not a drill.
    #[error(
        "Outpost {0} is down now (its alarm is in ALARM): the real recovery runs; a drill would compete with it"
    )]
    OutpostDown(OutpostId),
    /// An earlier live drill of the Outpost left copies that still run.
    #[error(
        "an earlier live drill of Outpost {outpost} left copies that still run: {}; terminate them (aws ec2 terminate-instances --instance-ids {}) and drill again",
        copies.join(", "),
        copies.join(" ")
    )]
    EarlierCopies {
        /// The Outpost.
        outpost: OutpostId,
        /// The copies, live.
        copies: Vec<InstanceId>,
    },
    /// Reading AWS failed.
    #[error(transparent)]
    Flow(#[from] FlowError),
}

impl<S: Services> Agent<S> {
    /// Runs a drill for one Outpost.
    #[tracing::instrument(name = "drill", skip_all, fields(outpost = %request.outpost, live = request.live))]
    pub async fn drill(&self, request: &DrillRequest) -> Result<DrillReport, DrillError> {
        let clock = tokio::time::Instant::now();
        let drill_id = format!(
            "drill-{}-{}",
            request.outpost,
            request.started.format("%Y%m%dT%H%M%SZ")
        );
        let incident = IncidentId::from_tag(&drill_id);
        let (mut report, planned) = self.plan(request, &drill_id, &incident).await?;
        if !request.live {
            info!(%drill_id, instances = report.plan.len(), "dry run: nothing changed");
            report.seconds = clock.elapsed().as_secs_f64();
            return Ok(report);
        }
        self.launch_copies(request, &drill_id, &incident, planned, &mut report)
            .await;
        self.clean_up(&mut report).await;
        self.record_last_drill(&report).await;
        report.seconds = clock.elapsed().as_secs_f64();
        let notice = notice::drill(&report, &self.settings.place);
        match self.notifier.publish(&notice).await {
            Ok(id) => report.message_id = Some(id),
            Err(error) => report
                .errors
                .push(format!("the drill report could not be published: {error}")),
        }
        Ok(report)
    }

    /// The dry run: the plan of each protected instance, their readiness problems, and the
    /// target group check, read and changing nothing.
    async fn plan(
        &self,
        request: &DrillRequest,
        drill_id: &str,
        incident: &IncidentId,
    ) -> Result<(DrillReport, Vec<PlannedInstance>), DrillError> {
        let outpost = &request.outpost;
        let read = |e| DrillError::Flow(FlowError::Read(e));
        let alarms = self
            .alarms
            .alarms_named(&self.settings.alarm_name_prefix)
            .await
            .map_err(read)?;
        let states = alarm::outpost_states(&alarms);
        let down = alarm::down_outposts(&alarms);
        if request.live && states.get(outpost) == Some(&AlarmState::Alarm) {
            return Err(DrillError::OutpostDown(outpost.clone()));
        }
        // The outage's observe step, with the drill's failure policy: every read is needed.
        let seen = self
            .observe_outpost(outpost, incident, &down, Execution::DryRun)
            .await
            .map_err(DrillError::Flow)?;
        if let Err(error) = &seen.template_reads {
            return Err(read(error.clone()));
        }
        if let Err(error) = &seen.drs_reads {
            return Err(read(error.clone()));
        }
        if request.live {
            self.refuse_earlier_copies(outpost, &seen.template_instances)
                .await?;
        }
        let decision = recovery::decide(seen.as_observed(
            outpost,
            incident,
            &down,
            self.settings.launch_wait,
            None,
        ));
        let (mut planned, mut drs_planned) = (Vec::new(), Vec::new());
        for wave in decision.waves.into_values() {
            planned.extend(wave.templates);
            drs_planned.extend(wave.drs);
        }
        planned.sort_by(|a, b| a.original.id.cmp(&b.original.id));
        drs_planned.sort_by(|a, b| a.original.id.cmp(&b.original.id));
        let instances: Vec<Instance> = seen
            .template_instances
            .iter()
            .chain(&seen.drs_instances)
            .cloned()
            .collect();
        let errors = seen.load_balancing_errors.clone();
        let memberships = &seen.memberships;
        if let Some(tg) = &request.target_group_arn
            && memberships
                .iter()
                .any(|m| &m.target_group_arn == tg && instances.iter().any(|i| m.names(i)))
        {
            return Err(DrillError::ProductionTargetGroup(tg.clone()));
        }
        let readiness_problems = self
            .judge(&instances, &states, &HashMap::new(), DryRuns::Skip)
            .await
            .map_err(read)?
            .into_iter()
            .filter(|r| !r.is_ready())
            .collect();
        let mut report = DrillReport {
            drill_id: drill_id.to_owned(),
            outpost: outpost.clone(),
            live: request.live,
            plan: drill::plan_steps(&planned, &drs_planned, memberships),
            readiness_problems,
            copies: Vec::new(),
            cleaned_up: Vec::new(),
            left_behind: Vec::new(),
            seconds: 0.0,
            errors,
            message_id: None,
        };
        if request.live && !drs_planned.is_empty() {
            report.errors.push(format!(
                "{} DRS-protected instance(s) were not drilled: run DRS drills from the DRS console (a drill launches into the same stopped target a recovery needs)",
                drs_planned.len()
            ));
        }
        Ok((report, planned))
    }

    /// Launches the copies wave by wave; each wave's copies must run (and be healthy in the
    /// drill target group) before the next wave starts, within the wave wait.
    async fn launch_copies(
        &self,
        request: &DrillRequest,
        drill_id: &str,
        incident: &IncidentId,
        planned: Vec<PlannedInstance>,
        report: &mut DrillReport,
    ) {
        let (waves, _) = waves::group(planned, |p| &p.original);
        for wave in waves {
            let launches: Vec<Option<DrillCopy>> = futures::stream::iter(wave.items)
                .map(|p| self.launch_copy(drill_id, incident, p))
                .buffered(self.settings.concurrency.max(1))
                .collect()
                .await;
            let mut launches: Vec<DrillCopy> = launches.into_iter().flatten().collect();
            let ids: Vec<InstanceId> = launches.iter().filter_map(|c| c.copy_id.clone()).collect();
            let wait = crate::waves::wait_running(
                &self.compute,
                &ids,
                self.settings.wave_wait,
                self.settings.health_wait.poll_interval,
            )
            .await;
            for copy in &mut launches {
                let Some(id) = &copy.copy_id else { continue };
                match wait.running_at.get(id.as_str()) {
                    Some(at) => {
                        copy.running_after_seconds =
                            Some((*at - request.started).num_milliseconds().max(0) as f64 / 1000.0)
                    }
                    None => {
                        copy.error = Some(format!(
                            "the copy did not reach running within {} s",
                            wait.waited.as_secs()
                        ))
                    }
                }
            }
            if let Some(tg) = &request.target_group_arn {
                let running: Vec<InstanceId> = wait.running_at.keys().cloned().collect();
                self.check_in_target_group(tg, &running, &mut launches, &mut report.errors)
                    .await;
            }
            report.copies.extend(launches);
        }
    }

    async fn launch_copy(
        &self,
        drill_id: &str,
        incident: &IncidentId,
        planned: PlannedInstance,
    ) -> Option<DrillCopy> {
        let Decision::Launch { candidates, .. } = planned.decision else {
            return None;
        };
        let original = planned.original;
        let mut copy = DrillCopy {
            original_id: original.id.clone(),
            copy_id: None,
            template: None,
            running_after_seconds: None,
            healthy: None,
            error: None,
        };
        let candidates = candidates
            .into_iter()
            .map(|c| Candidate {
                request: LaunchRequest {
                    client_token: plan::client_token(
                        incident,
                        &original.id,
                        &c.request.template,
                        1,
                    ),
                    tags: plan::drill_tags(&original, drill_id),
                    template: c.request.template,
                },
                ..c
            })
            .collect();
        let mut launching = Launching::new(&original, incident, candidates, 1, &[]);
        let limits = Limits {
            pacer: &self.launches,
            budget: Budget::current(),
            capacity: &launch::Capacity::default(),
        };
        if let Ok((candidate, launched)) =
            launch::first_launch(&self.compute, limits, &mut launching).await
        {
            info!(%drill_id, original = %original.id, copy = %launched.id, "drill copy launched");
            copy.copy_id = Some(launched.id);
            copy.template = Some(candidate.request.template.to_string());
            return Some(copy);
        }
        let tried: Vec<String> = launching
            .attempts
            .iter()
            .map(|a| format!("{}: {}", a.template, a.error))
            .collect();
        warn!(%drill_id, original = %original.id, "no drill copy launched");
        copy.error = Some(format!("no copy launched ({})", tried.join("; ")));
        Some(copy)
    }

    /// Registers running copies in the drill target group, waits for health, deregisters.
    async fn check_in_target_group(
        &self,
        tg: &TargetGroupArn,
        running: &[InstanceId],
        copies: &mut [DrillCopy],
        errors: &mut Vec<String>,
    ) {
        if running.is_empty() {
            return;
        }
        let targets: Vec<Target> = running
            .iter()
            .map(|id| Target {
                id: id.to_string(),
                port: None,
                availability_zone: None,
            })
            .collect();
        if let Err(error) = self.balancer.register(tg, &targets).await {
            errors.push(format!("copies could not be registered in {tg}: {error}"));
            return;
        }
        let health = membership::wait_for_health(
            &self.balancer,
            tg,
            &targets,
            self.settings.health_wait.poll_interval,
            tokio::time::Instant::now() + self.settings.health_wait.timeout,
        )
        .await
        .unwrap_or_else(|error| {
            errors.push(format!("health in {tg}: {error}"));
            Default::default()
        });
        for copy in copies.iter_mut() {
            if let Some(id) = &copy.copy_id
                && running.contains(id)
            {
                copy.healthy =
                    Some(health.iter().any(|(target, state)| {
                        &target.id == id && *state == TargetHealth::Healthy
                    }));
            }
        }
        if let Err(error) = self.balancer.deregister(tg, &targets).await {
            errors.push(format!(
                "copies could not be deregistered from {tg}: {error}; they are terminated anyway"
            ));
        }
    }

    /// Terminates every copy of this drill, found by its tag (so a copy whose launch answer
    /// was lost is found too), and lists what is left.
    /// Refuses a live drill while copies an earlier one made of these originals still run
    /// (its clean-up failed, or it was cut off): a second set would double them.
    async fn refuse_earlier_copies(
        &self,
        outpost: &OutpostId,
        originals: &[Instance],
    ) -> Result<(), DrillError> {
        if originals.is_empty() {
            return Ok(());
        }
        let ids: Vec<String> = originals.iter().map(|o| o.id.to_string()).collect();
        let copies = self
            .compute
            .instances_tagged(tags::DRILL_OF, &ids)
            .await
            .map_err(|e| DrillError::Flow(FlowError::Read(e)))?;
        let mut live: Vec<InstanceId> = copies
            .into_iter()
            .filter(|c| c.is_live() && c.tag(tags::DRILL).is_some())
            .map(|c| c.id)
            .collect();
        if live.is_empty() {
            return Ok(());
        }
        live.sort();
        warn!(%outpost, copies = ?live, "live drill refused: an earlier drill's copies still run");
        Err(DrillError::EarlierCopies {
            outpost: outpost.clone(),
            copies: live,
        })
    }

    /// Records each rehearsed original's result (`autorestart:last-drill`), one CreateTags per
    /// result. Informational: a failed write is logged, the drill's report stands.
    async fn record_last_drill(&self, report: &DrillReport) {
        let records = drill::last_drill_records(report)
            .into_iter()
            .map(|(id, value)| (id, vec![(tags::LAST_DRILL.to_owned(), value)]));
        if let Some(error) = crate::ports::tag_grouped(&self.compute, records).await {
            warn!(%error, "could not record the drill on the originals");
        }
    }

    async fn clean_up(&self, report: &mut DrillReport) {
        let drill = [report.drill_id.clone()];
        let copies = match self.compute.instances_tagged(tags::DRILL, &drill).await {
            Ok(copies) => copies,
            Err(error) => {
                report
                    .errors
                    .push(format!("drill copies could not be listed: {error}"));
                report.left_behind = report
                    .copies
                    .iter()
                    .filter_map(|c| c.copy_id.clone())
                    .collect();
                return;
            }
        };
        let ids: Vec<InstanceId> = copies
            .iter()
            .filter(|c| c.is_live())
            .map(|c| c.id.clone())
            .collect();
        if ids.is_empty() {
            return;
        }
        match self.compute.terminate(&ids).await {
            Ok(()) => {
                info!(drill_id = %report.drill_id, copies = ids.len(), "drill copies terminated");
                report.cleaned_up = ids;
            }
            Err(error) => {
                report
                    .errors
                    .push(format!("drill copies could not be terminated: {error}"));
                report.left_behind = ids;
            }
        }
    }
}
