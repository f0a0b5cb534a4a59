//! The DRS failback's own steps (Outposts racks and the Region): replicate the recovery
//! instance back, launch into the original, protect it again.

use super::{Fault, Handover, Marker, Pair, Retire, Step, Waiting};
use crate::vocabulary::InstanceState;

/// What DRS says of a DRS failback: the servers and the job its marker names, as read now.
#[derive(Clone, Copy, Debug, Default)]
pub struct DrsFailback<'a> {
    /// The source server replicating the recovery instance back (the marker's `reversed`).
    pub reversed: Option<&'a crate::drs::SourceServer>,
    /// The job launching into the original (the marker's `job`).
    pub job: Option<&'a crate::drs::JobSnapshot>,
}

/// DRS, the original still stopped: replicate the recovery instance back, wait until it is
/// continuous, stop the recovery instance (stop-first), launch into the original, wait for the
/// job. A recorded job is looked at first: once the recovery instance stopped, its replication
/// back is no longer continuous, and need not be.
pub(super) fn drs_launch(pair: &Pair<'_>, marker: &Marker, late: bool) -> Step {
    let Some(Ok(view)) = &pair.drs else {
        return Step::Wait(Waiting::Drs); // DRS unreadable: asked again next look
    };
    let Some(reversed) = marker.reversed.as_deref() else {
        return match pair.replacement {
            Some(_) => Step::ReverseReplication,
            // Nothing to replicate back from: the original is the one copy; it rolls back.
            None => Step::RollBack(Fault::LaunchFailed),
        };
    };
    // The marker is a claim: only a server DRS says replicates this recovery instance back,
    // and only a job launching that server, are acted on.
    let recovery_instance = pair.replacement.map(|r| &r.id);
    if view.reversed.is_some_and(|s| {
        s.id != reversed || !s.replicates_back || s.aws_instance_id.as_ref() != recovery_instance
    }) || view
        .job
        .is_some_and(|j| j.launch_status(reversed).is_none())
    {
        return Step::Wait(Waiting::Drs);
    }
    if let Some(job_id) = &marker.job {
        return match view.job.filter(|j| &j.job_id == job_id) {
            Some(job) if job.status == crate::vocabulary::JobStatus::Completed => {
                match job.launch_status(reversed) {
                    Some(crate::vocabulary::LaunchStatus::Launched) if !late => {
                        Step::Wait(Waiting::Original)
                    }
                    _ => Step::RollBack(Fault::LaunchFailed),
                }
            }
            // A job still running may yet launch into the original: never rolled back under
            // it (DRS bounds its own jobs).
            _ => Step::Wait(Waiting::Job),
        };
    }
    let continuous = view.reversed.is_some_and(|s| s.is_continuous());
    match pair.replacement.map(|r| &r.state) {
        Some(s) if s.is_starting_or_running() && !continuous => {
            Step::Wait(Waiting::ReplicationBack)
        }
        Some(s) if s.is_starting_or_running() && marker.handover == Handover::StopFirst => {
            Step::StopReplacement
        }
        Some(InstanceState::Stopping) => Step::Wait(Waiting::Replacement),
        // Stopped (its data replicated up to the stop), or running under overlap: launch.
        _ if view.reversed.is_some() => Step::LaunchIntoOriginal,
        _ => Step::Wait(Waiting::ReplicationBack),
    }
}

/// DRS, the original serving where its recovery instance did: stop that instance, protect the
/// original again, then terminate or unlink the stopped instance (it stays a launch-into
/// target), then clear the original's tags.
pub(super) fn drs_retire(pair: &Pair<'_>, marker: &Marker) -> Step {
    let Some(replacement) = pair.replacement else {
        return if marker.reprotected {
            Step::CleanUp
        } else {
            Step::Reprotect
        };
    };
    match &replacement.state {
        s if s.is_starting_or_running() => return Step::StopReplacement,
        InstanceState::Stopping => return Step::Wait(Waiting::Replacement),
        _ => {}
    }
    if !marker.reprotected {
        Step::Reprotect
    } else if marker.retire == Retire::Terminate {
        Step::TerminateReplacement
    } else if !pair.unlinked {
        Step::UnlinkTarget
    } else {
        Step::CleanUp
    }
}
