//! Why an original cannot begin to fail back now, in words.

use chrono::{DateTime, Utc};

use crate::ids::InstanceId;
use crate::tags;

/// Why an original cannot begin to fail back now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Blocker {
    /// It is recovered with DRS and DRS could not be read now.
    Drs,
    /// It is recovered with DRS and lacks the launch-into tag DRS needs to launch into it.
    NoLaunchIntoTag,
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
            Self::Drs => "drs-unreadable",
            Self::NoLaunchIntoTag => "no-launch-into-tag",
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
            Self::Drs => "recovered with DRS, and DRS could not be read now: the next run asks again".into(),
            Self::NoLaunchIntoTag => format!(
                "recovered with DRS: its failback launches into it, which DRS does only into an instance tagged {}={}; tag it",
                crate::drs::TARGET_TAG_KEY,
                crate::drs::TARGET_TAG_VALUE
            ),
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
