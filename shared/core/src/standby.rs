//! Warm standbys: a stopped instance on another Outpost server, tagged
//! `autorestart:standby-for=<original>`, that a recovery starts instead of launching (one
//! `StartInstances` for many: EC2's resource bucket, not the RunInstances request bucket). Pure.
//!
//! The tag is a claim: anyone with `ec2:CreateTags` can write it. The agent uses a standby only
//! when EC2 proves the agent launched it for that original: its ClientToken is the agent's token
//! for the original (`proof::launched_for`), as for a replacement kept as a standby by a
//! failback, or one `autorestart standby` launched. An instance the operator made a
//! standby by hand is reported, never started.

use std::collections::{HashMap, HashSet};

use crate::alarm::OutpostId;
use crate::ids::InstanceId;
use crate::inventory::Instance;
use crate::proof;
use crate::tags::{self, TemplateRef};
use crate::vocabulary::InstanceState;

/// The tags removed from a standby once it started: a replacement now, protected itself.
pub const STARTED_CLEARS: [&str; 1] = [tags::STANDBY_FOR];

/// Why a standby cannot be started for its original.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Unusable {
    /// EC2 does not confirm the agent launched it for the original.
    NotProven,
    /// It is terminated or shutting down.
    Gone,
    /// It runs (or is on its way): something else started it.
    NotStopped(InstanceState),
    /// It lies on the original's Outpost: it goes down with it.
    SameOutpost,
    /// It is on no Outpost the agent can name.
    NoOutpost,
    /// Its Outpost's alarm is not OK.
    OutpostDown(OutpostId),
}

impl Unusable {
    /// Why, for people.
    pub fn explain(&self) -> String {
        match self {
            Self::NotProven => "EC2 does not confirm the agent launched it for this instance (its ClientToken): a standby made by hand is never started; make one with autorestart standby".into(),
            Self::Gone => "it is terminated".into(),
            Self::NotStopped(state) => format!("it is {state}, not stopped: something else started it"),
            Self::SameOutpost => "it lies on the same Outpost as the instance: it would go down with it".into(),
            Self::NoOutpost => "it lies on no Outpost".into(),
            Self::OutpostDown(outpost) => format!("its Outpost {outpost} is down"),
        }
    }
}

/// Whether `standby` can be started for `original` now; `down` the Outposts whose alarm is not
/// OK.
pub fn judge(
    original: &Instance,
    standby: &Instance,
    down: &HashSet<OutpostId>,
) -> Result<(), Unusable> {
    if !proof::launched_for(original, standby) {
        return Err(Unusable::NotProven);
    }
    if standby.state.is_gone() {
        return Err(Unusable::Gone);
    }
    if standby.state != InstanceState::Stopped {
        return Err(Unusable::NotStopped(standby.state.clone()));
    }
    let outpost = standby.outpost_arn.as_deref().and_then(OutpostId::from_arn);
    let Some(outpost) = outpost else {
        return Err(Unusable::NoOutpost);
    };
    if original
        .outpost_arn
        .as_deref()
        .and_then(OutpostId::from_arn)
        == Some(outpost.clone())
    {
        return Err(Unusable::SameOutpost);
    }
    if down.contains(&outpost) {
        return Err(Unusable::OutpostDown(outpost));
    }
    Ok(())
}

/// For each of `originals`, the standby to start (the first usable one by id), from the
/// instances tagged `standby-for` (`tagged`); and every standby that cannot be used, with why.
pub fn pick(
    originals: &[&Instance],
    tagged: &[Instance],
    down: &HashSet<OutpostId>,
) -> (HashMap<InstanceId, Instance>, Vec<(InstanceId, Unusable)>) {
    let mut chosen = HashMap::new();
    let mut unusable = Vec::new();
    let mut sorted: Vec<&Instance> = tagged.iter().collect();
    sorted.sort_by(|a, b| a.id.cmp(&b.id));
    for original in originals {
        for standby in sorted
            .iter()
            .filter(|s| s.tag(tags::STANDBY_FOR) == Some(original.id.as_str()))
        {
            match judge(original, standby, down) {
                Ok(()) if !chosen.contains_key(&original.id) => {
                    chosen.insert(original.id.clone(), (*standby).clone());
                }
                Ok(()) => {}
                Err(why) => unusable.push((standby.id.clone(), why)),
            }
        }
    }
    (chosen, unusable)
}

/// The template EC2 says a standby was launched from (`aws:ec2launchtemplate:*`), for the
/// report.
pub fn template_of(standby: &Instance) -> TemplateRef {
    TemplateRef {
        id: standby
            .tag(tags::LAUNCH_TEMPLATE_ID)
            .unwrap_or("standby")
            .into(),
        version: standby
            .tag(tags::LAUNCH_TEMPLATE_VERSION)
            .unwrap_or(TemplateRef::DEFAULT_VERSION)
            .into(),
    }
}

/// The warning on an original whose standby could not start: it was launched instead.
pub fn not_started(standby: &InstanceId, error: &crate::error::AwsError) -> String {
    format!(
        "its standby {standby} could not be started ({error}); a replacement was launched from its recovery templates instead"
    )
}

/// The incident a standby made by `autorestart standby` is launched in: its ClientToken
/// is derived from it (`proof::client_token`), so the agent can prove it launched it.
pub fn incident(original: &InstanceId) -> String {
    format!("standby-{original}")
}

/// The launch of a standby of `original` from `template` (`autorestart standby`), as
/// attempt `attempt`: the agent's ClientToken for [`incident`], so that the agent can prove it
/// launched it; the workload's identity tags, `standby-for`, and the launch's own
/// `launched-in` and `attempt`. No link tag: it is nobody's replacement until it starts.
pub fn launch_request(
    original: &Instance,
    template: TemplateRef,
    attempt: u32,
) -> crate::inventory::LaunchRequest {
    let incident = incident(&original.id);
    let mut carried = crate::plan::identity_tags(original);
    carried.push((tags::STANDBY_FOR.into(), original.id.to_string()));
    carried.push((tags::LAUNCHED_IN.into(), incident.clone()));
    carried.push((tags::ATTEMPT.into(), attempt.to_string()));
    crate::inventory::LaunchRequest {
        client_token: proof::client_token(
            &crate::alarm::IncidentId::from_tag(&incident),
            &original.id,
            &template,
            attempt,
        ),
        tags: carried,
        template,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alarm::IncidentId;

    const ARN_A: &str = "arn:aws:outposts:us-east-1:111122223333:outpost/op-0aaaaaaaaaaaaaaa1";
    const ARN_B: &str = "arn:aws:outposts:us-east-1:111122223333:outpost/op-0bbbbbbbbbbbbbbb2";

    fn instance(id: &str, state: &str, outpost: &str, tags: &[(&str, &str)]) -> Instance {
        Instance {
            id: id.into(),
            state: state.into(),
            outpost_arn: Some(outpost.into()),
            tags: tags
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Instance::default()
        }
    }

    /// A standby of i-o the agent launched (its token), on `outpost`, in `state`.
    fn standby(id: &str, state: &str, outpost: &str) -> Instance {
        let template = TemplateRef {
            id: "lt-0b".into(),
            version: TemplateRef::DEFAULT_VERSION.into(),
        };
        let incident = incident(&"i-o".into());
        let mut s = instance(
            id,
            state,
            outpost,
            &[
                (tags::STANDBY_FOR, "i-o"),
                (tags::LAUNCHED_IN, &incident),
                (tags::ATTEMPT, "1"),
                (tags::LAUNCH_TEMPLATE_ID, "lt-0b"),
            ],
        );
        s.client_token = Some(proof::client_token(
            &IncidentId::from_tag(&incident),
            "i-o",
            &template,
            1,
        ));
        s
    }

    #[test]
    fn a_standby_is_started_only_when_proven_stopped_and_elsewhere_up() {
        let original = instance("i-o", "running", ARN_A, &[]);
        let b = OutpostId::from_arn(ARN_B).unwrap();
        let forged = Instance {
            client_token: None,
            ..standby("i-s", "stopped", ARN_B)
        };
        let cases = [
            (standby("i-s", "stopped", ARN_B), HashSet::new(), Ok(())),
            (forged, HashSet::new(), Err(Unusable::NotProven)),
            (
                standby("i-s", "terminated", ARN_B),
                HashSet::new(),
                Err(Unusable::Gone),
            ),
            (
                standby("i-s", "running", ARN_B),
                HashSet::new(),
                Err(Unusable::NotStopped(InstanceState::Running)),
            ),
            (
                standby("i-s", "stopped", ARN_A),
                HashSet::new(),
                Err(Unusable::SameOutpost),
            ),
            (
                standby("i-s", "stopped", ARN_B),
                HashSet::from([b.clone()]),
                Err(Unusable::OutpostDown(b)),
            ),
        ];
        for (s, down, expected) in cases {
            assert_eq!(judge(&original, &s, &down), expected, "{s:?}");
        }
    }

    #[test]
    fn a_standby_launched_as_asked_is_one_the_agent_can_prove() {
        let original = instance(
            "i-o",
            "running",
            ARN_A,
            &[
                (tags::NAME, "web"),
                (tags::ENABLED, "true"),
                (tags::INCIDENT, "old"),
            ],
        );
        let template = TemplateRef {
            id: "lt-0b".into(),
            version: "3".into(),
        };
        let request = launch_request(&original, template.clone(), 2);
        let mut launched = instance("i-s", "stopped", ARN_B, &[]);
        launched.tags.extend(request.tags.iter().cloned());
        launched
            .tags
            .insert(tags::LAUNCH_TEMPLATE_ID.into(), "lt-0b".into());
        launched
            .tags
            .insert(tags::LAUNCH_TEMPLATE_VERSION.into(), "3".into());
        launched.client_token = Some(request.client_token.clone());
        assert_eq!(judge(&original, &launched, &HashSet::new()), Ok(()));
        assert_eq!(launched.tag(tags::NAME), Some("web"));
        assert_eq!(launched.tag(tags::STANDBY_FOR), Some("i-o"));
        assert_eq!(launched.tag(tags::REPLACEMENT_OF), None);
        assert_eq!(
            launched.tag(tags::INCIDENT),
            None,
            "audit tags do not travel"
        );
    }

    #[test]
    fn each_original_gets_its_first_usable_standby_and_the_others_are_said() {
        let original = instance("i-o", "running", ARN_A, &[]);
        let other = instance("i-p", "running", ARN_A, &[]);
        let tagged = vec![
            standby("i-s2", "stopped", ARN_B),
            standby("i-s1", "running", ARN_B),
            standby("i-s3", "stopped", ARN_B),
        ];
        let (chosen, unusable) = pick(&[&original, &other], &tagged, &HashSet::new());
        assert_eq!(chosen.len(), 1);
        assert_eq!(chosen[&InstanceId::from("i-o")].id, "i-s2");
        assert_eq!(
            unusable,
            vec![(
                InstanceId::from("i-s1"),
                Unusable::NotStopped(InstanceState::Running)
            )]
        );
        assert!(unusable[0].1.explain().contains("not stopped"));
    }
}
