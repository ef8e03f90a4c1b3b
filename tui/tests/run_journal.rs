//! A run's folder and journal against what users do to them: a run id that would leave the
//! runs folder is refused, and a journal damaged in the middle keeps the run listed,
//! reported up to the damage, refused by `resume` with one message, and repaired by
//! `resume --repair` (a copy kept).

use crate::support::*;

/// `maia run --headless` on a synthetic unit as run `id` under `runs`, from `root`.
fn run_as(root: &std::path::Path, runs: &std::path::Path, id: &str) -> (i32, String, String) {
    run(maia()
        .current_dir(root)
        .args([
            "run",
            "--headless",
            "--target",
            "synthetic:red",
            "--runs-dir",
        ])
        .arg(runs)
        .args(["--id", id]))
}

/// Runs the offline agent on a synthetic unit to its end as run `id` under `root/runs`;
/// returns the runs folder and the run's journal.
fn finished_run(root: &std::path::Path, id: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let runs = root.join("runs");
    let (code, out, err) = run_as(root, &runs, id);
    assert_eq!(code, 0, "{out}{err}");
    let journal = runs.join(id).join("events.jsonl");
    (runs, journal)
}

#[test]
fn run_ids_are_one_folder_name() {
    let root = tempfile::tempdir().expect("tempdir");
    let runs = root.path().join("runs");
    for id in ["../escape", "", "a/b", "..", ".hidden"] {
        let (code, _, err) = run_as(root.path(), &runs, id);
        assert_eq!(code, 2, "--id {id:?} accepted: {err}");
        assert!(err.contains("a run id is one folder name"), "{id:?}: {err}");
    }
    assert!(
        !root.path().join("escape").exists(),
        "a run escaped the runs folder"
    );
    assert!(!runs.exists(), "a refused run left a folder");
}

#[test]
fn a_damaged_journal_keeps_the_run_listed_reported_and_repairable() {
    let root = tempfile::tempdir().expect("tempdir");
    let (runs, journal) = finished_run(root.path(), "r1");
    let text = std::fs::read_to_string(&journal).expect("journal");
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines.len() > 6, "{text}");
    let mut damaged = lines.clone();
    damaged.insert(4, "{\"seq\": garbage");
    std::fs::write(&journal, damaged.join("\n") + "\n").expect("damage");

    let (code, out, err) = run(maia().arg("runs").arg("--runs-dir").arg(&runs));
    assert_eq!(code, 0, "{err}");
    assert!(
        out.lines()
            .any(|l| l.contains("r1") && l.contains("damaged at line 5")),
        "the run is still listed: {out}"
    );

    let page = root.path().join("r1.html");
    let (code, out, err) = run(maia()
        .args(["report", "r1", "--runs-dir"])
        .arg(&runs)
        .arg("--out")
        .arg(&page));
    assert_eq!(code, 0, "{out}{err}");
    assert!(err.contains("damaged at line 5"), "{err}");
    let html = std::fs::read_to_string(&page).expect("page");
    assert!(html.contains("Damaged journal"), "the page says so");

    let resume = |extra: &[&str]| {
        run(maia()
            .args(["resume", "r1", "--headless", "--runs-dir"])
            .arg(&runs)
            .args(extra))
    };
    let (code, _, err) = resume(&[]);
    assert_ne!(code, 0);
    assert!(
        err.contains("damaged at line 5") && err.contains("maia resume --repair r1"),
        "{err}"
    );
    assert_eq!(err.matches("events.jsonl").count(), 1, "said once: {err}");

    let (code, out, err) = resume(&["--repair"]);
    assert!(code == 0 || code == 3, "{out}{err}");
    assert!(err.contains("kept the damaged journal as"), "{err}");
    let backups: Vec<_> = std::fs::read_dir(runs.join("r1"))
        .expect("run folder")
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("events.jsonl.damaged-")
        })
        .collect();
    assert_eq!(backups.len(), 1);
    assert!(
        std::fs::read_to_string(backups[0].path())
            .expect("backup")
            .contains("{\"seq\": garbage"),
        "the copy keeps the damaged journal as it was"
    );
    let repaired = std::fs::read_to_string(&journal).expect("journal");
    assert!(
        repaired
            .lines()
            .all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok()),
        "every line is a record again"
    );
    assert!(
        repaired.lines().count() > 4,
        "resumed from the valid records"
    );
}

#[test]
fn events_of_an_unknown_kind_are_named_and_passed_over() {
    let root = tempfile::tempdir().expect("tempdir");
    let (runs, journal) = finished_run(root.path(), "r2");
    let text = std::fs::read_to_string(&journal).expect("journal");
    let mut lines: Vec<&str> = text.lines().collect();
    // As a newer maia would write it: a well-formed record of a kind this one lacks.
    lines.insert(3, r#"{"seq":99,"t_ms":1,"type":"hologram","depth":3}"#);
    std::fs::write(&journal, lines.join("\n") + "\n").expect("write");

    let (code, out, err) = run(maia().arg("runs").arg("--runs-dir").arg(&runs));
    assert_eq!(code, 0, "{err}");
    assert!(
        out.lines()
            .any(|l| l.contains("r2") && l.contains("completed")),
        "{out}"
    );
    let (code, out, err) = run(maia()
        .args(["report", "r2", "--runs-dir"])
        .arg(&runs)
        .arg("--out")
        .arg(root.path().join("r2.html")));
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        err.contains("`hologram` at line 4") && !err.contains("damaged"),
        "{err}"
    );
}
