//! The agent's part of `maia spurious`: describing every unit of the layer (a batch in
//! OUT/batch, run on this machine by `maia batch`'s own worker processes, and resumed if
//! it was stopped) and choosing, per class, the units that track the object
//! (`prompts/select-units.md`, answered through the `select_units` tool).

use super::spurious::SpuriousArgs;
use crate::backends::backends;
use anyhow::{Context, Result, bail};
use maia_core::agent::Prompts;
use maia_core::config::Config;
use maia_core::downstream::selection::{self, SELECT_TOOL, Selection};
use maia_core::llm::{Message, Part, complete};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Units per batch shard: small, so the workers share the layer evenly.
const SHARD_SIZE: &str = "4";

/// Describes every unit of `layer` of `target` with the run's agent, in OUT/batch (a batch
/// already there is resumed, its finished units kept); `data` is the exemplar dataset
/// (default: the shapes world's). Returns the batch's results.jsonl.
pub fn describe(
    args: &SpuriousArgs,
    target: &str,
    layer: &str,
    data: Option<&Path>,
) -> Result<PathBuf> {
    let batch = args.out.join("batch");
    let maia = std::env::current_exe().context("finding this maia binary")?;
    let workers = args.workers.map_or_else(
        || std::thread::available_parallelism().map_or(1, |n| n.get()),
        |n| n as usize,
    );
    let fresh = !batch.join("batch.toml").is_file();
    if fresh {
        let mut plan = Command::new(&maia);
        plan.args(["batch", "plan"])
            .arg(&batch)
            .args(["--target", target, "--units", &format!("{layer}:*")])
            .args(["--shard-size", SHARD_SIZE, "--device", &args.device])
            .args(args.agent.args());
        if let Some(dir) = &args.prompts {
            plan.arg("--prompts").arg(dir);
        }
        if let Some(dir) = data {
            plan.arg("--data").arg(dir);
        }
        let status = plan.status().context("running maia batch plan")?;
        if !status.success() {
            bail!(
                "planning the description batch in {} failed (see above)",
                batch.display()
            );
        }
    }
    eprintln!(
        "describing every unit of {layer} with the {} agent, {workers} at a time (OUT/batch; rerun to resume)",
        args.agent.backend
    );
    let status = Command::new(&maia)
        .args(["batch", if fresh { "run" } else { "resume" }])
        .arg(&batch)
        .args(["--local", &workers.to_string()])
        .status()
        .context("running maia batch")?;
    let results = batch.join("results.jsonl");
    if !results.is_file() {
        bail!(
            "the description batch in {} wrote no results; see its logs, then rerun to resume",
            batch.display()
        );
    }
    if !status.success() {
        eprintln!(
            "note: some units were not described (see `maia batch status {}`); choosing among the rest",
            batch.display()
        );
    }
    Ok(results)
}

/// Asks the run's agent to choose among the `described` units of `layer`; a reply that is
/// not a valid selection is sent back once with what is wrong, and a second bad reply is
/// an error quoting both.
pub fn select(
    args: &SpuriousArgs,
    classes: &[String],
    layer: &str,
    described: &[(usize, String)],
) -> Result<Selection> {
    let prompts = Prompts::load(args.prompts.as_deref())?;
    let instructions = prompts.render("select-units.md", &[]);
    let (config, _) = Config::resolve(None, args.agent.overrides())?;
    let backend = backends()
        .build(&config.run.backend, &config.run.model, &config, None)
        .with_context(|| format!("the {} agent", config.run.backend))?;
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let mut request = selection::request(&instructions, classes, layer, described);
    let mut replies = Vec::new();
    let mut problem = String::new();
    for attempt in 1..=2 {
        let completion = runtime
            .block_on(complete(backend.as_ref(), request.clone()))
            .with_context(|| format!("asking the {} agent to choose", args.agent.backend))?;
        let call = completion
            .tool_calls
            .iter()
            .find(|c| c.name == SELECT_TOOL)
            .cloned();
        let reply = call
            .as_ref()
            .map_or_else(|| completion.text.clone(), |c| c.arguments.clone());
        match selection::parse(&reply, classes, described) {
            Ok(selection) => return Ok(selection),
            Err(error) => {
                replies.push(reply);
                if attempt == 1 {
                    request.messages.push(Message::Assistant {
                        text: completion.text.clone(),
                        tool_calls: call.into_iter().collect(),
                    });
                    request.messages.push(Message::User(vec![Part::Text(format!(
                        "That selection cannot be used: {error}. Call {SELECT_TOOL} again."
                    ))]));
                }
                problem = error;
            }
        }
    }
    let log = args.out.join("selection-replies.txt");
    std::fs::write(&log, replies.join("\n\n---\n\n"))?;
    bail!(
        "the {} agent gave no usable selection twice ({problem}); both replies are in {}",
        args.agent.backend,
        log.display()
    )
}

/// The selection per class, as printed and written beside the table.
pub fn selection_text(selection: &Selection, layer: &str) -> String {
    let list = |units: &[usize]| {
        if units.is_empty() {
            "none".to_owned()
        } else {
            units
                .iter()
                .map(|u| format!("{layer}:{u}"))
                .collect::<Vec<_>>()
                .join(", ")
        }
    };
    let mut text = format!(
        "the agent keeps {} units ({})\n",
        selection.units().len(),
        selection.reasoning.trim()
    );
    for (class, units) in &selection.per_class {
        text.push_str(&format!("  {class}: {}\n", list(units)));
    }
    text.push_str(&format!("  shared: {}", list(&selection.shared)));
    text
}
