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
#[derive(Clone, Debug, PartialEq, Eq)]
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
    /// The Region the agent runs in, for the commands a notice gives (empty: left out).
    pub region: String,
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
                failover_command(outpost, &timing.region)
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
pub fn failover_command(outpost: &str, region: &str) -> String {
    let payload = format!(r#"{{"outpost":"{outpost}","mode":"failover"}}"#);
    format!(
        "`{}`",
        crate::settings::invoke_command(&payload, region, "failover.json")
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alarm::{AlarmState, Datapoint, Evaluation};

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    fn tagged(value: Option<&str>) -> Instance {
        let mut instance = Instance {
            id: "i-0a".into(),
            ..Instance::default()
        };
        if let Some(value) = value {
            instance
                .tags
                .insert(tags::ON_LINK_LOSS.into(), value.into());
        }
        instance
    }

    #[test]
    fn each_tag_value_reads_as_its_policy_or_says_what_to_write() {
        struct Row {
            tag: Option<&'static str>,
            policy: Result<Policy, &'static str>,
            defaulted: bool,
        }
        let rows = [
            Row {
                tag: None,
                policy: Ok(Policy::Relaunch),
                defaulted: true,
            },
            Row {
                tag: Some("relaunch"),
                policy: Ok(Policy::Relaunch),
                defaulted: false,
            },
            Row {
                tag: Some(" hold "),
                policy: Ok(Policy::Hold),
                defaulted: false,
            },
            Row {
                tag: Some("self-fenced:120"),
                policy: Ok(Policy::SelfFenced {
                    fence_after_seconds: 120,
                }),
                defaulted: false,
            },
            Row {
                tag: Some("self-fenced:86400"),
                policy: Ok(Policy::SelfFenced {
                    fence_after_seconds: 86_400,
                }),
                defaulted: false,
            },
            Row {
                tag: Some("self-fenced"),
                policy: Err("names no fence time"),
                defaulted: false,
            },
            Row {
                tag: Some("self-fenced:0"),
                policy: Err("outside 1 to 86400"),
                defaulted: false,
            },
            Row {
                tag: Some("self-fenced:86401"),
                policy: Err("outside 1 to 86400"),
                defaulted: false,
            },
            Row {
                tag: Some("self-fenced:2m"),
                policy: Err("not a whole number of seconds"),
                defaulted: false,
            },
            Row {
                tag: Some("Hold"),
                policy: Err("is not a policy"),
                defaulted: false,
            },
            Row {
                tag: Some(""),
                policy: Err("is not a policy"),
                defaulted: false,
            },
        ];
        for row in rows {
            let read = policy_of(&tagged(row.tag));
            match (read, row.policy) {
                (Ok(got), Ok(policy)) => {
                    assert_eq!(
                        got,
                        Tagged {
                            policy,
                            defaulted: row.defaulted
                        },
                        "{:?}",
                        row.tag
                    );
                }
                (Err(why), Err(expected)) => {
                    assert!(why.contains(expected), "{:?}: {why}", row.tag);
                    assert!(why.contains("self-fenced:T"), "says what to write: {why}");
                }
                (got, expected) => panic!("{:?}: {got:?}, expected {expected:?}", row.tag),
            }
        }
    }

    fn change(evaluation: Option<Evaluation>) -> AlarmChange {
        AlarmChange {
            evaluation,
            ..AlarmChange::connected_status(
                "op-a",
                "op-0aaaaaaaaaaaaaaa1",
                AlarmState::Alarm,
                at("2026-11-24T03:10:00Z"),
            )
        }
    }

    fn points(period_seconds: u32, list: &[(&str, Option<bool>)]) -> Evaluation {
        Evaluation {
            period_seconds,
            datapoints: list
                .iter()
                .map(|(t, breaching)| Datapoint {
                    at: at(t),
                    breaching: *breaching,
                })
                .collect(),
        }
    }

    #[test]
    fn the_link_was_lost_by_the_end_of_the_first_window_of_the_last_breaching_run() {
        let cases = [
            // Three breaching minutes: lost by the end of the first.
            (
                Some(points(
                    60,
                    &[
                        ("2026-11-24T03:06:00Z", Some(true)),
                        ("2026-11-24T03:07:00Z", Some(true)),
                        ("2026-11-24T03:08:00Z", Some(true)),
                    ],
                )),
                "2026-11-24T03:07:00Z",
            ),
            // The link came back in between: the sentinel's clock restarted with the later run.
            (
                Some(points(
                    60,
                    &[
                        ("2026-11-24T03:05:00Z", Some(true)),
                        ("2026-11-24T03:06:00Z", Some(false)),
                        ("2026-11-24T03:07:00Z", Some(true)),
                        ("2026-11-24T03:08:00Z", Some(true)),
                    ],
                )),
                "2026-11-24T03:08:00Z",
            ),
            // A datapoint without a value ends the run: nothing is known of it.
            (
                Some(points(
                    300,
                    &[
                        ("2026-11-24T02:50:00Z", Some(true)),
                        ("2026-11-24T02:55:00Z", None),
                        ("2026-11-24T03:00:00Z", Some(true)),
                    ],
                )),
                "2026-11-24T03:05:00Z",
            ),
            // The newest did not breach: the alarm's own time.
            (
                Some(points(60, &[("2026-11-24T03:08:00Z", Some(false))])),
                "2026-11-24T03:10:00Z",
            ),
            // No reason data: the alarm's own time.
            (None, "2026-11-24T03:10:00Z"),
            // Never later than the alarm's own time.
            (
                Some(points(600, &[("2026-11-24T03:05:00Z", Some(true))])),
                "2026-11-24T03:10:00Z",
            ),
        ];
        for (evaluation, expected) in cases {
            assert_eq!(
                lost_by(&change(evaluation.clone())),
                at(expected),
                "{evaluation:?}"
            );
        }
    }

    #[test]
    fn the_failover_command_names_the_region_and_a_valid_request() {
        let with = failover_command("op-0aaaaaaaaaaaaaaa1", "eu-west-1");
        assert!(
            with.contains("aws lambda invoke --region eu-west-1 "),
            "{with}"
        );
        assert!(with.contains("--cli-read-timeout 0"), "{with}");
        let payload_of = |command: &str| {
            let rest = command.split("--payload '").nth(1).unwrap().to_owned();
            rest[..rest.find('\'').unwrap()].to_owned()
        };
        let payload = payload_of(&with);
        let request: serde_json::Value = serde_json::from_str(&payload).unwrap();
        assert_eq!(request["mode"], "failover");
        let without = failover_command("op-0aaaaaaaaaaaaaaa1", "");
        assert!(!without.contains("--region"), "{without}");
        let failback = crate::failback::command("op-0aaaaaaaaaaaaaaa1", "eu-west-1");
        let payload = payload_of(&failback);
        let request: serde_json::Value = serde_json::from_str(&payload).unwrap();
        assert_eq!(
            (request["mode"].as_str(), request["dryRun"].as_bool()),
            (Some("failback"), Some(true))
        );
    }

    #[test]
    fn each_policy_lets_its_recovery_go_wait_or_hold() {
        let timing = |now: &str, failover: bool| Timing {
            lost_by: at("2026-11-24T03:07:00Z"),
            now: at(now),
            margin: Duration::from_secs(60),
            failover,
            region: String::new(),
        };
        let fenced = Policy::SelfFenced {
            fence_after_seconds: 120,
        };
        // Lost by 03:07, fenced by 03:09, launched from 03:10.
        assert_eq!(
            gate(
                Policy::Relaunch,
                &timing("2026-11-24T03:07:30Z", false),
                "op-1"
            ),
            Gate::Go
        );
        match gate(fenced, &timing("2026-11-24T03:09:59Z", false), "op-1") {
            Gate::Wait { until, reason } => {
                assert_eq!(until, at("2026-11-24T03:10:00Z"));
                assert!(
                    reason.contains("launches at 2026-11-24 03:10:00 UTC"),
                    "{reason}"
                );
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            gate(fenced, &timing("2026-11-24T03:10:00Z", false), "op-1"),
            Gate::Go
        );
        assert_ne!(
            gate(fenced, &timing("2026-11-24T03:08:00Z", true), "op-1"),
            Gate::Go,
            "a failover does not cut a fence short"
        );
        match gate(
            Policy::Hold,
            &timing("2026-11-25T00:00:00Z", false),
            "op-0aaaaaaaaaaaaaaa1",
        ) {
            Gate::Hold { reason } => assert!(
                reason.contains(r#"{"outpost":"op-0aaaaaaaaaaaaaaa1","mode":"failover"}"#),
                "{reason}"
            ),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            gate(Policy::Hold, &timing("2026-11-24T03:07:30Z", true), "op-1"),
            Gate::Go
        );
    }

    #[test]
    fn every_policy_says_what_keeps_two_copies_apart() {
        let said = |policy, defaulted| protection(&Tagged { policy, defaulted });
        assert!(said(Policy::Relaunch, true).contains("the default"));
        assert!(!said(Policy::Relaunch, false).contains("the default"));
        assert!(
            said(
                Policy::SelfFenced {
                    fence_after_seconds: 90
                },
                false
            )
            .contains("stops it 90 s after")
        );
        assert!(said(Policy::Hold, false).starts_with("hold:"));
    }
}
