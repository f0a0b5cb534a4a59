//! The outage and settings the flow tests and the SDK tests share.

use std::time::Duration;

use autorestart_core::alarm::{AlarmChange, AlarmState};
use autorestart_core::settings::{HealthWait, Settings};

/// The Outpost that fails in these tests.
pub const OUTPOST_A: &str = "op-0aaaaaaaaaaaaaaa1";
/// Its ARN.
pub const ARN_A: &str = "arn:aws:outposts:us-east-1:111122223333:outpost/op-0aaaaaaaaaaaaaaa1";
/// Outpost A went down at 03:10 UTC.
pub fn outage() -> AlarmChange {
    AlarmChange::connected_status(
        "connected-a",
        OUTPOST_A,
        AlarmState::Alarm,
        "2026-11-24T03:10:00Z".parse().unwrap(),
    )
}

/// Defaults with a one-second health wait.
pub fn quick_settings() -> Settings {
    Settings {
        concurrency: 4,
        health_wait: HealthWait {
            timeout: Duration::from_secs(1),
            poll_interval: Duration::from_secs(1),
        },
        ..Settings::default()
    }
}
