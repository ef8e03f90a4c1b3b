//! `maia demo`: the tour a newcomer sees after set-up. Until the agent lands it runs a
//! scripted experiment the way the agent would, on a synthetic unit whose truth is known:
//! make images, probe the unit, edit the images, probe again; then shows the bundled
//! image plugins.

use super::call::{call_and_store, format_duration, render_output};
use crate::plugin_args::{PluginArgs, warn_problems};
use crate::target_args::TargetArgs;
use anyhow::{Context, Result};
use maia_core::ImageStore;
use maia_core::ToolRegistry;
use maia_core::call_host::UnitCaller;
use maia_core::target::TargetUnit;
use maia_plugin_sdk::{ToolCall, ToolOutput};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

/// Options of `maia demo`.
#[derive(clap::Args, Debug)]
pub struct DemoArgs {
    /// Folder for the demo's images.
    #[arg(long, value_name = "DIR", default_value = "runs/demo")]
    pub out: PathBuf,
    /// The synthetic unit the experiment probes (any catalogue name or concept expression).
    #[arg(long, value_name = "SPEC", default_value = "synthetic:red_and_circle")]
    pub target: String,
    #[command(flatten)]
    pub plugins: PluginArgs,
}

struct Demo<'a> {
    registry: &'a ToolRegistry,
    store: &'a ImageStore,
    unit: &'a TargetUnit,
    failures: usize,
    step: usize,
}

impl Demo<'_> {
    fn call(&mut self, why: &str, tool: &str, args: Value) -> Option<ToolOutput> {
        self.step += 1;
        let Some(registered) = self.registry.get(tool) else {
            println!(
                "\n{}. {why}\n   {tool}: not loaded (run ./scripts/build-plugins.sh to build the bundled plugins)",
                self.step
            );
            self.failures += 1;
            return None;
        };
        println!(
            "\n{}. {why}\n   {tool} ({}) {args}",
            self.step, registered.source
        );
        let call = ToolCall::new(format!("demo_{}", self.step), tool, args);
        match call_and_store(
            self.registry,
            self.store,
            Some(self.unit as &dyn UnitCaller),
            &call,
        ) {
            Ok((output, elapsed)) => {
                print!(
                    "   took {}\n{}",
                    format_duration(elapsed),
                    render_output(&output, self.store, false)
                        .replace("\n  ", "\n    ")
                        .replacen("  ", "    ", 1)
                );
                Some(output)
            }
            Err(e) => {
                self.failures += 1;
                println!("   failed [{}]: {}", e.kind.as_str(), e.message);
                None
            }
        }
    }
}

fn ids(output: &Option<ToolOutput>) -> Vec<String> {
    output
        .iter()
        .flat_map(|o| o.images.iter().map(|i| i.id.to_string()))
        .collect()
}

/// Runs `maia demo`.
pub fn run(args: DemoArgs) -> Result<ExitCode> {
    let (registry, problems) = args.plugins.load_registry();
    warn_problems(&problems);
    println!("maia demo — an experiment on a unit whose truth is known\n");
    print!("{}", super::tools::table(&registry));
    let store = Arc::new(
        ImageStore::with_dir(args.out.join("images"))
            .with_context(|| format!("creating {}", args.out.display()))?,
    );
    let target = TargetArgs {
        target: Some(args.target.clone()),
        unit: None,
        device: "auto".into(),
        half: false,
        data: None,
        k: 15,
    };
    let unit = target.open(store.clone())?.context("no target")?;
    let truth = unit_truth(&args.target);
    println!(
        "\ntarget: {} unit {} (ground truth: {truth})",
        args.target,
        unit.unit()
    );
    let mut demo = Demo {
        registry: &registry,
        store: &store,
        unit: &unit,
        failures: 0,
        step: 0,
    };

    let made = demo.call(
        "Make images that vary one factor at a time.",
        "text2image",
        json!({"prompts": ["a red circle", "a red square", "a blue circle", "two red striped circles on a white background"], "seed": 1}),
    );
    let made_ids = ids(&made);
    if !made_ids.is_empty() {
        demo.call(
            "Probe the unit on them.",
            "call_unit",
            json!({"image_ids": made_ids}),
        );
        let edited = demo.call(
            "Edit the image it fired on most, one attribute at a time.",
            "edit_images",
            json!({"image_ids": [made_ids[0], made_ids[0], made_ids[0]], "edits": ["make the circle green", "replace the circle with a star", "make it bigger"]}),
        );
        let edited_ids = ids(&edited);
        if !edited_ids.is_empty() {
            demo.call(
                "Probe the edits: which change silenced the unit?",
                "call_unit",
                json!({"image_ids": edited_ids}),
            );
        }
        demo.call(
            "Look at the images side by side.",
            "tile",
            json!({"image_ids": made_ids}),
        );
        demo.call(
            "Measure them.",
            "image_stats",
            json!({"image_ids": [made_ids[0]]}),
        );
        demo.call(
            "Image operations from the native plugin.",
            "grayscale",
            json!({"image_ids": [made_ids[3.min(made_ids.len() - 1)]]}),
        );
    }
    println!("\nimages are in {}", args.out.join("images").display());
    println!(
        "next: `maia tools --long`, `maia world units`, `maia plugin new NAME --kind wasm`, `maia doctor`"
    );
    Ok(if demo.failures == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn unit_truth(spec: &str) -> String {
    maia_core::target::open_target(spec)
        .ok()
        .and_then(|m| {
            m.ground_truth(&maia_core::target::UnitRef {
                layer: maia_core::target::SYNTHETIC_LAYER.into(),
                unit: 0,
            })
        })
        .unwrap_or_else(|| "unknown".into())
}
