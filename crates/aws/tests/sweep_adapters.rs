//! The adapters the sweep, readiness check and fencing read and act through (CloudWatch alarms,
//! Outposts assets, EC2 stop, terminate and images, DRS jobs) against `aws-smithy-mocks`:
//! requests sent, pagination, and the error kinds their failures are sorted into.

use aws_sdk_cloudwatch::operation::describe_alarms::{DescribeAlarmsError, DescribeAlarmsOutput};
use aws_sdk_cloudwatch::operation::list_tags_for_resource::{
    ListTagsForResourceError, ListTagsForResourceOutput,
};
use aws_sdk_cloudwatch::types::{
    AlarmType, Dimension, Metric, MetricAlarm, MetricDataQuery, MetricStat, StateValue,
    Tag as AlarmTag,
};
use aws_sdk_drs::operation::describe_jobs::{DescribeJobsError, DescribeJobsOutput};
use aws_sdk_drs::types::{InitiatedBy, Job, JobStatus, JobType, LaunchStatus, ParticipatingServer};
use aws_sdk_ec2::operation::describe_images::{DescribeImagesError, DescribeImagesOutput};
use aws_sdk_ec2::operation::stop_instances::{StopInstancesError, StopInstancesOutput};
use aws_sdk_ec2::operation::terminate_instances::{
    TerminateInstancesError, TerminateInstancesOutput,
};
use aws_sdk_ec2::types::{Filter, Image, ImageState};
use aws_sdk_outposts::operation::list_assets::{ListAssetsError, ListAssetsOutput};
use aws_sdk_outposts::types::{
    AssetInfo, AssetInstanceTypeCapacity, ComputeAssetState, ComputeAttributes,
};
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use aws_smithy_types::DateTime as SmithyDateTime;
use chrono::{DateTime, Utc};

mod support;
use autorestart_aws::{CloudWatchAlarms, DrsService, Ec2Compute, OutpostsApi};
use autorestart_core::alarm::{AlarmChange, AlarmMetric, AlarmState, OutpostId};
use autorestart_core::drs::{ActiveJob, JobSnapshot};
use autorestart_core::error::ErrorKind;
use autorestart_flows::ports::{Alarms, Asset, Compute, DisasterRecovery, Outposts};
use support::{OUTPOST_A, aws_error, fast_retries};

const OUTPOST_B: &str = "op-0bbbbbbbbbbbbbbb2";
const ALARM_ARN: &str = "arn:aws:cloudwatch:us-east-1:111122223333:alarm:outpost-a-connected";
const JOB_ID: &str = "drsjob-0123456789abcdef0";

fn at(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

/// The same moment as CloudWatch sends it.
fn timestamp(text: &str) -> SmithyDateTime {
    SmithyDateTime::from_millis(at(text).timestamp_millis())
}

fn outpost_dimension(outpost: &str) -> Dimension {
    Dimension::builder()
        .name("OutpostId")
        .value(outpost)
        .build()
}

/// `AWS/Outposts` `ConnectedStatus`, for one Outpost or without dimensions.
fn connected_status(outpost: Option<&str>) -> AlarmMetric {
    AlarmMetric {
        namespace: Some("AWS/Outposts".into()),
        metric_name: Some("ConnectedStatus".into()),
        dimensions: outpost
            .map(|id| ("OutpostId".to_owned(), id.to_owned()))
            .into_iter()
            .collect(),
        expression: None,
    }
}

#[tokio::test]
async fn metric_alarms_are_read_across_pages_with_their_state_since_and_metrics() {
    let first = mock!(aws_sdk_cloudwatch::Client::describe_alarms)
        .match_requests(|r| {
            r.next_token().is_none()
                && r.alarm_name_prefix() == Some("outpost-")
                && r.alarm_types() == [AlarmType::MetricAlarm]
        })
        .then_output(|| {
            DescribeAlarmsOutput::builder()
                .metric_alarms(
                    MetricAlarm::builder()
                        .alarm_name("outpost-a-connected")
                        .alarm_arn(ALARM_ARN)
                        .state_value(StateValue::Alarm)
                        .state_transitioned_timestamp(timestamp("2026-11-24T03:10:00Z"))
                        .state_updated_timestamp(timestamp("2026-11-24T03:15:00Z"))
                        .namespace("AWS/Outposts")
                        .metric_name("ConnectedStatus")
                        .dimensions(outpost_dimension(OUTPOST_A))
                        .build(),
                )
                .metric_alarms(
                    // Never evaluated: no state, so no change to report.
                    MetricAlarm::builder()
                        .alarm_name("outpost-new")
                        .state_updated_timestamp(timestamp("2026-11-24T03:00:00Z"))
                        .namespace("AWS/Outposts")
                        .metric_name("ConnectedStatus")
                        .build(),
                )
                .next_token("p2")
                .build()
        });
    let second = mock!(aws_sdk_cloudwatch::Client::describe_alarms)
        .match_requests(|r| {
            r.next_token() == Some("p2")
                && r.alarm_name_prefix() == Some("outpost-")
                && r.alarm_types() == [AlarmType::MetricAlarm]
        })
        .then_output(|| {
            DescribeAlarmsOutput::builder()
                .metric_alarms(
                    MetricAlarm::builder()
                        .alarm_name("outpost-b-math")
                        .state_value(StateValue::Ok)
                        .state_transitioned_timestamp(timestamp("2026-11-24T02:00:00Z"))
                        .metrics(
                            MetricDataQuery::builder()
                                .id("e1")
                                .expression("MIN(m1)")
                                .return_data(true)
                                .build(),
                        )
                        .metrics(
                            MetricDataQuery::builder()
                                .id("m1")
                                .metric_stat(
                                    MetricStat::builder()
                                        .metric(
                                            Metric::builder()
                                                .namespace("AWS/Outposts")
                                                .metric_name("ConnectedStatus")
                                                .dimensions(outpost_dimension(OUTPOST_B))
                                                .build(),
                                        )
                                        .period(60)
                                        .stat("Minimum")
                                        .build(),
                                )
                                .return_data(false)
                                .build(),
                        )
                        .build(),
                )
                .metric_alarms(
                    // Only StateUpdatedTimestamp: the state dates from it.
                    MetricAlarm::builder()
                        .alarm_name("outpost-c-quiet")
                        .state_value(StateValue::InsufficientData)
                        .state_updated_timestamp(timestamp("2026-11-24T01:00:00Z"))
                        .namespace("AWS/Outposts")
                        .metric_name("ConnectedStatus")
                        .build(),
                )
                .build()
        });
    let client = mock_client!(aws_sdk_cloudwatch, RuleMode::MatchAny, [&first, &second]);

    let alarms = CloudWatchAlarms::new(client)
        .alarms_named("outpost-")
        .await
        .unwrap();

    assert_eq!(
        alarms,
        [
            AlarmChange {
                alarm_name: "outpost-a-connected".into(),
                alarm_arn: Some(ALARM_ARN.into()),
                state: AlarmState::Alarm,
                state_since: at("2026-11-24T03:10:00Z"),
                metrics: vec![connected_status(Some(OUTPOST_A))],
            },
            AlarmChange {
                alarm_name: "outpost-b-math".into(),
                alarm_arn: None,
                state: AlarmState::Ok,
                state_since: at("2026-11-24T02:00:00Z"),
                metrics: vec![
                    AlarmMetric {
                        expression: Some("MIN(m1)".into()),
                        ..AlarmMetric::default()
                    },
                    connected_status(Some(OUTPOST_B)),
                ],
            },
            AlarmChange {
                alarm_name: "outpost-c-quiet".into(),
                alarm_arn: None,
                state: AlarmState::InsufficientData,
                state_since: at("2026-11-24T01:00:00Z"),
                metrics: vec![connected_status(None)],
            },
        ],
        "both pages read, the stateless alarm dropped, the transition time preferred"
    );
    assert_eq!((first.num_calls(), second.num_calls()), (1, 1));
}

#[tokio::test]
async fn an_empty_prefix_asks_for_every_metric_alarm() {
    let every = mock!(aws_sdk_cloudwatch::Client::describe_alarms)
        .match_requests(|r| {
            r.alarm_name_prefix().is_none() && r.alarm_types() == [AlarmType::MetricAlarm]
        })
        .then_output(|| {
            DescribeAlarmsOutput::builder()
                .metric_alarms(
                    MetricAlarm::builder()
                        .alarm_name("any-alarm")
                        .state_value(StateValue::Ok)
                        .state_transitioned_timestamp(timestamp("2026-11-24T00:00:00Z"))
                        .build(),
                )
                .build()
        });
    let client = mock_client!(aws_sdk_cloudwatch, [&every]);

    let alarms = CloudWatchAlarms::new(client)
        .alarms_named("")
        .await
        .unwrap();

    let names: Vec<&str> = alarms.iter().map(|a| a.alarm_name.as_str()).collect();
    assert_eq!(names, ["any-alarm"]);
    assert!(alarms[0].metrics.is_empty(), "{:?}", alarms[0].metrics);
    assert_eq!(every.num_calls(), 1);
}

#[tokio::test]
async fn alarm_throttling_that_outlasts_the_sdk_retries_is_reported_as_retryable() {
    let throttled = mock!(aws_sdk_cloudwatch::Client::describe_alarms)
        .then_error(|| DescribeAlarmsError::generic(aws_error("Throttling")));
    let client = mock_client!(
        aws_sdk_cloudwatch,
        RuleMode::Sequential,
        [&throttled],
        |c| c.retry_config(fast_retries())
    );

    let error = CloudWatchAlarms::new(client)
        .alarms_named("outpost-")
        .await
        .unwrap_err();

    assert_eq!(error.kind, ErrorKind::Throttled);
    assert!(error.kind.is_retryable());
    assert_eq!(
        (error.operation, error.code.as_str()),
        ("cloudwatch:DescribeAlarms", "Throttling")
    );
    assert_eq!(
        throttled.num_calls(),
        3,
        "the SDK made every attempt before giving up"
    );
}

#[tokio::test]
async fn alarm_tags_are_read_as_pairs_and_access_denied_is_reported_as_such() {
    let tags = mock!(aws_sdk_cloudwatch::Client::list_tags_for_resource)
        .match_requests(|r| r.resource_arn() == Some(ALARM_ARN))
        .then_output(|| {
            ListTagsForResourceOutput::builder()
                .tags(
                    AlarmTag::builder()
                        .key("autorestart:outpost")
                        .value(OUTPOST_A)
                        .build(),
                )
                .tags(AlarmTag::builder().key("team").value("infra").build())
                .tags(AlarmTag::builder().key("flag").build())
                .build()
        });
    let client = mock_client!(aws_sdk_cloudwatch, [&tags]);
    let read = CloudWatchAlarms::new(client)
        .alarm_tags(ALARM_ARN)
        .await
        .unwrap();
    assert_eq!(
        read,
        [
            ("autorestart:outpost".to_owned(), OUTPOST_A.to_owned()),
            ("team".to_owned(), "infra".to_owned()),
            ("flag".to_owned(), String::new()),
        ]
    );
    assert_eq!(tags.num_calls(), 1);

    let denied = mock!(aws_sdk_cloudwatch::Client::list_tags_for_resource)
        .then_error(|| ListTagsForResourceError::generic(aws_error("AccessDenied")));
    let client = mock_client!(aws_sdk_cloudwatch, [&denied]);
    let error = CloudWatchAlarms::new(client)
        .alarm_tags(ALARM_ARN)
        .await
        .unwrap_err();
    assert_eq!(error.kind, ErrorKind::AccessDenied);
    assert_eq!(error.operation, "cloudwatch:ListTagsForResource");
    assert_eq!(denied.num_calls(), 1, "a denial is not retried");
}

/// A compute asset in `state`, configured for these (instance type, count).
fn asset(id: &str, state: ComputeAssetState, capacities: &[(&str, i32)]) -> AssetInfo {
    let mut compute = ComputeAttributes::builder().state(state);
    for &(instance_type, count) in capacities {
        compute = compute.instance_type_capacities(
            AssetInstanceTypeCapacity::builder()
                .instance_type(instance_type)
                .count(count)
                .build()
                .unwrap(),
        );
    }
    AssetInfo::builder()
        .asset_id(id)
        .compute_attributes(compute.build())
        .build()
}

#[tokio::test]
async fn assets_are_read_across_pages_with_their_compute_state_and_capacities() {
    let first = mock!(aws_sdk_outposts::Client::list_assets)
        .match_requests(|r| r.outpost_identifier() == Some(OUTPOST_A) && r.next_token().is_none())
        .then_output(|| {
            ListAssetsOutput::builder()
                .assets(asset(
                    "asset-1",
                    ComputeAssetState::Active,
                    &[("m5.large", 4), ("c5.xlarge", 2)],
                ))
                .assets(asset("asset-2", ComputeAssetState::Isolated, &[]))
                .next_token("p2")
                .build()
        });
    let second = mock!(aws_sdk_outposts::Client::list_assets)
        .match_requests(|r| {
            r.outpost_identifier() == Some(OUTPOST_A) && r.next_token() == Some("p2")
        })
        .then_output(|| {
            ListAssetsOutput::builder()
                .assets(asset(
                    "asset-3",
                    ComputeAssetState::Retiring,
                    &[("m5.large", 1)],
                ))
                .assets(AssetInfo::builder().asset_id("asset-4").build())
                .build()
        });
    let client = mock_client!(aws_sdk_outposts, RuleMode::MatchAny, [&first, &second]);

    let assets = OutpostsApi::new(client)
        .assets(&OutpostId::parse(OUTPOST_A).unwrap())
        .await
        .unwrap();

    assert_eq!(
        assets,
        [
            Asset {
                id: "asset-1".into(),
                state: Some("ACTIVE".into()),
                capacities: vec![("m5.large".into(), 4), ("c5.xlarge".into(), 2)],
            },
            Asset {
                id: "asset-2".into(),
                state: Some("ISOLATED".into()),
                capacities: vec![],
            },
            Asset {
                id: "asset-3".into(),
                state: Some("RETIRING".into()),
                capacities: vec![("m5.large".into(), 1)],
            },
            Asset {
                id: "asset-4".into(),
                state: None,
                capacities: vec![],
            },
        ]
    );
    assert_eq!((first.num_calls(), second.num_calls()), (1, 1));
}

#[tokio::test]
async fn asset_read_errors_are_sorted_into_access_denied_and_not_found() {
    let outpost = OutpostId::parse(OUTPOST_A).unwrap();
    let table = [
        ("AccessDeniedException", ErrorKind::AccessDenied),
        ("NotFoundException", ErrorKind::NotFound),
    ];
    for (code, kind) in table {
        let failing = mock!(aws_sdk_outposts::Client::list_assets)
            .match_requests(|r| r.outpost_identifier() == Some(OUTPOST_A))
            .then_error(move || ListAssetsError::generic(aws_error(code)));
        let client = mock_client!(aws_sdk_outposts, [&failing]);
        let error = OutpostsApi::new(client).assets(&outpost).await.unwrap_err();
        assert_eq!(error.kind, kind, "{code}");
        assert_eq!(
            (error.operation, error.code.as_str()),
            ("outposts:ListAssets", code)
        );
        assert_eq!(failing.num_calls(), 1, "{code} is not retried");
    }
}

fn ids(list: &[&str]) -> Vec<String> {
    list.iter().copied().map(str::to_owned).collect()
}

fn instance_id(n: usize) -> String {
    format!("i-{n:017x}")
}

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

    ec2.stop(&ids(&["i-1", "i-2"])).await.unwrap();
    let many: Vec<String> = (0..250).map(instance_id).collect();
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
        let target = ids(&["i-1"]);

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

fn has_filter(filters: &[Filter], name: &str, values: &[&str]) -> bool {
    filters
        .iter()
        .any(|f| f.name() == Some(name) && f.values() == values)
}

fn image(id: &str) -> Image {
    Image::builder()
        .image_id(id)
        .state(ImageState::Available)
        .build()
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

fn participant(server: &str, status: LaunchStatus) -> ParticipatingServer {
    ParticipatingServer::builder()
        .source_server_id(server)
        .launch_status(status)
        .build()
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
            },
            ActiveJob {
                job_id: "drsjob-real".into(),
                source_server_ids: server,
                drill: false,
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
