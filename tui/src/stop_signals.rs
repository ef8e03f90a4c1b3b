//! The first SIGTERM or SIGINT asks for a stop at the next step; a second ends the process.
//!
//! Shared by headless `maia run` and batch workers: every event is already on disk, so a
//! second signal loses nothing but the step in progress.

use anyhow::{Context, Result};
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

/// Listens for SIGTERM and SIGINT. On the first, calls `on_first` with the signal's name;
/// on a second, calls `on_second` and exits with `second_exit` (or 128 + the first
/// signal's number). Returns the listening task and the first signal's number (0 while
/// none came).
pub fn stop_on_signals(
    on_first: impl FnOnce(&'static str) + Send + 'static,
    on_second: impl FnOnce() + Send + 'static,
    second_exit: Option<u8>,
) -> Result<(tokio::task::JoinHandle<()>, Arc<AtomicU8>)> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("listening for SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("listening for SIGINT")?;
    let first = Arc::new(AtomicU8::new(0));
    let seen = first.clone();
    let task = tokio::spawn(async move {
        let (name, signo) = tokio::select! {
            _ = term.recv() => ("SIGTERM", 15),
            _ = int.recv() => ("SIGINT", 2),
        };
        seen.store(signo, Ordering::SeqCst);
        on_first(name);
        tokio::select! {
            _ = term.recv() => {},
            _ = int.recv() => {},
        }
        on_second();
        std::process::exit(i32::from(second_exit.unwrap_or(128 + signo)));
    });
    Ok((task, first))
}
