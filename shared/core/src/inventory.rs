//! What was read from AWS, as plain values the planners decide on.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::ids::InstanceId;
use crate::ids::TargetGroupArn;
use crate::tags::{self, TemplateRef};
use crate::vocabulary::{AssetState, InstanceState, TargetHealth};

/// An EC2 instance as far as recovery cares.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Instance {
    /// `i-…`
    pub id: InstanceId,
    /// EC2's state name.
    pub state: InstanceState,
    /// Subnet of its primary network interface.
    pub subnet_id: Option<String>,
    /// ARN of the Outpost its subnet lies on; none for a Region subnet.
    pub outpost_arn: Option<String>,
    /// Instance type, e.g. `m5.large`.
    pub instance_type: Option<String>,
    /// All of its tags.
    pub tags: BTreeMap<String, String>,
    /// Private IPv4 addresses by network-interface device index.
    pub addresses: Vec<PrivateAddress>,
    /// When EC2 launched it (or last started it), when EC2 tells.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub launched_at: Option<DateTime<Utc>>,
    /// The ClientToken of the RunInstances call that launched it, as EC2 reports it: the
    /// proof that the agent launched it (see `proof`). None when launched without one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_token: Option<String>,
}

/// One private IPv4 address and the device index of the interface that holds it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct PrivateAddress {
    /// 0 for the primary interface; 1 is the LNI on an Outposts server.
    pub device_index: i32,
    /// The address.
    pub ip: String,
}

impl Instance {
    /// The value of one tag.
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags.get(key).map(String::as_str)
    }

    /// The `Name` tag, or the id when it has none: how people know the instance.
    pub fn display_name(&self) -> &str {
        self.tag(tags::NAME).unwrap_or(&self.id)
    }

    /// Whether the instance exists in a form a recovery can stand on (not terminated or terminating).
    pub fn is_live(&self) -> bool {
        !self.state.is_gone()
    }

    /// Whether the instance opted in with `autorestart:enabled=true` and is no drill copy nor
    /// standby (both carry the opt-in tag for IAM, but are never protected themselves).
    pub fn is_opted_in(&self) -> bool {
        tags::is_opted_in(self.tag(tags::ENABLED))
            && self.tag(tags::DRILL).is_none()
            && self.tag(tags::STANDBY_FOR).is_none()
    }

    /// Whether the instance is pending or running: on its way to serve, or serving.
    pub fn is_starting_or_running(&self) -> bool {
        self.state.is_starting_or_running()
    }

    /// Whether the instance runs.
    pub fn is_running(&self) -> bool {
        self.state == InstanceState::Running
    }

    /// The device index of the interface holding `ip`, if the instance holds it.
    pub fn device_index_of(&self, ip: &str) -> Option<i32> {
        self.addresses
            .iter()
            .find(|a| a.ip == ip)
            .map(|a| a.device_index)
    }

    /// The first address on an interface at `device_index`.
    pub fn address_at(&self, device_index: i32) -> Option<&str> {
        self.addresses
            .iter()
            .find(|a| a.device_index == device_index)
            .map(|a| a.ip.as_str())
    }
}

/// Where a recovery launch template would put an instance.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum TemplateTarget {
    /// The template's primary interface targets this subnet.
    Subnet {
        /// The subnet.
        subnet_id: String,
        /// The Outpost it lies on; none for a Region subnet.
        outpost_arn: Option<String>,
        /// The AMI the template names, if it names one.
        #[serde(skip_serializing_if = "Option::is_none")]
        image_id: Option<String>,
        /// The instance type the template names, if it names one.
        #[serde(skip_serializing_if = "Option::is_none")]
        instance_type: Option<String>,
    },
    /// The template cannot be used, and why.
    Unusable {
        /// What is wrong and what to fix.
        reason: String,
    },
}

/// A request to launch one replacement.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct LaunchRequest {
    /// The recovery launch template.
    pub template: TemplateRef,
    /// Idempotency token, one per (incident, instance, template, attempt).
    pub client_token: String,
    /// Tags for the new instance.
    pub tags: Vec<(String, String)>,
}

/// One hardware asset (a server) of an Outpost, as the Outposts API describes it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Asset {
    /// The asset id.
    pub id: String,
    /// Its compute state, when the API tells.
    pub state: Option<AssetState>,
    /// Instance types the asset is configured for, with how many.
    pub capacities: Vec<(String, i32)>,
}

/// How a target group names its targets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum TargetKind {
    /// By instance id.
    Instance,
    /// By IP address.
    Ip,
}

/// One target of a target group.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct Target {
    /// Instance id or IP address.
    pub id: String,
    /// The port, when the target overrides the group's.
    pub port: Option<i32>,
    /// Availability Zone, for IP targets outside the VPC (`all`).
    pub availability_zone: Option<String>,
}

/// A target's health as the load balancer reports it (`healthy`, `initial`, `unhealthy`, …).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct TargetState {
    /// The target.
    pub target: Target,
    /// The reported state.
    pub state: TargetHealth,
}

/// One registration in one target group.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Membership {
    /// The target group.
    pub target_group_arn: TargetGroupArn,
    /// How it names targets.
    pub kind: TargetKind,
    /// The registered target.
    pub target: Target,
}

impl Membership {
    /// Whether this registration names `instance`: by its id, or by one of its private addresses.
    pub fn names(&self, instance: &Instance) -> bool {
        self.target.id == instance.id || instance.device_index_of(&self.target.id).is_some()
    }
}

/// The registrations in the target groups of a scope, and the groups the scope names that
/// no longer exist (ELB answers `TargetGroupNotFound`): they are skipped, never an error that
/// stops the moves of the other groups or any fencing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Memberships {
    /// Every registration read.
    pub registered: Vec<Membership>,
    /// Target groups of the scope that do not exist.
    pub missing: Vec<TargetGroupArn>,
}

/// Which target groups the agent may manage.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub enum TargetGroupScope {
    /// Every instance- or IP-type target group in the account and Region.
    All,
    /// Only these target groups.
    Only(Vec<TargetGroupArn>),
}

impl TargetGroupScope {
    /// Whether the agent may change this target group.
    pub fn contains(&self, target_group_arn: &str) -> bool {
        match self {
            Self::All => true,
            Self::Only(list) => list.iter().any(|arn| arn == target_group_arn),
        }
    }
}
