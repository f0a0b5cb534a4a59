//! Elastic Disaster Recovery in memory.

use super::*;
use crate::Op;
use autorestart_core::vocabulary::LaunchStatus;

impl DisasterRecovery for InMemoryAws {
    async fn source_servers(&self, ids: &[String]) -> Result<Vec<SourceServer>, AwsError> {
        self.call(Op::DescribeSourceServers, |w| {
            Ok(w.drs_servers
                .iter()
                .filter(|s| ids.is_empty() || ids.contains(&s.id))
                .cloned()
                .collect())
        })
        .await
    }

    async fn launch_settings(&self, source_server_id: &str) -> Result<LaunchSettings, AwsError> {
        self.call(Op::GetLaunchConfiguration, |w| {
            Ok(w.drs_settings
                .get(source_server_id)
                .cloned()
                .unwrap_or_default())
        })
        .await
    }

    async fn update_launch_settings(
        &self,
        source_server_id: &str,
        update: &LaunchUpdate,
    ) -> Result<(), AwsError> {
        self.call(Op::UpdateLaunchConfiguration, |w| {
            let settings = w
                .drs_settings
                .entry(source_server_id.to_owned())
                .or_default();
            match update {
                LaunchUpdate::Prepare => {
                    settings.copy_private_ip = Some(false);
                    settings.copy_tags = Some(false);
                    settings.right_sizing = Some("NONE".into());
                }
                LaunchUpdate::LaunchInto { instance_id } => {
                    settings.launch_into = Some(instance_id.clone())
                }
            }
            Ok(())
        })
        .await
    }

    async fn active_jobs(&self) -> Result<Vec<ActiveJob>, AwsError> {
        self.call(Op::DescribeJobs, |w| {
            Ok(w.drs_jobs
                .iter()
                .filter(|(job, done)| !done || job.incident.is_some())
                .map(|(job, done)| {
                    let failed = job
                        .source_server_ids
                        .iter()
                        .filter(|s| {
                            *done
                                && !w
                                    .drs_recovery_instances
                                    .contains_key(&((*s).clone(), job.job_id.clone()))
                        })
                        .cloned()
                        .collect();
                    ActiveJob {
                        finished: *done,
                        failed,
                        ..job.clone()
                    }
                })
                .collect())
        })
        .await
    }

    async fn job(&self, job_id: &str) -> Result<Option<JobSnapshot>, AwsError> {
        self.call(Op::DescribeJobs, |w| {
            Ok(w.drs_jobs
                .iter()
                .find(|(job, _)| job.job_id == job_id)
                .map(|(job, done)| JobSnapshot {
                    job_id: job.job_id.clone(),
                    status: if *done { "COMPLETED" } else { "STARTED" }.into(),
                    servers: job
                        .source_server_ids
                        .iter()
                        .map(|s| {
                            let launched = w
                                .drs_recovery_instances
                                .contains_key(&(s.clone(), job.job_id.clone()));
                            let status = match (done, launched) {
                                (false, _) => LaunchStatus::InProgress,
                                (true, true) => LaunchStatus::Launched,
                                (true, false) => LaunchStatus::Failed,
                            };
                            (s.clone(), status)
                        })
                        .collect(),
                    created_at: w.drs_job_created.get(&job.job_id).copied(),
                }))
        })
        .await
    }

    async fn latest_recovery_point(
        &self,
        source_server_id: &str,
    ) -> Result<Option<RecoveryPoint>, AwsError> {
        self.call(Op::DescribeRecoverySnapshots, |w| {
            Ok(w.drs_servers
                .iter()
                .find(|s| s.id == source_server_id)
                .and_then(|s| s.recovery_point.clone()))
        })
        .await
    }

    async fn start_recovery(
        &self,
        servers: &[RecoveryStart],
        drill: bool,
        job_tags: &[(String, String)],
    ) -> Result<String, AwsError> {
        self.call(Op::StartRecovery, |w| {
            // DRS refuses the whole job when one server cannot start now.
            if let Some(busy) = servers
                .iter()
                .find(|s| w.drs_conflicting.contains(&s.source_server_id))
            {
                return Err(AwsError::from_code(
                    "drs:StartRecovery",
                    "ConflictException",
                    format!(
                        "Source server {} is already participating in another job",
                        busy.source_server_id
                    ),
                ));
            }
            let job_id = format!("drsjob-{:017x}", w.drs_jobs.len() + 1);
            for server in servers {
                w.drs_started_from
                    .insert(server.source_server_id.clone(), server.snapshot_id.clone());
            }
            let job = ActiveJob {
                job_id: job_id.clone(),
                source_server_ids: servers.iter().map(|s| s.source_server_id.clone()).collect(),
                drill,
                incident: tags::value_in(job_tags, tags::INCIDENT).map(str::to_owned),
                ..ActiveJob::default()
            };
            w.drs_job_created.insert(job_id.clone(), chrono::Utc::now());
            let at_once = w.drs_launch_at_once;
            if at_once {
                for server in servers {
                    let target = w
                        .drs_settings
                        .get(&server.source_server_id)
                        .and_then(|s| s.launch_into.clone());
                    if let Some(target) = target
                        && let Some(instance) = w.instances.get_mut(&target)
                    {
                        instance.state = "running".into();
                        w.drs_recovery_instances.insert(
                            (server.source_server_id.clone(), job_id.clone()),
                            RecoveryInstance {
                                recovery_instance_id: target.clone(),
                                ec2_instance_id: target.as_str().into(),
                                is_drill: drill,
                            },
                        );
                    }
                }
            }
            w.drs_jobs.push((job, at_once));
            Ok(job_id)
        })
        .await
    }

    async fn recovery_instance(
        &self,
        source_server_id: &str,
        job_id: &str,
    ) -> Result<Option<RecoveryInstance>, AwsError> {
        self.call(Op::DescribeRecoveryInstances, |w| {
            Ok(w.drs_recovery_instances
                .get(&(source_server_id.to_owned(), job_id.to_owned()))
                .cloned())
        })
        .await
    }

    async fn reverse_replication(
        &self,
        recovery_instance_id: &autorestart_core::ids::InstanceId,
    ) -> Result<String, AwsError> {
        self.call(Op::ReverseReplication, |w| {
            if !w.instances.contains_key(recovery_instance_id.as_str()) {
                return Err(AwsError::from_code(
                    "drs:ReverseReplication",
                    "ResourceNotFoundException",
                    format!("Recovery instance {recovery_instance_id} not found"),
                ));
            }
            if w.drs_servers.iter().any(|s| {
                s.replicates_back && s.aws_instance_id.as_ref() == Some(recovery_instance_id)
            }) {
                return Err(AwsError::from_code(
                    "drs:ReverseReplication",
                    "ConflictException",
                    "Reverse replication already started",
                ));
            }
            let id = format!("s-back{:011x}", w.drs_servers.len() + 1);
            w.drs_servers.push(SourceServer {
                id: id.clone(),
                hostname: None,
                aws_instance_id: Some(recovery_instance_id.clone()),
                replication_state: if w.drs_reverse_continuous {
                    "CONTINUOUS"
                } else {
                    "INITIAL_SYNC"
                }
                .into(),
                lag: None,
                recovery_point: None,
                replicates_back: true,
            });
            Ok(id)
        })
        .await
    }

    async fn job_failures(
        &self,
        job_id: &str,
        _source_server_id: &str,
    ) -> Result<Vec<JobFailure>, AwsError> {
        self.call(Op::DescribeJobLogItems, |w| {
            Ok(w.drs_failures.get(job_id).cloned().unwrap_or_default())
        })
        .await
    }
}
