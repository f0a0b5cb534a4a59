//! Fencing: once an Outpost is connected again, an original that was replaced must not run
//! beside its replacement against the same storage. Deciding is pure; the agent acts.

use std::fmt::Write;

use chrono::{DateTime, Utc};

use crate::inventory::Instance;
use crate::report::Mode;
use crate::tags;

/// What is done to a replaced original.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FenceAction {
    /// Stop it (its volumes stay).
    Stop,
    /// Terminate it.
    Terminate,
    /// Leave it as it is; only record and report it.
    Leave,
}

impl FenceAction {
    /// Reads `stop`, `terminate` or `leave`.
    pub fn parse(text: &str) -> Result<Self, String> {
        match text.trim() {
            "stop" => Ok(Self::Stop),
            "terminate" => Ok(Self::Terminate),
            "leave" => Ok(Self::Leave),
            other => Err(format!(
                "{other:?} is no fence action: use stop, terminate or leave"
            )),
        }
    }

    /// The action's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Stop => "stop",
            Self::Terminate => "terminate",
            Self::Leave => "leave",
        }
    }

    /// The past tense, for reports.
    pub fn done(self) -> &'static str {
        match self {
            Self::Stop => "stopped",
            Self::Terminate => "terminated",
            Self::Leave => "left running",
        }
    }
}

/// The decision for one replaced original.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Its replacement runs: fence it.
    Fence,
    /// Fenced (or, in notify-only, reported) before: nothing to do.
    AlreadyFenced,
    /// Leave it alone, and why: its replacement does not run.
    Hold(String),
}

/// A replaced original and what to do with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FenceDecision {
    /// The original.
    pub original: Instance,
    /// Its replacement's id, from `autorestart:replaced-by`.
    pub replacement_id: String,
    /// What to do.
    pub verdict: Verdict,
}

/// The value of `autorestart:fenced`: `<action>@<time>`, prefixed `would-` in notify-only.
pub fn fenced_tag(action: FenceAction, mode: Mode, at: DateTime<Utc>) -> String {
    let prefix = if mode == Mode::NotifyOnly {
        "would-"
    } else {
        ""
    };
    format!(
        "{prefix}{}@{}",
        action.as_str(),
        at.format("%Y-%m-%dT%H:%M:%SZ")
    )
}

/// Decides for every original on the Outpost that carries `autorestart:replaced-by`.
/// `replacements` are the live instances those tags name. Pure.
pub fn plan_fencing(
    originals: &[Instance],
    replacements: &[Instance],
    mode: Mode,
) -> Vec<FenceDecision> {
    let mut decisions: Vec<FenceDecision> = originals
        .iter()
        .filter_map(|original| {
            let replacement_id = original.tag(tags::REPLACED_BY)?.to_owned();
            let verdict = verdict(original, &replacement_id, replacements, mode);
            Some(FenceDecision {
                original: original.clone(),
                replacement_id,
                verdict,
            })
        })
        .collect();
    decisions.sort_by(|a, b| a.original.id.cmp(&b.original.id));
    decisions
}

fn verdict(
    original: &Instance,
    replacement_id: &str,
    replacements: &[Instance],
    mode: Mode,
) -> Verdict {
    if let Some(fenced) = original.tag(tags::FENCED) {
        // A notify-only record does not count as fenced once the agent recovers for real.
        if mode == Mode::NotifyOnly || !fenced.starts_with("would-") {
            return Verdict::AlreadyFenced;
        }
    }
    let replacement = replacements.iter().find(|r| {
        r.id == replacement_id && r.tag(tags::REPLACEMENT_OF) == Some(original.id.as_str())
    });
    match replacement {
        Some(r) if r.is_running() => Verdict::Fence,
        Some(r) => Verdict::Hold(format!(
            "its replacement {replacement_id} is {}, so the original is left as it is: start or recover the replacement, then fence the original by hand",
            r.state
        )),
        None => Verdict::Hold(format!(
            "its replacement {replacement_id} no longer exists (or is not tagged {}={}), so the original is left as it is: decide which copy serves, then remove the tag {} from the original",
            tags::REPLACEMENT_OF,
            original.id,
            tags::REPLACED_BY
        )),
    }
}

/// One original fenced, or that would be.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct FencedInstance {
    /// The original.
    pub instance_id: String,
    /// Its Name tag, or its id.
    pub name: String,
    /// Its replacement.
    pub replacement_id: String,
    /// Its state before fencing.
    pub previous_state: String,
}

/// One original not fenced, and why.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct HeldInstance {
    /// The original.
    pub instance_id: String,
    /// Its Name tag, or its id.
    pub name: String,
    /// Why it was not fenced, and what to do.
    pub reason: String,
}

/// What fencing did on one Outpost.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct FenceReport {
    /// The action configured.
    pub action: FenceAction,
    /// The mode: in notify-only nothing is fenced.
    pub mode: Mode,
    /// Originals fenced now (or that would be, in notify-only).
    pub fenced: Vec<FencedInstance>,
    /// Originals left alone because their replacement does not run.
    pub held: Vec<HeldInstance>,
    /// Originals that could not be fenced, with the error; the next sweep tries again.
    pub failed: Vec<HeldInstance>,
    /// Originals fenced before.
    pub already_fenced: usize,
}

impl FenceReport {
    /// Whether anything happened that people must hear about.
    pub fn has_news(&self) -> bool {
        !self.fenced.is_empty() || !self.failed.is_empty()
    }

    /// One line: how many were fenced, held, failed.
    pub fn summary(&self) -> String {
        let verb = match self.mode {
            Mode::Recover => self.action.done().to_owned(),
            Mode::NotifyOnly => format!("would be {}", self.action.done()),
        };
        let mut line = format!("{} original(s) {verb}", self.fenced.len());
        if !self.held.is_empty() {
            let _ = write!(line, ", {} held", self.held.len());
        }
        if !self.failed.is_empty() {
            let _ = write!(line, ", {} FAILED", self.failed.len());
        }
        line
    }
}

/// The readable part of a fencing notice.
pub fn describe(report: &FenceReport) -> String {
    let mut text = String::new();
    if report.mode == Mode::NotifyOnly {
        let _ = writeln!(text, "Mode notify-only: nothing was changed.");
    }
    if report.fenced.is_empty() && report.held.is_empty() && report.failed.is_empty() {
        let _ = writeln!(
            text,
            "No replaced original needs fencing ({} fenced before).",
            report.already_fenced
        );
    }
    let verb = match report.mode {
        Mode::Recover => report.action.done().to_owned(),
        Mode::NotifyOnly => format!("would be {}", report.action.done()),
    };
    if !report.fenced.is_empty() {
        let _ = writeln!(
            text,
            "\nOriginals {verb} (their replacements run), tagged {}:",
            tags::FENCED
        );
        for f in &report.fenced {
            let _ = writeln!(
                text,
                "  - {} ({}, was {}) replaced by {}",
                f.name, f.instance_id, f.previous_state, f.replacement_id
            );
        }
    }
    for (title, list) in [
        (
            "Held: not fenced because the replacement does not run",
            &report.held,
        ),
        (
            "FAILED to fence (the next sweep tries again)",
            &report.failed,
        ),
    ] {
        if list.is_empty() {
            continue;
        }
        let _ = writeln!(text, "\n{title}:");
        for h in list {
            let _ = writeln!(text, "  - {} ({}): {}", h.name, h.instance_id, h.reason);
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn instance(id: &str, state: &str, tags: &[(&str, &str)]) -> Instance {
        Instance {
            id: id.into(),
            state: state.into(),
            tags: tags
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Instance::default()
        }
    }

    fn verdicts(
        originals: &[Instance],
        replacements: &[Instance],
        mode: Mode,
    ) -> Vec<(String, Verdict)> {
        plan_fencing(originals, replacements, mode)
            .into_iter()
            .map(|d| (d.original.id, d.verdict))
            .collect()
    }

    #[test]
    fn fences_only_replaced_originals_whose_replacement_runs() {
        let originals = [
            instance("i-a", "running", &[(tags::REPLACED_BY, "i-ra")]),
            instance("i-b", "running", &[(tags::REPLACED_BY, "i-rb")]),
            instance("i-c", "running", &[(tags::REPLACED_BY, "i-rc")]),
            instance("i-d", "running", &[]),
            instance(
                "i-e",
                "stopped",
                &[
                    (tags::REPLACED_BY, "i-re"),
                    (tags::FENCED, "stop@2026-11-24T00:00:00Z"),
                ],
            ),
        ];
        let replacements = [
            instance("i-ra", "running", &[(tags::REPLACEMENT_OF, "i-a")]),
            instance("i-rb", "stopped", &[(tags::REPLACEMENT_OF, "i-b")]),
            instance("i-rc", "running", &[(tags::REPLACEMENT_OF, "i-other")]),
            instance("i-re", "running", &[(tags::REPLACEMENT_OF, "i-e")]),
        ];
        let got = verdicts(&originals, &replacements, Mode::Recover);
        assert_eq!(got[0], ("i-a".into(), Verdict::Fence));
        assert!(
            matches!(&got[1].1, Verdict::Hold(r) if r.contains("i-rb is stopped")),
            "{got:?}"
        );
        assert!(
            matches!(&got[2].1, Verdict::Hold(r) if r.contains("no longer exists")),
            "{got:?}"
        );
        assert_eq!(got[3], ("i-e".into(), Verdict::AlreadyFenced));
        assert_eq!(got.len(), 4, "an original never replaced is not considered");
    }

    #[test]
    fn a_notify_only_record_stops_repeats_there_but_not_once_recovering() {
        let originals = [instance(
            "i-a",
            "running",
            &[
                (tags::REPLACED_BY, "i-ra"),
                (tags::FENCED, "would-stop@2026-11-24T00:00:00Z"),
            ],
        )];
        let replacements = [instance(
            "i-ra",
            "running",
            &[(tags::REPLACEMENT_OF, "i-a")],
        )];
        assert_eq!(
            verdicts(&originals, &replacements, Mode::NotifyOnly)[0].1,
            Verdict::AlreadyFenced
        );
        assert_eq!(
            verdicts(&originals, &replacements, Mode::Recover)[0].1,
            Verdict::Fence
        );
    }

    #[test]
    fn parses_actions_and_names_the_choices_on_error() {
        assert_eq!(FenceAction::parse("terminate"), Ok(FenceAction::Terminate));
        assert!(
            FenceAction::parse("kill")
                .unwrap_err()
                .contains("stop, terminate or leave")
        );
        let at: DateTime<Utc> = "2026-11-24T03:04:05Z".parse().unwrap();
        assert_eq!(
            fenced_tag(FenceAction::Stop, Mode::Recover, at),
            "stop@2026-11-24T03:04:05Z"
        );
        assert_eq!(
            fenced_tag(FenceAction::Stop, Mode::NotifyOnly, at),
            "would-stop@2026-11-24T03:04:05Z"
        );
    }
}
