//! Class names: the words behind a folder name such as `n01440764`, from a mapping file next
//! to the data (ImageNet's `LOC_synset_mapping.txt` or `synset_words.txt`, a `classes.txt`).

use std::collections::HashMap;
use std::path::Path;

/// Mapping files looked for, in this order, in the data set's folder.
pub const MAPPING_FILES: [&str; 4] = [
    "LOC_synset_mapping.txt",
    "synset_words.txt",
    "classes.txt",
    "categories.txt",
];

/// Class ids (folder names, or the numbers of WebDataset `.cls` members) and their words.
#[derive(Debug, Default)]
pub struct ClassNames {
    /// id → words (`n01440764` → `tench, Tinca tinca`).
    words: HashMap<String, String>,
    /// The ids in file order, so a numeric class `i` names line `i`.
    order: Vec<String>,
    /// The file read, if any.
    pub source: Option<String>,
}

impl ClassNames {
    /// Reads the first mapping file found in `dir` (none: an empty mapping).
    ///
    /// Each line is `ID WORDS…` (`n01440764 tench, Tinca tinca`), `ID INDEX` (Places365's
    /// `/a/airfield 0`) or a bare `ID`/name; blank lines and `#` comments are skipped.
    pub fn find(dir: &Path) -> ClassNames {
        for name in MAPPING_FILES {
            if let Ok(text) = std::fs::read_to_string(dir.join(name)) {
                let mut names = ClassNames::parse(&text);
                names.source = Some(name.to_owned());
                return names;
            }
        }
        ClassNames::default()
    }

    fn parse(text: &str) -> ClassNames {
        let mut names = ClassNames::default();
        for line in text.lines().map(str::trim) {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (id, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
            let rest = rest.trim();
            let id = id.trim_start_matches('/');
            if !rest.is_empty() && rest.parse::<u64>().is_err() {
                names.words.insert(id.to_owned(), rest.to_owned());
            }
            names.order.push(id.to_owned());
        }
        names
    }

    /// The words for a class id, if the mapping has them: by id (a folder name), or by
    /// position for a number (a WebDataset `.cls` value) when the mapping lists ids.
    pub fn words(&self, id: &str) -> Option<String> {
        if let Some(words) = self.words.get(id) {
            return Some(words.clone());
        }
        let by_index = id.parse::<usize>().ok().and_then(|i| self.order.get(i))?;
        Some(
            self.words
                .get(by_index)
                .cloned()
                .unwrap_or_else(|| by_index.replace(['/', '_'], " ").trim().to_owned()),
        )
    }

    /// Classes the mapping names.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// True when no mapping file was found (or it was empty).
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synsets_places_and_bare_lists_are_read() {
        let imagenet = ClassNames::parse(
            "n01440764 tench, Tinca tinca\nn01443537 goldfish, Carassius auratus\n",
        );
        assert_eq!(
            imagenet.words("n01443537").as_deref(),
            Some("goldfish, Carassius auratus")
        );
        assert_eq!(imagenet.words("0").as_deref(), Some("tench, Tinca tinca"));
        let places = ClassNames::parse("/a/airfield 0\n/a/alley 1\n");
        assert_eq!(places.words("1").as_deref(), Some("a alley"));
        assert_eq!(
            places.words("a/alley"),
            None,
            "no words for a known id: shown as the id"
        );
        let bare = ClassNames::parse("# classes\ncat\n\ndog\n");
        assert_eq!((bare.len(), bare.words("1").as_deref()), (2, Some("dog")));
        assert_eq!(bare.words("7"), None);
    }
}
