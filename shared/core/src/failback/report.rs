//! What a failback reports: each original's status, and the Outpost's report.

use super::{Fault, Handover, Retire};
use crate::alarm::OutpostId;
use crate::ids::{InstanceId, TargetGroupArn};

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
