//! A function's configuration, read once at cold start from the variables template.yaml sets.

use std::time::Duration;

use autorestart_core::settings::FenceAction;
use autorestart_core::settings::HealthWait;
use autorestart_core::settings::Settings;
use autorestart_core::settings::{Mode, Place};
use autorestart_flows::ports::TargetGroupScope;

/// The metrics namespace when `METRICS_NAMESPACE` is unset.
const DEFAULT_NAMESPACE: &str = "OutpostsAutorestart";

/// A variable that is missing or holds a bad value; the message names the variable and the fix.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("environment variable {variable} {problem}")]
pub struct ConfigError {
    variable: &'static str,
    problem: String,
}

/// Everything the function needs besides AWS credentials.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// SNS topic for notices.
    pub topic_arn: String,
    /// Agent settings.
    pub settings: Settings,
    /// CloudWatch namespace of the embedded-format metrics.
    pub metrics_namespace: String,
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads variables through `lookup`, so tests need not touch the process environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| {
            lookup(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let topic_arn = topic_arn(&get)?;
        let mode = mode(&get)?;
        let defaults = Settings::default();
        let concurrency = number(
            &get,
            "MAX_CONCURRENCY",
            defaults.concurrency as u64,
            1,
            1000,
        )?;
        let timeout = number(
            &get,
            "HEALTH_WAIT_SECONDS",
            defaults.health_wait.timeout.as_secs(),
            0,
            840,
        )?;
        let poll = number(
            &get,
            "HEALTH_POLL_SECONDS",
            defaults.health_wait.poll_interval.as_secs(),
            1,
            60,
        )?;
        let target_groups = target_groups(&get)?;
        let wave_wait = number(
            &get,
            "WAVE_WAIT_SECONDS",
            defaults.wave_wait.as_secs(),
            0,
            840,
        )?;
        check_one_wave_fits(wave_wait, timeout)?;
        let launch_wait = number(
            &get,
            "LAUNCH_WAIT_SECONDS",
            defaults.launch_wait.as_secs(),
            60,
            3600,
        )?;
        let fence_margin = number(
            &get,
            "FENCE_MARGIN_SECONDS",
            defaults.fence_margin.as_secs(),
            10,
            600,
        )?;
        // The template asks at least 60 s of an operator; tests go lower.
        let failback_settle = number(
            &get,
            "FAILBACK_SETTLE_SECONDS",
            defaults.failback_settle.as_secs(),
            0,
            86_400,
        )?;
        // 0 (the template's default) leaves the automatic failback off.
        let auto_failback = number(&get, "AUTO_FAILBACK_AFTER_SECONDS", 0, 0, 604_800)?;
        if auto_failback != 0 && auto_failback < failback_settle {
            return Err(ConfigError {
                variable: "AUTO_FAILBACK_AFTER_SECONDS",
                problem: format!(
                    "is {auto_failback}, shorter than FAILBACK_SETTLE_SECONDS ({failback_settle}): set 0 (off) or at least the settle time"
                ),
            });
        }
        let fence_action = match get("FENCE_ACTION") {
            None => defaults.fence_action,
            Some(text) => FenceAction::parse(&text).map_err(|problem| ConfigError {
                variable: "FENCE_ACTION",
                problem: format!("is invalid: {problem}"),
            })?,
        };
        let drs_job_minutes = number(
            &get,
            "DRS_JOB_TIMEOUT_MINUTES",
            defaults.drs_job_timeout.as_secs() / 60,
            10,
            1440,
        )?;
        let alarm_periods = number(
            &get,
            "ALARM_EVALUATION_PERIODS",
            defaults.alarm_window.as_secs() / 60,
            1,
            30,
        )?;
        let listed_templates = listed_templates(&get)?;
        let metrics_namespace = metrics_namespace(&get)?;
        let place = place(&get, &topic_arn);
        Ok(Self {
            topic_arn,
            settings: Settings {
                mode,
                concurrency: concurrency as usize,
                target_groups,
                health_wait: HealthWait {
                    timeout: Duration::from_secs(timeout),
                    poll_interval: Duration::from_secs(poll),
                },
                wave_wait: Duration::from_secs(wave_wait),
                launch_wait: Duration::from_secs(launch_wait),
                fence_margin: Duration::from_secs(fence_margin),
                failback_settle: Duration::from_secs(failback_settle),
                auto_failback_after: (auto_failback != 0)
                    .then(|| Duration::from_secs(auto_failback)),
                alarm_name_prefix: get("ALARM_NAME_PREFIX").unwrap_or_default(),
                fence_action,
                drs_job_timeout: Duration::from_secs(drs_job_minutes * 60),
                alarm_window: Duration::from_secs(alarm_periods * 60),
                listed_templates,
                place,
            },
            metrics_namespace,
        })
    }
}

type Lookup<'a> = dyn Fn(&str) -> Option<String> + 'a;

/// Where the agent runs, for its notices: Lambda sets `AWS_REGION`; the template sets
/// `STACK_NAME` and names the dashboard after the stack; the topic is the stack's own, so its
/// ARN names the account.
fn place(get: &Lookup<'_>, topic_arn: &str) -> Place {
    let stack = get("STACK_NAME").unwrap_or_default();
    Place {
        account: topic_arn.split(':').nth(4).unwrap_or_default().to_owned(),
        region: get("AWS_REGION").unwrap_or_default(),
        dashboard: stack.clone(),
        stack,
    }
}

fn topic_arn(get: &Lookup<'_>) -> Result<String, ConfigError> {
    let topic_arn = get("TOPIC_ARN").ok_or_else(|| ConfigError {
        variable: "TOPIC_ARN",
        problem: "is missing: set it to the SNS topic ARN for notifications".into(),
    })?;
    if !(topic_arn.starts_with("arn:") && topic_arn.split(':').nth(2) == Some("sns")) {
        return Err(ConfigError {
            variable: "TOPIC_ARN",
            problem: format!(
                "is {topic_arn:?}, not an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME)"
            ),
        });
    }
    Ok(topic_arn)
}

fn mode(get: &Lookup<'_>) -> Result<Mode, ConfigError> {
    let mode = match get("MODE").as_deref() {
        None | Some("recover") => Mode::Recover,
        Some("notify-only") => Mode::NotifyOnly,
        Some(other) => {
            return Err(ConfigError {
                variable: "MODE",
                problem: format!("is {other:?}: use recover or notify-only"),
            });
        }
    };
    Ok(mode)
}

fn target_groups(get: &Lookup<'_>) -> Result<TargetGroupScope, ConfigError> {
    let target_groups = match get("TARGET_GROUP_ARNS") {
        None => TargetGroupScope::All,
        Some(list) => {
            let arns: Vec<String> = list
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect();
            if let Some(bad) = arns
                .iter()
                .find(|a| !a.contains(":elasticloadbalancing:") || !a.contains(":targetgroup/"))
            {
                return Err(ConfigError {
                    variable: "TARGET_GROUP_ARNS",
                    problem: format!(
                        "holds {bad:?}, not a target group ARN; give comma-separated target group ARNs, or leave it empty for all"
                    ),
                });
            }
            if arns.is_empty() {
                TargetGroupScope::All
            } else {
                TargetGroupScope::Only(arns.into_iter().map(Into::into).collect())
            }
        }
    };
    Ok(target_groups)
}

/// One wave's waits plus the time kept to report must fit in one invocation.
fn check_one_wave_fits(wave_wait: u64, timeout: u64) -> Result<(), ConfigError> {
    let one_wave =
        Duration::from_secs(wave_wait + timeout) + autorestart_flows::budget::PUBLISH_MARGIN;
    if one_wave > autorestart_flows::budget::LAMBDA_MAX {
        return Err(ConfigError {
            variable: "WAVE_WAIT_SECONDS",
            problem: format!(
                "({wave_wait}) plus HEALTH_WAIT_SECONDS ({timeout}) plus the {} s kept to report cannot fit in Lambda's {} s: one wave would outlive the invocation. Keep their sum at most {} s (later waves are bounded by the deadline and continued by the sweep)",
                autorestart_flows::budget::PUBLISH_MARGIN.as_secs(),
                autorestart_flows::budget::LAMBDA_MAX.as_secs(),
                (autorestart_flows::budget::LAMBDA_MAX - autorestart_flows::budget::PUBLISH_MARGIN)
                    .as_secs()
            ),
        });
    }
    Ok(())
}

fn listed_templates(get: &Lookup<'_>) -> Result<Vec<String>, ConfigError> {
    let mut listed_templates = Vec::new();
    for arn in get("RECOVERY_LAUNCH_TEMPLATE_ARNS")
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        match arn.split_once(":launch-template/") {
            Some((_, id)) if id.starts_with("lt-") && !id.contains('/') => {
                listed_templates.push(id.to_owned())
            }
            _ => {
                return Err(ConfigError {
                    variable: "RECOVERY_LAUNCH_TEMPLATE_ARNS",
                    problem: format!(
                        "holds {arn:?}, not a launch template ARN (arn:aws:ec2:REGION:ACCOUNT:launch-template/lt-...); give comma-separated ARNs, or leave it empty"
                    ),
                });
            }
        }
    }
    Ok(listed_templates)
}

fn metrics_namespace(get: &Lookup<'_>) -> Result<String, ConfigError> {
    let metrics_namespace = get("METRICS_NAMESPACE").unwrap_or_else(|| DEFAULT_NAMESPACE.into());
    if metrics_namespace.starts_with("AWS/") || metrics_namespace.len() > 255 {
        return Err(ConfigError {
            variable: "METRICS_NAMESPACE",
            problem: format!(
                "is {metrics_namespace:?}: use a namespace of your own (not AWS/...), at most 255 characters"
            ),
        });
    }
    Ok(metrics_namespace)
}

fn number(
    get: &impl Fn(&str) -> Option<String>,
    variable: &'static str,
    default: u64,
    min: u64,
    max: u64,
) -> Result<u64, ConfigError> {
    let Some(text) = get(variable) else {
        return Ok(default);
    };
    match text.parse::<u64>() {
        Ok(value) if (min..=max).contains(&value) => Ok(value),
        _ => Err(ConfigError {
            variable,
            problem: format!("is {text:?}: expected a whole number from {min} to {max}"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    const TOPIC: &str = "arn:aws:sns:us-east-1:111122223333:autorestart";

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|name| vars.get(name).cloned())
    }

    #[test]
    fn defaults_apply_when_only_the_topic_is_set() {
        let c = config(&[("TOPIC_ARN", TOPIC)]).unwrap();
        assert_eq!(c.settings.mode, Mode::Recover);
        assert_eq!(c.settings.concurrency, 16);
        assert_eq!(c.settings.target_groups, TargetGroupScope::All);
        assert_eq!(c.settings.health_wait.timeout, Duration::from_secs(300));
        assert_eq!(c.settings.wave_wait, Duration::from_secs(300));
        assert_eq!(c.settings.launch_wait, Duration::from_secs(600));
        assert_eq!(c.settings.fence_action, FenceAction::Stop);
        assert_eq!(c.settings.alarm_name_prefix, "");
        assert_eq!(c.metrics_namespace, "OutpostsAutorestart");
        assert_eq!(c.settings.failback_settle, Duration::from_secs(900));
        assert_eq!(c.settings.auto_failback_after, None, "off unless asked");
    }

    #[test]
    fn the_automatic_failback_waits_at_least_the_settle_time() {
        let c = config(&[
            ("TOPIC_ARN", TOPIC),
            ("FAILBACK_SETTLE_SECONDS", "600"),
            ("AUTO_FAILBACK_AFTER_SECONDS", "3600"),
        ])
        .unwrap();
        assert_eq!(c.settings.failback_settle, Duration::from_secs(600));
        assert_eq!(
            c.settings.auto_failback_after,
            Some(Duration::from_secs(3600))
        );
        let off = config(&[("TOPIC_ARN", TOPIC), ("AUTO_FAILBACK_AFTER_SECONDS", "0")]).unwrap();
        assert_eq!(off.settings.auto_failback_after, None);
        let early = config(&[("TOPIC_ARN", TOPIC), ("AUTO_FAILBACK_AFTER_SECONDS", "300")])
            .unwrap_err()
            .to_string();
        assert!(
            early.contains("shorter than FAILBACK_SETTLE_SECONDS (900)"),
            "{early}"
        );
    }

    #[test]
    fn every_value_is_read() {
        let c = config(&[
            ("TOPIC_ARN", TOPIC),
            ("MODE", "notify-only"),
            ("MAX_CONCURRENCY", "4"),
            ("HEALTH_WAIT_SECONDS", "0"),
            ("HEALTH_POLL_SECONDS", "2"),
            ("WAVE_WAIT_SECONDS", "60"),
            ("LAUNCH_WAIT_SECONDS", "900"),
            ("FENCE_ACTION", "terminate"),
            ("DRS_JOB_TIMEOUT_MINUTES", "90"),
            ("ALARM_EVALUATION_PERIODS", "5"),
            (
                "RECOVERY_LAUNCH_TEMPLATE_ARNS",
                "arn:aws:ec2:us-east-1:111122223333:launch-template/lt-0abc, arn:aws:ec2:us-east-1:111122223333:launch-template/lt-0def",
            ),
            ("ALARM_NAME_PREFIX", "stack-connected-"),
            ("METRICS_NAMESPACE", "Ops/Autorestart"),
            ("AWS_REGION", "us-east-1"),
            ("STACK_NAME", "ops-autorestart"),
            (
                "TARGET_GROUP_ARNS",
                "arn:aws:elasticloadbalancing:us-east-1:111122223333:targetgroup/web/0123, ",
            ),
        ])
        .unwrap();
        assert_eq!(c.settings.mode, Mode::NotifyOnly);
        assert_eq!(c.settings.concurrency, 4);
        assert_eq!(c.settings.health_wait.poll_interval, Duration::from_secs(2));
        assert!(matches!(c.settings.target_groups, TargetGroupScope::Only(ref l) if l.len() == 1));
        assert_eq!(c.settings.wave_wait, Duration::from_secs(60));
        assert_eq!(c.settings.launch_wait, Duration::from_secs(900));
        assert_eq!(c.settings.fence_action, FenceAction::Terminate);
        assert_eq!(c.settings.drs_job_timeout, Duration::from_secs(90 * 60));
        assert_eq!(c.settings.alarm_window, Duration::from_secs(5 * 60));
        let place = &c.settings.place;
        assert_eq!(place.account, "111122223333", "from the topic's ARN");
        assert_eq!(place.region, "us-east-1");
        assert_eq!(place.stack, "ops-autorestart");
        assert_eq!(
            place.dashboard, "ops-autorestart",
            "the template names it after the stack"
        );
        assert_eq!(c.settings.listed_templates, ["lt-0abc", "lt-0def"]);
        assert_eq!(c.settings.alarm_name_prefix, "stack-connected-");
        assert_eq!(c.metrics_namespace, "Ops/Autorestart");
    }

    #[test]
    fn each_bad_value_names_its_variable() {
        let cases: [(&[(&str, &str)], &str); 13] = [
            (
                &[("TOPIC_ARN", TOPIC), ("LAUNCH_WAIT_SECONDS", "30")],
                "LAUNCH_WAIT_SECONDS is \"30\"",
            ),
            (
                &[
                    ("TOPIC_ARN", TOPIC),
                    ("RECOVERY_LAUNCH_TEMPLATE_ARNS", "lt-0abc"),
                ],
                "RECOVERY_LAUNCH_TEMPLATE_ARNS holds \"lt-0abc\", not a launch template ARN",
            ),
            (
                &[
                    ("TOPIC_ARN", TOPIC),
                    ("WAVE_WAIT_SECONDS", "600"),
                    ("HEALTH_WAIT_SECONDS", "300"),
                ],
                "WAVE_WAIT_SECONDS (600) plus HEALTH_WAIT_SECONDS (300) plus the 30 s kept to report cannot fit in Lambda's 900 s",
            ),
            (
                &[("TOPIC_ARN", TOPIC), ("WAVE_WAIT_SECONDS", "-1")],
                "WAVE_WAIT_SECONDS is \"-1\"",
            ),
            (
                &[("TOPIC_ARN", TOPIC), ("FENCE_ACTION", "kill")],
                "FENCE_ACTION is invalid: \"kill\" is no fence action",
            ),
            (
                &[("TOPIC_ARN", TOPIC), ("METRICS_NAMESPACE", "AWS/Outposts")],
                "METRICS_NAMESPACE is \"AWS/Outposts\"",
            ),
            (&[], "TOPIC_ARN is missing"),
            (&[("TOPIC_ARN", "my-topic")], "TOPIC_ARN is \"my-topic\""),
            (&[("TOPIC_ARN", TOPIC), ("MODE", "fix")], "MODE is \"fix\""),
            (
                &[("TOPIC_ARN", TOPIC), ("MAX_CONCURRENCY", "0")],
                "MAX_CONCURRENCY is \"0\"",
            ),
            (
                &[("TOPIC_ARN", TOPIC), ("MAX_CONCURRENCY", "many")],
                "MAX_CONCURRENCY is \"many\"",
            ),
            (
                &[("TOPIC_ARN", TOPIC), ("HEALTH_WAIT_SECONDS", "900")],
                "from 0 to 840",
            ),
            (
                &[("TOPIC_ARN", TOPIC), ("TARGET_GROUP_ARNS", "web")],
                "TARGET_GROUP_ARNS holds \"web\"",
            ),
        ];
        for (vars, expected) in cases {
            let message = config(vars).unwrap_err().to_string();
            assert!(
                message.contains(expected),
                "{message:?} should contain {expected:?}"
            );
        }
    }
}
