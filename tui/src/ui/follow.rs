//! Following a run's `events.jsonl` as another process appends to it (`maia watch`).
//!
//! Read-only and tolerant: a missing file means the run has not started yet; a last line
//! without its newline is a write in progress (or a crash's torn line) and is read again
//! on the next poll rather than consumed, so when `maia resume` cuts a torn line off and
//! appends after it, the follower sees the new lines whole. A complete line that does not
//! parse is skipped and counted. A journal that shrank below what was read (replaced by a
//! new run of the same id) is read again from the start, skipping records already seen.

use maia_core::agent::Record;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::sync::mpsc;

/// How often [`spawn`] looks for new lines.
pub const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// Reads new complete lines of a journal on each [`JournalFollower::poll`].
#[derive(Debug)]
pub struct JournalFollower {
    path: PathBuf,
    /// Bytes consumed: always just after a newline.
    offset: u64,
    /// Highest `seq` handed out; after a reset, records up to it are skipped.
    last_seq: Option<u64>,
    skip_through: Option<u64>,
    /// Complete lines that were not records.
    pub skipped: u64,
}

impl JournalFollower {
    /// A follower of the journal at `path` (which need not exist yet).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        JournalFollower {
            path: path.into(),
            offset: 0,
            last_seq: None,
            skip_through: None,
            skipped: 0,
        }
    }

    /// The journal's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The records completed since the last poll. A missing file yields none.
    pub fn poll(&mut self) -> std::io::Result<Vec<Record>> {
        let mut file = match File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let len = file.metadata()?.len();
        if len < self.offset {
            self.offset = 0;
            self.skip_through = self.last_seq;
        }
        if len == self.offset {
            return Ok(Vec::new());
        }
        file.seek(SeekFrom::Start(self.offset))?;
        let mut bytes = Vec::with_capacity((len - self.offset) as usize);
        file.take(len - self.offset).read_to_end(&mut bytes)?;
        let Some(end) = bytes.iter().rposition(|b| *b == b'\n') else {
            return Ok(Vec::new());
        };
        self.offset += end as u64 + 1;
        let mut records = Vec::new();
        for line in bytes[..end].split(|b| *b == b'\n') {
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            match parse_line(line) {
                Some(record) => {
                    if self.skip_through.is_some_and(|s| record.seq <= s) {
                        continue;
                    }
                    self.skip_through = None;
                    self.last_seq = Some(self.last_seq.map_or(record.seq, |s| s.max(record.seq)));
                    records.push(record);
                }
                None => self.skipped += 1,
            }
        }
        Ok(records)
    }
}

/// Parses one journal line. A line whose start is a torn record glued to a whole one (a
/// crash mid-write, then more writes) yields the whole record at its end.
fn parse_line(line: &[u8]) -> Option<Record> {
    if let Ok(record) = serde_json::from_slice::<Record>(line) {
        return Some(record);
    }
    const START: &[u8] = b"{\"seq\":";
    let at = line
        .windows(START.len())
        .rposition(|w| w == START)
        .filter(|&i| i > 0)?;
    serde_json::from_slice::<Record>(&line[at..]).ok()
}

/// Follows `path` on a thread of its own, sending each new record to `tx` until the
/// receiver is dropped. I/O errors are retried on the next poll.
pub fn spawn(
    path: PathBuf,
    tx: mpsc::Sender<Record>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("maia-watch".into())
        .spawn(move || {
            let mut follower = JournalFollower::new(path);
            loop {
                if let Ok(records) = follower.poll() {
                    for record in records {
                        if tx.blocking_send(record).is_err() {
                            return;
                        }
                    }
                }
                if tx.is_closed() {
                    return;
                }
                std::thread::sleep(POLL_INTERVAL);
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn note(seq: u64, text: &str) -> String {
        format!("{{\"seq\":{seq},\"t_ms\":{seq},\"type\":\"note\",\"text\":\"{text}\"}}\n")
    }

    #[test]
    fn torn_lines_wait_and_truncation_restarts() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("events.jsonl");
        let mut f = JournalFollower::new(&path);
        assert!(f.poll().expect("missing is fine").is_empty());
        let mut file = std::fs::File::create(&path).expect("create");
        file.write_all(note(0, "a").as_bytes()).expect("write");
        let torn = note(1, "b");
        file.write_all(&torn.as_bytes()[..10]).expect("write");
        let got = f.poll().expect("poll");
        assert_eq!(got.len(), 1);
        // `maia resume` cuts the torn line and appends whole ones.
        let good = note(0, "a").len() as u64;
        file.set_len(good).expect("truncate");
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .expect("open");
        file.write_all(note(1, "c").as_bytes()).expect("write");
        let got = f.poll().expect("poll");
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].seq, 1);
        // Garbage is skipped and counted.
        file.write_all(b"not json\n").expect("write");
        file.write_all(note(2, "d").as_bytes()).expect("write");
        let got = f.poll().expect("poll");
        assert_eq!(got.len(), 1);
        assert_eq!(f.skipped, 1);
        // Replaced by a shorter file: read from the start, skipping what was seen.
        std::fs::write(&path, format!("{}{}", note(0, "x"), note(3, "e"))).expect("rewrite");
        let got = f.poll().expect("poll");
        assert_eq!(got.iter().map(|r| r.seq).collect::<Vec<_>>(), vec![3]);
    }

    #[test]
    fn a_torn_record_glued_to_a_whole_one_yields_the_whole_one() {
        let line = format!("{{\"seq\":5,\"t_ms\":1,\"ty{}", note(6, "ok"));
        let r = parse_line(line.trim_end().as_bytes()).expect("recovered");
        assert_eq!(r.seq, 6);
    }
}
