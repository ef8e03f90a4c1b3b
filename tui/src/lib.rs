//! The library half of the `maia` binary: the terminal UI that renders a run's event
//! stream ([`ui`]) and the plain-line renderer for logs and batch jobs ([`headless`]).
//! The binary's subcommands (`maia run`, `maia watch`, …) call into these.

pub mod calendar;
pub mod error_text;
pub mod headless;
pub mod report;
pub mod shell;
pub mod ui;
