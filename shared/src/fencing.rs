//! Carries out fencing once an Outpost is back: observe each replaced original's chain (from
//! either side of the replacement tags), the alarms and the live ends' health; decide with
//! `fence::plan_fencing`; then repair lost tags, stop (or terminate, or leave) and record with
//! `autorestart:fenced`, and report a hold once (`autorestart:fence-held`).

use std::collections::{HashMap, HashSet};

use chrono::Utc;
use tracing::{info, warn};

use crate::agent::{Agent, AgentError};
use crate::alarm::{AlarmChange, OutpostId};
use crate::error::AwsError;
use crate::fence::{
    self, Chains, FenceAction, FenceDecision, FenceReport, FenceView, FencedInstance, HeldInstance,
    Verdict,
};
use crate::inventory::Instance;
use crate::ports::{Alarms, Compute, DisasterRecovery, LoadBalancing, Notifier, Outposts, Target};
use crate::report::{AlarmReport, Mode, Notification};
use crate::tags;

impl<C, L, N, D, A, O> Agent<C, L, N, D, A, O>
where
    C: Compute,
    L: LoadBalancing,
    N: Notifier,
    D: DisasterRecovery,
    A: Alarms,
    O: Outposts,
{
    /// Fences the Outpost's replaced originals and reports it; `notify_holds` also notifies when
    /// only holds reported before are found (the alarm's OK event does, the repeating sweep
    /// does not). `alarms` are every watched alarm as CloudWatch shows them now.
    pub(crate) async fn outpost_back(
        &self,
        outpost: &OutpostId,
        alarms: &[AlarmChange],
        mut report: AlarmReport,
        notify_holds: bool,
    ) -> Result<AlarmReport, AgentError> {
        let down = crate::alarm::down_outposts(alarms);
        let fencing = self.fence(outpost, &down).await.map_err(AgentError::Read)?;
        info!(%outpost, summary = %fencing.summary(), "fencing done");
        let news = fencing.has_news() || (notify_holds && !fencing.held.is_empty());
        report.fencing = Some(fencing);
        if !news {
            report.notification = Notification::NotNeeded;
            return Ok(report);
        }
        self.publish(report, &[]).await
    }

    async fn fence(
        &self,
        outpost: &OutpostId,
        down: &HashSet<OutpostId>,
    ) -> Result<FenceReport, AwsError> {
        let originals = self.compute.protected_instances_on(outpost).await?;
        let chains = self.chains(&originals).await?;
        let links = Chains::new(&chains);
        let ends: Vec<&Instance> = originals
            .iter()
            .filter_map(|o| links.live_end(o))
            .map(|(_, end)| end)
            .filter(|end| end.is_running())
            .collect();
        let unhealthy = self.unhealthy(&ends).await?;
        let view = FenceView {
            chains: &chains,
            down,
            unhealthy: &unhealthy,
        };
        let mode = self.settings.mode;
        let action = self.settings.fence_action;
        let mut report = FenceReport::new(action, mode);
        for decision in fence::plan_fencing(&originals, &view, mode, action) {
            self.carry_out(decision, &mut report).await;
        }
        Ok(report)
    }

    /// Every instance (not terminated) that replaced one of `originals`, or replaced one of
    /// those, and so on, link by link up to [`fence::MAX_CHAIN`].
    async fn chains(&self, originals: &[Instance]) -> Result<Vec<Instance>, AwsError> {
        let mut seen: HashSet<String> = originals.iter().map(|o| o.id.clone()).collect();
        let mut frontier: Vec<String> = originals.iter().map(|o| o.id.clone()).collect();
        let mut found = Vec::new();
        for _ in 0..fence::MAX_CHAIN {
            if frontier.is_empty() {
                break;
            }
            let next = self
                .compute
                .instances_tagged(tags::REPLACEMENT_OF, &frontier)
                .await?;
            frontier = Vec::new();
            for instance in next {
                if seen.insert(instance.id.clone()) {
                    frontier.push(instance.id.clone());
                    found.push(instance);
                }
            }
        }
        Ok(found)
    }

    /// Of these running live ends, the ones a target group in scope does not call healthy,
    /// with what it says. No read when there is no live end.
    async fn unhealthy(&self, ends: &[&Instance]) -> Result<HashMap<String, String>, AwsError> {
        let mut unhealthy = HashMap::new();
        if ends.is_empty() {
            return Ok(unhealthy);
        }
        let memberships = self
            .balancer
            .memberships(&self.settings.target_groups)
            .await?;
        let mut by_group: HashMap<&str, Vec<(&str, Target)>> = HashMap::new();
        for end in ends {
            for m in memberships.iter().filter(|m| m.names(end)) {
                by_group
                    .entry(m.target_group_arn.as_str())
                    .or_default()
                    .push((end.id.as_str(), m.target.clone()));
            }
        }
        for (group, members) in by_group {
            let targets: Vec<Target> = members.iter().map(|(_, t)| t.clone()).collect();
            for state in self.balancer.health(group, &targets).await? {
                if state.state == "healthy" {
                    continue;
                }
                let named = members
                    .iter()
                    .find(|(_, t)| t.id == state.target.id && t.port == state.target.port);
                if let Some((end, _)) = named {
                    unhealthy.insert((*end).to_owned(), format!("{} in {group}", state.state));
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
        let record = [(
            tags::FENCED.to_owned(),
            fence::fenced_tag(action, mode, Utc::now()),
        )];
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
