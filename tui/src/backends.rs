//! The LLM backends `maia` can build by name: maia-core's (the HTTP APIs and `replay`) and
//! the offline experimenter, which lives in its own crate (`maia-offline`).

use maia_core::llm::BackendFactory;

/// Every backend `--backend` names, ready to build.
pub fn backends() -> BackendFactory {
    BackendFactory::default().with_local("offline", maia_offline::backend)
}
