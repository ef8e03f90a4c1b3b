//! `maia demo`: the tour a newcomer sees after set-up. Until the agent lands, it shows
//! the tools every run gets and calls the bundled plugins on shapes-world images.

use super::call::{call_and_store, format_duration, render_output};
use crate::plugin_args::{PluginArgs, warn_problems};
use crate::sample_images::{SAMPLE_PROMPTS, insert_samples};
use anyhow::{Context, Result};
use maia_core::ImageStore;
use maia_plugin_sdk::ToolCall;
use serde_json::json;
use std::path::PathBuf;
use std::process::ExitCode;

/// Options of `maia demo`.
#[derive(clap::Args, Debug)]
pub struct DemoArgs {
    /// Folder for the demo's images.
    #[arg(long, value_name = "DIR", default_value = "runs/demo")]
    pub out: PathBuf,
    #[command(flatten)]
    pub plugins: PluginArgs,
}

/// Runs `maia demo`.
pub fn run(args: DemoArgs) -> Result<ExitCode> {
    println!("maia demo — tools and plugins on the shapes world\n");
    let (registry, problems) = args.plugins.load_registry();
    warn_problems(&problems);
    print!("{}", super::tools::table(&registry));
    let store = ImageStore::with_dir(args.out.join("images"))
        .with_context(|| format!("creating {}", args.out.display()))?;
    let ids = insert_samples(&store)?;
    println!("\nsample images (shapes world):");
    for (id, prompt) in ids.iter().zip(SAMPLE_PROMPTS) {
        let path = store
            .path_of(id)
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        println!("  {id} {path} — {prompt}");
    }
    let calls = [
        ("grayscale", json!({"image_ids": ["img_2"]})),
        (
            "crop",
            json!({"image_ids": ["img_2"], "box": {"x": 0.25, "y": 0.25, "width": 0.5, "height": 0.5}}),
        ),
        ("tile", json!({"image_ids": ["img_1", "img_2", "img_3"]})),
        (
            "image_stats",
            json!({"image_ids": ["img_1", "img_2", "img_3"]}),
        ),
        (
            "flip",
            json!({"image_ids": ["img_3"], "axis": "horizontal"}),
        ),
    ];
    let mut failures = 0;
    for (n, (tool, call_args)) in calls.into_iter().enumerate() {
        let Some(registered) = registry.get(tool) else {
            println!(
                "\n{tool}: not loaded (run ./scripts/build-plugins.sh to build the bundled plugins)"
            );
            failures += 1;
            continue;
        };
        println!("\n{tool} ({}) {call_args}", registered.source);
        match call_and_store(
            &registry,
            &store,
            None,
            &ToolCall::new(format!("demo_{n}"), tool, call_args),
        ) {
            Ok((output, elapsed)) => print!(
                "  took {}\n{}",
                format_duration(elapsed),
                render_output(&output, &store)
            ),
            Err(e) => {
                failures += 1;
                println!("  failed [{}]: {}", e.kind.as_str(), e.message);
            }
        }
    }
    println!("\nimages are in {}", args.out.join("images").display());
    println!("next: `maia tools --long`, `maia plugin new NAME --kind wasm`, `maia doctor`");
    Ok(if failures == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
