//! Renders a report as a message people can act on: a subject, readable text, and the same
//! facts as JSON at the end.

use std::fmt::Write;

use crate::outcome::OutcomeKind;
use crate::report::{Action, AlarmReport, InstanceReport};
use crate::settings::Mode;

mod drill;
mod drs;
mod readiness;

pub use drill::render as drill;
pub use drs::render as drs_result;
pub use readiness::render as readiness;

/// A message for people.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Notice {
    /// One line, at most 100 characters.
    pub subject: String,
    /// Readable text followed by the same facts as JSON.
    pub body: String,
    /// Message attributes for subscription filter policies.
    pub attributes: Vec<(String, String)>,
}

/// SNS subjects are ASCII, without line breaks or control characters, under 100 characters.
pub const MAX_SUBJECT: usize = 99;
/// SNS messages are at most 256 KiB (262,144 bytes) with their attributes; 6 KiB are kept for
/// the attributes.
pub const MAX_BODY: usize = 250 * 1024;
/// Instances listed by name per section before the text only counts them.
const LISTED_PER_SECTION: usize = 50;
/// Marks where the JSON facts start, for parsers of the message.
pub const FACTS_MARKER: &str = "--- facts (JSON) ---";

/// Renders the notice for a report.
pub fn render(report: &AlarmReport) -> Notice {
    let outpost = report
        .outpost
        .as_ref()
        .map(|o| o.as_str())
        .unwrap_or("unknown Outpost");
    let subject = subject(report, outpost);
    let text = match report.action {
        Action::Recovery => recovery_text(report, outpost),
        Action::OutpostBack => back_text(report, outpost),
        Action::Suppressed => format!(
            "Outpost {outpost} lost its connection to the Region (alarm {}, in ALARM since {}), but the alarm is in maintenance mode (tag {}=true): nothing was recovered.\nWhen the maintenance is over, remove the tag; if the Outpost is still down then, the next sweep recovers its instances.\n",
            report.alarm,
            report.state_since.to_rfc3339(),
            crate::tags::MAINTENANCE
        ),
        Action::Ignored | Action::Stale => format!(
            "Alarm {} was ignored: {}\n",
            report.alarm,
            report
                .ignored_because
                .as_deref()
                .unwrap_or("no reason given")
        ),
    };
    let mut attributes = vec![("event".to_owned(), event_name(report).to_owned())];
    if let Some(o) = &report.outpost {
        attributes.push(("outpost".into(), o.to_string()));
    }
    if let Some(i) = &report.incident {
        attributes.push(("incident".into(), i.to_string()));
    }
    compose(&subject, text, report, attributes)
}

/// The one place a notice is made: SNS's limits hold for every notice. The subject is ASCII
/// without control characters, at most [`MAX_SUBJECT`] characters; the body is the readable
/// text, then [`FACTS_MARKER`] and `facts` as JSON, at most [`MAX_BODY`] bytes (the facts give
/// way to a note first, then the text is cut at a character boundary, saying so).
pub fn compose(
    subject: &str,
    mut text: String,
    facts: &impl serde::Serialize,
    attributes: Vec<(String, String)>,
) -> Notice {
    let subject: String = subject
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else if c.is_control() {
                ' '
            } else {
                '?'
            }
        })
        .take(MAX_SUBJECT)
        .collect();
    const CUT: &str = "\n[... cut here: the notice reached SNS's size limit; the whole report is in the function's log]\n";
    let facts =
        serde_json::to_string_pretty(facts).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    let short_facts = "{\"truncated\": \"the full report exceeds the SNS size limit; it is in the function's log and return value\"}";
    let room = MAX_BODY - FACTS_MARKER.len() - short_facts.len() - CUT.len() - 4;
    if text.len() > room {
        let mut end = room;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push_str(CUT);
    }
    if text.len() + facts.len() + FACTS_MARKER.len() + 3 <= MAX_BODY {
        let _ = write!(text, "\n{FACTS_MARKER}\n{facts}\n");
    } else {
        let _ = write!(text, "\n{FACTS_MARKER}\n{short_facts}\n");
    }
    Notice {
        subject,
        body: text,
        attributes,
    }
}

fn event_name(report: &AlarmReport) -> &'static str {
    match (report.action, report.mode) {
        (Action::Recovery, Mode::Recover) => "recovery",
        (Action::Recovery, Mode::NotifyOnly) => "recovery-plan",
        (Action::OutpostBack, _) => "outpost-back",
        (Action::Suppressed, _) => "recovery-suppressed",
        (Action::Ignored, _) => "ignored",
        (Action::Stale, _) => "stale-alarm",
    }
}

fn subject(report: &AlarmReport, outpost: &str) -> String {
    let count = |wanted: fn(OutcomeKind) -> bool| {
        report
            .instances
            .iter()
            .filter(|i| wanted(i.outcome))
            .count()
    };
    let failed = count(|k| k == OutcomeKind::Failed);
    let line = match (report.action, report.mode) {
        (Action::Recovery, Mode::Recover) => {
            let recovered = count(OutcomeKind::is_recovered);
            let drs = count(OutcomeKind::is_drs_started);
            let mut line = format!("Outpost {outpost} down: {recovered} recovered");
            if drs > 0 {
                let _ = write!(line, ", {drs} DRS started");
            }
            if failed > 0 {
                let _ = write!(line, ", {failed} FAILED");
            }
            line
        }
        (Action::Recovery, Mode::NotifyOnly) => format!(
            "Outpost {outpost} down: plan for {} instances (notify-only)",
            report.instances.len()
        ),
        (Action::OutpostBack, _) => format!(
            "Outpost {outpost} back: {}",
            report
                .fencing
                .as_ref()
                .map_or_else(|| "fencing not checked".to_owned(), |f| f.summary())
        ),
        (Action::Suppressed, _) => {
            format!("Outpost {outpost} down: recovery suppressed (maintenance)")
        }
        (Action::Ignored, _) => format!("Alarm {} ignored", report.alarm),
        (Action::Stale, _) => format!("Alarm {} stale: nothing launched", report.alarm),
    };
    format!("[outposts-autorestart] {line}")
}

/// The heading of the instances of one outcome.
fn section_title(outcome: OutcomeKind) -> &'static str {
    match outcome {
        OutcomeKind::Recovered => "Recovered now",
        OutcomeKind::AlreadyRecovered => "Recovered earlier (replacement already running)",
        OutcomeKind::DrsRecoveryStarted => {
            "DRS recovery started (a second notice follows when DRS reports the launch)"
        }
        OutcomeKind::DrsAlreadyStarted => "DRS recovery already running",
        OutcomeKind::WouldLaunch => "Would recover",
        OutcomeKind::WouldStartDrs => "Would start DRS recovery",
        OutcomeKind::Unfinished => {
            "NOT RECOVERED YET (the next sweep continues; no action needed unless it fails)"
        }
        OutcomeKind::NotRunning => "Not recovered: not running when the Outpost went down",
        OutcomeKind::Failed => "NOT RECOVERED",
    }
}

/// The instances, one section per outcome, in [`OutcomeKind::ALL`]'s order.
fn write_sections(text: &mut String, report: &AlarmReport) {
    for outcome in OutcomeKind::ALL {
        let title = section_title(outcome);
        let members: Vec<&InstanceReport> = report
            .instances
            .iter()
            .filter(|i| i.outcome == outcome)
            .collect();
        if members.is_empty() {
            continue;
        }
        let _ = writeln!(text, "\n{title} ({}):", members.len());
        for instance in members.iter().take(LISTED_PER_SECTION) {
            describe_instance(text, instance);
        }
        if members.len() > LISTED_PER_SECTION {
            let _ = writeln!(
                text,
                "  ... and {} more (see the facts below)",
                members.len() - LISTED_PER_SECTION
            );
        }
    }
}

/// The waves, when there were several.
fn write_waves(text: &mut String, report: &AlarmReport) {
    if report.waves.len() > 1 {
        let _ = writeln!(text, "\nWaves:");
        for wave in &report.waves {
            let _ = writeln!(
                text,
                "  - wave {}: {} instance(s), {} after {} s{}",
                wave.wave,
                wave.instances,
                if wave.settled {
                    "settled"
                } else {
                    "NOT settled"
                },
                wave.waited_seconds,
                wave.note
                    .as_deref()
                    .map(|n| format!(": {n}"))
                    .unwrap_or_default()
            );
        }
    }
}

fn recovery_text(report: &AlarmReport, outpost: &str) -> String {
    let mut text = String::new();
    let _ = writeln!(
        text,
        "Outpost {outpost} lost its connection to the Region (alarm {}, in ALARM since {}).",
        report.alarm,
        report.state_since.to_rfc3339()
    );
    if let Some(incident) = &report.incident {
        let _ = writeln!(text, "Incident: {incident}");
    }
    if report.mode == Mode::NotifyOnly {
        let _ = writeln!(
            text,
            "Mode notify-only: nothing was changed. This is what recovery would do."
        );
    }
    if report.instances.is_empty() {
        let _ = writeln!(
            text,
            "\nNo instance on this Outpost is opted in (tag autorestart:enabled=true): nothing to recover."
        );
    }
    write_sections(&mut text, report);
    for error in &report.load_balancing_errors {
        let _ = writeln!(text, "\nLoad balancing: {error}");
    }
    write_waves(&mut text, report);
    for warning in &report.warnings {
        let _ = writeln!(text, "\nWarning: {warning}");
    }
    let to_do = what_to_do(report);
    if !to_do.is_empty() {
        let _ = writeln!(text, "\nWhat you must do:");
        for line in to_do {
            let _ = writeln!(text, "  - {line}");
        }
    }
    if report.mode == Mode::Recover
        && report
            .instances
            .iter()
            .any(|i| i.outcome == OutcomeKind::Recovered)
    {
        let _ = writeln!(
            text,
            "\nThe originals still exist on {outpost}. When it comes back, the agent fences them (the sweep's FENCE_ACTION) once their replacements run."
        );
    }
    text
}

fn describe_instance(text: &mut String, i: &InstanceReport) {
    let _ = write!(text, "  - {} ({})", i.name, i.instance_id);
    if let Some(replacement) = &i.replacement_id {
        let _ = write!(text, " -> {replacement}");
    }
    if let Some(template) = &i.template {
        let _ = write!(text, " from {template}");
    }
    if let Some(server) = &i.source_server_id {
        let _ = write!(text, " via DRS source server {server}");
    }
    if let Some(target) = &i.launch_target_id {
        let _ = write!(text, " into {target}");
    }
    if let Some(job) = &i.drs_job_id {
        let _ = write!(text, " (job {job})");
    }
    if let Some(subnet) = &i.subnet_id {
        let _ = write!(text, " in {subnet}");
    }
    if let Some(outpost) = &i.outpost_arn {
        let _ = write!(
            text,
            " on {}",
            outpost.rsplit('/').next().unwrap_or(outpost)
        );
    }
    let _ = writeln!(text);
    if let Some(reason) = &i.reason {
        let _ = writeln!(text, "      why: {reason}");
    }
    for tg in &i.target_groups {
        let state = match (&tg.to, tg.deregistered, tg.healthy) {
            (None, _, _) => "would move".to_owned(),
            (Some(to), true, true) => format!("moved to {to} (healthy)"),
            (Some(to), true, false) => format!("moved to {to} (not yet healthy)"),
            (Some(to), false, _) => format!("NOT moved to {to}"),
        };
        let port = tg.port.map(|p| format!(" port {p}")).unwrap_or_default();
        let _ = writeln!(
            text,
            "      target group {}{port}: {state}",
            short_arn(&tg.target_group_arn)
        );
        if let Some(note) = &tg.note {
            let _ = writeln!(text, "        note: {note}");
        }
    }
    for skipped in &i.skipped_templates {
        let _ = writeln!(
            text,
            "      skipped {}: {}",
            skipped.template, skipped.reason
        );
    }
    for attempt in &i.failed_attempts {
        let _ = writeln!(text, "      tried {}: {}", attempt.template, attempt.error);
    }
    for warning in &i.warnings {
        let _ = writeln!(text, "      warning: {warning}");
    }
}

fn what_to_do(report: &AlarmReport) -> Vec<String> {
    let mut lines: Vec<String> = report
        .instances
        .iter()
        .filter(|i| i.failed())
        .map(|i| {
            format!(
                "{} ({}): {}",
                i.name,
                i.instance_id,
                i.advice.as_deref().unwrap_or("see the reason above")
            )
        })
        .collect();
    let unhealthy = report
        .instances
        .iter()
        .flat_map(|i| &i.target_groups)
        .filter(|tg| tg.note.is_some() && tg.to.is_some())
        .count();
    if unhealthy > 0 {
        lines.push(format!(
            "check the {unhealthy} target-group membership(s) with a note above; the application behind them may need attention."
        ));
    }
    if !report.load_balancing_errors.is_empty() {
        lines.push("move the replacements into their target groups by hand, or re-run once the error is fixed.".into());
    }
    lines
}

fn back_text(report: &AlarmReport, outpost: &str) -> String {
    let mut text = format!(
        "Outpost {outpost} is connected again (alarm {} OK since {}).\n",
        report.alarm,
        report.state_since.to_rfc3339()
    );
    match &report.fencing {
        Some(fencing) => text.push_str(&crate::fence::describe(fencing)),
        None => text.push_str("Fencing was not checked.\n"),
    }
    text
}

fn short_arn(arn: &str) -> &str {
    arn.split_once(":targetgroup/")
        .map(|(_, rest)| rest)
        .unwrap_or(arn)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SNS's limits: subject ASCII without control characters under 100; body and attributes
    /// at most 256 KiB.
    fn fits_sns(notice: &Notice) {
        assert!(notice.subject.len() < 100, "{}", notice.subject);
        assert!(
            notice
                .subject
                .chars()
                .all(|c| c.is_ascii_graphic() || c == ' '),
            "{:?}",
            notice.subject
        );
        let attributes: usize = notice
            .attributes
            .iter()
            .map(|(k, v)| k.len() + v.len())
            .sum();
        assert!(notice.body.len() + attributes <= 256 * 1024);
    }

    #[test]
    fn every_notice_fits_sns_whatever_it_is_given() {
        let long_subject = format!("Outpost é\nback: {}", "x".repeat(300));
        for (text, facts) in [
            ("short".to_owned(), vec!["fact"; 3]),
            ("short".to_owned(), vec!["a long fact to repeat"; 20_000]),
            ("ü".repeat(200_000), vec!["fact"; 3]),
        ] {
            let notice = compose(
                &long_subject,
                text,
                &facts,
                vec![("event".into(), "x".into())],
            );
            fits_sns(&notice);
            assert!(
                notice.subject.starts_with("Outpost ? back: xxx"),
                "{}",
                notice.subject
            );
            assert!(notice.body.contains(FACTS_MARKER));
        }
        let cut = compose("s", "ü".repeat(200_000), &(), Vec::new());
        assert!(cut.body.contains("cut here"), "the cut is said");
        let whole = compose("s", "short".into(), &["fact"], Vec::new());
        assert!(whole.body.ends_with("[\n  \"fact\"\n]\n"), "{}", whole.body);
    }

    #[test]
    fn every_renderer_goes_through_the_one_place() {
        let names = "n".repeat(5_000);
        let mut readiness = crate::readiness::ReadinessReport::default();
        for i in 0..2_000 {
            readiness
                .instances
                .push(crate::readiness::InstanceReadiness {
                    instance_id: format!("i-{i:017}"),
                    name: names.clone(),
                    outpost: None,
                    problems: vec!["problem".repeat(20)],
                    notes: Vec::new(),
                    previous: None,
                });
            readiness.changed.push(format!("i-{i:017}"));
        }
        readiness.not_ready = 2_000;
        fits_sns(&super::readiness(&readiness));
        let drs = crate::report::DrsReport {
            source_server_id: "s-1".repeat(100),
            job_id: "drsjob-1".into(),
            succeeded: false,
            drill: false,
            stuck: false,
            original_id: None,
            recovery_instance_id: None,
            target_groups: Vec::new(),
            reason: Some("r".repeat(300_000)),
            advice: None,
            message_id: None,
        };
        fits_sns(&super::drs_result(&drs));
    }
}
