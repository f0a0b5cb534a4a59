//! The composition root: one value owns the six ports, the settings and this process's
//! RunInstances pacer, and lends each flow only the ports that flow takes. A Lambda function
//! builds it once at cold start over the SDK; tests and the benchmark over the in-memory AWS.

use crate::budget::{Pacer, Rate};
use crate::drill::Drill;
use crate::drs_finish::DrsFinish;
use crate::outage::Outage;
use crate::patient::Patient;
use crate::ports::{Alarms, Compute, DisasterRecovery, LoadBalancing, Notifier, Outposts};
use crate::sweep::Sweep;
use autorestart_core::settings::Settings;

/// The AWS services the agent works through, one port each.
pub struct Ports<C, L, N, D, A, O> {
    /// EC2.
    pub compute: C,
    /// Elastic Load Balancing.
    pub balancer: L,
    /// SNS.
    pub notifier: N,
    /// Elastic Disaster Recovery.
    pub drs: D,
    /// CloudWatch alarms.
    pub alarms: A,
    /// The Outposts API.
    pub outposts: O,
}

impl<T: Copy> Ports<T, T, T, T, T, T> {
    /// Every port served by one value, e.g. `&InMemoryAws`.
    pub fn all(one: T) -> Self {
        Self {
            compute: one,
            balancer: one,
            notifier: one,
            drs: one,
            alarms: one,
            outposts: one,
        }
    }
}

/// The ports as every flow reaches them: each with [`Patient`].
pub type PatientPorts<C, L, N, D, A, O> =
    Ports<Patient<C>, Patient<L>, Patient<N>, Patient<D>, Patient<A>, Patient<O>>;
/// The alarm handler's flow, as the agent lends it.
pub type AgentOutage<'a, C, L, N, D, A, O> =
    Outage<'a, Patient<C>, Patient<L>, Patient<N>, Patient<D>, Patient<A>, Patient<O>>;
/// The DRS event handler's flow, as the agent lends it.
pub type AgentDrsFinish<'a, C, L, N, D> =
    DrsFinish<'a, Patient<C>, Patient<L>, Patient<N>, Patient<D>>;
/// The sweeper's flow, as the agent lends it.
pub type AgentSweep<'a, C, L, N, D, A, O> =
    Sweep<'a, Patient<C>, Patient<L>, Patient<N>, Patient<D>, Patient<A>, Patient<O>>;
/// The drill's flow, as the agent lends it.
pub type AgentDrill<'a, C, L, N, D, A, O> =
    Drill<'a, Patient<C>, Patient<L>, Patient<N>, Patient<D>, Patient<A>, Patient<O>>;

/// The ports, each reached with [`Patient`] (bounded by the invocation, retried, observed after
/// a failed change), the settings and this process's RunInstances pacer: what every flow borrows.
pub struct Agent<C, L, N, D, A, O> {
    ports: PatientPorts<C, L, N, D, A, O>,
    settings: Settings,
    launches: Pacer,
}

impl<C, L, N, D, A, O> Agent<C, L, N, D, A, O>
where
    C: Compute,
    L: LoadBalancing,
    N: Notifier,
    D: DisasterRecovery,
    A: Alarms,
    O: Outposts,
{
    /// An agent over the given ports.
    pub fn new(ports: Ports<C, L, N, D, A, O>, settings: Settings) -> Self {
        Self {
            ports: Ports {
                compute: Patient::new(ports.compute),
                balancer: Patient::new(ports.balancer),
                notifier: Patient::new(ports.notifier),
                drs: Patient::new(ports.drs),
                alarms: Patient::new(ports.alarms),
                outposts: Patient::new(ports.outposts),
            },
            settings,
            launches: Pacer::new(Rate::RUN_INSTANCES),
        }
    }

    /// The alarm handler's flow.
    pub fn outage(&self) -> AgentOutage<'_, C, L, N, D, A, O> {
        Outage {
            compute: &self.ports.compute,
            balancer: &self.ports.balancer,
            notifier: &self.ports.notifier,
            drs: &self.ports.drs,
            alarms: &self.ports.alarms,
            outposts: &self.ports.outposts,
            shares_bucket: true,
            settings: &self.settings,
            launches: &self.launches,
        }
    }

    /// The DRS event handler's flow.
    pub fn drs_finish(&self) -> AgentDrsFinish<'_, C, L, N, D> {
        DrsFinish {
            compute: &self.ports.compute,
            balancer: &self.ports.balancer,
            notifier: &self.ports.notifier,
            drs: &self.ports.drs,
            settings: &self.settings,
        }
    }

    /// The sweeper's flow.
    pub fn sweeper(&self) -> AgentSweep<'_, C, L, N, D, A, O> {
        Sweep {
            compute: &self.ports.compute,
            balancer: &self.ports.balancer,
            notifier: &self.ports.notifier,
            drs: &self.ports.drs,
            alarms: &self.ports.alarms,
            outposts: &self.ports.outposts,
            settings: &self.settings,
            launches: &self.launches,
        }
    }

    /// The drill's flow.
    pub fn driller(&self) -> AgentDrill<'_, C, L, N, D, A, O> {
        Drill {
            compute: &self.ports.compute,
            balancer: &self.ports.balancer,
            notifier: &self.ports.notifier,
            drs: &self.ports.drs,
            alarms: &self.ports.alarms,
            outposts: &self.ports.outposts,
            settings: &self.settings,
            launches: &self.launches,
        }
    }

    /// How the agent runs.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }
}
