//! What a drill rehearses: the plan step of each protected instance, and the drill's report.

use chrono::{DateTime, Utc};

use crate::alarm::OutpostId;
use crate::drs::{DrsDecision, PlannedDrs};
use crate::ids::InstanceId;
use crate::ids::TargetGroupArn;
use crate::inventory::{Instance, Membership};
use crate::plan::{Decision, PlannedInstance};
use crate::readiness::InstanceReadiness;
use crate::tags::{self, Strategy};

/// What an operator asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DrillRequest {
    /// The Outpost whose failure is rehearsed.
    pub outpost: OutpostId,
    /// Launch copies (live) or only plan (dry run).
    pub live: bool,
    /// A target group for the copies; it must hold no protected instance.
    pub target_group_arn: Option<TargetGroupArn>,
    /// When the drill started; names it.
    pub started: DateTime<Utc>,
}

/// What the recovery would do for one protected instance.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StepAction {
    /// Launch a replacement from a template.
    Launch,
    /// Nothing: a replacement runs already.
    AlreadyRecovered,
    /// Nothing: it does not run.
    NotRunning,
    /// Nothing can be done: see the notes.
    Unrecoverable,
    /// Start a DRS recovery job.
    StartDrs,
    /// Nothing: a DRS recovery job runs already.
    DrsAlreadyStarted,
    /// Wait: a DRS drill runs on the server.
    DrsWaits,
}

/// The plan for one protected instance.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct PlannedStep {
    /// The instance.
    pub instance_id: InstanceId,
    /// Its Name tag, or its id.
    pub name: String,
    /// How it is recovered.
    pub strategy: Strategy,
    /// Its recovery wave.
    pub wave: u32,
    /// What the recovery would do.
    pub action: StepAction,
    /// The first template tried.
    pub template: Option<String>,
    /// Its subnet.
    pub subnet_id: Option<String>,
    /// Its Outpost.
    pub outpost_arn: Option<String>,
    /// Further alternates, in order.
    pub fallbacks: Vec<String>,
    /// DRS source server and launch target.
    pub drs: Option<(String, String)>,
    /// Target groups whose membership would move.
    pub target_groups: Vec<TargetGroupArn>,
    /// Why it cannot be recovered, or templates passed over.
    pub notes: Vec<String>,
}

/// One drill copy.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct DrillCopy {
    /// The instance rehearsed.
    pub original_id: InstanceId,
    /// The copy, if one launched.
    pub copy_id: Option<InstanceId>,
    /// The template it came from.
    pub template: Option<String>,
    /// Seconds from the drill's start to the copy seen running.
    pub running_after_seconds: Option<f64>,
    /// Whether the copy turned healthy in the drill target group.
    pub healthy: Option<bool>,
    /// What went wrong.
    pub error: Option<String>,
}

/// What a drill found and did.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct DrillReport {
    /// `drill-<outpost>-<time>`: the value of `autorestart:drill` on every copy.
    pub drill_id: String,
    /// The Outpost rehearsed.
    pub outpost: OutpostId,
    /// Live or dry run.
    pub live: bool,
    /// The plan, per protected instance.
    pub plan: Vec<PlannedStep>,
    /// Readiness of the Outpost's protected instances; only those with problems.
    pub readiness_problems: Vec<InstanceReadiness>,
    /// Copies launched (live).
    pub copies: Vec<DrillCopy>,
    /// Copies terminated at the end.
    pub cleaned_up: Vec<InstanceId>,
    /// Copies that could not be terminated: terminate them by hand.
    pub left_behind: Vec<InstanceId>,
    /// Seconds the drill took.
    pub seconds: f64,
    /// What went wrong beside single copies.
    pub errors: Vec<String>,
    /// SNS message id (live drills notify).
    pub message_id: Option<String>,
}

fn groups_of(instance: &Instance, memberships: &[Membership]) -> Vec<TargetGroupArn> {
    let mut groups: Vec<TargetGroupArn> = memberships
        .iter()
        .filter(|m| m.names(instance))
        .map(|m| m.target_group_arn.clone())
        .collect();
    groups.sort();
    groups.dedup();
    groups
}

fn step(
    instance: &Instance,
    strategy: Strategy,
    action: StepAction,
    memberships: &[Membership],
) -> PlannedStep {
    PlannedStep {
        instance_id: instance.id.clone(),
        name: instance.display_name().to_owned(),
        strategy,
        wave: tags::parse_wave(instance.tag(tags::WAVE)).unwrap_or(0),
        action,
        template: None,
        subnet_id: None,
        outpost_arn: None,
        fallbacks: Vec::new(),
        drs: None,
        target_groups: groups_of(instance, memberships),
        notes: Vec::new(),
    }
}

pub fn template_step(p: &PlannedInstance, memberships: &[Membership]) -> PlannedStep {
    match &p.decision {
        Decision::Launch {
            candidates,
            skipped,
            ..
        } => {
            let mut s = step(
                &p.original,
                Strategy::Template,
                StepAction::Launch,
                memberships,
            );
            s.template = Some(candidates[0].request.template.to_string());
            s.subnet_id = Some(candidates[0].subnet_id.clone());
            s.outpost_arn = candidates[0].outpost_arn.clone();
            s.fallbacks = candidates[1..]
                .iter()
                .map(|c| c.request.template.to_string())
                .collect();
            s.notes = skipped
                .iter()
                .map(|k| format!("skips {}: {}", k.template, k.reason))
                .collect();
            s
        }
        Decision::AlreadyRecovered { replacement, .. } => {
            let mut s = step(
                &p.original,
                Strategy::Template,
                StepAction::AlreadyRecovered,
                memberships,
            );
            s.notes
                .push(format!("replacement {} exists", replacement.id));
            s
        }
        Decision::NotRunning { state } => {
            let mut s = step(
                &p.original,
                Strategy::Template,
                StepAction::NotRunning,
                memberships,
            );
            s.notes.push(format!(
                "it is {state}: only instances that run are recovered"
            ));
            s
        }
        Decision::Unrecoverable { reason, skipped } => {
            let mut s = step(
                &p.original,
                Strategy::Template,
                StepAction::Unrecoverable,
                memberships,
            );
            s.notes.push(reason.clone());
            s.notes.extend(
                skipped
                    .iter()
                    .map(|k| format!("skips {}: {}", k.template, k.reason)),
            );
            s
        }
    }
}

pub fn drs_step(
    original: &Instance,
    decision: &DrsDecision,
    memberships: &[Membership],
) -> PlannedStep {
    match decision {
        DrsDecision::Recover { server, target, .. } => {
            let mut s = step(original, Strategy::Drs, StepAction::StartDrs, memberships);
            s.drs = Some((server.id.clone(), target.id.to_string()));
            s
        }
        DrsDecision::AlreadyStarted { job_id, .. } => {
            let mut s = step(
                original,
                Strategy::Drs,
                StepAction::DrsAlreadyStarted,
                memberships,
            );
            s.notes.push(format!("job {job_id}"));
            s
        }
        DrsDecision::Wait { reason } => {
            let mut s = step(original, Strategy::Drs, StepAction::DrsWaits, memberships);
            s.notes.push(reason.clone());
            s
        }
        DrsDecision::Invalid { reason, .. } => {
            let mut s = step(
                original,
                Strategy::Drs,
                StepAction::Unrecoverable,
                memberships,
            );
            s.notes.push(reason.clone());
            s
        }
    }
}

/// The plan of every protected instance, by wave then id.
pub fn plan_steps(
    planned: &[PlannedInstance],
    drs_planned: &[PlannedDrs],
    memberships: &[Membership],
) -> Vec<PlannedStep> {
    let mut steps: Vec<PlannedStep> = planned
        .iter()
        .map(|p| template_step(p, memberships))
        .chain(
            drs_planned
                .iter()
                .map(|p| drs_step(&p.original, &p.decision, memberships)),
        )
        .collect();
    steps.sort_by(|a, b| (a.wave, &a.instance_id).cmp(&(b.wave, &b.instance_id)));
    steps
}
