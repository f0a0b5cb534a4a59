//! What was read from AWS, as plain values the planners decide on.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::tags;

/// An EC2 instance as far as recovery cares.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Instance {
    /// `i-…`
    pub id: String,
    /// EC2 state name: pending, running, stopping, stopped, shutting-down, terminated.
    pub state: String,
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
        !matches!(self.state.as_str(), "terminated" | "shutting-down")
    }

    /// Whether the instance opted in with `autorestart:enabled=true` and is no drill copy
    /// (drill copies carry the opt-in tag for IAM, but are never protected themselves).
    pub fn is_opted_in(&self) -> bool {
        tags::is_opted_in(self.tag(tags::ENABLED)) && self.tag(tags::DRILL).is_none()
    }

    /// Whether the instance is pending or running: on its way to serve, or serving.
    pub fn is_starting_or_running(&self) -> bool {
        matches!(self.state.as_str(), "pending" | "running")
    }

    /// Whether the instance runs.
    pub fn is_running(&self) -> bool {
        self.state == "running"
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
