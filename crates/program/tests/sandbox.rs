//! The real worker process under every hazard the sandbox must contain, each followed by
//! proof that the host still serves programs.

use maia_program::{ErrorKind, Finish, Limits, ProgramHost, Worker, run};
use serde_json::{Value, json};

/// A host with one tool, `score`, that returns `{"values": [...]}` doubling its input,
/// and fails on a negative input.
#[derive(Default)]
struct Host {
    calls: Vec<(String, Value)>,
}

impl ProgramHost for Host {
    fn call(&mut self, name: &str, args: Value) -> Result<Value, String> {
        self.calls.push((name.to_owned(), args.clone()));
        match name {
            "score" => {
                let xs: Vec<f64> = args["xs"]
                    .as_array()
                    .map(|a| a.iter().filter_map(Value::as_f64).collect())
                    .unwrap_or_default();
                if xs.iter().any(|x| *x < 0.0) {
                    return Err("score failed: negative input".into());
                }
                Ok(
                    json!({"text": "scored", "data": {"values": xs.iter().map(|x| x * 2.0).collect::<Vec<_>>()}}),
                )
            }
            "display" => Ok(Value::Null),
            "slow" => {
                std::thread::sleep(std::time::Duration::from_millis(400));
                Ok(Value::Null)
            }
            other => Err(format!("no tool {other}")),
        }
    }
}

fn worker() -> Worker {
    Worker::at(env!("CARGO_BIN_EXE_maia-program-worker"))
}

fn exec(code: &str, limits: &Limits) -> (Finish, Host) {
    let mut host = Host::default();
    let functions = vec!["score".to_owned(), "slow".to_owned(), "display".to_owned()];
    let finish = run(&worker(), code, &functions, limits, &mut host);
    (finish, host)
}

fn quick() -> Limits {
    Limits {
        cpu_ms: 500,
        wall_ms: 20_000,
        memory_bytes: 64 << 20,
        ..Limits::default()
    }
}

/// After any failure, a good program still runs in a fresh worker.
fn still_serving() {
    let (finish, host) = exec(
        "r = score(xs=[1, 2, 3])\nv = r['data']['values']\nprint('mean', mean(v))\ncorrelation(v, [1, 2, 3])",
        &quick(),
    );
    assert_eq!(finish.error, None);
    assert_eq!(finish.printed.trim(), "mean 4.0");
    assert_eq!(finish.value, Some(json!(1.0)));
    assert_eq!(host.calls.len(), 1);
}

fn failure(code: &str, limits: &Limits) -> (maia_program::ProgramError, Host) {
    let (finish, host) = exec(code, limits);
    let error = finish
        .error
        .clone()
        .unwrap_or_else(|| panic!("{code:?} should fail; got {finish:?}"));
    (error, host)
}

#[test]
fn an_endless_loop_stops_at_the_time_budget() {
    let (error, _) = failure("x = 0\nwhile True:\n    x += 1\n", &quick());
    assert_eq!(error.kind, ErrorKind::Limit, "{error}");
    assert!(error.message.contains("time limit"), "{error}");
    still_serving();
}

#[test]
fn deep_recursion_stops_at_the_depth_limit() {
    let (error, _) = failure("def f(n):\n    return f(n + 1)\nf(0)\n", &quick());
    assert_eq!(error.kind, ErrorKind::Limit, "{error}");
    assert!(error.message.contains("recursion"), "{error}");
    still_serving();
}

#[test]
fn a_huge_allocation_stops_at_the_memory_cap() {
    let (error, _) = failure("x = [0] * (10 ** 9)\n", &quick());
    assert_eq!(error.kind, ErrorKind::Limit, "{error}");
    assert!(error.message.to_lowercase().contains("memory"), "{error}");
    let (error, _) = failure(
        "xs = []\nwhile True:\n    xs.append('x' * 100000)\n",
        &Limits {
            cpu_ms: 20_000,
            ..quick()
        },
    );
    assert_eq!(error.kind, ErrorKind::Limit, "{error}");
    assert!(error.message.to_lowercase().contains("memory"), "{error}");
    still_serving();
}

#[test]
fn ten_thousand_tool_calls_stop_at_the_cap_uncaught() {
    let code = "n = 0\nfor i in range(10000):\n    try:\n        score(xs=[i])\n        n += 1\n    except Exception:\n        pass\n";
    let limits = Limits {
        tool_calls: 50,
        ..quick()
    };
    let (error, host) = failure(code, &limits);
    assert_eq!(error.kind, ErrorKind::Limit, "{error}");
    assert!(error.message.contains("more than 50 tool calls"), "{error}");
    assert_eq!(error.line, Some(4), "{error}");
    assert_eq!(host.calls.len(), 50);
    still_serving();
}

#[test]
fn an_inner_call_error_is_raised_where_it_happened_and_can_be_caught() {
    let (error, _) = failure("a = 1\nscore(xs=[-1])\n", &quick());
    assert_eq!(error.kind, ErrorKind::Runtime, "{error}");
    assert!(error.message.contains("negative input"), "{error}");
    assert_eq!(error.line, Some(2));
    let (finish, _) = exec(
        "try:\n    score(xs=[-1])\nexcept RuntimeError as e:\n    print('caught', e)\n",
        &quick(),
    );
    assert_eq!(finish.error, None);
    assert!(
        finish.printed.contains("caught score failed"),
        "{}",
        finish.printed
    );
    still_serving();
}

#[test]
fn files_imports_and_the_environment_are_refused() {
    let (error, _) = failure("f = open('/etc/passwd')\nprint(f.read())\n", &quick());
    assert_eq!(error.kind, ErrorKind::Forbidden, "{error}");
    let (error, _) = failure("import os\nprint(os.environ)\n", &quick());
    assert_eq!(error.kind, ErrorKind::Forbidden, "{error}");
    assert_eq!(error.line, Some(1));
    assert!(error.message.contains("import os"), "{error}");
    still_serving();
}

#[test]
fn syntax_errors_and_positional_tool_arguments_say_where() {
    let (error, _) = failure("x = [1, 2\nprint(x)\n", &quick());
    assert_eq!(error.kind, ErrorKind::Syntax, "{error}");
    let (error, host) = failure("score([1, 2])\n", &quick());
    assert_eq!(error.kind, ErrorKind::Runtime, "{error}");
    assert!(error.message.contains("keyword arguments"), "{error}");
    assert!(host.calls.is_empty());
}

#[test]
fn a_worker_that_cannot_start_is_a_clear_error() {
    let mut host = Host::default();
    let finish = run(
        &Worker::at("/nonexistent/maia-program-worker"),
        "1",
        &[],
        &quick(),
        &mut host,
    );
    let error = finish.error.expect("no worker");
    assert_eq!(error.kind, ErrorKind::Crash);
    assert!(error.message.contains("/nonexistent"), "{error}");
}

#[test]
fn the_wall_deadline_stops_a_spinning_program_and_one_waiting_on_tools() {
    let limits = Limits {
        cpu_ms: 60_000,
        wall_ms: 300,
        ..quick()
    };
    let started = std::time::Instant::now();
    let (error, _) = failure("while True:\n    pass\n", &limits);
    assert_eq!(error.kind, ErrorKind::Limit, "{error}");
    assert!(error.message.contains("wall deadline"), "{error}");
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    let (error, host) = failure("for i in range(10):\n    slow()\n", &limits);
    assert_eq!(error.kind, ErrorKind::Limit, "{error}");
    assert!(error.message.contains("wall deadline"), "{error}");
    assert!(host.calls.len() <= 2, "{}", host.calls.len());
    still_serving();
}
