//! The DRS strategy over the real SDK adapters with mocked EC2, DRS and SNS: each scenario
//! describes a world, the mocks answer from it, and the test reads what was sent.

use autorestart_core::outcome::OutcomeKind;
use autorestart_core::tags::Strategy;
use aws_sdk_drs::operation::describe_source_servers::DescribeSourceServersOutput;
use aws_sdk_drs::types::{
    DataReplicationState, IdentificationHints, SourceProperties, SourceServer,
};
use aws_sdk_ec2::operation::describe_instances::DescribeInstancesOutput;
use aws_sdk_ec2::types::{InstanceStateName, Reservation};
use aws_sdk_elasticloadbalancingv2::operation::describe_target_groups::DescribeTargetGroupsOutput;
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use std::sync::{Arc, Mutex};

mod support;
use support::drs_world::*;

#[tokio::test]
async fn an_unconfigured_server_is_configured_in_two_steps_then_recovered_and_the_job_recorded() {
    let (report, sent) = run(scenario(1)).await;
    let i = only(&report);
    assert_eq!(
        (i.strategy, i.outcome),
        (Strategy::Drs, OutcomeKind::DrsRecoveryStarted),
        "{i:?}"
    );
    assert_eq!(
        i.launch_target_id.as_deref(),
        Some("i-0000000000000a000"),
        "matched by normalised name"
    );
    let server = "s-00000000000000000";
    assert_eq!(
        sent.updates,
        [
            format!("{server} prepare"),
            format!("{server} launch-into i-0000000000000a000")
        ],
        "preparation first, in its own update"
    );
    assert_eq!(sent.jobs, [1]);
    let (ids, tags) = &sent.tags[0];
    assert_eq!(ids, &["i-00000000000000000".to_owned()]);
    assert!(tags.contains(&(
        "autorestart:drs-job".into(),
        "drsjob-00000000000000001".into()
    )));
    assert!(sent.published[0].contains("DRS recovery started"));
}

#[tokio::test]
async fn an_already_configured_server_gets_no_update() {
    let mut s = scenario(1);
    s.configured
        .insert("s-00000000000000000".into(), "i-0000000000000a000".into());
    let (report, sent) = run(s).await;
    assert_eq!(only(&report).outcome, OutcomeKind::DrsRecoveryStarted);
    assert!(sent.updates.is_empty(), "{:?}", sent.updates);
    assert_eq!(sent.jobs, [1]);
}

#[tokio::test]
async fn replication_not_continuous_is_reported_with_state_and_lag_and_nothing_starts() {
    let mut s = scenario(1);
    s.servers[0].3 = DataReplicationState::Stalled;
    let (report, sent) = run(s).await;
    let i = only(&report);
    assert_eq!(i.outcome, OutcomeKind::Failed);
    let reason = i.reason.as_deref().unwrap();
    assert!(
        reason.contains("nothing to launch from") && reason.contains("STALLED (lag PT2H)"),
        "{reason}"
    );
    assert!(sent.jobs.is_empty() && sent.updates.is_empty());
    assert!(sent.published[0].contains("NOT RECOVERED"));
}

#[tokio::test]
async fn a_stalled_server_with_a_snapshot_recovers_from_it() {
    let mut s = scenario(1);
    s.servers[0].3 = DataReplicationState::Stalled;
    s.snapshots.insert(
        "s-00000000000000000".into(),
        (
            "pit-00000000000000001".into(),
            "2026-11-24T02:50:00Z".into(),
        ),
    );
    let (report, sent) = run(s).await;
    assert_eq!(only(&report).outcome, OutcomeKind::DrsRecoveryStarted);
    assert_eq!(
        sent.started_from,
        [(
            "s-00000000000000000".to_owned(),
            Some("pit-00000000000000001".to_owned())
        )]
    );
    assert!(
        sent.published[0]
            .contains("last recovery snapshot pit-00000000000000001 taken 2026-11-24 02:50:00 UTC"),
        "{}",
        sent.published[0]
    );
}

#[tokio::test]
async fn a_running_target_is_refused() {
    let mut s = scenario(1);
    s.targets[0].2 = InstanceStateName::Running;
    let (report, sent) = run(s).await;
    let reason = only(&report).reason.clone().unwrap();
    assert!(reason.contains("is running, not stopped"), "{reason}");
    assert!(sent.jobs.is_empty());
}

#[tokio::test]
async fn duplicate_target_names_are_reported_by_name() {
    let mut s = scenario(1);
    s.targets.push((
        "i-0000000000000b000".into(),
        "app-0".into(),
        InstanceStateName::Stopped,
    ));
    let (report, sent) = run(s).await;
    let reason = only(&report).reason.clone().unwrap();
    assert!(
        reason.contains("\"app-0\" (i-0000000000000a000, i-0000000000000b000)"),
        "{reason}"
    );
    assert!(sent.jobs.is_empty());
}

#[tokio::test]
async fn more_than_one_hundred_servers_start_two_jobs() {
    let (report, sent) = run(scenario(130)).await;
    assert!(
        report
            .instances
            .iter()
            .all(|i| i.outcome == OutcomeKind::DrsRecoveryStarted)
    );
    assert_eq!(sent.jobs, [100, 30]);
    assert_eq!(sent.tags.len(), 2, "one tagging call per job");
    let jobs: std::collections::BTreeSet<_> = report
        .instances
        .iter()
        .map(|i| i.drs_job_id.clone())
        .collect();
    assert_eq!(jobs.len(), 2);
}

#[tokio::test]
async fn a_job_already_running_in_drs_is_not_started_again_and_is_recorded() {
    let mut s = scenario(1);
    s.running_jobs.push((
        "drsjob-running0000000".into(),
        vec!["s-00000000000000000".into()],
    ));
    let (report, sent) = run(s).await;
    let i = only(&report);
    assert_eq!(i.outcome, OutcomeKind::DrsAlreadyStarted);
    assert_eq!(i.drs_job_id.as_deref(), Some("drsjob-running0000000"));
    assert!(sent.jobs.is_empty() && sent.updates.is_empty());
    assert!(
        sent.tags[0]
            .1
            .contains(&("autorestart:drs-job".into(), "drsjob-running0000000".into()))
    );
}

#[tokio::test]
async fn throttling_after_the_sdk_retries_fails_the_batch_as_retryable() {
    let mut s = scenario(2);
    s.throttled = true;
    let (report, sent) = run(s).await;
    for i in &report.instances {
        assert_eq!(i.outcome, OutcomeKind::Failed);
        assert_eq!(
            i.error_kind,
            Some(autorestart_core::error::ErrorKind::Throttled)
        );
        assert!(
            i.advice.as_deref().unwrap().contains("retries"),
            "{:?}",
            i.advice
        );
    }
    // No job recorded for a job that did not start; only that the failure was reported.
    assert!(
        sent.tags.iter().all(|(_, tags)| tags
            .iter()
            .all(|(k, _)| k == "autorestart:outcome-reported")),
        "{:?}",
        sent.tags
    );
    assert_eq!(
        sent.tags.len(),
        2,
        "each reason names its own source server"
    );
}

mod launch_results {
    use super::*;
    use autorestart_core::report::DrsLaunchResult;
    use aws_sdk_drs::operation::describe_job_log_items::DescribeJobLogItemsOutput;
    use aws_sdk_drs::operation::describe_recovery_instances::DescribeRecoveryInstancesOutput;
    use aws_sdk_drs::types::{JobLog, JobLogEvent, JobLogEventData, RecoveryInstance};

    const SERVER: &str = "s-00000000000000000";

    fn log(event: JobLogEvent, server: &str, raw: Option<&str>) -> JobLog {
        JobLog::builder()
            .event(event)
            .event_data(
                JobLogEventData::builder()
                    .source_server_id(server)
                    .set_raw_error(raw.map(str::to_owned))
                    .build(),
            )
            .build()
    }

    async fn handle(result: DrsLaunchResult) -> (autorestart_core::report::DrsReport, Sent) {
        let sent = Arc::new(Mutex::new(Sent::default()));
        let original = mock!(aws_sdk_ec2::Client::describe_instances)
            .match_requests(|r| {
                r.filters()
                    .iter()
                    .any(|f| f.name() == Some("tag:autorestart:drs-job"))
            })
            .then_output(|| {
                let tags = [
                    ("autorestart:enabled", "true"),
                    ("autorestart:strategy", "drs"),
                    ("autorestart:drs-job", "drsjob-1"),
                    ("autorestart:incident", "inc-1"),
                ];
                DescribeInstancesOutput::builder()
                    .reservations(
                        Reservation::builder()
                            .instances(ec2_instance(
                                "i-00000000000000000",
                                "app-0",
                                "subnet-a",
                                InstanceStateName::Running,
                                &tags,
                            ))
                            .build(),
                    )
                    .build()
            });
        let recovered = mock!(aws_sdk_ec2::Client::describe_instances)
            .match_requests(|r| r.filters().iter().any(|f| f.name() == Some("instance-id")))
            .then_output(|| {
                let tags = [("AWSDRS", "AllowLaunchingIntoThisInstance")];
                DescribeInstancesOutput::builder()
                    .reservations(
                        Reservation::builder()
                            .instances(ec2_instance(
                                "i-0000000000000a000",
                                "APP-0",
                                "subnet-r",
                                InstanceStateName::Running,
                                &tags,
                            ))
                            .build(),
                    )
                    .build()
            });
        let subnets = subnets_rule();
        let create_tags = tag_recorder(&sent);
        let ec2 = mock_client!(
            aws_sdk_ec2,
            RuleMode::MatchAny,
            [&original, &recovered, &subnets, &create_tags]
        );

        let servers = mock!(aws_sdk_drs::Client::describe_source_servers)
            .match_requests(|r| {
                r.filters().map(|f| f.source_server_ids()) == Some(&[SERVER.to_owned()][..])
            })
            .then_output(|| {
                DescribeSourceServersOutput::builder()
                    .items(
                        SourceServer::builder()
                            .source_server_id(SERVER)
                            .source_properties(
                                SourceProperties::builder()
                                    .identification_hints(
                                        IdentificationHints::builder()
                                            .aws_instance_id("i-00000000000000000")
                                            .build(),
                                    )
                                    .build(),
                            )
                            .build(),
                    )
                    .build()
            });
        let instances = mock!(aws_sdk_drs::Client::describe_recovery_instances).then_output(|| {
            DescribeRecoveryInstancesOutput::builder()
                .items(
                    RecoveryInstance::builder()
                        .job_id("drsjob-older")
                        .ec2_instance_id("i-stale")
                        .build(),
                )
                .items(
                    RecoveryInstance::builder()
                        .job_id("drsjob-1")
                        .recovery_instance_id("i-0000000000000a000")
                        .ec2_instance_id("i-0000000000000a000")
                        .is_drill(false)
                        .build(),
                )
                .build()
        });
        let first_page = mock!(aws_sdk_drs::Client::describe_job_log_items)
            .match_requests(|r| r.job_id() == Some("drsjob-1") && r.next_token().is_none())
            .then_output(|| {
                DescribeJobLogItemsOutput::builder()
                    .items(log(JobLogEvent::JobStart, SERVER, None))
                    .items(log(JobLogEvent::ConversionEnd, SERVER, None))
                    .next_token("p2")
                    .build()
            });
        let second_page = mock!(aws_sdk_drs::Client::describe_job_log_items)
            .match_requests(|r| r.next_token() == Some("p2"))
            .then_output(|| {
                DescribeJobLogItemsOutput::builder()
                    .items(log(JobLogEvent::LaunchFailed, "s-someoneelse00000", Some("not ours")))
                    .items(log(
                        JobLogEvent::LaunchFailed,
                        SERVER,
                        Some("InvalidParameterValue: target instance i-0000000000000a000 is not stopped"),
                    ))
                    .build()
            });
        let drs = mock_client!(
            aws_sdk_drs,
            RuleMode::MatchAny,
            [&servers, &instances, &first_page, &second_page]
        );
        let groups = mock!(aws_sdk_elasticloadbalancingv2::Client::describe_target_groups)
            .then_output(|| DescribeTargetGroupsOutput::builder().build());
        let elb = mock_client!(aws_sdk_elasticloadbalancingv2, [&groups]);
        let publish = publish_recorder(&sent);
        let sns = mock_client!(aws_sdk_sns, [&publish]);
        let agent = support::sdk_agent(ec2, elb, sns, drs);
        let report = agent.handle_drs_result(&result).await.unwrap();
        let sent = std::mem::take(&mut *sent.lock().unwrap());
        (report, sent)
    }

    fn result(succeeded: bool) -> DrsLaunchResult {
        DrsLaunchResult {
            source_server_id: SERVER.into(),
            job_id: "drsjob-1".into(),
            succeeded,
            drill: false,
            time: "2026-11-24T03:25:00Z".parse().unwrap(),
        }
    }

    #[tokio::test]
    async fn a_failed_launch_is_explained_from_every_page_of_the_job_log() {
        let (report, sent) = handle(result(false)).await;
        let reason = report.reason.unwrap();
        assert!(
            reason.contains("LAUNCH_FAILED: InvalidParameterValue: target instance i-0000000000000a000 is not stopped"),
            "{reason}"
        );
        assert!(
            !reason.contains("not ours"),
            "other servers' failures are left out"
        );
        assert_eq!(report.original_id.as_deref(), Some("i-00000000000000000"));
        assert!(
            sent.published[0].contains("new DRS job for it (attempt 2 of 3;"),
            "{}",
            sent.published[0]
        );
        // Said once for this server: the marker goes on its own original.
        let marker = ("autorestart:reported".to_owned(), "drsjob-1".to_owned());
        assert_eq!(
            sent.tags,
            [(vec!["i-00000000000000000".to_owned()], vec![marker])]
        );
    }

    #[tokio::test]
    async fn a_successful_launch_tags_both_instances_by_the_jobs_recovery_instance() {
        let (report, sent) = handle(result(true)).await;
        assert_eq!(
            report.recovery_instance_id.as_deref(),
            Some("i-0000000000000a000")
        );
        let replaced_by = (
            "autorestart:replaced-by".to_owned(),
            "i-0000000000000a000".to_owned(),
        );
        assert!(
            sent.tags
                .iter()
                .any(|(ids, tags)| ids == &["i-00000000000000000".to_owned()]
                    && tags.contains(&replaced_by))
        );
        let replacement_of = (
            "autorestart:replacement-of".to_owned(),
            "i-00000000000000000".to_owned(),
        );
        assert!(
            sent.tags
                .iter()
                .any(|(ids, tags)| ids == &["i-0000000000000a000".to_owned()]
                    && tags.contains(&replacement_of))
        );
        assert!(sent.published[0].contains("DRS recovery launched"));
    }
}
