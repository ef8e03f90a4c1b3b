//! `maia config`: the configuration a run would use, and where it came from.

use anyhow::Result;
use maia_core::config::Config;
use std::path::PathBuf;
use std::process::ExitCode;

/// Options of `maia config`.
#[derive(clap::Args, Debug)]
pub struct ConfigArgs {
    /// Project config file (default ./maia.toml).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

/// Runs `maia config`.
pub fn run(args: ConfigArgs) -> Result<ExitCode> {
    let (config, sources) = Config::resolve(args.config.as_deref(), toml::Table::new())?;
    println!("# resolved maia configuration");
    match Config::user_file() {
        Some(f) => println!(
            "# user file:    {} ({})",
            f.display(),
            if f.is_file() { "read" } else { "absent" }
        ),
        None => println!("# user file:    (no home directory)"),
    }
    let project = args.config.unwrap_or_else(|| PathBuf::from("maia.toml"));
    println!(
        "# project file: {} ({})",
        project.display(),
        if sources.files.contains(&project) {
            "read"
        } else {
            "absent"
        }
    );
    for (name, table) in [("openai", &config.openai), ("anthropic", &config.anthropic)] {
        let state = match std::env::var(&table.api_key_env) {
            Ok(v) if !v.trim().is_empty() => format!("set ({})", mask(&v)),
            _ => "not set".into(),
        };
        println!("# {name} key:   ${} {state}", table.api_key_env);
    }
    println!();
    print!("{}", config.to_toml());
    Ok(ExitCode::SUCCESS)
}

/// Shows that a secret exists without revealing it: its length only.
fn mask(secret: &str) -> String {
    format!("{} characters, hidden", secret.chars().count())
}
