//! `results.jsonl`: one line per unit and method, appended as units finish, read back to
//! resume. A unit counts as done only when all its methods' lines are there, so a unit
//! cut off half-way is computed again; a torn or unreadable line is dropped, never fatal.

use super::Method;
use crate::eval::{Failure, Score, TruthScore};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The results file's name inside the eval folder.
pub const RESULTS_FILE: &str = "results.jsonl";

/// One unit's score by one method.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ResultLine {
    /// The unit's address (`synthetic:40`).
    pub unit: String,
    /// Its name (`red_and_circle`).
    pub name: String,
    /// Its kind (`and`) or layer.
    pub kind: String,
    /// Who wrote the description.
    pub method: Method,
    /// The description (empty when none was given).
    pub description: String,
    /// The short label, when the method gives one.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub label: String,
    /// Predictive score (the per-image list is left out; the agent's run folder keeps
    /// its full score in `score.json`).
    pub score: Score,
    /// The description against the unit's ground truth (synthetic units).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub truth: Option<TruthScore>,
    /// Why the ground-truth comparison failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub truth_failure: Option<Failure>,
    /// The agent's run folder, relative to the eval folder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<String>,
    /// How the agent's run ended (`completed`, `limit`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Model rounds used.
    #[serde(default)]
    pub rounds: u32,
    /// Tokens used (input + output).
    #[serde(default)]
    pub tokens: u64,
    /// Dollars spent.
    #[serde(default)]
    pub cost_usd: f64,
    /// Seconds the method took to write its description (scoring not included).
    #[serde(default)]
    pub seconds: f64,
    /// Dataset simulation of the description (`--simulate`; images left out).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub simulation: Option<crate::eval::simulation::Simulation>,
}

/// The lines of `path` that parse (none when the file does not exist) and how many did
/// not.
pub fn read_lines(path: &Path) -> std::io::Result<(Vec<ResultLine>, usize)> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), 0)),
        Err(e) => return Err(e),
    };
    let mut lines = Vec::new();
    let mut bad = 0;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        match serde_json::from_str::<ResultLine>(line) {
            Ok(parsed) => lines.push(parsed),
            Err(_) => bad += 1,
        }
    }
    Ok((lines, bad))
}

/// The complete units of `lines`: each with one line per method of `methods`, in
/// method order (the first line of a unit and method wins); units missing a method are
/// left out.
pub fn complete_units(
    lines: &[ResultLine],
    methods: &[Method],
) -> BTreeMap<String, Vec<ResultLine>> {
    let mut by_unit: BTreeMap<String, Vec<ResultLine>> = BTreeMap::new();
    for line in lines {
        let entry = by_unit.entry(line.unit.clone()).or_default();
        if !entry.iter().any(|l| l.method == line.method) {
            entry.push(line.clone());
        }
    }
    by_unit
        .into_iter()
        .filter_map(|(unit, found)| {
            let ordered: Option<Vec<ResultLine>> = methods
                .iter()
                .map(|m| found.iter().find(|l| l.method == *m).cloned())
                .collect();
            ordered.map(|o| (unit, o))
        })
        .collect()
}

/// The results file of one eval, appended to by concurrent units.
pub struct ResultsFile {
    path: PathBuf,
    lock: Mutex<()>,
}

impl ResultsFile {
    /// Opens `dir/results.jsonl` for resuming: returns the complete units already in it
    /// and, when it held anything else (lines of unfinished units, torn lines), rewrites
    /// it with the complete units only.
    pub fn open(
        dir: &Path,
        methods: &[Method],
    ) -> std::io::Result<(Self, BTreeMap<String, Vec<ResultLine>>)> {
        let path = dir.join(RESULTS_FILE);
        let (lines, bad) = read_lines(&path)?;
        let complete = complete_units(&lines, methods);
        let kept: usize = complete.values().map(Vec::len).sum();
        if bad > 0 || kept != lines.len() {
            let keep: HashSet<&String> = complete.keys().collect();
            let mut text = String::new();
            let mut written: HashSet<(String, Method)> = HashSet::new();
            for line in lines.iter().filter(|l| keep.contains(&l.unit)) {
                if written.insert((line.unit.clone(), line.method)) {
                    text.push_str(&serde_json::to_string(line).unwrap_or_default());
                    text.push('\n');
                }
            }
            let tmp = path.with_extension("jsonl.tmp");
            std::fs::write(&tmp, text)?;
            std::fs::rename(&tmp, &path)?;
        }
        Ok((
            ResultsFile {
                path,
                lock: Mutex::new(()),
            },
            complete,
        ))
    }

    /// Where it is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one unit's lines in one write, flushed to disk before returning.
    pub fn append(&self, lines: &[ResultLine]) -> std::io::Result<()> {
        let mut text = String::new();
        for line in lines {
            let json = serde_json::to_string(line).map_err(std::io::Error::other)?;
            text.push_str(&json);
            text.push('\n');
        }
        let _guard = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        file.write_all(text.as_bytes())?;
        file.sync_data()
    }
}

#[cfg(test)]
impl ResultLine {
    /// A line for tests: `description` of `unit` (of `kind`) by `method`, scored with
    /// Pearson `pearson` (AUPRC and F1 0.5), one second to write.
    pub(crate) fn sample(
        unit: &str,
        kind: &str,
        method: Method,
        description: &str,
        pearson: f64,
    ) -> ResultLine {
        let mut score = Score::failed(
            description,
            "world",
            unit.into(),
            &crate::eval::ScoreConfig::default(),
            Failure::new(crate::eval::FailureKind::Render, "placeholder"),
        );
        score.failure = None;
        score.pearson = Some(pearson);
        score.auprc = Some(0.5);
        score.f1 = Some(0.5);
        ResultLine {
            unit: unit.into(),
            name: unit.into(),
            kind: kind.into(),
            method,
            description: description.into(),
            label: String::new(),
            score,
            truth: None,
            truth_failure: None,
            run: None,
            status: None,
            rounds: 0,
            tokens: 0,
            cost_usd: 0.0,
            seconds: 1.0,
            simulation: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(unit: &str, method: Method) -> ResultLine {
        ResultLine::sample(unit, "mono", method, "red", 0.0)
    }

    #[test]
    fn unfinished_units_and_torn_lines_are_dropped_on_open() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join(RESULTS_FILE);
        let mut text = String::new();
        for l in [
            line("a", Method::Agent),
            line("a", Method::Baseline),
            line("a", Method::Control),
            line("b", Method::Agent),
        ] {
            text.push_str(&serde_json::to_string(&l).unwrap_or_default());
            text.push('\n');
        }
        text.push_str("{\"unit\": \"c\", \"na");
        std::fs::write(&path, text).unwrap_or_else(|e| panic!("{e}"));
        let (file, done) =
            ResultsFile::open(dir.path(), &Method::ALL).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(done.keys().collect::<Vec<_>>(), ["a"]);
        let (lines, bad) = read_lines(&path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((lines.len(), bad), (3, 0));
        file.append(&[
            line("b", Method::Agent),
            line("b", Method::Baseline),
            line("b", Method::Control),
        ])
        .unwrap_or_else(|e| panic!("{e}"));
        let (_, done) =
            ResultsFile::open(dir.path(), &Method::ALL).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(done.len(), 2);
    }
}
