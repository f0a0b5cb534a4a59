//! Carrying out the machine's actions: the marker file and the fence and resume commands.
//!
//! The marker file records that the instance is fenced, so that a reboot or a restart of the
//! sentinel stays fenced. One line per event, each starting with the UNIX time:
//! `<time> fenced: <reason>`, then `<time> replaced-by <id>` once a replacement is seen.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tracing::{error, info, warn};

use crate::machine::Marker;

/// The word before a replacement's id in the marker file.
const REPLACED_BY: &str = "replaced-by";

/// How long a fence or resume command may run before it is killed and counted as failed.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(120);

/// Fences: writes the marker file unless it is there, then runs `command`. Returns whether
/// both succeeded (if not, both are to be done again: a reboot must stay fenced).
pub fn fence(marker: &Path, command: &[String], reason: &str) -> bool {
    let marked = match write_marker(marker, reason) {
        Ok(()) => true,
        Err(err) => {
            error!(marker = %marker.display(), "cannot write the marker file: {err}");
            false
        }
    };
    run("fence", command) && marked
}

/// Resumes: removes the marker file, then runs `command` if any. The marker goes first, so
/// that units with `ConditionPathExists=!<marker>` can start. Returns whether both succeeded
/// (if not, both are to be done again).
pub fn resume(marker: &Path, command: Option<&[String]>) -> bool {
    let unmarked = match fs::remove_file(marker) {
        Ok(()) => true,
        Err(err) if err.kind() == io::ErrorKind::NotFound => true,
        Err(err) => {
            error!(marker = %marker.display(), "cannot remove the marker file: {err}");
            false
        }
    };
    unmarked && command.is_none_or(|command| run("resume", command))
}

/// Records the replacement in the marker file, so that a restart stays fenced for good.
pub fn note_replacement(marker: &Path, id: &str) {
    let line = format!("{} {REPLACED_BY} {id}\n", unix_time());
    let appended = OpenOptions::new()
        .append(true)
        .create(true)
        .open(marker)
        .and_then(|mut file| {
            file.write_all(line.as_bytes())
                .and_then(|()| file.sync_all())
        });
    if let Err(err) = appended {
        error!(marker = %marker.display(), "cannot record the replacement: {err}");
    }
}

/// What the marker file says. A marker that cannot be read counts as fenced.
pub fn read_marker(marker: &Path) -> Marker {
    match fs::read_to_string(marker) {
        Ok(text) => parse_marker(&text),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Marker::Absent,
        Err(err) => {
            warn!(marker = %marker.display(), "cannot read the marker file, so fenced: {err}");
            Marker::Fenced
        }
    }
}

/// The marker file's text as a [`Marker`]: the last replacement it names, if any.
fn parse_marker(text: &str) -> Marker {
    let replaced = text.lines().rev().find_map(|line| {
        let mut words = line.split_whitespace().skip(1);
        match (words.next(), words.next()) {
            (Some(REPLACED_BY), Some(id)) => Some(id.to_owned()),
            _ => None,
        }
    });
    replaced.map_or(Marker::Fenced, Marker::Replaced)
}

/// Creates the marker file (and its folder) with a line saying when and why, unless it
/// exists; flushed to disk, since a power cut may follow.
fn write_marker(marker: &Path, reason: &str) -> io::Result<()> {
    if let Some(folder) = marker.parent() {
        fs::create_dir_all(folder)?;
    }
    let mut file = match OpenOptions::new().write(true).create_new(true).open(marker) {
        Ok(file) => file,
        Err(err) if err.kind() == io::ErrorKind::AlreadyExists => return Ok(()),
        Err(err) => return Err(err),
    };
    file.write_all(format!("{} fenced: {reason}\n", unix_time()).as_bytes())?;
    file.sync_all()
}

/// Runs `argv` and logs how it ended; returns whether it succeeded.
fn run(what: &str, argv: &[String]) -> bool {
    let Some((program, args)) = argv.split_first() else {
        return true;
    };
    let mut child = match Command::new(program).args(args).spawn() {
        Ok(child) => child,
        Err(err) => {
            error!(command = ?argv, "{what} command could not run: {err}");
            return false;
        }
    };
    let started = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => {
                info!(command = ?argv, "{what} command done");
                return true;
            }
            Ok(Some(status)) => {
                error!(command = ?argv, "{what} command failed: {status}");
                return false;
            }
            Ok(None) if started.elapsed() >= COMMAND_TIMEOUT => {
                let _ = child.kill();
                let _ = child.wait();
                error!(command = ?argv, "{what} command killed after {} s", COMMAND_TIMEOUT.as_secs());
                return false;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(50)),
            Err(err) => {
                error!(command = ?argv, "{what} command could not be waited for: {err}");
                return false;
            }
        }
    }
}

/// Seconds since the UNIX epoch.
fn unix_time() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_marker_names_the_last_replacement() {
        assert_eq!(
            parse_marker("1700000000 fenced: the Region unreachable for 30.0 s\n"),
            Marker::Fenced
        );
        assert_eq!(parse_marker(""), Marker::Fenced);
        assert_eq!(
            parse_marker("1 fenced: x\n2 replaced-by i-0a\n3 replaced-by i-0b\n"),
            Marker::Replaced("i-0b".to_owned())
        );
    }

    #[test]
    fn fence_and_resume_keep_the_marker() {
        let dir = std::env::temp_dir().join(format!("sentinel-fence-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let marker = dir.join("state").join("fenced");
        assert_eq!(read_marker(&marker), Marker::Absent);
        assert!(fence(&marker, &["true".to_owned()], "testing"));
        assert_eq!(read_marker(&marker), Marker::Fenced);
        assert!(
            !fence(&marker, &["false".to_owned()], "again"),
            "a failed command"
        );
        let text = fs::read_to_string(&marker).unwrap();
        assert!(text.ends_with(" fenced: testing\n"), "written once: {text}");
        note_replacement(&marker, "i-0new");
        assert_eq!(read_marker(&marker), Marker::Replaced("i-0new".to_owned()));
        assert!(resume(&marker, Some(&["true".to_owned()])));
        assert_eq!(read_marker(&marker), Marker::Absent);
        assert!(
            !resume(&marker, Some(&["false".to_owned()])),
            "a failed command"
        );
        fs::remove_dir_all(&dir).unwrap();
    }
}
