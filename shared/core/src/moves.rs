//! Which target-group registrations move from originals to their replacements, and the tags
//! that remember an original's registrations once it is deregistered. Pure.

use std::collections::{HashMap, HashSet};

use crate::ids::InstanceId;
use crate::ids::TargetGroupArn;
use crate::inventory::{Instance, Membership, Target, TargetGroupScope, TargetKind};
use crate::tags;
use crate::vocabulary::TargetHealth;

/// One membership to move.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Move {
    /// The target group.
    pub target_group_arn: TargetGroupArn,
    /// How the group names targets.
    pub kind: TargetKind,
    /// The original instance.
    pub original_id: InstanceId,
    /// Its replacement.
    pub replacement_id: InstanceId,
    /// The original's registration.
    pub from: Target,
    /// The replacement's registration, same port (and zone).
    pub to: Target,
    /// Whether `to` is registered already (a repeat of an interrupted move).
    pub already_registered: bool,
    /// Whether `from` is still registered (it is not when a crashed run deregistered it, or
    /// when the move comes from the original's remembered memberships).
    pub from_registered: bool,
}

/// A membership that cannot be moved, and why.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Unmovable {
    /// The target group.
    pub target_group_arn: TargetGroupArn,
    /// The original instance.
    pub original_id: InstanceId,
    /// Why.
    pub reason: String,
}

/// Plans the moves for (original, replacement) pairs from the registrations read and the
/// originals' remembered registrations ([`remembered`]). Pure.
pub fn plan_moves(
    memberships: &[Membership],
    pairs: &[(&Instance, &Instance)],
    scope: &TargetGroupScope,
) -> (Vec<Move>, Vec<Unmovable>) {
    let registered: HashSet<(&str, &str, Option<i32>)> = memberships
        .iter()
        .map(|m| {
            (
                m.target_group_arn.as_str(),
                m.target.id.as_str(),
                m.target.port,
            )
        })
        .collect();
    // Index the registrations by target id, so each original costs a few lookups, not a scan.
    let mut by_target: HashMap<&str, Vec<&Membership>> = HashMap::new();
    for membership in memberships {
        by_target
            .entry(membership.target.id.as_str())
            .or_default()
            .push(membership);
    }
    let mut moves = Vec::new();
    let mut unmovable = Vec::new();
    for (original, replacement) in pairs {
        let by_id = by_target.get(original.id.as_str()).into_iter().flatten();
        let by_ip = original
            .addresses
            .iter()
            .flat_map(|a| by_target.get(a.ip.as_str()).into_iter().flatten());
        let mut of_original: Vec<Membership> = by_id.chain(by_ip).map(|m| (*m).clone()).collect();
        let incident = replacement.tag(tags::INCIDENT).unwrap_or_default();
        for kept in remembered(original, incident) {
            if scope.contains(&kept.target_group_arn)
                && !of_original.iter().any(|m| same_registration(m, &kept))
            {
                of_original.push(kept);
            }
        }
        for membership in &of_original {
            let to_id = match replacement_target(membership, original, replacement) {
                Ok(Some(id)) => id,
                Ok(None) => continue,
                Err(reason) => {
                    unmovable.push(Unmovable {
                        target_group_arn: membership.target_group_arn.clone(),
                        original_id: original.id.clone(),
                        reason,
                    });
                    continue;
                }
            };
            let from = Target {
                availability_zone: zone_for_request(membership.kind, &membership.target),
                ..membership.target.clone()
            };
            let to = Target {
                id: to_id,
                port: membership.target.port,
                availability_zone: zone_for_request(membership.kind, &membership.target),
            };
            let already_registered = registered.contains(&(
                membership.target_group_arn.as_str(),
                to.id.as_str(),
                to.port,
            ));
            let from_registered = registered.contains(&(
                membership.target_group_arn.as_str(),
                from.id.as_str(),
                from.port,
            ));
            if already_registered && !from_registered {
                continue; // moved before: nothing left to do
            }
            moves.push(Move {
                already_registered,
                from_registered,
                target_group_arn: membership.target_group_arn.clone(),
                kind: membership.kind,
                original_id: original.id.clone(),
                replacement_id: replacement.id.clone(),
                from,
                to,
            });
        }
    }
    (moves, unmovable)
}

/// The replacement's target in place of the original's registration: its id, or its private
/// IP at the same device index (or its primary one); none when the registration does not name
/// the original; why, when the replacement has no IP to register.
fn replacement_target(
    membership: &Membership,
    original: &Instance,
    replacement: &Instance,
) -> Result<Option<String>, String> {
    match membership.kind {
        TargetKind::Instance if membership.target.id == original.id => {
            Ok(Some(replacement.id.to_string()))
        }
        TargetKind::Instance => Ok(None),
        TargetKind::Ip => {
            // A terminated replacement no longer shows its addresses; its IP registration is
            // known from what it remembers, at its primary interface.
            let remembered_only = original.addresses.is_empty();
            let Some(device) = original
                .device_index_of(&membership.target.id)
                .or(remembered_only.then_some(0))
            else {
                return Ok(None);
            };
            replacement
                .address_at(device)
                .or_else(|| replacement.address_at(0))
                .map(|ip| Some(ip.to_owned()))
                .ok_or_else(|| {
                    format!(
                        "replacement {} has no private IP to register in place of {}",
                        replacement.id, membership.target.id
                    )
                })
        }
    }
}

/// The Availability Zone a Register/DeregisterTargets request may carry for a target: only
/// `all`, for an IP target outside the target group's VPC, where ELB requires it. ELB refuses
/// a zone for instance targets and detects it for IP targets in the VPC (where the
/// replacement's zone may differ from the original's).
pub fn zone_for_request(kind: TargetKind, target: &Target) -> Option<String> {
    match (kind, target.availability_zone.as_deref()) {
        (TargetKind::Ip, Some("all")) => Some("all".into()),
        _ => None,
    }
}

fn same_registration(a: &Membership, b: &Membership) -> bool {
    a.target_group_arn == b.target_group_arn
        && a.target.id == b.target.id
        && a.target.port == b.target.port
}

/// The registrations of `original` remembered in its `autorestart:member-N` tags for
/// `incident` (those of earlier incidents are history, not a place to register).
pub fn remembered(original: &Instance, incident: &str) -> Vec<Membership> {
    remembered_with_keys(original, incident)
        .into_iter()
        .map(|(_, m)| m)
        .collect()
}

fn remembered_with_keys(original: &Instance, incident: &str) -> Vec<(u32, Membership)> {
    original
        .tags
        .iter()
        .filter_map(|(key, value)| {
            let n = key.strip_prefix(tags::MEMBER_PREFIX)?.parse().ok()?;
            let (membership, of) = parse_member(value)?;
            (of == incident).then_some((n, membership))
        })
        .collect()
}

/// The tags that remember on a replacement its IP registrations of `moved` (registered now):
/// should it die, ELB keeps an IP target of a terminated instance while EC2 no longer tells
/// its address, and the next replacement's move deregisters it from these.
pub fn ip_registration_tags(
    replacement: &Instance,
    moved: &[Move],
    incident: &str,
) -> Vec<(String, String)> {
    let registered: Vec<Membership> = moved
        .iter()
        .filter(|m| m.replacement_id == replacement.id && m.kind == TargetKind::Ip)
        .map(|m| Membership {
            target_group_arn: m.target_group_arn.clone(),
            kind: m.kind,
            target: m.to.clone(),
        })
        .collect();
    member_tags(replacement, &registered, incident)
}

/// The tags that remember, for `incident`, those of `memberships` naming `original` that its
/// tags do not remember yet, numbered after this incident's (so an earlier incident's are
/// overwritten rather than piling up); empty when nothing is new.
pub fn member_tags(
    original: &Instance,
    memberships: &[Membership],
    incident: &str,
) -> Vec<(String, String)> {
    let known = remembered_with_keys(original, incident);
    let mut next = known.iter().map(|(n, _)| *n).max().unwrap_or(0);
    let mut new = Vec::new();
    for m in memberships.iter().filter(|m| m.names(original)) {
        let value = member_value(m, incident);
        if known.iter().any(|(_, k)| same_registration(k, m))
            || new.iter().any(|(_, v)| *v == value)
        {
            continue;
        }
        next += 1;
        new.push((format!("{}{next}", tags::MEMBER_PREFIX), value));
    }
    new
}

/// `<target group ARN> <instance|ip> <target id> <port|-> <zone|-> <incident>`: at most about
/// 235 characters (the longest ARN, an IPv6 target), within EC2's 256 for a tag value.
fn member_value(m: &Membership, incident: &str) -> String {
    let kind = match m.kind {
        TargetKind::Instance => "instance",
        TargetKind::Ip => "ip",
    };
    format!(
        "{} {kind} {} {} {} {incident}",
        m.target_group_arn,
        m.target.id,
        m.target
            .port
            .map_or_else(|| "-".to_owned(), |p| p.to_string()),
        m.target.availability_zone.as_deref().unwrap_or("-")
    )
}

fn parse_member(value: &str) -> Option<(Membership, &str)> {
    let mut parts = value.split_whitespace();
    let (arn, kind, id, port, zone, incident) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    let kind = match kind {
        "instance" => TargetKind::Instance,
        "ip" => TargetKind::Ip,
        _ => return None,
    };
    let membership = Membership {
        target_group_arn: arn.into(),
        kind,
        target: Target {
            id: id.to_owned(),
            port: if port == "-" {
                None
            } else {
                Some(port.parse().ok()?)
            },
            availability_zone: (zone != "-").then(|| zone.to_owned()),
        },
    };
    Some((membership, incident))
}

/// How one move ended.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct MoveOutcome {
    /// The move.
    #[serde(flatten)]
    pub planned: Move,
    /// The replacement is registered (now or before).
    pub registered: bool,
    /// The last health state seen for the replacement.
    pub health: Option<TargetHealth>,
    /// The original is deregistered.
    pub deregistered: bool,
    /// What went wrong or needs saying (timeouts, errors).
    pub note: Option<String>,
}

impl MoveOutcome {
    /// Whether the replacement was seen healthy.
    pub fn is_healthy(&self) -> bool {
        self.health == Some(TargetHealth::Healthy)
    }
}

/// The move's note when its replacement could not be registered in `group`: the original
/// stays registered (skipped when the group is gone).
pub fn not_registered(group: &TargetGroupArn, error: &crate::error::AwsError) -> String {
    if error.code == "TargetGroupNotFound" {
        format!("target group {group} no longer exists (deleted since it was read): skipped")
    } else {
        format!(
            "registration failed, original left registered: {error}. {}",
            error.kind.advice()
        )
    }
}

/// The move's note once its registered replacement was waited on for `waited_seconds`:
/// `unread`, why its health could not be read; else its `health` when not healthy (`unused`
/// said apart: it needs a person). None when healthy.
pub fn health_note(
    group: &TargetGroupArn,
    unread: Option<&str>,
    health: Option<&TargetHealth>,
    waited_seconds: u64,
) -> Option<String> {
    if let Some(unread) = unread {
        return Some(format!("{unread}; original deregistered anyway"));
    }
    match health {
        Some(TargetHealth::Healthy) => None,
        Some(TargetHealth::Unused) => Some(format!(
            "registered in {group}, but ELB reports it unused: the target group is not used by a listener rule of a load balancer, or the replacement's Availability Zone is not enabled on the load balancer, so traffic will not reach it until that is fixed; the original was deregistered because its Outpost is down"
        )),
        other => Some(format!(
            "replacement not healthy after {waited_seconds} s (last state: {}); original deregistered anyway because its Outpost is down",
            other.map_or("unknown", TargetHealth::as_str)
        )),
    }
}

/// The move's note when its original could not be deregistered.
pub fn still_registered(error: &crate::error::AwsError) -> String {
    format!(
        "original still registered: {error}. {}",
        error.kind.advice()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::PrivateAddress;

    const TG: &str =
        "arn:aws:elasticloadbalancing:us-east-1:111122223333:targetgroup/web/0123456789abcdef";
    const INCIDENT: &str = "op-0aaaaaaaaaaaaaaa1-20261124T031000Z-0123abcd";
    const TG_IP: &str =
        "arn:aws:elasticloadbalancing:us-east-1:111122223333:targetgroup/api/0123456789abcdef";

    fn instance(id: &str, ip: &str) -> Instance {
        Instance {
            id: id.into(),
            state: "running".into(),
            addresses: vec![PrivateAddress {
                device_index: 0,
                ip: ip.into(),
            }],
            ..Instance::default()
        }
    }

    fn member(
        group: &str,
        kind: TargetKind,
        id: &str,
        port: Option<i32>,
        zone: Option<&str>,
    ) -> Membership {
        Membership {
            target_group_arn: group.into(),
            kind,
            target: Target {
                id: id.into(),
                port,
                availability_zone: zone.map(str::to_owned),
            },
        }
    }

    #[test]
    fn registrations_are_remembered_once_each_and_read_back() {
        let mut original = instance("i-1", "10.0.0.5");
        let read = [
            member(
                TG,
                TargetKind::Instance,
                "i-1",
                Some(80),
                Some("us-east-1a"),
            ),
            member(TG_IP, TargetKind::Ip, "10.0.0.5", Some(8080), Some("all")),
            member(TG, TargetKind::Instance, "i-other", Some(80), None),
        ];
        let new = member_tags(&original, &read, INCIDENT);
        assert_eq!(new.len(), 2, "only the original's: {new:?}");
        assert_eq!(new[0].0, "autorestart:member-1");
        assert!(new.iter().all(|(_, v)| v.len() <= 256));
        original.tags.extend(new);
        assert!(
            member_tags(&original, &read, INCIDENT).is_empty(),
            "remembered already"
        );
        let mut back = remembered(&original, INCIDENT);
        back.sort_by(|a, b| a.target_group_arn.cmp(&b.target_group_arn));
        assert_eq!(back, vec![read[1].clone(), read[0].clone()]);

        // A registration added later gets the next number.
        let more = [member(TG, TargetKind::Instance, "i-1", Some(443), None)];
        assert_eq!(
            member_tags(&original, &more, INCIDENT)[0].0,
            "autorestart:member-3"
        );
        // A tag mangled by hand is passed over, not misread.
        original
            .tags
            .insert("autorestart:member-9".into(), "nonsense".into());
        assert_eq!(remembered(&original, INCIDENT).len(), 2);
        assert!(!tags::travels_to_replacement("autorestart:member-1"));

        // A later incident remembers afresh, over the earlier one's keys; the earlier ones
        // are history, not places to register.
        let later = "op-0aaaaaaaaaaaaaaa1-20261201T000000Z-89abcdef";
        assert!(remembered(&original, later).is_empty());
        let again = member_tags(&original, &read[..1], later);
        assert_eq!(again[0].0, "autorestart:member-1");
        original.tags.extend(again);
        assert_eq!(remembered(&original, later), vec![read[0].clone()]);
        assert_eq!(
            remembered(&original, INCIDENT).len(),
            1,
            "member-2 is left over"
        );

        // The longest ARN and an IPv6 target still fit a tag value.
        let long = member(
            "arn:aws-us-gov:elasticloadbalancing:us-gov-west-1:123456789012:targetgroup/abcdefghijabcdefghijabcdefghijab/0123456789abcdef",
            TargetKind::Ip,
            "2600:1f18:aaaa:bbbb:cccc:dddd:eeee:ffff",
            Some(65535),
            Some("all"),
        );
        assert!(member_value(&long, INCIDENT).len() <= 256);
    }

    #[test]
    fn a_replacement_of_a_dead_replacement_is_registered_where_the_original_was() {
        // The original was deregistered by the first move; its first replacement died and ELB
        // dropped it. Only the original's tags still say where it belongs.
        let mut original = instance("i-1", "10.0.0.5");
        let was = [
            member(TG, TargetKind::Instance, "i-1", Some(80), None),
            member(TG_IP, TargetKind::Ip, "10.0.0.5", Some(8080), None),
        ];
        original.tags.extend(member_tags(&original, &was, INCIDENT));
        let mut second = instance("i-r2", "10.0.1.9");
        second.tags.insert(tags::INCIDENT.into(), INCIDENT.into());
        let (moves, unmovable) = plan_moves(&[], &[(&original, &second)], &TargetGroupScope::All);
        assert!(unmovable.is_empty());
        let planned: Vec<(&str, &str, bool, bool)> = moves
            .iter()
            .map(|m| {
                (
                    m.target_group_arn.as_str(),
                    m.to.id.as_str(),
                    m.already_registered,
                    m.from_registered,
                )
            })
            .collect();
        assert_eq!(
            planned,
            [
                (TG, "i-r2", false, false),
                (TG_IP, "10.0.1.9", false, false)
            ]
        );
        // Once registered, nothing is left to do.
        let now = [
            member(TG, TargetKind::Instance, "i-r2", Some(80), None),
            member(TG_IP, TargetKind::Ip, "10.0.1.9", Some(8080), None),
        ];
        let all = TargetGroupScope::All;
        assert!(plan_moves(&now, &[(&original, &second)], &all).0.is_empty());
        // Out of the agent's scope, a remembered group is left alone.
        let only_web = TargetGroupScope::Only(vec![TG.into()]);
        let (moves, _) = plan_moves(&[], &[(&original, &second)], &only_web);
        assert_eq!(moves.len(), 1);
        assert_eq!(moves[0].target_group_arn, TG);
    }

    #[test]
    fn a_dead_replacements_remembered_ip_registration_moves_to_the_next_and_is_deregistered() {
        let original = instance("i-1", "10.0.0.5");
        let mut first = instance("i-r1", "10.0.1.7");
        first.tags.insert(tags::INCIDENT.into(), INCIDENT.into());
        let moved = Move {
            target_group_arn: TG_IP.into(),
            kind: TargetKind::Ip,
            original_id: "i-1".into(),
            replacement_id: "i-r1".into(),
            from: member(TG_IP, TargetKind::Ip, "10.0.0.5", Some(8080), None).target,
            to: member(TG_IP, TargetKind::Ip, "10.0.1.7", Some(8080), None).target,
            already_registered: false,
            from_registered: true,
        };
        let record = ip_registration_tags(&first, std::slice::from_ref(&moved), INCIDENT);
        assert_eq!(record.len(), 1, "{record:?}");
        assert!(ip_registration_tags(&original, &[moved], INCIDENT).is_empty());
        first.tags.extend(record);
        // It died: EC2 no longer tells its address; ELB still holds its IP target.
        first.addresses.clear();
        first.state = "terminated".into();
        let mut second = instance("i-r2", "10.0.1.9");
        second.tags.insert(tags::INCIDENT.into(), INCIDENT.into());
        let registered = [member(TG_IP, TargetKind::Ip, "10.0.1.7", Some(8080), None)];
        let (moves, unmovable) =
            plan_moves(&registered, &[(&first, &second)], &TargetGroupScope::All);
        assert!(unmovable.is_empty(), "{unmovable:?}");
        assert_eq!(moves.len(), 1, "{moves:?}");
        assert_eq!(moves[0].from.id, "10.0.1.7");
        assert_eq!(moves[0].to.id, "10.0.1.9");
        assert!(moves[0].from_registered);
    }

    #[test]
    fn a_zone_is_sent_only_where_elb_requires_one() {
        let cases = [
            (TargetKind::Instance, Some("us-east-1a"), None),
            (TargetKind::Instance, Some("all"), None),
            (TargetKind::Ip, Some("us-east-1a"), None),
            (TargetKind::Ip, Some("all"), Some("all")),
            (TargetKind::Ip, None, None),
        ];
        for (kind, zone, expected) in cases {
            let target = Target {
                id: "x".into(),
                port: None,
                availability_zone: zone.map(str::to_owned),
            };
            assert_eq!(
                zone_for_request(kind, &target).as_deref(),
                expected,
                "{kind:?} {zone:?}"
            );
        }
        let original = instance("i-1", "10.0.0.5");
        let read = [member(
            TG,
            TargetKind::Instance,
            "i-1",
            Some(80),
            Some("us-east-1a"),
        )];
        let pairs = [(&original, &instance("i-r", "10.0.1.1"))];
        let (moves, _) = plan_moves(&read, &pairs, &TargetGroupScope::All);
        assert_eq!(moves[0].to.availability_zone, None);
        assert_eq!(moves[0].from.availability_zone, None);
    }

    #[test]
    fn a_moved_membership_is_noted_unless_its_replacement_is_healthy() {
        let group: TargetGroupArn = TG.into();
        let cases: [(Option<&str>, Option<TargetHealth>, Option<&str>); 5] = [
            (None, Some(TargetHealth::Healthy), None),
            (
                None,
                Some(TargetHealth::Unused),
                Some("ELB reports it unused"),
            ),
            (
                None,
                Some(TargetHealth::Unhealthy),
                Some("not healthy after 30 s (last state: unhealthy)"),
            ),
            (None, None, Some("(last state: unknown)")),
            (
                Some("health unreadable"),
                Some(TargetHealth::Healthy),
                Some("health unreadable; original deregistered anyway"),
            ),
        ];
        for (unread, health, expected) in cases {
            let note = health_note(&group, unread, health.as_ref(), 30);
            match expected {
                None => assert_eq!(note, None),
                Some(expected) => assert!(
                    note.as_deref().is_some_and(|n| n.contains(expected)),
                    "{note:?}"
                ),
            }
        }
    }

    #[test]
    fn a_failed_registration_in_a_deleted_group_is_skipped_not_failed() {
        let group: TargetGroupArn = TG.into();
        let gone = crate::error::AwsError::from_code(
            "elbv2:RegisterTargets",
            "TargetGroupNotFound",
            "gone",
        );
        assert!(not_registered(&group, &gone).ends_with("(deleted since it was read): skipped"));
        let denied =
            crate::error::AwsError::from_code("elbv2:RegisterTargets", "AccessDenied", "no");
        assert!(
            not_registered(&group, &denied)
                .starts_with("registration failed, original left registered")
        );
    }
}
