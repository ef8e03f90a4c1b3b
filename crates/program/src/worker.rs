//! The worker side: runs one program in monty, in its own process, and asks maia (over
//! stdin/stdout) for every tool call the program makes.
//!
//! The process is the sandbox's outer wall: the memory cap ends it through the global
//! allocator (`monty-alloc`), and maia kills it at the wall deadline, so a program that
//! crashes the interpreter takes only its worker with it.

use crate::convert::{from_json, to_json, type_name};
use crate::helpers;
use crate::imports;
use crate::protocol::{ErrorKind, Finish, FromWorker, ProgramError, Start, ToWorker};
use monty::{MontyRun, RunProgress};
use monty_types::{
    CompileOptions, ExcType, ExtFunctionResult, MontyException, MontyObject, NameLookupResult,
    PrintWriter, ResourceLimits, ResourceTracker,
};
use serde_json::{Map, Value};
use std::io::{BufRead, Write};

/// The file name programs run as, in tracebacks.
pub const SCRIPT_NAME: &str = "program.py";

/// Stack for the interpreter thread: monty's recursion limit stops Python recursion long
/// before this, and the margin covers deep values being converted.
const STACK_BYTES: usize = 256 << 20;

/// Serves one program on stdin/stdout and returns the exit code. The caller's binary
/// installs `monty_alloc::LimitedAllocator` as its global allocator for the memory cap.
pub fn serve() -> i32 {
    let thread = std::thread::Builder::new()
        .name("maia-program".into())
        .stack_size(STACK_BYTES)
        .spawn(|| {
            let stdin = std::io::stdin();
            let stdout = std::io::stdout();
            serve_on(&mut stdin.lock(), &mut stdout.lock())
        });
    match thread.map(|t| t.join()) {
        Ok(Ok(Ok(()))) => 0,
        Ok(Ok(Err(message))) => {
            eprintln!("maia-program-worker: {message}");
            2
        }
        _ => 3,
    }
}

/// Serves one program over any line transport.
pub fn serve_on(input: &mut dyn BufRead, output: &mut dyn Write) -> Result<(), String> {
    let mut line = String::new();
    input
        .read_line(&mut line)
        .map_err(|e| format!("reading the program: {e}"))?;
    let start: Start = serde_json::from_str(&line)
        .map_err(|e| format!("the first line is not a program to run: {e}"))?;
    let memory = usize::try_from(start.limits.memory_bytes).unwrap_or(usize::MAX);
    // Fails only when the allocator is not installed (a library test): no hard cap then.
    let _ = monty_alloc::set_limit(Some(memory), false);
    let finish = run(&start, memory, &mut Transport { input, output });
    send(output, &FromWorker::Done(finish))
}

struct Transport<'a> {
    input: &'a mut dyn BufRead,
    output: &'a mut dyn Write,
}

impl Transport<'_> {
    fn ask(&mut self, name: &str, args: Value) -> Result<ToWorker, String> {
        send(
            self.output,
            &FromWorker::Call {
                name: name.to_owned(),
                args,
            },
        )?;
        let mut line = String::new();
        let read = self
            .input
            .read_line(&mut line)
            .map_err(|e| format!("reading maia's answer: {e}"))?;
        if read == 0 {
            return Err("maia closed the connection".into());
        }
        serde_json::from_str(&line).map_err(|e| format!("maia's answer is not understood: {e}"))
    }
}

fn send(output: &mut dyn Write, message: &FromWorker) -> Result<(), String> {
    let mut text = serde_json::to_string(message).map_err(|e| e.to_string())?;
    text.push('\n');
    output
        .write_all(text.as_bytes())
        .and_then(|()| output.flush())
        .map_err(|e| format!("writing to maia: {e}"))
}

fn run(start: &Start, memory: usize, transport: &mut Transport<'_>) -> Finish {
    let mut printed = String::new();
    if let Err(error) = imports::check(&start.code) {
        return Finish {
            error: Some(error),
            ..Finish::default()
        };
    }
    let mut names: Vec<String> = start.functions.clone();
    names.extend(helpers::HELPERS.iter().map(|(n, _)| (*n).to_owned()));
    names.sort();
    names.dedup();
    let runner = match MontyRun::new(
        start.code.clone(),
        SCRIPT_NAME,
        names.clone(),
        CompileOptions::default(),
    ) {
        Ok(runner) => runner,
        Err(exc) => {
            return Finish {
                error: Some(classify(&exc, None)),
                ..Finish::default()
            };
        }
    };
    let inputs = names
        .iter()
        .map(|name| MontyObject::Function {
            name: name.clone(),
            docstring: None,
        })
        .collect();
    let limits = ResourceLimits {
        max_duration: Some(start.limits.cpu()),
        max_memory: Some(memory),
        max_recursion_depth: start.limits.recursion_depth as usize,
        max_suspensions: usize::MAX,
        ..ResourceLimits::default()
    };
    let cap = Some(start.limits.print_bytes as usize);
    let mut forced: Option<ProgramError> = None;
    let outcome = drive(
        runner,
        inputs,
        ResourceTracker::new(limits),
        &mut printed,
        cap,
        transport,
        &mut forced,
    );
    match outcome {
        Ok(value) => Finish {
            printed,
            value: match value {
                MontyObject::None => None,
                other => to_json(&other).ok(),
            },
            error: None,
        },
        Err(exc) => Finish {
            printed,
            value: None,
            error: Some(classify(&exc, forced)),
        },
    }
}

fn drive(
    runner: MontyRun,
    inputs: Vec<MontyObject>,
    tracker: ResourceTracker,
    printed: &mut String,
    cap: Option<usize>,
    transport: &mut Transport<'_>,
    forced: &mut Option<ProgramError>,
) -> Result<MontyObject, MontyException> {
    let mut progress = runner.start(inputs, tracker, PrintWriter::CollectString(printed, cap))?;
    loop {
        progress = match progress {
            RunProgress::Complete(value) => return Ok(value),
            RunProgress::FunctionCall(call) => {
                let name = call.function_name.clone();
                if helpers::is_helper(&name) {
                    let result = match helpers::call(&name, &call.args, &call.kwargs) {
                        Ok(value) => ExtFunctionResult::Return(value),
                        Err(message) => ExtFunctionResult::Error(MontyException::new(
                            ExcType::ValueError,
                            Some(message),
                        )),
                    };
                    call.resume(result, PrintWriter::CollectString(printed, cap))?
                } else {
                    match host_call(&name, &call.args, &call.kwargs, transport) {
                        Ok(value) => {
                            call.resume(value, PrintWriter::CollectString(printed, cap))?
                        }
                        Err(HostFailure::Raise(exc)) => call.resume(
                            ExtFunctionResult::Error(exc),
                            PrintWriter::CollectString(printed, cap),
                        )?,
                        Err(HostFailure::Abort(error)) => {
                            let exc = MontyException::new(
                                ExcType::RuntimeError,
                                Some(error.message.clone()),
                            );
                            *forced = Some(error);
                            call.abort(exc, PrintWriter::CollectString(printed, cap))?
                        }
                    }
                }
            }
            RunProgress::OsCall(os) => {
                let error = ProgramError::new(
                    ErrorKind::Forbidden,
                    "programs cannot reach files, the network or the environment; \
                     use the tools (their functions) for images and the model",
                );
                let exc = MontyException::new(ExcType::OSError, Some(error.message.clone()));
                *forced = Some(error);
                os.abort(exc, PrintWriter::CollectString(printed, cap))?
            }
            RunProgress::NameLookup(lookup) => lookup.resume(
                NameLookupResult::Undefined,
                PrintWriter::CollectString(printed, cap),
            )?,
            RunProgress::ResolveFutures(futures) => {
                let error = ProgramError::new(
                    ErrorKind::Forbidden,
                    "async code is not supported in programs: call tools directly",
                );
                let exc = MontyException::new(ExcType::RuntimeError, Some(error.message.clone()));
                *forced = Some(error);
                futures.abort(exc, PrintWriter::CollectString(printed, cap))?
            }
        };
    }
}

enum HostFailure {
    /// Raised in the program, which may catch it.
    Raise(MontyException),
    /// Ends the program.
    Abort(ProgramError),
}

fn host_call(
    name: &str,
    args: &[MontyObject],
    kwargs: &[(MontyObject, MontyObject)],
    transport: &mut Transport<'_>,
) -> Result<MontyObject, HostFailure> {
    let args = arguments(name, args, kwargs)
        .map_err(|m| HostFailure::Raise(MontyException::new(ExcType::TypeError, Some(m))))?;
    match transport.ask(name, args) {
        Ok(ToWorker::Ok(value)) => Ok(from_json(&value)),
        Ok(ToWorker::Error(message)) => Err(HostFailure::Raise(MontyException::new(
            ExcType::RuntimeError,
            Some(message),
        ))),
        Ok(ToWorker::Abort(message)) => Err(HostFailure::Abort(ProgramError::new(
            ErrorKind::Limit,
            message,
        ))),
        Err(message) => Err(HostFailure::Abort(ProgramError::new(
            ErrorKind::Crash,
            message,
        ))),
    }
}

/// A host call's arguments as one JSON object. Tools take keyword arguments only;
/// `display` also takes `(image_ids, caption)` positionally.
fn arguments(
    name: &str,
    args: &[MontyObject],
    kwargs: &[(MontyObject, MontyObject)],
) -> Result<Value, String> {
    let mut map = Map::new();
    if !args.is_empty() {
        let positional: &[&str] = if name == "display" {
            &["image_ids", "caption"]
        } else {
            &[]
        };
        if args.len() > positional.len() {
            return Err(format!(
                "{name}() takes keyword arguments only, as in {name}(image_ids=[...]); \
                 its arguments are those of the tool `{name}`"
            ));
        }
        for (key, value) in positional.iter().zip(args) {
            map.insert((*key).to_owned(), to_json(value)?);
        }
    }
    for (key, value) in kwargs {
        let MontyObject::String(key) = key else {
            return Err(format!("{name}() got a keyword of type {}", type_name(key)));
        };
        map.insert(key.clone(), to_json(value)?);
    }
    Ok(Value::Object(map))
}

/// A monty exception as the agent reads it.
fn classify(exc: &MontyException, forced: Option<ProgramError>) -> ProgramError {
    let line = exc
        .traceback()
        .iter()
        .rev()
        .find(|frame| frame.filename == SCRIPT_NAME)
        .map(|frame| frame.start.line);
    if let Some(mut error) = forced {
        error.line = line.or(error.line);
        return error;
    }
    let kind = match exc.exc_type() {
        ExcType::SyntaxError => ErrorKind::Syntax,
        ExcType::TimeoutError | ExcType::MemoryError | ExcType::RecursionError => ErrorKind::Limit,
        _ => ErrorKind::Runtime,
    };
    ProgramError {
        kind,
        message: exc.to_string().trim_end().to_owned(),
        line,
    }
}
