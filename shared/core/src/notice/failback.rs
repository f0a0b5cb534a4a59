//! The notice of a failback: what went home, what rolled back and why, what blocks the rest.

use std::fmt::Write;

use super::{Notice, Severity, duration};
use crate::failback::{FailbackReport, Status};
use crate::settings::Place;

/// The notice of a failback (asked, or finished by the sweep).
pub fn render(report: &FailbackReport, place: &Place) -> Notice {
    let of = |f: &dyn Fn(&Status) -> bool| {
        report
            .instances
            .iter()
            .filter(|i| f(&i.status))
            .collect::<Vec<_>>()
    };
    let rolled = of(&|s| matches!(s, Status::RolledBack { .. }));
    let blocked = of(&|s| *s == Status::Blocked);
    let home = of(&|s| *s == Status::FailedBack);
    let would = of(&|s| *s == Status::WouldFailBack);
    let going = of(&|s| matches!(s, Status::InProgress { .. }));
    let what = if report.dry_run {
        "Failback dry run"
    } else {
        "Failback"
    };
    let subject = format!("{what} of {}: {}", report.outpost, report.summary());
    let mut text = String::new();
    // What needs a person first.
    if !rolled.is_empty() || !report.errors.is_empty() {
        let _ = writeln!(
            text,
            "What you must do: find why these originals did not serve again (their replacements serve, the originals are stopped as before), fix it, then ask for the failback again."
        );
        for i in &rolled {
            if let Status::RolledBack { fault } = i.status {
                let _ = writeln!(
                    text,
                    "  - ROLLED BACK {} ({}): {}; {} serves",
                    i.name,
                    i.original_id,
                    fault.explain(),
                    i.replacement_id.as_deref().unwrap_or("no replacement")
                );
            }
        }
        for e in &report.errors {
            let _ = writeln!(text, "  - a step failed (the next run tries again): {e}");
        }
        text.push('\n');
    }
    let _ = writeln!(
        text,
        "{what} of Outpost {} ({} hand-over, replacements {}):",
        report.outpost,
        report.handover.as_str(),
        match report.retire {
            crate::failback::Retire::Standby => "kept as stopped standbys",
            crate::failback::Retire::Terminate => "terminated",
        }
    );
    for i in &home {
        let _ = writeln!(
            text,
            "  - home: {} ({}) serves again{}{}",
            i.name,
            i.original_id,
            i.replacement_id
                .as_ref()
                .map(|r| format!(", {r} retired"))
                .unwrap_or_default(),
            i.seconds
                .map(|s| format!(", in {}", duration(s)))
                .unwrap_or_default()
        );
    }
    for i in &would {
        let _ = writeln!(
            text,
            "  - would fail back: start {} ({}), move {} target group(s) back from {}, retire it",
            i.name,
            i.original_id,
            i.target_groups.len(),
            i.replacement_id.as_deref().unwrap_or("-")
        );
    }
    for i in &going {
        if let Status::InProgress { next } = &i.status {
            let _ = writeln!(
                text,
                "  - going on: {} ({}), next: {next}",
                i.name, i.original_id
            );
        }
    }
    for i in &blocked {
        let _ = writeln!(
            text,
            "  - not now: {} ({}): {}",
            i.name,
            i.original_id,
            i.reasons.join("; ")
        );
    }
    if report.instances.is_empty() {
        let _ = writeln!(
            text,
            "  nothing to fail back: no original on this Outpost has a replacement the agent launched"
        );
    }
    let severity = if !rolled.is_empty() || !report.errors.is_empty() {
        Severity::Critical
    } else if !blocked.is_empty() && !report.dry_run {
        Severity::Warning
    } else {
        Severity::Info
    };
    let state = if !rolled.is_empty() || !report.errors.is_empty() {
        Some("open")
    } else if !home.is_empty() && going.is_empty() && !report.dry_run {
        Some("resolved")
    } else {
        None
    };
    super::compose(
        place,
        &subject,
        text,
        report,
        severity,
        [
            ("event".into(), "failback".into()),
            ("outpost".into(), report.outpost.to_string()),
            // One key per Outpost's failback: a rollback opens it, the failback home resolves it.
            ("incident".into(), format!("failback-{}", report.outpost)),
        ]
        .into_iter()
        .chain(state.map(|s| (super::INCIDENT_STATE_ATTRIBUTE.to_owned(), s.to_owned())))
        .collect(),
    )
}
