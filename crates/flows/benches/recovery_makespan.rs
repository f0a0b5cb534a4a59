//! Makespan of one outage's recovery for N protected instances, with every AWS call taking a
//! simulated latency, against the critical-path bound (dependent calls × latency); then the
//! same under EC2's RunInstances bucket (5 tokens, 2 a second, per account and Region), for
//! one Outpost and for five failing at once, against the bucket's bound.
//!
//! Run: `cargo bench -p autorestart-flows --bench recovery_makespan` (or `cargo xtask bench`).

use std::time::Duration;

use autorestart_core::alarm::{AlarmChange, AlarmState};
use autorestart_core::outcome::OutcomeKind;
use autorestart_core::settings::HealthWait;
use autorestart_core::settings::Mode;
use autorestart_core::settings::Settings;
use autorestart_core::tags::{self, TemplateRef};
use autorestart_flows::agent::{Agent, Ports};
use autorestart_flows::budget::Rate;
use autorestart_flows::ports::{Target, TargetGroupScope, TargetKind};
use autorestart_testkit::{Bucket, InMemoryAws, World};

/// Simulated latency of every AWS call.
const LATENCY: Duration = Duration::from_millis(20);
/// Calls on the critical path of one instance's recovery, each waiting for the one before:
/// the alarm's current state → protected instances → (replacements ∥ templates ∥ target
/// groups) → RunInstances → tag the original (replaced-by and its registrations) → wait for
/// running (DescribeInstances) → RegisterTargets → DescribeTargetHealth → DeregisterTargets →
/// Publish → tag reported.
const DEPENDENT_CALLS: u32 = 11;
const TARGET_GROUP: &str = "arn:aws:elasticloadbalancing:us-east-1:111122223333:targetgroup/web/1";

/// The failing Outposts' ids: `op-0aaaaaaaaaaaaaaa1` and four more.
fn failing(k: usize) -> String {
    format!("op-0aaaaaaaaaaaaaa{k}1")
}

fn outpost_arn(outpost: &str) -> String {
    format!("arn:aws:outposts:us-east-1:111122223333:outpost/{outpost}")
}

/// `outposts` failing Outposts with `n` protected instances each, all recovering to B, their
/// alarms in ALARM.
fn world_of(outposts: usize, n: usize) -> World {
    let mut w = World::default();
    for k in 0..outposts {
        let subnet = format!("subnet-a{k}");
        w.subnets
            .insert(subnet.clone(), Some(outpost_arn(&failing(k))));
        w.set_alarm(outage_of(k));
    }
    w.subnets.insert(
        "subnet-b".into(),
        Some("arn:aws:outposts:us-east-1:111122223333:outpost/op-0bbbbbbbbbbbbbbb2".into()),
    );
    let template = TemplateRef {
        id: "lt-0b".into(),
        version: "$Default".into(),
    };
    w.templates.insert(template, "subnet-b".into());
    let mut targets = std::collections::BTreeSet::new();
    for i in 0..n * outposts {
        let id = format!("i-{i:017x}");
        w.add_instance(
            &id,
            &format!("subnet-a{}", i / n),
            &[
                (tags::NAME, "web"),
                (tags::ENABLED, "true"),
                (tags::RECOVERY_TEMPLATES, "lt-0b"),
            ],
        );
        targets.insert(Target {
            id,
            port: Some(80),
            availability_zone: None,
        });
    }
    w.target_groups
        .insert(TARGET_GROUP.into(), (TargetKind::Instance, targets));
    w
}

fn outage_of(k: usize) -> AlarmChange {
    AlarmChange::connected_status(
        &format!("connected-{k}"),
        &failing(k),
        AlarmState::Alarm,
        "2026-11-24T03:10:00Z".parse().unwrap(),
    )
}

fn settings(concurrency: usize) -> Settings {
    Settings {
        mode: Mode::Recover,
        concurrency,
        target_groups: TargetGroupScope::All,
        health_wait: HealthWait {
            timeout: Duration::from_secs(60),
            poll_interval: Duration::from_secs(1),
        },
        ..Settings::default()
    }
}

/// `outposts` Outposts of `n` fail at once: one invocation each (an agent each, with its own
/// copy of the bucket), sharing the account's RunInstances bucket. Runs on tokio's paused
/// clock, so the makespan is simulated time: every wait, the bucket's refill included, is
/// exact and costs no real time. The makespan, and how many launches were throttled.
async fn run_bucketed(outposts: usize, n: usize) -> (Duration, usize) {
    let mut w = world_of(outposts, n);
    w.buckets
        .insert("RunInstances", Bucket::full(Rate::RUN_INSTANCES));
    let aws = InMemoryAws::new(w, LATENCY);
    let agents: Vec<_> = (0..outposts)
        .map(|_| Agent::new(Ports::all(&aws), settings(16)))
        .collect();
    let events: Vec<AlarmChange> = (0..outposts).map(outage_of).collect();
    let started = tokio::time::Instant::now();
    let reports = futures::future::join_all(
        agents
            .iter()
            .zip(&events)
            .map(|(a, e)| async move { a.outage().handle(e).await }),
    )
    .await;
    let makespan = started.elapsed();
    for report in reports {
        let report = report.expect("recovery");
        let left: Vec<_> = report
            .instances
            .iter()
            .filter(|i| i.outcome != OutcomeKind::Recovered)
            .collect();
        assert!(left.is_empty(), "launches left behind: {left:?}");
        assert_eq!(report.instances.len(), n);
    }
    let throttled = aws.with(|w| {
        let launches = w.calls.iter().filter(|c| **c == "RunInstances").count();
        launches - outposts * n
    });
    (makespan, throttled)
}

fn bucket_section(full: bool) {
    let rate = Rate::RUN_INSTANCES;
    println!(
        "\nunder the RunInstances bucket ({} tokens, {}/s), simulated time, latency {} ms",
        rate.size,
        rate.refill,
        LATENCY.as_millis()
    );
    println!(
        "bound = 1.1 x (launches - {}) / {} s + one instance's critical path ({} ms)",
        rate.size,
        rate.refill,
        (LATENCY * DEPENDENT_CALLS).as_millis()
    );
    println!(
        "{:>9} {:>6} {:>12} {:>10} {:>10} {:>10}",
        "outposts", "N", "makespan s", "bound s", "/ bucket", "throttled"
    );
    // Five at once fit in the bucket's burst: that row is one instance's critical path.
    let cases: &[(usize, usize)] = if full {
        &[(1, 5), (1, 40), (1, 100), (1, 400), (5, 100)]
    } else {
        &[(1, 5), (1, 40)]
    };
    for &(outposts, n) in cases {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap();
        let (makespan, throttled) = runtime.block_on(run_bucketed(outposts, n));
        let launches = (outposts * n) as f64;
        let bucket = Duration::from_secs_f64((launches - rate.size).max(0.0) / rate.refill);
        let bound = bucket.mul_f64(1.1) + LATENCY * DEPENDENT_CALLS;
        let ratio = if bucket.is_zero() {
            "-".to_owned() // within the burst: no bucket wait
        } else {
            format!("{:.3}", makespan.as_secs_f64() / bucket.as_secs_f64())
        };
        println!(
            "{outposts:>9} {n:>6} {:>12.2} {:>10.2} {ratio:>10} {throttled:>10}",
            makespan.as_secs_f64(),
            bound.as_secs_f64(),
        );
        assert!(
            makespan <= bound,
            "{outposts} x {n}: makespan {makespan:?} over the bound {bound:?}"
        );
    }
}

fn main() {
    // `cargo test --benches` runs this with --bench absent: keep that a quick smoke run.
    let full = std::env::args().any(|a| a == "--bench");
    bucket_section(full);
}
