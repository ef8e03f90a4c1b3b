//! `maia host serve` as users run it: a real server process, `maia host info` and
//! `maia call --target remote:ADDR` against it, ctrl-c, and tokens (required beyond
//! loopback).

use crate::support::{maia, run};
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `maia host serve` process, killed if the test fails before stopping it.
struct Server {
    child: Child,
    addr: String,
    /// Kept open: the host's stdout stays a live pipe.
    _stdout: BufReader<std::process::ChildStdout>,
}

impl Server {
    fn start(args: &[&str]) -> Server {
        Server::start_with(args, &[])
    }

    fn start_with(args: &[&str], env: &[(&str, &str)]) -> Server {
        let mut child = maia()
            .args(["host", "serve"])
            .args(args)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("maia host serve starts");
        let stdout = child.stdout.take().expect("stdout");
        let mut stdout = BufReader::new(stdout);
        let mut first = String::new();
        stdout.read_line(&mut first).expect("reads the first line");
        let addr = first
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| {
                let mut err = String::new();
                child.stderr.take().map(|mut e| e.read_to_string(&mut err));
                panic!("first line {first:?}, stderr {err}")
            })
            .to_owned();
        Server {
            child,
            addr,
            _stdout: stdout,
        }
    }

    /// Sends ctrl-c and waits for the exit; returns the exit code and stderr.
    fn interrupt(mut self) -> (i32, String) {
        let status = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().expect("waits") {
                let mut err = String::new();
                self.child
                    .stderr
                    .take()
                    .map(|mut e| e.read_to_string(&mut err));
                return (status.code().unwrap_or(-1), err);
            }
            assert!(Instant::now() < deadline, "the host did not stop on ctrl-c");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn call_unit(target: &str, out: &std::path::Path) -> (i32, String, String) {
    run(maia()
        .args([
            "call",
            "--no-default-plugins",
            "--samples",
            "--target",
            target,
        ])
        .args(["call_unit", r#"{"image_ids":["img_1","img_2"]}"#, "--out"])
        .arg(out)
        .env_remove("MAIA_HOST_TOKEN"))
}

#[test]
fn remote_targets_give_the_activations_of_the_local_model() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&["--model", "synthetic:red", "--listen", "127.0.0.1:0"]);
    assert!(
        server.addr.starts_with("127.0.0.1:") && !server.addr.ends_with(":0"),
        "{}",
        server.addr
    );

    let (code, out, err) = run(maia().args(["host", "info", &server.addr]));
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("serving synthetic:red (synthetic") && out.contains("protocol 1.1"),
        "{out}"
    );
    assert!(out.lines().any(|l| l.starts_with("synthetic  1")), "{out}");
    assert!(out.contains("stats: 0 requests"), "{out}");

    let (code, remote, err) = call_unit(
        &format!("remote:{}", server.addr),
        &dir.path().join("remote"),
    );
    assert_eq!(code, 0, "{err}");
    let (code, local, err) = call_unit("synthetic:red", &dir.path().join("local"));
    assert_eq!(code, 0, "{err}");
    // img_1 is a red circle, img_2 blue squares and a yellow star.
    let activations = |out: &str| -> Vec<String> {
        out.lines()
            .filter(|l| l.contains(": activation"))
            .map(str::to_owned)
            .collect()
    };
    assert!(
        remote.contains("img_1: activation 1.05") && remote.contains("img_2: activation 0.05"),
        "{remote}"
    );
    assert_eq!(activations(&remote), activations(&local));

    let (code, out, _) = run(maia().args(["host", "info", "--json", &server.addr]));
    assert_eq!(code, 0);
    let json: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(json["stats"]["requests"], 1, "{json}");
    assert_eq!(json["model"]["name"], "synthetic:red");

    let (code, err) = server.interrupt();
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("interrupted (ctrl-c)") && err.contains("stopped; 1 requests"),
        "{err}"
    );
}

#[cfg(unix)]
#[test]
fn unix_socket_hosts_serve_and_clean_up() {
    let dir = tempfile::tempdir().expect("tempdir");
    let socket = dir.path().join("maia.sock");
    let listen = format!("unix:{}", socket.display());
    let server = Server::start(&["--model", "synthetic:red", "--listen", &listen, "--quiet"]);
    assert_eq!(server.addr, listen);
    let (code, out, err) = call_unit(&format!("remote:{listen}"), &dir.path().join("out"));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("img_1: activation 1.05"), "{out}");

    let (code, _, err) = run(maia().args([
        "host",
        "serve",
        "--model",
        "synthetic:red",
        "--listen",
        &listen,
    ]));
    assert_ne!(code, 0);
    assert!(
        err.contains("another maia host is already serving"),
        "{err}"
    );
    let (code, _) = server.interrupt();
    assert_eq!(code, 0);
    assert!(!socket.exists(), "the socket file is removed on exit");
}

#[test]
fn hosts_refuse_other_machines_and_clients_say_how_to_start_one() {
    let (code, _, err) = run(maia().args([
        "host",
        "serve",
        "--model",
        "synthetic:red",
        "--listen",
        "0.0.0.0:0",
    ]));
    assert_ne!(code, 0);
    assert!(
        err.contains("not a loopback address") && err.contains("--token-file PATH"),
        "{err}"
    );

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let addr = format!("127.0.0.1:{port}");
    let (code, _, err) = run(maia().args(["host", "info", &addr]));
    assert_ne!(code, 0);
    assert!(err.contains("is `maia host serve` running?"), "{err}");
    let (code, _, err) = run(maia().args([
        "call",
        "--no-default-plugins",
        "--target",
        &format!("remote:{addr}"),
        "call_unit",
        "{}",
    ]));
    assert_ne!(code, 0);
    assert!(
        err.contains("maia host serve --model MODEL --listen"),
        "{err}"
    );

    let (code, _, err) = run(maia().args(["host", "serve", "--model", "remote:127.0.0.1:7878"]));
    assert_ne!(code, 0);
    assert!(err.contains("already served by a host"), "{err}");
}

#[test]
fn host_commands_explain_themselves() {
    let (code, out, _) = run(maia().args(["host", "serve", "--help"]));
    assert_eq!(code, 0);
    for flag in [
        "--model",
        "--device",
        "--listen",
        "--batch-window-ms",
        "--max-batch",
        "--token-file",
        "MAIA_HOST_TOKEN",
    ] {
        assert!(out.contains(flag), "{flag} missing:\n{out}");
    }
    let (code, out, _) = run(maia().args(["host", "info", "--help"]));
    assert_eq!(code, 0);
    assert!(out.contains("unix:PATH"), "{out}");
}

#[test]
fn a_host_beyond_loopback_serves_only_clients_with_its_token() {
    const SECRET: &str = "cli-s3cret-0123456789abcdef";
    const WRONG: &str = "cli-wrong-fedcba9876543210";
    let dir = tempfile::tempdir().expect("tempdir");
    let token_file = dir.path().join("maia-host.token");
    std::fs::write(&token_file, format!("{SECRET}\n")).expect("writes");
    let weak = dir.path().join("weak.token");
    std::fs::write(&weak, "password\n").expect("writes");
    let (code, _, err) = run(maia()
        .args([
            "host",
            "serve",
            "--model",
            "synthetic:red",
            "--listen",
            "0.0.0.0:0",
            "--token-file",
        ])
        .arg(&weak));
    assert_ne!(code, 0);
    assert!(
        err.contains("shorter than the 16 required") && !err.contains("password"),
        "{err}"
    );

    let server = Server::start(&[
        "--model",
        "synthetic:red",
        "--listen",
        "0.0.0.0:0",
        "--token-file",
        &token_file.display().to_string(),
    ]);
    let port = server
        .addr
        .rsplit_once(':')
        .map(|(_, p)| p)
        .expect("a port");
    let addr = format!("127.0.0.1:{port}");
    let (code, _, err) = run(maia()
        .args(["host", "info", &addr])
        .env_remove("MAIA_HOST_TOKEN"));
    assert_ne!(code, 0);
    assert!(
        err.contains("requires a token") && err.contains("MAIA_HOST_TOKEN"),
        "{err}"
    );
    let (code, _, err) = run(maia()
        .args(["host", "info", &addr])
        .env("MAIA_HOST_TOKEN", WRONG));
    assert_ne!(code, 0);
    assert!(
        err.contains("does not match") && !err.contains(WRONG) && !err.contains(SECRET),
        "{err}"
    );
    let (code, out, err) = run(maia()
        .args(["host", "info", &addr])
        .env("MAIA_HOST_TOKEN", SECRET));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("serving synthetic:red"), "{out}");
    let (code, out, err) = run(maia()
        .args(["host", "info", &addr, "--token-file"])
        .arg(&token_file)
        .env_remove("MAIA_HOST_TOKEN"));
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("1 connections refused for their token"),
        "{out}"
    );
    let target = format!("remote:{addr},token-file={}", token_file.display());
    let (code, out, err) = call_unit(&target, &dir.path().join("out"));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("img_1: activation 1.05"), "{out}");

    let (code, err) = server.interrupt();
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("refused the connection: its token does not match"),
        "{err}"
    );
    assert!(!err.contains(WRONG) && !err.contains(SECRET), "{err}");

    // The token may come from the environment too, and then loopback requires it as well.
    let server = Server::start_with(
        &[
            "--model",
            "synthetic:red",
            "--listen",
            "127.0.0.1:0",
            "--quiet",
        ],
        &[("MAIA_HOST_TOKEN", SECRET)],
    );
    let (code, _, err) = run(maia()
        .args(["host", "info", &server.addr])
        .env_remove("MAIA_HOST_TOKEN"));
    assert_ne!(code, 0);
    assert!(err.contains("requires a token"), "{err}");
    let (code, out, err) = call_unit(&format!("remote:{}", server.addr), &dir.path().join("env"));
    assert_ne!(code, 0, "{out}");
    assert!(err.contains("requires a token"), "{err}");
    let (code, _, err) = run(maia()
        .args(["host", "info", &server.addr])
        .env("MAIA_HOST_TOKEN", SECRET));
    assert_eq!(code, 0, "{err}");
}
