//! A dark Outpost is not a dead one: the alarm handler, the sweep and a failover keep each
//! instance's `autorestart:on-link-loss` policy. `relaunch` goes at once; `self-fenced:T`
//! waits until T and the margin have passed since the link was lost (within the invocation's
//! budget, else the next run), and no retry, duplicate or sweep launches it early; `hold`
//! waits for a person's failover. Time is paused: the waits are seen, not slept.

use std::time::Duration;

use autorestart_core::alarm::{AlarmChange, AlarmState, OutpostId};
use autorestart_core::outcome::OutcomeKind;
use autorestart_core::report::AlarmReport;
use autorestart_core::settings::{Mode, Settings};
use autorestart_core::tags;
use autorestart_flows::agent::{Agent, Ports};
use autorestart_flows::budget::{Budget, tokio_wall_clock};
use autorestart_flows::failover::FailoverError;
use autorestart_testkit::{InMemoryAws, World};

mod support;
use support::agent_world::*;

/// The fence time the self-fenced instance's tag names.
const T: i64 = 120;

/// The default margin after it (`Settings::fence_margin`).
const MARGIN: i64 = 60;

/// web-1 self-fenced, web-2 held, web-4 relaunched (the default), all on Outpost A; the alarm
/// went into ALARM `ago` seconds before now.
fn outage(ago: i64) -> (World, AlarmChange) {
    let mut w = world();
    let tag = |w: &mut World, id: &str, value: &str| {
        w.instances
            .get_mut(id)
            .unwrap()
            .tags
            .insert(tags::ON_LINK_LOSS.into(), value.into());
    };
    tag(&mut w, "i-web1", &format!("self-fenced:{T}"));
    tag(&mut w, "i-web2", "hold");
    w.add_instance(
        "i-web4",
        "subnet-a",
        &[
            (tags::NAME, "web-4"),
            (tags::ENABLED, "true"),
            (tags::RECOVERY_TEMPLATES, "lt-0c"),
        ],
    );
    let since = tokio_wall_clock() - chrono::TimeDelta::seconds(ago);
    let change = AlarmChange {
        state_since: since,
        ..alarm(AlarmState::Alarm, "2026-11-24T03:10:00Z")
    };
    w.set_alarm(change.clone());
    (w, change)
}

/// An invocation's agent over the shared in-memory AWS (each invocation has its own).
fn new_agent(aws: &InMemoryAws) -> Agent<InMemoryAws> {
    Agent::new(Ports::all(aws.clone()), settings(Mode::Recover)).with_clock(tokio_wall_clock)
}

/// Another invocation handling `change` with 900 s, in the background.
fn spawn_handler(
    aws: &InMemoryAws,
    change: &AlarmChange,
) -> tokio::task::JoinHandle<Result<AlarmReport, autorestart_flows::error::FlowError>> {
    let agent = new_agent(aws);
    let change = change.clone();
    tokio::spawn(async move {
        agent
            .handle_alarm_until(&change, Budget::from_now(Duration::from_secs(900)))
            .await
    })
}

fn launched(aws: &InMemoryAws, original: &str) -> usize {
    aws.with(|w| w.replacements_of(original).len())
}

fn reason_of(report: &AlarmReport, id: &str) -> String {
    report
        .instances
        .iter()
        .find(|i| i.instance_id == id)
        .and_then(|i| i.reason.clone())
        .unwrap_or_default()
}

#[tokio::test(start_paused = true)]
async fn the_alarm_handler_relaunches_at_once_waits_for_the_fence_and_holds_the_held() {
    let (w, change) = outage(10);
    let aws = InMemoryAws::new(w, Duration::ZERO);
    let started = tokio::time::Instant::now();
    let fence_time = Duration::from_secs((T + MARGIN - 10) as u64);

    let run = spawn_handler(&aws, &change);
    tokio::time::sleep(fence_time - Duration::from_secs(1)).await;
    assert_eq!(launched(&aws, "i-web4"), 1, "relaunch: at once");
    assert_eq!(
        launched(&aws, "i-web1"),
        0,
        "self-fenced: not before T and the margin"
    );
    let report = run.await.unwrap().unwrap();

    assert!(started.elapsed() >= fence_time, "{:?}", started.elapsed());
    assert_eq!(
        launched(&aws, "i-web1"),
        1,
        "self-fenced: once its time came"
    );
    assert_eq!(
        launched(&aws, "i-web2"),
        0,
        "hold: never on the alarm alone"
    );
    assert_eq!(outcome_of(&report, "i-web4"), OutcomeKind::Recovered);
    assert_eq!(outcome_of(&report, "i-web1"), OutcomeKind::Recovered);
    assert_eq!(outcome_of(&report, "i-web2"), OutcomeKind::Held);
    assert!(
        reason_of(&report, "i-web2")
            .contains(r#"{"outpost":"op-0aaaaaaaaaaaaaaa1","mode":"failover"}"#),
        "{}",
        reason_of(&report, "i-web2")
    );
    let notice = aws.with(|w| w.published.last().unwrap().body.clone());
    for said in [
        "two copies: self-fenced: its sentinel stops it 120 s after losing the Region",
        "two copies: hold: not relaunched until a person confirms its server is down",
        "two copies: relaunch (the default, no autorestart:on-link-loss tag)",
        "HELD, NOT RECOVERED",
    ] {
        assert!(notice.contains(said), "{said}\n{notice}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_fence_past_the_budget_is_left_to_the_sweep_which_never_launches_it_early() {
    let (w, change) = outage(10);
    let aws = InMemoryAws::new(w, Duration::ZERO);
    let agent = new_agent(&aws);

    let report = agent
        .handle_alarm_until(&change, Budget::from_now(Duration::from_secs(120)))
        .await
        .unwrap();
    assert_eq!(outcome_of(&report, "i-web1"), OutcomeKind::Unfinished);
    assert!(
        reason_of(&report, "i-web1").contains("its replacement launches at"),
        "{}",
        reason_of(&report, "i-web1")
    );
    assert_eq!(launched(&aws, "i-web1"), 0);
    assert_eq!(launched(&aws, "i-web4"), 1);

    // A sweep before the time: still waiting (its budget is too short to wait that long).
    let sweep = agent
        .sweep_until(Budget::from_now(Duration::from_secs(60)))
        .await
        .unwrap();
    assert_eq!(launched(&aws, "i-web1"), 0, "{sweep:?}");

    // A sweep after it: launched, once; the held one still held.
    tokio::time::advance(Duration::from_secs((T + MARGIN) as u64)).await;
    agent
        .sweep_until(Budget::from_now(Duration::from_secs(300)))
        .await
        .unwrap();
    assert_eq!(launched(&aws, "i-web1"), 1);
    assert_eq!(launched(&aws, "i-web4"), 1, "not recovered twice");
    assert_eq!(
        launched(&aws, "i-web2"),
        0,
        "the sweep never launches a held instance"
    );
}

#[tokio::test(start_paused = true)]
async fn a_sweep_in_the_middle_of_the_handlers_wait_launches_nothing_early() {
    let (w, change) = outage(10);
    let aws = InMemoryAws::new(w, Duration::ZERO);
    let run = spawn_handler(&aws, &change);
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(launched(&aws, "i-web4"), 1, "the handler relaunched it");

    // The scheduled sweep comes while the handler waits for web-1's fence.
    let sweep = new_agent(&aws)
        .sweep_until(Budget::from_now(Duration::from_secs(60)))
        .await
        .unwrap();
    assert_eq!(launched(&aws, "i-web1"), 0, "not early: {sweep:?}");
    assert_eq!(launched(&aws, "i-web4"), 1, "not twice");

    let report = run.await.unwrap().unwrap();
    assert_eq!(outcome_of(&report, "i-web1"), OutcomeKind::Recovered);
    assert_eq!(launched(&aws, "i-web1"), 1);
    assert_eq!(launched(&aws, "i-web2"), 0);
}

#[tokio::test(start_paused = true)]
async fn a_run_that_dies_mid_wait_and_its_retry_launch_the_fenced_instance_once_and_not_early() {
    let (w, change) = outage(10);
    let aws = InMemoryAws::new(w, Duration::ZERO);
    let agent = new_agent(&aws);

    // The invocation is cut off while it waits (Lambda's deadline, a crash).
    let cut = tokio::time::timeout(
        Duration::from_secs(60),
        agent.handle_alarm_until(&change, Budget::from_now(Duration::from_secs(900))),
    )
    .await;
    assert!(cut.is_err(), "still waiting when cut off");
    assert_eq!(launched(&aws, "i-web1"), 0);

    // Lambda delivers the event again; a duplicate arrives beside it.
    let retry = spawn_handler(&aws, &change);
    let duplicate = agent
        .handle_alarm_until(&change, Budget::from_now(Duration::from_secs(30)))
        .await
        .unwrap();
    assert_eq!(outcome_of(&duplicate, "i-web1"), OutcomeKind::Unfinished);
    assert_eq!(
        launched(&aws, "i-web1"),
        0,
        "the duplicate does not launch early"
    );
    let report = retry.await.unwrap().unwrap();
    assert_eq!(outcome_of(&report, "i-web1"), OutcomeKind::Recovered);
    assert_eq!(launched(&aws, "i-web1"), 1, "once");
    assert_eq!(launched(&aws, "i-web4"), 1, "once");
}

#[tokio::test(start_paused = true)]
async fn an_outpost_back_before_the_fence_time_launches_nothing_more() {
    let (w, change) = outage(10);
    let aws = InMemoryAws::new(w, Duration::ZERO);
    let run = spawn_handler(&aws, &change);
    tokio::time::sleep(Duration::from_secs(60)).await;
    aws.with(|w| {
        w.set_alarm(AlarmChange {
            state: AlarmState::Ok,
            state_since: tokio_wall_clock(),
            ..change.clone()
        })
    });
    let report = run.await.unwrap().unwrap();
    assert_eq!(
        launched(&aws, "i-web1"),
        0,
        "the link came back: the original serves"
    );
    assert_eq!(outcome_of(&report, "i-web1"), OutcomeKind::Unfinished);
}

#[tokio::test(start_paused = true)]
async fn a_failover_recovers_the_held_instance_once_and_only_while_the_alarm_is_in_alarm() {
    let (w, change) = outage(T + MARGIN + 1);
    let aws = InMemoryAws::new(w, Duration::ZERO);
    let agent = new_agent(&aws);
    let outpost = OutpostId::parse(OUTPOST_A).unwrap();
    let budget = || Budget::from_now(Duration::from_secs(900));

    agent.handle_alarm_until(&change, budget()).await.unwrap();
    assert_eq!(launched(&aws, "i-web2"), 0);

    let report = agent.failover(&outpost, budget()).await.unwrap();
    assert_eq!(outcome_of(&report, "i-web2"), OutcomeKind::Recovered);
    assert_eq!(outcome_of(&report, "i-web1"), OutcomeKind::AlreadyRecovered);
    assert_eq!(launched(&aws, "i-web2"), 1);

    let again = agent.failover(&outpost, budget()).await.unwrap();
    assert_eq!(outcome_of(&again, "i-web2"), OutcomeKind::AlreadyRecovered);
    assert_eq!(launched(&aws, "i-web2"), 1, "idempotent");

    aws.with(|w| {
        w.set_alarm(AlarmChange {
            state: AlarmState::Ok,
            state_since: tokio_wall_clock(),
            ..change.clone()
        })
    });
    let refused = agent.failover(&outpost, budget()).await.unwrap_err();
    assert!(matches!(refused, FailoverError::NotDown(_)), "{refused}");
    let other = OutpostId::parse("op-0bbbbbbbbbbbbbbb2").unwrap();
    assert!(matches!(
        agent.failover(&other, budget()).await,
        Err(FailoverError::NotDown(_))
    ));
}

#[tokio::test(start_paused = true)]
async fn an_outage_whose_instances_are_all_held_is_told_once() {
    let (mut w, change) = outage(10);
    for id in ["i-web1", "i-web4"] {
        w.instances
            .get_mut(id)
            .unwrap()
            .tags
            .insert(tags::ON_LINK_LOSS.into(), "hold".into());
    }
    let aws = InMemoryAws::new(w, Duration::ZERO);
    let budget = || Budget::from_now(Duration::from_secs(900));
    new_agent(&aws)
        .handle_alarm_until(&change, budget())
        .await
        .unwrap();
    let notices = aws.with(|w| w.published.clone());
    assert_eq!(notices.len(), 1, "the held instances are news");
    assert!(
        notices[0].body.contains("then fails over) (3):"),
        "{}",
        notices[0].body
    );
    new_agent(&aws)
        .handle_alarm_until(&change, budget())
        .await
        .unwrap();
    assert_eq!(aws.with(|w| w.published.len()), 1, "said once");
    assert_eq!(launched(&aws, "i-web1") + launched(&aws, "i-web4"), 0);
}

#[tokio::test(start_paused = true)]
async fn a_policy_tag_that_cannot_be_read_is_failed_never_launched() {
    let (mut w, change) = outage(T + MARGIN + 1);
    w.instances
        .get_mut("i-web4")
        .unwrap()
        .tags
        .insert(tags::ON_LINK_LOSS.into(), "self-fenced".into());
    let aws = InMemoryAws::new(w, Duration::ZERO);
    let report = new_agent(&aws)
        .handle_alarm_until(&change, Budget::from_now(Duration::from_secs(900)))
        .await
        .unwrap();
    assert_eq!(outcome_of(&report, "i-web4"), OutcomeKind::Failed);
    assert!(reason_of(&report, "i-web4").contains("names no fence time"));
    assert_eq!(launched(&aws, "i-web4"), 0);
}

#[tokio::test(start_paused = true)]
async fn notify_only_reports_the_wait_and_the_hold_without_waiting() {
    let (w, change) = outage(10);
    let aws = InMemoryAws::new(w, Duration::ZERO);
    let settings = Settings {
        mode: Mode::NotifyOnly,
        ..settings(Mode::NotifyOnly)
    };
    let started = tokio::time::Instant::now();
    let report = Agent::new(Ports::all(aws.clone()), settings)
        .with_clock(tokio_wall_clock)
        .handle_alarm_until(&change, Budget::from_now(Duration::from_secs(900)))
        .await
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "no wait in a dry run"
    );
    assert_eq!(outcome_of(&report, "i-web1"), OutcomeKind::Unfinished);
    assert_eq!(outcome_of(&report, "i-web2"), OutcomeKind::Held);
    assert_eq!(outcome_of(&report, "i-web4"), OutcomeKind::WouldLaunch);
}
