//! The readiness check: could each opted-in instance be recovered now? Reads EC2, the
//! Outposts API and DRS; publishes what changed to SNS and records it on the instance.

use std::collections::{HashMap, HashSet};

use chrono::Utc;
use tracing::warn;

use autorestart_core::alarm::{AlarmState, OutpostId};
use autorestart_core::drs::{self, SourceServer};
use autorestart_core::error::AwsError;
use autorestart_core::inventory::{Instance, TemplateTarget};
use autorestart_core::readiness::{self, ReadinessInputs, ReadinessReport};
use autorestart_core::settings::Settings;
use autorestart_core::{plan, tags};

use crate::observe;
use crate::ports::{Compute, DisasterRecovery, Notifier, Outposts};

/// The readiness check over EC2, SNS, DRS and the Outposts API.
pub struct Readiness<'a, C, N, D, O> {
    /// EC2.
    pub compute: &'a C,
    /// SNS.
    pub notifier: &'a N,
    /// Elastic Disaster Recovery.
    pub drs: &'a D,
    /// The Outposts API.
    pub outposts: &'a O,
    /// How the agent runs.
    pub settings: &'a Settings,
}

impl<C, N, D, O> Clone for Readiness<'_, C, N, D, O> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<C, N, D, O> Copy for Readiness<'_, C, N, D, O> {}

impl<C, N, D, O> Readiness<'_, C, N, D, O>
where
    C: Compute,
    N: Notifier,
    D: DisasterRecovery,
    O: Outposts,
{
    /// Judges every opted-in instance, records changed verdicts on the instances and announces
    /// them in one notice.
    /// Judges every opted-in instance; publishes and records only what changed since the
    /// last check.
    pub async fn check(
        &self,
        states: &HashMap<OutpostId, AlarmState>,
        silent: &HashMap<OutpostId, chrono::DateTime<Utc>>,
    ) -> Result<ReadinessReport, AwsError> {
        let instances = observe::opted_in_instances(self.compute).await?;
        let verdicts = self.judge(&instances, states, silent).await?;
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

    /// Reads what readiness needs for `instances` and judges them.
    pub async fn judge(
        &self,
        instances: &[Instance],
        states: &HashMap<OutpostId, AlarmState>,
        silent: &HashMap<OutpostId, chrono::DateTime<Utc>>,
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
                crate::observe::recovery_points(self.drs, &mut servers, &drs_instances).await?;
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
        Ok(readiness::assess(&ReadinessInputs {
            instances,
            template_targets: &targets,
            images: &images,
            alarm_states: states,
            silent_alarms: silent,
            managed_templates: &managed_templates,
            listed_templates: &self.settings.listed_templates,
            assets: &assets,
            drs_servers: &drs_servers,
            drs_targets: &drs_targets,
        }))
    }
}
