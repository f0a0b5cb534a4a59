//! The operator's `status`: reads the alarms, the opted-in instances and what links to them,
//! judges readiness without asking EC2 anything new (no dry runs, nothing written), and lets
//! `autorestart_core::status` arrange it.

use std::collections::HashSet;

use autorestart_core::alarm::{self, OutpostId};
use autorestart_core::drs;
use autorestart_core::error::AwsError;
use autorestart_core::ids::InstanceId;
use autorestart_core::inventory::Instance;
use autorestart_core::plan;
use autorestart_core::status::{self, Status, StatusInputs};
use autorestart_core::tags;

use crate::agent::{Agent, Services};
use crate::observe;
use crate::ports::{Compute, DisasterRecovery};
use crate::readiness::DryRuns;
use tracing::warn;

/// Longest replacement chain read (as `status` follows it).
const CHAIN_READS: usize = 8;

impl<S: Services> Agent<S> {
    /// The fleet now, for one Outpost or all. Reads only.
    pub async fn status(&self, outpost: Option<&OutpostId>) -> Result<Status, AwsError> {
        let alarms = observe::current_alarms(&self.alarms, &self.settings).await?;
        let mut maintenance = HashSet::new();
        for change in &alarms {
            if let Ok(watched) = alarm::watched_outpost(change)
                && observe::maintenance(&self.alarms, change).await?
            {
                maintenance.insert(watched);
            }
        }
        let instances = observe::opted_in_instances(&self.compute).await?;
        let states = alarm::outpost_states(&alarms);
        let now = (self.clock)();
        let silent = alarm::silent_outposts(&alarms, self.settings.alarm_window, now);
        let verdicts = self
            .judge(&instances, &states, &silent, DryRuns::Skip)
            .await?;
        let related = related(&self.compute, &instances).await?;
        let drs_proofs = self.drs_proofs(&instances).await;
        Ok(status::build(&StatusInputs {
            alarms: &alarms,
            maintenance: &maintenance,
            instances: &instances,
            verdicts: &verdicts,
            related: &related,
            drs_proofs: drs_proofs.as_ref(),
            outpost,
            alarm_window: self.settings.alarm_window,
            now,
        }))
    }

    /// The recovery instance DRS reports for each DRS original's source server and recorded
    /// job; None without DRS instances or when DRS cannot be read (the links show unjudged).
    async fn drs_proofs(
        &self,
        instances: &[Instance],
    ) -> Option<HashSet<(InstanceId, InstanceId)>> {
        let recorded: Vec<&Instance> = instances
            .iter()
            .filter(|i| plan::uses_drs(i) && i.tag(tags::DRS_JOB).is_some())
            .collect();
        if recorded.is_empty() {
            return None;
        }
        let servers = match self.drs.source_servers(&[]).await {
            Ok(servers) => servers,
            Err(error) => {
                warn!(%error, "DRS could not be read: its recovery links are shown unjudged");
                return None;
            }
        };
        let mut proofs = HashSet::new();
        for original in recorded {
            let (Some(server), Some(job)) = (
                drs::source_server_of(&servers, original),
                original.tag(tags::DRS_JOB),
            ) else {
                continue;
            };
            match self.drs.recovery_instance(&server.id, job).await {
                Ok(Some(recovery)) if !recovery.is_drill => {
                    proofs.insert((original.id.clone(), recovery.ec2_instance_id));
                }
                Ok(_) => {}
                Err(error) => {
                    warn!(%error, "DRS could not be read: its recovery links are shown unjudged");
                    return None;
                }
            }
        }
        Some(proofs)
    }
}

/// The standbys and drill copies of `instances`, and their replacements down each chain.
async fn related<C: Compute>(
    compute: &C,
    instances: &[Instance],
) -> Result<Vec<Instance>, AwsError> {
    let ids: Vec<String> = instances.iter().map(|i| i.id.to_string()).collect();
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut related = compute.instances_tagged(tags::STANDBY_FOR, &ids).await?;
    related.extend(compute.instances_tagged(tags::DRILL_OF, &ids).await?);
    let mut asked: HashSet<String> = HashSet::new();
    let mut replacements: Vec<Instance> = Vec::new();
    for _ in 0..CHAIN_READS {
        let ask: Vec<String> = Status::chain_ids(instances, &replacements)
            .into_iter()
            .filter(|id| asked.insert(id.clone()))
            .collect();
        if ask.is_empty() {
            break;
        }
        for found in compute.instances_tagged(tags::REPLACEMENT_OF, &ask).await? {
            if !replacements.iter().any(|r| r.id == found.id) {
                replacements.push(found);
            }
        }
    }
    related.extend(replacements);
    Ok(related)
}
