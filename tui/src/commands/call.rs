//! `maia call`: runs one tool outside an agent run, for trying plugins by hand.

use crate::plugin_args::{PluginArgs, warn_problems};
use crate::sample_images::insert_samples;
use crate::target_args::TargetArgs;
use anyhow::{Context, Result, bail};
use maia_core::agent::tool_calls::call_tool;
use maia_core::call_context::UnitCaller;
use maia_core::{ImageStore, ToolRegistry};
use maia_plugin_sdk::{Image, ToolCall, ToolError, ToolOutput};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Options of `maia call`.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Examples:\n  maia call --samples grayscale '{\"image_ids\": [\"img_1\"]}'\n  \
maia call --image photo.png image_stats '{\"image_ids\": [\"img_1\"]}'\n  maia call tile @args.json\n  \
maia call --samples --target synthetic:red call_unit '{\"image_ids\": [\"img_1\", \"img_2\"]}'"
)]
pub struct CallArgs {
    /// The tool to call (see `maia tools`).
    pub tool: String,
    /// Arguments as a JSON object, or @FILE to read them from a file.
    #[arg(default_value = "{}")]
    pub args: String,
    /// Put a PNG in the image store first (ids img_1, img_2, … in the order given). Repeatable.
    #[arg(long = "image", value_name = "FILE")]
    pub images: Vec<PathBuf>,
    /// Put the three shapes-world sample images in the store first (after any --image).
    #[arg(long)]
    pub samples: bool,
    /// Folder for the images the tool returns (named by content hash).
    #[arg(long, value_name = "DIR", default_value = "maia-out")]
    pub out: PathBuf,
    #[command(flatten)]
    pub target: TargetArgs,
    #[command(flatten)]
    pub plugins: PluginArgs,
}

/// Runs `maia call`.
pub fn run(args: CallArgs) -> Result<ExitCode> {
    let call_args = parse_args_json(&args.args)?;
    let (mut registry, problems) = args.plugins.load_registry();
    warn_problems(&problems);
    let store = Arc::new(
        ImageStore::with_dir(&args.out)
            .with_context(|| format!("creating the output folder {}", args.out.display()))?,
    );
    let unit = args.target.open(store.clone())?;
    if let Some(unit) = &unit {
        args.target.register_exemplars(unit, &mut registry)?;
    }
    for path in &args.images {
        let png = read_png(path)?;
        let id = store.insert(Image::new(png, path.display().to_string()))?;
        println!("{id} ← {}", path.display());
    }
    if args.samples {
        for id in insert_samples(&store)? {
            println!("{id} ← shapes-world sample");
        }
    }
    let call = ToolCall::new("cli_1", &args.tool, call_args);
    let unit_caller = unit.as_ref().map(|u| u as &dyn UnitCaller);
    match call_and_store(&registry, &store, unit_caller, &call) {
        Ok((output, elapsed)) => {
            let source = registry
                .get(&args.tool)
                .map(|t| t.source.to_string())
                .unwrap_or_default();
            println!("{} ({source}) took {}", args.tool, format_duration(elapsed));
            print!("{}", render_output(&output, &store, true));
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!(
                "error: {} failed [{}]: {}",
                args.tool,
                e.kind.as_str(),
                e.message
            );
            Ok(ExitCode::from(2))
        }
    }
}

/// Calls a tool through the registry and stores the images it returns.
pub fn call_and_store(
    registry: &ToolRegistry,
    store: &ImageStore,
    unit: Option<&dyn UnitCaller>,
    call: &ToolCall,
) -> Result<(ToolOutput, Duration), ToolError> {
    let started = Instant::now();
    let mut show_inner = |inner: &maia_core::program::InnerRecord| {
        let status = inner.error.as_deref().unwrap_or("ok");
        let first = inner.text.lines().next().unwrap_or_default();
        eprintln!(
            "  ↳ #{} {} {status} {} · {first}",
            inner.index,
            inner.name,
            format_duration(Duration::from_millis(inner.elapsed_ms))
        );
    };
    let output = call_tool(registry, store, unit, call, &[], &mut show_inner)?;
    Ok((output, started.elapsed()))
}

/// Text, data and saved images of a tool's output, for the terminal.
pub fn render_output(output: &ToolOutput, store: &ImageStore, show_data: bool) -> String {
    let mut out = String::new();
    for line in output.text.lines() {
        out.push_str(&format!("  {line}\n"));
    }
    if show_data && !output.data.is_null() {
        out.push_str(&format!("  data: {}\n", output.data));
    }
    for image in &output.images {
        let path = store
            .path_of(&image.id)
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        out.push_str(&format!("  {} {path} — {}\n", image.id, image.caption));
    }
    out
}

/// Milliseconds with one decimal below 10 s, seconds above.
pub fn format_duration(d: Duration) -> String {
    if d.as_secs() >= 10 {
        format!("{:.1} s", d.as_secs_f64())
    } else {
        format!("{:.1} ms", d.as_secs_f64() * 1e3)
    }
}

fn parse_args_json(text: &str) -> Result<serde_json::Value> {
    let (text, origin) = match text.strip_prefix('@') {
        Some(path) => (
            std::fs::read_to_string(path)
                .with_context(|| format!("reading arguments from {path}"))?,
            path.to_owned(),
        ),
        None => (text.to_owned(), "the command line".to_owned()),
    };
    let value: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("the arguments from {origin} are not valid JSON (expected an object like '{{\"image_ids\": [\"img_1\"]}}')"))?;
    if !value.is_object() {
        bail!("the arguments from {origin} must be a JSON object, not {value}");
    }
    Ok(value)
}

/// An image file as PNG bytes (JPEG and WebP are converted; the format is read from the
/// bytes, not the name).
fn read_png(path: &Path) -> Result<Vec<u8>> {
    let bytes = std::fs::read(path).with_context(|| format!("reading image {}", path.display()))?;
    maia_core::imageio::to_png(bytes).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}
