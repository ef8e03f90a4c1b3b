//! Plain-text helpers shared by the panes: word wrapping by display width, truncation
//! with an ellipsis, and scrubbing control characters out of text that came from a model
//! or a tool (an ESC in a model's reply must never reach the terminal).

use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

/// Replaces control characters with visible stand-ins so text from the journal can be
/// drawn safely: tabs become spaces, other C0/C1 controls (ESC included) become `�`.
/// Newlines are kept; `\r\n` and lone `\r` become `\n`.
pub fn sanitize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\n' => out.push('\n'),
            '\r' => {
                if chars.peek() != Some(&'\n') {
                    out.push('\n');
                }
            }
            '\t' => out.push_str("    "),
            c if c.is_control() => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// Sanitizes and folds all whitespace runs (newlines included) into single spaces: for
/// one-line summaries.
pub fn one_line(text: &str) -> String {
    let clean = sanitize(text);
    let mut out = String::with_capacity(clean.len());
    for word in clean.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// Display width of `text` in terminal cells.
pub fn width(text: &str) -> usize {
    UnicodeWidthStr::width(text)
}

/// Cuts `text` to at most `max` cells, ending in `…` when something was cut.
pub fn truncate(text: &str, max: usize) -> String {
    if width(text) <= max {
        return text.to_string();
    }
    if max == 0 {
        return String::new();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in text.chars() {
        let w = c.width().unwrap_or(0);
        if used + w > max - 1 {
            break;
        }
        used += w;
        out.push(c);
    }
    out.push('…');
    out
}

/// Wraps `text` into lines of at most `max` cells: breaks at spaces where it can, splits
/// words longer than a line, keeps explicit newlines (an empty input line stays an empty
/// output line). `max` of 0 is treated as 1.
pub fn wrap(text: &str, max: usize) -> Vec<String> {
    let max = max.max(1);
    let mut lines = Vec::new();
    for paragraph in text.split('\n') {
        wrap_paragraph(paragraph, max, &mut lines);
    }
    lines
}

fn wrap_paragraph(paragraph: &str, max: usize, lines: &mut Vec<String>) {
    if paragraph.is_empty() {
        lines.push(String::new());
        return;
    }
    // Keep leading indentation (pretty JSON, lists) on every wrapped line, while it
    // leaves room for text.
    let body = paragraph.trim_start_matches(' ');
    let indent = paragraph.len() - body.len();
    if indent > 0 && indent * 2 <= max && !body.is_empty() {
        let pad = " ".repeat(indent);
        let start = lines.len();
        wrap_paragraph(body, max - indent, lines);
        for line in &mut lines[start..] {
            line.insert_str(0, &pad);
        }
        return;
    }
    let mut line = String::new();
    let mut line_w = 0;
    for word in paragraph.split(' ') {
        let word_w = width(word);
        // The word fits on the current line (with a separating space when not first).
        let sep = usize::from(!line.is_empty());
        if line_w + sep + word_w <= max {
            if sep == 1 {
                line.push(' ');
            }
            line.push_str(word);
            line_w += sep + word_w;
            continue;
        }
        // It does not: flush the line, then place the word, splitting it if it is longer
        // than a whole line.
        if !line.is_empty() {
            lines.push(std::mem::take(&mut line));
            line_w = 0;
        }
        if word_w <= max {
            line.push_str(word);
            line_w = word_w;
            continue;
        }
        for c in word.chars() {
            let w = c.width().unwrap_or(0);
            if line_w + w > max && !line.is_empty() {
                lines.push(std::mem::take(&mut line));
                line_w = 0;
            }
            line.push(c);
            line_w += w;
        }
    }
    lines.push(line);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps_at_spaces_and_splits_long_words() {
        assert_eq!(
            wrap("the quick brown fox", 9),
            vec!["the quick", "brown fox"]
        );
        assert_eq!(wrap("abcdefghij", 4), vec!["abcd", "efgh", "ij"]);
        assert_eq!(wrap("a\n\nb", 10), vec!["a", "", "b"]);
        assert_eq!(wrap("", 5), vec![""]);
        assert_eq!(wrap("  \"a\": [1, 2]", 9), vec!["  \"a\":", "  [1, 2]"]);
    }

    #[test]
    fn wrapped_lines_never_exceed_the_width() {
        let text = "Reasoning: the unit fires on red circles — but also on 🔴 emoji-like \
                    shapes; supercalifragilisticexpialidocious words get split.";
        for max in 1..40 {
            for line in wrap(text, max) {
                assert!(width(&line) <= max.max(2), "{line:?} wider than {max}");
            }
        }
    }

    #[test]
    fn sanitize_removes_escape_sequences() {
        let s = sanitize("red\x1b[31m circle\r\nnext\tline\u{7}");
        assert!(!s.contains('\x1b'));
        assert!(!s.contains('\u{7}'));
        assert_eq!(s, "red\u{FFFD}[31m circle\nnext    line\u{FFFD}");
    }

    #[test]
    fn truncate_adds_an_ellipsis() {
        assert_eq!(truncate("abcdef", 4), "abc…");
        assert_eq!(truncate("abc", 4), "abc");
        assert_eq!(truncate("abc", 0), "");
        assert_eq!(one_line("a\n  b\tc"), "a b c");
    }
}
