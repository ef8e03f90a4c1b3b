//! Putting an agent run's tools together without the command line: the plugins found in
//! the usual folders, the built-in tools, the describer, the dataset exemplars of the
//! unit's layer — what `maia run` assembles for one run and the evaluation suite for
//! hundreds.
//!
//! Tools keep no per-run state (a run's images and its unit travel in [`ToolContext`]),
//! so a [`Toolbox`] loads every plugin once and lends the same loaded providers to every
//! run's registry; calls from different runs to one provider take turns, as calls within
//! a run already do. Exemplars are computed once per model and layer ([`ExemplarPasses`],
//! on disk through [`crate::exemplars`]' cache) and shared by every unit of that layer.

use super::tool_calls::ToolContext;
use crate::builtin::{
    CallUnit, DatasetExemplars, DescribeImages, Describer, FinalAnswer, LlmDescriber,
    SampleDataset, SceneDescriber, ShowImages,
};
use crate::call_context::UnitCaller;
use crate::config::Config;
use crate::exemplars::{Dataset, ExemplarError, LayerExemplars, exemplars};
use crate::images::ImageStore;
use crate::llm::{LlmError, build_backend};
use crate::plugins::{LoadProblem, PluginLoader, PluginSearch, discover};
use crate::target::{TargetModel, TargetUnit};
use crate::tools::{InProcess, RegistryError, ToolProvider, ToolRegistry, ToolSource};
use maia_plugin_sdk::{Description, Host, ToolCall, ToolError, ToolOutput};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

/// Why a run's tools could not be put together.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// A built-in tool clashed with a loaded one.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// The dataset folder could not be read or its exemplars computed.
    #[error("computing exemplars of {layer} over {}: {source}", .data.display())]
    Exemplars {
        /// The layer.
        layer: String,
        /// The dataset folder.
        data: PathBuf,
        /// Cause.
        source: ExemplarError,
    },
    /// The dataset for `sample_dataset` could not be opened.
    #[error(transparent)]
    Dataset(#[from] crate::exemplars::DatasetError),
    /// The describer's backend could not be built.
    #[error("the describer backend: {0}")]
    Describer(#[from] LlmError),
    /// Writing a generated dataset failed.
    #[error("writing the shapes-world dataset {}: {message}", .dir.display())]
    WorldDataset {
        /// Where it was being written.
        dir: PathBuf,
        /// What failed.
        message: String,
    },
}

/// What a [`Toolbox`] holds besides plugins.
pub struct ToolboxOptions {
    /// Answers `describe_images` and `summarize_images` ([`describer_for`]).
    pub describer: Arc<dyn Describer>,
    /// Instructions for `describe_images` (`prompts/describe-images.md`).
    pub describe_prompt: String,
    /// Instructions for `summarize_images` (`prompts/summarize-images.md`).
    pub summarize_prompt: String,
    /// The dataset `sample_dataset` draws from; `None`: no such tool.
    pub dataset: Option<Arc<Dataset>>,
}

/// One loaded provider lent to many registries: calls lock it, so runs take turns.
struct SharedProvider {
    inner: Arc<Mutex<Box<dyn ToolProvider>>>,
    description: Description,
    source: ToolSource,
}

impl SharedProvider {
    fn new(provider: Box<dyn ToolProvider>) -> Self {
        SharedProvider {
            description: provider.description().clone(),
            source: provider.source(),
            inner: Arc::new(Mutex::new(provider)),
        }
    }

    fn lend(&self) -> Box<dyn ToolProvider> {
        Box::new(SharedProvider {
            inner: self.inner.clone(),
            description: self.description.clone(),
            source: self.source.clone(),
        })
    }
}

impl ToolProvider for SharedProvider {
    fn description(&self) -> &Description {
        &self.description
    }

    fn source(&self) -> ToolSource {
        self.source.clone()
    }

    fn call(&mut self, call: &ToolCall, host: &mut dyn Host) -> Result<ToolOutput, ToolError> {
        // A call that panicked cannot leave a provider half-updated in a way a lock
        // would protect against: the registry serializes calls, nothing more.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .call(call, host)
    }
}

/// The tools of agent runs, loaded once: `call_unit`, every plugin found, `final_answer`,
/// `describe_images` / `summarize_images` and, with a dataset, `sample_dataset`. Each run
/// gets its own registry of the same loaded providers ([`Toolbox::context`]) plus its
/// unit's `dataset_exemplars`.
pub struct Toolbox {
    /// In registration order: call_unit, plugins, then the built-ins after exemplars.
    before_exemplars: Vec<SharedProvider>,
    after_exemplars: Vec<SharedProvider>,
    shared: OnceLock<Arc<ToolRegistry>>,
}

impl Toolbox {
    /// Loads `call_unit` and the plugins `search` finds (a plugin that fails is skipped and
    /// returned as a problem, as in `maia run`), then the built-in tools of `options`.
    /// Fails only when a built-in tool clashes with a plugin's.
    pub fn load(
        loader: &PluginLoader,
        search: &PluginSearch,
        options: ToolboxOptions,
    ) -> Result<(Toolbox, Vec<LoadProblem>), SetupError> {
        // Registering into a scratch registry finds clashes exactly as a run's would.
        let mut scratch = ToolRegistry::new();
        let mut problems = Vec::new();
        let mut before = Vec::new();
        let call_unit = SharedProvider::new(Box::new(InProcess::new(CallUnit)));
        match scratch.register(call_unit.lend()) {
            Ok(()) => before.push(call_unit),
            Err(e) => problems.push(LoadProblem {
                plugin: "builtin".into(),
                message: e.to_string(),
            }),
        }
        for found in discover(search) {
            let files = match found {
                Ok(files) => files,
                Err(e) => {
                    problems.push(LoadProblem {
                        plugin: "?".into(),
                        message: e.to_string(),
                    });
                    continue;
                }
            };
            let plugin = files.manifest.name.clone();
            let loaded = loader.load_files(&files).map_err(|e| e.to_string());
            let result = loaded.and_then(|provider| {
                let shared = SharedProvider::new(provider);
                scratch
                    .register(shared.lend())
                    .map(|()| shared)
                    .map_err(|e| e.to_string())
            });
            match result {
                Ok(shared) => before.push(shared),
                Err(message) => problems.push(LoadProblem { plugin, message }),
            }
        }
        let mut after = vec![
            SharedProvider::new(Box::new(InProcess::new(FinalAnswer))),
            SharedProvider::new(Box::new(InProcess::new(ShowImages))),
            SharedProvider::new(Box::new(InProcess::new(crate::program::ProgramSpec))),
            SharedProvider::new(Box::new(InProcess::new(DescribeImages::new(
                options.describer,
                options.describe_prompt,
                options.summarize_prompt,
            )))),
        ];
        if let Some(dataset) = options.dataset {
            after.push(SharedProvider::new(Box::new(InProcess::new(
                SampleDataset::new(dataset),
            ))));
        }
        for provider in &after {
            scratch.register(provider.lend())?;
        }
        let toolbox = Toolbox {
            before_exemplars: before,
            after_exemplars: after,
            shared: OnceLock::new(),
        };
        Ok((toolbox, problems))
    }

    /// A registry of the shared tools (no `dataset_exemplars`), built once: what
    /// evaluation draws its images with ([`crate::eval::ToolRenderer`]).
    pub fn registry(&self) -> Arc<ToolRegistry> {
        self.shared
            .get_or_init(|| {
                let mut registry = ToolRegistry::new();
                for provider in self.before_exemplars.iter().chain(&self.after_exemplars) {
                    // These registered together in `load`, so they register again.
                    let _ = registry.register(provider.lend());
                }
                Arc::new(registry)
            })
            .clone()
    }

    /// A fresh registry for one run: the shared tools plus, given the layer's
    /// `exemplars`, the unit's `dataset_exemplars`.
    pub fn run_registry(
        &self,
        unit: &TargetUnit,
        exemplars: Option<Arc<LayerExemplars>>,
    ) -> Result<ToolRegistry, SetupError> {
        let mut registry = ToolRegistry::new();
        for provider in &self.before_exemplars {
            registry.register(provider.lend())?;
        }
        if let Some(found) = exemplars {
            registry.register(Box::new(InProcess::new(DatasetExemplars::new(
                unit.model().clone(),
                unit.unit().clone(),
                found,
            ))))?;
        }
        for provider in &self.after_exemplars {
            registry.register(provider.lend())?;
        }
        Ok(registry)
    }

    /// What one run's tool calls need: its registry ([`Toolbox::run_registry`]), the
    /// run's image store (the one `unit` was opened with) and the unit.
    pub fn context(
        &self,
        unit: TargetUnit,
        store: Arc<ImageStore>,
        exemplars: Option<Arc<LayerExemplars>>,
    ) -> Result<ToolContext, SetupError> {
        let registry = self.run_registry(&unit, exemplars)?;
        Ok(ToolContext {
            registry: Arc::new(registry),
            store,
            unit: Some(Arc::new(unit) as Arc<dyn UnitCaller>),
            image_price_usd: 0.0,
        })
    }
}

/// The describer the configuration asks for: the shapes world's scene reader for the
/// `offline` and `replay` backends (or `describer.backend = "offline"`/`"scene"`), else a
/// model — the run's own backend (`same`) or the one named — called through `runtime`.
pub fn describer_for(
    config: &Config,
    runtime: tokio::runtime::Handle,
) -> Result<Arc<dyn Describer>, LlmError> {
    Ok(match config.describer.backend.as_str() {
        "same" if matches!(config.run.backend.as_str(), "offline" | "replay") => {
            Arc::new(SceneDescriber)
        }
        "offline" | "scene" => Arc::new(SceneDescriber),
        "same" => {
            let model = if config.describer.model.is_empty() {
                config.run.model.clone()
            } else {
                config.describer.model.clone()
            };
            Arc::new(LlmDescriber::new(
                build_backend(&config.run.backend, &model, config, None)?,
                runtime,
                config.images.max_side,
            ))
        }
        other => Arc::new(LlmDescriber::new(
            build_backend(other, &config.describer.model, config, None)?,
            runtime,
            config.images.max_side,
        )),
    })
}

/// A layer's exemplars, computed once: found in the cache or by one pass, then shared.
type Pass = Arc<OnceLock<Result<Arc<LayerExemplars>, String>>>;

/// Exemplar passes over one dataset, each computed once per model and layer however many
/// units (and threads) ask; passes are also cached on disk.
pub struct ExemplarPasses {
    data: PathBuf,
    k: usize,
    cache: Option<PathBuf>,
    passes: Mutex<HashMap<String, Pass>>,
}

impl ExemplarPasses {
    /// Passes over the image folder `data`, keeping `k` exemplars per unit, cached in
    /// `cache` (e.g. [`crate::exemplars::cache_dir`]; `None`: not on disk).
    pub fn new(data: impl Into<PathBuf>, k: usize, cache: Option<PathBuf>) -> Self {
        ExemplarPasses {
            data: data.into(),
            k,
            cache,
            passes: Mutex::new(HashMap::new()),
        }
    }

    /// The dataset folder.
    pub fn data(&self) -> &Path {
        &self.data
    }

    /// The exemplars of every unit of `layer`: the first call for a model and layer
    /// computes them (or reads the disk cache), reporting `progress(done, total)`; the
    /// others, from any thread, wait for it and share the result.
    pub fn layer(
        &self,
        model: &dyn TargetModel,
        layer: &str,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<Arc<LayerExemplars>, SetupError> {
        let key = format!(
            "{}#{layer}",
            blake3::hash(model.fingerprint().as_bytes()).to_hex()
        );
        let pass = self
            .passes
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .entry(key)
            .or_default()
            .clone();
        let mut failure = None;
        let found = pass.get_or_init(|| {
            match exemplars(
                model,
                layer,
                &self.data,
                self.k,
                self.cache.as_deref(),
                progress,
            ) {
                Ok((found, _cached)) => Ok(Arc::new(found)),
                Err(e) => {
                    let message = e.to_string();
                    failure = Some(e);
                    Err(message)
                }
            }
        });
        match (found, failure) {
            (Ok(found), _) => Ok(found.clone()),
            (Err(_), Some(source)) => Err(SetupError::Exemplars {
                layer: layer.to_owned(),
                data: self.data.clone(),
                source,
            }),
            (Err(message), None) => Err(SetupError::Exemplars {
                layer: layer.to_owned(),
                data: self.data.clone(),
                source: ExemplarError::Target(crate::target::TargetError::Compute(message.clone())),
            }),
        }
    }
}

/// A shapes-world dataset of `n` images drawn with `seed`, written once under the cache
/// folder (`datasets/shapes-n{n}-seed{seed}`, the folder `maia demo` uses) and reused
/// after; `progress(done, n)` while writing. `None` when no cache folder is known
/// (`MAIA_CACHE_DIR`, `XDG_CACHE_HOME` and `HOME` all unset).
pub fn world_dataset(
    n: usize,
    seed: u64,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Option<PathBuf>, SetupError> {
    let Some(root) = crate::cache::cache_dir("datasets") else {
        return Ok(None);
    };
    let dir = root.join(format!("shapes-n{n}-seed{seed}"));
    if dir.join(maia_shapes_world::SCENE_INDEX).is_file() {
        return Ok(Some(dir));
    }
    // Written beside, then renamed: a dataset interrupted half-way is never taken for a
    // finished one. The process id keeps two writers apart.
    let tmp = root.join(format!(
        "shapes-n{n}-seed{seed}.partial-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&tmp);
    let threads = std::thread::available_parallelism()
        .map(|t| t.get())
        .unwrap_or(1);
    let failed = |message: String| SetupError::WorldDataset {
        dir: dir.clone(),
        message,
    };
    maia_shapes_world::write_dataset_with(&tmp, n, seed, threads, progress)
        .map_err(|e| failed(e.to_string()))?;
    if let Err(e) = std::fs::rename(&tmp, &dir) {
        let _ = std::fs::remove_dir_all(&tmp);
        // Another process finished the same dataset first: use theirs.
        if !dir.join(maia_shapes_world::SCENE_INDEX).is_file() {
            return Err(failed(e.to_string()));
        }
    }
    Ok(Some(dir))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::{Grants, WasmLimits};
    use crate::target::{UnitRef, open_target};

    fn toolbox() -> Toolbox {
        let loader = PluginLoader::new(Grants::none(), WasmLimits::default());
        let search = PluginSearch::default();
        let options = ToolboxOptions {
            describer: Arc::new(SceneDescriber),
            describe_prompt: "describe".into(),
            summarize_prompt: "summarize".into(),
            dataset: None,
        };
        let (toolbox, problems) =
            Toolbox::load(&loader, &search, options).unwrap_or_else(|e| panic!("{e}"));
        assert!(problems.is_empty(), "{problems:?}");
        toolbox
    }

    #[test]
    fn runs_get_their_own_registries_of_the_same_tools() {
        let toolbox = toolbox();
        let names = |r: &ToolRegistry| r.tools().map(|t| t.spec.name.clone()).collect::<Vec<_>>();
        assert_eq!(
            names(&toolbox.registry()),
            [
                "call_unit",
                "describe_images",
                "final_answer",
                "run_program",
                "show_images",
                "summarize_images"
            ]
        );
        let model: Arc<dyn TargetModel> =
            Arc::from(open_target("synthetic:all").unwrap_or_else(|e| panic!("{e}")));
        for n in [0, 5] {
            let store = Arc::new(ImageStore::new());
            let address = UnitRef {
                layer: crate::target::SYNTHETIC_LAYER.into(),
                unit: n,
            };
            let unit = TargetUnit::new(model.clone(), address, store.clone())
                .unwrap_or_else(|e| panic!("{e}"));
            let ctx = toolbox
                .context(unit, store, None)
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(ctx.registry.len(), 6);
            assert!(ctx.unit.is_some());
        }
    }
}
