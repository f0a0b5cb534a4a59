//! The tag contract with operators: which tags opt an instance in, and which record what was done.

use crate::ids::TemplateId;
use std::fmt;

/// `true` here opts an instance in; nothing without it is ever touched.
pub const ENABLED: &str = "autorestart:enabled";
/// Ordered alternates: `lt-0abc:3,lt-0def` (template id, optional version).
pub const RECOVERY_TEMPLATES: &str = "autorestart:recovery-templates";
/// `template` (default) or `drs`: how the instance is recovered.
pub const STRATEGY: &str = "autorestart:strategy";
/// On a DRS-protected original: the DRS recovery job started for it.
pub const DRS_JOB: &str = "autorestart:drs-job";
/// On an original: which attempt its recorded DRS job is (1, 2, …); a failed job is retried
/// up to `drs::MAX_DRS_ATTEMPTS` in one incident.
pub const DRS_ATTEMPT: &str = "autorestart:drs-attempt";
/// On an original: a digest of the failure or unfinished state last reported for it, so the
/// same one is said once, not on every sweep.
pub const OUTCOME_REPORTED: &str = "autorestart:outcome-reported";
/// On an original: the DRS job reported stuck (not finished in time), so it is said once.
pub const DRS_STUCK: &str = "autorestart:drs-stuck";
/// On an original: the id of the instance that replaced it.
pub const REPLACED_BY: &str = "autorestart:replaced-by";
/// On a replacement: the id of the instance it replaced.
pub const REPLACEMENT_OF: &str = "autorestart:replacement-of";
/// On both: the incident that caused the recovery (on an instance that is itself replaced
/// later, the later incident).
pub const INCIDENT: &str = "autorestart:incident";
/// On a replacement, written only at launch: the incident it was launched in, which its
/// ClientToken was derived from (`proof`), kept when `autorestart:incident` moves on.
pub const LAUNCHED_IN: &str = "autorestart:launched-in";
/// On a replacement: the incident whose notification reported it.
pub const REPORTED: &str = "autorestart:reported";
/// `N` (default 0): wave N+1 starts only when wave N's replacements run.
pub const WAVE: &str = "autorestart:wave";
/// What keeps an instance from running twice while its Outpost's service link is down
/// (`link_loss::Policy`): `relaunch` (the default), `self-fenced:T` (its sentinel fences it
/// after T seconds without the Region), or `hold` (only a `failover` request recovers it).
pub const ON_LINK_LOSS: &str = "autorestart:on-link-loss";
/// On an original: how it was fenced once its Outpost came back, `<action>@<RFC 3339 time>`.
pub const FENCED: &str = "autorestart:fenced";
/// On an original left running while its Outpost is back: why (a code), so a hold is reported
/// once, not on every sweep.
pub const FENCE_HELD: &str = "autorestart:fence-held";
/// On an opted-in instance: `ready`, or `not-ready:<8 hex of the problems>`; the sweep notifies on a change.
pub const READINESS: &str = "autorestart:readiness";
/// On a drill copy: the drill that launched it. Drill copies are never protected themselves.
pub const DRILL: &str = "autorestart:drill";
/// On a drill copy: the id of the instance it rehearses.
pub const DRILL_OF: &str = "autorestart:drill-of";
/// On an Outpost's ConnectedStatus alarm: `true` suppresses recovery (maintenance mode).
pub const MAINTENANCE: &str = "autorestart:maintenance";
/// On a target group: `true` lets drills register their copies in it.
pub const DRILL_TARGET_GROUP: &str = "autorestart:drill-target-group";
/// On a launch template made by the generator: the instance it recovers.
pub const TEMPLATE_FOR: &str = "autorestart:template-for";
/// On a launch template made by the generator: a digest of what it launches, to spot drift.
pub const TEMPLATE_SHAPE: &str = "autorestart:template-shape";
/// On a replacement: which launch of its incident it was (1, 2, … after replacements died).
pub const ATTEMPT: &str = "autorestart:attempt";
/// On an original: the start of the keys that remember its target-group registrations
/// (`autorestart:member-1`, …), written before the first move so that the replacement of a
/// dead replacement still knows where to register (ELB forgets a terminated target).
pub const MEMBER_PREFIX: &str = "autorestart:member-";
/// On an opted-in instance: what readiness's dry-run launches found, `<8 hex>:ok` or
/// `<8 hex>:<error code>` per (identity, template as read) key, so each is asked once.
pub const READINESS_LAUNCH: &str = "autorestart:readiness-launch";
/// On an opted-in instance: the instances that claim to be its replacement (or that it claims
/// as its replacement) which AWS does not confirm the agent launched for it, comma-separated, so
/// that such a claim is reported once, not on every sweep.
pub const UNPROVEN_CLAIMS: &str = "autorestart:unproven-claims";
/// On an original not recovered yet: the capacity pools (`subnet/instance-type`) EC2 found
/// full in its incident, `<incident> <pool> <pool>…`, so that a retry or the sweep tries them
/// last. A claim: it orders alternates, never removes one.
pub const FULL: &str = "autorestart:full";
/// On an original: the attempt its recorded replacement (`replaced-by`) was launched as, so
/// that the count outlives that replacement in Describe. Not [`ATTEMPT`], which IAM lets the
/// agent write at launch only.
pub const LAST_ATTEMPT: &str = "autorestart:last-attempt";
/// Set by EC2 itself on an instance launched from a launch template: the template's id. No
/// principal can write an `aws:` tag, so it is proof of the template a launch used.
pub const LAUNCH_TEMPLATE_ID: &str = "aws:ec2launchtemplate:id";
/// Set by EC2 itself with [`LAUNCH_TEMPLATE_ID`]: the template version the launch resolved to.
pub const LAUNCH_TEMPLATE_VERSION: &str = "aws:ec2launchtemplate:version";
/// On an original failing back: where its failback is (`failback::Marker`), so that a retry or
/// the sweep finishes it, and fencing leaves it alone meanwhile.
pub const FAILBACK: &str = "autorestart:failback";
/// On a stopped instance kept for an original: the original's id. A standby is not protected
/// itself.
pub const STANDBY_FOR: &str = "autorestart:standby-for";
/// On an original: its last live drill, `<drill id> <result>` (`ok`, `not-healthy`, `failed`,
/// `not-ready`), written by the drill for the operator's `status`; never acted on.
pub const LAST_DRILL: &str = "autorestart:last-drill";
/// The prefix shared by every tag of this project.
pub const PREFIX: &str = "autorestart:";
/// The tag EC2 shows as the instance's name.
pub const NAME: &str = "Name";

/// Tags that record what the agent did; they describe one instance and never travel to another.
pub const AUDIT_TAGS: [&str; 22] = [
    FULL,
    LAST_ATTEMPT,
    ATTEMPT,
    LAUNCHED_IN,
    REPLACED_BY,
    REPLACEMENT_OF,
    INCIDENT,
    REPORTED,
    DRS_JOB,
    DRS_ATTEMPT,
    DRS_STUCK,
    OUTCOME_REPORTED,
    FENCED,
    FENCE_HELD,
    READINESS,
    READINESS_LAUNCH,
    DRILL,
    DRILL_OF,
    UNPROVEN_CLAIMS,
    FAILBACK,
    STANDBY_FOR,
    LAST_DRILL,
];

/// The value of `key` among `tags` (a request's tags, as pairs), if there.
pub fn value_in<'a>(tags: &'a [(String, String)], key: &str) -> Option<&'a str> {
    tags.iter()
        .find(|(k, _)| k == key)
        .map(|(_, value)| value.as_str())
}

/// Whether an `autorestart:enabled` value opts in (`true`, any letter case).
pub fn is_opted_in(value: Option<&str>) -> bool {
    value.is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
}

/// Whether a tag is part of the workload's identity and so travels to its replacement:
/// `Name` and the opt-in tags, never the audit tags.
pub fn travels_to_replacement(key: &str) -> bool {
    key == NAME
        || (key.starts_with(PREFIX)
            && !AUDIT_TAGS.contains(&key)
            && !key.starts_with(MEMBER_PREFIX))
}

/// Reads `autorestart:wave`: absent is wave 0; anything but a number up to 1000 is an error.
pub fn parse_wave(value: Option<&str>) -> Result<u32, String> {
    match value.map(str::trim) {
        None | Some("") => Ok(0),
        Some(text) => text
            .parse::<u32>()
            .ok()
            .filter(|n| *n <= 1000)
            .ok_or_else(|| format!("tag {WAVE} is {text:?}: use a whole number from 0 to 1000")),
    }
}

/// How an instance is recovered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    /// Relaunch from a recovery launch template onto an alternate Outpost server.
    Template,
    /// AWS Elastic Disaster Recovery, launching into a pre-provisioned stopped instance.
    Drs,
}

/// Reads `autorestart:strategy`: absent or `template` is [`Strategy::Template`], `drs` is DRS.
pub fn parse_strategy(value: Option<&str>) -> Result<Strategy, String> {
    match value.map(|v| v.trim().to_ascii_lowercase()).as_deref() {
        None | Some("") | Some("template") => Ok(Strategy::Template),
        Some("drs") => Ok(Strategy::Drs),
        Some(other) => Err(format!("tag {STRATEGY} is {other:?}: use template or drs")),
    }
}

/// One recovery launch template, as named in `autorestart:recovery-templates`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct TemplateRef {
    /// Launch template id, `lt-` followed by hex digits.
    pub id: TemplateId,
    /// A version number, `$Default` or `$Latest`.
    pub version: String,
}

impl TemplateRef {
    /// The version used when the tag names none.
    pub const DEFAULT_VERSION: &'static str = "$Default";
}

impl fmt::Display for TemplateRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.id, self.version)
    }
}

/// Why an `autorestart:recovery-templates` value cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateListError {
    /// The tag is missing or holds nothing.
    #[error(
        "tag {RECOVERY_TEMPLATES} is missing or empty: set it to the recovery launch templates, e.g. lt-0abc:3,lt-0def"
    )]
    Empty,
    /// One entry is not `lt-…[:version]`.
    #[error(
        "tag {RECOVERY_TEMPLATES} entry {entry:?} is not a launch template id with an optional version (lt-0abc or lt-0abc:3 or lt-0abc:$Latest)"
    )]
    BadEntry {
        /// The entry as written.
        entry: String,
    },
}

/// Parses `lt-0abc:3,lt-0def` into ordered template references; duplicates keep their first place.
pub fn parse_recovery_templates(
    value: Option<&str>,
) -> Result<Vec<TemplateRef>, TemplateListError> {
    let value = value.map(str::trim).unwrap_or_default();
    if value.is_empty() {
        return Err(TemplateListError::Empty);
    }
    let mut templates: Vec<TemplateRef> = Vec::new();
    for raw in value.split(',') {
        let entry = raw.trim();
        let template = parse_template_entry(entry).ok_or_else(|| TemplateListError::BadEntry {
            entry: entry.to_owned(),
        })?;
        if !templates.contains(&template) {
            templates.push(template);
        }
    }
    Ok(templates)
}

fn parse_template_entry(entry: &str) -> Option<TemplateRef> {
    let (id, version) = match entry.split_once(':') {
        Some((id, version)) => (id.trim(), version.trim()),
        None => (entry, TemplateRef::DEFAULT_VERSION),
    };
    let hex = id.strip_prefix("lt-")?;
    let id_ok = !hex.is_empty() && hex.chars().all(|c| c.is_ascii_hexdigit());
    let version_ok = version == "$Default"
        || version == "$Latest"
        || (!version.is_empty() && version.chars().all(|c| c.is_ascii_digit()) && version != "0");
    (id_ok && version_ok).then(|| TemplateRef {
        id: id.into(),
        version: version.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(id: &str, version: &str) -> TemplateRef {
        TemplateRef {
            id: id.into(),
            version: version.into(),
        }
    }

    #[test]
    fn parses_ordered_alternates_with_default_version() {
        let parsed = parse_recovery_templates(Some(" lt-0abc:3, lt-0def ,lt-01:$Latest")).unwrap();
        assert_eq!(
            parsed,
            vec![
                t("lt-0abc", "3"),
                t("lt-0def", "$Default"),
                t("lt-01", "$Latest")
            ]
        );
    }

    #[test]
    fn keeps_first_place_of_a_duplicate() {
        let parsed = parse_recovery_templates(Some("lt-0b,lt-0a,lt-0b")).unwrap();
        assert_eq!(parsed, vec![t("lt-0b", "$Default"), t("lt-0a", "$Default")]);
    }

    #[test]
    fn rejects_bad_entries_by_name() {
        for bad in [
            "lt-0abc:0",
            "ami-123",
            "lt-",
            "lt-0abc:",
            "lt-0abc:v2",
            "lt-0abc,,lt-0def",
            "lt-xyz",
        ] {
            let err = parse_recovery_templates(Some(bad)).unwrap_err();
            assert!(
                matches!(err, TemplateListError::BadEntry { .. }),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn strategy_defaults_to_template_and_rejects_unknown_values() {
        assert_eq!(parse_strategy(None), Ok(Strategy::Template));
        assert_eq!(parse_strategy(Some(" DRS ")), Ok(Strategy::Drs));
        assert!(
            parse_strategy(Some("both"))
                .unwrap_err()
                .contains("use template or drs")
        );
    }

    #[test]
    fn wave_defaults_to_zero_and_rejects_what_is_not_a_small_number() {
        assert_eq!(parse_wave(None), Ok(0));
        assert_eq!(parse_wave(Some(" 2 ")), Ok(2));
        for bad in ["-1", "first", "1.5", "1001"] {
            assert!(
                parse_wave(Some(bad)).unwrap_err().contains("whole number"),
                "{bad}"
            );
        }
    }

    #[test]
    fn missing_or_blank_is_empty() {
        assert_eq!(
            parse_recovery_templates(None),
            Err(TemplateListError::Empty)
        );
        assert_eq!(
            parse_recovery_templates(Some("  ")),
            Err(TemplateListError::Empty)
        );
    }

    #[test]
    fn opt_in_is_true_in_any_case_and_nothing_else() {
        assert!(is_opted_in(Some("true")));
        assert!(is_opted_in(Some(" TRUE ")));
        for no in [None, Some(""), Some("yes"), Some("1"), Some("false")] {
            assert!(!is_opted_in(no), "{no:?}");
        }
    }

    #[test]
    fn identity_tags_travel_and_audit_tags_do_not() {
        assert!(travels_to_replacement("Name"));
        assert!(travels_to_replacement(ENABLED));
        assert!(travels_to_replacement(RECOVERY_TEMPLATES));
        assert!(travels_to_replacement("autorestart:wave"));
        for audit in AUDIT_TAGS {
            assert!(!travels_to_replacement(audit));
        }
        assert!(!travels_to_replacement("CostCenter"));
    }
}
