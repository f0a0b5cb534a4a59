//! Readiness: could each opted-in instance be recovered now? Pure: it judges what the sweep
//! read, and says what to fix.

use std::collections::{HashMap, HashSet};

use crate::alarm::{AlarmState, OutpostId};
use crate::drs::{self, SourceServer};
use crate::ids::InstanceId;
use crate::inventory::Asset;
use crate::inventory::{Instance, TemplateTarget};
use crate::launch_check::{self, LaunchCheck};
use crate::link_loss;
use crate::plan;
use crate::tags::{self, TemplateRef};
use crate::vocabulary::{AssetState, InstanceState, ReplicationState};

/// What the sweep read for the readiness check.
#[derive(Clone, Debug)]
pub struct ReadinessInputs<'a> {
    /// Opted-in instances.
    pub instances: &'a [Instance],
    /// Where each named template would launch.
    pub template_targets: &'a HashMap<TemplateRef, TemplateTarget>,
    /// AMIs that exist and are available.
    pub images: &'a HashSet<String>,
    /// The state of each watched Outpost's ConnectedStatus alarm.
    pub alarm_states: &'a HashMap<OutpostId, AlarmState>,
    /// Each target Outpost's assets, or why they could not be read.
    pub assets: &'a HashMap<OutpostId, Result<Vec<Asset>, String>>,
    /// DRS source servers, or why they could not be read (none read without DRS instances).
    pub drs_servers: &'a Result<Vec<SourceServer>, String>,
    /// Instances tagged as DRS launch targets.
    pub drs_targets: &'a [Instance],
    /// Outposts whose alarm has had no data for longer than its evaluation window, and since
    /// when (`alarm::silent_outposts`).
    pub silent_alarms: &'a HashMap<OutpostId, chrono::DateTime<chrono::Utc>>,
    /// Ids of the templates tagged `autorestart:template-for`, or why they could not be read.
    pub managed_templates: &'a Result<HashSet<String>, String>,
    /// Ids of the templates listed in `RecoveryLaunchTemplateArns`.
    pub listed_templates: &'a [String],
    /// What EC2's dry-run launches said, by (instance, template); none made: not asked.
    pub launch_checks: &'a HashMap<(InstanceId, TemplateRef), LaunchCheck>,
    /// `Settings::fence_margin`: how long after a self-fenced original's T its replacement
    /// launches.
    pub fence_margin: std::time::Duration,
    /// Instances tagged `autorestart:standby-for` one of `instances`.
    pub standbys: &'a [Instance],
}

/// The verdict for one instance.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct InstanceReadiness {
    /// The instance.
    pub instance_id: InstanceId,
    /// Its Name tag, or its id.
    pub name: String,
    /// The Outpost it runs on.
    pub outpost: Option<OutpostId>,
    /// What would stop its recovery now, each with what to fix; empty when ready.
    pub problems: Vec<String>,
    /// What could not be checked (e.g. capacity the API does not tell).
    pub notes: Vec<String>,
    /// The `autorestart:readiness` value it carried before this check.
    pub previous: Option<String>,
    /// What keeps it from running twice on a link loss (its `autorestart:on-link-loss`).
    pub on_link_loss: Option<String>,
}

impl InstanceReadiness {
    /// Whether nothing stops its recovery.
    pub fn is_ready(&self) -> bool {
        self.problems.is_empty()
    }

    /// The `autorestart:readiness` value: `ready` or `not-ready:<8 hex of the problems>`.
    pub fn tag_value(&self) -> String {
        if self.is_ready() {
            return "ready".into();
        }
        let digest = crate::sha256_hex(&self.problems.join("\n"));
        format!("not-ready:{}", &digest[..8])
    }

    /// Whether the verdict differs from the one recorded on the instance.
    pub fn changed(&self) -> bool {
        self.previous.as_deref() != Some(self.tag_value().as_str())
    }
}

/// Judges every opted-in instance that is not itself in an outage or already replaced.
pub fn assess(inputs: &ReadinessInputs<'_>) -> Vec<InstanceReadiness> {
    let drs_matches = drs_matches(inputs);
    let mut verdicts: Vec<InstanceReadiness> = inputs
        .instances
        .iter()
        // A replaced original is judged only for its DRS failback (`check_drs_failback`).
        .filter(|i| {
            i.is_opted_in() && (i.tag(tags::REPLACED_BY).is_none() || plan::uses_drs(i))
        })
        .filter_map(|instance| {
            let outpost = instance
                .outpost_arn
                .as_deref()
                .and_then(OutpostId::from_arn);
            if outpost
                .as_ref()
                .and_then(|o| inputs.alarm_states.get(o))
                .is_some_and(|s| *s == AlarmState::Alarm)
            {
                return None; // in an outage now: the recovery, not the readiness, is what counts
            }
            let mut verdict = InstanceReadiness {
                instance_id: instance.id.clone(),
                name: instance.display_name().to_owned(),
                outpost: outpost.clone(),
                problems: Vec::new(),
                notes: Vec::new(),
                previous: instance.tag(tags::READINESS).map(str::to_owned),
                on_link_loss: None,
            };
            if let Some(since) = outpost.as_ref().and_then(|o| inputs.silent_alarms.get(o)) {
                verdict.problems.push(format!(
                    "the ConnectedStatus alarm of its Outpost has had no data since {}: an outage would not be seen. Check the metric's cross-account sharing (docs/alarm.md) and that the Outpost reports ConnectedStatus",
                    since.format("%Y-%m-%dT%H:%M:%SZ")
                ));
            }
            if let Some(replacement) = instance.tag(tags::REPLACED_BY) {
                check_drs_failback(inputs, instance, replacement, &mut verdict);
                return Some(verdict);
            }
            if plan::uses_drs(instance) {
                check_drs(inputs, &drs_matches, instance, &mut verdict);
            } else {
                check_templates(inputs, instance, outpost.as_ref(), &mut verdict);
            }
            check_link_loss(instance, inputs.fence_margin, &mut verdict);
            check_standbys(inputs, instance, &mut verdict);
            Some(verdict)
        })
        .collect();
    verdicts.sort_by(|a, b| a.instance_id.cmp(&b.instance_id));
    verdicts
}

/// A DRS-protected original that was recovered: whether its failback can start (it is
/// stopped, DRS may launch into it, its recovery instance replicates back), as a note.
fn check_drs_failback(
    inputs: &ReadinessInputs<'_>,
    original: &Instance,
    recovery_instance: &str,
    verdict: &mut InstanceReadiness,
) {
    let mut not_yet: Vec<String> = Vec::new();
    if original.state != InstanceState::Stopped {
        not_yet.push(format!(
            "the original is {}, not stopped (DRS launches only into a stopped instance)",
            original.state
        ));
    }
    if original.tag(drs::TARGET_TAG_KEY) != Some(drs::TARGET_TAG_VALUE) {
        not_yet.push(format!(
            "the original lacks the tag {}={}",
            drs::TARGET_TAG_KEY,
            drs::TARGET_TAG_VALUE
        ));
    }
    let back = inputs.drs_servers.as_ref().ok().and_then(|servers| {
        servers
            .iter()
            .find(|s| s.replicates_back && s.aws_instance_id.as_deref() == Some(recovery_instance))
    });
    let replication = match back {
        None => format!(
            "replication of {recovery_instance} back has not started (a failback request starts it)"
        ),
        Some(s) if s.is_continuous() => {
            format!(
                "{recovery_instance} replicates back continuously ({})",
                s.id
            )
        }
        Some(s) => {
            not_yet.push(format!(
                "{recovery_instance} replicates back but is not continuous yet ({}: {})",
                s.id, s.replication_state
            ));
            String::new()
        }
    };
    let mut note = if not_yet.is_empty() {
        "failback can start".to_owned()
    } else {
        format!("failback cannot start yet: {}", not_yet.join("; "))
    };
    if !replication.is_empty() {
        note.push_str(&format!("; {replication}"));
    }
    verdict.notes.push(note);
}

/// The instance's standbys: each that a recovery would start, or why it would not (then the
/// recovery launches from the templates: a note, not a problem).
fn check_standbys(
    inputs: &ReadinessInputs<'_>,
    instance: &Instance,
    verdict: &mut InstanceReadiness,
) {
    let down: HashSet<OutpostId> = inputs
        .alarm_states
        .iter()
        .filter(|(_, state)| **state != AlarmState::Ok)
        .map(|(o, _)| o.clone())
        .collect();
    for s in inputs
        .standbys
        .iter()
        .filter(|s| s.tag(tags::STANDBY_FOR) == Some(instance.id.as_str()))
    {
        if plan::uses_drs(instance) {
            verdict.notes.push(format!(
                "standby {} is not used: the instance is recovered with DRS",
                s.id
            ));
            continue;
        }
        match crate::standby::judge(instance, s, &down) {
            Ok(()) => verdict.notes.push(format!(
                "standby {} (stopped, on {}) is started instead of a launch",
                s.id,
                s.outpost_arn
                    .as_deref()
                    .and_then(OutpostId::from_arn)
                    .map_or_else(|| "-".to_owned(), |o| o.to_string())
            )),
            Err(why) => verdict.notes.push(format!(
                "warning: standby {} would not be started ({}); a recovery launches from the templates",
                s.id,
                why.explain()
            )),
        }
    }
}

/// The instance's link-loss policy, in words: a tag that cannot be read is a problem (it
/// would not be recovered); the default, and how long a self-fenced recovery waits, are notes.
fn check_link_loss(
    instance: &Instance,
    fence_margin: std::time::Duration,
    verdict: &mut InstanceReadiness,
) {
    match link_loss::policy_of(instance) {
        Err(reason) => verdict.problems.push(format!(
            "{reason}; until it is fixed the instance is not recovered"
        )),
        Ok(tagged) => {
            verdict.on_link_loss = Some(link_loss::protection(&tagged));
            match tagged.policy {
                link_loss::Policy::Relaunch if tagged.defaulted => verdict.notes.push(format!(
                    "no {} tag: relaunched on any loss of its Outpost's link (the default), while the original may still run locally; tag it self-fenced:T (with the sentinel) or hold where two copies would do harm (docs/link-loss.md)",
                    tags::ON_LINK_LOSS
                )),
                link_loss::Policy::SelfFenced {
                    fence_after_seconds,
                } => verdict.notes.push(format!(
                    "self-fenced: its recovery waits until the link has been lost for {} s ({fence_after_seconds} s for its sentinel to fence it, and a margin of {} s); check that the sentinel runs with fence_after_seconds = {fence_after_seconds}",
                    fence_after_seconds + fence_margin.as_secs(),
                    fence_margin.as_secs()
                )),
                link_loss::Policy::Hold => verdict.notes.push(
                    "hold: not recovered until a person confirms its server is down and sends the failover request".into(),
                ),
                link_loss::Policy::Relaunch => {}
            }
        }
    }
}

fn check_templates(
    inputs: &ReadinessInputs<'_>,
    instance: &Instance,
    own_outpost: Option<&OutpostId>,
    verdict: &mut InstanceReadiness,
) {
    if let Err(reason) = tags::parse_strategy(instance.tag(tags::STRATEGY)) {
        verdict.problems.push(reason);
        return;
    }
    let templates = match tags::parse_recovery_templates(instance.tag(tags::RECOVERY_TEMPLATES)) {
        Ok(templates) => templates,
        Err(error) => {
            verdict.problems.push(error.to_string());
            return;
        }
    };
    // Each template's problems; ready means one usable alternate, the others only warn.
    let mut usable = false;
    let mut all_problems: Vec<String> = Vec::new();
    let mut warnings: Vec<String> = Vec::new();
    for template in templates {
        let mut problems: Vec<String> = Vec::new();
        let mut notes: Vec<String> = Vec::new();
        judge_template(
            inputs,
            instance,
            own_outpost,
            &template,
            &mut problems,
            &mut notes,
        );
        verdict.notes.append(&mut notes);
        if problems.is_empty() {
            usable = true;
        }
        warnings.extend(
            problems
                .iter()
                .map(|p| format!("warning (another alternate is usable): {p}")),
        );
        all_problems.append(&mut problems);
    }
    if usable {
        verdict.notes.append(&mut warnings);
    } else {
        verdict.problems.append(&mut all_problems);
    }
}

/// One template's problems (and notes) as an alternate for `instance`.
fn judge_template(
    inputs: &ReadinessInputs<'_>,
    instance: &Instance,
    own_outpost: Option<&OutpostId>,
    template: &TemplateRef,
    problems: &mut Vec<String>,
    notes: &mut Vec<String>,
) {
    let (subnet_id, outpost_arn, image_id, instance_type) =
        match inputs.template_targets.get(template) {
            Some(TemplateTarget::Subnet {
                subnet_id,
                outpost_arn,
                image_id,
                instance_type,
            }) => (subnet_id, outpost_arn, image_id, instance_type),
            Some(TemplateTarget::Unusable { reason }) => {
                problems.push(reason.clone());
                return;
            }
            None => {
                problems.push(format!("launch template {template} could not be read"));
                return;
            }
        };
    match inputs.managed_templates {
        Ok(managed)
            if !managed.contains(template.id.as_str())
                && !inputs.listed_templates.iter().any(|t| template.id == *t) =>
        {
            problems.push(format!(
                "launch template {template} is not one of this project's: IAM refuses RunInstances from it. Tag it {}=<instance id> (autorestart template does), or list its ARN in RecoveryLaunchTemplateArns",
                tags::TEMPLATE_FOR
            ));
            return;
        }
        Ok(_) => {}
        Err(reason) => notes.push(format!(
            "whether launch template {template} is one of this project's was not checked: {reason}"
        )),
    }
    let target = outpost_arn.as_deref().and_then(OutpostId::from_arn);
    if let (Some(own), Some(target)) = (own_outpost, &target)
        && own == target
    {
        problems.push(format!(
                "launch template {template} launches into subnet {subnet_id} on the instance's own Outpost {own}: generate a template for another server (autorestart template --instance-id {} --subnet-id <a subnet on another Outpost server>) and name it in {}",
                instance.id,
                tags::RECOVERY_TEMPLATES
            ));
        return;
    }
    match inputs
        .launch_checks
        .get(&(instance.id.clone(), template.clone()))
    {
        Some(LaunchCheck::Refused { code, detail }) => {
            problems.push(launch_check::problem(template, code));
            notes.push(format!("launch template {template}, refused: {detail}"));
        }
        Some(LaunchCheck::NotChecked(why)) => notes.push(format!(
            "launch template {template}: no dry-run launch this time ({why})"
        )),
        Some(LaunchCheck::WouldLaunch) | None => {}
    }
    if let Some(image) = image_id
        && !inputs.images.contains(image)
    {
        problems.push(format!(
                "launch template {template} names AMI {image}, which does not exist or is not available: create a template version with a current AMI"
            ));
    }
    let Some(target) = target else { return };
    match inputs.alarm_states.get(&target) {
            Some(AlarmState::Ok) => {}
            Some(state) => problems.push(format!(
                "launch template {template} targets Outpost {target}, whose ConnectedStatus alarm is {state:?}: that Outpost cannot take a replacement now"
            )),
            None => problems.push(format!(
                "launch template {template} targets Outpost {target}, which no ConnectedStatus alarm of this stack watches: add it to OutpostIds"
            )),
        }
    let instance_type = instance_type
        .as_deref()
        .or(instance.instance_type.as_deref());
    match inputs.assets.get(&target) {
        Some(Ok(assets)) => {
            if let Some(problem) = capacity_problem(assets, instance_type, &target) {
                problems.push(format!("launch template {template}: {problem}"));
            }
        }
        Some(Err(reason)) => notes.push(format!(
            "capacity on Outpost {target} not checked: {reason}"
        )),
        None => {}
    }
}

/// Why the Outpost's assets cannot take the instance type, where the Outposts API tells.
fn capacity_problem(
    assets: &[Asset],
    instance_type: Option<&str>,
    outpost: &OutpostId,
) -> Option<String> {
    if assets.is_empty() {
        return None;
    }
    let active: Vec<&Asset> = assets
        .iter()
        .filter(|a| a.state == Some(AssetState::Active))
        .collect();
    if active.is_empty() {
        return Some(format!(
            "no server of Outpost {outpost} is ACTIVE (the Outposts API lists {} asset(s))",
            assets.len()
        ));
    }
    let instance_type = instance_type?;
    let configured = active.iter().any(|a| !a.capacities.is_empty());
    let fits = active.iter().any(|a| {
        a.capacities
            .iter()
            .any(|(t, n)| t == instance_type && *n > 0)
    });
    (configured && !fits).then(|| {
        format!("no ACTIVE server of Outpost {outpost} is configured for {instance_type} instances: change the template's type or the Outpost's capacity")
    })
}

/// Source server to launch-target matches, by the DRS module's rules.
fn drs_matches(inputs: &ReadinessInputs<'_>) -> HashMap<String, Result<String, String>> {
    let Ok(servers) = inputs.drs_servers else {
        return HashMap::new();
    };
    let sources: Vec<(&str, Option<&str>)> = servers
        .iter()
        .map(|s| (s.id.as_str(), s.hostname.as_deref()))
        .collect();
    let targets: Vec<(&str, Option<&str>)> = inputs
        .drs_targets
        .iter()
        .filter(|t| t.is_live())
        .map(|t| (t.id.as_str(), t.tag(tags::NAME)))
        .collect();
    drs::match_targets(&sources, &targets)
        .into_iter()
        .map(|(source, target)| (source.to_owned(), target.map_err(|p| p.to_string())))
        .collect()
}

fn check_drs(
    inputs: &ReadinessInputs<'_>,
    matches: &HashMap<String, Result<String, String>>,
    instance: &Instance,
    verdict: &mut InstanceReadiness,
) {
    let servers = match inputs.drs_servers {
        Ok(servers) => servers,
        Err(reason) => {
            verdict
                .problems
                .push(format!("DRS source servers could not be read: {reason}"));
            return;
        }
    };
    let Some(server) = drs::source_server_of(servers, instance) else {
        verdict.problems.push(
            "no DRS source server replicates this instance (by instance id or Name): install the replication agent or fix the Name tag".into(),
        );
        return;
    };
    // Stalled or lagging replication still recovers, from the last snapshot: a warning, not
    // "cannot recover"; only a server with nothing to launch from is a problem.
    if let Some(reason) = server.nothing_to_launch_from() {
        verdict.problems.push(reason);
    } else if !server.is_continuous() {
        verdict.notes.push(format!(
            "warning: DRS source server {} replicates in state {} (lag {}), not {}: a recovery now launches from its last recovery snapshot{}; fix replication in the DRS console",
            server.id,
            server.replication_state,
            server.lag.as_deref().unwrap_or("unknown"),
            ReplicationState::Continuous,
            server
                .recovery_point
                .as_ref()
                .map(|p| format!(" ({}, taken {})", p.snapshot_id, p.taken_at.format("%Y-%m-%d %H:%M UTC")))
                .unwrap_or_default()
        ));
    }
    match matches.get(&server.id) {
        Some(Ok(target_id)) => {
            let state = inputs
                .drs_targets
                .iter()
                .find(|t| &t.id == target_id)
                .map(|t| &t.state);
            if state != Some(&InstanceState::Stopped) {
                let state = state.map_or("unknown", InstanceState::as_str);
                verdict.problems.push(format!(
                    "DRS launch target {target_id} is {state}: DRS launches only into a stopped instance; stop it"
                ));
            }
        }
        Some(Err(problem)) => verdict.problems.push(problem.clone()),
        None => verdict.problems.push(format!(
            "DRS source server {} has no launch target",
            server.id
        )),
    }
}

/// The Outpost an ARN names (`…:outpost/op-…`).
pub fn outpost_of_arn(arn: &str) -> Option<OutpostId> {
    arn.rsplit_once('/')
        .and_then(|(_, id)| OutpostId::parse(id))
}

/// Counts of one readiness check.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct ReadinessReport {
    /// Instances judged ready.
    pub ready: usize,
    /// Instances judged not ready.
    pub not_ready: usize,
    /// Every verdict.
    pub instances: Vec<InstanceReadiness>,
    /// Ids whose verdict changed since the last check.
    pub changed: Vec<InstanceId>,
    /// SNS message id when a change was announced.
    pub message_id: Option<String>,
    /// Why the check could not complete.
    pub error: Option<String>,
}

impl ReadinessReport {
    /// Counts the verdicts.
    pub fn of(instances: Vec<InstanceReadiness>) -> Self {
        let ready = instances.iter().filter(|i| i.is_ready()).count();
        let changed = instances
            .iter()
            .filter(|i| i.changed())
            .map(|i| i.instance_id.clone())
            .collect();
        Self {
            ready,
            not_ready: instances.len() - ready,
            instances,
            changed,
            message_id: None,
            error: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OWN: &str = "arn:aws:outposts:us-east-1:111122223333:outpost/op-0aaaaaaaaaaaaaaaa";
    const ALT: &str = "arn:aws:outposts:us-east-1:111122223333:outpost/op-0bbbbbbbbbbbbbbbb";

    fn op(arn: &str) -> OutpostId {
        OutpostId::from_arn(arn).unwrap()
    }

    fn instance(id: &str, templates: &str) -> Instance {
        let mut i = Instance {
            id: id.into(),
            state: "running".into(),
            outpost_arn: Some(OWN.into()),
            instance_type: Some("m5.large".into()),
            ..Instance::default()
        };
        i.tags.insert(tags::ENABLED.into(), "true".into());
        i.tags
            .insert(tags::RECOVERY_TEMPLATES.into(), templates.into());
        i
    }

    fn t(id: &str) -> TemplateRef {
        TemplateRef {
            id: id.into(),
            version: "$Default".into(),
        }
    }

    fn subnet(outpost: &str, image: &str) -> TemplateTarget {
        TemplateTarget::Subnet {
            subnet_id: "subnet-x".into(),
            outpost_arn: Some(outpost.into()),
            image_id: Some(image.into()),
            instance_type: None,
        }
    }

    struct Fixture {
        targets: HashMap<TemplateRef, TemplateTarget>,
        images: HashSet<String>,
        alarms: HashMap<OutpostId, AlarmState>,
        assets: HashMap<OutpostId, Result<Vec<Asset>, String>>,
        drs: Result<Vec<SourceServer>, String>,
        silent: HashMap<OutpostId, chrono::DateTime<chrono::Utc>>,
        managed: Result<HashSet<String>, String>,
        listed: Vec<String>,
        launch_checks: HashMap<(InstanceId, TemplateRef), LaunchCheck>,
        standbys: Vec<Instance>,
    }

    fn fixture() -> Fixture {
        Fixture {
            targets: [
                (t("lt-0a"), subnet(ALT, "ami-1")),
                (t("lt-0b"), subnet(OWN, "ami-1")),
                (t("lt-0c"), subnet(ALT, "ami-gone")),
            ]
            .into(),
            images: ["ami-1".to_owned()].into(),
            alarms: [(op(OWN), AlarmState::Ok), (op(ALT), AlarmState::Ok)].into(),
            assets: HashMap::new(),
            drs: Ok(Vec::new()),
            silent: HashMap::new(),
            managed: Ok(["lt-0a", "lt-0b", "lt-0c"].map(str::to_owned).into()),
            listed: Vec::new(),
            launch_checks: HashMap::new(),
            standbys: Vec::new(),
        }
    }

    fn judge(f: &Fixture, instances: &[Instance]) -> Vec<InstanceReadiness> {
        assess(&ReadinessInputs {
            instances,
            template_targets: &f.targets,
            images: &f.images,
            alarm_states: &f.alarms,
            assets: &f.assets,
            drs_servers: &f.drs,
            drs_targets: &[],
            silent_alarms: &f.silent,
            managed_templates: &f.managed,
            listed_templates: &f.listed,
            launch_checks: &f.launch_checks,
            fence_margin: crate::link_loss::FENCE_MARGIN,
            standbys: &f.standbys,
        })
    }

    #[test]
    fn a_recovered_drs_original_says_whether_its_failback_can_start() {
        let mut f = fixture();
        let original = |state: &str, tagged: bool| {
            let mut i = instance_on("i-db", "lt-0a", OWN);
            i.state = state.into();
            i.tags.insert(tags::STRATEGY.into(), "drs".into());
            i.tags.insert(tags::REPLACED_BY.into(), "i-rec".into());
            if tagged {
                i.tags
                    .insert(drs::TARGET_TAG_KEY.into(), drs::TARGET_TAG_VALUE.into());
            }
            i
        };
        let note = |f: &Fixture, i: Instance| judge(f, &[i])[0].notes.join(" | ");
        let said = note(&f, original("running", false));
        assert!(
            said.contains("failback cannot start yet: the original is running"),
            "{said}"
        );
        assert!(
            said.contains("lacks the tag AWSDRS=AllowLaunchingIntoThisInstance"),
            "{said}"
        );
        assert!(said.contains("has not started"), "{said}");
        f.drs = Ok(vec![SourceServer {
            id: "s-back".into(),
            aws_instance_id: Some("i-rec".into()),
            replication_state: "INITIAL_SYNC".into(),
            replicates_back: true,
            ..SourceServer::default()
        }]);
        let said = note(&f, original("stopped", true));
        assert!(
            said.contains("not continuous yet (s-back: INITIAL_SYNC)"),
            "{said}"
        );
        if let Ok(servers) = &mut f.drs {
            servers[0].replication_state = "CONTINUOUS".into();
        }
        let said = note(&f, original("stopped", true));
        assert!(
            said.starts_with("failback can start; i-rec replicates back continuously"),
            "{said}"
        );
        assert!(judge(&f, &[original("stopped", true)])[0].is_ready());
    }

    #[test]
    fn each_standby_is_said_usable_or_why_not_without_making_the_instance_not_ready() {
        use crate::alarm::IncidentId;
        let mut f = fixture();
        let mut i = instance("i-1", "lt-0a");
        i.outpost_arn = Some(OWN.into());
        let standby = |id: &str, state: &str, outpost: &str, proven: bool| {
            let incident = crate::standby::incident(&"i-1".into());
            let mut s = Instance {
                id: id.into(),
                state: state.into(),
                outpost_arn: Some(outpost.into()),
                ..Instance::default()
            };
            for (k, v) in [
                (tags::STANDBY_FOR, "i-1"),
                (tags::LAUNCHED_IN, incident.as_str()),
                (tags::ATTEMPT, "1"),
                (tags::LAUNCH_TEMPLATE_ID, "lt-0a"),
            ] {
                s.tags.insert(k.into(), v.into());
            }
            s.client_token = proven.then(|| {
                crate::proof::client_token(&IncidentId::from_tag(&incident), "i-1", &t("lt-0a"), 1)
            });
            s
        };
        f.standbys = vec![
            standby("i-s1", "stopped", ALT, true),
            standby("i-s2", "stopped", ALT, false),
            standby("i-s3", "stopped", OWN, true),
        ];
        let got = judge(&f, &[i]);
        assert!(got[0].is_ready(), "{:?}", got[0].problems);
        let notes = got[0].notes.join("\n");
        assert!(notes.contains("standby i-s1 (stopped, on op-"), "{notes}");
        assert!(
            notes.contains("standby i-s2 would not be started (EC2 does not confirm"),
            "{notes}"
        );
        assert!(
            notes.contains("standby i-s3 would not be started (it lies on the same Outpost"),
            "{notes}"
        );
        // Its Outpost down: said.
        f.alarms.insert(op(ALT), AlarmState::Alarm);
        f.standbys.truncate(1);
        let got = judge(&f, &[instance_on("i-1", "lt-0a", OWN)]);
        assert!(
            got[0].notes.join(" ").contains("is down"),
            "{:?}",
            got[0].notes
        );
    }

    fn instance_on(id: &str, template: &str, outpost: &str) -> Instance {
        let mut i = instance(id, template);
        i.outpost_arn = Some(outpost.into());
        i
    }

    #[test]
    fn a_template_ec2_refuses_to_launch_is_a_problem_with_the_iam_fix() {
        let mut f = fixture();
        let mut i = instance("i-1", "lt-0a");
        i.outpost_arn = Some(OWN.into());
        f.launch_checks.insert(
            ("i-1".into(), t("lt-0a")),
            LaunchCheck::Refused {
                code: "UnauthorizedOperation".into(),
                detail: "not allowed iam:PassRole on role/app".into(),
            },
        );
        let got = judge(&f, std::slice::from_ref(&i));
        let problems = got[0].problems.join("\n");
        assert!(
            problems.contains("EC2 refuses RunInstances from it (UnauthorizedOperation)"),
            "{problems}"
        );
        assert!(got[0].notes.join("\n").contains("iam:PassRole on role/app"));
        let digest = got[0].tag_value();
        // Another detail (a new encoded message) is the same problem: said once.
        f.launch_checks.insert(
            ("i-1".into(), t("lt-0a")),
            LaunchCheck::Refused {
                code: "UnauthorizedOperation".into(),
                detail: "another encoding".into(),
            },
        );
        assert_eq!(judge(&f, std::slice::from_ref(&i))[0].tag_value(), digest);
        f.launch_checks
            .insert(("i-1".into(), t("lt-0a")), LaunchCheck::WouldLaunch);
        assert!(judge(&f, &[i])[0].is_ready());
    }

    #[test]
    fn a_template_iam_refuses_is_not_usable_unless_listed() {
        let mut f = fixture();
        f.managed = Ok(["lt-0b".to_owned()].into());
        let got = judge(&f, &[instance("i-1", "lt-0a")]);
        let problems = got[0].problems.join("\n");
        assert!(
            problems.contains("not one of this project's: IAM refuses RunInstances")
                && problems.contains(tags::TEMPLATE_FOR),
            "{problems}"
        );
        f.listed = vec!["lt-0a".into()];
        assert!(judge(&f, &[instance("i-1", "lt-0a")])[0].is_ready());
        f.managed = Err("denied".into());
        let got = judge(&f, &[instance("i-1", "lt-0a")]);
        assert!(got[0].is_ready(), "an unread list is a note, not a problem");
        assert!(
            got[0]
                .notes
                .iter()
                .any(|n| n.contains("was not checked: denied"))
        );
    }

    #[test]
    fn one_usable_alternate_is_ready_and_the_others_only_warn() {
        let got = judge(&fixture(), &[instance("i-1", "lt-0b,lt-0a,lt-0c")]);
        assert!(got[0].is_ready(), "{got:?}");
        let notes = got[0].notes.join("\n");
        assert!(
            notes.contains("warning (another alternate is usable)"),
            "{notes}"
        );
        assert!(
            notes.contains("own Outpost") && notes.contains("ami-gone"),
            "{notes}"
        );
    }

    #[test]
    fn a_replacement_whose_templates_all_point_at_its_own_outpost_is_not_ready() {
        // After a failover the replacement runs on ALT; lt-0a launches onto ALT too.
        let mut replacement = instance("i-r", "lt-0a");
        replacement.outpost_arn = Some(ALT.into());
        replacement
            .tags
            .insert(tags::REPLACEMENT_OF.into(), "i-1".into());
        let got = judge(&fixture(), &[replacement]);
        let problems = got[0].problems.join("\n");
        assert!(!got[0].is_ready());
        assert!(
            problems.contains(
                "generate a template for another server (autorestart template --instance-id i-r"
            ),
            "{problems}"
        );
    }

    #[test]
    fn an_own_alarm_without_data_past_its_window_is_not_ready() {
        let mut f = fixture();
        let since: chrono::DateTime<chrono::Utc> = "2026-11-24T03:00:00Z".parse().unwrap();
        f.silent.insert(op(OWN), since);
        let got = judge(&f, &[instance("i-1", "lt-0a")]);
        let problems = got[0].problems.join("\n");
        assert!(
            problems.contains(
                "has had no data since 2026-11-24T03:00:00Z: an outage would not be seen"
            ),
            "{problems}"
        );
    }

    #[test]
    fn a_usable_alternate_on_another_connected_outpost_is_ready() {
        let got = judge(&fixture(), &[instance("i-1", "lt-0a")]);
        assert!(got[0].is_ready(), "{got:?}");
        assert_eq!(got[0].tag_value(), "ready");
    }

    #[test]
    fn names_each_problem_and_what_to_fix() {
        let mut f = fixture();
        f.alarms.insert(op(ALT), AlarmState::Alarm);
        let got = judge(&f, &[instance("i-1", "lt-0b,lt-0c,lt-0d")]);
        let problems = got[0].problems.join("\n");
        assert!(problems.contains("own Outpost"), "{problems}");
        assert!(
            problems.contains("ami-gone, which does not exist"),
            "{problems}"
        );
        assert!(problems.contains("alarm is Alarm"), "{problems}");
        assert!(
            problems.contains("lt-0d:$Default could not be read"),
            "{problems}"
        );
        assert!(got[0].tag_value().starts_with("not-ready:"));
    }

    #[test]
    fn capacity_counts_only_where_the_outposts_api_tells() {
        let mut f = fixture();
        let asset = |state: &str, caps: &[(&str, i32)]| Asset {
            id: "a".into(),
            state: Some(state.into()),
            capacities: caps.iter().map(|(t, n)| (t.to_string(), *n)).collect(),
        };
        f.assets
            .insert(op(ALT), Ok(vec![asset("ACTIVE", &[("c5.large", 4)])]));
        let got = judge(&f, &[instance("i-1", "lt-0a")]);
        assert!(
            got[0].problems[0].contains("configured for m5.large"),
            "{got:?}"
        );

        f.assets.insert(op(ALT), Ok(vec![asset("RETIRING", &[])]));
        assert!(judge(&f, &[instance("i-1", "lt-0a")])[0].problems[0].contains("no server"));

        f.assets.insert(op(ALT), Ok(vec![asset("ACTIVE", &[])]));
        assert!(judge(&f, &[instance("i-1", "lt-0a")])[0].is_ready());

        f.assets.insert(op(ALT), Err("AccessDenied".into()));
        let got = judge(&f, &[instance("i-1", "lt-0a")]);
        assert!(
            got[0].is_ready() && got[0].notes[0].contains("not checked"),
            "{got:?}"
        );
    }

    #[test]
    fn skips_instances_in_an_outage_or_already_replaced_and_detects_changes() {
        let mut f = fixture();
        let mut replaced = instance("i-2", "lt-0a");
        replaced.tags.insert(tags::REPLACED_BY.into(), "i-9".into());
        let mut recorded = instance("i-1", "lt-0a");
        recorded.tags.insert(tags::READINESS.into(), "ready".into());
        let got = judge(&f, &[recorded.clone(), replaced]);
        assert_eq!(got.len(), 1);
        assert!(!got[0].changed());
        f.alarms.insert(op(OWN), AlarmState::Alarm);
        assert!(judge(&f, &[recorded]).is_empty());
    }

    fn judge_drs(f: &Fixture, db: Instance, target: Instance) -> Vec<InstanceReadiness> {
        assess(&ReadinessInputs {
            instances: &[db],
            template_targets: &f.targets,
            images: &f.images,
            alarm_states: &f.alarms,
            assets: &f.assets,
            drs_servers: &f.drs,
            drs_targets: &[target],
            silent_alarms: &f.silent,
            managed_templates: &f.managed,
            listed_templates: &f.listed,
            launch_checks: &f.launch_checks,
            fence_margin: crate::link_loss::FENCE_MARGIN,
            standbys: &f.standbys,
        })
    }

    #[test]
    fn drs_needs_something_to_launch_from_and_a_stopped_target() {
        let mut f = fixture();
        f.drs = Ok(vec![SourceServer {
            id: "s-1".into(),
            hostname: Some("db-1".into()),
            replication_state: "STALLED".into(),
            ..SourceServer::default()
        }]);
        let mut db = instance("i-1", "");
        db.tags.insert(tags::STRATEGY.into(), "drs".into());
        db.tags.insert(tags::NAME.into(), "db-1".into());
        let mut target = instance("i-t", "");
        target.tags.insert(tags::NAME.into(), "db-1".into());
        let got = judge_drs(&f, db, target);
        let problems = got[0].problems.join("\n");
        assert!(problems.contains("STALLED"), "{problems}");
        assert!(problems.contains("nothing to launch from"), "{problems}");
        assert!(problems.contains("i-t is running"), "{problems}");

        // Stalled with a snapshot to launch from: a warning with the lag, not a problem.
        if let Ok(servers) = &mut f.drs {
            servers[0].lag = Some("PT3H".into());
            servers[0].recovery_point = Some(drs::RecoveryPoint {
                snapshot_id: "pit-1".into(),
                taken_at: "2026-11-24T01:00:00Z".parse().unwrap(),
            });
        }
        let mut target = instance("i-t", "");
        target.tags.insert(tags::NAME.into(), "db-1".into());
        target.state = "stopped".into();
        let mut db = instance("i-1", "");
        db.tags.insert(tags::STRATEGY.into(), "drs".into());
        db.tags.insert(tags::NAME.into(), "db-1".into());
        let got = judge_drs(&f, db, target);
        assert!(got[0].problems.is_empty(), "{:?}", got[0].problems);
        let notes = got[0].notes.join("\n");
        assert!(
            notes.contains("warning") && notes.contains("lag PT3H") && notes.contains("pit-1"),
            "{notes}"
        );
    }

    #[test]
    fn readiness_says_each_link_loss_policy_and_fails_a_tag_that_cannot_be_read() {
        let f = fixture();
        let with = |value: Option<&str>| {
            let mut i = instance("i-1", "lt-0a");
            if let Some(value) = value {
                i.tags.insert(tags::ON_LINK_LOSS.into(), value.into());
            }
            judge(&f, &[i]).remove(0)
        };
        let defaulted = with(None);
        assert!(defaulted.is_ready());
        assert!(
            defaulted.notes.iter().any(|n| n.contains("(the default)")),
            "{defaulted:?}"
        );
        let fenced = with(Some("self-fenced:120"));
        assert!(fenced.is_ready());
        assert!(
            fenced
                .notes
                .iter()
                .any(|n| n.contains("waits until the link has been lost for 180 s")),
            "{fenced:?}"
        );
        assert_eq!(
            fenced.on_link_loss.as_deref(),
            Some(
                "self-fenced: its sentinel stops it 120 s after losing the Region, before its replacement launches"
            )
        );
        assert!(
            with(Some("hold"))
                .notes
                .iter()
                .any(|n| n.starts_with("hold:"))
        );
        let typo = with(Some("self-fenced:"));
        assert!(!typo.is_ready());
        assert!(
            typo.problems[0].contains("until it is fixed the instance is not recovered"),
            "{typo:?}"
        );
    }
}
