//! The DRS strategy's pure decisions: which source server protects an instance, which stopped
//! target it launches into (matched by name, one to one), whether it is valid, and which
//! launch-configuration steps are missing. No AWS here.

use std::collections::HashMap;
use std::fmt::Write as _;

use chrono::{DateTime, Utc};

use crate::alarm::{IncidentId, OutpostId};
use crate::ids::InstanceId;
use crate::inventory::Instance;
use crate::tags;
use crate::vocabulary::{InstanceState, JobStatus, LaunchStatus, ReplicationState};

/// Tag key DRS requires on an instance it may launch into.
pub const TARGET_TAG_KEY: &str = "AWSDRS";
/// Tag value DRS requires on an instance it may launch into.
pub const TARGET_TAG_VALUE: &str = "AllowLaunchingIntoThisInstance";
/// Most source servers DRS takes in one recovery job.
pub const MAX_SERVERS_PER_JOB: usize = 100;
/// Jobs started for one instance in one incident before the agent stops and reports: a failed
/// job is retried with a new one up to this many in all.
pub const MAX_DRS_ATTEMPTS: u32 = 3;

/// A DRS source server, as far as recovery cares.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct SourceServer {
    /// `s-…`
    pub id: String,
    /// The source's hostname (or FQDN) from its identification hints.
    pub hostname: Option<String>,
    /// The source's EC2 instance id from its identification hints.
    pub aws_instance_id: Option<InstanceId>,
    /// Data replication state.
    pub replication_state: ReplicationState,
    /// Replication lag, as DRS reports it (ISO 8601 duration).
    pub lag: Option<String>,
    /// Its latest recovery snapshot, read when replication is not continuous (a dark Outpost
    /// stalls it): what a recovery launches from then.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recovery_point: Option<RecoveryPoint>,
    /// It replicates a recovery instance back toward its origin (`replicationDirection`
    /// FAILBACK: made by `ReverseReplication`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub replicates_back: bool,
}

impl SourceServer {
    /// Whether it replicates continuously, so a recovery launches from fresh data.
    pub fn is_continuous(&self) -> bool {
        self.replication_state == ReplicationState::Continuous
    }

    /// Why it has nothing to launch from (the initial sync never finished, or no recovery
    /// snapshot exists), if so; a stalled or lagging server with a snapshot can be recovered.
    pub fn nothing_to_launch_from(&self) -> Option<String> {
        if self.is_continuous() {
            return None;
        }
        if self.replication_state.has_no_data() {
            return Some(format!(
                "source server {} has nothing to launch from: its initial sync has not finished (state {}); wait for it to reach {}",
                self.id,
                self.replication_state,
                ReplicationState::Continuous
            ));
        }
        self.recovery_point.is_none().then(|| {
            format!(
                "source server {} has nothing to launch from: it replicates in state {} (lag {}) and DRS holds no recovery snapshot of it",
                self.id,
                self.replication_state,
                self.lag.as_deref().unwrap_or("unknown")
            )
        })
    }
}

/// A point-in-time recovery snapshot DRS holds of a source server.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct RecoveryPoint {
    /// The snapshot's id, which `StartRecovery` takes.
    pub snapshot_id: String,
    /// When it was taken.
    pub taken_at: DateTime<Utc>,
}

impl RecoveryPoint {
    /// How old the data is at `now`, for people: "2 h 5 min", "40 s".
    pub fn age(&self, now: DateTime<Utc>) -> String {
        let seconds = (now - self.taken_at).num_seconds().max(0);
        match seconds {
            s if s < 120 => format!("{s} s"),
            s if s < 7200 => format!("{} min", s / 60),
            s => format!("{} h {} min", s / 3600, s % 3600 / 60),
        }
    }
}

/// One source server for `StartRecovery`, and the snapshot to launch from (none: DRS takes a
/// fresh one, which needs the source to replicate).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecoveryStart {
    /// `s-…`
    pub source_server_id: String,
    /// The recovery snapshot, for a server whose replication is not continuous.
    pub snapshot_id: Option<String>,
}

/// A source server's launch configuration, as far as launch-into-instance cares.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct LaunchSettings {
    /// Copy the source's private IP.
    pub copy_private_ip: Option<bool>,
    /// Copy the source's tags.
    pub copy_tags: Option<bool>,
    /// Right-sizing method: `NONE`, `BASIC`, `IN_AWS`.
    pub right_sizing: Option<String>,
    /// The instance to launch into, if set.
    pub launch_into: Option<String>,
}

/// One change to a launch configuration. DRS takes them as two separate updates, in this order.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "step", rename_all = "kebab-case")]
pub enum LaunchUpdate {
    /// `copyPrivateIp=false`, `copyTags=false`, `targetInstanceTypeRightSizingMethod=NONE`.
    Prepare,
    /// `launchIntoInstanceProperties.launchIntoEC2InstanceID`.
    LaunchInto {
        /// The target instance.
        instance_id: String,
    },
}

/// A recovery job DRS has not finished, or a finished one the agent started (its
/// `autorestart:incident` job tag says for which incident).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct ActiveJob {
    /// `drsjob-…`
    pub job_id: String,
    /// Source servers taking part.
    pub source_server_ids: Vec<String>,
    /// Started as a drill (from the console or anyone's `StartRecovery` with `isDrill`): never
    /// the recovery, which waits until it ends (DRS runs one job per server at a time).
    pub drill: bool,
    /// The incident the agent tagged the job with when it started it; none for others' jobs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub incident: Option<String>,
    /// DRS finished it (it is listed because the agent started it).
    pub finished: bool,
    /// Servers the finished job did not launch.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub failed: Vec<String>,
}

/// A DRS job as `DescribeJobs` reports it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct JobSnapshot {
    /// `drsjob-…`
    pub job_id: String,
    /// Its status.
    pub status: JobStatus,
    /// Each participating source server with its launch status.
    pub servers: Vec<(String, LaunchStatus)>,
    /// When DRS created the job, when it says.
    pub created_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl JobSnapshot {
    /// The launch status of one source server in the job.
    pub fn launch_status(&self, source_server_id: &str) -> Option<&LaunchStatus> {
        self.servers
            .iter()
            .find(|(id, _)| id == source_server_id)
            .map(|(_, status)| status)
    }

    /// Whether the job ended with this server's launch failed.
    pub fn failed_for(&self, source_server_id: &str) -> bool {
        self.status == JobStatus::Completed
            && self.launch_status(source_server_id) == Some(&LaunchStatus::Failed)
    }

    /// Whether the job has run longer than `timeout` without finishing, at `now`.
    pub fn is_stuck(
        &self,
        timeout: std::time::Duration,
        now: chrono::DateTime<chrono::Utc>,
    ) -> bool {
        self.status != JobStatus::Completed
            && self.created_at.is_some_and(|at| {
                chrono::Duration::from_std(timeout).is_ok_and(|timeout| at + timeout < now)
            })
    }
}

/// What a run does with a DRS job the agent started whose end no event reported.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JobFinish {
    /// It has run longer than the bound without finishing: reported once as stuck.
    Stuck,
    /// Still running within the bound: nothing yet.
    Running,
    /// It ended: each source server whose launch ended, and whether it launched. A server
    /// in any other launch status is left alone.
    Ended(Vec<(String, bool)>),
}

/// What to do with `job` at `now`, given the bound on a job's run (`Settings::drs_job_timeout`).
pub fn job_finish(
    job: &JobSnapshot,
    timeout: std::time::Duration,
    now: DateTime<Utc>,
) -> JobFinish {
    if job.is_stuck(timeout, now) {
        return JobFinish::Stuck;
    }
    if job.status != JobStatus::Completed {
        return JobFinish::Running;
    }
    JobFinish::Ended(
        job.servers
            .iter()
            .filter_map(|(server, status)| match status {
                LaunchStatus::Launched => Some((server.clone(), true)),
                LaunchStatus::Failed => Some((server.clone(), false)),
                _ => None,
            })
            .collect(),
    )
}

/// The attempt an original's recorded DRS job was (`autorestart:drs-attempt`, 1 when absent).
pub fn attempt_of(original: &Instance) -> u32 {
    original
        .tag(tags::DRS_ATTEMPT)
        .and_then(|v| v.trim().parse().ok())
        .filter(|n| *n >= 1)
        .unwrap_or(1)
}

/// The instance DRS launched for a source server in a job.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct RecoveryInstance {
    /// DRS's id of the recovery instance.
    pub recovery_instance_id: String,
    /// The EC2 instance (for launch-into-instance, the target itself).
    pub ec2_instance_id: InstanceId,
    /// Whether it is a drill.
    pub is_drill: bool,
}

/// A failing event of a job's log.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct JobFailure {
    /// The log event, e.g. `LAUNCH_FAILED`.
    pub event: String,
    /// DRS's raw error, when it gives one.
    pub raw_error: Option<String>,
}

/// A DRS launch result that is a failback's launch into its original: its server replicates
/// a recovery instance back (`ReverseReplication`); the failback finishes and reports it.
pub fn failback_launch(job_id: &str) -> String {
    format!(
        "job {job_id} is a failback's launch into its original: the failback finishes and reports it"
    )
}

/// Lower case, trimmed, domain suffix dropped: `Web-1.corp.example ` and `web-1` are one name.
pub fn normalise_name(name: &str) -> String {
    let trimmed = name.trim();
    let host = trimmed.split('.').next().unwrap_or(trimmed);
    host.to_ascii_lowercase()
}

/// Why a source server has no launch target.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, thiserror::Error)]
#[serde(tag = "problem", rename_all = "kebab-case")]
pub enum MatchProblem {
    /// The source has no hostname to match.
    #[error("source server {source_server} has no hostname in its identification hints")]
    NoHostname {
        /// The source server.
        source_server: String,
    },
    /// No stopped target carries the name.
    #[error(
        "no instance tagged {TARGET_TAG_KEY}={TARGET_TAG_VALUE} is named {name:?}: create the target instance with that Name tag"
    )]
    NoTarget {
        /// The normalised name.
        name: String,
    },
    /// Several targets carry the name.
    #[error(
        "several instances tagged {TARGET_TAG_KEY}={TARGET_TAG_VALUE} are named {name:?} ({}): keep the tag on one",
        instances.join(", ")
    )]
    DuplicateTargets {
        /// The normalised name.
        name: String,
        /// The targets.
        instances: Vec<String>,
    },
    /// Several source servers share the name, so one target cannot serve them all.
    #[error("several source servers have the hostname {name:?} ({}): rename or disconnect the stale one", sources.join(", "))]
    DuplicateSources {
        /// The normalised name.
        name: String,
        /// The source servers.
        sources: Vec<String>,
    },
}

/// Matches source servers to launch targets by normalised name, one to one.
/// `sources`: (source server id, hostname); `targets`: (instance id, Name tag).
pub fn match_targets<'a>(
    sources: &[(&'a str, Option<&str>)],
    targets: &[(&str, Option<&str>)],
) -> HashMap<&'a str, Result<String, MatchProblem>> {
    let mut targets_by_name: HashMap<String, Vec<String>> = HashMap::new();
    for (id, name) in targets {
        if let Some(name) = name {
            targets_by_name
                .entry(normalise_name(name))
                .or_default()
                .push((*id).to_owned());
        }
    }
    let mut sources_by_name: HashMap<String, Vec<&str>> = HashMap::new();
    for (id, hostname) in sources {
        if let Some(hostname) = hostname {
            sources_by_name
                .entry(normalise_name(hostname))
                .or_default()
                .push(id);
        }
    }
    sources
        .iter()
        .map(|(id, hostname)| {
            let Some(hostname) = hostname else {
                return (
                    *id,
                    Err(MatchProblem::NoHostname {
                        source_server: (*id).to_owned(),
                    }),
                );
            };
            let name = normalise_name(hostname);
            let sharing = &sources_by_name[&name];
            let result = if sharing.len() > 1 {
                let mut sources: Vec<String> = sharing.iter().map(|s| (*s).to_owned()).collect();
                sources.sort();
                Err(MatchProblem::DuplicateSources { name, sources })
            } else {
                match targets_by_name.get(&name).map(Vec::as_slice) {
                    Some([one]) => Ok(one.clone()),
                    Some(many) if many.len() > 1 => {
                        let mut instances = many.to_vec();
                        instances.sort();
                        Err(MatchProblem::DuplicateTargets { name, instances })
                    }
                    _ => Err(MatchProblem::NoTarget { name }),
                }
            };
            (*id, result)
        })
        .collect()
}

/// What was read from AWS for the DRS-protected instances of one outage.
#[derive(Clone, Debug)]
pub struct DrsSnapshot<'a> {
    /// The failed Outpost.
    pub outpost: &'a OutpostId,
    /// The outage.
    pub incident: &'a IncidentId,
    /// Protected instances with `autorestart:strategy=drs`.
    pub instances: &'a [Instance],
    /// Every source server.
    pub servers: &'a [SourceServer],
    /// Every instance tagged `AWSDRS=AllowLaunchingIntoThisInstance`.
    pub targets: &'a [Instance],
    /// Recovery jobs not finished.
    pub active_jobs: &'a [ActiveJob],
    /// The jobs recorded on the instances for this incident (`autorestart:drs-job`), as DRS
    /// reports them now; a job DRS no longer knows is absent.
    pub recorded_jobs: &'a [JobSnapshot],
    /// The failing events of each job of this incident that failed for the server of one of
    /// the instances, by (job id, source server id) (`DescribeJobLogItems`): DRS's word on why.
    pub job_failures: &'a HashMap<(String, String), Vec<JobFailure>>,
}

/// The decision for one DRS-protected instance, before reading launch settings.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "action", rename_all = "kebab-case")]
pub enum DrsDecision {
    /// Configure and start recovery of `server` into `target`.
    Recover {
        /// The source server.
        server: SourceServer,
        /// The stopped target.
        target: Box<Instance>,
        /// 1 for the first job of the incident; more after failed ones.
        attempt: u32,
    },
    /// Not now: something else runs on the source server (a drill); the next sweep decides again.
    Wait {
        /// Why, in words.
        reason: String,
    },
    /// A recovery job runs already (started by us for this incident, or found running in DRS).
    AlreadyStarted {
        /// The job.
        job_id: String,
        /// The source server.
        source_server_id: Option<String>,
    },
    /// Not recoverable as things stand; the reason says what to fix.
    Invalid {
        /// What is wrong and what to fix.
        reason: String,
    },
}

/// A DRS-protected instance and its decision.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct PlannedDrs {
    /// The protected instance on the failed Outpost.
    pub original: Instance,
    /// What to do.
    pub decision: DrsDecision,
}

/// The source server protecting an instance: by the instance id in its identification hints,
/// else by hostname against the instance's Name tag.
pub fn source_server_of<'s>(
    servers: &'s [SourceServer],
    instance: &Instance,
) -> Option<&'s SourceServer> {
    servers
        .iter()
        .find(|s| s.aws_instance_id.as_deref() == Some(instance.id.as_str()))
        .or_else(|| {
            let name = normalise_name(instance.tag(tags::NAME)?);
            let mut by_name = servers.iter().filter(|s| {
                s.hostname.as_deref().map(normalise_name).as_deref() == Some(name.as_str())
            });
            let first = by_name.next()?;
            by_name.next().is_none().then_some(first)
        })
}

/// Each DRS-protected instance reported, because DRS could not be read (not initialised in
/// this Region, throttled, denied): the template strategy's instances recover regardless.
pub fn unreadable(instances: &[Instance], error: &crate::error::AwsError) -> Vec<PlannedDrs> {
    let advice = if error.code == "UninitializedAccountException" {
        "Elastic Disaster Recovery is not initialised in this Region: initialise it in the DRS console (or with drs:InitializeService), then the next sweep recovers these instances. Instances of the template strategy are recovered regardless.".to_owned()
    } else {
        format!(
            "{} Instances of the template strategy are recovered regardless; the next sweep tries DRS again.",
            error.kind.advice()
        )
    };
    instances
        .iter()
        .map(|original| PlannedDrs {
            original: original.clone(),
            decision: DrsDecision::Invalid {
                reason: format!("DRS could not be read ({error}): {advice}"),
            },
        })
        .collect()
}

/// Validates each DRS-protected instance. Pure.
pub fn plan_drs(snapshot: &DrsSnapshot<'_>) -> Vec<PlannedDrs> {
    let sources: Vec<(&str, Option<&str>)> = snapshot
        .servers
        .iter()
        .map(|s| (s.id.as_str(), s.hostname.as_deref()))
        .collect();
    let stopped_or_not: Vec<(&str, Option<&str>)> = snapshot
        .targets
        .iter()
        .filter(|t| t.is_live())
        .map(|t| (t.id.as_str(), t.tag(tags::NAME)))
        .collect();
    let matches = match_targets(&sources, &stopped_or_not);
    let mut instances: Vec<&Instance> = snapshot.instances.iter().collect();
    instances.sort_by(|a, b| a.id.cmp(&b.id));
    instances
        .into_iter()
        .map(|original| PlannedDrs {
            original: original.clone(),
            decision: decide(snapshot, &matches, original),
        })
        .collect()
}

fn decide(
    snapshot: &DrsSnapshot<'_>,
    matches: &HashMap<&str, Result<String, MatchProblem>>,
    original: &Instance,
) -> DrsDecision {
    let server = source_server_of(snapshot.servers, original);
    let attempt = match next_attempt(snapshot, original, server) {
        Ok(attempt) => attempt,
        Err(decision) => return *decision,
    };
    let Some(server) = server else {
        return DrsDecision::Invalid {
            reason: format!(
                "no DRS source server names instance {} in its identification hints (awsInstanceID) or hostname {:?}: install the DRS agent on it or fix its Name tag",
                original.id,
                original.tag(tags::NAME).unwrap_or_default()
            ),
        };
    };
    let this_incident = |j: &&ActiveJob| j.incident.as_deref() == Some(snapshot.incident.as_str());
    let of_server = |j: &&ActiveJob| j.source_server_ids.iter().any(|s| s == &server.id);
    // A job the agent started for this incident, found by its job tag even when the original
    // never got the drs-job tag (a crash, or the handler and the sweep racing): the recovery,
    // unless it failed for this server.
    let ours = snapshot
        .active_jobs
        .iter()
        .filter(|j| !j.drill)
        .filter(of_server)
        .filter(this_incident);
    let failed_here = ours
        .clone()
        .filter(|j| j.failed.contains(&server.id))
        .count() as u32;
    if let Some(job) = ours.clone().find(|j| !j.failed.contains(&server.id)) {
        return DrsDecision::AlreadyStarted {
            job_id: job.job_id.clone(),
            source_server_id: Some(server.id.clone()),
        };
    }
    if let Some(decision) = ours
        .clone()
        .filter(|j| j.failed.contains(&server.id))
        .find_map(|j| refused_job(snapshot, &j.job_id, &server.id))
    {
        return decision;
    }
    let attempt = attempt.max(failed_here + 1);
    if attempt > MAX_DRS_ATTEMPTS {
        return DrsDecision::Invalid {
            reason: format!(
                "DRS failed to launch it {failed_here} times in this outage: the agent starts no more jobs. Read the job logs in the DRS console and fix the cause"
            ),
        };
    }
    let running = |drill: bool| {
        snapshot
            .active_jobs
            .iter()
            .filter(|j| !j.finished)
            .find(|j| j.drill == drill && j.source_server_ids.iter().any(|s| s == &server.id))
    };
    if let Some(job) = running(false) {
        return DrsDecision::AlreadyStarted {
            job_id: job.job_id.clone(),
            source_server_id: Some(server.id.clone()),
        };
    }
    if let Some(drill) = running(true) {
        return DrsDecision::Wait {
            reason: format!(
                "a DRS drill (job {}) runs for source server {}; a drill is not the recovery, which starts when the drill ends (the next sweep)",
                drill.job_id, server.id
            ),
        };
    }
    // A dark Outpost stalls replication: its last snapshot is what there is to launch from.
    if let Some(reason) = server.nothing_to_launch_from() {
        return DrsDecision::Invalid { reason };
    }
    let target = match launch_target(snapshot, matches, server) {
        Ok(target) => target,
        Err(decision) => return *decision,
    };
    DrsDecision::Recover {
        server: server.clone(),
        target: Box::new(target.clone()),
        attempt,
    }
}

/// The attempt a new job would be, from the job recorded on the original for this incident;
/// or the decision when that job is still the recovery or the attempts are spent.
fn next_attempt(
    snapshot: &DrsSnapshot<'_>,
    original: &Instance,
    server: Option<&SourceServer>,
) -> Result<u32, Box<DrsDecision>> {
    if let (Some(job), Some(incident)) = (original.tag(tags::DRS_JOB), original.tag(tags::INCIDENT))
        && incident == snapshot.incident.as_str()
    {
        let recorded = snapshot.recorded_jobs.iter().find(|j| j.job_id == job);
        let failed = recorded
            .zip(server)
            .is_some_and(|(j, s)| j.failed_for(&s.id));
        if !failed {
            return Err(Box::new(DrsDecision::AlreadyStarted {
                job_id: job.to_owned(),
                source_server_id: None,
            }));
        }
        let tried = attempt_of(original);
        if let Some(decision) = server.and_then(|s| refused_job(snapshot, job, &s.id)) {
            return Err(Box::new(decision));
        }
        if tried >= MAX_DRS_ATTEMPTS {
            return Err(Box::new(DrsDecision::Invalid {
                reason: format!(
                    "DRS failed to launch it {tried} times in this outage (last job {job}): the agent starts no more jobs. Read the job log in the DRS console and fix the cause, then remove the tag {} from the instance to start again",
                    tags::DRS_JOB
                ),
            }));
        }
        return Ok(tried + 1);
    }
    Ok(1)
}

/// `Invalid` when `job` failed for `server_id` with an error no retry gets past
/// ([`refused_every_time`]): a person fixes the launch configuration first.
fn refused_job(snapshot: &DrsSnapshot<'_>, job: &str, server_id: &str) -> Option<DrsDecision> {
    let failures = snapshot
        .job_failures
        .get(&(job.to_owned(), server_id.to_owned()))?;
    let code = refused_every_time(failures)?;
    Some(DrsDecision::Invalid {
        reason: format!(
            "DRS job {job} failed with {code}, which EC2 answers the same way to every launch of this configuration: not retried. Fix the launch configuration in the DRS console (instance type, subnet, security groups, AMI), then remove the tag {} from the instance; the next sweep starts again",
            tags::DRS_JOB
        ),
    })
}

/// The stopped instance matched to `server` as its launch target, if it can take the launch.
fn launch_target<'s>(
    snapshot: &DrsSnapshot<'s>,
    matches: &HashMap<&str, Result<String, MatchProblem>>,
    server: &SourceServer,
) -> Result<&'s Instance, Box<DrsDecision>> {
    let target_id = match matches.get(server.id.as_str()) {
        Some(Ok(target)) => target,
        Some(Err(problem)) => {
            return Err(Box::new(DrsDecision::Invalid {
                reason: problem.to_string(),
            }));
        }
        None => {
            return Err(Box::new(DrsDecision::Invalid {
                reason: format!("source server {} was not matched", server.id),
            }));
        }
    };
    let target = snapshot
        .targets
        .iter()
        .find(|t| &t.id == target_id)
        .expect("matched from targets");
    if target.state != InstanceState::Stopped {
        return Err(Box::new(DrsDecision::Invalid {
            reason: format!(
                "launch target {} ({}) is {}, not stopped: stop it, or it is in use by an earlier recovery",
                target.id,
                target.display_name(),
                target.state
            ),
        }));
    }
    if target
        .outpost_arn
        .as_deref()
        .is_some_and(|arn| snapshot.outpost.is_named_by_arn(arn))
    {
        return Err(Box::new(DrsDecision::Invalid {
            reason: format!(
                "launch target {} lies on the failed Outpost {}: DRS targets belong in the Region or on an Outposts rack",
                target.id, snapshot.outpost
            ),
        }));
    }
    Ok(target)
}

/// The launch-configuration updates still needed to launch into `target`, in the order DRS
/// requires (preparation first, in a separate update).
pub fn missing_updates(current: &LaunchSettings, target: &str) -> Vec<LaunchUpdate> {
    let mut updates = Vec::new();
    let prepared = current.copy_private_ip == Some(false)
        && current.copy_tags == Some(false)
        && current.right_sizing.as_deref() == Some("NONE");
    if !prepared {
        updates.push(LaunchUpdate::Prepare);
    }
    if current.launch_into.as_deref() != Some(target) {
        updates.push(LaunchUpdate::LaunchInto {
            instance_id: target.to_owned(),
        });
    }
    updates
}

/// Splits source servers into recovery jobs of at most [`MAX_SERVERS_PER_JOB`].
pub fn job_batches(server_ids: &[String]) -> impl Iterator<Item = &[String]> {
    server_ids.chunks(MAX_SERVERS_PER_JOB)
}

/// The warning when a started job could not be recorded on the original: DRS's own job list
/// still prevents a second job.
pub fn job_not_recorded(job_id: &str, error: &crate::error::AwsError) -> String {
    format!(
        "job {job_id} was not recorded on the original ({error}); DRS's own job list still prevents a second job"
    )
}

/// The reason a server is left to the next sweep after DRS kept refusing it for a conflict.
pub fn conflict_left(server_id: &str, error: &crate::error::AwsError) -> String {
    format!(
        "DRS refused to start recovery of source server {server_id} for a conflict ({error}); the other servers started, and the next sweep tries this one again"
    )
}

/// The reason a step of preparing a server's launch (`what`, as its log names it) failed.
pub fn step_failed(what: &str, server_id: &str, error: &crate::error::AwsError) -> String {
    format!("{what} of source server {server_id} failed: {error}")
}

/// The reason DRS did not start a server's recovery job.
pub fn start_failed(server_id: &str, error: &crate::error::AwsError) -> String {
    format!("DRS StartRecovery failed for source server {server_id}: {error}")
}

/// What a recovery from a snapshot means for the data, for the notice: how old it is at
/// `now`. None when replication is continuous (DRS takes fresh data).
pub fn recovery_point_note(server: &SourceServer, now: DateTime<Utc>) -> Option<String> {
    let point = server
        .recovery_point
        .as_ref()
        .filter(|_| !server.is_continuous())?;
    Some(format!(
        "recovered from DRS's last recovery snapshot {} taken {} ({} before the start): replication was {} (lag {}), so writes after that point are not in the recovered copy",
        point.snapshot_id,
        point.taken_at.format("%Y-%m-%d %H:%M:%S UTC"),
        point.age(now),
        server.replication_state,
        server.lag.as_deref().unwrap_or("unknown")
    ))
}

/// The warning on a later attempt: the earlier DRS job of the outage failed.
pub fn attempt_note(attempt: u32) -> Option<String> {
    (attempt > 1).then(|| {
        format!(
            "attempt {attempt} of {MAX_DRS_ATTEMPTS}: the earlier DRS job of this outage failed"
        )
    })
}

/// The reason reported for a DRS job that failed to launch a server: the failing events of
/// its job log, as DRS words them.
pub fn job_failed(job_id: &str, server_id: &str, failures: &[JobFailure]) -> String {
    let mut reason = format!("DRS job {job_id} failed to launch source server {server_id}");
    for f in failures {
        let _ = write!(
            reason,
            "; {}: {}",
            f.event,
            f.raw_error.as_deref().unwrap_or("no detail")
        );
    }
    if failures.is_empty() {
        reason.push_str("; the job log names no failing event");
    }
    reason
}

/// EC2 error codes a launch of the same configuration meets again, however often it is
/// tried: the configuration is wrong (an instance type the subnet's Outpost or zone does not
/// offer, a combination EC2 does not allow, a missing AMI, subnet or security group).
/// Capacity, throttling and internal errors are not among them, nor `InvalidParameterValue`,
/// which EC2 also gives for a state that can change (a launch target not stopped yet): a later
/// job may succeed.
const REFUSED_EVERY_TIME: [&str; 8] = [
    "Unsupported",
    "UnsupportedOperation",
    "InvalidParameterCombination",
    "InvalidAMIID.NotFound",
    "InvalidAMIID.Malformed",
    "InvalidSubnetID.NotFound",
    "InvalidGroup.NotFound",
    "InvalidBlockDeviceMapping",
];

/// The EC2 error code in a DRS job's failing events that no retry gets past, if any: named as
/// a word of its raw error (`… (Unsupported) when calling the RunInstances operation …`).
pub fn refused_every_time(failures: &[JobFailure]) -> Option<&'static str> {
    failures
        .iter()
        .filter_map(|f| f.raw_error.as_deref())
        .flat_map(|raw| raw.split(|c: char| !(c.is_ascii_alphanumeric() || c == '.')))
        .map(|word| word.trim_end_matches('.'))
        .find_map(|word| {
            REFUSED_EVERY_TIME
                .iter()
                .copied()
                .find(|code| *code == word)
        })
}

/// What to do after a DRS job failed: a drill's failure warns; a recovery whose launch EC2
/// refuses every time (`refused`, [`refused_every_time`]) waits for a person; else its
/// `attempt` is followed by another while attempts are left, then by a person.
pub fn job_failed_advice(drill: bool, attempt: u32, refused: Option<&str>) -> String {
    if let (false, Some(code)) = (drill, refused) {
        return format!(
            "not retried: EC2 answers {code} to every launch of this configuration. Fix the launch configuration in the DRS console (instance type, subnet, security groups, AMI), then remove the tag {} from the instance; the next sweep starts again while the Outpost is down.",
            tags::DRS_JOB
        );
    }
    if drill {
        "read the job log in the DRS console: the drill's failure says a recovery may fail the same way.".to_owned()
    } else if attempt < MAX_DRS_ATTEMPTS {
        format!(
            "nothing yet: while the Outpost is down, the sweep starts a new DRS job for it (attempt {} of {MAX_DRS_ATTEMPTS}; once the Outpost is back, no new job is started). If the job log names a cause of yours (launch configuration, target instance, quotas), fix it first.",
            attempt + 1
        )
    } else {
        format!(
            "this was attempt {attempt} of {MAX_DRS_ATTEMPTS}: the agent starts no more jobs. Read the job log in the DRS console, fix the cause (launch configuration, target instance, quotas), then remove the tag {} from the instance; the next sweep starts again.",
            tags::DRS_JOB
        )
    }
}

/// Why a recovered server's event touched nothing: no protected instance is its source.
pub fn no_protected_instance(server_id: &str) -> String {
    format!(
        "no protected instance (autorestart:enabled=true) belongs to source server {server_id}: nothing was touched"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_normalise_case_space_and_domain() {
        let table = [
            ("web-1", "web-1"),
            (" Web-1 ", "web-1"),
            ("WEB-1.corp.example.com", "web-1"),
            ("db.local", "db"),
            ("", ""),
        ];
        for (raw, expected) in table {
            assert_eq!(normalise_name(raw), expected, "{raw:?}");
        }
    }

    #[test]
    fn matching_is_one_to_one_and_names_every_problem() {
        let sources = [
            ("s-ok", Some("App-1.corp.example")),
            ("s-miss", Some("app-2")),
            ("s-dup-target", Some("app-3")),
            ("s-twin-a", Some("app-4")),
            ("s-twin-b", Some("APP-4.other")),
            ("s-nohost", None),
        ];
        let targets = [
            ("i-1", Some("app-1")),
            ("i-3a", Some("app-3")),
            ("i-3b", Some(" App-3 ")),
            ("i-4", Some("app-4")),
            ("i-unnamed", None),
        ];
        let m = match_targets(&sources, &targets);
        assert_eq!(m["s-ok"], Ok("i-1".to_owned()));
        assert_eq!(
            m["s-miss"],
            Err(MatchProblem::NoTarget {
                name: "app-2".into()
            })
        );
        assert_eq!(
            m["s-dup-target"],
            Err(MatchProblem::DuplicateTargets {
                name: "app-3".into(),
                instances: vec!["i-3a".into(), "i-3b".into()]
            })
        );
        assert!(
            matches!(&m["s-twin-a"], Err(MatchProblem::DuplicateSources { sources, .. }) if sources.len() == 2)
        );
        assert!(matches!(
            m["s-nohost"],
            Err(MatchProblem::NoHostname { .. })
        ));
        let message = m["s-dup-target"].clone().unwrap_err().to_string();
        assert!(
            message.contains("i-3a, i-3b") && message.contains("keep the tag on one"),
            "{message}"
        );
    }

    #[test]
    fn only_missing_configuration_steps_are_planned_in_order() {
        let ready = LaunchSettings {
            copy_private_ip: Some(false),
            copy_tags: Some(false),
            right_sizing: Some("NONE".into()),
            launch_into: Some("i-t".into()),
        };
        assert!(missing_updates(&ready, "i-t").is_empty());
        let other_target = missing_updates(&ready, "i-u");
        assert_eq!(
            other_target,
            vec![LaunchUpdate::LaunchInto {
                instance_id: "i-u".into()
            }]
        );
        let fresh = LaunchSettings {
            right_sizing: Some("BASIC".into()),
            copy_private_ip: Some(true),
            ..LaunchSettings::default()
        };
        assert_eq!(
            missing_updates(&fresh, "i-t"),
            vec![
                LaunchUpdate::Prepare,
                LaunchUpdate::LaunchInto {
                    instance_id: "i-t".into()
                }
            ]
        );
    }

    #[test]
    fn batches_hold_at_most_one_hundred() {
        let ids: Vec<String> = (0..201).map(|i| format!("s-{i}")).collect();
        let sizes: Vec<usize> = job_batches(&ids).map(<[String]>::len).collect();
        assert_eq!(sizes, [100, 100, 1]);
    }
}

#[cfg(test)]
mod job_finish_tests {
    use super::*;
    use std::time::Duration;

    fn job(status: &str, servers: &[(&str, &str)], minutes_ago: i64) -> JobSnapshot {
        JobSnapshot {
            job_id: "drsjob-1".into(),
            status: status.into(),
            servers: servers
                .iter()
                .map(|(id, status)| ((*id).to_owned(), (*status).into()))
                .collect(),
            created_at: Some(now() - chrono::Duration::minutes(minutes_ago)),
        }
    }

    fn now() -> DateTime<Utc> {
        "2026-12-05T12:00:00Z".parse().unwrap()
    }

    #[test]
    fn a_job_is_finished_once_it_ended_and_reported_stuck_past_its_bound() {
        struct Row {
            status: &'static str,
            servers: &'static [(&'static str, &'static str)],
            minutes_ago: i64,
            expected: JobFinish,
        }
        let timeout = Duration::from_secs(60 * 60);
        let rows = [
            Row {
                status: "STARTED",
                servers: &[("s-1", "IN_PROGRESS")],
                minutes_ago: 10,
                expected: JobFinish::Running,
            },
            Row {
                status: "PENDING",
                servers: &[("s-1", "PENDING")],
                minutes_ago: 90,
                expected: JobFinish::Stuck,
            },
            Row {
                status: "COMPLETED",
                servers: &[
                    ("s-1", "LAUNCHED"),
                    ("s-2", "FAILED"),
                    ("s-3", "TERMINATED"),
                ],
                minutes_ago: 90,
                expected: JobFinish::Ended(vec![("s-1".into(), true), ("s-2".into(), false)]),
            },
            Row {
                status: "A_NEW_STATUS",
                servers: &[("s-1", "LAUNCHED")],
                minutes_ago: 5,
                expected: JobFinish::Running,
            },
        ];
        for row in rows {
            let job = job(row.status, row.servers, row.minutes_ago);
            assert_eq!(
                job_finish(&job, timeout, now()),
                row.expected,
                "{}",
                row.status
            );
        }
    }

    #[test]
    fn a_stuck_report_names_the_job_its_servers_and_who_waits() {
        let job = job("STARTED", &[("s-1", "IN_PROGRESS")], 90);
        let report = crate::report::drs_stuck(&job, &["i-web1".into()], Duration::from_secs(3600));
        assert!(report.stuck && !report.succeeded);
        assert_eq!(report.original_id.as_deref(), Some("i-web1"));
        let reason = report.reason.unwrap();
        assert!(
            reason.contains("still STARTED more than 60 minutes"),
            "{reason}"
        );
        assert!(
            reason.contains("s-1") && reason.contains("i-web1"),
            "{reason}"
        );
    }

    #[test]
    fn a_failed_job_names_its_events_and_what_comes_next() {
        let failures = [JobFailure {
            event: "LAUNCH_FAILED".into(),
            raw_error: None,
        }];
        assert_eq!(
            job_failed("drsjob-1", "s-1", &failures),
            "DRS job drsjob-1 failed to launch source server s-1; LAUNCH_FAILED: no detail"
        );
        assert!(job_failed("drsjob-1", "s-1", &[]).ends_with("the job log names no failing event"));
        assert!(job_failed_advice(true, 1, None).contains("the drill's failure"));
        assert!(job_failed_advice(true, 1, Some("Unsupported")).contains("the drill's failure"));
        assert!(
            job_failed_advice(false, 1, None).contains(&format!("attempt 2 of {MAX_DRS_ATTEMPTS}"))
        );
        assert!(
            job_failed_advice(false, 1, Some("Unsupported"))
                .starts_with("not retried: EC2 answers Unsupported")
        );
        assert!(
            job_failed_advice(false, MAX_DRS_ATTEMPTS, None)
                .contains("the agent starts no more jobs")
        );
        assert_eq!(attempt_note(1), None);
        assert!(attempt_note(2).is_some_and(|n| n.starts_with("attempt 2 of")));
    }

    #[test]
    fn only_an_error_every_launch_meets_again_stops_the_retries() {
        let failure = |raw: Option<&str>| JobFailure {
            event: "LAUNCH_FAILED".into(),
            raw_error: raw.map(str::to_owned),
        };
        let rows: [(Option<&str>, Option<&str>); 9] = [
            (
                Some(
                    "An error occurred (Unsupported) when calling the RunInstances operation: The requested configuration is currently not supported.",
                ),
                Some("Unsupported"),
            ),
            (
                Some(
                    "InvalidParameterCombination: The architecture 'arm64' of the specified instance type does not match the architecture 'x86_64' of the specified AMI.",
                ),
                Some("InvalidParameterCombination"),
            ),
            // A state that can change: the next job may succeed.
            (
                Some("InvalidParameterValue: target instance i-0000000000000a000 is not stopped"),
                None,
            ),
            (
                Some("InvalidAMIID.NotFound: The image id does not exist"),
                Some("InvalidAMIID.NotFound"),
            ),
            (
                Some("(InsufficientInstanceCapacity) We currently do not have sufficient capacity"),
                None,
            ),
            (Some("RequestLimitExceeded: Request limit exceeded."), None),
            (Some("InternalError"), None),
            // A word inside another is not the code.
            (Some("UnsupportedFeatureX happened"), None),
            (None, None),
        ];
        for (raw, expected) in rows {
            assert_eq!(refused_every_time(&[failure(raw)]), expected, "{raw:?}");
        }
    }
}
