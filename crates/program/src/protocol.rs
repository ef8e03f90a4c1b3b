//! The messages between maia and a program worker: one JSON object per line, maia's on
//! the worker's stdin, the worker's on its stdout.

use crate::Limits;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The first line maia sends: the program and what it may call.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Start {
    /// Python source.
    pub code: String,
    /// Names of the host functions: every tool, plus `display`.
    pub functions: Vec<String>,
    /// The limits.
    pub limits: Limits,
}

/// A line from the worker.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FromWorker {
    /// The program called a host function with these keyword arguments.
    Call {
        /// Function (tool) name.
        name: String,
        /// Keyword arguments as a JSON object.
        args: Value,
    },
    /// The program ended.
    Done(Finish),
}

/// maia's answer to a [`FromWorker::Call`].
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ToWorker {
    /// The call's value.
    Ok(Value),
    /// The call failed: raised in the program as a `RuntimeError` it may catch.
    Error(String),
    /// A limit was hit: the program ends with this message and cannot catch it.
    Abort(String),
}

/// How a program ended.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Finish {
    /// What the program printed.
    pub printed: String,
    /// The value of its last expression, when it ended with one that is not `None`.
    pub value: Option<Value>,
    /// Why it failed, when it did.
    pub error: Option<ProgramError>,
}

/// What kind of failure ended a program.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The source does not parse.
    Syntax,
    /// An exception the program did not catch.
    Runtime,
    /// A limit: time, memory, recursion, tool calls, output.
    Limit,
    /// Something programs may not do: an import outside the allow-list, files, the
    /// network, the environment.
    Forbidden,
    /// The interpreter process ended without finishing.
    Crash,
}

impl ErrorKind {
    /// The kind's name, as journaled.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Syntax => "syntax",
            ErrorKind::Runtime => "runtime",
            ErrorKind::Limit => "limit",
            ErrorKind::Forbidden => "forbidden",
            ErrorKind::Crash => "crash",
        }
    }
}

/// A program's failure, as the agent reads it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProgramError {
    /// What kind of failure.
    pub kind: ErrorKind,
    /// The message, with the traceback when there is one.
    pub message: String,
    /// The program line it happened on (1-based), when known.
    pub line: Option<u32>,
}

impl ProgramError {
    /// A failure with no line.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        ProgramError {
            kind,
            message: message.into(),
            line: None,
        }
    }
}

impl std::fmt::Display for ProgramError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(line) => write!(
                f,
                "{} error on line {line}: {}",
                self.kind.as_str(),
                self.message
            ),
            None => write!(f, "{} error: {}", self.kind.as_str(), self.message),
        }
    }
}
