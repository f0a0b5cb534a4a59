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

/// What each original's `autorestart:last-drill` records after a live drill: `<drill id>
/// <result>`, the result `ok` (its copy ran, and turned healthy where checked), `not-healthy`,
/// `failed` (no copy ran), or `not-ready` (the plan could not recover it). Instances the drill
/// does not rehearse (not running, recovered already, DRS) are left as they are. Pure.
pub fn last_drill_records(report: &DrillReport) -> Vec<(InstanceId, String)> {
    let mut records: Vec<(InstanceId, String)> = report
        .copies
        .iter()
        .map(|copy| {
            let result = match (&copy.copy_id, &copy.error, copy.healthy) {
                (_, Some(_), _) | (None, _, _) => "failed",
                (Some(_), None, Some(false)) => "not-healthy",
                (Some(_), None, _) => "ok",
            };
            (copy.original_id.clone(), result)
        })
        .chain(
            report
                .plan
                .iter()
                .filter(|step| step.action == StepAction::Unrecoverable)
                .map(|step| (step.instance_id.clone(), "not-ready")),
        )
        .map(|(id, result)| (id, format!("{} {result}", report.drill_id)))
        .collect();
    records.sort();
    records.dedup_by(|a, b| a.0 == b.0);
    records
}

#[cfg(test)]
mod tests {
    use super::*;

    fn copy(
        original: &str,
        copy_id: Option<&str>,
        healthy: Option<bool>,
        error: Option<&str>,
    ) -> DrillCopy {
        DrillCopy {
            original_id: original.into(),
            copy_id: copy_id.map(Into::into),
            template: None,
            running_after_seconds: None,
            healthy,
            error: error.map(str::to_owned),
        }
    }

    fn step(id: &str, action: StepAction) -> PlannedStep {
        PlannedStep {
            instance_id: id.into(),
            name: id.into(),
            strategy: Strategy::Template,
            wave: 0,
            action,
            template: None,
            subnet_id: None,
            outpost_arn: None,
            fallbacks: vec![],
            drs: None,
            target_groups: vec![],
            notes: vec![],
        }
    }

    #[test]
    fn each_rehearsed_original_records_its_result() {
        let report = DrillReport {
            drill_id: "drill-op-0a1b2c3d4e5f60718-20261206T090000Z".into(),
            outpost: OutpostId::parse("op-0a1b2c3d4e5f60718").unwrap(),
            live: true,
            plan: vec![
                step("i-ok", StepAction::Launch),
                step("i-sick", StepAction::Launch),
                step("i-failed", StepAction::Launch),
                step("i-cold", StepAction::Launch),
                step("i-none", StepAction::Unrecoverable),
                step("i-off", StepAction::NotRunning),
            ],
            readiness_problems: vec![],
            copies: vec![
                copy("i-ok", Some("i-c1"), Some(true), None),
                copy("i-sick", Some("i-c2"), Some(false), None),
                copy("i-failed", Some("i-c3"), None, Some("did not run in time")),
                copy("i-cold", None, None, Some("InsufficientInstanceCapacity")),
            ],
            cleaned_up: vec![],
            left_behind: vec![],
            seconds: 1.0,
            errors: vec![],
            message_id: None,
        };
        let records: Vec<(String, String)> = last_drill_records(&report)
            .into_iter()
            .map(|(id, v)| (id.to_string(), v))
            .collect();
        let at = "drill-op-0a1b2c3d4e5f60718-20261206T090000Z";
        assert_eq!(
            records,
            vec![
                ("i-cold".into(), format!("{at} failed")),
                ("i-failed".into(), format!("{at} failed")),
                ("i-none".into(), format!("{at} not-ready")),
                ("i-ok".into(), format!("{at} ok")),
                ("i-sick".into(), format!("{at} not-healthy")),
            ],
            "i-off is not rehearsed: left as it is"
        );
    }
}
