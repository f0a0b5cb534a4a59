//! The decision for one down Outpost, whole: what each protected instance needs (by either
//! strategy), in which wave, on which alternate. One pure function, [`decide`], over what the
//! flow observed; the flow then carries the plan out wave by wave.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Utc};

use crate::alarm::OutpostId;
use crate::drs::{self, DrsSnapshot, PlannedDrs};
use crate::error::AwsError;
use crate::ids::InstanceId;
use crate::inventory::Instance;
use crate::link_loss::{self, Gate};
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
    /// The outage's timing, by which each instance's `autorestart:on-link-loss` policy lets
    /// its recovery go, wait or hold; None for a drill (its copies are not recoveries).
    pub link_loss: Option<link_loss::Timing>,
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
    /// Instances whose recovery their link-loss policy does not let go now (either strategy).
    pub gated: Vec<Gated>,
}

/// An instance whose recovery waits, is held, or whose policy tag cannot be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Gated {
    /// The protected instance.
    pub original: Instance,
    /// Why it does not go now.
    pub gate: Gate,
}

impl WavePlan {
    /// Instances in the wave.
    pub fn len(&self) -> usize {
        self.templates.len() + self.drs.len() + self.gated.len()
    }

    /// Until when the wave waits for self-fenced originals to fence themselves: the later
    /// waves start after that.
    pub fn waits_until(&self) -> Option<DateTime<Utc>> {
        self.gated
            .iter()
            .filter_map(|g| match &g.gate {
                Gate::Wait { until, .. } => Some(*until),
                _ => None,
            })
            .max()
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
            .chain(self.gated.into_iter().map(|g| g.original))
    }

    /// The originals' ids.
    pub fn original_ids(&self) -> impl Iterator<Item = InstanceId> + '_ {
        self.templates
            .iter()
            .map(|p| p.original.id.clone())
            .chain(self.drs.iter().map(|p| p.original.id.clone()))
            .chain(self.gated.iter().map(|g| g.original.id.clone()))
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

    /// The first moment a self-fenced original's replacement may launch, when one waits.
    pub fn next_wait(&self) -> Option<DateTime<Utc>> {
        self.waves
            .values()
            .flat_map(|wave| &wave.gated)
            .filter_map(|g| match &g.gate {
                Gate::Wait { until, .. } => Some(*until),
                _ => None,
            })
            .min()
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
    let (planned, mut gated) = match &observed.link_loss {
        Some(timing) => gate_all(planned, timing, |p| {
            matches!(p.decision, plan::Decision::Launch { .. }).then_some(&p.original)
        }),
        None => (planned, Vec::new()),
    };
    let (drs_planned, drs_gated) = match &observed.link_loss {
        Some(timing) => gate_all(drs_planned, timing, |p| {
            matches!(p.decision, drs::DrsDecision::Recover { .. }).then_some(&p.original)
        }),
        None => (drs_planned, Vec::new()),
    };
    gated.extend(drs_gated);
    let (template_waves, mut wave_warnings) = waves::group(planned, |p| &p.original);
    let (drs_waves, drs_warnings) = waves::group(drs_planned, |p| &p.original);
    let (gated_waves, gated_warnings) = waves::group(gated, |g| &g.original);
    wave_warnings.extend(drs_warnings);
    wave_warnings.extend(gated_warnings);
    let mut waves: BTreeMap<u32, WavePlan> = BTreeMap::new();
    for wave in template_waves {
        waves.entry(wave.number).or_default().templates = wave.items;
    }
    for wave in drs_waves {
        waves.entry(wave.number).or_default().drs = wave.items;
    }
    for wave in gated_waves {
        waves.entry(wave.number).or_default().gated = wave.items;
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

/// Splits the instances a recovery would launch (`launches`: the original, when it would)
/// into those their link-loss policy lets go now and those it does not.
fn gate_all<T>(
    planned: Vec<T>,
    timing: &link_loss::Timing,
    launches: impl Fn(&T) -> Option<&Instance>,
) -> (Vec<T>, Vec<Gated>) {
    let mut go = Vec::new();
    let mut gated = Vec::new();
    for item in planned {
        let held = launches(&item).and_then(|original| {
            let gate = match link_loss::policy_of(original) {
                Ok(tagged) => {
                    let outpost = original
                        .outpost_arn
                        .as_deref()
                        .and_then(OutpostId::from_arn);
                    let outpost = outpost.as_ref().map_or("<outpost id>", OutpostId::as_str);
                    link_loss::gate(tagged.policy, timing, outpost)
                }
                Err(reason) => Gate::BadTag { reason },
            };
            (gate != Gate::Go).then(|| Gated {
                original: original.clone(),
                gate,
            })
        });
        match held {
            Some(held) => gated.push(held),
            None => go.push(item),
        }
    }
    (go, gated)
}

/// The Outposts whose free slots the decision could use: the alternates of the launches the
/// template strategy plans, before placement. The flow reads the Outposts API for these.
pub fn outposts_to_ask(templates: &Snapshot<'_>) -> HashSet<OutpostId> {
    placement::alternate_outposts(&plan::plan_recovery(templates))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alarm::IncidentId;
    use crate::inventory::TemplateTarget;
    use crate::tags::{self, TemplateRef};
    use std::collections::HashMap;

    const DOWN: &str = "arn:aws:outposts:us-east-1:111122223333:outpost/op-0aaaaaaaaaaaaaaaa";
    const FULL: &str = "arn:aws:outposts:us-east-1:111122223333:outpost/op-0bbbbbbbbbbbbbbbb";
    const ROOMY: &str = "arn:aws:outposts:us-east-1:111122223333:outpost/op-0cccccccccccccccc";

    fn instance(id: &str, wave: Option<&str>) -> Instance {
        let mut i = Instance {
            id: id.into(),
            state: "running".into(),
            subnet_id: Some("subnet-down".into()),
            outpost_arn: Some(DOWN.into()),
            instance_type: Some("m5.large".into()),
            ..Instance::default()
        };
        i.tags.insert(tags::ENABLED.into(), "true".into());
        i.tags
            .insert(tags::RECOVERY_TEMPLATES.into(), "lt-0f0,lt-0c0".into());
        if let Some(wave) = wave {
            i.tags.insert(tags::WAVE.into(), wave.into());
        }
        i
    }

    fn template(id: &str) -> TemplateRef {
        TemplateRef {
            id: id.into(),
            version: "$Default".into(),
        }
    }

    fn on(subnet: &str, outpost: &str) -> TemplateTarget {
        TemplateTarget::Subnet {
            subnet_id: subnet.into(),
            outpost_arn: Some(outpost.into()),
            image_id: None,
            instance_type: Some("m5.large".into()),
        }
    }

    struct Case {
        outpost: OutpostId,
        incident: IncidentId,
        targets: HashMap<TemplateRef, TemplateTarget>,
        down: HashSet<OutpostId>,
        instances: Vec<Instance>,
    }

    fn case() -> Case {
        let outpost = OutpostId::from_arn(DOWN).unwrap();
        Case {
            incident: IncidentId::derive(
                &outpost,
                "alarm",
                "2026-12-05T01:00:00Z".parse().unwrap(),
            ),
            down: HashSet::from([outpost.clone()]),
            outpost,
            targets: HashMap::from([
                (template("lt-0f0"), on("subnet-full", FULL)),
                (template("lt-0c0"), on("subnet-roomy", ROOMY)),
            ]),
            instances: vec![instance("i-b", Some("1")), instance("i-a", None)],
        }
    }

    fn snapshot(c: &Case) -> Snapshot<'_> {
        Snapshot {
            outpost: &c.outpost,
            incident: &c.incident,
            instances: &c.instances,
            replacements: &[],
            template_targets: &c.targets,
            down_outposts: &c.down,
            now: "2026-12-05T01:05:00Z".parse().unwrap(),
            launch_wait: plan::LAUNCH_WAIT,
        }
    }

    fn first_alternate(plan: &OutpostPlan, id: &str) -> String {
        let planned = plan
            .waves
            .values()
            .flat_map(|w| &w.templates)
            .find(|p| p.original.id == id)
            .unwrap();
        let plan::Decision::Launch { candidates, .. } = &planned.decision else {
            panic!("{planned:?}");
        };
        candidates[0].subnet_id.clone()
    }

    #[test]
    fn the_whole_outpost_is_planned_by_wave_and_placed_on_free_slots() {
        let c = case();
        let no_drs: Vec<Instance> = Vec::new();
        let unread =
            AwsError::from_code("drs:DescribeSourceServers", "AccessDeniedException", "no");
        let asked = outposts_to_ask(&snapshot(&c));
        assert_eq!(
            asked,
            HashSet::from([
                OutpostId::from_arn(FULL).unwrap(),
                OutpostId::from_arn(ROOMY).unwrap()
            ])
        );
        let free: FreeSlots = HashMap::from([
            (
                OutpostId::from_arn(FULL).unwrap(),
                HashMap::from([("m5.large".to_owned(), 0)]),
            ),
            (
                OutpostId::from_arn(ROOMY).unwrap(),
                HashMap::from([("m5.large".to_owned(), 4)]),
            ),
        ]);
        let plan = decide(Observed {
            templates: Reads::Read(snapshot(&c)),
            drs: Reads::Unreadable(&no_drs, &unread),
            free,
            link_loss: None,
        });
        assert_eq!(plan.waves.keys().copied().collect::<Vec<_>>(), [0, 1]);
        assert_eq!(plan.waves[&0].len(), 1);
        assert_eq!(plan.waves[&1].templates[0].original.id, "i-b");
        assert_eq!(plan.launches(), 2);
        assert_eq!(plan.placed, 2, "both moved off the full server");
        assert_eq!(first_alternate(&plan, "i-a"), "subnet-roomy");
        assert_eq!(first_alternate(&plan, "i-b"), "subnet-roomy");
    }

    #[test]
    fn without_free_slots_the_operators_order_stands_and_an_unreadable_strategy_is_reported() {
        let c = case();
        let error =
            AwsError::from_code("ec2:DescribeLaunchTemplates", "UnauthorizedOperation", "no");
        let drs_instances = vec![instance("i-drs", None)];
        let no_drs_read =
            AwsError::from_code("drs:DescribeSourceServers", "AccessDeniedException", "no");
        let plan = decide(Observed {
            templates: Reads::Read(snapshot(&c)),
            drs: Reads::Unreadable(&drs_instances, &no_drs_read),
            free: FreeSlots::new(),
            link_loss: None,
        });
        assert_eq!(plan.placed, 0);
        assert_eq!(first_alternate(&plan, "i-a"), "subnet-full");
        assert_eq!(plan.waves[&0].drs.len(), 1, "the DRS instance is reported");
        let unreadable = decide(Observed {
            templates: Reads::Unreadable(&c.instances, &error),
            drs: Reads::Unreadable(&drs_instances, &no_drs_read),
            free: FreeSlots::new(),
            link_loss: None,
        });
        assert_eq!(unreadable.launches(), 0);
        assert!(
            unreadable
                .waves
                .values()
                .flat_map(|w| &w.templates)
                .all(|p| matches!(p.decision, plan::Decision::Unrecoverable { .. }))
        );
    }

    #[test]
    fn each_link_loss_policy_gates_its_launch_and_a_waiting_wave_holds_back_the_next() {
        let mut c = case();
        let policies = [
            ("i-relaunch", None, None),
            ("i-fenced", Some("self-fenced:120"), None),
            ("i-held", Some("hold"), None),
            ("i-typo", Some("self-fenced"), None),
            ("i-later", None, Some("1")),
        ];
        c.instances = policies
            .iter()
            .map(|(id, policy, wave)| {
                let mut i = instance(id, *wave);
                if let Some(policy) = policy {
                    i.tags.insert(tags::ON_LINK_LOSS.into(), (*policy).into());
                }
                i
            })
            .collect();
        let no_drs: Vec<Instance> = Vec::new();
        let unread =
            AwsError::from_code("drs:DescribeSourceServers", "AccessDeniedException", "no");
        let timing = |now: &str, failover| link_loss::Timing {
            lost_by: "2026-12-05T01:00:00Z".parse().unwrap(),
            now: now.parse().unwrap(),
            margin: std::time::Duration::from_secs(60),
            failover,
            region: String::new(),
        };
        let decide_at = |timing| {
            decide(Observed {
                templates: Reads::Read(snapshot(&c)),
                drs: Reads::Unreadable(&no_drs, &unread),
                free: FreeSlots::new(),
                link_loss: Some(timing),
            })
        };
        let gates = |plan: &OutpostPlan| -> Vec<(String, &'static str)> {
            let mut gates: Vec<(String, &'static str)> = plan
                .waves
                .values()
                .flat_map(|w| &w.gated)
                .map(|g| {
                    let kind = match g.gate {
                        Gate::Go => "go",
                        Gate::Wait { .. } => "wait",
                        Gate::Hold { .. } => "hold",
                        Gate::BadTag { .. } => "bad tag",
                    };
                    (g.original.id.to_string(), kind)
                })
                .collect();
            gates.sort();
            gates
        };
        let early = decide_at(timing("2026-12-05T01:02:59Z", false));
        assert_eq!(
            gates(&early),
            [
                ("i-fenced".to_owned(), "wait"),
                ("i-held".to_owned(), "hold"),
                ("i-typo".to_owned(), "bad tag"),
            ]
        );
        assert_eq!(early.launches(), 2, "i-relaunch and i-later go at once");
        let until: DateTime<Utc> = "2026-12-05T01:03:00Z".parse().unwrap();
        assert_eq!(early.next_wait(), Some(until));
        assert_eq!(
            early.waves[&0].waits_until(),
            Some(until),
            "wave 1 follows it"
        );
        assert_eq!(early.waves[&1].waits_until(), None);
        assert_eq!(
            early.waves[&0].len(),
            4,
            "gated instances stay in their wave"
        );

        let late = decide_at(timing("2026-12-05T01:03:00Z", false));
        assert_eq!(
            gates(&late),
            [
                ("i-held".to_owned(), "hold"),
                ("i-typo".to_owned(), "bad tag")
            ]
        );
        assert_eq!((late.launches(), late.next_wait()), (3, None));

        let failover = decide_at(timing("2026-12-05T01:03:00Z", true));
        assert_eq!(gates(&failover), [("i-typo".to_owned(), "bad tag")]);
        assert_eq!(
            failover.launches(),
            4,
            "a failover recovers the held one too"
        );
    }
}
