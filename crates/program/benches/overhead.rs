//! What a tool call made from a program costs beyond the tool itself: the same loop of
//! calls to a host function that does nothing, (1) through the worker process as maia runs
//! programs, (2) in monty in-process (the interpreter alone, the peer) and (3) as direct Rust
//! calls (the machine's ceiling), beside (4) a bare pipe round trip to `cat`, the floor under
//! any process boundary. Prints microseconds per call; the target is at most 50 µs.
//!
//! `cargo bench -p maia-program --bench overhead`

use maia_program::{Limits, ProgramHost, Worker, run};
use monty::{MontyRun, RunProgress};
use monty_types::{CompileOptions, MontyObject, PrintWriter, ResourceTracker};
use serde_json::Value;
use std::hint::black_box;
use std::time::{Duration, Instant};

const CALLS: usize = 5_000;
const REPEATS: usize = 5;

struct Noop(u64);

impl ProgramHost for Noop {
    fn call(&mut self, _name: &str, args: Value) -> Result<Value, String> {
        self.0 += args.get("i").and_then(Value::as_u64).unwrap_or(0);
        Ok(Value::Null)
    }
}

fn program(calls: usize) -> String {
    format!("for i in range({calls}):\n    noop(i=i)\n")
}

fn best(mut f: impl FnMut() -> Duration) -> Duration {
    (0..REPEATS).map(|_| f()).min().unwrap_or_default()
}

fn through_worker(worker: &Worker, calls: usize) -> Duration {
    let limits = Limits {
        tool_calls: u32::MAX,
        ..Limits::default()
    };
    best(|| {
        let mut host = Noop(0);
        let started = Instant::now();
        let finish = run(
            worker,
            &program(calls),
            &["noop".to_owned()],
            &limits,
            &mut host,
        );
        let elapsed = started.elapsed();
        assert_eq!(finish.error, None);
        elapsed
    })
}

fn in_process(calls: usize) -> Duration {
    best(|| {
        let started = Instant::now();
        let runner = MontyRun::new(
            program(calls),
            "bench.py",
            vec!["noop".to_owned()],
            CompileOptions::default(),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let noop = MontyObject::Function {
            name: "noop".into(),
            docstring: None,
        };
        let mut progress = runner
            .start(
                vec![noop],
                ResourceTracker::default(),
                PrintWriter::Disabled,
            )
            .unwrap_or_else(|e| panic!("{e}"));
        loop {
            progress = match progress {
                RunProgress::FunctionCall(call) => {
                    black_box(&call.kwargs);
                    call.resume(MontyObject::None, PrintWriter::Disabled)
                        .unwrap_or_else(|e| panic!("{e}"))
                }
                RunProgress::Complete(_) => break,
                _ => panic!("unexpected suspension"),
            };
        }
        started.elapsed()
    })
}

fn direct(calls: usize) -> Duration {
    best(|| {
        let mut host = Noop(0);
        let started = Instant::now();
        for i in 0..calls {
            let _ = black_box(host.call("noop", serde_json::json!({ "i": i })));
        }
        started.elapsed()
    })
}

/// One line to `cat` and back: the cheapest round trip between two processes on this
/// machine, the floor under any out-of-process sandbox.
fn pipe_floor(calls: usize) -> Duration {
    use std::io::{BufRead, BufReader, Write};
    best(|| {
        let Ok(mut cat) = std::process::Command::new("cat")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
        else {
            return Duration::ZERO;
        };
        let (Some(mut input), Some(output)) = (cat.stdin.take(), cat.stdout.take()) else {
            return Duration::ZERO;
        };
        let mut output = BufReader::new(output);
        let mut line = String::new();
        let started = Instant::now();
        for _ in 0..calls {
            let _ = input.write_all(b"{\"call\":{\"name\":\"noop\",\"args\":{\"i\":1}}}\n");
            line.clear();
            let _ = output.read_line(&mut line);
        }
        let elapsed = started.elapsed();
        drop(input);
        let _ = cat.wait();
        elapsed
    })
}

fn per_call(with: Duration, without: Duration) -> f64 {
    with.saturating_sub(without).as_secs_f64() * 1e6 / CALLS as f64
}

fn main() {
    let worker = Worker::at(env!("CARGO_BIN_EXE_maia-program-worker"));
    let worker_us = per_call(through_worker(&worker, CALLS), through_worker(&worker, 0));
    let pipe_us = pipe_floor(CALLS).as_secs_f64() * 1e6 / CALLS as f64;
    let monty_us = per_call(in_process(CALLS), in_process(0));
    let direct_us = direct(CALLS).as_secs_f64() * 1e6 / CALLS as f64;
    println!("tool call overhead, {CALLS} calls to a no-op host function, best of {REPEATS}:");
    println!("  through the worker (maia's path):  {worker_us:8.2} µs/call   (target ≤ 50)");
    println!(
        "  monty in-process (interpreter):    {monty_us:8.2} µs/call   ({:.1}× less)",
        worker_us / monty_us.max(1e-9)
    );
    println!(
        "  a line to `cat` and back (IPC floor): {pipe_us:6.2} µs/call   (worker is {:.1}× the floor)",
        worker_us / pipe_us.max(1e-9)
    );
    println!("  direct Rust call (ceiling):        {direct_us:8.3} µs/call");
}
