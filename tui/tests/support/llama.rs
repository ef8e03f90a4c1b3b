//! A real llama.cpp server (`scripts/tiny-vlm.sh`: llama.cpp's own C++ server from the
//! `xllamacpp` wheel, serving the tiny vision-language model made by `scripts/tiny_vlm.py`)
//! on a free loopback port, stopped when dropped.

use super::workspace;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running server.
pub struct LlamaServer {
    child: Child,
    /// Its port on 127.0.0.1.
    pub port: u16,
    log: std::path::PathBuf,
}

impl LlamaServer {
    /// Starts the tiny VLM with the model cached under `cache` (built there on first use,
    /// under a second) and `args` (`--no-mmproj`, `--ctx-size N`), and waits until it
    /// answers `/health`.
    pub fn start(cache: &Path, args: &[&str]) -> LlamaServer {
        let port = free_port();
        Self::start_on(port, cache, args)
    }

    /// As [`LlamaServer::start`], on a given port (a restart on the same address).
    pub fn start_on(port: u16, cache: &Path, args: &[&str]) -> LlamaServer {
        std::fs::create_dir_all(cache).expect("cache dir");
        let log = cache.join(format!("server-{port}.log"));
        let child = Command::new(workspace().join("scripts/tiny-vlm.sh"))
            .arg(port.to_string())
            .args(args)
            .env("MAIA_CACHE_DIR", cache)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&log).expect("log"))
            .stderr(
                std::fs::File::options()
                    .append(true)
                    .open(&log)
                    .expect("log"),
            )
            .spawn()
            .expect("scripts/tiny-vlm.sh starts");
        let mut server = LlamaServer { child, port, log };
        let deadline = Instant::now() + Duration::from_secs(120);
        while !server.healthy() {
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!("tiny-vlm.sh exited ({status}): {}", server.log_text());
            }
            assert!(
                Instant::now() < deadline,
                "the server did not come up: {}",
                server.log_text()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        server
    }

    /// The OpenAI-compatible base URL (`http://127.0.0.1:PORT/v1`).
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}/v1", self.port)
    }

    /// What the server logged so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Freezes it (SIGSTOP): it keeps its connections and answers nothing.
    pub fn freeze(&self) {
        let status = Command::new("kill")
            .arg("-STOP")
            .arg(self.child.id().to_string())
            .status()
            .expect("kill runs");
        assert!(status.success());
    }

    /// Stops it at once (SIGKILL), as a crash would.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn healthy(&self) -> bool {
        use std::io::{Read, Write};
        let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
        let request = format!(
            "GET /health HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\n\r\n",
            self.port
        );
        if stream.write_all(request.as_bytes()).is_err() {
            return false;
        }
        let mut reply = String::new();
        let _ = stream.read_to_string(&mut reply);
        reply.starts_with("HTTP/1.1 200")
    }
}

impl Drop for LlamaServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port nothing listens on now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}
