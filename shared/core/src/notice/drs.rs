//! The notice of a DRS launch result.

use std::fmt::Write;

use super::Notice;
use crate::report::DrsReport;
use crate::settings::Place;

/// The notice for a DRS result.
pub fn render(report: &DrsReport, place: &Place) -> Notice {
    let what = match (report.drill, report.succeeded, report.stuck) {
        (_, _, true) => "DRS recovery STUCK",
        (true, true, _) => "DRS drill launched",
        (true, false, _) => "DRS drill FAILED",
        (false, true, _) => "DRS recovery launched",
        (false, false, _) => "DRS recovery FAILED",
    };
    let subject = match (&report.original_name, &report.outpost) {
        // The name and Outpost people know; the server id is in the text.
        (Some(name), Some(outpost)) => format!("{what}: {name} of {outpost}"),
        _ => format!("{what}: {}", report.source_server_id),
    };
    let mut body = String::new();
    if let Some(advice) = &report.advice {
        let _ = writeln!(body, "What you must do: {advice}\n");
    }
    let _ = writeln!(
        body,
        "{what} for source server {} (job {}).",
        report.source_server_id, report.job_id
    );
    if let Some(original) = &report.original_id {
        let name = report
            .original_name
            .as_deref()
            .map(|n| format!("{n} ({original})"))
            .unwrap_or_else(|| original.to_string());
        let on = report
            .outpost
            .as_ref()
            .map(|o| format!(" on Outpost {o}"))
            .unwrap_or_default();
        let _ = writeln!(body, "Protected instance: {name}{on}");
    }
    if let Some(incident) = &report.incident {
        let _ = writeln!(body, "Incident: {incident}");
    }
    if let Some(link) = place.console("drs", "") {
        let _ = writeln!(
            body,
            "The job in the DRS console (Recovery job history, {}): {link}",
            report.job_id
        );
    }
    if let Some(launched) = &report.recovery_instance_id {
        let _ = writeln!(body, "Recovery instance: {launched}");
    }
    for tg in &report.target_groups {
        let state = if tg.deregistered {
            "moved"
        } else {
            "NOT moved"
        };
        let _ = writeln!(
            body,
            "  target group {}: {state} to {}",
            tg.target_group_arn,
            tg.to.as_deref().unwrap_or("?")
        );
        if let Some(note) = &tg.note {
            let _ = writeln!(body, "    note: {note}");
        }
    }
    if let Some(reason) = &report.reason {
        let _ = writeln!(body, "\n{reason}");
    }
    // A recovery DRS could not launch, or a stuck job, needs a person; a drill does not.
    let severity = if report.drill {
        crate::notice::Severity::Info
    } else if !report.succeeded || report.stuck {
        crate::notice::Severity::Critical
    } else {
        crate::notice::Severity::Warning
    };
    crate::notice::compose(
        place,
        &subject,
        body,
        report,
        severity,
        vec![
            (
                "event".into(),
                if report.drill {
                    "drs-drill"
                } else {
                    "drs-recovery"
                }
                .into(),
            ),
            ("job".into(), report.job_id.clone()),
        ]
        .into_iter()
        .chain(
            report
                .outpost
                .as_ref()
                .map(|o| ("outpost".into(), o.to_string())),
        )
        .chain(
            report
                .incident
                .as_ref()
                .map(|i| ("incident".into(), i.clone())),
        )
        .collect(),
    )
}
