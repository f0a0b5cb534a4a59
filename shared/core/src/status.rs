//! The fleet as the operator CLI's `status` shows it: per Outpost, its alarm; per protected
//! instance, how it would be recovered, whether it could be now, and what the agent left on it
//! (replacement chain, standby, drill copies, failback). Pure: it arranges what was read.

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;

use chrono::{DateTime, Utc};

use crate::alarm::{self, AlarmChange, AlarmState, OutpostId};
use crate::ids::InstanceId;
use crate::inventory::Instance;
use crate::readiness::InstanceReadiness;
use crate::{link_loss, proof, tags};

/// Longest replacement chain followed (a replacement of a replacement of …).
const MAX_CHAIN: usize = 8;

/// What `status` read.
pub struct StatusInputs<'a> {
    /// The ConnectedStatus alarms of the deployment, as CloudWatch shows them now.
    pub alarms: &'a [AlarmChange],
    /// Outposts whose alarm carries `autorestart:maintenance=true`.
    pub maintenance: &'a HashSet<OutpostId>,
    /// The opted-in instances.
    pub instances: &'a [Instance],
    /// Readiness verdicts of the instances judged (not those in an outage or replaced).
    pub verdicts: &'a [InstanceReadiness],
    /// Instances tagged `replacement-of`, `standby-for` or `drill-of` one of `instances` (or
    /// of a replacement of one), in any state but terminated.
    pub related: &'a [Instance],
    /// The DRS recovery links DRS confirms, (original, recovery instance): the recovery instance
    /// DRS reports for the original's source server and its recorded job. None when DRS was
    /// not read (no DRS instance, or DRS could not be read): those links are shown unjudged.
    pub drs_proofs: Option<&'a HashSet<(InstanceId, InstanceId)>>,
    /// Only this Outpost's alarm and instances.
    pub outpost: Option<&'a OutpostId>,
    /// A ConnectedStatus alarm's evaluation window (`Settings::alarm_window`).
    pub alarm_window: std::time::Duration,
    /// Now.
    pub now: DateTime<Utc>,
}

/// The whole answer, for `--json`.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Status {
    /// Every Outpost watched by an alarm or running a protected instance.
    pub outposts: Vec<OutpostStatus>,
    /// Every protected instance, by Outpost, then wave, then id.
    pub instances: Vec<InstanceStatus>,
}

/// One Outpost.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct OutpostStatus {
    /// `op-…`
    pub outpost: OutpostId,
    /// `ALARM`, `OK` or `INSUFFICIENT_DATA`; none when no alarm of the deployment watches it
    /// (its instances are not recovered: add it to `OutpostIds`).
    pub alarm: Option<String>,
    /// When the alarm entered its state.
    pub since: Option<DateTime<Utc>>,
    /// The alarm carries `autorestart:maintenance=true`: recovery is suppressed.
    pub maintenance: bool,
    /// The alarm has had no data for longer than its window: an outage would not be seen.
    pub silent: bool,
    /// Protected instances on it.
    pub instances: usize,
}

/// One protected instance.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct InstanceStatus {
    /// `i-…`
    pub instance_id: InstanceId,
    /// Its Name tag, or its id.
    pub name: String,
    /// The Outpost it runs on; none in the Region.
    pub outpost: Option<OutpostId>,
    /// EC2's state name.
    pub state: String,
    /// `template` or `drs`, or why the tag cannot be read.
    pub strategy: String,
    /// Its `autorestart:on-link-loss` policy (`relaunch` when untagged), or why it cannot be read.
    pub on_link_loss: String,
    /// Its wave, or why the tag cannot be read.
    pub wave: String,
    /// Whether it could be recovered now; none when not judged (it is in an outage, or has
    /// been replaced).
    pub ready: Option<bool>,
    /// What would stop its recovery, each with its fix.
    pub problems: Vec<String>,
    /// What readiness could not check.
    pub notes: Vec<String>,
    /// Its recovery templates in order (`autorestart:recovery-templates` as written).
    pub alternates: Vec<String>,
    /// The instance it replaced itself (`autorestart:replacement-of`), when it is a replacement.
    pub replaces: Option<String>,
    /// Its replacements, first to last: each replaced the one before.
    pub chain: Vec<Linked>,
    /// Stopped instances kept for it (`autorestart:standby-for`).
    pub standbys: Vec<Linked>,
    /// Drill copies of it that still exist (`autorestart:drill-of`).
    pub drill_copies: Vec<Linked>,
    /// Its open incident (`autorestart:incident`).
    pub incident: Option<String>,
    /// How it was fenced (`autorestart:fenced`).
    pub fenced: Option<String>,
    /// Why fencing holds it running (`autorestart:fence-held`).
    pub fence_held: Option<String>,
    /// Where its failback is (`autorestart:failback`).
    pub failback: Option<String>,
    /// Its last live drill and its result (`autorestart:last-drill`, written by the drill).
    pub last_drill: Option<String>,
}

/// An instance linked to a protected one.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Linked {
    /// `i-…`
    pub instance_id: InstanceId,
    /// EC2's state name.
    pub state: String,
    /// The Outpost it runs on.
    pub outpost: Option<OutpostId>,
    /// For a replacement: whether AWS confirms the agent launched it for the one before (EC2's
    /// ClientToken for a template recovery, DRS's recovery instance of the recorded job for a
    /// DRS one); none when that could not be read. A link without proof is a claim: the agent
    /// does not act on it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proven: Option<bool>,
}

/// Arranges what was read.
pub fn build(inputs: &StatusInputs<'_>) -> Status {
    let keep = |outpost: Option<&OutpostId>| inputs.outpost.is_none() || outpost == inputs.outpost;
    let silent = alarm::silent_outposts(inputs.alarms, inputs.alarm_window, inputs.now);
    let mut outposts: BTreeMap<OutpostId, OutpostStatus> = BTreeMap::new();
    for change in inputs.alarms {
        let Ok(outpost) = alarm::watched_outpost(change) else {
            continue;
        };
        outposts.insert(
            outpost.clone(),
            OutpostStatus {
                alarm: Some(state_name(change.state).to_owned()),
                since: Some(change.state_since),
                maintenance: inputs.maintenance.contains(&outpost),
                silent: silent.contains_key(&outpost),
                instances: 0,
                outpost,
            },
        );
    }
    let mut instances: Vec<InstanceStatus> = inputs
        .instances
        .iter()
        .filter(|i| keep(outpost_of(i).as_ref()))
        .map(|i| instance_status(i, inputs))
        .collect();
    for instance in &instances {
        if let Some(outpost) = &instance.outpost {
            outposts
                .entry(outpost.clone())
                .or_insert_with(|| OutpostStatus {
                    outpost: outpost.clone(),
                    alarm: None,
                    since: None,
                    maintenance: false,
                    silent: false,
                    instances: 0,
                })
                .instances += 1;
        }
    }
    instances.sort_by(|a, b| {
        (&a.outpost, wave_number(&a.wave), &a.instance_id).cmp(&(
            &b.outpost,
            wave_number(&b.wave),
            &b.instance_id,
        ))
    });
    Status {
        outposts: outposts
            .into_values()
            .filter(|o| keep(Some(&o.outpost)))
            .collect(),
        instances,
    }
}

fn wave_number(wave: &str) -> u32 {
    wave.parse().unwrap_or(u32::MAX)
}

fn state_name(state: AlarmState) -> &'static str {
    match state {
        AlarmState::Alarm => "ALARM",
        AlarmState::Ok => "OK",
        AlarmState::InsufficientData => "INSUFFICIENT_DATA",
    }
}

fn outpost_of(instance: &Instance) -> Option<OutpostId> {
    instance
        .outpost_arn
        .as_deref()
        .and_then(OutpostId::from_arn)
}

fn linked(instance: &Instance, proven: Option<bool>) -> Linked {
    Linked {
        instance_id: instance.id.clone(),
        state: instance.state.as_str().to_owned(),
        outpost: outpost_of(instance),
        proven,
    }
}

fn instance_status(instance: &Instance, inputs: &StatusInputs<'_>) -> InstanceStatus {
    let strategy = tags::parse_strategy(instance.tag(tags::STRATEGY));
    let drs = strategy == Ok(tags::Strategy::Drs);
    let verdict = inputs
        .verdicts
        .iter()
        .find(|v| v.instance_id == instance.id);
    let tagged = |key: &str, value: &InstanceId| {
        let mut found: Vec<&Instance> = inputs
            .related
            .iter()
            .filter(|r| r.tag(key) == Some(value.as_str()))
            .collect();
        found.sort_by(|a, b| a.id.cmp(&b.id));
        found
    };
    let mut chain = Vec::new();
    let mut current = instance;
    let mut seen: HashSet<&InstanceId> = HashSet::from([&instance.id]);
    while chain.len() < MAX_CHAIN {
        let candidates = tagged(tags::REPLACEMENT_OF, &current.id);
        // The proven replacement first; else the newest claim.
        let next = candidates
            .iter()
            .find(|c| {
                if drs {
                    inputs
                        .drs_proofs
                        .is_some_and(|p| p.contains(&(current.id.clone(), c.id.clone())))
                } else {
                    proof::launched_for(current, c)
                }
            })
            .or_else(|| candidates.iter().max_by_key(|c| c.launched_at))
            .copied();
        let Some(next) = next.filter(|n| seen.insert(&n.id)) else {
            break;
        };
        // A template link: EC2's ClientToken; the DRS original's own recovery: DRS's record.
        let proven = if !drs {
            Some(proof::launched_for(current, next))
        } else if current.id == instance.id {
            inputs
                .drs_proofs
                .map(|p| p.contains(&(current.id.clone(), next.id.clone())))
        } else {
            None
        };
        chain.push(linked(next, proven));
        current = next;
    }
    let of = |key: &str| -> Vec<Linked> {
        tagged(key, &instance.id)
            .into_iter()
            .map(|i| linked(i, None))
            .collect()
    };
    InstanceStatus {
        instance_id: instance.id.clone(),
        name: instance.display_name().to_owned(),
        outpost: outpost_of(instance),
        state: instance.state.as_str().to_owned(),
        strategy: match strategy {
            Ok(tags::Strategy::Template) => "template".into(),
            Ok(tags::Strategy::Drs) => "drs".into(),
            Err(why) => why,
        },
        on_link_loss: match link_loss::policy_of(instance) {
            Ok(_) => instance
                .tag(tags::ON_LINK_LOSS)
                .unwrap_or("relaunch")
                .trim()
                .to_owned(),
            Err(why) => why,
        },
        wave: match tags::parse_wave(instance.tag(tags::WAVE)) {
            Ok(wave) => wave.to_string(),
            Err(why) => why,
        },
        ready: verdict.map(InstanceReadiness::is_ready),
        problems: verdict.map(|v| v.problems.clone()).unwrap_or_default(),
        notes: verdict.map(|v| v.notes.clone()).unwrap_or_default(),
        alternates: instance
            .tag(tags::RECOVERY_TEMPLATES)
            .map(|v| {
                v.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default(),
        replaces: instance.tag(tags::REPLACEMENT_OF).map(str::to_owned),
        chain,
        standbys: of(tags::STANDBY_FOR),
        drill_copies: of(tags::DRILL_OF),
        incident: instance.tag(tags::INCIDENT).map(str::to_owned),
        fenced: instance.tag(tags::FENCED).map(str::to_owned),
        fence_held: instance.tag(tags::FENCE_HELD).map(str::to_owned),
        failback: instance.tag(tags::FAILBACK).map(str::to_owned),
        last_drill: instance.tag(tags::LAST_DRILL).map(str::to_owned),
    }
}

impl Status {
    /// The ids whose `replacement-of`, `standby-for` and `drill-of` instances `status` reads.
    pub fn chain_ids(instances: &[Instance], related: &[Instance]) -> Vec<String> {
        let mut ids: Vec<String> = instances
            .iter()
            .chain(
                related
                    .iter()
                    .filter(|r| r.tag(tags::REPLACEMENT_OF).is_some()),
            )
            .map(|i| i.id.as_str().to_owned())
            .collect();
        ids.sort();
        ids.dedup();
        ids
    }

    /// The table for people: each Outpost, then its instances, one block each.
    pub fn table(&self) -> String {
        let mut out = String::new();
        if self.outposts.is_empty() && self.instances.is_empty() {
            out.push_str(
                "No ConnectedStatus alarm of this stack and no instance tagged autorestart:enabled=true were found: check --stack and --region.\n",
            );
            return out;
        }
        for outpost in &self.outposts {
            let _ = write!(out, "Outpost {}: ", outpost.outpost);
            match (&outpost.alarm, outpost.since) {
                (Some(state), Some(since)) => {
                    let _ = write!(out, "alarm {state} since {}", since.to_rfc3339());
                }
                _ => out.push_str("NO ALARM of this stack watches it: add it to OutpostIds"),
            }
            if outpost.maintenance {
                out.push_str(", MAINTENANCE (recovery suppressed)");
            }
            if outpost.silent {
                out.push_str(", NO DATA for longer than its window: an outage would not be seen");
            }
            let _ = writeln!(out, "; {} protected instance(s)", outpost.instances);
            for instance in self
                .instances
                .iter()
                .filter(|i| i.outpost.as_ref() == Some(&outpost.outpost))
            {
                instance.block(&mut out);
            }
        }
        let elsewhere: Vec<&InstanceStatus> = self
            .instances
            .iter()
            .filter(|i| i.outpost.is_none())
            .collect();
        if !elsewhere.is_empty() {
            out.push_str("In the Region (not on an Outpost):\n");
            for instance in elsewhere {
                instance.block(&mut out);
            }
        }
        let not_ready = self
            .instances
            .iter()
            .filter(|i| i.ready == Some(false))
            .count();
        let _ = writeln!(
            out,
            "{} protected instance(s), {} not ready.",
            self.instances.len(),
            not_ready
        );
        out
    }
}

impl InstanceStatus {
    fn block(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "  {} ({}): {}, strategy {}, wave {}, on link loss {}",
            self.instance_id, self.name, self.state, self.strategy, self.wave, self.on_link_loss
        );
        match self.ready {
            Some(true) => out.push_str("    ready\n"),
            Some(false) => {
                out.push_str("    NOT READY:\n");
                for problem in &self.problems {
                    let _ = writeln!(out, "      - {problem}");
                }
            }
            None => out.push_str("    readiness not judged (in an outage, or replaced)\n"),
        }
        for note in &self.notes {
            let _ = writeln!(out, "    note: {note}");
        }
        if !self.alternates.is_empty() {
            let _ = writeln!(out, "    alternates: {}", self.alternates.join(", "));
        }
        if let Some(original) = &self.replaces {
            let _ = writeln!(out, "    replaces {original}");
        }
        let list = |items: &[Linked]| {
            items
                .iter()
                .map(|l| {
                    let proof = match l.proven {
                        Some(true) => ", proven",
                        Some(false) => ", a claim: not proven",
                        None => "",
                    };
                    let outpost = l
                        .outpost
                        .as_ref()
                        .map(|o| format!(" on {o}"))
                        .unwrap_or_default();
                    format!("{} ({}{outpost}{proof})", l.instance_id, l.state)
                })
                .collect::<Vec<_>>()
        };
        if !self.chain.is_empty() {
            let _ = writeln!(out, "    replaced by: {}", list(&self.chain).join(" -> "));
        }
        if !self.standbys.is_empty() {
            let _ = writeln!(out, "    standby: {}", list(&self.standbys).join(", "));
        }
        if !self.drill_copies.is_empty() {
            let _ = writeln!(
                out,
                "    drill copies: {}",
                list(&self.drill_copies).join(", ")
            );
        }
        for (label, value) in [
            ("incident", &self.incident),
            ("fenced", &self.fenced),
            ("fence held", &self.fence_held),
            ("failback", &self.failback),
            ("last live drill", &self.last_drill),
        ] {
            if let Some(value) = value {
                let _ = writeln!(out, "    {label}: {value}");
            }
        }
    }
}

#[cfg(test)]
#[path = "status/tests.rs"]
mod tests;
