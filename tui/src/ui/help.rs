//! The `?` overlay: every key, in two columns.

use super::layout::centered;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Clear, Paragraph, Widget};

/// Key and what it does; `oversight` rows are off in read-only views.
const KEYS: &[(&str, &str, bool)] = &[
    ("↑ ↓  j k", "scroll the transcript", false),
    ("PgUp PgDn", "scroll a page", false),
    ("Home g / End G", "top / follow the end", false),
    ("Tab  ⇧Tab", "select a tool call", false),
    ("Enter", "fold / unfold it (or click)", false),
    ("[  ]", "images: back / forward", false),
    ("wheel", "scroll the pane under it", false),
    ("p", "pause / resume after this step", true),
    ("i", "note to the agent (next message)", true),
    ("s", "stop: final answer now", true),
    ("q", "quit (resumable: maia resume)", false),
    ("Ctrl-L", "repaint", false),
    ("?", "close this help", false),
];

/// Draws the overlay centred in `area`.
pub fn render(area: Rect, read_only: bool, buf: &mut Buffer) {
    let key_w = KEYS
        .iter()
        .map(|(k, _, _)| k.chars().count())
        .max()
        .unwrap_or(0)
        + 2;
    let mut lines: Vec<Line> = KEYS
        .iter()
        .map(|(key, what, oversight)| {
            let what_style = if *oversight && read_only {
                Style::default().fg(Color::DarkGray)
            } else {
                Style::default()
            };
            let what = if *oversight && read_only {
                format!("{what} (not when watching)")
            } else {
                (*what).to_string()
            };
            Line::from(vec![
                Span::styled(
                    format!("{key:<key_w$}"),
                    Style::default()
                        .fg(Color::Cyan)
                        .add_modifier(Modifier::BOLD),
                ),
                Span::styled(what, what_style),
            ])
        })
        .collect();
    if read_only {
        lines.push(Line::default());
        lines.push(Line::from(Span::styled(
            "watching: read-only view of the journal",
            Style::default().fg(Color::DarkGray),
        )));
    }
    let width = lines.iter().map(Line::width).max().unwrap_or(20) as u16 + 4;
    let height = lines.len() as u16 + 2;
    let rect = centered(area, width, height);
    Clear.render(rect, buf);
    Paragraph::new(lines)
        .block(
            Block::bordered()
                .border_type(BorderType::Rounded)
                .title(" keys ")
                .border_style(Style::default().fg(Color::Cyan))
                .padding(ratatui::widgets::Padding::horizontal(1)),
        )
        .render(rect, buf);
}
