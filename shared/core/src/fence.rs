//! Fencing: once an Outpost is connected again, an original that was replaced must not run
//! beside its replacement against the same storage. Deciding is pure; `fencing` acts.
//!
//! An original is found from either side: its own `autorestart:replaced-by`, or an instance
//! whose `autorestart:replacement-of` names it. Its chain (replacement, the replacement's
//! replacement, …) is followed to the live end before anything is decided, and the original is
//! fenced only when that end runs on an Outpost that is up and is healthy in its target groups.

use std::collections::{HashMap, HashSet};
use std::fmt::Write;

use chrono::{DateTime, Utc};

use crate::alarm::OutpostId;
use crate::ids::InstanceId;
use crate::inventory::Instance;
use crate::settings::{FenceAction, Mode};
use crate::tags;

/// How far a chain is followed (each link is one outage of the copy before).
pub const MAX_CHAIN: usize = 16;

/// Why an original is left as it is, for now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HoldReason {
    /// Nothing in its chain is pending or running: it may be the only copy.
    NoLiveCopy {
        /// The replacement its `autorestart:replaced-by` names, if any.
        named: Option<InstanceId>,
    },
    /// The live end of its chain is still starting.
    Starting {
        /// The live end.
        end: InstanceId,
    },
    /// The live end runs on an Outpost whose alarm is not OK (ALARM, or without data).
    EndDown {
        /// The live end.
        end: InstanceId,
        /// Its Outpost.
        outpost: OutpostId,
    },
    /// The live end does not serve in its original's place: not registered in a target group
    /// that still holds the original, or not healthy there.
    Unhealthy {
        /// The live end.
        end: InstanceId,
        /// Which target group says what.
        detail: String,
    },
}

impl HoldReason {
    /// The value of `autorestart:fence-held` that records this hold was reported.
    pub fn code(&self) -> String {
        match self {
            Self::NoLiveCopy { .. } => "no-live-copy".to_owned(),
            Self::Starting { end } => format!("starting:{end}"),
            Self::EndDown { end, .. } => format!("end-down:{end}"),
            Self::Unhealthy { end, .. } => format!("unhealthy:{end}"),
        }
    }

    /// Why, and what to do, in words.
    pub fn explain(&self) -> String {
        match self {
            Self::NoLiveCopy { named } => {
                let named = named
                    .as_deref()
                    .map(|id| format!(" (it names {id})"))
                    .unwrap_or_default();
                format!(
                    "no copy in its chain of replacements runs{named}, so this original may be the only copy and is left as it is: start (or recover) its replacement, and the next sweep fences this original; or keep this original and terminate its replacements"
                )
            }
            Self::Starting { end } => {
                format!("its live copy {end} is still starting; the next sweep decides again")
            }
            Self::EndDown { end, outpost } => format!(
                "its live copy {end} runs on Outpost {outpost}, whose alarm is not OK (in ALARM, or without data); the original is left as it is until that Outpost is known to be up"
            ),
            Self::Unhealthy { end, detail } => format!(
                "its live copy {end} is not healthy ({detail}); the next sweep decides again"
            ),
        }
    }
}

/// The decision for one replaced original.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The live end of its chain serves: fence it.
    Fence {
        /// The live end.
        end: InstanceId,
    },
    /// Fenced before, running again (power came back, someone started it): fence it again.
    FenceAgain {
        /// The live end.
        end: InstanceId,
    },
    /// Fenced (or, in notify-only, reported) before: nothing to do.
    AlreadyFenced,
    /// Leave it alone, and why.
    Hold(HoldReason),
}

/// A replaced original and what to do with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FenceDecision {
    /// The original.
    pub original: Instance,
    /// The instance its chain continues with: toward the live end, or the newest replacement.
    pub successor: Option<InstanceId>,
    /// `autorestart:replaced-by` to write first, because the original lost it.
    pub repair: Option<InstanceId>,
    /// What to do.
    pub verdict: Verdict,
    /// Whether people must hear of it: anything fenced, or a hold not reported before (its
    /// code differs from the original's `autorestart:fence-held`).
    pub news: bool,
}

/// The replacement links among instances: who replaced whom (`autorestart:replacement-of`).
#[derive(Debug)]
pub struct Chains<'a> {
    by_predecessor: HashMap<&'a str, Vec<&'a Instance>>,
}

impl<'a> Chains<'a> {
    /// Indexes `instances` by the instance each replaced.
    pub fn new(instances: &'a [Instance]) -> Self {
        let mut by_predecessor: HashMap<&str, Vec<&Instance>> = HashMap::new();
        for instance in instances {
            if let Some(of) = instance.tag(tags::REPLACEMENT_OF) {
                by_predecessor.entry(of).or_default().push(instance);
            }
        }
        Self { by_predecessor }
    }

    /// The instances that replaced `id`.
    pub fn successors(&self, id: &str) -> &[&'a Instance] {
        self.by_predecessor.get(id).map_or(&[], Vec::as_slice)
    }

    /// The live end of `original`'s chain, with the first link on the way to it: the deepest
    /// pending or running replacement (then the latest launched, then the highest id).
    /// Cycles and chains longer than [`MAX_CHAIN`] end the walk.
    pub fn live_end(&self, original: &Instance) -> Option<(&'a Instance, &'a Instance)> {
        let mut best: Option<(usize, &'a Instance, &'a Instance)> = None;
        let mut seen: HashSet<&str> = HashSet::from([original.id.as_str()]);
        let mut stack: Vec<(usize, &'a Instance, &'a Instance)> = self
            .successors(&original.id)
            .iter()
            .map(|s| (1, *s, *s))
            .collect();
        while let Some((depth, first, node)) = stack.pop() {
            if depth > MAX_CHAIN || !seen.insert(node.id.as_str()) {
                continue;
            }
            if node.is_starting_or_running() {
                let better = best.is_none_or(|(d, _, b)| {
                    (depth, node.launched_at, &node.id) > (d, b.launched_at, &b.id)
                });
                if better {
                    best = Some((depth, first, node));
                }
            }
            stack.extend(
                self.successors(&node.id)
                    .iter()
                    .map(|s| (depth + 1, first, *s)),
            );
        }
        best.map(|(_, first, end)| (first, end))
    }

    /// The end of `original`'s chain whatever its state (stopped included, terminated ones are
    /// not in the chains): the deepest replacement, then the latest launched, then the highest
    /// id; and the other replacements on the way. A failback hands over from it.
    pub fn last(&self, original: &Instance) -> Option<(&'a Instance, Vec<&'a Instance>)> {
        let mut all: Vec<(usize, &'a Instance)> = Vec::new();
        let mut seen: HashSet<&str> = HashSet::from([original.id.as_str()]);
        let mut stack: Vec<(usize, &'a Instance)> = self
            .successors(&original.id)
            .iter()
            .map(|s| (1, *s))
            .collect();
        while let Some((depth, node)) = stack.pop() {
            if depth > MAX_CHAIN || !seen.insert(node.id.as_str()) {
                continue;
            }
            if !node.state.is_gone() {
                all.push((depth, node));
            }
            stack.extend(self.successors(&node.id).iter().map(|s| (depth + 1, *s)));
        }
        all.sort_by(|(da, a), (db, b)| (da, a.launched_at, &a.id).cmp(&(db, b.launched_at, &b.id)));
        let (_, end) = all.pop()?;
        Some((end, all.into_iter().map(|(_, i)| i).collect()))
    }

    /// The newest replacement of `id`, dead or alive.
    fn newest(&self, id: &str) -> Option<&'a Instance> {
        self.successors(id)
            .iter()
            .copied()
            .max_by(|a, b| (a.launched_at, &a.id).cmp(&(b.launched_at, &b.id)))
    }
}

/// What the fencing sees besides the originals.
#[derive(Clone, Copy, Debug)]
pub struct FenceView<'a> {
    /// Every instance (not terminated) found following `autorestart:replacement-of` from the
    /// originals, link by link.
    pub chains: &'a [Instance],
    /// Outposts whose alarm is not OK now (ALARM, or INSUFFICIENT_DATA).
    pub down: &'a HashSet<OutpostId>,
    /// Live ends that are not healthy in a target group, and what the group says.
    pub unhealthy: &'a HashMap<InstanceId, String>,
    /// Instances named by a link AWS does not confirm the agent made (`proof`): an original
    /// whose `replaced-by` names one of these is not considered replaced.
    pub unproven: &'a HashSet<InstanceId>,
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

/// The incident fencing `decisions` closes: the latest (incident ids sort by time after their
/// Outpost) `autorestart:incident` among their originals.
pub fn closes(decisions: &[FenceDecision]) -> Option<String> {
    decisions
        .iter()
        .filter_map(|d| d.original.tag(tags::INCIDENT))
        .filter(|i| !i.is_empty())
        .max()
        .map(str::to_owned)
}

/// Decides for every instance on the Outpost that was replaced: it carries
/// `autorestart:replaced-by`, or an instance in `view.chains` names it in
/// `autorestart:replacement-of`. Pure.
pub fn plan_fencing(
    originals: &[Instance],
    view: &FenceView<'_>,
    mode: Mode,
    action: FenceAction,
) -> Vec<FenceDecision> {
    let chains = Chains::new(view.chains);
    let mut decisions: Vec<FenceDecision> = originals
        .iter()
        .filter(|o| {
            o.tag(tags::REPLACED_BY)
                .is_some_and(|by| !view.unproven.contains(by))
                || !chains.successors(&o.id).is_empty()
        })
        .map(|original| {
            let live = chains.live_end(original);
            let successor = live
                .map(|(first, _)| first)
                .or_else(|| chains.newest(&original.id))
                .map(|s| s.id.clone());
            // A record repair changes the instance: not in notify-only.
            let repair = successor
                .clone()
                .filter(|_| mode == Mode::Recover && original.tag(tags::REPLACED_BY).is_none());
            let verdict = verdict(original, live.map(|(_, end)| end), view, mode, action);
            let news = match &verdict {
                Verdict::Fence { .. } | Verdict::FenceAgain { .. } => true,
                Verdict::AlreadyFenced => false,
                Verdict::Hold(reason) => {
                    original.tag(tags::FENCE_HELD) != Some(reason.code().as_str())
                }
            };
            FenceDecision {
                original: original.clone(),
                successor,
                repair,
                verdict,
                news,
            }
        })
        .collect();
    decisions.sort_by(|a, b| a.original.id.cmp(&b.original.id));
    decisions
}

fn verdict(
    original: &Instance,
    end: Option<&Instance>,
    view: &FenceView<'_>,
    mode: Mode,
    action: FenceAction,
) -> Verdict {
    let fenced = original.tag(tags::FENCED);
    let reported = fenced.is_some_and(|v| v.starts_with("would-"));
    // A notify-only record stops repeats in notify-only, not once the agent recovers for real.
    if mode == Mode::NotifyOnly && reported {
        return Verdict::AlreadyFenced;
    }
    let fenced_before = fenced.is_some() && !reported;
    if fenced_before && (action == FenceAction::Leave || !original.is_starting_or_running()) {
        return Verdict::AlreadyFenced;
    }
    let Some(end) = end else {
        return Verdict::Hold(HoldReason::NoLiveCopy {
            named: original.tag(tags::REPLACED_BY).map(InstanceId::from),
        });
    };
    let end_id = end.id.clone();
    if !end.is_running() {
        return Verdict::Hold(HoldReason::Starting { end: end_id });
    }
    let end_outpost = end.outpost_arn.as_deref().and_then(OutpostId::from_arn);
    if let Some(outpost) = end_outpost.filter(|o| view.down.contains(o)) {
        return Verdict::Hold(HoldReason::EndDown {
            end: end_id,
            outpost,
        });
    }
    if let Some(detail) = view.unhealthy.get(&end.id) {
        return Verdict::Hold(HoldReason::Unhealthy {
            end: end_id,
            detail: detail.clone(),
        });
    }
    if fenced_before {
        Verdict::FenceAgain { end: end_id }
    } else {
        Verdict::Fence { end: end_id }
    }
}

/// One original fenced, or that would be.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct FencedInstance {
    /// The original.
    pub instance_id: InstanceId,
    /// Its Name tag, or its id.
    pub name: String,
    /// The live end of its chain: the copy that serves now.
    pub replacement_id: InstanceId,
    /// Its state before fencing.
    pub previous_state: String,
    /// Fenced before and found running again.
    pub again: bool,
}

/// One original not fenced, and why.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct HeldInstance {
    /// The original.
    pub instance_id: InstanceId,
    /// Its Name tag, or its id.
    pub name: String,
    /// Why it was not fenced, and what to do.
    pub reason: String,
    /// Not reported before.
    pub news: bool,
}

/// A link AWS does not confirm the agent made, found while following the chains: nothing is
/// done with it (no fence, no repair, no launch held back).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct UnprovenClaim {
    /// The opted-in instance the link is about.
    pub instance_id: InstanceId,
    /// Its Name tag, or its id.
    pub name: String,
    /// The instances claimed as its replacement (by their `replacement-of`, or by its
    /// `replaced-by`) that the agent did not launch for it.
    pub claimed: Vec<InstanceId>,
    /// Not reported before.
    pub news: bool,
}

impl UnprovenClaim {
    /// The claims about `instance`.
    pub fn new(instance: &Instance, claimed: Vec<InstanceId>, news: bool) -> Self {
        Self {
            instance_id: instance.id.clone(),
            name: instance.display_name().to_owned(),
            claimed,
            news,
        }
    }
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
    /// Originals left alone: their chain has no copy that serves, or not yet.
    pub held: Vec<HeldInstance>,
    /// Originals that could not be fenced, with the error; the next sweep tries again.
    pub failed: Vec<HeldInstance>,
    /// Originals fenced before.
    pub already_fenced: usize,
    /// Originals that had lost `autorestart:replaced-by`, found from their replacement and
    /// tagged again: (original, replacement).
    pub repaired: Vec<(InstanceId, InstanceId)>,
    /// Replacements that had lost `autorestart:replacement-of`, found from their
    /// predecessor's `replaced-by` and tagged again: (replacement, predecessor).
    pub relinked: Vec<(InstanceId, InstanceId)>,
    /// Links AWS does not confirm the agent made, left alone.
    pub unproven: Vec<UnprovenClaim>,
    /// The incident this fencing closes: the latest `autorestart:incident` of the originals it
    /// decided on (the dedup key on-call tools saw in the outage's notice).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub incident: Option<String>,
}

impl FenceReport {
    /// An empty report.
    pub fn new(action: FenceAction, mode: Mode) -> Self {
        Self {
            action,
            mode,
            fenced: Vec::new(),
            held: Vec::new(),
            failed: Vec::new(),
            already_fenced: 0,
            repaired: Vec::new(),
            relinked: Vec::new(),
            unproven: Vec::new(),
            incident: None,
        }
    }

    /// Whether anything happened that people must hear about: fenced, failed, repaired, or a
    /// hold not reported before.
    pub fn has_news(&self) -> bool {
        !self.fenced.is_empty()
            || !self.failed.is_empty()
            || !self.repaired.is_empty()
            || !self.relinked.is_empty()
            || self.held.iter().any(|h| h.news)
            || self.unproven.iter().any(|u| u.news)
    }

    fn verb(&self) -> String {
        match self.mode {
            Mode::Recover => self.action.done().to_owned(),
            Mode::NotifyOnly => format!("would be {}", self.action.done()),
        }
    }

    /// One line: how many were fenced, held, failed.
    pub fn summary(&self) -> String {
        let mut line = format!("{} original(s) {}", self.fenced.len(), self.verb());
        let again = self.fenced.iter().filter(|f| f.again).count();
        if again > 0 {
            let _ = write!(line, " ({again} running again)");
        }
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
    // What needs a person first: originals left running, and fencing that failed.
    for (title, list) in [
        ("Held: left running, not fenced", &report.held),
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
            let before = if h.news { "" } else { " (reported before)" };
            let _ = writeln!(
                text,
                "  - {} ({}): {}{before}",
                h.name, h.instance_id, h.reason
            );
        }
    }
    if !report.unproven.is_empty() {
        let _ = writeln!(
            text,
            "\nReplacement links the agent did not make (a tag copied or written by hand; EC2's ClientToken or DRS does not confirm them): nothing done with them. Check who tagged them, and remove the tags {} / {} that are wrong:",
            tags::REPLACED_BY,
            tags::REPLACEMENT_OF
        );
        for u in &report.unproven {
            let before = if u.news { "" } else { " (reported before)" };
            let _ = writeln!(
                text,
                "  - {} ({}) claims replacement {}, which the agent did not launch for it; nothing done{before}",
                u.name,
                u.instance_id,
                u.claimed.join(", ")
            );
        }
    }
    if report.fenced.is_empty() && report.held.is_empty() && report.failed.is_empty() {
        let _ = writeln!(
            text,
            "No replaced original needs fencing ({} fenced before).",
            report.already_fenced
        );
    }
    if !report.fenced.is_empty() {
        let _ = writeln!(
            text,
            "\nOriginals {} (the live end of their chain runs), tagged {}:",
            report.verb(),
            tags::FENCED
        );
        for f in &report.fenced {
            let again = if f.again {
                ", FENCED BEFORE AND FOUND RUNNING AGAIN"
            } else {
                ""
            };
            let _ = writeln!(
                text,
                "  - {} ({}, was {}{again}) replaced by {}",
                f.name, f.instance_id, f.previous_state, f.replacement_id
            );
        }
    }
    if !report.repaired.is_empty() {
        let _ = writeln!(
            text,
            "\nOriginals that had lost the tag {} (found from their replacement's {}), tagged again:",
            tags::REPLACED_BY,
            tags::REPLACEMENT_OF
        );
        for (original, replacement) in &report.repaired {
            let _ = writeln!(text, "  - {original} replaced by {replacement}");
        }
    }
    if !report.relinked.is_empty() {
        let _ = writeln!(
            text,
            "\nReplacements that had lost the tag {} (found from the {} of the instance they replaced), tagged again:",
            tags::REPLACEMENT_OF,
            tags::REPLACED_BY
        );
        for (replacement, predecessor) in &report.relinked {
            let _ = writeln!(text, "  - {replacement} replaces {predecessor}");
        }
    }
    text
}

#[cfg(test)]
mod tests;
