//! What one program may use: interpreter time, wall time, memory, recursion, tool calls.

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The limits one program runs under. Every limit is enforced outside the program's
/// reach: the interpreter's own clock, recursion and memory checks inside the worker, the
/// wall deadline and the tool-call cap in the host, which kills the worker when it must.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Interpreter time in milliseconds: the clock runs only while the program's own code
    /// runs, not while a tool call it made is served. This is the step budget: an endless
    /// loop ends here.
    pub cpu_ms: u64,
    /// The whole program, tool calls included, in milliseconds.
    pub wall_ms: u64,
    /// Bytes the program's values may hold.
    pub memory_bytes: u64,
    /// How deep function calls may nest.
    pub recursion_depth: u32,
    /// Tool calls one program may make.
    pub tool_calls: u32,
    /// Bytes of `print` output kept.
    pub print_bytes: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            cpu_ms: 10_000,
            wall_ms: 600_000,
            memory_bytes: 256 << 20,
            recursion_depth: 200,
            tool_calls: 200,
            print_bytes: 64 << 10,
        }
    }
}

impl Limits {
    /// The interpreter-time budget.
    pub fn cpu(&self) -> Duration {
        Duration::from_millis(self.cpu_ms)
    }

    /// The wall deadline.
    pub fn wall(&self) -> Duration {
        Duration::from_millis(self.wall_ms)
    }
}
