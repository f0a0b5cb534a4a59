//! Carries out DRS recoveries: completes each source server's launch configuration (two
//! updates, as DRS requires), starts recovery jobs of at most 100 servers, and records each
//! job on its original so that a repeated event starts no second job.

use std::collections::HashMap;

use futures::StreamExt;
use tracing::{info, warn};

use autorestart_core::alarm::IncidentId;
use autorestart_core::drs::{
    self, DrsDecision, LaunchUpdate, PlannedDrs, RecoveryStart, SourceServer,
};
use autorestart_core::error::AwsError;
use autorestart_core::ids::InstanceId;
use autorestart_core::inventory::Instance;
use autorestart_core::outcome::{Execution, InstanceOutcome, Outcome, failed};
use autorestart_core::tags;

use crate::ports::{Compute, DisasterRecovery};

/// What to do once a server is configured.
struct Ready {
    original: Instance,
    server: SourceServer,
    target_id: String,
    updates: Vec<LaunchUpdate>,
    attempt: u32,
}

/// Carries out the DRS decisions; outcomes in the plan's order.
pub async fn execute_drs<C: Compute, D: DisasterRecovery>(
    compute: &C,
    drs: &D,
    incident: &IncidentId,
    plan: Vec<PlannedDrs>,
    concurrency: usize,
    execution: Execution,
) -> Vec<InstanceOutcome> {
    let order: Vec<InstanceId> = plan.iter().map(|p| p.original.id.clone()).collect();
    let mut outcomes: HashMap<InstanceId, InstanceOutcome> = HashMap::new();
    let mut to_configure = Vec::new();
    for PlannedDrs { original, decision } in plan {
        match decision {
            DrsDecision::Recover {
                server,
                target,
                attempt,
            } => to_configure.push((original, server, target.id, attempt)),
            DrsDecision::Invalid { reason } => {
                warn!(instance = %original.id, %reason, "cannot recover through DRS");
                let advice = "fix what the reason names; the recovery runs again on the next delivery or sweep.";
                let outcome = failed(original, reason, None, advice.into());
                outcomes.insert(outcome.original.id.clone(), outcome);
            }
            DrsDecision::AlreadyStarted {
                job_id,
                source_server_id,
            } => {
                let unrecorded = source_server_id.is_some();
                let outcome =
                    already_started(compute, incident, original, job_id, unrecorded, execution)
                        .await;
                outcomes.insert(outcome.original.id.clone(), outcome);
            }
            DrsDecision::Wait { reason } => {
                info!(instance = %original.id, %reason, "DRS recovery waits");
                let outcome = InstanceOutcome::of(original, Outcome::Unfinished { reason });
                outcomes.insert(outcome.original.id.clone(), outcome);
            }
        }
    }
    let configured: Vec<Result<Ready, InstanceOutcome>> = futures::stream::iter(to_configure)
        .map(|(original, server, target_id, attempt)| {
            configure(
                drs,
                original,
                server,
                target_id.to_string(),
                attempt,
                execution,
            )
        })
        .buffered(concurrency.max(1))
        .collect()
        .await;
    let mut ready = Vec::new();
    for result in configured {
        match result {
            Ok(r) => ready.push(r),
            Err(outcome) => {
                outcomes.insert(outcome.original.id.clone(), outcome);
            }
        }
    }
    let started = match execution {
        Execution::DryRun => ready.into_iter().map(would_start).collect(),
        Execution::Live => start_jobs(compute, drs, incident, &ready).await,
    };
    outcomes.extend(started.into_iter().map(|o| (o.original.id.clone(), o)));
    order
        .into_iter()
        .filter_map(|id| outcomes.remove(&id))
        .collect()
}

/// A job runs already for the instance's server; `unrecorded` when DRS shows it but the
/// original does not record it yet: it is recorded now (live runs only).
async fn already_started<C: Compute>(
    compute: &C,
    incident: &IncidentId,
    original: Instance,
    job_id: String,
    unrecorded: bool,
    execution: Execution,
) -> InstanceOutcome {
    info!(instance = %original.id, %job_id, "DRS recovery already running");
    let record = unrecorded && execution == Execution::Live;
    let recorded = if record {
        compute
            .tag(
                std::slice::from_ref(&original.id),
                &job_tags(&job_id, incident),
            )
            .await
    } else {
        Ok(())
    };
    let mut outcome = InstanceOutcome::of(
        original,
        Outcome::DrsAlreadyStarted {
            job_id: job_id.clone(),
        },
    );
    if let Err(error) = recorded {
        outcome
            .warnings
            .push(drs::job_not_recorded(&job_id, &error));
    }
    outcome
}

/// Notify-only: the job that would start.
fn would_start(r: Ready) -> InstanceOutcome {
    let outcome = Outcome::WouldStartDrs {
        source_server_id: r.server.id.clone(),
        target_id: r.target_id.clone(),
        updates: r.updates.clone(),
    };
    let mut outcome = InstanceOutcome::of(r.original, outcome);
    outcome
        .warnings
        .extend(drs::recovery_point_note(&r.server, chrono::Utc::now()));
    outcome
}

/// Starts the jobs, at most 100 servers each, and records each on its originals. DRS refuses
/// a whole job with `ConflictException` when one of its servers cannot start (a job of its
/// own running, say): the batch is halved until the conflicting server stands alone, so the
/// others start; that one is tried once more, then left unfinished for the next sweep.
async fn start_jobs<C: Compute, D: DisasterRecovery>(
    compute: &C,
    drs: &D,
    incident: &IncidentId,
    ready: &[Ready],
) -> Vec<InstanceOutcome> {
    let mut outcomes = Vec::new();
    let server_ids: Vec<String> = ready.iter().map(|r| r.server.id.clone()).collect();
    // (members, tried alone before)
    let mut queue: Vec<(Vec<&Ready>, bool)> = drs::job_batches(&server_ids)
        .map(|batch| {
            let members = ready
                .iter()
                .filter(|r| batch.contains(&r.server.id))
                .collect();
            (members, false)
        })
        .collect();
    queue.reverse(); // popped from the end: the first batch first
    while let Some((members, retried)) = queue.pop() {
        let starts: Vec<RecoveryStart> =
            members.iter().map(|r| recovery_start(&r.server)).collect();
        // The job says which incident it is for: the next run finds it by that, recorded
        // on the original or not.
        let job_tags = [(tags::INCIDENT.to_owned(), incident.to_string())];
        match drs.start_recovery(&starts, false, &job_tags).await {
            Ok(job_id) => {
                info!(%job_id, servers = members.len(), "DRS recovery job started");
                let record = record_job(compute, &members, &job_id, incident).await;
                outcomes.extend(
                    members
                        .into_iter()
                        .map(|r| started(r, &job_id, record.as_ref())),
                );
            }
            Err(error) if error.code == CONFLICT && members.len() > 1 => {
                warn!(%error, servers = members.len(), "DRS refused the job for a conflict; halving it");
                let mut first = members;
                let second = first.split_off(first.len() / 2);
                queue.push((second, false));
                queue.push((first, false));
            }
            Err(error) if error.code == CONFLICT && !retried => {
                warn!(%error, source_server = %members[0].server.id, "DRS conflict on one server; trying it once more");
                queue.push((members, true));
            }
            Err(error) if error.code == CONFLICT => {
                outcomes.extend(members.into_iter().map(|r| {
                    let reason = drs::conflict_left(&r.server.id, &error);
                    InstanceOutcome::of(r.original.clone(), Outcome::Unfinished { reason })
                }));
            }
            Err(error) => {
                warn!(%error, servers = members.len(), "DRS recovery job not started");
                outcomes.extend(members.into_iter().map(|r| {
                    failed(
                        r.original.clone(),
                        drs::start_failed(&r.server.id, &error),
                        Some(error.kind),
                        error.kind.advice().into(),
                    )
                }));
            }
        }
    }
    outcomes
}

/// DRS's answer when a server of a job cannot start now.
const CONFLICT: &str = "ConflictException";

/// What `StartRecovery` takes for `server`: its last snapshot when replication is not
/// continuous (a stalled source cannot give a fresh one), else fresh data.
fn recovery_start(server: &SourceServer) -> RecoveryStart {
    RecoveryStart {
        source_server_id: server.id.clone(),
        snapshot_id: server
            .recovery_point
            .as_ref()
            .filter(|_| !server.is_continuous())
            .map(|p| p.snapshot_id.clone()),
    }
}

/// The outcome of a server whose job started; `record` is why the job was not recorded.
fn started(r: &Ready, job_id: &str, record: Option<&AwsError>) -> InstanceOutcome {
    let mut outcome = InstanceOutcome::of(
        r.original.clone(),
        Outcome::DrsStarted {
            job_id: job_id.to_owned(),
            source_server_id: r.server.id.clone(),
            target_id: r.target_id.clone(),
            updates: r.updates.clone(),
        },
    );
    if let Some(error) = record {
        outcome.warnings.push(drs::job_not_recorded(job_id, error));
    }
    outcome
        .warnings
        .extend(drs::recovery_point_note(&r.server, chrono::Utc::now()));
    outcome.warnings.extend(drs::attempt_note(r.attempt));
    outcome
}

/// Reads a server's launch configuration and applies the missing updates, one at a time.
#[tracing::instrument(name = "instance", skip_all, fields(instance = %original.id, source_server = %server.id))]
async fn configure<D: DisasterRecovery>(
    drs: &D,
    original: Instance,
    server: SourceServer,
    target_id: String,
    attempt: u32,
    execution: Execution,
) -> Result<Ready, InstanceOutcome> {
    let fail = |original: Instance, error: AwsError, what: &str| {
        failed(
            original,
            drs::step_failed(what, &server.id, &error),
            Some(error.kind),
            error.kind.advice().into(),
        )
    };
    let current = match drs.launch_settings(&server.id).await {
        Ok(current) => current,
        Err(error) => return Err(fail(original, error, "reading the launch configuration")),
    };
    let updates = drs::missing_updates(&current, &target_id);
    info!(source_server = %server.id, before = ?current, ?updates, "DRS launch configuration");
    if execution == Execution::Live {
        for update in &updates {
            if let Err(error) = drs.update_launch_settings(&server.id, update).await {
                return Err(fail(original, error, "updating the launch configuration"));
            }
        }
        if !updates.is_empty() {
            info!(source_server = %server.id, launch_into = %target_id, "DRS launch configuration updated");
        }
    }
    Ok(Ready {
        original,
        server,
        target_id,
        updates,
        attempt,
    })
}

/// Records the job and its attempt on the members' originals: one call per attempt number
/// (usually one). The first error, if any.
async fn record_job<C: Compute>(
    compute: &C,
    members: &[&Ready],
    job_id: &str,
    incident: &IncidentId,
) -> Option<AwsError> {
    let records = members.iter().map(|r| {
        let mut record = job_tags(job_id, incident).to_vec();
        record.push((tags::DRS_ATTEMPT.to_owned(), r.attempt.to_string()));
        (r.original.id.clone(), record)
    });
    crate::ports::tag_grouped(compute, records).await
}

fn job_tags(job_id: &str, incident: &IncidentId) -> [(String, String); 2] {
    [
        (tags::DRS_JOB.to_owned(), job_id.to_owned()),
        (tags::INCIDENT.to_owned(), incident.to_string()),
    ]
}
