//! The live table of a batch (`maia watch OUT/`): one row per unit with its state, rounds,
//! cost, time and answer, refreshed from the run journals while the batch runs; Enter
//! opens the selected unit in the run view ([`super::watch`]) and `q` there comes back.
//!
//! The table knows nothing of how a batch is stored: the caller lends a loader that
//! returns a [`BatchSnapshot`], called off the UI thread about once a second (never two at
//! once), so thousands of journals never stall a frame.

use super::terminal::{self, Signals};
use super::wrap::{one_line, truncate, width};
use super::{UiOptions, status};
use anyhow::{Context, Result};
use crossterm::event::{Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseEventKind};
use futures_util::StreamExt;
use ratatui::Frame;
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Row, Table, TableState};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// How often the loader is called.
pub const REFRESH: Duration = Duration::from_secs(1);

/// Where a unit of a batch stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum UnitState {
    /// A worker is on it now.
    Running,
    /// Ended badly (the run failed, or its journal cannot be read).
    Failed,
    /// Started, then cut off (killed, cancelled): `maia batch resume` continues it.
    Interrupted,
    /// Not started.
    Pending,
    /// Answered (or stopped at a limit with an answer).
    Done,
}

impl UnitState {
    /// Every state, in the order the filter key cycles through them.
    pub const ALL: [UnitState; 5] = [
        UnitState::Running,
        UnitState::Failed,
        UnitState::Interrupted,
        UnitState::Pending,
        UnitState::Done,
    ];

    /// Lower-case name, as `maia batch status` prints it.
    pub fn as_str(self) -> &'static str {
        match self {
            UnitState::Running => "running",
            UnitState::Failed => "failed",
            UnitState::Interrupted => "interrupted",
            UnitState::Pending => "pending",
            UnitState::Done => "done",
        }
    }

    fn color(self) -> Color {
        match self {
            UnitState::Running => Color::Cyan,
            UnitState::Failed => Color::Red,
            UnitState::Interrupted => Color::Yellow,
            UnitState::Pending => Color::DarkGray,
            UnitState::Done => Color::Green,
        }
    }
}

/// One unit's row.
#[derive(Clone, Debug, PartialEq)]
pub struct BatchRow {
    /// The unit, `LAYER:N`.
    pub unit: String,
    /// Where it stands.
    pub state: UnitState,
    /// Rounds so far.
    pub rounds: u32,
    /// Dollars so far.
    pub cost_usd: f64,
    /// Seconds of agent time so far.
    pub seconds: f64,
    /// The answer's label (or description) once there is one; why it failed otherwise.
    pub note: String,
    /// Its run folder, when it has started.
    pub run_dir: Option<PathBuf>,
}

/// The whole batch at one moment.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BatchSnapshot {
    /// Shown in the header (the batch folder, target, task).
    pub title: String,
    /// Every unit, in the batch's order.
    pub rows: Vec<BatchRow>,
    /// Units finished per hour lately, when known.
    pub units_per_hour: Option<f64>,
    /// Time left at that rate, when known.
    pub eta: Option<Duration>,
}

impl BatchSnapshot {
    /// How many units are in `state`.
    pub fn count(&self, state: UnitState) -> usize {
        self.rows.iter().filter(|r| r.state == state).count()
    }

    /// Dollars over every unit.
    pub fn cost_usd(&self) -> f64 {
        self.rows.iter().map(|r| r.cost_usd).sum()
    }
}

/// What a key did to the table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TableOutcome {
    /// Nothing visible changed.
    Nothing,
    /// Redraw.
    Redraw,
    /// Refresh now.
    Refresh,
    /// Open this run in the run view.
    Open(PathBuf),
    /// Leave.
    Quit,
}

/// The table's state: the latest snapshot, the selection and the filter.
#[derive(Debug, Default)]
pub struct BatchTable {
    /// The latest snapshot.
    pub snapshot: BatchSnapshot,
    /// Only units in this state are listed; `None`: all.
    pub filter: Option<UnitState>,
    /// A one-line message in the footer (e.g. why Enter did nothing).
    pub flash: Option<String>,
    /// The loader's last error, shown until a load succeeds.
    pub load_error: Option<String>,
    /// The selected unit (kept across refreshes by name).
    selected: Option<String>,
    table: TableState,
    page: usize,
    /// The first listed row drawn: only the rows that fit are built each frame.
    offset: usize,
}

impl BatchTable {
    /// A table over `snapshot`, the first unit selected.
    pub fn new(snapshot: BatchSnapshot) -> Self {
        let mut table = BatchTable::default();
        table.update(snapshot);
        table
    }

    /// Replaces the snapshot, keeping the selected unit selected.
    pub fn update(&mut self, snapshot: BatchSnapshot) {
        self.snapshot = snapshot;
        self.load_error = None;
        self.reselect();
    }

    /// Indexes of the listed rows.
    pub fn visible(&self) -> Vec<usize> {
        (0..self.snapshot.rows.len())
            .filter(|&i| self.filter.is_none_or(|f| self.snapshot.rows[i].state == f))
            .collect()
    }

    /// The selected row, if any is listed.
    pub fn selected(&self) -> Option<&BatchRow> {
        let name = self.selected.as_ref()?;
        self.snapshot.rows.iter().find(|r| &r.unit == name)
    }

    fn reselect(&mut self) {
        let visible = self.visible();
        let position = self.selected.as_ref().and_then(|name| {
            visible
                .iter()
                .position(|&i| &self.snapshot.rows[i].unit == name)
        });
        let position = match (position, visible.is_empty()) {
            (_, true) => None,
            (Some(p), _) => Some(p),
            (None, _) => Some(self.table.selected().unwrap_or(0).min(visible.len() - 1)),
        };
        self.selected = position.map(|p| self.snapshot.rows[visible[p]].unit.clone());
        self.table.select(position);
    }

    fn move_by(&mut self, delta: isize) {
        let visible = self.visible();
        if visible.is_empty() {
            return;
        }
        let now = self.table.selected().unwrap_or(0) as isize;
        let to = (now + delta).clamp(0, visible.len() as isize - 1) as usize;
        self.table.select(Some(to));
        self.selected = Some(self.snapshot.rows[visible[to]].unit.clone());
    }

    /// Applies a key.
    pub fn key(&mut self, key: &KeyEvent) -> TableOutcome {
        if key.kind == KeyEventKind::Release {
            return TableOutcome::Nothing;
        }
        self.flash = None;
        let page = self.page.max(1) as isize;
        match key.code {
            KeyCode::Char('c') if key.modifiers.contains(KeyModifiers::CONTROL) => {
                TableOutcome::Quit
            }
            KeyCode::Char('q') | KeyCode::Esc => TableOutcome::Quit,
            KeyCode::Up | KeyCode::Char('k') => {
                self.move_by(-1);
                TableOutcome::Redraw
            }
            KeyCode::Down | KeyCode::Char('j') => {
                self.move_by(1);
                TableOutcome::Redraw
            }
            KeyCode::PageUp => {
                self.move_by(-page);
                TableOutcome::Redraw
            }
            KeyCode::PageDown | KeyCode::Char(' ') => {
                self.move_by(page);
                TableOutcome::Redraw
            }
            KeyCode::Home | KeyCode::Char('g') => {
                self.move_by(isize::MIN / 2);
                TableOutcome::Redraw
            }
            KeyCode::End | KeyCode::Char('G') => {
                self.move_by(isize::MAX / 2);
                TableOutcome::Redraw
            }
            KeyCode::Char('f') => {
                self.filter = match self.filter {
                    None => Some(UnitState::ALL[0]),
                    Some(s) => UnitState::ALL
                        .iter()
                        .position(|&x| x == s)
                        .and_then(|i| UnitState::ALL.get(i + 1).copied()),
                };
                self.reselect();
                TableOutcome::Redraw
            }
            KeyCode::Char('r') => TableOutcome::Refresh,
            KeyCode::Enter => match self.selected() {
                Some(BatchRow {
                    run_dir: Some(dir), ..
                }) => TableOutcome::Open(dir.clone()),
                Some(row) => {
                    self.flash = Some(format!("{} has not started yet", row.unit));
                    TableOutcome::Redraw
                }
                None => TableOutcome::Nothing,
            },
            _ => TableOutcome::Nothing,
        }
    }

    /// Draws the header, the table and the footer over `area`.
    pub fn draw(&mut self, area: Rect, buf: &mut Buffer) {
        if area.height < 4 || area.width < 20 {
            return;
        }
        let title = Rect { height: 1, ..area };
        let header = Rect {
            y: area.y + 1,
            height: 1,
            ..area
        };
        let footer = Rect {
            y: area.y + area.height - 1,
            height: 1,
            ..area
        };
        let body = Rect {
            y: area.y + 2,
            height: area.height - 3,
            ..area
        };
        let title_line = Line::from(Span::styled(
            format!(" {}", one_line(&self.snapshot.title)),
            Style::default().add_modifier(Modifier::BOLD),
        ));
        buf.set_line(title.x, title.y, &title_line, title.width);
        buf.set_line(header.x, header.y, &self.header_line(), header.width);
        self.page = usize::from(body.height.saturating_sub(1));
        self.draw_rows(body, buf);
        buf.set_line(footer.x, footer.y, &self.footer_line(), footer.width);
    }

    fn header_line(&self) -> Line<'static> {
        let s = &self.snapshot;
        let mut spans = vec![Span::raw(format!(" {} units ", s.rows.len()))];
        for state in [
            UnitState::Done,
            UnitState::Running,
            UnitState::Failed,
            UnitState::Interrupted,
            UnitState::Pending,
        ] {
            let n = s.count(state);
            if n > 0 || state == UnitState::Done {
                spans.push(Span::raw("· "));
                spans.push(Span::styled(
                    format!("{n} {} ", state.as_str()),
                    Style::default().fg(state.color()),
                ));
            }
        }
        spans.push(Span::raw(format!("· {} ", status::dollars(s.cost_usd()))));
        if let Some(rate) = s.units_per_hour {
            spans.push(Span::raw(format!("· {rate:.0} units/h ")));
        }
        if let Some(eta) = s.eta {
            spans.push(Span::raw(format!(
                "· ETA {} ",
                status::clock(eta.as_millis() as u64)
            )));
        }
        Line::from(spans)
    }

    fn footer_line(&self) -> Line<'static> {
        let filter = match self.filter {
            None => "all".to_string(),
            Some(s) => s.as_str().to_string(),
        };
        let text = if let Some(e) = &self.load_error {
            Span::styled(format!(" {e}"), Style::default().fg(Color::Red))
        } else if let Some(f) = &self.flash {
            Span::styled(format!(" {f}"), Style::default().fg(Color::Yellow))
        } else {
            Span::styled(
                format!(" ↑↓ select · Enter open · f filter ({filter}) · r refresh · q quit"),
                Style::default().fg(Color::DarkGray),
            )
        };
        Line::from(text)
    }

    fn draw_rows(&mut self, area: Rect, buf: &mut Buffer) {
        let visible = self.visible();
        if visible.is_empty() {
            let text = match self.filter {
                Some(s) => format!(" no {} units (f: next filter)", s.as_str()),
                None => " the batch lists no units".into(),
            };
            buf.set_string(area.x, area.y + 1, text, Style::default());
            return;
        }
        let unit_w = visible
            .iter()
            .map(|&i| width(&self.snapshot.rows[i].unit))
            .max()
            .unwrap_or(4)
            .clamp(4, 24) as u16;
        let widths = [
            Constraint::Length(unit_w),
            Constraint::Length(11),
            Constraint::Length(6),
            Constraint::Length(8),
            Constraint::Length(8),
            Constraint::Min(10),
        ];
        let note_w = usize::from(area.width.saturating_sub(unit_w + 11 + 6 + 8 + 8 + 5)).max(10);
        // Build only the rows that fit, scrolled so the selection stays in view (as
        // TableState would do, but without a Row for each of thousands of units).
        let height = usize::from(area.height.saturating_sub(1)).max(1);
        let selected = self.table.selected().unwrap_or(0).min(visible.len() - 1);
        if selected < self.offset {
            self.offset = selected;
        } else if selected >= self.offset + height {
            self.offset = selected + 1 - height;
        }
        self.offset = self.offset.min(visible.len().saturating_sub(height));
        let window = &visible[self.offset..(self.offset + height).min(visible.len())];
        let rows = window.iter().map(|&i| {
            let r = &self.snapshot.rows[i];
            let started = r.state != UnitState::Pending;
            Row::new(vec![
                Cell::from(truncate(&r.unit, usize::from(unit_w))),
                Cell::from(r.state.as_str()).style(Style::default().fg(r.state.color())),
                Cell::from(if started {
                    r.rounds.to_string()
                } else {
                    String::new()
                }),
                Cell::from(if started {
                    status::dollars(r.cost_usd)
                } else {
                    String::new()
                }),
                Cell::from(if started {
                    status::clock((r.seconds * 1000.0) as u64)
                } else {
                    String::new()
                }),
                Cell::from(truncate(&one_line(&r.note), note_w)),
            ])
        });
        let header = Row::new(["unit", "state", "rounds", "cost", "time", "answer"])
            .style(Style::default().add_modifier(Modifier::BOLD));
        let table = Table::new(rows, widths)
            .header(header)
            .column_spacing(1)
            .row_highlight_style(Style::default().add_modifier(Modifier::REVERSED));
        let mut drawn = TableState::default().with_selected(Some(selected - self.offset));
        ratatui::widgets::StatefulWidget::render(table, area, buf, &mut drawn);
    }
}

/// Loads a batch's state; called on a blocking thread.
pub type Loader = Arc<dyn Fn() -> Result<BatchSnapshot> + Send + Sync>;

/// Shows the live table until the user quits or a signal arrives. Enter opens a unit's
/// run in the run view; leaving that view comes back to the table.
pub async fn watch_batch(load: Loader, opts: UiOptions) -> Result<()> {
    let first = {
        let load = load.clone();
        tokio::task::spawn_blocking(move || load())
            .await
            .context("the batch loader panicked")??
    };
    let mut table = BatchTable::new(first);
    loop {
        match table_loop(&mut table, &load, opts).await? {
            Leave::Quit => return Ok(()),
            Leave::Open(dir) => {
                super::watch(dir, opts).await?;
            }
        }
    }
}

enum Leave {
    Quit,
    Open(PathBuf),
}

fn draw_frame(f: &mut Frame, table: &mut BatchTable) {
    let area = f.area();
    table.draw(area, f.buffer_mut());
}

async fn table_loop(table: &mut BatchTable, load: &Loader, opts: UiOptions) -> Result<Leave> {
    let mut signals = Signals::new().context("could not listen for SIGINT/SIGTERM/SIGHUP")?;
    let mut guard = terminal::enter(opts.mouse).context(
        "could not take over the terminal (raw mode / alternate screen); \
         use `maia batch status` for plain output",
    )?;
    let mut input = crossterm::event::EventStream::new();
    let mut clock = tokio::time::interval(REFRESH);
    clock.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut loading: Option<tokio::task::JoinHandle<Result<BatchSnapshot>>> = None;
    let mut dirty = true;
    let leave = loop {
        if dirty {
            guard.terminal.draw(|f| draw_frame(f, table))?;
            dirty = false;
        }
        tokio::select! {
            biased;
            _ = signals.recv() => break Leave::Quit,
            event = input.next() => {
                let Some(Ok(event)) = event else { break Leave::Quit };
                let outcome = match event {
                    Event::Key(key) => table.key(&key),
                    Event::Mouse(m) => match m.kind {
                        MouseEventKind::ScrollUp => table.key(&KeyEvent::from(KeyCode::Up)),
                        MouseEventKind::ScrollDown => table.key(&KeyEvent::from(KeyCode::Down)),
                        _ => TableOutcome::Nothing,
                    },
                    Event::Resize(..) => TableOutcome::Redraw,
                    _ => TableOutcome::Nothing,
                };
                match outcome {
                    TableOutcome::Nothing => {}
                    TableOutcome::Redraw => dirty = true,
                    TableOutcome::Refresh => clock.reset_immediately(),
                    TableOutcome::Open(dir) => break Leave::Open(dir),
                    TableOutcome::Quit => break Leave::Quit,
                }
            }
            _ = clock.tick(), if loading.is_none() => {
                let load = load.clone();
                loading = Some(tokio::task::spawn_blocking(move || load()));
            }
            done = async { loading.as_mut().expect("guarded").await }, if loading.is_some() => {
                loading = None;
                match done {
                    Ok(Ok(snapshot)) => table.update(snapshot),
                    Ok(Err(e)) => table.load_error = Some(crate::error_text::error_text(&e)),
                    Err(e) => table.load_error = Some(format!("the loader panicked: {e}")),
                }
                dirty = true;
            }
        }
    };
    drop(guard);
    Ok(leave)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;

    fn row(unit: &str, state: UnitState, rounds: u32, note: &str) -> BatchRow {
        BatchRow {
            unit: unit.into(),
            state,
            rounds,
            cost_usd: f64::from(rounds) * 0.01,
            seconds: f64::from(rounds) * 12.5,
            note: note.into(),
            run_dir: (state != UnitState::Pending).then(|| PathBuf::from(format!("runs/{unit}"))),
        }
    }

    fn snapshot() -> BatchSnapshot {
        BatchSnapshot {
            title: "out/ world-cnn describe-unit".into(),
            rows: vec![
                row("conv3:0", UnitState::Done, 6, "red circles"),
                row("conv3:1", UnitState::Running, 3, ""),
                row("conv3:2", UnitState::Interrupted, 2, "killed"),
                row(
                    "conv3:3",
                    UnitState::Failed,
                    1,
                    "the backend refused the key",
                ),
                row("conv3:4", UnitState::Pending, 0, ""),
            ],
            units_per_hour: Some(120.0),
            eta: Some(Duration::from_secs(125)),
        }
    }

    fn screen(table: &mut BatchTable, w: u16, h: u16) -> String {
        let mut terminal = Terminal::new(TestBackend::new(w, h)).expect("test terminal");
        terminal
            .draw(|f| draw_frame(f, table))
            .expect("draw to the test backend");
        let buf = terminal.backend().buffer();
        (0..h)
            .map(|y| {
                (0..w)
                    .map(|x| buf[(x, y)].symbol().to_string())
                    .collect::<String>()
                    .trim_end()
                    .to_string()
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn press(table: &mut BatchTable, code: KeyCode) -> TableOutcome {
        table.key(&KeyEvent::from(code))
    }

    #[test]
    fn header_counts_every_state_and_totals() {
        let mut t = BatchTable::new(snapshot());
        let s = screen(&mut t, 120, 10);
        let header = s.lines().nth(1).expect("a header");
        assert!(s.starts_with(" out/ world-cnn describe-unit"), "{s}");
        for part in [
            "5 units",
            "1 done",
            "1 running",
            "1 failed",
            "1 interrupted",
            "1 pending",
            "$0.120",
            "120 units/h",
            "ETA 02:05",
        ] {
            assert!(header.contains(part), "{part:?} missing from {header:?}");
        }
        assert!(s.contains("red circles"), "{s}");
        assert!(s.contains("the backend refused the key"), "{s}");
    }

    #[test]
    fn selection_survives_a_refresh_that_reorders_rows() {
        let mut t = BatchTable::new(snapshot());
        press(&mut t, KeyCode::Down);
        press(&mut t, KeyCode::Down);
        assert_eq!(t.selected().map(|r| r.unit.as_str()), Some("conv3:2"));
        let mut next = snapshot();
        next.rows.reverse();
        next.rows[2].state = UnitState::Running;
        t.update(next);
        assert_eq!(t.selected().map(|r| r.unit.as_str()), Some("conv3:2"));
        assert_eq!(t.selected().map(|r| r.state), Some(UnitState::Running));
    }

    #[test]
    fn enter_opens_started_units_and_explains_pending_ones() {
        let mut t = BatchTable::new(snapshot());
        assert_eq!(
            press(&mut t, KeyCode::Enter),
            TableOutcome::Open(PathBuf::from("runs/conv3:0"))
        );
        press(&mut t, KeyCode::End);
        assert_eq!(press(&mut t, KeyCode::Enter), TableOutcome::Redraw);
        assert_eq!(
            t.flash.as_deref(),
            Some("conv3:4 has not started yet"),
            "pending units say why nothing opens"
        );
        assert!(screen(&mut t, 100, 10).contains("conv3:4 has not started yet"));
    }

    #[test]
    fn filter_cycles_through_states_and_back_to_all() {
        let mut t = BatchTable::new(snapshot());
        let mut seen = Vec::new();
        for _ in 0..UnitState::ALL.len() {
            press(&mut t, KeyCode::Char('f'));
            let listed: Vec<UnitState> = t
                .visible()
                .iter()
                .map(|&i| t.snapshot.rows[i].state)
                .collect();
            assert_eq!(listed, vec![t.filter.expect("a filter")]);
            assert_eq!(t.selected().map(|r| r.state), t.filter);
            seen.push(t.filter.expect("a filter"));
        }
        assert_eq!(seen, UnitState::ALL.to_vec());
        press(&mut t, KeyCode::Char('f'));
        assert_eq!(t.filter, None);
        assert_eq!(t.visible().len(), 5);
    }

    #[test]
    fn movement_is_clamped_and_pages_follow_the_height() {
        let mut big = snapshot();
        big.rows = (0..100)
            .map(|i| row(&format!("conv4:{i}"), UnitState::Done, 1, "x"))
            .collect();
        let mut t = BatchTable::new(big);
        press(&mut t, KeyCode::Up);
        assert_eq!(t.selected().map(|r| r.unit.as_str()), Some("conv4:0"));
        let s = screen(&mut t, 80, 12);
        assert!(s.contains("conv4:0") && !s.contains("conv4:20"), "{s}");
        press(&mut t, KeyCode::PageDown);
        assert_eq!(
            t.selected().map(|r| r.unit.as_str()),
            Some("conv4:8"),
            "a page is the 8 rows a 12-line screen lists"
        );
        press(&mut t, KeyCode::End);
        assert_eq!(t.selected().map(|r| r.unit.as_str()), Some("conv4:99"));
        let s = screen(&mut t, 80, 12);
        assert!(
            s.contains("conv4:99"),
            "the selection scrolls into view: {s}"
        );
        press(&mut t, KeyCode::Down);
        assert_eq!(t.selected().map(|r| r.unit.as_str()), Some("conv4:99"));
    }

    #[test]
    fn only_the_rows_that_fit_are_drawn_and_the_selection_stays_in_view() {
        let mut big = snapshot();
        big.rows = (0..5_000)
            .map(|i| row(&format!("layer4:{i}"), UnitState::Done, 1, "x"))
            .collect();
        let mut t = BatchTable::new(big);
        press(&mut t, KeyCode::End);
        let s = screen(&mut t, 80, 12);
        assert!(
            s.contains("layer4:4999") && s.contains("layer4:4992"),
            "{s}"
        );
        assert!(!s.contains("layer4:4991 "), "8 rows fit: {s}");
        // Up within the window does not scroll; past its top it scrolls by one.
        for _ in 0..7 {
            press(&mut t, KeyCode::Up);
        }
        let s = screen(&mut t, 80, 12);
        assert!(
            s.contains("layer4:4992") && s.contains("layer4:4999"),
            "{s}"
        );
        press(&mut t, KeyCode::Up);
        let s = screen(&mut t, 80, 12);
        assert!(
            s.contains("layer4:4991") && !s.contains("layer4:4999"),
            "{s}"
        );
        // A refresh with fewer rows pulls the window back over them.
        let mut small = snapshot();
        small.rows = (0..3)
            .map(|i| row(&format!("layer4:{i}"), UnitState::Done, 1, "x"))
            .collect();
        t.update(small);
        let s = screen(&mut t, 80, 12);
        assert!(s.contains("layer4:0") && s.contains("layer4:2"), "{s}");
        assert_eq!(t.selected().map(|r| r.unit.as_str()), Some("layer4:2"));
    }

    #[test]
    fn a_failed_load_is_shown_until_one_succeeds() {
        let mut t = BatchTable::new(snapshot());
        t.load_error = Some("reading out/runs: permission denied".into());
        assert!(screen(&mut t, 100, 8).contains("permission denied"));
        t.update(snapshot());
        assert!(!screen(&mut t, 100, 8).contains("permission denied"));
    }

    #[test]
    fn tiny_terminals_draw_nothing_rather_than_panic() {
        let mut t = BatchTable::new(snapshot());
        assert_eq!(screen(&mut t, 10, 3).trim(), "");
    }
}
