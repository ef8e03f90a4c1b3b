//! One module per `maia` subcommand.

pub mod batch;
pub mod call;
pub mod config;
pub mod dataset;
pub mod demo;
pub mod doctor;
pub mod eval;
pub mod exemplars;
pub mod host;
pub mod model;
pub mod plugin;
pub mod plugin_check;
pub mod plugin_new;
pub mod report;
pub mod run;
pub mod runs;
pub mod sae;
pub mod spurious;
pub mod spurious_agent;
pub mod tools;
pub mod watch;
pub mod world;
