//! The `maia` binary's integration tests, one test binary (fewer links of libtorch and
//! wasmtime): each module is one area; `support` holds what they share.

mod batch_cli;
mod batch_slurm;
mod cli;
mod downstream;
mod eval_cli;
mod eval_llm;
mod host_cli;
mod images_from;
mod llama_server;
mod outside_test;
mod real_data;
mod report;
mod run_journal;
mod run_kill;
mod support;
mod ui_sixel;
mod ui_snapshots;
mod ui_terminal;
mod ui_tmux;
mod ui_watch;
