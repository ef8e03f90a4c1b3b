//! The tool registry: every tool by name, its schema validator, and its provider.

use super::{ArgsValidator, ToolProvider, ToolSource};
use maia_plugin_sdk::{Host, ToolCall, ToolError, ToolOutput, ToolSpec};
use std::collections::BTreeMap;
use std::sync::Mutex;

/// A problem registering a provider's tools.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// Two providers offer the same tool name.
    #[error(
        "tool `{tool}` from {new} is already provided by {existing}; remove one of the two plugins"
    )]
    Duplicate {
        /// The tool name.
        tool: String,
        /// Source already registered.
        existing: Box<ToolSource>,
        /// Source being registered.
        new: Box<ToolSource>,
    },
    /// A tool's parameter schema does not compile.
    #[error("tool `{tool}` from {source_}: invalid parameter schema: {message}")]
    BadSchema {
        /// The tool name.
        tool: String,
        /// Its source.
        source_: Box<ToolSource>,
        /// What is wrong.
        message: String,
    },
}

/// One registered tool.
pub struct RegisteredTool {
    /// What the agent sees.
    pub spec: ToolSpec,
    /// Where it comes from.
    pub source: ToolSource,
    validator: ArgsValidator,
    provider: usize,
}

/// All tools available to a run. Calls are validated against the tool's schema before
/// the provider sees them; calls to one provider are serialized, calls to different
/// providers may run concurrently.
#[derive(Default)]
pub struct ToolRegistry {
    providers: Vec<Mutex<Box<dyn ToolProvider>>>,
    tools: BTreeMap<String, RegisteredTool>,
}

impl ToolRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds every tool of a provider. Nothing is added if any tool clashes or has a bad
    /// schema.
    pub fn register(&mut self, provider: Box<dyn ToolProvider>) -> Result<(), RegistryError> {
        let source = provider.source();
        let index = self.providers.len();
        let mut staged = Vec::new();
        for spec in &provider.description().tools {
            if let Some(existing) = self.tools.get(&spec.name) {
                return Err(RegistryError::Duplicate {
                    tool: spec.name.clone(),
                    existing: Box::new(existing.source.clone()),
                    new: Box::new(source),
                });
            }
            let validator = ArgsValidator::new(&spec.parameters).map_err(|message| {
                RegistryError::BadSchema {
                    tool: spec.name.clone(),
                    source_: Box::new(source.clone()),
                    message,
                }
            })?;
            staged.push(RegisteredTool {
                spec: spec.clone(),
                source: source.clone(),
                validator,
                provider: index,
            });
        }
        for tool in staged {
            self.tools.insert(tool.spec.name.clone(), tool);
        }
        self.providers.push(Mutex::new(provider));
        Ok(())
    }

    /// All tools, sorted by name.
    pub fn tools(&self) -> impl Iterator<Item = &RegisteredTool> {
        self.tools.values()
    }

    /// One tool by name.
    pub fn get(&self, name: &str) -> Option<&RegisteredTool> {
        self.tools.get(name)
    }

    /// Number of tools.
    pub fn len(&self) -> usize {
        self.tools.len()
    }

    /// True when no tool is registered.
    pub fn is_empty(&self) -> bool {
        self.tools.is_empty()
    }

    /// Validates and runs a call.
    pub fn call(&self, call: &ToolCall, host: &mut dyn Host) -> Result<ToolOutput, ToolError> {
        let tool = self
            .tools
            .get(&call.name)
            .ok_or_else(|| self.unknown_tool(&call.name))?;
        tool.validator.validate(&call.args).map_err(|e| {
            ToolError::invalid_args(format!("invalid arguments for `{}`: {e}", call.name))
        })?;
        let mut provider = self.providers[tool.provider]
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        provider.call(call, host)
    }

    fn unknown_tool(&self, name: &str) -> ToolError {
        let names: Vec<&str> = self.tools.keys().map(String::as_str).collect();
        let hint = crate::spelling::closest(name, names.iter().copied())
            .map(|n| format!(" Did you mean `{n}`?"))
            .unwrap_or_default();
        ToolError::invalid_args(format!(
            "unknown tool `{name}`.{hint} Available tools: {}",
            if names.is_empty() {
                "(none)".to_owned()
            } else {
                names.join(", ")
            }
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CallContext, ImageStore, tools::InProcess};
    use maia_plugin_sdk::{ErrorKind, Manifest, Plugin};
    use serde_json::json;

    #[derive(Default)]
    struct Echo(u32);

    impl Plugin for Echo {
        fn manifest(&self) -> Manifest {
            Manifest::new("echo", "0.1.0", "echo")
        }
        fn tools(&self) -> Vec<ToolSpec> {
            vec![ToolSpec::new(
                "echo",
                "echoes",
                json!({"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}),
            )]
        }
        fn call(&mut self, call: &ToolCall, _: &mut dyn Host) -> Result<ToolOutput, ToolError> {
            self.0 += 1;
            Ok(ToolOutput::text(format!(
                "{} #{}",
                call.args["text"].as_str().unwrap_or_default(),
                self.0
            )))
        }
    }

    fn registry() -> ToolRegistry {
        let mut r = ToolRegistry::new();
        assert!(
            r.register(Box::new(InProcess::new(Echo::default())))
                .is_ok()
        );
        r
    }

    #[test]
    fn valid_calls_reach_the_provider() {
        let r = registry();
        let store = ImageStore::new();
        let out = r.call(
            &ToolCall::new("1", "echo", json!({"text": "hi"})),
            &mut CallContext::new(&store),
        );
        assert_eq!(out.map(|o| o.text).ok().as_deref(), Some("hi #1"));
    }

    #[test]
    fn unknown_tools_list_what_exists_and_suggest() {
        let r = registry();
        let store = ImageStore::new();
        let err = r
            .call(
                &ToolCall::new("1", "ecko", json!({})),
                &mut CallContext::new(&store),
            )
            .err();
        let err = err.unwrap_or_else(|| ToolError::failed(""));
        assert_eq!(err.kind, ErrorKind::InvalidArgs);
        assert!(
            err.message.contains("Did you mean `echo`"),
            "{}",
            err.message
        );
        assert!(
            err.message.contains("Available tools: echo"),
            "{}",
            err.message
        );
    }

    #[test]
    fn bad_args_never_reach_the_provider() {
        let r = registry();
        let store = ImageStore::new();
        let mut host = CallContext::new(&store);
        let err = r
            .call(&ToolCall::new("1", "echo", json!({"text": 5})), &mut host)
            .err();
        assert!(
            err.is_some_and(|e| e.kind == ErrorKind::InvalidArgs && e.message.contains("/text"))
        );
        let out = r.call(&ToolCall::new("2", "echo", json!({"text": "x"})), &mut host);
        assert_eq!(
            out.map(|o| o.text).ok().as_deref(),
            Some("x #1"),
            "the bad call must not have run"
        );
    }

    #[test]
    fn duplicate_tool_names_are_refused() {
        let mut r = registry();
        let err = r.register(Box::new(InProcess::new(Echo::default()))).err();
        assert!(err.is_some_and(|e| e.to_string().contains("already provided by builtin")));
    }
}
