//! Carries out fencing once an Outpost is back: observe each replaced original's chain (from
//! either side of the replacement tags), the alarms and the live ends' health; decide with
//! `fence::plan_fencing`; then repair lost tags, stop (or terminate, or leave) and record with
//! `autorestart:fenced`, and report a hold once (`autorestart:fence-held`).

use std::collections::{HashMap, HashSet};

use chrono::Utc;
use tracing::{info, warn};

use autorestart_core::alarm::{AlarmChange, OutpostId};
use autorestart_core::drs::{self, SourceServer};
use autorestart_core::error::AwsError;
use autorestart_core::fence::{
    self, Chains, FenceDecision, FenceReport, FenceView, FencedInstance, HeldInstance,
    UnprovenClaim, Verdict,
};
use autorestart_core::ids::{InstanceId, TargetGroupArn};
use autorestart_core::inventory::Instance;
use autorestart_core::proof;
use autorestart_core::report::{AlarmReport, Notification};
use autorestart_core::settings::{FenceAction, Mode};
use autorestart_core::tags;

use crate::agent::{Agent, Services};
use crate::error::FlowError;
use crate::membership;
use crate::notify;
use crate::ports::{Compute, DisasterRecovery, LoadBalancing, Target, strings};

/// Instances that claim to replace one of a level, each with its predecessor and whether only
/// the predecessor's `replaced-by` names it; and each (existing instance named by a
/// `replaced-by`, the instance naming it).
type Candidates<'l> = (
    Vec<(Instance, &'l Instance, bool)>,
    Vec<(InstanceId, &'l Instance)>,
);

/// What the walk along the replacement links found.
pub(crate) struct Walk {
    /// Every proven link's instance (not terminated), its `replacement-of` filled in.
    pub(crate) chains: Vec<Instance>,
    /// Proven replacements that had lost `replacement-of`: (replacement, predecessor).
    pub(crate) lost_links: Vec<(InstanceId, InstanceId)>,
    /// Links AWS does not confirm: predecessor, and the instances claimed for it.
    pub(crate) claims: Vec<(Instance, Vec<InstanceId>)>,
    /// Instances whose link could not be checked now (DRS unreadable): neither followed nor
    /// reported; the next sweep asks again.
    pub(crate) unknown: Vec<InstanceId>,
}

impl Walk {
    /// Notes that `claimed` claims to replace `instance` without AWS's confirmation.
    fn claim(&mut self, instance: &Instance, claimed: InstanceId) {
        warn!(instance = %instance.id, %claimed, "a replacement link AWS does not confirm the agent made: nothing done with it");
        match self.claims.iter_mut().find(|(p, _)| p.id == instance.id) {
            Some((_, list)) if !list.contains(&claimed) => list.push(claimed),
            Some(_) => {}
            None => self.claims.push((instance.clone(), vec![claimed])),
        }
    }
}

impl<S: Services> Agent<S> {
    /// Fences the Outpost's replaced originals and reports it; `notify_holds` also notifies when
    /// only holds reported before are found (the alarm's OK event does, the repeating sweep
    /// does not). `alarms` are every watched alarm as CloudWatch shows them now.
    #[tracing::instrument(name = "outpost_back", skip_all, fields(outpost = %outpost))]
    pub async fn outpost_back(
        &self,
        outpost: &OutpostId,
        alarms: &[AlarmChange],
        mut report: AlarmReport,
        notify_holds: bool,
    ) -> Result<AlarmReport, FlowError> {
        let down = autorestart_core::alarm::not_ok_outposts(alarms);
        let fencing = self.fence(outpost, &down).await.map_err(FlowError::Read)?;
        info!(%outpost, summary = %fencing.summary(), "fencing done");
        let news = fencing.has_news() || (notify_holds && !fencing.held.is_empty());
        // The back notice carries the incident it closes, as the outage's did.
        if report.incident.is_none() {
            report.incident = fencing
                .incident
                .as_deref()
                .map(autorestart_core::alarm::IncidentId::from_tag);
        }
        report.fencing = Some(fencing);
        if !news {
            report.notification = Notification::NotNeeded;
            return Ok(report);
        }
        notify::publish(
            &self.notifier,
            &self.compute,
            &self.settings.place,
            report,
            &[],
        )
        .await
    }

    async fn fence(
        &self,
        outpost: &OutpostId,
        down: &HashSet<OutpostId>,
    ) -> Result<FenceReport, AwsError> {
        // An original failing back is the failback's (`failback`): not fenced, and its
        // replacement's link, which the failback removes, not restored. A marker the agent
        // does not write (a claim) changes nothing.
        let originals: Vec<Instance> = self
            .compute
            .protected_instances_on(outpost)
            .await?
            .into_iter()
            .filter(|o| {
                o.tag(tags::FAILBACK)
                    .and_then(autorestart_core::failback::Marker::parse)
                    .is_none()
            })
            .collect();
        let Walk {
            chains,
            lost_links,
            claims,
            unknown,
        } = self.chains(&originals).await?;
        let mode = self.settings.mode;
        let action = self.settings.fence_action;
        let mut report = FenceReport::new(action, mode);
        // Neither a claim nor a link that could not be checked makes its original "replaced".
        let unproven: HashSet<InstanceId> = claims
            .iter()
            .flat_map(|(_, c)| c.clone())
            .chain(unknown)
            .collect();
        self.report_claims(claims, &mut report).await;
        if mode == Mode::Recover {
            for (replacement, predecessor) in lost_links {
                let record = [(tags::REPLACEMENT_OF.to_owned(), predecessor.to_string())];
                match self
                    .compute
                    .tag(std::slice::from_ref(&replacement), &record)
                    .await
                {
                    Ok(()) => {
                        warn!(%replacement, %predecessor, "restored the lost replacement-of tag from the original's replaced-by");
                        report.relinked.push((replacement, predecessor));
                    }
                    Err(error) => {
                        warn!(%replacement, %predecessor, %error, "could not restore the lost replacement-of tag; fencing follows replaced-by regardless")
                    }
                }
            }
        }
        let links = Chains::new(&chains);
        let pairs: Vec<(&Instance, &Instance)> = originals
            .iter()
            .filter_map(|o| links.live_end(o).map(|(_, end)| (o, end)))
            .filter(|(_, end)| end.is_running())
            .collect();
        let unhealthy = self.unhealthy(&pairs).await?;
        let view = FenceView {
            chains: &chains,
            down,
            unhealthy: &unhealthy,
            unproven: &unproven,
        };
        let decisions = fence::plan_fencing(&originals, &view, mode, action);
        report.incident = fence::closes(&decisions);
        for decision in decisions {
            self.carry_out(decision, &mut report).await;
        }
        Ok(report)
    }

    /// Every instance (not terminated) that replaced one of `originals`, or replaced one of
    /// those, and so on, link by link up to [`fence::MAX_CHAIN`]: found by its
    /// `replacement-of`, or named by its predecessor's `replaced-by` when it lost its own tag
    /// (then returned with the tag filled in, and listed as a link to repair). A link counts
    /// only when AWS confirms the agent made it (`proof`); the others are returned as claims.
    /// An instance whose `replacement-of` names another is no link.
    pub(crate) async fn chains(&self, originals: &[Instance]) -> Result<Walk, AwsError> {
        let mut seen: HashSet<InstanceId> = originals.iter().map(|o| o.id.clone()).collect();
        let mut level: Vec<Instance> = originals.to_vec();
        let mut walk = Walk {
            chains: Vec::new(),
            lost_links: Vec::new(),
            claims: Vec::new(),
            unknown: Vec::new(),
        };
        // Instances that recorded claims, to forget those that are gone.
        let mut recorded: Vec<Instance> = Vec::new();
        let mut servers = None;
        for _ in 0..fence::MAX_CHAIN {
            if level.is_empty() {
                break;
            }
            recorded.extend(
                level
                    .iter()
                    .filter(|i| i.tag(tags::UNPROVEN_CLAIMS).is_some())
                    .cloned(),
            );
            let (candidates, named) = self.candidates(&level, &seen).await?;
            let mut next = Vec::new();
            for (mut instance, predecessor, lost) in candidates {
                match self.proven(predecessor, &instance, &mut servers).await {
                    Ok(true) => {}
                    Ok(false) => {
                        walk.claim(predecessor, instance.id.clone());
                        continue;
                    }
                    // DRS could not be read (not initialised, throttled, denied): the link is
                    // neither proven nor a claim; the template instances are fenced regardless,
                    // and the next sweep asks DRS again.
                    Err(error) => {
                        warn!(instance = %predecessor.id, candidate = %instance.id, %error, "could not ask DRS whether it made this link; left for the next sweep");
                        walk.unknown.push(instance.id.clone());
                        continue;
                    }
                }
                if !seen.insert(instance.id.clone()) {
                    continue;
                }
                if lost {
                    walk.lost_links
                        .push((instance.id.clone(), predecessor.id.clone()));
                    instance
                        .tags
                        .insert(tags::REPLACEMENT_OF.to_owned(), predecessor.id.to_string());
                }
                next.push(instance);
            }
            // A `replaced-by` naming an instance that exists but is not a proven replacement
            // of this one (a copied tag, a tag restored on the wrong instance) is a claim.
            for (by, predecessor) in named {
                let proven = next.iter().chain(&walk.chains).any(|n| {
                    n.id == by && n.tag(tags::REPLACEMENT_OF) == Some(predecessor.id.as_str())
                });
                if !proven && !walk.unknown.contains(&by) {
                    walk.claim(predecessor, by);
                }
            }
            walk.chains.extend(next.iter().cloned());
            level = next;
        }
        for instance in recorded {
            if !walk.claims.iter().any(|(p, _)| p.id == instance.id) {
                walk.claims.push((instance, Vec::new()));
            }
        }
        Ok(walk)
    }

    /// The instances that claim to replace one of `level`: by their own `replacement-of`, or
    /// named by a `replaced-by` when they lost theirs (marked `true`), each with its
    /// predecessor; and every (named instance that exists, the instance naming it).
    async fn candidates<'l>(
        &self,
        level: &'l [Instance],
        seen: &HashSet<InstanceId>,
    ) -> Result<Candidates<'l>, AwsError> {
        let ids: Vec<InstanceId> = level.iter().map(|i| i.id.clone()).collect();
        let mut candidates = Vec::new();
        for instance in self
            .compute
            .instances_tagged(tags::REPLACEMENT_OF, &strings(&ids))
            .await?
        {
            let of = instance.tag(tags::REPLACEMENT_OF).unwrap_or_default();
            if let Some(predecessor) = level.iter().find(|p| p.id == of) {
                candidates.push((instance, predecessor, false));
            }
        }
        let named: Vec<(InstanceId, &Instance)> = level
            .iter()
            .filter_map(|i| Some((i.tag(tags::REPLACED_BY)?.into(), i)))
            .collect();
        let unread: Vec<InstanceId> = named
            .iter()
            .map(|(by, _)| by.clone())
            .filter(|by| !seen.contains(by) && !candidates.iter().any(|c| &c.0.id == by))
            .collect();
        let mut existing: HashSet<InstanceId> = seen.clone();
        existing.extend(candidates.iter().map(|c| c.0.id.clone()));
        if !unread.is_empty() {
            for instance in self.compute.instances(&unread).await? {
                existing.insert(instance.id.clone());
                let Some((_, predecessor)) = named.iter().find(|(by, _)| by == &instance.id) else {
                    continue;
                };
                if instance.tag(tags::REPLACEMENT_OF).is_none() {
                    candidates.push((instance, predecessor, true));
                }
            }
        }
        let named = named
            .into_iter()
            .filter(|(by, _)| existing.contains(by))
            .collect();
        Ok((candidates, named))
    }

    /// Whether AWS confirms `candidate` replaced `predecessor`: EC2's ClientToken for a template
    /// launch; for a DRS-protected predecessor, DRS's recovery instance of its source server in
    /// the job it records. DRS's source servers are read once per walk, when first needed.
    async fn proven(
        &self,
        predecessor: &Instance,
        candidate: &Instance,
        servers: &mut Option<Vec<SourceServer>>,
    ) -> Result<bool, AwsError> {
        if proof::launched_for(predecessor, candidate) {
            return Ok(true);
        }
        let drs = tags::parse_strategy(predecessor.tag(tags::STRATEGY)) == Ok(tags::Strategy::Drs);
        let Some(job) = predecessor.tag(tags::DRS_JOB).filter(|_| drs) else {
            return Ok(false);
        };
        if servers.is_none() {
            *servers = Some(self.drs.source_servers(&[]).await?);
        }
        let Some(server) =
            drs::source_server_of(servers.as_deref().unwrap_or_default(), predecessor)
        else {
            return Ok(false);
        };
        let recovery = self.drs.recovery_instance(&server.id, job).await?;
        Ok(proof::recovered_by_drs(candidate, recovery.as_ref()))
    }

    /// Reports each instance's unproven claims once (`autorestart:unproven-claims`), and
    /// forgets claims that are gone.
    async fn report_claims(
        &self,
        claims: Vec<(Instance, Vec<InstanceId>)>,
        report: &mut FenceReport,
    ) {
        for (instance, claimed) in claims {
            let Some(value) = proof::claims_news(&instance, &claimed) else {
                if !claimed.is_empty() {
                    report
                        .unproven
                        .push(UnprovenClaim::new(&instance, claimed, false));
                }
                continue;
            };
            let ids = std::slice::from_ref(&instance.id);
            let record = [(tags::UNPROVEN_CLAIMS.to_owned(), value)];
            if let Err(error) = self.compute.tag(ids, &record).await {
                warn!(instance = %instance.id, %error, "could not record the unproven claims; the next sweep reports them again");
            }
            if !claimed.is_empty() {
                report
                    .unproven
                    .push(UnprovenClaim::new(&instance, claimed, true));
            }
        }
    }

    /// Of these running live ends (each with its original), the ones that do not serve in
    /// place of their original: not registered in a target group in scope that still holds
    /// the original, or not called healthy there; with what is wrong. No read when there is
    /// no live end.
    async fn unhealthy(
        &self,
        pairs: &[(&Instance, &Instance)],
    ) -> Result<HashMap<InstanceId, String>, AwsError> {
        let mut unhealthy = HashMap::new();
        if pairs.is_empty() {
            return Ok(unhealthy);
        }
        let read = self
            .balancer
            .memberships(&self.settings.target_groups)
            .await?;
        for group in &read.missing {
            warn!(target_group = %group, "a target group in scope no longer exists: skipped");
        }
        let memberships = read.registered;
        for (original, end) in pairs {
            let missing = memberships.iter().filter(|m| m.names(original)).find(|m| {
                !memberships
                    .iter()
                    .any(|e| e.target_group_arn == m.target_group_arn && e.names(end))
            });
            if let Some(m) = missing {
                unhealthy.insert(
                    end.id.clone(),
                    format!(
                        "not registered in {}, where the original still is",
                        m.target_group_arn
                    ),
                );
            }
        }
        let mut by_group: HashMap<&TargetGroupArn, Vec<(&str, Target)>> = HashMap::new();
        for (_, end) in pairs {
            for m in memberships.iter().filter(|m| m.names(end)) {
                by_group
                    .entry(&m.target_group_arn)
                    .or_default()
                    .push((end.id.as_str(), m.target.clone()));
            }
        }
        for (group, members) in by_group {
            let targets: Vec<Target> = members.iter().map(|(_, t)| t.clone()).collect();
            let health = match membership::health_of(&self.balancer, group, &targets).await {
                Ok(health) => health,
                // Deleted since it was read: it holds neither copy any more.
                Err(error) if error.code == "TargetGroupNotFound" => {
                    warn!(
                        target_group = %group,
                        "the target group was deleted while fencing: skipped"
                    );
                    continue;
                }
                Err(error) => return Err(error),
            };
            for (end, target) in &members {
                // `unused` (no listener rule, or the zone not enabled) is the group's state,
                // not the copy's: it will not turn healthy, and fencing does not wait for it.
                if let Some(state) = health.get(target).filter(|s| !s.is_settled()) {
                    unhealthy
                        .entry((*end).into())
                        .or_insert_with(|| format!("{state} in {group}"));
                }
            }
        }
        Ok(unhealthy)
    }

    /// Repairs a lost tag, then fences, holds or counts one original.
    async fn carry_out(&self, decision: FenceDecision, report: &mut FenceReport) {
        let original = &decision.original;
        let ids = std::slice::from_ref(&original.id);
        let entry = |reason: String, news: bool| HeldInstance {
            instance_id: original.id.clone(),
            name: original.display_name().to_owned(),
            reason,
            news,
        };
        if let Some(replacement) = &decision.repair {
            // Fencing's IAM statement needs the tag on the original, so it goes first.
            let record = [(tags::REPLACED_BY.to_owned(), replacement.to_string())];
            if let Err(error) = self.compute.tag(ids, &record).await {
                warn!(instance = %original.id, %error, "could not restore the lost replaced-by tag");
                let reason = format!(
                    "it lost its tag {} (its replacement is {replacement}) and it could not be restored: {error}. {}",
                    tags::REPLACED_BY,
                    error.kind.advice()
                );
                report.failed.push(entry(reason, true));
                return;
            }
            warn!(instance = %original.id, %replacement, "restored the lost replaced-by tag from the replacement's replacement-of");
            report
                .repaired
                .push((original.id.clone(), replacement.clone()));
        }
        let (end, again) = match decision.verdict {
            Verdict::AlreadyFenced => {
                report.already_fenced += 1;
                return;
            }
            Verdict::Hold(reason) => {
                let text = reason.explain();
                if decision.news {
                    warn!(instance = %original.id, reason = %text, "not fencing");
                    let record = [(tags::FENCE_HELD.to_owned(), reason.code())];
                    if let Err(error) = self.compute.tag(ids, &record).await {
                        warn!(instance = %original.id, %error, "could not record the hold; the next sweep reports it again");
                    }
                } else {
                    info!(instance = %original.id, reason = %text, "still not fencing");
                }
                report.held.push(entry(text, decision.news));
                return;
            }
            Verdict::Fence { end } => (end, false),
            Verdict::FenceAgain { end } => (end, true),
        };
        if let Err(error) = self.fence_one(original).await {
            warn!(instance = %original.id, %error, "fencing failed");
            report
                .failed
                .push(entry(format!("{error}. {}", error.kind.advice()), true));
            return;
        }
        let (mode, action) = (self.settings.mode, self.settings.fence_action);
        if again {
            warn!(instance = %original.id, %end, action = action.as_str(), "fenced original found running again: fenced again");
        } else {
            info!(instance = %original.id, %end, action = action.as_str(), ?mode, "original fenced");
        }
        let mut record = vec![(
            tags::FENCED.to_owned(),
            fence::fenced_tag(action, mode, Utc::now()),
        )];
        if original
            .tag(tags::FENCE_HELD)
            .is_some_and(|v| !v.is_empty())
        {
            // A hold said before is over: a later one is news again.
            record.push((tags::FENCE_HELD.to_owned(), String::new()));
        }
        if let Err(error) = self.compute.tag(ids, &record).await {
            warn!(instance = %original.id, %error, "could not record the fencing; the next sweep repeats it");
        }
        report.fenced.push(FencedInstance {
            instance_id: original.id.clone(),
            name: original.display_name().to_owned(),
            replacement_id: end,
            previous_state: original.state.to_string(),
            again,
        });
    }

    /// Stops or terminates one original, as configured (nothing in notify-only or for leave).
    #[tracing::instrument(name = "instance", skip_all, fields(instance = %original.id))]
    async fn fence_one(&self, original: &Instance) -> Result<(), AwsError> {
        let ids = std::slice::from_ref(&original.id);
        match (self.settings.mode, self.settings.fence_action) {
            (Mode::NotifyOnly, _) | (_, FenceAction::Leave) => Ok(()),
            (Mode::Recover, FenceAction::Stop) if original.is_starting_or_running() => {
                self.compute.stop(ids).await
            }
            (Mode::Recover, FenceAction::Stop) => Ok(()),
            (Mode::Recover, FenceAction::Terminate) => self.compute.terminate(ids).await,
        }
    }
}
