//! Failback on the in-memory AWS: a dry run that changes nothing, the hand-over in both orders,
//! the rollback when the original cannot start or turn healthy, every state a crashed run can
//! leave finished by the sweep, fencing leaving a failing-back original alone, waves in order,
//! and the automatic failback.

use std::time::Duration;

use autorestart_core::alarm::{AlarmChange, AlarmState, OutpostId};
use autorestart_core::failback::{
    FailbackReport, Fault, Handover, Marker, Request, Retire, Status,
};
use autorestart_core::settings::Settings;
use autorestart_core::tags;
use autorestart_flows::agent::{Agent, Ports};
use autorestart_flows::budget::{self, Budget};
use autorestart_flows::ports::{Target, TargetKind};
use autorestart_testkit::{InMemoryAws, Op, World};

const ARN_A: &str = "arn:aws:outposts:us-east-1:111122223333:outpost/op-0aaaaaaaaaaaaaaa1";
const ARN_B: &str = "arn:aws:outposts:us-east-1:111122223333:outpost/op-0bbbbbbbbbbbbbbb2";
const HOME: &str = "op-0aaaaaaaaaaaaaaa1";
const TG: &str = "arn:aws:elasticloadbalancing:us-east-1:111122223333:targetgroup/web/1";
const INCIDENT: &str = "op-0fixture00000000-20260101T000000Z-00000000";

fn target(id: &str) -> Target {
    Target {
        id: id.into(),
        port: Some(80),
        availability_zone: None,
    }
}

/// Home Outpost A (OK since long ago) and B; `pairs` originals i-oN on A, stopped and fenced,
/// each replaced by i-rN on B, which runs and is registered in `web`.
fn world(pairs: usize, original_tags: &[(&str, &str)]) -> World {
    let mut w = World::default();
    w.subnets.insert("subnet-a".into(), Some(ARN_A.into()));
    w.subnets.insert("subnet-b".into(), Some(ARN_B.into()));
    let mut registered = std::collections::BTreeSet::new();
    for n in 1..=pairs {
        let (o, r) = (format!("i-o{n}"), format!("i-r{n}"));
        let mut tags = vec![
            (tags::NAME, "web"),
            (tags::ENABLED, "true"),
            (tags::REPLACED_BY, r.as_str()),
            (tags::INCIDENT, INCIDENT),
            (tags::FENCED, "stop@2026-01-01T01:00:00Z"),
        ];
        tags.extend_from_slice(original_tags);
        w.add_instance(&o, "subnet-a", &tags);
        w.set_state(&o, "stopped");
        w.add_replacement(
            &r,
            "subnet-b",
            &o,
            &[
                (tags::NAME, "web"),
                (tags::ENABLED, "true"),
                (tags::REPLACEMENT_OF, o.as_str()),
                (tags::INCIDENT, INCIDENT),
            ],
        );
        registered.insert(target(&r));
    }
    w.target_groups
        .insert(TG.into(), (TargetKind::Instance, registered));
    for (name, outpost) in [("a", HOME), ("b", "op-0bbbbbbbbbbbbbbb2")] {
        w.set_alarm(AlarmChange::connected_status(
            &format!("outposts-autorestart-connected-{name}"),
            outpost,
            AlarmState::Ok,
            "2026-01-01T00:00:00Z".parse().unwrap(),
        ));
    }
    w
}

fn agent(aws: &InMemoryAws, settings: Settings) -> Agent<InMemoryAws> {
    Agent::new(Ports::all(aws.clone()), settings).with_clock(budget::tokio_wall_clock)
}

fn request(dry_run: bool, handover: Handover, retire: Retire) -> Request {
    Request {
        outpost: OutpostId::parse(HOME).unwrap(),
        dry_run,
        handover,
        retire,
    }
}

async fn failback(aws: &InMemoryAws, request: &Request) -> FailbackReport {
    agent(aws, Settings::default())
        .failback(request, Budget::from_now(Duration::from_secs(900)))
        .await
        .unwrap()
}

/// Mutating calls made, in order.
fn changes(aws: &InMemoryAws) -> Vec<Op> {
    aws.with(|w| {
        w.calls
            .iter()
            .copied()
            .filter(|op| {
                matches!(
                    op,
                    Op::CreateTags
                        | Op::DeleteTags
                        | Op::StartInstances
                        | Op::StopInstances
                        | Op::TerminateInstances
                        | Op::RegisterTargets
                        | Op::DeregisterTargets
                )
            })
            .collect()
    })
}

fn registered(aws: &InMemoryAws) -> Vec<String> {
    aws.with(|w| w.target_groups[TG].1.iter().map(|t| t.id.clone()).collect())
}

/// The pair is home: the original runs, registered, its incident tags gone; the replacement
/// stopped, deregistered, a standby unlinked from it.
fn assert_home(aws: &InMemoryAws, n: usize) {
    let (o, r) = (format!("i-o{n}"), format!("i-r{n}"));
    aws.with(|w| {
        let original = &w.instances[&o];
        assert_eq!(original.state, "running", "{original:?}");
        for gone in [
            tags::REPLACED_BY,
            tags::FENCED,
            tags::INCIDENT,
            tags::FAILBACK,
        ] {
            assert_eq!(original.tag(gone), None, "{gone} left on {o}");
        }
        assert_eq!(original.tag(tags::ENABLED), Some("true"), "still protected");
        let replacement = &w.instances[&r];
        assert_eq!(replacement.state, "stopped");
        assert_eq!(replacement.tag(tags::REPLACEMENT_OF), None);
        assert_eq!(replacement.tag(tags::STANDBY_FOR), Some(o.as_str()));
    });
    let members = registered(aws);
    assert!(members.contains(&o), "{members:?}");
    assert!(!members.contains(&r), "{members:?}");
}

#[tokio::test(start_paused = true)]
async fn a_dry_run_says_what_would_go_home_and_changes_nothing() {
    let aws = InMemoryAws::new(world(2, &[]), Duration::ZERO);
    let report = failback(&aws, &request(true, Handover::StopFirst, Retire::Standby)).await;
    assert!(report.dry_run);
    assert_eq!(report.summary(), "2 would fail back", "{report:?}");
    let first = &report.instances[0];
    assert_eq!(first.replacement_id.as_deref(), Some("i-r1"));
    assert_eq!(
        first.target_groups,
        [autorestart_core::ids::TargetGroupArn::from(TG)]
    );
    // Told (a person asked), nothing else.
    assert_eq!(changes(&aws), Vec::<Op>::new());
    let notice = aws.with(|w| w.published.clone());
    assert_eq!(notice.len(), 1);
    assert!(
        notice[0]
            .subject
            .contains("Failback dry run of op-0aaaaaaaaaaaaaaa1: 2 would fail back"),
        "{}",
        notice[0].subject
    );
    assert!(
        notice[0].body.contains("would fail back: start web (i-o1)"),
        "{}",
        notice[0].body
    );
}

#[tokio::test(start_paused = true)]
async fn stop_first_stops_the_replacement_before_the_original_starts_and_keeps_it_as_a_standby() {
    let aws = InMemoryAws::new(world(2, &[]), Duration::ZERO);
    let report = failback(&aws, &request(false, Handover::StopFirst, Retire::Standby)).await;
    assert_eq!(report.summary(), "2 failed back", "{report:?}");
    assert!(report.instances.iter().all(|i| i.seconds.is_some()));
    assert_home(&aws, 1);
    assert_home(&aws, 2);
    let home = aws.with(|w| w.published.last().cloned().unwrap());
    assert!(
        home.attributes
            .contains(&("incident-state".into(), "resolved".into())),
        "home: the failback's alert resolves: {:?}",
        home.attributes
    );
    let changes = changes(&aws);
    let first = |op: Op| changes.iter().position(|c| *c == op).unwrap();
    assert!(
        first(Op::StopInstances) < first(Op::StartInstances),
        "{changes:?}"
    );
    assert!(
        first(Op::StartInstances) < first(Op::RegisterTargets),
        "{changes:?}"
    );
    assert!(
        first(Op::RegisterTargets) < first(Op::DeregisterTargets),
        "{changes:?}"
    );
    // Both pairs in one StartInstances and one StopInstances call.
    assert_eq!(
        changes.iter().filter(|c| **c == Op::StartInstances).count(),
        1
    );
    // A standby is not protected itself, nor is it anyone's replacement: a sweep leaves all
    // alone, and a second request finds nothing to fail back.
    let sweep = agent(&aws, Settings::default()).sweep().await.unwrap();
    assert!(sweep.errors.is_empty(), "{:?}", sweep.errors);
    let again = failback(&aws, &request(false, Handover::StopFirst, Retire::Standby)).await;
    assert_eq!(again.summary(), "nothing to fail back", "{again:?}");
    assert_home(&aws, 1);
    let said = aws.with(|w| {
        w.published
            .iter()
            .map(|n| n.subject.clone())
            .collect::<Vec<_>>()
    });
    assert!(
        said[0].contains("Failback of op-0aaaaaaaaaaaaaaa1: 2 failed back"),
        "{said:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn overlap_starts_the_original_first_and_terminate_retires_the_replacement_for_good() {
    let aws = InMemoryAws::new(world(1, &[]), Duration::ZERO);
    let report = failback(&aws, &request(false, Handover::Overlap, Retire::Terminate)).await;
    assert_eq!(report.summary(), "1 failed back", "{report:?}");
    let changes = changes(&aws);
    let first = |op: Op| changes.iter().position(|c| *c == op).unwrap();
    assert!(
        first(Op::StartInstances) < first(Op::DeregisterTargets),
        "{changes:?}"
    );
    assert!(!changes.contains(&Op::StopInstances), "{changes:?}");
    aws.with(|w| {
        assert_eq!(w.instances["i-r1"].state, "terminated");
        assert_eq!(w.instances["i-o1"].state, "running");
        assert_eq!(w.instances["i-o1"].tag(tags::REPLACED_BY), None);
    });
    assert_eq!(registered(&aws), ["i-o1"]);
}

#[tokio::test(start_paused = true)]
async fn an_original_ec2_cannot_start_rolls_back_to_its_replacement() {
    let aws = InMemoryAws::new(world(2, &[]), Duration::ZERO);
    aws.with(|w| {
        w.unstartable.insert("i-o2".into());
    });
    let report = failback(&aws, &request(false, Handover::StopFirst, Retire::Standby)).await;
    assert_eq!(
        report.summary(),
        "1 failed back, 1 rolled back",
        "{report:?}"
    );
    let rolled = &report.instances[1];
    assert_eq!(
        rolled.status,
        Status::RolledBack {
            fault: Fault::StartRefused
        }
    );
    assert_home(&aws, 1);
    aws.with(|w| {
        let original = &w.instances["i-o2"];
        assert_eq!(original.state, "stopped");
        assert_eq!(
            original.tag(tags::REPLACED_BY),
            Some("i-r2"),
            "still replaced"
        );
        assert!(original.tag(tags::FENCED).is_some(), "still fenced");
        assert_eq!(original.tag(tags::FAILBACK), None, "the rollback ended");
        assert_eq!(w.instances["i-r2"].state, "running");
        assert_eq!(w.instances["i-r2"].tag(tags::REPLACEMENT_OF), Some("i-o2"));
    });
    assert!(registered(&aws).contains(&"i-r2".to_owned()));
    let notice = aws.with(|w| w.published.last().cloned().unwrap());
    assert!(
        notice.body.starts_with("What you must do"),
        "{}",
        notice.body
    );
    assert!(
        notice
            .body
            .contains("ROLLED BACK web (i-o2): EC2 refused to start the original; i-r2 serves"),
        "{}",
        notice.body
    );
    assert!(
        notice
            .attributes
            .contains(&("severity".into(), "critical".into()))
    );
    // Routed by one key per Outpost's failback, open until it is home.
    let outpost = notice
        .attributes
        .iter()
        .find(|(k, _)| k == "outpost")
        .map(|(_, v)| v.clone())
        .unwrap();
    assert!(
        notice
            .attributes
            .contains(&("incident".into(), format!("failback-{outpost}")))
    );
    assert!(
        notice
            .attributes
            .contains(&("incident-state".into(), "open".into()))
    );
}

#[tokio::test(start_paused = true)]
async fn an_original_not_healthy_in_time_is_taken_out_and_its_replacement_serves_again() {
    let aws = InMemoryAws::new(world(1, &[]), Duration::ZERO);
    aws.with(|w| {
        w.health.insert("i-o1".into(), "unhealthy".into());
    });
    let started = tokio::time::Instant::now();
    // The request's 900 s end before the failback's time (600 s launch wait + 300 s health
    // wait from its start): it leaves the failback going, and the sweep rolls it back.
    let report = failback(&aws, &request(false, Handover::StopFirst, Retire::Standby)).await;
    assert!(
        matches!(report.instances[0].status, Status::InProgress { .. }),
        "{report:?}"
    );
    let waited = tokio::time::Instant::now() - started;
    assert!(
        waited < Duration::from_secs(900),
        "within its budget: {waited:?}"
    );
    let sweep = agent(&aws, Settings::default()).sweep().await.unwrap();
    let rolled = &sweep.failbacks[0].instances[0];
    assert_eq!(
        rolled.status,
        Status::RolledBack {
            fault: Fault::NotHealthy
        },
        "{sweep:?}"
    );
    let waited = tokio::time::Instant::now() - started;
    assert!(
        waited >= Duration::from_secs(900) && waited < Duration::from_secs(900 + 20),
        "rolled back when its time was up: {waited:?}"
    );
    aws.with(|w| {
        assert_eq!(w.instances["i-o1"].state, "stopped");
        assert_eq!(w.instances["i-r1"].state, "running");
    });
    assert_eq!(
        registered(&aws),
        ["i-r1"],
        "the original out, the replacement back in"
    );
}

/// Leaves the pair as a run that crashed after `step` would have.
fn crashed_after(w: &mut World, step: &str, handover: Handover) {
    let marker = Marker::going(handover, Retire::Standby, chrono::Utc::now());
    let tag = |w: &mut World, id: &str, key: &str, value: &str| {
        w.instances
            .get_mut(id)
            .unwrap()
            .tags
            .insert(key.into(), value.into());
    };
    let untag = |w: &mut World, id: &str, key: &str| {
        w.instances.get_mut(id).unwrap().tags.remove(key);
    };
    let steps = [
        "begin",
        "replacement stopped",
        "original started",
        "original registered",
        "replacement deregistered",
        "replacement unlinked",
        "standby tagged",
    ];
    let upto = steps.iter().position(|s| *s == step).unwrap();
    for done in &steps[..=upto] {
        match *done {
            "begin" => tag(w, "i-o1", tags::FAILBACK, &marker.value()),
            "replacement stopped" if handover == Handover::StopFirst => {
                w.set_state("i-r1", "stopped")
            }
            "replacement stopped" => {}
            "original started" => w.set_state("i-o1", "running"),
            "original registered" => {
                w.target_groups
                    .get_mut(TG)
                    .unwrap()
                    .1
                    .insert(target("i-o1"));
            }
            "replacement deregistered" => {
                w.target_groups
                    .get_mut(TG)
                    .unwrap()
                    .1
                    .remove(&target("i-r1"));
                w.set_state("i-r1", "stopped");
            }
            "replacement unlinked" => untag(w, "i-r1", tags::REPLACEMENT_OF),
            "standby tagged" => tag(w, "i-r1", tags::STANDBY_FOR, "i-o1"),
            _ => unreachable!(),
        }
    }
}

#[tokio::test(start_paused = true)]
async fn the_sweep_finishes_a_failback_from_every_step_a_crash_can_leave() {
    for handover in [Handover::StopFirst, Handover::Overlap] {
        for step in [
            "begin",
            "replacement stopped",
            "original started",
            "original registered",
            "replacement deregistered",
            "replacement unlinked",
            "standby tagged",
        ] {
            let mut w = world(1, &[]);
            crashed_after(&mut w, step, handover);
            let aws = InMemoryAws::new(w, Duration::ZERO);
            let sweep = agent(&aws, Settings::default()).sweep().await.unwrap();
            assert!(sweep.errors.is_empty(), "{step}: {:?}", sweep.errors);
            // Fencing left the original alone while it failed back.
            let fenced: usize = sweep
                .fencing
                .iter()
                .filter_map(|f| f.fencing.as_ref())
                .map(|f| f.fenced.len())
                .sum();
            assert_eq!(fenced, 0, "{handover:?} after {step}: {sweep:?}");
            assert_home(&aws, 1);
            let failbacks = &sweep.failbacks;
            assert_eq!(failbacks.len(), 1, "{step}");
            assert_eq!(
                failbacks[0].summary(),
                "1 failed back",
                "{handover:?} after {step}"
            );
            assert!(!failbacks[0].asked);
        }
    }
}

#[tokio::test(start_paused = true)]
async fn never_two_serving_copies_with_stop_first() {
    // Every look at the world during a stop-first failback: never both running.
    let aws = InMemoryAws::new(world(3, &[]), Duration::from_millis(5));
    let watcher = {
        let aws = aws.clone();
        tokio::spawn(async move {
            let mut seen_both = Vec::new();
            for _ in 0..2000 {
                aws.with(|w| {
                    for n in 1..=3 {
                        let (o, r) = (format!("i-o{n}"), format!("i-r{n}"));
                        if w.instances[&o].state.is_starting_or_running()
                            && w.instances[&r].state.is_starting_or_running()
                        {
                            seen_both.push(n);
                        }
                    }
                });
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            seen_both
        })
    };
    let report = failback(&aws, &request(false, Handover::StopFirst, Retire::Standby)).await;
    assert_eq!(report.summary(), "3 failed back");
    assert_eq!(watcher.await.unwrap(), Vec::<usize>::new());
}

#[tokio::test(start_paused = true)]
async fn what_blocks_a_failback_is_said_and_nothing_is_done() {
    // DRS-protected, a running original (not fenced), and a link AWS does not confirm.
    let mut w = world(3, &[]);
    w.instances
        .get_mut("i-o1")
        .unwrap()
        .tags
        .insert(tags::STRATEGY.into(), "drs".into());
    w.set_state("i-o2", "running");
    w.instances.get_mut("i-r3").unwrap().client_token = Some("someone-elses".into());
    let aws = InMemoryAws::new(w, Duration::ZERO);
    let report = failback(&aws, &request(false, Handover::StopFirst, Retire::Standby)).await;
    assert_eq!(report.summary(), "3 blocked", "{report:?}");
    let codes: Vec<Vec<String>> = report.instances.iter().map(|i| i.codes.clone()).collect();
    assert_eq!(
        codes,
        [
            vec!["no-launch-into-tag"],
            vec!["original-running"],
            vec!["link-not-proven"]
        ]
    );
    assert_eq!(changes(&aws), Vec::<Op>::new());
    // The alarm OK only for a minute: not settled.
    let aws = InMemoryAws::new(world(1, &[]), Duration::ZERO);
    aws.with(|w| {
        w.set_alarm(AlarmChange::connected_status(
            "outposts-autorestart-connected-a",
            HOME,
            AlarmState::Ok,
            chrono::Utc::now() - chrono::Duration::minutes(1),
        ));
    });
    let report = failback(&aws, &request(false, Handover::StopFirst, Retire::Standby)).await;
    assert_eq!(report.instances[0].codes, ["not-settled"], "{report:?}");
    assert!(report.instances[0].reasons[0].contains("the settle time"));
}

#[tokio::test(start_paused = true)]
async fn waves_go_home_one_after_the_other() {
    let mut w = world(2, &[]);
    w.instances
        .get_mut("i-o1")
        .unwrap()
        .tags
        .insert(tags::WAVE.into(), "1".into());
    let aws = InMemoryAws::new(w, Duration::ZERO);
    let report = failback(&aws, &request(false, Handover::StopFirst, Retire::Standby)).await;
    assert_eq!(report.summary(), "2 failed back", "{report:?}");
    // Wave 0 (i-o2) started before wave 1 (i-o1): two StartInstances calls.
    let starts = aws.with(|w| w.calls.iter().filter(|c| **c == Op::StartInstances).count());
    assert_eq!(starts, 2);
    assert_home(&aws, 1);
    assert_home(&aws, 2);
}

#[tokio::test(start_paused = true)]
async fn the_sweep_fails_back_by_itself_only_when_asked_to() {
    let aws = InMemoryAws::new(world(1, &[]), Duration::ZERO);
    let sweep = agent(&aws, Settings::default()).sweep().await.unwrap();
    assert!(sweep.failbacks.is_empty(), "off by default: {sweep:?}");
    aws.with(|w| assert_eq!(w.instances["i-o1"].state, "stopped"));
    let settings = Settings {
        auto_failback_after: Some(Duration::from_secs(3600)),
        ..Settings::default()
    };
    let sweep = agent(&aws, settings).sweep().await.unwrap();
    assert_eq!(sweep.failbacks.len(), 1, "{sweep:?}");
    assert_eq!(sweep.failbacks[0].summary(), "1 failed back");
    assert_home(&aws, 1);
}

#[tokio::test(start_paused = true)]
async fn an_outpost_down_again_before_the_original_served_hands_back_to_the_replacement() {
    let mut w = world(1, &[]);
    crashed_after(&mut w, "replacement stopped", Handover::StopFirst);
    w.set_alarm(AlarmChange::connected_status(
        "outposts-autorestart-connected-a",
        HOME,
        AlarmState::Alarm,
        chrono::Utc::now(),
    ));
    let aws = InMemoryAws::new(w, Duration::ZERO);
    let sweep = agent(&aws, Settings::default()).sweep().await.unwrap();
    let failback = &sweep.failbacks[0];
    assert_eq!(
        failback.instances[0].status,
        Status::RolledBack {
            fault: Fault::HomeDown
        },
        "{sweep:?}"
    );
    aws.with(|w| {
        assert_eq!(w.instances["i-r1"].state, "running", "serves again");
        assert_eq!(w.instances["i-o1"].tag(tags::FAILBACK), None);
        assert_eq!(w.instances["i-o1"].tag(tags::REPLACED_BY), Some("i-r1"));
    });
    assert_eq!(registered(&aws), ["i-r1"]);
}

#[tokio::test(start_paused = true)]
async fn a_replacement_that_was_replaced_itself_is_no_original_and_its_chain_goes_home_once() {
    // web on A replaced by i-m on B, whose own outage replaced it by i-r on C; A and B are back.
    let mut w = world(0, &[]);
    w.subnets.insert(
        "subnet-c".into(),
        Some("arn:aws:outposts:us-east-1:111122223333:outpost/op-0ccccccccccccccc3".into()),
    );
    w.set_alarm(AlarmChange::connected_status(
        "outposts-autorestart-connected-c",
        "op-0ccccccccccccccc3",
        AlarmState::Ok,
        "2026-01-01T00:00:00Z".parse().unwrap(),
    ));
    w.add_instance(
        "i-o1",
        "subnet-a",
        &[
            (tags::NAME, "web"),
            (tags::ENABLED, "true"),
            (tags::REPLACED_BY, "i-m"),
            (tags::INCIDENT, INCIDENT),
            (tags::FENCED, "stop@2026-01-01T01:00:00Z"),
        ],
    );
    w.set_state("i-o1", "stopped");
    w.add_replacement(
        "i-m",
        "subnet-b",
        "i-o1",
        &[
            (tags::NAME, "web"),
            (tags::ENABLED, "true"),
            (tags::REPLACEMENT_OF, "i-o1"),
            (tags::REPLACED_BY, "i-r"),
            (tags::FENCED, "stop@2026-01-01T02:00:00Z"),
        ],
    );
    w.set_state("i-m", "stopped");
    w.add_replacement(
        "i-r",
        "subnet-c",
        "i-m",
        &[
            (tags::NAME, "web"),
            (tags::ENABLED, "true"),
            (tags::REPLACEMENT_OF, "i-m"),
        ],
    );
    w.target_groups
        .insert(TG.into(), (TargetKind::Instance, [target("i-r")].into()));
    let aws = InMemoryAws::new(w, Duration::ZERO);
    // B holds no original of its own.
    let of_b = agent(&aws, Settings::default())
        .failback(
            &Request {
                outpost: OutpostId::parse("op-0bbbbbbbbbbbbbbb2").unwrap(),
                ..request(false, Handover::StopFirst, Retire::Standby)
            },
            Budget::from_now(Duration::from_secs(900)),
        )
        .await
        .unwrap();
    assert_eq!(of_b.summary(), "nothing to fail back", "{of_b:?}");
    // A's original goes home from the copy that serves, i-r.
    let of_a = failback(&aws, &request(false, Handover::StopFirst, Retire::Standby)).await;
    assert_eq!(of_a.summary(), "1 failed back", "{of_a:?}");
    assert_eq!(of_a.instances[0].replacement_id.as_deref(), Some("i-r"));
    aws.with(|w| {
        assert_eq!(w.instances["i-o1"].state, "running");
        assert_eq!(w.instances["i-r"].state, "stopped");
        let m = &w.instances["i-m"];
        assert_eq!(m.tag(tags::REPLACEMENT_OF), None, "the chain is undone");
        assert_eq!(m.tag(tags::REPLACED_BY), None);
    });
    assert_eq!(registered(&aws), ["i-o1"]);
    // Fencing of B and C afterwards relinks nothing.
    let sweep = agent(&aws, Settings::default()).sweep().await.unwrap();
    assert!(sweep.errors.is_empty(), "{:?}", sweep.errors);
    aws.with(|w| {
        assert_eq!(w.instances["i-r"].tag(tags::REPLACEMENT_OF), None);
        assert_eq!(w.instances["i-o1"].state, "running");
    });
}
