//! outposts-autorestart's domain and AWS adapters.
//!
//! Pure decisions ([`alarm`], [`plan`], [`balancing::plan_moves`], [`notice`]) are kept apart
//! from effects: the [`ports`] traits, implemented over the AWS SDK in [`aws`] and in memory in
//! [`memory`]. [`agent::Agent`] ties them together for one alarm change, a [`sweep`] or a [`drill`]. Nothing here knows
//! Lambda, event JSON or environment variables.

pub mod agent;
pub mod alarm;
pub mod aws;
pub mod balancing;
pub mod budget;
pub mod drill;
pub mod drs;
pub mod drs_recovery;
pub mod drs_result;
pub mod error;
pub mod fence;
pub mod fencing;
pub mod inventory;
pub mod memory;
pub mod metrics;
pub mod notice;
pub mod plan;
pub mod ports;
pub mod readiness;
pub mod recovery;
pub mod recovery_template;
pub mod report;
pub mod sweep;
pub mod tags;
pub mod waves;

/// SHA-256 of `text` in lowercase hex (64 digits); prefixes of it make short, stable ids.
pub(crate) fn sha256_hex(text: &str) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(text)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
