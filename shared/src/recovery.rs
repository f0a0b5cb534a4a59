//! Carries out a recovery plan: launches replacements, trying the next alternate when one has
//! no capacity or cannot be used, and records the replacement on the original.

use futures::StreamExt;
use tracing::{info, warn};

use crate::alarm::IncidentId;
use crate::error::{AwsError, ErrorKind};
use crate::inventory::Instance;
use crate::plan::{Candidate, Decision, PlannedInstance, SkippedTemplate};
use crate::ports::Compute;
use crate::tags::{self, TemplateRef};

/// A launch that failed.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Attempt {
    /// The template tried.
    pub template: TemplateRef,
    /// What EC2 answered.
    pub error: AwsError,
}

/// How the recovery of one instance ended.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum Outcome {
    /// A replacement was launched now.
    Recovered {
        /// The replacement, as EC2 returned it.
        replacement: Instance,
        /// The template it came from.
        template: TemplateRef,
        /// Where it runs.
        subnet_id: String,
        /// The Outpost it runs on, if any.
        outpost_arn: Option<String>,
    },
    /// A live replacement existed already.
    AlreadyRecovered {
        /// The replacement.
        replacement: Instance,
    },
    /// Notify-only mode: this launch would be tried first.
    WouldLaunch {
        /// The first alternate.
        template: TemplateRef,
        /// Where it would land.
        subnet_id: String,
        /// Further alternates, in order.
        fallbacks: Vec<TemplateRef>,
    },
    /// A DRS recovery job was started for the instance's source server.
    DrsStarted {
        /// The job.
        job_id: String,
        /// The source server.
        source_server_id: String,
        /// The stopped instance DRS launches into.
        target_id: String,
        /// Launch-configuration updates applied first.
        updates: Vec<crate::drs::LaunchUpdate>,
    },
    /// A DRS recovery job runs already.
    DrsAlreadyStarted {
        /// The job.
        job_id: String,
    },
    /// Notify-only mode: DRS recovery would start.
    WouldStartDrs {
        /// The source server.
        source_server_id: String,
        /// The stopped instance DRS would launch into.
        target_id: String,
        /// Launch-configuration updates that would be applied first.
        updates: Vec<crate::drs::LaunchUpdate>,
    },
    /// No replacement; the reason and advice say what to do.
    Failed {
        /// What went wrong.
        reason: String,
        /// The kind of the last error, if an AWS call failed.
        kind: Option<ErrorKind>,
        /// What the operator must do.
        advice: String,
    },
}

/// The recovery of one protected instance.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct InstanceOutcome {
    /// The protected instance on the failed Outpost.
    pub original: Instance,
    /// How it ended.
    pub outcome: Outcome,
    /// Templates passed over before any launch.
    pub skipped: Vec<SkippedTemplate>,
    /// Launches that failed before the outcome.
    pub attempts: Vec<Attempt>,
    /// Things that went wrong without changing the outcome.
    pub warnings: Vec<String>,
}

impl InstanceOutcome {
    /// The replacement, recovered now or earlier.
    pub fn replacement(&self) -> Option<&Instance> {
        match &self.outcome {
            Outcome::Recovered { replacement, .. } | Outcome::AlreadyRecovered { replacement } => {
                Some(replacement)
            }
            _ => None,
        }
    }
}

/// Whether launches happen or are only reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Execution {
    /// Launch and tag.
    Live,
    /// Change nothing; report what would be launched.
    DryRun,
}

/// Carries out every decision, at most `concurrency` at once; outcomes keep the plan's order.
pub async fn execute<C: Compute>(
    compute: &C,
    incident: &IncidentId,
    plan: Vec<PlannedInstance>,
    concurrency: usize,
    execution: Execution,
) -> Vec<InstanceOutcome> {
    futures::stream::iter(plan)
        .map(|planned| recover_one(compute, incident, planned, execution))
        .buffered(concurrency.max(1))
        .collect()
        .await
}

impl InstanceOutcome {
    /// An outcome with nothing skipped, tried or warned about yet.
    pub(crate) fn of(original: Instance, outcome: Outcome) -> Self {
        Self {
            original,
            outcome,
            skipped: Vec::new(),
            attempts: Vec::new(),
            warnings: Vec::new(),
        }
    }
}

/// A failure known before any launch.
pub(crate) fn failed(
    original: Instance,
    reason: String,
    kind: Option<ErrorKind>,
    advice: String,
) -> InstanceOutcome {
    InstanceOutcome::of(
        original,
        Outcome::Failed {
            reason,
            kind,
            advice,
        },
    )
}

async fn recover_one<C: Compute>(
    compute: &C,
    incident: &IncidentId,
    planned: PlannedInstance,
    execution: Execution,
) -> InstanceOutcome {
    let PlannedInstance { original, decision } = planned;
    let mut result = InstanceOutcome {
        original,
        outcome: Outcome::Failed {
            reason: String::new(),
            kind: None,
            advice: String::new(),
        },
        skipped: Vec::new(),
        attempts: Vec::new(),
        warnings: Vec::new(),
    };
    match decision {
        Decision::AlreadyRecovered { replacement } => {
            info!(instance = %result.original.id, replacement = %replacement.id, "already recovered; nothing to launch");
            result.outcome = Outcome::AlreadyRecovered { replacement };
        }
        Decision::Unrecoverable { reason, skipped } => {
            warn!(instance = %result.original.id, %reason, "cannot recover");
            result.skipped = skipped;
            result.outcome = Outcome::Failed {
                reason,
                kind: None,
                advice: "fix the instance's autorestart tags or its recovery templates.".into(),
            };
        }
        Decision::Launch {
            candidates,
            skipped,
        } => {
            result.skipped = skipped;
            result.outcome = match execution {
                Execution::DryRun => would_launch(&candidates),
                Execution::Live => {
                    launch_first_that_works(compute, incident, &mut result, candidates).await
                }
            };
        }
    }
    result
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

/// Tries each candidate in order, falling through to the next when one has no capacity or its
/// template cannot be used; every failed try is added to `attempts`. The candidate that
/// launched and its instance; or the error that ended the tries, none when all were tried.
pub(crate) async fn launch_first<C: Compute>(
    compute: &C,
    instance_id: &str,
    candidates: Vec<Candidate>,
    attempts: &mut Vec<Attempt>,
) -> Result<(Candidate, Instance), Option<AwsError>> {
    for candidate in candidates {
        let template = candidate.request.template.clone();
        info!(instance = %instance_id, %template, subnet = %candidate.subnet_id, "launching");
        match compute.launch(&candidate.request).await {
            Ok(launched) => {
                info!(instance = %instance_id, launched = %launched.id, %template, "launched");
                return Ok((candidate, launched));
            }
            Err(error) => {
                let next = matches!(
                    error.kind,
                    ErrorKind::InsufficientCapacity | ErrorKind::UnusableTemplate
                );
                warn!(instance = %instance_id, %template, %error, "launch failed{}", if next { "; trying the next alternate" } else { "" });
                attempts.push(Attempt {
                    template,
                    error: error.clone(),
                });
                if !next {
                    return Err(Some(error));
                }
            }
        }
    }
    Err(None)
}

async fn launch_first_that_works<C: Compute>(
    compute: &C,
    incident: &IncidentId,
    result: &mut InstanceOutcome,
    candidates: Vec<Candidate>,
) -> Outcome {
    let original_id = result.original.id.clone();
    match launch_first(compute, &original_id, candidates, &mut result.attempts).await {
        Ok((candidate, replacement)) => {
            let record = [
                (tags::REPLACED_BY.to_owned(), replacement.id.clone()),
                (tags::INCIDENT.to_owned(), incident.to_string()),
            ];
            if let Err(error) = compute
                .tag(std::slice::from_ref(&original_id), &record)
                .await
            {
                warn!(instance = %original_id, %error, "could not tag the original with its replacement");
                result.warnings.push(format!(
                    "the original was not tagged {}={} ({error}); the replacement's own tags still prevent a second launch",
                    tags::REPLACED_BY,
                    replacement.id
                ));
            }
            Outcome::Recovered {
                replacement,
                template: candidate.request.template,
                subnet_id: candidate.subnet_id,
                outpost_arn: candidate.outpost_arn,
            }
        }
        Err(Some(error)) => {
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
        Err(None) => {
            let last_kind = result.attempts.last().map(|a| a.error.kind);
            let tried: Vec<String> = result
                .attempts
                .iter()
                .map(|a| format!("{}: {}", a.template, a.error.kind))
                .collect();
            Outcome::Failed {
                reason: format!("every alternate failed ({})", tried.join("; ")),
                kind: last_kind,
                advice: last_kind.unwrap_or(ErrorKind::Other).advice().into(),
            }
        }
    }
}
