//! Failback: a recovered workload goes home once its Outpost is back. Pure.
//!
//! A pair is an original on the Outpost that is back and the end of its chain of proven
//! replacements (`proof`). [`decide`] looks at each pair as it is now and names its next step
//! toward "home": the original running and healthy where its replacement served, the
//! replacement retired (a standby, or terminated), the original's tags clean of the incident.
//! The progress marker `autorestart:failback` on the original ([`Marker`]) tells a later run
//! (a retry, the sweep) that a failback was asked and how: every step is read back from the
//! instances' states, the target groups and the marker, so a crash anywhere is finished by the
//! next run. With `stop-first` (the default) the replacement stops before the original starts:
//! never two serving copies. If the original does not run and turn healthy in time, the
//! failback rolls back: the original is deregistered and stopped, the replacement started and
//! registered again.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::alarm::OutpostId;
use crate::error::{AwsError, ErrorKind};
use crate::ids::{InstanceId, TargetGroupArn};
use crate::inventory::{Instance, Target};
use crate::moves::Move;
use crate::tags::{self, Strategy};
use crate::vocabulary::{InstanceState, TargetHealth};

/// How long an Outpost's alarm must have been OK before its instances fail back
/// (`FAILBACK_SETTLE_SECONDS`): a link that flaps is not a link back.
pub const SETTLE: Duration = Duration::from_secs(900);

/// In which order the copies change hands.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Handover {
    /// Stop the replacement, then start the original: a gap in service, never two copies.
    #[default]
    StopFirst,
    /// Start and register the original, retire the replacement once the original is healthy:
    /// no gap, two copies for a while (only for workloads that tolerate it).
    Overlap,
}

/// What becomes of the replacement once the original serves again.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Retire {
    /// Stopped, tagged `autorestart:standby-for=<original>`, its link tags removed.
    #[default]
    Standby,
    /// Terminated.
    Terminate,
}

macro_rules! words {
    ($name:ident { $($variant:ident = $word:literal),+ $(,)? }) => {
        impl $name {
            /// The word a request, a tag and a report use.
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $word),+ }
            }
            /// Reads the word; `None` for any other.
            pub fn parse(text: &str) -> Option<Self> {
                match text { $($word => Some(Self::$variant),)+ _ => None }
            }
        }
    };
}
words!(Handover { StopFirst = "stop-first", Overlap = "overlap" });
words!(Retire { Standby = "standby", Terminate = "terminate" });

/// A person's (or the automatic) failback of one Outpost.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Request {
    /// The Outpost that is back.
    pub outpost: OutpostId,
    /// Report the plan only (the default of a request).
    pub dry_run: bool,
    /// The order of the hand-over.
    pub handover: Handover,
    /// What becomes of the replacements.
    pub retire: Retire,
}

/// Why a failback rolled back.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Fault {
    /// The original was terminated during the failback.
    OriginalGone,
    /// The original did not run in time.
    NotRunning,
    /// The original ran but was not healthy in every target group in time.
    NotHealthy,
    /// EC2 refused to start the original (capacity, a volume, its state).
    StartRefused,
    /// DRS's job did not launch into the original.
    LaunchFailed,
    /// The Outpost went down again before the original served.
    HomeDown,
}

words!(Fault {
    OriginalGone = "original-gone",
    NotRunning = "not-running",
    NotHealthy = "not-healthy",
    StartRefused = "start-refused",
    LaunchFailed = "launch-failed",
    HomeDown = "outpost-down",
});

impl Fault {
    /// What happened, for people.
    pub fn explain(self) -> &'static str {
        match self {
            Self::OriginalGone => "the original was terminated during the failback",
            Self::NotRunning => "the original did not run in time",
            Self::NotHealthy => {
                "the original was not healthy in every target group of its replacement in time"
            }
            Self::StartRefused => "EC2 refused to start the original",
            Self::LaunchFailed => "DRS's job did not launch into the original",
            Self::HomeDown => "the Outpost went down again before the original served",
        }
    }
}

/// Where a failback is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case", tag = "phase", content = "fault")]
pub enum Phase {
    /// Handing over to the original.
    Going,
    /// Handing back to the replacement, and why.
    RollingBack(Fault),
}

/// The value of `autorestart:failback` on an original while it fails back:
/// `going <handover> <retire> <since>` or `rollback:<fault> <handover> <retire> <since>`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Marker {
    /// Where it is.
    pub phase: Phase,
    /// The order asked for.
    pub handover: Handover,
    /// What becomes of the replacement.
    pub retire: Retire,
    /// When the failback began: the original must run healthy by `since` + the wait (for a
    /// DRS failback: since the launch into the original started).
    pub since: DateTime<Utc>,
    /// The copy the failback hands over from, chosen when it began (the serving end of the
    /// original's chain), so that every later look retires the same one.
    pub from: Option<InstanceId>,
    /// DRS: the source server replicating the recovery instance back, as `ReverseReplication`
    /// answered.
    pub reversed: Option<String>,
    /// DRS: the recovery job launching into the original, as `StartRecovery` answered.
    pub job: Option<String>,
    /// DRS: the original is protected again (`ReverseReplication` on it answered).
    pub reprotected: bool,
}

impl Marker {
    /// A failback going home from now, as asked.
    pub fn going(handover: Handover, retire: Retire, since: DateTime<Utc>) -> Self {
        Self {
            phase: Phase::Going,
            handover,
            retire,
            since,
            from: None,
            reversed: None,
            job: None,
            reprotected: false,
        }
    }

    /// The tag's value.
    pub fn value(&self) -> String {
        let phase = match self.phase {
            Phase::Going => "going".to_owned(),
            Phase::RollingBack(fault) => format!("rollback:{}", fault.as_str()),
        };
        let mut value = format!(
            "{phase} {} {} {}",
            self.handover.as_str(),
            self.retire.as_str(),
            self.since.format("%Y-%m-%dT%H:%M:%SZ")
        );
        if let Some(from) = &self.from {
            value.push_str(&format!(" from={from}"));
        }
        if let Some(server) = &self.reversed {
            value.push_str(&format!(" reversed={server}"));
        }
        if let Some(job) = &self.job {
            value.push_str(&format!(" job={job}"));
        }
        if self.reprotected {
            value.push_str(" reprotected");
        }
        value
    }

    /// Reads the tag's value; `None` when it is not one the agent writes.
    pub fn parse(value: &str) -> Option<Self> {
        let mut parts = value.split_whitespace();
        let phase = match parts.next()? {
            "going" => Phase::Going,
            other => Phase::RollingBack(Fault::parse(other.strip_prefix("rollback:")?)?),
        };
        let handover = Handover::parse(parts.next()?)?;
        let retire = Retire::parse(parts.next()?)?;
        let since = parts.next()?.parse().ok()?;
        let mut marker = Self {
            phase,
            handover,
            retire,
            since,
            from: None,
            reversed: None,
            job: None,
            reprotected: false,
        };
        for part in parts {
            match part.split_once('=') {
                Some(("from", id)) if id.starts_with("i-") => marker.from = Some(id.into()),
                Some(("reversed", id)) if id.starts_with("s-") => {
                    marker.reversed = Some(id.to_owned())
                }
                Some(("job", id)) if id.starts_with("drsjob-") => marker.job = Some(id.to_owned()),
                None if part == "reprotected" => marker.reprotected = true,
                _ => return None,
            }
        }
        Some(marker)
    }

    /// The same failback, rolling back for `fault`.
    pub fn rolling_back(self, fault: Fault) -> Self {
        Self {
            phase: Phase::RollingBack(fault),
            ..self
        }
    }

    /// Whether this is a DRS failback (it started reverse replication).
    pub fn is_drs(&self) -> bool {
        self.reversed.is_some()
    }
}

/// One pair as observed now.
#[derive(Clone, Debug)]
pub struct Pair<'a> {
    /// The original, on the Outpost that is back.
    pub original: &'a Instance,
    /// The end of its chain of proven replacements (not terminated), if any.
    pub replacement: Option<&'a Instance>,
    /// Whether the replacement has lost its `replacement-of` (it is being retired).
    pub unlinked: bool,
    /// Instances its link tags name that AWS does not confirm.
    pub claims: &'a [InstanceId],
    /// The registrations to move from the replacement to the original (`moves::plan_moves`).
    pub back: &'a [Move],
    /// The registrations to move from the original to the replacement: a rollback's.
    pub forth: &'a [Move],
    /// The original's health in the groups it is registered in, by (group, target).
    pub health: &'a BTreeMap<(TargetGroupArn, Target), TargetHealth>,
    /// For a DRS-protected original: what DRS says of its failback; None when it is not one,
    /// `Some(Err)` when DRS could not be read.
    pub drs: Option<Result<DrsFailback<'a>, ()>>,
}

/// The Outpost the originals go home to, as observed now.
#[derive(Clone, Debug, Default)]
pub struct Home {
    /// When its alarm turned OK, if it is OK now.
    pub ok_since: Option<DateTime<Utc>>,
    /// Its free slots by instance type, when the Outposts API answered.
    pub free: Option<HashMap<String, i32>>,
}

/// The times a failback keeps.
#[derive(Clone, Copy, Debug)]
pub struct Timing {
    /// Now.
    pub now: DateTime<Utc>,
    /// How long the alarm must have been OK ([`SETTLE`]).
    pub settle: Duration,
    /// How long after its start a failback may take for the original to run healthy.
    pub wait: Duration,
}

/// Why a pair waits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case", tag = "for")]
pub enum Waiting {
    /// The original is pending (or stopping).
    Original,
    /// The replacement is stopping (or pending).
    Replacement,
    /// The original's health checks, until the failback's time is up.
    Healthy {
        /// When it rolls back.
        until: DateTime<Utc>,
    },
    /// An earlier wave is not home yet.
    EarlierWave {
        /// The wave going now.
        wave: u32,
    },
    /// The Outpost's alarm left OK during the failback: nothing is done until it is back.
    HomeNotOk,
    /// DRS: the recovery instance's data is not replicated back continuously yet.
    ReplicationBack,
    /// DRS: the job launching into the original runs.
    Job,
    /// DRS could not be read (or could not confirm the link): nothing is done until it can.
    Drs,
}

/// The next step of one pair.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// No failback asked, none in progress.
    Idle,
    /// Cannot begin, and why.
    Blocked(Vec<Blocker>),
    /// Record the failback on the original ([`Marker`]): the first write.
    Begin(Marker),
    /// Stop the replacement.
    StopReplacement,
    /// Start the original.
    StartOriginal,
    /// Register the original where the replacement is (`Move::to`).
    RegisterOriginal(Vec<Move>),
    /// Deregister the replacement (`Move::from`): the original is healthy in every group.
    DeregisterReplacement(Vec<Move>),
    /// Terminate the replacement.
    TerminateReplacement,
    /// Make the stopped replacement a standby: untag its link, tag `standby-for`.
    KeepAsStandby,
    /// Untag the original of the incident and of the marker: home.
    CleanUp,
    /// Wait, and for what.
    Wait(Waiting),
    /// Record the rollback, and why.
    RollBack(Fault),
    /// Deregister the original (`Move::from` of the rollback's moves).
    DeregisterOriginal(Vec<Move>),
    /// Stop the original.
    StopOriginal,
    /// Start the replacement again.
    StartReplacement,
    /// Register the replacement again (`Move::to` of the rollback's moves).
    RegisterReplacement(Vec<Move>),
    /// Remove the marker: rolled back, the original fenced as before.
    EndRollBack,
    /// DRS: start replicating the recovery instance back (`ReverseReplication`).
    ReverseReplication,
    /// DRS: launch the reversed source server into the original (`StartRecovery`).
    LaunchIntoOriginal,
    /// DRS: protect the original again (`ReverseReplication` on it).
    Reprotect,
    /// DRS: unlink the stopped launch-into target (it stays the next recovery's target).
    UnlinkTarget,
}

impl Step {
    /// Whether the step changes something (a dry run reports it instead).
    pub fn acts(&self) -> bool {
        !matches!(self, Self::Idle | Self::Blocked(_) | Self::Wait(_))
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let groups = |moves: &Vec<Move>| moves.len();
        match self {
            Self::Idle => write!(f, "nothing asked"),
            Self::Blocked(_) => write!(f, "blocked"),
            Self::Begin(_) => write!(f, "record the failback on the original"),
            Self::StopReplacement => write!(f, "stop the replacement"),
            Self::StartOriginal => write!(f, "start the original"),
            Self::RegisterOriginal(m) => {
                write!(f, "register the original in {} target group(s)", groups(m))
            }
            Self::DeregisterReplacement(m) => write!(
                f,
                "deregister the replacement from {} target group(s)",
                groups(m)
            ),
            Self::TerminateReplacement => write!(f, "terminate the replacement"),
            Self::KeepAsStandby => write!(f, "keep the replacement as a standby"),
            Self::CleanUp => write!(f, "clear the incident's tags from the original"),
            Self::Wait(Waiting::Original) => write!(f, "wait for the original to run"),
            Self::Wait(Waiting::Replacement) => write!(f, "wait for the replacement to stop"),
            Self::Wait(Waiting::Healthy { until }) => write!(
                f,
                "wait for the original to be healthy (until {})",
                until.format("%H:%M:%SZ")
            ),
            Self::Wait(Waiting::EarlierWave { wave }) => write!(f, "wait for wave {wave}"),
            Self::Wait(Waiting::HomeNotOk) => {
                write!(f, "paused: the Outpost's alarm is not OK")
            }
            Self::RollBack(fault) => write!(f, "roll back: {}", fault.explain()),
            Self::DeregisterOriginal(m) => {
                write!(
                    f,
                    "deregister the original from {} target group(s)",
                    groups(m)
                )
            }
            Self::StopOriginal => write!(f, "stop the original"),
            Self::StartReplacement => write!(f, "start the replacement again"),
            Self::RegisterReplacement(m) => write!(
                f,
                "register the replacement again in {} target group(s)",
                groups(m)
            ),
            Self::EndRollBack => write!(f, "end the rollback"),
            Self::ReverseReplication => write!(f, "replicate the recovery instance back (DRS)"),
            Self::LaunchIntoOriginal => write!(f, "launch into the original (DRS)"),
            Self::Reprotect => write!(f, "protect the original again (DRS)"),
            Self::UnlinkTarget => write!(f, "unlink the stopped launch-into target"),
            Self::Wait(Waiting::ReplicationBack) => {
                write!(f, "wait for DRS to replicate the recovery instance back")
            }
            Self::Wait(Waiting::Job) => write!(f, "wait for DRS's launch into the original"),
            Self::Wait(Waiting::Drs) => write!(f, "wait until DRS can be read"),
        }
    }
}

/// Decides the next step of every pair, in order. `request` is a failback asked now (None:
/// only failbacks in progress go on, as in the sweep). A request begins, wave by wave, only the
/// pairs nothing blocks, within the home Outpost's free slots; pairs in progress go on
/// whatever was asked since (their marker holds how). Pure.
pub fn decide(
    pairs: &[Pair<'_>],
    home: &Home,
    request: Option<&Request>,
    timing: &Timing,
) -> Vec<Step> {
    let mut steps: Vec<Step> = pairs
        .iter()
        .map(|pair| match pair.original.tag(tags::FAILBACK) {
            Some(value) => match Marker::parse(value) {
                // DRS could not be read, or could not confirm the link now: wait.
                Some(_) if matches!(pair.drs, Some(Err(()))) => Step::Wait(Waiting::Drs),
                // Home down again before the original serves: the replacement serves again
                // (its start and registration touch only the other Outpost); an original
                // already running may serve locally: left to the outage's handling.
                Some(marker)
                    if home.ok_since.is_none()
                        && marker.phase == Phase::Going
                        && !pair.original.is_starting_or_running() =>
                {
                    Step::RollBack(Fault::HomeDown)
                }
                Some(marker) if home.ok_since.is_none() && marker.phase == Phase::Going => {
                    Step::Wait(Waiting::HomeNotOk)
                }
                Some(marker) => match marker.phase {
                    Phase::Going => going(pair, &marker, timing),
                    Phase::RollingBack(_) => rolling_back(pair),
                },
                None => Step::Blocked(vec![Blocker::BadMarker(value.to_owned())]),
            },
            None => match request {
                None => Step::Idle,
                Some(_) => {
                    let blockers = blockers(pair, home, timing);
                    if blockers.is_empty() {
                        Step::Idle // a candidate; begun below
                    } else {
                        Step::Blocked(blockers)
                    }
                }
            },
        })
        .collect();
    let Some(request) = request else {
        return steps;
    };
    // Candidates: asked, nothing blocks them, not begun.
    let candidate = |i: usize, steps: &[Step]| {
        steps[i] == Step::Idle && pairs[i].original.tag(tags::FAILBACK).is_none()
    };
    let wave_of = |pair: &Pair<'_>| tags::parse_wave(pair.original.tag(tags::WAVE)).unwrap_or(0);
    let going_wave = (0..pairs.len())
        .filter(|&i| {
            candidate(i, &steps)
                || pairs[i]
                    .original
                    .tag(tags::FAILBACK)
                    .and_then(Marker::parse)
                    .is_some_and(|m| m.phase == Phase::Going)
        })
        .map(|i| wave_of(&pairs[i]))
        .min();
    let mut needed: HashMap<String, i32> = HashMap::new();
    for i in 0..pairs.len() {
        if !candidate(i, &steps) {
            continue;
        }
        let wave = wave_of(&pairs[i]);
        if going_wave.is_some_and(|going| wave > going) {
            steps[i] = Step::Wait(Waiting::EarlierWave {
                wave: going_wave.unwrap_or_default(),
            });
            continue;
        }
        let instance_type = pairs[i].original.instance_type.clone().unwrap_or_default();
        if let Some(free) = home.free.as_ref().and_then(|f| f.get(&instance_type)) {
            let count = needed.entry(instance_type.clone()).or_default();
            if *count >= *free {
                steps[i] = Step::Blocked(vec![Blocker::NoCapacity {
                    instance_type,
                    free: *free,
                }]);
                continue;
            }
            *count += 1;
        }
        steps[i] = Step::Begin(Marker {
            from: pairs[i].replacement.map(|r| r.id.clone()),
            ..Marker::going(request.handover, request.retire, timing.now)
        });
    }
    steps
}

/// What keeps a pair from beginning now.
fn blockers(pair: &Pair<'_>, home: &Home, timing: &Timing) -> Vec<Blocker> {
    let original = pair.original;
    let mut found = Vec::new();
    if tags::parse_strategy(original.tag(tags::STRATEGY)) == Ok(Strategy::Drs) {
        if matches!(pair.drs, Some(Err(()))) {
            found.push(Blocker::Drs);
        }
        if original.tag(crate::drs::TARGET_TAG_KEY) != Some(crate::drs::TARGET_TAG_VALUE) {
            found.push(Blocker::NoLaunchIntoTag);
        }
    }
    if original.state.is_gone() {
        found.push(Blocker::OriginalGone);
    } else if original.is_starting_or_running() {
        found.push(Blocker::OriginalRunning);
    }
    if pair.replacement.is_none() && !pair.claims.is_empty() {
        found.push(Blocker::NotProven(pair.claims.to_vec()));
    }
    match home.ok_since {
        None => found.push(Blocker::HomeNotOk),
        Some(since) => {
            let until = since + chrono::Duration::from_std(timing.settle).unwrap_or_default();
            if timing.now < until {
                found.push(Blocker::NotSettled { since, until });
            }
        }
    }
    found
}

/// The next step of a failback going home.
fn going(pair: &Pair<'_>, marker: &Marker, timing: &Timing) -> Step {
    let original = pair.original;
    let until = marker.since + chrono::Duration::from_std(timing.wait).unwrap_or_default();
    let drs = pair.drs.is_some();
    // A DRS failback waits for replication back as long as it takes: its time runs from the
    // launch into the original.
    let late =
        timing.now >= until && (!drs || marker.job.is_some() || original.is_starting_or_running());
    if original.state.is_gone() {
        return Step::RollBack(Fault::OriginalGone);
    }
    let replacement = pair.replacement;
    let replacement_state = replacement.map(|r| &r.state);
    match &original.state {
        InstanceState::Running => {}
        InstanceState::Stopped if drs => return drs_launch(pair, marker, late),
        InstanceState::Stopped => {
            if late {
                return Step::RollBack(Fault::NotRunning);
            }
            if marker.handover == Handover::StopFirst {
                match replacement_state {
                    Some(s) if s.is_starting_or_running() => return Step::StopReplacement,
                    Some(InstanceState::Stopping) => return Step::Wait(Waiting::Replacement),
                    _ => {}
                }
            }
            return Step::StartOriginal;
        }
        _ if late => return Step::RollBack(Fault::NotRunning),
        _ => return Step::Wait(Waiting::Original),
    }
    // The original runs: register it, wait for its health, then retire the replacement.
    let unregistered = moves_where(pair.back, |m| !m.already_registered);
    let healthy = |m: &Move| {
        pair.health
            .get(&(m.target_group_arn.clone(), m.to.clone()))
            .is_some_and(|h| h.is_settled())
    };
    if !unregistered.is_empty() {
        return if late {
            Step::RollBack(Fault::NotHealthy)
        } else {
            Step::RegisterOriginal(unregistered)
        };
    }
    if !pair.back.iter().all(healthy) {
        return if late {
            Step::RollBack(Fault::NotHealthy)
        } else {
            Step::Wait(Waiting::Healthy { until })
        };
    }
    let still = moves_where(pair.back, |m| m.from_registered);
    if !still.is_empty() {
        return Step::DeregisterReplacement(still);
    }
    if drs {
        return drs_retire(pair, marker);
    }
    let Some(replacement) = replacement else {
        return Step::CleanUp;
    };
    match marker.retire {
        Retire::Terminate => Step::TerminateReplacement,
        Retire::Standby => match &replacement.state {
            s if s.is_starting_or_running() => Step::StopReplacement,
            InstanceState::Stopping => Step::Wait(Waiting::Replacement),
            _ if pair.unlinked
                && replacement.tag(tags::STANDBY_FOR) == Some(original.id.as_str()) =>
            {
                Step::CleanUp
            }
            _ => Step::KeepAsStandby,
        },
    }
}

/// The next step of a failback rolling back: the original out of service and stopped, then
/// the replacement started and registered again.
fn rolling_back(pair: &Pair<'_>) -> Step {
    let original = pair.original;
    let Some(replacement) = pair.replacement else {
        // Nothing to hand back to: the original, whatever it does, is the one copy left.
        return Step::EndRollBack;
    };
    let registered = moves_where(pair.forth, |m| m.from_registered);
    if !registered.is_empty() && !original.state.is_gone() {
        return Step::DeregisterOriginal(registered);
    }
    match &original.state {
        s if s.is_starting_or_running() => return Step::StopOriginal,
        InstanceState::Stopping => return Step::Wait(Waiting::Original),
        _ => {}
    }
    match &replacement.state {
        InstanceState::Stopped => return Step::StartReplacement,
        InstanceState::Running => {}
        _ => return Step::Wait(Waiting::Replacement),
    }
    let unregistered = moves_where(pair.forth, |m| !m.already_registered);
    if unregistered.is_empty() {
        Step::EndRollBack
    } else {
        Step::RegisterReplacement(unregistered)
    }
}

/// The command that asks for a failback dry run of `outpost` (`dryRun` false acts).
pub fn command(outpost: &str, region: &str) -> String {
    let payload = format!(r#"{{"outpost":"{outpost}","mode":"failback","dryRun":true}}"#);
    crate::settings::invoke_command(&payload, region, "failback.json")
}

/// The moves of `moves` that `keep` keeps.
fn moves_where(moves: &[Move], keep: impl Fn(&Move) -> bool) -> Vec<Move> {
    moves.iter().filter(|m| keep(m)).cloned().collect()
}

/// The fault a refused start of the original is: a definite refusal rolls back; a throttle
/// or a lost answer is tried again by the next look.
pub fn start_refused(error: &AwsError) -> Option<Fault> {
    match error.kind {
        ErrorKind::Throttled | ErrorKind::Transient => None,
        _ => Some(Fault::StartRefused),
    }
}

/// The tags removed from the original once it is home: the incident's link and records, and
/// the marker. Its recovery templates, wave, link-loss policy and remembered memberships stay.
pub const HOME_CLEARS: [&str; 13] = [
    tags::REPLACED_BY,
    tags::INCIDENT,
    tags::FENCED,
    tags::FENCE_HELD,
    tags::LAST_ATTEMPT,
    tags::FULL,
    tags::OUTCOME_REPORTED,
    tags::DRS_JOB,
    tags::DRS_ATTEMPT,
    tags::DRS_STUCK,
    tags::UNPROVEN_CLAIMS,
    tags::REPORTED,
    tags::FAILBACK,
];

/// The tags removed from a replacement kept as a standby: its link and its report, so that no
/// later recovery or fencing counts it as a replacement. What EC2 and the launch wrote
/// (`launched-in`, `attempt`, `aws:*`) stay: with its ClientToken they prove the agent
/// launched it.
pub const STANDBY_CLEARS: [&str; 2] = [tags::REPLACEMENT_OF, tags::REPORTED];

mod blocker;
mod drs;
mod report;
pub use blocker::Blocker;
pub use drs::DrsFailback;
use drs::{drs_launch, drs_retire};
pub use report::{FailbackReport, InstanceFailback, Status};

#[cfg(test)]
mod tests;
