//! Small prompts over the panes: the yes/no questions behind `q` and `s`, and the note
//! input line behind `i`.

use super::app::Confirm;
use super::layout::centered;
use super::wrap::{truncate, width, wrap};
use ratatui::buffer::Buffer;
use ratatui::layout::{Position, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Clear, Paragraph, Widget};

/// Draws the question for `which`, centred in `area`. `run_id` names the run in the
/// resume hint.
pub fn render_confirm(which: Confirm, run_id: &str, area: Rect, buf: &mut Buffer) {
    let (title, text) = match which {
        Confirm::Quit => (
            " quit? ",
            format!(
                "Stop the run after the current step? Its journal is kept: `maia resume {}` continues it.",
                if run_id.is_empty() { "RUN" } else { run_id }
            ),
        ),
        Confirm::Answer => (
            " final answer? ",
            "Stop experimenting and ask the agent for its final answer now?".to_string(),
        ),
    };
    let box_w = area.width.saturating_sub(4).clamp(10, 56);
    let inner_w = usize::from(box_w.saturating_sub(4));
    let mut lines: Vec<Line> = wrap(&text, inner_w).into_iter().map(Line::from).collect();
    lines.push(Line::default());
    lines.push(Line::from(vec![
        Span::styled(
            "y",
            Style::default()
                .fg(Color::Green)
                .add_modifier(Modifier::BOLD),
        ),
        Span::raw(" yes   "),
        Span::styled(
            "n",
            Style::default().fg(Color::Red).add_modifier(Modifier::BOLD),
        ),
        Span::raw(" no"),
    ]));
    let rect = centered(area, box_w, lines.len() as u16 + 2);
    Clear.render(rect, buf);
    Paragraph::new(lines)
        .block(
            Block::bordered()
                .border_type(BorderType::Rounded)
                .title(title)
                .border_style(Style::default().fg(Color::Yellow))
                .padding(ratatui::widgets::Padding::horizontal(1)),
        )
        .render(rect, buf);
}

/// Draws the note input line; returns where the cursor goes.
pub fn render_note(note: &str, area: Rect, buf: &mut Buffer) -> Position {
    let prompt = "note › ";
    let style = Style::default().fg(Color::Yellow);
    buf.set_style(area, Style::default());
    let room = usize::from(area.width).saturating_sub(width(prompt) + 1);
    // Show the end of a long note.
    let shown = if width(note) > room {
        let skip = note.chars().count().saturating_sub(room.saturating_sub(1));
        format!("…{}", note.chars().skip(skip + 1).collect::<String>())
    } else {
        note.to_string()
    };
    let shown = truncate(&shown, room);
    let line = Line::from(vec![
        Span::styled(prompt, style.add_modifier(Modifier::BOLD)),
        Span::raw(shown.clone()),
    ]);
    buf.set_line(area.x, area.y, &line, area.width);
    let x = area.x
        + (width(prompt) + width(&shown)).min(usize::from(area.width.saturating_sub(1))) as u16;
    Position::new(x, area.y)
}
