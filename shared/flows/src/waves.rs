//! The wait between recovery waves: polls EC2 (bounded) until a wave's replacements run.
//! Grouping by `autorestart:wave` is the core's (`autorestart_core::waves`).

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tracing::{info, warn};

use autorestart_core::ids::InstanceId;
use autorestart_core::inventory::Instance;
use autorestart_core::vocabulary::InstanceState;

use crate::budget::Budget;
use crate::ports::Compute;

/// The state reported for an instance Describe did not return (yet).
pub const NOT_VISIBLE: &str = "not visible yet";

/// What a bounded wait for instances to run saw.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunningWait {
    /// When each instance was first seen running.
    pub running_at: HashMap<InstanceId, DateTime<Utc>>,
    /// Instances not running when the wait ended, with their last state ([`NOT_VISIBLE`] if
    /// Describe never returned them).
    pub not_running: Vec<(InstanceId, String)>,
    /// The wait ran out before every instance ran.
    pub timed_out: bool,
    /// How long it waited.
    pub waited: Duration,
}

/// Waits until every instance runs or has stopped or terminated (it will not run), or `timeout`
/// (cut to the invocation's [`Budget`], whoever calls). A failed read ends the wait early: it
/// is logged and the instances count as not running.
pub async fn wait_running<C: Compute>(
    compute: &C,
    ids: &[InstanceId],
    timeout: Duration,
    poll: Duration,
) -> RunningWait {
    let timeout = Budget::current().bound(timeout);
    let started = tokio::time::Instant::now();
    let mut wait = RunningWait::default();
    let mut pending: Vec<InstanceId> = ids.to_vec();
    let mut states: HashMap<InstanceId, String> = HashMap::new();
    while !pending.is_empty() {
        match compute.instances(&pending).await {
            Ok(found) => {
                let now = Utc::now();
                let by_id: HashMap<&str, &Instance> =
                    found.iter().map(|i| (i.id.as_str(), i)).collect();
                pending.retain(|id| match by_id.get(id.as_str()) {
                    Some(i) if i.is_running() => {
                        wait.running_at.insert(id.clone(), now);
                        false
                    }
                    Some(i) if i.state == InstanceState::Pending => {
                        states.insert(id.clone(), i.state.to_string());
                        true
                    }
                    Some(i) => {
                        states.insert(id.clone(), i.state.to_string());
                        false
                    }
                    // EC2 is eventually consistent: an instance just launched may not be
                    // described yet. It is pending, not gone, until the wait ends.
                    None => {
                        states.insert(id.clone(), NOT_VISIBLE.into());
                        true
                    }
                });
            }
            Err(error) => {
                warn!(%error, "could not read whether replacements run; not waiting further");
                break;
            }
        }
        if pending.is_empty() {
            break;
        }
        if started.elapsed() + poll > timeout {
            wait.timed_out = true;
            break;
        }
        tokio::time::sleep(poll).await;
    }
    wait.waited = started.elapsed();
    let mut not_running: Vec<(InstanceId, String)> = ids
        .iter()
        .filter(|id| !wait.running_at.contains_key(*id))
        .map(|id| {
            let state = states.get(id).cloned().unwrap_or_else(|| "unknown".into());
            (id.clone(), state)
        })
        .collect();
    not_running.sort();
    wait.not_running = not_running;
    info!(
        running = wait.running_at.len(),
        not_running = wait.not_running.len(),
        waited_ms = wait.waited.as_millis() as u64,
        "waited for replacements to run"
    );
    wait
}
