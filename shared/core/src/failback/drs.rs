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
/// continuous, stop the recovery instance (stop-first), launch into the original, wait.
pub(super) fn drs_launch(pair: &Pair<'_>, marker: &Marker, late: bool) -> Step {
    let Some(Ok(view)) = &pair.drs else {
        return Step::Wait(Waiting::ReplicationBack); // DRS unreadable: asked again next look
    };
    if marker.reversed.is_none() {
        return Step::ReverseReplication;
    }
    if !view.reversed.is_some_and(|s| s.is_continuous()) {
        return Step::Wait(Waiting::ReplicationBack);
    }
    let Some(job_id) = &marker.job else {
        if marker.handover == Handover::StopFirst {
            match pair.replacement.map(|r| &r.state) {
                Some(s) if s.is_starting_or_running() => return Step::StopReplacement,
                Some(InstanceState::Stopping) => return Step::Wait(Waiting::Replacement),
                _ => {}
            }
        }
        return Step::LaunchIntoOriginal;
    };
    let reversed = marker.reversed.as_deref().unwrap_or_default();
    match view.job.filter(|j| &j.job_id == job_id) {
        Some(job) if job.status == crate::vocabulary::JobStatus::Completed => {
            match job.launch_status(reversed) {
                Some(crate::vocabulary::LaunchStatus::Launched) if !late => {
                    Step::Wait(Waiting::Original)
                }
                _ => Step::RollBack(Fault::LaunchFailed),
            }
        }
        _ if late => Step::RollBack(Fault::LaunchFailed),
        _ => Step::Wait(Waiting::Job),
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
