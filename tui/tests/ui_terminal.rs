//! The terminal conversation, with this test playing the terminal: `maia watch` runs on
//! a pseudo-terminal (util-linux `script`), the test reads what it writes and answers its
//! capability query the way a sixel terminal, a plain terminal, or a silent one would.
//! Checks that sixel goes out only when the terminal says it can, that nothing sixel-like
//! reaches a terminal that cannot, and that the terminal is given back on quit.

use std::io::{Read, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const MAIA: &str = env!("CARGO_BIN_EXE_maia");

/// `maia watch` on a pty, its output collected on a thread.
struct Pty {
    child: Child,
    stdin: ChildStdin,
    output: mpsc::Receiver<Vec<u8>>,
    seen: Vec<u8>,
}

impl Pty {
    fn start(args: &str) -> Pty {
        let sample = crate::support::ui::sample_dir();
        let cmd = format!(
            "stty rows 30 cols 100; TERM=xterm-256color TMUX= exec {MAIA} watch {} {args}",
            sample.display()
        );
        let mut child = Command::new("script")
            .args(["-qfec", &cmd, "/dev/null"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("util-linux `script` runs maia on a pty");
        let stdin = child.stdin.take().expect("stdin");
        let mut stdout = child.stdout.take().expect("stdout");
        let (tx, output) = mpsc::channel();
        std::thread::spawn(move || {
            let mut buf = [0u8; 65536];
            while let Ok(n) = stdout.read(&mut buf) {
                if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                    break;
                }
            }
        });
        Pty {
            child,
            stdin,
            output,
            seen: Vec::new(),
        }
    }

    /// Reads until the output contains `needle` (true) or `secs` pass (false).
    fn read_until(&mut self, needle: &[u8], secs: u64) -> bool {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if self.seen.windows(needle.len()).any(|w| w == needle) {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            match self.output.recv_timeout(left) {
                Ok(chunk) => self.seen.extend_from_slice(&chunk),
                Err(_) => return false,
            }
        }
    }

    fn send(&mut self, bytes: &[u8]) {
        self.stdin.write_all(bytes).expect("write to pty");
        self.stdin.flush().expect("flush");
    }

    /// Presses q and waits for exit; returns everything written.
    fn quit(mut self) -> String {
        self.send(b"q");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                assert!(status.success(), "maia watch exited with {status}");
                break;
            }
            assert!(Instant::now() < deadline, "maia watch did not quit");
            std::thread::sleep(Duration::from_millis(50));
        }
        while let Ok(chunk) = self.output.recv_timeout(Duration::from_millis(300)) {
            self.seen.extend_from_slice(&chunk);
        }
        String::from_utf8_lossy(&self.seen).into_owned()
    }
}

impl Drop for Pty {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

const QUERY: &[u8] = b"\x1b[16t\x1b[c";
const LEAVE_ALT_SCREEN: &str = "\x1b[?1049l";

#[test]
fn a_sixel_terminal_gets_sixel_images() {
    let mut pty = Pty::start("");
    assert!(pty.read_until(QUERY, 10), "no capability query");
    // xterm -ti vt340 style answers: 10×20-pixel cells, attribute 4 (sixel).
    pty.send(b"\x1b[6;20;10t\x1b[?63;1;2;4;6;9;15;22c");
    assert!(
        pty.read_until(b"\x1bP", 20),
        "no sixel image was sent to a sixel terminal"
    );
    let out = pty.quit();
    assert!(out.contains("transcript"));
    assert!(out.ends_with(LEAVE_ALT_SCREEN) || out.contains(LEAVE_ALT_SCREEN));
}

#[test]
fn a_plain_terminal_gets_half_blocks_and_no_stray_escapes() {
    let mut pty = Pty::start("");
    assert!(pty.read_until(QUERY, 10), "no capability query");
    pty.send(b"\x1b[?62;22c");
    assert!(pty.read_until("▀".as_bytes(), 20), "no half-block images");
    let out = pty.quit();
    assert!(
        !out.contains("\x1bP"),
        "a DCS reached a terminal without sixel"
    );
    assert!(out.contains(LEAVE_ALT_SCREEN), "alternate screen not left");
}

#[test]
fn a_silent_terminal_times_out_to_half_blocks() {
    let mut pty = Pty::start("");
    assert!(pty.read_until(QUERY, 10), "no capability query");
    // No answer at all: after the 200 ms timeout the UI comes up with half blocks.
    assert!(pty.read_until("▀".as_bytes(), 20), "no half-block images");
    let out = pty.quit();
    assert!(!out.contains("\x1bP"));
}

#[test]
fn images_none_and_halfblocks_never_query() {
    for mode in ["none", "halfblocks"] {
        let mut pty = Pty::start(&format!("--images {mode}"));
        assert!(
            pty.read_until(b"transcript", 20),
            "no UI with --images {mode}"
        );
        let out = pty.quit();
        assert!(
            !out.contains("\x1b[c"),
            "--images {mode} queried the terminal"
        );
        assert!(!out.contains("\x1bP"));
    }
}
