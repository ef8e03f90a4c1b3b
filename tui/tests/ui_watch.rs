//! `maia watch`: following a journal while another process appends to it, torn last
//! lines included, both through the follower + view model and through the CLI.

use crate::support::maia;
use crate::support::ui::{draw, sample_dir, screen_text};
use maia_core::agent::Event;
use maia_tui::ui::app::App;
use maia_tui::ui::detect::Resolved;
use maia_tui::ui::follow::{self, JournalFollower};
use maia_tui::ui::state::Phase;
use std::io::Write;
use std::time::Duration;

fn sample_lines() -> Vec<String> {
    std::fs::read_to_string(sample_dir().join("events.jsonl"))
        .expect("sample journal")
        .lines()
        .map(str::to_string)
        .collect()
}

/// A run folder with the sample's images and an empty journal.
fn empty_run() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let images = dir.path().join("images");
    std::fs::create_dir(&images).expect("images dir");
    for entry in std::fs::read_dir(sample_dir().join("images")).expect("sample images") {
        let path = entry.expect("entry").path();
        if let Some(name) = path.file_name() {
            std::fs::copy(&path, images.join(name)).expect("copy image");
        }
    }
    dir
}

#[test]
fn the_view_follows_a_growing_journal_with_torn_lines() {
    let run = empty_run();
    let journal = run.path().join("events.jsonl");
    let lines = sample_lines();
    let mut follower = JournalFollower::new(&journal);
    let mut app = App::new(run.path(), Resolved::Halfblocks, true);

    // Before the run starts there is no journal: nothing, no error.
    assert!(follower.poll().expect("poll").is_empty());

    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&journal)
        .expect("journal");
    let mut applied = 0;
    for (i, line) in lines.iter().enumerate() {
        // Write each record in two pieces; poll in between (a torn last line).
        let (head, tail) = line.split_at(line.len() / 2);
        file.write_all(head.as_bytes()).expect("write");
        file.flush().expect("flush");
        for r in follower.poll().expect("poll torn") {
            app.apply(&r);
            applied += 1;
        }
        assert_eq!(applied, i, "a torn line was consumed");
        file.write_all(tail.as_bytes()).expect("write");
        file.write_all(b"\n").expect("write");
        for r in follower.poll().expect("poll whole") {
            app.apply(&r);
            applied += 1;
        }
        assert_eq!(applied, i + 1);
        if i == 10 {
            assert_eq!(app.view.phase, Phase::Running);
            let screen = screen_text(&draw(&mut app, 80, 24));
            assert!(
                screen.contains("watch"),
                "read-only badge missing:\n{screen}"
            );
        }
    }
    assert_eq!(follower.skipped, 0);
    assert!(matches!(app.view.phase, Phase::Ended(_)));
    let screen = screen_text(&draw(&mut app, 80, 24));
    assert!(screen.contains("answer: red circles"), "{screen}");
}

#[test]
fn a_crash_torn_line_then_resume_is_read_whole() {
    let run = empty_run();
    let journal = run.path().join("events.jsonl");
    let lines = sample_lines();
    // A crash leaves a torn record after 5 whole ones.
    let mut text: String = lines[..5].iter().map(|l| format!("{l}\n")).collect();
    let good = text.len() as u64;
    text.push_str(&lines[5][..20]);
    std::fs::write(&journal, &text).expect("write");
    let mut follower = JournalFollower::new(&journal);
    assert_eq!(follower.poll().expect("poll").len(), 5);
    // `maia resume` cuts the torn line and appends.
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&journal)
        .expect("open");
    file.set_len(good).expect("truncate");
    drop(file);
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&journal)
        .expect("open");
    for l in &lines[5..8] {
        writeln!(file, "{l}").expect("append");
    }
    let got = follower.poll().expect("poll");
    assert_eq!(got.iter().map(|r| r.seq).collect::<Vec<_>>(), vec![5, 6, 7]);
}

#[tokio::test]
async fn the_follower_thread_streams_records_as_they_land() {
    let run = empty_run();
    let journal = run.path().join("events.jsonl");
    let lines = sample_lines();
    let (tx, mut rx) = tokio::sync::mpsc::channel(64);
    let handle = follow::spawn(journal.clone(), tx).expect("spawn");
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&journal)
        .expect("journal");
    for l in &lines[..3] {
        writeln!(file, "{l}").expect("write");
    }
    for expected in 0..3 {
        let r = tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .expect("a record within 5 s")
            .expect("channel open");
        assert_eq!(r.seq, expected);
    }
    drop(rx);
    // The thread notices the closed channel and ends.
    tokio::task::spawn_blocking(move || handle.join())
        .await
        .expect("join task")
        .expect("thread ended cleanly");
}

#[test]
fn maia_watch_headless_replays_a_finished_run_and_exits() {
    let out = maia()
        .args(["watch", "--headless"])
        .arg(sample_dir())
        .output()
        .expect("run maia watch");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].contains("run sample started"), "{text}");
    assert!(
        lines.iter().any(|l| l.contains("note: Try the circle")),
        "{text}"
    );
    assert!(
        lines
            .last()
            .is_some_and(|l| l.ends_with("run completed: final answer given")),
        "{text}"
    );
    assert!(!text.contains('\x1b'));

    let json = maia()
        .args(["watch", "--json"])
        .arg(sample_dir().join("events.jsonl"))
        .output()
        .expect("run maia watch --json");
    assert!(json.status.success());
    let count = String::from_utf8_lossy(&json.stdout).lines().count();
    assert_eq!(count, sample_lines().len());
    let last = String::from_utf8_lossy(&json.stdout)
        .lines()
        .last()
        .map(str::to_string);
    assert!(last.is_some_and(|l| matches!(
        serde_json::from_str::<maia_core::agent::Record>(&l).map(|r| r.event),
        Ok(Event::RunEnded { .. })
    )));
}

#[test]
fn maia_watch_names_a_missing_run() {
    let out = maia()
        .args(["watch", "no-such-run", "--runs-dir"])
        .arg(std::env::temp_dir())
        .output()
        .expect("run maia watch");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no run 'no-such-run'") && err.contains("maia runs"),
        "{err}"
    );
}
