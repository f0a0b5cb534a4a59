//! Renders every message people read (recovery, fencing, DRS result, readiness, drill) within
//! SNS's limits: a subject and readable text that say what needs action first, name the
//! deployment and link to the consoles; the same facts as JSON go in the `facts` attribute for
//! machine subscribers.

use std::fmt::Write;

use crate::outcome::OutcomeKind;
use crate::report::{Action, AlarmReport, InstanceReport};
use crate::settings::{Mode, Place};

mod drill;
mod drs;
mod failback;
mod readiness;

pub use drill::render as drill;
pub use drs::render as drs_result;
pub use failback::render as failback;
pub use readiness::render as readiness;

/// A message for people.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Notice {
    /// One line, at most 100 characters.
    pub subject: String,
    /// Readable text, for people (e-mail, chat).
    pub body: String,
    /// Message attributes: `event`, `severity`, `outpost` and `incident` for subscription
    /// filter policies and on-call routing, and `facts`, the report as JSON for machine
    /// subscribers.
    pub attributes: Vec<(String, String)>,
}

/// How urgent a notice is, for on-call tools that route by it (the `severity` attribute).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    /// A person must act now: an instance not recovered, a held one, an original that could
    /// not be fenced, a failed DRS launch.
    Critical,
    /// An outage handled, or work left to the next run: look when you can.
    Warning,
    /// Nothing to do.
    Info,
}

impl Severity {
    /// The attribute's value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Critical => "critical",
            Self::Warning => "warning",
            Self::Info => "info",
        }
    }
}

/// The attribute naming a notice's [`Severity`].
pub const SEVERITY_ATTRIBUTE: &str = "severity";

/// SNS subjects are ASCII, without line breaks or control characters, under 100 characters.
pub const MAX_SUBJECT: usize = 99;
/// SNS messages are at most 256 KiB (262,144 bytes) with their attributes: the text gets
/// 150 KiB, the facts 100 KiB, and 6 KiB are kept for the other attributes.
pub const MAX_BODY: usize = 150 * 1024;
/// The most the `facts` attribute holds; larger facts are replaced by a note.
pub const MAX_FACTS: usize = 100 * 1024;
/// The attribute holding the facts as JSON.
pub const FACTS_ATTRIBUTE: &str = "facts";
/// Instances listed by name per section before the text only counts them.
const LISTED_PER_SECTION: usize = 50;

/// Renders the notice for a report of the agent at `place`.
pub fn render(report: &AlarmReport, place: &Place) -> Notice {
    let outpost = report
        .outpost
        .as_ref()
        .map(|o| o.as_str())
        .unwrap_or("unknown Outpost");
    let subject = subject(report, outpost);
    let text = match report.action {
        Action::Recovery => recovery_text(report, outpost, place),
        Action::OutpostBack => back_text(report, outpost, place),
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
        if let Some(state) = incident_state(report) {
            attributes.push((INCIDENT_STATE_ATTRIBUTE.into(), state.into()));
        }
    }
    compose(place, &subject, text, report, severity(report), attributes)
}

/// The message attribute that tells an on-call tool whether the notice's `incident` is still
/// open (`open`) or finished (`resolved`): its trigger and its resolve, keyed by `incident`.
pub const INCIDENT_STATE_ATTRIBUTE: &str = "incident-state";

/// `resolved` for the Outpost-back notice that fenced every original (none held, none
/// failed): every instance was recovered or reported, the Outpost is back, one copy runs.
/// `open` for every other notice of an incident.
pub fn incident_state(report: &AlarmReport) -> Option<&'static str> {
    match report.action {
        Action::OutpostBack => Some(match &report.fencing {
            Some(f) if f.failed.is_empty() && f.held.is_empty() => "resolved",
            _ => "open",
        }),
        Action::Recovery | Action::Suppressed => Some("open"),
        Action::Ignored | Action::Stale => None,
    }
}

/// An alarm report's severity: critical when a person must act (what the notice's "What you
/// must do" lists, a held instance, an original not fenced); a warning for an outage handled,
/// or left to the next run, or suppressed; else info.
pub fn severity(report: &AlarmReport) -> Severity {
    match report.action {
        Action::Recovery => {
            let held = report
                .instances
                .iter()
                .any(|i| i.outcome == OutcomeKind::Held);
            if held || !what_to_do(report).is_empty() {
                Severity::Critical
            } else {
                Severity::Warning
            }
        }
        Action::Suppressed => Severity::Warning,
        Action::OutpostBack => match &report.fencing {
            Some(f) if !f.failed.is_empty() => Severity::Critical,
            Some(f) if f.held.iter().any(|h| h.news) => Severity::Warning,
            _ => Severity::Info,
        },
        Action::Ignored | Action::Stale => Severity::Info,
    }
}

/// `[stack account region] subject`: the deployment first, so that a reader of many knows
/// which speaks. When that is too long for [`MAX_SUBJECT`], the stack's name is shortened
/// first (`name..`), then left out: the account and Region stay (the text names all three).
fn framed(place: &Place, subject: &str) -> String {
    let tail: Vec<&str> = [place.account.as_str(), place.region.as_str()]
        .into_iter()
        .filter(|p| !p.is_empty())
        .collect();
    let frame = |stack: &str| {
        let parts: Vec<&str> = std::iter::once(stack)
            .filter(|s| !s.is_empty())
            .chain(tail.iter().copied())
            .collect();
        if parts.is_empty() {
            format!("[outposts-autorestart] {subject}")
        } else {
            format!("[{}] {subject}", parts.join(" "))
        }
    };
    let full = frame(&place.stack);
    let over = full.chars().count().saturating_sub(MAX_SUBJECT);
    if over == 0 || place.stack.is_empty() {
        return full;
    }
    // Room for the stack's first characters and "..": at least 4 of them, or none.
    let keep = place.stack.chars().count().saturating_sub(over + 2);
    if keep >= 4 {
        let short: String = place.stack.chars().take(keep).collect();
        return frame(&format!("{short}.."));
    }
    if tail.is_empty() {
        return full;
    }
    frame("")
}

/// The one place a notice is made: SNS's limits hold for every notice. The subject is ASCII
/// without control characters, at most [`MAX_SUBJECT`] characters, and names the deployment
/// first ([`framed`]); the text ends with the deployment and is at most
/// [`MAX_BODY`] bytes (cut at a character boundary, saying so); `facts` go in the
/// [`FACTS_ATTRIBUTE`] attribute as JSON, at most [`MAX_FACTS`] bytes (else a note says where
/// the whole report is).
pub fn compose(
    place: &Place,
    subject: &str,
    mut text: String,
    facts: &impl serde::Serialize,
    severity: Severity,
    mut attributes: Vec<(String, String)>,
) -> Notice {
    attributes.push((SEVERITY_ATTRIBUTE.to_owned(), severity.as_str().to_owned()));
    let short = place.short();
    let subject = framed(place, subject);
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
    if !short.is_empty() {
        let _ = writeln!(text, "\n-- outposts-autorestart, {}", place.describe());
    }
    const CUT: &str = "\n[... cut here: the notice reached SNS's size limit; the whole report is in the `facts` attribute or the function's log]\n";
    if text.len() > MAX_BODY {
        let mut end = MAX_BODY - CUT.len();
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push_str(CUT);
    }
    let facts = serde_json::to_string(facts).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    let facts = if facts.len() <= MAX_FACTS {
        facts
    } else {
        "{\"truncated\": \"the full report exceeds the SNS size limit; it is in the function's log and return value\"}".to_owned()
    };
    attributes.push((FACTS_ATTRIBUTE.to_owned(), facts));
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
    match (report.action, report.mode) {
        (Action::Recovery, Mode::Recover) => {
            let recovered = count(OutcomeKind::is_recovered);
            let drs = count(OutcomeKind::is_drs_started);
            // What needs a person comes first, where a mail client shows it.
            let mut line = if failed > 0 {
                format!("{outpost} down: {failed} FAILED, {recovered} recovered")
            } else {
                format!("{outpost} down: {recovered} recovered")
            };
            if drs > 0 {
                let _ = write!(line, ", {drs} DRS started");
            }
            line
        }
        (Action::Recovery, Mode::NotifyOnly) => format!(
            "{outpost} down: plan for {} instances (notify-only)",
            report.instances.len()
        ),
        (Action::OutpostBack, _) => format!(
            "{outpost} back: {}",
            report
                .fencing
                .as_ref()
                .map_or_else(|| "fencing not checked".to_owned(), |f| f.summary())
        ),
        (Action::Suppressed, _) => {
            format!("{outpost} down: recovery suppressed (maintenance)")
        }
        (Action::Ignored, _) => format!("Alarm {} ignored", report.alarm),
        (Action::Stale, _) => format!("Alarm {} stale: nothing launched", report.alarm),
    }
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
        OutcomeKind::Held => {
            "HELD, NOT RECOVERED (on-link-loss=hold: a person confirms the server is down, then fails over)"
        }
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

fn recovery_text(report: &AlarmReport, outpost: &str, place: &Place) -> String {
    let mut text = String::new();
    let to_do = what_to_do(report);
    if !to_do.is_empty() {
        let _ = writeln!(text, "What you must do:");
        for line in to_do {
            let _ = writeln!(text, "  - {line}");
        }
        let _ = writeln!(text);
    }
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
    write_links(&mut text, report, place);
    text
}

/// Console links: the instances, the alarm, the logs of the incident, the dashboard.
fn write_links(text: &mut String, report: &AlarmReport, place: &Place) {
    let mut ids: Vec<&str> = report
        .instances
        .iter()
        .flat_map(|i| std::iter::once(i.instance_id.as_str()).chain(i.replacement_id.as_deref()))
        .collect();
    ids.truncate(LISTED_PER_SECTION);
    let links = [
        (
            "Instances",
            (!ids.is_empty())
                .then(|| place.console("ec2", &format!("Instances:instanceId={}", ids.join(","))))
                .flatten(),
        ),
        (
            "Alarm",
            place.console("cloudwatch", &format!("alarmsV2:alarm/{}", report.alarm)),
        ),
        (
            "Logs Insights",
            report
                .incident
                .as_ref()
                .and_then(|_| place.console("cloudwatch", "logsV2:logs-insights")),
        ),
        (
            "Dashboard",
            (!place.dashboard.is_empty())
                .then(|| {
                    place.console(
                        "cloudwatch",
                        &format!("dashboards/dashboard/{}", place.dashboard),
                    )
                })
                .flatten(),
        ),
    ];
    if links.iter().all(|(_, link)| link.is_none()) {
        return;
    }
    let _ = writeln!(text, "\nLinks:");
    for (name, link) in links {
        if let Some(link) = link {
            let _ = writeln!(text, "  {name}: {link}");
        }
    }
    if let (Some(incident), false) = (&report.incident, place.stack.is_empty()) {
        let _ = writeln!(
            text,
            "  The incident in Logs Insights (log groups /aws/lambda/{}-*):\n    fields @timestamp, @message | filter @message like \"{incident}\" | sort @timestamp asc",
            place.stack
        );
    }
}

/// A duration as people read it: `94 s`, `3 min 20 s`, `1 h 5 min`.
pub fn duration(seconds: i64) -> String {
    match seconds {
        s if s < 120 => format!("{s} s"),
        s if s < 3600 => match s % 60 {
            0 => format!("{} min", s / 60),
            r => format!("{} min {r} s", s / 60),
        },
        s => match (s % 3600) / 60 {
            0 => format!("{} h", s / 3600),
            m => format!("{} h {m} min", s / 3600),
        },
    }
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
    if let Some(seconds) = i.running_after_seconds {
        let _ = write!(text, ", running {} after the alarm", duration(seconds));
    }
    let _ = writeln!(text);
    if let Some(reason) = &i.reason {
        let _ = writeln!(text, "      why: {reason}");
    }
    if let Some(two_copies) = &i.two_copies {
        let _ = writeln!(text, "      two copies: {two_copies}");
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
        .filter(|i| i.failed() || i.outcome == OutcomeKind::Held)
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

fn back_text(report: &AlarmReport, outpost: &str, place: &Place) -> String {
    let mut text = format!(
        "Outpost {outpost} is connected again (alarm {} OK since {}).\n",
        report.alarm,
        report.state_since.to_rfc3339()
    );
    match &report.fencing {
        Some(fencing) => {
            text.push_str(&crate::fence::describe(fencing));
            // Fenced originals serve again only by a failback, when a person chooses.
            if !fencing.fenced.is_empty() {
                let _ = writeln!(
                    text,
                    "\nTo bring them home once the Outpost has been stable for a while (docs/failback.md), see the plan first:\n  {}",
                    crate::failback::command(outpost, &place.region)
                );
            }
        }
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
    fn a_long_stack_name_is_shortened_first_and_account_and_region_stay() {
        let place = |stack: &str| Place {
            account: "111122223333".into(),
            region: "eu-west-1".into(),
            stack: stack.into(),
            dashboard: String::new(),
        };
        // 60 characters of subject: 39 left for "[stack account region] ".
        let subject = format!("Outpost op-0123456789abcdef0 down: {}", "y".repeat(26));
        let cases = [
            // It fits: as it is.
            ("prod", "[prod 111122223333 eu-west-1] "),
            // Too long: the stack's first characters and "..".
            (
                "outposts-autorestart-production",
                "[outposts-a.. 111122223333 eu-west-1] ",
            ),
        ];
        for (stack, starts) in cases {
            let framed = framed(&place(stack), &subject);
            assert!(framed.starts_with(starts), "{framed}");
            assert!(framed.ends_with(&subject), "{framed}");
            assert!(framed.chars().count() <= MAX_SUBJECT, "{framed}");
        }
        // No room for 4 characters of it: left out, account and Region kept.
        let longer = format!("{subject}{}", "z".repeat(10));
        let framed = framed(&place("outposts-autorestart-production"), &longer);
        assert_eq!(framed, format!("[111122223333 eu-west-1] {longer}"));
        // Nothing known of the place: the project's name.
        assert_eq!(
            super::framed(&Place::default(), "s"),
            "[outposts-autorestart] s"
        );
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
                &place(),
                &long_subject,
                text,
                &facts,
                Severity::Info,
                vec![("event".into(), "x".into())],
            );
            fits_sns(&notice);
            assert!(
                notice
                    .subject
                    .starts_with("[111122223333 eu-west-1] Outpost ? back: xxx"),
                "no room for the stack: account and Region stay: {}",
                notice.subject
            );
            assert!(facts_of(&notice).is_some());
        }
        let cut = compose(
            &place(),
            "s",
            "ü".repeat(200_000),
            &(),
            Severity::Info,
            Vec::new(),
        );
        assert!(cut.body.contains("cut here"), "the cut is said");
        let whole = compose(
            &place(),
            "s",
            "short".into(),
            &["fact"],
            Severity::Info,
            Vec::new(),
        );
        assert_eq!(facts_of(&whole), Some(serde_json::json!(["fact"])));
        assert!(
            !whole.body.contains("[\"fact\"]"),
            "facts are not in the text"
        );
        assert!(
            whole.body.ends_with("-- outposts-autorestart, stack outposts-autorestart, account 111122223333, Region eu-west-1\n"),
            "{}",
            whole.body
        );
        let big = compose(
            &place(),
            "s",
            "short".into(),
            &vec!["fact"; 30_000],
            Severity::Info,
            Vec::new(),
        );
        assert!(facts_of(&big).unwrap()["truncated"].is_string());
    }

    fn place() -> Place {
        Place {
            account: "111122223333".into(),
            region: "eu-west-1".into(),
            stack: "outposts-autorestart".into(),
            dashboard: "outposts-autorestart".into(),
        }
    }

    /// The `facts` attribute, parsed.
    fn facts_of(notice: &Notice) -> Option<serde_json::Value> {
        let (_, facts) = notice
            .attributes
            .iter()
            .find(|(name, _)| name == FACTS_ATTRIBUTE)?;
        serde_json::from_str(facts).ok()
    }

    fn instance(id: &str, name: &str, outcome: OutcomeKind) -> InstanceReport {
        InstanceReport::new(id, name, crate::tags::Strategy::Template, outcome)
    }

    /// Outpost A down at 03:10: web-1 recovered onto B in 94 s and moved in its target group,
    /// web-2 not recovered (no capacity anywhere).
    fn recovery_with_a_failure() -> AlarmReport {
        let mut report = AlarmReport::empty(
            "outposts-autorestart-connected-op-0aaaaaaaaaaaaaaa1".into(),
            "2026-11-24T03:10:00Z".parse().unwrap(),
            Mode::Recover,
        );
        report.action = Action::Recovery;
        report.outpost = Some(
            crate::alarm::OutpostId::from_arn(
                "arn:aws:outposts:eu-west-1:111122223333:outpost/op-0aaaaaaaaaaaaaaa1",
            )
            .unwrap(),
        );
        report.incident = Some(crate::alarm::IncidentId::from_tag(
            "op-0aaaaaaaaaaaaaaa1-20261124T031000Z-0123abcd",
        ));
        let mut web1 = instance("i-0000000000000web1", "web-1", OutcomeKind::Recovered);
        web1.replacement_id = Some("i-0000000000000rep1".into());
        web1.template = Some("lt-0123456789abcdef0".into());
        web1.subnet_id = Some("subnet-0bbbbbbbbbbbbbbb2".into());
        web1.outpost_arn =
            Some("arn:aws:outposts:eu-west-1:111122223333:outpost/op-0bbbbbbbbbbbbbbb2".into());
        web1.running_after_seconds = Some(94);
        web1.target_groups.push(crate::report::TargetGroupReport {
            target_group_arn: "arn:aws:elasticloadbalancing:eu-west-1:111122223333:targetgroup/web/0123456789abcdef".into(),
            from: "i-0000000000000web1".into(),
            to: Some("i-0000000000000rep1".into()),
            port: Some(8080),
            registered: true,
            healthy: true,
            deregistered: true,
            note: None,
        });
        let mut web2 = instance("i-0000000000000web2", "web-2", OutcomeKind::Failed);
        web2.reason = Some(
            "no alternate had capacity: InsufficientInstanceCapacity on lt-0fedcba9876543210"
                .into(),
        );
        web2.advice = Some("add capacity on another Outpost server, or a recovery template for one that has it; the next sweep tries again".into());
        report.instances = vec![web1, web2];
        report
    }

    #[test]
    fn a_recovery_with_a_failure_says_what_to_do_first_and_where_it_happened() {
        let notice = render(&recovery_with_a_failure(), &place());
        fits_sns(&notice);
        insta::assert_snapshot!(
            "recovery_with_a_failure",
            format!("Subject: {}\n\n{}", notice.subject, notice.body)
        );
        let facts = facts_of(&notice).expect("the facts attribute");
        assert_eq!(facts["instances"][0]["outcome"], "recovered");
        assert_eq!(facts["instances"][1]["outcome"], "failed");
    }

    #[test]
    fn a_recovery_without_a_place_names_none_and_links_nothing() {
        let notice = render(&recovery_with_a_failure(), &Place::default());
        fits_sns(&notice);
        insta::assert_snapshot!(
            "recovery_without_a_place",
            format!("Subject: {}\n\n{}", notice.subject, notice.body)
        );
    }

    #[test]
    fn an_outpost_back_says_what_is_held_first_then_what_was_fenced() {
        use crate::fence::{FenceReport, FencedInstance, HeldInstance};
        use crate::settings::FenceAction;
        let mut report = AlarmReport::empty(
            "outposts-autorestart-connected-op-0aaaaaaaaaaaaaaa1".into(),
            "2026-11-24T05:40:00Z".parse().unwrap(),
            Mode::Recover,
        );
        report.action = Action::OutpostBack;
        report.outpost = recovery_with_a_failure().outpost;
        let mut fencing = FenceReport::new(FenceAction::Stop, Mode::Recover);
        fencing.fenced.push(FencedInstance {
            instance_id: "i-0000000000000web1".into(),
            name: "web-1".into(),
            replacement_id: "i-0000000000000rep1".into(),
            previous_state: "running".into(),
            again: false,
        });
        fencing.held.push(HeldInstance {
            instance_id: "i-0000000000000web2".into(),
            name: "web-2".into(),
            reason:
                "no copy in its chain runs: it may be the only one; recover it or stop it by hand"
                    .into(),
            news: true,
        });
        report.fencing = Some(fencing);
        report.incident = Some(crate::alarm::IncidentId::from_tag(
            "op-0aaaaaaaaaaaaaaa1-20261124T031000Z-0123abcd",
        ));
        let notice = render(&report, &place());
        fits_sns(&notice);
        insta::assert_snapshot!(
            "outpost_back",
            format!("Subject: {}\n\n{}", notice.subject, notice.body)
        );
        let state = |notice: &Notice| {
            notice
                .attributes
                .iter()
                .find(|(k, _)| k == INCIDENT_STATE_ATTRIBUTE)
                .map(|(_, v)| v.clone())
        };
        assert_eq!(state(&notice).as_deref(), Some("open"), "web-2 is held");
        // Once nothing is held: the incident is resolved, under the same key.
        report.fencing.as_mut().unwrap().held.clear();
        let resolved = render(&report, &place());
        assert_eq!(state(&resolved).as_deref(), Some("resolved"));
        assert!(resolved.attributes.contains(&(
            "incident".to_owned(),
            "op-0aaaaaaaaaaaaaaa1-20261124T031000Z-0123abcd".to_owned()
        )));
        // The outage's own notice opened it.
        let outage = render(&recovery_with_a_failure(), &place());
        assert_eq!(state(&outage).as_deref(), Some("open"));
    }

    #[test]
    fn a_failed_drs_launch_says_what_to_do_and_where() {
        let report = crate::report::DrsReport {
            source_server_id: "s-0123456789abcdef0".into(),
            job_id: "drsjob-0123456789abcdef0".into(),
            succeeded: false,
            drill: false,
            stuck: false,
            original_id: Some("i-00000000000000db1".into()),
            original_name: Some("db-1".into()),
            outpost: crate::alarm::OutpostId::parse("op-0aaaaaaaaaaaaaaa1"),
            incident: Some("op-0aaaaaaaaaaaaaaa1-20261124T031000Z-0123abcd".into()),
            recovery_instance_id: None,
            target_groups: Vec::new(),
            reason: Some("DRS job drsjob-0123456789abcdef0 failed to launch source server s-0123456789abcdef0; LAUNCH_FAILED: the launch template's instance type is not offered".into()),
            advice: Some("nothing yet: while the Outpost is down, the sweep starts a new DRS job for it (attempt 2 of 3)".into()),
            message_id: None,
        };
        let notice = drs_result(&report, &place());
        fits_sns(&notice);
        for (key, value) in [
            ("outpost", "op-0aaaaaaaaaaaaaaa1"),
            ("incident", "op-0aaaaaaaaaaaaaaa1-20261124T031000Z-0123abcd"),
            ("severity", "critical"),
        ] {
            assert!(
                notice
                    .attributes
                    .contains(&(key.to_owned(), value.to_owned())),
                "{key}: {:?}",
                notice.attributes
            );
        }
        insta::assert_snapshot!(
            "drs_launch_failed",
            format!("Subject: {}\n\n{}", notice.subject, notice.body)
        );
    }

    #[test]
    fn durations_read_as_people_say_them() {
        let cases = [
            (0, "0 s"),
            (94, "94 s"),
            (120, "2 min"),
            (200, "3 min 20 s"),
            (3600, "1 h"),
            (3900, "1 h 5 min"),
        ];
        for (seconds, said) in cases {
            assert_eq!(duration(seconds), said, "{seconds}");
        }
    }

    #[test]
    fn every_renderer_goes_through_the_one_place() {
        let names = "n".repeat(5_000);
        let mut readiness = crate::readiness::ReadinessReport::default();
        for i in 0..2_000 {
            readiness
                .instances
                .push(crate::readiness::InstanceReadiness {
                    instance_id: format!("i-{i:017}").into(),
                    name: names.clone(),
                    outpost: None,
                    problems: vec!["problem".repeat(20)],
                    notes: Vec::new(),
                    previous: None,
                    on_link_loss: None,
                });
            readiness.changed.push(format!("i-{i:017}").into());
        }
        readiness.not_ready = 2_000;
        fits_sns(&super::readiness(&readiness, &place()));
        let drs = crate::report::DrsReport {
            source_server_id: "s-1".repeat(100),
            job_id: "drsjob-1".into(),
            succeeded: false,
            drill: false,
            stuck: false,
            original_id: None,
            original_name: None,
            outpost: None,
            incident: None,
            recovery_instance_id: None,
            target_groups: Vec::new(),
            reason: Some("r".repeat(300_000)),
            advice: None,
            message_id: None,
        };
        fits_sns(&super::drs_result(&drs, &place()));
    }

    fn severity_of(notice: &Notice) -> &str {
        notice
            .attributes
            .iter()
            .find(|(key, _)| key == SEVERITY_ATTRIBUTE)
            .map(|(_, value)| value.as_str())
            .expect("every notice has a severity")
    }

    #[test]
    fn every_notice_says_how_urgent_it_is() {
        let failed = recovery_with_a_failure();
        assert_eq!(severity_of(&render(&failed, &place())), "critical");
        let mut recovered = failed.clone();
        recovered
            .instances
            .retain(|i| i.outcome == OutcomeKind::Recovered);
        recovered.load_balancing_errors.clear();
        for i in &mut recovered.instances {
            i.target_groups.retain(|tg| tg.note.is_none());
        }
        assert_eq!(
            severity_of(&render(&recovered, &place())),
            "warning",
            "an outage handled: look, do not page"
        );
        let mut held = recovered.clone();
        if let Some(first) = held.instances.first_mut() {
            first.outcome = OutcomeKind::Held;
        }
        assert_eq!(severity_of(&render(&held, &place())), "critical");
        let mut ignored = recovered;
        ignored.action = Action::Ignored;
        assert_eq!(severity_of(&render(&ignored, &place())), "info");
        let readiness = crate::readiness::ReadinessReport {
            not_ready: 1,
            ..Default::default()
        };
        assert_eq!(
            severity_of(&super::readiness(&readiness, &place())),
            "warning"
        );
        assert_eq!(
            severity_of(&super::readiness(&Default::default(), &place())),
            "info"
        );
        // Readiness is one alert per deployment: open while an instance is not ready.
        let attribute = |notice: &Notice, key: &str| {
            notice
                .attributes
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.clone())
        };
        let open = super::readiness(&readiness, &place());
        assert_eq!(
            attribute(&open, "incident").as_deref(),
            Some("readiness-outposts-autorestart")
        );
        assert_eq!(
            attribute(&open, INCIDENT_STATE_ATTRIBUTE).as_deref(),
            Some("open")
        );
        let all_ready = super::readiness(&Default::default(), &place());
        assert_eq!(
            attribute(&all_ready, INCIDENT_STATE_ATTRIBUTE).as_deref(),
            Some("resolved")
        );
    }

    #[test]
    fn a_readiness_change_says_what_to_do_first_and_names_its_outposts() {
        let verdict =
            |id: &str, outpost: &str, problems: Vec<String>| crate::readiness::InstanceReadiness {
                instance_id: id.into(),
                name: "web".into(),
                outpost: crate::alarm::OutpostId::parse(outpost),
                problems,
                notes: Vec::new(),
                previous: None,
                on_link_loss: None,
            };
        let report = crate::readiness::ReadinessReport {
            instances: vec![
                verdict("i-1", "op-0aaaaaaaaaaaaaaa1", vec!["no template".into()]),
                verdict("i-2", "op-0bbbbbbbbbbbbbbb2", Vec::new()),
            ],
            changed: vec!["i-1".into(), "i-2".into()],
            ready: 1,
            not_ready: 1,
            ..Default::default()
        };
        let notice = super::readiness(&report, &place());
        assert!(
            notice.body.starts_with("What you must do: "),
            "{}",
            notice.body
        );
        assert!(
            notice.body.contains("https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1#dashboards/dashboard/outposts-autorestart"),
            "{}",
            notice.body
        );
        assert!(notice.attributes.contains(&(
            "outpost".to_owned(),
            "op-0aaaaaaaaaaaaaaa1,op-0bbbbbbbbbbbbbbb2".to_owned()
        )));
        // All ready again: nothing to do, no heading.
        let mut fixed = report.clone();
        fixed.instances[0].problems.clear();
        assert!(
            !super::readiness(&fixed, &place())
                .body
                .contains("What you must do")
        );
    }
}
