//! An error and its causes as one line, each said once.
//!
//! Many errors put their cause in their own message (`reading x: No such file or
//! directory (os error 2)`) and also return it as their `source()`; printing the chain
//! with `{:#}` then says the cause twice. [`error_text`] leaves out a cause whose text the
//! line already holds.

/// `err` and its causes, joined by `: `, skipping a cause already said.
pub fn error_text(err: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if text.is_empty() || line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

#[cfg(test)]
mod tests {
    use super::error_text;

    #[derive(Debug, thiserror::Error)]
    #[error("{path}: {source}")]
    struct Reading {
        path: String,
        source: std::io::Error,
    }

    #[test]
    fn a_cause_the_message_already_holds_is_said_once() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "No such file or directory");
        let err = anyhow::Error::new(Reading {
            path: "nope".into(),
            source: io,
        })
        .context("computing exemplars");
        assert_eq!(
            error_text(&err),
            "computing exemplars: nope: No such file or directory"
        );
        let plain = anyhow::anyhow!("disk full").context("writing run.toml");
        assert_eq!(error_text(&plain), "writing run.toml: disk full");
    }
}
