//! Drawing evaluation prompts with the agent's own image tool.

use super::{Failure, FailureKind};
use crate::{CallContext, ImageStore, ToolRegistry};
use maia_plugin_sdk::contracts::{Text2ImageArgs, Text2ImageData};
use maia_plugin_sdk::{Image, ToolCall};
use serde::Deserialize;
use std::sync::Arc;

/// Prompts one `text2image` call takes (the tool's `maxItems`).
pub const PROMPTS_PER_CALL: usize = 64;

/// Images for prompts.
#[derive(Clone, Debug, Default)]
pub struct Rendered {
    /// One image per prompt, in prompt order.
    pub images: Vec<Image>,
    /// One line per prompt the tool drew only in part ("'a florp': unknown word …").
    pub warnings: Vec<String>,
}

/// Draws prompts into images. Implementations are called from several scorings at once.
pub trait ImageRenderer: Send + Sync {
    /// What draws (`text2image (wasm:shapes-tools)`).
    fn name(&self) -> String;

    /// One image per prompt, all with `seed`. Scoring passes only held-out seeds
    /// ([`super::held_out_seed`]).
    fn render(&self, prompts: &[String], seed: u64) -> Result<Rendered, Failure>;
}

/// Renders by calling a tool of a [`ToolRegistry`] — by default `text2image`, the same
/// tool (and plugin, sandbox and limits) the agent draws with. Calls go through the
/// registry's schema validation like the agent's; the images are not stored anywhere.
pub struct ToolRenderer {
    registry: Arc<ToolRegistry>,
    tool: String,
}

impl ToolRenderer {
    /// Renders with `text2image`; fails when the registry has no such tool.
    pub fn new(registry: Arc<ToolRegistry>) -> Result<Self, Failure> {
        Self::with_tool(registry, "text2image")
    }

    /// Renders with another tool taking `{prompts: [string], seed: integer}`.
    pub fn with_tool(registry: Arc<ToolRegistry>, tool: &str) -> Result<Self, Failure> {
        if registry.get(tool).is_none() {
            let names: Vec<&str> = registry.tools().map(|t| t.spec.name.as_str()).collect();
            return Err(Failure::new(
                FailureKind::Render,
                format!(
                    "no `{tool}` tool is loaded, so evaluation images cannot be drawn (tools: {}); run ./scripts/build-plugins.sh to build the shapes-tools plugin, or pass --plugin DIR",
                    if names.is_empty() {
                        "none".to_owned()
                    } else {
                        names.join(", ")
                    }
                ),
            ));
        }
        Ok(ToolRenderer {
            registry,
            tool: tool.to_owned(),
        })
    }
}

impl ImageRenderer for ToolRenderer {
    fn name(&self) -> String {
        match self.registry.get(&self.tool) {
            Some(t) => format!("{} ({})", self.tool, t.source),
            None => self.tool.clone(),
        }
    }

    fn render(&self, prompts: &[String], seed: u64) -> Result<Rendered, Failure> {
        let mut rendered = Rendered::default();
        // A throwaway store: the tool may look images up, but nothing is kept.
        let store = ImageStore::new();
        for (k, chunk) in prompts.chunks(PROMPTS_PER_CALL).enumerate() {
            let call = ToolCall::new(
                format!("eval_render_{k}"),
                &self.tool,
                Text2ImageArgs::new(chunk.to_vec(), seed).to_value(),
            );
            let mut host = CallContext::new(&store);
            let output = self.registry.call(&call, &mut host).map_err(|e| {
                Failure::new(
                    FailureKind::Render,
                    format!(
                        "{} failed on {} prompts (seed {seed}) [{}]: {}",
                        self.tool,
                        chunk.len(),
                        e.kind.as_str(),
                        e.message
                    ),
                )
            })?;
            if output.images.len() != chunk.len() {
                return Err(Failure::new(
                    FailureKind::Render,
                    format!(
                        "{} returned {} images for {} prompts",
                        self.tool,
                        output.images.len(),
                        chunk.len()
                    ),
                ));
            }
            // A generator that reports nothing (or not in the contract) has no warnings.
            let reports = Text2ImageData::deserialize(&output.data)
                .map(|data| data.images)
                .unwrap_or_default();
            for (i, prompt) in chunk.iter().enumerate() {
                let warnings = reports
                    .iter()
                    .find(|r| r.image == i + 1)
                    .map(|r| r.warnings.as_slice())
                    .unwrap_or_default();
                if !warnings.is_empty() {
                    let text: Vec<String> = warnings.iter().map(ToString::to_string).collect();
                    rendered
                        .warnings
                        .push(format!("'{prompt}': {}", text.join("; ")));
                }
            }
            rendered.images.extend(output.images);
        }
        Ok(rendered)
    }
}
