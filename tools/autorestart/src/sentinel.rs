//! The install script of the sentinel (tools/sentinel): what `autorestart sentinel`
//! prints, for an instance's user data or for `sudo sh` on the instance.

/// The systemd unit the script installs, as the sentinel's crate ships it.
const UNIT: &str = include_str!("../../sentinel/autorestart-sentinel.service");

/// Where the sentinel keeps its marker while the instance is fenced (the unit's
/// `StateDirectory`).
const MARKER: &str = "/var/lib/autorestart-sentinel/fenced";

/// What the script installs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Install {
    /// The probe target, `address:port`, reached only through the service link.
    pub probe: String,
    /// The fence time T, in seconds (the instance's `self-fenced:T`).
    pub fence_after_seconds: u64,
    /// The workload's systemd units.
    pub units: Vec<String>,
    /// Where the instance fetches the binary: `s3://…` (with the AWS CLI), `https://…` (with
    /// curl), or a path on the instance.
    pub binary_url: String,
}

/// Why a script cannot be written.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum BadInstall {
    /// A value that would break out of its quoting in the script, or a unit name systemd
    /// would not take.
    #[error("{what} {value:?} is not allowed: {why}")]
    Value {
        /// Which value.
        what: &'static str,
        /// The value.
        value: String,
        /// Why.
        why: &'static str,
    },
    /// No unit to stop.
    #[error(
        "give at least one --unit: the workload's systemd units, stopped when the instance fences"
    )]
    NoUnits,
}

impl Install {
    /// The shell script: installs the binary, its configuration, its unit, and a drop-in on
    /// each workload unit so that a reboot does not start it while the instance is fenced;
    /// then enables the sentinel. Idempotent: a second run rewrites the same files.
    pub fn script(&self) -> Result<String, BadInstall> {
        self.check()?;
        let units_toml = self
            .units
            .iter()
            // TOML literal strings: a unit's systemd escapes (`\x2d`) are kept as written.
            .map(|u| format!("'{u}'"))
            .collect::<Vec<_>>()
            .join(", ");
        let fetch = match self.binary_url.split_once("://") {
            Some(("s3", _)) => format!("aws s3 cp '{}' \"$tmp\"", self.binary_url),
            Some(("https", _)) => format!("curl -fsSL -o \"$tmp\" '{}'", self.binary_url),
            _ => format!("cp '{}' \"$tmp\"", self.binary_url),
        };
        let drop_ins: String = self
            .units
            .iter()
            .map(|u| {
                format!(
                    "mkdir -p '/etc/systemd/system/{u}.d'\nprintf '[Unit]\\nConditionPathExists=!{MARKER}\\n' > '/etc/systemd/system/{u}.d/autorestart-fenced.conf'\n"
                )
            })
            .collect();
        Ok(format!(
            r#"#!/bin/sh
# Installs autorestart-sentinel (outposts-autorestart): fences this instance {t} s after its
# Outpost loses the service link to the Region; resumes when no replacement was launched.
set -eu
tmp=$(mktemp)
{fetch}
install -m 0755 "$tmp" /usr/local/bin/autorestart-sentinel
rm -f "$tmp"
cat > /etc/autorestart-sentinel.toml <<'AUTORESTART_SENTINEL_CONFIG'
probe = "{probe}"
fence_after_seconds = {t}
units = [{units_toml}]
fence = "stop-units"
AUTORESTART_SENTINEL_CONFIG
cat > /etc/systemd/system/autorestart-sentinel.service <<'AUTORESTART_SENTINEL_UNIT'
{unit}AUTORESTART_SENTINEL_UNIT
{drop_ins}systemctl daemon-reload
systemctl enable --now autorestart-sentinel
"#,
            t = self.fence_after_seconds,
            probe = self.probe,
            unit = UNIT,
        ))
    }

    fn check(&self) -> Result<(), BadInstall> {
        let bad = |what, value: &str, why| BadInstall::Value {
            what,
            value: value.to_owned(),
            why,
        };
        if self.units.is_empty() {
            return Err(BadInstall::NoUnits);
        }
        let reached_over_the_link = match self.probe.parse::<std::net::SocketAddr>() {
            Ok(addr) => private_and_remote(addr.ip()),
            Err(_) => false,
        };
        if !reached_over_the_link {
            return Err(bad(
                "probe",
                &self.probe,
                "give the private IP address and port of a target reached only through the service link, e.g. 10.0.1.25:443 (not a name, not a public, loopback or link-local address)",
            ));
        }
        for unit in &self.units {
            let ok = unit.contains('.')
                && !unit.starts_with('-')
                && unit
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.:@\\".contains(c));
            if !ok {
                return Err(bad(
                    "unit",
                    unit,
                    "give a systemd unit name, e.g. app.service",
                ));
            }
        }
        if self.binary_url.is_empty()
            || self
                .binary_url
                .chars()
                .any(|c| c == '\'' || c.is_whitespace() || c.is_control())
        {
            return Err(bad(
                "binary URL",
                &self.binary_url,
                "give s3://bucket/key, an https:// URL or a path, without quotes or spaces",
            ));
        }
        Ok(())
    }
}

/// Whether an address is private (RFC 1918, 100.64/10, IPv6 unique local) and not on the
/// instance or its host: what a probe over the service link can be.
fn private_and_remote(ip: std::net::IpAddr) -> bool {
    match ip {
        std::net::IpAddr::V4(v4) => {
            let [first, second, ..] = v4.octets();
            v4.is_private() || (first == 100 && (64..128).contains(&second))
        }
        std::net::IpAddr::V6(v6) => v6.segments()[0] & 0xfe00 == 0xfc00,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn install() -> Install {
        Install {
            probe: "10.0.1.25:443".into(),
            fence_after_seconds: 120,
            units: vec!["app.service".into(), "db@main.service".into()],
            binary_url: "s3://tools/autorestart-sentinel-aarch64".into(),
        }
    }

    #[test]
    fn the_script_installs_the_binary_its_config_its_unit_and_a_drop_in_per_unit() {
        let script = install().script().unwrap();
        assert!(script.starts_with("#!/bin/sh\n"));
        assert!(script.contains("aws s3 cp 's3://tools/autorestart-sentinel-aarch64' \"$tmp\""));
        assert!(script.contains(
            "probe = \"10.0.1.25:443\"\nfence_after_seconds = 120\nunits = ['app.service', 'db@main.service']\n"
        ));
        assert!(script.contains(UNIT), "the unit as the crate ships it");
        for unit in ["app.service", "db@main.service"] {
            assert!(script.contains(&format!(
                "printf '[Unit]\\nConditionPathExists=!{MARKER}\\n' > '/etc/systemd/system/{unit}.d/autorestart-fenced.conf'"
            )));
        }
        assert!(script.ends_with("systemctl enable --now autorestart-sentinel\n"));
    }

    #[test]
    fn the_binary_is_fetched_the_way_its_url_says() {
        for (url, fetch) in [
            (
                "https://example.internal/s",
                "curl -fsSL -o \"$tmp\" 'https://example.internal/s'",
            ),
            (
                "/opt/autorestart-sentinel",
                "cp '/opt/autorestart-sentinel' \"$tmp\"",
            ),
        ] {
            let script = Install {
                binary_url: url.into(),
                ..install()
            }
            .script()
            .unwrap();
            assert!(script.contains(fetch), "{script}");
        }
    }

    #[test]
    fn a_value_that_would_break_the_script_is_refused() {
        let cases = [
            (
                Install {
                    probe: "10.0.0.1:443\"; rm -rf /".into(),
                    ..install()
                },
                "probe",
            ),
            (
                Install {
                    probe: "sentinel.internal:443".into(),
                    ..install()
                },
                "probe",
            ),
            (
                Install {
                    probe: "169.254.169.254:80".into(),
                    ..install()
                },
                "probe",
            ),
            (
                Install {
                    probe: "8.8.8.8:443".into(),
                    ..install()
                },
                "probe",
            ),
            (
                Install {
                    units: vec!["app service".into()],
                    ..install()
                },
                "unit",
            ),
            (
                Install {
                    units: vec!["--now".into()],
                    ..install()
                },
                "unit",
            ),
            (
                Install {
                    units: Vec::new(),
                    ..install()
                },
                "--unit",
            ),
            (
                Install {
                    binary_url: "s3://b/k' ; reboot '".into(),
                    ..install()
                },
                "binary URL",
            ),
        ];
        for (install, named) in cases {
            let error = install.script().unwrap_err().to_string();
            assert!(error.contains(named), "{error}");
        }
    }
}
