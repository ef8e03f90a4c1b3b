//! The status bar: run state, backend/model, task and unit, round n/max, tokens, dollars,
//! elapsed time, and on the right a key hint or the latest message. Fields are dropped,
//! least useful first, until the bar fits the width.

use super::app::{App, Mode, Request};
use super::state::Phase;
use super::wrap::{truncate, width};
use maia_core::agent::RunStatus;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};

/// `12.3k`, `1.2M`.
pub fn compact(n: u64) -> String {
    match n {
        0..1_000 => n.to_string(),
        1_000..1_000_000 => format!("{:.1}k", n as f64 / 1e3),
        _ => format!("{:.1}M", n as f64 / 1e6),
    }
}

/// `02:13` or `1:02:13`.
pub fn clock(ms: u64) -> String {
    let s = ms / 1000;
    let (h, m, s) = (s / 3600, (s / 60) % 60, s % 60);
    if h > 0 {
        format!("{h}:{m:02}:{s:02}")
    } else {
        format!("{m:02}:{s:02}")
    }
}

/// `$0.042`, `$12.50`.
pub fn dollars(usd: f64) -> String {
    if usd < 10.0 {
        format!("${usd:.3}")
    } else {
        format!("${usd:.2}")
    }
}

/// The state badge: text and colour.
pub fn state(app: &App) -> (String, Color) {
    let (text, color) = match (app.view.phase, app.request) {
        (Phase::Ended(status), _) => (
            format!("■ {}", status.as_str()),
            match status {
                RunStatus::Completed => Color::Green,
                RunStatus::Failed => Color::Red,
                _ => Color::Yellow,
            },
        ),
        _ if app.source_closed && !app.read_only => ("■ detached".into(), Color::Yellow),
        (_, Some(Request::Answer)) => ("● answering…".into(), Color::Cyan),
        (Phase::Paused, Some(Request::Resume)) => ("◌ resuming…".into(), Color::Magenta),
        (Phase::Paused, _) => ("⏸ paused".into(), Color::Magenta),
        (Phase::Waiting, _) => ("… waiting".into(), Color::DarkGray),
        (Phase::Running, Some(Request::Pause)) => ("◌ pausing…".into(), Color::Magenta),
        (Phase::Running, _) => ("● running".into(), Color::Green),
    };
    if app.read_only {
        (format!("{text} · watch"), color)
    } else {
        (text, color)
    }
}

/// Draws the bar into `area` (one line).
pub fn render(app: &App, area: Rect, buf: &mut Buffer) {
    let bar = Style::default().bg(Color::Indexed(236)).fg(Color::Gray);
    buf.set_style(area, bar);
    let (state_text, state_color) = state(app);
    let view = &app.view;
    let round = match (view.round, view.max_rounds()) {
        (0, _) => "round –".to_string(),
        (r, 0) => format!("round {r}"),
        (r, m) => format!("round {r}/{m}"),
    };
    let tokens = format!("{} tok", compact(view.summary.tokens()));
    let (backend, task) = match &view.info {
        Some(i) => (
            format!("{}/{}", i.backend, i.model),
            format!("{} {}", i.task, i.unit),
        ),
        None => (String::new(), String::new()),
    };
    // (text, priority): lower priority goes first when space runs out.
    let mut fields: Vec<(String, u8)> = vec![
        (round, 9),
        (clock(app.elapsed_ms()), 8),
        (dollars(view.summary.cost_usd), 6),
        (tokens, 5),
        (task, 4),
        (backend, 3),
    ];
    fields.retain(|(t, _)| !t.is_empty());
    let hint = match (&app.flash, &app.mode) {
        (Some(f), _) => f.clone(),
        (None, Mode::Note(_)) => "Enter send · Esc cancel".into(),
        (None, _) if app.read_only => "? help · q quit".into(),
        (None, _) if app.finished() => "? help · q close".into(),
        (None, _) => "p pause · i note · s answer · q quit · ? help".into(),
    };
    let total_w = usize::from(area.width);
    let sep = " │ ";
    let state_w = width(&state_text) + 2;
    let fits = |fields: &[(String, u8)], hint_w: usize| {
        state_w
            + fields
                .iter()
                .map(|(t, _)| width(t) + width(sep))
                .sum::<usize>()
            + hint_w
            < total_w
    };
    // Shorten the hint first to "? help", then drop fields.
    let mut hint_text = hint.clone();
    if !fits(&fields, width(&hint_text)) && app.flash.is_none() {
        hint_text = "? help".into();
    }
    while !fields.is_empty() && !fits(&fields, width(&hint_text)) {
        let lowest = fields
            .iter()
            .enumerate()
            .min_by_key(|(_, (_, p))| *p)
            .map(|(i, _)| i)
            .unwrap_or(0);
        fields.remove(lowest);
    }
    let mut spans = vec![Span::styled(
        format!(" {state_text} "),
        Style::default()
            .fg(state_color)
            .bg(Color::Indexed(236))
            .add_modifier(Modifier::BOLD),
    )];
    for (text, _) in &fields {
        spans.push(Span::styled(sep, bar.fg(Color::DarkGray)));
        spans.push(Span::styled(text.clone(), bar));
    }
    let left = Line::from(spans);
    buf.set_line(area.x, area.y, &left, area.width);
    let used = left.width();
    let room = total_w.saturating_sub(used + 1);
    let hint_text = truncate(&hint_text, room);
    let hint_w = width(&hint_text);
    if hint_w > 0 {
        let x = area.x + (total_w - hint_w - 1) as u16;
        let style = if app.flash.is_some() {
            bar.fg(Color::Yellow)
        } else {
            bar.fg(Color::DarkGray)
        };
        buf.set_string(x, area.y, hint_text, style);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_compact() {
        assert_eq!(compact(999), "999");
        assert_eq!(compact(12_345), "12.3k");
        assert_eq!(compact(2_500_000), "2.5M");
        assert_eq!(clock(133_000), "02:13");
        assert_eq!(clock(3_733_000), "1:02:13");
        assert_eq!(dollars(0.0421), "$0.042");
        assert_eq!(dollars(12.5), "$12.50");
    }
}
