//! AWS's words for states and statuses, each parsed once where an adapter reads it: the rest
//! of the agent matches on variants, never on strings. A word this version does not know is
//! kept as `Other` (said back as AWS wrote it), never a panic.

/// Declares an enum of AWS words: its variants and `Other(String)`, `parse` and `as_str`, and
/// the conversions and comparisons with `&str` that tests and reports use.
macro_rules! aws_words {
    (
        $(#[$meta:meta])*
        $name:ident {
            $( $(#[$variant_meta:meta])* $variant:ident = $word:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $( $(#[$variant_meta])* $variant, )+
            /// A word this version does not know, as AWS wrote it.
            Other(String),
        }

        impl $name {
            /// The word as AWS writes it, parsed.
            pub fn parse(word: &str) -> Self {
                match word {
                    $( $word => Self::$variant, )+
                    other => Self::Other(other.to_owned()),
                }
            }

            /// The word as AWS writes it.
            pub fn as_str(&self) -> &str {
                match self {
                    $( Self::$variant => $word, )+
                    Self::Other(word) => word,
                }
            }
        }

        impl Default for $name {
            /// No word read (a value built in a test, or a field AWS left out).
            fn default() -> Self {
                Self::Other(String::new())
            }
        }

        impl From<&str> for $name {
            fn from(word: &str) -> Self {
                Self::parse(word)
            }
        }

        impl From<String> for $name {
            fn from(word: String) -> Self {
                Self::parse(&word)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, word: &str) -> bool {
                self.as_str() == word
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, word: &&str) -> bool {
                self.as_str() == *word
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }
    };
}

aws_words! {
    /// An EC2 instance's state name.
    InstanceState {
        /// Launching or starting.
        Pending = "pending",
        /// Running.
        Running = "running",
        /// Terminating.
        ShuttingDown = "shutting-down",
        /// Terminated (EC2 describes it for about an hour).
        Terminated = "terminated",
        /// Stopping.
        Stopping = "stopping",
        /// Stopped.
        Stopped = "stopped",
    }
}

impl InstanceState {
    /// Terminated or on its way there: nothing a recovery can stand on.
    pub fn is_gone(&self) -> bool {
        matches!(self, Self::ShuttingDown | Self::Terminated)
    }

    /// Pending or running: on its way to serve, or serving.
    pub fn is_starting_or_running(&self) -> bool {
        matches!(self, Self::Pending | Self::Running)
    }

    /// Stopping, stopped, or gone: it does not serve and will not without a start.
    pub fn is_down(&self) -> bool {
        matches!(self, Self::Stopping | Self::Stopped) || self.is_gone()
    }
}

aws_words! {
    /// A target's health as Elastic Load Balancing reports it.
    TargetHealth {
        /// Registering, or its first health checks are running.
        Initial = "initial",
        /// Passing its health checks.
        Healthy = "healthy",
        /// Failing its health checks.
        Unhealthy = "unhealthy",
        /// Unhealthy and deregistering.
        UnhealthyDraining = "unhealthy.draining",
        /// Not used by any load balancer (no listener rule, or its zone is not enabled): waiting
        /// does not change it.
        Unused = "unused",
        /// Deregistering.
        Draining = "draining",
        /// Health checks are disabled.
        Unavailable = "unavailable",
    }
}

impl TargetHealth {
    /// Healthy, or `unused` (which waiting does not change): nothing more to wait for.
    pub fn is_settled(&self) -> bool {
        matches!(self, Self::Healthy | Self::Unused)
    }
}

aws_words! {
    /// A DRS job's status.
    JobStatus {
        /// Waiting to start.
        Pending = "PENDING",
        /// Running.
        Started = "STARTED",
        /// Ended (each server's launch status says how).
        Completed = "COMPLETED",
    }
}

aws_words! {
    /// The launch status of one source server in a DRS job.
    LaunchStatus {
        /// Not started.
        Pending = "PENDING",
        /// Launching.
        InProgress = "IN_PROGRESS",
        /// Launched: a recovery instance exists.
        Launched = "LAUNCHED",
        /// Failed: the job log says why.
        Failed = "FAILED",
        /// The recovery instance was terminated.
        Terminated = "TERMINATED",
    }
}

aws_words! {
    /// A DRS source server's data replication state.
    ReplicationState {
        /// Replication stopped.
        Stopped = "STOPPED",
        /// Starting: no data yet.
        Initiating = "INITIATING",
        /// The first copy: no complete data yet.
        InitialSync = "INITIAL_SYNC",
        /// Behind, catching up.
        Backlog = "BACKLOG",
        /// Taking a snapshot.
        CreatingSnapshot = "CREATING_SNAPSHOT",
        /// Healthy: a recovery takes a fresh snapshot.
        Continuous = "CONTINUOUS",
        /// Paused.
        Paused = "PAUSED",
        /// Rescanning.
        Rescan = "RESCAN",
        /// Stalled (a dark Outpost stalls it): recover from the last snapshot.
        Stalled = "STALLED",
        /// The replication agent is disconnected.
        Disconnected = "DISCONNECTED",
        /// Waiting to ship a snapshot.
        PendingSnapshotShipping = "PENDING_SNAPSHOT_SHIPPING",
        /// Shipping a snapshot.
        ShippingSnapshot = "SHIPPING_SNAPSHOT",
    }
}

aws_words! {
    /// An Outposts server's (asset's) compute state.
    AssetState {
        /// In service: its capacity hosts instances.
        Active = "ACTIVE",
        /// Isolated from the Region.
        Isolated = "ISOLATED",
        /// Being retired.
        Retiring = "RETIRING",
    }
}

impl ReplicationState {
    /// The initial sync has not finished: nothing to launch from.
    pub fn has_no_data(&self) -> bool {
        matches!(self, Self::Initiating | Self::InitialSync)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_word_parses_to_its_variant_and_back() {
        for word in [
            "pending",
            "running",
            "shutting-down",
            "terminated",
            "stopping",
            "stopped",
        ] {
            let state = InstanceState::parse(word);
            assert!(!matches!(state, InstanceState::Other(_)), "{word}");
            assert_eq!(state.as_str(), word);
        }
        assert_eq!(TargetHealth::parse("unused"), TargetHealth::Unused);
        assert_eq!(JobStatus::parse("COMPLETED"), JobStatus::Completed);
        assert_eq!(LaunchStatus::parse("LAUNCHED"), LaunchStatus::Launched);
        assert_eq!(
            ReplicationState::parse("STALLED"),
            ReplicationState::Stalled
        );
    }

    #[test]
    fn an_unknown_word_is_kept_as_aws_wrote_it() {
        let state = InstanceState::parse("hibernating");
        assert_eq!(state, InstanceState::Other("hibernating".into()));
        assert_eq!(state.to_string(), "hibernating");
        assert!(!state.is_starting_or_running() && !state.is_gone());
        assert_eq!(
            serde_json::to_string(&LaunchStatus::parse("NEW_STATUS")).unwrap(),
            "\"NEW_STATUS\""
        );
    }
}
