//! Failback decisions, from every state a run (or a crash) can leave a pair in.

use super::*;
use crate::inventory::TargetKind;

const TG: &str = "arn:aws:elasticloadbalancing:us-east-1:111122223333:targetgroup/web/1";

fn at(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

fn instance(id: &str, state: &str, tags: &[(&str, &str)]) -> Instance {
    Instance {
        id: id.into(),
        state: state.into(),
        instance_type: Some("m5.large".into()),
        tags: tags
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ..Instance::default()
    }
}

fn target(id: &str) -> Target {
    Target {
        id: id.into(),
        port: Some(80),
        availability_zone: None,
    }
}

/// A move of `TG` from `from` to `to`, registered as said.
fn moved(from: &str, to: &str, to_registered: bool, from_registered: bool) -> Move {
    Move {
        target_group_arn: TG.into(),
        kind: TargetKind::Instance,
        original_id: from.into(),
        replacement_id: to.into(),
        from: target(from),
        to: target(to),
        already_registered: to_registered,
        from_registered,
    }
}

fn timing(now: &str) -> Timing {
    Timing {
        now: at(now),
        settle: SETTLE,
        wait: Duration::from_secs(900),
    }
}

fn home_ok() -> Home {
    Home {
        ok_since: Some(at("2026-12-06T01:00:00Z")),
        free: None,
    }
}

fn request() -> Request {
    Request {
        outpost: OutpostId::parse("op-0aaaaaaaaaaaaaaa1").unwrap(),
        dry_run: false,
        handover: Handover::StopFirst,
        retire: Retire::Standby,
    }
}

const SINCE: &str = "2026-12-06T03:00:00Z";
const SOON: &str = "2026-12-06T03:05:00Z";
const LATE: &str = "2026-12-06T03:20:00Z";

fn marker(phase: Phase, handover: Handover, retire: Retire) -> String {
    Marker {
        phase,
        ..Marker::going(handover, retire, at(SINCE))
    }
    .value()
}

struct Case {
    name: &'static str,
    original: Instance,
    replacement: Option<Instance>,
    unlinked: bool,
    back: Vec<Move>,
    forth: Vec<Move>,
    healthy: bool,
    now: &'static str,
    step: Step,
}

fn going(state: &str, handover: Handover, retire: Retire) -> Instance {
    instance(
        "i-o",
        state,
        &[
            (tags::REPLACED_BY, "i-r"),
            (tags::FAILBACK, &marker(Phase::Going, handover, retire)),
        ],
    )
}

fn rolling(state: &str) -> Instance {
    instance(
        "i-o",
        state,
        &[
            (tags::REPLACED_BY, "i-r"),
            (
                tags::FAILBACK,
                &marker(
                    Phase::RollingBack(Fault::NotHealthy),
                    Handover::StopFirst,
                    Retire::Standby,
                ),
            ),
        ],
    )
}

fn r(state: &str) -> Option<Instance> {
    Some(instance("i-r", state, &[(tags::REPLACEMENT_OF, "i-o")]))
}

fn case(name: &'static str, original: Instance, replacement: Option<Instance>) -> Case {
    Case {
        name,
        original,
        replacement,
        unlinked: false,
        back: Vec::new(),
        forth: Vec::new(),
        healthy: false,
        now: SOON,
        step: Step::Idle,
    }
}

#[test]
fn each_state_of_a_failback_has_one_next_step() {
    use Handover::{Overlap, StopFirst};
    use Retire::{Standby, Terminate};
    let registered_healthy = vec![moved("i-r", "i-o", true, true)];
    let cases = vec![
        Case {
            step: Step::StopReplacement,
            ..case(
                "stop-first: the replacement stops first",
                going("stopped", StopFirst, Standby),
                r("running"),
            )
        },
        Case {
            step: Step::Wait(Waiting::Replacement),
            ..case(
                "stop-first: the original waits for the replacement to stop",
                going("stopped", StopFirst, Standby),
                r("stopping"),
            )
        },
        Case {
            step: Step::StartOriginal,
            ..case(
                "stop-first: then the original starts",
                going("stopped", StopFirst, Standby),
                r("stopped"),
            )
        },
        Case {
            step: Step::StartOriginal,
            ..case(
                "overlap: the original starts next to the running replacement",
                going("stopped", Overlap, Standby),
                r("running"),
            )
        },
        Case {
            step: Step::Wait(Waiting::Original),
            ..case(
                "a pending original is waited for",
                going("pending", StopFirst, Standby),
                r("stopped"),
            )
        },
        Case {
            now: LATE,
            step: Step::RollBack(Fault::NotRunning),
            ..case(
                "an original that did not run in time rolls back",
                going("pending", StopFirst, Standby),
                r("stopped"),
            )
        },
        Case {
            now: LATE,
            step: Step::RollBack(Fault::NotRunning),
            ..case(
                "an original still stopped when time is up rolls back",
                going("stopped", StopFirst, Standby),
                r("stopped"),
            )
        },
        Case {
            step: Step::RollBack(Fault::OriginalGone),
            ..case(
                "an original terminated meanwhile rolls back",
                going("terminated", StopFirst, Standby),
                r("stopped"),
            )
        },
        Case {
            back: vec![moved("i-r", "i-o", false, true)],
            step: Step::RegisterOriginal(vec![moved("i-r", "i-o", false, true)]),
            ..case(
                "a running original is registered where its replacement is",
                going("running", StopFirst, Standby),
                r("stopped"),
            )
        },
        Case {
            back: registered_healthy.clone(),
            step: Step::Wait(Waiting::Healthy {
                until: at("2026-12-06T03:15:00Z"),
            }),
            ..case(
                "a registered original is waited for until healthy",
                going("running", StopFirst, Standby),
                r("stopped"),
            )
        },
        Case {
            back: registered_healthy.clone(),
            now: LATE,
            step: Step::RollBack(Fault::NotHealthy),
            ..case(
                "an original not healthy in time rolls back",
                going("running", StopFirst, Standby),
                r("stopped"),
            )
        },
        Case {
            back: registered_healthy.clone(),
            healthy: true,
            now: LATE,
            step: Step::DeregisterReplacement(registered_healthy.clone()),
            ..case(
                "a healthy original takes over: the replacement is deregistered, late or not",
                going("running", StopFirst, Standby),
                r("stopped"),
            )
        },
        Case {
            step: Step::KeepAsStandby,
            ..case(
                "the stopped, deregistered replacement is kept as a standby",
                going("running", StopFirst, Standby),
                r("stopped"),
            )
        },
        Case {
            step: Step::StopReplacement,
            ..case(
                "overlap: the replacement stops once the original took over",
                going("running", Overlap, Standby),
                r("running"),
            )
        },
        Case {
            step: Step::TerminateReplacement,
            ..case(
                "retire=terminate terminates the replacement",
                going("running", Overlap, Terminate),
                r("running"),
            )
        },
        Case {
            unlinked: true,
            step: Step::KeepAsStandby,
            ..case(
                "unlinked but not tagged a standby yet: tagged again",
                going("running", StopFirst, Standby),
                r("stopped"),
            )
        },
        Case {
            unlinked: true,
            step: Step::CleanUp,
            ..case(
                "a standby unlinked: the original's tags are cleared",
                going("running", StopFirst, Standby),
                Some(instance("i-r", "stopped", &[(tags::STANDBY_FOR, "i-o")])),
            )
        },
        Case {
            step: Step::CleanUp,
            ..case(
                "the replacement terminated: the original's tags are cleared",
                going("running", StopFirst, Terminate),
                None,
            )
        },
        // Rolling back.
        Case {
            forth: vec![moved("i-o", "i-r", false, true)],
            step: Step::DeregisterOriginal(vec![moved("i-o", "i-r", false, true)]),
            ..case(
                "a rollback deregisters the original first",
                rolling("running"),
                r("stopped"),
            )
        },
        Case {
            step: Step::StopOriginal,
            ..case("then stops it", rolling("running"), r("stopped"))
        },
        Case {
            step: Step::Wait(Waiting::Original),
            ..case(
                "and waits for it to stop",
                rolling("stopping"),
                r("stopped"),
            )
        },
        Case {
            step: Step::StartReplacement,
            ..case(
                "then starts the replacement",
                rolling("stopped"),
                r("stopped"),
            )
        },
        Case {
            step: Step::Wait(Waiting::Replacement),
            ..case("and waits for it to run", rolling("stopped"), r("pending"))
        },
        Case {
            forth: vec![moved("i-o", "i-r", false, false)],
            step: Step::RegisterReplacement(vec![moved("i-o", "i-r", false, false)]),
            ..case(
                "then registers it where the original was",
                rolling("stopped"),
                r("running"),
            )
        },
        Case {
            step: Step::EndRollBack,
            ..case("and ends the rollback", rolling("stopped"), r("running"))
        },
        Case {
            step: Step::EndRollBack,
            ..case(
                "with no replacement left, the original is the one copy: left as is",
                rolling("running"),
                None,
            )
        },
    ];
    for c in cases {
        let health: BTreeMap<(TargetGroupArn, Target), TargetHealth> = c
            .back
            .iter()
            .map(|m| {
                let state = if c.healthy {
                    TargetHealth::Healthy
                } else {
                    TargetHealth::Initial
                };
                ((m.target_group_arn.clone(), m.to.clone()), state)
            })
            .collect();
        let pair = Pair {
            original: &c.original,
            replacement: c.replacement.as_ref(),
            unlinked: c.unlinked,
            claims: &[],
            back: &c.back,
            forth: &c.forth,
            health: &health,
            drs: None,
        };
        let steps = decide(&[pair], &home_ok(), None, &timing(c.now));
        assert_eq!(steps, vec![c.step], "{}", c.name);
    }
}

fn fenced(id: &str, tags: &[(&str, &str)]) -> Instance {
    let mut all = vec![
        (tags::REPLACED_BY, "i-r"),
        (tags::FENCED, "stop@2026-12-06T02:00:00Z"),
    ];
    all.extend_from_slice(tags);
    let mut i = instance(id, "stopped", &all);
    i.id = id.into();
    i
}

fn begin_of(pairs: &[Pair<'_>], home: &Home, now: &str) -> Vec<Step> {
    decide(pairs, home, Some(&request()), &timing(now))
}

fn pair<'a>(
    original: &'a Instance,
    replacement: Option<&'a Instance>,
    claims: &'a [InstanceId],
) -> Pair<'a> {
    static EMPTY: BTreeMap<(TargetGroupArn, Target), TargetHealth> = BTreeMap::new();
    Pair {
        original,
        replacement,
        unlinked: false,
        claims,
        back: &[],
        forth: &[],
        health: &EMPTY,
        drs: None,
    }
}

#[test]
fn a_request_begins_only_what_nothing_blocks() {
    let replacement = r("running").unwrap();
    let ready = fenced("i-a", &[]);
    let drs = fenced("i-b", &[(tags::STRATEGY, "drs")]);
    let running = Instance {
        state: "running".into(),
        ..fenced("i-c", &[])
    };
    let gone = Instance {
        state: "shutting-down".into(),
        ..fenced("i-d", &[])
    };
    let claimed = fenced("i-e", &[]);
    let claims = [InstanceId::from("i-fake")];
    let bad = fenced("i-f", &[(tags::FAILBACK, "please")]);
    let pairs = [
        pair(&ready, Some(&replacement), &[]),
        pair(&drs, Some(&replacement), &[]),
        pair(&running, Some(&replacement), &[]),
        pair(&gone, Some(&replacement), &[]),
        pair(&claimed, None, &claims),
        pair(&bad, Some(&replacement), &[]),
    ];
    let steps = begin_of(&pairs, &home_ok(), SOON);
    assert_eq!(
        steps[0],
        Step::Begin(Marker {
            from: Some("i-r".into()),
            ..Marker::going(Handover::StopFirst, Retire::Standby, at(SOON))
        })
    );
    let Step::Begin(begun) = &steps[0] else {
        unreachable!()
    };
    assert!(begun.value().contains(" from=i-r"), "{}", begun.value());
    assert_eq!(Marker::parse(&begun.value()).as_ref(), Some(begun));
    let codes = |step: &Step| match step {
        Step::Blocked(b) => b.iter().map(Blocker::code).collect::<Vec<_>>(),
        other => panic!("not blocked: {other:?}"),
    };
    assert_eq!(codes(&steps[1]), ["no-launch-into-tag"]);
    assert_eq!(codes(&steps[2]), ["original-running"]);
    assert_eq!(codes(&steps[3]), ["original-gone"]);
    assert_eq!(codes(&steps[4]), ["link-not-proven"]);
    assert_eq!(codes(&steps[5]), ["bad-marker"]);
    // Without a request, nothing begins.
    let idle = decide(&pairs[..1], &home_ok(), None, &timing(SOON));
    assert_eq!(idle, vec![Step::Idle]);
}

#[test]
fn the_outpost_must_be_ok_for_the_settle_time_and_have_room() {
    let replacement = r("running").unwrap();
    let a = fenced("i-a", &[]);
    let b = fenced("i-b", &[]);
    let pairs = [
        pair(&a, Some(&replacement), &[]),
        pair(&b, Some(&replacement), &[]),
    ];
    let recent = Home {
        ok_since: Some(at("2026-12-06T03:00:00Z")),
        free: None,
    };
    let steps = begin_of(&pairs, &recent, SOON);
    let Step::Blocked(blockers) = &steps[0] else {
        panic!("{steps:?}")
    };
    assert_eq!(
        blockers,
        &vec![Blocker::NotSettled {
            since: at("2026-12-06T03:00:00Z"),
            until: at("2026-12-06T03:15:00Z"),
        }]
    );
    assert!(blockers[0].explain().contains("2026-12-06T03:15:00Z"));
    let down = Home::default();
    assert!(
        matches!(&begin_of(&pairs, &down, SOON)[0], Step::Blocked(b) if b == &vec![Blocker::HomeNotOk])
    );
    // One free slot: the first begins, the second waits for room.
    let one_slot = Home {
        free: Some(HashMap::from([("m5.large".to_owned(), 1)])),
        ..home_ok()
    };
    let steps = begin_of(&pairs, &one_slot, SOON);
    assert!(matches!(steps[0], Step::Begin(_)), "{steps:?}");
    assert_eq!(
        steps[1],
        Step::Blocked(vec![Blocker::NoCapacity {
            instance_type: "m5.large".into(),
            free: 1
        }])
    );
}

#[test]
fn waves_go_home_in_order() {
    let replacement = r("running").unwrap();
    let first = fenced("i-a", &[]);
    let second = fenced("i-b", &[(tags::WAVE, "1")]);
    let pairs = [
        pair(&first, Some(&replacement), &[]),
        pair(&second, Some(&replacement), &[]),
    ];
    let steps = begin_of(&pairs, &home_ok(), SOON);
    assert!(matches!(steps[0], Step::Begin(_)));
    assert_eq!(steps[1], Step::Wait(Waiting::EarlierWave { wave: 0 }));
    // Wave 0 in progress holds wave 1 back; once home (no longer a pair), wave 1 begins.
    let going0 = going("stopped", Handover::StopFirst, Retire::Standby);
    let pairs = [
        pair(&going0, Some(&replacement), &[]),
        pair(&second, Some(&replacement), &[]),
    ];
    let steps = begin_of(&pairs, &home_ok(), SOON);
    assert_eq!(steps[0], Step::StopReplacement);
    assert_eq!(steps[1], Step::Wait(Waiting::EarlierWave { wave: 0 }));
    let steps = begin_of(&pairs[1..], &home_ok(), SOON);
    assert!(matches!(steps[0], Step::Begin(_)));
}

#[test]
fn a_failback_whose_outpost_goes_down_again_hands_back_or_pauses() {
    let replacement = r("stopped").unwrap();
    let stopped = going("stopped", Handover::StopFirst, Retire::Standby);
    let running = going("running", Handover::StopFirst, Retire::Standby);
    let steps = decide(
        &[
            pair(&stopped, Some(&replacement), &[]),
            pair(&running, Some(&replacement), &[]),
        ],
        &Home::default(),
        None,
        &timing(SOON),
    );
    assert_eq!(
        steps,
        vec![
            Step::RollBack(Fault::HomeDown),
            Step::Wait(Waiting::HomeNotOk)
        ],
        "not served yet: the replacement serves again; serving (maybe locally): left alone"
    );
}

#[test]
fn the_marker_reads_back_what_it_wrote_and_nothing_else() {
    for phase in [Phase::Going, Phase::RollingBack(Fault::StartRefused)] {
        for handover in [Handover::StopFirst, Handover::Overlap] {
            for retire in [Retire::Standby, Retire::Terminate] {
                let marker = Marker {
                    phase,
                    ..Marker::going(handover, retire, at(SINCE))
                };
                assert_eq!(Marker::parse(&marker.value()), Some(marker));
            }
        }
    }
    assert_eq!(
        marker(
            Phase::RollingBack(Fault::NotHealthy),
            Handover::Overlap,
            Retire::Terminate
        ),
        "rollback:not-healthy overlap terminate 2026-12-06T03:00:00Z"
    );
    for bad in [
        "",
        "going",
        "going stop-first standby",
        "going stop-first standby yesterday",
        "rollback:bored stop-first standby 2026-12-06T03:00:00Z",
        "going stop-first standby 2026-12-06T03:00:00Z extra",
        "going sideways standby 2026-12-06T03:00:00Z",
    ] {
        assert_eq!(Marker::parse(bad), None, "{bad:?}");
    }
}

#[test]
fn only_a_definite_refusal_of_the_start_rolls_back() {
    let refusal = AwsError::from_code(
        "ec2:StartInstances",
        "InsufficientInstanceCapacity",
        "no room",
    );
    assert_eq!(start_refused(&refusal), Some(Fault::StartRefused));
    let throttle = AwsError::from_code("ec2:StartInstances", "RequestLimitExceeded", "slow down");
    assert_eq!(start_refused(&throttle), None);
}

#[test]
fn the_summary_counts_each_status() {
    let entry = |status: Status| InstanceFailback {
        original_id: "i-o".into(),
        name: "web".into(),
        replacement_id: None,
        target_groups: Vec::new(),
        status,
        reasons: Vec::new(),
        codes: Vec::new(),
        did: Vec::new(),
        seconds: None,
    };
    let mut report = FailbackReport {
        outpost: OutpostId::parse("op-0aaaaaaaaaaaaaaa1").unwrap(),
        dry_run: false,
        asked: false,
        handover: Handover::StopFirst,
        retire: Retire::Standby,
        instances: Vec::new(),
        errors: Vec::new(),
        notification: crate::report::Notification::NotNeeded,
    };
    assert_eq!(report.summary(), "nothing to fail back");
    assert!(!report.has_news());
    report.instances = vec![
        entry(Status::FailedBack),
        entry(Status::FailedBack),
        entry(Status::RolledBack {
            fault: Fault::NotHealthy,
        }),
        entry(Status::InProgress { next: "x".into() }),
    ];
    assert_eq!(
        report.summary(),
        "2 failed back, 1 rolled back, 1 in progress"
    );
    assert!(report.has_news());
    report.instances = vec![entry(Status::InProgress { next: "x".into() })];
    assert!(
        !report.has_news(),
        "the sweep says nothing of a failback going on"
    );
}

#[test]
fn a_drs_failback_replicates_back_then_launches_into_the_original_then_protects_it_again() {
    use crate::drs::{JobSnapshot, SourceServer};
    use crate::vocabulary::{JobStatus, LaunchStatus};
    let server = |state: &str| SourceServer {
        id: "s-back".into(),
        replication_state: state.into(),
        aws_instance_id: Some("i-r".into()),
        replicates_back: true,
        ..SourceServer::default()
    };
    let job = |status: &str, launch: LaunchStatus| JobSnapshot {
        job_id: "drsjob-1".into(),
        status: JobStatus::parse(status),
        servers: vec![("s-back".into(), launch)],
        created_at: None,
    };
    let drs_original = |state: &str, marker: &Marker| {
        instance(
            "i-o",
            state,
            &[
                (tags::STRATEGY, "drs"),
                (tags::REPLACED_BY, "i-r"),
                (tags::FAILBACK, &marker.value()),
            ],
        )
    };
    let start = Marker::going(Handover::StopFirst, Retire::Standby, at(SINCE));
    let reversed = Marker {
        reversed: Some("s-back".into()),
        ..start.clone()
    };
    let launched = Marker {
        job: Some("drsjob-1".into()),
        ..reversed.clone()
    };
    let protected = Marker {
        reprotected: true,
        ..launched.clone()
    };
    let syncing = server("INITIAL_SYNC");
    let continuous = server("CONTINUOUS");
    let running_job = job("STARTED", LaunchStatus::InProgress);
    let done_job = job("COMPLETED", LaunchStatus::Launched);
    let failed_job = job("COMPLETED", LaunchStatus::Failed);
    let view = |reversed, job| Some(Ok(DrsFailback { reversed, job }));
    let none: BTreeMap<(TargetGroupArn, Target), TargetHealth> = BTreeMap::new();
    type Row<'a> = (
        &'a str,
        Instance,
        Option<Instance>,
        bool,
        Option<Result<DrsFailback<'a>, ()>>,
        &'a str,
        Step,
    );
    let rows: Vec<Row<'_>> = vec![
        (
            "first, the recovery instance replicates back",
            drs_original("stopped", &start),
            r("running"),
            false,
            view(None, None),
            SOON,
            Step::ReverseReplication,
        ),
        (
            "until it is continuous, however long",
            drs_original("stopped", &reversed),
            r("running"),
            false,
            view(Some(&syncing), None),
            LATE,
            Step::Wait(Waiting::ReplicationBack),
        ),
        (
            "then the recovery instance stops (stop-first)",
            drs_original("stopped", &reversed),
            r("running"),
            false,
            view(Some(&continuous), None),
            SOON,
            Step::StopReplacement,
        ),
        (
            "then DRS launches into the original",
            drs_original("stopped", &reversed),
            r("stopped"),
            false,
            view(Some(&continuous), None),
            SOON,
            Step::LaunchIntoOriginal,
        ),
        (
            "the job runs",
            drs_original("stopped", &launched),
            r("stopped"),
            false,
            view(Some(&continuous), Some(&running_job)),
            SOON,
            Step::Wait(Waiting::Job),
        ),
        (
            "a job past the time is not rolled back under it: it may still launch",
            drs_original("stopped", &launched),
            r("stopped"),
            false,
            view(Some(&continuous), Some(&running_job)),
            LATE,
            Step::Wait(Waiting::Job),
        ),
        (
            "stopped, the recovery instance no longer replicates: the launch goes on",
            drs_original("stopped", &reversed),
            r("stopped"),
            false,
            view(Some(&syncing), None),
            SOON,
            Step::LaunchIntoOriginal,
        ),
        (
            "with the job recorded, replication back no longer matters",
            drs_original("stopped", &launched),
            r("stopped"),
            false,
            view(Some(&syncing), Some(&failed_job)),
            SOON,
            Step::RollBack(Fault::LaunchFailed),
        ),
        (
            "a failed job rolls back",
            drs_original("stopped", &launched),
            r("stopped"),
            false,
            view(Some(&continuous), Some(&failed_job)),
            SOON,
            Step::RollBack(Fault::LaunchFailed),
        ),
        (
            "a launched job: the original is about to run",
            drs_original("stopped", &launched),
            r("stopped"),
            false,
            view(Some(&continuous), Some(&done_job)),
            SOON,
            Step::Wait(Waiting::Original),
        ),
        (
            "the original serves: protected again",
            drs_original("running", &launched),
            r("stopped"),
            false,
            view(Some(&continuous), Some(&done_job)),
            SOON,
            Step::Reprotect,
        ),
        (
            "then the stopped target is unlinked",
            drs_original("running", &protected),
            r("stopped"),
            false,
            view(Some(&continuous), Some(&done_job)),
            SOON,
            Step::UnlinkTarget,
        ),
        (
            "then the original's tags are cleared",
            drs_original("running", &protected),
            r("stopped"),
            true,
            view(Some(&continuous), Some(&done_job)),
            SOON,
            Step::CleanUp,
        ),
        (
            "DRS unreadable: nothing is done",
            drs_original("stopped", &reversed),
            r("running"),
            false,
            Some(Err(())),
            SOON,
            Step::Wait(Waiting::Drs),
        ),
    ];
    for (name, original, replacement, unlinked, drs, now, expected) in rows {
        let pair = Pair {
            original: &original,
            replacement: replacement.as_ref(),
            unlinked,
            claims: &[],
            back: &[],
            forth: &[],
            health: &none,
            drs,
        };
        assert_eq!(
            decide(&[pair], &home_ok(), None, &timing(now)),
            vec![expected],
            "{name}"
        );
    }
    // A marker naming a server that does not replicate this recovery instance back (a claim
    // written by hand) is not acted on.
    let elsewhere = SourceServer {
        aws_instance_id: Some("i-other".into()),
        ..server("CONTINUOUS")
    };
    let (original, stopped) = (drs_original("stopped", &reversed), r("stopped"));
    let forged = Pair {
        original: &original,
        replacement: stopped.as_ref(),
        unlinked: false,
        claims: &[],
        back: &[],
        forth: &[],
        health: &none,
        drs: view(Some(&elsewhere), None),
    };
    assert_eq!(
        decide(&[forged], &home_ok(), None, &timing(SOON)),
        vec![Step::Wait(Waiting::Drs)]
    );
    // The marker carries what DRS answered, and reads it back.
    assert_eq!(Marker::parse(&protected.value()), Some(protected.clone()));
    assert!(
        protected
            .value()
            .ends_with(" reversed=s-back job=drsjob-1 reprotected")
    );
    assert_eq!(
        Marker::parse("going stop-first standby 2026-12-06T03:00:00Z job=nope"),
        None
    );
}
