//! Recovery waves (`autorestart:wave=N`): wave N+1 starts only once wave N's replacements run.
//! Grouping, here, is pure.

use std::collections::BTreeMap;

use crate::inventory::Instance;
use crate::tags;

/// Items of one wave.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Wave<T> {
    /// The wave number.
    pub number: u32,
    /// Its items, in their given order.
    pub items: Vec<T>,
}

/// Groups items by their original's wave, lowest first. An unreadable wave tag puts the
/// instance in a wave after every other (the safest order) and yields a warning for it.
pub fn group<T>(
    items: Vec<T>,
    original: impl Fn(&T) -> &Instance,
) -> (Vec<Wave<T>>, Vec<(String, String)>) {
    let parsed: Vec<(Result<u32, String>, T)> = items
        .into_iter()
        .map(|item| (tags::parse_wave(original(&item).tag(tags::WAVE)), item))
        .collect();
    let last = parsed
        .iter()
        .filter_map(|(wave, _)| wave.as_ref().ok().copied())
        .max()
        .map_or(0, |max| max + 1);
    let mut waves: BTreeMap<u32, Vec<T>> = BTreeMap::new();
    let mut warnings = Vec::new();
    for (wave, item) in parsed {
        let number = match wave {
            Ok(number) => number,
            Err(problem) => {
                warnings.push((
                    original(&item).id.to_string(),
                    format!("{problem}; recovered in the last wave ({last})"),
                ));
                last
            }
        };
        waves.entry(number).or_default().push(item);
    }
    let waves = waves
        .into_iter()
        .map(|(number, items)| Wave { number, items })
        .collect();
    (waves, warnings)
}

/// Why wave `number` was not started, worded for the report; each is left to the next run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WaveStop {
    /// The invocation's time ran out first.
    OutOfTime,
    /// The alarm (named) went through another transition since the plan.
    Transitioned(String),
    /// The Outpost is no longer down; why, as `alarm::still_down` says.
    NotDown(String),
    /// The alarm's state could not be read (the error, as read).
    Unreadable(String),
    /// An earlier wave waits for self-fenced originals to fence themselves.
    WaitsForFence {
        /// The waiting wave.
        wave: u32,
        /// When their replacements may launch.
        until: chrono::DateTime<chrono::Utc>,
    },
}

impl WaveStop {
    /// The reason reported on each instance of wave `number` and of every later wave.
    pub fn reason(&self, number: u32) -> String {
        match self {
            Self::OutOfTime => format!(
                "the invocation's time ran out before wave {number}; the next sweep launches it"
            ),
            Self::Transitioned(alarm) => format!(
                "alarm {alarm} went through another transition before wave {number}; the next run reconciles the new incident"
            ),
            Self::NotDown(reason) => format!("before wave {number}: {reason}"),
            Self::WaitsForFence { wave, until } => format!(
                "wave {wave} waits for self-fenced instances to fence themselves (their replacements launch at {}); wave {number} follows it",
                until.format("%Y-%m-%d %H:%M:%S UTC")
            ),
            Self::Unreadable(error) => format!(
                "the alarm's state could not be read before wave {number} ({error}); the next sweep continues"
            ),
        }
    }
}

/// How wave `number` settled, as the wait for its replacements saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settling {
    /// The wait for the replacements to run ran out.
    pub timed_out: bool,
    /// Seconds waited.
    pub waited_seconds: u64,
    /// Some replacement did not run.
    pub some_not_running: bool,
    /// Every moved membership was healthy.
    pub healthy: bool,
}

impl Settling {
    /// Every replacement ran and was healthy where it was moved.
    pub fn settled(&self) -> bool {
        !self.some_not_running && self.healthy
    }

    /// The wave report's note when a later wave starts before wave `number` settled.
    pub fn note(&self, number: u32, more_waves: bool) -> Option<String> {
        if self.settled() || !more_waves {
            return None;
        }
        Some(if self.timed_out {
            format!(
                "the next wave started after waiting {} s: not every replacement of wave {number} ran",
                self.waited_seconds
            )
        } else if self.some_not_running {
            format!("the next wave started although replacements of wave {number} do not run")
        } else {
            format!(
                "the next wave started although not every replacement of wave {number} was healthy in its target groups"
            )
        })
    }
}

/// The warning on a replacement still not running when its wave settled.
pub fn not_running_yet(replacement: &str, state: &str) -> String {
    format!(
        "replacement {replacement} is {state}, not running: its target groups move once it runs (the next sweep)"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn instance(id: &str, wave: Option<&str>) -> Instance {
        let mut i = Instance {
            id: id.into(),
            ..Instance::default()
        };
        if let Some(wave) = wave {
            i.tags.insert(tags::WAVE.into(), wave.into());
        }
        i
    }

    #[test]
    fn groups_by_wave_in_ascending_order_keeping_the_given_order_within() {
        let items = vec![
            instance("i-c", Some("2")),
            instance("i-a", None),
            instance("i-b", Some("0")),
            instance("i-d", Some("1")),
        ];
        let (waves, warnings) = group(items, |i| i);
        let shape: Vec<(u32, Vec<&str>)> = waves
            .iter()
            .map(|w| (w.number, w.items.iter().map(|i| i.id.as_str()).collect()))
            .collect();
        assert_eq!(
            shape,
            vec![(0, vec!["i-a", "i-b"]), (1, vec!["i-d"]), (2, vec!["i-c"])]
        );
        assert!(warnings.is_empty());
    }

    #[test]
    fn a_bad_wave_tag_goes_after_every_other_wave_with_a_warning() {
        let items = vec![instance("i-a", Some("first")), instance("i-b", Some("3"))];
        let (waves, warnings) = group(items, |i| i);
        assert_eq!(waves.last().unwrap().number, 4);
        assert_eq!(waves.last().unwrap().items[0].id, "i-a");
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].1.contains("last wave (4)"), "{warnings:?}");
    }

    #[test]
    fn a_wave_not_started_says_why_and_what_happens_next() {
        let cases = [
            (
                WaveStop::OutOfTime,
                "time ran out before wave 2; the next sweep",
            ),
            (
                WaveStop::Transitioned("op-a".into()),
                "alarm op-a went through another transition before wave 2",
            ),
            (
                WaveStop::NotDown("it is OK".into()),
                "before wave 2: it is OK",
            ),
            (
                WaveStop::Unreadable("throttled".into()),
                "could not be read before wave 2 (throttled); the next sweep continues",
            ),
        ];
        for (stop, expected) in cases {
            let reason = stop.reason(2);
            assert!(reason.contains(expected), "{stop:?}: {reason}");
        }
    }

    #[test]
    fn a_wave_that_did_not_settle_is_noted_only_when_another_follows() {
        struct Row {
            timed_out: bool,
            some_not_running: bool,
            healthy: bool,
            more_waves: bool,
            note: Option<&'static str>,
        }
        let rows = [
            Row {
                timed_out: false,
                some_not_running: false,
                healthy: true,
                more_waves: true,
                note: None,
            },
            Row {
                timed_out: true,
                some_not_running: true,
                healthy: true,
                more_waves: false,
                note: None,
            },
            Row {
                timed_out: true,
                some_not_running: true,
                healthy: true,
                more_waves: true,
                note: Some("after waiting 40 s: not every replacement of wave 1 ran"),
            },
            Row {
                timed_out: false,
                some_not_running: true,
                healthy: true,
                more_waves: true,
                note: Some("although replacements of wave 1 do not run"),
            },
            Row {
                timed_out: false,
                some_not_running: false,
                healthy: false,
                more_waves: true,
                note: Some("not every replacement of wave 1 was healthy"),
            },
        ];
        for row in rows {
            let settling = Settling {
                timed_out: row.timed_out,
                waited_seconds: 40,
                some_not_running: row.some_not_running,
                healthy: row.healthy,
            };
            assert_eq!(settling.settled(), !row.some_not_running && row.healthy);
            let note = settling.note(1, row.more_waves);
            match row.note {
                None => assert_eq!(note, None),
                Some(expected) => assert!(
                    note.as_deref().is_some_and(|n| n.contains(expected)),
                    "{note:?}"
                ),
            }
        }
    }
}
