//! The reconcile under the faults real AWS brings, on the in-memory AWS: crashes at every step,
//! stale and concurrent alarms, replacements that die, EC2's request bucket, eventual
//! consistency, lost answers and the invocation's deadline. Every run must converge to the same
//! end state: one live replacement per running original, both sides tagged, every target-group
//! membership moved, one notice.

use std::collections::BTreeSet;
use std::time::Duration;

use autorestart_core::alarm::{AlarmChange, AlarmState};
use autorestart_core::outcome::OutcomeKind;
use autorestart_core::report::{Action, AlarmReport, Notification};
use autorestart_core::settings::HealthWait;
use autorestart_core::settings::Settings;
use autorestart_core::tags::{self, TemplateRef};
use autorestart_flows::agent::{Agent, Ports};
use autorestart_flows::budget::{Budget, Rate};
use autorestart_flows::ports::{Target, TargetKind};
use autorestart_testkit::{Bucket, InMemoryAws, RandomFaults, World};
use tokio::time::Instant;

const A: &str = "op-0aaaaaaaaaaaaaaa1";
const B: &str = "op-0bbbbbbbbbbbbbbb2";
const C: &str = "op-0ccccccccccccccc3";
const TG: &str = "arn:aws:elasticloadbalancing:us-east-1:111122223333:targetgroup/web/1";
const TG_IP: &str = "arn:aws:elasticloadbalancing:us-east-1:111122223333:targetgroup/api/2";
const SINCE: &str = "2026-11-24T03:10:00Z";

fn arn(outpost: &str) -> String {
    format!("arn:aws:outposts:us-east-1:111122223333:outpost/{outpost}")
}

fn template(id: &str) -> TemplateRef {
    TemplateRef {
        id: id.into(),
        version: "$Default".into(),
    }
}

fn alarm(outpost: &str, state: AlarmState, since: &str) -> AlarmChange {
    let mut change = AlarmChange::connected_status(
        &format!("connected-{outpost}"),
        outpost,
        state,
        since.parse().unwrap(),
    );
    change.alarm_arn = Some(format!(
        "arn:aws:cloudwatch:us-east-1:111122223333:alarm:connected-{outpost}"
    ));
    change
}

fn down(outpost: &str) -> AlarmChange {
    alarm(outpost, AlarmState::Alarm, SINCE)
}

/// Outposts A, B and C, each with a subnet and a template into it, their alarms OK; `n`
/// protected instances on A (`i-a00`, …) that recover to B then C, every one in the instance
/// target group and every other one also by IP.
fn world(n: usize) -> World {
    let mut w = World::default();
    for outpost in [A, B, C] {
        let subnet = format!("subnet-{}", &outpost[4..5]);
        w.subnets.insert(subnet.clone(), Some(arn(outpost)));
        w.templates
            .insert(template(&format!("lt-{}", &outpost[4..5])), subnet);
        w.set_alarm(alarm(outpost, AlarmState::Ok, "2026-11-20T00:00:00Z"));
    }
    w.target_groups
        .insert(TG.into(), (TargetKind::Instance, BTreeSet::new()));
    w.target_groups
        .insert(TG_IP.into(), (TargetKind::Ip, BTreeSet::new()));
    for i in 0..n {
        add_protected(
            &mut w,
            &format!("i-a{i:02}"),
            "subnet-a",
            "lt-b,lt-c",
            i % 2 == 0,
        );
    }
    w
}

/// Whether `world` registered this instance by IP too: every other one on A.
fn by_ip(id: &str) -> bool {
    id.strip_prefix("i-a")
        .and_then(|n| n.parse::<usize>().ok())
        .is_some_and(|n| n % 2 == 0)
}

fn add_protected(w: &mut World, id: &str, subnet: &str, templates: &str, by_ip: bool) {
    w.add_instance(
        id,
        subnet,
        &[
            (tags::NAME, id),
            (tags::ENABLED, "true"),
            (tags::RECOVERY_TEMPLATES, templates),
        ],
    );
    w.target_groups
        .get_mut(TG)
        .unwrap()
        .1
        .insert(target(id, 80));
    if by_ip {
        let ip = w.instances[id].addresses[0].ip.clone();
        w.target_groups
            .get_mut(TG_IP)
            .unwrap()
            .1
            .insert(target(&ip, 8080));
    }
}

fn in_wave(w: &mut World, id: &str, wave: u32) {
    let instance = w.instances.get_mut(id).unwrap();
    instance.tags.insert(tags::WAVE.into(), wave.to_string());
}

fn target(id: &str, port: i32) -> Target {
    Target {
        id: id.into(),
        port: Some(port),
        availability_zone: None,
    }
}

fn settings() -> Settings {
    Settings {
        concurrency: 16,
        health_wait: HealthWait {
            timeout: Duration::from_secs(60),
            poll_interval: Duration::from_secs(5),
        },
        wave_wait: Duration::from_secs(120),
        ..Settings::default()
    }
}

fn agent(
    aws: &InMemoryAws,
) -> Agent<&InMemoryAws, &InMemoryAws, &InMemoryAws, &InMemoryAws, &InMemoryAws, &InMemoryAws> {
    Agent::new(Ports::all(aws), settings())
}

/// An agent whose waves may wait 14 minutes: only the invocation's deadline stops it.
fn patient_agent(
    aws: &InMemoryAws,
) -> Agent<&InMemoryAws, &InMemoryAws, &InMemoryAws, &InMemoryAws, &InMemoryAws, &InMemoryAws> {
    let settings = Settings {
        wave_wait: Duration::from_secs(840),
        ..settings()
    };
    Agent::new(Ports::all(aws), settings)
}

/// Asserts the end state for the instances on `outpost`: each running original has exactly one
/// live replacement, on an Outpost that is up, tagged both ways; the target groups hold the
/// replacements in place of the originals.
fn assert_converged(aws: &InMemoryAws, originals: &[String], up: &[&str]) {
    aws.with(|w| {
        for id in originals {
            let live: Vec<_> = w
                .replacements_of(id)
                .into_iter()
                .filter(|r| r.is_starting_or_running())
                .collect();
            assert_eq!(live.len(), 1, "{id}: {:?}", w.replacements_of(id));
            let r = live[0];
            assert_eq!(
                w.instances[id].tag(tags::REPLACED_BY),
                Some(r.id.as_str()),
                "{id}"
            );
            let on = r.outpost_arn.as_deref().unwrap();
            assert!(
                up.iter().any(|o| on.ends_with(o)),
                "{id} -> {} on {on}",
                r.id
            );
            let (_, group) = &w.target_groups[TG];
            assert!(group.contains(&target(&r.id, 80)), "{} in {TG}", r.id);
            assert!(!group.contains(&target(id, 80)), "{id} left {TG}");
            let original_ip = &w.instances[id].addresses[0].ip;
            // Unless a test removed the IP target group from its world.
            if let Some((_, ip_group)) = w.target_groups.get(TG_IP) {
                if by_ip(id) {
                    assert!(
                        ip_group.contains(&target(&r.addresses[0].ip, 8080)),
                        "{} by IP",
                        r.id
                    );
                }
                assert!(
                    !ip_group.contains(&target(original_ip, 8080)),
                    "{id} left {TG_IP}"
                );
            }
        }
    });
}

/// The sweep's first recovery warned about `id` in words holding every one of `words`.
fn assert_warned(report: &autorestart_core::report::SweepReport, id: &str, words: &[&str]) {
    let instance = report.recoveries[0]
        .instances
        .iter()
        .find(|i| i.instance_id == id)
        .unwrap();
    assert!(
        instance
            .warnings
            .iter()
            .any(|w| words.iter().all(|word| w.contains(word))),
        "{id}: {:?}",
        instance.warnings
    );
}

fn originals(aws: &InMemoryAws, outpost: &str) -> Vec<String> {
    aws.with(|w| {
        w.instances
            .values()
            .filter(|i| i.outpost_arn.as_deref() == Some(arn(outpost).as_str()))
            .filter(|i| i.tag(tags::REPLACEMENT_OF).is_none() && i.is_opted_in())
            .map(|i| i.id.clone())
            .collect()
    })
}

fn count(aws: &InMemoryAws, operation: &str) -> usize {
    aws.with(|w| w.calls.iter().filter(|c| **c == operation).count())
}

fn outcomes(report: &AlarmReport) -> Vec<&str> {
    report
        .instances
        .iter()
        .map(|i| i.outcome.as_str())
        .collect()
}

/// Runs `handle` until the `nth` call of `operation` has taken effect, then drops it there, as
/// a killed invocation stops: what it did stays, what it had not done yet never happens.
async fn crash_after(aws: &InMemoryAws, operation: &'static str, nth: usize) {
    let agent = agent(aws);
    let before = count(aws, operation);
    let watch = async {
        while count(aws, operation) < before + nth {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    };
    let event = down(A);
    tokio::select! {
        biased;
        () = watch => {}
        done = agent.outage().handle(&event) => panic!("finished before the crash point: {done:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn a_crash_anywhere_is_finished_by_the_next_run_without_a_second_launch() {
    let points: [(&'static str, usize); 6] = [
        ("RunInstances", 1),
        ("RunInstances", 3),
        ("CreateTags", 2),
        ("RegisterTargets", 1),
        ("DeregisterTargets", 1),
        ("DeregisterTargets", 2),
    ];
    for (index, (operation, nth)) in points.into_iter().enumerate() {
        let mut w = world(4);
        w.set_alarm(down(A));
        let aws = InMemoryAws::new(w, Duration::from_millis(10));
        crash_after(&aws, operation, nth).await;
        let launched = count(&aws, "RunInstances");
        assert!(
            aws.with(|w| w.published.is_empty()),
            "killed before the notice"
        );

        // A Lambda retry finishes every other crash, the scheduled sweep the rest.
        let agent = agent(&aws);
        if index % 2 == 0 {
            let report = agent.outage().handle(&down(A)).await.unwrap();
            assert!(matches!(
                report.notification,
                Notification::Published { .. }
            ));
        } else {
            let report = agent.sweeper().sweep().await.unwrap();
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
        let relaunched = count(&aws, "RunInstances") - launched;
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
        let again = agent.outage().handle(&down(A)).await.unwrap();
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
    // The first run's CreateTags on an original failed, and so did its retry of the record
    // alone (without the registrations to remember).
    let lost =
        || autorestart_core::error::AwsError::from_code("ec2:CreateTags", "InternalError", "lost");
    w.failures.insert("CreateTags", vec![lost(), lost()]);
    let aws = InMemoryAws::new(w, Duration::ZERO);
    let first = agent(&aws).outage().handle(&down(A)).await.unwrap();
    assert!(
        first.instances.iter().any(|i| i
            .warnings
            .iter()
            .any(|w| w.contains("the next run tags it"))),
        "{first:?}"
    );
    agent(&aws).sweeper().sweep().await.unwrap();
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
    w.failures.insert("CreateTags", vec![full()]);
    let aws = InMemoryAws::new(w, Duration::ZERO);
    agent(&aws).outage().handle(&down(A)).await.unwrap();
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
    let report = agent(&aws).outage().handle(&down(A)).await.unwrap();
    assert_eq!(report.action, Action::Stale);
    assert!(
        report
            .ignored_because
            .as_deref()
            .is_some_and(|r| r.contains("is OK again since 2026-11-24T03:14:00")),
        "{report:?}"
    );
    assert_eq!(count(&aws, "RunInstances"), 0);
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
        while count(&aws, "DeregisterTargets") == 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        aws.with(|w| w.set_alarm(alarm(A, AlarmState::Ok, "2026-11-24T03:12:00Z")));
    };
    let event = down(A);
    let (report, ()) = tokio::join!(agent.outage().handle(&event), watch);
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
        agent(&aws).outage().handle(&down(A)).await.unwrap();
        let first = aws.with(|w| w.replacements_of("i-a00")[0].id.clone());
        // EC2 terminates it (or someone stops it); ELB forgets a terminated target.
        aws.with(|w| {
            w.set_state(&first, death);
            if death == "terminated" {
                let ip = w.instances[&first].addresses[0].ip.clone();
                for (_, group) in w.target_groups.values_mut() {
                    group.retain(|t| t.id != first && t.id != ip);
                }
            }
        });

        let report = agent(&aws).sweeper().sweep().await.unwrap();
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

/// `n` instances recovered, then i-a00's replacement stuck: pending for an hour (and EC2
/// keeps new instances pending too). The world and the stuck replacement.
async fn stuck_after_recovery(n: usize) -> (InMemoryAws, String) {
    let mut w = world(n);
    w.set_alarm(down(A));
    let aws = InMemoryAws::new(w, Duration::ZERO);
    agent(&aws).outage().handle(&down(A)).await.unwrap();
    let first = aws.with(|w| w.replacements_of("i-a00")[0].id.clone());
    aws.with(|w| {
        w.pending_for = Duration::from_secs(86_400);
        let stuck = w.instances.get_mut(&first).unwrap();
        stuck.state = "pending".into();
        stuck.launched_at = Some(chrono::Utc::now() - chrono::Duration::hours(1));
    });
    (aws, first)
}

#[tokio::test(start_paused = true)]
async fn a_replacement_stuck_pending_is_terminated_before_the_next_attempt() {
    let (aws, first) = stuck_after_recovery(2).await;
    let report = agent(&aws).sweeper().sweep().await.unwrap();
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    aws.with(|w| assert_eq!(w.instances[&first].state, "terminated", "no two copies"));
    // The new one runs; the next sweep registers it.
    aws.with(|w| w.pending_for = Duration::ZERO);
    agent(&aws).sweeper().sweep().await.unwrap();
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
    aws.with(|w| w.failures.insert("TerminateInstances", vec![denied]));
    let report = agent(&aws).outage().handle(&down(A)).await.unwrap();
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
    let report = agent(&aws).outage().handle(&down(A)).await.unwrap();
    assert_eq!(outcomes(&report), ["recovered", "not-running"]);
    assert!(aws.with(|w| w.replacements_of("i-a01").is_empty()));
    let notice = aws.with(|w| w.published[0].body.clone());
    assert!(
        notice.contains("Not recovered: not running when the Outpost went down (1)"),
        "{notice}"
    );
}

#[tokio::test(start_paused = true)]
async fn forty_instances_under_the_run_instances_bucket_all_launch_in_one_invocation() {
    let mut w = world(40);
    w.set_alarm(down(A));
    w.buckets
        .insert("RunInstances", Bucket::full(Rate::RUN_INSTANCES));
    let aws = InMemoryAws::new(w, Duration::from_millis(20));
    let started = Instant::now();
    let report = agent(&aws).outage().handle(&down(A)).await.unwrap();
    let took = started.elapsed();
    assert!(
        report
            .instances
            .iter()
            .all(|i| i.outcome == OutcomeKind::Recovered),
        "{:?}",
        outcomes(&report)
    );
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
        .insert("RunInstances", Bucket::full(Rate::RUN_INSTANCES));
    let aws = InMemoryAws::new(w, Duration::from_millis(20));
    // Two invocations at once: two agents, each with its own copy of the bucket.
    let (first, second) = (agent(&aws), agent(&aws));
    let (down_a, down_b) = (down(A), down(B));
    let (a, b) = tokio::join!(
        first.outage().handle(&down_a),
        second.outage().handle(&down_b)
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    for report in [&a, &b] {
        assert!(
            report
                .instances
                .iter()
                .all(|i| i.outcome == OutcomeKind::Recovered),
            "{:?}",
            outcomes(report)
        );
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
    // And the two invocations did meet the limit: more calls than launches.
    assert!(
        count(&aws, "RunInstances") > 24 + 2,
        "the bucket was never empty"
    );
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
        .outage()
        .handle_until(&down(A), Budget::until(deadline))
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
    let swept = agent.sweeper().sweep().await.unwrap();
    assert!(swept.errors.is_empty(), "{:?}", swept.errors);
    tokio::time::advance(Duration::from_secs(600)).await;
    agent.sweeper().sweep().await.unwrap();
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
    let report = agent
        .sweeper()
        .sweep_until(Budget::until(deadline))
        .await
        .unwrap();
    assert!(
        Instant::now() <= deadline - Duration::from_secs(30),
        "within the invocation"
    );
    assert_eq!(report.recoveries.len(), 2, "both Outposts had their turn");
    for recovery in &report.recoveries {
        assert!(
            recovery
                .instances
                .iter()
                .all(|i| i.outcome == OutcomeKind::Recovered),
            "{:?}",
            outcomes(recovery)
        );
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
    let report = agent(&aws).outage().handle(&down(A)).await.unwrap();
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
        .insert("RegisterTargets", vec![refused(), refused()]);
    let aws = InMemoryAws::new(w, Duration::ZERO);
    let report = agent(&aws).outage().handle(&down(A)).await.unwrap();
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
    agent(&aws).sweeper().sweep().await.unwrap();
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
                "RunInstances",
                "CreateTags",
                "RegisterTargets",
                "DeregisterTargets",
                "Publish",
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
            if agent(&aws).outage().handle(&down(A)).await.is_ok() {
                break;
            }
        }
        for _ in 0..3 {
            // A sweep whose notice was lost reports it as an error; the next one goes on.
            let _ = agent(&aws).sweeper().sweep().await;
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
    let (handled, swept) = tokio::join!(handler.outage().handle(&event), sweeper.sweeper().sweep());
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
