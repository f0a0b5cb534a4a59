//! The configuration file (TOML), read once at start and checked before anything runs.
//!
//! See `sentinel.example.toml` for every field. A bad value stops the sentinel with a
//! [`ConfigError`] that says what to change.

use std::fmt;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// The longest fence time the instance's `autorestart:on-link-loss` tag may name: a day.
const MAX_FENCE_AFTER_SECONDS: f64 = 86_400.0;

/// Why the configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read it: {0}")]
    Read(std::io::Error),
    /// The file is not valid TOML, has an unknown field or a value of the wrong type.
    #[error("{0}")]
    Parse(Box<toml::de::Error>),
    /// No `probe`.
    #[error(
        "no `probe`: set it to a host:port the instance reaches only through the service link \
         (a VPC interface endpoint's private address or an address in a Region subnet)"
    )]
    MissingProbe,
    /// The probe target does not resolve.
    #[error("probe `{probe}` cannot be resolved: {source}")]
    ProbeUnresolved {
        /// The probe as written.
        probe: String,
        /// Why.
        source: std::io::Error,
    },
    /// The probe target resolves to no address.
    #[error("probe `{0}` resolves to no address")]
    ProbeNoAddress(String),
    /// The probe target resolves to a publicly routable address.
    #[error(
        "probe `{probe}` resolves to the public address {addr}: a public endpoint may still \
         answer through the site's local internet while the service link is down, so the \
         sentinel would never fence; probe a private address reached only through the service \
         link, or set allow_public_probe = true if this one truly is"
    )]
    PublicProbe {
        /// The probe as written.
        probe: String,
        /// The public address.
        addr: IpAddr,
    },
    /// A probe target on the instance or its host: it answers whatever the link does.
    #[error(
        "probe `{probe}` resolves to {addr}, an address on this instance or its host (loopback, link-local such as the instance metadata service, unspecified or multicast): it answers while the service link is down, so the sentinel would never fence; probe an address reached only through the service link"
    )]
    LocalProbe {
        /// The probe as written.
        probe: String,
        /// The local address.
        addr: IpAddr,
    },
    /// A time in seconds out of range.
    #[error("`{field}` must be {rule}, not {value}")]
    BadSeconds {
        /// The field.
        field: &'static str,
        /// The range it must be in.
        rule: &'static str,
        /// The value given.
        value: f64,
    },
    /// No `fence_after_seconds`.
    #[error(
        "no `fence_after_seconds`: set it to the T of the instance's tag \
         autorestart:on-link-loss=self-fenced:T"
    )]
    MissingFenceAfter,
    /// The probe timeout is not shorter than the probe interval.
    #[error(
        "`probe_timeout_seconds` ({timeout}) must be less than `probe_interval_seconds` \
         ({interval})"
    )]
    TimeoutNotBelowInterval {
        /// The timeout given.
        timeout: f64,
        /// The interval given.
        interval: f64,
    },
    /// `fence = "stop-units"` without units.
    #[error("fence = \"stop-units\" needs the systemd units to stop in `units`")]
    NoUnits,
    /// A unit name that systemctl would not take as a unit.
    #[error("unit `{0}` is not a unit name")]
    BadUnit(String),
    /// `fence = "command"` without `fence_command`.
    #[error("fence = \"command\" needs `fence_command`, the command to run as a list of words")]
    MissingFenceCommand,
    /// `fence_command` with another fence.
    #[error("`fence_command` is only used with fence = \"command\"")]
    UnusedFenceCommand,
    /// A command with no words.
    #[error("`{0}` is empty: give the program and its arguments as a list of words")]
    EmptyCommand(&'static str),
    /// An instance metadata address that is not `http://host:port`.
    #[error("imds `{0}` is not http://host or http://host:port")]
    BadImds(String),
}

/// The checked configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The probe target as written, for the logs.
    pub probe: String,
    /// The probe target's addresses: the Region counts as reachable when any answers.
    pub probe_addrs: Vec<SocketAddr>,
    /// The time from one probe to the next.
    pub probe_interval: Duration,
    /// How long a probe waits for an address to answer.
    pub probe_timeout: Duration,
    /// How long the Region may be unreachable before the instance fences itself (T).
    pub fence_after: Duration,
    /// How long the link must be back, with no replacement seen, before the instance resumes.
    pub settle: Duration,
    /// How long the link must answer without a break before a loss counts as over.
    pub steady: Duration,
    /// The command that fences: its program and arguments.
    pub fence_command: Vec<String>,
    /// The command that resumes, if any.
    pub resume_command: Option<Vec<String>>,
    /// Whether to run the fence command again when the sentinel starts fenced: not for
    /// `poweroff`, which would power the instance off before it could ask the Region.
    pub fence_at_start: bool,
    /// The file that records that the instance is fenced.
    pub marker: PathBuf,
    /// The instance metadata service.
    pub imds: Endpoint,
}

/// A plain-HTTP server address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The host name or address, without brackets for IPv6.
    pub host: String,
    /// The port.
    pub port: u16,
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// How the instance fences.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum Fence {
    /// `systemctl stop` the units.
    #[default]
    StopUnits,
    /// `systemctl poweroff`.
    Poweroff,
    /// Run `fence_command`.
    Command,
}

/// The file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    probe: Option<String>,
    #[serde(default)]
    allow_public_probe: bool,
    /// For tests only: a probe on this machine (loopback).
    #[serde(default)]
    allow_local_probe: bool,
    probe_interval_seconds: Option<f64>,
    probe_timeout_seconds: Option<f64>,
    fence_after_seconds: Option<f64>,
    settle_seconds: Option<f64>,
    steady_seconds: Option<f64>,
    #[serde(default)]
    units: Vec<String>,
    #[serde(default)]
    fence: Fence,
    fence_command: Option<Vec<String>>,
    resume_command: Option<Vec<String>>,
    marker: Option<PathBuf>,
    imds: Option<String>,
}

impl Config {
    /// Reads and checks the file at `path`; resolves the probe target.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(ConfigError::Read)?;
        Self::from_toml(&text)
    }

    /// Checks a configuration given as TOML text; resolves the probe target.
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        let raw: Raw = toml::from_str(text).map_err(|err| ConfigError::Parse(Box::new(err)))?;
        let probe = raw.probe.ok_or(ConfigError::MissingProbe)?;
        let probe_addrs = resolve_probe(&probe, raw.allow_public_probe, raw.allow_local_probe)?;

        let interval = raw.probe_interval_seconds.unwrap_or(5.0);
        let timeout = raw.probe_timeout_seconds.unwrap_or(2.0);
        let probe_interval = seconds("probe_interval_seconds", interval, Rule::Positive)?;
        let probe_timeout = seconds("probe_timeout_seconds", timeout, Rule::Positive)?;
        if probe_timeout >= probe_interval {
            return Err(ConfigError::TimeoutNotBelowInterval { timeout, interval });
        }
        let fence_after = raw
            .fence_after_seconds
            .ok_or(ConfigError::MissingFenceAfter)?;
        let fence_after = seconds("fence_after_seconds", fence_after, Rule::FenceTime)?;
        let settle = raw.settle_seconds.unwrap_or(300.0);
        let settle = seconds("settle_seconds", settle, Rule::NotNegative)?;
        let steady = raw.steady_seconds.unwrap_or(120.0);
        let steady = seconds("steady_seconds", steady, Rule::NotNegative)?;

        if let Some(unit) = raw
            .units
            .iter()
            .find(|unit| unit.trim().is_empty() || unit.starts_with('-'))
        {
            return Err(ConfigError::BadUnit(unit.clone()));
        }
        if raw.fence != Fence::Command && raw.fence_command.is_some() {
            return Err(ConfigError::UnusedFenceCommand);
        }
        let (fence_command, resume_command) = match raw.fence {
            Fence::StopUnits if raw.units.is_empty() => return Err(ConfigError::NoUnits),
            Fence::StopUnits => (
                systemctl("stop", &raw.units),
                Some(
                    raw.resume_command
                        .unwrap_or_else(|| systemctl("start", &raw.units)),
                ),
            ),
            Fence::Poweroff => (systemctl("poweroff", &[]), raw.resume_command),
            Fence::Command => (
                raw.fence_command.ok_or(ConfigError::MissingFenceCommand)?,
                raw.resume_command,
            ),
        };
        if fence_command.is_empty() {
            return Err(ConfigError::EmptyCommand("fence_command"));
        }
        if resume_command.as_ref().is_some_and(Vec::is_empty) {
            return Err(ConfigError::EmptyCommand("resume_command"));
        }

        let imds = raw.imds.as_deref().unwrap_or("http://169.254.169.254");
        Ok(Config {
            probe,
            probe_addrs,
            probe_interval,
            probe_timeout,
            fence_after,
            settle,
            steady,
            fence_command,
            resume_command,
            fence_at_start: raw.fence != Fence::Poweroff,
            marker: raw
                .marker
                .unwrap_or_else(|| PathBuf::from("/var/lib/autorestart-sentinel/fenced")),
            imds: parse_http_endpoint(imds).ok_or_else(|| ConfigError::BadImds(imds.to_owned()))?,
        })
    }
}

/// `systemctl <verb> <units...>`.
fn systemctl(verb: &str, units: &[String]) -> Vec<String> {
    ["systemctl", verb]
        .into_iter()
        .map(str::to_owned)
        .chain(units.iter().cloned())
        .collect()
}

/// The range a time in seconds must be in.
#[derive(Debug, Clone, Copy)]
enum Rule {
    Positive,
    NotNegative,
    FenceTime,
}

/// `value` seconds as a `Duration`, if it keeps `rule`.
fn seconds(field: &'static str, value: f64, rule: Rule) -> Result<Duration, ConfigError> {
    let (keeps, words) = match rule {
        Rule::Positive => (value > 0.0, "more than 0"),
        Rule::NotNegative => (value >= 0.0, "0 or more"),
        Rule::FenceTime => (
            value > 0.0 && value <= MAX_FENCE_AFTER_SECONDS,
            "more than 0 and at most 86400 (a day, the longest T the tag may name)",
        ),
    };
    let bad = ConfigError::BadSeconds {
        field,
        rule: words,
        value,
    };
    if !keeps {
        return Err(bad);
    }
    Duration::try_from_secs_f64(value).map_err(|_| bad)
}

/// The probe target's addresses, refused if any is publicly routable (unless allowed) or on
/// this instance or its host (unless allowed, for tests).
fn resolve_probe(
    probe: &str,
    allow_public: bool,
    allow_local: bool,
) -> Result<Vec<SocketAddr>, ConfigError> {
    let addrs: Vec<SocketAddr> = probe
        .to_socket_addrs()
        .map_err(|source| ConfigError::ProbeUnresolved {
            probe: probe.to_owned(),
            source,
        })?
        .collect();
    if addrs.is_empty() {
        return Err(ConfigError::ProbeNoAddress(probe.to_owned()));
    }
    if !allow_local && let Some(addr) = addrs.iter().find(|addr| is_local(addr.ip())) {
        return Err(ConfigError::LocalProbe {
            probe: probe.to_owned(),
            addr: addr.ip(),
        });
    }
    if !allow_public && let Some(addr) = addrs.iter().find(|addr| !is_private(addr.ip())) {
        return Err(ConfigError::PublicProbe {
            probe: probe.to_owned(),
            addr: addr.ip(),
        });
    }
    Ok(addrs)
}

/// Whether an address is on this instance or its host: loopback, link-local (the instance
/// metadata service among them), unspecified or multicast.
fn is_local(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            v4.is_loopback() || v4.is_link_local() || v4.is_unspecified() || v4.is_multicast()
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_local(IpAddr::V4(v4));
            }
            let link_local = v6.segments()[0] & 0xffc0 == 0xfe80;
            v6.is_loopback() || link_local || v6.is_unspecified() || v6.is_multicast()
        }
    }
}

/// Whether an address is not publicly routable: private (RFC 1918), shared (100.64/10),
/// loopback, link-local, or IPv6 unique local.
fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [first, second, ..] = v4.octets();
            let shared = first == 100 && (64..128).contains(&second);
            v4.is_private() || v4.is_loopback() || v4.is_link_local() || shared
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_private(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            let unique_local = first & 0xfe00 == 0xfc00;
            let link_local = first & 0xffc0 == 0xfe80;
            v6.is_loopback() || unique_local || link_local
        }
    }
}

/// `http://host`, `http://host:port` or `http://[v6]:port`, with an optional trailing slash.
fn parse_http_endpoint(url: &str) -> Option<Endpoint> {
    let rest = url.strip_prefix("http://")?;
    let authority = rest.strip_suffix('/').unwrap_or(rest);
    let (host, port) = match authority.strip_prefix('[') {
        Some(bracketed) => {
            let (host, after) = bracketed.split_once(']')?;
            host.parse::<std::net::Ipv6Addr>().ok()?;
            (host, after)
        }
        None => match authority.find(':') {
            Some(colon) => authority.split_at(colon),
            None => (authority, ""),
        },
    };
    let port = match port {
        "" => 80,
        _ => port.strip_prefix(':')?.parse().ok()?,
    };
    let bad_host = host.is_empty() || host.contains(['/', '@', '?', '#', ' ', '[', ']']);
    (!bad_host).then(|| Endpoint {
        host: host.to_owned(),
        port,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A valid configuration with `extra` appended.
    fn with(extra: &str) -> Result<Config, ConfigError> {
        Config::from_toml(&format!(
            "probe = \"10.1.2.3:443\"\nfence_after_seconds = 30\nunits = [\"app.service\"]\n{extra}"
        ))
    }

    #[test]
    fn a_minimal_file_takes_the_defaults() {
        let config = with("").unwrap();
        assert_eq!(
            config.probe_addrs,
            vec!["10.1.2.3:443".parse::<SocketAddr>().unwrap()]
        );
        assert_eq!(config.probe_interval, Duration::from_secs(5));
        assert_eq!(config.probe_timeout, Duration::from_secs(2));
        assert_eq!(config.fence_after, Duration::from_secs(30));
        assert_eq!(config.settle, Duration::from_secs(300));
        assert_eq!(config.steady, Duration::from_secs(120));
        assert_eq!(config.fence_command, ["systemctl", "stop", "app.service"]);
        assert_eq!(
            config.resume_command,
            Some(vec![
                "systemctl".to_owned(),
                "start".to_owned(),
                "app.service".to_owned()
            ])
        );
        assert!(config.fence_at_start);
        assert_eq!(
            config.marker,
            PathBuf::from("/var/lib/autorestart-sentinel/fenced")
        );
        assert_eq!(
            config.imds,
            Endpoint {
                host: "169.254.169.254".into(),
                port: 80
            }
        );
    }

    #[test]
    fn every_field_is_read() {
        let config = Config::from_toml(
            r#"
            probe = "[fd00::5]:443"
            probe_interval_seconds = 0.5
            probe_timeout_seconds = 0.25
            fence_after_seconds = 1.5
            settle_seconds = 0
            steady_seconds = 10
            fence = "command"
            fence_command = ["/usr/local/bin/fence", "now"]
            resume_command = ["/usr/local/bin/unfence"]
            marker = "/run/fenced"
            imds = "http://127.0.0.1:8080/"
            "#,
        )
        .unwrap();
        assert_eq!(config.probe_timeout, Duration::from_millis(250));
        assert_eq!(config.fence_after, Duration::from_millis(1500));
        assert_eq!(config.settle, Duration::ZERO);
        assert_eq!(config.steady, Duration::from_secs(10));
        assert_eq!(config.fence_command, ["/usr/local/bin/fence", "now"]);
        assert_eq!(
            config.resume_command,
            Some(vec!["/usr/local/bin/unfence".to_owned()])
        );
        assert_eq!(config.marker, PathBuf::from("/run/fenced"));
        assert_eq!(config.imds.to_string(), "127.0.0.1:8080");
    }

    #[test]
    fn the_example_file_is_valid() {
        let config = Config::from_toml(include_str!("../sentinel.example.toml")).unwrap();
        assert_eq!(config.fence_after, Duration::from_secs(120));
        assert_eq!(config.fence_command, ["systemctl", "stop", "app.service"]);
    }

    #[test]
    fn poweroff_resumes_with_nothing_and_is_not_run_again_at_start() {
        let config = with("fence = \"poweroff\"").unwrap();
        assert_eq!(config.fence_command, ["systemctl", "poweroff"]);
        assert_eq!(config.resume_command, None);
        assert!(!config.fence_at_start);
    }

    #[test]
    fn no_probe_is_refused() {
        let err =
            Config::from_toml("fence_after_seconds = 30\nunits = [\"a.service\"]").unwrap_err();
        assert!(matches!(err, ConfigError::MissingProbe), "{err}");
    }

    #[test]
    fn a_public_probe_is_refused_unless_allowed() {
        let text = "probe = \"8.8.8.8:443\"\nfence_after_seconds = 30\nunits = [\"a.service\"]\n";
        let err = Config::from_toml(text).unwrap_err();
        assert!(matches!(err, ConfigError::PublicProbe { .. }), "{err}");
        assert!(err.to_string().contains("public"));
        let allowed = Config::from_toml(&format!("{text}allow_public_probe = true")).unwrap();
        assert_eq!(
            allowed.probe_addrs,
            vec!["8.8.8.8:443".parse::<SocketAddr>().unwrap()]
        );
    }

    #[test]
    fn a_probe_on_the_instance_or_its_host_is_refused_unless_allowed_for_a_test() {
        for local in [
            "127.0.0.1:443",
            "169.254.169.254:80",
            "[::1]:443",
            "0.0.0.0:443",
        ] {
            let text =
                format!("probe = \"{local}\"\nfence_after_seconds = 30\nunits = [\"a.service\"]\n");
            let err = Config::from_toml(&text).unwrap_err();
            assert!(
                matches!(err, ConfigError::LocalProbe { .. }),
                "{local}: {err}"
            );
            assert!(err.to_string().contains("would never fence"), "{err}");
        }
        let text = "probe = \"127.0.0.1:443\"\nfence_after_seconds = 30\nunits = [\"a.service\"]\nallow_local_probe = true\n";
        assert!(Config::from_toml(text).is_ok());
    }

    #[test]
    fn private_addresses() {
        for private in [
            "10.0.0.1",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "100.64.0.1",
            "100.127.255.255",
            "127.0.0.1",
            "169.254.169.254",
            "::1",
            "fd00:ec2::254",
            "fc00::1",
            "fe80::1",
            "::ffff:10.0.0.1",
        ] {
            assert!(is_private(private.parse().unwrap()), "{private}");
        }
        for public in [
            "8.8.8.8",
            "172.32.0.1",
            "100.128.0.1",
            "0.0.0.0",
            "2600:1f18::1",
            "::ffff:8.8.8.8",
        ] {
            assert!(!is_private(public.parse().unwrap()), "{public}");
        }
    }

    #[test]
    fn a_timeout_not_below_the_interval_is_refused() {
        let err = with("probe_interval_seconds = 2\nprobe_timeout_seconds = 2").unwrap_err();
        assert!(
            matches!(err, ConfigError::TimeoutNotBelowInterval { .. }),
            "{err}"
        );
    }

    #[test]
    fn times_out_of_range_are_refused() {
        for (extra, field) in [
            ("probe_interval_seconds = 0", "probe_interval_seconds"),
            ("probe_timeout_seconds = -1", "probe_timeout_seconds"),
            ("settle_seconds = -0.5", "settle_seconds"),
            ("settle_seconds = nan", "settle_seconds"),
        ] {
            let err = with(extra).unwrap_err();
            assert!(
                matches!(err, ConfigError::BadSeconds { field: f, .. } if f == field),
                "{extra}: {err}"
            );
        }
        let no_fence_time = "probe = \"10.1.2.3:443\"\nunits = [\"a.service\"]";
        let err = Config::from_toml(no_fence_time).unwrap_err();
        assert!(matches!(err, ConfigError::MissingFenceAfter), "{err}");
        let err = Config::from_toml(&format!("{no_fence_time}\nfence_after_seconds = 86401"))
            .unwrap_err();
        assert!(matches!(err, ConfigError::BadSeconds { .. }), "{err}");
    }

    #[test]
    fn stop_units_without_units_is_refused() {
        let err =
            Config::from_toml("probe = \"10.1.2.3:443\"\nfence_after_seconds = 30").unwrap_err();
        assert!(matches!(err, ConfigError::NoUnits), "{err}");
    }

    #[test]
    fn a_unit_that_looks_like_an_option_is_refused() {
        let text = "probe = \"10.1.2.3:443\"\nfence_after_seconds = 30\nunits = [\"--all\"]";
        let err = Config::from_toml(text).unwrap_err();
        assert!(matches!(err, ConfigError::BadUnit(_)), "{err}");
    }

    #[test]
    fn fence_commands_are_checked() {
        let err = with("fence = \"command\"").unwrap_err();
        assert!(matches!(err, ConfigError::MissingFenceCommand), "{err}");
        let err = with("fence = \"command\"\nfence_command = []").unwrap_err();
        assert!(
            matches!(err, ConfigError::EmptyCommand("fence_command")),
            "{err}"
        );
        let err = with("fence_command = [\"true\"]").unwrap_err();
        assert!(matches!(err, ConfigError::UnusedFenceCommand), "{err}");
        let err = with("resume_command = []").unwrap_err();
        assert!(
            matches!(err, ConfigError::EmptyCommand("resume_command")),
            "{err}"
        );
        let err = with("fence = \"reboot\"").unwrap_err();
        assert!(matches!(err, ConfigError::Parse(_)), "{err}");
    }

    #[test]
    fn an_unknown_field_is_refused() {
        let err = with("fence_after = 30").unwrap_err();
        assert!(matches!(err, ConfigError::Parse(_)), "{err}");
        assert!(err.to_string().contains("fence_after"), "{err}");
    }

    #[test]
    fn imds_must_be_plain_http() {
        for bad in [
            "https://169.254.169.254",
            "169.254.169.254",
            "http://",
            "http://host:port",
            "http://host:80/path",
            "http://user@host",
            "http://[fd00:ec2::254",
        ] {
            let err = with(&format!("imds = \"{bad}\"")).unwrap_err();
            assert!(matches!(err, ConfigError::BadImds(_)), "{bad}: {err}");
        }
        let v6 = with("imds = \"http://[fd00:ec2::254]\"").unwrap();
        assert_eq!(v6.imds.host, "fd00:ec2::254");
        assert_eq!(v6.imds.to_string(), "[fd00:ec2::254]:80");
    }
}
