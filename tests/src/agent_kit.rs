//! Building blocks for agent-loop tests: a run's parts over the real registry (the
//! shapes-tools wasm plugin, `call_unit` on a synthetic unit, `final_answer`), and
//! backends that script replies, record requests and inject failures.

use maia_core::agent::{AgentParts, Prompts, ToolContext};
use maia_core::builtin::{CallUnit, DescribeImages, FinalAnswer, SceneDescriber};
use maia_core::call_context::UnitCaller;
use maia_core::config::Config;
use maia_core::llm::replay::{RecordedReply, ReplayBackend};
use maia_core::llm::{EventStream, LlmBackend, LlmError, LlmRequest, RequestedToolCall, Usage};
use maia_core::target::{TargetUnit, UnitRef, open_target};
use maia_core::tools::InProcess;
use maia_core::{Grants, ImageStore, PluginLoader, ToolRegistry, WasmLimits};
use std::collections::VecDeque;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};

/// A reply that calls tools: `(name, json-args)` pairs, ids `c{round}_{i}`.
pub fn reply(round: usize, text: &str, calls: &[(&str, &str)]) -> RecordedReply {
    RecordedReply {
        text: text.to_owned(),
        reasoning: String::new(),
        tool_calls: calls
            .iter()
            .enumerate()
            .map(|(i, (name, args))| RequestedToolCall {
                id: format!("c{round}_{i}"),
                name: (*name).to_owned(),
                arguments: (*args).to_owned(),
            })
            .collect(),
        usage: Usage {
            input_tokens: 1000,
            output_tokens: 100,
        },
    }
}

/// Wraps a backend: records every request, and can fail chosen attempts first.
pub struct Recording {
    inner: Arc<dyn LlmBackend>,
    /// Every request, in order.
    pub requests: Mutex<Vec<LlmRequest>>,
    failures: Mutex<VecDeque<LlmError>>,
}

impl Recording {
    /// Records requests to `inner`.
    pub fn new(inner: Arc<dyn LlmBackend>) -> Arc<Self> {
        Arc::new(Recording {
            inner,
            requests: Mutex::default(),
            failures: Mutex::default(),
        })
    }

    /// Replays `replies`, recording.
    pub fn replay(replies: Vec<RecordedReply>) -> Arc<Self> {
        Self::new(Arc::new(ReplayBackend::new(replies)))
    }

    /// The next requests fail with these errors, in order, before the backend is asked.
    pub fn fail_next(&self, errors: Vec<LlmError>) {
        self.failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend(errors);
    }

    /// Requests so far.
    pub fn request_count(&self) -> usize {
        self.requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .len()
    }
}

impl LlmBackend for Recording {
    fn name(&self) -> &str {
        "recording"
    }

    fn model(&self) -> &str {
        "test-model"
    }

    fn stream(&self, request: LlmRequest) -> EventStream {
        self.requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(request.clone());
        if let Some(e) = self
            .failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop_front()
        {
            return EventStream::failed(e);
        }
        self.inner.stream(request)
    }
}

/// The registry every agent test shares (loading and compiling the wasm plugin once per
/// test binary): the shapes-tools wasm plugin, `call_unit`, `final_answer`, and the
/// scene describer. Tools hold no per-run state; the store and unit travel in
/// [`ToolContext`].
pub fn shared_registry() -> Result<Arc<ToolRegistry>, crate::Error> {
    static REGISTRY: OnceLock<Result<Arc<ToolRegistry>, String>> = OnceLock::new();
    REGISTRY
        .get_or_init(|| {
            let build = || -> Result<Arc<ToolRegistry>, crate::Error> {
                let installed = crate::SHAPES_TOOLS.install()?;
                let provider = PluginLoader::new(Grants::none(), WasmLimits::default())
                    .load(installed.dir())?;
                let mut registry = ToolRegistry::new();
                registry.register(provider)?;
                registry.register(Box::new(InProcess::new(CallUnit)))?;
                registry.register(Box::new(InProcess::new(FinalAnswer)))?;
                registry.register(Box::new(InProcess::new(maia_core::program::ProgramSpec)))?;
                registry.register(Box::new(InProcess::new(DescribeImages::new(
                    Arc::new(SceneDescriber),
                    String::new(),
                    String::new(),
                ))))?;
                Ok(Arc::new(registry))
            };
            build().map_err(|e| e.to_string())
        })
        .clone()
        .map_err(Into::into)
}

/// Tools for a run on synthetic unit `spec` over `store`.
pub fn tool_context(spec: &str, store: Arc<ImageStore>) -> Result<ToolContext, crate::Error> {
    let model = Arc::from(open_target(spec)?);
    let unit = TargetUnit::new(
        model,
        UnitRef {
            layer: maia_core::target::SYNTHETIC_LAYER.into(),
            unit: 0,
        },
        store.clone(),
    )?;
    Ok(ToolContext {
        registry: shared_registry()?,
        store,
        unit: Some(Arc::new(unit) as Arc<dyn UnitCaller>),
        image_price_usd: 0.0,
    })
}

/// Parts of a run over `backend`, with images under `run_dir/images` (reopened, so a
/// resumed run finds the images it made before).
pub fn parts(
    backend: Arc<dyn LlmBackend>,
    spec: &str,
    run_dir: &Path,
    config: Config,
) -> Result<AgentParts, crate::Error> {
    let (store, _) = ImageStore::reopen(run_dir.join("images"))?;
    let store = Arc::new(store);
    Ok(AgentParts {
        backend,
        tools: tool_context(spec, store)?,
        prompts: Prompts::embedded(),
        config,
        verifier: None,
    })
}
