//! Experiment programs (MAIA 2.0's free-form code, made safe): model-written Python runs
//! in [monty](https://github.com/pydantic/monty), a sandboxed interpreter, inside a worker
//! process of its own. Every tool is a host function of the same name taking keyword
//! arguments; `display` chooses the images the model sees; `print` output comes back; the
//! statistics helpers run in the worker. Limits: interpreter time, a wall deadline, a
//! memory cap, recursion depth, tool calls per program, and an import allow-list — no
//! files, network or environment.

mod convert;
mod helpers;
mod imports;
mod limits;
pub mod protocol;
mod runner;
pub mod worker;

pub use helpers::HELPERS;
pub use imports::ALLOWED_MODULES;
pub use limits::Limits;
pub use protocol::{ErrorKind, Finish, ProgramError};
pub use runner::{ProgramHost, WORKER_ENV, WORKER_NAME, Worker, run};
