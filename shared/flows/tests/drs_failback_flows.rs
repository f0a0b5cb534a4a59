//! DRS failback on the in-memory DRS: the recovery instance replicated back
//! (`ReverseReplication`), the failback waiting across runs until replication is continuous,
//! DRS launching into the original, membership moved home, the original protected again; a
//! launch that fails rolled back; throttled and unanswered calls not doubled.

use std::time::Duration;

use autorestart_core::alarm::{AlarmChange, AlarmState, OutpostId};
use autorestart_core::drs::{self, RecoveryInstance, SourceServer};
use autorestart_core::error::AwsError;
use autorestart_core::failback::{Fault, Handover, Request, Retire, Status};
use autorestart_core::settings::Settings;
use autorestart_core::tags;
use autorestart_flows::agent::{Agent, Ports};
use autorestart_flows::budget::{self, Budget};
use autorestart_flows::ports::{Target, TargetKind};
use autorestart_testkit::{InMemoryAws, Op, World};

const ARN_A: &str = "arn:aws:outposts:us-east-1:111122223333:outpost/op-0aaaaaaaaaaaaaaa1";
const HOME: &str = "op-0aaaaaaaaaaaaaaa1";
const TG: &str = "arn:aws:elasticloadbalancing:us-east-1:111122223333:targetgroup/db/1";

fn target(id: &str) -> Target {
    Target {
        id: id.into(),
        port: Some(5432),
        availability_zone: None,
    }
}

/// db-1 (i-db1, DRS-protected) on Outpost A, recovered by DRS job drsjob-1 into its launch
/// target i-target in the Region, which serves; db-1 fenced; A's alarm OK since long ago.
fn world() -> World {
    let mut w = World::default();
    w.subnets.insert("subnet-a".into(), Some(ARN_A.into()));
    w.subnets.insert("subnet-region".into(), None);
    w.add_instance(
        "i-db1",
        "subnet-a",
        &[
            (tags::NAME, "db-1"),
            (tags::ENABLED, "true"),
            (tags::STRATEGY, "drs"),
            (tags::REPLACED_BY, "i-target"),
            (tags::DRS_JOB, "drsjob-1"),
            (
                tags::INCIDENT,
                "op-0aaaaaaaaaaaaaaa1-20260101T000000Z-00000000",
            ),
            (tags::FENCED, "stop@2026-01-01T01:00:00Z"),
            (drs::TARGET_TAG_KEY, drs::TARGET_TAG_VALUE),
        ],
    );
    w.set_state("i-db1", "stopped");
    w.add_instance(
        "i-target",
        "subnet-region",
        &[
            (tags::NAME, "db-1"),
            (tags::ENABLED, "true"),
            (tags::REPLACEMENT_OF, "i-db1"),
            (drs::TARGET_TAG_KEY, drs::TARGET_TAG_VALUE),
        ],
    );
    w.drs_servers.push(SourceServer {
        id: "s-1".into(),
        hostname: Some("db-1".into()),
        aws_instance_id: Some("i-db1".into()),
        replication_state: "STALLED".into(),
        ..SourceServer::default()
    });
    w.drs_recovery_instances.insert(
        ("s-1".into(), "drsjob-1".into()),
        RecoveryInstance {
            recovery_instance_id: "i-target".into(),
            ec2_instance_id: "i-target".into(),
            is_drill: false,
        },
    );
    w.target_groups.insert(
        TG.into(),
        (TargetKind::Instance, [target("i-target")].into()),
    );
    w.set_alarm(AlarmChange::connected_status(
        "outposts-autorestart-connected-a",
        HOME,
        AlarmState::Ok,
        "2026-01-01T00:00:00Z".parse().unwrap(),
    ));
    w
}

fn agent(aws: &InMemoryAws) -> Agent<InMemoryAws> {
    Agent::new(Ports::all(aws.clone()), Settings::default()).with_clock(budget::tokio_wall_clock)
}

fn request() -> Request {
    Request {
        outpost: OutpostId::parse(HOME).unwrap(),
        dry_run: false,
        handover: Handover::StopFirst,
        retire: Retire::Standby,
    }
}

fn count(aws: &InMemoryAws, op: Op) -> usize {
    aws.with(|w| w.calls.iter().filter(|c| **c == op).count())
}

fn members(aws: &InMemoryAws) -> Vec<String> {
    aws.with(|w| w.target_groups[TG].1.iter().map(|t| t.id.clone()).collect())
}

/// The reversed server DRS made, continuous now.
fn replicated_back(aws: &InMemoryAws) {
    aws.with(|w| {
        for s in w.drs_servers.iter_mut().filter(|s| s.replicates_back) {
            s.replication_state = "CONTINUOUS".into();
        }
    });
}

#[tokio::test(start_paused = true)]
async fn a_drs_failback_replicates_back_launches_into_the_original_and_protects_it_again() {
    let aws = InMemoryAws::new(world(), Duration::ZERO);
    let budget = || Budget::from_now(Duration::from_secs(900));
    // The dry run: what DRS will do, nothing done.
    let dry = agent(&aws)
        .failback(
            &Request {
                dry_run: true,
                ..request()
            },
            budget(),
        )
        .await
        .unwrap();
    assert_eq!(dry.summary(), "1 would fail back", "{dry:?}");
    assert_eq!(count(&aws, Op::ReverseReplication), 0);

    // Asked: replication back starts; the initial sync takes longer than a run.
    let first = agent(&aws).failback(&request(), budget()).await.unwrap();
    let Status::InProgress { next } = &first.instances[0].status else {
        panic!("{first:?}")
    };
    assert!(
        next.contains("replicate the recovery instance back"),
        "{next}"
    );
    assert_eq!(count(&aws, Op::ReverseReplication), 1);
    aws.with(|w| assert_eq!(w.instances["i-target"].state, "running", "serves meanwhile"));

    // Continuous: the sweep stops the recovery instance, DRS launches into the original.
    replicated_back(&aws);
    aws.with(|w| w.drs_launch_at_once = true);
    let sweep = agent(&aws).sweep().await.unwrap();
    assert!(sweep.errors.is_empty(), "{:?}", sweep.errors);
    assert_eq!(sweep.failbacks[0].summary(), "1 failed back", "{sweep:?}");
    aws.with(|w| {
        let back = w
            .drs_servers
            .iter()
            .find(|s| s.replicates_back && s.aws_instance_id.as_deref() == Some("i-target"))
            .unwrap();
        assert_eq!(
            w.drs_settings[&back.id].launch_into.as_deref(),
            Some("i-db1"),
            "launched into the original"
        );
        let original = &w.instances["i-db1"];
        assert_eq!(original.state, "running");
        assert_eq!(original.tag(tags::REPLACED_BY), None);
        assert_eq!(original.tag(tags::FAILBACK), None);
        assert_eq!(original.tag(tags::DRS_JOB), None);
        let target = &w.instances["i-target"];
        assert_eq!(target.state, "stopped");
        assert_eq!(target.tag(tags::REPLACEMENT_OF), None, "unlinked");
        assert_eq!(
            target.tag(drs::TARGET_TAG_KEY),
            Some(drs::TARGET_TAG_VALUE),
            "still the next recovery's launch target"
        );
        // Protected again: replication from the original.
        assert!(
            w.drs_servers
                .iter()
                .any(|s| s.replicates_back && s.aws_instance_id.as_deref() == Some("i-db1"))
        );
    });
    assert_eq!(members(&aws), ["i-db1"]);
    assert_eq!(count(&aws, Op::StartRecovery), 1);
    assert_eq!(
        count(&aws, Op::ReverseReplication),
        2,
        "back, then protected again"
    );
}

#[tokio::test(start_paused = true)]
async fn a_drs_launch_into_the_original_that_fails_rolls_back_to_the_recovery_instance() {
    let mut w = world();
    w.drs_reverse_continuous = true;
    let aws = InMemoryAws::new(w, Duration::ZERO);
    let budget = Budget::from_now(Duration::from_secs(60));
    let report = agent(&aws).failback(&request(), budget).await.unwrap();
    assert!(
        matches!(report.instances[0].status, Status::InProgress { .. }),
        "{report:?}"
    );
    // DRS ends the job without launching.
    aws.with(|w| {
        for (_, done) in w.drs_jobs.iter_mut() {
            *done = true;
        }
    });
    let sweep = agent(&aws).sweep().await.unwrap();
    assert_eq!(
        sweep.failbacks[0].instances[0].status,
        Status::RolledBack {
            fault: Fault::LaunchFailed
        },
        "{sweep:?}"
    );
    aws.with(|w| {
        assert_eq!(w.instances["i-target"].state, "running", "serves again");
        assert_eq!(w.instances["i-db1"].state, "stopped");
        assert_eq!(
            w.instances["i-db1"].tag(tags::REPLACED_BY),
            Some("i-target")
        );
        assert_eq!(w.instances["i-db1"].tag(tags::FAILBACK), None);
    });
    assert_eq!(members(&aws), ["i-target"]);
}

#[tokio::test(start_paused = true)]
async fn a_throttled_or_unanswered_reverse_replication_is_not_asked_twice() {
    let mut w = world();
    w.failures.insert(
        Op::ReverseReplication,
        vec![AwsError::from_code(
            "drs:ReverseReplication",
            "ThrottlingException",
            "Rate exceeded",
        )],
    );
    w.lost_answers.insert(Op::ReverseReplication, vec![true]);
    let aws = InMemoryAws::new(w, Duration::ZERO);
    let report = agent(&aws)
        .failback(&request(), Budget::from_now(Duration::from_secs(60)))
        .await
        .unwrap();
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    // Throttled, retried; its answer lost: found in DRS, not asked again.
    assert_eq!(count(&aws, Op::ReverseReplication), 2);
    let reversed = aws.with(|w| w.drs_servers.iter().filter(|s| s.replicates_back).count());
    assert_eq!(reversed, 1);
    let marker = aws.with(|w| w.instances["i-db1"].tag(tags::FAILBACK).unwrap().to_owned());
    assert!(marker.contains(" reversed=s-back"), "{marker}");
}

#[tokio::test(start_paused = true)]
async fn a_drs_failback_does_not_begin_while_drs_cannot_be_read() {
    let mut w = world();
    w.failures.insert(
        Op::DescribeSourceServers,
        vec![
            AwsError::from_code(
                "drs:DescribeSourceServers",
                "UninitializedAccountException",
                "Account not initialized",
            );
            50
        ],
    );
    let aws = InMemoryAws::new(w, Duration::ZERO);
    let report = agent(&aws)
        .failback(&request(), Budget::from_now(Duration::from_secs(60)))
        .await
        .unwrap();
    assert!(
        report.instances[0]
            .codes
            .contains(&"drs-unreadable".to_owned()),
        "{report:?}"
    );
    assert_eq!(count(&aws, Op::ReverseReplication), 0);
    aws.with(|w| assert_eq!(w.instances["i-db1"].tag(tags::FAILBACK), None));
}

#[tokio::test(start_paused = true)]
async fn an_original_drs_cannot_launch_into_is_blocked() {
    let mut w = world();
    w.instances
        .get_mut("i-db1")
        .unwrap()
        .tags
        .remove(drs::TARGET_TAG_KEY);
    let aws = InMemoryAws::new(w, Duration::ZERO);
    let report = agent(&aws)
        .failback(&request(), Budget::from_now(Duration::from_secs(60)))
        .await
        .unwrap();
    assert_eq!(
        report.instances[0].codes,
        ["no-launch-into-tag"],
        "{report:?}"
    );
    assert_eq!(count(&aws, Op::ReverseReplication), 0);
}

#[tokio::test(start_paused = true)]
async fn the_drs_event_of_a_failbacks_launch_is_left_to_the_failback() {
    let mut w = world();
    w.drs_reverse_continuous = true;
    w.drs_launch_at_once = true;
    let aws = InMemoryAws::new(w, Duration::ZERO);
    agent(&aws)
        .failback(&request(), Budget::from_now(Duration::from_secs(900)))
        .await
        .unwrap();
    let (server, job) = aws.with(|w| {
        let job = w.drs_jobs.last().unwrap().0.clone();
        (job.source_server_ids[0].clone(), job.job_id)
    });
    let published = aws.with(|w| w.published.len());
    let report = agent(&aws)
        .handle_drs_result(&autorestart_core::report::DrsLaunchResult {
            job_id: job,
            source_server_id: server,
            succeeded: true,
            drill: false,
            time: chrono::Utc::now(),
        })
        .await
        .unwrap();
    assert!(report.reason.unwrap().contains("a failback's launch"));
    assert_eq!(
        aws.with(|w| w.published.len()),
        published,
        "no notice of its own"
    );
    aws.with(|w| assert_eq!(w.instances["i-target"].tag(tags::REPLACED_BY), None));
}
