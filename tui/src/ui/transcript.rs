//! The transcript pane: the run's blocks (task, rounds, streamed reasoning and text, tool
//! calls folded or unfolded, notes, warnings, the answer) as wrapped, styled lines.
//!
//! Long runs have thousands of blocks, so nothing here is proportional to the whole
//! transcript per frame: each block's wrapped lines are cached by (width, version), and
//! the viewport is found by walking blocks from an anchor (or back from the end when
//! following), touching only the blocks on screen.

use super::state::{Entry, EntryKind, RunView, ToolEntry};
use super::wrap::{one_line, truncate, width, wrap};
use maia_core::agent::RunStatus;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};

/// Result text lines shown in an unfolded tool block before the rest is elided.
const MAX_RESULT_LINES: usize = 40;

/// A line position: block index and line within the block's wrapped lines.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pos {
    /// Block index.
    pub entry: usize,
    /// Line within the block.
    pub line: usize,
}

/// Where the viewport is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scroll {
    /// Stick to the bottom: new text scrolls into view.
    Follow,
    /// The top row shows this line; new text does not move the view.
    At(Pos),
}

#[derive(Debug)]
struct Cached {
    width: u16,
    version: u64,
    lines: Vec<Line<'static>>,
}

/// Scroll position, selection and the wrapped-line cache of the transcript pane.
#[derive(Debug)]
pub struct TranscriptView {
    cache: Vec<Option<Cached>>,
    width: u16,
    height: u16,
    /// Where the viewport is.
    pub scroll: Scroll,
    /// The selected tool block (Tab / Shift-Tab / click); Enter folds or unfolds it.
    pub selected: Option<usize>,
    /// Block index shown on each row of the last frame (for mouse clicks).
    rows: Vec<Option<usize>>,
}

impl Default for TranscriptView {
    fn default() -> Self {
        TranscriptView {
            cache: Vec::new(),
            width: 80,
            height: 20,
            scroll: Scroll::Follow,
            selected: None,
            rows: Vec::new(),
        }
    }
}

impl TranscriptView {
    /// A view that follows the end of the transcript.
    pub fn new() -> Self {
        Self::default()
    }

    /// The wrapped lines of block `index` at the current width (cached).
    fn lines(&mut self, view: &RunView, index: usize) -> &[Line<'static>] {
        if self.cache.len() < view.entries.len() {
            self.cache.resize_with(view.entries.len(), || None);
        }
        let entry = &view.entries[index];
        let fresh = matches!(&self.cache[index], Some(c) if c.width == self.width && c.version == entry.version);
        if !fresh {
            let lines = entry_lines(entry, index, view, usize::from(self.width));
            self.cache[index] = Some(Cached {
                width: self.width,
                version: entry.version,
                lines,
            });
        }
        match &self.cache[index] {
            Some(c) => &c.lines,
            None => &[],
        }
    }

    fn len_of(&mut self, view: &RunView, index: usize) -> usize {
        self.lines(view, index).len().max(1)
    }

    /// The top line when following: the last `height` lines, or the very top when the
    /// whole transcript fits.
    fn follow_top(&mut self, view: &RunView) -> Pos {
        let height = usize::from(self.height.max(1));
        let mut need = height;
        let mut index = view.entries.len();
        while index > 0 {
            index -= 1;
            let len = self.len_of(view, index);
            if len >= need {
                return Pos {
                    entry: index,
                    line: len - need,
                };
            }
            need -= len;
        }
        Pos { entry: 0, line: 0 }
    }

    /// The current top line.
    pub fn top(&mut self, view: &RunView) -> Pos {
        match self.scroll {
            Scroll::Follow => self.follow_top(view),
            Scroll::At(pos) => {
                if view.entries.is_empty() {
                    return Pos { entry: 0, line: 0 };
                }
                let entry = pos.entry.min(view.entries.len() - 1);
                let len = self.len_of(view, entry);
                Pos {
                    entry,
                    line: pos.line.min(len - 1),
                }
            }
        }
    }

    fn back(&mut self, view: &RunView, mut pos: Pos, mut n: usize) -> Pos {
        while n > 0 {
            if pos.line >= n {
                pos.line -= n;
                break;
            }
            n -= pos.line;
            if pos.entry == 0 {
                pos.line = 0;
                break;
            }
            pos.entry -= 1;
            pos.line = self.len_of(view, pos.entry);
        }
        pos
    }

    fn forward(&mut self, view: &RunView, mut pos: Pos, mut n: usize) -> Pos {
        while n > 0 {
            let len = self.len_of(view, pos.entry);
            let remaining = len - pos.line.min(len);
            if n < remaining {
                pos.line += n;
                break;
            }
            if pos.entry + 1 >= view.entries.len() {
                pos.line = len - 1;
                break;
            }
            n -= remaining;
            pos.entry += 1;
            pos.line = 0;
        }
        pos
    }

    /// Whether at most a screenful of lines lies at and after `pos`.
    fn near_end(&mut self, view: &RunView, pos: Pos) -> bool {
        let height = usize::from(self.height.max(1));
        let mut count = 0;
        for index in pos.entry..view.entries.len() {
            let len = self.len_of(view, index);
            count += if index == pos.entry {
                len.saturating_sub(pos.line)
            } else {
                len
            };
            if count > height {
                return false;
            }
        }
        true
    }

    /// Scrolls by `delta` lines (negative: up). Scrolling down to the end follows again.
    pub fn scroll_by(&mut self, view: &RunView, delta: isize) {
        if view.entries.is_empty() {
            return;
        }
        let top = self.top(view);
        let pos = if delta < 0 {
            self.back(view, top, delta.unsigned_abs())
        } else {
            self.forward(view, top, delta.unsigned_abs())
        };
        self.scroll = if self.near_end(view, pos) {
            Scroll::Follow
        } else {
            Scroll::At(pos)
        };
    }

    /// Scrolls by pages (one page is the pane height less two lines of overlap).
    pub fn page(&mut self, view: &RunView, pages: isize) {
        let page = self.height.saturating_sub(2).max(1) as isize;
        self.scroll_by(view, pages * page);
    }

    /// Jumps to the first line.
    pub fn to_top(&mut self, view: &RunView) {
        self.scroll = Scroll::At(Pos { entry: 0, line: 0 });
        if self.near_end(view, Pos { entry: 0, line: 0 }) {
            self.scroll = Scroll::Follow;
        }
    }

    /// Follows the end again.
    pub fn to_end(&mut self) {
        self.scroll = Scroll::Follow;
    }

    /// Selects the next (`forward`) or previous tool block and scrolls it into view.
    pub fn select_tool(&mut self, view: &RunView, forward: bool) {
        let is_tool = |i: &usize| matches!(view.entries[*i].kind, EntryKind::Tool(_));
        let next = match (self.selected, forward) {
            (Some(s), true) => (s + 1..view.entries.len()).find(is_tool),
            (Some(s), false) => (0..s).rev().find(is_tool),
            (None, true) => {
                let from = self.rows.iter().flatten().next().copied().unwrap_or(0);
                (from..view.entries.len()).find(is_tool)
            }
            (None, false) => {
                let to = self
                    .rows
                    .iter()
                    .flatten()
                    .last()
                    .map_or(view.entries.len(), |i| i + 1);
                (0..to.min(view.entries.len())).rev().find(is_tool)
            }
        };
        if let Some(index) = next {
            self.selected = Some(index);
            self.reveal(view, index);
        }
    }

    /// Scrolls so block `index` is on screen, when it is not already wholly there.
    pub fn reveal(&mut self, view: &RunView, index: usize) {
        let shown: Vec<usize> = self.rows.iter().flatten().copied().collect();
        let first = shown.first().copied();
        let last = shown.last().copied();
        let whole = match (first, last) {
            (Some(f), Some(l)) => f < index && index < l,
            _ => false,
        };
        if whole {
            return;
        }
        let pos = Pos {
            entry: index,
            line: 0,
        };
        self.scroll = if self.near_end(view, pos) {
            Scroll::Follow
        } else {
            Scroll::At(pos)
        };
    }

    /// The block shown on row `row` of the pane in the last frame.
    pub fn entry_at_row(&self, row: u16) -> Option<usize> {
        self.rows.get(usize::from(row)).copied().flatten()
    }

    /// Whether the view sticks to the end.
    pub fn following(&self) -> bool {
        self.scroll == Scroll::Follow
    }

    /// Draws the transcript into `area` (the pane's inner area).
    pub fn render(&mut self, view: &RunView, area: Rect, buf: &mut Buffer) {
        if self.width != area.width {
            self.width = area.width;
        }
        self.height = area.height;
        self.rows.clear();
        self.rows.resize(usize::from(area.height), None);
        if view.entries.is_empty() || area.width == 0 || area.height == 0 {
            return;
        }
        let top = self.top(view);
        if let Scroll::At(pos) = self.scroll
            && self.near_end(view, pos)
        {
            self.scroll = Scroll::Follow;
        }
        let selected = self.selected;
        let mut pos = top;
        let mut row = 0u16;
        while row < area.height && pos.entry < view.entries.len() {
            let index = pos.entry;
            let lines = self.lines(view, index);
            if let Some(line) = lines.get(pos.line) {
                let y = area.y + row;
                if selected == Some(index) {
                    let mut line = line.clone();
                    line = line.patch_style(Style::default().bg(Color::Indexed(236)));
                    buf.set_style(
                        Rect::new(area.x, y, area.width, 1),
                        Style::default().bg(Color::Indexed(236)),
                    );
                    buf.set_line(area.x, y, &line, area.width);
                } else {
                    buf.set_line(area.x, y, line, area.width);
                }
                self.rows[usize::from(row)] = Some(index);
                row += 1;
                pos.line += 1;
            } else {
                pos.entry += 1;
                pos.line = 0;
            }
        }
    }
}

fn dim() -> Style {
    Style::default().fg(Color::DarkGray)
}

/// Wraps `text` under a first-line prefix; continuation lines are indented to match.
fn para(
    out: &mut Vec<Line<'static>>,
    prefix: &str,
    prefix_style: Style,
    text: &str,
    style: Style,
    width: usize,
) {
    let indent = width_of(prefix);
    let avail = width.saturating_sub(indent).max(1);
    for (i, chunk) in wrap(text, avail).into_iter().enumerate() {
        let lead = if i == 0 {
            prefix.to_string()
        } else {
            " ".repeat(indent)
        };
        out.push(Line::from(vec![
            Span::styled(lead, prefix_style),
            Span::styled(chunk, style),
        ]));
    }
}

fn width_of(s: &str) -> usize {
    width(s)
}

/// The wrapped, styled lines of one block.
fn entry_lines(entry: &Entry, index: usize, view: &RunView, width: usize) -> Vec<Line<'static>> {
    let mut out = Vec::new();
    let warn = Style::default().fg(Color::Yellow);
    match &entry.kind {
        EntryKind::Task { text } => {
            out.push(Line::from(Span::styled(
                "Task",
                Style::default()
                    .fg(Color::Cyan)
                    .add_modifier(Modifier::BOLD),
            )));
            para(
                &mut out,
                "",
                Style::default(),
                text,
                Style::default(),
                width,
            );
        }
        EntryKind::Round { round } => {
            if index > 0 {
                out.push(Line::default());
            }
            let max = view.max_rounds();
            let label = if max > 0 {
                format!("── round {round}/{max} ")
            } else {
                format!("── round {round} ")
            };
            let fill = width.saturating_sub(width_of(&label));
            out.push(Line::from(Span::styled(
                truncate(&format!("{label}{}", "─".repeat(fill)), width),
                Style::default().fg(Color::Blue),
            )));
        }
        EntryKind::Reasoning { text, .. } => {
            let style = dim().add_modifier(Modifier::ITALIC);
            para(&mut out, "┊ ", dim(), text.trim_end(), style, width);
        }
        EntryKind::Text { text, .. } => {
            para(
                &mut out,
                "  ",
                Style::default(),
                text.trim_end(),
                Style::default(),
                width,
            );
        }
        EntryKind::Tool(tool) => tool_lines(&mut out, tool, width),
        EntryKind::Note { text } => {
            para(
                &mut out,
                "✎ note: ",
                warn.add_modifier(Modifier::BOLD),
                text,
                warn,
                width,
            );
        }
        EntryKind::Nudge { text } => {
            let style = Style::default().fg(Color::Cyan);
            para(&mut out, "» maia: ", style, text, dim(), width);
        }
        EntryKind::Paused { paused } => {
            let text = if *paused {
                "⏸ paused (after the current step)"
            } else {
                "▶ running again"
            };
            out.push(Line::from(Span::styled(
                truncate(text, width),
                Style::default().fg(Color::Magenta),
            )));
        }
        EntryKind::Retry {
            attempt,
            reason,
            wait_ms,
            ..
        } => {
            let text = format!(
                "attempt {attempt} failed: {reason}; next try in {:.1} s",
                *wait_ms as f64 / 1000.0
            );
            para(&mut out, "↻ retry: ", warn, &text, warn, width);
        }
        EntryKind::Warning { text } => para(&mut out, "⚠ ", warn, text, warn, width),
        EntryKind::Resumed { completed_rounds } => {
            out.push(Line::from(Span::styled(
                truncate(
                    &format!("↺ resumed after {completed_rounds} complete rounds"),
                    width,
                ),
                Style::default().fg(Color::Cyan),
            )));
        }
        EntryKind::Final { label, description } => {
            let style = Style::default()
                .fg(Color::Green)
                .add_modifier(Modifier::BOLD);
            para(&mut out, "★ answer: ", style, label, style, width);
            para(
                &mut out,
                "  ",
                Style::default(),
                description,
                Style::default().fg(Color::Green),
                width,
            );
        }
        EntryKind::Ended { status, reason } => {
            let color = match status {
                RunStatus::Completed => Color::Green,
                RunStatus::Stopped | RunStatus::Limit => Color::Yellow,
                RunStatus::Failed => Color::Red,
            };
            let style = Style::default().fg(color).add_modifier(Modifier::BOLD);
            let text = if reason.is_empty() {
                status.as_str().to_string()
            } else {
                format!("{}: {reason}", status.as_str())
            };
            para(&mut out, "■ run ", style, &text, style, width);
        }
    }
    if out.is_empty() {
        out.push(Line::default());
    }
    out
}

/// `✓ 412 ms · 6 images` and friends: the one-line outcome of a call.
fn tool_summary(tool: &ToolEntry) -> (String, Style) {
    match &tool.result {
        None => ("⋯ running".to_string(), Style::default().fg(Color::Yellow)),
        Some(r) => {
            let time = format_ms(r.elapsed_ms);
            let images = match r.image_ids.len() {
                0 => String::new(),
                1 => " · 1 image".to_string(),
                n => format!(" · {n} images"),
            };
            let first = one_line(r.text.lines().next().unwrap_or(""));
            match &r.error {
                Some(kind) => (
                    format!("✗ {kind} · {time} · {first}"),
                    Style::default().fg(Color::Red),
                ),
                None => (
                    if first.is_empty() {
                        format!("✓ {time}{images}")
                    } else {
                        format!("✓ {time}{images} · {first}")
                    },
                    Style::default().fg(Color::Green),
                ),
            }
        }
    }
}

fn format_ms(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms} ms")
    } else {
        format!("{:.1} s", ms as f64 / 1000.0)
    }
}

/// Inner calls a folded program block shows (the latest ones).
const FOLDED_INNER_LINES: usize = 3;

/// The calls a program made, nested under it: the last `keep`, after a count of the rest.
fn inner_lines(out: &mut Vec<Line<'static>>, tool: &ToolEntry, keep: usize, width: usize) {
    let skipped = tool.inner.len().saturating_sub(keep);
    if skipped > 0 {
        out.push(Line::from(Span::styled(
            truncate(
                &format!(
                    "  ↳ … {skipped} earlier call{}",
                    if skipped == 1 { "" } else { "s" }
                ),
                width,
            ),
            dim(),
        )));
    }
    for call in &tool.inner[skipped..] {
        let status = match &call.error {
            Some(kind) => format!("✗ {kind}"),
            None => "✓".to_owned(),
        };
        let images = match call.images {
            0 => String::new(),
            1 => " · 1 image".to_owned(),
            n => format!(" · {n} images"),
        };
        let style = if call.error.is_some() {
            Style::default().fg(Color::Red)
        } else {
            dim()
        };
        out.push(Line::from(Span::styled(
            truncate(
                &format!(
                    "  ↳ #{} {} {status} {}{images} · {}",
                    call.index,
                    call.name,
                    format_ms(call.elapsed_ms),
                    call.first_line
                ),
                width,
            ),
            style,
        )));
    }
}

fn tool_lines(out: &mut Vec<Line<'static>>, tool: &ToolEntry, width: usize) {
    let name_style = Style::default()
        .fg(Color::Blue)
        .add_modifier(Modifier::BOLD);
    let (summary, summary_style) = tool_summary(tool);
    if tool.folded {
        let head = format!("▸ {} ", tool.name);
        let rest = width.saturating_sub(width_of(&head));
        out.push(Line::from(vec![
            Span::styled(truncate(&head, width), name_style),
            Span::styled(truncate(&tool.args_line, rest), dim()),
        ]));
        inner_lines(out, tool, FOLDED_INNER_LINES, width);
        out.push(Line::from(vec![
            Span::raw("  "),
            Span::styled(truncate(&summary, width.saturating_sub(2)), summary_style),
        ]));
        return;
    }
    out.push(Line::from(vec![
        Span::styled(truncate(&format!("▾ {}", tool.name), width), name_style),
        Span::styled(
            truncate(
                &format!("  round {} · call {}", tool.round, tool.call_id),
                width.saturating_sub(width_of(&tool.name) + 2),
            ),
            dim(),
        ),
    ]));
    for line in tool.args_pretty.lines() {
        para(out, "    ", dim(), line, dim(), width);
    }
    inner_lines(out, tool, usize::MAX, width);
    match &tool.result {
        None => out.push(Line::from(vec![
            Span::raw("  "),
            Span::styled(summary, summary_style),
        ])),
        Some(r) => {
            let head = match &r.error {
                Some(kind) => format!("✗ {kind} · {}", format_ms(r.elapsed_ms)),
                None => format!("✓ {}", format_ms(r.elapsed_ms)),
            };
            out.push(Line::from(vec![
                Span::raw("  "),
                Span::styled(truncate(&head, width.saturating_sub(2)), summary_style),
            ]));
            let mut shown = Vec::new();
            para(
                &mut shown,
                "    ",
                Style::default(),
                r.text.trim_end(),
                Style::default(),
                width,
            );
            let total = shown.len();
            if total > MAX_RESULT_LINES {
                shown.truncate(MAX_RESULT_LINES);
                shown.push(Line::from(Span::styled(
                    format!("    … {} more lines", total - MAX_RESULT_LINES),
                    dim(),
                )));
            }
            out.extend(shown);
            if !r.image_ids.is_empty() {
                para(
                    out,
                    "    images: ",
                    dim(),
                    &r.image_ids.join(" "),
                    Style::default().fg(Color::Cyan),
                    width,
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ui::state::InnerLine;

    fn program(inner: usize, folded: bool) -> ToolEntry {
        ToolEntry {
            round: 1,
            call_id: "p1".into(),
            name: "run_program".into(),
            args_line: "{}".into(),
            args_pretty: "{}".into(),
            result: None,
            folded,
            inner: (1..=inner as u32)
                .map(|index| InnerLine {
                    index,
                    name: "call_unit".into(),
                    error: (index == 2).then(|| "failed".to_owned()),
                    first_line: format!("result {index}"),
                    images: 2,
                    elapsed_ms: 5,
                })
                .collect(),
        }
    }

    fn text(lines: &[Line<'static>]) -> Vec<String> {
        lines
            .iter()
            .map(|l| l.spans.iter().map(|s| s.content.as_ref()).collect())
            .collect()
    }

    #[test]
    fn a_folded_program_shows_its_latest_inner_calls_after_a_count() {
        let mut out = Vec::new();
        tool_lines(&mut out, &program(5, true), 100);
        let lines = text(&out);
        assert!(lines[1].contains("↳ … 2 earlier calls"), "{lines:?}");
        assert!(
            lines[2].contains("#3 call_unit ✓") && lines[2].contains("2 images · result 3"),
            "{lines:?}"
        );
        assert!(lines[4].contains("#5"), "{lines:?}");
        let mut out = Vec::new();
        tool_lines(&mut out, &program(5, false), 100);
        let lines = text(&out);
        assert!(
            lines.iter().any(|l| l.contains("#2 call_unit ✗ failed")),
            "{lines:?}"
        );
        assert_eq!(lines.iter().filter(|l| l.contains("↳ #")).count(), 5);
    }
}
