//! What the agent believes about a recovery link, and why.
//!
//! `autorestart:replaced-by` and `autorestart:replacement-of` are claims: anyone allowed
//! `ec2:CreateTags` can write them, and the console's "Launch more like this" copies them onto
//! an unrelated instance. The agent acts on a link (no launch because "already recovered",
//! a tag repaired from it, an original stopped or terminated because of it) only when AWS
//! confirms the agent made it:
//! - a template recovery: the instance's `ClientToken`, which EC2 reports and no tag can
//!   change, is the token the agent derives for (incident, predecessor, template, attempt),
//!   with the template id from `aws:ec2launchtemplate:id`, a tag only EC2 can write;
//! - a DRS recovery: DRS reports the instance as the recovery instance of the predecessor's
//!   source server for the job (`DescribeRecoveryInstances`).
//!
//! A proof rests on AWS's answers, not on which link tag survived: a link whose
//! `replacement-of` or `replaced-by` was lost is proven all the same, from the other tag.

use crate::alarm::IncidentId;
use crate::drs::RecoveryInstance;
use crate::ids::InstanceId;
use crate::inventory::Instance;
use crate::tags::{self, TemplateRef};

/// Whether EC2 confirms that `candidate` is a replacement the agent launched from a recovery
/// template for `predecessor`: its ClientToken is the agent's token for the incident and
/// attempt it is tagged with, `predecessor`'s id, and a version of the template EC2 says it
/// was launched from. A drill copy (its incident is a drill's) is never a replacement.
pub fn launched_for(predecessor: &Instance, candidate: &Instance) -> bool {
    let Some(token) = candidate.client_token.as_deref().filter(|t| !t.is_empty()) else {
        return false;
    };
    let Some(template_id) = candidate.tag(tags::LAUNCH_TEMPLATE_ID) else {
        return false;
    };
    // The incident the token was derived from: written at launch; or, on a replacement from
    // before that tag, its incident, unless it was replaced itself since (then its
    // predecessor's holds it). A drill's incident never proves a recovery.
    let mut incidents: Vec<&str> = [
        candidate.tag(tags::LAUNCHED_IN),
        candidate.tag(tags::INCIDENT),
        predecessor.tag(tags::INCIDENT),
    ]
    .into_iter()
    .flatten()
    .filter(|i| !i.is_empty() && !i.starts_with("drill-"))
    .collect();
    incidents.dedup();
    let attempts: Vec<u32> = match candidate.tag(tags::ATTEMPT).map(str::parse::<u32>) {
        Some(Ok(attempt)) => vec![attempt],
        // The attempt tag lost or garbled: any attempt the agent makes.
        _ => (1..=MAX_ATTEMPTS).collect(),
    };
    let templates = template_versions(predecessor, candidate, template_id);
    incidents.iter().any(|incident| {
        templates.iter().any(|template| {
            attempts
                .iter()
                .any(|&attempt| self::token(incident, &predecessor.id, template, attempt) == token)
        })
    })
}

/// Every way the agent may have written the template in the token: each entry for this
/// template id in the predecessor's (or the candidate's copy of its) recovery templates, the
/// symbolic versions, and the version EC2 says it resolved.
fn template_versions(predecessor: &Instance, candidate: &Instance, id: &str) -> Vec<TemplateRef> {
    let listed = [predecessor, candidate]
        .into_iter()
        .filter_map(|i| tags::parse_recovery_templates(i.tag(tags::RECOVERY_TEMPLATES)).ok())
        .flatten()
        .map(|t| t.version);
    let resolved = candidate
        .tag(tags::LAUNCH_TEMPLATE_VERSION)
        .map(str::to_owned);
    let symbolic = [TemplateRef::DEFAULT_VERSION, "$Latest"].map(str::to_owned);
    let mut versions: Vec<String> = listed.chain(resolved).chain(symbolic).collect();
    versions.sort();
    versions.dedup();
    versions
        .into_iter()
        .map(|version| TemplateRef {
            id: id.into(),
            version,
        })
        .collect()
}

/// Whether DRS confirms that `candidate` is the recovery instance it launched for the
/// predecessor's source server in the job the predecessor records (`recovery`, DRS's answer
/// for that server and job). A drill's recovery instance is not a recovery.
pub fn recovered_by_drs(candidate: &Instance, recovery: Option<&RecoveryInstance>) -> bool {
    recovery.is_some_and(|r| !r.is_drill && r.ec2_instance_id == candidate.id)
}

/// The value of `autorestart:unproven-claims` that records `claimed` (the instances an
/// unproven link names for an instance), when it differs from what the instance records: a
/// claim is reported once, and again only when the claims change.
pub fn claims_news(instance: &Instance, claimed: &[InstanceId]) -> Option<String> {
    let mut claimed: Vec<&str> = claimed.iter().map(InstanceId::as_str).collect();
    claimed.sort_unstable();
    claimed.dedup();
    let value = claimed.join(",");
    (instance.tag(tags::UNPROVEN_CLAIMS).unwrap_or_default() != value).then_some(value)
}

/// The most launches one instance gets in one incident: a replacement that keeps dying
/// (terminated, stopped) is relaunched until this many attempts, then reported.
pub const MAX_ATTEMPTS: u32 = 5;

/// The RunInstances idempotency token for (incident, instance, template, attempt): 64 hex
/// digits, the longest token EC2 accepts. A token per template keeps a retry on another
/// alternate from meeting `IdempotentParameterMismatch`; a token per attempt lets a dead
/// replacement be replaced (EC2 answers a used token with its first instance, even terminated).
pub fn client_token(
    incident: &IncidentId,
    instance_id: &str,
    template: &TemplateRef,
    attempt: u32,
) -> String {
    token(&incident.to_string(), instance_id, template, attempt)
}

/// [`client_token`] over the incident as its tag writes it, for `proof` to recompute.
pub(crate) fn token(
    incident: &str,
    instance_id: &str,
    template: &TemplateRef,
    attempt: u32,
) -> String {
    crate::sha256_hex(&format!("{incident}\n{instance_id}\n{template}\n{attempt}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alarm::IncidentId;

    const INCIDENT: &str = "op-0a1b2c3d4e5f60718-20260101T000000Z-1a2b3c4d";

    fn original() -> Instance {
        let mut i = Instance {
            id: "i-a".into(),
            state: "running".into(),
            ..Instance::default()
        };
        i.tags
            .insert(tags::RECOVERY_TEMPLATES.into(), "lt-1:3,lt-2".into());
        i
    }

    /// What the agent launches for `original()` from `template` as `attempt`, as EC2 shows it.
    fn launched(template: &str, attempt: u32) -> Instance {
        let template: TemplateRef =
            tags::parse_recovery_templates(Some(template)).unwrap()[0].clone();
        let request = crate::plan::launch_request(
            &original(),
            &IncidentId::from_tag(INCIDENT),
            template.clone(),
            attempt,
        );
        let mut i = Instance {
            id: "i-b".into(),
            state: "running".into(),
            client_token: Some(request.client_token),
            tags: request.tags.into_iter().collect(),
            ..Instance::default()
        };
        i.tags
            .insert(tags::LAUNCH_TEMPLATE_ID.into(), template.id.to_string());
        i.tags
            .insert(tags::LAUNCH_TEMPLATE_VERSION.into(), "3".into());
        i
    }

    fn with(mut i: Instance, change: impl FnOnce(&mut Instance)) -> Instance {
        change(&mut i);
        i
    }

    #[test]
    fn a_link_is_believed_only_when_the_token_ec2_reports_is_the_agents() {
        let other = Instance {
            id: "i-z".into(),
            ..original()
        };
        let cases: Vec<(&str, Instance, Instance, bool)> = vec![
            (
                "the agent's launch, versioned entry",
                launched("lt-1:3", 1),
                original(),
                true,
            ),
            (
                "the agent's launch, $Default entry",
                launched("lt-2", 1),
                original(),
                true,
            ),
            ("a later attempt", launched("lt-2", 3), original(), true),
            (
                "the attempt tag lost: any attempt the agent makes",
                with(launched("lt-2", 2), |i| {
                    i.tags.remove(tags::ATTEMPT);
                }),
                original(),
                true,
            ),
            (
                "the original's template list edited since: the replacement's copy holds",
                launched("lt-1:3", 1),
                with(original(), |o| {
                    o.tags
                        .insert(tags::RECOVERY_TEMPLATES.into(), "lt-9".into());
                }),
                true,
            ),
            (
                "the replacement-of tag lost: the proof does not read it",
                with(launched("lt-1:3", 1), |i| {
                    i.tags.remove(tags::REPLACEMENT_OF);
                }),
                original(),
                true,
            ),
            (
                "the agent's replacement of another instance",
                launched("lt-1:3", 1),
                other.clone(),
                false,
            ),
            (
                "no ClientToken (launched by hand, tags copied)",
                with(launched("lt-1:3", 1), |i| i.client_token = None),
                original(),
                false,
            ),
            (
                "an empty ClientToken",
                with(launched("lt-1:3", 1), |i| {
                    i.client_token = Some(String::new())
                }),
                original(),
                false,
            ),
            (
                "another token (Launch more like this)",
                with(launched("lt-1:3", 1), |i| {
                    i.client_token = Some("abc".into())
                }),
                original(),
                false,
            ),
            (
                "not launched from a template",
                with(launched("lt-1:3", 1), |i| {
                    i.tags.remove(tags::LAUNCH_TEMPLATE_ID);
                }),
                original(),
                false,
            ),
            (
                "launched from another template than the token's",
                with(launched("lt-1:3", 1), |i| {
                    i.tags
                        .insert(tags::LAUNCH_TEMPLATE_ID.into(), "lt-2".into());
                }),
                original(),
                false,
            ),
            (
                "replaced itself later: its incident moved on, launched-in holds",
                with(launched("lt-1:3", 1), |i| {
                    i.tags.insert(tags::INCIDENT.into(), "op-x-1".into());
                }),
                original(),
                true,
            ),
            (
                "from before launched-in, replaced since: the predecessor's incident holds",
                with(launched("lt-1:3", 1), |i| {
                    i.tags.remove(tags::LAUNCHED_IN);
                    i.tags.insert(tags::INCIDENT.into(), "op-x-1".into());
                }),
                with(original(), |o| {
                    o.tags.insert(tags::INCIDENT.into(), INCIDENT.into());
                }),
                true,
            ),
            (
                "its incident tags rewritten",
                with(launched("lt-1:3", 1), |i| {
                    i.tags.insert(tags::INCIDENT.into(), "op-x-1".into());
                    i.tags.insert(tags::LAUNCHED_IN.into(), "op-x-1".into());
                }),
                original(),
                false,
            ),
            (
                "its attempt tag rewritten",
                with(launched("lt-1:3", 1), |i| {
                    i.tags.insert(tags::ATTEMPT.into(), "2".into());
                }),
                original(),
                false,
            ),
            (
                "no incident tag",
                with(launched("lt-1:3", 1), |i| {
                    i.tags.remove(tags::INCIDENT);
                    i.tags.remove(tags::LAUNCHED_IN);
                }),
                original(),
                false,
            ),
        ];
        for (name, candidate, predecessor, believed) in cases {
            assert_eq!(launched_for(&predecessor, &candidate), believed, "{name}");
        }
    }

    #[test]
    fn a_drill_copy_is_never_a_replacement() {
        let template = TemplateRef {
            id: "lt-2".into(),
            version: TemplateRef::DEFAULT_VERSION.into(),
        };
        let drill = IncidentId::from_tag("drill-op-1-20260101T000000Z");
        let mut copy = launched("lt-2", 1);
        copy.client_token = Some(client_token(&drill, "i-a", &template, 1));
        copy.tags.insert(tags::INCIDENT.into(), drill.to_string());
        copy.tags.remove(tags::LAUNCHED_IN);
        assert!(!launched_for(&original(), &copy));
    }

    #[test]
    fn drs_proves_only_its_own_recovery_instance() {
        let candidate = launched("lt-2", 1);
        let recovery = |ec2: &str, is_drill| RecoveryInstance {
            recovery_instance_id: "ri-1".into(),
            ec2_instance_id: ec2.into(),
            is_drill,
        };
        assert!(recovered_by_drs(&candidate, Some(&recovery("i-b", false))));
        assert!(!recovered_by_drs(&candidate, Some(&recovery("i-c", false))));
        assert!(!recovered_by_drs(&candidate, Some(&recovery("i-b", true))));
        assert!(!recovered_by_drs(&candidate, None));
    }

    #[test]
    fn a_claim_is_news_once_and_again_when_it_changes() {
        let claimed: Vec<InstanceId> = vec!["i-y".into(), "i-x".into(), "i-y".into()];
        let fresh = original();
        assert_eq!(claims_news(&fresh, &claimed).as_deref(), Some("i-x,i-y"));
        let recorded = with(original(), |o| {
            o.tags
                .insert(tags::UNPROVEN_CLAIMS.into(), "i-x,i-y".into());
        });
        assert_eq!(claims_news(&recorded, &claimed), None);
        assert_eq!(
            claims_news(&recorded, &["i-x".into()]).as_deref(),
            Some("i-x")
        );
        assert_eq!(claims_news(&recorded, &[]).as_deref(), Some(""));
        assert_eq!(claims_news(&fresh, &[]), None);
    }
}
