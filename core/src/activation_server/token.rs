//! The shared token that lets a host listen beyond loopback: the host is given one
//! (`--token-file PATH` or `MAIA_HOST_TOKEN`), every client sends the same one in its hello,
//! and a connection without it is refused before it can send a request.
//!
//! A token is a secret: [`ServerToken`] never shows its value (its `Debug` is redacted, it has
//! no `Display`), compares in constant time, and the host never logs nor echoes what a
//! client sent.

use serde::{Deserialize, Serialize};
use std::path::Path;

/// The environment variable both `maia host serve` and clients read the token from when no
/// file is given.
pub const TOKEN_ENV: &str = "MAIA_HOST_TOKEN";

/// Tokens shorter than this are refused: guessing must be hopeless.
pub const MIN_TOKEN_CHARS: usize = 16;

/// How to make a good token, for messages.
const MAKE_ONE: &str = "make one with `head -c 32 /dev/urandom | base64 > maia-host.token`";

/// A shared secret between a host and its clients.
///
/// On the wire it is a plain JSON string in the client's hello. Values read from files or
/// the environment are checked ([`ServerToken::new`]); values off the wire are not, they
/// only have to match.
#[derive(Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ServerToken(String);

/// Why a token could not be read.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The token file could not be read.
    #[error("cannot read the host token from {path}: {source}")]
    File {
        /// The file.
        path: std::path::PathBuf,
        /// The system's reason.
        source: std::io::Error,
    },
    /// The token is empty or too short (the value is never shown).
    #[error("the host token from {from} is {why}; {MAKE_ONE}")]
    Weak {
        /// Where it came from (a file, `MAIA_HOST_TOKEN`).
        from: String,
        /// What is wrong with it.
        why: String,
    },
}

impl ServerToken {
    /// A token read from `from` (named in errors): surrounding whitespace (a file's trailing
    /// newline) is dropped; it must have at least [`MIN_TOKEN_CHARS`] characters and no
    /// whitespace or control characters inside.
    pub fn new(value: &str, from: &str) -> Result<ServerToken, TokenError> {
        let value = value.trim();
        let weak = |why: String| TokenError::Weak {
            from: from.to_owned(),
            why,
        };
        if value.is_empty() {
            return Err(weak("empty".into()));
        }
        let chars = value.chars().count();
        if chars < MIN_TOKEN_CHARS {
            return Err(weak(format!(
                "{chars} characters long, shorter than the {MIN_TOKEN_CHARS} required"
            )));
        }
        if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(weak(
                "made of several words or has control characters".into(),
            ));
        }
        Ok(ServerToken(value.to_owned()))
    }

    /// Reads the token in `path` (its first line, trimmed).
    pub fn from_file(path: &Path) -> Result<ServerToken, TokenError> {
        let text = std::fs::read_to_string(path).map_err(|source| TokenError::File {
            path: path.to_path_buf(),
            source,
        })?;
        ServerToken::new(
            text.lines().next().unwrap_or_default(),
            &path.display().to_string(),
        )
    }

    /// The token in [`TOKEN_ENV`], if set and not empty.
    pub fn from_env() -> Result<Option<ServerToken>, TokenError> {
        match std::env::var(TOKEN_ENV) {
            Ok(value) if !value.trim().is_empty() => ServerToken::new(&value, TOKEN_ENV).map(Some),
            _ => Ok(None),
        }
    }

    /// Whether `other` is the same token, in time that does not depend on where they differ
    /// (both are hashed; BLAKE3 digests compare in constant time).
    pub fn matches(&self, other: &ServerToken) -> bool {
        blake3::hash(self.0.as_bytes()) == blake3::hash(other.0.as_bytes())
    }
}

impl PartialEq for ServerToken {
    fn eq(&self, other: &Self) -> bool {
        self.matches(other)
    }
}

impl std::fmt::Debug for ServerToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServerToken(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_checked_compared_and_never_shown() {
        let token =
            ServerToken::new("  0123456789abcdefXYZ\n", "test").unwrap_or_else(|e| panic!("{e}"));
        assert!(token.matches(&ServerToken("0123456789abcdefXYZ".into())));
        assert!(!token.matches(&ServerToken("0123456789abcdefXYz".into())));
        assert_eq!(format!("{token:?}"), "ServerToken(<redacted>)");
        for (bad, why) in [
            ("", "empty"),
            ("tiny1", "5 characters"),
            ("0123456789 abcdefgh", "several words"),
        ] {
            let msg = ServerToken::new(bad, "the file t")
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(
                msg.contains(why) && msg.contains("the file t") && msg.contains("/dev/urandom"),
                "{msg}"
            );
            if !bad.is_empty() {
                assert!(!msg.contains(bad), "the value is never shown: {msg}");
            }
        }
    }
}
