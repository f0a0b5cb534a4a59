//! Carries out a recovery plan: launches replacements, trying the next alternate when one has
//! no capacity or cannot be used, and records the replacement on the original.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;

use futures::StreamExt;
use tracing::{info, warn};

use autorestart_core::alarm::IncidentId;
use autorestart_core::error::{AwsError, ErrorKind};
use autorestart_core::inventory::Instance;
use autorestart_core::outcome::{Attempt, Execution, InstanceOutcome, Outcome, failed};
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
    remember: &HashMap<String, Vec<(String, String)>>,
    incident: &IncidentId,
    plan: Vec<PlannedInstance>,
    concurrency: usize,
    execution: Execution,
) -> Vec<InstanceOutcome> {
    let none = Vec::new();
    futures::stream::iter(plan)
        .map(|planned| {
            let members = remember.get(&planned.original.id).unwrap_or(&none);
            recover_one(compute, limits, members, incident, planned, execution)
        })
        .buffered(concurrency.max(1))
        .collect()
        .await
}

#[tracing::instrument(name = "instance", skip_all, fields(instance = %planned.original.id, incident = %incident))]
async fn recover_one<C: Compute>(
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
                "fix the instance's autorestart tags or its recovery templates.".into(),
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
            for r in &dead {
                let state = if r.state == InstanceState::Pending {
                    "stuck pending (terminated)"
                } else {
                    r.state.as_str()
                };
                result.warnings.push(format!(
                    "replacement {} launched earlier in this incident is {state}: launched again (attempt {attempt})",
                    r.id
                ));
            }
            result.superseded = dead;
            result.outcome = match execution {
                Execution::DryRun => would_launch(&candidates),
                Execution::Live => {
                    if let Err(failed) = terminate_stuck(compute, &result.superseded).await {
                        result.outcome = failed;
                        return result;
                    }
                    let launch = Launch {
                        limits,
                        members,
                        incident,
                    };
                    launch_attempts(compute, launch, &mut result, candidates, attempt).await
                }
            };
            result
        }
    }
}

fn would_launch(candidates: &[Candidate]) -> Outcome {
    let first = &candidates[0];
    Outcome::WouldLaunch {
        template: first.request.template.clone(),
        subnet_id: first.subnet_id.clone(),
        fallbacks: candidates[1..]
            .iter()
            .map(|c| c.request.template.clone())
            .collect(),
    }
}

/// Terminates the stuck (still pending) ones of `dead` before another copy is launched; the
/// outcome to report when that fails, since two copies must never run.
async fn terminate_stuck<C: Compute>(compute: &C, dead: &[Instance]) -> Result<(), Outcome> {
    let stuck: Vec<String> = dead
        .iter()
        .filter(|r| r.state == InstanceState::Pending)
        .map(|r| r.id.clone())
        .collect();
    if stuck.is_empty() {
        return Ok(());
    }
    warn!(replacements = ?stuck, "replacements stuck pending; terminating them before launching again");
    compute.terminate(&stuck).await.map_err(|error| Outcome::Failed {
        reason: format!(
            "replacement {} is stuck pending (longer than the launch wait, or on an Outpost that is down now) and could not be terminated ({error}); no second copy was launched",
            stuck.join(", "),
        ),
        kind: Some(error.kind),
        advice: format!(
            "terminate {} by hand (it will not run), then re-run or wait for the sweep. {}",
            stuck.join(", "),
            error.kind.advice()
        ),
    })
}

/// Most retries of one launch that is throttled or unanswered, however much time is left: past
/// them the instance is left to the next run.
pub const MAX_LAUNCH_RETRIES: u32 = 30;

/// Why [`launch_first`] launched nothing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LaunchStop {
    /// An error that another alternate cannot help with.
    Error(AwsError),
    /// Every alternate was tried and failed.
    Exhausted,
    /// The invocation's time ran out while throttled or unanswered; the last error, if any.
    OutOfTime(Option<AwsError>),
}

/// Tries each candidate in order, falling through to the next when one has no capacity or its
/// template cannot be used; every failed try is added to `attempts`. Each RunInstances takes a
/// token of the pacer first; a throttled or unanswered call is retried with the same
/// ClientToken (so a call that took effect is not repeated), with jittered backoff, until
/// the budget runs out. The candidate that launched and its instance, or why none did.
pub async fn launch_first<C: Compute>(
    compute: &C,
    limits: Limits<'_>,
    instance_id: &str,
    candidates: Vec<Candidate>,
    attempts: &mut Vec<Attempt>,
) -> Result<(Candidate, Instance), LaunchStop> {
    for candidate in candidates {
        let template = candidate.request.template.clone();
        let pool = candidate.capacity_pool();
        if limits.capacity.is_full(&pool) {
            info!(instance = %instance_id, %template, %pool, "passed over: found full earlier in this run");
            attempts.push(Attempt {
                template,
                error: full_already(&pool),
            });
            continue;
        }
        info!(instance = %instance_id, %template, subnet = %candidate.subnet_id, "launching");
        let mut retries = 0;
        let answer = loop {
            if !limits.pacer.take(&limits.budget).await {
                return Err(LaunchStop::OutOfTime(None));
            }
            // Another launch may have found the pool full while this one waited for its token.
            if limits.capacity.is_full(&pool) {
                limits.pacer.give_back();
                break Err(full_already(&pool));
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
                        warn!(instance = %instance_id, %template, %error, retries, "out of time retrying the launch");
                        return Err(LaunchStop::OutOfTime(Some(error)));
                    }
                    warn!(instance = %instance_id, %template, %error, retries, pause_ms = pause.as_millis() as u64, "launch not done; retrying with the same token");
                    tokio::time::sleep(pause).await;
                }
                answer => {
                    limits.pacer.answered();
                    break answer;
                }
            }
        };
        match answer {
            Ok(launched) => {
                info!(instance = %instance_id, launched = %launched.id, state = %launched.state, %template, retries, "launched");
                return Ok((candidate, launched));
            }
            Err(error) => {
                if error.kind == ErrorKind::InsufficientCapacity {
                    limits.capacity.found_full(pool);
                }
                let next = error.kind.tries_next_alternate();
                warn!(instance = %instance_id, %template, %error, "launch failed{}", if next { "; trying the next alternate" } else { "" });
                attempts.push(Attempt {
                    template,
                    error: error.clone(),
                });
                if !next {
                    return Err(LaunchStop::Error(error));
                }
            }
        }
    }
    Err(LaunchStop::Exhausted)
}

/// How the attempt of an alternate passed over because its pool was found full begins.
const NOT_ASKED: &str = "not asked:";

/// The attempt recorded for an alternate passed over because this run found its pool full.
fn full_already(pool: &str) -> AwsError {
    AwsError::from_code(
        "ec2:RunInstances",
        "InsufficientInstanceCapacity",
        format!("{NOT_ASKED} an earlier launch of this run found no room in {pool}"),
    )
}

/// Launches attempt after attempt: EC2 answers a ClientToken used before with that launch's
/// instance even when it has died since, so a dead answer means the next attempt (a new
/// token), starting with the next alternate.
async fn launch_attempts<C: Compute>(
    compute: &C,
    launch: Launch<'_>,
    result: &mut InstanceOutcome,
    mut candidates: Vec<Candidate>,
    mut attempt: u32,
) -> Outcome {
    let incident = launch.incident;
    let mut known_dead: Vec<String> = result.superseded.iter().map(|r| r.id.clone()).collect();
    loop {
        let (outcome, spent) =
            launch_first_that_works(compute, launch, result, candidates.clone(), &known_dead).await;
        let (
            Outcome::Recovered {
                replacement,
                subnet_id,
                ..
            },
            Some(state),
        ) = (&outcome, spent)
        else {
            return outcome;
        };
        warn!(instance = %result.original.id, replacement = %replacement.id, %state, attempt, "EC2 answered with a replacement that died: its token is spent; launching the next attempt");
        result.warnings.push(format!(
            "attempt {attempt} answered with {} ({state}), a replacement that died: launched again",
            replacement.id
        ));
        known_dead.push(replacement.id.clone());
        attempt += 1;
        if attempt > autorestart_core::plan::MAX_ATTEMPTS {
            return Outcome::Failed {
                reason: format!(
                    "{} attempts launched replacements that died; not launching again",
                    autorestart_core::plan::MAX_ATTEMPTS
                ),
                kind: None,
                advice: "find out why the replacements stop or terminate (capacity, the AMI, user data), then re-run.".into(),
            };
        }
        if let Some(at) = candidates.iter().position(|c| &c.subnet_id == subnet_id) {
            candidates.rotate_left(at + 1);
        }
        for candidate in &mut candidates {
            candidate.request = autorestart_core::plan::launch_request(
                &result.original,
                incident,
                candidate.request.template.clone(),
                attempt,
            );
        }
    }
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
    known_dead: &[String],
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
async fn record_replacement<C: Compute>(
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
        (tags::REPLACED_BY.to_owned(), replacement.id.clone()),
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
                    result.warnings.push(format!(
                        "its target groups could not be remembered on it ({error}); should its replacement die, the next one is registered only where the original still is"
                    ));
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
            result.warnings.push(format!(
                "the original was not tagged {}={} ({error}); the replacement's own tags still prevent a second launch, and the next run tags it",
                tags::REPLACED_BY,
                replacement.id
            ));
        }
    }
}

async fn launch_first_that_works<C: Compute>(
    compute: &C,
    launch: Launch<'_>,
    result: &mut InstanceOutcome,
    candidates: Vec<Candidate>,
    known_dead: &[String],
) -> (Outcome, Option<String>) {
    let original_id = result.original.id.clone();
    let tries = &mut result.attempts;
    let asked_at = chrono::Utc::now();
    let outcome = match launch_first(compute, launch.limits, &original_id, candidates, tries).await
    {
        Ok((candidate, replacement)) => {
            let recorded = result.original.tag(tags::REPLACED_BY);
            let dead = spent(compute, &replacement, recorded, known_dead, asked_at).await;
            if dead.is_none() {
                let (incident, members) = (launch.incident, launch.members);
                record_replacement(compute, incident, members, result, &replacement).await;
            }
            let outcome = Outcome::Recovered {
                replacement,
                template: candidate.request.template,
                subnet_id: candidate.subnet_id,
                outpost_arn: candidate.outpost_arn,
            };
            return (outcome, dead);
        }
        Err(LaunchStop::Error(error)) => {
            let template = result
                .attempts
                .last()
                .map(|a| a.template.to_string())
                .unwrap_or_default();
            Outcome::Failed {
                reason: format!("launch from {template} failed: {error}"),
                kind: Some(error.kind),
                advice: error.kind.advice().into(),
            }
        }
        Err(LaunchStop::OutOfTime(error)) => Outcome::Unfinished {
            reason: match error {
                Some(error) => format!(
                    "the invocation's time ran out while EC2 did not launch ({error}); the next sweep launches it"
                ),
                None => {
                    "the invocation's time ran out before its launch; the next sweep launches it"
                        .into()
                }
            },
        },
        Err(LaunchStop::Exhausted) => {
            let last_kind = result.attempts.last().map(|a| a.error.kind);
            let tried: Vec<String> = result
                .attempts
                .iter()
                .map(|a| {
                    if a.error.message.starts_with(NOT_ASKED) {
                        format!("{}: not asked, found full earlier in this run", a.template)
                    } else {
                        format!("{}: {} ({})", a.template, a.error.kind, a.error.code)
                    }
                })
                .collect();
            // Refused by IAM anywhere: that fix is the one to name, whatever failed last.
            let refused = result
                .attempts
                .iter()
                .any(|a| a.error.kind == ErrorKind::AccessDenied);
            let kind = if refused {
                Some(ErrorKind::AccessDenied)
            } else {
                last_kind
            };
            Outcome::Failed {
                reason: format!("every alternate failed ({})", tried.join("; ")),
                kind,
                advice: kind.unwrap_or(ErrorKind::Other).advice().into(),
            }
        }
    };
    (outcome, None)
}
