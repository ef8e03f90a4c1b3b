//! `maia plugin …`: the plugin author's commands.

use super::{plugin_check, plugin_new};
use anyhow::Result;
use std::process::ExitCode;

/// Subcommands of `maia plugin`.
#[derive(clap::Subcommand, Debug)]
pub enum PluginCommand {
    /// Load a plugin, check its manifest and SDK version, call each tool with its example
    /// arguments, and print a pass/fail table (exit status 1 on any failure).
    Check(plugin_check::CheckArgs),
    /// Write a new plugin crate that builds and passes `maia plugin check` as is.
    New(plugin_new::NewArgs),
    /// Copy a built plugin (plugin.toml + artifact) into ~/.config/maia/plugins/NAME.
    Install(plugin_new::InstallArgs),
}

/// Runs a `maia plugin` subcommand.
pub fn run(cmd: PluginCommand) -> Result<ExitCode> {
    match cmd {
        PluginCommand::Check(args) => plugin_check::run(args),
        PluginCommand::New(args) => plugin_new::run(args),
        PluginCommand::Install(args) => plugin_new::install(args),
    }
}
