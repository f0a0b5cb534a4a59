//! [`DisasterRecovery`] over AWS Elastic Disaster Recovery.

use aws_sdk_drs::Client;
use aws_sdk_drs::types::{
    DescribeJobsRequestFilters, DescribeRecoveryInstancesRequestFilters,
    DescribeSourceServersRequestFilters, InitiatedBy, JobLogEvent, JobStatus, JobType,
    LaunchIntoInstanceProperties, LaunchStatus, RecoverySnapshotsOrder,
    StartRecoveryRequestSourceServer, TargetInstanceTypeRightSizingMethod,
};
use chrono::{DateTime, Duration, SecondsFormat, Utc};

use super::sdk_error::from_sdk;
use autorestart_core::drs::{
    ActiveJob, JobFailure, JobSnapshot, LaunchSettings, LaunchUpdate, RecoveryInstance,
    RecoveryPoint, RecoveryStart, SourceServer,
};
use autorestart_core::error::AwsError;
use autorestart_core::tags;
use autorestart_flows::ports::DisasterRecovery;

/// How far back unfinished jobs are looked for: no launch job runs longer.
const JOB_WINDOW_HOURS: i64 = 48;

/// DRS through the SDK client.
#[derive(Clone, Debug)]
pub struct DrsService {
    client: Client,
}

impl DrsService {
    /// Wraps a configured client.
    pub fn new(client: Client) -> Self {
        Self { client }
    }
}

impl DisasterRecovery for DrsService {
    async fn source_servers(&self, ids: &[String]) -> Result<Vec<SourceServer>, AwsError> {
        let filters = DescribeSourceServersRequestFilters::builder()
            .set_source_server_ids((!ids.is_empty()).then(|| ids.to_vec()))
            .build();
        let mut pages = self
            .client
            .describe_source_servers()
            .filters(filters)
            .into_paginator()
            .send();
        let mut servers = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| from_sdk("drs:DescribeSourceServers", e))?;
            for s in page.items() {
                let hints = s.source_properties().and_then(|p| p.identification_hints());
                let replication = s.data_replication_info();
                servers.push(SourceServer {
                    id: s.source_server_id().unwrap_or_default().to_owned(),
                    hostname: hints
                        .and_then(|h| h.hostname().or(h.fqdn()))
                        .map(str::to_owned),
                    aws_instance_id: hints.and_then(|h| h.aws_instance_id()).map(Into::into),
                    replication_state: replication
                        .and_then(|r| r.data_replication_state())
                        .map_or("UNKNOWN", |s| s.as_str())
                        .into(),
                    lag: replication
                        .and_then(|r| r.lag_duration())
                        .map(str::to_owned),
                    recovery_point: None,
                    replicates_back: s.replication_direction()
                        == Some(&aws_sdk_drs::types::ReplicationDirection::Failback),
                });
            }
        }
        Ok(servers)
    }

    async fn launch_settings(&self, source_server_id: &str) -> Result<LaunchSettings, AwsError> {
        let c = self
            .client
            .get_launch_configuration()
            .source_server_id(source_server_id)
            .send()
            .await
            .map_err(|e| from_sdk("drs:GetLaunchConfiguration", e))?;
        Ok(LaunchSettings {
            copy_private_ip: c.copy_private_ip(),
            copy_tags: c.copy_tags(),
            right_sizing: c
                .target_instance_type_right_sizing_method()
                .map(|m| m.as_str().to_owned()),
            launch_into: c
                .launch_into_instance_properties()
                .and_then(|p| p.launch_into_ec2_instance_id())
                .map(str::to_owned),
        })
    }

    async fn update_launch_settings(
        &self,
        source_server_id: &str,
        update: &LaunchUpdate,
    ) -> Result<(), AwsError> {
        let request = self
            .client
            .update_launch_configuration()
            .source_server_id(source_server_id);
        let request = match update {
            LaunchUpdate::Prepare => request
                .copy_private_ip(false)
                .copy_tags(false)
                .target_instance_type_right_sizing_method(
                    TargetInstanceTypeRightSizingMethod::None,
                ),
            LaunchUpdate::LaunchInto { instance_id } => request.launch_into_instance_properties(
                LaunchIntoInstanceProperties::builder()
                    .launch_into_ec2_instance_id(instance_id)
                    .build(),
            ),
        };
        request
            .send()
            .await
            .map_err(|e| from_sdk("drs:UpdateLaunchConfiguration", e))?;
        Ok(())
    }

    async fn active_jobs(&self) -> Result<Vec<ActiveJob>, AwsError> {
        let from = (Utc::now() - Duration::hours(JOB_WINDOW_HOURS))
            .to_rfc3339_opts(SecondsFormat::Secs, true);
        let mut pages = self
            .client
            .describe_jobs()
            .filters(
                DescribeJobsRequestFilters::builder()
                    .from_date(from)
                    .build(),
            )
            .into_paginator()
            .send();
        let mut jobs = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| from_sdk("drs:DescribeJobs", e))?;
            for job in page.items() {
                let finished = job.status() == Some(&JobStatus::Completed);
                let incident = job.tags().and_then(|t| t.get(tags::INCIDENT)).cloned();
                if job.r#type() != Some(&JobType::Launch) || (finished && incident.is_none()) {
                    continue;
                }
                let servers = job.participating_servers();
                jobs.push(ActiveJob {
                    drill: job.initiated_by() == Some(&InitiatedBy::StartDrill),
                    job_id: job.job_id().to_owned(),
                    source_server_ids: servers
                        .iter()
                        .filter_map(|p| p.source_server_id())
                        .map(str::to_owned)
                        .collect(),
                    incident,
                    finished,
                    failed: servers
                        .iter()
                        .filter(|p| finished && p.launch_status() != Some(&LaunchStatus::Launched))
                        .filter_map(|p| p.source_server_id())
                        .map(str::to_owned)
                        .collect(),
                });
            }
        }
        Ok(jobs)
    }

    async fn job(&self, job_id: &str) -> Result<Option<JobSnapshot>, AwsError> {
        let output = self
            .client
            .describe_jobs()
            .filters(
                DescribeJobsRequestFilters::builder()
                    .job_ids(job_id)
                    .build(),
            )
            .send()
            .await
            .map_err(|e| from_sdk("drs:DescribeJobs", e))?;
        Ok(output.items().first().map(|job| JobSnapshot {
            job_id: job.job_id().to_owned(),
            status: job.status().map_or("UNKNOWN", |s| s.as_str()).into(),
            servers: job
                .participating_servers()
                .iter()
                .filter_map(|p| {
                    Some((
                        p.source_server_id()?.to_owned(),
                        p.launch_status().map_or("UNKNOWN", |s| s.as_str()).into(),
                    ))
                })
                .collect(),
            created_at: job
                .creation_date_time()
                .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                .map(|t| t.with_timezone(&Utc)),
        }))
    }

    async fn latest_recovery_point(
        &self,
        source_server_id: &str,
    ) -> Result<Option<RecoveryPoint>, AwsError> {
        let output = self
            .client
            .describe_recovery_snapshots()
            .source_server_id(source_server_id)
            .order(RecoverySnapshotsOrder::Desc)
            .max_results(1)
            .send()
            .await
            .map_err(|e| from_sdk("drs:DescribeRecoverySnapshots", e))?;
        Ok(output.items().first().and_then(|s| {
            let taken = s.timestamp().or(Some(s.expected_timestamp()))?;
            Some(RecoveryPoint {
                snapshot_id: s.snapshot_id().to_owned(),
                taken_at: DateTime::parse_from_rfc3339(taken)
                    .ok()?
                    .with_timezone(&Utc),
            })
        }))
    }

    async fn start_recovery(
        &self,
        servers: &[RecoveryStart],
        drill: bool,
        tags: &[(String, String)],
    ) -> Result<String, AwsError> {
        let servers = servers
            .iter()
            .map(|s| {
                StartRecoveryRequestSourceServer::builder()
                    .source_server_id(&s.source_server_id)
                    .set_recovery_snapshot_id(s.snapshot_id.clone())
                    .build()
                    .map_err(|e| AwsError::malformed("drs:StartRecovery", &e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let output = self
            .client
            .start_recovery()
            .set_source_servers(Some(servers))
            .is_drill(drill)
            .set_tags((!tags.is_empty()).then(|| tags.iter().cloned().collect()))
            // Not idempotent: a resend after a slow answer could start a second job. The
            // agent looks for the job a lost answer started before asking again
            // (`autorestart_flows::patient`).
            .customize()
            .config_override(
                aws_sdk_drs::config::Builder::default()
                    .retry_config(aws_sdk_drs::config::retry::RetryConfig::disabled()),
            )
            .send()
            .await
            .map_err(|e| from_sdk("drs:StartRecovery", e))?;
        output
            .job()
            .map(|j| j.job_id().to_owned())
            .ok_or_else(|| AwsError::malformed("drs:StartRecovery", "job"))
    }

    async fn recovery_instance(
        &self,
        source_server_id: &str,
        job_id: &str,
    ) -> Result<Option<RecoveryInstance>, AwsError> {
        let filters = DescribeRecoveryInstancesRequestFilters::builder()
            .source_server_ids(source_server_id)
            .build();
        let mut pages = self
            .client
            .describe_recovery_instances()
            .filters(filters)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| from_sdk("drs:DescribeRecoveryInstances", e))?;
            if let Some(r) = page.items().iter().find(|r| r.job_id() == Some(job_id)) {
                return Ok(Some(RecoveryInstance {
                    recovery_instance_id: r.recovery_instance_id().unwrap_or_default().to_owned(),
                    ec2_instance_id: r.ec2_instance_id().unwrap_or_default().into(),
                    is_drill: r.is_drill().unwrap_or(false),
                }));
            }
        }
        Ok(None)
    }

    async fn reverse_replication(
        &self,
        recovery_instance_id: &autorestart_core::ids::InstanceId,
    ) -> Result<String, AwsError> {
        let output = self
            .client
            .reverse_replication()
            .recovery_instance_id(recovery_instance_id.as_str())
            .send()
            .await
            .map_err(|e| from_sdk("drs:ReverseReplication", e))?;
        // arn:…:source-server/s-…
        output
            .reversed_direction_source_server_arn()
            .and_then(|arn| arn.rsplit('/').next())
            .filter(|id| id.starts_with("s-"))
            .map(str::to_owned)
            .ok_or_else(|| {
                AwsError::malformed("drs:ReverseReplication", "reversedDirectionSourceServerArn")
            })
    }

    async fn job_failures(
        &self,
        job_id: &str,
        source_server_id: &str,
    ) -> Result<Vec<JobFailure>, AwsError> {
        let mut pages = self
            .client
            .describe_job_log_items()
            .job_id(job_id)
            .into_paginator()
            .send();
        let mut failures = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| from_sdk("drs:DescribeJobLogItems", e))?;
            for item in page.items() {
                let Some(event) = item.event() else { continue };
                let data = item.event_data();
                let server = data.and_then(|d| d.source_server_id());
                if is_failure(event) && server.is_none_or(|s| s == source_server_id) {
                    failures.push(JobFailure {
                        event: event.as_str().to_owned(),
                        raw_error: data.and_then(|d| d.raw_error()).map(str::to_owned),
                    });
                }
            }
        }
        Ok(failures)
    }
}

fn is_failure(event: &JobLogEvent) -> bool {
    let name = event.as_str();
    name.ends_with("_FAIL") || name.ends_with("_FAILED")
}
