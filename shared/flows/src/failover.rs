//! A person's failover: recovers a down Outpost's instances held by their link-loss policy
//! (`autorestart:on-link-loss=hold`), once that person has confirmed the server is down, the
//! way the alarm handler recovers the others.

use tracing::{info, warn};

use autorestart_core::alarm::{self, OutpostId, Signal};
use autorestart_core::report::AlarmReport;

use crate::agent::{Agent, Services};
use crate::budget::Budget;
use crate::error::FlowError;
use crate::observe;
use crate::outage::Run;

/// Why a failover did nothing.
#[derive(Debug, thiserror::Error)]
pub enum FailoverError {
    /// The Outpost's alarm is not in ALARM: nothing is known to be down.
    #[error(
        "Outpost {0}'s ConnectedStatus alarm is not in ALARM now: a failover is accepted only while it is"
    )]
    NotDown(OutpostId),
    /// Reading or acting on AWS failed.
    #[error(transparent)]
    Flow(#[from] FlowError),
}

impl<S: Services> Agent<S> {
    /// Recovers `outpost`'s protected instances, held ones included, while its alarm is in
    /// ALARM (refused otherwise). Idempotent like every reconcile: what runs already is
    /// reported, not launched again. The alarm's maintenance tag does not stop it: a person
    /// asked for it.
    #[tracing::instrument(name = "failover", skip_all, fields(outpost = %outpost))]
    pub async fn failover(
        &self,
        outpost: &OutpostId,
        budget: Budget,
    ) -> Result<AlarmReport, FailoverError> {
        budget
            .scope(async {
                let alarms = observe::current_alarms(&self.alarms, &self.settings)
                    .await
                    .map_err(FlowError::Read)?;
                let down = alarms
                    .iter()
                    .find_map(|change| match alarm::classify(change) {
                        Signal::OutpostDown {
                            outpost: o,
                            incident,
                        } if &o == outpost => Some((change, incident)),
                        _ => None,
                    });
                let Some((change, incident)) = down else {
                    warn!(%outpost, "failover refused: the Outpost's alarm is not in ALARM");
                    return Err(FailoverError::NotDown(outpost.clone()));
                };
                info!(%outpost, %incident, "failover: recovering the Outpost's held instances too");
                let run = Run {
                    shares_bucket: true,
                    failover: true,
                    waits_for_fences: true,
                };
                let report = self
                    .reconcile_outpost(
                        change,
                        (outpost, &incident),
                        Ok(false),
                        &alarms,
                        budget,
                        run,
                    )
                    .await?;
                Ok(report)
            })
            .await
    }
}
