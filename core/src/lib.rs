//! # maia-core
//!
//! The engine behind the `maia` binary: the tool registry that validates and dispatches
//! every tool call, the hosts that load plugins (native libraries through `libloading`,
//! sandboxed WebAssembly components through wasmtime), the content-addressed image store
//! tools exchange images through, and the libtorch binding used by target models.
//!
//! The dependency direction is one way: `maia-plugin-sdk`, `maia-run` ← `maia-core` ←
//! `maia-offline` ← `maia` (tui).

pub mod activation_server;
pub mod agent;
pub mod batch;
pub mod builtin;
pub mod cache;
pub mod call_context;
pub mod config;
pub mod dataset;
pub mod downstream;
pub mod eval;
pub mod exemplars;
pub mod imageio;
pub mod images;
pub mod llm;
pub mod plugins;
pub mod program;
pub mod quote;
pub mod rng;
pub mod sae_train;
pub mod spelling;
pub mod target;
pub mod tools;
pub mod torch;
pub mod world_cnn;

pub use call_context::CallContext;
pub use images::ImageStore;
pub use plugins::{Grants, LoadProblem, PluginError, PluginLoader, PluginSearch, WasmLimits};
pub use tools::{ToolProvider, ToolRegistry, ToolSource};
