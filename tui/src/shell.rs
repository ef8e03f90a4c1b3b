//! Commands shown to the user for pasting into a shell.

pub use maia_core::quote::shell_word as shell_quote;

/// A path as one shell word.
pub fn quote_path(path: &std::path::Path) -> String {
    shell_quote(&path.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_words_are_quoted_only_when_needed() {
        assert_eq!(
            shell_quote("synthetic:red_and_circle"),
            "synthetic:red_and_circle"
        );
        assert_eq!(shell_quote("red circles"), "'red circles'");
        assert_eq!(shell_quote("it's red"), r"'it'\''s red'");
        assert_eq!(
            quote_path(std::path::Path::new("/tmp/my dir/b 1")),
            "'/tmp/my dir/b 1'"
        );
    }
}
