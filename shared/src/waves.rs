//! Recovery waves (`autorestart:wave=N`): wave N+1 starts only once wave N's replacements run.
//! Grouping is pure; the running wait polls EC2 within a bound.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tracing::{info, warn};

use crate::inventory::Instance;
use crate::ports::Compute;
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
                    original(&item).id.clone(),
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

/// The state reported for an instance Describe did not return (yet).
pub const NOT_VISIBLE: &str = "not visible yet";

/// What a bounded wait for instances to run saw.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunningWait {
    /// When each instance was first seen running.
    pub running_at: HashMap<String, DateTime<Utc>>,
    /// Instances not running when the wait ended, with their last state ([`NOT_VISIBLE`] if
    /// Describe never returned them).
    pub not_running: Vec<(String, String)>,
    /// The wait ran out before every instance ran.
    pub timed_out: bool,
    /// How long it waited.
    pub waited: Duration,
}

/// Waits until every instance runs or has stopped or terminated (it will not run), or `timeout`.
/// A failed read ends the wait early: it is logged and the instances count as not running.
pub async fn wait_running<C: Compute>(
    compute: &C,
    ids: &[String],
    timeout: Duration,
    poll: Duration,
) -> RunningWait {
    let started = tokio::time::Instant::now();
    let mut wait = RunningWait::default();
    let mut pending: Vec<String> = ids.to_vec();
    let mut states: HashMap<String, String> = HashMap::new();
    while !pending.is_empty() {
        match compute.instances(&pending).await {
            Ok(found) => {
                let now = Utc::now();
                let by_id: HashMap<&str, &Instance> =
                    found.iter().map(|i| (i.id.as_str(), i)).collect();
                pending.retain(|id| match by_id.get(id.as_str()) {
                    Some(i) if i.is_running() => {
                        wait.running_at.insert(id.clone(), now);
                        false
                    }
                    Some(i) if i.state == "pending" => {
                        states.insert(id.clone(), i.state.clone());
                        true
                    }
                    Some(i) => {
                        states.insert(id.clone(), i.state.clone());
                        false
                    }
                    // EC2 is eventually consistent: an instance just launched may not be
                    // described yet. It is pending, not gone, until the wait ends.
                    None => {
                        states.insert(id.clone(), NOT_VISIBLE.into());
                        true
                    }
                });
            }
            Err(error) => {
                warn!(%error, "could not read whether replacements run; not waiting further");
                break;
            }
        }
        if pending.is_empty() {
            break;
        }
        if started.elapsed() + poll > timeout {
            wait.timed_out = true;
            break;
        }
        tokio::time::sleep(poll).await;
    }
    wait.waited = started.elapsed();
    let mut not_running: Vec<(String, String)> = ids
        .iter()
        .filter(|id| !wait.running_at.contains_key(*id))
        .map(|id| {
            let state = states.get(id).cloned().unwrap_or_else(|| "unknown".into());
            (id.clone(), state)
        })
        .collect();
    not_running.sort();
    wait.not_running = not_running;
    info!(
        running = wait.running_at.len(),
        not_running = wait.not_running.len(),
        waited_ms = wait.waited.as_millis() as u64,
        "waited for replacements to run"
    );
    wait
}

/// What happened in one wave, for the report.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct WaveReport {
    /// The wave number.
    pub wave: u32,
    /// Protected instances in it.
    pub instances: usize,
    /// Every replacement of the wave ran (and, in target groups, was healthy or the health wait ended).
    pub settled: bool,
    /// Seconds waited for the replacements to run.
    pub waited_seconds: u64,
    /// Replacements not running when the wait ended, with their state.
    pub not_running: Vec<(String, String)>,
    /// Why the next wave started without this one settled.
    pub note: Option<String>,
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
}
