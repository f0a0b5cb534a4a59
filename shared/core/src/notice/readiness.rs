//! The notice of a readiness check.

use std::collections::HashSet;
use std::fmt::Write;

use super::Notice;
use crate::readiness::{InstanceReadiness, ReadinessReport};
use crate::settings::Place;

/// The notice for a readiness change: what changed, then every instance not ready.
pub fn render(report: &ReadinessReport, place: &Place) -> Notice {
    let subject = format!(
        "Readiness: {} not ready, {} ready ({} changed)",
        report.not_ready,
        report.ready,
        report.changed.len()
    );
    let mut text = String::from("The readiness of protected instances changed.\n");
    let changed: HashSet<&str> = report.changed.iter().map(|id| id.as_str()).collect();
    for (title, ready) in [("Now NOT ready", false), ("Now ready", true)] {
        let list: Vec<&InstanceReadiness> = report
            .instances
            .iter()
            .filter(|i| changed.contains(i.instance_id.as_str()) && i.is_ready() == ready)
            .collect();
        if list.is_empty() {
            continue;
        }
        let _ = writeln!(text, "\n{title} ({}):", list.len());
        for i in list {
            let _ = writeln!(text, "  - {} ({})", i.name, i.instance_id);
            for problem in &i.problems {
                let _ = writeln!(text, "      problem: {problem}");
            }
            if let Some(policy) = &i.on_link_loss {
                let _ = writeln!(text, "      on a link loss: {policy}");
            }
        }
    }
    let still: Vec<&InstanceReadiness> = report
        .instances
        .iter()
        .filter(|i| !i.is_ready() && !changed.contains(i.instance_id.as_str()))
        .collect();
    if !still.is_empty() {
        let _ = writeln!(text, "\nStill not ready ({}):", still.len());
        for i in still {
            let _ = writeln!(
                text,
                "  - {} ({}): {}",
                i.name,
                i.instance_id,
                i.problems.join("; ")
            );
        }
    }
    // An instance that would not be recovered needs a person before the next outage.
    let severity = if report.not_ready > 0 {
        super::Severity::Warning
    } else {
        super::Severity::Info
    };
    crate::notice::compose(
        place,
        &subject,
        text,
        report,
        severity,
        vec![("event".into(), "readiness".into())],
    )
}
