//! A sweep and its fencing reports, as the fencing, link-proof and ELB tests read them.

use autorestart_core::fence::FenceReport;
use autorestart_core::report::SweepReport;
use autorestart_core::settings::Settings;
use autorestart_flows::agent::{Agent, Ports};
use autorestart_testkit::InMemoryAws;

/// One sweep with `settings`, which must report no error.
pub async fn sweep_with(aws: &InMemoryAws, settings: Settings) -> SweepReport {
    let report = Agent::new(Ports::all(aws.clone()), settings)
        .sweep()
        .await
        .unwrap();
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    report
}

/// The fencing report of `outpost` in a sweep's report.
pub fn fencing_of(report: &SweepReport, outpost: &str) -> FenceReport {
    report
        .fencing
        .iter()
        .find(|f| f.outpost.as_ref().is_some_and(|o| o.as_str() == outpost))
        .and_then(|f| f.fencing.clone())
        .unwrap_or_else(|| panic!("no fencing of {outpost}: {report:?}"))
}
