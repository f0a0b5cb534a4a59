//! A dark Outpost is not a dead one: `ConnectedStatus` = 0 also means "service link down,
//! instances still running locally". What keeps each protected instance from running twice
//! then is its `autorestart:on-link-loss` policy (`relaunch`, `self-fenced:T`, `hold`), and
//! this module decides, from that policy and the alarm, whether its recovery may go now.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::alarm::AlarmChange;
use crate::inventory::Instance;
use crate::tags;

/// How long after a self-fenced original must have fenced itself its replacement may launch
/// by default (`Settings::fence_margin`): the sentinel's probe interval and timeout, its fence
/// command's run, and clock skew between the instance and CloudWatch.
pub const FENCE_MARGIN: Duration = Duration::from_secs(60);

/// The longest fence time a tag may name: a day (a longer wait is a `hold`).
pub const MAX_FENCE_AFTER: Duration = Duration::from_secs(86_400);

/// An instance's `autorestart:on-link-loss` policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case", tag = "policy")]
pub enum Policy {
    /// Relaunched at once: for stateless instances, where a second copy is harmless while
    /// the Region cannot reach the first. The default.
    Relaunch,
    /// The instance runs the sentinel, which fences it after `fence_after` without the
    /// Region: relaunched only once the outage is longer than that and a margin.
    SelfFenced {
        /// The sentinel's fence time (T), in seconds.
        fence_after_seconds: u64,
    },
    /// Never relaunched on `ConnectedStatus` alone: only by a `failover` request, once a
    /// person has confirmed the server is down.
    Hold,
}

/// An instance's policy as its tag reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tagged {
    /// The policy.
    pub policy: Policy,
    /// Whether the tag is absent, so that the policy is the default.
    pub defaulted: bool,
}

/// The instance's policy, or why its tag cannot be read (the instance is then not recovered
/// on a link loss: which copy may run is the operator's to say).
pub fn policy_of(instance: &Instance) -> Result<Tagged, String> {
    match instance.tag(tags::ON_LINK_LOSS) {
        None => Ok(Tagged {
            policy: Policy::Relaunch,
            defaulted: true,
        }),
        Some(value) => parse(value).map(|policy| Tagged {
            policy,
            defaulted: false,
        }),
    }
}

/// Reads a tag value: `relaunch`, `hold` or `self-fenced:T` (T in seconds, 1 to a day).
pub fn parse(value: &str) -> Result<Policy, String> {
    let value = value.trim();
    let bad = |why: &str| {
        format!(
            "tag {}={value:?} {why}: use relaunch, hold, or self-fenced:T with T the sentinel's fence time in seconds",
            tags::ON_LINK_LOSS
        )
    };
    match value {
        "relaunch" => Ok(Policy::Relaunch),
        "hold" => Ok(Policy::Hold),
        "self-fenced" => Err(bad("names no fence time")),
        _ => {
            let Some(seconds) = value.strip_prefix("self-fenced:") else {
                return Err(bad("is not a policy"));
            };
            let seconds: u64 = seconds
                .trim()
                .parse()
                .map_err(|_| bad("has a fence time that is not a whole number of seconds"))?;
            if seconds == 0 || seconds > MAX_FENCE_AFTER.as_secs() {
                return Err(bad("has a fence time outside 1 to 86400 seconds"));
            }
            Ok(Policy::SelfFenced {
                fence_after_seconds: seconds,
            })
        }
    }
}

/// What a recovery knows of the outage's timing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timing {
    /// The latest the service link can have been lost, as CloudWatch shows it
    /// ([`lost_by`]).
    pub lost_by: DateTime<Utc>,
    /// Now.
    pub now: DateTime<Utc>,
    /// How long after a self-fenced original must have fenced its replacement may launch.
    pub margin: Duration,
    /// A person confirmed the server is down (`failover`): held instances go too.
    pub failover: bool,
}

/// The latest the service link can have been lost, by the alarm: the end of the first window
/// of the last run of breaching datapoints CloudWatch evaluated (a link that came back in
/// between restarted the sentinel's clock, so an earlier run does not count), or, when the
/// alarm does not say, the moment it went into ALARM (later still, so never early).
pub fn lost_by(change: &AlarmChange) -> DateTime<Utc> {
    change
        .evaluation
        .as_ref()
        .and_then(|e| {
            let start = e.breaching_since()?;
            Some(start + chrono::TimeDelta::seconds(i64::from(e.period_seconds)))
        })
        .map_or(change.state_since, |end| end.min(change.state_since))
}

/// Whether an instance's recovery may go now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Gate {
    /// Recover now.
    Go,
    /// A self-fenced original: recover at `until` (it has fenced itself by then).
    Wait {
        /// When its replacement may launch.
        until: DateTime<Utc>,
        /// Why, in words.
        reason: String,
    },
    /// A held original: only a `failover` request recovers it.
    Hold {
        /// Why, in words, with the request that recovers it.
        reason: String,
    },
    /// The policy tag cannot be read: not recovered until it is fixed (which copy may run
    /// is the operator's to say).
    BadTag {
        /// What is wrong and what to fix.
        reason: String,
    },
}

/// Decides whether `policy` lets an instance's recovery go now.
pub fn gate(policy: Policy, timing: &Timing, outpost: &str) -> Gate {
    match policy {
        Policy::Relaunch => Gate::Go,
        Policy::Hold if timing.failover => Gate::Go,
        Policy::Hold => Gate::Hold {
            reason: format!(
                "held ({}=hold): not relaunched while its server may still run it; once a person has confirmed the server is down, recover it with {}",
                tags::ON_LINK_LOSS,
                failover_command(outpost)
            ),
        },
        Policy::SelfFenced {
            fence_after_seconds,
        } => {
            let until = launch_after(timing, fence_after_seconds);
            if timing.now >= until {
                Gate::Go
            } else {
                Gate::Wait {
                    until,
                    reason: format!(
                        "self-fenced after {fence_after_seconds} s: its replacement launches at {} (the link was lost by {}, plus {fence_after_seconds} s for the sentinel to fence it and a margin of {} s); the agent or the next sweep launches it then",
                        until.format("%Y-%m-%d %H:%M:%S UTC"),
                        timing.lost_by.format("%H:%M:%S"),
                        timing.margin.as_secs()
                    ),
                }
            }
        }
    }
}

/// When a self-fenced original's replacement may launch: once the sentinel has fenced it
/// (T after the link was lost) and the margin has passed.
pub fn launch_after(timing: &Timing, fence_after_seconds: u64) -> DateTime<Utc> {
    let wait = Duration::from_secs(fence_after_seconds) + timing.margin;
    timing.lost_by + chrono::TimeDelta::from_std(wait).unwrap_or(chrono::TimeDelta::MAX)
}

/// What a person does for a held instance.
pub const HELD_ADVICE: &str = "confirm that its server is down, not only its service link (at the site: is it powered, does the instance answer locally?), then send the failover request its reason names; until then it is not relaunched";

/// The request that recovers an Outpost's held instances, as the notice prints it.
pub fn failover_command(outpost: &str) -> String {
    format!(
        r#"`aws lambda invoke --function-name <the stack's DrillFunction> --cli-binary-format raw-in-base64-out --payload '{{"outpost":"{outpost}","mode":"failover"}}' failover.json`"#
    )
}

/// What keeps the instance from running twice, for the notice.
pub fn protection(tagged: &Tagged) -> String {
    match tagged.policy {
        Policy::Relaunch if tagged.defaulted => format!(
            "relaunch (the default, no {} tag): while the link is down the original may still run beside its replacement",
            tags::ON_LINK_LOSS
        ),
        Policy::Relaunch => {
            "relaunch: while the link is down the original may still run beside its replacement"
                .into()
        }
        Policy::SelfFenced {
            fence_after_seconds,
        } => format!(
            "self-fenced: its sentinel stops it {fence_after_seconds} s after losing the Region, before its replacement launches"
        ),
        Policy::Hold => "hold: not relaunched until a person confirms its server is down".into(),
    }
}
