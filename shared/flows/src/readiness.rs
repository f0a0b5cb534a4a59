//! The readiness check: could each opted-in instance be recovered now? Reads EC2, the
//! Outposts API and DRS; publishes what changed to SNS and records it on the instance.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::Utc;
use tracing::warn;

use autorestart_core::alarm::{AlarmState, IncidentId, OutpostId};
use autorestart_core::drs::{self, SourceServer};
use autorestart_core::error::{AwsError, ErrorKind};
use autorestart_core::ids::InstanceId;
use autorestart_core::inventory::{Instance, TemplateTarget};
use autorestart_core::launch_check::{self, LaunchCheck};
use autorestart_core::readiness::{self, ReadinessInputs, ReadinessReport};
use autorestart_core::tags::TemplateRef;
use autorestart_core::{plan, tags};

use crate::agent::{Agent, Services};
use crate::observe;
use crate::ports::{Compute, DisasterRecovery, Notifier, Outposts};

impl<S: Services> Agent<S> {
    /// Judges every opted-in instance, records changed verdicts on the instances and announces
    /// them in one notice.
    /// Judges every opted-in instance; publishes and records only what changed since the
    /// last check.
    pub async fn check_readiness(
        &self,
        states: &HashMap<OutpostId, AlarmState>,
        silent: &HashMap<OutpostId, chrono::DateTime<Utc>>,
    ) -> Result<ReadinessReport, AwsError> {
        let instances = observe::opted_in_instances(&self.compute).await?;
        let verdicts = self.judge(&instances, states, silent, DryRuns::Ask).await?;
        let mut report = ReadinessReport::of(verdicts);
        if report.changed.is_empty() {
            return Ok(report);
        }
        let notice = autorestart_core::notice::readiness(&report, &self.settings.place);
        report.message_id = Some(self.notifier.publish(&notice).await?);
        for verdict in report.instances.iter().filter(|v| v.changed()) {
            let tag = [(tags::READINESS.to_owned(), verdict.tag_value())];
            if let Err(error) = self
                .compute
                .tag(std::slice::from_ref(&verdict.instance_id), &tag)
                .await
            {
                warn!(instance = %verdict.instance_id, %error, "could not record readiness; the next sweep notifies again");
            }
        }
        Ok(report)
    }

    /// Reads what readiness needs for `instances` and judges them; with [`DryRuns::Ask`], asks
    /// EC2 whether each template would launch and remembers the answers on the instances.
    pub async fn judge(
        &self,
        instances: &[Instance],
        states: &HashMap<OutpostId, AlarmState>,
        silent: &HashMap<OutpostId, chrono::DateTime<Utc>>,
        dry_runs: DryRuns,
    ) -> Result<Vec<readiness::InstanceReadiness>, AwsError> {
        let templates = plan::templates_named_by(instances);
        let targets: HashMap<_, _> = if templates.is_empty() {
            HashMap::new()
        } else {
            self.compute
                .template_targets(&templates)
                .await?
                .into_iter()
                .collect()
        };
        let managed_templates: Result<HashSet<String>, String> = if templates.is_empty() {
            Ok(HashSet::new())
        } else {
            self.compute
                .managed_templates()
                .await
                .map_err(|e| e.to_string())
        };
        let mut image_ids: Vec<String> = Vec::new();
        let mut target_outposts: HashSet<OutpostId> = HashSet::new();
        for target in targets.values() {
            if let TemplateTarget::Subnet {
                image_id,
                outpost_arn,
                ..
            } = target
            {
                image_ids.extend(image_id.clone());
                target_outposts.extend(outpost_arn.as_deref().and_then(OutpostId::from_arn));
            }
        }
        image_ids.sort();
        image_ids.dedup();
        let images: HashSet<String> = if image_ids.is_empty() {
            HashSet::new()
        } else {
            self.compute
                .existing_images(&image_ids)
                .await?
                .into_iter()
                .collect()
        };
        let mut assets = HashMap::new();
        for outpost in target_outposts {
            let read = self
                .outposts
                .assets(&outpost)
                .await
                .map_err(|e| e.to_string());
            assets.insert(outpost, read);
        }
        let (drs_servers, drs_targets) = if instances.iter().any(plan::uses_drs) {
            let target_tag = [drs::TARGET_TAG_VALUE.to_owned()];
            let drs_instances: Vec<Instance> = instances
                .iter()
                .filter(|i| plan::uses_drs(i))
                .cloned()
                .collect();
            let servers: Result<Vec<SourceServer>, String> = async {
                let mut servers = self.drs.source_servers(&[]).await?;
                crate::observe::recovery_points(&self.drs, &mut servers, &drs_instances).await?;
                Ok::<_, AwsError>(servers)
            }
            .await
            .map_err(|e| e.to_string());
            let targets = self
                .compute
                .instances_tagged(drs::TARGET_TAG_KEY, &target_tag)
                .await?;
            (servers, targets)
        } else {
            (Ok(Vec::new()), Vec::new())
        };
        // Standbys of the opted-in instances (a read that fails only leaves them unsaid).
        let ids: Vec<String> = instances
            .iter()
            .filter(|i| i.is_opted_in())
            .map(|i| i.id.to_string())
            .collect();
        let standbys = if ids.is_empty() {
            Vec::new()
        } else {
            self.compute
                .instances_tagged(tags::STANDBY_FOR, &ids)
                .await
                .unwrap_or_else(|error| {
                    warn!(%error, "could not read the standbys; not checked");
                    Vec::new()
                })
        };
        let launch_checks = match dry_runs {
            DryRuns::Ask => self.launch_checks(instances, &targets, states).await,
            DryRuns::Skip => HashMap::new(),
        };
        Ok(readiness::assess(&ReadinessInputs {
            instances,
            template_targets: &targets,
            images: &images,
            alarm_states: states,
            silent_alarms: silent,
            managed_templates: &managed_templates,
            listed_templates: &self.settings.listed_templates,
            launch_checks: &launch_checks,
            assets: &assets,
            drs_servers: &drs_servers,
            drs_targets: &drs_targets,
            fence_margin: self.settings.fence_margin,
            standbys: &standbys,
        }))
    }

    /// Asks EC2 whether each template-strategy instance's usable templates would launch (a
    /// dry run), at most one a second and [`MAX_DRY_RUNS`] a check, none while any watched
    /// Outpost is in ALARM; a result remembered on the instance for the same question is not
    /// asked again. Records what was learnt on the instance.
    async fn launch_checks(
        &self,
        instances: &[Instance],
        targets: &HashMap<TemplateRef, TemplateTarget>,
        states: &HashMap<OutpostId, AlarmState>,
    ) -> HashMap<(InstanceId, TemplateRef), LaunchCheck> {
        let outage = states.values().any(|s| *s == AlarmState::Alarm);
        let incident = IncidentId::from_tag("readiness");
        let mut checks = HashMap::new();
        let mut asked = 0;
        let mut last: Option<tokio::time::Instant> = None;
        let asked_about = instances.iter().filter(|i| {
            i.is_opted_in() && !plan::uses_drs(i) && i.tag(tags::REPLACED_BY).is_none()
        });
        for instance in asked_about {
            let Ok(templates) =
                tags::parse_recovery_templates(instance.tag(tags::RECOVERY_TEMPLATES))
            else {
                continue;
            };
            let remembered = launch_check::remembered(instance);
            let mut learnt = BTreeMap::new();
            for template in templates {
                let Some(target @ TemplateTarget::Subnet { .. }) = targets.get(&template) else {
                    continue;
                };
                let key = launch_check::key(instance, &template, target);
                let check = if let Some(known) = remembered.get(&key) {
                    known.clone()
                } else if outage {
                    LaunchCheck::NotChecked(
                        "an Outpost is in ALARM: dry runs would spend the RunInstances tokens its recovery needs".into(),
                    )
                } else if asked >= MAX_DRY_RUNS {
                    LaunchCheck::NotChecked(format!(
                        "at most {MAX_DRY_RUNS} dry runs a check; the next sweep asks"
                    ))
                } else {
                    if let Some(at) = last {
                        tokio::time::sleep_until(at + DRY_RUN_PACE).await;
                    }
                    last = Some(tokio::time::Instant::now());
                    asked += 1;
                    let request = plan::launch_request(instance, &incident, template.clone(), 1);
                    match self.compute.dry_run_launch(&request).await {
                        Ok(()) => LaunchCheck::WouldLaunch,
                        Err(error) if error.kind == ErrorKind::AccessDenied => {
                            LaunchCheck::Refused {
                                code: error.code.clone(),
                                detail: error.message.clone(),
                            }
                        }
                        Err(error) => {
                            LaunchCheck::NotChecked(format!("the dry run failed: {error}"))
                        }
                    }
                };
                learnt.insert(key, check.clone());
                checks.insert((instance.id.clone(), template), check);
            }
            if let Some(value) = launch_check::memory(instance, &learnt) {
                let record = [(tags::READINESS_LAUNCH.to_owned(), value)];
                if let Err(error) = self
                    .compute
                    .tag(std::slice::from_ref(&instance.id), &record)
                    .await
                {
                    warn!(instance = %instance.id, %error, "could not remember the dry-run launches; the next check asks again");
                }
            }
        }
        checks
    }
}

/// Whether a readiness judgement asks EC2 with dry-run launches (which it remembers on the
/// instances): the sweep does; a drill, which changes nothing on an original, does not.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DryRuns {
    /// Ask, and remember the answers.
    Ask,
    /// Judge from what was read only.
    Skip,
}

/// Dry runs spend RunInstances request tokens (5 a bucket, 2 a second): one a second at most.
const DRY_RUN_PACE: std::time::Duration = std::time::Duration::from_secs(1);
/// Dry runs one check makes at most; the rest are asked by the next sweeps.
const MAX_DRY_RUNS: usize = 30;
