//! Tools the agent can call: the registry that validates and dispatches calls, and the
//! [`ToolProvider`] trait every source of tools (built-in, native, wasm) implements.

mod registry;
mod schema;

pub use registry::{RegisteredTool, RegistryError, ToolRegistry};
pub use schema::{ArgsValidator, summarize_schema};

use maia_plugin_sdk::{Description, Host, ToolCall, ToolError, ToolOutput};
use std::fmt;
use std::path::PathBuf;

/// Where a tool comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ToolSource {
    /// Compiled into maia.
    Builtin,
    /// A native plugin library.
    Native {
        /// Plugin name.
        plugin: String,
        /// Library path.
        path: PathBuf,
    },
    /// A sandboxed wasm component.
    Wasm {
        /// Plugin name.
        plugin: String,
        /// Component path.
        path: PathBuf,
    },
}

impl fmt::Display for ToolSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ToolSource::Builtin => f.write_str("builtin"),
            ToolSource::Native { plugin, .. } => write!(f, "native:{plugin}"),
            ToolSource::Wasm { plugin, .. } => write!(f, "wasm:{plugin}"),
        }
    }
}

/// A source of tools: a loaded plugin or a set of built-in tools.
pub trait ToolProvider: Send {
    /// Manifest and tool specs.
    fn description(&self) -> &Description;

    /// Where the tools come from.
    fn source(&self) -> ToolSource;

    /// Runs a call whose arguments were already validated.
    fn call(&mut self, call: &ToolCall, host: &mut dyn Host) -> Result<ToolOutput, ToolError>;
}

/// Wraps an in-process [`maia_plugin_sdk::Plugin`] (built-in tools) as a provider.
pub struct InProcess<P> {
    plugin: P,
    description: Description,
}

impl<P: maia_plugin_sdk::Plugin + Send> InProcess<P> {
    /// Wraps a plugin value.
    pub fn new(plugin: P) -> Self {
        let description = Description {
            manifest: plugin.manifest(),
            tools: plugin.tools(),
        };
        InProcess {
            plugin,
            description,
        }
    }
}

impl<P: maia_plugin_sdk::Plugin + Send> ToolProvider for InProcess<P> {
    fn description(&self) -> &Description {
        &self.description
    }

    fn source(&self) -> ToolSource {
        ToolSource::Builtin
    }

    fn call(&mut self, call: &ToolCall, host: &mut dyn Host) -> Result<ToolOutput, ToolError> {
        self.plugin.call(call, host)
    }
}
