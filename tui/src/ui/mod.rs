//! The terminal UI: a live run ([`run_live`]) or a journal followed from elsewhere
//! ([`watch`]), drawn from the same [`Record`] stream the journal stores, so a live run,
//! a resumed run and a watched run look the same.
//!
//! Module map: [`state`] folds records into a view model; [`app`] adds scroll positions,
//! overlays and what each key does; [`transcript`], [`images`], [`status`], [`help`] and
//! [`dialog`] draw the parts that [`render`] puts together at the places [`layout`]
//! computes; [`input`] maps keys and mouse to actions; [`terminal`] takes the terminal
//! over and always gives it back; [`detect`] picks sixel or half blocks; [`sixel`] and
//! [`halfblocks`] turn pixels into escape codes or coloured cells; [`follow`] tails a
//! growing `events.jsonl`; [`batch`] is the live table of a whole batch of runs.

pub mod app;
pub mod batch;
pub mod detect;
pub mod dialog;
mod event_loop;
pub mod follow;
pub mod halfblocks;
pub mod help;
pub mod images;
pub mod input;
pub mod layout;
pub mod render;
pub mod sixel;
pub mod state;
pub mod status;
pub mod terminal;
pub mod transcript;
pub mod wrap;

use anyhow::{Result, bail};
use maia_core::agent::{Control, Record};
use std::path::PathBuf;
use tokio::sync::mpsc;

pub use terminal::Signal;

/// How images are shown (`--images`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ImageMode {
    /// Sixel when the terminal says it can (not inside tmux/screen), else half blocks.
    #[default]
    Auto,
    /// Sixel, even where detection says no (e.g. a sixel-capable tmux build).
    Sixel,
    /// Coloured half-block characters: works everywhere.
    Halfblocks,
    /// No pictures; the image pane lists ids, activations and captions.
    None,
}

/// Options of the terminal UI.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UiOptions {
    /// How images are shown.
    pub images: ImageMode,
    /// Frames per second at most (redraws are coalesced to this rate).
    pub max_fps: u32,
    /// Capture the mouse (wheel scrolling, clicks). Off lets the terminal select text.
    pub mouse: bool,
}

impl Default for UiOptions {
    fn default() -> Self {
        UiOptions {
            images: ImageMode::Auto,
            max_fps: 30,
            mouse: true,
        }
    }
}

/// Why the UI returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UiExit {
    /// The user quit and confirmed; [`Control::Quit`] was sent (the run stops after its
    /// current step and can be resumed).
    Quit,
    /// The run had ended (or, when watching, the user left) and the user closed the view
    /// without being asked. In a live view [`Control::Quit`] is still sent, so an agent
    /// that is in fact still running stops instead of going on unseen.
    Closed,
    /// A signal arrived (or the terminal went away, reported as [`Signal::Hangup`]);
    /// [`Control::Quit`] was sent. The caller should let the agent finish its step and
    /// exit with [`Signal::exit_code`]: the UI's signal handlers replace the default
    /// "terminate" action for the rest of the process.
    Signal(Signal),
}

/// Shows a live run until the user leaves.
///
/// `events` carries every record of the run (for a resumed run, send the journal's
/// records first; they are folded exactly like live ones). `controls` receives the
/// oversight commands: [`Control::Pause`], [`Control::Note`], [`Control::ForceAnswer`],
/// and [`Control::Quit`] on quit or signal. Images are read from `run_dir/images/`.
/// When the run ends the view stays up showing the outcome until the user presses `q`.
/// The terminal is restored before this returns, on every path, and on panic.
pub async fn run_live(
    events: mpsc::Receiver<Record>,
    controls: mpsc::Sender<Control>,
    run_dir: PathBuf,
    opts: UiOptions,
) -> Result<UiExit> {
    event_loop::run(events, Some(controls), &run_dir, opts).await
}

/// Follows a run's journal (`run_dir/events.jsonl`) read-only: replays what is there,
/// then shows new records as the run that owns it appends them. A torn last line is
/// waited on, never fatal; the journal may not exist yet (the run is starting). Returns
/// when the user quits or a signal arrives.
pub async fn watch(run_dir: PathBuf, opts: UiOptions) -> Result<()> {
    if !run_dir.is_dir() {
        bail!(
            "{} is not a run folder; `maia runs` lists runs",
            run_dir.display()
        );
    }
    let (tx, rx) = mpsc::channel(4096);
    let _follower = follow::spawn(maia_core::agent::dir::RunDir::new(&run_dir).events(), tx)?;
    event_loop::run(rx, None, &run_dir, opts).await?;
    Ok(())
}
