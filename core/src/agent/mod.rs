//! The agent: MAIA's loop of model rounds and tool calls, and the event stream every run
//! is made of.

pub mod control;
pub mod event;

pub use control::Control;
pub use event::{Event, ImageRecord, Record, RunStatus};
