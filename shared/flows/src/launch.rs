//! Carries out a recovery plan: launches replacements, trying the next alternate when one has
//! no capacity or cannot be used, and records the replacement on the original.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;

use futures::StreamExt;
use tracing::{info, warn};

use autorestart_core::alarm::IncidentId;
use autorestart_core::error::ErrorKind;
use autorestart_core::ids::InstanceId;
use autorestart_core::inventory::Instance;
use autorestart_core::launching::{self, Asked, Launching, MAX_LAUNCH_RETRIES};
use autorestart_core::outcome::{Execution, InstanceOutcome, Outcome, failed};
use autorestart_core::plan::{Candidate, Decision, PlannedInstance};
use autorestart_core::tags;
use autorestart_core::vocabulary::InstanceState;

use crate::budget::{self, Budget, Pacer};
use crate::ports::Compute;

/// What launches run within: EC2's RunInstances bucket, the invocation's time, and the
/// capacity this run found full.
#[derive(Clone, Copy, Debug)]
pub struct Limits<'a> {
    /// Paces RunInstances.
    pub pacer: &'a Pacer,
    /// When to stop launching and retrying.
    pub budget: Budget,
    /// Capacity pools found full in this run.
    pub capacity: &'a Capacity,
}

/// The capacity pools (a subnet's room for one instance type: [`Candidate::capacity_pool`])
/// that answered `InsufficientInstanceCapacity` in this run. The other launches of the run
/// pass them over and go to their next alternate at once, instead of each asking a full
/// server in turn and spending a RunInstances token on it.
#[derive(Debug, Default)]
pub struct Capacity {
    full: Mutex<BTreeSet<String>>,
}

impl Capacity {
    /// Whether `pool` was found full in this run.
    pub fn is_full(&self, pool: &str) -> bool {
        self.full.lock().expect("capacity lock").contains(pool)
    }

    /// EC2 found no room in `pool`.
    pub fn found_full(&self, pool: String) {
        self.full.lock().expect("capacity lock").insert(pool);
    }

    /// The pools found full, sorted.
    pub fn full(&self) -> Vec<String> {
        self.full
            .lock()
            .expect("capacity lock")
            .iter()
            .cloned()
            .collect()
    }
}

/// Carries out every decision, at most `concurrency` at once; outcomes keep the plan's order.
/// `remember` holds, by original, the tags that remember its target-group registrations: they
/// are written with the record of its replacement, in one call.
pub async fn execute<C: Compute>(
    compute: &C,
    limits: Limits<'_>,
    remember: &HashMap<InstanceId, Vec<(String, String)>>,
    incident: &IncidentId,
    plan: Vec<PlannedInstance>,
    concurrency: usize,
    execution: Execution,
) -> Vec<InstanceOutcome> {
    let none = Vec::new();
    futures::stream::iter(plan)
        .map(|planned| {
            let members = remember.get(&planned.original.id).unwrap_or(&none);
            act_on(compute, limits, members, incident, planned, execution)
        })
        .buffered(concurrency.max(1))
        .collect()
        .await
}

#[tracing::instrument(name = "instance", skip_all, fields(instance = %planned.original.id, incident = %incident))]
/// The act step for one instance: carries out its decision.
async fn act_on<C: Compute>(
    compute: &C,
    limits: Limits<'_>,
    members: &[(String, String)],
    incident: &IncidentId,
    planned: PlannedInstance,
    execution: Execution,
) -> InstanceOutcome {
    let PlannedInstance { original, decision } = planned;
    match decision {
        Decision::AlreadyRecovered {
            replacement,
            superseded,
        } => {
            info!(instance = %original.id, replacement = %replacement.id, "already recovered; nothing to launch");
            let mut result = InstanceOutcome::of(
                original,
                Outcome::AlreadyRecovered {
                    replacement: replacement.clone(),
                },
            );
            result.superseded = superseded;
            if execution == Execution::Live {
                record_replacement(compute, incident, members, &mut result, &replacement).await;
            }
            result
        }
        Decision::NotRunning { state } => {
            info!(instance = %original.id, %state, "not running when its Outpost went down; not recovered");
            InstanceOutcome::of(original, Outcome::NotRunning { state })
        }
        Decision::Unrecoverable { reason, skipped } => {
            warn!(instance = %original.id, %reason, "cannot recover");
            let mut result = failed(
                original,
                reason,
                None,
                launching::UNRECOVERABLE_ADVICE.into(),
            );
            result.skipped = skipped;
            result
        }
        Decision::Launch {
            candidates,
            skipped,
            attempt,
            dead,
        } => {
            let mut result = InstanceOutcome::of(
                original,
                Outcome::Failed {
                    reason: String::new(),
                    kind: None,
                    advice: String::new(),
                },
            );
            result.skipped = skipped;
            result
                .warnings
                .extend(dead.iter().map(|r| launching::relaunched(r, attempt)));
            result.superseded = dead;
            result.outcome = match execution {
                Execution::DryRun => launching::would_launch(&candidates),
                Execution::Live => {
                    if let Err(failed) = terminate_stuck(compute, &result.superseded).await {
                        result.outcome = failed;
                        return result;
                    }
                    let launch_with = Launch {
                        limits,
                        members,
                        incident,
                    };
                    let launching = Launching::new(
                        &result.original,
                        incident,
                        candidates,
                        attempt,
                        &result.superseded,
                    );
                    launch(compute, launch_with, &mut result, launching).await
                }
            };
            result
        }
    }
}

/// Terminates the stuck (still pending) ones of `dead` before another copy is launched; the
/// outcome to report when that fails, since two copies must never run.
async fn terminate_stuck<C: Compute>(compute: &C, dead: &[Instance]) -> Result<(), Outcome> {
    let stuck: Vec<InstanceId> = dead
        .iter()
        .filter(|r| r.state == InstanceState::Pending)
        .map(|r| r.id.clone())
        .collect();
    if stuck.is_empty() {
        return Ok(());
    }
    warn!(replacements = ?stuck, "replacements stuck pending; terminating them before launching again");
    compute
        .terminate(&stuck)
        .await
        .map_err(|error| launching::stuck_not_terminated(&stuck, &error))
}

/// Asks EC2 for the alternates `launching` names, in turn, until one launches: the candidate
/// and the instance EC2 answered with, or the outcome [`Launching`] decides on (boxed: it is
/// large). Each
/// RunInstances takes a token of the pacer first; a throttled or unanswered call is retried with
/// the same ClientToken (so a call that took effect is not repeated), with jittered backoff,
/// while the budget allows and at most [`MAX_LAUNCH_RETRIES`] times.
pub async fn first_launch<C: Compute>(
    compute: &C,
    limits: Limits<'_>,
    launching: &mut Launching,
) -> Result<(Candidate, Instance), Box<Outcome>> {
    loop {
        let Some(candidate) = launching.next(|pool| limits.capacity.is_full(pool)) else {
            return Err(Box::new(launching.exhausted()));
        };
        let template = &candidate.request.template;
        let pool = candidate.capacity_pool();
        let instance = launching.original_id().to_owned();
        info!(%instance, %template, subnet = %candidate.subnet_id, attempt = launching.attempt(), "launching");
        let mut retries = 0;
        let asked = loop {
            if !limits.pacer.take(&limits.budget).await {
                break Asked::OutOfTime(None);
            }
            // Another launch may have found the pool full while this one waited for its token.
            if limits.capacity.is_full(&pool) {
                limits.pacer.give_back();
                break Asked::Refused(launching::full_already(&pool));
            }
            match compute.launch(&candidate.request).await {
                Err(error) if matches!(error.kind, ErrorKind::Throttled | ErrorKind::Transient) => {
                    if error.kind == ErrorKind::Throttled {
                        limits.pacer.throttled();
                    }
                    retries += 1;
                    let pause = budget::backoff(retries, budget::jitter());
                    if retries >= MAX_LAUNCH_RETRIES
                        || limits.budget.left().is_some_and(|left| left < pause)
                    {
                        warn!(%instance, %template, %error, retries, "out of time retrying the launch");
                        break Asked::OutOfTime(Some(error));
                    }
                    warn!(%instance, %template, %error, retries, pause_ms = pause.as_millis() as u64, "launch not done; retrying with the same token");
                    tokio::time::sleep(pause).await;
                }
                Ok(launched) => {
                    limits.pacer.answered();
                    break Asked::Launched(launched);
                }
                Err(error) => {
                    limits.pacer.answered();
                    break Asked::Refused(error);
                }
            }
        };
        match asked {
            Asked::Launched(launched) => {
                info!(%instance, launched = %launched.id, state = %launched.state, %template, retries, "launched");
                return Ok((candidate, launched));
            }
            Asked::Refused(error) => {
                if error.kind == ErrorKind::InsufficientCapacity {
                    limits.capacity.found_full(pool);
                }
                warn!(%instance, %template, %error, "launch failed");
                if let Some(outcome) = launching.refused(&candidate, error) {
                    return Err(Box::new(outcome));
                }
            }
            Asked::OutOfTime(error) => return Err(Box::new(Launching::out_of_time(error))),
        }
    }
}

/// Launches attempt after attempt, as [`Launching`] decides: EC2 answers a ClientToken used
/// before with that launch's instance even when it has died since, so a dead answer means the
/// next attempt (a new token), starting with the next alternate. The replacement that runs is
/// recorded on the original.
async fn launch<C: Compute>(
    compute: &C,
    launch: Launch<'_>,
    result: &mut InstanceOutcome,
    mut launching: Launching,
) -> Outcome {
    let outcome = loop {
        let asked_at = chrono::Utc::now();
        let (candidate, replacement) =
            match first_launch(compute, launch.limits, &mut launching).await {
                Ok(launched) => launched,
                Err(outcome) => break *outcome,
            };
        let recorded = result.original.tag(tags::REPLACED_BY);
        let Some(state) = spent(
            compute,
            &replacement,
            recorded,
            &launching.known_dead,
            asked_at,
        )
        .await
        else {
            record_replacement(
                compute,
                launch.incident,
                launch.members,
                result,
                &replacement,
            )
            .await;
            break Launching::recovered(candidate, replacement);
        };
        warn!(replacement = %replacement.id, %state, attempt = launching.attempt(), "EC2 answered with a replacement that died: its token is spent; launching the next attempt");
        match launching.spent(&candidate, &replacement, &state) {
            Ok(warning) => result.warnings.push(warning),
            Err(outcome) => break *outcome,
        }
    };
    result.attempts = launching.attempts;
    outcome
}

/// How long before the call an answered instance must have launched for the answer to be a
/// replay of an earlier launch with the same token (EC2 answers with the first answer, its
/// state then included), and so worth a look at what the instance is now.
pub const REPLAYED_AFTER: chrono::TimeDelta = chrono::TimeDelta::seconds(60);

/// Whether the instance RunInstances answered with is a replacement that died (its token is
/// spent): the state it is in, if so. It is when this run already knows it dead, when the
/// answer says it is not starting or running, or when the answer is a replay (the instance the
/// original records as its replacement, or one launched well before the call) and EC2 shows it
/// stopped or terminated, or no longer shows it although it launched more than
/// [`REPLAYED_AFTER`] ago (a younger one may just not be visible yet). A read that fails
/// counts it alive: a second copy is worse than a late one.
async fn spent<C: Compute>(
    compute: &C,
    answered: &Instance,
    recorded: Option<&str>,
    known_dead: &[InstanceId],
    asked_at: chrono::DateTime<chrono::Utc>,
) -> Option<String> {
    if known_dead.contains(&answered.id) {
        return Some("died earlier in this incident".into());
    }
    if answered.state != InstanceState::default() && !answered.is_starting_or_running() {
        return Some(answered.state.to_string());
    }
    let old = answered
        .launched_at
        .is_some_and(|at| at < asked_at - REPLAYED_AFTER);
    if !old && recorded != Some(answered.id.as_str()) {
        return None;
    }
    match compute.states(std::slice::from_ref(&answered.id)).await {
        Ok(found) => match found.into_iter().find(|(id, _)| *id == answered.id) {
            Some((_, state)) if state.is_starting_or_running() => None,
            Some((_, state)) => Some(state.to_string()),
            None if old => Some("terminated (no longer described)".into()),
            None => None,
        },
        Err(error) => {
            warn!(replacement = %answered.id, %error, "could not read whether a replayed launch still runs; taking it as running");
            None
        }
    }
}

/// What one launch writes besides the instance: the incident, and the original's registrations
/// to remember.
#[derive(Clone, Copy)]
struct Launch<'a> {
    limits: Limits<'a>,
    members: &'a [(String, String)],
    incident: &'a IncidentId,
}

/// Records the replacement on the original (`replaced-by`, `incident`) and remembers its
/// registrations (`members`), in one CreateTags, unless the original says all that already:
/// after a crash or a lost tag, the replacement's own tag is the truth.
pub(crate) async fn record_replacement<C: Compute>(
    compute: &C,
    incident: &IncidentId,
    members: &[(String, String)],
    result: &mut InstanceOutcome,
    replacement: &Instance,
) {
    let original_id = result.original.id.clone();
    if result.original.tag(tags::REPLACED_BY) == Some(replacement.id.as_str())
        && result.original.tag(tags::LAST_ATTEMPT) == replacement.tag(tags::ATTEMPT)
        && members.is_empty()
    {
        return;
    }
    let incident = replacement
        .tag(tags::INCIDENT)
        .map_or_else(|| incident.to_string(), str::to_owned);
    let mut record = vec![
        (tags::REPLACED_BY.to_owned(), replacement.id.to_string()),
        (tags::INCIDENT.to_owned(), incident),
    ];
    // The attempt goes on the original too: it outlives the replacement in Describe.
    if let Some(attempt) = replacement.tag(tags::ATTEMPT) {
        record.push((tags::LAST_ATTEMPT.to_owned(), attempt.to_owned()));
    }
    let id = std::slice::from_ref(&original_id);
    let both: Vec<(String, String)> = record.iter().chain(members).cloned().collect();
    // One call in the common case; when it fails (an original near EC2's 50 tags, say), the
    // record that fencing relies on goes alone first, then what to remember.
    let written = match compute.tag(id, &both).await {
        Ok(()) => Ok(both),
        Err(_) if !members.is_empty() => match compute.tag(id, &record).await {
            Ok(()) => {
                if let Err(error) = compute.tag(id, members).await {
                    warn!(instance = %original_id, %error, "could not remember the original's target groups");
                    result
                        .warnings
                        .push(launching::members_not_remembered(&error));
                    Ok(record)
                } else {
                    Ok(both)
                }
            }
            Err(error) => Err(error),
        },
        Err(error) => Err(error),
    };
    match written {
        Ok(written) => {
            info!(instance = %original_id, replacement = %replacement.id, "original tagged with its replacement");
            result.original.tags.extend(written);
        }
        Err(error) => {
            warn!(instance = %original_id, %error, "could not tag the original with its replacement");
            result
                .warnings
                .push(launching::original_not_tagged(&replacement.id, &error));
        }
    }
}
