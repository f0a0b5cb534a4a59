//! The recovery planner: from what was read, decide for each protected instance whether and
//! where to launch its replacement. Pure: no AWS here.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};

use crate::alarm::{IncidentId, OutpostId};
use crate::inventory::LaunchRequest;
use crate::inventory::{Instance, TemplateTarget};
use crate::proof;
use crate::tags::{self, TemplateRef};
use crate::vocabulary::InstanceState;

/// What was read from AWS for one outage.
#[derive(Clone, Debug)]
pub struct Snapshot<'a> {
    /// The Outpost that went down.
    pub outpost: &'a OutpostId,
    /// The outage.
    pub incident: &'a IncidentId,
    /// Opted-in instances on that Outpost.
    pub instances: &'a [Instance],
    /// Instances (in any state EC2 still shows) tagged as replacements of any of them.
    pub replacements: &'a [Instance],
    /// Where each named template would launch.
    pub template_targets: &'a HashMap<TemplateRef, TemplateTarget>,
    /// Outposts whose ConnectedStatus alarm is in ALARM now (the failed one among them):
    /// nothing is launched onto them.
    pub down_outposts: &'a HashSet<OutpostId>,
    /// When this was read.
    pub now: DateTime<Utc>,
    /// How long a replacement may stay `pending` (`Settings::launch_wait`).
    pub launch_wait: std::time::Duration,
}

/// How long a replacement may stay `pending` by default (`Settings::launch_wait`): EC2 runs
/// an instance within a minute or two, so one still pending after this will not run. It is
/// stuck: terminated, then launched again.
pub const LAUNCH_WAIT: std::time::Duration = std::time::Duration::from_secs(600);

pub use crate::proof::{MAX_ATTEMPTS, client_token};

/// A template passed over, and why.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct SkippedTemplate {
    /// The template.
    pub template: TemplateRef,
    /// Why it was passed over.
    pub reason: String,
}

/// One launch the executor may try, in order.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Candidate {
    /// The launch itself.
    pub request: LaunchRequest,
    /// Where it lands.
    pub subnet_id: String,
    /// The Outpost it lands on, if any.
    pub outpost_arn: Option<String>,
    /// The instance type the template launches, when it names one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance_type: Option<String>,
}

impl Candidate {
    /// The capacity this launch draws on: an Outpost server's slots are per instance type, so
    /// `InsufficientInstanceCapacity` says that this subnet has no room for this type (or, when
    /// the type is not known, for this template's launches).
    pub fn capacity_pool(&self) -> String {
        let what = self
            .instance_type
            .as_deref()
            .unwrap_or(self.request.template.id.as_str());
        format!("{}/{what}", self.subnet_id)
    }
}

/// What to do for one protected instance.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "action", rename_all = "kebab-case")]
pub enum Decision {
    /// Launch a replacement from the first candidate that works.
    Launch {
        /// Alternates in the operator's order (after a dead replacement: starting with the
        /// alternate after the one it ran on).
        candidates: Vec<Candidate>,
        /// Templates passed over.
        skipped: Vec<SkippedTemplate>,
        /// Which launch of this incident this is: 1, or more after replacements died.
        attempt: u32,
        /// Replacements of this incident that died (stopped, stopping, shutting down) or are
        /// stuck pending (terminated first): the new one takes their place in their target
        /// groups.
        dead: Vec<Instance>,
    },
    /// The original was not running when its Outpost went down (stopped by its operator, or
    /// terminated): it is not recovered.
    NotRunning {
        /// Its EC2 state.
        state: InstanceState,
    },
    /// A live replacement exists already: nothing to launch.
    AlreadyRecovered {
        /// The replacement.
        replacement: Instance,
        /// Replacements of the original that died before it: it takes their place in their
        /// target groups (a run that launched it may have been cut off before that).
        superseded: Vec<Instance>,
    },
    /// No launch is possible; the reason says what to fix.
    Unrecoverable {
        /// What is wrong and what to fix.
        reason: String,
        /// Templates passed over.
        skipped: Vec<SkippedTemplate>,
    },
}

/// The decision for one protected instance.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct PlannedInstance {
    /// The protected instance on the failed Outpost.
    pub original: Instance,
    /// What to do.
    pub decision: Decision,
}

/// Each instance unrecoverable because what its plan needs could not be read.
pub fn unreadable(instances: &[Instance], error: &crate::error::AwsError) -> Vec<PlannedInstance> {
    instances
        .iter()
        .map(|original| PlannedInstance {
            original: original.clone(),
            decision: Decision::Unrecoverable {
                reason: format!(
                    "its recovery templates could not be read ({error}): {} Instances of the DRS strategy are recovered regardless; the next sweep tries again",
                    error.kind.advice()
                ),
                skipped: Vec::new(),
            },
        })
        .collect()
}

/// Every template named by the instances' tags, each once, for the reader to resolve.
pub fn templates_named_by(instances: &[Instance]) -> Vec<TemplateRef> {
    let mut all: Vec<TemplateRef> = instances
        .iter()
        .filter_map(|i| tags::parse_recovery_templates(i.tag(tags::RECOVERY_TEMPLATES)).ok())
        .flatten()
        .collect();
    all.sort();
    all.dedup();
    all
}

/// Whether an instance is recovered through DRS (`autorestart:strategy=drs`).
pub fn uses_drs(instance: &Instance) -> bool {
    tags::parse_strategy(instance.tag(tags::STRATEGY)) == Ok(tags::Strategy::Drs)
}

/// Decides, for each protected instance in id order that is not DRS-protected, what to do.
pub fn plan_recovery(snapshot: &Snapshot<'_>) -> Vec<PlannedInstance> {
    let mut instances: Vec<&Instance> = snapshot
        .instances
        .iter()
        .filter(|i| i.is_opted_in() && !uses_drs(i))
        .collect();
    instances.sort_by(|a, b| a.id.cmp(&b.id));
    instances
        .into_iter()
        .map(|original| PlannedInstance {
            original: original.clone(),
            decision: decide(snapshot, original),
        })
        .collect()
}

fn decide(snapshot: &Snapshot<'_>, original: &Instance) -> Decision {
    if let Err(reason) = tags::parse_strategy(original.tag(tags::STRATEGY)) {
        return Decision::Unrecoverable {
            reason,
            skipped: Vec::new(),
        };
    }
    // Only a replacement EC2 confirms the agent launched for this original counts: a claim
    // (a copied or written tag) neither suppresses a launch nor is tagged, stopped or moved.
    let ours: Vec<&Instance> = snapshot
        .replacements
        .iter()
        .filter(|r| r.tag(tags::REPLACEMENT_OF) == Some(original.id.as_str()))
        .filter(|r| proof::launched_for(original, r))
        .collect();
    if let Some(replacement) = live_replacement(&ours, snapshot) {
        return Decision::AlreadyRecovered {
            replacement: replacement.clone(),
            superseded: ours
                .iter()
                .filter(|r| r.id != replacement.id && !r.is_starting_or_running())
                .map(|r| (*r).clone())
                .collect(),
        };
    }
    if !original.is_starting_or_running() {
        return Decision::NotRunning {
            state: original.state.clone(),
        };
    }
    // Replacements launched for this incident that died: the next launch is a new attempt,
    // with a new ClientToken (EC2 would answer the old one with the dead instance). A stuck
    // one of any incident goes too: it is terminated before anything else is launched.
    let this_incident = |r: &Instance| r.tag(tags::INCIDENT) == Some(snapshot.incident.as_str());
    let mut dead: Vec<&Instance> = ours
        .into_iter()
        .filter(|r| this_incident(r) || is_stuck(r, snapshot))
        .collect();
    dead.sort_by_key(|r| (this_incident(r), attempt_of(r), r.id.clone()));
    // The attempt the original records (`last-attempt`, written with `replaced-by`) survives its replacement
    // vanishing from Describe after it died: that attempt's token is asked again (EC2 answers
    // it with that launch, which the launch sees is spent, or which still runs), never the
    // tokens before it. A value past the bound is not believed: a tag is a claim.
    let recorded = (original.tag(tags::INCIDENT) == Some(snapshot.incident.as_str()))
        .then(|| {
            original
                .tag(tags::LAST_ATTEMPT)
                .and_then(|a| a.parse::<u32>().ok())
        })
        .flatten()
        .filter(|n| (1..=MAX_ATTEMPTS).contains(n))
        .unwrap_or(1);
    let attempt = dead
        .iter()
        .filter(|r| this_incident(r))
        .map(|r| attempt_of(r) + 1)
        .max()
        .unwrap_or(1)
        .max(recorded);
    if attempt > MAX_ATTEMPTS {
        return Decision::Unrecoverable {
            reason: format!(
                "{} replacements launched in this incident died ({}); not launching again",
                dead.len(),
                dead.iter()
                    .map(|r| format!("{} {}", r.id, r.state))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            skipped: Vec::new(),
        };
    }
    let templates = match tags::parse_recovery_templates(original.tag(tags::RECOVERY_TEMPLATES)) {
        Ok(templates) => templates,
        Err(error) => {
            return Decision::Unrecoverable {
                reason: error.to_string(),
                skipped: Vec::new(),
            };
        }
    };
    let (mut candidates, skipped) = alternates(snapshot, original, templates, attempt);
    if candidates.is_empty() {
        let reason = format!(
            "none of its recovery templates can launch onto an Outpost that is up (the failed one is {}): fix them or add one on another Outpost server",
            snapshot.outpost
        );
        return Decision::Unrecoverable { reason, skipped };
    }
    if let Some(last) = dead.last() {
        rotate_past(&mut candidates, last.subnet_id.as_deref());
    }
    try_full_last(&mut candidates, original, snapshot.incident);
    Decision::Launch {
        candidates,
        skipped,
        attempt,
        dead: dead.into_iter().cloned().collect(),
    }
}

/// The templates' alternates in order, and those passed over with the reason: a subnet on the
/// failed Outpost or on another Outpost that is down, an unusable or unreadable template.
fn alternates(
    snapshot: &Snapshot<'_>,
    original: &Instance,
    templates: Vec<TemplateRef>,
    attempt: u32,
) -> (Vec<Candidate>, Vec<SkippedTemplate>) {
    let mut candidates = Vec::new();
    let mut skipped = Vec::new();
    for template in templates {
        match snapshot.template_targets.get(&template) {
            Some(TemplateTarget::Subnet {
                subnet_id,
                outpost_arn,
                instance_type,
                ..
            }) => match down_reason(snapshot, subnet_id, outpost_arn.as_deref()) {
                Some(reason) => skipped.push(SkippedTemplate { reason, template }),
                None => candidates.push(Candidate {
                    request: launch_request(original, snapshot.incident, template, attempt),
                    subnet_id: subnet_id.clone(),
                    outpost_arn: outpost_arn.clone(),
                    instance_type: instance_type.clone(),
                }),
            },
            Some(TemplateTarget::Unusable { reason }) => skipped.push(SkippedTemplate {
                template,
                reason: reason.clone(),
            }),
            None => skipped.push(SkippedTemplate {
                template,
                reason: "the template could not be read".into(),
            }),
        }
    }
    (candidates, skipped)
}

/// Why a subnet cannot take a replacement now: it lies on the failed Outpost, or on another
/// Outpost whose alarm is in ALARM.
fn down_reason(
    snapshot: &Snapshot<'_>,
    subnet_id: &str,
    outpost_arn: Option<&str>,
) -> Option<String> {
    if outpost_arn.is_some_and(|arn| snapshot.outpost.is_named_by_arn(arn)) {
        return Some(format!(
            "its subnet {subnet_id} lies on the failed Outpost {}",
            snapshot.outpost
        ));
    }
    outpost_arn
        .and_then(OutpostId::from_arn)
        .filter(|o| snapshot.down_outposts.contains(o))
        .map(|down| {
            format!(
                "its subnet {subnet_id} lies on Outpost {down}, which is down too (its ConnectedStatus alarm is in ALARM)"
            )
        })
}

/// Passes over the alternates of a launch that lie on an Outpost down now (`down`, read again
/// before a later wave): a launch is never sent to an Outpost that went down since the plan.
/// A launch left with no alternate is unrecoverable for now, with the reason.
pub fn without_down(planned: &mut PlannedInstance, down: &HashSet<OutpostId>) {
    let Decision::Launch {
        candidates,
        skipped,
        ..
    } = &mut planned.decision
    else {
        return;
    };
    let (gone, kept): (Vec<Candidate>, Vec<Candidate>) =
        std::mem::take(candidates).into_iter().partition(|c| {
            c.outpost_arn
                .as_deref()
                .and_then(OutpostId::from_arn)
                .is_some_and(|o| down.contains(&o))
        });
    *candidates = kept;
    for candidate in gone {
        skipped.push(SkippedTemplate {
            reason: format!(
                "its subnet {} lies on an Outpost that went down before this wave (its ConnectedStatus alarm is in ALARM)",
                candidate.subnet_id
            ),
            template: candidate.request.template,
        });
    }
    if candidates.is_empty() {
        planned.decision = Decision::Unrecoverable {
            reason: "every alternate lies on an Outpost that is down now: the sweep launches it once one is back or another is added".into(),
            skipped: std::mem::take(skipped),
        };
    }
}

/// The record of the pools found full in `incident` (`tags::FULL`), as many as fit in a tag
/// value (256 characters).
pub fn full_record(incident: &IncidentId, pools: &[String]) -> String {
    let mut record = incident.to_string();
    for pool in pools {
        if record.len() + 1 + pool.len() > 256 {
            break;
        }
        record.push(' ');
        record.push_str(pool);
    }
    record
}

/// The record of the pools found full in `incident` on `original`: what it records already for
/// that incident, and `pools`.
pub fn full_record_with(original: &Instance, incident: &IncidentId, pools: &[String]) -> String {
    let mut all: Vec<String> = recorded_full(original, incident)
        .into_iter()
        .map(str::to_owned)
        .collect();
    for pool in pools {
        if !all.contains(pool) {
            all.push(pool.clone());
        }
    }
    full_record(incident, &all)
}

/// The pools `original` records as found full in `incident`.
fn recorded_full<'a>(original: &'a Instance, incident: &IncidentId) -> Vec<&'a str> {
    let Some(record) = original.tag(tags::FULL) else {
        return Vec::new();
    };
    let mut words = record.split_whitespace();
    if words.next() != Some(incident.as_str()) {
        return Vec::new();
    }
    words.collect()
}

/// Moves the alternates whose pool the original records as found full in this incident
/// (`tags::FULL`) after the others, keeping each group's order: a retry or the sweep starts
/// from what is known, and still tries them (capacity frees up).
fn try_full_last(candidates: &mut Vec<Candidate>, original: &Instance, incident: &IncidentId) {
    let full: HashSet<&str> = recorded_full(original, incident).into_iter().collect();
    if full.is_empty() {
        return;
    }
    let (free, known_full): (Vec<Candidate>, Vec<Candidate>) = std::mem::take(candidates)
        .into_iter()
        .partition(|c| !full.contains(c.capacity_pool().as_str()));
    candidates.extend(free);
    candidates.extend(known_full);
}

/// Puts the alternate a dead replacement ran on last, keeping the rest in order: the next
/// attempt starts with the next alternate.
fn rotate_past(candidates: &mut [Candidate], subnet_id: Option<&str>) {
    if let Some(at) = candidates
        .iter()
        .position(|c| Some(c.subnet_id.as_str()) == subnet_id)
    {
        candidates.rotate_left(at + 1);
    }
}

/// The attempt a replacement was launched as (`autorestart:attempt`, 1 when absent).
fn attempt_of(replacement: &Instance) -> u32 {
    replacement
        .tag(tags::ATTEMPT)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1)
}

/// The replacement of `original` that runs, or is pending and not stuck, found by the
/// replacement's audit tag, so that a lost tag on the original cannot cause a second launch.
fn live_replacement<'r>(ours: &[&'r Instance], snapshot: &Snapshot<'_>) -> Option<&'r Instance> {
    ours.iter()
        .copied()
        .filter(|r| r.is_starting_or_running() && !is_stuck(r, snapshot))
        .min_by(|a, b| a.id.cmp(&b.id))
}

/// Whether a replacement is `pending` and will not run: for longer than the launch wait, or
/// on an Outpost that is down now (it cannot start there; should the Outpost come back, it
/// would be a second copy, so it is terminated before another is launched).
pub fn is_stuck(instance: &Instance, snapshot: &Snapshot<'_>) -> bool {
    instance.state == InstanceState::Pending
        && (instance.launched_at.is_some_and(|at| {
            (snapshot.now - at)
                .to_std()
                .is_ok_and(|pending| pending > snapshot.launch_wait)
        }) || instance
            .outpost_arn
            .as_deref()
            .and_then(OutpostId::from_arn)
            .is_some_and(|o| snapshot.down_outposts.contains(&o)))
}

/// The launch of `template` for `original` as attempt `attempt` of `incident`: its token and tags.
pub fn launch_request(
    original: &Instance,
    incident: &IncidentId,
    template: TemplateRef,
    attempt: u32,
) -> LaunchRequest {
    let mut tags = replacement_tags(original, incident);
    tags.push((tags::ATTEMPT.into(), attempt.to_string()));
    LaunchRequest {
        client_token: client_token(incident, &original.id, &template, attempt),
        tags,
        template,
    }
}

/// A drill copy's tags: the workload's opt-in tags (IAM requires `autorestart:enabled`), a
/// `drill: ` Name, and the drill's own tags; never the audit tags a real recovery looks for.
pub fn drill_tags(original: &Instance, drill_id: &str) -> Vec<(String, String)> {
    let mut carried: Vec<(String, String)> = original
        .tags
        .iter()
        .filter(|(key, _)| key.as_str() != tags::NAME && tags::travels_to_replacement(key))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    carried.push((
        tags::NAME.into(),
        format!("drill: {}", original.display_name()),
    ));
    carried.push((tags::DRILL.into(), drill_id.to_owned()));
    carried.push((tags::DRILL_OF.into(), original.id.to_string()));
    carried
}

/// The tags a copy of `original` carries of it: the workload's identity (Name, opt-in tags).
pub fn identity_tags(original: &Instance) -> Vec<(String, String)> {
    original
        .tags
        .iter()
        .filter(|(key, _)| tags::travels_to_replacement(key))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// The replacement's tags: the workload's identity (Name, opt-in tags) and the audit tags.
pub fn replacement_tags(original: &Instance, incident: &IncidentId) -> Vec<(String, String)> {
    let mut carried = identity_tags(original);
    carried.push((tags::REPLACEMENT_OF.into(), original.id.to_string()));
    carried.push((tags::INCIDENT.into(), incident.to_string()));
    carried.push((tags::LAUNCHED_IN.into(), incident.to_string()));
    carried
}

#[cfg(test)]
mod tests;
