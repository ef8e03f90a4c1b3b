//! Where a host listens and where clients find it: `HOST:PORT`, `tcp://HOST:PORT` or
//! `unix:PATH`. The same syntax serves `maia host serve --listen`, `maia host info` and
//! `--target remote:ADDR`.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

/// The port `maia host serve` listens on when none is given.
pub const DEFAULT_PORT: u16 = 7878;

/// The address `maia host serve` listens on by default: loopback only.
pub const DEFAULT_ADDR: &str = "127.0.0.1:7878";

/// A host address.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ServerAddr {
    /// A TCP address as `HOST:PORT` (`127.0.0.1:7878`, `localhost:7878`, `[::1]:7878`).
    Tcp(String),
    /// A unix domain socket.
    Unix(PathBuf),
}

/// An address that does not parse; the message shows the accepted forms.
#[derive(Debug, thiserror::Error)]
#[error(
    "`{given}` is not a host address: {why}; write HOST:PORT (e.g. 127.0.0.1:7878), tcp://HOST:PORT or unix:PATH"
)]
pub struct BadAddr {
    /// What was given.
    pub given: String,
    /// What is wrong with it.
    pub why: String,
}

impl FromStr for ServerAddr {
    type Err = BadAddr;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let given = s.trim();
        let bad = |why: &str| BadAddr {
            given: given.to_owned(),
            why: why.to_owned(),
        };
        if given.is_empty() {
            return Err(bad("it is empty"));
        }
        if let Some(path) = given.strip_prefix("unix:") {
            let path = path.strip_prefix("//").unwrap_or(path);
            if path.is_empty() {
                return Err(bad("`unix:` needs a socket path"));
            }
            return Ok(ServerAddr::Unix(PathBuf::from(path)));
        }
        let tcp = given.strip_prefix("tcp://").unwrap_or(given);
        let tcp = tcp.strip_suffix('/').unwrap_or(tcp);
        if tcp.contains("://") {
            return Err(bad("only tcp:// and unix: are understood"));
        }
        if tcp.is_empty() {
            return Err(bad("no host"));
        }
        // `localhost` or `[::1]`: no port, take the default one.
        let bracketed_v6 = tcp.starts_with('[') && tcp.ends_with(']');
        if !tcp.contains(':') || bracketed_v6 {
            return Ok(ServerAddr::Tcp(format!("{tcp}:{DEFAULT_PORT}")));
        }
        let Some((host, port)) = tcp.rsplit_once(':') else {
            return Err(bad("no port"));
        };
        if host.is_empty() {
            return Err(bad("no host before the port"));
        }
        if port.parse::<u16>().is_err() {
            return Err(bad(&format!("`{port}` is not a port (0..65535)")));
        }
        Ok(ServerAddr::Tcp(tcp.to_owned()))
    }
}

impl fmt::Display for ServerAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServerAddr::Tcp(addr) => f.write_str(addr),
            ServerAddr::Unix(path) => write!(f, "unix:{}", path.display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepted_forms_parse() {
        let cases = [
            ("127.0.0.1:7878", ServerAddr::Tcp("127.0.0.1:7878".into())),
            ("tcp://127.0.0.1:9/", ServerAddr::Tcp("127.0.0.1:9".into())),
            ("localhost", ServerAddr::Tcp("localhost:7878".into())),
            ("[::1]", ServerAddr::Tcp("[::1]:7878".into())),
            ("[::1]:80", ServerAddr::Tcp("[::1]:80".into())),
            ("unix:/tmp/m.sock", ServerAddr::Unix("/tmp/m.sock".into())),
            ("unix:///tmp/m.sock", ServerAddr::Unix("/tmp/m.sock".into())),
        ];
        for (text, want) in cases {
            let got: ServerAddr = text.parse().unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(got, want, "{text}");
        }
        assert_eq!(
            ServerAddr::Unix("/tmp/m.sock".into()).to_string(),
            "unix:/tmp/m.sock"
        );
    }

    #[test]
    fn bad_forms_say_what_is_accepted() {
        for text in ["", "unix:", "http://x:1", "host:port", ":80", "h:70000"] {
            let err = text
                .parse::<ServerAddr>()
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(err.contains("write HOST:PORT"), "{text}: {err}");
        }
    }
}
