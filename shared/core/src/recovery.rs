//! The decision for one down Outpost, whole: what each protected instance needs (by either
//! strategy), in which wave, on which alternate. One pure function, [`decide`], over what the
//! flow observed; the flow then carries the plan out wave by wave.

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::alarm::OutpostId;
use crate::drs::{self, DrsSnapshot, PlannedDrs};
use crate::error::AwsError;
use crate::inventory::Instance;
use crate::plan::{self, PlannedInstance, Snapshot};
use crate::{placement, waves};

/// Free slots by instance type, by Outpost (`placement::free_slots`).
pub type FreeSlots = HashMap<OutpostId, HashMap<String, i32>>;

/// What the flow observed of a down Outpost: each strategy's reads, or why they failed (its
/// instances are then reported with the reason, and the other strategy still recovers), and
/// the alternates' free slots where the Outposts API told them.
pub struct Observed<'a> {
    /// The template strategy's instances and reads.
    pub templates: Reads<'a, Snapshot<'a>>,
    /// The DRS strategy's instances and reads.
    pub drs: Reads<'a, DrsSnapshot<'a>>,
    /// Free slots of the alternates (empty in a dry run, or when the API told nothing).
    pub free: FreeSlots,
}

/// One strategy's reads, or the error that kept them.
pub enum Reads<'a, S> {
    /// Read.
    Read(S),
    /// Not read: these instances cannot be planned.
    Unreadable(&'a [Instance], &'a AwsError),
}

/// The plan of one down Outpost.
#[derive(Debug, Default)]
pub struct OutpostPlan {
    /// Each wave's instances, lowest wave first.
    pub waves: BTreeMap<u32, WavePlan>,
    /// Warnings about unreadable wave tags: (instance id, warning).
    pub wave_warnings: Vec<(String, String)>,
    /// Launches moved off their first alternate onto free slots.
    pub placed: usize,
}

/// The planned instances of one wave, by strategy.
#[derive(Debug, Default)]
pub struct WavePlan {
    /// Template strategy.
    pub templates: Vec<PlannedInstance>,
    /// DRS strategy.
    pub drs: Vec<PlannedDrs>,
}

impl WavePlan {
    /// Instances in the wave.
    pub fn len(&self) -> usize {
        self.templates.len() + self.drs.len()
    }

    /// Whether the wave has no instance.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The originals, template strategy first.
    pub fn into_originals(self) -> impl Iterator<Item = Instance> {
        self.templates
            .into_iter()
            .map(|p| p.original)
            .chain(self.drs.into_iter().map(|p| p.original))
    }

    /// The originals' ids.
    pub fn original_ids(&self) -> impl Iterator<Item = String> + '_ {
        self.templates
            .iter()
            .map(|p| p.original.id.clone())
            .chain(self.drs.iter().map(|p| p.original.id.clone()))
    }
}

impl OutpostPlan {
    /// Launches the plan makes (template strategy), every wave.
    pub fn launches(&self) -> usize {
        self.waves
            .values()
            .flat_map(|wave| &wave.templates)
            .filter(|p| matches!(p.decision, plan::Decision::Launch { .. }))
            .count()
    }
}

/// The whole Outpost's decision: both strategies planned, grouped by wave, and the launches
/// placed onto the alternates' free slots.
pub fn decide(observed: Observed<'_>) -> OutpostPlan {
    let planned = match &observed.templates {
        Reads::Read(snapshot) => plan::plan_recovery(snapshot),
        Reads::Unreadable(instances, error) => plan::unreadable(instances, error),
    };
    let drs_planned = match &observed.drs {
        Reads::Read(snapshot) => drs::plan_drs(snapshot),
        Reads::Unreadable(instances, error) => drs::unreadable(instances, error),
    };
    let (template_waves, mut wave_warnings) = waves::group(planned, |p| &p.original);
    let (drs_waves, drs_warnings) = waves::group(drs_planned, |p| &p.original);
    wave_warnings.extend(drs_warnings);
    let mut waves: BTreeMap<u32, WavePlan> = BTreeMap::new();
    for wave in template_waves {
        waves.entry(wave.number).or_default().templates = wave.items;
    }
    for wave in drs_waves {
        waves.entry(wave.number).or_default().drs = wave.items;
    }
    let mut free = observed.free;
    let placed = if free.is_empty() {
        0
    } else {
        waves
            .values_mut()
            .map(|wave| placement::place(&mut wave.templates, &mut free))
            .sum()
    };
    OutpostPlan {
        waves,
        wave_warnings,
        placed,
    }
}

/// The Outposts whose free slots the decision could use: the alternates of the launches the
/// template strategy plans, before placement. The flow reads the Outposts API for these.
pub fn outposts_to_ask(templates: &Snapshot<'_>) -> HashSet<OutpostId> {
    placement::alternate_outposts(&plan::plan_recovery(templates))
}
