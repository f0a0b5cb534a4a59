//! A DRS launch result finishes a DRS recovery: on success, membership moves from the original
//! to the recovery instance (the same code as the template path) and both are tagged; on
//! failure, the job log says why. Drill results never touch load balancers.

use tracing::{info, warn};

use autorestart_core::drs;
use autorestart_core::error::AwsError;
use autorestart_core::ids::InstanceId;
use autorestart_core::inventory::Instance;
use autorestart_core::report::{DrsLaunchResult, DrsReport, TargetGroupReport};
use autorestart_core::settings::Mode;
use autorestart_core::{moves, notice, tags};

use crate::agent::{Agent, Services};
use crate::error::FlowError;
use crate::membership;
use crate::notify;
use crate::ports::{Compute, DisasterRecovery, LoadBalancing};

impl<S: Services> Agent<S> {
    /// Handles a DRS launch result; idempotent for repeats.
    #[tracing::instrument(name = "drs_result", skip_all, fields(job = %result.job_id, source_server = %result.source_server_id))]
    pub async fn handle_drs_result(
        &self,
        result: &DrsLaunchResult,
    ) -> Result<DrsReport, FlowError> {
        let mut report = DrsReport::of(result);
        let (original, failback) = self.original_of(result).await.map_err(FlowError::Read)?;
        // A failback's launch into its original (`failback`): the failback finishes and
        // reports it, not this.
        if failback {
            info!(job = %result.job_id, "a failback's launch; left to the failback");
            report.reason = Some(drs::failback_launch(&result.job_id));
            return Ok(report);
        }
        report.original_id = original.as_ref().map(|o| o.id.clone());
        if let Some(o) = &original {
            report.original_name = Some(o.display_name().to_owned());
            report.outpost = o
                .outpost_arn
                .as_deref()
                .and_then(autorestart_core::alarm::OutpostId::from_arn);
            report.incident = o.tag(tags::INCIDENT).map(str::to_owned);
        }
        if result.succeeded {
            self.finish_launch(result, original, report).await
        } else {
            self.report_failure(result, original.as_ref(), report).await
        }
    }

    /// A failed launch: the job log's reason and what happens next, said once per server.
    async fn report_failure(
        &self,
        result: &DrsLaunchResult,
        original: Option<&Instance>,
        mut report: DrsReport,
    ) -> Result<DrsReport, FlowError> {
        let failures = self
            .drs
            .job_failures(&result.job_id, &result.source_server_id)
            .await
            .map_err(FlowError::Read)?;
        report.reason = Some(drs::job_failed(
            &result.job_id,
            &result.source_server_id,
            &failures,
        ));
        let attempt = original.map_or(1, drs::attempt_of);
        report.advice = Some(drs::job_failed_advice(
            result.drill,
            attempt,
            drs::refused_every_time(&failures),
        ));
        // Once per source server: the marker is on the server's own original.
        let marked = original
            .as_ref()
            .filter(|o| o.tag(tags::REPORTED) == Some(result.job_id.as_str()));
        if marked.is_some() {
            info!(job = %result.job_id, server = %result.source_server_id, "DRS failure reported already");
            return Ok(report);
        }
        let mark = original
            .as_ref()
            .filter(|_| self.settings.mode == Mode::Recover && !result.drill)
            .map(|o| o.id.clone());
        self.publish_drs(report, mark.as_deref()).await
    }

    /// A successful launch: membership moved to the recovery instance and both tagged, unless
    /// it was a drill or belongs to no protected instance.
    async fn finish_launch(
        &self,
        result: &DrsLaunchResult,
        original: Option<Instance>,
        mut report: DrsReport,
    ) -> Result<DrsReport, FlowError> {
        let recovery = self
            .drs
            .recovery_instance(&result.source_server_id, &result.job_id)
            .await
            .map_err(FlowError::Read)?;
        let Some(recovery) = recovery else {
            report.reason =
                Some("DRS reports success but lists no recovery instance for the job".into());
            report.advice = Some("check the job in the DRS console.".into());
            return self.publish_drs(report, None).await;
        };
        report.recovery_instance_id = Some(recovery.ec2_instance_id.clone());
        // DRS's own record decides: a drill never moves membership, whatever the event said.
        if result.drill || recovery.is_drill {
            report.drill = true;
            report.reason = Some("drill: load balancers and originals are left alone".into());
            return self.publish_drs(report, None).await;
        }
        let Some(original) = original else {
            report.reason = Some(drs::no_protected_instance(&result.source_server_id));
            return self.publish_drs(report, None).await;
        };
        let found = self
            .compute
            .instances(std::slice::from_ref(&recovery.ec2_instance_id))
            .await
            .map_err(FlowError::Read)?;
        let Some(launched) = found.into_iter().next() else {
            report.reason = Some(format!(
                "recovery instance {} is not visible in EC2",
                recovery.ec2_instance_id
            ));
            report.advice = Some(
                "check the instance in the EC2 console, then move its target groups by hand."
                    .into(),
            );
            return self.publish_drs(report, None).await;
        };
        if self.settings.mode == Mode::Recover {
            self.record_replacement(&original, &launched).await;
            report.target_groups = self.move_to(&original, &launched).await;
        } else {
            report.reason = Some("notify-only mode: nothing was tagged or moved".into());
        }
        if launched.tag(tags::REPORTED).is_some()
            && report.target_groups.iter().all(|t| t.note.is_none())
        {
            info!(job = %result.job_id, "DRS result reported already");
            return Ok(report);
        }
        // Notify-only changes nothing, not even the reported marker.
        let mark = (self.settings.mode == Mode::Recover).then_some(launched.id.as_str());
        self.publish_drs(report, mark).await
    }

    /// The protected original of the result's source server: the one tagged with the job, else
    /// the instance named in the server's identification hints, if it opted in.
    /// Also whether the server replicates a recovery instance back: then the launch is a
    /// failback's.
    async fn original_of(
        &self,
        result: &DrsLaunchResult,
    ) -> Result<(Option<Instance>, bool), AwsError> {
        let servers = self
            .drs
            .source_servers(std::slice::from_ref(&result.source_server_id))
            .await?;
        let Some(server) = servers.first() else {
            return Ok((None, false));
        };
        if server.replicates_back {
            return Ok((None, true));
        }
        let tagged = self
            .compute
            .instances_tagged(tags::DRS_JOB, std::slice::from_ref(&result.job_id))
            .await?;
        if let Some(original) = tagged
            .iter()
            .find(|o| drs::source_server_of(&servers, o).is_some())
        {
            return Ok((Some(original.clone()), false));
        }
        let Some(hint) = &server.aws_instance_id else {
            return Ok((None, false));
        };
        let named = self.compute.instances(std::slice::from_ref(hint)).await?;
        Ok((named.into_iter().find(Instance::is_opted_in), false))
    }

    async fn record_replacement(&self, original: &Instance, launched: &Instance) {
        let incident = original.tag(tags::INCIDENT).unwrap_or_default().to_owned();
        let on_original = [(tags::REPLACED_BY.to_owned(), launched.id.to_string())];
        let on_launched = [
            (tags::REPLACEMENT_OF.to_owned(), original.id.to_string()),
            (tags::INCIDENT.to_owned(), incident),
        ];
        if let Err(error) = self
            .compute
            .tag(std::slice::from_ref(&original.id), &on_original)
            .await
        {
            warn!(%error, "could not tag the original with its DRS recovery instance");
        }
        if let Err(error) = self
            .compute
            .tag(std::slice::from_ref(&launched.id), &on_launched)
            .await
        {
            warn!(%error, "could not tag the DRS recovery instance");
        }
    }

    async fn move_to(&self, original: &Instance, launched: &Instance) -> Vec<TargetGroupReport> {
        let memberships = match self
            .balancer
            .memberships(&self.settings.target_groups)
            .await
        {
            Ok(read) => {
                for group in &read.missing {
                    warn!(target_group = %group, "a target group in scope no longer exists: skipped");
                }
                read.registered
            }
            Err(error) => {
                return vec![TargetGroupReport {
                    target_group_arn: String::new().into(),
                    from: original.id.to_string(),
                    to: Some(launched.id.to_string()),
                    port: None,
                    registered: false,
                    healthy: false,
                    deregistered: false,
                    note: Some(autorestart_core::report::load_balancing_error(&error)),
                }];
            }
        };
        let scope = &self.settings.target_groups;
        let (moves, _) = moves::plan_moves(&memberships, &[(original, launched)], scope);
        let outcomes = membership::execute_moves(
            &self.balancer,
            moves,
            self.settings.health_wait,
            self.settings.concurrency,
        )
        .await;
        outcomes.iter().map(TargetGroupReport::from).collect()
    }

    pub async fn publish_drs(
        &self,
        mut report: DrsReport,
        reported: Option<&str>,
    ) -> Result<DrsReport, FlowError> {
        let reported: Vec<InstanceId> = reported.into_iter().map(InstanceId::from).collect();
        match notify::publish_marked(
            &self.notifier,
            &self.compute,
            &notice::drs_result(&report, &self.settings.place),
            &reported,
            &report.job_id,
        )
        .await
        {
            Ok(message_id) => {
                report.message_id = Some(message_id);
                Ok(report)
            }
            Err(error) => Err(FlowError::notify(error, &report)),
        }
    }
}
