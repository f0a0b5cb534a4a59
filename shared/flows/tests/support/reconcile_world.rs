//! The world and helpers of `reconcile_flows.rs` and `reconcile_limits_flows.rs`.

use autorestart_core::alarm::{AlarmChange, AlarmState};
use autorestart_core::outcome::OutcomeKind;
use autorestart_core::report::{Action, AlarmReport, Notification};
use autorestart_core::settings::HealthWait;
use autorestart_core::settings::Settings;
use autorestart_core::tags::{self, TemplateRef};
use autorestart_flows::agent::{Agent, Ports};
use autorestart_flows::budget::{Budget, Rate};
use autorestart_flows::ports::{Target, TargetKind};
use autorestart_testkit::Op;
use autorestart_testkit::{Bucket, InMemoryAws, RandomFaults, World};
use std::collections::BTreeSet;
use std::time::Duration;
use tokio::time::Instant;

pub const A: &str = "op-0aaaaaaaaaaaaaaa1";

pub const B: &str = "op-0bbbbbbbbbbbbbbb2";

pub const C: &str = "op-0ccccccccccccccc3";

pub const TG: &str = "arn:aws:elasticloadbalancing:us-east-1:111122223333:targetgroup/web/1";

pub const TG_IP: &str = "arn:aws:elasticloadbalancing:us-east-1:111122223333:targetgroup/api/2";

pub const SINCE: &str = "2026-11-24T03:10:00Z";

pub fn arn(outpost: &str) -> String {
    format!("arn:aws:outposts:us-east-1:111122223333:outpost/{outpost}")
}

pub fn template(id: &str) -> TemplateRef {
    TemplateRef {
        id: id.into(),
        version: "$Default".into(),
    }
}

pub fn alarm(outpost: &str, state: AlarmState, since: &str) -> AlarmChange {
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

pub fn down(outpost: &str) -> AlarmChange {
    alarm(outpost, AlarmState::Alarm, SINCE)
}

/// Outposts A, B and C, each with a subnet and a template into it, their alarms OK; `n`
/// protected instances on A (`i-a00`, …) that recover to B then C, every one in the instance
/// target group and every other one also by IP.
pub fn world(n: usize) -> World {
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
pub fn by_ip(id: &str) -> bool {
    id.strip_prefix("i-a")
        .and_then(|n| n.parse::<usize>().ok())
        .is_some_and(|n| n % 2 == 0)
}

pub fn add_protected(w: &mut World, id: &str, subnet: &str, templates: &str, by_ip: bool) {
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

pub fn in_wave(w: &mut World, id: &str, wave: u32) {
    let instance = w.instances.get_mut(id).unwrap();
    instance.tags.insert(tags::WAVE.into(), wave.to_string());
}

pub fn target(id: &str, port: i32) -> Target {
    Target {
        id: id.into(),
        port: Some(port),
        availability_zone: None,
    }
}

pub fn settings() -> Settings {
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

pub fn agent(aws: &InMemoryAws) -> Agent<InMemoryAws> {
    Agent::new(Ports::all(aws.clone()), settings())
}

/// An agent whose waves may wait 14 minutes: only the invocation's deadline stops it.
pub fn patient_agent(aws: &InMemoryAws) -> Agent<InMemoryAws> {
    let settings = Settings {
        wave_wait: Duration::from_secs(840),
        ..settings()
    };
    Agent::new(Ports::all(aws.clone()), settings)
}

/// Asserts the end state for the instances on `outpost`: each running original has exactly one
/// live replacement, on an Outpost that is up, tagged both ways; the target groups hold the
/// replacements in place of the originals.
pub fn assert_converged(aws: &InMemoryAws, originals: &[String], up: &[&str]) {
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

/// Asserts every instance of `report` was recovered.
pub fn assert_all_recovered(report: &AlarmReport) {
    assert!(
        report
            .instances
            .iter()
            .all(|i| i.outcome == OutcomeKind::Recovered),
        "{:?}",
        outcomes(report)
    );
}

/// The sweep's first recovery warned about `id` in words holding every one of `words`.
pub fn assert_warned(report: &autorestart_core::report::SweepReport, id: &str, words: &[&str]) {
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

pub fn originals(aws: &InMemoryAws, outpost: &str) -> Vec<String> {
    aws.with(|w| {
        w.instances
            .values()
            .filter(|i| i.outpost_arn.as_deref() == Some(arn(outpost).as_str()))
            .filter(|i| i.tag(tags::REPLACEMENT_OF).is_none() && i.is_opted_in())
            .map(|i| i.id.to_string())
            .collect()
    })
}

pub fn count(aws: &InMemoryAws, operation: Op) -> usize {
    aws.with(|w| w.calls.iter().filter(|c| **c == operation).count())
}

pub fn outcomes(report: &AlarmReport) -> Vec<&str> {
    report
        .instances
        .iter()
        .map(|i| i.outcome.as_str())
        .collect()
}

/// Runs `handle` until the `nth` call of `operation` has taken effect, then drops it there, as
/// a killed invocation stops: what it did stays, what it had not done yet never happens.
pub async fn crash_after(aws: &InMemoryAws, operation: Op, nth: usize) {
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
        done = agent.handle_alarm(&event) => panic!("finished before the crash point: {done:?}"),
    }
}

/// `n` instances recovered, then i-a00's replacement stuck: pending for an hour (and EC2
/// keeps new instances pending too). The world and the stuck replacement.
pub async fn stuck_after_recovery(n: usize) -> (InMemoryAws, String) {
    let mut w = world(n);
    w.set_alarm(down(A));
    let aws = InMemoryAws::new(w, Duration::ZERO);
    agent(&aws).handle_alarm(&down(A)).await.unwrap();
    let first = aws.with(|w| w.replacements_of("i-a00")[0].id.to_string());
    aws.with(|w| {
        w.pending_for = Duration::from_secs(86_400);
        let stuck = w.instances.get_mut(&first).unwrap();
        stuck.state = "pending".into();
        stuck.launched_at = Some(chrono::Utc::now() - chrono::Duration::hours(1));
    });
    (aws, first)
}
