//! `report.html`: a run as one page — the task, every round's reasoning and text, each
//! tool call with its arguments, result and images (with activations and captions),
//! notes, nudges, retries and warnings where they happened, and the final answer with
//! its score. The page is self-contained: CSS inline, images as `data:` URIs, no script,
//! so it opens offline wherever it is copied.
//!
//! [`model`] folds the journal into rounds, [`html`] renders them, [`images`] inlines the
//! image files and [`score`] finds the answer's score. What a damaged or unfinished run
//! leaves is reported, not refused: a torn last journal line is left out and said so, a
//! run without an end is marked in progress, a missing image file becomes a placeholder.

pub mod html;
pub mod images;
pub mod model;
pub mod score;

use maia_core::agent::journal::{now_ms, read_journal};
use model::RunReport;
use score::ScoreSection;
use std::path::{Path, PathBuf};

/// The file name a report is written to inside its run folder.
pub use maia_core::agent::dir::REPORT_FILE;

/// Why a report could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The run folder has no journal.
    #[error("{} has no journal (events.jsonl): it is not a run folder, or the run never started; `maia runs` lists runs", .dir.display())]
    NoJournal {
        /// The run folder.
        dir: PathBuf,
    },
    /// The journal could not be read.
    #[error("reading the journal {}: {source}", .path.display())]
    Journal {
        /// The journal.
        path: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
    /// The page could not be written.
    #[error("writing the report {}: {source}", .path.display())]
    Write {
        /// Where it was to go.
        path: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
}

/// What a written report holds.
#[derive(Debug, Clone, PartialEq)]
pub struct Written {
    /// Where the page is.
    pub path: PathBuf,
    /// Its size in bytes.
    pub bytes: usize,
    /// Rounds on it.
    pub rounds: usize,
    /// Images on it (every occurrence).
    pub images: usize,
    /// Distinct images that could not be inlined (placeholders instead).
    pub missing_images: usize,
    /// How the run stands (`completed`, `in progress`, …).
    pub state: String,
    /// Bytes of a torn last journal line left out.
    pub torn_bytes: u64,
    /// Where the journal is damaged, if it is (the page shows what precedes it).
    pub damage: Option<String>,
    /// Records of unknown event kinds left out.
    pub unknown: Vec<String>,
}

/// Reads a run folder's journal and folds it. The run id is the folder's name.
pub fn load(run_dir: &Path) -> Result<RunReport, ReportError> {
    let path = maia_core::agent::dir::RunDir::new(run_dir).events();
    if !path.is_file() {
        return Err(ReportError::NoJournal {
            dir: run_dir.to_path_buf(),
        });
    }
    let contents = read_journal(&path).map_err(|source| ReportError::Journal {
        path: path.clone(),
        source,
    })?;
    let id = run_dir
        .canonicalize()
        .ok()
        .as_deref()
        .unwrap_or(run_dir)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| run_dir.display().to_string());
    let mut report = RunReport::from_records(id, &contents.records, contents.torn_bytes);
    report.damage = contents.damage.map(|d| d.to_string());
    report.unknown = contents
        .unknown
        .iter()
        .map(|u| format!("`{}` at line {}", u.kind, u.line))
        .collect();
    Ok(report)
}

/// Renders the page for a run folder: the journal, its images, `result.json` and the
/// score section given.
pub fn render(run_dir: &Path, report: &RunReport, score: &ScoreSection) -> String {
    render_with(
        run_dir,
        report,
        score,
        &mut images::ImageInliner::new(run_dir),
    )
}

fn render_with(
    run_dir: &Path,
    report: &RunReport,
    score: &ScoreSection,
    inliner: &mut images::ImageInliner,
) -> String {
    let result = match std::fs::read(maia_core::agent::dir::RunDir::new(run_dir).result()) {
        Ok(bytes) => {
            Some(serde_json::from_slice(&bytes).map_err(|e| format!("not readable JSON ({e})")))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => Some(Err(format!("could not be read ({e})"))),
    };
    let input = html::PageInput {
        report,
        score,
        result,
        generated_ms: now_ms(),
    };
    html::render(&input, inliner)
}

/// Writes the report of the run in `run_dir` to `out` (atomically: a reader never sees
/// half a page), with `score` as its score section — [`score::load`] reads the one kept
/// beside the run.
pub fn write(
    run_dir: &Path,
    out: &Path,
    report: &RunReport,
    score: &ScoreSection,
) -> Result<Written, ReportError> {
    let mut inliner = images::ImageInliner::new(run_dir);
    let page = render_with(run_dir, report, score, &mut inliner);
    let file_name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| REPORT_FILE.into());
    let tmp = out.with_file_name(format!(".{file_name}.tmp"));
    std::fs::write(&tmp, page.as_bytes())
        .and_then(|()| std::fs::rename(&tmp, out))
        .map_err(|source| {
            let _ = std::fs::remove_file(&tmp);
            ReportError::Write {
                path: out.to_path_buf(),
                source,
            }
        })?;
    Ok(Written {
        path: out.to_path_buf(),
        bytes: page.len(),
        rounds: report.rounds.len(),
        images: report.images().count(),
        missing_images: inliner.missing(),
        state: report.state().label().to_owned(),
        torn_bytes: report.torn_bytes,
        damage: report.damage.clone(),
        unknown: report.unknown.clone(),
    })
}
