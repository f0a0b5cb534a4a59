//! `autorestart-sentinel`: fences an EC2 instance on an AWS Outposts server when the Outpost's
//! service link to the Region is lost, and resumes it only once the Region confirms that no
//! replacement was launched.
//!
//! While the link is down the instance keeps running locally, and the autorestart agent in the
//! Region may launch a replacement elsewhere: two live copies of one workload. The sentinel
//! probes a target reachable only through the service link. Once the Region has been
//! unreachable for T seconds (`fence_after_seconds`, the T of the instance's tag
//! `autorestart:on-link-loss=self-fenced:T`), it writes a marker file and runs the fence
//! command (by default `systemctl stop` on the workload's units).
//!
//! When the link is back, it reads the instance's tags through IMDSv2 on every probe. Once the
//! link has been back for the settle time with no `autorestart:replaced-by` tag, it removes the
//! marker file and runs the resume command. A replacement seen at any time keeps the instance
//! fenced for good: the agent stops it, and only a person removing the marker file (then
//! restarting the sentinel) lets it serve again. With the marker file present at start (after
//! a reboot), the sentinel starts fenced and runs the fence command again at once.
//!
//! The decisions are in `machine`, pure; this file runs the loop and carries them out. Logs go
//! to stderr, which systemd's journal keeps (`RUST_LOG` sets the level; `info` by default).
//! Exit code 2: a bad argument or configuration, with the reason on stderr.

mod config;
mod fence;
mod imds;
mod machine;
mod probe;

use std::path::PathBuf;
use std::process::ExitCode;
use std::thread;
use std::time::{Duration, Instant};

use tracing::{debug, info, warn};
use tracing_subscriber::EnvFilter;

use crate::config::Config;
use crate::machine::{Action, Input, Lookup, State, Timing, step};

/// Where the configuration file is unless `--config` says otherwise.
const DEFAULT_CONFIG: &str = "/etc/autorestart-sentinel.toml";

/// The help text.
const USAGE: &str = "\
Usage: autorestart-sentinel [--config PATH]

Fences this instance when its Outpost's service link to the Region is lost, and resumes it
once the Region confirms that no replacement was launched.

Options:
  --config PATH  the configuration file (default: /etc/autorestart-sentinel.toml)
  -h, --help     print this help
";

fn main() -> ExitCode {
    let path = match parse_args(std::env::args().skip(1)) {
        Ok(Some(path)) => path,
        Ok(None) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("autorestart-sentinel: {message}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let config = match Config::load(&path) {
        Ok(config) => config,
        Err(err) => {
            eprintln!(
                "autorestart-sentinel: refused: the configuration {}: {err}",
                path.display()
            );
            return ExitCode::from(2);
        }
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_env_filter(filter)
        .init();
    Sentinel::new(config).run()
}

/// The configuration file's path from the arguments; `None` for `--help`.
fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Option<PathBuf>, String> {
    let mut path = PathBuf::from(DEFAULT_CONFIG);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            "--config" => {
                path = args
                    .next()
                    .map(PathBuf::from)
                    .ok_or("--config needs a path")?
            }
            other => match other.strip_prefix("--config=") {
                Some(value) => path = PathBuf::from(value),
                None => return Err(format!("unknown argument `{other}`")),
            },
        }
    }
    Ok(Some(path))
}

/// The running sentinel: the machine's state and what carrying out its actions needs.
struct Sentinel {
    config: Config,
    timing: Timing,
    /// Time zero of the machine's clock.
    start: Instant,
    state: State,
    /// The fence (marker and command) has not succeeded since the instance fenced: again.
    fence_pending: bool,
    /// The resume (marker removed, command) has not succeeded since the instance resumed.
    resume_pending: bool,
    /// The last probe's result, to log the link's changes; `None` before the first probe.
    link_up: Option<bool>,
}

impl Sentinel {
    /// A sentinel starting now, fenced if the marker file says so.
    fn new(config: Config) -> Self {
        let timing = Timing {
            fence_after: config.fence_after,
            settle: config.settle,
            steady: config.steady,
        };
        let state = State::starting(Duration::ZERO, fence::read_marker(&config.marker));
        Sentinel {
            config,
            timing,
            start: Instant::now(),
            state,
            fence_pending: false,
            resume_pending: false,
            link_up: None,
        }
    }

    /// Probes every `probe_interval`, for ever.
    fn run(mut self) -> ! {
        info!(
            probe = %self.config.probe,
            imds = %self.config.imds,
            marker = %self.config.marker.display(),
            "sentinel started: fencing after {} without the Region, resuming after {} with it back",
            seconds(self.timing.fence_after),
            seconds(self.timing.settle),
        );
        if let State::Fenced { replaced, .. } = &self.state {
            match replaced {
                Some(id) => warn!(
                    "starting fenced: the marker file records the replacement {id}; this \
                     instance stays fenced until a person removes the file"
                ),
                None => warn!(
                    "starting fenced: the marker file is there; waiting for the Region to \
                     confirm that no replacement exists"
                ),
            }
            if self.config.fence_at_start {
                self.fence_pending = true;
            } else {
                info!("not powering off again: the marker file keeps the workload down");
            }
        }
        loop {
            let began = Instant::now();
            if self.fence_pending {
                let reason = "still fenced; the fence command is run again";
                self.fence_pending =
                    !fence::fence(&self.config.marker, &self.config.fence_command, reason);
            }
            if self.resume_pending {
                info!("the resume did not finish; running it again");
                self.resume_pending =
                    !fence::resume(&self.config.marker, self.config.resume_command.as_deref());
            }
            let reachable = probe::reachable(&self.config.probe_addrs, self.config.probe_timeout);
            self.observe(reachable);
            thread::sleep(self.config.probe_interval.saturating_sub(began.elapsed()));
        }
    }

    /// Logs a change of the link, then feeds the probe's result to the machine.
    fn observe(&mut self, reachable: bool) {
        let now = self.start.elapsed();
        let was_up = self.link_up.replace(reachable);
        if was_up != Some(reachable) {
            self.log_link(reachable, was_up.is_none());
        }
        self.apply(&Input::Probe { reachable }, now);
    }

    /// Logs that the link is up or down, and what follows in the current state.
    fn log_link(&self, reachable: bool, first: bool) {
        let probe = &self.config.probe;
        match (&self.state, reachable) {
            (State::Starting { .. }, true) => {
                info!("the Region answers at {probe}; checking that no replacement exists")
            }
            (State::Starting { .. }, false) => warn!(
                "no link to the Region at start: fencing after {} unless the Region confirms that no replacement exists",
                seconds(self.timing.confirm_within())
            ),
            (State::Serving { .. }, true) if first => info!("the Region answers at {probe}"),
            (State::Serving { .. }, true) => info!("link to the Region back before the fence time"),
            (State::Serving { .. }, false) => {
                let what = if first {
                    "no link to the Region at start"
                } else {
                    "link to the Region lost"
                };
                let fence_after = seconds(self.timing.fence_after);
                warn!(
                    "{what}: {probe} does not answer; fencing after {fence_after} unless it does"
                );
            }
            (State::Fenced { replaced, .. }, true) => match replaced {
                Some(id) => info!("link back; the replacement {id} exists: staying fenced"),
                None => info!("link back; checking for a replacement"),
            },
            (State::Fenced { .. }, false) => warn!("the Region does not answer; staying fenced"),
        }
    }

    /// Steps the machine with `input` at `now` and carries out the action.
    fn apply(&mut self, input: &Input, now: Duration) {
        let reason = match &self.state {
            State::Serving {
                last_reachable,
                counting_from,
                ..
            } => format!(
                "the Region unreachable for {}",
                seconds(now.saturating_sub(counting_from.unwrap_or(*last_reachable)))
            ),
            State::Starting { since } => format!(
                "no confirmation from the Region {} after start that no replacement exists",
                seconds(now.saturating_sub(*since))
            ),
            State::Fenced { .. } => String::new(),
        };
        let (state, action) = step(&self.state, input, now, &self.timing);
        self.state = state;
        match action {
            Action::Nothing => {}
            Action::Fence => {
                let reason = match &self.state {
                    State::Fenced {
                        replaced: Some(id), ..
                    } => format!("the replacement {id} exists"),
                    _ => reason,
                };
                warn!("fencing: {reason}");
                self.resume_pending = false;
                self.fence_pending =
                    !fence::fence(&self.config.marker, &self.config.fence_command, &reason);
            }
            Action::LookUpReplacement => {
                let lookup = imds::replacement(&self.config.imds);
                match &lookup {
                    Lookup::Absent => debug!("no replacement so far"),
                    Lookup::Present(id) => {
                        warn!(
                            "replacement {id} exists: fenced for good; the agent stops this instance once its Outpost is back"
                        );
                        fence::note_replacement(&self.config.marker, id);
                    }
                    Lookup::Unreadable(why) => {
                        warn!("cannot tell whether a replacement exists, so staying fenced: {why}")
                    }
                }
                self.apply(&Input::Replacement(lookup), now);
            }
            Action::Resume => {
                info!("no replacement after the settle time: resuming");
                self.fence_pending = false;
                self.resume_pending =
                    !fence::resume(&self.config.marker, self.config.resume_command.as_deref());
            }
        }
    }
}

/// A duration for the logs, such as `30.0 s`.
fn seconds(duration: Duration) -> String {
    format!("{:.1} s", duration.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Option<PathBuf>, String> {
        parse_args(args.iter().map(ToString::to_string))
    }

    #[test]
    fn arguments() {
        assert_eq!(parse(&[]), Ok(Some(PathBuf::from(DEFAULT_CONFIG))));
        assert_eq!(
            parse(&["--config", "/x.toml"]),
            Ok(Some(PathBuf::from("/x.toml")))
        );
        assert_eq!(
            parse(&["--config=/y.toml"]),
            Ok(Some(PathBuf::from("/y.toml")))
        );
        assert_eq!(parse(&["--help"]), Ok(None));
        assert!(parse(&["--config"]).is_err());
        assert!(parse(&["--verbose"]).is_err());
    }
}
