//! The pure core of outposts-autorestart: the model (instances, targets, tags, reports) and
//! every decision made over it.
//!
//! Nothing here performs I/O, waits or knows the AWS SDK: each function takes what was observed
//! and returns what to do or what to say. The flows (`autorestart-flows`) observe and act.

pub mod alarm;
pub mod drill;
pub mod drs;
pub mod error;
pub mod failback;
pub mod fence;
pub mod ids;
pub mod inventory;
pub mod launch_check;
pub mod launching;
pub mod link_loss;
pub mod metrics;
pub mod moves;
pub mod notice;
pub mod outcome;
pub mod placement;
pub mod plan;
pub mod proof;
pub mod readiness;
pub mod recovery;
pub mod report;
pub mod settings;
pub mod standby;
pub mod status;
pub mod tags;
pub mod template_plan;
pub mod vocabulary;
pub mod waves;

/// SHA-256 of `text` in lowercase hex (64 digits); prefixes of it make short, stable ids.
pub fn sha256_hex(text: &str) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(text)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
