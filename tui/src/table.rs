//! Plain-text tables for terminal output: columns padded to their widest cell, the last
//! column left free to wrap.

/// A table with a header row.
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column titles.
    pub fn new(header: &[&str]) -> Self {
        Table {
            header: header.iter().map(|s| (*s).to_owned()).collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row (missing cells print empty).
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// Renders the table, one line per row, columns separated by two spaces.
    pub fn render(&self) -> String {
        let columns = self.header.len();
        let mut widths = vec![0usize; columns];
        for row in std::iter::once(&self.header).chain(&self.rows) {
            for (i, cell) in row.iter().enumerate().take(columns) {
                widths[i] = widths[i].max(cell.chars().count());
            }
        }
        let mut out = String::new();
        for row in std::iter::once(&self.header).chain(&self.rows) {
            let mut line = String::new();
            for (i, width) in widths.iter().enumerate() {
                let cell = row.get(i).map(String::as_str).unwrap_or("");
                line.push_str(cell);
                if i + 1 < columns {
                    line.push_str(&" ".repeat(width - cell.chars().count() + 2));
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

/// The first sentence of a description, for one-line listings: up to the first full stop
/// that ends a sentence, not one inside parentheses (`(Rec. 709 luma)`) or after an
/// abbreviation followed by a lower-case word (`e.g. red`).
pub fn first_sentence(text: &str) -> &str {
    let text = text.trim();
    let mut depth = 0usize;
    for (i, c) in text.char_indices() {
        match c {
            '(' | '[' => depth += 1,
            ')' | ']' => depth = depth.saturating_sub(1),
            '.' if depth == 0 => {
                let mut rest = text[i + 1..].chars();
                let ends =
                    rest.next() == Some(' ') && rest.next().is_some_and(|n| !n.is_lowercase());
                if ends {
                    return &text[..=i];
                }
            }
            _ => {}
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_align_to_the_widest_cell() {
        let mut t = Table::new(&["A", "BB", "C"]);
        t.row(vec!["long cell".into(), "x".into(), "free text".into()]);
        assert_eq!(t.render(), "A          BB  C\nlong cell  x   free text\n");
    }

    #[test]
    fn first_sentence_stops_at_the_first_full_stop() {
        assert_eq!(first_sentence("Crops images. Then more."), "Crops images.");
        assert_eq!(first_sentence("No stop"), "No stop");
        assert_eq!(
            first_sentence("Grayscale (Rec. 709 luma) of images. More."),
            "Grayscale (Rec. 709 luma) of images."
        );
        assert_eq!(
            first_sentence("Colours, e.g. red or blue. More."),
            "Colours, e.g. red or blue."
        );
    }
}
