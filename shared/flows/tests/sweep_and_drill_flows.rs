//! The sweep and the drill on the in-memory AWS, in the world of `agent_flows.rs`.

use autorestart_core::alarm::AlarmState;
use autorestart_core::report::Notification;
use autorestart_core::settings::Mode;
use autorestart_core::tags::{self};
use autorestart_flows::agent::{Agent, Ports};
use autorestart_flows::ports::TargetKind;
use autorestart_testkit::InMemoryAws;
use autorestart_testkit::Op;
use std::time::Duration;

mod support;
use support::agent_world::*;

const TG_DRILL: &str = "arn:aws:elasticloadbalancing:us-east-1:111122223333:targetgroup/drill/9";

#[tokio::test]
async fn the_sweep_recovers_what_no_event_reported_then_finds_nothing_to_do() {
    let aws = InMemoryAws::new(sweep_world(AlarmState::Alarm), Duration::ZERO);
    let agent = Agent::new(Ports::all(aws.clone()), settings(Mode::Recover));
    let first = agent.sweep().await.unwrap();
    assert!(first.errors.is_empty(), "{:?}", first.errors);
    assert_eq!(first.recoveries.len(), 1);
    assert_eq!(aws.with(|w| w.replacements_of("i-web1").len()), 1);
    let published = aws.with(|w| w.published.len());
    assert_eq!(
        published, 2,
        "the recovery and the first readiness verdicts"
    );

    let second = agent.sweep().await.unwrap();
    assert_eq!(
        second.recoveries[0].notification,
        Notification::AlreadyReported
    );
    assert!(second.readiness.changed.is_empty());
    assert_eq!(
        aws.with(|w| w.published.len()),
        published,
        "nothing new to say"
    );
    assert_eq!(aws.with(|w| w.replacements_of("i-web1").len()), 1);
}

#[tokio::test]
async fn the_sweep_leaves_an_outpost_in_maintenance_alone() {
    let mut w = sweep_world(AlarmState::Alarm);
    w.alarm_tags
        .insert(alarm_arn(), vec![(tags::MAINTENANCE.into(), "TRUE".into())]);
    let aws = InMemoryAws::new(w, Duration::ZERO);
    let report = Agent::new(Ports::all(aws.clone()), settings(Mode::Recover))
        .sweep()
        .await
        .unwrap();
    assert_eq!(report.in_maintenance.len(), 1);
    assert!(report.recoveries.is_empty());
    assert!(aws.with(|w| !w.calls.contains(&Op::RunInstances)));
}

#[tokio::test]
async fn readiness_notifies_on_a_change_only() {
    let aws = InMemoryAws::new(sweep_world(AlarmState::Ok), Duration::ZERO);
    let agent = Agent::new(Ports::all(aws.clone()), settings(Mode::Recover));
    let first = agent.sweep().await.unwrap();
    // web-1 names lt-0a on its own Outpost, but lt-0b and lt-0c are usable: ready, with a
    // warning; web-2 and web-3 are ready.
    assert_eq!((first.readiness.ready, first.readiness.not_ready), (3, 0));
    let web1 = &first.readiness.instances[1];
    assert_eq!(web1.instance_id, "i-web1");
    assert!(
        web1.notes.iter().any(|n| n.contains("own Outpost")),
        "{web1:?}"
    );
    assert_eq!(aws.with(|w| w.published.len()), 1);
    agent.sweep().await.unwrap();
    assert_eq!(aws.with(|w| w.published.len()), 1, "no change, no notice");

    // Outpost C goes down: web-3's only alternate is gone; web-1 still has lt-0b.
    aws.with(|w| w.alarms[2].state = AlarmState::Alarm);
    let third = agent.sweep().await.unwrap();
    assert_eq!(third.readiness.changed, ["i-elsewhere"]);
    let notice = aws.with(|w| w.published.last().unwrap().clone());
    assert!(
        notice.subject.contains("Readiness: 1 not ready"),
        "{}",
        notice.subject
    );
    assert!(notice.body.contains("alarm is Alarm"), "{}", notice.body);
}

#[tokio::test]
async fn notify_only_fencing_reports_once_and_stops_nothing() {
    let aws = InMemoryAws::new(sweep_world(AlarmState::Alarm), Duration::ZERO);
    Agent::new(Ports::all(aws.clone()), settings(Mode::Recover))
        .sweep()
        .await
        .unwrap();
    aws.with(|w| w.alarms[0].state = AlarmState::Ok);
    let watcher = Agent::new(Ports::all(aws.clone()), settings(Mode::NotifyOnly));
    let report = watcher.sweep().await.unwrap();
    let fencing = report.fencing[0].fencing.as_ref().unwrap();
    assert_eq!(fencing.fenced.len(), 2);
    aws.with(|w| {
        assert_eq!(w.instances["i-web1"].state, "running");
        assert!(w.instances["i-web1"].tags[tags::FENCED].starts_with("would-stop@"));
        assert!(
            w.published
                .iter()
                .any(|n| n.subject.contains("back: 2 original(s) would be stopped"))
        );
    });
    let again = watcher.sweep().await.unwrap();
    assert!(again.fencing[0].fencing.as_ref().unwrap().fenced.is_empty());
}

#[tokio::test]
async fn a_live_drill_tags_its_copies_never_the_originals_and_terminates_them() {
    let mut w = sweep_world(AlarmState::Ok);
    w.target_groups
        .insert(TG_DRILL.into(), (TargetKind::Instance, Default::default()));
    let aws = InMemoryAws::new(w, Duration::ZERO);
    let originals = aws.with(|w| {
        (
            w.instances["i-web1"].clone(),
            w.target_groups[TG_WEB].clone(),
        )
    });
    let report = Agent::new(Ports::all(aws.clone()), settings(Mode::Recover))
        .drill(&drill_request(true, Some(TG_DRILL)))
        .await
        .unwrap();
    assert_eq!(report.copies.len(), 2);
    assert!(
        report.copies.iter().all(|c| c.healthy == Some(true)),
        "{:?}",
        report.copies
    );
    assert_eq!(report.cleaned_up.len(), 2);
    aws.with(|w| {
        let mut original = w.instances["i-web1"].clone();
        assert_eq!(
            original.tags.remove(tags::LAST_DRILL),
            Some(format!("{} ok", report.drill_id)),
            "the drill's result, for status"
        );
        assert_eq!(
            original, originals.0,
            "the original is untouched but for that record"
        );
        assert_eq!(
            w.target_groups[TG_WEB], originals.1,
            "production target group untouched"
        );
        assert!(
            w.target_groups[TG_DRILL].1.is_empty(),
            "copies deregistered"
        );
        for id in &report.cleaned_up {
            let copy = &w.instances[id.as_str()];
            assert_eq!(copy.state, "terminated");
            assert_eq!(copy.tags[tags::DRILL], report.drill_id);
            assert!(copy.tag(tags::REPLACEMENT_OF).is_none());
        }
        assert!(
            w.published[0]
                .subject
                .contains("Drill op-0aaaaaaaaaaaaaaa1: 2/2 running")
        );
    });
}

#[tokio::test]
async fn a_drill_refuses_a_production_target_group_and_an_outpost_that_is_down() {
    let aws = InMemoryAws::new(sweep_world(AlarmState::Ok), Duration::ZERO);
    let agent = Agent::new(Ports::all(aws.clone()), settings(Mode::Recover));
    let refused = agent
        .drill(&drill_request(true, Some(TG_WEB)))
        .await
        .unwrap_err();
    assert!(
        refused.to_string().contains("holds protected instances"),
        "{refused}"
    );
    aws.with(|w| w.alarms[0].state = AlarmState::Alarm);
    let refused = agent.drill(&drill_request(true, None)).await.unwrap_err();
    assert!(refused.to_string().contains("is down now"), "{refused}");
    assert!(aws.with(|w| !w.calls.contains(&Op::RunInstances)));
}

#[tokio::test]
async fn a_live_drill_is_refused_while_an_earlier_drills_copies_still_run() {
    let mut w = sweep_world(AlarmState::Ok);
    // A copy an earlier drill could not terminate (cut off, or its clean-up failed).
    w.add_instance(
        "i-oldcopy",
        "subnet-b",
        &[
            (tags::NAME, "drill: web-1"),
            (tags::DRILL, "drill-op-0aaaaaaaaaaaaaaa1-20261124T090000Z"),
            (tags::DRILL_OF, "i-web1"),
        ],
    );
    let aws = InMemoryAws::new(w, Duration::ZERO);
    let agent = Agent::new(Ports::all(aws.clone()), settings(Mode::Recover));
    let refused = agent.drill(&drill_request(true, None)).await.unwrap_err();
    let message = refused.to_string();
    assert!(
        message.contains("left copies that still run: i-oldcopy"),
        "{message}"
    );
    assert!(
        message.contains("aws ec2 terminate-instances --instance-ids i-oldcopy"),
        "{message}"
    );
    assert!(aws.with(|w| !w.calls.contains(&Op::RunInstances)));
    // A dry run still plans; once the copy is gone, a live drill goes.
    agent.drill(&drill_request(false, None)).await.unwrap();
    aws.with(|w| w.set_state("i-oldcopy", "terminated"));
    let report = agent.drill(&drill_request(true, None)).await.unwrap();
    assert_eq!(report.copies.len(), 2);
}

#[tokio::test]
async fn a_dry_run_drill_only_reads() {
    let aws = InMemoryAws::new(sweep_world(AlarmState::Ok), Duration::ZERO);
    let report = Agent::new(Ports::all(aws.clone()), settings(Mode::Recover))
        .drill(&drill_request(false, None))
        .await
        .unwrap();
    assert_eq!(report.plan.len(), 2);
    assert_eq!(
        report.plan[0].target_groups,
        [TG_IP, TG_WEB].map(String::from)
    );
    aws.with(|w| {
        let writes = [
            Op::RunInstances,
            Op::CreateTags,
            Op::RegisterTargets,
            Op::Publish,
            Op::TerminateInstances,
        ];
        assert!(w.calls.iter().all(|c| !writes.contains(c)), "{:?}", w.calls);
    });
}

#[tokio::test(start_paused = true)]
async fn a_drill_waits_no_longer_than_its_invocation() {
    let mut world = sweep_world(AlarmState::Ok);
    world
        .target_groups
        .insert(TG_DRILL.into(), (TargetKind::Instance, Default::default()));
    // The copies never run: only the invocation's deadline ends the wait for them.
    world.pending_for = Duration::from_secs(3600);
    let aws = InMemoryAws::new(world, Duration::ZERO);
    let settings = autorestart_core::settings::Settings {
        wave_wait: Duration::from_secs(900),
        ..settings(Mode::Recover)
    };
    let agent = Agent::new(Ports::all(aws.clone()), settings);
    let started = tokio::time::Instant::now();
    let budget = autorestart_flows::budget::Budget::from_now(Duration::from_secs(120));
    let report = budget
        .scope(agent.drill(&drill_request(true, Some(TG_DRILL))))
        .await
        .unwrap();
    let took = started.elapsed();
    assert!(took <= Duration::from_secs(120), "took {took:?}");
    assert_eq!(report.copies.len(), 2);
    for copy in &report.copies {
        let error = copy.error.as_deref().unwrap_or_default();
        assert!(error.contains("did not reach running within"), "{copy:?}");
    }
    assert_eq!(
        report.cleaned_up.len(),
        2,
        "the copies are still cleaned up"
    );
}
