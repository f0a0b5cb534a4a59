//! Carries out fencing once an Outpost is back: stop (or terminate, or leave) each replaced
//! original whose replacement runs, record it with `autorestart:fenced`, and say so once.

use chrono::Utc;
use tracing::{info, warn};

use crate::agent::{Agent, AgentError};
use crate::alarm::OutpostId;
use crate::fence::{self, FenceAction, FenceReport, FencedInstance, HeldInstance, Verdict};
use crate::ports::{Alarms, Compute, DisasterRecovery, LoadBalancing, Notifier, Outposts};
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
    /// only held originals are found (the alarm's OK event does, the repeating sweep does not).
    pub(crate) async fn outpost_back(
        &self,
        outpost: &OutpostId,
        mut report: AlarmReport,
        notify_holds: bool,
    ) -> Result<AlarmReport, AgentError> {
        let fencing = self.fence(outpost).await.map_err(AgentError::Read)?;
        info!(%outpost, summary = %fencing.summary(), "fencing done");
        let news = fencing.has_news() || (notify_holds && !fencing.held.is_empty());
        report.fencing = Some(fencing);
        if !news {
            report.notification = Notification::NotNeeded;
            return Ok(report);
        }
        self.publish(report, &[]).await
    }

    async fn fence(&self, outpost: &OutpostId) -> Result<FenceReport, crate::error::AwsError> {
        let originals: Vec<_> = self
            .compute
            .protected_instances_on(outpost)
            .await?
            .into_iter()
            .filter(|i| i.tag(tags::REPLACED_BY).is_some())
            .collect();
        let replacement_ids: Vec<String> = originals
            .iter()
            .filter_map(|i| i.tag(tags::REPLACED_BY).map(str::to_owned))
            .collect();
        let replacements = if replacement_ids.is_empty() {
            Vec::new()
        } else {
            self.compute.instances(&replacement_ids).await?
        };
        let mode = self.settings.mode;
        let action = self.settings.fence_action;
        let mut report = FenceReport {
            action,
            mode,
            fenced: Vec::new(),
            held: Vec::new(),
            failed: Vec::new(),
            already_fenced: 0,
        };
        for decision in fence::plan_fencing(&originals, &replacements, mode) {
            let original = &decision.original;
            let held = |reason: String| HeldInstance {
                instance_id: original.id.clone(),
                name: original.display_name().to_owned(),
                reason,
            };
            match decision.verdict {
                Verdict::AlreadyFenced => report.already_fenced += 1,
                Verdict::Hold(reason) => {
                    warn!(instance = %original.id, %reason, "not fencing");
                    report.held.push(held(reason));
                }
                Verdict::Fence => {
                    let ids = std::slice::from_ref(&original.id);
                    let acted = match (mode, action) {
                        (Mode::NotifyOnly, _) | (_, FenceAction::Leave) => Ok(()),
                        (Mode::Recover, FenceAction::Stop) => {
                            if matches!(original.state.as_str(), "pending" | "running") {
                                self.compute.stop(ids).await
                            } else {
                                Ok(())
                            }
                        }
                        (Mode::Recover, FenceAction::Terminate) => {
                            self.compute.terminate(ids).await
                        }
                    };
                    if let Err(error) = acted {
                        warn!(instance = %original.id, %error, "fencing failed");
                        report
                            .failed
                            .push(held(format!("{error}. {}", error.kind.advice())));
                        continue;
                    }
                    info!(instance = %original.id, action = action.as_str(), ?mode, "original fenced");
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
                        replacement_id: decision.replacement_id.clone(),
                        previous_state: original.state.clone(),
                    });
                }
            }
        }
        Ok(report)
    }
}
