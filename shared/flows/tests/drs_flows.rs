//! DRS on the in-memory AWS: both strategies from one alarm, repeats, and the launch results
//! that finish a DRS recovery.

use autorestart_testkit::Op;
use std::time::Duration;

use autorestart_core::alarm::AlarmState;
use autorestart_core::drs::{self, JobFailure, RecoveryInstance, SourceServer};
use autorestart_core::error::AwsError;
use autorestart_core::outcome::OutcomeKind;
use autorestart_core::report::DrsLaunchResult;
use autorestart_core::settings::HealthWait;
use autorestart_core::settings::Settings;
use autorestart_core::tags::Strategy;
use autorestart_core::tags::{self, TemplateRef};
use autorestart_flows::agent::{Agent, Ports};
use autorestart_flows::ports::{Target, TargetKind};
use autorestart_testkit::{InMemoryAws, World};

use autorestart_testkit::fixtures as support;

use support::ARN_A;
const ARN_B: &str = "arn:aws:outposts:us-east-1:111122223333:outpost/op-0bbbbbbbbbbbbbbb2";
const TG: &str = "arn:aws:elasticloadbalancing:us-east-1:111122223333:targetgroup/app/1";
const SERVER: &str = "s-1234567890abcdef0";

fn target(id: &str) -> Target {
    Target {
        id: id.into(),
        port: Some(443),
        availability_zone: None,
    }
}

/// web-1 (template strategy) and db-1 (DRS) on Outpost A; db-1's stopped target in the Region.
fn world() -> World {
    let mut w = World::default();
    w.set_alarm(support::outage());
    w.subnets.insert("subnet-a".into(), Some(ARN_A.into()));
    w.subnets.insert("subnet-b".into(), Some(ARN_B.into()));
    w.subnets.insert("subnet-region".into(), None);
    w.templates.insert(
        TemplateRef {
            id: "lt-0b".into(),
            version: "$Default".into(),
        },
        "subnet-b".into(),
    );
    w.add_instance(
        "i-web1",
        "subnet-a",
        &[
            (tags::NAME, "web-1"),
            (tags::ENABLED, "true"),
            (tags::RECOVERY_TEMPLATES, "lt-0b"),
        ],
    );
    add_drs_protected(
        &mut w,
        ("i-db1", "db-1"),
        ("i-dbtarget", "DB-1"),
        (SERVER, "db-1.corp.example"),
    );
    w.target_groups.insert(
        TG.into(),
        (
            TargetKind::Instance,
            [target("i-web1"), target("i-db1")].into(),
        ),
    );
    w
}

/// A DRS-protected instance (id, Name) on Outpost A, its stopped launch target (id, Name) in
/// the Region, and its replicating source server (id, hostname).
fn add_drs_protected(
    w: &mut World,
    (id, name): (&str, &str),
    (target, target_name): (&str, &str),
    (server, hostname): (&str, &str),
) {
    w.add_instance(
        id,
        "subnet-a",
        &[
            (tags::NAME, name),
            (tags::ENABLED, "true"),
            (tags::STRATEGY, "drs"),
        ],
    );
    w.add_instance(
        target,
        "subnet-region",
        &[
            (tags::NAME, target_name),
            (drs::TARGET_TAG_KEY, drs::TARGET_TAG_VALUE),
        ],
    );
    w.set_state(target, "stopped");
    w.drs_servers.push(SourceServer {
        id: server.into(),
        hostname: Some(hostname.into()),
        aws_instance_id: Some(id.into()),
        replication_state: "CONTINUOUS".into(),
        lag: None,
        recovery_point: None,
        replicates_back: false,
    });
}

fn settings() -> Settings {
    Settings {
        health_wait: HealthWait {
            timeout: Duration::from_secs(5),
            poll_interval: Duration::from_secs(1),
        },
        ..support::quick_settings()
    }
}

#[tokio::test]
async fn one_alarm_recovers_both_strategies_and_a_repeat_starts_no_second_job() {
    let aws = InMemoryAws::new(world(), Duration::ZERO);
    let agent = Agent::new(Ports::all(aws.clone()), settings());
    let report = agent.handle_alarm(&support::outage()).await.unwrap();

    let by_id = |id: &str| {
        report
            .instances
            .iter()
            .find(|i| i.instance_id == id)
            .unwrap()
    };
    assert_eq!(
        (by_id("i-web1").strategy, by_id("i-web1").outcome),
        (Strategy::Template, OutcomeKind::Recovered)
    );
    let db = by_id("i-db1");
    assert_eq!(
        (db.strategy, db.outcome),
        (Strategy::Drs, OutcomeKind::DrsRecoveryStarted)
    );
    assert_eq!(db.launch_target_id.as_deref(), Some("i-dbtarget"));
    aws.with(|w| {
        assert_eq!(w.drs_jobs.len(), 1);
        assert_eq!(
            w.drs_settings[SERVER].launch_into.as_deref(),
            Some("i-dbtarget")
        );
        assert_eq!(
            w.instances["i-db1"].tag(tags::DRS_JOB),
            Some(w.drs_jobs[0].0.job_id.as_str())
        );
        assert!(
            w.replacements_of("i-db1").is_empty(),
            "DRS launches into the target, not a new instance"
        );
        let body = &w.published[0].body;
        assert!(body.contains("DRS recovery started"), "{body}");
        assert!(
            body.contains("via DRS source server s-1234567890abcdef0 into i-dbtarget"),
            "{body}"
        );
        assert!(
            w.published[0]
                .subject
                .contains("1 recovered, 1 DRS started"),
            "{}",
            w.published[0].subject
        );
    });

    let again = agent.handle_alarm(&support::outage()).await.unwrap();
    let db = again
        .instances
        .iter()
        .find(|i| i.instance_id == "i-db1")
        .unwrap();
    assert_eq!(db.outcome, OutcomeKind::DrsAlreadyStarted);
    aws.with(|w| {
        assert_eq!(w.drs_jobs.len(), 1, "no second job");
        assert!(!w.calls[..].ends_with(&[Op::StartRecovery]));
    });
}

/// The outage handled once on `w`: the in-memory AWS after it, and the report.
async fn recover(w: World) -> (InMemoryAws, autorestart_core::report::AlarmReport) {
    let aws = InMemoryAws::new(w, Duration::ZERO);
    let report = Agent::new(Ports::all(aws.clone()), settings())
        .handle_alarm(&support::outage())
        .await
        .unwrap();
    (aws, report)
}

#[tokio::test]
async fn a_held_drs_instance_starts_no_job_and_a_failover_starts_one() {
    let mut w = world();
    w.instances
        .get_mut("i-db1")
        .unwrap()
        .tags
        .insert(tags::ON_LINK_LOSS.into(), "hold".into());
    let (aws, report) = recover(w).await;
    assert_eq!(outcome(&report, "i-db1").outcome, OutcomeKind::Held);
    aws.with(|w| {
        assert!(w.drs_jobs.is_empty(), "no DRS job for a held instance");
        assert!(!w.calls.contains(&Op::StartRecovery));
    });

    let outpost = autorestart_core::alarm::OutpostId::from_arn(ARN_A).unwrap();
    let failover = Agent::new(Ports::all(aws.clone()), settings())
        .failover(&outpost, autorestart_flows::budget::Budget::unbounded())
        .await
        .unwrap();
    assert_eq!(
        outcome(&failover, "i-db1").outcome,
        OutcomeKind::DrsRecoveryStarted
    );
    aws.with(|w| assert_eq!(w.drs_jobs.len(), 1));
}

#[tokio::test]
async fn a_source_stalled_by_the_dark_outpost_is_recovered_from_its_last_snapshot() {
    let taken = chrono::Utc::now() - chrono::Duration::minutes(42);
    let mut w = world();
    let server = &mut w.drs_servers[0];
    server.replication_state = "STALLED".into();
    server.lag = Some("PT42M".into());
    server.recovery_point = Some(drs::RecoveryPoint {
        snapshot_id: "pit-0123456789abcdef0".into(),
        taken_at: taken,
    });
    let (aws, report) = recover(w).await;
    let db = outcome(&report, "i-db1");
    assert_eq!(db.outcome, OutcomeKind::DrsRecoveryStarted, "{db:?}");
    aws.with(|w| {
        assert_eq!(
            w.drs_started_from[SERVER].as_deref(),
            Some("pit-0123456789abcdef0"),
            "launched from the snapshot, not a fresh one a stalled source cannot give"
        );
        let body = &w.published[0].body;
        assert!(
            body.contains("last recovery snapshot pit-0123456789abcdef0"),
            "{body}"
        );
        assert!(body.contains("(42 min before the start)"), "{body}");
    });

    // A server whose initial sync never finished has nothing to launch from: named, refused.
    let mut w = world();
    w.drs_servers[0].replication_state = "INITIAL_SYNC".into();
    let (aws, report) = recover(w).await;
    let db = outcome(&report, "i-db1");
    assert_eq!(db.outcome, OutcomeKind::Failed);
    let reason = db.reason.as_deref().unwrap_or_default();
    assert!(
        reason.contains("nothing to launch from") && reason.contains(SERVER),
        "{reason}"
    );
    aws.with(|w| assert!(w.drs_jobs.is_empty()));
}

#[tokio::test]
async fn a_conflict_on_one_server_starts_the_others_and_leaves_it_to_the_sweep() {
    let mut w = world();
    for n in 2..=4 {
        add_drs_protected(
            &mut w,
            (&format!("i-db{n}"), &format!("db-{n}")),
            (&format!("i-dbtarget{n}"), &format!("DB-{n}")),
            (&format!("s-{n:017}"), &format!("db-{n}.corp.example")),
        );
    }
    w.drs_conflicting.insert(format!("s-{:017}", 3));
    let (aws, report) = recover(w).await;
    for id in ["i-db1", "i-db2", "i-db4"] {
        assert_eq!(
            outcome(&report, id).outcome,
            OutcomeKind::DrsRecoveryStarted,
            "{id}"
        );
    }
    let db3 = outcome(&report, "i-db3");
    assert_eq!(db3.outcome, OutcomeKind::Unfinished, "{db3:?}");
    assert!(
        db3.reason
            .as_deref()
            .unwrap_or_default()
            .contains("conflict")
    );
    aws.with(|w| {
        let started: Vec<&String> = w
            .drs_jobs
            .iter()
            .flat_map(|(j, _)| &j.source_server_ids)
            .collect();
        assert_eq!(started.len(), 3, "{started:?}");
        assert!(!started.iter().any(|s| s.ends_with("3")));
    });
}

fn succeeded(job: &str, drill: bool) -> DrsLaunchResult {
    DrsLaunchResult {
        source_server_id: SERVER.into(),
        job_id: job.into(),
        succeeded: true,
        drill,
        time: "2026-11-24T03:25:00Z".parse().unwrap(),
    }
}

/// DRS launched the first job's server into its stopped target, which now runs: the job id.
fn launched_into_target(w: &mut autorestart_testkit::World) -> String {
    let job = w.drs_jobs[0].0.job_id.clone();
    w.drs_recovery_instances.insert(
        (SERVER.into(), job.clone()),
        RecoveryInstance {
            recovery_instance_id: "i-dbtarget".into(),
            ec2_instance_id: "i-dbtarget".into(),
            is_drill: false,
        },
    );
    w.instances.get_mut("i-dbtarget").unwrap().state = "running".into();
    job
}

#[tokio::test]
async fn status_shows_a_drs_recovery_proven_by_what_drs_reports() {
    let aws = InMemoryAws::new(world(), Duration::ZERO);
    let agent = Agent::new(Ports::all(aws.clone()), settings());
    agent.handle_alarm(&support::outage()).await.unwrap();
    let job = aws.with(launched_into_target);
    agent
        .handle_drs_result(&succeeded(&job, false))
        .await
        .unwrap();
    let row = |status: &autorestart_core::status::Status| {
        status
            .instances
            .iter()
            .find(|i| i.instance_id == "i-db1")
            .unwrap()
            .chain
            .clone()
    };
    let chain = row(&agent.status(None).await.unwrap());
    assert_eq!(chain.len(), 1, "{chain:?}");
    assert_eq!(chain[0].instance_id.as_str(), "i-dbtarget");
    assert_eq!(
        chain[0].proven,
        Some(true),
        "DRS names it the job's recovery instance"
    );
    // Without DRS's record the same tags are a claim.
    aws.with(|w| w.drs_recovery_instances.clear());
    let chain = row(&agent.status(None).await.unwrap());
    assert_eq!(chain[0].proven, Some(false), "{chain:?}");
}

#[tokio::test]
async fn a_launch_success_moves_membership_to_the_target_and_a_repeat_changes_nothing() {
    let aws = InMemoryAws::new(world(), Duration::ZERO);
    let agent = Agent::new(Ports::all(aws.clone()), settings());
    agent.handle_alarm(&support::outage()).await.unwrap();
    let job = aws.with(|w| {
        let job = launched_into_target(w);
        w.published.clear();
        job
    });

    let report = agent
        .handle_drs_result(&succeeded(&job, false))
        .await
        .unwrap();
    assert_eq!(report.original_id.as_deref(), Some("i-db1"));
    assert_eq!(report.recovery_instance_id.as_deref(), Some("i-dbtarget"));
    assert!(
        report
            .target_groups
            .iter()
            .all(|t| t.registered && t.deregistered)
    );
    aws.with(|w| {
        let members: Vec<&str> = w.target_groups[TG]
            .1
            .iter()
            .map(|t| t.id.as_str())
            .collect();
        assert!(
            members.contains(&"i-dbtarget") && !members.contains(&"i-db1"),
            "{members:?}"
        );
        assert_eq!(
            w.instances["i-db1"].tag(tags::REPLACED_BY),
            Some("i-dbtarget")
        );
        assert_eq!(
            w.instances["i-dbtarget"].tag(tags::REPLACEMENT_OF),
            Some("i-db1")
        );
        assert_eq!(w.published.len(), 1);
        assert!(w.published[0].subject.contains("DRS recovery launched"));
    });

    let (groups, instances) = aws.with(|w| (w.target_groups.clone(), w.instances.clone()));
    let again = agent
        .handle_drs_result(&succeeded(&job, false))
        .await
        .unwrap();
    assert!(again.message_id.is_none(), "reported already");
    aws.with(|w| {
        assert_eq!(w.target_groups, groups);
        assert_eq!(w.instances, instances);
        assert_eq!(w.published.len(), 1);
    });
}

#[tokio::test]
async fn a_launch_failure_is_notified_with_the_job_log_reason() {
    let aws = InMemoryAws::new(world(), Duration::ZERO);
    aws.with(|w| {
        w.drs_failures.insert(
            "drsjob-1".into(),
            vec![JobFailure {
                event: "LAUNCH_FAILED".into(),
                raw_error: Some("InsufficientInstanceCapacity for r5.2xlarge".into()),
            }],
        )
    });
    let agent = Agent::new(Ports::all(aws.clone()), settings());
    let mut failed = succeeded("drsjob-1", false);
    failed.succeeded = false;
    let report = agent.handle_drs_result(&failed).await.unwrap();
    assert!(
        report
            .reason
            .as_deref()
            .unwrap()
            .contains("LAUNCH_FAILED: InsufficientInstanceCapacity for r5.2xlarge")
    );
    aws.with(|w| {
        assert!(w.published[0].subject.contains("DRS recovery FAILED"));
        let body = &w.published[0].body;
        assert!(
            body.contains("new DRS job for it (attempt 2 of 3;"),
            "the advice says what happens next: {body}"
        );
        assert!(!w.calls.contains(&Op::RegisterTargets));
    });
}

#[tokio::test]
async fn a_drill_result_never_touches_load_balancers_or_originals() {
    let aws = InMemoryAws::new(world(), Duration::ZERO);
    aws.with(|w| {
        w.drs_recovery_instances.insert(
            (SERVER.into(), "drsjob-drill".into()),
            RecoveryInstance {
                recovery_instance_id: "i-drill".into(),
                ec2_instance_id: "i-drill".into(),
                is_drill: true,
            },
        )
    });
    let (groups, instances) = aws.with(|w| (w.target_groups.clone(), w.instances.clone()));
    let agent = Agent::new(Ports::all(aws.clone()), settings());
    let report = agent
        .handle_drs_result(&succeeded("drsjob-drill", true))
        .await
        .unwrap();
    assert!(report.drill && report.target_groups.is_empty());
    aws.with(|w| {
        assert_eq!(w.target_groups, groups);
        assert_eq!(w.instances, instances);
        assert!(w.published[0].subject.contains("DRS drill launched"));
        assert!(!w.calls.contains(&Op::RegisterTargets) && !w.calls.contains(&Op::CreateTags));
    });
}

#[tokio::test]
async fn notify_only_reports_a_launch_success_without_tagging_or_moving() {
    let aws = InMemoryAws::new(world(), Duration::ZERO);
    aws.with(|w| {
        w.instances
            .get_mut("i-db1")
            .unwrap()
            .tags
            .insert(tags::DRS_JOB.into(), "drsjob-1".into());
        w.drs_recovery_instances.insert(
            (SERVER.into(), "drsjob-1".into()),
            RecoveryInstance {
                recovery_instance_id: "i-dbtarget".into(),
                ec2_instance_id: "i-dbtarget".into(),
                is_drill: false,
            },
        );
    });
    let (groups, instances) = aws.with(|w| (w.target_groups.clone(), w.instances.clone()));
    let notify_only = Settings {
        mode: autorestart_core::settings::Mode::NotifyOnly,
        ..settings()
    };
    let agent = Agent::new(Ports::all(aws.clone()), notify_only);
    let report = agent
        .handle_drs_result(&succeeded("drsjob-1", false))
        .await
        .unwrap();
    assert!(report.reason.as_deref().unwrap().contains("notify-only"));
    aws.with(|w| {
        assert_eq!(w.target_groups, groups);
        assert_eq!(
            w.instances, instances,
            "no tag written, not even the reported marker"
        );
        assert_eq!(w.published.len(), 1);
    });
}

fn outcome<'r>(
    report: &'r autorestart_core::report::AlarmReport,
    id: &str,
) -> &'r autorestart_core::report::InstanceReport {
    report
        .instances
        .iter()
        .find(|i| i.instance_id == id)
        .unwrap()
}

/// Ends DRS job `index` (0-based): launched into the target when `launched`, else failed.
fn end_job(w: &mut World, index: usize, launched: bool) -> String {
    let job = w.drs_jobs[index].0.job_id.clone();
    w.drs_jobs[index].1 = true;
    if launched {
        w.drs_recovery_instances.insert(
            (SERVER.into(), job.clone()),
            RecoveryInstance {
                recovery_instance_id: "i-dbtarget".into(),
                ec2_instance_id: "i-dbtarget".into(),
                is_drill: false,
            },
        );
        w.set_state("i-dbtarget", "running");
    }
    job
}

#[tokio::test]
async fn a_job_of_this_incident_is_found_by_its_job_tag_when_the_original_never_recorded_it() {
    for launched in [true, false] {
        let aws = InMemoryAws::new(world(), Duration::ZERO);
        let agent = Agent::new(Ports::all(aws.clone()), settings());
        agent.handle_alarm(&support::outage()).await.unwrap();
        // The record on the original was lost (a crash between StartRecovery and CreateTags),
        // and the job has finished since.
        let job = aws.with(|w| {
            let tags = &mut w.instances.get_mut("i-db1").unwrap().tags;
            tags.remove(tags::DRS_JOB);
            tags.remove(tags::DRS_ATTEMPT);
            end_job(w, 0, launched)
        });
        let again = agent.handle_alarm(&support::outage()).await.unwrap();
        let db = outcome(&again, "i-db1");
        aws.with(|w| {
            if launched {
                assert_eq!(db.outcome, OutcomeKind::DrsAlreadyStarted, "{db:?}");
                assert_eq!(w.drs_jobs.len(), 1, "no second job");
                assert_eq!(w.instances["i-db1"].tag(tags::DRS_JOB), Some(job.as_str()));
            } else {
                // It failed for this server: the next attempt, counted from DRS's own jobs.
                assert_eq!(db.outcome, OutcomeKind::DrsRecoveryStarted, "{db:?}");
                assert_eq!(w.drs_jobs.len(), 2);
                assert_eq!(w.instances["i-db1"].tag(tags::DRS_ATTEMPT), Some("2"));
            }
        });
    }
}

#[tokio::test]
async fn a_failure_no_retry_gets_past_stops_the_retries_when_the_original_never_recorded_its_job() {
    let aws = InMemoryAws::new(world(), Duration::ZERO);
    let agent = Agent::new(Ports::all(aws.clone()), settings());
    agent.handle_alarm(&support::outage()).await.unwrap();
    // The record on the original was lost, and its job failed with a configuration error.
    aws.with(|w| {
        let tags = &mut w.instances.get_mut("i-db1").unwrap().tags;
        tags.remove(tags::DRS_JOB);
        tags.remove(tags::DRS_ATTEMPT);
        let job = end_job(w, 0, false);
        w.drs_failures.insert(
            job,
            vec![JobFailure {
                event: "LAUNCH_FAILED".into(),
                raw_error: Some("InvalidParameterCombination: the instance type does not support the AMI's architecture".into()),
            }],
        );
    });
    let again = agent.handle_alarm(&support::outage()).await.unwrap();
    let db = outcome(&again, "i-db1");
    assert!(
        db.reason
            .as_deref()
            .is_some_and(|r| r.contains("failed with InvalidParameterCombination")
                && r.contains("not retried")),
        "{db:?}"
    );
    assert_eq!(aws.with(|w| w.drs_jobs.len()), 1, "no second job");
}

fn subjects(aws: &InMemoryAws, containing: &str) -> usize {
    aws.with(|w| {
        w.published
            .iter()
            .filter(|n| n.subject.contains(containing))
            .count()
    })
}

#[tokio::test]
async fn drs_that_cannot_be_read_leaves_the_template_instances_recovering() {
    for (code, says) in [
        (
            "UninitializedAccountException",
            "not initialised in this Region",
        ),
        ("AccessDeniedException", "DRS could not be read"),
        ("ThrottlingException", "the next sweep tries DRS again"),
    ] {
        let aws = InMemoryAws::new(world(), Duration::ZERO);
        // Throttled every time the agent asks (a throttled read is asked again).
        let times = if code == "ThrottlingException" {
            autorestart_flows::patient::MAX_TRIES as usize
        } else {
            1
        };
        aws.with(|w| {
            w.failures.insert(
                Op::DescribeSourceServers,
                vec![AwsError::from_code("drs:DescribeSourceServers", code, "emulated"); times],
            )
        });
        let agent = Agent::new(Ports::all(aws.clone()), settings());
        let report = agent.handle_alarm(&support::outage()).await.unwrap();
        assert_eq!(
            outcome(&report, "i-web1").outcome,
            OutcomeKind::Recovered,
            "{code}"
        );
        let db = outcome(&report, "i-db1");
        assert!(db.failed(), "{code}: {db:?}");
        let reason = db.reason.as_deref().unwrap_or_default();
        assert!(reason.contains(says), "{code}: {reason}");
        aws.with(|w| {
            assert_eq!(w.replacements_of("i-web1").len(), 1, "{code}");
            assert!(!w.calls.contains(&Op::StartRecovery), "{code}");
            assert!(
                w.published[0].body.contains(says),
                "{code}: the notice says why"
            );
        });
    }
}

#[tokio::test]
async fn a_failed_job_is_retried_with_a_new_one_until_the_bound_then_reported() {
    let aws = InMemoryAws::new(world(), Duration::ZERO);
    let agent = Agent::new(Ports::all(aws.clone()), settings());
    agent.handle_alarm(&support::outage()).await.unwrap();
    for attempt in 2..=drs::MAX_DRS_ATTEMPTS {
        let failed = aws.with(|w| end_job(w, attempt as usize - 2, false));
        let report = agent.sweep().await.unwrap();
        assert!(report.errors.is_empty(), "{:?}", report.errors);
        aws.with(|w| {
            assert_eq!(
                w.drs_jobs.len(),
                attempt as usize,
                "a new job after {failed} failed"
            );
            let db = &w.instances["i-db1"];
            assert_eq!(
                db.tag(tags::DRS_ATTEMPT),
                Some(attempt.to_string().as_str())
            );
            assert_eq!(
                db.tag(tags::DRS_JOB),
                Some(w.drs_jobs.last().unwrap().0.job_id.as_str())
            );
        });
        assert_eq!(
            subjects(&aws, "DRS recovery FAILED"),
            attempt as usize - 1,
            "each failure said once"
        );
    }
    aws.with(|w| end_job(w, drs::MAX_DRS_ATTEMPTS as usize - 1, false));
    let report = agent.sweep().await.unwrap();
    let last = aws.with(|w| {
        w.published
            .iter()
            .rev()
            .find(|n| n.subject.contains("DRS recovery FAILED"))
            .unwrap()
            .body
            .clone()
    });
    assert!(last.contains("this was attempt 3 of 3"), "{last}");
    let db = outcome(&report.recoveries[0], "i-db1");
    assert!(db.reason.as_deref().unwrap().contains("3 times"), "{db:?}");
    assert_eq!(aws.with(|w| w.drs_jobs.len()), 3, "no fourth job");
    let said = aws.with(|w| w.published.len());
    let again = agent.sweep().await.unwrap();
    assert_eq!(aws.with(|w| w.drs_jobs.len()), 3);
    assert_eq!(
        again.recoveries[0].notification,
        autorestart_core::report::Notification::AlreadyReported
    );
    assert_eq!(
        aws.with(|w| w.published.len()),
        said,
        "the same failure is not said on every sweep"
    );
}

#[tokio::test]
async fn a_failure_every_launch_meets_again_is_not_retried() {
    let aws = InMemoryAws::new(world(), Duration::ZERO);
    let agent = Agent::new(Ports::all(aws.clone()), settings());
    agent.handle_alarm(&support::outage()).await.unwrap();
    let job = aws.with(|w| {
        let job = w.drs_jobs[0].0.job_id.clone();
        w.drs_failures.insert(
            job.clone(),
            vec![JobFailure {
                event: "LAUNCH_FAILED".into(),
                raw_error: Some(
                    "An error occurred (Unsupported) when calling the RunInstances operation: The requested configuration is currently not supported.".into(),
                ),
            }],
        );
        end_job(w, 0, false);
        job
    });
    let report = agent.sweep().await.unwrap();
    assert_eq!(aws.with(|w| w.drs_jobs.len()), 1, "no second job");
    let db = outcome(&report.recoveries[0], "i-db1");
    let reason = db.reason.as_deref().unwrap();
    assert!(
        reason.contains(&format!("DRS job {job} failed with Unsupported"))
            && reason.contains("not retried"),
        "{reason}"
    );
    let failed = aws.with(|w| {
        w.published
            .iter()
            .find(|n| n.subject.contains("DRS recovery FAILED"))
            .map(|n| n.body.clone())
    });
    let body = failed.expect("the failure is said");
    assert!(
        body.contains("not retried: EC2 answers Unsupported"),
        "{body}"
    );
    // Sweeps after it start nothing either.
    agent.sweep().await.unwrap();
    assert_eq!(aws.with(|w| w.drs_jobs.len()), 1);
}

#[tokio::test]
async fn a_job_that_runs_too_long_is_reported_stuck_once() {
    let aws = InMemoryAws::new(world(), Duration::ZERO);
    let agent = Agent::new(Ports::all(aws.clone()), settings());
    agent.handle_alarm(&support::outage()).await.unwrap();
    agent.sweep().await.unwrap();
    assert_eq!(subjects(&aws, "STUCK"), 0, "not within the bound");
    aws.with(|w| {
        let job = w.drs_jobs[0].0.job_id.clone();
        w.drs_job_created
            .insert(job, chrono::Utc::now() - chrono::Duration::minutes(61));
    });
    let report = agent.sweep().await.unwrap();
    assert!(
        report.drs_results.iter().any(|r| r.stuck),
        "{:?}",
        report.drs_results
    );
    assert_eq!(subjects(&aws, "DRS recovery STUCK"), 1);
    let body = aws.with(|w| w.published.last().unwrap().body.clone());
    assert!(
        body.contains("more than 60 minutes") && body.contains("reported once"),
        "{body}"
    );
    agent.sweep().await.unwrap();
    assert_eq!(subjects(&aws, "DRS recovery STUCK"), 1, "once");
    assert_eq!(
        aws.with(|w| w.drs_jobs.len()),
        1,
        "no second job while it runs"
    );
}

#[tokio::test]
async fn a_lost_launch_event_is_finished_by_the_sweep_after_the_outpost_is_back() {
    let aws = InMemoryAws::new(world(), Duration::ZERO);
    let agent = Agent::new(Ports::all(aws.clone()), settings());
    agent.handle_alarm(&support::outage()).await.unwrap();
    aws.with(|w| {
        end_job(w, 0, true);
        let mut ok = support::outage();
        ok.state = AlarmState::Ok;
        w.set_alarm(ok);
    });
    // The launch event never came; the Outpost is back.
    let report = agent.sweep().await.unwrap();
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert!(report.drs_results.iter().any(|r| r.succeeded), "{report:?}");
    aws.with(|w| {
        assert_eq!(
            w.instances["i-db1"].tag(tags::REPLACED_BY),
            Some("i-dbtarget")
        );
        assert_eq!(
            w.instances["i-dbtarget"].tag(tags::REPLACEMENT_OF),
            Some("i-db1")
        );
        let members: Vec<&str> = w.target_groups[TG]
            .1
            .iter()
            .map(|t| t.id.as_str())
            .collect();
        assert!(
            members.contains(&"i-dbtarget") && !members.contains(&"i-db1"),
            "{members:?}"
        );
        assert_eq!(
            w.instances["i-db1"].state, "stopped",
            "then fenced in the same sweep"
        );
    });
}

#[tokio::test]
async fn a_drs_link_drs_cannot_confirm_now_is_left_for_later_and_the_rest_is_fenced() {
    let aws = InMemoryAws::new(world(), Duration::ZERO);
    let agent = Agent::new(Ports::all(aws.clone()), settings());
    agent.handle_alarm(&support::outage()).await.unwrap();
    let mut ok = support::outage();
    ok.state = AlarmState::Ok;
    aws.with(|w| {
        end_job(w, 0, true);
        // Recorded as the DRS event handler records a launch.
        w.instances
            .get_mut("i-db1")
            .unwrap()
            .tags
            .insert(tags::REPLACED_BY.into(), "i-dbtarget".into());
        w.instances
            .get_mut("i-dbtarget")
            .unwrap()
            .tags
            .insert(tags::REPLACEMENT_OF.into(), "i-db1".into());
        w.set_alarm(ok.clone());
        let throttled = AwsError::from_code(
            "drs:DescribeSourceServers",
            "ThrottlingException",
            "Rate exceeded",
        );
        w.failures
            .insert(Op::DescribeSourceServers, vec![throttled]);
    });
    let report = agent.handle_alarm(&ok).await.unwrap();
    let fencing = report.fencing.unwrap();
    let fenced: Vec<&str> = fencing
        .fenced
        .iter()
        .map(|f| f.instance_id.as_str())
        .collect();
    assert_eq!(fenced, ["i-web1"], "{fencing:?}");
    assert!(
        fencing.unproven.is_empty(),
        "unknown is no claim: {fencing:?}"
    );
    aws.with(|w| assert_eq!(w.instances["i-db1"].state, "running"));
    // DRS answers again: the link is proven and followed to its live copy (which is not in
    // the original's target group yet, so the original waits for it; no claim either way).
    let again = agent.handle_alarm(&ok).await.unwrap().fencing.unwrap();
    assert!(again.unproven.is_empty(), "{again:?}");
    assert_eq!(again.held.len(), 1, "{again:?}");
    assert_eq!(again.held[0].instance_id, "i-db1");
    assert!(
        again.held[0].reason.contains("its live copy i-dbtarget"),
        "{again:?}"
    );
}

#[tokio::test]
async fn a_failure_is_reported_once_per_source_server() {
    let mut w = world();
    add_drs_protected(
        &mut w,
        ("i-db2", "db-2"),
        ("i-db2target", "db-2"),
        ("s-2", "db-2"),
    );
    let aws = InMemoryAws::new(w, Duration::ZERO);
    let agent = Agent::new(Ports::all(aws.clone()), settings());
    agent.handle_alarm(&support::outage()).await.unwrap();
    aws.with(|w| {
        assert_eq!(w.drs_jobs.len(), 1, "one job for both servers");
        end_job(w, 0, false);
        let mut ok = support::outage();
        ok.state = AlarmState::Ok;
        w.set_alarm(ok);
    });
    agent.sweep().await.unwrap();
    let failed: Vec<String> = aws.with(|w| {
        w.published
            .iter()
            .filter(|n| n.subject.contains("DRS recovery FAILED"))
            .map(|n| n.subject.clone())
            .collect()
    });
    assert_eq!(failed.len(), 2, "{failed:?}");
    // Named by the instances people know (their source servers are in the text).
    assert!(
        failed.iter().any(|s| s.contains("db-1")) && failed.iter().any(|s| s.contains("db-2")),
        "{failed:?}"
    );
    agent.sweep().await.unwrap();
    agent.sweep().await.unwrap();
    assert_eq!(
        subjects(&aws, "DRS recovery FAILED"),
        2,
        "each server's failure once"
    );
}

#[tokio::test]
async fn a_drill_is_not_the_recovery_and_never_moves_membership() {
    let aws = InMemoryAws::new(world(), Duration::ZERO);
    aws.with(|w| {
        w.drs_jobs.push((
            drs::ActiveJob {
                job_id: "drsjob-console-drill".into(),
                source_server_ids: vec![SERVER.into()],
                drill: true,
                ..drs::ActiveJob::default()
            },
            false,
        ))
    });
    let agent = Agent::new(Ports::all(aws.clone()), settings());
    let report = agent.handle_alarm(&support::outage()).await.unwrap();
    let db = outcome(&report, "i-db1");
    assert_eq!(db.outcome, OutcomeKind::Unfinished, "{db:?}");
    assert!(
        db.reason
            .as_deref()
            .unwrap()
            .contains("a drill is not the recovery")
    );
    assert!(!aws.with(|w| w.calls.contains(&Op::StartRecovery)));

    // The drill's launch is reported by DRS as a drill: no membership moves, even when its
    // event does not say so.
    let groups = aws.with(|w| {
        w.drs_recovery_instances.insert(
            (SERVER.into(), "drsjob-console-drill".into()),
            RecoveryInstance {
                recovery_instance_id: "i-drillcopy".into(),
                ec2_instance_id: "i-drillcopy".into(),
                is_drill: true,
            },
        );
        w.drs_jobs[0].1 = true;
        w.target_groups.clone()
    });
    let result = agent
        .handle_drs_result(&succeeded("drsjob-console-drill", false))
        .await
        .unwrap();
    assert!(result.drill && result.target_groups.is_empty());
    assert_eq!(aws.with(|w| w.target_groups.clone()), groups);

    // With the drill over, the recovery starts.
    let report = agent.handle_alarm(&support::outage()).await.unwrap();
    assert_eq!(
        outcome(&report, "i-db1").outcome,
        OutcomeKind::DrsRecoveryStarted
    );
}

#[tokio::test]
async fn the_same_failure_is_said_once_per_outage_and_again_in_the_next() {
    let aws = InMemoryAws::new(world(), Duration::ZERO);
    let denied = || {
        AwsError::from_code(
            "drs:DescribeSourceServers",
            "AccessDeniedException",
            "emulated",
        )
    };
    aws.with(|w| {
        w.failures.insert(
            Op::DescribeSourceServers,
            vec![denied(), denied(), denied()],
        )
    });
    let agent = Agent::new(Ports::all(aws.clone()), settings());
    agent.handle_alarm(&support::outage()).await.unwrap();
    assert_eq!(aws.with(|w| w.published.len()), 1);
    let again = agent.handle_alarm(&support::outage()).await.unwrap();
    assert_eq!(
        again.notification,
        autorestart_core::report::Notification::AlreadyReported,
        "the same failure in the same outage is said once"
    );
    // Weeks later the Outpost fails again, the same way: a new outage, said again.
    let mut later = support::outage();
    later.state_since = "2026-12-20T08:00:00Z".parse().unwrap();
    aws.with(|w| w.set_alarm(later.clone()));
    agent.handle_alarm(&later).await.unwrap();
    assert_eq!(aws.with(|w| w.published.len()), 2);
}

#[tokio::test]
async fn a_start_recovery_whose_answer_was_lost_is_found_in_drs_and_never_started_twice() {
    let mut w = world();
    // DRS started the job; the answer never arrived.
    w.lost_answers.insert(Op::StartRecovery, vec![true]);
    let (aws, report) = recover(w).await;
    let db = outcome(&report, "i-db1");
    assert_eq!(db.outcome, OutcomeKind::DrsRecoveryStarted, "{db:?}");
    aws.with(|w| {
        assert_eq!(w.drs_jobs.len(), 1, "no second job");
        assert_eq!(
            db.drs_job_id.as_deref(),
            Some(w.drs_jobs[0].0.job_id.as_str()),
            "the job DRS shows is the one reported"
        );
        assert_eq!(
            w.calls.iter().filter(|c| **c == Op::StartRecovery).count(),
            1
        );
    });
}

#[tokio::test(start_paused = true)]
async fn a_drs_result_waits_for_health_no_longer_than_its_invocation() {
    let aws = InMemoryAws::new(world(), Duration::ZERO);
    let settings = Settings {
        health_wait: HealthWait {
            timeout: Duration::from_secs(900),
            poll_interval: Duration::from_secs(5),
        },
        ..settings()
    };
    let agent = Agent::new(Ports::all(aws.clone()), settings);
    agent.handle_alarm(&support::outage()).await.unwrap();
    let job = aws.with(|w| {
        let job = launched_into_target(w);
        // The recovered server never turns healthy: only the deadline ends the wait.
        w.default_health = Some("unhealthy".into());
        job
    });
    let started = tokio::time::Instant::now();
    let budget = autorestart_flows::budget::Budget::from_now(Duration::from_secs(90));
    let report = budget
        .scope(agent.handle_drs_result(&succeeded(&job, false)))
        .await
        .unwrap();
    let took = started.elapsed();
    assert!(took <= Duration::from_secs(90), "took {took:?}");
    assert!(!report.target_groups.is_empty());
    assert!(
        report.target_groups.iter().all(|t| !t.healthy),
        "{report:?}"
    );
}
