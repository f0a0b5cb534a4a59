//! Starts warm standbys instead of launching: the standbys of a wave's instances linked to
//! their originals first (so that a crash leaves a replacement the next run knows), then
//! started in one `StartInstances`, then recorded on the originals as a launch is. A standby
//! that does not start is unlinked again and its original launched from its templates.

use std::collections::HashMap;

use futures::StreamExt;
use tracing::{info, warn};

use autorestart_core::alarm::IncidentId;
use autorestart_core::error::AwsError;
use autorestart_core::ids::InstanceId;
use autorestart_core::inventory::Instance;
use autorestart_core::outcome::{Execution, InstanceOutcome, Outcome};
use autorestart_core::plan::{Decision, PlannedInstance};
use autorestart_core::vocabulary::InstanceState;
use autorestart_core::{standby, tags};

use crate::launch;
use crate::ports::Compute;

/// What starting the standbys left: the outcomes of those started, the decisions left to
/// launch, and the warnings for the outcomes of those (a standby that did not start, or one a
/// dry run would start).
pub(crate) struct Started {
    pub(crate) outcomes: Vec<InstanceOutcome>,
    pub(crate) to_launch: Vec<PlannedInstance>,
    pub(crate) warnings: Vec<(InstanceId, String)>,
}

/// Starts the standbys (`standbys`, by original) of the decisions to launch a first copy.
pub(crate) async fn start_standbys<C: Compute>(
    compute: &C,
    incident: &IncidentId,
    remember: &HashMap<InstanceId, Vec<(String, String)>>,
    plan: Vec<PlannedInstance>,
    standbys: &HashMap<InstanceId, Instance>,
    execution: Execution,
    concurrency: usize,
) -> Started {
    let mut done = Started {
        outcomes: Vec::new(),
        to_launch: Vec::new(),
        warnings: Vec::new(),
    };
    let mut chosen: Vec<(PlannedInstance, Instance)> = Vec::new();
    for planned in plan {
        let first_copy =
            matches!(&planned.decision, Decision::Launch { dead, .. } if dead.is_empty());
        match standbys.get(&planned.original.id) {
            Some(s) if first_copy => chosen.push((planned, s.clone())),
            _ => done.to_launch.push(planned),
        }
    }
    if chosen.is_empty() {
        return done;
    }
    if execution == Execution::DryRun {
        for (planned, s) in chosen {
            done.warnings.push((
                planned.original.id.clone(),
                format!("its standby {} would be started instead of a launch", s.id),
            ));
            done.to_launch.push(planned);
        }
        return done;
    }
    // Linked first: a crash after the start leaves a replacement, not a stray copy.
    let links: Vec<(PlannedInstance, Instance, Result<(), AwsError>)> =
        futures::stream::iter(chosen)
            .map(|(planned, s)| async move {
                let link = [(
                    tags::REPLACEMENT_OF.to_owned(),
                    planned.original.id.to_string(),
                )];
                let linked = compute.tag(std::slice::from_ref(&s.id), &link).await;
                (planned, s, linked)
            })
            .buffered(concurrency.max(1))
            .collect()
            .await;
    let mut linked: Vec<(PlannedInstance, Instance)> = Vec::new();
    for (planned, s, answer) in links {
        match answer {
            Ok(()) => linked.push((planned, s)),
            Err(error) => {
                warn!(standby = %s.id, %error, "could not link the standby to its original; launching instead");
                done.warnings.push((
                    planned.original.id.clone(),
                    standby::not_started(&s.id, &error),
                ));
                done.to_launch.push(planned);
            }
        }
    }
    let ids: Vec<InstanceId> = linked.iter().map(|(_, s)| s.id.clone()).collect();
    if ids.is_empty() {
        return done;
    }
    let refused = start(compute, &ids).await;
    let mut started: Vec<(PlannedInstance, Instance)> = Vec::new();
    for (planned, s) in linked {
        if let Some(error) = refused.get(&s.id) {
            warn!(standby = %s.id, %error, "the standby did not start; launching instead");
            unlink(compute, &s, &planned.original.id).await;
            done.warnings.push((
                planned.original.id.clone(),
                standby::not_started(&s.id, error),
            ));
            done.to_launch.push(planned);
        } else {
            info!(original = %planned.original.id, standby = %s.id, "standby started");
            started.push((planned, s));
        }
    }
    // No longer standbys: protected themselves, as launched replacements are.
    let ids: Vec<InstanceId> = started.iter().map(|(_, s)| s.id.clone()).collect();
    if !ids.is_empty()
        && let Err(error) = compute.untag(&ids, &standby::STARTED_CLEARS).await
    {
        warn!(%error, "could not remove standby-for from the started standbys");
    }
    let recorded: Vec<InstanceOutcome> = futures::stream::iter(started)
        .map(|(planned, mut s)| async move {
            s.tags.remove(tags::STANDBY_FOR);
            s.tags
                .insert(tags::REPLACEMENT_OF.into(), planned.original.id.to_string());
            // Its own incident tag (the one its ClientToken proves) stays on it; the original
            // records this incident.
            s.tags.remove(tags::INCIDENT);
            s.state = "pending".into();
            let members = remember
                .get(&planned.original.id)
                .map_or(&[][..], Vec::as_slice);
            let mut result = InstanceOutcome::of(
                planned.original,
                Outcome::Recovered {
                    template: standby::template_of(&s),
                    subnet_id: s.subnet_id.clone().unwrap_or_default(),
                    outpost_arn: s.outpost_arn.clone(),
                    replacement: s.clone(),
                    standby: true,
                },
            );
            launch::record_replacement(compute, incident, members, &mut result, &s).await;
            result
        })
        .buffered(concurrency.max(1))
        .collect()
        .await;
    done.outcomes.extend(recorded);
    done
}

/// Starts `ids` in one call; when EC2 refuses the call, each alone, so that one that cannot
/// start does not hold back the others. The refusals, by instance.
async fn start<C: Compute>(compute: &C, ids: &[InstanceId]) -> HashMap<InstanceId, AwsError> {
    let mut refused = HashMap::new();
    match compute.start(ids).await {
        Ok(()) => {}
        Err(error) if ids.len() == 1 => {
            refused.insert(ids[0].clone(), error);
        }
        Err(_) => {
            for id in ids {
                if let Err(error) = compute.start(std::slice::from_ref(id)).await {
                    refused.insert(id.clone(), error);
                }
            }
        }
    }
    refused
}

/// A standby that did not start goes back to being one: its link removed, `standby-for` kept.
async fn unlink<C: Compute>(compute: &C, s: &Instance, original: &InstanceId) {
    let id = std::slice::from_ref(&s.id);
    if let Err(error) = compute.untag(id, &[tags::REPLACEMENT_OF]).await {
        warn!(standby = %s.id, %original, %error, "could not unlink a standby that did not start; the next run sees it as a stopped replacement and launches another");
    }
}

/// What `make` did.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Made {
    /// The original the standby is for.
    pub original_id: InstanceId,
    /// The standby.
    pub standby_id: InstanceId,
    /// The recovery template it was launched from.
    pub template: String,
    /// Whether it was launched now (false: a usable standby existed).
    pub created: bool,
    /// Its state at the end: `stopped` when done.
    pub state: String,
}

/// Why `make` did nothing.
#[derive(Debug, thiserror::Error)]
pub enum MakeError {
    /// The request cannot be done as asked; the message says why and what to do.
    #[error("{0}")]
    Refused(String),
    /// An AWS call failed.
    #[error(transparent)]
    Aws(#[from] AwsError),
}

/// Makes a warm standby of a running, opted-in, template-strategy instance: launched from its
/// first recovery template on another Outpost with the agent's ClientToken (`standby::
/// launch_request`), waited for until it runs (at most `wait`), then stopped. Safe to run
/// again: a usable standby is reported, not doubled; a launch EC2 answers with an instance
/// since terminated goes on with the next attempt's token.
pub async fn make<C: Compute>(
    compute: &C,
    original_id: &InstanceId,
    poll: std::time::Duration,
    wait: std::time::Duration,
) -> Result<Made, MakeError> {
    let original = compute
        .instances(std::slice::from_ref(original_id))
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| MakeError::Refused(format!("instance {original_id} not found")))?;
    if !original.is_opted_in() {
        return Err(MakeError::Refused(format!(
            "{original_id} is not opted in: tag it {}=true first",
            tags::ENABLED
        )));
    }
    if autorestart_core::plan::uses_drs(&original) {
        return Err(MakeError::Refused(format!(
            "{original_id} is recovered with DRS, which launches into its own target: a standby is for the template strategy"
        )));
    }
    let existing = compute
        .instances_tagged(tags::STANDBY_FOR, &[original_id.to_string()])
        .await?;
    let none_down = std::collections::HashSet::new();
    if let Some(s) = existing
        .iter()
        .find(|s| standby::judge(&original, s, &none_down).is_ok())
    {
        return Ok(Made {
            original_id: original_id.clone(),
            standby_id: s.id.clone(),
            template: standby::template_of(s).to_string(),
            created: false,
            state: s.state.to_string(),
        });
    }
    let templates = tags::parse_recovery_templates(original.tag(tags::RECOVERY_TEMPLATES))
        .map_err(|e| MakeError::Refused(format!("{original_id}: {e}")))?;
    let targets = compute.template_targets(&templates).await?;
    let own = original.outpost_arn.clone();
    let template = targets
        .into_iter()
        .find_map(|(template, target)| match target {
            autorestart_core::inventory::TemplateTarget::Subnet { outpost_arn, .. }
                if outpost_arn.is_some() && outpost_arn != own =>
            {
                Some(template)
            }
            _ => None,
        })
        .ok_or_else(|| {
            MakeError::Refused(format!(
                "none of {original_id}'s recovery templates launches onto another Outpost: run autorestart template for it first"
            ))
        })?;
    let mut standby_instance = None;
    for attempt in 1..=autorestart_core::proof::MAX_ATTEMPTS {
        let request = standby::launch_request(&original, template.clone(), attempt);
        let launched = compute.launch(&request).await?;
        let now = compute
            .states(std::slice::from_ref(&launched.id))
            .await?
            .into_iter()
            .find(|(id, _)| *id == launched.id)
            .map_or(launched.state.clone(), |(_, s)| s);
        if now.is_gone() {
            info!(standby = %launched.id, attempt, "this attempt's standby is gone; the next token");
            continue;
        }
        // EC2 answers a used token with its instance: one a recovery started since serves now
        // (no longer standby-for, linked): never stopped here; the next token.
        let current = compute
            .instances(std::slice::from_ref(&launched.id))
            .await?
            .into_iter()
            .next();
        if current.as_ref().is_some_and(|c| {
            c.tag(tags::STANDBY_FOR).is_none() || c.tag(tags::REPLACEMENT_OF).is_some()
        }) {
            info!(instance = %launched.id, attempt, "this attempt's standby serves now; the next token");
            continue;
        }
        standby_instance = Some(launched);
        break;
    }
    let Some(launched) = standby_instance else {
        return Err(MakeError::Refused(format!(
            "every attempt's token of {original_id}'s standby answered with a terminated instance"
        )));
    };
    info!(original = %original_id, standby = %launched.id, %template, "standby launched; waiting for it to run once");
    let until = tokio::time::Instant::now() + wait;
    let state = loop {
        let state = compute
            .states(std::slice::from_ref(&launched.id))
            .await?
            .into_iter()
            .find(|(id, _)| *id == launched.id)
            .map(|(_, s)| s);
        match state {
            Some(s @ (InstanceState::Running | InstanceState::Stopped)) => break s,
            Some(s) if s.is_gone() => {
                return Err(MakeError::Refused(format!(
                    "standby {} of {original_id} was {s} before it ran",
                    launched.id
                )));
            }
            _ if tokio::time::Instant::now() >= until => {
                return Err(MakeError::Refused(format!(
                    "standby {} of {original_id} did not run within {} s; run again to go on",
                    launched.id,
                    wait.as_secs()
                )));
            }
            _ => tokio::time::sleep(poll).await,
        }
    };
    if state == InstanceState::Running {
        compute.stop(std::slice::from_ref(&launched.id)).await?;
    }
    Ok(Made {
        original_id: original_id.clone(),
        standby_id: launched.id.clone(),
        template: template.to_string(),
        created: true,
        state: "stopped".into(),
    })
}
