//! Shared helpers of the TUI tests: the recorded sample run and a test terminal.

use maia_core::agent::{Event, Record};
use maia_tui::ui::app::App;
use maia_tui::ui::detect::Resolved;
use maia_tui::ui::render;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use std::path::PathBuf;

/// `tests/fixtures/runs/sample`.
pub fn sample_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/runs/sample")
}

/// Every record of the sample run.
pub fn sample_records() -> Vec<Record> {
    let text = std::fs::read_to_string(sample_dir().join("events.jsonl"))
        .expect("read the sample journal");
    text.lines()
        .map(|l| serde_json::from_str(l).expect("a journal record"))
        .collect()
}

/// Records up to and including the first one `stop` accepts.
pub fn records_until(stop: impl Fn(&Event) -> bool) -> Vec<Record> {
    let mut out = Vec::new();
    for r in sample_records() {
        let done = stop(&r.event);
        out.push(r);
        if done {
            break;
        }
    }
    out
}

/// An app over the sample run's images with `records` folded in, its clock at the last
/// record (so the elapsed time is deterministic).
pub fn app_with(records: &[Record], mode: Resolved) -> App {
    let mut app = App::new(&sample_dir(), mode, false);
    for r in records {
        app.now_unix_ms = r.t_ms;
        app.apply(r);
    }
    app
}

/// Draws `app` on a `w × h` test terminal; images are decoded in between two draws so
/// the second frame shows them.
pub fn draw(app: &mut App, w: u16, h: u16) -> Terminal<TestBackend> {
    let mut terminal = Terminal::new(TestBackend::new(w, h)).expect("test terminal");
    terminal
        .draw(|f| {
            render::draw(f, app);
        })
        .expect("draw");
    app.images.resolve_now();
    terminal
        .draw(|f| {
            render::draw(f, app);
        })
        .expect("draw");
    terminal
}

/// The screen's text, one line per row.
pub fn screen_text(terminal: &Terminal<TestBackend>) -> String {
    let buf = terminal.backend().buffer();
    let mut out = String::new();
    for y in 0..buf.area.height {
        for x in 0..buf.area.width {
            out.push_str(buf[(x, y)].symbol());
        }
        out.push('\n');
    }
    out
}
