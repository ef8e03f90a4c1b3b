//! A run's folder: every path in it is spelled here, and nowhere else.
//!
//! ```text
//! runs/<id>/
//!   events.jsonl   the journal (crate::journal)
//!   run.toml       the resolved configuration the run started with
//!   images/        content-addressed images (<hash>.png) and their sidecars
//!   result.json    the final answer, once there is one
//!   score.json     `maia report --score`'s score
//!   report.html    `maia report`'s page
//! ```

use std::path::{Path, PathBuf};

/// The journal's file name.
pub const EVENTS_FILE: &str = "events.jsonl";
/// The resolved configuration's file name.
pub const RUN_TOML: &str = "run.toml";
/// The image folder's name.
pub const IMAGES_DIR: &str = "images";
/// The final answer's file name.
pub const RESULT_FILE: &str = "result.json";
/// The score's file name.
pub const SCORE_FILE: &str = "score.json";
/// The report page's file name.
pub const REPORT_FILE: &str = "report.html";

/// One run's folder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunDir {
    path: PathBuf,
}

impl RunDir {
    /// The run folder at `path`.
    pub fn new(path: impl AsRef<Path>) -> RunDir {
        RunDir {
            path: path.as_ref().to_path_buf(),
        }
    }

    /// The run `id` under `runs_dir`, once `id` is checked to be one folder name
    /// ([`crate::run_id::validate_run_id`]).
    pub fn in_runs(runs_dir: &Path, id: &str) -> Result<RunDir, String> {
        let id = crate::run_id::validate_run_id(id)?;
        Ok(RunDir::new(runs_dir.join(id)))
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `events.jsonl`.
    pub fn events(&self) -> PathBuf {
        self.path.join(EVENTS_FILE)
    }

    /// `run.toml`.
    pub fn run_toml(&self) -> PathBuf {
        self.path.join(RUN_TOML)
    }

    /// `images/`.
    pub fn images(&self) -> PathBuf {
        self.path.join(IMAGES_DIR)
    }

    /// `result.json`.
    pub fn result(&self) -> PathBuf {
        self.path.join(RESULT_FILE)
    }

    /// `score.json`.
    pub fn score(&self) -> PathBuf {
        self.path.join(SCORE_FILE)
    }

    /// `report.html`.
    pub fn report(&self) -> PathBuf {
        self.path.join(REPORT_FILE)
    }

    /// Whether the folder holds a journal (is a run, started).
    pub fn has_journal(&self) -> bool {
        self.events().is_file()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_inside_the_folder_and_ids_cannot_leave_it() {
        let dir = RunDir::in_runs(Path::new("runs"), "r1").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(dir.events(), Path::new("runs/r1/events.jsonl"));
        assert_eq!(dir.images(), Path::new("runs/r1/images"));
        assert!(RunDir::in_runs(Path::new("runs"), "../r1").is_err());
    }
}
