//! The helpers of `drs_over_sdk.rs`.

use super::{ARN_A, tag};
use autorestart_core::outcome::OutcomeKind;
use autorestart_core::report::{AlarmReport, InstanceReport};
use autorestart_core::tags::Strategy;
use aws_sdk_drs::error::ErrorMetadata as DrsErrorMetadata;
use aws_sdk_drs::operation::describe_jobs::DescribeJobsOutput;
use aws_sdk_drs::operation::describe_source_servers::DescribeSourceServersOutput;
use aws_sdk_drs::operation::get_launch_configuration::GetLaunchConfigurationOutput;
use aws_sdk_drs::operation::start_recovery::{StartRecoveryError, StartRecoveryOutput};
use aws_sdk_drs::operation::update_launch_configuration::UpdateLaunchConfigurationOutput;
use aws_sdk_drs::types::{
    DataReplicationInfo, DataReplicationState, IdentificationHints, Job, JobStatus, JobType,
    LaunchIntoInstanceProperties, ParticipatingServer, SourceProperties, SourceServer,
    TargetInstanceTypeRightSizingMethod,
};
use aws_sdk_ec2::operation::create_tags::CreateTagsOutput;
use aws_sdk_ec2::operation::describe_instances::DescribeInstancesOutput;
use aws_sdk_ec2::types::{Instance, InstanceState, InstanceStateName, Reservation};
use aws_sdk_elasticloadbalancingv2::operation::describe_target_groups::DescribeTargetGroupsOutput;
use aws_sdk_sns::operation::publish::PublishOutput;
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// The world the mocks answer from.
#[derive(Clone, Default)]
pub struct Scenario {
    /// (instance id, Name) protected with strategy drs, on the failed Outpost.
    pub originals: Vec<(String, String)>,
    /// (source server id, hostname, awsInstanceID, replication state)
    pub servers: Vec<(String, String, Option<String>, DataReplicationState)>,
    /// (instance id, Name, state) tagged AWSDRS=AllowLaunchingIntoThisInstance, in the Region.
    pub targets: Vec<(String, String, InstanceStateName)>,
    /// Source servers whose launch configuration is ready, launching into this instance.
    pub configured: HashMap<String, String>,
    /// (job id, source servers) still running.
    pub running_jobs: Vec<(String, Vec<String>)>,
    /// StartRecovery answers ThrottlingException.
    pub throttled: bool,
    /// Per source server, its newest recovery snapshot (id, RFC 3339 time).
    pub snapshots: HashMap<String, (String, String)>,
}

/// One CreateTags call: the instances and the (key, value) tags.
pub type TagCall = (Vec<String>, Vec<(String, String)>);

/// What the mocks were sent.
#[derive(Default)]
pub struct Sent {
    pub updates: Vec<String>,
    pub jobs: Vec<usize>,
    /// The recovery snapshot each started server was asked to launch from.
    pub started_from: Vec<(String, Option<String>)>,
    pub tags: Vec<TagCall>,
    pub published: Vec<String>,
}

pub fn ec2_instance(
    id: &str,
    name: &str,
    subnet: &str,
    state: InstanceStateName,
    tags: &[(&str, &str)],
) -> Instance {
    let mut i = Instance::builder()
        .instance_id(id)
        .subnet_id(subnet)
        .state(InstanceState::builder().name(state).build())
        .tags(tag("Name", name));
    for (k, v) in tags {
        i = i.tags(tag(k, v));
    }
    i.build()
}

/// Subnet A on the failed Outpost, subnet R in the Region.
pub fn subnets_rule() -> aws_smithy_mocks::Rule {
    super::subnets(&[("subnet-a", Some(ARN_A)), ("subnet-r", None)])
}

/// CreateTags, each call recorded in `sent`.
pub fn tag_recorder(sent: &Arc<Mutex<Sent>>) -> aws_smithy_mocks::Rule {
    let record = sent.clone();
    mock!(aws_sdk_ec2::Client::create_tags).then_compute_output(move |r| {
        let tags = r
            .tags()
            .iter()
            .map(|t| (t.key().unwrap().to_owned(), t.value().unwrap().to_owned()))
            .collect();
        record
            .lock()
            .unwrap()
            .tags
            .push((r.resources().to_vec(), tags));
        CreateTagsOutput::builder().build()
    })
}

/// SNS Publish, each message recorded in `sent`.
pub fn publish_recorder(sent: &Arc<Mutex<Sent>>) -> aws_smithy_mocks::Rule {
    let record = sent.clone();
    mock!(aws_sdk_sns::Client::publish).then_compute_output(move |r| {
        record
            .lock()
            .unwrap()
            .published
            .push(r.message().unwrap().to_owned());
        PublishOutput::builder().message_id("m-1").build()
    })
}

pub fn scenario(n: usize) -> Scenario {
    let mut s = Scenario::default();
    for i in 0..n {
        let id = format!("i-{i:017x}");
        let name = format!("app-{i}");
        s.originals.push((id.clone(), name.clone()));
        s.servers.push((
            format!("s-{i:017x}"),
            format!("{name}.corp.example"),
            Some(id),
            DataReplicationState::Continuous,
        ));
        s.targets.push((
            format!("i-{:017x}", 0xa000 + i),
            name.to_uppercase(),
            InstanceStateName::Stopped,
        ));
    }
    s
}

pub async fn run(s: Scenario) -> (AlarmReport, Sent) {
    let sent = Arc::new(Mutex::new(Sent::default()));
    let world = Arc::new(s.clone());

    let w = world.clone();
    let instances = mock!(aws_sdk_ec2::Client::describe_instances).then_compute_output(move |r| {
        let wanted = |name: &str| {
            r.filters()
                .iter()
                .find(|f| f.name() == Some(name))
                .map(|f| f.values().to_vec())
        };
        let mut found = Vec::new();
        if wanted("tag-key").is_some() {
            for (id, name) in &w.originals {
                let protected = [
                    ("autorestart:enabled", "true"),
                    ("autorestart:strategy", "drs"),
                ];
                found.push(ec2_instance(
                    id,
                    name,
                    "subnet-a",
                    InstanceStateName::Running,
                    &protected,
                ));
            }
        }
        if wanted("tag:AWSDRS").is_some() {
            for (id, name, state) in &w.targets {
                let tags = [("AWSDRS", "AllowLaunchingIntoThisInstance")];
                found.push(ec2_instance(id, name, "subnet-r", state.clone(), &tags));
            }
        }
        DescribeInstancesOutput::builder()
            .reservations(Reservation::builder().set_instances(Some(found)).build())
            .build()
    });
    let subnets = subnets_rule();
    let create_tags = tag_recorder(&sent);
    let ec2 = mock_client!(
        aws_sdk_ec2,
        RuleMode::MatchAny,
        [&instances, &subnets, &create_tags]
    );

    let w = world.clone();
    let servers =
        mock!(aws_sdk_drs::Client::describe_source_servers).then_compute_output(move |_| {
            let items = w
                .servers
                .iter()
                .map(|(id, host, hint, state)| {
                    SourceServer::builder()
                        .source_server_id(id)
                        .source_properties(
                            SourceProperties::builder()
                                .identification_hints(
                                    IdentificationHints::builder()
                                        .hostname(host)
                                        .set_aws_instance_id(hint.clone())
                                        .build(),
                                )
                                .build(),
                        )
                        .data_replication_info(
                            DataReplicationInfo::builder()
                                .data_replication_state(state.clone())
                                .lag_duration("PT2H")
                                .build(),
                        )
                        .build()
                })
                .collect();
            DescribeSourceServersOutput::builder()
                .set_items(Some(items))
                .build()
        });
    let w = world.clone();
    let get_config =
        mock!(aws_sdk_drs::Client::get_launch_configuration).then_compute_output(move |r| {
            let server = r.source_server_id().unwrap();
            match w.configured.get(server) {
                Some(target) => GetLaunchConfigurationOutput::builder()
                    .copy_private_ip(false)
                    .copy_tags(false)
                    .target_instance_type_right_sizing_method(
                        TargetInstanceTypeRightSizingMethod::None,
                    )
                    .launch_into_instance_properties(
                        LaunchIntoInstanceProperties::builder()
                            .launch_into_ec2_instance_id(target)
                            .build(),
                    )
                    .build(),
                None => GetLaunchConfigurationOutput::builder()
                    .copy_private_ip(true)
                    .copy_tags(true)
                    .target_instance_type_right_sizing_method(
                        TargetInstanceTypeRightSizingMethod::Basic,
                    )
                    .build(),
            }
        });
    let record = sent.clone();
    let update_config = mock!(aws_sdk_drs::Client::update_launch_configuration)
        .then_compute_output(move |r| {
            let step = match r.launch_into_instance_properties() {
                Some(p) => format!(
                    "{} launch-into {}",
                    r.source_server_id().unwrap(),
                    p.launch_into_ec2_instance_id().unwrap()
                ),
                None => {
                    assert_eq!(r.copy_private_ip(), Some(false));
                    assert_eq!(r.copy_tags(), Some(false));
                    assert_eq!(
                        r.target_instance_type_right_sizing_method(),
                        Some(&TargetInstanceTypeRightSizingMethod::None)
                    );
                    format!("{} prepare", r.source_server_id().unwrap())
                }
            };
            record.lock().unwrap().updates.push(step);
            UpdateLaunchConfigurationOutput::builder().build()
        });
    let w = world.clone();
    let jobs = mock!(aws_sdk_drs::Client::describe_jobs).then_compute_output(move |r| {
        assert!(
            r.filters().and_then(|f| f.from_date()).is_some(),
            "jobs are read in a bounded window"
        );
        let mut items: Vec<Job> = w
            .running_jobs
            .iter()
            .map(|(id, servers)| {
                Job::builder()
                    .job_id(id)
                    .status(JobStatus::Started)
                    .r#type(JobType::Launch)
                    .set_participating_servers(Some(
                        servers
                            .iter()
                            .map(|s| ParticipatingServer::builder().source_server_id(s).build())
                            .collect(),
                    ))
                    .build()
                    .unwrap()
            })
            .collect();
        items.push(
            Job::builder()
                .job_id("drsjob-done")
                .status(JobStatus::Completed)
                .r#type(JobType::Launch)
                .participating_servers(
                    ParticipatingServer::builder()
                        .source_server_id("s-00000000000000000")
                        .build(),
                )
                .build()
                .unwrap(),
        );
        DescribeJobsOutput::builder().set_items(Some(items)).build()
    });
    let record = sent.clone();
    // A computed response cannot be replayed on the SDK's retry attempts: throttling is a plain error rule.
    let start = if s.throttled {
        mock!(aws_sdk_drs::Client::start_recovery).then_error(|| {
            StartRecoveryError::generic(
                DrsErrorMetadata::builder()
                    .code("ThrottlingException")
                    .message("Rate exceeded")
                    .build(),
            )
        })
    } else {
        mock!(aws_sdk_drs::Client::start_recovery).then_compute_output(move |r| {
            assert_eq!(r.is_drill(), Some(false));
            // The job says which incident it recovers, so the next run finds it by that.
            let incident = r.tags().and_then(|t| t.get("autorestart:incident"));
            assert!(
                incident.is_some_and(|i| i.starts_with("op-")),
                "{:?}",
                r.tags()
            );
            let mut sent = record.lock().unwrap();
            sent.jobs.push(r.source_servers().len());
            for s in r.source_servers() {
                sent.started_from.push((
                    s.source_server_id().to_owned(),
                    s.recovery_snapshot_id().map(str::to_owned),
                ));
            }
            let job = Job::builder()
                .job_id(format!("drsjob-{:017}", sent.jobs.len()))
                .build()
                .unwrap();
            StartRecoveryOutput::builder().job(job).build()
        })
    };
    let w = world.clone();
    let snapshots = mock!(aws_sdk_drs::Client::describe_recovery_snapshots).then_compute_output(
        move |r| {
            assert_eq!(r.max_results(), Some(1), "only the newest");
            let items = w
                .snapshots
                .get(r.source_server_id().unwrap())
                .map(|(id, at)| {
                    aws_sdk_drs::types::RecoverySnapshot::builder()
                        .snapshot_id(id)
                        .source_server_id(r.source_server_id().unwrap())
                        .expected_timestamp(at)
                        .timestamp(at)
                        .build()
                        .unwrap()
                });
            aws_sdk_drs::operation::describe_recovery_snapshots::DescribeRecoverySnapshotsOutput::builder()
                .set_items(Some(items.into_iter().collect()))
                .build()
        },
    );
    let drs = mock_client!(
        aws_sdk_drs,
        RuleMode::MatchAny,
        [
            &servers,
            &get_config,
            &update_config,
            &jobs,
            &start,
            &snapshots
        ]
    );

    let groups = mock!(aws_sdk_elasticloadbalancingv2::Client::describe_target_groups)
        .then_output(|| DescribeTargetGroupsOutput::builder().build());
    let elb = mock_client!(aws_sdk_elasticloadbalancingv2, [&groups]);
    let publish = publish_recorder(&sent);
    let sns = mock_client!(aws_sdk_sns, [&publish]);

    let report = super::sdk_agent(ec2, elb, sns, drs)
        .handle_alarm(&super::outage())
        .await
        .unwrap();
    let sent = std::mem::take(&mut *sent.lock().unwrap());
    (report, sent)
}

pub fn only(report: &AlarmReport) -> &InstanceReport {
    assert_eq!(report.instances.len(), 1);
    &report.instances[0]
}
