//! Which image protocol to use, and how big a cell is in pixels.
//!
//! At start (raw mode on, before the input reader) we ask the terminal two things in one
//! write: `CSI 16 t` (cell size in pixels, answered `CSI 6 ; h ; w t`) and Primary Device
//! Attributes `CSI c` (answered `CSI ? 62 ; 4 ; … c`, where attribute 4 means sixel).
//! Every terminal answers DA1, so its reply also ends the wait; no reply within
//! [`QUERY_TIMEOUT`] means "no sixel". Inside tmux or screen the answer describes the
//! multiplexer, which does not pass sixel through, so we use half blocks there unless
//! `--images sixel` says otherwise. When `CSI 16 t` gets no answer the cell size comes
//! from `TIOCGWINSZ` (pixel size / cell count), else a common 10×20.

use super::ImageMode;
use std::time::{Duration, Instant};

/// How long to wait for the terminal's answers.
pub const QUERY_TIMEOUT: Duration = Duration::from_millis(200);

/// Cell size assumed when the terminal does not say.
pub const DEFAULT_CELL: (u16, u16) = (10, 20);

/// The protocol chosen for this session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resolved {
    /// Sixel graphics with cells of this many pixels (width, height).
    Sixel {
        /// Cell size in pixels.
        cell: (u16, u16),
    },
    /// Half-block text cells.
    Halfblocks,
    /// No pictures: the image pane lists ids, activations and captions.
    None,
}

/// What the terminal said.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Replies {
    /// `Some(true)` when DA1 listed attribute 4; `None` when DA1 never came.
    pub sixel: Option<bool>,
    /// Cell size from `CSI 16 t`.
    pub cell: Option<(u16, u16)>,
}

/// The environment facts that decide without asking.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Env {
    /// `$TMUX` is set.
    pub tmux: bool,
    /// `$TERM`.
    pub term: String,
}

impl Env {
    /// Reads `$TMUX` and `$TERM`.
    pub fn from_process() -> Self {
        Env {
            tmux: std::env::var_os("TMUX").is_some_and(|v| !v.is_empty()),
            term: std::env::var("TERM").unwrap_or_default(),
        }
    }

    /// Inside tmux or GNU screen (which do not pass sixel through).
    pub fn multiplexed(&self) -> bool {
        self.tmux || self.term.starts_with("screen") || self.term.starts_with("tmux")
    }
}

/// Decides the protocol from the request, the environment and (only when needed) the
/// terminal's replies, which `query` produces. `fallback_cell` is the TIOCGWINSZ answer.
pub fn resolve(
    requested: ImageMode,
    env: &Env,
    query: impl FnOnce() -> Replies,
    fallback_cell: Option<(u16, u16)>,
) -> Resolved {
    match requested {
        ImageMode::None => Resolved::None,
        ImageMode::Halfblocks => Resolved::Halfblocks,
        ImageMode::Sixel => {
            let replies = query();
            Resolved::Sixel {
                cell: replies.cell.or(fallback_cell).unwrap_or(DEFAULT_CELL),
            }
        }
        ImageMode::Auto => {
            if env.multiplexed() || env.term == "dumb" {
                return Resolved::Halfblocks;
            }
            let replies = query();
            if replies.sixel == Some(true) {
                Resolved::Sixel {
                    cell: replies.cell.or(fallback_cell).unwrap_or(DEFAULT_CELL),
                }
            } else {
                Resolved::Halfblocks
            }
        }
    }
}

/// Parses whatever the terminal sent back. Returns the replies and whether DA1 (the
/// last answer) has arrived.
pub fn parse_replies(bytes: &[u8]) -> (Replies, bool) {
    let mut replies = Replies::default();
    let mut done = false;
    let mut i = 0;
    while i + 1 < bytes.len() {
        if bytes[i] != 0x1b || bytes[i + 1] != b'[' {
            i += 1;
            continue;
        }
        // A CSI: parameters up to a final byte in 0x40..=0x7e.
        let start = i + 2;
        let Some(end) = bytes[start..]
            .iter()
            .position(|b| (0x40..=0x7e).contains(b))
            .map(|p| start + p)
        else {
            break;
        };
        let params = &bytes[start..end];
        match bytes[end] {
            b'c' if params.first() == Some(&b'?') => {
                let attrs = String::from_utf8_lossy(&params[1..]);
                replies.sixel = Some(attrs.split(';').any(|a| a.trim() == "4"));
                done = true;
            }
            b't' => {
                let text = String::from_utf8_lossy(params);
                let nums: Vec<u16> = text.split(';').filter_map(|n| n.parse().ok()).collect();
                if let [6, h, w] = nums[..]
                    && h > 0
                    && w > 0
                {
                    replies.cell = Some((w, h));
                }
            }
            _ => {}
        }
        i = end + 1;
    }
    (replies, done)
}

/// Cell size from `TIOCGWINSZ`, when the terminal fills in its pixel fields.
pub fn winsize_cell() -> Option<(u16, u16)> {
    let size = crossterm::terminal::window_size().ok()?;
    if size.width == 0 || size.height == 0 || size.columns == 0 || size.rows == 0 {
        return None;
    }
    Some((size.width / size.columns, size.height / size.rows)).filter(|(w, h)| *w > 0 && *h > 0)
}

/// Asks the terminal on `/dev/tty` and waits up to `timeout` for the replies. The
/// terminal must already be in raw mode (so the answer is not echoed and arrives without
/// Enter). Any I/O failure counts as "no answer".
#[cfg(unix)]
pub fn query_terminal(timeout: Duration) -> Replies {
    use std::io::Write;
    use std::os::fd::AsRawFd;

    let Ok(mut tty) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
    else {
        return Replies::default();
    };
    if tty.write_all(b"\x1b[16t\x1b[c").is_err() || tty.flush().is_err() {
        return Replies::default();
    }
    let fd = tty.as_raw_fd();
    let deadline = Instant::now() + timeout;
    let mut got = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        let mut pfd = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = i32::try_from(left.as_millis()).unwrap_or(i32::MAX).max(1);
        // SAFETY: `pfd` is a valid pollfd for the duration of the call and nfds is 1.
        let ready = unsafe { libc::poll(&mut pfd, 1, ms) };
        if ready <= 0 {
            if ready < 0
                && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted
            {
                continue;
            }
            break;
        }
        let mut chunk = [0u8; 256];
        // SAFETY: `chunk` is writable for its whole length and `fd` is open.
        let n = unsafe { libc::read(fd, chunk.as_mut_ptr().cast(), chunk.len()) };
        if n <= 0 {
            break;
        }
        got.extend_from_slice(&chunk[..n as usize]);
        if parse_replies(&got).1 {
            break;
        }
    }
    parse_replies(&got).0
}

/// Without a Unix tty there is nobody to ask.
#[cfg(not(unix))]
pub fn query_terminal(_timeout: Duration) -> Replies {
    Replies::default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_da1_and_cell_size() {
        let (r, done) = parse_replies(b"\x1b[6;20;10t\x1b[?62;4;6;22c");
        assert!(done);
        assert_eq!(r.sixel, Some(true));
        assert_eq!(r.cell, Some((10, 20)));
        let (r, done) = parse_replies(b"\x1b[?1;2c");
        assert!(done);
        assert_eq!(r.sixel, Some(false));
        assert_eq!(r.cell, None);
        // Attribute 42 is not attribute 4.
        assert_eq!(parse_replies(b"\x1b[?62;42c").0.sixel, Some(false));
        // Torn reply: not done yet.
        let (r, done) = parse_replies(b"\x1b[6;18;9t\x1b[?6");
        assert!(!done);
        assert_eq!(r.cell, Some((9, 18)));
    }

    #[test]
    fn multiplexers_get_halfblocks_unless_told() {
        let tmux = Env {
            tmux: true,
            term: "screen-256color".into(),
        };
        let sixel_terminal = || Replies {
            sixel: Some(true),
            cell: Some((9, 18)),
        };
        assert_eq!(
            resolve(ImageMode::Auto, &tmux, sixel_terminal, None),
            Resolved::Halfblocks
        );
        assert_eq!(
            resolve(ImageMode::Sixel, &tmux, sixel_terminal, None),
            Resolved::Sixel { cell: (9, 18) }
        );
        let xterm = Env {
            tmux: false,
            term: "xterm-256color".into(),
        };
        assert_eq!(
            resolve(ImageMode::Auto, &xterm, sixel_terminal, None),
            Resolved::Sixel { cell: (9, 18) }
        );
        // Timeout (no DA1) means no sixel.
        assert_eq!(
            resolve(ImageMode::Auto, &xterm, Replies::default, Some((8, 16))),
            Resolved::Halfblocks
        );
        assert_eq!(
            resolve(
                ImageMode::Auto,
                &xterm,
                || Replies {
                    sixel: Some(true),
                    cell: None
                },
                Some((8, 16))
            ),
            Resolved::Sixel { cell: (8, 16) }
        );
        assert_eq!(
            resolve(ImageMode::None, &xterm, sixel_terminal, None),
            Resolved::None
        );
    }
}
