//! The UI's whole state — the folded run, scroll positions, image caches, the open
//! overlay — and what each [`Action`] does to it. Synchronous and terminal-free, so the
//! tests drive it exactly as the event loop does.

use super::UiExit;
use super::detect::Resolved;
use super::images::{GalleryView, ImageStore};
use super::input::Action;
use super::layout::Areas;
use super::state::{Phase, RunView};
use super::transcript::TranscriptView;
use maia_core::agent::{Control, Event, Record};
use std::path::Path;

/// A yes/no question on screen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Confirm {
    /// Quit the run (`q`).
    Quit,
    /// Stop experimenting and answer now (`s`).
    Answer,
}

/// What has the keyboard.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mode {
    /// The panes.
    Normal,
    /// The help overlay.
    Help,
    /// A yes/no question.
    Confirm(Confirm),
    /// The note input line, with the text typed so far.
    Note(String),
}

/// An oversight request sent but not yet confirmed by the journal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Request {
    /// Pause asked for.
    Pause,
    /// Resume asked for.
    Resume,
    /// Final answer asked for.
    Answer,
}

/// What the event loop should do after an action.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing beyond redrawing.
    Nothing,
    /// Send this to the agent.
    Send(Control),
    /// Leave the UI.
    Exit(UiExit),
    /// Clear the screen and repaint.
    Redraw,
}

/// The UI state.
#[derive(Debug)]
pub struct App {
    /// The run, folded from its records.
    pub view: RunView,
    /// Transcript scroll and selection.
    pub transcript: TranscriptView,
    /// Gallery window.
    pub gallery: GalleryView,
    /// Decoded and prepared images.
    pub images: ImageStore,
    /// How images are drawn.
    pub image_mode: Resolved,
    /// What has the keyboard.
    pub mode: Mode,
    /// `maia watch`: oversight keys are off.
    pub read_only: bool,
    /// Oversight request awaiting its journal record.
    pub request: Option<Request>,
    /// A one-off message in the status bar, cleared by the next key.
    pub flash: Option<String>,
    /// Wall clock for the elapsed time (UNIX ms), set by the loop before each frame.
    pub now_unix_ms: u64,
    /// The record source ended (the agent task is gone).
    pub source_closed: bool,
    /// Pane rectangles of the last frame.
    pub areas: Option<Areas>,
    last_record_unix_ms: u64,
}

impl App {
    /// A fresh UI for the run in `run_dir`.
    pub fn new(run_dir: &Path, image_mode: Resolved, read_only: bool) -> Self {
        App {
            view: RunView::new(),
            transcript: TranscriptView::new(),
            gallery: GalleryView::default(),
            images: ImageStore::new(maia_core::agent::dir::RunDir::new(run_dir).images()),
            image_mode,
            mode: Mode::Normal,
            read_only,
            request: None,
            flash: None,
            now_unix_ms: 0,
            source_closed: false,
            areas: None,
            last_record_unix_ms: 0,
        }
    }

    /// Folds one record in and settles any request it confirms.
    pub fn apply(&mut self, record: &Record) {
        self.view.apply(record);
        self.last_record_unix_ms = self.now_unix_ms;
        match (&record.event, self.request) {
            (Event::Paused { .. }, Some(Request::Pause | Request::Resume)) => self.request = None,
            (Event::FinalAnswer { .. } | Event::RunEnded { .. }, _) => self.request = None,
            _ => {}
        }
    }

    /// Whether the run is over (ended, or nobody is sending records any more in a live
    /// view).
    pub fn finished(&self) -> bool {
        matches!(self.view.phase, Phase::Ended(_)) || (self.source_closed && !self.read_only)
    }

    /// Milliseconds the run has been going, as shown in the status bar.
    pub fn elapsed_ms(&self) -> u64 {
        let journal = self.view.journal_elapsed_ms();
        if self.finished() || self.view.summary.first_ms.is_none() {
            return journal;
        }
        match self.view.started_unix_ms() {
            Some(start) if self.now_unix_ms >= start => (self.now_unix_ms - start).max(journal),
            Some(_) => journal,
            None => journal + self.now_unix_ms.saturating_sub(self.last_record_unix_ms),
        }
    }

    /// Whether the run is paused or about to be.
    fn paused_or_pausing(&self) -> bool {
        match (self.view.phase, self.request) {
            (Phase::Paused, Some(Request::Resume)) => false,
            (Phase::Paused, _) => true,
            (_, Some(Request::Pause)) => true,
            _ => false,
        }
    }

    /// Refuses an oversight key when it cannot apply; returns the reason.
    fn oversight_blocked(&self) -> Option<String> {
        if self.read_only {
            return Some(
                "read-only: oversight keys work in the terminal that runs the agent".into(),
            );
        }
        if self.finished() {
            return Some("the run has ended".into());
        }
        None
    }

    /// Applies an action.
    pub fn handle(&mut self, action: Action) -> Outcome {
        if !matches!(action, Action::Resize | Action::Redraw) {
            self.flash = None;
        }
        match action {
            Action::Scroll(n) => self.transcript.scroll_by(&self.view, n),
            Action::Page(n) => self.transcript.page(&self.view, n),
            Action::Top => self.transcript.to_top(&self.view),
            Action::Bottom => {
                self.transcript.to_end();
                self.gallery.scroll = super::images::GalleryScroll::Follow;
            }
            Action::SelectTool(forward) => self.transcript.select_tool(&self.view, forward),
            Action::ToggleFold => {
                let target = self.transcript.selected.or_else(|| self.view.last_tool());
                if let Some(index) = target {
                    self.transcript.selected = Some(index);
                    self.view.toggle_fold(index);
                    self.transcript.reveal(&self.view, index);
                }
            }
            Action::ClearSelection => self.transcript.selected = None,
            Action::Click(col, row) => self.click(col, row),
            Action::GalleryPage(n) => self.gallery.page(&self.view, n),
            Action::GalleryRows(n) => self.gallery.rows(&self.view, n),
            Action::TogglePause => {
                if let Some(why) = self.oversight_blocked() {
                    self.flash = Some(why);
                    return Outcome::Nothing;
                }
                let pause = !self.paused_or_pausing();
                self.request = Some(if pause {
                    Request::Pause
                } else {
                    Request::Resume
                });
                self.flash = Some(if pause {
                    "pausing after the current step… (p resumes)".into()
                } else {
                    "resuming…".into()
                });
                return Outcome::Send(Control::Pause(pause));
            }
            Action::OpenNote => match self.oversight_blocked() {
                Some(why) => self.flash = Some(why),
                None => self.mode = Mode::Note(String::new()),
            },
            Action::AskAnswer => match self.oversight_blocked() {
                Some(why) => self.flash = Some(why),
                None => self.mode = Mode::Confirm(Confirm::Answer),
            },
            Action::AskQuit => {
                if self.read_only || self.finished() {
                    return Outcome::Exit(UiExit::Closed);
                }
                self.mode = Mode::Confirm(Confirm::Quit);
            }
            Action::ToggleHelp => {
                self.mode = if self.mode == Mode::Help {
                    Mode::Normal
                } else {
                    Mode::Help
                };
            }
            Action::Close => self.mode = Mode::Normal,
            Action::Answer(yes) => {
                let which = match &self.mode {
                    Mode::Confirm(c) => *c,
                    _ => return Outcome::Nothing,
                };
                self.mode = Mode::Normal;
                if !yes {
                    return Outcome::Nothing;
                }
                return match which {
                    Confirm::Quit => Outcome::Exit(UiExit::Quit),
                    Confirm::Answer => {
                        self.request = Some(Request::Answer);
                        self.flash = Some("asked for the final answer".into());
                        Outcome::Send(Control::ForceAnswer)
                    }
                };
            }
            Action::NoteInsert(text) => {
                if let Mode::Note(note) = &mut self.mode {
                    note.push_str(&text);
                }
            }
            Action::NoteBackspace => {
                if let Mode::Note(note) = &mut self.mode {
                    note.pop();
                }
            }
            Action::NoteClear => {
                if let Mode::Note(note) = &mut self.mode {
                    note.clear();
                }
            }
            Action::NoteSubmit => {
                let Mode::Note(note) = std::mem::replace(&mut self.mode, Mode::Normal) else {
                    return Outcome::Nothing;
                };
                let note = note.trim().to_string();
                if note.is_empty() {
                    return Outcome::Nothing;
                }
                self.flash = Some("note sent: the agent reads it in its next message".into());
                return Outcome::Send(Control::Note(note));
            }
            Action::Redraw => return Outcome::Redraw,
            Action::Resize => {}
        }
        Outcome::Nothing
    }

    fn click(&mut self, col: u16, row: u16) {
        let Some(areas) = self.areas else {
            return;
        };
        let t = areas.transcript;
        // The pane's inner area starts one cell in from its border.
        if col <= t.x || col + 1 >= t.right() || row <= t.y || row + 1 >= t.bottom() {
            return;
        }
        let Some(index) = self.transcript.entry_at_row(row - t.y - 1) else {
            return;
        };
        if matches!(
            self.view.entries.get(index).map(|e| &e.kind),
            Some(super::state::EntryKind::Tool(_))
        ) {
            if self.transcript.selected == Some(index) {
                self.view.toggle_fold(index);
            }
            self.transcript.selected = Some(index);
        }
    }
}
