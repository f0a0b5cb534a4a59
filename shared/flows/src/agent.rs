//! The composition root: one value owns the six ports, the settings and this process's
//! RunInstances pacer; every flow is a method on it and borrows it. A Lambda function builds it
//! once at cold start over the SDK; tests and the benchmark over the in-memory AWS.

use crate::budget::{Pacer, Rate};
use crate::patient::Patient;
use crate::ports::{Alarms, Compute, DisasterRecovery, LoadBalancing, Notifier, Outposts};
use autorestart_core::settings::Settings;

/// Which adapter serves each port: the SDK's in production (`autorestart_aws::Sdk`), the
/// in-memory AWS in tests (`autorestart_testkit::InMemoryAws`).
pub trait Services: 'static {
    /// EC2.
    type Compute: Compute;
    /// Elastic Load Balancing.
    type Balancer: LoadBalancing;
    /// SNS.
    type Notifier: Notifier;
    /// Elastic Disaster Recovery.
    type Drs: DisasterRecovery;
    /// CloudWatch alarms.
    type Alarms: Alarms;
    /// The Outposts API.
    type Outposts: Outposts;
}

/// The AWS services the agent works through, one adapter each.
pub struct Ports<S: Services> {
    /// EC2.
    pub compute: S::Compute,
    /// Elastic Load Balancing.
    pub balancer: S::Balancer,
    /// SNS.
    pub notifier: S::Notifier,
    /// Elastic Disaster Recovery.
    pub drs: S::Drs,
    /// CloudWatch alarms.
    pub alarms: S::Alarms,
    /// The Outposts API.
    pub outposts: S::Outposts,
}

impl<S> Ports<S>
where
    S: Services<Compute = S, Balancer = S, Notifier = S, Drs = S, Alarms = S, Outposts = S> + Clone,
{
    /// Every port served by one value that shares its state among its clones, as the SDK's
    /// clients do: the in-memory AWS.
    pub fn all(one: S) -> Self {
        Self {
            compute: one.clone(),
            balancer: one.clone(),
            notifier: one.clone(),
            drs: one.clone(),
            alarms: one.clone(),
            outposts: one,
        }
    }
}

/// The ports, each reached with [`Patient`] (bounded by the invocation, retried, observed after
/// a failed change), the settings and this process's RunInstances pacer. The flows are its
/// methods: the alarm's ([`crate::outage`]), the DRS event's ([`crate::drs_finish`]), the
/// sweep's ([`crate::sweep`]) and the drill's ([`crate::drill`]), with fencing
/// ([`crate::fencing`]) and readiness ([`crate::readiness`]) they share.
pub struct Agent<S: Services> {
    pub(crate) compute: Patient<S::Compute>,
    pub(crate) balancer: Patient<S::Balancer>,
    pub(crate) notifier: Patient<S::Notifier>,
    pub(crate) drs: Patient<S::Drs>,
    pub(crate) alarms: Patient<S::Alarms>,
    pub(crate) outposts: Patient<S::Outposts>,
    pub(crate) settings: Settings,
    /// This process's copy of EC2's RunInstances bucket.
    pub(crate) launches: Pacer,
    /// The wall clock the link-loss timing reads: the system's (`Utc::now`), or in tests one
    /// that moves with paused `tokio` time ([`crate::budget::tokio_wall_clock`]).
    pub(crate) clock: fn() -> chrono::DateTime<chrono::Utc>,
}

impl<S: Services> Agent<S> {
    /// An agent over the given ports.
    pub fn new(ports: Ports<S>, settings: Settings) -> Self {
        Self {
            compute: Patient::new(ports.compute),
            balancer: Patient::new(ports.balancer),
            notifier: Patient::new(ports.notifier),
            drs: Patient::new(ports.drs),
            alarms: Patient::new(ports.alarms),
            outposts: Patient::new(ports.outposts),
            settings,
            launches: Pacer::new(Rate::RUN_INSTANCES),
            clock: chrono::Utc::now,
        }
    }

    /// This agent reading `clock` for the time (tests: [`crate::budget::tokio_wall_clock`]).
    pub fn with_clock(mut self, clock: fn() -> chrono::DateTime<chrono::Utc>) -> Self {
        self.clock = clock;
        self
    }

    /// How the agent runs.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }
}
