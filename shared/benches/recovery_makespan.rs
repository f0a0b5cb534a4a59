//! Makespan of one outage's recovery for N protected instances, with every AWS call taking a
//! simulated latency, against the critical-path bound (dependent calls × latency).
//!
//! Run: `cargo bench -p shared --bench recovery_makespan` (or `cargo xtask bench`).

use std::time::{Duration, Instant};

use shared::agent::{Agent, Ports, Settings};
use shared::alarm::{AlarmChange, AlarmState};
use shared::balancing::HealthWait;
use shared::memory::{InMemoryAws, World};
use shared::ports::{Target, TargetGroupScope, TargetKind};
use shared::report::{Mode, Notification};
use shared::tags::{self, TemplateRef};

/// Simulated latency of every AWS call.
const LATENCY: Duration = Duration::from_millis(20);
/// Calls on the critical path of a recovery, each waiting for the one before:
/// protected instances → (replacements ∥ templates) → RunInstances → tag original →
/// wait for running (DescribeInstances) → RegisterTargets → DescribeTargetHealth →
/// DeregisterTargets → Publish → tag reported. (Reading the target groups overlaps the launches.)
const DEPENDENT_CALLS: u32 = 10;
const TARGET_GROUP: &str = "arn:aws:elasticloadbalancing:us-east-1:111122223333:targetgroup/web/1";

fn world(n: usize) -> World {
    let mut w = World::default();
    w.subnets.insert(
        "subnet-a".into(),
        Some("arn:aws:outposts:us-east-1:111122223333:outpost/op-0aaaaaaaaaaaaaaa1".into()),
    );
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
    for i in 0..n {
        let id = format!("i-{i:017x}");
        w.add_instance(
            &id,
            "subnet-a",
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

fn outage() -> AlarmChange {
    AlarmChange::connected_status(
        "connected-a",
        "op-0aaaaaaaaaaaaaaa1",
        AlarmState::Alarm,
        "2026-11-24T03:10:00Z".parse().unwrap(),
    )
}

async fn run(n: usize, concurrency: usize) -> (Duration, usize) {
    let aws = InMemoryAws::new(world(n), LATENCY);
    let settings = Settings {
        mode: Mode::Recover,
        concurrency,
        target_groups: TargetGroupScope::All,
        health_wait: HealthWait {
            timeout: Duration::from_secs(60),
            poll_interval: Duration::from_secs(1),
        },
        ..Settings::default()
    };
    let agent = Agent::new(Ports::all(&aws), settings);
    let started = Instant::now();
    let report = agent.handle(&outage()).await.expect("recovery");
    let makespan = started.elapsed();
    assert!(matches!(
        report.notification,
        Notification::Published { .. }
    ));
    assert!(
        report.instances.iter().all(|i| i.outcome == "recovered"),
        "every instance recovered"
    );
    let calls = aws.with(|w| w.calls.len());
    (makespan, calls)
}

fn main() {
    // `cargo test --benches` runs this with --bench absent: keep that a quick smoke run.
    let full = std::env::args().any(|a| a == "--bench");
    let sizes: &[usize] = if full { &[10, 100, 1000] } else { &[10] };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let bound = LATENCY * DEPENDENT_CALLS;
    println!(
        "recovery makespan, simulated latency {} ms per AWS call",
        LATENCY.as_millis()
    );
    println!(
        "critical-path bound = {DEPENDENT_CALLS} dependent calls x latency = {} ms",
        bound.as_millis()
    );
    println!(
        "{:>6} {:>12} {:>12} {:>10} {:>8}",
        "N", "concurrency", "makespan ms", "/ bound", "calls"
    );
    for &n in sizes {
        for concurrency in [n, 16] {
            let mut best = Duration::MAX;
            let mut calls = 0;
            for _ in 0..3 {
                let (makespan, c) = runtime.block_on(run(n, concurrency));
                best = best.min(makespan);
                calls = c;
            }
            println!(
                "{n:>6} {concurrency:>12} {:>12.1} {:>10.2} {calls:>8}",
                best.as_secs_f64() * 1e3,
                best.as_secs_f64() / bound.as_secs_f64()
            );
            if concurrency == 16 && n <= 16 {
                break;
            }
        }
    }
}
