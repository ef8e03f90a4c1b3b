//! Run ids: a run's folder name under the runs folder, so one path component and nothing
//! that could leave it (`..`, separators) or hide it (a leading dot).

/// Checks a run id given by a user (`maia run --id`): one non-empty folder name of letters,
/// digits, `-`, `_` and `.`, not starting with a dot. Returns the id or why it is refused.
pub fn validate_run_id(id: &str) -> Result<String, String> {
    let rule =
        "a run id is one folder name: letters, digits, `-`, `_` and `.`, not starting with `.`";
    if id.is_empty() {
        return Err(format!("the run id is empty; {rule}"));
    }
    if id.contains(['/', '\\']) {
        return Err(format!("`{id}` has a path separator; {rule}"));
    }
    if id.starts_with('.') {
        return Err(format!("`{id}` starts with `.`; {rule}"));
    }
    if let Some(c) = id
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
    {
        return Err(format!("`{id}` has the character {c:?}; {rule}"));
    }
    if id.len() > 200 {
        return Err(format!(
            "the run id is {} bytes long; at most 200",
            id.len()
        ));
    }
    Ok(id.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_plain_folder_name_is_accepted_and_nothing_else() {
        for good in ["20261204-r18-layer4-7", "my_run.2", "a"] {
            assert_eq!(validate_run_id(good).as_deref(), Ok(good));
        }
        for (bad, says) in [
            ("", "empty"),
            ("..", "starts with `.`"),
            (".", "starts with `.`"),
            ("../escape", "path separator"),
            ("a/b", "path separator"),
            ("a\\b", "path separator"),
            (".hidden", "starts with `.`"),
            ("a b", "character ' '"),
        ] {
            let err = validate_run_id(bad).err().unwrap_or_default();
            assert!(err.contains(says), "{bad:?}: {err}");
        }
    }
}
