//! maia's side: starts a worker process for one program, serves its tool calls, and
//! enforces the limits that live outside the interpreter (wall deadline, tool-call cap).

use crate::Limits;
use crate::protocol::{ErrorKind, Finish, FromWorker, ProgramError, Start, ToWorker};
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

/// The worker executable's file name.
pub const WORKER_NAME: &str = "maia-program-worker";

/// The environment variable that names the worker executable, overriding the search.
pub const WORKER_ENV: &str = "MAIA_PROGRAM_WORKER";

/// What serves a program's host-function calls: every tool, and `display`.
pub trait ProgramHost {
    /// Runs one call; `Err` is raised in the program as a `RuntimeError`.
    fn call(&mut self, name: &str, args: Value) -> Result<Value, String>;
}

/// The worker executable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Worker {
    path: PathBuf,
}

impl Worker {
    /// A worker at a known path.
    pub fn at(path: impl Into<PathBuf>) -> Self {
        Worker { path: path.into() }
    }

    /// Finds the worker: `$MAIA_PROGRAM_WORKER`, else beside the running executable (or
    /// one folder up, for test binaries under `target/<profile>/deps`).
    pub fn locate() -> Result<Worker, String> {
        if let Some(path) = std::env::var_os(WORKER_ENV) {
            let path = PathBuf::from(path);
            return if path.is_file() {
                Ok(Worker { path })
            } else {
                Err(format!(
                    "{WORKER_ENV} names {}, which is not a file",
                    path.display()
                ))
            };
        }
        let exe = std::env::current_exe().map_err(|e| format!("finding maia's own path: {e}"))?;
        let mut searched = Vec::new();
        for dir in exe.ancestors().skip(1).take(2) {
            let path = dir.join(WORKER_NAME);
            if path.is_file() {
                return Ok(Worker { path });
            }
            searched.push(dir.display().to_string());
        }
        Err(format!(
            "the program worker `{WORKER_NAME}` is not in {}; build it beside maia with \
             `cargo build -p maia-program` (scripts/setup.sh does), or set {WORKER_ENV} to its path",
            searched.join(" or ")
        ))
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Runs one program to its end. Every failure — the program's, a limit, a worker that
/// could not start or died — is in the returned [`Finish::error`].
pub fn run(
    worker: &Worker,
    code: &str,
    functions: &[String],
    limits: &Limits,
    host: &mut dyn ProgramHost,
) -> Finish {
    let started = Instant::now();
    let mut child = match Command::new(&worker.path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env_clear()
        .spawn()
    {
        Ok(child) => child,
        Err(e) => {
            return failed(ProgramError::new(
                ErrorKind::Crash,
                format!(
                    "could not start the program worker {}: {e}",
                    worker.path.display()
                ),
            ));
        }
    };
    let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
        let _ = child.kill();
        let _ = child.wait();
        return failed(ProgramError::new(
            ErrorKind::Crash,
            "the worker has no pipes",
        ));
    };
    let stderr = child.stderr.take();
    let child = Arc::new(Mutex::new(child));
    let watchdog = Watchdog::start(child.clone(), limits.wall());
    let mut session = Session {
        stdin,
        stdout: BufReader::new(stdout),
    };
    let served = session.serve(code, functions, limits, host, started);
    drop(session);
    let fired = watchdog.stop();
    let mut child = child
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    match served {
        _ if fired => {
            let _ = child.wait();
            failed(past_deadline(limits))
        }
        Served::Done(finish) => {
            let _ = child.wait();
            finish
        }
        Served::Killed(error) => {
            let _ = child.kill();
            let _ = child.wait();
            failed(error)
        }
        Served::Ended => failed(ended(&mut child, stderr, limits)),
    }
}

fn failed(error: ProgramError) -> Finish {
    Finish {
        error: Some(error),
        ..Finish::default()
    }
}

enum Served {
    Done(Finish),
    Killed(ProgramError),
    Ended,
}

/// Kills the worker at the wall deadline, from its own thread, so the serving loop reads
/// the worker's pipe directly (no hop through another thread per call).
struct Watchdog {
    stop: mpsc::Sender<()>,
    thread: std::thread::JoinHandle<bool>,
}

impl Watchdog {
    fn start(child: Arc<Mutex<Child>>, wall: Duration) -> Watchdog {
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::spawn(move || match stopped.recv_timeout(wall) {
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let mut child = child
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                let _ = child.kill();
                true
            }
            _ => false,
        });
        Watchdog { stop, thread }
    }

    /// Stops the watchdog; true when it had killed the worker.
    fn stop(self) -> bool {
        let _ = self.stop.send(());
        self.thread.join().unwrap_or(false)
    }
}

struct Session {
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Session {
    fn send(&mut self, text: String) -> bool {
        let mut line = text.into_bytes();
        line.push(b'\n');
        self.stdin
            .write_all(&line)
            .and_then(|()| self.stdin.flush())
            .is_ok()
    }

    fn serve(
        &mut self,
        code: &str,
        functions: &[String],
        limits: &Limits,
        host: &mut dyn ProgramHost,
        started: Instant,
    ) -> Served {
        let start = Start {
            code: code.to_owned(),
            functions: functions.to_vec(),
            limits: limits.clone(),
        };
        let Ok(text) = serde_json::to_string(&start) else {
            return Served::Killed(ProgramError::new(
                ErrorKind::Crash,
                "the program cannot be sent",
            ));
        };
        if !self.send(text) {
            return Served::Ended;
        }
        let mut tool_calls = 0u32;
        let mut line = String::new();
        loop {
            line.clear();
            match self.stdout.read_line(&mut line) {
                Ok(0) | Err(_) => return Served::Ended,
                Ok(_) => {}
            }
            let message: FromWorker = match serde_json::from_str(&line) {
                Ok(message) => message,
                Err(e) => {
                    return Served::Killed(ProgramError::new(
                        ErrorKind::Crash,
                        format!("the worker sent a line maia does not understand ({e})"),
                    ));
                }
            };
            let (name, args) = match message {
                FromWorker::Done(finish) => return Served::Done(finish),
                FromWorker::Call { name, args } => (name, args),
            };
            let answer = if name != "display" && tool_calls >= limits.tool_calls {
                ToWorker::Abort(format!(
                    "the program made more than {} tool calls, the limit for one program; \
                     tools take lists, so batch the work into fewer calls",
                    limits.tool_calls
                ))
            } else {
                if name != "display" {
                    tool_calls += 1;
                }
                match host.call(&name, args) {
                    Ok(value) => ToWorker::Ok(value),
                    Err(message) => ToWorker::Error(message),
                }
            };
            if started.elapsed() > limits.wall() {
                return Served::Killed(past_deadline(limits));
            }
            let Ok(text) = serde_json::to_string(&answer) else {
                return Served::Killed(ProgramError::new(
                    ErrorKind::Crash,
                    "an answer cannot be sent",
                ));
            };
            if !self.send(text) {
                return Served::Ended;
            }
        }
    }
}

fn past_deadline(limits: &Limits) -> ProgramError {
    ProgramError::new(
        ErrorKind::Limit,
        format!(
            "the program ran past its wall deadline of {:.1} s and was stopped",
            limits.wall().as_secs_f64()
        ),
    )
}

/// Why a worker ended without finishing.
fn ended(child: &mut Child, pipe: Option<ChildStderr>, limits: &Limits) -> ProgramError {
    let mut stderr = String::new();
    if let Some(mut pipe) = pipe {
        let _ = pipe.read_to_string(&mut stderr);
    }
    let status = child.wait();
    let tail: String = {
        let lines: Vec<&str> = stderr.lines().rev().take(5).collect();
        lines.into_iter().rev().collect::<Vec<_>>().join("\n")
    };
    match status.ok().and_then(|s| s.code()) {
        Some(monty_types::OOM_EXIT_CODE) => ProgramError::new(
            ErrorKind::Limit,
            format!(
                "the program used more than its memory limit of {} MiB and was stopped",
                limits.memory_bytes >> 20
            ),
        ),
        code => ProgramError::new(
            ErrorKind::Crash,
            format!(
                "the interpreter stopped without finishing ({}){}",
                code.map_or_else(
                    || "killed by a signal".to_owned(),
                    |c| format!("exit code {c}")
                ),
                if tail.is_empty() {
                    String::new()
                } else {
                    format!(": {tail}")
                }
            ),
        ),
    }
}
