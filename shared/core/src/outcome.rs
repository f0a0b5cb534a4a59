//! How the recovery of one protected instance ended, as the flows report it.

use crate::error::AwsError;
use crate::error::ErrorKind;
use crate::inventory::Instance;
use crate::plan::SkippedTemplate;
use crate::tags::TemplateRef;
use crate::vocabulary::InstanceState;

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
        /// A warm standby started (`standby`), not a launch.
        standby: bool,
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
    /// The original was not running when its Outpost went down: not recovered.
    NotRunning {
        /// Its EC2 state.
        state: InstanceState,
    },
    /// The invocation's time ran out before the launch: the next run (a retry or the sweep)
    /// carries on from here.
    Unfinished {
        /// What is left to do.
        reason: String,
    },
    /// Held by its link-loss policy (`hold`): only a `failover` request recovers it.
    Held {
        /// Why, with the request that recovers it.
        reason: String,
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

/// How the recovery of one instance ended, without its details: what reports, notices, metrics
/// and the Lambda response name it (`outcome` in JSON).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum OutcomeKind {
    /// A replacement was launched now.
    Recovered,
    /// A live replacement existed already.
    AlreadyRecovered,
    /// Notify-only: a launch would be tried.
    WouldLaunch,
    /// A DRS recovery job was started.
    DrsRecoveryStarted,
    /// A DRS recovery job runs already.
    DrsAlreadyStarted,
    /// Notify-only: DRS recovery would start.
    WouldStartDrs,
    /// Not recovered: it was not running when its Outpost went down.
    NotRunning,
    /// Not recovered yet: the next run continues.
    Unfinished,
    /// Not recovered: a person must act.
    Failed,
    /// Not recovered: held until a person confirms its server is down (`failover`).
    Held,
}

impl OutcomeKind {
    /// Every kind, in the order a notice lists them: what needs a person first.
    pub const ALL: [Self; 10] = [
        Self::Failed,
        Self::Held,
        Self::Unfinished,
        Self::NotRunning,
        Self::Recovered,
        Self::AlreadyRecovered,
        Self::DrsRecoveryStarted,
        Self::DrsAlreadyStarted,
        Self::WouldLaunch,
        Self::WouldStartDrs,
    ];

    /// The name in reports and digests (the JSON value).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Recovered => "recovered",
            Self::AlreadyRecovered => "already-recovered",
            Self::WouldLaunch => "would-launch",
            Self::DrsRecoveryStarted => "drs-recovery-started",
            Self::DrsAlreadyStarted => "drs-already-started",
            Self::WouldStartDrs => "would-start-drs",
            Self::NotRunning => "not-running",
            Self::Unfinished => "unfinished",
            Self::Failed => "failed",
            Self::Held => "held",
        }
    }

    /// A replacement runs, now or from before.
    pub fn is_recovered(self) -> bool {
        matches!(self, Self::Recovered | Self::AlreadyRecovered)
    }

    /// A DRS job runs for it, started now or before.
    pub fn is_drs_started(self) -> bool {
        matches!(self, Self::DrsRecoveryStarted | Self::DrsAlreadyStarted)
    }
}

impl std::fmt::Display for OutcomeKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Outcome {
    /// Its kind.
    pub fn kind(&self) -> OutcomeKind {
        match self {
            Self::Recovered { .. } => OutcomeKind::Recovered,
            Self::AlreadyRecovered { .. } => OutcomeKind::AlreadyRecovered,
            Self::WouldLaunch { .. } => OutcomeKind::WouldLaunch,
            Self::DrsStarted { .. } => OutcomeKind::DrsRecoveryStarted,
            Self::DrsAlreadyStarted { .. } => OutcomeKind::DrsAlreadyStarted,
            Self::WouldStartDrs { .. } => OutcomeKind::WouldStartDrs,
            Self::NotRunning { .. } => OutcomeKind::NotRunning,
            Self::Unfinished { .. } => OutcomeKind::Unfinished,
            Self::Failed { .. } => OutcomeKind::Failed,
            Self::Held { .. } => OutcomeKind::Held,
        }
    }
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
    /// Replacements that died and that the new replacement takes the place of.
    pub superseded: Vec<Instance>,
}

/// Whether launches happen or are only reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Execution {
    /// Launch and tag.
    Live,
    /// Change nothing; report what would be launched.
    DryRun,
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

impl InstanceOutcome {
    /// An outcome with nothing skipped, tried or warned about yet.
    pub fn of(original: Instance, outcome: Outcome) -> Self {
        Self {
            original,
            outcome,
            skipped: Vec::new(),
            attempts: Vec::new(),
            warnings: Vec::new(),
            superseded: Vec::new(),
        }
    }
}

/// A failure known before any launch.
pub fn failed(
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_is_named_alike_in_json_text_and_digests() {
        for kind in OutcomeKind::ALL {
            assert_eq!(
                serde_json::to_value(kind).unwrap(),
                serde_json::Value::from(kind.as_str())
            );
            assert_eq!(kind.to_string(), kind.as_str());
        }
    }
}
