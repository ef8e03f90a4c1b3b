//! The prompt files under `prompts/`, read at run time with a compiled-in fallback.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Compiled-in copies, used when no `prompts/` folder is found.
const EMBEDDED: &[(&str, &str)] = &[
    ("system.md", include_str!("../../../prompts/system.md")),
    (
        "answer-now.md",
        include_str!("../../../prompts/answer-now.md"),
    ),
    (
        "exemplar-only.md",
        include_str!("../../../prompts/exemplar-only.md"),
    ),
    (
        "describe-images.md",
        include_str!("../../../prompts/describe-images.md"),
    ),
    (
        "summarize-images.md",
        include_str!("../../../prompts/summarize-images.md"),
    ),
    (
        "program-mode.md",
        include_str!("../../../prompts/program-mode.md"),
    ),
    (
        "select-units.md",
        include_str!("../../../prompts/select-units.md"),
    ),
    (
        "tasks/describe-unit.md",
        include_str!("../../../prompts/tasks/describe-unit.md"),
    ),
    (
        "tasks/find-bias.md",
        include_str!("../../../prompts/tasks/find-bias.md"),
    ),
];

/// A problem loading prompts.
#[derive(Debug, thiserror::Error)]
pub enum PromptError {
    /// `--task` names no prompt file.
    #[error("unknown task `{task}`; tasks: {known} (add prompts/tasks/{task}.md to define it)")]
    UnknownTask {
        /// Requested task.
        task: String,
        /// Tasks that exist.
        known: String,
    },
    /// A prompt file could not be read.
    #[error("reading prompt {path}: {source}")]
    Read {
        /// File.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
}

/// The prompt set of a run.
#[derive(Clone, Debug)]
pub struct Prompts {
    files: BTreeMap<String, String>,
    /// Where they were read from (`None`: compiled in).
    pub dir: Option<PathBuf>,
}

impl Prompts {
    /// The compiled-in prompts.
    pub fn embedded() -> Self {
        Prompts {
            files: EMBEDDED
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            dir: None,
        }
    }

    /// Prompts from `dir` if given, else `./prompts`, else the checkout the binary was
    /// built in; files missing there fall back to the compiled-in copies.
    pub fn load(dir: Option<&Path>) -> Result<Self, PromptError> {
        let candidates: Vec<PathBuf> = match dir {
            Some(d) => vec![d.to_path_buf()],
            None => vec![
                PathBuf::from("prompts"),
                PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../prompts")),
            ],
        };
        let mut prompts = Self::embedded();
        let Some(dir) = candidates
            .into_iter()
            .find(|d| d.join("system.md").is_file())
        else {
            return Ok(prompts);
        };
        for name in collect_md(&dir, &dir) {
            let path = dir.join(&name);
            let text = std::fs::read_to_string(&path)
                .map_err(|source| PromptError::Read { path, source })?;
            prompts.files.insert(name, text);
        }
        prompts.dir = Some(dir);
        Ok(prompts)
    }

    /// A prompt file with `{{key}}` placeholders filled in.
    pub fn render(&self, name: &str, vars: &[(&str, &str)]) -> String {
        let mut text = self.files.get(name).cloned().unwrap_or_default();
        for (k, v) in vars {
            text = text.replace(&format!("{{{{{k}}}}}"), v);
        }
        text.trim_end().to_owned()
    }

    /// The task prompt for `--task`.
    pub fn task(&self, task: &str, vars: &[(&str, &str)]) -> Result<String, PromptError> {
        self.check_task(task)?;
        Ok(self.render(&format!("tasks/{task}.md"), vars))
    }

    /// Whether `--task` names a prompt file; the error lists the tasks that exist.
    pub fn check_task(&self, task: &str) -> Result<(), PromptError> {
        if self.files.contains_key(&format!("tasks/{task}.md")) {
            return Ok(());
        }
        Err(PromptError::UnknownTask {
            task: task.to_owned(),
            known: self.tasks().join(", "),
        })
    }

    /// Task names available.
    pub fn tasks(&self) -> Vec<String> {
        self.files
            .keys()
            .filter_map(|k| k.strip_prefix("tasks/").and_then(|t| t.strip_suffix(".md")))
            .map(str::to_owned)
            .collect()
    }
}

fn collect_md(root: &Path, dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(collect_md(root, &path));
        } else if path.extension().is_some_and(|e| e == "md")
            && path.file_name().is_some_and(|n| n != "README.md")
            && let Ok(rel) = path.strip_prefix(root)
        {
            out.push(rel.to_string_lossy().replace('\\', "/"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tasks_render_placeholders_and_unknown_tasks_list_the_known_ones() {
        let p = Prompts::embedded();
        let text = p
            .task(
                "describe-unit",
                &[("unit", "layer3:42"), ("target", "world-cnn")],
            )
            .expect("task");
        assert!(
            text.contains("unit layer3:42 of the model `world-cnn`"),
            "{text}"
        );
        let err = p.task("nope", &[]).expect_err("unknown").to_string();
        assert!(
            err.contains("describe-unit") && err.contains("find-bias"),
            "{err}"
        );
    }

    #[test]
    fn a_prompts_folder_overrides_the_embedded_copies() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("system.md"), "custom {{max_rounds}}").expect("write");
        std::fs::create_dir(dir.path().join("tasks")).expect("mkdir");
        std::fs::write(dir.path().join("tasks/colour.md"), "colour of {{unit}}").expect("write");
        let p = Prompts::load(Some(dir.path())).expect("load");
        assert_eq!(p.render("system.md", &[("max_rounds", "9")]), "custom 9");
        assert!(p.tasks().contains(&"colour".to_owned()));
        assert!(p.render("answer-now.md", &[]).contains("final_answer"));
    }
}
