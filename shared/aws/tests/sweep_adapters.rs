//! The adapters the sweep, readiness check and fencing read and act through (CloudWatch alarms,
//! Outposts assets, EC2 stop, terminate and images, DRS jobs) against `aws-smithy-mocks`:
//! requests sent, pagination, and the error kinds their failures are sorted into.

use autorestart_aws::{CloudWatchAlarms, OutpostsApi};
use autorestart_core::alarm::{AlarmChange, AlarmMetric, AlarmState, OutpostId};
use autorestart_core::error::ErrorKind;
use autorestart_flows::ports::{Alarms, Asset, Outposts};
use aws_sdk_cloudwatch::operation::describe_alarms::{DescribeAlarmsError, DescribeAlarmsOutput};
use aws_sdk_cloudwatch::operation::list_tags_for_resource::{
    ListTagsForResourceError, ListTagsForResourceOutput,
};
use aws_sdk_cloudwatch::types::{
    AlarmType, Metric, MetricAlarm, MetricDataQuery, MetricStat, StateValue, Tag as AlarmTag,
};
use aws_sdk_outposts::operation::list_assets::{ListAssetsError, ListAssetsOutput};
use aws_sdk_outposts::types::{AssetInfo, ComputeAssetState};
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use support::{OUTPOST_A, aws_error, fast_retries};

mod support;
use support::sweep_world::*;

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
                evaluation: None,
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
                evaluation: None,
            },
            AlarmChange {
                alarm_name: "outpost-c-quiet".into(),
                alarm_arn: None,
                state: AlarmState::InsufficientData,
                state_since: at("2026-11-24T01:00:00Z"),
                metrics: vec![connected_status(None)],
                evaluation: None,
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

#[tokio::test]
async fn the_instance_types_running_on_an_outpost_are_read_across_pages_and_errors_sorted() {
    use aws_sdk_outposts::operation::list_asset_instances::{
        ListAssetInstancesError, ListAssetInstancesOutput,
    };
    use aws_sdk_outposts::types::{AssetInstance, AwsServiceName};
    let instance = |id: &str, instance_type: &str, service: AwsServiceName| {
        AssetInstance::builder()
            .instance_id(id)
            .instance_type(instance_type)
            .asset_id("asset-1")
            .aws_service_name(service)
            .build()
    };
    let first = mock!(aws_sdk_outposts::Client::list_asset_instances)
        .match_requests(|r| r.outpost_identifier() == Some(OUTPOST_A) && r.next_token().is_none())
        .then_output(move || {
            ListAssetInstancesOutput::builder()
                .asset_instances(instance("i-1", "m5.large", AwsServiceName::Ec2))
                .next_token("1##p2")
                .build()
        });
    let second = mock!(aws_sdk_outposts::Client::list_asset_instances)
        .match_requests(|r| r.next_token() == Some("1##p2"))
        .then_output(move || {
            ListAssetInstancesOutput::builder()
                // An ELB node takes a slot too.
                .asset_instances(instance("i-2", "c5.large", AwsServiceName::Elb))
                .build()
        });
    let client = mock_client!(aws_sdk_outposts, RuleMode::MatchAny, [&first, &second]);
    let outpost = OutpostId::parse(OUTPOST_A).unwrap();
    let types = OutpostsApi::new(client)
        .running_types(&outpost)
        .await
        .unwrap();
    assert_eq!(types, ["m5.large", "c5.large"]);

    let denied = mock!(aws_sdk_outposts::Client::list_asset_instances)
        .then_error(|| ListAssetInstancesError::generic(aws_error("AccessDeniedException")));
    let client = mock_client!(aws_sdk_outposts, [&denied]);
    let error = OutpostsApi::new(client)
        .running_types(&outpost)
        .await
        .unwrap_err();
    assert_eq!(error.kind, ErrorKind::AccessDenied);
    assert_eq!(error.operation, "outposts:ListAssetInstances");
}
