//! The notice of a live drill.

use std::collections::BTreeMap;

use super::Notice;
use crate::drill::{DrillReport, PlannedStep};
use crate::settings::Place;
use crate::tags;

/// The notice of a live drill.
pub fn render(report: &DrillReport, place: &Place) -> Notice {
    use std::fmt::Write;
    let launched = report.copies.iter().filter(|c| c.copy_id.is_some()).count();
    let running = report
        .copies
        .iter()
        .filter(|c| c.running_after_seconds.is_some())
        .count();
    let failed = report.copies.iter().filter(|c| c.error.is_some()).count();
    let subject = format!(
        "Drill {}: {running}/{} running, {failed} failed{}",
        report.outpost,
        report.copies.len(),
        if report.left_behind.is_empty() {
            ""
        } else {
            ", COPIES LEFT"
        }
    );
    let mut text = String::new();
    // What needs a person first: copies the drill could not terminate.
    if !report.left_behind.is_empty() {
        let _ = writeln!(
            text,
            "What you must do: terminate these drill copies by hand (tag {}={}): {}\n",
            tags::DRILL,
            report.drill_id,
            report.left_behind.join(", ")
        );
    }
    let _ = writeln!(
        text,
        "Live drill {} of Outpost {}: {launched} copies launched, {running} seen running, {} terminated, in {:.0} s.",
        report.drill_id,
        report.outpost,
        report.cleaned_up.len(),
        report.seconds
    );
    let mut by_wave: BTreeMap<u32, Vec<&PlannedStep>> = BTreeMap::new();
    for s in &report.plan {
        by_wave.entry(s.wave).or_default().push(s);
    }
    for c in &report.copies {
        let _ = writeln!(
            text,
            "  - {} -> {} from {}: {}",
            c.original_id,
            c.copy_id.as_deref().unwrap_or("no copy"),
            c.template.as_deref().unwrap_or("-"),
            match (&c.running_after_seconds, &c.error) {
                (Some(s), _) => format!(
                    "running after {s:.0} s{}",
                    match c.healthy {
                        Some(true) => ", healthy",
                        Some(false) => ", NOT healthy",
                        None => "",
                    }
                ),
                (None, Some(e)) => format!("FAILED: {e}"),
                (None, None) => "not seen running".into(),
            }
        );
    }
    for r in &report.readiness_problems {
        let _ = writeln!(
            text,
            "\nNot ready: {} ({}): {}",
            r.name,
            r.instance_id,
            r.problems.join("; ")
        );
    }
    for e in &report.errors {
        let _ = writeln!(text, "\nProblem: {e}");
    }
    // A drill that failed says a recovery may fail the same way: look, not page.
    let severity = if report.errors.is_empty()
        && report.left_behind.is_empty()
        && report.readiness_problems.is_empty()
        && report.copies.iter().all(|c| c.error.is_none())
    {
        crate::notice::Severity::Info
    } else {
        crate::notice::Severity::Warning
    };
    crate::notice::compose(
        place,
        &subject,
        text,
        report,
        severity,
        vec![
            ("event".into(), "drill".into()),
            ("outpost".into(), report.outpost.to_string()),
            ("incident".into(), report.drill_id.clone()),
        ],
    )
}
