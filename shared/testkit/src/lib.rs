//! An in-memory AWS implementing every port: the agent's flow tests and the benchmark run on it.
//! Each call can wait a simulated latency first, and every call is logged.

mod cloudwatch;
mod drs;
mod ec2;
mod elbv2;
pub mod fixtures;
mod op;
pub use op::Op;
mod outposts;
mod sns;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use autorestart_core::alarm::{AlarmChange, IncidentId, OutpostId};
use autorestart_core::drs::{
    ActiveJob, JobFailure, JobSnapshot, LaunchSettings, LaunchUpdate, RecoveryInstance,
    RecoveryPoint, RecoveryStart, SourceServer,
};
use autorestart_core::error::AwsError;
use autorestart_core::inventory::{Instance, PrivateAddress, TemplateTarget};
use autorestart_core::tags::{self, TemplateRef};
use autorestart_core::vocabulary::InstanceState;
use autorestart_flows::budget::Rate;
use autorestart_flows::ports::{
    Alarms, Asset, Compute, DisasterRecovery, LaunchRequest, LoadBalancing, Membership,
    Memberships, Notice, Notifier, Outposts, Target, TargetGroupScope, TargetKind, TargetState,
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
    /// Launch template ids IAM refuses RunInstances from (`UnauthorizedOperation`, dry run or not).
    pub refused_templates: HashSet<String>,
    /// Instances each subnet still has room for; absent means unlimited.
    pub capacity: HashMap<String, usize>,
    /// Source servers StartRecovery refuses with ConflictException (a job DRS holds that no
    /// read showed): the whole job is refused.
    pub drs_conflicting: HashSet<String>,
    /// Per source server, the recovery snapshot its last StartRecovery named (none: fresh data).
    pub drs_started_from: HashMap<String, Option<String>>,
    /// Errors to answer, by operation name (e.g. `RunInstances`), each used once, in order.
    pub failures: HashMap<Op, Vec<AwsError>>,
    /// Target groups: kind and registered targets.
    pub target_groups: BTreeMap<String, (TargetKind, BTreeSet<Target>)>,
    /// DeregisterTargets naming a target that is not registered answers `InvalidTarget`, as
    /// moto does (a repeat of a deregister whose answer was lost meets it).
    pub deregister_absent_is_invalid: bool,
    /// Health answered for registered targets, by target id.
    pub health: HashMap<String, String>,
    /// Health of targets absent from `health`; `healthy` when none.
    pub default_health: Option<String>,
    /// Published notices.
    pub published: Vec<Notice>,
    /// Every call, in order.
    pub calls: Vec<Op>,
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
    pub buckets: HashMap<Op, Bucket>,
    /// EC2's resource bucket of instances launched or started (1000 at 2/s): each instance a
    /// RunInstances or StartInstances would start takes a token; short of them, the call answers
    /// `RequestLimitExceeded` and starts nothing. None: not limited.
    pub instance_bucket: Option<Bucket>,
    /// Lost answers by operation: the call takes effect, then answers `InternalError`; each
    /// entry is used once, in order (`true`: lose this answer).
    pub lost_answers: HashMap<Op, Vec<bool>>,
    /// Random lost answers: this share of the calls to these operations, from a seeded
    /// generator so that a failing run can be replayed.
    pub random_faults: Option<RandomFaults>,
    /// Random throttling: this share of the calls answers throttled without taking effect,
    /// from a seeded generator.
    pub random_throttling: Option<RandomThrottling>,
    /// DRS: a server `ReverseReplication` makes replicates continuously at once (else it is in
    /// its initial sync until a test says otherwise).
    pub drs_reverse_continuous: bool,
    /// DRS: a recovery job launches at once (into the instance its server's launch settings
    /// name, which runs), instead of staying started until a test ends it.
    pub drs_launch_at_once: bool,
    /// Instances EC2 cannot start (`InsufficientInstanceCapacity`).
    pub unstartable: HashSet<String>,
    /// Error answers by operation and code.
    pub errors_answered: HashMap<(Op, String), usize>,
    /// RunInstances' first answer by ClientToken: EC2 answers a repeat with it, the state the
    /// instance was in then included, even once the instance has died.
    tokens: HashMap<String, Instance>,
    launched_at: HashMap<String, Instant>,
    /// When StartInstances started each instance: pending for `pending_for`, never invisible.
    started_at: HashMap<String, Instant>,
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
        self.take_many(1)
    }

    /// Takes `n` tokens at once, or none.
    fn take_many(&mut self, n: usize) -> bool {
        let now = Instant::now();
        self.tokens = self.rate.refilled(self.tokens, now - self.at);
        self.at = now;
        if self.tokens + 1e-9 >= n as f64 {
            self.tokens -= n as f64;
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
    pub operations: Vec<Op>,
    /// The generator, seeded.
    pub rng: fastrand::Rng,
    /// Answers lost so far.
    pub lost: usize,
}

/// Calls throttled at random (before they take effect), as a busy account's are.
#[derive(Debug)]
pub struct RandomThrottling {
    /// The share of calls throttled, 0 to 1.
    pub rate: f64,
    /// The operations concerned; every operation when empty.
    pub operations: Vec<Op>,
    /// The generator, seeded.
    pub rng: fastrand::Rng,
    /// Calls throttled so far.
    pub throttled: usize,
}

impl RandomThrottling {
    /// `rate` of every call throttled, from `seed`.
    pub fn everywhere(rate: f64, seed: u64) -> Self {
        Self {
            rate,
            operations: Vec::new(),
            rng: fastrand::Rng::with_seed(seed),
            throttled: 0,
        }
    }
}

impl World {
    /// Adds an instance the agent launched from a recovery template as a replacement of `of`,
    /// with what EC2 itself records of such a launch: the agent's ClientToken for it and the
    /// `aws:ec2launchtemplate:id` tag (`proof::launched_for` believes it). The template is the
    /// first of `of`'s recovery templates (`lt-0fixture` when it has none), the incident
    /// and attempt those in `tags` (added when missing). `tags` decide whether the link tags
    /// are there.
    pub fn add_replacement(&mut self, id: &str, subnet_id: &str, of: &str, tags: &[(&str, &str)]) {
        const INCIDENT: &str = "op-0fixture00000000-20260101T000000Z-00000000";
        self.add_instance(id, subnet_id, tags);
        let template = self
            .instances
            .get(of)
            .and_then(|o| tags::parse_recovery_templates(o.tag(tags::RECOVERY_TEMPLATES)).ok())
            .and_then(|t| t.into_iter().next())
            .unwrap_or_else(|| TemplateRef {
                id: "lt-0fixture".into(),
                version: TemplateRef::DEFAULT_VERSION.into(),
            });
        let instance = self.instances.get_mut(id).expect("just added");
        let incident = instance
            .tags
            .entry(tags::INCIDENT.into())
            .or_insert_with(|| INCIDENT.into())
            .clone();
        let attempt = instance
            .tag(tags::ATTEMPT)
            .and_then(|a| a.parse().ok())
            .unwrap_or(1);
        instance.client_token = Some(autorestart_core::plan::client_token(
            &IncidentId::from_tag(&incident),
            of,
            &template,
            attempt,
        ));
        instance
            .tags
            .insert(tags::LAUNCH_TEMPLATE_ID.into(), template.id.into());
    }

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
            client_token: None,
        };
        self.instances.insert(id.into(), instance);
    }

    /// How many calls of `operation` were answered with error `code`.
    pub fn answered(&self, operation: Op, code: &str) -> usize {
        self.errors_answered
            .get(&(operation, code.to_owned()))
            .copied()
            .unwrap_or(0)
    }

    /// Instances tagged as replacements of `original`.
    pub fn replacements_of(&self, original: &str) -> Vec<&Instance> {
        self.instances
            .values()
            .filter(|i| i.tag(tags::REPLACEMENT_OF) == Some(original))
            .collect()
    }

    /// Takes `n` tokens of the instance bucket for `operation`, or answers why not.
    fn take_instances(&mut self, operation: Op, n: usize) -> Result<(), AwsError> {
        let short = self
            .instance_bucket
            .as_mut()
            .is_some_and(|bucket| !bucket.take_many(n));
        if short {
            return Err(AwsError::from_code(
                operation.as_str(),
                "RequestLimitExceeded",
                "Request limit exceeded (instances started).",
            ));
        }
        Ok(())
    }

    fn fail(&mut self, operation: Op) -> Result<(), AwsError> {
        self.calls.push(operation);
        self.settle();
        if let Some(bucket) = self.buckets.get_mut(&operation)
            && !bucket.take()
        {
            return Err(AwsError::from_code(
                operation.as_str(),
                "RequestLimitExceeded",
                "Request limit exceeded.",
            ));
        }
        if let Some(random) = self.random_throttling.as_mut()
            && (random.operations.is_empty() || random.operations.contains(&operation))
            && random.rng.f64() < random.rate
        {
            random.throttled += 1;
            return Err(AwsError::from_code(
                operation.as_str(),
                "ThrottlingException",
                "Rate exceeded",
            ));
        }
        match self.failures.get_mut(&operation) {
            Some(queue) if !queue.is_empty() => Err(queue.remove(0)),
            _ => Ok(()),
        }
    }

    /// Whether the answer to this call of `operation`, which took effect, is lost.
    fn loses_answer(&mut self, operation: Op) -> bool {
        let listed = match self.lost_answers.get_mut(&operation) {
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
        // The latest start counts: a launched instance stopped and started is pending again.
        let launched = self
            .launched_at
            .iter()
            .filter(|(id, _)| !self.started_at.contains_key(*id));
        for (id, at) in launched.chain(&self.started_at) {
            if let Some(instance) = self.instances.get_mut(id)
                && instance.state == InstanceState::Pending
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

    /// Makes an instance `by` older: its launch time, and RunInstances' first answer for it,
    /// as when it ran that long before dying (the paused test clock does not move the wall
    /// clock that launch times are read on).
    pub fn age(&mut self, id: &str, by: chrono::Duration) {
        for instance in self
            .instances
            .get_mut(id)
            .into_iter()
            .chain(self.tokens.values_mut().filter(|i| i.id == id))
        {
            instance.launched_at = instance.launched_at.map(|at| at - by);
        }
    }

    /// Sets an instance's state, as its operator (or EC2) would.
    pub fn set_state(&mut self, id: &str, state: &str) {
        if let Some(instance) = self.instances.get_mut(id) {
            instance.state = state.into();
        }
    }
}

/// The in-memory AWS. Its clones share one world, as the SDK's clients share one AWS: the
/// agent takes a clone for each port (`Ports::all`), the test keeps one to set up and read.
#[derive(Clone, Debug, Default)]
pub struct InMemoryAws {
    world: std::sync::Arc<Mutex<World>>,
    latency: Duration,
}

/// Every port served by the in-memory AWS.
impl autorestart_flows::agent::Services for InMemoryAws {
    type Compute = Self;
    type Balancer = Self;
    type Notifier = Self;
    type Drs = Self;
    type Alarms = Self;
    type Outposts = Self;
}

impl InMemoryAws {
    /// An AWS holding `world` that answers after `latency`.
    pub fn new(world: World, latency: Duration) -> Self {
        Self {
            world: std::sync::Arc::new(Mutex::new(world)),
            latency,
        }
    }

    /// Reads or changes the world.
    pub fn with<R>(&self, f: impl FnOnce(&mut World) -> R) -> R {
        f(&mut self.world.lock().expect("world lock"))
    }

    async fn call<R>(
        &self,
        operation: Op,
        f: impl FnOnce(&mut World) -> Result<R, AwsError>,
    ) -> Result<R, AwsError> {
        if !self.latency.is_zero() {
            tokio::time::sleep(self.latency).await;
        }
        self.with(|w| {
            let answer = w.fail(operation).and_then(|()| f(w)).and_then(|answer| {
                if w.loses_answer(operation) {
                    Err(AwsError::from_code(
                        operation.as_str(),
                        "InternalError",
                        "An internal error has occurred (the call took effect; its answer was lost).",
                    ))
                } else {
                    Ok(answer)
                }
            });
            if let Err(error) = &answer {
                *w.errors_answered
                    .entry((operation, error.code.clone()))
                    .or_default() += 1;
            }
            answer
        })
    }
}
