//! "Did you mean …?": the closest of a few known names to a mistyped one.

/// The candidate closest to `name` by edit distance, if it is close enough to be a typo
/// of it (at most 2 edits, or a third of the candidate's length for long names).
pub fn closest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (edit_distance(name, c), c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 3))
        .min()
        .map(|(_, c)| c)
}

/// Levenshtein distance between `a` and `b`, in characters.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let next = (prev + usize::from(ca != *cb))
                .min(row[j] + 1)
                .min(row[j + 1] + 1);
            prev = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_typo_finds_its_name_and_a_stranger_finds_none() {
        assert_eq!(
            closest("base_ur", ["backend", "base_url"]),
            Some("base_url")
        );
        assert_eq!(closest("ecko", ["echo", "noop"]), Some("echo"));
        assert_eq!(closest("resolution", ["echo", "noop"]), None);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }
}
