//! The fencing decisions, case by case.

use super::*;

const ARN_B: &str = "arn:aws:outposts:us-east-1:111122223333:outpost/op-0bbbbbbbbbbbbbbb2";
const ARN_C: &str = "arn:aws:outposts:us-east-1:111122223333:outpost/op-0ccccccccccccccc3";

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

fn on(outpost_arn: &str, mut instance: Instance) -> Instance {
    instance.outpost_arn = Some(outpost_arn.into());
    instance
}

fn replacement(id: &str, state: &str, of: &str) -> Instance {
    instance(id, state, &[(tags::REPLACEMENT_OF, of)])
}

struct Case {
    name: &'static str,
    original: Instance,
    chains: Vec<Instance>,
    down: Vec<&'static str>,
    unhealthy: Vec<(&'static str, &'static str)>,
    mode: Mode,
    action: FenceAction,
    verdict: Verdict,
    successor: Option<&'static str>,
    repair: Option<&'static str>,
    news: bool,
}

fn case(name: &'static str, original: Instance, chains: Vec<Instance>) -> Case {
    Case {
        name,
        original,
        chains,
        down: Vec::new(),
        unhealthy: Vec::new(),
        mode: Mode::Recover,
        action: FenceAction::Stop,
        verdict: Verdict::AlreadyFenced,
        successor: None,
        repair: None,
        news: false,
    }
}

fn fence(end: &str) -> Verdict {
    Verdict::Fence { end: end.into() }
}

fn hold(reason: HoldReason) -> Verdict {
    Verdict::Hold(reason)
}

fn cases() -> Vec<Case> {
    let replaced = |by: &str| instance("i-x", "running", &[(tags::REPLACED_BY, by)]);
    let untagged = instance("i-x", "running", &[]);
    let fenced_running = instance(
        "i-x",
        "running",
        &[
            (tags::REPLACED_BY, "i-b"),
            (tags::FENCED, "stop@2026-11-24T00:00:00Z"),
        ],
    );
    vec![
        Case {
            verdict: fence("i-b"),
            successor: Some("i-b"),
            news: true,
            ..case(
                "its own tag, replacement runs",
                replaced("i-b"),
                vec![replacement("i-b", "running", "i-x")],
            )
        },
        Case {
            verdict: fence("i-b"),
            successor: Some("i-b"),
            repair: Some("i-b"),
            news: true,
            ..case(
                "tag lost: found from the replacement's replacement-of, repaired",
                untagged.clone(),
                vec![replacement("i-b", "running", "i-x")],
            )
        },
        Case {
            verdict: fence("i-c"),
            successor: Some("i-b"),
            news: true,
            ..case(
                "chain: replacement fenced on B, its replacement runs on C",
                replaced("i-b"),
                vec![
                    instance(
                        "i-b",
                        "stopped",
                        &[(tags::REPLACEMENT_OF, "i-x"), (tags::REPLACED_BY, "i-c")],
                    ),
                    on(ARN_C, replacement("i-c", "running", "i-b")),
                ],
            )
        },
        Case {
            verdict: fence("i-c"),
            successor: Some("i-b"),
            news: true,
            ..case(
                "chain: both copies run, the deepest is the live end",
                replaced("i-b"),
                vec![
                    on(ARN_B, replacement("i-b", "running", "i-x")),
                    on(ARN_C, replacement("i-c", "running", "i-b")),
                ],
            )
        },
        Case {
            verdict: fence("i-b2"),
            successor: Some("i-b2"),
            news: true,
            ..case(
                "a dead attempt and a live one: the live one",
                replaced("i-b2"),
                vec![
                    replacement("i-b1", "stopped", "i-x"),
                    replacement("i-b2", "running", "i-x"),
                ],
            )
        },
        Case {
            verdict: hold(HoldReason::NoLiveCopy {
                named: Some("i-b".into()),
            }),
            successor: Some("i-b"),
            news: true,
            ..case(
                "chain ends in nothing live: held, it may be the only copy",
                replaced("i-b"),
                vec![
                    instance(
                        "i-b",
                        "stopped",
                        &[(tags::REPLACEMENT_OF, "i-x"), (tags::REPLACED_BY, "i-c")],
                    ),
                    replacement("i-c", "stopped", "i-b"),
                ],
            )
        },
        Case {
            verdict: hold(HoldReason::NoLiveCopy {
                named: Some("i-b".into()),
            }),
            ..case(
                "held before for the same reason: no news",
                instance(
                    "i-x",
                    "running",
                    &[
                        (tags::REPLACED_BY, "i-b"),
                        (tags::FENCE_HELD, "no-live-copy"),
                    ],
                ),
                vec![],
            )
        },
        Case {
            verdict: hold(HoldReason::NoLiveCopy {
                named: Some("i-b".into()),
            }),
            news: true,
            ..case(
                "replaced-by names an instance that replaced someone else",
                replaced("i-b"),
                vec![replacement("i-b", "running", "i-other")],
            )
        },
        Case {
            verdict: hold(HoldReason::Starting { end: "i-b".into() }),
            successor: Some("i-b"),
            news: true,
            ..case(
                "live end still pending",
                replaced("i-b"),
                vec![replacement("i-b", "pending", "i-x")],
            )
        },
        Case {
            verdict: hold(HoldReason::EndDown {
                end: "i-b".into(),
                outpost: OutpostId::parse("op-0bbbbbbbbbbbbbbb2").unwrap(),
            }),
            successor: Some("i-b"),
            down: vec!["op-0bbbbbbbbbbbbbbb2"],
            news: true,
            ..case(
                "live end on an Outpost in ALARM",
                replaced("i-b"),
                vec![on(ARN_B, replacement("i-b", "running", "i-x"))],
            )
        },
        Case {
            verdict: hold(HoldReason::Unhealthy {
                end: "i-b".into(),
                detail: "unhealthy in tg-web".into(),
            }),
            successor: Some("i-b"),
            unhealthy: vec![("i-b", "unhealthy in tg-web")],
            news: true,
            ..case(
                "live end not healthy in its target group",
                replaced("i-b"),
                vec![replacement("i-b", "running", "i-x")],
            )
        },
        Case {
            verdict: Verdict::FenceAgain { end: "i-b".into() },
            successor: Some("i-b"),
            news: true,
            ..case(
                "fenced before, running again",
                fenced_running.clone(),
                vec![replacement("i-b", "running", "i-x")],
            )
        },
        Case {
            verdict: hold(HoldReason::NoLiveCopy {
                named: Some("i-b".into()),
            }),
            news: true,
            ..case(
                "fenced before, running again, but now the only copy",
                fenced_running.clone(),
                vec![],
            )
        },
        Case {
            action: FenceAction::Leave,
            successor: Some("i-b"),
            ..case(
                "leave: recorded once, running is expected",
                instance(
                    "i-x",
                    "running",
                    &[
                        (tags::REPLACED_BY, "i-b"),
                        (tags::FENCED, "leave@2026-11-24T00:00:00Z"),
                    ],
                ),
                vec![replacement("i-b", "running", "i-x")],
            )
        },
        Case {
            successor: Some("i-b"),
            ..case(
                "fenced and stopped",
                instance(
                    "i-x",
                    "stopped",
                    &[
                        (tags::REPLACED_BY, "i-b"),
                        (tags::FENCED, "stop@2026-11-24T00:00:00Z"),
                    ],
                ),
                vec![replacement("i-b", "running", "i-x")],
            )
        },
        Case {
            mode: Mode::NotifyOnly,
            successor: Some("i-b"),
            ..case(
                "notify-only: reported before",
                instance(
                    "i-x",
                    "running",
                    &[
                        (tags::REPLACED_BY, "i-b"),
                        (tags::FENCED, "would-stop@2026-11-24T00:00:00Z"),
                    ],
                ),
                vec![replacement("i-b", "running", "i-x")],
            )
        },
        Case {
            mode: Mode::NotifyOnly,
            verdict: Verdict::FenceAgain { end: "i-b".into() },
            successor: Some("i-b"),
            news: true,
            ..case(
                "notify-only: fenced for real before, running again: would be fenced again",
                fenced_running.clone(),
                vec![replacement("i-b", "running", "i-x")],
            )
        },
        Case {
            verdict: fence("i-b"),
            successor: Some("i-b"),
            news: true,
            ..case(
                "recovering for real after notify-only",
                instance(
                    "i-x",
                    "running",
                    &[
                        (tags::REPLACED_BY, "i-b"),
                        (tags::FENCED, "would-stop@2026-11-24T00:00:00Z"),
                    ],
                ),
                vec![replacement("i-b", "running", "i-x")],
            )
        },
        Case {
            verdict: hold(HoldReason::NoLiveCopy { named: None }),
            successor: Some("i-b"),
            repair: Some("i-b"),
            news: true,
            ..case(
                "a cycle of replacement-of tags ends the walk",
                untagged,
                vec![
                    instance("i-b", "stopped", &[(tags::REPLACEMENT_OF, "i-x")]),
                    instance("i-c", "stopped", &[(tags::REPLACEMENT_OF, "i-c")]),
                ],
            )
        },
    ]
}

#[test]
fn decides_each_original_from_its_chain() {
    for case in cases() {
        let down: HashSet<OutpostId> = case
            .down
            .iter()
            .map(|o| OutpostId::parse(o).unwrap())
            .collect();
        let unhealthy: HashMap<InstanceId, String> = case
            .unhealthy
            .iter()
            .map(|(k, v)| ((*k).into(), v.to_string()))
            .collect();
        let view = FenceView {
            chains: &case.chains,
            down: &down,
            unhealthy: &unhealthy,
            unproven: &HashSet::new(),
        };
        let decisions = plan_fencing(
            std::slice::from_ref(&case.original),
            &view,
            case.mode,
            case.action,
        );
        assert_eq!(decisions.len(), 1, "{}", case.name);
        let d = &decisions[0];
        assert_eq!(d.verdict, case.verdict, "{}", case.name);
        assert_eq!(d.successor.as_deref(), case.successor, "{}", case.name);
        assert_eq!(d.repair.as_deref(), case.repair, "{}", case.name);
        assert_eq!(d.news, case.news, "{}", case.name);
    }
}

#[test]
fn an_instance_never_replaced_is_not_considered() {
    let originals = [
        instance("i-x", "running", &[]),
        instance("i-y", "running", &[(tags::REPLACEMENT_OF, "i-z")]),
    ];
    let view = FenceView {
        chains: &[],
        down: &HashSet::new(),
        unhealthy: &HashMap::new(),
        unproven: &HashSet::new(),
    };
    assert!(plan_fencing(&originals, &view, Mode::Recover, FenceAction::Stop).is_empty());
}

#[test]
fn an_original_whose_replaced_by_names_an_unproven_claim_is_not_considered_replaced() {
    let forged = instance("i-forged", "running", &[(tags::REPLACED_BY, "i-elsewhere")]);
    let real = instance("i-real", "running", &[(tags::REPLACED_BY, "i-gone")]);
    let view = FenceView {
        chains: &[],
        down: &HashSet::new(),
        unhealthy: &HashMap::new(),
        unproven: &HashSet::from(["i-elsewhere".into()]),
    };
    let decisions = plan_fencing(&[forged, real], &view, Mode::Recover, FenceAction::Stop);
    // The forged claim is neither fenced nor held; a replacement that vanished is still held.
    assert_eq!(decisions.len(), 1);
    assert_eq!(decisions[0].original.id, "i-real");
    assert!(matches!(
        decisions[0].verdict,
        Verdict::Hold(HoldReason::NoLiveCopy { .. })
    ));
}

#[test]
fn a_hold_is_explained_with_what_to_do() {
    let text = HoldReason::NoLiveCopy {
        named: Some("i-b".into()),
    }
    .explain();
    assert!(text.contains("only copy") && text.contains("i-b"), "{text}");
    assert!(
        text.contains("start (or recover) its replacement"),
        "{text}"
    );
    assert_eq!(
        HoldReason::Starting { end: "i-b".into() }.code(),
        "starting:i-b"
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

#[test]
fn the_summary_counts_originals_running_again() {
    let mut report = FenceReport::new(FenceAction::Stop, Mode::Recover);
    report.fenced.push(FencedInstance {
        instance_id: "i-x".into(),
        name: "web".into(),
        replacement_id: "i-b".into(),
        previous_state: "running".into(),
        again: true,
    });
    assert_eq!(report.summary(), "1 original(s) stopped (1 running again)");
    assert!(describe(&report).contains("FOUND RUNNING AGAIN"));
    assert!(report.has_news());
}
