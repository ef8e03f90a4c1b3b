//! Snapshot tests of every view at 80×24 and 200×60, fed from the recorded sample run
//! (`tests/fixtures/runs/sample`). Review changed `.snap` files like code.

use crate::support::ui::{app_with, draw, records_until, sample_records, screen_text};
use maia_core::agent::{Event, Record};
use maia_tui::ui::app::{Mode, Outcome};
use maia_tui::ui::detect::Resolved;
use maia_tui::ui::input::Action;

const SIZES: [(u16, u16); 2] = [(80, 24), (200, 60)];

fn snap(name: &str, make: impl Fn() -> maia_tui::ui::app::App) {
    for (w, h) in SIZES {
        let mut app = make();
        let terminal = draw(&mut app, w, h);
        insta::assert_snapshot!(format!("{name}_{w}x{h}"), terminal.backend());
    }
}

/// Round 1 of the sample, with its text arriving word by word and the round not yet
/// answered: the state a viewer sees mid-stream.
fn streaming_records(words: usize) -> Vec<Record> {
    let mut records = records_until(|e| matches!(e, Event::RoundStarted { round: 1 }));
    let full = sample_records();
    let (reasoning, text) = full
        .iter()
        .find_map(|r| match &r.event {
            Event::AssistantMessage {
                round: 1,
                text,
                reasoning,
                ..
            } => Some((reasoning.clone(), text.clone())),
            _ => None,
        })
        .expect("round 1 message");
    let mut seq = records.len() as u64;
    let t0 = records.last().map_or(0, |r| r.t_ms);
    let mut push = |text: String, reasoning: bool, seq: &mut u64| {
        records.push(Record {
            seq: *seq,
            t_ms: t0 + *seq * 40,
            event: Event::TextDelta {
                round: 1,
                text,
                reasoning,
            },
        });
        *seq += 1;
    };
    push(reasoning, true, &mut seq);
    for word in text.split_inclusive(' ').take(words) {
        push(word.to_string(), false, &mut seq);
    }
    records
}

#[test]
fn transcript_streaming() {
    snap("transcript_streaming", || {
        app_with(&streaming_records(18), Resolved::Halfblocks)
    });
}

#[test]
fn streaming_token_by_token_grows_one_block() {
    let mut app = app_with(&streaming_records(3), Resolved::Halfblocks);
    let before = app.view.entries.len();
    let records = streaming_records(12);
    for r in &records[records.len() - 9..] {
        app.apply(r);
    }
    assert_eq!(
        app.view.entries.len(),
        before,
        "deltas append to the open block"
    );
    let screen = screen_text(&draw(&mut app, 80, 24));
    assert!(screen.contains("I have no dataset exemplars"), "{screen}");
}

fn through_round_2() -> Vec<Record> {
    records_until(|e| matches!(e, Event::ToolFinished { round: 2, .. }))
}

#[test]
fn tool_call_folded() {
    snap("tool_folded", || {
        app_with(&through_round_2(), Resolved::Halfblocks)
    });
}

#[test]
fn tool_call_unfolded() {
    snap("tool_unfolded", || {
        let mut app = app_with(&through_round_2(), Resolved::Halfblocks);
        // Select the last tool call and unfold it; then look at its top.
        draw(&mut app, 80, 24);
        assert_eq!(app.handle(Action::SelectTool(false)), Outcome::Nothing);
        app.handle(Action::ToggleFold);
        app
    });
}

#[test]
fn whole_run_with_halfblock_images() {
    snap("run_completed", || {
        app_with(&sample_records(), Resolved::Halfblocks)
    });
}

#[test]
fn gallery_scrolled_back() {
    snap("gallery_back", || {
        let mut app = app_with(&sample_records(), Resolved::Halfblocks);
        draw(&mut app, 80, 24);
        app.handle(Action::GalleryPage(-2));
        app
    });
}

#[test]
fn images_listed_without_pictures() {
    snap("images_none", || {
        app_with(&sample_records(), Resolved::None)
    });
}

#[test]
fn status_paused() {
    snap("status_paused", || {
        app_with(
            &records_until(|e| matches!(e, Event::Paused { paused: true })),
            Resolved::Halfblocks,
        )
    });
}

#[test]
fn help_overlay() {
    snap("help", || {
        let mut app = app_with(&through_round_2(), Resolved::Halfblocks);
        app.handle(Action::ToggleHelp);
        assert_eq!(app.mode, Mode::Help);
        app
    });
}

#[test]
fn quit_confirm() {
    snap("quit_confirm", || {
        let mut app = app_with(&through_round_2(), Resolved::Halfblocks);
        app.handle(Action::AskQuit);
        app
    });
}

#[test]
fn note_input() {
    snap("note_input", || {
        let mut app = app_with(&through_round_2(), Resolved::Halfblocks);
        app.handle(Action::OpenNote);
        app.handle(Action::NoteInsert(
            "try blue circles on a red background".into(),
        ));
        app
    });
}

#[test]
fn resizes_cleanly_through_small_sizes() {
    let mut app = app_with(&sample_records(), Resolved::Halfblocks);
    for (w, h) in [
        (200, 60),
        (80, 24),
        (50, 12),
        (20, 6),
        (10, 3),
        (120, 40),
        (80, 24),
    ] {
        let screen = screen_text(&draw(&mut app, w, h));
        assert_eq!(screen.lines().count(), usize::from(h));
    }
    let screen = screen_text(&draw(&mut app, 80, 24));
    assert!(screen.contains("completed"), "{screen}");
}
