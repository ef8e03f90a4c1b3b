//! The async loop behind [`super::run_live`] and [`super::watch`]: records, keys, mouse,
//! signals and finished image jobs in; frames out, at most `max_fps` a second. Records
//! that arrive between frames are folded in as a batch, so a model streaming 1,000
//! tokens a second costs one redraw per frame, not one per token.

use super::app::{App, Outcome};
use super::detect::{self, Env, Resolved};
use super::images::{Done, Placement, run_job};
use super::input::{map_event, split_escape_prefix};
use super::terminal::{self, Signals};
use super::{UiExit, UiOptions, render};
use anyhow::{Context, Result};
use futures_util::StreamExt;
use maia_core::agent::{Control, Record};
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::mpsc;

/// Records folded per wake-up before input gets a turn (a long replay stays responsive).
const BATCH: usize = 2_000;

fn now_unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Sends a control without blocking the UI; returns a message when it could not go.
fn send(controls: Option<&mpsc::Sender<Control>>, control: Control) -> Option<String> {
    let tx = controls?;
    match tx.try_send(control) {
        Ok(()) => None,
        Err(mpsc::error::TrySendError::Full(_)) => {
            Some("the agent is busy; press the key again in a moment".into())
        }
        Err(mpsc::error::TrySendError::Closed(_)) => Some("the run is no longer listening".into()),
    }
}

/// Runs the UI until the user leaves, a signal arrives or the terminal goes away.
pub(crate) async fn run(
    mut records: mpsc::Receiver<Record>,
    controls: Option<mpsc::Sender<Control>>,
    run_dir: &Path,
    opts: UiOptions,
) -> Result<UiExit> {
    let mut signals = Signals::new().context("could not listen for SIGINT/SIGTERM/SIGHUP")?;
    let mut guard = terminal::enter(opts.mouse).context(
        "could not take over the terminal (raw mode / alternate screen); \
         use --headless for logs and batch jobs",
    )?;
    let mode = detect::resolve(
        opts.images,
        &Env::from_process(),
        || detect::query_terminal(detect::QUERY_TIMEOUT),
        detect::winsize_cell(),
    );
    let mut app = App::new(run_dir, mode, controls.is_none());
    let mut input = crossterm::event::EventStream::new();
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<Done>();
    let frame = Duration::from_millis(1000 / u64::from(opts.max_fps.clamp(1, 120)));
    let mut last_draw: Option<Instant> = None;
    let mut dirty = true;
    let mut clear_first = false;
    let mut placements: Vec<Placement> = Vec::new();
    let mut records_open = true;
    let mut clock = tokio::time::interval(Duration::from_secs(1));
    clock.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);

    let exit = loop {
        // Draw when something changed and the frame budget allows.
        let due = last_draw.is_none_or(|t| t.elapsed() >= frame);
        if dirty && due {
            app.now_unix_ms = now_unix_ms();
            let term = &mut guard.terminal;
            if clear_first {
                terminal::repaint(term)?;
                clear_first = false;
            }
            let mut placed = Vec::new();
            term.draw(|f| placed = render::draw(f, &mut app))?;
            if matches!(app.image_mode, Resolved::Sixel { .. }) && placed != placements {
                // Pictures moved: repaint from scratch so no old pixels linger.
                terminal::repaint(term)?;
                term.draw(|f| placed = render::draw(f, &mut app))?;
            }
            placements = placed;
            last_draw = Some(Instant::now());
            dirty = false;
            for job in app.images.take_jobs() {
                let tx = done_tx.clone();
                tokio::task::spawn_blocking(move || {
                    let _ = tx.send(run_job(job));
                });
            }
        }
        let wait = match last_draw {
            Some(t) if dirty => frame.saturating_sub(t.elapsed()),
            _ => Duration::from_secs(3600),
        };

        tokio::select! {
            biased;
            signal = signals.recv() => {
                let _ = send(controls.as_ref(), Control::Quit);
                break UiExit::Signal(signal);
            }
            event = input.next() => {
                let Some(Ok(event)) = event else {
                    // The terminal is gone (stdin closed): treat as a hangup.
                    let _ = send(controls.as_ref(), Control::Quit);
                    break UiExit::Signal(terminal::Signal::Hangup);
                };
                let images = app.areas.and_then(|a| a.images);
                let before = app.mode.clone();
                let mut exit = None;
                for event in split_escape_prefix(event) {
                    let Some(action) = map_event(&event, &app.mode, images) else {
                        continue;
                    };
                    match app.handle(action) {
                        Outcome::Nothing => {}
                        Outcome::Redraw => clear_first = true,
                        Outcome::Send(control) => {
                            if let Some(why) = send(controls.as_ref(), control) {
                                app.flash = Some(why);
                                app.request = None;
                            }
                        }
                        Outcome::Exit(e) => {
                            exit = Some(e);
                            break;
                        }
                    }
                }
                if let Some(exit) = exit {
                    // Also on closing an ended run: if the agent is in fact still
                    // there (a resumed run whose records did not all arrive), it
                    // stops cleanly instead of running on unseen.
                    if let Some(tx) = &controls {
                        let _ = tx.send_timeout(Control::Quit, Duration::from_secs(2)).await;
                    }
                    break exit;
                }
                if before != app.mode && matches!(app.image_mode, Resolved::Sixel { .. }) {
                    clear_first = true;
                }
                dirty = true;
            }
            record = records.recv(), if records_open => {
                match record {
                    Some(record) => {
                        app.now_unix_ms = now_unix_ms();
                        app.apply(&record);
                        let mut n = 1;
                        while n < BATCH {
                            match records.try_recv() {
                                Ok(record) => app.apply(&record),
                                Err(_) => break,
                            }
                            n += 1;
                        }
                    }
                    None => {
                        records_open = false;
                        app.source_closed = true;
                    }
                }
                dirty = true;
            }
            Some(done) = done_rx.recv() => {
                app.images.finish(done);
                while let Ok(done) = done_rx.try_recv() {
                    app.images.finish(done);
                }
                dirty = true;
            }
            _ = clock.tick() => dirty = true,
            _ = tokio::time::sleep(wait), if dirty => {}
        }
    };
    drop(guard);
    Ok(exit)
}
