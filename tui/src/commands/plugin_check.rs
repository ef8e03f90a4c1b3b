//! `maia plugin check PATH`: everything maia would do with a plugin, step by step, with
//! a verdict per step.

use super::call::{call_and_store, format_duration};
use crate::plugin_args::SandboxArgs;
use crate::sample_images::{SAMPLE_PROMPTS, insert_samples};
use crate::table::Table;
use anyhow::Result;
use maia_core::plugins::{check_sdk_version, locate};
use maia_core::{ImageStore, ToolRegistry};
use maia_plugin_sdk::{SDK_VERSION, ToolCall};
use std::path::PathBuf;
use std::process::ExitCode;

/// Options of `maia plugin check`.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Before the calls, the image store holds three shapes-world sample images, \
img_1 to img_3, so example arguments may refer to those ids."
)]
pub struct CheckArgs {
    /// The plugin: its directory (with plugin.toml) or its .so/.wasm with plugin.toml beside it.
    pub path: PathBuf,
    /// Print the results as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub sandbox: SandboxArgs,
}

/// One check and its verdict.
#[derive(Debug, serde::Serialize)]
pub struct Check {
    /// What was checked.
    pub check: String,
    /// "pass", "fail" or "warn".
    pub result: &'static str,
    /// What was found.
    pub detail: String,
}

fn check(name: impl Into<String>, result: &'static str, detail: impl Into<String>) -> Check {
    Check {
        check: name.into(),
        result,
        detail: detail.into(),
    }
}

/// Runs all checks on a plugin; stops at the first step the later ones depend on.
pub fn run_checks(args: &CheckArgs) -> Vec<Check> {
    let mut checks = Vec::new();
    let files = match locate(&args.path) {
        Ok(files) => files,
        Err(e) => {
            checks.push(check("manifest", "fail", e.to_string()));
            return checks;
        }
    };
    let m = &files.manifest;
    checks.push(check(
        "manifest",
        "pass",
        format!(
            "{} {} ({}), artifact {}",
            m.name,
            m.version,
            m.kind,
            files.artifact.display()
        ),
    ));
    let origin = files.manifest_path.display().to_string();
    match check_sdk_version(m, &origin) {
        Ok(()) => checks.push(check(
            "sdk version",
            "pass",
            format!("{} (host {SDK_VERSION})", m.sdk_version),
        )),
        Err(e) => {
            checks.push(check("sdk version", "fail", e.to_string()));
            return checks;
        }
    }
    let provider = match args.sandbox.loader().load_files(&files) {
        Ok(p) => p,
        Err(e) => {
            checks.push(check("load", "fail", e.to_string()));
            return checks;
        }
    };
    let described = provider.description();
    checks.push(check(
        "load",
        "pass",
        format!(
            "{} tool(s), reports SDK {}",
            described.tools.len(),
            described.manifest.sdk_version
        ),
    ));
    if !m.permissions.is_empty() {
        checks.push(check("permissions", "warn", format!(
            "asks for net {:?}, fs {:?}, env {:?}; granted only with --allow-net/--allow-fs/--allow-env {}",
            m.permissions.net, m.permissions.fs, m.permissions.env, m.name
        )));
    }
    let specs = described.tools.clone();
    if specs.is_empty() {
        checks.push(check("tools", "fail", "the plugin offers no tools"));
        return checks;
    }
    let mut registry = ToolRegistry::new();
    if let Err(e) = registry.register(provider) {
        checks.push(check("schemas", "fail", e.to_string()));
        return checks;
    }
    checks.push(check("schemas", "pass", "every parameter schema compiles"));
    let store = ImageStore::new();
    if let Err(e) = insert_samples(&store) {
        checks.push(check(
            "sample images",
            "fail",
            maia_tui::error_text::error_text(&e),
        ));
        return checks;
    }
    for spec in &specs {
        if spec.description.trim().is_empty() {
            checks.push(check(
                format!("describe {}", spec.name),
                "warn",
                "no description: the agent will not know when to use it",
            ));
        }
        if spec.examples.is_empty() {
            checks.push(check(
                format!("call {}", spec.name),
                "warn",
                "no example arguments to call it with; add one with ToolSpec::example",
            ));
            continue;
        }
        for (i, example) in spec.examples.iter().enumerate() {
            let label = if spec.examples.len() == 1 {
                format!("call {}", spec.name)
            } else {
                format!("call {} #{}", spec.name, i + 1)
            };
            let call = ToolCall::new(format!("check_{i}"), &spec.name, example.clone());
            match call_and_store(&registry, &store, None, &call) {
                Ok((out, elapsed)) => checks.push(check(
                    label,
                    "pass",
                    format!(
                        "{}; {} chars of text, {} image(s){}",
                        format_duration(elapsed),
                        out.text.chars().count(),
                        out.images.len(),
                        if out.data.is_null() { "" } else { ", data" }
                    ),
                )),
                Err(e) => checks.push(check(
                    label,
                    "fail",
                    format!("[{}] {} (args {example})", e.kind.as_str(), e.message),
                )),
            }
        }
    }
    checks
}

/// Runs `maia plugin check`.
pub fn run(args: CheckArgs) -> Result<ExitCode> {
    let checks = run_checks(&args);
    let failed = checks.iter().filter(|c| c.result == "fail").count();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&checks)?);
    } else {
        let mut table = Table::new(&["CHECK", "RESULT", "DETAIL"]);
        for c in &checks {
            table.row(vec![
                c.check.clone(),
                c.result.to_uppercase(),
                c.detail.clone(),
            ]);
        }
        print!("{}", table.render());
        if failed == 0 {
            println!(
                "plugin OK ({} checks; sample images: {})",
                checks.len(),
                SAMPLE_PROMPTS.join(" | ")
            );
        } else {
            println!("{failed} check(s) failed");
        }
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
