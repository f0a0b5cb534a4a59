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
    let changed: HashSet<&str> = report.changed.iter().map(|id| id.as_str()).collect();
    let now_not_ready: Vec<&InstanceReadiness> = report
        .instances
        .iter()
        .filter(|i| changed.contains(i.instance_id.as_str()) && !i.is_ready())
        .collect();
    let mut text = String::new();
    // What needs a person first: an instance that would not be recovered now.
    if !now_not_ready.is_empty() {
        let _ = writeln!(
            text,
            "What you must do: fix the problems listed under each instance now NOT ready, before the next outage finds them; the next sweep checks again and says when they are ready.\n"
        );
    }
    text.push_str("The readiness of protected instances changed.\n");
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
    if let Some(link) = (!place.dashboard.is_empty())
        .then(|| {
            place.console(
                "cloudwatch",
                &format!("dashboards/dashboard/{}", place.dashboard),
            )
        })
        .flatten()
    {
        let _ = writeln!(text, "\nThe dashboard: {link}");
    }
    // The Outposts of the instances that changed, for subscription filters and routing.
    let mut outposts: Vec<String> = report
        .instances
        .iter()
        .filter(|i| changed.contains(i.instance_id.as_str()))
        .filter_map(|i| i.outpost.as_ref().map(ToString::to_string))
        .collect();
    outposts.sort();
    outposts.dedup();
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
        [
            ("event".to_owned(), "readiness".to_owned()),
            // One key per deployment: open while an instance is not ready, resolved once all are.
            ("incident".to_owned(), readiness_key(place)),
            (
                super::INCIDENT_STATE_ATTRIBUTE.to_owned(),
                if report.not_ready > 0 {
                    "open"
                } else {
                    "resolved"
                }
                .to_owned(),
            ),
        ]
        .into_iter()
        .chain((!outposts.is_empty()).then(|| ("outpost".to_owned(), outposts.join(","))))
        .collect(),
    )
}

/// The `incident` of readiness notices: `readiness-<stack>`, one alert per deployment.
fn readiness_key(place: &Place) -> String {
    if place.stack.is_empty() {
        "readiness".to_owned()
    } else {
        format!("readiness-{}", place.stack)
    }
}
