//! The reconcile under the faults real AWS brings, on the in-memory AWS: crashes at every step,
//! stale and concurrent alarms, replacements that die, EC2's request bucket, eventual
//! consistency, lost answers and the invocation's deadline. Every run must converge to the same
//! end state: one live replacement per running original, both sides tagged, every target-group
//! membership moved, one notice.

use autorestart_core::alarm::AlarmState;
use autorestart_core::outcome::OutcomeKind;
use autorestart_core::report::{Action, Notification};
use autorestart_core::tags::{self};
use autorestart_testkit::InMemoryAws;
use autorestart_testkit::Op;
use std::time::Duration;

mod support;
use support::reconcile_world::*;

#[tokio::test(start_paused = true)]
async fn a_crash_anywhere_is_finished_by_the_next_run_without_a_second_launch() {
    let points: [(Op, usize); 6] = [
        (Op::RunInstances, 1),
        (Op::RunInstances, 3),
        (Op::CreateTags, 2),
        (Op::RegisterTargets, 1),
        (Op::DeregisterTargets, 1),
        (Op::DeregisterTargets, 2),
    ];
    for (index, (operation, nth)) in points.into_iter().enumerate() {
        let mut w = world(4);
        w.set_alarm(down(A));
        let aws = InMemoryAws::new(w, Duration::from_millis(10));
        crash_after(&aws, operation, nth).await;
        let launched = count(&aws, Op::RunInstances);
        assert!(
            aws.with(|w| w.published.is_empty()),
            "killed before the notice"
        );

        // A Lambda retry finishes every other crash, the scheduled sweep the rest.
        let agent = agent(&aws);
        if index % 2 == 0 {
            let report = agent.handle_alarm(&down(A)).await.unwrap();
            assert!(matches!(
                report.notification,
                Notification::Published { .. }
            ));
        } else {
            let report = agent.sweep().await.unwrap();
            assert!(report.errors.is_empty(), "{:?}", report.errors);
        }
        let ids = originals(&aws, A);
        assert_converged(&aws, &ids, &[B]);
        let replacements: usize = ids
            .iter()
            .map(|id| aws.with(|w| w.replacements_of(id).len()))
            .sum();
        assert_eq!(
            replacements,
            ids.len(),
            "after a crash at {operation} #{nth}: no second launch"
        );
        let relaunched = count(&aws, Op::RunInstances) - launched;
        assert!(
            relaunched <= ids.len(),
            "launches of the finishing run share the crashed run's tokens"
        );
        let notices = aws.with(|w| {
            w.published
                .iter()
                .filter(|n| n.subject.contains("down"))
                .count()
        });
        assert_eq!(
            notices, 1,
            "one recovery notice after a crash at {operation} #{nth}"
        );

        // And once done, another run changes nothing and says nothing.
        let calls = aws.with(|w| (w.instances.clone(), w.target_groups.clone()));
        let again = agent.handle_alarm(&down(A)).await.unwrap();
        assert_eq!(again.notification, Notification::AlreadyReported);
        assert_eq!(
            aws.with(|w| (w.instances.clone(), w.target_groups.clone())),
            calls
        );
    }
}

#[tokio::test(start_paused = true)]
async fn a_lost_replaced_by_tag_is_repaired_from_the_replacement() {
    let mut w = world(2);
    w.set_alarm(down(A));
    // The first run's CreateTags on an original failed every time it was asked, and so did
    // the record alone (without the registrations to remember).
    let lost =
        autorestart_core::error::AwsError::from_code("ec2:CreateTags", "InternalError", "lost");
    let tries = autorestart_flows::patient::MAX_TRIES as usize;
    // Both originals: the record with the registrations, then the record alone.
    w.failures.insert(Op::CreateTags, vec![lost; 2 * 2 * tries]);
    let aws = InMemoryAws::new(w, Duration::ZERO);
    let first = agent(&aws).handle_alarm(&down(A)).await.unwrap();
    assert!(
        first.instances.iter().any(|i| i
            .warnings
            .iter()
            .any(|w| w.contains("the next run tags it"))),
        "{first:?}"
    );
    agent(&aws).sweep().await.unwrap();
    assert_converged(&aws, &originals(&aws, A), &[B]);
}

#[tokio::test(start_paused = true)]
async fn an_original_with_no_room_for_more_tags_still_gets_its_record() {
    let mut w = world(1);
    w.set_alarm(down(A));
    // EC2 refuses the record with the registrations (50 tags at most), then takes the record
    // alone; the registrations are written in a call of their own.
    let full = || {
        autorestart_core::error::AwsError::from_code("ec2:CreateTags", "TagLimitExceeded", "full")
    };
    w.failures.insert(Op::CreateTags, vec![full()]);
    let aws = InMemoryAws::new(w, Duration::ZERO);
    agent(&aws).handle_alarm(&down(A)).await.unwrap();
    aws.with(|w| {
        let original = &w.instances["i-a00"];
        assert!(
            original.tag(tags::REPLACED_BY).is_some(),
            "fencing can find it"
        );
        assert!(
            original
                .tags
                .keys()
                .any(|k| k.starts_with(tags::MEMBER_PREFIX))
        );
    });
    assert_converged(&aws, &originals(&aws, A), &[B]);
}

#[tokio::test(start_paused = true)]
async fn a_stale_alarm_launches_nothing_and_says_why() {
    let mut w = world(3);
    // The Outpost came back before this (late, retried) ALARM was handled.
    w.set_alarm(alarm(A, AlarmState::Ok, "2026-11-24T03:14:00Z"));
    let aws = InMemoryAws::new(w, Duration::ZERO);
    let report = agent(&aws).handle_alarm(&down(A)).await.unwrap();
    assert_eq!(report.action, Action::Stale);
    assert!(
        report
            .ignored_because
            .as_deref()
            .is_some_and(|r| r.contains("is OK again since 2026-11-24T03:14:00")),
        "{report:?}"
    );
    assert_eq!(count(&aws, Op::RunInstances), 0);
    assert!(aws.with(|w| w.published.is_empty()));
}

#[tokio::test(start_paused = true)]
async fn an_outpost_that_comes_back_between_waves_stops_the_later_waves() {
    let mut w = world(2);
    w.set_alarm(down(A));
    in_wave(&mut w, "i-a01", 1);
    // Calls take time, so the Outpost can come back while wave 0 is being moved.
    let aws = InMemoryAws::new(w, Duration::from_millis(10));
    let agent = agent(&aws);
    let watch = async {
        while count(&aws, Op::DeregisterTargets) == 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        aws.with(|w| w.set_alarm(alarm(A, AlarmState::Ok, "2026-11-24T03:12:00Z")));
    };
    let event = down(A);
    let (report, ()) = tokio::join!(agent.handle_alarm(&event), watch);
    let report = report.unwrap();
    let outcome = |id: &str| {
        report
            .instances
            .iter()
            .find(|i| i.instance_id == id)
            .unwrap()
    };
    assert_eq!(outcome("i-a00").outcome, OutcomeKind::Recovered);
    assert_eq!(outcome("i-a01").outcome, OutcomeKind::Unfinished);
    assert!(
        outcome("i-a01")
            .reason
            .as_deref()
            .unwrap()
            .contains("is OK again"),
        "{:?}",
        outcome("i-a01")
    );
    assert!(aws.with(|w| w.replacements_of("i-a01").is_empty()));
}

#[tokio::test(start_paused = true)]
async fn a_dead_replacement_is_replaced_on_the_next_alternate_and_takes_its_place() {
    for death in ["terminated", "stopped"] {
        let mut w = world(2);
        w.set_alarm(down(A));
        let aws = InMemoryAws::new(w, Duration::ZERO);
        agent(&aws).handle_alarm(&down(A)).await.unwrap();
        let first = aws.with(|w| w.replacements_of("i-a00")[0].id.clone());
        // It runs for ten minutes, then EC2 terminates it (or someone stops it); ELB forgets
        // a terminated target, and Describe no longer shows a terminated instance.
        aws.with(|w| {
            w.age(&first, chrono::Duration::minutes(10));
            w.set_state(&first, death);
            if death == "terminated" {
                let ip = w.instances[first.as_str()].addresses[0].ip.clone();
                for (_, group) in w.target_groups.values_mut() {
                    group.retain(|t| t.id != first && t.id != ip);
                }
            }
        });

        let report = agent(&aws).sweep().await.unwrap();
        assert!(report.errors.is_empty(), "{:?}", report.errors);
        assert_converged(&aws, &originals(&aws, A), &[B, C]);
        let second = aws.with(|w| {
            w.replacements_of("i-a00")
                .into_iter()
                .find(|r| r.is_starting_or_running())
                .cloned()
                .unwrap()
        });
        assert_ne!(second.id, first);
        assert_eq!(second.tag(tags::ATTEMPT), Some("2"), "{death}");
        assert!(
            second.outpost_arn.as_deref().unwrap().ends_with(C),
            "{death}: the next alternate after the one that failed"
        );
        assert_warned(&report, "i-a00", &[&first, "launched again"]);
        // A stopped replacement stays registered in ELB: it is deregistered for the new one.
        aws.with(|w| {
            assert!(
                !w.target_groups[TG].1.contains(&target(&first, 80)),
                "{death}"
            );
        });
    }
}

#[tokio::test(start_paused = true)]
async fn a_replacement_stuck_pending_is_terminated_before_the_next_attempt() {
    let (aws, first) = stuck_after_recovery(2).await;
    let report = agent(&aws).sweep().await.unwrap();
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    aws.with(|w| assert_eq!(w.instances[&first].state, "terminated", "no two copies"));
    // The new one runs; the next sweep registers it.
    aws.with(|w| w.pending_for = Duration::ZERO);
    agent(&aws).sweep().await.unwrap();
    assert_converged(&aws, &originals(&aws, A), &[B, C]);
    assert_warned(&report, "i-a00", &[&first, "stuck pending"]);
}

#[tokio::test(start_paused = true)]
async fn a_stuck_replacement_that_cannot_be_terminated_gets_no_second_copy() {
    let (aws, first) = stuck_after_recovery(1).await;
    let denied = autorestart_core::error::AwsError::from_code(
        "ec2:TerminateInstances",
        "UnauthorizedOperation",
        "denied",
    );
    aws.with(|w| w.failures.insert(Op::TerminateInstances, vec![denied]));
    let report = agent(&aws).handle_alarm(&down(A)).await.unwrap();
    assert_eq!(outcomes(&report), ["failed"]);
    assert!(
        report.instances[0]
            .advice
            .as_deref()
            .unwrap()
            .contains(&first)
    );
    assert_eq!(aws.with(|w| w.replacements_of("i-a00").len()), 1);
}

#[tokio::test(start_paused = true)]
async fn an_instance_its_operator_stopped_is_listed_not_recovered() {
    let mut w = world(2);
    w.set_alarm(down(A));
    w.set_state("i-a01", "stopped");
    let aws = InMemoryAws::new(w, Duration::ZERO);
    let report = agent(&aws).handle_alarm(&down(A)).await.unwrap();
    assert_eq!(outcomes(&report), ["recovered", "not-running"]);
    assert!(aws.with(|w| w.replacements_of("i-a01").is_empty()));
    let notice = aws.with(|w| w.published[0].body.clone());
    assert!(
        notice.contains("Not recovered: not running when the Outpost went down (1)"),
        "{notice}"
    );
}
