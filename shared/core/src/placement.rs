//! Placement before launching: where the Outposts API tells how many slots of an instance type
//! an alternate Outpost has free, launches are planned onto the slots, so that a server known
//! to be full is not asked first. Pure; the flows read the API.

use std::collections::{HashMap, HashSet};

use crate::alarm::OutpostId;
use crate::inventory::Asset;
use crate::plan::{Candidate, Decision, PlannedInstance};
use crate::vocabulary::AssetState;

/// Free slots by instance type on one Outpost: the capacity its active assets are configured
/// with (`ListAssets`), less the instances of that type running on it, of every account and
/// service (`ListAssetInstances`). Never below zero.
pub fn free_slots(assets: &[Asset], running_types: &[String]) -> HashMap<String, i32> {
    let mut free: HashMap<String, i32> = HashMap::new();
    for asset in assets
        .iter()
        .filter(|a| a.state.as_ref().is_none_or(|s| *s == AssetState::Active))
    {
        for (instance_type, count) in &asset.capacities {
            *free.entry(instance_type.clone()).or_default() += count;
        }
    }
    for instance_type in running_types {
        if let Some(slots) = free.get_mut(instance_type) {
            *slots -= 1;
        }
    }
    free.values_mut().for_each(|slots| *slots = (*slots).max(0));
    free
}

/// The Outposts the launches of `planned` may go to.
pub fn alternate_outposts(planned: &[PlannedInstance]) -> HashSet<OutpostId> {
    planned
        .iter()
        .filter_map(|p| match &p.decision {
            Decision::Launch { candidates, .. } => Some(candidates),
            _ => None,
        })
        .flatten()
        .filter_map(|c| c.outpost_arn.as_deref().and_then(OutpostId::from_arn))
        .collect()
}

/// Plans the launches onto the free slots, in order: each launch's first alternate with a free
/// slot for its instance type takes it; alternates known to have none (whose slots earlier
/// launches took) go after the others, still tried (a count can be stale). Where the API told
/// nothing (no data for that Outpost or type), the operator's order stands. The number of
/// launches moved off their first alternate.
pub fn place(
    planned: &mut [PlannedInstance],
    free: &mut HashMap<OutpostId, HashMap<String, i32>>,
) -> usize {
    let mut moved = 0;
    for p in planned.iter_mut() {
        let Decision::Launch { candidates, .. } = &mut p.decision else {
            continue;
        };
        let room = |c: &Candidate, free: &HashMap<OutpostId, HashMap<String, i32>>| {
            let outpost = c.outpost_arn.as_deref().and_then(OutpostId::from_arn)?;
            let instance_type = c.instance_type.as_deref()?;
            free.get(&outpost)?.get(instance_type).copied()
        };
        let first = candidates.first().map(Candidate::capacity_pool);
        let (full, mut rest): (Vec<Candidate>, Vec<Candidate>) = std::mem::take(candidates)
            .into_iter()
            .partition(|c| room(c, free) == Some(0));
        rest.extend(full);
        *candidates = rest;
        if let Some(taken) = candidates.first()
            && room(taken, free).is_some_and(|slots| slots > 0)
        {
            let outpost = taken
                .outpost_arn
                .as_deref()
                .and_then(OutpostId::from_arn)
                .expect("room() found it");
            let instance_type = taken.instance_type.clone().expect("room() found it");
            *free
                .get_mut(&outpost)
                .and_then(|types| types.get_mut(&instance_type))
                .expect("room() found it") -= 1;
        }
        if candidates.first().map(Candidate::capacity_pool) != first {
            moved += 1;
        }
    }
    moved
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::LaunchRequest;
    use crate::tags::TemplateRef;

    const B: &str = "arn:aws:outposts:us-east-1:111122223333:outpost/op-0bbbbbbbbbbbbbbb2";
    const C: &str = "arn:aws:outposts:us-east-1:111122223333:outpost/op-0ccccccccccccccc3";

    fn asset(state: Option<&str>, capacities: &[(&str, i32)]) -> Asset {
        Asset {
            id: "asset-1".into(),
            state: state.map(Into::into),
            capacities: capacities
                .iter()
                .map(|(t, n)| ((*t).to_owned(), *n))
                .collect(),
        }
    }

    #[test]
    fn free_slots_are_the_active_capacity_less_what_runs() {
        let assets = [
            asset(Some("ACTIVE"), &[("m5.large", 4), ("c5.xlarge", 2)]),
            asset(None, &[("m5.large", 2)]),
            asset(Some("RETIRING"), &[("m5.large", 8)]),
        ];
        let running: Vec<String> = [
            "m5.large",
            "m5.large",
            "c5.xlarge",
            "c5.xlarge",
            "c5.xlarge",
        ]
        .map(str::to_owned)
        .to_vec();
        let free = free_slots(&assets, &running);
        assert_eq!(free["m5.large"], 4);
        assert_eq!(free["c5.xlarge"], 0, "never below zero");
        assert_eq!(free.len(), 2);
    }

    fn candidate(subnet: &str, outpost: &str, instance_type: Option<&str>) -> Candidate {
        Candidate {
            request: LaunchRequest {
                template: TemplateRef {
                    id: format!("lt-{subnet}").into(),
                    version: "$Default".into(),
                },
                client_token: String::new(),
                tags: Vec::new(),
            },
            subnet_id: subnet.into(),
            outpost_arn: Some(outpost.into()),
            instance_type: instance_type.map(str::to_owned),
        }
    }

    fn launch(candidates: Vec<Candidate>) -> PlannedInstance {
        PlannedInstance {
            original: crate::inventory::Instance::default(),
            decision: Decision::Launch {
                candidates,
                skipped: Vec::new(),
                attempt: 1,
                dead: Vec::new(),
            },
        }
    }

    fn first_subnets(planned: &[PlannedInstance]) -> Vec<&str> {
        planned
            .iter()
            .map(|p| match &p.decision {
                Decision::Launch { candidates, .. } => candidates[0].subnet_id.as_str(),
                _ => "-",
            })
            .collect()
    }

    #[test]
    fn launches_fill_the_free_slots_in_order_then_go_to_their_next_alternate() {
        let b = OutpostId::from_arn(B).unwrap();
        let c = OutpostId::from_arn(C).unwrap();
        let both = || {
            launch(vec![
                candidate("subnet-b", B, Some("m5.large")),
                candidate("subnet-c", C, Some("m5.large")),
            ])
        };
        let mut planned = vec![both(), both(), both(), both()];
        let mut free = HashMap::from([
            (b.clone(), HashMap::from([("m5.large".to_owned(), 2)])),
            (c.clone(), HashMap::from([("m5.large".to_owned(), 1)])),
        ]);
        let moved = place(&mut planned, &mut free);
        // Two fit on B, one on C; the fourth finds no free slot anywhere: its alternates keep
        // the operator's order (the counts can be stale; the launch learns the rest).
        assert_eq!(
            first_subnets(&planned),
            ["subnet-b", "subnet-b", "subnet-c", "subnet-b"]
        );
        assert_eq!(moved, 1);
        assert_eq!(free[&b]["m5.large"], 0);
        assert_eq!(free[&c]["m5.large"], 0);
    }

    #[test]
    fn without_data_the_operators_order_stands() {
        let mut planned = vec![
            launch(vec![
                candidate("subnet-b", B, None),
                candidate("subnet-c", C, Some("m5.large")),
            ]),
            launch(vec![
                candidate("subnet-b", B, Some("c5.xlarge")),
                candidate("subnet-c", C, Some("m5.large")),
            ]),
        ];
        let c = OutpostId::from_arn(C).unwrap();
        let mut free = HashMap::from([(c, HashMap::from([("m5.large".to_owned(), 0)]))]);
        assert_eq!(place(&mut planned, &mut free), 0);
        assert_eq!(first_subnets(&planned), ["subnet-b", "subnet-b"]);
        let outposts = alternate_outposts(&planned);
        assert_eq!(outposts.len(), 2);
    }
}
