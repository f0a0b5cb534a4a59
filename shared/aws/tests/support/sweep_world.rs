//! The helpers of `sweep_adapters.rs` and `ec2_drs_adapters.rs`.

use super::{OUTPOST_A, aws_error, fast_retries};
use autorestart_aws::{CloudWatchAlarms, DrsService, Ec2Compute, OutpostsApi};
use autorestart_core::alarm::{AlarmChange, AlarmMetric, AlarmState, OutpostId};
use autorestart_core::drs::{ActiveJob, JobSnapshot};
use autorestart_core::error::ErrorKind;
use autorestart_flows::ports::{Alarms, Asset, Compute, DisasterRecovery, Outposts};
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

pub const OUTPOST_B: &str = "op-0bbbbbbbbbbbbbbb2";

pub const ALARM_ARN: &str = "arn:aws:cloudwatch:us-east-1:111122223333:alarm:outpost-a-connected";

pub const JOB_ID: &str = "drsjob-0123456789abcdef0";

pub fn at(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

/// The same moment as CloudWatch sends it.
pub fn timestamp(text: &str) -> SmithyDateTime {
    SmithyDateTime::from_millis(at(text).timestamp_millis())
}

pub fn outpost_dimension(outpost: &str) -> Dimension {
    Dimension::builder()
        .name("OutpostId")
        .value(outpost)
        .build()
}

/// `AWS/Outposts` `ConnectedStatus`, for one Outpost or without dimensions.
pub fn connected_status(outpost: Option<&str>) -> AlarmMetric {
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

/// A compute asset in `state`, configured for these (instance type, count).
pub fn asset(id: &str, state: ComputeAssetState, capacities: &[(&str, i32)]) -> AssetInfo {
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

pub fn ids(list: &[&str]) -> Vec<String> {
    list.iter().copied().map(str::to_owned).collect()
}

pub fn instance_ids(list: &[&str]) -> Vec<autorestart_core::ids::InstanceId> {
    list.iter().copied().map(Into::into).collect()
}

pub fn instance_id(n: usize) -> String {
    format!("i-{n:017x}")
}

pub fn has_filter(filters: &[Filter], name: &str, values: &[&str]) -> bool {
    filters
        .iter()
        .any(|f| f.name() == Some(name) && f.values() == values)
}

pub fn image(id: &str) -> Image {
    Image::builder()
        .image_id(id)
        .state(ImageState::Available)
        .build()
}

pub fn participant(server: &str, status: LaunchStatus) -> ParticipatingServer {
    ParticipatingServer::builder()
        .source_server_id(server)
        .launch_status(status)
        .build()
}
