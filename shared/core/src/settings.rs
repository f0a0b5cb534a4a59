//! How the agent runs: the settings a function builds from its environment.

use std::time::Duration;

use crate::inventory::TargetGroupScope;

/// Whether the agent changes things or only reports what it would do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Launch replacements and move load-balancer membership.
    Recover,
    /// Report the plan; change nothing.
    NotifyOnly,
}

/// How long to wait for replacements to turn healthy before deregistering the originals anyway.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HealthWait {
    /// Upper bound on the wait, per target group.
    pub timeout: Duration,
    /// Pause between health checks.
    pub poll_interval: Duration,
}

/// How the agent runs; built by the function from its environment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// Recover, or only report.
    pub mode: Mode,
    /// Most instances recovered (and target groups moved) at once.
    pub concurrency: usize,
    /// Target groups the agent may change.
    pub target_groups: TargetGroupScope,
    /// Wait for replacements to turn healthy.
    pub health_wait: HealthWait,
    /// Longest wait for one wave's replacements to run before the next wave starts anyway.
    pub wave_wait: Duration,
    /// How long a launched replacement may stay `pending` before it is taken as one that will
    /// not run: terminated, and launched again.
    pub launch_wait: Duration,
    /// How long after a self-fenced original must have fenced itself (its tag's T after the
    /// link was lost) its replacement may launch (`link_loss::FENCE_MARGIN`).
    pub fence_margin: Duration,
    /// How long an Outpost's alarm must have been OK before its instances fail back
    /// (`failback::SETTLE`, `FAILBACK_SETTLE_SECONDS`).
    pub failback_settle: Duration,
    /// When set, the sweep fails an Outpost's instances back by itself once its alarm has been
    /// OK this long (`AUTO_FAILBACK_AFTER_SECONDS`; off by default).
    pub auto_failback_after: Option<Duration>,
    /// The names of the ConnectedStatus alarms the sweep reads start with this.
    pub alarm_name_prefix: String,
    /// What the sweep does to an original once its Outpost is back and its replacement runs.
    pub fence_action: FenceAction,
    /// How long a DRS recovery job may run before the sweep reports it stuck (once).
    pub drs_job_timeout: Duration,
    /// A ConnectedStatus alarm's evaluation window (periods of 60 s): an alarm without data
    /// for longer is reported by the readiness check.
    pub alarm_window: Duration,
    /// Ids of hand-written recovery templates IAM lets the agent launch from
    /// (`RecoveryLaunchTemplateArns`), besides those tagged `autorestart:template-for`.
    pub listed_templates: Vec<String>,
    /// Where the agent runs, named in every notice with console links.
    pub place: Place,
}

/// Where the agent runs: what a notice names so that its reader knows which deployment
/// speaks, and what its console links need. Empty parts are left out.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Place {
    /// The AWS account id.
    pub account: String,
    /// The Region, e.g. `eu-west-1`.
    pub region: String,
    /// The CloudFormation stack of the agent.
    pub stack: String,
    /// The name of the stack's CloudWatch dashboard.
    pub dashboard: String,
}

impl Place {
    /// `stack account region`, what is known of it, for a subject.
    pub fn short(&self) -> String {
        [&self.stack, &self.account, &self.region]
            .into_iter()
            .filter(|p| !p.is_empty())
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// `stack S, account A, Region R`, what is known of it, for a notice's text.
    pub fn describe(&self) -> String {
        [
            ("stack", &self.stack),
            ("account", &self.account),
            ("Region", &self.region),
        ]
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("{k} {v}"))
        .collect::<Vec<_>>()
        .join(", ")
    }

    /// The address of `fragment` in `service`'s console in this Region; none without a Region.
    pub fn console(&self, service: &str, fragment: &str) -> Option<String> {
        (!self.region.is_empty()).then(|| {
            format!(
                "https://{r}.console.aws.amazon.com/{service}/home?region={r}#{fragment}",
                r = self.region
            )
        })
    }
}

/// The default of `Settings::drs_job_timeout`: DRS documents that an average recovered Linux
/// server boots within 5 minutes and a Windows one within 20; a job also converts and
/// launches, so three times the slower boot.
pub const DRS_JOB_TIMEOUT: Duration = Duration::from_secs(60 * 60);

impl Default for Settings {
    /// The defaults `template.yaml` documents: recover, 16 at once, every target group,
    /// 300 s health wait polled every 10 s, 300 s wave wait, every alarm, stop originals.
    fn default() -> Self {
        Self {
            mode: Mode::Recover,
            concurrency: 16,
            target_groups: TargetGroupScope::All,
            health_wait: HealthWait {
                timeout: Duration::from_secs(300),
                poll_interval: Duration::from_secs(10),
            },
            wave_wait: Duration::from_secs(300),
            launch_wait: crate::plan::LAUNCH_WAIT,
            fence_margin: crate::link_loss::FENCE_MARGIN,
            failback_settle: crate::failback::SETTLE,
            auto_failback_after: None,
            alarm_name_prefix: String::new(),
            fence_action: FenceAction::Stop,
            drs_job_timeout: DRS_JOB_TIMEOUT,
            alarm_window: Duration::from_secs(3 * 60),
            listed_templates: Vec::new(),
            place: Place::default(),
        }
    }
}

/// The AWS CLI command that sends `payload` to the stack's alarm handler (a failover or a
/// failback request), in `region` (left out when empty), its answer written to `out`.
pub fn invoke_command(payload: &str, region: &str, out: &str) -> String {
    let region = if region.is_empty() {
        String::new()
    } else {
        format!(" --region {region}")
    };
    format!(
        "aws lambda invoke{region} --function-name <the stack's AlarmHandlerFunction> --cli-binary-format raw-in-base64-out --cli-read-timeout 0 --payload '{payload}' {out}"
    )
}

/// What is done to a replaced original.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FenceAction {
    /// Stop it (its volumes stay).
    Stop,
    /// Terminate it.
    Terminate,
    /// Leave it as it is; only record and report it.
    Leave,
}

impl FenceAction {
    /// Reads `stop`, `terminate` or `leave`.
    pub fn parse(text: &str) -> Result<Self, String> {
        match text.trim() {
            "stop" => Ok(Self::Stop),
            "terminate" => Ok(Self::Terminate),
            "leave" => Ok(Self::Leave),
            other => Err(format!(
                "{other:?} is no fence action: use stop, terminate or leave"
            )),
        }
    }

    /// The action's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Stop => "stop",
            Self::Terminate => "terminate",
            Self::Leave => "leave",
        }
    }

    /// The past tense, for reports.
    pub fn done(self) -> &'static str {
        match self {
            Self::Stop => "stopped",
            Self::Terminate => "terminated",
            Self::Leave => "left running",
        }
    }
}
