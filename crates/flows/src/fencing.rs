//! Carries out fencing once an Outpost is back: observe each replaced original's chain (from
//! either side of the replacement tags), the alarms and the live ends' health; decide with
//! `fence::plan_fencing`; then repair lost tags, stop (or terminate, or leave) and record with
//! `autorestart:fenced`, and report a hold once (`autorestart:fence-held`).

use std::collections::{HashMap, HashSet};

use chrono::Utc;
use tracing::{info, warn};

use autorestart_core::alarm::{AlarmChange, OutpostId};
use autorestart_core::error::AwsError;
use autorestart_core::fence::{
    self, Chains, FenceDecision, FenceReport, FenceView, FencedInstance, HeldInstance, Verdict,
};
use autorestart_core::inventory::Instance;
use autorestart_core::report::{AlarmReport, Notification};
use autorestart_core::settings::Settings;
use autorestart_core::settings::{FenceAction, Mode};
use autorestart_core::tags;

use crate::error::FlowError;
use crate::membership;
use crate::notify;
use crate::ports::{Compute, LoadBalancing, Notifier, Target};

/// Fencing of the originals on an Outpost that is back: reads EC2 and ELB, stops or
/// terminates originals and tags them in EC2, publishes to SNS.
pub struct Fencing<'a, C, L, N> {
    /// EC2.
    pub compute: &'a C,
    /// Elastic Load Balancing.
    pub balancer: &'a L,
    /// SNS.
    pub notifier: &'a N,
    /// How the agent runs.
    pub settings: &'a Settings,
}

impl<C, L, N> Clone for Fencing<'_, C, L, N> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<C, L, N> Copy for Fencing<'_, C, L, N> {}

impl<'a, C, L, N> Fencing<'a, C, L, N>
where
    C: Compute,
    L: LoadBalancing,
    N: Notifier,
{
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
        report.fencing = Some(fencing);
        if !news {
            report.notification = Notification::NotNeeded;
            return Ok(report);
        }
        notify::publish(
            self.notifier,
            self.compute,
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
        let originals = self.compute.protected_instances_on(outpost).await?;
        let (chains, lost_links) = self.chains(&originals).await?;
        let mode = self.settings.mode;
        let action = self.settings.fence_action;
        let mut report = FenceReport::new(action, mode);
        if mode == Mode::Recover {
            for (replacement, predecessor) in lost_links {
                let record = [(tags::REPLACEMENT_OF.to_owned(), predecessor.clone())];
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
        };
        for decision in fence::plan_fencing(&originals, &view, mode, action) {
            self.carry_out(decision, &mut report).await;
        }
        Ok(report)
    }

    /// Every instance (not terminated) that replaced one of `originals`, or replaced one of
    /// those, and so on, link by link up to [`fence::MAX_CHAIN`]: found by its
    /// `replacement-of`, or named by its predecessor's `replaced-by` when it lost its own tag
    /// (then returned with the tag filled in, and listed as a link to repair: (instance,
    /// predecessor)). An instance whose `replacement-of` names another is no link.
    async fn chains(
        &self,
        originals: &[Instance],
    ) -> Result<(Vec<Instance>, Vec<(String, String)>), AwsError> {
        let mut seen: HashSet<String> = originals.iter().map(|o| o.id.clone()).collect();
        let mut level: Vec<&Instance> = originals.iter().collect();
        let mut found: Vec<Instance> = Vec::new();
        let mut repairs = Vec::new();
        for _ in 0..fence::MAX_CHAIN {
            if level.is_empty() {
                break;
            }
            let ids: Vec<String> = level.iter().map(|i| i.id.clone()).collect();
            let mut next = self
                .compute
                .instances_tagged(tags::REPLACEMENT_OF, &ids)
                .await?;
            let named: Vec<(String, String)> = level
                .iter()
                .filter_map(|i| Some((i.tag(tags::REPLACED_BY)?.to_owned(), i.id.clone())))
                .filter(|(by, _)| !seen.contains(by) && !next.iter().any(|n| &n.id == by))
                .collect();
            if !named.is_empty() {
                let by_ids: Vec<String> = named.iter().map(|(by, _)| by.clone()).collect();
                for mut instance in self.compute.instances(&by_ids).await? {
                    let Some((_, predecessor)) = named.iter().find(|(by, _)| by == &instance.id)
                    else {
                        continue;
                    };
                    if instance.tag(tags::REPLACEMENT_OF).is_some() {
                        continue; // it replaced another instance: no link
                    }
                    repairs.push((instance.id.clone(), predecessor.clone()));
                    instance
                        .tags
                        .insert(tags::REPLACEMENT_OF.to_owned(), predecessor.clone());
                    next.push(instance);
                }
            }
            let start = found.len();
            for instance in next {
                if seen.insert(instance.id.clone()) {
                    found.push(instance);
                }
            }
            level = found[start..].iter().collect();
        }
        Ok((found, repairs))
    }

    /// Of these running live ends (each with its original), the ones that do not serve in
    /// place of their original: not registered in a target group in scope that still holds
    /// the original, or not called healthy there; with what is wrong. No read when there is
    /// no live end.
    async fn unhealthy(
        &self,
        pairs: &[(&Instance, &Instance)],
    ) -> Result<HashMap<String, String>, AwsError> {
        let mut unhealthy = HashMap::new();
        if pairs.is_empty() {
            return Ok(unhealthy);
        }
        let memberships = self
            .balancer
            .memberships(&self.settings.target_groups)
            .await?;
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
        let mut by_group: HashMap<&str, Vec<(&str, Target)>> = HashMap::new();
        for (_, end) in pairs {
            for m in memberships.iter().filter(|m| m.names(end)) {
                by_group
                    .entry(m.target_group_arn.as_str())
                    .or_default()
                    .push((end.id.as_str(), m.target.clone()));
            }
        }
        for (group, members) in by_group {
            let targets: Vec<Target> = members.iter().map(|(_, t)| t.clone()).collect();
            let health = membership::health_of(self.balancer, group, &targets).await?;
            for (end, target) in &members {
                if let Some(state) = health.get(target).filter(|s| *s != "healthy") {
                    unhealthy
                        .entry((*end).to_owned())
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
            let record = [(tags::REPLACED_BY.to_owned(), replacement.clone())];
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
            previous_state: original.state.clone(),
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
