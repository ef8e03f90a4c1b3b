//! `maia tools`: every tool that a run would offer the agent.

use crate::plugin_args::{PluginArgs, warn_problems};
use crate::table::{Table, first_sentence};
use anyhow::Result;
use maia_core::ToolRegistry;
use maia_core::tools::summarize_schema;
use std::process::ExitCode;

/// Options of `maia tools`.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Plugins are found in --plugin paths, in target/plugins beside the maia build, \
and in ~/.config/maia/plugins (or $XDG_CONFIG_HOME/maia/plugins)."
)]
pub struct ToolsArgs {
    #[command(flatten)]
    pub plugins: PluginArgs,
    /// Print full descriptions and JSON Schemas instead of the one-line table.
    #[arg(long, short)]
    pub long: bool,
    /// Print the tools as JSON (name, source, description, parameters, examples).
    #[arg(long, conflicts_with = "long")]
    pub json: bool,
}

/// Runs `maia tools`.
pub fn run(args: ToolsArgs) -> Result<ExitCode> {
    let (registry, problems) = args.plugins.load_registry();
    warn_problems(&problems);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&tools_json(&registry))?);
    } else if args.long {
        print!("{}", long_listing(&registry));
    } else {
        print!("{}", table(&registry));
    }
    if registry.is_empty() {
        eprintln!(
            "no tools found: build the bundled plugins with ./scripts/build-plugins.sh, or pass --plugin PATH"
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The one-line-per-tool table.
pub fn table(registry: &ToolRegistry) -> String {
    let mut t = Table::new(&["TOOL", "SOURCE", "ARGUMENTS", "DESCRIPTION"]);
    for tool in registry.tools() {
        t.row(vec![
            tool.spec.name.clone(),
            tool.source.to_string(),
            summarize_schema(&tool.spec.parameters),
            first_sentence(&tool.spec.description).to_owned(),
        ]);
    }
    let mut out = t.render();
    out.push_str(&format!("{} tools\n", registry.len()));
    out
}

fn long_listing(registry: &ToolRegistry) -> String {
    let mut out = String::new();
    for tool in registry.tools() {
        out.push_str(&format!("{}  ({})\n", tool.spec.name, tool.source));
        out.push_str(&format!("  {}\n", tool.spec.description));
        if !tool.spec.returns.is_empty() {
            out.push_str(&format!("  returns: {}\n", tool.spec.returns));
        }
        let schema = serde_json::to_string_pretty(&tool.spec.parameters).unwrap_or_default();
        out.push_str("  parameters:\n");
        for line in schema.lines() {
            out.push_str(&format!("    {line}\n"));
        }
        for example in &tool.spec.examples {
            out.push_str(&format!("  example: {example}\n"));
        }
        out.push('\n');
    }
    out
}

fn tools_json(registry: &ToolRegistry) -> serde_json::Value {
    registry
        .tools()
        .map(|tool| {
            serde_json::json!({
                "name": tool.spec.name,
                "source": tool.source.to_string(),
                "description": tool.spec.description,
                "returns": tool.spec.returns,
                "parameters": tool.spec.parameters,
                "examples": tool.spec.examples,
            })
        })
        .collect()
}
