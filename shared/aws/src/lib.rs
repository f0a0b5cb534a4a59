//! The ports implemented over the AWS SDK: one module per service, each a thin translation.

mod cloudwatch;
mod drs;
mod ec2;
mod elbv2;
mod outposts;
mod sdk_error;
mod sns;
mod templates;

pub use cloudwatch::CloudWatchAlarms;
pub use drs::DrsService;
pub use ec2::Ec2Compute;
pub use elbv2::ElbTargetGroups;
pub use outposts::OutpostsApi;
pub use sns::SnsNotifier;
pub use templates::Ec2Templates;

/// Most values EC2 accepts in one filter.
const MAX_FILTER_VALUES: usize = 200;
/// Reads of independent resources (templates, target groups) run at most this many at once.
const READ_CONCURRENCY: usize = 8;

/// Every port served by the AWS SDK: the agent the functions run (`Agent<Sdk>`).
pub enum Sdk {}

impl autorestart_flows::agent::Services for Sdk {
    type Compute = Ec2Compute;
    type Balancer = ElbTargetGroups;
    type Notifier = SnsNotifier;
    type Drs = DrsService;
    type Alarms = CloudWatchAlarms;
    type Outposts = OutpostsApi;
}
