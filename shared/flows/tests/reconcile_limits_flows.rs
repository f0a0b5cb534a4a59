//! The reconcile under EC2's request bucket, the invocation's deadline, eventual consistency,
//! ELB's refusals, lost answers and concurrent runs, on the in-memory AWS: every run converges.

use autorestart_core::outcome::OutcomeKind;
use autorestart_core::report::Notification;
use autorestart_flows::budget::{Budget, Rate};
use autorestart_testkit::Op;
use autorestart_testkit::{Bucket, InMemoryAws, RandomFaults};
use std::time::Duration;
use tokio::time::Instant;

mod support;
use support::reconcile_world::*;

#[tokio::test(start_paused = true)]
async fn forty_instances_under_the_run_instances_bucket_all_launch_in_one_invocation() {
    let mut w = world(40);
    w.set_alarm(down(A));
    w.buckets
        .insert(Op::RunInstances, Bucket::full(Rate::RUN_INSTANCES));
    let aws = InMemoryAws::new(w, Duration::from_millis(20));
    let started = Instant::now();
    let report = agent(&aws).handle_alarm(&down(A)).await.unwrap();
    let took = started.elapsed();
    assert_all_recovered(&report);
    assert_converged(&aws, &originals(&aws, A), &[B]);
    // The bucket's bound: 5 at once, then 2 a second.
    assert!(took >= Duration::from_secs_f64(17.5), "{took:?}");
    assert!(took < Duration::from_secs(25), "{took:?}");
}

#[tokio::test(start_paused = true)]
async fn two_outposts_failing_at_once_recover_onto_what_is_up_sharing_one_bucket() {
    let mut w = world(12);
    for i in 0..12 {
        add_protected(
            &mut w,
            &format!("i-b{i:02}"),
            "subnet-b",
            "lt-a,lt-c",
            false,
        );
    }
    w.set_alarm(down(A));
    w.set_alarm(down(B));
    w.buckets
        .insert(Op::RunInstances, Bucket::full(Rate::RUN_INSTANCES));
    let aws = InMemoryAws::new(w, Duration::from_millis(20));
    // Two invocations at once: two agents, each with its own copy of the bucket.
    let (first, second) = (agent(&aws), agent(&aws));
    let (down_a, down_b) = (down(A), down(B));
    let (a, b) = tokio::join!(first.handle_alarm(&down_a), second.handle_alarm(&down_b));
    let (a, b) = (a.unwrap(), b.unwrap());
    for report in [&a, &b] {
        assert_all_recovered(report);
        assert!(
            report.instances.iter().all(|i| i
                .skipped_templates
                .iter()
                .any(|s| s.reason.contains("which is down too")
                    || s.reason.contains("failed Outpost")))
        );
    }
    assert_converged(&aws, &originals(&aws, A), &[C]);
    assert_converged(&aws, &originals(&aws, B), &[C]);
    let throttled = a
        .instances
        .iter()
        .chain(&b.instances)
        .filter(|i| {
            i.failed_attempts
                .iter()
                .any(|f| f.error.code == "RequestLimitExceeded")
        })
        .count();
    assert_eq!(throttled, 0, "throttled launches are retried, not failed");
    // Each invocation took its share of the bucket (12 launches of 24): neither was throttled.
    assert_eq!(
        aws.with(|w| w.answered(Op::RunInstances, "RequestLimitExceeded")),
        0
    );
    assert_eq!(count(&aws, Op::RunInstances), 24);
}

#[tokio::test(start_paused = true)]
async fn the_deadline_ends_the_waits_and_the_sweep_carries_on() {
    let mut w = world(2);
    w.set_alarm(down(A));
    in_wave(&mut w, "i-a01", 1);
    // Replacements take 10 minutes to run: wave 0's wait would outlast the invocation.
    w.pending_for = Duration::from_secs(600);
    let aws = InMemoryAws::new(w, Duration::ZERO);
    let agent = patient_agent(&aws);
    let started = Instant::now();
    let deadline = started + Duration::from_secs(300);
    let report = agent
        .handle_alarm_until(&down(A), Budget::until(deadline))
        .await
        .unwrap();
    assert!(
        Instant::now() <= deadline - Duration::from_secs(30),
        "stopped before the margin"
    );
    assert_eq!(outcomes(&report), ["recovered", "unfinished"]);
    let unfinished = &report.instances[1];
    assert!(
        unfinished
            .reason
            .as_deref()
            .unwrap()
            .contains("time ran out before wave 1"),
        "{unfinished:?}"
    );
    assert!(matches!(
        report.notification,
        Notification::Published { .. }
    ));
    assert!(aws.with(|w| w.published[0].body.contains("NOT RECOVERED YET")));

    // Later the replacements run; the sweep launches wave 1 and moves everything.
    tokio::time::advance(Duration::from_secs(600)).await;
    let swept = agent.sweep().await.unwrap();
    assert!(swept.errors.is_empty(), "{:?}", swept.errors);
    tokio::time::advance(Duration::from_secs(600)).await;
    agent.sweep().await.unwrap();
    assert_converged(&aws, &originals(&aws, A), &[B]);
}

#[tokio::test(start_paused = true)]
async fn the_sweep_shares_its_time_so_one_outpost_never_starves_another() {
    let mut w = world(2);
    for i in 0..2 {
        add_protected(&mut w, &format!("i-b{i:02}"), "subnet-b", "lt-c", false);
    }
    w.set_alarm(down(A));
    w.set_alarm(down(B));
    // Replacements take 20 minutes to run: each Outpost's running wait would fill the sweep.
    w.pending_for = Duration::from_secs(1200);
    let aws = InMemoryAws::new(w, Duration::ZERO);
    let agent = patient_agent(&aws);
    let started = Instant::now();
    let deadline = started + Duration::from_secs(900);
    let report = agent.sweep_until(Budget::until(deadline)).await.unwrap();
    assert!(
        Instant::now() <= deadline - Duration::from_secs(30),
        "within the invocation"
    );
    assert_eq!(report.recoveries.len(), 2, "both Outposts had their turn");
    for recovery in &report.recoveries {
        assert_all_recovered(recovery);
        // Each waited its share of the time ((870 - 60) / 2 s for the first), not all of it.
        assert!(
            recovery.waves[0].waited_seconds <= 405,
            "{:?}",
            recovery.waves
        );
    }
    assert!(
        report.readiness.error.is_none(),
        "readiness had its time too"
    );
}

#[tokio::test(start_paused = true)]
async fn new_instances_invisible_then_pending_are_waited_for_and_registered_once_running() {
    let mut w = world(6);
    w.set_alarm(down(A));
    w.invisible_for = Duration::from_secs(5);
    w.pending_for = Duration::from_secs(30);
    w.initial_for = Duration::from_secs(20);
    let aws = InMemoryAws::new(w, Duration::from_millis(20));
    let report = agent(&aws).handle_alarm(&down(A)).await.unwrap();
    assert!(
        report
            .instances
            .iter()
            .all(|i| i.outcome == OutcomeKind::Recovered)
    );
    assert!(report.waves.iter().all(|w| w.settled), "{:?}", report.waves);
    assert!(
        report
            .instances
            .iter()
            .flat_map(|i| &i.target_groups)
            .all(|t| t.registered && t.healthy && t.deregistered),
        "{:?}",
        report.instances
    );
    assert_converged(&aws, &originals(&aws, A), &[B]);
}

#[tokio::test(start_paused = true)]
async fn one_refused_target_does_not_keep_the_others_of_its_group_out() {
    // Only the instance target group: the refusals below go to its calls.
    let mut w = world(3);
    w.set_alarm(down(A));
    w.target_groups.remove(TG_IP);
    let refused = || {
        autorestart_core::error::AwsError::from_code(
            "elasticloadbalancing:RegisterTargets",
            "InvalidTarget",
            "refused",
        )
    };
    // The group's call fails, then the first target's own; the others register.
    w.failures
        .insert(Op::RegisterTargets, vec![refused(), refused()]);
    let aws = InMemoryAws::new(w, Duration::ZERO);
    let report = agent(&aws).handle_alarm(&down(A)).await.unwrap();
    let moves: Vec<(bool, bool)> = report
        .instances
        .iter()
        .flat_map(|i| &i.target_groups)
        .filter(|t| t.target_group_arn == TG)
        .map(|t| (t.registered, t.deregistered))
        .collect();
    assert_eq!(
        moves.iter().filter(|m| **m == (true, true)).count(),
        2,
        "{moves:?}"
    );
    assert_eq!(
        moves.iter().filter(|m| **m == (false, false)).count(),
        1,
        "{moves:?}"
    );
    // The original of the refused one still serves; the next run moves it.
    agent(&aws).sweep().await.unwrap();
    assert_converged(&aws, &originals(&aws, A), &[B]);
}

#[tokio::test(start_paused = true)]
async fn thirty_percent_lost_answers_with_redelivery_converge_for_every_seed() {
    for seed in 0..20 {
        let mut w = world(6);
        w.set_alarm(down(A));
        w.random_faults = Some(RandomFaults {
            rate: 0.3,
            operations: vec![
                Op::RunInstances,
                Op::CreateTags,
                Op::RegisterTargets,
                Op::DeregisterTargets,
                Op::Publish,
            ],
            rng: fastrand::Rng::with_seed(seed),
            lost: 0,
        });
        let aws = InMemoryAws::new(w, Duration::from_millis(5));
        // EventBridge and Lambda redeliver until an invocation succeeds; the sweep follows.
        let mut delivered = 0;
        loop {
            delivered += 1;
            assert!(delivered <= 20, "seed {seed}: no invocation succeeded");
            if agent(&aws).handle_alarm(&down(A)).await.is_ok() {
                break;
            }
        }
        for _ in 0..3 {
            // A sweep whose notice was lost reports it as an error; the next one goes on.
            let _ = agent(&aws).sweep().await;
        }
        assert!(
            aws.with(|w| w.random_faults.as_ref().unwrap().lost) > 0,
            "seed {seed} lost nothing"
        );
        assert_converged(&aws, &originals(&aws, A), &[B]);
    }
}

#[tokio::test(start_paused = true)]
async fn the_handler_and_the_sweep_at_the_same_moment_launch_each_replacement_once() {
    let mut w = world(8);
    w.set_alarm(down(A));
    let aws = InMemoryAws::new(w, Duration::from_millis(10));
    let (handler, sweeper) = (agent(&aws), agent(&aws));
    let event = down(A);
    let (handled, swept) = tokio::join!(handler.handle_alarm(&event), sweeper.sweep());
    handled.unwrap();
    swept.unwrap();
    let ids = originals(&aws, A);
    for id in &ids {
        assert_eq!(
            aws.with(|w| w.replacements_of(id).len()),
            1,
            "{id}: one token, one instance"
        );
    }
    assert_converged(&aws, &ids, &[B]);
}
