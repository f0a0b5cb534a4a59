//! EC2 stops, terminations, images and templates, and DRS jobs, over the SDK adapters with
//! `aws-smithy-mocks`: every page read, errors sorted by kind.

use autorestart_aws::{DrsService, Ec2Compute};
use autorestart_core::drs::{ActiveJob, JobSnapshot};
use autorestart_core::error::ErrorKind;
use autorestart_flows::ports::{Compute, DisasterRecovery};
use aws_sdk_drs::operation::describe_jobs::{DescribeJobsError, DescribeJobsOutput};
use aws_sdk_drs::types::{InitiatedBy, Job, JobStatus, JobType, LaunchStatus, ParticipatingServer};
use aws_sdk_ec2::operation::delete_tags::{DeleteTagsError, DeleteTagsOutput};
use aws_sdk_ec2::operation::describe_images::{DescribeImagesError, DescribeImagesOutput};
use aws_sdk_ec2::operation::start_instances::{StartInstancesError, StartInstancesOutput};
use aws_sdk_ec2::operation::stop_instances::{StopInstancesError, StopInstancesOutput};
use aws_sdk_ec2::operation::terminate_instances::{
    TerminateInstancesError, TerminateInstancesOutput,
};
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use support::{aws_error, fast_retries};

mod support;
use support::sweep_world::*;

#[tokio::test]
async fn stop_and_terminate_send_the_ids_in_calls_of_at_most_two_hundred() {
    let stop = mock!(aws_sdk_ec2::Client::stop_instances)
        .match_requests(|r| r.instance_ids() == ["i-1", "i-2"])
        .then_output(|| StopInstancesOutput::builder().build());
    let first_chunk = mock!(aws_sdk_ec2::Client::terminate_instances)
        .match_requests(|r| r.instance_ids().len() == 200 && r.instance_ids()[0] == instance_id(0))
        .then_output(|| TerminateInstancesOutput::builder().build());
    let rest = mock!(aws_sdk_ec2::Client::terminate_instances)
        .match_requests(|r| r.instance_ids().len() == 50 && r.instance_ids()[0] == instance_id(200))
        .then_output(|| TerminateInstancesOutput::builder().build());
    let client = mock_client!(
        aws_sdk_ec2,
        RuleMode::MatchAny,
        [&stop, &first_chunk, &rest]
    );
    let ec2 = Ec2Compute::new(client);

    ec2.stop(&instance_ids(&["i-1", "i-2"])).await.unwrap();
    let many: Vec<autorestart_core::ids::InstanceId> =
        (0..250).map(|i| instance_id(i).into()).collect();
    ec2.terminate(&many).await.unwrap();

    assert_eq!(
        (stop.num_calls(), first_chunk.num_calls(), rest.num_calls()),
        (1, 1, 1)
    );
}

#[tokio::test]
async fn stop_and_terminate_errors_are_sorted_by_their_code() {
    let table = [
        ("IncorrectInstanceState", ErrorKind::Other),
        ("InvalidInstanceID.NotFound", ErrorKind::NotFound),
        ("UnauthorizedOperation", ErrorKind::AccessDenied),
    ];
    for (code, kind) in table {
        let stop = mock!(aws_sdk_ec2::Client::stop_instances)
            .match_requests(|r| r.instance_ids() == ["i-1"])
            .then_error(move || StopInstancesError::generic(aws_error(code)));
        let terminate = mock!(aws_sdk_ec2::Client::terminate_instances)
            .match_requests(|r| r.instance_ids() == ["i-1"])
            .then_error(move || TerminateInstancesError::generic(aws_error(code)));
        let client = mock_client!(aws_sdk_ec2, RuleMode::MatchAny, [&stop, &terminate]);
        let ec2 = Ec2Compute::new(client);
        let target = instance_ids(&["i-1"]);

        let stopped = ec2.stop(&target).await.unwrap_err();
        let terminated = ec2.terminate(&target).await.unwrap_err();

        assert_eq!(
            (stopped.kind, stopped.operation),
            (kind, "ec2:StopInstances"),
            "{code}"
        );
        assert_eq!(
            (terminated.kind, terminated.operation),
            (kind, "ec2:TerminateInstances"),
            "{code}"
        );
        assert_eq!(stopped.code, code);
        assert_eq!(terminated.code, code);
        assert_eq!(
            (stop.num_calls(), terminate.num_calls()),
            (1, 1),
            "{code} is not retried"
        );
    }
}

#[tokio::test]
async fn start_sends_many_ids_in_one_call_and_untag_names_keys_without_values() {
    let start = mock!(aws_sdk_ec2::Client::start_instances)
        .match_requests(|r| r.instance_ids() == ["i-1", "i-2", "i-3"])
        .then_output(|| StartInstancesOutput::builder().build());
    let untag = mock!(aws_sdk_ec2::Client::delete_tags)
        .match_requests(|r| {
            r.resources() == ["i-1"]
                && r.tags().len() == 2
                && r.tags()[0].key() == Some("autorestart:replaced-by")
                && r.tags().iter().all(|t| t.value().is_none())
        })
        .then_output(|| DeleteTagsOutput::builder().build());
    let client = mock_client!(aws_sdk_ec2, RuleMode::MatchAny, [&start, &untag]);
    let ec2 = Ec2Compute::new(client);

    ec2.start(&instance_ids(&["i-1", "i-2", "i-3"]))
        .await
        .unwrap();
    ec2.untag(
        &instance_ids(&["i-1"]),
        &["autorestart:replaced-by", "autorestart:failback"],
    )
    .await
    .unwrap();

    assert_eq!((start.num_calls(), untag.num_calls()), (1, 1));
}

#[tokio::test]
async fn start_and_untag_errors_are_sorted_by_their_code() {
    for (code, kind) in [
        (
            "InsufficientInstanceCapacity",
            ErrorKind::InsufficientCapacity,
        ),
        ("IncorrectInstanceState", ErrorKind::Other),
        ("UnauthorizedOperation", ErrorKind::AccessDenied),
    ] {
        let start = mock!(aws_sdk_ec2::Client::start_instances)
            .then_error(move || StartInstancesError::generic(aws_error(code)));
        let untag = mock!(aws_sdk_ec2::Client::delete_tags)
            .then_error(move || DeleteTagsError::generic(aws_error(code)));
        let client = mock_client!(aws_sdk_ec2, RuleMode::MatchAny, [&start, &untag]);
        let ec2 = Ec2Compute::new(client);
        let target = instance_ids(&["i-1"]);

        let started = ec2.start(&target).await.unwrap_err();
        let untagged = ec2
            .untag(&target, &["autorestart:failback"])
            .await
            .unwrap_err();

        assert_eq!(
            (started.kind, started.operation),
            (kind, "ec2:StartInstances"),
            "{code}"
        );
        assert_eq!(untagged.operation, "ec2:DeleteTags", "{code}");
        assert_eq!(started.code, code);
    }
}

#[tokio::test]
async fn empty_id_lists_make_no_call() {
    let stop = mock!(aws_sdk_ec2::Client::stop_instances)
        .then_output(|| StopInstancesOutput::builder().build());
    let terminate = mock!(aws_sdk_ec2::Client::terminate_instances)
        .then_output(|| TerminateInstancesOutput::builder().build());
    let images = mock!(aws_sdk_ec2::Client::describe_images)
        .then_output(|| DescribeImagesOutput::builder().build());
    let client = mock_client!(
        aws_sdk_ec2,
        RuleMode::MatchAny,
        [&stop, &terminate, &images]
    );
    let ec2 = Ec2Compute::new(client);

    ec2.stop(&[]).await.unwrap();
    ec2.terminate(&[]).await.unwrap();
    let found = ec2.existing_images(&[]).await.unwrap();

    assert!(found.is_empty(), "{found:?}");
    assert_eq!(
        (stop.num_calls(), terminate.num_calls(), images.num_calls()),
        (0, 0, 0)
    );
}

#[tokio::test]
async fn existing_images_are_those_describe_images_reports_available_on_every_page() {
    let first = mock!(aws_sdk_ec2::Client::describe_images)
        .match_requests(|r| {
            r.next_token().is_none()
                && r.image_ids().is_empty()
                && has_filter(r.filters(), "image-id", &["ami-1", "ami-gone", "ami-2"])
                && has_filter(r.filters(), "state", &["available"])
                && r.include_deprecated() == Some(true)
        })
        .then_output(|| {
            DescribeImagesOutput::builder()
                .images(image("ami-1"))
                .next_token("p2")
                .build()
        });
    let second = mock!(aws_sdk_ec2::Client::describe_images)
        .match_requests(|r| {
            r.next_token() == Some("p2") && has_filter(r.filters(), "state", &["available"])
        })
        .then_output(|| {
            DescribeImagesOutput::builder()
                .images(image("ami-2"))
                .build()
        });
    let client = mock_client!(aws_sdk_ec2, RuleMode::MatchAny, [&first, &second]);

    let found = Ec2Compute::new(client)
        .existing_images(&ids(&["ami-1", "ami-gone", "ami-2"]))
        .await
        .unwrap();

    assert_eq!(found, ["ami-1", "ami-2"], "the deregistered AMI is absent");
    assert_eq!((first.num_calls(), second.num_calls()), (1, 1));
}

#[tokio::test]
async fn a_denied_image_read_is_reported_as_access_denied() {
    let denied = mock!(aws_sdk_ec2::Client::describe_images)
        .then_error(|| DescribeImagesError::generic(aws_error("UnauthorizedOperation")));
    let client = mock_client!(aws_sdk_ec2, [&denied]);

    let error = Ec2Compute::new(client)
        .existing_images(&ids(&["ami-1"]))
        .await
        .unwrap_err();

    assert_eq!(error.kind, ErrorKind::AccessDenied);
    assert_eq!(error.operation, "ec2:DescribeImages");
    assert!(
        error.to_string().contains("UnauthorizedOperation"),
        "{error}"
    );
}

#[tokio::test]
async fn running_launch_jobs_are_listed_and_a_drill_is_told_from_a_recovery() {
    let describe = mock!(aws_sdk_drs::Client::describe_jobs).then_output(|| {
        let job = |id: &str, by: InitiatedBy, status: JobStatus, kind: JobType| {
            Job::builder()
                .job_id(id)
                .initiated_by(by)
                .status(status)
                .r#type(kind)
                .participating_servers(
                    ParticipatingServer::builder()
                        .source_server_id("s-1")
                        .build(),
                )
                .build()
                .unwrap()
        };
        DescribeJobsOutput::builder()
            .items(job(
                "drsjob-drill",
                InitiatedBy::StartDrill,
                JobStatus::Started,
                JobType::Launch,
            ))
            .items(job(
                "drsjob-real",
                InitiatedBy::StartRecovery,
                JobStatus::Pending,
                JobType::Launch,
            ))
            .items(job(
                "drsjob-done",
                InitiatedBy::StartRecovery,
                JobStatus::Completed,
                JobType::Launch,
            ))
            .items(
                Job::builder()
                    .job_id("drsjob-ours-done")
                    .initiated_by(InitiatedBy::StartRecovery)
                    .status(JobStatus::Completed)
                    .r#type(JobType::Launch)
                    .participating_servers(
                        ParticipatingServer::builder()
                            .source_server_id("s-1")
                            .launch_status(LaunchStatus::Failed)
                            .build(),
                    )
                    .tags("autorestart:incident", "op-1-inc")
                    .build()
                    .unwrap(),
            )
            .items(job(
                "drsjob-cleanup",
                InitiatedBy::TerminateRecoveryInstances,
                JobStatus::Started,
                JobType::Terminate,
            ))
            .build()
    });
    let client = mock_client!(aws_sdk_drs, [&describe]);

    let jobs = DrsService::new(client).active_jobs().await.unwrap();

    let server = vec!["s-1".to_owned()];
    assert_eq!(
        jobs,
        [
            ActiveJob {
                job_id: "drsjob-drill".into(),
                source_server_ids: server.clone(),
                drill: true,
                ..ActiveJob::default()
            },
            ActiveJob {
                job_id: "drsjob-real".into(),
                source_server_ids: server.clone(),
                drill: false,
                ..ActiveJob::default()
            },
            ActiveJob {
                job_id: "drsjob-ours-done".into(),
                source_server_ids: server,
                drill: false,
                incident: Some("op-1-inc".into()),
                finished: true,
                failed: vec!["s-1".into()],
            },
        ]
    );
}

#[tokio::test]
async fn a_completed_job_is_read_with_each_servers_launch_status() {
    let describe = mock!(aws_sdk_drs::Client::describe_jobs)
        .match_requests(|r| r.filters().is_some_and(|f| f.job_ids() == [JOB_ID]))
        .then_output(|| {
            let job = Job::builder()
                .job_id(JOB_ID)
                .status(JobStatus::Completed)
                .r#type(JobType::Launch)
                .creation_date_time("2026-11-24T03:12:00Z")
                .participating_servers(participant("s-1", LaunchStatus::Launched))
                .participating_servers(participant("s-2", LaunchStatus::Failed))
                // Not launched yet: no status.
                .participating_servers(
                    ParticipatingServer::builder()
                        .source_server_id("s-3")
                        .build(),
                )
                // No source server: nothing to report it under.
                .participating_servers(
                    ParticipatingServer::builder()
                        .launch_status(LaunchStatus::Launched)
                        .build(),
                )
                .build()
                .unwrap();
            DescribeJobsOutput::builder().items(job).build()
        });
    let client = mock_client!(aws_sdk_drs, [&describe]);

    let job = DrsService::new(client).job(JOB_ID).await.unwrap();

    assert_eq!(
        job,
        Some(JobSnapshot {
            job_id: JOB_ID.into(),
            status: "COMPLETED".into(),
            servers: vec![
                ("s-1".into(), "LAUNCHED".into()),
                ("s-2".into(), "FAILED".into()),
                ("s-3".into(), "UNKNOWN".into()),
            ],
            created_at: Some("2026-11-24T03:12:00Z".parse().unwrap()),
        })
    );
    assert_eq!(describe.num_calls(), 1);
}

#[tokio::test]
async fn a_job_drs_does_not_know_is_none() {
    let describe = mock!(aws_sdk_drs::Client::describe_jobs)
        .match_requests(|r| r.filters().is_some_and(|f| f.job_ids() == [JOB_ID]))
        .then_output(|| DescribeJobsOutput::builder().build());
    let client = mock_client!(aws_sdk_drs, [&describe]);

    let job = DrsService::new(client).job(JOB_ID).await.unwrap();

    assert!(job.is_none(), "{job:?}");
    assert_eq!(describe.num_calls(), 1);
}

#[tokio::test]
async fn job_reads_report_denial_at_once_and_throttling_after_the_sdk_retries() {
    let denied = mock!(aws_sdk_drs::Client::describe_jobs)
        .then_error(|| DescribeJobsError::generic(aws_error("AccessDeniedException")));
    let client = mock_client!(aws_sdk_drs, [&denied]);
    let error = DrsService::new(client).job(JOB_ID).await.unwrap_err();
    assert_eq!(error.kind, ErrorKind::AccessDenied);
    assert_eq!(error.operation, "drs:DescribeJobs");
    assert_eq!(denied.num_calls(), 1);

    let throttled = mock!(aws_sdk_drs::Client::describe_jobs)
        .then_error(|| DescribeJobsError::generic(aws_error("ThrottlingException")));
    let client = mock_client!(aws_sdk_drs, RuleMode::Sequential, [&throttled], |c| c
        .retry_config(fast_retries()));
    let error = DrsService::new(client).job(JOB_ID).await.unwrap_err();
    assert_eq!(error.kind, ErrorKind::Throttled);
    assert!(error.kind.is_retryable());
    assert_eq!(error.code, "ThrottlingException");
    assert_eq!(throttled.num_calls(), 3);
}

#[tokio::test]
async fn the_projects_templates_are_those_tagged_template_for_on_every_page() {
    use aws_sdk_ec2::operation::describe_launch_templates::DescribeLaunchTemplatesOutput;
    use aws_sdk_ec2::types::LaunchTemplate;
    let template = |id: &str, tagged: bool| {
        let mut t = LaunchTemplate::builder().launch_template_id(id);
        if tagged {
            t = t.tags(support::tag("autorestart:template-for", "i-1"));
        }
        t.tags(support::tag("team", "web")).build()
    };
    let first = mock!(aws_sdk_ec2::Client::describe_launch_templates)
        .match_requests(|r| r.next_token().is_none() && r.filters().is_empty())
        .then_output(move || {
            DescribeLaunchTemplatesOutput::builder()
                .launch_templates(template("lt-0a", true))
                .launch_templates(template("lt-0b", false))
                .next_token("p2")
                .build()
        });
    let second = mock!(aws_sdk_ec2::Client::describe_launch_templates)
        .match_requests(|r| r.next_token() == Some("p2"))
        .then_output(move || {
            DescribeLaunchTemplatesOutput::builder()
                .launch_templates(template("lt-0c", true))
                .build()
        });
    let client = mock_client!(aws_sdk_ec2, RuleMode::MatchAny, [&first, &second]);

    let managed = Ec2Compute::new(client).managed_templates().await.unwrap();

    assert_eq!(
        managed,
        ["lt-0a", "lt-0c"].map(str::to_owned).into_iter().collect()
    );
}

#[tokio::test]
async fn reverse_replication_answers_the_reversed_servers_id_and_sorts_its_errors() {
    use aws_sdk_drs::operation::describe_source_servers::DescribeSourceServersOutput;
    use aws_sdk_drs::operation::reverse_replication::{
        ReverseReplicationError, ReverseReplicationOutput,
    };
    use aws_sdk_drs::types::{ReplicationDirection, SourceServer};
    let reversed = mock!(aws_sdk_drs::Client::reverse_replication)
        .match_requests(|r| r.recovery_instance_id() == Some("i-0123456789abcdef0"))
        .then_output(|| {
            ReverseReplicationOutput::builder()
                .reversed_direction_source_server_arn(
                    "arn:aws:drs:us-east-1:111122223333:source-server/s-0123456789abcdef0",
                )
                .build()
        });
    let throttled = mock!(aws_sdk_drs::Client::reverse_replication)
        .match_requests(|r| r.recovery_instance_id() == Some("i-0000000000000000f"))
        .then_error(|| ReverseReplicationError::generic(aws_error("ThrottlingException")));
    let servers = mock!(aws_sdk_drs::Client::describe_source_servers).then_output(|| {
        DescribeSourceServersOutput::builder()
            .items(
                SourceServer::builder()
                    .source_server_id("s-0123456789abcdef0")
                    .replication_direction(ReplicationDirection::Failback)
                    .build(),
            )
            .build()
    });
    let client = mock_client!(
        aws_sdk_drs,
        RuleMode::MatchAny,
        [&reversed, &throttled, &servers],
        |c| c.retry_config(fast_retries())
    );
    let drs = DrsService::new(client);

    let server = drs
        .reverse_replication(&"i-0123456789abcdef0".into())
        .await
        .unwrap();
    assert_eq!(server, "s-0123456789abcdef0");
    let error = drs
        .reverse_replication(&"i-0000000000000000f".into())
        .await
        .unwrap_err();
    assert_eq!(
        (error.kind, error.operation),
        (ErrorKind::Throttled, "drs:ReverseReplication")
    );
    let read = drs.source_servers(&[]).await.unwrap();
    assert!(read[0].replicates_back, "{read:?}");
}
