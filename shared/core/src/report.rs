//! The typed summary of one alarm handled: what the handler returns and the notice reports.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use crate::alarm::{IncidentId, OutpostId};
use crate::error::{AwsError, ErrorKind};
use crate::ids::InstanceId;
use crate::ids::TargetGroupArn;
use crate::inventory::Membership;
use crate::moves::{MoveOutcome, Unmovable};
use crate::outcome::{Attempt, InstanceOutcome, Outcome, OutcomeKind};
use crate::plan::SkippedTemplate;
use crate::readiness::ReadinessReport;
use crate::settings::Mode;
use crate::tags::Strategy;

/// What the agent did with an alarm change.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// The Outpost went down; its protected instances were handled.
    Recovery,
    /// The Outpost came back.
    OutpostBack,
    /// The Outpost went down, but its alarm is in maintenance mode: nothing was recovered.
    Suppressed,
    /// The change is not ours to act on.
    Ignored,
    /// An ALARM that CloudWatch no longer shows (the Outpost is back): nothing was launched.
    Stale,
}

/// The summary of one alarm change.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct AlarmReport {
    /// What was done.
    pub action: Action,
    /// The alarm.
    pub alarm: String,
    /// When the alarm entered its state.
    pub state_since: DateTime<Utc>,
    /// The mode the agent ran in.
    pub mode: Mode,
    /// The Outpost concerned.
    pub outpost: Option<OutpostId>,
    /// The outage, for a recovery.
    pub incident: Option<IncidentId>,
    /// Why the change was ignored.
    pub ignored_because: Option<String>,
    /// One entry per protected instance on the Outpost.
    pub instances: Vec<InstanceReport>,
    /// Problems reading or changing load balancing that concern no single move.
    pub load_balancing_errors: Vec<String>,
    /// For an Outpost back: what was fenced.
    pub fencing: Option<crate::fence::FenceReport>,
    /// For a recovery: each wave, in order (live recoveries only).
    pub waves: Vec<WaveReport>,
    /// Things that went wrong without changing what was done.
    pub warnings: Vec<String>,
    /// The SNS message id, or why nothing was published.
    pub notification: Notification,
}

impl AlarmReport {
    /// A report that nothing was done yet about `change`.
    pub fn for_change(change: &crate::alarm::AlarmChange, mode: Mode) -> Self {
        Self::empty(change.alarm_name.clone(), change.state_since, mode)
    }

    /// The report for an event that is no alarm change of ours.
    pub fn ignored(reason: String, time: Option<DateTime<Utc>>, mode: Mode) -> Self {
        let mut report = Self::empty(String::new(), time.unwrap_or_default(), mode);
        report.ignored_because = Some(reason);
        report
    }

    /// A report that nothing was done yet.
    pub fn empty(alarm: String, state_since: DateTime<Utc>, mode: Mode) -> Self {
        Self {
            action: Action::Ignored,
            alarm,
            state_since,
            mode,
            outpost: None,
            incident: None,
            ignored_because: None,
            instances: Vec::new(),
            load_balancing_errors: Vec::new(),
            fencing: None,
            waves: Vec::new(),
            warnings: Vec::new(),
            notification: Notification::NotNeeded,
        }
    }
}

/// Whether and how people were told.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum Notification {
    /// Published.
    Published {
        /// SNS message id.
        message_id: String,
    },
    /// Nothing new to say: every replacement was reported already.
    AlreadyReported,
    /// Ignored changes notify nobody.
    NotNeeded,
}

/// The outcome for one protected instance.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct InstanceReport {
    /// The original.
    pub instance_id: InstanceId,
    /// Its Name tag, or its id.
    pub name: String,
    /// How it is recovered.
    pub strategy: Strategy,
    /// Its recovery wave.
    pub wave: u32,
    /// Seconds from the alarm to the replacement seen running, when it was seen.
    pub running_after_seconds: Option<i64>,
    /// How its recovery ended.
    pub outcome: OutcomeKind,
    /// The replacement's id.
    pub replacement_id: Option<InstanceId>,
    /// The template used, or that would be used.
    pub template: Option<String>,
    /// Where the replacement runs or would run.
    pub subnet_id: Option<String>,
    /// The Outpost it runs on.
    pub outpost_arn: Option<String>,
    /// Further alternates (notify-only).
    pub fallbacks: Vec<String>,
    /// DRS: the recovery job.
    pub drs_job_id: Option<String>,
    /// DRS: the source server.
    pub source_server_id: Option<String>,
    /// DRS: the stopped instance launched into.
    pub launch_target_id: Option<String>,
    /// DRS: launch-configuration updates applied (or that would be).
    pub launch_updates: Vec<crate::drs::LaunchUpdate>,
    /// Target-group memberships moved, or that would move.
    pub target_groups: Vec<TargetGroupReport>,
    /// Why it failed.
    pub reason: Option<String>,
    /// The kind of AWS error behind a failure.
    pub error_kind: Option<ErrorKind>,
    /// What the operator must do.
    pub advice: Option<String>,
    /// Templates passed over, and why.
    pub skipped_templates: Vec<SkippedTemplate>,
    /// Launches that failed before the outcome.
    pub failed_attempts: Vec<Attempt>,
    /// Things that went wrong without changing the outcome.
    pub warnings: Vec<String>,
    /// What keeps it from running twice while its server's link is down (its
    /// `autorestart:on-link-loss` policy, in words).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub two_copies: Option<String>,
    /// The replacement is a warm standby the agent started, not a launch.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub from_standby: bool,
}

impl InstanceReport {
    /// Whether this instance needs a person.
    pub fn failed(&self) -> bool {
        self.outcome == OutcomeKind::Failed
    }
}

/// What the waves of one recovery did, for its report.
#[derive(Debug, Default)]
pub struct Ran {
    /// How each protected instance ended.
    pub outcomes: Vec<InstanceOutcome>,
    /// The memberships moved.
    pub moves: Vec<MoveOutcome>,
    /// The memberships that could not move.
    pub unmovable: Vec<Unmovable>,
    /// When each replacement was seen running.
    pub running_at: HashMap<InstanceId, DateTime<Utc>>,
    /// The wave of each original.
    pub wave_of: HashMap<InstanceId, u32>,
}

/// Adds to `ran` what a later pass of the same reconcile did (after waiting for self-fenced
/// originals): its outcomes take the place of the earlier pass's unfinished ones; an earlier
/// pass's other outcomes stay (a replacement it launched is "recovered", not "already").
pub fn merge(ran: &mut Ran, later: Ran) {
    for outcome in later.outcomes {
        match ran
            .outcomes
            .iter_mut()
            .find(|o| o.original.id == outcome.original.id)
        {
            Some(earlier) if matches!(earlier.outcome, Outcome::Unfinished { .. }) => {
                *earlier = outcome;
            }
            Some(_) => {}
            None => ran.outcomes.push(outcome),
        }
    }
    ran.moves.extend(later.moves);
    ran.unmovable.extend(later.unmovable);
    ran.running_at.extend(later.running_at);
    for (id, wave) in later.wave_of {
        ran.wave_of.entry(id).or_insert(wave);
    }
}

/// Fills in the report's instances from what the waves did; `would_move` are the
/// memberships a notify-only run would move.
pub fn complete(report: &mut AlarmReport, ran: &Ran, would_move: &[Membership]) {
    report.instances = instance_reports(&ran.outcomes, &ran.moves, &ran.unmovable, would_move);
    for instance in &mut report.instances {
        instance.wave = ran.wave_of.get(&instance.instance_id).copied().unwrap_or(0);
        instance.running_after_seconds = instance
            .replacement_id
            .as_ref()
            .and_then(|r| ran.running_at.get(r))
            .map(|at| (*at - report.state_since).num_seconds().max(0));
    }
}

/// What a recovery's report says that was not said before.
#[derive(Debug, PartialEq, Eq)]
pub struct News {
    /// Replacements no notice has named yet (they carry no `autorestart:reported`).
    pub unreported: Vec<InstanceId>,
    /// Failed or unfinished originals whose digest differs from the one they carry, with the
    /// digest to record once said.
    pub unsaid: Vec<(InstanceId, String)>,
    /// Anything else that changed: a plan, a DRS job started, a membership moved or refused,
    /// a load-balancing error, or no protected instance at all.
    pub other: bool,
}

impl News {
    /// Whether a notice is due.
    pub fn anything_new(&self) -> bool {
        self.other || !self.unreported.is_empty() || !self.unsaid.is_empty()
    }
}

/// What `report` says that was not said before: a notice is published only then. A failure
/// or an unfinished recovery is said once per reason: the original carries
/// `autorestart:outcome-reported` with a digest of what was said.
pub fn news(report: &AlarmReport, ran: &Ran, incident: &IncidentId) -> News {
    let unreported = ran
        .outcomes
        .iter()
        .filter_map(InstanceOutcome::replacement)
        .filter(|r| r.tag(crate::tags::REPORTED).is_none())
        .map(|r| r.id.clone())
        .collect();
    let said_before: HashMap<&str, Option<&str>> = ran
        .outcomes
        .iter()
        .map(|o| {
            (
                o.original.id.as_str(),
                o.original.tag(crate::tags::OUTCOME_REPORTED),
            )
        })
        .collect();
    let unsaid = report
        .instances
        .iter()
        .filter(|i| i.failed() || matches!(i.outcome, OutcomeKind::Unfinished | OutcomeKind::Held))
        .map(|i| (i.instance_id.clone(), outcome_digest(i, incident)))
        .filter(|(id, digest)| said_before.get(id.as_str()).copied().flatten() != Some(digest))
        .collect();
    let other = report.instances.is_empty()
        || report.instances.iter().any(|i| {
            matches!(
                i.outcome,
                OutcomeKind::WouldLaunch
                    | OutcomeKind::WouldStartDrs
                    | OutcomeKind::DrsRecoveryStarted
            )
        })
        || ran
            .moves
            .iter()
            .any(|m| !m.planned.already_registered || m.deregistered)
        || !ran.unmovable.is_empty()
        || !report.load_balancing_errors.is_empty();
    News {
        unreported,
        unsaid,
        other,
    }
}

/// A short digest of what an instance's report says went wrong in one incident (incident,
/// outcome and reason): equal digests are the same news. The incident is part of it, so the
/// same failure in a later outage is news again.
pub fn outcome_digest(instance: &InstanceReport, incident: &crate::alarm::IncidentId) -> String {
    let said = format!(
        "{incident}\n{}\n{}",
        instance.outcome,
        instance.reason.as_deref().unwrap_or_default()
    );
    crate::sha256_hex(&said)[..12].to_owned()
}

/// One target-group membership of an instance.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct TargetGroupReport {
    /// The target group.
    pub target_group_arn: TargetGroupArn,
    /// The original's target (id or IP).
    pub from: String,
    /// The replacement's target; none in notify-only.
    pub to: Option<String>,
    /// The port, when the target sets one.
    pub port: Option<i32>,
    /// The replacement is registered.
    pub registered: bool,
    /// The replacement was seen healthy.
    pub healthy: bool,
    /// The original is deregistered.
    pub deregistered: bool,
    /// Timeouts and errors.
    pub note: Option<String>,
}

impl From<&MoveOutcome> for TargetGroupReport {
    fn from(m: &MoveOutcome) -> Self {
        Self {
            target_group_arn: m.planned.target_group_arn.clone(),
            from: m.planned.from.id.clone(),
            to: Some(m.planned.to.id.clone()),
            port: m.planned.from.port,
            registered: m.registered,
            healthy: m.is_healthy(),
            deregistered: m.deregistered,
            note: m.note.clone(),
        }
    }
}

/// Builds the per-instance reports from the recovery outcomes and the membership moves.
pub fn instance_reports(
    outcomes: &[InstanceOutcome],
    moves: &[MoveOutcome],
    unmovable: &[Unmovable],
    would_move: &[Membership],
) -> Vec<InstanceReport> {
    let mut moves_of: HashMap<&str, Vec<&MoveOutcome>> = HashMap::new();
    for m in moves {
        moves_of
            .entry(m.planned.original_id.as_str())
            .or_default()
            .push(m);
    }
    outcomes
        .iter()
        .map(|o| {
            let mut report = InstanceReport::of(o);
            describe_outcome(&mut report, &o.outcome);
            let moved = moves_of.get(o.original.id.as_str()).into_iter().flatten();
            report.target_groups = moved
                .map(|m| TargetGroupReport::from(*m))
                .chain(
                    would_move
                        .iter()
                        .filter(|m| m.names(&o.original))
                        .map(TargetGroupReport::would_move),
                )
                .collect();
            for problem in unmovable.iter().filter(|u| u.original_id == o.original.id) {
                report
                    .warnings
                    .push(format!("{}: {}", problem.target_group_arn, problem.reason));
            }
            report
        })
        .collect()
}

impl InstanceReport {
    /// The report of `o` before its outcome's details and its target groups.
    fn of(o: &InstanceOutcome) -> Self {
        let strategy = if crate::plan::uses_drs(&o.original) {
            Strategy::Drs
        } else {
            Strategy::Template
        };
        Self {
            replacement_id: o.replacement().map(|r| r.id.clone()),
            skipped_templates: o.skipped.clone(),
            failed_attempts: o.attempts.clone(),
            warnings: o.warnings.clone(),
            two_copies: crate::link_loss::policy_of(&o.original)
                .ok()
                .map(|tagged| crate::link_loss::protection(&tagged)),
            ..Self::new(
                &o.original.id,
                o.original.display_name(),
                strategy,
                o.outcome.kind(),
            )
        }
    }

    /// The report of one instance, saying only how its recovery ended.
    pub fn new(instance_id: &str, name: &str, strategy: Strategy, outcome: OutcomeKind) -> Self {
        Self {
            instance_id: instance_id.into(),
            name: name.to_owned(),
            strategy,
            wave: 0,
            running_after_seconds: None,
            outcome,
            replacement_id: None,
            template: None,
            subnet_id: None,
            outpost_arn: None,
            fallbacks: Vec::new(),
            drs_job_id: None,
            source_server_id: None,
            launch_target_id: None,
            launch_updates: Vec::new(),
            target_groups: Vec::new(),
            reason: None,
            error_kind: None,
            advice: None,
            skipped_templates: Vec::new(),
            failed_attempts: Vec::new(),
            warnings: Vec::new(),
            two_copies: None,
            from_standby: false,
        }
    }
}

impl TargetGroupReport {
    /// A membership a notify-only run would move.
    fn would_move(m: &Membership) -> Self {
        Self {
            target_group_arn: m.target_group_arn.clone(),
            from: m.target.id.clone(),
            to: None,
            port: m.target.port,
            registered: false,
            healthy: false,
            deregistered: false,
            note: Some("would move to the replacement".into()),
        }
    }
}

/// The details an outcome adds to its instance's report.
fn describe_outcome(report: &mut InstanceReport, outcome: &Outcome) {
    match outcome {
        Outcome::Recovered {
            template,
            subnet_id,
            outpost_arn,
            standby,
            ..
        } => {
            report.from_standby = *standby;
            report.template = Some(template.to_string());
            report.subnet_id = Some(subnet_id.clone());
            report.outpost_arn = outpost_arn.clone();
        }
        Outcome::AlreadyRecovered { replacement } => {
            report.subnet_id = replacement.subnet_id.clone();
            report.outpost_arn = replacement.outpost_arn.clone();
        }
        Outcome::WouldLaunch {
            template,
            subnet_id,
            fallbacks,
        } => {
            report.template = Some(template.to_string());
            report.subnet_id = Some(subnet_id.clone());
            report.fallbacks = fallbacks.iter().map(ToString::to_string).collect();
        }
        Outcome::DrsStarted {
            job_id,
            source_server_id,
            target_id,
            updates,
        } => {
            report.drs_job_id = Some(job_id.clone());
            report.source_server_id = Some(source_server_id.clone());
            report.launch_target_id = Some(target_id.clone());
            report.launch_updates = updates.clone();
        }
        Outcome::DrsAlreadyStarted { job_id } => {
            report.drs_job_id = Some(job_id.clone());
        }
        Outcome::WouldStartDrs {
            source_server_id,
            target_id,
            updates,
        } => {
            report.source_server_id = Some(source_server_id.clone());
            report.launch_target_id = Some(target_id.clone());
            report.launch_updates = updates.clone();
        }
        Outcome::NotRunning { state } => {
            report.reason = Some(format!(
                "it was {state} when its Outpost went down; only instances that run are recovered"
            ));
        }
        Outcome::Unfinished { reason } => {
            report.reason = Some(reason.clone());
        }
        Outcome::Held { reason } => {
            report.reason = Some(reason.clone());
            report.advice = Some(crate::link_loss::HELD_ADVICE.into());
        }
        Outcome::Failed {
            reason,
            kind,
            advice,
        } => {
            report.reason = Some(reason.clone());
            report.error_kind = *kind;
            report.advice = Some(advice.clone());
        }
    }
}

/// The alarm report's warning when the alarm's maintenance tag could not be read.
pub fn maintenance_unread(error: &AwsError) -> String {
    format!(
        "the alarm's tags could not be read ({error}), so maintenance mode was not checked; recovery went ahead"
    )
}

/// A target group of the scope that no longer exists, as a report line with what to do.
pub fn missing_target_group(target_group_arn: &str) -> String {
    format!(
        "target group {target_group_arn} no longer exists (ELB answers TargetGroupNotFound): it was skipped and nothing moved in it; remove it from TargetGroupArns (TARGET_GROUP_ARNS)"
    )
}

/// A target-group read that failed, in words with what to do.
pub fn load_balancing_error(error: &AwsError) -> String {
    format!(
        "target groups could not be read: {error}. {}",
        error.kind.advice()
    )
}

/// What happened in one wave, for the report.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct WaveReport {
    /// The wave number.
    pub wave: u32,
    /// Protected instances in it.
    pub instances: usize,
    /// Every replacement of the wave ran (and, in target groups, was healthy or the health wait ended).
    pub settled: bool,
    /// Seconds waited for the replacements to run.
    pub waited_seconds: u64,
    /// Replacements not running when the wait ended, with their state.
    pub not_running: Vec<(InstanceId, String)>,
    /// Why the next wave started without this one settled.
    pub note: Option<String>,
}

/// What DRS reported for one source server of one job.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DrsLaunchResult {
    /// The source server (`s-…`).
    pub source_server_id: String,
    /// The job (`drsjob-…`).
    pub job_id: String,
    /// Whether the launch succeeded.
    pub succeeded: bool,
    /// Whether it was a drill.
    pub drill: bool,
    /// When DRS reported it.
    pub time: DateTime<Utc>,
}

/// The typed summary of one DRS launch result handled.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct DrsReport {
    /// The source server.
    pub source_server_id: String,
    /// The job.
    pub job_id: String,
    /// Launch succeeded.
    pub succeeded: bool,
    /// A drill.
    pub drill: bool,
    /// Not finished in time (reported once by the sweep).
    pub stuck: bool,
    /// The protected original, if one is found.
    pub original_id: Option<InstanceId>,
    /// Its Name tag, when the original is known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub original_name: Option<String>,
    /// The Outpost it was protected on, when the original is known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outpost: Option<crate::alarm::OutpostId>,
    /// The incident the recovery belongs to (the original's `autorestart:incident`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub incident: Option<String>,
    /// The instance DRS launched (for launch-into-instance, the target).
    pub recovery_instance_id: Option<InstanceId>,
    /// Memberships moved to the recovery instance.
    pub target_groups: Vec<TargetGroupReport>,
    /// Why nothing more was done, or why the launch failed.
    pub reason: Option<String>,
    /// What the operator must do.
    pub advice: Option<String>,
    /// SNS message id, or none when nothing new was said.
    pub message_id: Option<String>,
}

impl DrsReport {
    /// The report of `result` before anything was found or done.
    pub fn of(result: &DrsLaunchResult) -> Self {
        Self {
            source_server_id: result.source_server_id.clone(),
            job_id: result.job_id.clone(),
            succeeded: result.succeeded,
            drill: result.drill,
            stuck: false,
            original_id: None,
            original_name: None,
            outpost: None,
            incident: None,
            recovery_instance_id: None,
            target_groups: Vec::new(),
            reason: None,
            advice: None,
            message_id: None,
        }
    }
}

/// What one sweep did.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct SweepReport {
    /// ConnectedStatus alarms read.
    pub alarms: usize,
    /// Outposts whose alarm is in ALARM, recovered (or found recovered).
    pub recoveries: Vec<AlarmReport>,
    /// Outposts in ALARM left alone: their alarm is in maintenance.
    pub in_maintenance: Vec<OutpostId>,
    /// DRS launches finished here because no event reached the agent.
    pub drs_results: Vec<DrsReport>,
    /// Outposts whose alarm is OK, with their fencing.
    pub fencing: Vec<AlarmReport>,
    /// Failbacks gone on with (or begun automatically) on Outposts whose alarm is OK.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub failbacks: Vec<crate::failback::FailbackReport>,
    /// The readiness check.
    pub readiness: ReadinessReport,
    /// Steps that failed; the next sweep tries them again.
    pub errors: Vec<String>,
}

/// The report of a job stuck past `timeout`, for the originals not told of it yet (`new`): its
/// source servers and the originals waiting for it, with what to do.
pub fn drs_stuck(
    job: &crate::drs::JobSnapshot,
    new: &[crate::ids::InstanceId],
    timeout: std::time::Duration,
) -> DrsReport {
    let minutes = timeout.as_secs() / 60;
    let servers: Vec<&str> = job.servers.iter().map(|(id, _)| id.as_str()).collect();
    DrsReport {
        source_server_id: servers.join(", "),
        job_id: job.job_id.clone(),
        succeeded: false,
        drill: false,
        stuck: true,
        original_id: (new.len() == 1).then(|| new[0].clone()),
        original_name: None,
        outpost: None,
        incident: None,
        recovery_instance_id: None,
        target_groups: Vec::new(),
        reason: Some(format!(
            "DRS job {} is STUCK: still {} more than {minutes} minutes after it was created (the bound is DRS_JOB_TIMEOUT_MINUTES). Source servers: {}. Protected instances waiting for it: {}.",
            job.job_id,
            job.status,
            servers.join(", "),
            new.join(", ")
        )),
        advice: Some(format!(
            "open the job in the DRS console and read its log; the agent starts no second job while this one runs. Once it ends, the agent finishes a launch or retries a failure (up to {} jobs). This is reported once.",
            crate::drs::MAX_DRS_ATTEMPTS
        )),
        message_id: None,
    }
}
