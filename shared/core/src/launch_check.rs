//! Readiness asks EC2 itself whether each recovery template would launch: `RunInstances` with
//! `DryRun=true` answers `DryRunOperation` when the call would succeed and
//! `UnauthorizedOperation` when IAM refuses it (the role, the KMS key of an encrypted volume, a
//! subnet owned by another account, a tag condition). Dry runs spend RunInstances request
//! tokens, so each is made once per (instance's identity, template as it reads now) and
//! remembered on the instance (`autorestart:readiness-launch`), and none while an Outpost is
//! in ALARM. Pure: the flows make the calls.

use std::collections::BTreeMap;

use crate::inventory::{Instance, TemplateTarget};
use crate::tags::{self, TemplateRef};

/// What a dry-run launch of one template for one instance said.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "result", rename_all = "kebab-case")]
pub enum LaunchCheck {
    /// EC2 answered `DryRunOperation`: the launch would be allowed.
    WouldLaunch,
    /// EC2 refused it.
    Refused {
        /// EC2's error code, e.g. `UnauthorizedOperation`.
        code: String,
        /// Why, as far as known (the decoded authorization message, or EC2's message).
        detail: String,
    },
    /// Not asked this time, and why.
    NotChecked(String),
}

/// The value written when a result is remembered: `ok` or the refusing code.
fn remembered_value(check: &LaunchCheck) -> Option<String> {
    match check {
        LaunchCheck::WouldLaunch => Some("ok".into()),
        LaunchCheck::Refused { code, .. } => Some(code.clone()),
        LaunchCheck::NotChecked(_) => None,
    }
}

/// What identifies a dry run's question: the instance's identity that travels to a
/// replacement (its tags), and the template as EC2 described it now (subnet, AMI, type). A
/// change to either asks again; 8 hex digits.
pub fn key(instance: &Instance, template: &TemplateRef, target: &TemplateTarget) -> String {
    let travelling: BTreeMap<&String, &String> = instance
        .tags
        .iter()
        .filter(|(k, _)| tags::travels_to_replacement(k))
        .collect();
    let text = format!("{}\n{template}\n{target:?}\n{travelling:?}", instance.id);
    crate::sha256_hex(&text)[..8].to_owned()
}

/// The results remembered on `instance`, by key.
pub fn remembered(instance: &Instance) -> BTreeMap<String, LaunchCheck> {
    instance
        .tag(tags::READINESS_LAUNCH)
        .unwrap_or_default()
        .split(',')
        .filter_map(|entry| {
            let (key, result) = entry.split_once(':')?;
            let check = match result {
                "ok" => LaunchCheck::WouldLaunch,
                code if !code.is_empty() => LaunchCheck::Refused {
                    code: code.to_owned(),
                    detail: "as the last dry run found; it runs again when the template or the instance's tags change".into(),
                },
                _ => return None,
            };
            Some((key.to_owned(), check))
        })
        .collect()
}

/// The `autorestart:readiness-launch` value for `checks` (key → result), if it differs from
/// what `instance` remembers: results not checked this time keep what was remembered, and
/// entries of templates no longer asked about are dropped. EC2's 256 characters hold about
/// seven entries; more are not remembered (and asked again).
pub fn memory(instance: &Instance, checks: &BTreeMap<String, LaunchCheck>) -> Option<String> {
    let before = remembered(instance);
    let mut entries: Vec<String> = Vec::new();
    for (key, check) in checks {
        let kept = remembered_value(check).or_else(|| before.get(key).and_then(remembered_value));
        if let Some(value) = kept {
            let entry = format!("{key}:{value}");
            let len: usize = entries.iter().map(|e| e.len() + 1).sum();
            if len + entry.len() <= 256 {
                entries.push(entry);
            }
        }
    }
    let value = entries.join(",");
    (instance.tag(tags::READINESS_LAUNCH).unwrap_or_default() != value).then_some(value)
}

/// The readiness problem a refusal is, with the IAM fix; stable across checks (the detail,
/// which may change with every call, goes to the notes).
pub fn problem(template: &TemplateRef, code: &str) -> String {
    format!(
        "launch template {template}: EC2 refuses RunInstances from it ({code}) for the agent's role: grant what the detail names (iam:PassRole on the template's instance role, the KMS key of an encrypted volume, the subnet's owner sharing it), or fix the template"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn instance(tags: &[(&str, &str)]) -> Instance {
        Instance {
            id: "i-1".into(),
            tags: tags
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Instance::default()
        }
    }

    fn template(id: &str) -> TemplateRef {
        TemplateRef {
            id: id.into(),
            version: TemplateRef::DEFAULT_VERSION.into(),
        }
    }

    fn target(image: &str) -> TemplateTarget {
        TemplateTarget::Subnet {
            subnet_id: "subnet-b".into(),
            outpost_arn: None,
            image_id: Some(image.into()),
            instance_type: Some("m5.large".into()),
        }
    }

    #[test]
    fn the_question_changes_with_the_template_or_the_identity_not_with_records() {
        let base = instance(&[(tags::ENABLED, "true"), (tags::NAME, "web")]);
        let k = key(&base, &template("lt-1"), &target("ami-1"));
        let recorded = instance(&[
            (tags::ENABLED, "true"),
            (tags::NAME, "web"),
            (tags::READINESS, "ready"),
        ]);
        assert_eq!(key(&recorded, &template("lt-1"), &target("ami-1")), k);
        assert_ne!(
            key(&base, &template("lt-1"), &target("ami-2")),
            k,
            "a new version"
        );
        assert_ne!(key(&base, &template("lt-2"), &target("ami-1")), k);
        let renamed = instance(&[(tags::ENABLED, "true"), (tags::NAME, "api")]);
        assert_ne!(key(&renamed, &template("lt-1"), &target("ami-1")), k);
    }

    #[test]
    fn results_are_remembered_and_not_checked_ones_keep_what_was() {
        let fresh = instance(&[]);
        let checks = BTreeMap::from([
            ("aaaaaaaa".to_owned(), LaunchCheck::WouldLaunch),
            (
                "bbbbbbbb".to_owned(),
                LaunchCheck::Refused {
                    code: "UnauthorizedOperation".into(),
                    detail: "x".into(),
                },
            ),
            (
                "cccccccc".to_owned(),
                LaunchCheck::NotChecked("throttled".into()),
            ),
        ]);
        let value = memory(&fresh, &checks).unwrap();
        assert_eq!(value, "aaaaaaaa:ok,bbbbbbbb:UnauthorizedOperation");
        let known = instance(&[(tags::READINESS_LAUNCH, &value)]);
        assert_eq!(memory(&known, &checks), None, "nothing new");
        let read = remembered(&known);
        assert_eq!(read["aaaaaaaa"], LaunchCheck::WouldLaunch);
        assert!(
            matches!(&read["bbbbbbbb"], LaunchCheck::Refused { code, .. } if code == "UnauthorizedOperation")
        );
        // Not checked this time (an Outpost in ALARM): what was remembered stays.
        let later = BTreeMap::from([(
            "aaaaaaaa".to_owned(),
            LaunchCheck::NotChecked("an Outpost is in ALARM".into()),
        )]);
        assert_eq!(memory(&known, &later).as_deref(), Some("aaaaaaaa:ok"));
    }
}
