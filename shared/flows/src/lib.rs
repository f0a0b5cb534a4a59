//! The flows of outposts-autorestart, each over the narrow ports it uses.
//!
//! A flow observes AWS through [`ports`], asks `autorestart-core` what to do, and acts,
//! bounding every wait by the invocation's [`budget::Budget`]. Nothing here knows Lambda, event
//! JSON, environment variables or the AWS SDK: the SDK adapters live in `autorestart-aws`, the
//! in-memory AWS in `autorestart-testkit`.

pub mod agent;
pub mod budget;
pub mod drill;
pub mod drs_finish;
pub mod drs_start;
pub mod error;
pub mod failback;
pub mod failover;
pub mod fencing;
pub mod launch;
pub mod membership;
pub mod notify;
pub mod observe;
pub mod outage;
pub mod patient;
pub mod ports;
pub mod readiness;
pub mod standby;
pub mod status;
pub mod sweep;
pub mod template;
pub mod waves;
