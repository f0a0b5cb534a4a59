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
}

words!(Fault {
    OriginalGone = "original-gone",
    NotRunning = "not-running",
    NotHealthy = "not-healthy",
    StartRefused = "start-refused",
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
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Marker {
    /// Where it is.
    pub phase: Phase,
    /// The order asked for.
    pub handover: Handover,
    /// What becomes of the replacement.
    pub retire: Retire,
    /// When the failback began: the original must run healthy by `since` + the wait.
    pub since: DateTime<Utc>,
}

impl Marker {
    /// The tag's value.
    pub fn value(&self) -> String {
        let phase = match self.phase {
            Phase::Going => "going".to_owned(),
            Phase::RollingBack(fault) => format!("rollback:{}", fault.as_str()),
        };
        format!(
            "{phase} {} {} {}",
            self.handover.as_str(),
            self.retire.as_str(),
            self.since.format("%Y-%m-%dT%H:%M:%SZ")
        )
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
        parts.next().is_none().then_some(Self {
            phase,
            handover,
            retire,
            since,
        })
    }

    /// The same failback, rolling back for `fault`.
    pub fn rolling_back(self, fault: Fault) -> Self {
        Self {
            phase: Phase::RollingBack(fault),
            ..self
        }
    }
}

/// Why an original cannot begin to fail back now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Blocker {
    /// It is recovered with DRS: its failback goes through DRS's reverse replication.
    Drs,
    /// It is terminated, or shutting down.
    OriginalGone,
    /// It runs: it was not fenced, so two copies may serve already.
    OriginalRunning,
    /// Its link tags name a replacement AWS does not confirm the agent launched.
    NotProven(Vec<InstanceId>),
    /// Its Outpost's alarm is not OK now.
    HomeNotOk,
    /// Its Outpost's alarm has been OK since `since`, not yet for the settle time.
    NotSettled {
        /// When the alarm turned OK.
        since: DateTime<Utc>,
        /// When the settle time is over.
        until: DateTime<Utc>,
    },
    /// Its Outpost has fewer free slots of its type than the originals failing back need.
    NoCapacity {
        /// The instance type.
        instance_type: String,
        /// Free slots.
        free: i32,
    },
    /// The tag `autorestart:failback` holds a value the agent does not write.
    BadMarker(String),
}

impl Blocker {
    /// A short code for metrics and filters.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Drs => "drs",
            Self::OriginalGone => "original-gone",
            Self::OriginalRunning => "original-running",
            Self::NotProven(_) => "link-not-proven",
            Self::HomeNotOk => "outpost-not-ok",
            Self::NotSettled { .. } => "not-settled",
            Self::NoCapacity { .. } => "no-capacity",
            Self::BadMarker(_) => "bad-marker",
        }
    }

    /// Why, and what would change it.
    pub fn explain(&self) -> String {
        match self {
            Self::Drs => "recovered with DRS: its failback goes through DRS (reverse replication), which this agent does not start yet; fail it back in the DRS console".into(),
            Self::OriginalGone => "the original is terminated: there is nothing to fail back to; the replacement stays".into(),
            Self::OriginalRunning => "the original runs: it was not fenced, so it may serve next to its replacement; stop one of them first".into(),
            Self::NotProven(claimed) => format!(
                "its link tags name {} but AWS does not confirm the agent launched it: the agent fails back only what it recovered",
                claimed.iter().map(InstanceId::as_str).collect::<Vec<_>>().join(", ")
            ),
            Self::HomeNotOk => "its Outpost's ConnectedStatus alarm is not OK now".into(),
            Self::NotSettled { since, until } => format!(
                "its Outpost's alarm has been OK only since {}; failback waits until {} (the settle time)",
                since.format("%Y-%m-%dT%H:%M:%SZ"),
                until.format("%Y-%m-%dT%H:%M:%SZ")
            ),
            Self::NoCapacity { instance_type, free } => format!(
                "its Outpost has {free} free {instance_type} slot(s), fewer than the originals failing back need; free capacity or fail back fewer (waves)"
            ),
            Self::BadMarker(value) => format!(
                "its tag {}={value:?} is not one the agent writes; remove it to fail back",
                tags::FAILBACK
            ),
        }
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
                Some(_) if home.ok_since.is_none() => Step::Wait(Waiting::HomeNotOk),
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
            phase: Phase::Going,
            handover: request.handover,
            retire: request.retire,
            since: timing.now,
        });
    }
    steps
}

/// What keeps a pair from beginning now.
fn blockers(pair: &Pair<'_>, home: &Home, timing: &Timing) -> Vec<Blocker> {
    let original = pair.original;
    let mut found = Vec::new();
    if tags::parse_strategy(original.tag(tags::STRATEGY)) == Ok(Strategy::Drs) {
        found.push(Blocker::Drs);
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
    let late = timing.now >= until;
    if original.state.is_gone() {
        return Step::RollBack(Fault::OriginalGone);
    }
    let replacement = pair.replacement;
    let replacement_state = replacement.map(|r| &r.state);
    match &original.state {
        InstanceState::Running => {}
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
    let unregistered: Vec<Move> = pair
        .back
        .iter()
        .filter(|m| !m.already_registered)
        .cloned()
        .collect();
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
    let still: Vec<Move> = pair
        .back
        .iter()
        .filter(|m| m.from_registered)
        .cloned()
        .collect();
    if !still.is_empty() {
        return Step::DeregisterReplacement(still);
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
    let registered: Vec<Move> = pair
        .forth
        .iter()
        .filter(|m| m.from_registered)
        .cloned()
        .collect();
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
    let unregistered: Vec<Move> = pair
        .forth
        .iter()
        .filter(|m| !m.already_registered)
        .cloned()
        .collect();
    if unregistered.is_empty() {
        Step::EndRollBack
    } else {
        Step::RegisterReplacement(unregistered)
    }
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

/// How a pair ended this run, or where it is.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case", tag = "status")]
pub enum Status {
    /// A dry run: it would fail back.
    WouldFailBack,
    /// It cannot fail back now.
    Blocked,
    /// Not asked and not in progress.
    NotAsked,
    /// Going on; the next run (the sweep) finishes it.
    InProgress {
        /// The next step.
        next: String,
    },
    /// Home: the original serves, the replacement is retired.
    FailedBack,
    /// Rolled back: the replacement serves, the original is fenced as before.
    RolledBack {
        /// Why.
        fault: Fault,
    },
}

/// One original in a failback report.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct InstanceFailback {
    /// The original.
    pub original_id: InstanceId,
    /// Its Name tag, or its id.
    pub name: String,
    /// The replacement that served, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replacement_id: Option<InstanceId>,
    /// The target groups that move back.
    pub target_groups: Vec<TargetGroupArn>,
    /// How it ended, or where it is.
    #[serde(flatten)]
    pub status: Status,
    /// Why it cannot fail back now (blocked).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<String>,
    /// The codes of `reasons`, for metrics.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub codes: Vec<String>,
    /// What this run did, in order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub did: Vec<String>,
    /// From the failback's start to home (failed back) or to the rollback's end.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seconds: Option<i64>,
}

/// What a failback did (or would do) on one Outpost.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct FailbackReport {
    /// The Outpost.
    pub outpost: OutpostId,
    /// Whether nothing was changed.
    pub dry_run: bool,
    /// Whether a person asked (false: the sweep went on with failbacks in progress, or the
    /// automatic failback).
    pub asked: bool,
    /// The order asked for.
    pub handover: Handover,
    /// What becomes of the replacements.
    pub retire: Retire,
    /// One entry per original with a replacement, a claim or a failback in progress.
    pub instances: Vec<InstanceFailback>,
    /// Steps that failed; the next run tries them again.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
    /// Whether and how people were told.
    pub notification: crate::report::Notification,
}

impl FailbackReport {
    /// Whether people should hear of it: anything ended (home or rolled back), or a person
    /// asked (what was done, what blocks).
    pub fn has_news(&self) -> bool {
        self.asked && !self.instances.is_empty()
            || self
                .instances
                .iter()
                .any(|i| matches!(i.status, Status::FailedBack | Status::RolledBack { .. }))
            || !self.errors.is_empty()
    }

    /// `3 failed back, 1 rolled back, 2 blocked, 1 in progress`.
    pub fn summary(&self) -> String {
        let count =
            |f: &dyn Fn(&Status) -> bool| self.instances.iter().filter(|i| f(&i.status)).count();
        let parts = [
            (count(&|s| *s == Status::WouldFailBack), "would fail back"),
            (count(&|s| *s == Status::FailedBack), "failed back"),
            (
                count(&|s| matches!(s, Status::RolledBack { .. })),
                "rolled back",
            ),
            (count(&|s| *s == Status::Blocked), "blocked"),
            (
                count(&|s| matches!(s, Status::InProgress { .. })),
                "in progress",
            ),
        ];
        let said: Vec<String> = parts
            .iter()
            .filter(|(n, _)| *n > 0)
            .map(|(n, what)| format!("{n} {what}"))
            .collect();
        if said.is_empty() {
            "nothing to fail back".into()
        } else {
            said.join(", ")
        }
    }
}

#[cfg(test)]
mod tests;
