//! Taking the terminal over and always giving it back.
//!
//! [`enter`] switches to raw mode, the alternate screen, mouse capture and bracketed
//! paste, and hides the cursor. Restoring happens exactly once, whichever comes first:
//! the [`TerminalGuard`] is dropped (normal exit, `?` error return), a panic (the hook
//! restores before the message is printed, so it is readable), or a signal — SIGINT,
//! SIGTERM, SIGHUP — which [`Signals`] turns into an ordinary loop exit so the guard
//! drops. After an SSH drop the writes fail; they are ignored.

use crossterm::event::{
    DisableBracketedPaste, DisableMouseCapture, EnableBracketedPaste, EnableMouseCapture,
};
use crossterm::terminal::{
    EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
};
use crossterm::{cursor, execute};
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use std::io::{Stdout, stdout};
use std::sync::Once;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};

/// Whether the terminal is currently taken over.
static ACTIVE: AtomicBool = AtomicBool::new(false);
/// What [`enter`] turned on: bit 0 mouse capture.
static FEATURES: AtomicU8 = AtomicU8::new(0);
static PANIC_HOOK: Once = Once::new();

/// The ratatui terminal over stdout.
pub type Term = Terminal<CrosstermBackend<Stdout>>;

/// Owns the taken-over terminal; dropping it restores the terminal.
pub struct TerminalGuard {
    /// The terminal to draw on.
    pub terminal: Term,
}

impl std::fmt::Debug for TerminalGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TerminalGuard").finish_non_exhaustive()
    }
}

/// Takes the terminal over. On failure whatever was switched on is switched off again.
pub fn enter(mouse: bool) -> std::io::Result<TerminalGuard> {
    install_panic_hook();
    FEATURES.store(u8::from(mouse), Ordering::SeqCst);
    ACTIVE.store(true, Ordering::SeqCst);
    let setup = || -> std::io::Result<Term> {
        enable_raw_mode()?;
        let mut out = stdout();
        execute!(
            out,
            EnterAlternateScreen,
            EnableBracketedPaste,
            cursor::Hide
        )?;
        if mouse {
            execute!(out, EnableMouseCapture)?;
        }
        let mut terminal = Terminal::new(CrosstermBackend::new(stdout()))?;
        repaint(&mut terminal)?;
        Ok(terminal)
    };
    match setup() {
        Ok(terminal) => Ok(TerminalGuard { terminal }),
        Err(e) => {
            restore();
            Err(e)
        }
    }
}

/// Clears the screen and makes the next draw send every cell. Unlike ratatui's
/// `Terminal::clear`, this does not ask the terminal for the cursor position, a query
/// that races crossterm's event stream for the reply and can stall for seconds.
pub fn repaint(terminal: &mut Term) -> std::io::Result<()> {
    use ratatui::backend::{Backend, ClearType};
    terminal.backend_mut().clear_region(ClearType::All)?;
    // Resets the previous frame, so the diff against it covers the whole screen.
    terminal.swap_buffers();
    Ok(())
}

/// Gives the terminal back: mouse and paste modes off, main screen, cursor shown, raw
/// mode off. Safe to call any number of times from anywhere; only the first call after
/// [`enter`] does anything. Errors are ignored (the terminal may be gone).
pub fn restore() {
    if !ACTIVE.swap(false, Ordering::SeqCst) {
        return;
    }
    let mut out = stdout();
    if FEATURES.load(Ordering::SeqCst) & 1 != 0 {
        let _ = execute!(out, DisableMouseCapture);
    }
    let _ = execute!(
        out,
        DisableBracketedPaste,
        LeaveAlternateScreen,
        cursor::Show
    );
    let _ = disable_raw_mode();
}

/// Whether the terminal is taken over right now.
pub fn is_active() -> bool {
    ACTIVE.load(Ordering::SeqCst)
}

fn install_panic_hook() {
    PANIC_HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore();
            previous(info);
        }));
    });
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore();
    }
}

/// A signal that ends the UI.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signal {
    /// SIGINT (Ctrl-C from outside raw mode, `kill -INT`).
    Interrupt,
    /// SIGTERM (`kill`, a batch scheduler).
    Terminate,
    /// SIGHUP (the SSH connection or terminal went away).
    Hangup,
}

impl Signal {
    /// The conventional exit status for a process ended by this signal (128 + number).
    pub fn exit_code(self) -> u8 {
        match self {
            Signal::Hangup => 129,
            Signal::Interrupt => 130,
            Signal::Terminate => 143,
        }
    }
}

/// Listens for SIGINT, SIGTERM and SIGHUP. While it exists (and after: tokio keeps the
/// handlers installed) these signals no longer kill the process by default, so the
/// caller must exit after the UI returns [`super::UiExit::Signal`].
#[cfg(unix)]
#[derive(Debug)]
pub struct Signals {
    int: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

#[cfg(unix)]
impl Signals {
    /// Registers the handlers (needs a tokio runtime).
    pub fn new() -> std::io::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Signals {
            int: signal(SignalKind::interrupt())?,
            term: signal(SignalKind::terminate())?,
            hup: signal(SignalKind::hangup())?,
        })
    }

    /// The next signal.
    pub async fn recv(&mut self) -> Signal {
        tokio::select! {
            _ = self.int.recv() => Signal::Interrupt,
            _ = self.term.recv() => Signal::Terminate,
            _ = self.hup.recv() => Signal::Hangup,
        }
    }
}

/// Ctrl-C only, where there are no Unix signals.
#[cfg(not(unix))]
#[derive(Debug)]
pub struct Signals;

#[cfg(not(unix))]
impl Signals {
    /// Nothing to register.
    pub fn new() -> std::io::Result<Self> {
        Ok(Signals)
    }

    /// The next Ctrl-C.
    pub async fn recv(&mut self) -> Signal {
        let _ = tokio::signal::ctrl_c().await;
        Signal::Interrupt
    }
}
