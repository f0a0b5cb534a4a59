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
