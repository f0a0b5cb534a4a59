//! Under load, on the in-memory AWS: the agent answers before the invocation's deadline whatever
//! share of its calls AWS throttles or leaves unanswered; a call that never answers is cut off
//! when the invocation ends; a mutating call whose answer was lost is judged by what a read
//! shows it did, never by the error of its repeat.

use autorestart_core::outcome::OutcomeKind;
use autorestart_core::report::Notification;
use autorestart_core::tags;
use autorestart_flows::budget::{Budget, Rate};
use autorestart_flows::error::FlowError;
use autorestart_testkit::Op;
use autorestart_testkit::{Bucket, InMemoryAws, RandomThrottling};
use std::time::Duration;
use tokio::time::Instant;

mod support;
use support::reconcile_world::*;

const DEADLINE: Duration = Duration::from_secs(180);

#[tokio::test(start_paused = true)]
async fn with_a_third_of_every_call_throttled_the_handler_recovers_all_before_its_deadline() {
    let mut w = world(20);
    w.set_alarm(down(A));
    w.buckets
        .insert(Op::RunInstances, Bucket::full(Rate::RUN_INSTANCES));
    w.random_throttling = Some(RandomThrottling::everywhere(0.3, 19));
    let aws = InMemoryAws::new(w, Duration::from_millis(20));
    let started = Instant::now();
    let report = agent(&aws)
        .handle_alarm_until(&down(A), Budget::until(started + DEADLINE))
        .await
        .unwrap();
    let took = started.elapsed();
    assert!(took < DEADLINE, "answered after {took:?}");
    assert_all_recovered(&report);
    assert!(matches!(
        report.notification,
        Notification::Published { .. }
    ));
    let throttled = aws.with(|w| w.random_throttling.as_ref().unwrap().throttled);
    assert!(throttled > 20, "the test throttled only {throttled} calls");
    assert_converged(&aws, &originals(&aws, A), &[B]);
}

#[tokio::test(start_paused = true)]
async fn throttled_for_good_the_handler_answers_with_the_error_before_its_deadline() {
    let mut w = world(4);
    w.set_alarm(down(A));
    w.random_throttling = Some(RandomThrottling::everywhere(1.0, 1));
    let aws = InMemoryAws::new(w, Duration::from_millis(20));
    let started = Instant::now();
    let error = agent(&aws)
        .handle_alarm_until(&down(A), Budget::until(started + DEADLINE))
        .await
        .unwrap_err();
    assert!(started.elapsed() < DEADLINE, "{:?}", started.elapsed());
    assert!(matches!(error, FlowError::Read(_)), "{error}");
    assert!(error.to_string().contains("throttled"), "{error}");
    assert_eq!(count(&aws, Op::RunInstances), 0);
}

#[tokio::test(start_paused = true)]
async fn a_call_that_never_answers_is_cut_off_when_the_invocation_ends() {
    let mut w = world(2);
    w.set_alarm(down(A));
    // Every call takes an hour to answer.
    let aws = InMemoryAws::new(w, Duration::from_secs(3600));
    let started = Instant::now();
    let error = agent(&aws)
        .handle_alarm_until(&down(A), Budget::until(started + Duration::from_secs(120)))
        .await
        .unwrap_err();
    assert_eq!(started.elapsed(), Duration::from_secs(120));
    assert!(
        error
            .to_string()
            .contains("no answer before the invocation's deadline"),
        "{error}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_lost_deregister_answer_is_confirmed_by_reading_the_group_not_reported_as_registered() {
    let mut w = world(2);
    w.set_alarm(down(A));
    // The first DeregisterTargets takes effect and its answer is lost; its repeat meets
    // `InvalidTarget`, the target being gone.
    w.deregister_absent_is_invalid = true;
    w.lost_answers.insert(Op::DeregisterTargets, vec![true]);
    let aws = InMemoryAws::new(w, Duration::ZERO);
    let report = agent(&aws).handle_alarm(&down(A)).await.unwrap();
    let moves: Vec<_> = report
        .instances
        .iter()
        .flat_map(|i| &i.target_groups)
        .collect();
    assert!(!moves.is_empty());
    for m in moves {
        assert!(m.deregistered, "{m:?}");
        assert!(
            m.note
                .as_deref()
                .is_none_or(|n| !n.contains("still registered")),
            "{m:?}"
        );
    }
    assert_eq!(
        aws.with(|w| w.answered(Op::DeregisterTargets, "InvalidTarget")),
        1
    );
    assert_converged(&aws, &originals(&aws, A), &[B]);
}

#[tokio::test(start_paused = true)]
async fn tags_whose_every_answer_was_lost_are_confirmed_by_reading_the_instances() {
    let mut w = world(1);
    w.set_alarm(down(A));
    let tries = autorestart_flows::patient::MAX_TRIES as usize;
    w.lost_answers.insert(Op::CreateTags, vec![true; tries]);
    let aws = InMemoryAws::new(w, Duration::ZERO);
    let report = agent(&aws).handle_alarm(&down(A)).await.unwrap();
    let original = &report.instances[0];
    assert_eq!(original.outcome, OutcomeKind::Recovered);
    assert!(
        original
            .warnings
            .iter()
            .all(|w| !w.contains("was not tagged")),
        "{:?}",
        original.warnings
    );
    assert!(
        count(&aws, Op::CreateTags) >= tries,
        "asked until its tries ran out"
    );
    assert_converged(&aws, &originals(&aws, A), &[B]);
}

#[tokio::test(start_paused = true)]
async fn a_server_found_full_is_not_asked_again_in_the_run() {
    let mut w = world(10);
    w.set_alarm(down(A));
    // B has room for 3; every instance recovers to B, else C.
    w.capacity.insert("subnet-b".into(), 3);
    let aws = InMemoryAws::new(w, Duration::from_millis(20));
    let report = agent(&aws).handle_alarm(&down(A)).await.unwrap();
    assert_all_recovered(&report);
    let on_c: Vec<_> = report
        .instances
        .iter()
        .filter(|i| i.subnet_id.as_deref() == Some("subnet-c"))
        .collect();
    assert_eq!(on_c.len(), 7);
    // EC2 said "full" only to launches sent before its first such answer came back (the
    // burst of five asks B at once: three fit); the others went to C without asking B.
    let full_answers = aws.with(|w| w.answered(Op::RunInstances, "InsufficientInstanceCapacity"));
    assert!((1..=2).contains(&full_answers), "{full_answers}");
    let passed_over = on_c
        .iter()
        .filter(|i| {
            i.failed_attempts
                .iter()
                .any(|a| a.error.message.contains("not asked"))
        })
        .count();
    assert_eq!(
        passed_over + full_answers,
        7,
        "each on C asked B once or not at all"
    );
    assert_eq!(count(&aws, Op::RunInstances), 10 + full_answers);
    assert_converged(&aws, &originals(&aws, A), &[B, C]);
}

#[tokio::test(start_paused = true)]
async fn a_spent_token_is_not_a_launch_the_next_attempt_goes_out_at_once() {
    let mut w = world(1);
    w.set_alarm(down(A));
    w.pending_for = Duration::from_secs(30);
    let aws = InMemoryAws::new(w, Duration::from_millis(20));
    agent(&aws).handle_alarm(&down(A)).await.unwrap();
    let first = aws.with(|w| w.replacements_of("i-a00")[0].id.clone());
    // It ran for ten minutes and was terminated; Describe no longer shows it, and EC2 answers
    // its token with the first answer: `pending`.
    aws.with(|w| {
        w.age(&first, chrono::Duration::minutes(10));
        w.set_state(&first, "terminated");
    });
    let started = Instant::now();
    let again = agent(&aws).handle_alarm(&down(A)).await.unwrap();
    let took = started.elapsed();
    let outcome = &again.instances[0];
    assert_eq!(outcome.outcome, OutcomeKind::Recovered, "{outcome:?}");
    let second = outcome.replacement_id.clone().unwrap();
    assert_ne!(second, first);
    assert!(
        outcome
            .warnings
            .iter()
            .any(|w| w.contains(first.as_str()) && w.contains("launched again")),
        "{:?}",
        outcome.warnings
    );
    aws.with(|w| {
        assert_eq!(w.instances[second.as_str()].tag(tags::ATTEMPT), Some("2"));
        assert_eq!(
            w.instances["i-a00"].tag(tags::REPLACED_BY),
            Some(second.as_str())
        );
        assert_eq!(
            w.instances["i-a00"].tag(tags::LAST_ATTEMPT),
            Some("2"),
            "carried on the original"
        );
    });
    // No wait on the dead one: only the new one's 30 s pending (and the health wait).
    assert!(took < Duration::from_secs(100), "{took:?}");
}

#[tokio::test(start_paused = true)]
async fn a_replay_of_a_replacement_not_visible_yet_is_not_taken_for_a_dead_one() {
    let mut w = world(1);
    w.set_alarm(down(A));
    // For a minute after launch, Describe does not show a new instance.
    w.invisible_for = Duration::from_secs(60);
    w.pending_for = Duration::from_secs(5);
    let aws = InMemoryAws::new(w, Duration::from_millis(20));
    let settings = autorestart_core::settings::Settings {
        wave_wait: Duration::from_secs(10),
        ..settings()
    };
    let agent = autorestart_flows::agent::Agent::new(
        autorestart_flows::agent::Ports::all(aws.clone()),
        settings,
    );
    agent.handle_alarm(&down(A)).await.unwrap();
    // The same event again, while the replacement is still not visible.
    let again = agent.handle_alarm(&down(A)).await.unwrap();
    aws.with(|w| {
        assert_eq!(w.replacements_of("i-a00").len(), 1, "no second copy");
    });
    assert_eq!(
        again.instances[0].replacement_id,
        aws.with(|w| w.instances["i-a00"].tag(tags::REPLACED_BY).map(Into::into))
    );
}

/// Two instances on A, whose alarm CloudWatch still answers as it was before the event's
/// transition to ALARM.
fn lagging_world() -> autorestart_testkit::World {
    let mut w = world(2);
    w.set_alarm(alarm(
        A,
        autorestart_core::alarm::AlarmState::Ok,
        "2026-11-20T00:00:00Z",
    ));
    w
}

#[tokio::test(start_paused = true)]
async fn a_cloudwatch_read_older_than_the_event_fails_the_invocation_for_a_redelivery() {
    let aws = InMemoryAws::new(lagging_world(), Duration::from_millis(20));
    let error = agent(&aws).handle_alarm(&down(A)).await.unwrap_err();
    assert!(matches!(error, FlowError::Read(_)), "{error}");
    let message = error.to_string();
    assert!(
        message.contains("older than the event's transition"),
        "{message}"
    );
    assert!(message.contains("delivered again"), "{message}");
    assert_eq!(
        count(&aws, Op::DescribeAlarms),
        autorestart_flows::outage::LAG_READS as usize
    );
    assert_eq!(count(&aws, Op::RunInstances), 0);
}

#[tokio::test(start_paused = true)]
async fn a_cloudwatch_read_that_catches_up_is_acted_on() {
    let aws = InMemoryAws::new(lagging_world(), Duration::from_millis(20));
    let agent = agent(&aws);
    let event = down(A);
    let (report, ()) = tokio::join!(agent.handle_alarm(&event), async {
        tokio::time::sleep(Duration::from_secs(1)).await;
        aws.with(|w| w.set_alarm(down(A)));
    });
    let report = report.unwrap();
    assert_all_recovered(&report);
}

#[tokio::test(start_paused = true)]
async fn an_outpost_that_goes_down_during_a_wave_takes_no_launch_of_the_next() {
    let mut w = world(4);
    for id in ["i-a02", "i-a03"] {
        in_wave(&mut w, id, 1);
    }
    w.set_alarm(down(A));
    // Wave 0's replacements take 20 s to run; B goes down meanwhile.
    w.pending_for = Duration::from_secs(20);
    let aws = InMemoryAws::new(w, Duration::from_millis(20));
    let agent = agent(&aws);
    let event = down(A);
    let (report, ()) = tokio::join!(agent.handle_alarm(&event), async {
        tokio::time::sleep(Duration::from_secs(5)).await;
        aws.with(|w| w.set_alarm(down(B)));
    });
    let report = report.unwrap();
    let by_id = |id: &str| {
        report
            .instances
            .iter()
            .find(|i| i.instance_id == id)
            .unwrap()
    };
    for id in ["i-a00", "i-a01"] {
        assert_eq!(by_id(id).subnet_id.as_deref(), Some("subnet-b"), "{id}");
    }
    for id in ["i-a02", "i-a03"] {
        let later = by_id(id);
        assert_eq!(later.outcome, OutcomeKind::Recovered, "{later:?}");
        assert_eq!(later.subnet_id.as_deref(), Some("subnet-c"), "{id}");
        assert!(
            later
                .skipped_templates
                .iter()
                .any(|s| s.reason.contains("went down before this wave")),
            "{later:?}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn servers_found_full_are_recorded_and_the_next_run_tries_them_last() {
    let mut w = world(3);
    w.set_alarm(down(A));
    w.capacity.insert("subnet-b".into(), 1);
    // C refuses for now: two originals are left unrecovered.
    w.refused_templates.insert("lt-c".into());
    let aws = InMemoryAws::new(w, Duration::from_millis(20));
    let first = agent(&aws).handle_alarm(&down(A)).await.unwrap();
    let failed: Vec<&str> = first
        .instances
        .iter()
        .filter(|i| i.failed())
        .map(|i| i.instance_id.as_str())
        .collect();
    assert_eq!(failed.len(), 2, "{:?}", outcomes(&first));
    aws.with(|w| {
        for id in &failed {
            let record = w.instances[*id].tag(tags::FULL).unwrap_or_default();
            assert!(record.contains("subnet-b/m5.large"), "{id}: {record}");
        }
    });
    let full_before = aws.with(|w| w.answered(Op::RunInstances, "InsufficientInstanceCapacity"));
    // C is allowed now; B is still full. The sweep tries C first for both.
    aws.with(|w| w.refused_templates.clear());
    let swept = agent(&aws).sweep().await.unwrap();
    assert!(swept.errors.is_empty(), "{:?}", swept.errors);
    assert_eq!(
        aws.with(|w| w.answered(Op::RunInstances, "InsufficientInstanceCapacity")),
        full_before,
        "B was not asked again"
    );
    assert_converged(&aws, &originals(&aws, A), &[B, C]);
}

#[tokio::test(start_paused = true)]
async fn launches_are_planned_onto_the_free_slots_the_outposts_api_tells() {
    let mut w = world(5);
    w.set_alarm(down(A));
    // B is configured for 3 m5.large and runs one already (another workload): 2 free. EC2
    // agrees. C's Outposts API does not answer (another account owns it).
    w.assets.insert(
        B.into(),
        vec![autorestart_core::inventory::Asset {
            id: "asset-b".into(),
            state: Some("ACTIVE".into()),
            capacities: vec![("m5.large".into(), 3)],
        }],
    );
    w.add_instance("i-other", "subnet-b", &[]);
    w.capacity.insert("subnet-b".into(), 2);
    let aws = InMemoryAws::new(w, Duration::from_millis(20));
    let report = agent(&aws).handle_alarm(&down(A)).await.unwrap();
    let on = |subnet: &str| {
        report
            .instances
            .iter()
            .filter(|i| i.outcome == OutcomeKind::Recovered)
            .filter(|i| i.subnet_id.as_deref() == Some(subnet))
            .count()
    };
    assert_eq!(
        (on("subnet-b"), on("subnet-c")),
        (2, 3),
        "{:?}",
        outcomes(&report)
    );
    assert_eq!(
        aws.with(|w| w.answered(Op::RunInstances, "InsufficientInstanceCapacity")),
        0,
        "no launch asked the full server"
    );
    assert_eq!(count(&aws, Op::RunInstances), 5);
    assert_converged(&aws, &originals(&aws, A), &[B, C]);
}
