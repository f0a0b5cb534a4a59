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

fn plan(world: &World, instances: &[Instance], replacements: &[Instance]) -> Vec<PlannedInstance> {
    plan_recovery(&Snapshot {
        outpost: &world.outpost,
        incident: &world.incident,
        instances,
        replacements,
        template_targets: &world.targets,
        down_outposts: &world.down,
        now: "2026-11-24T02:00:00Z".parse().unwrap(),
        launch_wait: LAUNCH_WAIT,
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
            tags::INCIDENT,
            tags::LAUNCHED_IN
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
    // The same tags on an instance the agent did not launch: no proof, so a launch.
    let forged = replacement.clone();
    let planned = plan(&w, &[instance("i-1", Some("lt-0b"))], &[forged]);
    assert!(
        matches!(&planned[0].decision, Decision::Launch { attempt: 1, .. }),
        "{:?}",
        planned[0].decision
    );
    replacement.tags.insert(
        tags::INCIDENT.into(),
        "op-0aaaaaaaaaaaaaaaa-20260101T000000Z-00000000".into(),
    );
    let mut replacement = launched_by_agent(replacement, "i-1");
    let planned = plan(
        &w,
        &[instance("i-1", Some("lt-0b"))],
        std::slice::from_ref(&replacement),
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
/// A replacement of `i-1`, as the table names it.
struct Replacement {
    id: &'static str,
    state: &'static str,
    subnet: &'static str,
    attempt: Option<&'static str>,
    /// Launched in this incident (or an earlier one).
    this_incident: bool,
}

fn replacement(w: &World, r: Replacement) -> Instance {
    let Replacement {
        id,
        state,
        subnet,
        attempt,
        this_incident,
    } = r;
    let mut r = instance(id, Some("lt-0b,lt-0c"));
    r.state = state.into();
    r.subnet_id = Some(subnet.into());
    r.outpost_arn = Some(if subnet == "subnet-a" { FAILED } else { OTHER }.into());
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
    launched_by_agent(r, "i-1")
}

/// `r` as EC2 shows an instance the agent launched from `lt-0b` for `of`, as the incident and
/// attempt its tags name: the token and `aws:ec2launchtemplate:id` that prove it.
fn launched_by_agent(mut r: Instance, of: &str) -> Instance {
    let incident = IncidentId::from_tag(r.tag(tags::INCIDENT).unwrap());
    let attempt = r.tag(tags::ATTEMPT).map_or(1, |a| a.parse().unwrap());
    r.client_token = Some(client_token(&incident, of, &t("lt-0b"), attempt));
    r.tags
        .insert(tags::LAUNCH_TEMPLATE_ID.into(), "lt-0b".into());
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
    struct Row {
        what: &'static str,
        original_state: &'static str,
        replacements: Vec<Instance>,
        expected: &'static str,
    }
    let rows = vec![
        Row {
            what: "first run",
            original_state: "running",
            replacements: vec![],
            expected: "launch #1 lt-0b>lt-0c dead[]",
        },
        Row {
            what: "crash after RunInstances: the replacement is pending",
            original_state: "running",
            replacements: vec![replacement(
                &w,
                Replacement {
                    id: "i-r1",
                    state: "pending",
                    subnet: "subnet-b",
                    attempt: None,
                    this_incident: true,
                },
            )],
            expected: "recovered by i-r1 superseding[]",
        },
        Row {
            what: "a replacement pending on an Outpost that is down now will not start: stuck",
            original_state: "running",
            replacements: vec![replacement(
                &w,
                Replacement {
                    id: "i-r1",
                    state: "pending",
                    subnet: "subnet-a",
                    attempt: None,
                    this_incident: true,
                },
            )],
            expected: "launch #2 lt-0b>lt-0c dead[i-r1]",
        },
        Row {
            what: "crash after the tags: the replacement runs",
            original_state: "running",
            replacements: vec![replacement(
                &w,
                Replacement {
                    id: "i-r1",
                    state: "running",
                    subnet: "subnet-b",
                    attempt: Some("1"),
                    this_incident: true,
                },
            )],
            expected: "recovered by i-r1 superseding[]",
        },
        Row {
            what: "the replacement was stopped: the next attempt starts on the next alternate",
            original_state: "running",
            replacements: vec![replacement(
                &w,
                Replacement {
                    id: "i-r1",
                    state: "stopped",
                    subnet: "subnet-b",
                    attempt: Some("1"),
                    this_incident: true,
                },
            )],
            expected: "launch #2 lt-0c>lt-0b dead[i-r1]",
        },
        Row {
            what: "the replacement is shutting down",
            original_state: "running",
            replacements: vec![replacement(
                &w,
                Replacement {
                    id: "i-r1",
                    state: "shutting-down",
                    subnet: "subnet-c",
                    attempt: None,
                    this_incident: true,
                },
            )],
            expected: "launch #2 lt-0b>lt-0c dead[i-r1]",
        },
        Row {
            what: "two replacements died: attempt 3",
            original_state: "running",
            replacements: vec![
                replacement(
                    &w,
                    Replacement {
                        id: "i-r1",
                        state: "stopped",
                        subnet: "subnet-b",
                        attempt: Some("1"),
                        this_incident: true,
                    },
                ),
                replacement(
                    &w,
                    Replacement {
                        id: "i-r2",
                        state: "stopping",
                        subnet: "subnet-c",
                        attempt: Some("2"),
                        this_incident: true,
                    },
                ),
            ],
            expected: "launch #3 lt-0b>lt-0c dead[i-r1,i-r2]",
        },
        Row {
            what: "a dead replacement and a live one: the live one stands",
            original_state: "running",
            replacements: vec![
                replacement(
                    &w,
                    Replacement {
                        id: "i-r1",
                        state: "stopped",
                        subnet: "subnet-b",
                        attempt: Some("1"),
                        this_incident: true,
                    },
                ),
                replacement(
                    &w,
                    Replacement {
                        id: "i-r2",
                        state: "running",
                        subnet: "subnet-c",
                        attempt: Some("2"),
                        this_incident: true,
                    },
                ),
            ],
            expected: "recovered by i-r2 superseding[i-r1]",
        },
        Row {
            what: "the replacement has been pending for 20 minutes: stuck",
            original_state: "running",
            replacements: vec![launched_at(
                replacement(
                    &w,
                    Replacement {
                        id: "i-r1",
                        state: "pending",
                        subnet: "subnet-b",
                        attempt: Some("1"),
                        this_incident: true,
                    },
                ),
                "2026-11-24T01:40:00Z",
            )],
            expected: "launch #2 lt-0c>lt-0b dead[i-r1]",
        },
        Row {
            what: "a replacement of an earlier incident stuck pending is terminated too",
            original_state: "running",
            replacements: vec![launched_at(
                replacement(
                    &w,
                    Replacement {
                        id: "i-old",
                        state: "pending",
                        subnet: "subnet-b",
                        attempt: Some("2"),
                        this_incident: false,
                    },
                ),
                "2026-11-24T01:00:00Z",
            )],
            expected: "launch #1 lt-0c>lt-0b dead[i-old]",
        },
        Row {
            what: "the replacement has been pending for 2 minutes: on its way",
            original_state: "running",
            replacements: vec![launched_at(
                replacement(
                    &w,
                    Replacement {
                        id: "i-r1",
                        state: "pending",
                        subnet: "subnet-b",
                        attempt: Some("1"),
                        this_incident: true,
                    },
                ),
                "2026-11-24T01:58:00Z",
            )],
            expected: "recovered by i-r1 superseding[]",
        },
        Row {
            what: "replacements kept dying: stop launching",
            original_state: "running",
            replacements: vec![replacement(
                &w,
                Replacement {
                    id: "i-r5",
                    state: "stopped",
                    subnet: "subnet-b",
                    attempt: Some("5"),
                    this_incident: true,
                },
            )],
            expected: "unrecoverable",
        },
        Row {
            what: "a dead replacement of an earlier incident does not count",
            original_state: "running",
            replacements: vec![replacement(
                &w,
                Replacement {
                    id: "i-old",
                    state: "stopped",
                    subnet: "subnet-b",
                    attempt: Some("3"),
                    this_incident: false,
                },
            )],
            expected: "launch #1 lt-0b>lt-0c dead[]",
        },
        Row {
            what: "the operator had stopped it",
            original_state: "stopped",
            replacements: vec![],
            expected: "not running: stopped",
        },
        Row {
            what: "terminated by its operator",
            original_state: "terminated",
            replacements: vec![],
            expected: "not running: terminated",
        },
        Row {
            what: "stopping",
            original_state: "stopping",
            replacements: vec![],
            expected: "not running: stopping",
        },
        Row {
            what: "pending counts as running",
            original_state: "pending",
            replacements: vec![],
            expected: "launch #1 lt-0b>lt-0c dead[]",
        },
        Row {
            what: "stopped but recovered earlier: finish that recovery",
            original_state: "stopped",
            replacements: vec![replacement(
                &w,
                Replacement {
                    id: "i-r1",
                    state: "running",
                    subnet: "subnet-b",
                    attempt: None,
                    this_incident: true,
                },
            )],
            expected: "recovered by i-r1 superseding[]",
        },
    ];
    for Row {
        what,
        original_state,
        replacements,
        expected,
    } in rows
    {
        let mut original = instance("i-1", Some("lt-0a,lt-0b,lt-0c"));
        original.state = original_state.into();
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

#[test]
fn the_attempt_the_original_records_survives_its_replacement_vanishing() {
    let w = world();
    let incident = w.incident.to_string();
    let cases: [(&str, Option<&str>, &str, u32); 5] = [
        ("no record", None, "", 1),
        (
            "this incident's third attempt",
            Some("3"),
            incident.as_str(),
            3,
        ),
        (
            "another incident's",
            Some("3"),
            "op-0other-20260101T000000Z-0",
            1,
        ),
        (
            "past the bound: a claim not believed",
            Some("99"),
            incident.as_str(),
            1,
        ),
        ("not a number", Some("x"), incident.as_str(), 1),
    ];
    for (case, attempt, of_incident, expected) in cases {
        let mut original = instance("i-1", Some("lt-0b"));
        if let Some(attempt) = attempt {
            original
                .tags
                .insert(tags::LAST_ATTEMPT.into(), attempt.into());
            original
                .tags
                .insert(tags::INCIDENT.into(), of_incident.into());
            original
                .tags
                .insert(tags::REPLACED_BY.into(), "i-vanished".into());
        }
        let planned = plan(&w, &[original], &[]);
        match &planned[0].decision {
            Decision::Launch {
                attempt,
                candidates,
                ..
            } => {
                assert_eq!(*attempt, expected, "{case}");
                assert!(
                    candidates[0]
                        .request
                        .tags
                        .contains(&(tags::ATTEMPT.into(), expected.to_string())),
                    "{case}"
                );
            }
            other => panic!("{case}: {other:?}"),
        }
    }
}

#[test]
fn alternates_on_an_outpost_gone_down_since_the_plan_are_passed_over() {
    const THIRD: &str = "arn:aws:outposts:us-east-1:111122223333:outpost/op-0cccccccccccccccc";
    let mut w = world();
    w.targets.insert(t("lt-0e"), on("subnet-e", THIRD));
    let original = instance("i-1", Some("lt-0b,lt-0e"));
    let other = OutpostId::from_arn(OTHER).unwrap();
    let third = OutpostId::from_arn(THIRD).unwrap();
    // (down now, alternates left, unrecoverable?)
    let rows: [(Vec<OutpostId>, Vec<&str>, bool); 3] = [
        (vec![], vec!["subnet-b", "subnet-e"], false),
        (vec![other.clone()], vec!["subnet-e"], false),
        (vec![other, third], vec![], true),
    ];
    for (down, left, unrecoverable) in rows {
        let mut planned = plan(&w, std::slice::from_ref(&original), &[]).remove(0);
        let down: HashSet<OutpostId> = down.into_iter().collect();
        without_down(&mut planned, &down);
        match planned.decision {
            Decision::Launch {
                candidates,
                skipped,
                ..
            } => {
                assert!(!unrecoverable);
                let subnets: Vec<&str> = candidates.iter().map(|c| c.subnet_id.as_str()).collect();
                assert_eq!(subnets, left);
                assert_eq!(skipped.len(), 2 - left.len());
                assert!(
                    skipped
                        .iter()
                        .all(|s| s.reason.contains("went down before this wave"))
                );
            }
            Decision::Unrecoverable { reason, skipped } => {
                assert!(unrecoverable, "{reason}");
                assert!(reason.contains("every alternate lies on an Outpost that is down now"));
                assert_eq!(skipped.len(), 2);
            }
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn pools_recorded_full_in_this_incident_are_tried_last() {
    let w = world();
    let pool_b = "subnet-b/lt-0b".to_owned();
    // (the original's record, the order of its alternates)
    let rows = [
        (None, ["subnet-b", "subnet-c"]),
        (
            Some(full_record(&w.incident, std::slice::from_ref(&pool_b))),
            ["subnet-c", "subnet-b"],
        ),
        (
            Some(format!("op-0other-20260101T000000Z-0 {pool_b}")),
            ["subnet-b", "subnet-c"],
        ),
    ];
    for (record, order) in rows {
        let mut original = instance("i-1", Some("lt-0b,lt-0c"));
        if let Some(record) = &record {
            original.tags.insert(tags::FULL.into(), record.clone());
        }
        let planned = plan(&w, &[original], &[]);
        let Decision::Launch { candidates, .. } = &planned[0].decision else {
            panic!("{record:?}: {:?}", planned[0].decision)
        };
        let subnets: Vec<&str> = candidates.iter().map(|c| c.subnet_id.as_str()).collect();
        assert_eq!(subnets, order, "{record:?}");
    }
    // A later run adds what it found to the incident's record; another incident's is replaced.
    let mut original = instance("i-1", Some("lt-0b,lt-0c"));
    original.tags.insert(
        tags::FULL.into(),
        full_record(&w.incident, std::slice::from_ref(&pool_b)),
    );
    let found = ["subnet-c/lt-0c".to_owned(), pool_b.clone()];
    let merged = full_record_with(&original, &w.incident, &found);
    assert_eq!(merged, format!("{} {pool_b} subnet-c/lt-0c", w.incident));
    original.tags.insert(
        tags::FULL.into(),
        format!("op-0other-20260101T000000Z-0 {pool_b}"),
    );
    let replaced = full_record_with(&original, &w.incident, &["subnet-c/lt-0c".to_owned()]);
    assert_eq!(replaced, format!("{} subnet-c/lt-0c", w.incident));
    // The record fits in a tag value, however many pools.
    let many: Vec<String> = (0..40)
        .map(|i| format!("subnet-{i:017x}/m5.large"))
        .collect();
    let record = full_record(&w.incident, &many);
    assert!(record.len() <= 256, "{}", record.len());
    assert!(record.starts_with(w.incident.as_str()));
    assert!(record.contains(&many[0]));
}
