//! The AWS operations the in-memory AWS answers, by name: what its calls are logged as and
//! its faults are keyed by, so that a misspelt operation does not compile.

/// One AWS operation the in-memory AWS answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Op {
    /// `CreateTags`.
    CreateTags,
    /// `DeleteTags`.
    DeleteTags,
    /// `DeregisterTargets`.
    DeregisterTargets,
    /// `DescribeAlarms`.
    DescribeAlarms,
    /// `DescribeImages`.
    DescribeImages,
    /// `DescribeInstances`.
    DescribeInstances,
    /// `DescribeJobLogItems`.
    DescribeJobLogItems,
    /// `DescribeJobs`.
    DescribeJobs,
    /// `DescribeLaunchTemplateVersions`.
    DescribeLaunchTemplateVersions,
    /// `DescribeLaunchTemplates`.
    DescribeLaunchTemplates,
    /// `DescribeRecoveryInstances`.
    DescribeRecoveryInstances,
    /// `DescribeRecoverySnapshots`.
    DescribeRecoverySnapshots,
    /// `DescribeSourceServers`.
    DescribeSourceServers,
    /// `DescribeTargetHealth`.
    DescribeTargetHealth,
    /// `GetLaunchConfiguration`.
    GetLaunchConfiguration,
    /// `ListAssetInstances`.
    ListAssetInstances,
    /// `ListAssets`.
    ListAssets,
    /// `ListTagsForResource`.
    ListTagsForResource,
    /// `Publish`.
    Publish,
    /// `RegisterTargets`.
    RegisterTargets,
    /// `ReverseReplication`.
    ReverseReplication,
    /// `RunInstances`.
    RunInstances,
    /// `RunInstances` with `DryRun`: a readiness check, launching nothing.
    RunInstancesDryRun,
    /// `StartRecovery`.
    StartRecovery,
    /// `StartInstances`.
    StartInstances,
    /// `StopInstances`.
    StopInstances,
    /// `TerminateInstances`.
    TerminateInstances,
    /// `UpdateLaunchConfiguration`.
    UpdateLaunchConfiguration,
}

impl Op {
    /// The operation's name, as AWS names it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CreateTags => "CreateTags",
            Self::DeleteTags => "DeleteTags",
            Self::DeregisterTargets => "DeregisterTargets",
            Self::DescribeAlarms => "DescribeAlarms",
            Self::DescribeImages => "DescribeImages",
            Self::DescribeInstances => "DescribeInstances",
            Self::DescribeJobLogItems => "DescribeJobLogItems",
            Self::DescribeJobs => "DescribeJobs",
            Self::DescribeLaunchTemplateVersions => "DescribeLaunchTemplateVersions",
            Self::DescribeLaunchTemplates => "DescribeLaunchTemplates",
            Self::DescribeRecoveryInstances => "DescribeRecoveryInstances",
            Self::DescribeRecoverySnapshots => "DescribeRecoverySnapshots",
            Self::DescribeSourceServers => "DescribeSourceServers",
            Self::DescribeTargetHealth => "DescribeTargetHealth",
            Self::GetLaunchConfiguration => "GetLaunchConfiguration",
            Self::ListAssetInstances => "ListAssetInstances",
            Self::ListAssets => "ListAssets",
            Self::ListTagsForResource => "ListTagsForResource",
            Self::Publish => "Publish",
            Self::RegisterTargets => "RegisterTargets",
            Self::ReverseReplication => "ReverseReplication",
            Self::RunInstances => "RunInstances",
            Self::RunInstancesDryRun => "RunInstances(DryRun)",
            Self::StartRecovery => "StartRecovery",
            Self::StartInstances => "StartInstances",
            Self::StopInstances => "StopInstances",
            Self::TerminateInstances => "TerminateInstances",
            Self::UpdateLaunchConfiguration => "UpdateLaunchConfiguration",
        }
    }
}

impl std::fmt::Display for Op {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
