//! The DRS strategy over the real SDK adapters with mocked EC2, DRS and SNS: each scenario
//! describes a world, the mocks answer from it, and the test reads what was sent.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

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

mod support;
use autorestart_core::outcome::OutcomeKind;
use autorestart_core::report::{AlarmReport, InstanceReport};
use autorestart_core::tags::Strategy;

use support::{ARN_A, tag};

/// The world the mocks answer from.
#[derive(Clone, Default)]
struct Scenario {
    /// (instance id, Name) protected with strategy drs, on the failed Outpost.
    originals: Vec<(String, String)>,
    /// (source server id, hostname, awsInstanceID, replication state)
    servers: Vec<(String, String, Option<String>, DataReplicationState)>,
    /// (instance id, Name, state) tagged AWSDRS=AllowLaunchingIntoThisInstance, in the Region.
    targets: Vec<(String, String, InstanceStateName)>,
    /// Source servers whose launch configuration is ready, launching into this instance.
    configured: HashMap<String, String>,
    /// (job id, source servers) still running.
    running_jobs: Vec<(String, Vec<String>)>,
    /// StartRecovery answers ThrottlingException.
    throttled: bool,
}

/// One CreateTags call: the instances and the (key, value) tags.
type TagCall = (Vec<String>, Vec<(String, String)>);

/// What the mocks were sent.
#[derive(Default)]
struct Sent {
    updates: Vec<String>,
    jobs: Vec<usize>,
    tags: Vec<TagCall>,
    published: Vec<String>,
}

fn ec2_instance(
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
fn subnets_rule() -> aws_smithy_mocks::Rule {
    support::subnets(&[("subnet-a", Some(ARN_A)), ("subnet-r", None)])
}

/// CreateTags, each call recorded in `sent`.
fn tag_recorder(sent: &Arc<Mutex<Sent>>) -> aws_smithy_mocks::Rule {
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
fn publish_recorder(sent: &Arc<Mutex<Sent>>) -> aws_smithy_mocks::Rule {
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

fn scenario(n: usize) -> Scenario {
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

async fn run(s: Scenario) -> (AlarmReport, Sent) {
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
            assert!(r.tags().is_none(), "no job tags");
            let mut sent = record.lock().unwrap();
            sent.jobs.push(r.source_servers().len());
            let job = Job::builder()
                .job_id(format!("drsjob-{:017}", sent.jobs.len()))
                .build()
                .unwrap();
            StartRecoveryOutput::builder().job(job).build()
        })
    };
    let drs = mock_client!(
        aws_sdk_drs,
        RuleMode::MatchAny,
        [&servers, &get_config, &update_config, &jobs, &start]
    );

    let groups = mock!(aws_sdk_elasticloadbalancingv2::Client::describe_target_groups)
        .then_output(|| DescribeTargetGroupsOutput::builder().build());
    let elb = mock_client!(aws_sdk_elasticloadbalancingv2, [&groups]);
    let publish = publish_recorder(&sent);
    let sns = mock_client!(aws_sdk_sns, [&publish]);

    let report = support::sdk_agent(ec2, elb, sns, drs)
        .outage()
        .handle(&support::outage())
        .await
        .unwrap();
    let sent = std::mem::take(&mut *sent.lock().unwrap());
    (report, sent)
}

fn only(report: &AlarmReport) -> &InstanceReport {
    assert_eq!(report.instances.len(), 1);
    &report.instances[0]
}

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
        reason.contains("STALLED (lag PT2H), not CONTINUOUS"),
        "{reason}"
    );
    assert!(sent.jobs.is_empty() && sent.updates.is_empty());
    assert!(sent.published[0].contains("NOT RECOVERED"));
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
        let report = agent.drs_finish().handle_drs_result(&result).await.unwrap();
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
