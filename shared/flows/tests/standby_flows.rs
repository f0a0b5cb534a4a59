//! Warm standbys on the in-memory AWS: started in one StartInstances instead of launched, a
//! standby that cannot start falling back to a launch in the same run, standbys the agent cannot
//! prove or use left alone, and a run that crashed between linking and starting finished.

use std::time::Duration;

use autorestart_core::outcome::OutcomeKind;
use autorestart_core::report::AlarmReport;
use autorestart_core::settings::Mode;
use autorestart_core::tags;
use autorestart_testkit::{InMemoryAws, Op, World};

mod support;
use support::agent_world::*;

/// Adds a stopped standby `id` of `of` on Outpost `subnet`'s server, launched by the agent
/// (its ClientToken proves it).
fn add_standby(w: &mut World, id: &str, subnet: &str, of: &str) {
    w.add_replacement(
        id,
        subnet,
        of,
        &[
            (tags::NAME, "standby"),
            (tags::ENABLED, "true"),
            (tags::STANDBY_FOR, of),
        ],
    );
    w.set_state(id, "stopped");
}

fn count(aws: &InMemoryAws, op: Op) -> usize {
    aws.with(|w| w.calls.iter().filter(|c| **c == op).count())
}

fn from_standby(report: &AlarmReport, id: &str) -> bool {
    report
        .instances
        .iter()
        .find(|i| i.instance_id == id)
        .unwrap()
        .from_standby
}

#[tokio::test]
async fn standbys_start_in_one_call_instead_of_launching() {
    let mut w = world();
    add_standby(&mut w, "i-s1", "subnet-b", "i-web1");
    add_standby(&mut w, "i-s2", "subnet-c", "i-web2");
    let aws = InMemoryAws::new(w, Duration::ZERO);
    let report = handle(&aws, Mode::Recover, &down()).await.unwrap();

    assert_eq!(outcome_of(&report, "i-web1"), OutcomeKind::Recovered);
    assert_eq!(outcome_of(&report, "i-web2"), OutcomeKind::Recovered);
    assert!(from_standby(&report, "i-web1") && from_standby(&report, "i-web2"));
    assert_eq!(count(&aws, Op::StartInstances), 1, "one call for both");
    assert_eq!(count(&aws, Op::RunInstances), 0, "nothing launched");
    aws.with(|w| {
        for (original, standby) in [("i-web1", "i-s1"), ("i-web2", "i-s2")] {
            let s = &w.instances[standby];
            assert_eq!(s.state, "running", "{standby}");
            assert_eq!(s.tag(tags::REPLACEMENT_OF), Some(original));
            assert_eq!(
                s.tag(tags::STANDBY_FOR),
                None,
                "a replacement now, protected itself"
            );
            assert_eq!(w.instances[original].tag(tags::REPLACED_BY), Some(standby));
        }
        let members = &w.target_groups[TG_WEB].1;
        assert!(members.contains(&target("i-s1", 80)), "{members:?}");
        assert!(!members.contains(&target("i-web1", 80)), "{members:?}");
    });
    // A repeat finds them recovered: nothing started or launched again.
    let again = handle(&aws, Mode::Recover, &down()).await.unwrap();
    assert_eq!(outcome_of(&again, "i-web1"), OutcomeKind::AlreadyRecovered);
    assert_eq!(count(&aws, Op::StartInstances), 1);
    assert_eq!(count(&aws, Op::RunInstances), 0);
}

#[tokio::test]
async fn a_standby_that_cannot_start_falls_back_to_a_launch_in_the_same_run() {
    let mut w = world();
    add_standby(&mut w, "i-s1", "subnet-b", "i-web1");
    add_standby(&mut w, "i-s2", "subnet-c", "i-web2");
    w.unstartable.insert("i-s1".into());
    let aws = InMemoryAws::new(w, Duration::ZERO);
    let report = handle(&aws, Mode::Recover, &down()).await.unwrap();

    assert_eq!(outcome_of(&report, "i-web1"), OutcomeKind::Recovered);
    assert!(!from_standby(&report, "i-web1"), "launched");
    assert!(from_standby(&report, "i-web2"));
    assert_eq!(count(&aws, Op::RunInstances), 1);
    let web1 = report
        .instances
        .iter()
        .find(|i| i.instance_id == "i-web1")
        .unwrap();
    assert!(
        web1.warnings
            .iter()
            .any(|w| w.contains("its standby i-s1 could not be started")),
        "{:?}",
        web1.warnings
    );
    aws.with(|w| {
        let s1 = &w.instances["i-s1"];
        assert_eq!(s1.state, "stopped");
        assert_eq!(s1.tag(tags::REPLACEMENT_OF), None, "unlinked again");
        assert_eq!(s1.tag(tags::STANDBY_FOR), Some("i-web1"), "still a standby");
        let replaced_by = w.instances["i-web1"].tag(tags::REPLACED_BY).unwrap();
        assert_ne!(replaced_by, "i-s1");
    });
}

#[tokio::test]
async fn standbys_the_agent_cannot_prove_or_use_are_left_alone() {
    let mut w = world();
    // Made by hand (no token of the agent's), and one running for another reason.
    add_standby(&mut w, "i-forged", "subnet-b", "i-web1");
    w.instances.get_mut("i-forged").unwrap().client_token = None;
    add_standby(&mut w, "i-busy", "subnet-c", "i-web2");
    w.set_state("i-busy", "running");
    let aws = InMemoryAws::new(w, Duration::ZERO);
    let report = handle(&aws, Mode::Recover, &down()).await.unwrap();

    assert_eq!(outcome_of(&report, "i-web1"), OutcomeKind::Recovered);
    assert_eq!(outcome_of(&report, "i-web2"), OutcomeKind::Recovered);
    assert_eq!(count(&aws, Op::StartInstances), 0);
    assert_eq!(count(&aws, Op::RunInstances), 2);
    aws.with(|w| {
        assert_eq!(w.instances["i-forged"].state, "stopped");
        assert_eq!(w.instances["i-forged"].tag(tags::REPLACEMENT_OF), None);
        assert_eq!(w.instances["i-busy"].tag(tags::REPLACEMENT_OF), None);
    });
}

#[tokio::test]
async fn a_standby_on_the_failed_outpost_is_not_started() {
    let mut w = world();
    add_standby(&mut w, "i-s1", "subnet-a", "i-web1");
    let aws = InMemoryAws::new(w, Duration::ZERO);
    handle(&aws, Mode::Recover, &down()).await.unwrap();
    assert_eq!(count(&aws, Op::StartInstances), 0);
    aws.with(|w| assert_eq!(w.instances["i-s1"].state, "stopped"));
}

#[tokio::test]
async fn a_run_that_crashed_after_linking_a_standby_is_finished_by_the_next() {
    let mut w = world();
    add_standby(&mut w, "i-s1", "subnet-b", "i-web1");
    // Linked, not started: the crash.
    w.instances
        .get_mut("i-s1")
        .unwrap()
        .tags
        .insert(tags::REPLACEMENT_OF.into(), "i-web1".into());
    let aws = InMemoryAws::new(w, Duration::ZERO);
    let report = handle(&aws, Mode::Recover, &down()).await.unwrap();
    assert!(from_standby(&report, "i-web1"), "{report:?}");
    aws.with(|w| {
        assert_eq!(w.instances["i-s1"].state, "running");
        assert_eq!(w.instances["i-web1"].tag(tags::REPLACED_BY), Some("i-s1"));
        assert_eq!(
            w.instances
                .values()
                .filter(|i| i.tag(tags::REPLACEMENT_OF) == Some("i-web1"))
                .count(),
            1,
            "one copy"
        );
    });
}

#[tokio::test]
async fn a_dry_run_says_the_standby_would_start() {
    let mut w = world();
    add_standby(&mut w, "i-s1", "subnet-b", "i-web1");
    let aws = InMemoryAws::new(w, Duration::ZERO);
    let report = handle(&aws, Mode::NotifyOnly, &down()).await.unwrap();
    let web1 = report
        .instances
        .iter()
        .find(|i| i.instance_id == "i-web1")
        .unwrap();
    assert!(
        web1.warnings
            .iter()
            .any(|w| w.contains("its standby i-s1 would be started")),
        "{:?}",
        web1.warnings
    );
    assert_eq!(count(&aws, Op::StartInstances), 0);
}

#[tokio::test(start_paused = true)]
async fn recovery_template_standby_makes_one_the_recovery_then_starts() {
    use autorestart_flows::standby::{MakeError, make};
    let aws = InMemoryAws::new(world(), Duration::from_millis(5));
    aws.with(|w| {
        w.set_alarm(alarm(
            autorestart_core::alarm::AlarmState::Ok,
            "2026-11-24T03:00:00Z",
        ))
    });
    let poll = Duration::from_secs(1);
    let wait = Duration::from_secs(120);
    // web-1's first template is on its own Outpost: the standby comes from the next (lt-0b).
    let made = make(&aws, &"i-web1".into(), poll, wait).await.unwrap();
    assert!(made.created);
    assert_eq!(made.template, "lt-0b:$Default");
    let id = made.standby_id.clone();
    aws.with(|w| {
        let s = &w.instances[id.as_str()];
        assert_eq!(s.state, "stopped", "ran once, then stopped");
        assert_eq!(s.subnet_id.as_deref(), Some("subnet-b"));
        assert_eq!(s.tag(tags::STANDBY_FOR), Some("i-web1"));
        assert_eq!(s.tag(tags::NAME), Some("web-1"));
    });
    // Again: the same standby, nothing launched.
    let launches = count(&aws, Op::RunInstances);
    let again = make(&aws, &"i-web1".into(), poll, wait).await.unwrap();
    assert_eq!(
        (again.standby_id.clone(), again.created),
        (id.clone(), false)
    );
    assert_eq!(count(&aws, Op::RunInstances), launches);
    // Refused: not opted in, DRS.
    let refused = make(&aws, &"i-bystander".into(), poll, wait)
        .await
        .unwrap_err();
    assert!(
        matches!(refused, MakeError::Refused(ref m) if m.contains("not opted in")),
        "{refused}"
    );
    // The outage starts it.
    let report = handle(&aws, Mode::Recover, &down()).await.unwrap();
    assert!(from_standby(&report, "i-web1"), "{report:?}");
    aws.with(|w| {
        assert_eq!(
            w.instances["i-web1"].tag(tags::REPLACED_BY),
            Some(id.as_str())
        )
    });
}

#[tokio::test(start_paused = true)]
async fn making_a_standby_again_after_one_was_started_never_stops_the_serving_copy() {
    use autorestart_flows::standby::make;
    let aws = InMemoryAws::new(world(), Duration::from_millis(5));
    aws.with(|w| {
        w.set_alarm(alarm(
            autorestart_core::alarm::AlarmState::Ok,
            "2026-11-24T03:00:00Z",
        ))
    });
    let (poll, wait) = (Duration::from_secs(1), Duration::from_secs(120));
    let first = make(&aws, &"i-web1".into(), poll, wait).await.unwrap();
    handle(&aws, Mode::Recover, &down()).await.unwrap();
    aws.with(|w| assert_eq!(w.instances[first.standby_id.as_str()].state, "running"));
    // The operator makes a new standby while the first serves: attempt 2, a new instance.
    let second = make(&aws, &"i-web1".into(), poll, wait).await.unwrap();
    assert!(second.created);
    assert_ne!(second.standby_id, first.standby_id);
    aws.with(|w| {
        assert_eq!(
            w.instances[first.standby_id.as_str()].state,
            "running",
            "still serving"
        );
        assert_eq!(w.instances[second.standby_id.as_str()].state, "stopped");
    });
}
