//! One pass over a data set that reads and prepares every image on every core, without a
//! model: what `maia dataset check` runs to say whether a data set is readable (and how
//! fast it decodes), naming each file it could not use.

use super::Dataset;
use serde::Serialize;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

/// Images each worker takes at a time.
const CHUNK: usize = 16;

/// Skipped files named in the report; the rest are only counted.
const NAMED: usize = 20;

/// What a check found.
#[derive(Clone, Debug, Serialize)]
pub struct CheckReport {
    /// Images in the data set.
    pub images: usize,
    /// Images that could not be read or prepared.
    pub skipped: usize,
    /// The first of them (in data set order), with why.
    pub skipped_files: Vec<(String, String)>,
    /// Wall-clock seconds of the pass.
    pub seconds: f64,
    /// Images per second, read and prepared.
    pub images_per_s: f64,
    /// Worker threads.
    pub threads: usize,
}

/// Counts a worker as stopped when it ends, however it ends.
struct Stopped<'a>(&'a AtomicUsize);

impl Drop for Stopped<'_> {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

impl Dataset {
    /// Reads every image and hands its bytes to `prepare` (decode and transform), on
    /// `threads` workers; `progress(done, total)` is called from the calling thread.
    pub fn check(
        &self,
        threads: usize,
        prepare: &(dyn Fn(&[u8]) -> Result<(), String> + Sync),
        progress: &mut dyn FnMut(usize, usize),
    ) -> CheckReport {
        let total = self.len();
        let threads = threads.max(1).min(total.div_ceil(CHUNK).max(1));
        let next = AtomicUsize::new(0);
        let done = AtomicUsize::new(0);
        let skipped = Mutex::new(Vec::new());
        // Workers that have stopped, panicked or not: the progress loop ends with them.
        let stopped = AtomicUsize::new(0);
        let started = Instant::now();
        std::thread::scope(|scope| {
            for _ in 0..threads {
                scope.spawn(|| {
                    let _stop = Stopped(&stopped);
                    loop {
                        let start = next.fetch_add(CHUNK, Ordering::Relaxed);
                        if start >= total {
                            return;
                        }
                        for index in start..(start + CHUNK).min(total) {
                            let result = self
                                .bytes(index)
                                .map_err(|e| e.to_string())
                                .and_then(|bytes| prepare(&bytes));
                            if let Err(why) = result
                                && let Ok(mut list) = skipped.lock()
                            {
                                list.push((index, why));
                            }
                            done.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                });
            }
            let mut last = usize::MAX;
            loop {
                let now = done.load(Ordering::Relaxed);
                if now != last {
                    progress(now, total);
                    last = now;
                }
                if now >= total || stopped.load(Ordering::Relaxed) == threads {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
        });
        let seconds = started.elapsed().as_secs_f64();
        let mut list = skipped.into_inner().unwrap_or_default();
        list.sort_by_key(|(index, _)| *index);
        CheckReport {
            images: total,
            skipped: list.len(),
            skipped_files: list
                .into_iter()
                .take(NAMED)
                .map(|(index, why)| {
                    let name = self.file_name(index);
                    // Errors from reading already start with the name.
                    let why = why
                        .strip_prefix(&format!("{name}: "))
                        .map(str::to_owned)
                        .unwrap_or(why);
                    (name, why)
                })
                .collect(),
            seconds,
            images_per_s: total as f64 / seconds.max(1e-9),
            threads,
        }
    }
}
