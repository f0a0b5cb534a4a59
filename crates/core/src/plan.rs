//! The recovery planner: from what was read, decide for each protected instance whether and
//! where to launch its replacement. Pure: no AWS here.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};

use crate::alarm::{IncidentId, OutpostId};
use crate::inventory::LaunchRequest;
use crate::inventory::{Instance, TemplateTarget};
use crate::tags::{self, TemplateRef};

/// What was read from AWS for one outage.
#[derive(Clone, Debug)]
pub struct Snapshot<'a> {
    /// The Outpost that went down.
    pub outpost: &'a OutpostId,
    /// The outage.
    pub incident: &'a IncidentId,
    /// Opted-in instances on that Outpost.
    pub instances: &'a [Instance],
    /// Instances (in any state EC2 still shows) tagged as replacements of any of them.
    pub replacements: &'a [Instance],
    /// Where each named template would launch.
    pub template_targets: &'a HashMap<TemplateRef, TemplateTarget>,
    /// Outposts whose ConnectedStatus alarm is in ALARM now (the failed one among them):
    /// nothing is launched onto them.
    pub down_outposts: &'a HashSet<OutpostId>,
    /// When this was read.
    pub now: DateTime<Utc>,
}

/// How long a replacement may stay `pending`: EC2 runs an instance within a minute or two, so
/// one still pending after this will not run. It is stuck: terminated, then launched again.
pub const LAUNCH_WAIT: std::time::Duration = std::time::Duration::from_secs(600);

/// The most launches one instance gets in one incident: a replacement that keeps dying
/// (terminated, stopped) is relaunched until this many attempts, then reported.
pub const MAX_ATTEMPTS: u32 = 5;

/// A template passed over, and why.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct SkippedTemplate {
    /// The template.
    pub template: TemplateRef,
    /// Why it was passed over.
    pub reason: String,
}

/// One launch the executor may try, in order.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Candidate {
    /// The launch itself.
    pub request: LaunchRequest,
    /// Where it lands.
    pub subnet_id: String,
    /// The Outpost it lands on, if any.
    pub outpost_arn: Option<String>,
}

/// What to do for one protected instance.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "action", rename_all = "kebab-case")]
pub enum Decision {
    /// Launch a replacement from the first candidate that works.
    Launch {
        /// Alternates in the operator's order (after a dead replacement: starting with the
        /// alternate after the one it ran on).
        candidates: Vec<Candidate>,
        /// Templates passed over.
        skipped: Vec<SkippedTemplate>,
        /// Which launch of this incident this is: 1, or more after replacements died.
        attempt: u32,
        /// Replacements of this incident that died (stopped, stopping, shutting down) or are
        /// stuck pending (terminated first): the new one takes their place in their target
        /// groups.
        dead: Vec<Instance>,
    },
    /// The original was not running when its Outpost went down (stopped by its operator, or
    /// terminated): it is not recovered.
    NotRunning {
        /// Its EC2 state.
        state: String,
    },
    /// A live replacement exists already: nothing to launch.
    AlreadyRecovered {
        /// The replacement.
        replacement: Instance,
        /// Replacements of the original that died before it: it takes their place in their
        /// target groups (a run that launched it may have been cut off before that).
        superseded: Vec<Instance>,
    },
    /// No launch is possible; the reason says what to fix.
    Unrecoverable {
        /// What is wrong and what to fix.
        reason: String,
        /// Templates passed over.
        skipped: Vec<SkippedTemplate>,
    },
}

/// The decision for one protected instance.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct PlannedInstance {
    /// The protected instance on the failed Outpost.
    pub original: Instance,
    /// What to do.
    pub decision: Decision,
}

/// Each instance unrecoverable because what its plan needs could not be read.
pub fn unreadable(instances: &[Instance], error: &crate::error::AwsError) -> Vec<PlannedInstance> {
    instances
        .iter()
        .map(|original| PlannedInstance {
            original: original.clone(),
            decision: Decision::Unrecoverable {
                reason: format!(
                    "its recovery templates could not be read ({error}): {} Instances of the DRS strategy are recovered regardless; the next sweep tries again",
                    error.kind.advice()
                ),
                skipped: Vec::new(),
            },
        })
        .collect()
}

/// Every template named by the instances' tags, each once, for the reader to resolve.
pub fn templates_named_by(instances: &[Instance]) -> Vec<TemplateRef> {
    let mut all: Vec<TemplateRef> = instances
        .iter()
        .filter_map(|i| tags::parse_recovery_templates(i.tag(tags::RECOVERY_TEMPLATES)).ok())
        .flatten()
        .collect();
    all.sort();
    all.dedup();
    all
}

/// Whether an instance is recovered through DRS (`autorestart:strategy=drs`).
pub fn uses_drs(instance: &Instance) -> bool {
    tags::parse_strategy(instance.tag(tags::STRATEGY)) == Ok(tags::Strategy::Drs)
}

/// Decides, for each protected instance in id order that is not DRS-protected, what to do.
pub fn plan_recovery(snapshot: &Snapshot<'_>) -> Vec<PlannedInstance> {
    let mut instances: Vec<&Instance> = snapshot
        .instances
        .iter()
        .filter(|i| i.is_opted_in() && !uses_drs(i))
        .collect();
    instances.sort_by(|a, b| a.id.cmp(&b.id));
    instances
        .into_iter()
        .map(|original| PlannedInstance {
            original: original.clone(),
            decision: decide(snapshot, original),
        })
        .collect()
}

fn decide(snapshot: &Snapshot<'_>, original: &Instance) -> Decision {
    if let Err(reason) = tags::parse_strategy(original.tag(tags::STRATEGY)) {
        return Decision::Unrecoverable {
            reason,
            skipped: Vec::new(),
        };
    }
    let ours: Vec<&Instance> = snapshot
        .replacements
        .iter()
        .filter(|r| r.tag(tags::REPLACEMENT_OF) == Some(original.id.as_str()))
        .collect();
    if let Some(replacement) = live_replacement(&ours, snapshot.now) {
        return Decision::AlreadyRecovered {
            replacement: replacement.clone(),
            superseded: ours
                .iter()
                .filter(|r| r.id != replacement.id && !r.is_starting_or_running())
                .map(|r| (*r).clone())
                .collect(),
        };
    }
    if !original.is_starting_or_running() {
        return Decision::NotRunning {
            state: original.state.clone(),
        };
    }
    // Replacements launched for this incident that died: the next launch is a new attempt,
    // with a new ClientToken (EC2 would answer the old one with the dead instance). A stuck
    // one of any incident goes too: it is terminated before anything else is launched.
    let this_incident = |r: &Instance| r.tag(tags::INCIDENT) == Some(snapshot.incident.as_str());
    let mut dead: Vec<&Instance> = ours
        .into_iter()
        .filter(|r| this_incident(r) || is_stuck(r, snapshot.now))
        .collect();
    dead.sort_by_key(|r| (this_incident(r), attempt_of(r), r.id.clone()));
    let attempt = dead
        .iter()
        .filter(|r| this_incident(r))
        .map(|r| attempt_of(r) + 1)
        .max()
        .unwrap_or(1);
    if attempt > MAX_ATTEMPTS {
        return Decision::Unrecoverable {
            reason: format!(
                "{} replacements launched in this incident died ({}); not launching again",
                dead.len(),
                dead.iter()
                    .map(|r| format!("{} {}", r.id, r.state))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            skipped: Vec::new(),
        };
    }
    let templates = match tags::parse_recovery_templates(original.tag(tags::RECOVERY_TEMPLATES)) {
        Ok(templates) => templates,
        Err(error) => {
            return Decision::Unrecoverable {
                reason: error.to_string(),
                skipped: Vec::new(),
            };
        }
    };
    let (mut candidates, skipped) = alternates(snapshot, original, templates, attempt);
    if candidates.is_empty() {
        let reason = format!(
            "none of its recovery templates can launch onto an Outpost that is up (the failed one is {}): fix them or add one on another Outpost server",
            snapshot.outpost
        );
        return Decision::Unrecoverable { reason, skipped };
    }
    if let Some(last) = dead.last() {
        rotate_past(&mut candidates, last.subnet_id.as_deref());
    }
    Decision::Launch {
        candidates,
        skipped,
        attempt,
        dead: dead.into_iter().cloned().collect(),
    }
}

/// The templates' alternates in order, and those passed over with the reason: a subnet on the
/// failed Outpost or on another Outpost that is down, an unusable or unreadable template.
fn alternates(
    snapshot: &Snapshot<'_>,
    original: &Instance,
    templates: Vec<TemplateRef>,
    attempt: u32,
) -> (Vec<Candidate>, Vec<SkippedTemplate>) {
    let mut candidates = Vec::new();
    let mut skipped = Vec::new();
    for template in templates {
        match snapshot.template_targets.get(&template) {
            Some(TemplateTarget::Subnet {
                subnet_id,
                outpost_arn,
                ..
            }) => match down_reason(snapshot, subnet_id, outpost_arn.as_deref()) {
                Some(reason) => skipped.push(SkippedTemplate { reason, template }),
                None => candidates.push(Candidate {
                    request: launch_request(original, snapshot.incident, template, attempt),
                    subnet_id: subnet_id.clone(),
                    outpost_arn: outpost_arn.clone(),
                }),
            },
            Some(TemplateTarget::Unusable { reason }) => skipped.push(SkippedTemplate {
                template,
                reason: reason.clone(),
            }),
            None => skipped.push(SkippedTemplate {
                template,
                reason: "the template could not be read".into(),
            }),
        }
    }
    (candidates, skipped)
}

/// Why a subnet cannot take a replacement now: it lies on the failed Outpost, or on another
/// Outpost whose alarm is in ALARM.
fn down_reason(
    snapshot: &Snapshot<'_>,
    subnet_id: &str,
    outpost_arn: Option<&str>,
) -> Option<String> {
    if outpost_arn.is_some_and(|arn| snapshot.outpost.is_named_by_arn(arn)) {
        return Some(format!(
            "its subnet {subnet_id} lies on the failed Outpost {}",
            snapshot.outpost
        ));
    }
    outpost_arn
        .and_then(OutpostId::from_arn)
        .filter(|o| snapshot.down_outposts.contains(o))
        .map(|down| {
            format!(
                "its subnet {subnet_id} lies on Outpost {down}, which is down too (its ConnectedStatus alarm is in ALARM)"
            )
        })
}

/// Puts the alternate a dead replacement ran on last, keeping the rest in order: the next
/// attempt starts with the next alternate.
fn rotate_past(candidates: &mut [Candidate], subnet_id: Option<&str>) {
    if let Some(at) = candidates
        .iter()
        .position(|c| Some(c.subnet_id.as_str()) == subnet_id)
    {
        candidates.rotate_left(at + 1);
    }
}

/// The attempt a replacement was launched as (`autorestart:attempt`, 1 when absent).
fn attempt_of(replacement: &Instance) -> u32 {
    replacement
        .tag(tags::ATTEMPT)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1)
}

/// The replacement of `original` that runs, or is pending and not stuck, found by the
/// replacement's audit tag, so that a lost tag on the original cannot cause a second launch.
fn live_replacement<'r>(ours: &[&'r Instance], now: DateTime<Utc>) -> Option<&'r Instance> {
    ours.iter()
        .copied()
        .filter(|r| r.is_starting_or_running() && !is_stuck(r, now))
        .min_by(|a, b| a.id.cmp(&b.id))
}

/// Whether an instance has been pending for longer than [`LAUNCH_WAIT`].
pub fn is_stuck(instance: &Instance, now: DateTime<Utc>) -> bool {
    instance.state == "pending"
        && instance.launched_at.is_some_and(|at| {
            (now - at)
                .to_std()
                .is_ok_and(|pending| pending > LAUNCH_WAIT)
        })
}

/// The launch of `template` for `original` as attempt `attempt` of `incident`: its token and tags.
pub fn launch_request(
    original: &Instance,
    incident: &IncidentId,
    template: TemplateRef,
    attempt: u32,
) -> LaunchRequest {
    let mut tags = replacement_tags(original, incident);
    tags.push((tags::ATTEMPT.into(), attempt.to_string()));
    LaunchRequest {
        client_token: client_token(incident, &original.id, &template, attempt),
        tags,
        template,
    }
}

/// The RunInstances idempotency token for (incident, instance, template, attempt): 64 hex
/// digits, the longest token EC2 accepts. A token per template keeps a retry on another
/// alternate from meeting `IdempotentParameterMismatch`; a token per attempt lets a dead
/// replacement be replaced (EC2 answers a used token with its first instance, even terminated).
pub fn client_token(
    incident: &IncidentId,
    instance_id: &str,
    template: &TemplateRef,
    attempt: u32,
) -> String {
    crate::sha256_hex(&format!("{incident}\n{instance_id}\n{template}\n{attempt}"))
}

/// A drill copy's tags: the workload's opt-in tags (IAM requires `autorestart:enabled`), a
/// `drill: ` Name, and the drill's own tags; never the audit tags a real recovery looks for.
pub fn drill_tags(original: &Instance, drill_id: &str) -> Vec<(String, String)> {
    let mut carried: Vec<(String, String)> = original
        .tags
        .iter()
        .filter(|(key, _)| key.as_str() != tags::NAME && tags::travels_to_replacement(key))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    carried.push((
        tags::NAME.into(),
        format!("drill: {}", original.display_name()),
    ));
    carried.push((tags::DRILL.into(), drill_id.to_owned()));
    carried.push((tags::DRILL_OF.into(), original.id.clone()));
    carried
}

/// The replacement's tags: the workload's identity (Name, opt-in tags) and the audit tags.
pub fn replacement_tags(original: &Instance, incident: &IncidentId) -> Vec<(String, String)> {
    let mut carried: Vec<(String, String)> = original
        .tags
        .iter()
        .filter(|(key, _)| tags::travels_to_replacement(key))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    carried.push((tags::REPLACEMENT_OF.into(), original.id.clone()));
    carried.push((tags::INCIDENT.into(), incident.to_string()));
    carried
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Utc};

    const FAILED: &str = "arn:aws:outposts:us-east-1:111122223333:outpost/op-0aaaaaaaaaaaaaaaa";
    const OTHER: &str = "arn:aws:outposts:us-east-1:111122223333:outpost/op-0bbbbbbbbbbbbbbbb";

    fn instance(id: &str, templates: Option<&str>) -> Instance {
        let mut i = Instance {
            id: id.into(),
            state: "running".into(),
            subnet_id: Some("subnet-a".into()),
            outpost_arn: Some(FAILED.into()),
            ..Instance::default()
        };
        i.tags.insert(tags::ENABLED.into(), "true".into());
        i.tags.insert(tags::NAME.into(), format!("web-{id}"));
        i.tags.insert("CostCenter".into(), "42".into());
        if let Some(t) = templates {
            i.tags.insert(tags::RECOVERY_TEMPLATES.into(), t.into());
        }
        i
    }

    fn t(id: &str) -> TemplateRef {
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
            instance_type: None,
        }
    }

    struct World {
        outpost: OutpostId,
        incident: IncidentId,
        targets: HashMap<TemplateRef, TemplateTarget>,
        down: HashSet<OutpostId>,
    }

    fn world() -> World {
        let outpost = OutpostId::parse("op-0aaaaaaaaaaaaaaaa").unwrap();
        let since: DateTime<Utc> = "2026-11-24T01:00:00Z".parse().unwrap();
        World {
            incident: IncidentId::derive(&outpost, "alarm", since),
            down: HashSet::from([outpost.clone()]),
            outpost,
            targets: HashMap::from([
                (t("lt-0a"), on("subnet-a", FAILED)),
                (t("lt-0b"), on("subnet-b", OTHER)),
                (t("lt-0c"), on("subnet-c", OTHER)),
                (
                    t("lt-0d"),
                    TemplateTarget::Unusable {
                        reason: "no subnet".into(),
                    },
                ),
            ]),
        }
    }

    fn plan(
        world: &World,
        instances: &[Instance],
        replacements: &[Instance],
    ) -> Vec<PlannedInstance> {
        plan_recovery(&Snapshot {
            outpost: &world.outpost,
            incident: &world.incident,
            instances,
            replacements,
            template_targets: &world.targets,
            down_outposts: &world.down,
            now: "2026-11-24T02:00:00Z".parse().unwrap(),
        })
    }

    #[test]
    fn launches_from_alternates_in_order_skipping_the_failed_outpost_and_unusable_templates() {
        let w = world();
        let planned = plan(
            &w,
            &[instance("i-1", Some("lt-0a,lt-0d,lt-0c,lt-0b,lt-0e"))],
            &[],
        );
        let Decision::Launch {
            candidates,
            skipped,
            ..
        } = &planned[0].decision
        else {
            panic!("{planned:?}")
        };
        let order: Vec<&str> = candidates
            .iter()
            .map(|c| c.request.template.id.as_str())
            .collect();
        assert_eq!(order, ["lt-0c", "lt-0b"]);
        let skipped: Vec<&str> = skipped.iter().map(|s| s.template.id.as_str()).collect();
        assert_eq!(skipped, ["lt-0a", "lt-0d", "lt-0e"]);
        assert_eq!(candidates[0].subnet_id, "subnet-c");
    }

    #[test]
    fn tokens_differ_per_template_and_are_stable_per_incident() {
        let w = world();
        let first = plan(&w, &[instance("i-1", Some("lt-0b,lt-0c"))], &[]);
        let again = plan(&w, &[instance("i-1", Some("lt-0b,lt-0c"))], &[]);
        assert_eq!(first, again);
        let Decision::Launch { candidates, .. } = &first[0].decision else {
            panic!()
        };
        assert_ne!(
            candidates[0].request.client_token,
            candidates[1].request.client_token
        );
        assert_eq!(candidates[0].request.client_token.len(), 64);
    }

    #[test]
    fn replacement_carries_identity_and_audit_tags_only() {
        let w = world();
        let mut original = instance("i-1", Some("lt-0b"));
        original
            .tags
            .insert(tags::REPLACED_BY.into(), "i-old".into());
        let tags = replacement_tags(&original, &w.incident);
        let keys: Vec<&str> = tags.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            [
                "Name",
                tags::ENABLED,
                tags::RECOVERY_TEMPLATES,
                tags::REPLACEMENT_OF,
                tags::INCIDENT
            ]
        );
        assert!(tags.contains(&(tags::REPLACEMENT_OF.into(), "i-1".into())));
    }

    #[test]
    fn a_live_replacement_means_nothing_to_launch_but_a_terminated_one_does_not() {
        let w = world();
        let mut replacement = instance("i-r", Some("lt-0b"));
        replacement
            .tags
            .insert(tags::REPLACEMENT_OF.into(), "i-1".into());
        let planned = plan(
            &w,
            &[instance("i-1", Some("lt-0b"))],
            &[replacement.clone()],
        );
        assert!(
            matches!(&planned[0].decision, Decision::AlreadyRecovered { replacement: r, .. } if r.id == "i-r")
        );

        replacement.state = "terminated".into();
        let planned = plan(&w, &[instance("i-1", Some("lt-0b"))], &[replacement]);
        assert!(matches!(planned[0].decision, Decision::Launch { .. }));
    }

    #[test]
    fn unrecoverable_instances_say_what_to_fix() {
        let w = world();
        let planned = plan(
            &w,
            &[
                instance("i-1", None),
                instance("i-2", Some("lt-0a")),
                instance("i-3", Some("bad")),
            ],
            &[],
        );
        let reasons: Vec<String> = planned
            .iter()
            .map(|p| match &p.decision {
                Decision::Unrecoverable { reason, .. } => reason.clone(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert!(reasons[0].contains("missing or empty"), "{}", reasons[0]);
        assert!(
            reasons[1].contains("onto an Outpost that is up"),
            "{}",
            reasons[1]
        );
        assert!(reasons[2].contains("\"bad\""), "{}", reasons[2]);
    }

    #[test]
    fn instances_not_opted_in_are_never_planned() {
        let w = world();
        let mut off = instance("i-2", Some("lt-0b"));
        off.tags.insert(tags::ENABLED.into(), "false".into());
        let planned = plan(&w, &[off, instance("i-1", Some("lt-0b"))], &[]);
        let ids: Vec<&str> = planned.iter().map(|p| p.original.id.as_str()).collect();
        assert_eq!(ids, ["i-1"]);
    }

    #[test]
    fn templates_are_collected_once_each() {
        let all = templates_named_by(&[
            instance("i-1", Some("lt-0b,lt-0c")),
            instance("i-2", Some("lt-0c,lt-0b")),
            instance("i-3", Some("not a template")),
        ]);
        assert_eq!(all, vec![t("lt-0b"), t("lt-0c")]);
    }

    /// A replacement of `i-1` in `state`, launched on `subnet` as `attempt` of this incident
    /// (or of another when `this_incident` is false).
    fn replacement(
        w: &World,
        id: &str,
        state: &str,
        subnet: &str,
        attempt: Option<&str>,
        this_incident: bool,
    ) -> Instance {
        let mut r = instance(id, Some("lt-0b,lt-0c"));
        r.state = state.into();
        r.subnet_id = Some(subnet.into());
        r.tags.insert(tags::REPLACEMENT_OF.into(), "i-1".into());
        let incident = if this_incident {
            w.incident.to_string()
        } else {
            "op-0aaaaaaaaaaaaaaaa-20260101T000000Z-00000000".into()
        };
        r.tags.insert(tags::INCIDENT.into(), incident);
        if let Some(attempt) = attempt {
            r.tags.insert(tags::ATTEMPT.into(), attempt.into());
        }
        r
    }

    fn launched_at(mut instance: Instance, at: &str) -> Instance {
        instance.launched_at = Some(at.parse().unwrap());
        instance
    }

    /// What a decision comes to, in a few words a table can hold.
    fn summary(decision: &Decision) -> String {
        match decision {
            Decision::Launch {
                candidates,
                attempt,
                dead,
                ..
            } => {
                let order: Vec<&str> = candidates
                    .iter()
                    .map(|c| c.request.template.id.as_str())
                    .collect();
                let dead: Vec<&str> = dead.iter().map(|r| r.id.as_str()).collect();
                format!(
                    "launch #{attempt} {} dead[{}]",
                    order.join(">"),
                    dead.join(",")
                )
            }
            Decision::AlreadyRecovered {
                replacement,
                superseded,
            } => {
                let dead: Vec<&str> = superseded.iter().map(|r| r.id.as_str()).collect();
                format!(
                    "recovered by {} superseding[{}]",
                    replacement.id,
                    dead.join(",")
                )
            }
            Decision::NotRunning { state } => format!("not running: {state}"),
            Decision::Unrecoverable { .. } => "unrecoverable".into(),
        }
    }

    #[test]
    fn decide_covers_every_state_a_crash_a_death_or_an_operator_can_leave() {
        let w = world();
        // (what happened, the original's state, its replacements, expected)
        type Row = (&'static str, &'static str, Vec<Instance>, &'static str);
        let rows: Vec<Row> = vec![
            (
                "first run",
                "running",
                vec![],
                "launch #1 lt-0b>lt-0c dead[]",
            ),
            (
                "crash after RunInstances: the replacement is pending",
                "running",
                vec![replacement(&w, "i-r1", "pending", "subnet-b", None, true)],
                "recovered by i-r1 superseding[]",
            ),
            (
                "crash after the tags: the replacement runs",
                "running",
                vec![replacement(
                    &w,
                    "i-r1",
                    "running",
                    "subnet-b",
                    Some("1"),
                    true,
                )],
                "recovered by i-r1 superseding[]",
            ),
            (
                "the replacement was stopped: the next attempt starts on the next alternate",
                "running",
                vec![replacement(
                    &w,
                    "i-r1",
                    "stopped",
                    "subnet-b",
                    Some("1"),
                    true,
                )],
                "launch #2 lt-0c>lt-0b dead[i-r1]",
            ),
            (
                "the replacement is shutting down",
                "running",
                vec![replacement(
                    &w,
                    "i-r1",
                    "shutting-down",
                    "subnet-c",
                    None,
                    true,
                )],
                "launch #2 lt-0b>lt-0c dead[i-r1]",
            ),
            (
                "two replacements died: attempt 3",
                "running",
                vec![
                    replacement(&w, "i-r1", "stopped", "subnet-b", Some("1"), true),
                    replacement(&w, "i-r2", "stopping", "subnet-c", Some("2"), true),
                ],
                "launch #3 lt-0b>lt-0c dead[i-r1,i-r2]",
            ),
            (
                "a dead replacement and a live one: the live one stands",
                "running",
                vec![
                    replacement(&w, "i-r1", "stopped", "subnet-b", Some("1"), true),
                    replacement(&w, "i-r2", "running", "subnet-c", Some("2"), true),
                ],
                "recovered by i-r2 superseding[i-r1]",
            ),
            (
                "the replacement has been pending for 20 minutes: stuck",
                "running",
                vec![launched_at(
                    replacement(&w, "i-r1", "pending", "subnet-b", Some("1"), true),
                    "2026-11-24T01:40:00Z",
                )],
                "launch #2 lt-0c>lt-0b dead[i-r1]",
            ),
            (
                "a replacement of an earlier incident stuck pending is terminated too",
                "running",
                vec![launched_at(
                    replacement(&w, "i-old", "pending", "subnet-b", Some("2"), false),
                    "2026-11-24T01:00:00Z",
                )],
                "launch #1 lt-0c>lt-0b dead[i-old]",
            ),
            (
                "the replacement has been pending for 2 minutes: on its way",
                "running",
                vec![launched_at(
                    replacement(&w, "i-r1", "pending", "subnet-b", Some("1"), true),
                    "2026-11-24T01:58:00Z",
                )],
                "recovered by i-r1 superseding[]",
            ),
            (
                "replacements kept dying: stop launching",
                "running",
                vec![replacement(
                    &w,
                    "i-r5",
                    "stopped",
                    "subnet-b",
                    Some("5"),
                    true,
                )],
                "unrecoverable",
            ),
            (
                "a dead replacement of an earlier incident does not count",
                "running",
                vec![replacement(
                    &w,
                    "i-old",
                    "stopped",
                    "subnet-b",
                    Some("3"),
                    false,
                )],
                "launch #1 lt-0b>lt-0c dead[]",
            ),
            (
                "the operator had stopped it",
                "stopped",
                vec![],
                "not running: stopped",
            ),
            (
                "terminated by its operator",
                "terminated",
                vec![],
                "not running: terminated",
            ),
            ("stopping", "stopping", vec![], "not running: stopping"),
            (
                "pending counts as running",
                "pending",
                vec![],
                "launch #1 lt-0b>lt-0c dead[]",
            ),
            (
                "stopped but recovered earlier: finish that recovery",
                "stopped",
                vec![replacement(&w, "i-r1", "running", "subnet-b", None, true)],
                "recovered by i-r1 superseding[]",
            ),
        ];
        for (what, state, replacements, expected) in rows {
            let mut original = instance("i-1", Some("lt-0a,lt-0b,lt-0c"));
            original.state = state.into();
            let planned = plan(&w, &[original], &replacements);
            assert_eq!(summary(&planned[0].decision), expected, "{what}");
        }
    }

    #[test]
    fn alternates_on_an_outpost_that_is_down_too_are_skipped_and_say_so() {
        let mut w = world();
        w.down
            .insert(OutpostId::parse("op-0bbbbbbbbbbbbbbbb").unwrap());
        let third = "arn:aws:outposts:us-east-1:111122223333:outpost/op-0cccccccccccccccc";
        w.targets.insert(t("lt-0c"), on("subnet-c", third));
        let planned = plan(&w, &[instance("i-1", Some("lt-0b,lt-0c"))], &[]);
        let Decision::Launch {
            candidates,
            skipped,
            ..
        } = &planned[0].decision
        else {
            panic!("{planned:?}")
        };
        assert_eq!(candidates.len(), 1);
        assert_eq!(candidates[0].request.template.id, "lt-0c");
        assert_eq!(skipped[0].template.id, "lt-0b");
        assert!(
            skipped[0]
                .reason
                .contains("op-0bbbbbbbbbbbbbbbb, which is down too"),
            "{}",
            skipped[0].reason
        );

        let planned = plan(&w, &[instance("i-2", Some("lt-0b"))], &[]);
        assert!(
            matches!(&planned[0].decision, Decision::Unrecoverable { reason, .. } if reason.contains("onto an Outpost that is up")),
            "{planned:?}"
        );
    }

    #[test]
    fn each_attempt_has_its_own_token_and_says_which_it_is() {
        let w = world();
        let original = instance("i-1", Some("lt-0b"));
        let first = launch_request(&original, &w.incident, t("lt-0b"), 1);
        let second = launch_request(&original, &w.incident, t("lt-0b"), 2);
        assert_ne!(first.client_token, second.client_token);
        assert_eq!(
            first.client_token,
            launch_request(&original, &w.incident, t("lt-0b"), 1).client_token
        );
        assert!(second.tags.contains(&(tags::ATTEMPT.into(), "2".into())));
        assert!(
            second
                .tags
                .contains(&(tags::REPLACEMENT_OF.into(), "i-1".into()))
        );
    }
}
