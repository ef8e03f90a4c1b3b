//! `events.jsonl`: the append-only journal of a run. One [`Record`] per line, written and
//! fsynced before anyone else sees the event, so whatever a crash leaves behind is a
//! prefix of what happened plus at most one torn line, which readers ignore.
//!
//! A line in the *middle* that is not a record (the file was edited or damaged on disk) is
//! [`JournalDamage`]: readers get the records before it and say so; resuming refuses until
//! [`repair`] has set the damaged file aside and cut the journal back to those records.

use crate::event::{Event, Record};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// Appends events to a journal file.
#[derive(Debug)]
pub struct JournalWriter {
    file: File,
    path: PathBuf,
    next_seq: u64,
    started_ms: u64,
}

/// What reading a journal found.
#[derive(Debug, Default)]
pub struct JournalContents {
    /// Every complete record, in order.
    pub records: Vec<Record>,
    /// Bytes of a torn (incomplete or unparsable) last line, ignored.
    pub torn_bytes: u64,
    /// Byte length of the complete part.
    pub good_len: u64,
    /// A line in the middle that is not a record: `records` stop before it.
    pub damage: Option<JournalDamage>,
    /// Records of kinds this build does not know, passed over.
    pub unknown: Vec<UnknownRecord>,
}

/// A well-formed journal record whose event kind this build does not know (a journal
/// written by a newer maia): readers pass over it and say so.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownRecord {
    /// Its line, counting from 1.
    pub line: usize,
    /// Its `type`.
    pub kind: String,
}

/// The `type` of a line that is a record in shape (`seq`, `t_ms`, `type`) but not one of
/// the known kinds.
fn unknown_kind(line: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(line).ok()?;
    value.get("seq")?.as_u64()?;
    value.get("t_ms")?.as_u64()?;
    let kind = value.get("type")?.as_str()?;
    let known = serde_json::from_value::<crate::event::Event>(serde_json::json!({"type": kind}))
        .map_or_else(|e| !e.to_string().starts_with("unknown variant"), |_| true);
    (!known).then(|| kind.to_owned())
}

/// Where a journal is damaged: a line that is not a record, with more lines after it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JournalDamage {
    /// The damaged line, counting from 1.
    pub line: usize,
    /// Why it is not a record.
    pub reason: String,
}

impl std::fmt::Display for JournalDamage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "damaged at line {} ({})", self.line, self.reason)
    }
}

/// Sets a damaged journal aside (copied to `events.jsonl.damaged-<ms>`) and cuts the
/// journal back to its last record before the damage, so the run can resume from there.
/// Returns the backup's path and how many records were kept; `None` when undamaged.
pub fn repair(path: &Path) -> std::io::Result<Option<(PathBuf, usize)>> {
    let contents = read_journal(path)?;
    if contents.damage.is_none() {
        return Ok(None);
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| crate::dir::EVENTS_FILE.into());
    let backup = path.with_file_name(format!("{name}.damaged-{}", now_ms()));
    std::fs::copy(path, &backup)?;
    let file = OpenOptions::new().write(true).open(path)?;
    file.set_len(contents.good_len)?;
    file.sync_all()?;
    Ok(Some((backup, contents.records.len())))
}

/// Milliseconds since the UNIX epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl JournalWriter {
    /// Creates a new journal; fails if one exists (a run id is never reused).
    pub fn create(path: impl Into<PathBuf>) -> std::io::Result<Self> {
        let path = path.into();
        let file = OpenOptions::new()
            .append(true)
            .create_new(true)
            .open(&path)?;
        Ok(JournalWriter {
            file,
            path,
            next_seq: 0,
            started_ms: now_ms(),
        })
    }

    /// Opens an existing journal to continue it: a torn last line is cut off first, and
    /// numbering continues after the last complete record.
    pub fn continue_existing(path: impl Into<PathBuf>) -> std::io::Result<(Self, JournalContents)> {
        let path = path.into();
        let contents = read_journal(&path)?;
        if let Some(damage) = &contents.damage {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!(
                    "{damage}; resume with --repair to keep a copy of the journal and continue from its last valid record (line {})",
                    damage.line - 1
                ),
            ));
        }
        let mut file = OpenOptions::new().read(true).write(true).open(&path)?;
        if contents.torn_bytes > 0 {
            file.set_len(contents.good_len)?;
            file.sync_all()?;
        }
        file.seek(SeekFrom::End(0))?;
        let next_seq = contents.records.last().map(|r| r.seq + 1).unwrap_or(0);
        let started_ms = contents
            .records
            .first()
            .map(|r| r.t_ms)
            .unwrap_or_else(now_ms);
        Ok((
            JournalWriter {
                file,
                path,
                next_seq,
                started_ms,
            },
            contents,
        ))
    }

    /// Writes one event (one line, then fsync) and returns its record.
    pub fn append(&mut self, event: Event) -> std::io::Result<Record> {
        let record = Record {
            seq: self.next_seq,
            t_ms: now_ms(),
            event,
        };
        let mut line = serde_json::to_vec(&record).map_err(std::io::Error::other)?;
        line.push(b'\n');
        self.file.write_all(&line)?;
        self.file.sync_data()?;
        self.next_seq += 1;
        Ok(record)
    }

    /// The journal's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// UNIX ms when the run was first started (from the first record).
    pub fn started_ms(&self) -> u64 {
        self.started_ms
    }
}

/// Reads a journal; a torn or unparsable last line is reported, not fatal. An unparsable
/// line in the middle ends the reading there: the records before it are returned with
/// [`JournalContents::damage`] naming the line.
pub fn read_journal(path: &Path) -> std::io::Result<JournalContents> {
    let file = File::open(path)?;
    let mut reader = BufReader::new(file);
    let mut contents = JournalContents::default();
    let mut line = Vec::new();
    let mut offset = 0u64;
    let mut line_no = 0usize;
    let mut pending_error: Option<String> = None;
    loop {
        line.clear();
        let n = reader.read_until(b'\n', &mut line)?;
        if n == 0 {
            break;
        }
        line_no += 1;
        if let Some(reason) = pending_error.take() {
            // The bad line was not the last: damage, not a torn tail.
            contents.torn_bytes = 0;
            contents.damage = Some(JournalDamage {
                line: line_no - 1,
                reason,
            });
            break;
        }
        let complete = line.ends_with(b"\n");
        match serde_json::from_slice::<Record>(&line) {
            Ok(record) if complete => {
                contents.records.push(record);
                offset += n as u64;
                contents.good_len = offset;
            }
            Ok(_) | Err(_) if !complete => contents.torn_bytes = n as u64,
            Err(_) if let Some(kind) = unknown_kind(&line) => {
                // A well-formed record of a kind this build does not know (written by a
                // newer maia): reported and passed over, not damage.
                contents.unknown.push(UnknownRecord {
                    line: line_no,
                    kind,
                });
                offset += n as u64;
                contents.good_len = offset;
            }
            Err(e) => {
                contents.torn_bytes = n as u64;
                pending_error = Some(format!("not a journal record: {e}"));
            }
            Ok(_) => {}
        }
    }
    Ok(contents)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_torn_last_line_is_ignored_and_cut_before_appending() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("events.jsonl");
        let mut w = JournalWriter::create(&path).expect("create");
        w.append(Event::Note { text: "one".into() })
            .expect("append");
        w.append(Event::Note { text: "two".into() })
            .expect("append");
        drop(w);
        let mut f = OpenOptions::new().append(true).open(&path).expect("open");
        f.write_all(br#"{"seq":2,"t_ms":5,"type":"no"#)
            .expect("tear");
        drop(f);
        let read = read_journal(&path).expect("read");
        assert_eq!(read.records.len(), 2);
        assert!(read.torn_bytes > 0);
        let (mut w, _) = JournalWriter::continue_existing(&path).expect("continue");
        let r = w
            .append(Event::Note {
                text: "three".into(),
            })
            .expect("append");
        assert_eq!(r.seq, 2);
        let read = read_journal(&path).expect("read");
        assert_eq!(read.records.len(), 3);
        assert_eq!(read.torn_bytes, 0);
    }

    #[test]
    fn an_unknown_event_kind_is_reported_and_passed_over() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("events.jsonl");
        let text = concat!(
            "{\"seq\":0,\"t_ms\":0,\"type\":\"note\",\"text\":\"x\"}\n",
            "{\"seq\":1,\"t_ms\":1,\"type\":\"hologram\",\"depth\":3}\n",
            "{\"seq\":2,\"t_ms\":2,\"type\":\"note\",\"text\":\"y\"}\n",
            "{\"seq\":3,\"t_ms\":3,\"type\":\"note\"}\n",
            "{\"seq\":4,\"t_ms\":4,\"type\":\"note\",\"text\":\"z\"}\n",
        );
        std::fs::write(&path, text).expect("write");
        let read = read_journal(&path).expect("read");
        assert_eq!(
            read.unknown,
            vec![UnknownRecord {
                line: 2,
                kind: "hologram".into()
            }]
        );
        // A known kind missing a field is damage, not an unknown kind.
        assert_eq!(read.records.len(), 2);
        assert_eq!(read.damage.map(|d| d.line), Some(4));
    }

    #[test]
    fn a_bad_line_in_the_middle_keeps_what_precedes_it_and_repair_cuts_there() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("events.jsonl");
        let note =
            |seq: u64| format!("{{\"seq\":{seq},\"t_ms\":0,\"type\":\"note\",\"text\":\"x\"}}\n");
        let text = format!("{}{}garbage\n{}", note(0), note(1), note(2));
        std::fs::write(&path, &text).expect("write");
        let read = read_journal(&path).expect("read");
        assert_eq!(read.records.len(), 2);
        let damage = read.damage.clone().expect("damage");
        assert_eq!(damage.line, 3);
        assert!(
            damage
                .to_string()
                .starts_with("damaged at line 3 (not a journal record")
        );
        let err = JournalWriter::continue_existing(&path)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.contains("damaged at line 3")
                && err.contains("--repair")
                && !err.contains("events.jsonl"),
            "{err}"
        );
        let (backup, kept) = repair(&path).expect("repair").expect("damaged");
        assert_eq!(kept, 2);
        assert_eq!(std::fs::read_to_string(&backup).expect("backup"), text);
        let (mut w, contents) = JournalWriter::continue_existing(&path).expect("continue");
        assert_eq!(contents.records.len(), 2);
        assert_eq!(
            w.append(Event::Note { text: "y".into() })
                .expect("append")
                .seq,
            2
        );
        assert!(repair(&path).expect("undamaged").is_none());
    }
}
