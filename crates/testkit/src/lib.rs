//! An in-memory AWS implementing every port: the agent's flow tests and the benchmark run on it.
//! Each call can wait a simulated latency first, and every call is logged.

pub mod fixtures;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use autorestart_core::alarm::{AlarmChange, OutpostId};
use autorestart_core::drs::{
    ActiveJob, JobFailure, JobSnapshot, LaunchSettings, LaunchUpdate, RecoveryInstance,
    SourceServer,
};
use autorestart_core::error::AwsError;
use autorestart_core::inventory::{Instance, PrivateAddress, TemplateTarget};
use autorestart_core::tags::{self, TemplateRef};
use autorestart_flows::budget::Rate;
use autorestart_flows::ports::{
    Alarms, Asset, Compute, DisasterRecovery, LaunchRequest, LoadBalancing, Membership, Notice,
    Notifier, Outposts, Target, TargetGroupScope, TargetKind, TargetState,
};

/// Everything the in-memory AWS holds; tests set it up and read it back.
#[derive(Debug, Default)]
pub struct World {
    /// Instances by id.
    pub instances: BTreeMap<String, Instance>,
    /// Subnets: id to the Outpost ARN they lie on (none for Region subnets).
    pub subnets: HashMap<String, Option<String>>,
    /// Launch templates: reference to the subnet of their primary interface.
    pub templates: HashMap<TemplateRef, String>,
    /// Instances each subnet still has room for; absent means unlimited.
    pub capacity: HashMap<String, usize>,
    /// Errors to answer, by operation name (e.g. `RunInstances`), each used once, in order.
    pub failures: HashMap<&'static str, Vec<AwsError>>,
    /// Target groups: kind and registered targets.
    pub target_groups: BTreeMap<String, (TargetKind, BTreeSet<Target>)>,
    /// Health answered for registered targets, by target id.
    pub health: HashMap<String, String>,
    /// Health of targets absent from `health`; `healthy` when none.
    pub default_health: Option<String>,
    /// Published notices.
    pub published: Vec<Notice>,
    /// Every call, in order.
    pub calls: Vec<&'static str>,
    /// Launch templates without `autorestart:template-for` (all others are the project's).
    pub unmanaged_templates: HashSet<String>,
    /// DRS source servers.
    pub drs_servers: Vec<SourceServer>,
    /// DRS launch configurations by source server.
    pub drs_settings: HashMap<String, LaunchSettings>,
    /// DRS jobs: id, servers, and whether finished.
    pub drs_jobs: Vec<(ActiveJob, bool)>,
    /// When each DRS job was created (by `StartRecovery`, or set by a test).
    pub drs_job_created: HashMap<String, chrono::DateTime<chrono::Utc>>,
    /// DRS recovery instances by (source server, job).
    pub drs_recovery_instances: HashMap<(String, String), RecoveryInstance>,
    /// DRS job-log failures by job.
    pub drs_failures: HashMap<String, Vec<JobFailure>>,
    /// CloudWatch alarms in their current state.
    pub alarms: Vec<AlarmChange>,
    /// Alarm tags by alarm ARN.
    pub alarm_tags: HashMap<String, Vec<(String, String)>>,
    /// Outposts assets by Outpost id; an Outpost absent here answers AccessDenied.
    pub assets: HashMap<String, Vec<Asset>>,
    /// AMIs that exist.
    pub images: HashSet<String>,
    /// The AMI each launch template names.
    pub template_images: HashMap<TemplateRef, String>,
    /// How long a launched instance is `pending` before it runs (EC2: tens of seconds).
    pub pending_for: Duration,
    /// How long a launched instance is missing from Describe answers (eventual consistency).
    pub invisible_for: Duration,
    /// How long a registered target reports `initial` before its health.
    pub initial_for: Duration,
    /// Token buckets by operation (e.g. RunInstances 5 at 2/s); empty ones answer
    /// `RequestLimitExceeded`. Operations absent are not throttled.
    pub buckets: HashMap<&'static str, Bucket>,
    /// Lost answers by operation: the call takes effect, then answers `InternalError`; each
    /// entry is used once, in order (`true`: lose this answer).
    pub lost_answers: HashMap<&'static str, Vec<bool>>,
    /// Random lost answers: this share of the calls to these operations, from a seeded
    /// generator so that a failing run can be replayed.
    pub random_faults: Option<RandomFaults>,
    tokens: HashMap<String, String>,
    launched_at: HashMap<String, Instant>,
    registered_at: HashMap<(String, Target), Instant>,
    next_id: u64,
}

/// An operation's token bucket in the in-memory AWS.
#[derive(Debug, Clone)]
pub struct Bucket {
    rate: Rate,
    tokens: f64,
    at: Instant,
}

impl Bucket {
    /// A full bucket of `rate`.
    pub fn full(rate: Rate) -> Self {
        Self {
            rate,
            tokens: rate.size,
            at: Instant::now(),
        }
    }

    fn take(&mut self) -> bool {
        let now = Instant::now();
        self.tokens = self.rate.refilled(self.tokens, now - self.at);
        self.at = now;
        if Rate::has_token(self.tokens) {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Answers lost at random (after the call took effect).
#[derive(Debug)]
pub struct RandomFaults {
    /// The share of calls whose answer is lost, 0 to 1.
    pub rate: f64,
    /// The operations concerned.
    pub operations: Vec<&'static str>,
    /// The generator, seeded.
    pub rng: fastrand::Rng,
    /// Answers lost so far.
    pub lost: usize,
}

impl World {
    /// Adds an instance in `subnet_id`, with the subnet's Outpost and one private IP.
    pub fn add_instance(&mut self, id: &str, subnet_id: &str, tags: &[(&str, &str)]) {
        let ip = format!(
            "10.0.{}.{}",
            self.instances.len() / 250,
            self.instances.len() % 250 + 4
        );
        let instance = Instance {
            id: id.into(),
            state: "running".into(),
            subnet_id: Some(subnet_id.into()),
            outpost_arn: self.subnets.get(subnet_id).cloned().flatten(),
            instance_type: Some("m5.large".into()),
            tags: tags
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            addresses: vec![PrivateAddress {
                device_index: 0,
                ip,
            }],
            launched_at: Some(chrono::Utc::now()),
        };
        self.instances.insert(id.into(), instance);
    }

    /// Instances tagged as replacements of `original`.
    pub fn replacements_of(&self, original: &str) -> Vec<&Instance> {
        self.instances
            .values()
            .filter(|i| i.tag(tags::REPLACEMENT_OF) == Some(original))
            .collect()
    }

    fn fail(&mut self, operation: &'static str) -> Result<(), AwsError> {
        self.calls.push(operation);
        self.settle();
        if let Some(bucket) = self.buckets.get_mut(operation)
            && !bucket.take()
        {
            return Err(AwsError::from_code(
                operation,
                "RequestLimitExceeded",
                "Request limit exceeded.",
            ));
        }
        match self.failures.get_mut(operation) {
            Some(queue) if !queue.is_empty() => Err(queue.remove(0)),
            _ => Ok(()),
        }
    }

    /// Whether the answer to this call of `operation`, which took effect, is lost.
    fn loses_answer(&mut self, operation: &'static str) -> bool {
        let listed = match self.lost_answers.get_mut(operation) {
            Some(queue) if !queue.is_empty() => queue.remove(0),
            _ => false,
        };
        let random = self.random_faults.as_mut().is_some_and(|f| {
            let lose = f.operations.contains(&operation) && f.rng.f64() < f.rate;
            f.lost += usize::from(lose);
            lose
        });
        listed || random
    }

    /// Instances whose pending time is over run.
    fn settle(&mut self) {
        let now = Instant::now();
        for (id, at) in &self.launched_at {
            if let Some(instance) = self.instances.get_mut(id)
                && instance.state == "pending"
                && now >= *at + self.pending_for
            {
                instance.state = "running".into();
            }
        }
    }

    /// Whether Describe shows the instance yet.
    fn visible(&self, id: &str) -> bool {
        self.launched_at
            .get(id)
            .is_none_or(|at| Instant::now() >= *at + self.invisible_for)
    }

    /// Puts an alarm in the state `change` says, replacing the alarm of that name.
    pub fn set_alarm(&mut self, change: AlarmChange) {
        self.alarms.retain(|a| a.alarm_name != change.alarm_name);
        self.alarms.push(change);
    }

    /// Sets an instance's state, as its operator (or EC2) would.
    pub fn set_state(&mut self, id: &str, state: &str) {
        if let Some(instance) = self.instances.get_mut(id) {
            instance.state = state.to_owned();
        }
    }
}

/// The in-memory AWS.
#[derive(Debug, Default)]
pub struct InMemoryAws {
    world: Mutex<World>,
    latency: Duration,
}

impl InMemoryAws {
    /// An AWS holding `world` that answers after `latency`.
    pub fn new(world: World, latency: Duration) -> Self {
        Self {
            world: Mutex::new(world),
            latency,
        }
    }

    /// Reads or changes the world.
    pub fn with<R>(&self, f: impl FnOnce(&mut World) -> R) -> R {
        f(&mut self.world.lock().expect("world lock"))
    }

    async fn call<R>(
        &self,
        operation: &'static str,
        f: impl FnOnce(&mut World) -> Result<R, AwsError>,
    ) -> Result<R, AwsError> {
        if !self.latency.is_zero() {
            tokio::time::sleep(self.latency).await;
        }
        self.with(|w| {
            w.fail(operation)?;
            let answer = f(w)?;
            if w.loses_answer(operation) {
                return Err(AwsError::from_code(
                    operation,
                    "InternalError",
                    "An internal error has occurred (the call took effect; its answer was lost).",
                ));
            }
            Ok(answer)
        })
    }
}

impl Compute for InMemoryAws {
    async fn protected_instances_on(&self, outpost: &OutpostId) -> Result<Vec<Instance>, AwsError> {
        self.call("DescribeInstances", |w| {
            Ok(w.instances
                .values()
                .filter(|i| i.state != "terminated" && i.is_opted_in() && w.visible(&i.id))
                .filter(|i| {
                    i.outpost_arn
                        .as_deref()
                        .is_some_and(|arn| outpost.is_named_by_arn(arn))
                })
                .cloned()
                .collect())
        })
        .await
    }

    async fn instances_tagged(
        &self,
        key: &str,
        values: &[String],
    ) -> Result<Vec<Instance>, AwsError> {
        let values: HashSet<&str> = values.iter().map(String::as_str).collect();
        self.call("DescribeInstances", |w| {
            Ok(w.instances
                .values()
                .filter(|i| i.state != "terminated" && w.visible(&i.id))
                .filter(|i| i.tag(key).is_some_and(|v| values.contains(v)))
                .cloned()
                .collect())
        })
        .await
    }

    async fn instances(&self, ids: &[String]) -> Result<Vec<Instance>, AwsError> {
        self.call("DescribeInstances", |w| {
            Ok(ids
                .iter()
                .filter_map(|id| w.instances.get(id))
                .filter(|i| i.state != "terminated" && w.visible(&i.id))
                .cloned()
                .collect())
        })
        .await
    }

    async fn template_targets(
        &self,
        templates: &[TemplateRef],
    ) -> Result<Vec<(TemplateRef, TemplateTarget)>, AwsError> {
        self.call("DescribeLaunchTemplateVersions", |w| {
            Ok(templates
                .iter()
                .map(|t| {
                    let target = match w.templates.get(t) {
                        Some(subnet) => TemplateTarget::Subnet {
                            subnet_id: subnet.clone(),
                            outpost_arn: w.subnets.get(subnet).cloned().flatten(),
                            image_id: w.template_images.get(t).cloned(),
                            instance_type: Some("m5.large".into()),
                        },
                        None => TemplateTarget::Unusable {
                            reason: format!("launch template {t} does not exist"),
                        },
                    };
                    (t.clone(), target)
                })
                .collect())
        })
        .await
    }

    async fn launch(&self, request: &LaunchRequest) -> Result<Instance, AwsError> {
        self.call("RunInstances", |w| {
            if let Some(id) = w.tokens.get(&request.client_token) {
                return Ok(w.instances[id].clone());
            }
            let subnet = w.templates.get(&request.template).cloned().ok_or_else(|| {
                AwsError::from_code(
                    "ec2:RunInstances",
                    "InvalidLaunchTemplateId.NotFound",
                    format!("{} not found", request.template),
                )
            })?;
            if let Some(room) = w.capacity.get_mut(&subnet) {
                if *room == 0 {
                    return Err(AwsError::from_code(
                        "ec2:RunInstances",
                        "InsufficientInstanceCapacity",
                        "There is no Spot capacity available that matches your request.",
                    ));
                }
                *room -= 1;
            }
            w.next_id += 1;
            let id = format!("i-{:017x}", 0xf000_0000_u64 + w.next_id);
            let tags: Vec<(&str, &str)> = request
                .tags
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            w.add_instance(&id, &subnet, &tags);
            w.tokens.insert(request.client_token.clone(), id.clone());
            w.launched_at.insert(id.clone(), Instant::now());
            if !w.pending_for.is_zero() {
                w.set_state(&id, "pending");
            }
            Ok(w.instances[&id].clone())
        })
        .await
    }

    async fn tag(
        &self,
        instance_ids: &[String],
        tags: &[(String, String)],
    ) -> Result<(), AwsError> {
        self.call("CreateTags", |w| {
            for id in instance_ids {
                let instance = w.instances.get_mut(id).ok_or_else(|| {
                    AwsError::from_code(
                        "ec2:CreateTags",
                        "InvalidInstanceID.NotFound",
                        format!("{id} not found"),
                    )
                })?;
                instance.tags.extend(tags.iter().cloned());
            }
            Ok(())
        })
        .await
    }

    async fn stop(&self, instance_ids: &[String]) -> Result<(), AwsError> {
        self.set_state("StopInstances", instance_ids, "stopped")
            .await
    }

    async fn terminate(&self, instance_ids: &[String]) -> Result<(), AwsError> {
        self.set_state("TerminateInstances", instance_ids, "terminated")
            .await
    }

    async fn existing_images(&self, image_ids: &[String]) -> Result<Vec<String>, AwsError> {
        self.call("DescribeImages", |w| {
            Ok(image_ids
                .iter()
                .filter(|id| w.images.contains(*id))
                .cloned()
                .collect())
        })
        .await
    }

    async fn managed_templates(&self) -> Result<HashSet<String>, AwsError> {
        self.call("DescribeLaunchTemplates", |w| {
            Ok(w.templates
                .keys()
                .map(|t| t.id.clone())
                .filter(|id| !w.unmanaged_templates.contains(id))
                .collect())
        })
        .await
    }
}

impl InMemoryAws {
    async fn set_state(
        &self,
        operation: &'static str,
        instance_ids: &[String],
        state: &str,
    ) -> Result<(), AwsError> {
        self.call(operation, |w| {
            for id in instance_ids {
                let instance = w.instances.get_mut(id).ok_or_else(|| {
                    AwsError::from_code(
                        operation,
                        "InvalidInstanceID.NotFound",
                        format!("{id} not found"),
                    )
                })?;
                instance.state = state.to_owned();
            }
            Ok(())
        })
        .await
    }
}

impl Alarms for InMemoryAws {
    async fn alarms_named(&self, prefix: &str) -> Result<Vec<AlarmChange>, AwsError> {
        self.call("DescribeAlarms", |w| {
            Ok(w.alarms
                .iter()
                .filter(|a| a.alarm_name.starts_with(prefix))
                .cloned()
                .collect())
        })
        .await
    }

    async fn alarm_tags(&self, alarm_arn: &str) -> Result<Vec<(String, String)>, AwsError> {
        self.call("ListTagsForResource", |w| {
            Ok(w.alarm_tags.get(alarm_arn).cloned().unwrap_or_default())
        })
        .await
    }
}

impl Outposts for InMemoryAws {
    async fn assets(&self, outpost: &OutpostId) -> Result<Vec<Asset>, AwsError> {
        self.call("ListAssets", |w| {
            w.assets.get(outpost.as_str()).cloned().ok_or_else(|| {
                AwsError::from_code(
                    "outposts:ListAssets",
                    "AccessDeniedException",
                    format!("not authorized to list the assets of {outpost}"),
                )
            })
        })
        .await
    }
}

impl LoadBalancing for InMemoryAws {
    async fn memberships(&self, scope: &TargetGroupScope) -> Result<Vec<Membership>, AwsError> {
        self.call("DescribeTargetHealth", |w| {
            Ok(w.target_groups
                .iter()
                .filter(|(arn, _)| match scope {
                    TargetGroupScope::All => true,
                    TargetGroupScope::Only(list) => list.contains(arn),
                })
                .flat_map(|(arn, (kind, targets))| {
                    targets.iter().map(|t| Membership {
                        target_group_arn: arn.clone(),
                        kind: *kind,
                        target: t.clone(),
                    })
                })
                .collect())
        })
        .await
    }

    async fn register(&self, target_group_arn: &str, targets: &[Target]) -> Result<(), AwsError> {
        self.call("RegisterTargets", |w| {
            let (kind, _) = w
                .target_groups
                .get(target_group_arn)
                .ok_or_else(|| not_found(target_group_arn))?;
            if *kind == TargetKind::Instance {
                if targets.iter().any(|t| t.availability_zone.is_some()) {
                    return Err(AwsError::from_code(
                        "elasticloadbalancing:RegisterTargets",
                        "ValidationError",
                        "You cannot specify an Availability Zone for instance targets",
                    ));
                }
                let not_running: Vec<&str> = targets
                    .iter()
                    .filter(|t| w.instances.get(&t.id).is_none_or(|i| !i.is_running()))
                    .map(|t| t.id.as_str())
                    .collect();
                if !not_running.is_empty() {
                    return Err(AwsError::from_code(
                        "elasticloadbalancing:RegisterTargets",
                        "InvalidTarget",
                        format!(
                            "The following targets are not in a running state and cannot be registered: '{}'",
                            not_running.join("', '")
                        ),
                    ));
                }
            }
            let now = Instant::now();
            for t in targets {
                w.registered_at
                    .entry((target_group_arn.to_owned(), t.clone()))
                    .or_insert(now);
            }
            let (_, registered) = w.target_groups.get_mut(target_group_arn).expect("read above");
            registered.extend(targets.iter().cloned());
            Ok(())
        })
        .await
    }

    async fn health(
        &self,
        target_group_arn: &str,
        targets: &[Target],
    ) -> Result<Vec<TargetState>, AwsError> {
        self.call("DescribeTargetHealth", |w| {
            let (_, registered) = w
                .target_groups
                .get(target_group_arn)
                .ok_or_else(|| not_found(target_group_arn))?;
            Ok(targets
                .iter()
                .filter(|t| registered.contains(t))
                .map(|t| TargetState {
                    target: t.clone(),
                    state: if w
                        .registered_at
                        .get(&(target_group_arn.to_owned(), t.clone()))
                        .is_some_and(|at| Instant::now() < *at + w.initial_for)
                    {
                        "initial".into()
                    } else {
                        w.health
                            .get(&t.id)
                            .or(w.default_health.as_ref())
                            .cloned()
                            .unwrap_or_else(|| "healthy".into())
                    },
                })
                .collect())
        })
        .await
    }

    async fn deregister(&self, target_group_arn: &str, targets: &[Target]) -> Result<(), AwsError> {
        self.call("DeregisterTargets", |w| {
            let (_, registered) = w
                .target_groups
                .get_mut(target_group_arn)
                .ok_or_else(|| not_found(target_group_arn))?;
            for t in targets {
                registered.remove(t);
                w.registered_at
                    .remove(&(target_group_arn.to_owned(), t.clone()));
            }
            Ok(())
        })
        .await
    }
}

impl Notifier for InMemoryAws {
    async fn publish(&self, notice: &Notice) -> Result<String, AwsError> {
        self.call("Publish", |w| {
            w.published.push(notice.clone());
            Ok(format!("msg-{}", w.published.len()))
        })
        .await
    }
}

impl DisasterRecovery for InMemoryAws {
    async fn source_servers(&self, ids: &[String]) -> Result<Vec<SourceServer>, AwsError> {
        self.call("DescribeSourceServers", |w| {
            Ok(w.drs_servers
                .iter()
                .filter(|s| ids.is_empty() || ids.contains(&s.id))
                .cloned()
                .collect())
        })
        .await
    }

    async fn launch_settings(&self, source_server_id: &str) -> Result<LaunchSettings, AwsError> {
        self.call("GetLaunchConfiguration", |w| {
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
        self.call("UpdateLaunchConfiguration", |w| {
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
        self.call("DescribeJobs", |w| {
            Ok(w.drs_jobs
                .iter()
                .filter(|(_, done)| !done)
                .map(|(job, _)| job.clone())
                .collect())
        })
        .await
    }

    async fn job(&self, job_id: &str) -> Result<Option<JobSnapshot>, AwsError> {
        self.call("DescribeJobs", |w| {
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
                                (false, _) => "IN_PROGRESS",
                                (true, true) => "LAUNCHED",
                                (true, false) => "FAILED",
                            };
                            (s.clone(), status.to_owned())
                        })
                        .collect(),
                    created_at: w.drs_job_created.get(&job.job_id).copied(),
                }))
        })
        .await
    }

    async fn start_recovery(
        &self,
        source_server_ids: &[String],
        drill: bool,
    ) -> Result<String, AwsError> {
        self.call("StartRecovery", |w| {
            let job_id = format!("drsjob-{:017x}", w.drs_jobs.len() + 1);
            let job = ActiveJob {
                job_id: job_id.clone(),
                source_server_ids: source_server_ids.to_vec(),
                drill,
            };
            w.drs_job_created.insert(job_id.clone(), chrono::Utc::now());
            w.drs_jobs.push((job, false));
            Ok(job_id)
        })
        .await
    }

    async fn recovery_instance(
        &self,
        source_server_id: &str,
        job_id: &str,
    ) -> Result<Option<RecoveryInstance>, AwsError> {
        self.call("DescribeRecoveryInstances", |w| {
            Ok(w.drs_recovery_instances
                .get(&(source_server_id.to_owned(), job_id.to_owned()))
                .cloned())
        })
        .await
    }

    async fn job_failures(
        &self,
        job_id: &str,
        _source_server_id: &str,
    ) -> Result<Vec<JobFailure>, AwsError> {
        self.call("DescribeJobLogItems", |w| {
            Ok(w.drs_failures.get(job_id).cloned().unwrap_or_default())
        })
        .await
    }
}

fn not_found(target_group_arn: &str) -> AwsError {
    AwsError::from_code(
        "elasticloadbalancing:TargetGroups",
        "TargetGroupNotFound",
        format!("{target_group_arn} not found"),
    )
}
