//! `status` arranges what was read: alarms by Outpost, each instance with its readiness, and
//! the links the agent left, proven or claimed.

use super::*;
use crate::alarm::IncidentId;
use crate::tags::TemplateRef;

const OP_A: &str = "op-0aaaaaaaaaaaaaaa1";
const OP_B: &str = "op-0bbbbbbbbbbbbbbb2";

fn at(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

fn arn(outpost: &str) -> String {
    format!("arn:aws:outposts:us-east-1:111122223333:outpost/{outpost}")
}

fn instance(id: &str, state: &str, outpost: Option<&str>, tags: &[(&str, &str)]) -> Instance {
    Instance {
        id: id.into(),
        state: state.into(),
        outpost_arn: outpost.map(arn),
        tags: tags
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ..Instance::default()
    }
}

fn alarm(outpost: &str, state: AlarmState, since: &str) -> AlarmChange {
    AlarmChange::connected_status(
        &format!("stack-connected-{outpost}"),
        outpost,
        state,
        at(since),
    )
}

fn verdict(id: &str, problems: &[&str]) -> InstanceReadiness {
    InstanceReadiness {
        instance_id: id.into(),
        name: id.into(),
        outpost: None,
        problems: problems.iter().map(|p| p.to_string()).collect(),
        notes: vec![],
        previous: None,
        on_link_loss: None,
    }
}

fn inputs<'a>(
    alarms: &'a [AlarmChange],
    maintenance: &'a HashSet<OutpostId>,
    instances: &'a [Instance],
    verdicts: &'a [InstanceReadiness],
    related: &'a [Instance],
) -> StatusInputs<'a> {
    StatusInputs {
        alarms,
        maintenance,
        instances,
        verdicts,
        related,
        drs_proofs: None,
        outpost: None,
        alarm_window: std::time::Duration::from_secs(180),
        now: at("2026-12-06T09:00:00Z"),
    }
}

/// A replacement the agent launched for `of` in `incident`: its ClientToken proves it.
fn proven_replacement(id: &str, of: &Instance, incident: &str, outpost: &str) -> Instance {
    let template = TemplateRef {
        id: "lt-0aaaaaaaaaaaaaaa1".into(),
        version: "$Default".into(),
    };
    let mut replacement = instance(
        id,
        "running",
        Some(outpost),
        &[
            (tags::REPLACEMENT_OF, of.id.as_str()),
            (tags::LAUNCHED_IN, incident),
            (tags::ATTEMPT, "1"),
            (tags::LAUNCH_TEMPLATE_ID, "lt-0aaaaaaaaaaaaaaa1"),
            (tags::LAUNCH_TEMPLATE_VERSION, "1"),
        ],
    );
    replacement.client_token = Some(proof::client_token(
        &IncidentId::from_tag(incident),
        of.id.as_str(),
        &template,
        1,
    ));
    replacement
}

#[test]
fn outposts_carry_their_alarm_maintenance_silence_and_count() {
    let alarms = [
        alarm(OP_A, AlarmState::Alarm, "2026-12-06T08:00:00Z"),
        alarm(OP_B, AlarmState::InsufficientData, "2026-12-06T08:00:00Z"),
    ];
    let maintenance = HashSet::from([OutpostId::parse(OP_A).unwrap()]);
    let instances = [
        instance("i-01", "running", Some(OP_A), &[]),
        instance("i-02", "running", Some(OP_A), &[]),
        instance("i-03", "running", Some("op-0ccccccccccccccc3"), &[]),
    ];
    let status = build(&inputs(&alarms, &maintenance, &instances, &[], &[]));
    let by_id: BTreeMap<&str, &OutpostStatus> = status
        .outposts
        .iter()
        .map(|o| (o.outpost.as_str(), o))
        .collect();
    let a = by_id[OP_A];
    assert_eq!(a.alarm.as_deref(), Some("ALARM"));
    assert_eq!(a.since, Some(at("2026-12-06T08:00:00Z")));
    assert!(a.maintenance && !a.silent);
    assert_eq!(a.instances, 2);
    let b = by_id[OP_B];
    assert!(b.silent, "no data for an hour, longer than 180 s");
    assert_eq!(b.instances, 0);
    let unwatched = by_id["op-0ccccccccccccccc3"];
    assert_eq!(unwatched.alarm, None);
    assert_eq!(unwatched.instances, 1);
    assert!(
        status
            .table()
            .contains("Outpost op-0ccccccccccccccc3: NO ALARM of this stack watches it")
    );
}

#[test]
fn an_instance_shows_its_tags_readiness_and_problems() {
    let instances = [instance(
        "i-01",
        "running",
        Some(OP_A),
        &[
            (tags::NAME, "web-1"),
            (tags::STRATEGY, "template"),
            (tags::WAVE, "2"),
            (tags::ON_LINK_LOSS, "self-fenced:120"),
            (
                tags::RECOVERY_TEMPLATES,
                "lt-0aaaaaaaaaaaaaaa1:3, lt-0bbbbbbbbbbbbbbb2",
            ),
        ],
    )];
    let verdicts = [verdict("i-01", &["no capacity: fix it"])];
    let status = build(&inputs(&[], &HashSet::new(), &instances, &verdicts, &[]));
    let row = &status.instances[0];
    assert_eq!(row.name, "web-1");
    assert_eq!(row.strategy, "template");
    assert_eq!(row.wave, "2");
    assert_eq!(row.on_link_loss, "self-fenced:120");
    assert_eq!(row.ready, Some(false));
    assert_eq!(row.problems, vec!["no capacity: fix it".to_owned()]);
    assert_eq!(
        row.alternates,
        vec!["lt-0aaaaaaaaaaaaaaa1:3", "lt-0bbbbbbbbbbbbbbb2"]
    );
    let table = status.table();
    assert!(table.contains(
        "i-01 (web-1): running, strategy template, wave 2, on link loss self-fenced:120"
    ));
    assert!(table.contains("NOT READY:\n      - no capacity: fix it"));
    assert!(table.ends_with("1 protected instance(s), 1 not ready.\n"));
}

#[test]
fn bad_tags_say_why_and_defaults_are_named() {
    let instances = [
        instance(
            "i-01",
            "running",
            None,
            &[
                (tags::STRATEGY, "magic"),
                (tags::WAVE, "x"),
                (tags::ON_LINK_LOSS, "never"),
            ],
        ),
        instance("i-02", "stopped", None, &[]),
    ];
    let status = build(&inputs(&[], &HashSet::new(), &instances, &[], &[]));
    let bad = &status.instances[1];
    assert_eq!(bad.instance_id.as_str(), "i-01", "a bad wave sorts last");
    assert!(
        bad.strategy.contains("use template or drs"),
        "{}",
        bad.strategy
    );
    assert!(bad.wave.contains("whole number"), "{}", bad.wave);
    assert!(
        bad.on_link_loss.contains("use relaunch, hold"),
        "{}",
        bad.on_link_loss
    );
    let plain = &status.instances[0];
    assert_eq!(
        (
            plain.strategy.as_str(),
            plain.wave.as_str(),
            plain.on_link_loss.as_str()
        ),
        ("template", "0", "relaunch")
    );
    assert_eq!(plain.ready, None, "not judged: no verdict");
    assert!(
        status
            .table()
            .contains("In the Region (not on an Outpost):")
    );
}

#[test]
fn the_chain_follows_proven_replacements_and_marks_claims() {
    let incident = "op-0aaaaaaaaaaaaaaa1-20261206T080000Z-0123abcd";
    let original = instance(
        "i-01",
        "stopped",
        Some(OP_A),
        &[
            (tags::RECOVERY_TEMPLATES, "lt-0aaaaaaaaaaaaaaa1"),
            (tags::INCIDENT, incident),
            (tags::FENCED, "stop@2026-12-06T08:30:00Z"),
            (
                tags::LAST_DRILL,
                "drill-op-0aaaaaaaaaaaaaaa1-20261201T090000Z ok",
            ),
        ],
    );
    let first = proven_replacement("i-02", &original, incident, OP_B);
    // Someone copied the link tag onto another instance: a claim, listed after the proof.
    let claim = instance(
        "i-09",
        "running",
        Some(OP_B),
        &[(tags::REPLACEMENT_OF, "i-02")],
    );
    let standby = instance(
        "i-05",
        "stopped",
        Some(OP_B),
        &[(tags::STANDBY_FOR, "i-01")],
    );
    let drill = instance("i-06", "running", Some(OP_B), &[(tags::DRILL_OF, "i-01")]);
    let instances = [original.clone()];
    let related = [first, claim, standby, drill];
    let status = build(&inputs(&[], &HashSet::new(), &instances, &[], &related));
    let row = &status.instances[0];
    let chain: Vec<(&str, Option<bool>)> = row
        .chain
        .iter()
        .map(|l| (l.instance_id.as_str(), l.proven))
        .collect();
    assert_eq!(chain, vec![("i-02", Some(true)), ("i-09", Some(false))]);
    assert_eq!(row.standbys[0].instance_id.as_str(), "i-05");
    assert_eq!(row.drill_copies[0].instance_id.as_str(), "i-06");
    assert_eq!(row.incident.as_deref(), Some(incident));
    let table = status.table();
    assert!(
        table.contains(&format!(
            "replaced by: i-02 (running on {OP_B}, proven) -> i-09 (running on {OP_B}, a claim: not proven)"
        )),
        "{table}"
    );
    assert!(table.contains("standby: i-05 (stopped on"));
    assert!(table.contains("fenced: stop@2026-12-06T08:30:00Z"));
    assert!(table.contains("last live drill: drill-op-0aaaaaaaaaaaaaaa1-20261201T090000Z ok"));
    assert_eq!(
        Status::chain_ids(&instances, &related),
        vec!["i-01", "i-02", "i-09"]
    );
}

#[test]
fn a_drs_link_is_proven_by_what_drs_reports_and_only_by_it() {
    let original = instance("i-01", "stopped", Some(OP_A), &[(tags::STRATEGY, "drs")]);
    let recovery = instance(
        "i-02",
        "running",
        Some(OP_B),
        &[(tags::REPLACEMENT_OF, "i-01")],
    );
    let copied = instance(
        "i-03",
        "running",
        Some(OP_B),
        &[(tags::REPLACEMENT_OF, "i-01")],
    );
    let proofs = HashSet::from([(InstanceId::from("i-01"), InstanceId::from("i-02"))]);
    let maintenance = HashSet::new();
    let (instances, related) = ([original], [copied, recovery]);
    let status = build(&StatusInputs {
        drs_proofs: Some(&proofs),
        ..inputs(&[], &maintenance, &instances, &[], &related)
    });
    let chain = &status.instances[0].chain;
    assert_eq!(
        chain[0].instance_id.as_str(),
        "i-02",
        "DRS's recovery instance first"
    );
    assert_eq!(chain[0].proven, Some(true));
    let none = HashSet::new();
    let status = build(&StatusInputs {
        drs_proofs: Some(&none),
        ..inputs(&[], &maintenance, &instances, &[], &related)
    });
    assert_eq!(
        status.instances[0].chain[0].proven,
        Some(false),
        "DRS confirms neither"
    );
}

#[test]
fn a_drs_chain_not_read_is_not_judged_and_a_loop_ends() {
    let a = instance(
        "i-01",
        "stopped",
        Some(OP_A),
        &[(tags::STRATEGY, "drs"), (tags::REPLACEMENT_OF, "i-02")],
    );
    let b = instance(
        "i-02",
        "running",
        Some(OP_B),
        &[(tags::REPLACEMENT_OF, "i-01")],
    );
    let status = build(&inputs(&[], &HashSet::new(), &[a], &[], &[b]));
    let chain = &status.instances[0].chain;
    assert_eq!(chain.len(), 1, "i-01 again ends the chain");
    assert_eq!(chain[0].proven, None);
    assert!(status.table().contains("replaced by: i-02 (running on"));
}

#[test]
fn one_outpost_only_when_asked() {
    let alarms = [
        alarm(OP_A, AlarmState::Ok, "2026-12-06T08:00:00Z"),
        alarm(OP_B, AlarmState::Ok, "2026-12-06T08:00:00Z"),
    ];
    let instances = [
        instance("i-01", "running", Some(OP_A), &[]),
        instance("i-02", "running", Some(OP_B), &[]),
    ];
    let maintenance = HashSet::new();
    let only = OutpostId::parse(OP_B).unwrap();
    let status = build(&StatusInputs {
        outpost: Some(&only),
        ..inputs(&alarms, &maintenance, &instances, &[], &[])
    });
    assert_eq!(status.outposts.len(), 1);
    assert_eq!(status.outposts[0].outpost, only);
    assert_eq!(status.instances.len(), 1);
    assert_eq!(status.instances[0].instance_id.as_str(), "i-02");
}

#[test]
fn nothing_found_says_what_to_check() {
    let status = build(&inputs(&[], &HashSet::new(), &[], &[], &[]));
    assert!(status.table().contains("check --stack and --region"));
}
