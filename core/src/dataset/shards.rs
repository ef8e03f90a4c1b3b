//! WebDataset tar shards, read in place: the shards' headers are indexed once (each
//! member's offset and size; only headers and the tiny `.cls` members are read) and each
//! image is read from its shard when the pass reaches it, so nothing is unpacked.
//!
//! A sample is the members that share a key (the path up to the first dot of the file
//! name): `000123.jpg` with `000123.cls` holding its class number.

use super::{DatasetError, Item, Source};
use std::io::Read;
use std::path::{Path, PathBuf};

/// Image members, by extension.
const IMAGE_EXTENSIONS: [&str; 6] = ["jpg", "jpeg", "png", "webp", "jpe", "jfif"];

/// Expands one `{A..B}` range (zero-padded as written) in a shard pattern;
/// `None` when there is no brace.
pub fn expand(pattern: &str) -> Result<Option<Vec<PathBuf>>, DatasetError> {
    let Some(open) = pattern.find('{') else {
        return Ok(None);
    };
    let bad = |why: &str| DatasetError::Pattern {
        pattern: pattern.to_owned(),
        why: why.to_owned(),
    };
    let close = pattern[open..]
        .find('}')
        .map(|i| open + i)
        .ok_or_else(|| bad("a `{` with no `}`"))?;
    let inner = &pattern[open + 1..close];
    let (a, b) = inner
        .split_once("..")
        .ok_or_else(|| bad("expected a range like {000000..000099}"))?;
    let (from, to) = (
        a.parse::<u64>()
            .map_err(|_| bad("the range's start is not a number"))?,
        b.parse::<u64>()
            .map_err(|_| bad("the range's end is not a number"))?,
    );
    if to < from {
        return Err(bad("the range ends before it starts"));
    }
    if to - from >= 1_000_000 {
        return Err(bad("more than a million shards"));
    }
    let width = if a.starts_with('0') { a.len() } else { 0 };
    let (head, tail) = (&pattern[..open], &pattern[close + 1..]);
    if tail.contains('{') {
        return Err(bad("only one {A..B} range is supported"));
    }
    Ok(Some(
        (from..=to)
            .map(|n| PathBuf::from(format!("{head}{n:0width$}{tail}")))
            .collect(),
    ))
}

/// What indexing the shards found: the samples, and shards that ended early.
pub(crate) struct Index {
    /// One item per image member.
    pub(crate) items: Vec<Item>,
    /// Shards cut short or unreadable, with why (their readable members are kept).
    pub(crate) damaged: Vec<(PathBuf, String)>,
}

/// Indexes every shard's image members (numbered by their position in `shards`).
pub(crate) fn index(shards: &[PathBuf]) -> Index {
    let mut items = Vec::new();
    let mut damaged = Vec::new();
    for (number, shard) in shards.iter().enumerate() {
        if let Err(why) = index_shard(shard, number, &mut items) {
            damaged.push((shard.clone(), why));
        }
    }
    Index { items, damaged }
}

fn index_shard(shard: &Path, number: usize, items: &mut Vec<Item>) -> Result<(), String> {
    let file = std::fs::File::open(shard).map_err(|e| e.to_string())?;
    let length = file.metadata().map_err(|e| e.to_string())?.len();
    let mut archive = tar::Archive::new(file);
    let entries = archive.entries_with_seek().map_err(|e| e.to_string())?;
    let shard_name = shard
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let start = items.len();
    // A `.cls` member may come before or after its image: matched once the shard is read.
    let mut classes: Vec<(String, String)> = Vec::new();
    for entry in entries {
        let mut entry = entry.map_err(|e| format!("the shard is damaged or cut short: {e}"))?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let path = entry
            .path()
            .map_err(|e| e.to_string())?
            .to_string_lossy()
            .into_owned();
        let (key, ext) = split_key(&path);
        let (offset, size) = (entry.raw_file_position(), entry.size());
        if ext == "cls" {
            let mut text = String::new();
            if size < 64 && entry.read_to_string(&mut text).is_ok() {
                classes.push((key.to_owned(), text.trim().to_owned()));
            }
            continue;
        }
        if !IMAGE_EXTENSIONS.contains(&ext.to_ascii_lowercase().as_str()) {
            continue;
        }
        items.push(Item {
            name: format!("{shard_name}:{path}"),
            source: Source::Member {
                shard: number,
                offset,
                size,
                cut_short: offset + size > length,
            },
            class: None,
        });
    }
    if !classes.is_empty() {
        let by_key: std::collections::HashMap<String, String> = classes.into_iter().collect();
        for item in &mut items[start..] {
            let member = item.name.split_once(':').map_or("", |(_, m)| m);
            item.class = by_key.get(split_key(member).0).cloned();
        }
    }
    Ok(())
}

/// WebDataset's key is everything up to the first dot of the file name, the extension what
/// follows the last: `dir/000123.seg.jpg` → (`dir/000123`, `jpg`).
fn split_key(path: &str) -> (&str, &str) {
    let name_start = path.rfind('/').map_or(0, |i| i + 1);
    let key_end = path[name_start..]
        .find('.')
        .map_or(path.len(), |i| name_start + i);
    let ext = path.rsplit_once('.').map_or("", |(_, e)| e);
    (&path[..key_end], ext)
}

/// Reads one member's bytes from its shard.
pub(crate) fn read_member(
    shard: &Path,
    offset: u64,
    size: u64,
    cut_short: bool,
) -> Result<Vec<u8>, String> {
    use std::io::{Seek, SeekFrom};
    if cut_short {
        return Err("the shard ends inside this member (cut short)".into());
    }
    let mut file = std::fs::File::open(shard).map_err(|e| format!("{}: {e}", shard.display()))?;
    file.seek(SeekFrom::Start(offset))
        .map_err(|e| format!("{}: {e}", shard.display()))?;
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    file.take(size)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("{}: {e}", shard.display()))?;
    if (bytes.len() as u64) < size {
        return Err("the shard ends inside this member (cut short)".into());
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_expand_with_their_padding() {
        let shards = expand("s/{000008..000011}.tar")
            .ok()
            .flatten()
            .unwrap_or_default();
        let names: Vec<String> = shards.iter().map(|p| p.display().to_string()).collect();
        assert_eq!(
            names,
            [
                "s/000008.tar",
                "s/000009.tar",
                "s/000010.tar",
                "s/000011.tar"
            ]
        );
        assert_eq!(
            expand("s/{1..2}.tar").ok().flatten().map(|v| v.len()),
            Some(2)
        );
        assert!(matches!(expand("plain.tar"), Ok(None)));
        for bad in ["s/{3..1}.tar", "s/{a..b}.tar", "s/{1..2.tar", "s/{1,2}.tar"] {
            assert!(expand(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn keys_end_at_the_first_dot_of_the_file_name() {
        assert_eq!(split_key("a.b/000123.seg.jpg"), ("a.b/000123", "jpg"));
        assert_eq!(split_key("x.cls"), ("x", "cls"));
    }
}
