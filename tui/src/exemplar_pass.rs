//! The exemplar pass with a progress bar, shared by `maia exemplars` and `--data`.

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use maia_core::exemplars::{LayerExemplars, cache_dir, exemplars_with};
use maia_core::target::TargetModel;
use std::io::IsTerminal;
use std::path::Path;
use std::time::{Duration, Instant};

/// Plain progress lines for logs: `exemplars of conv3: 5000/50000 images (10%), 312
/// images/s, ETA 2m 24s`.
struct LogLines {
    layer: String,
    started: Instant,
    last: Instant,
    last_tenth: usize,
}

impl LogLines {
    fn new(layer: &str) -> LogLines {
        LogLines {
            layer: layer.to_owned(),
            started: Instant::now(),
            last: Instant::now(),
            last_tenth: 0,
        }
    }

    fn update(&mut self, done: usize, total: usize) {
        if total == 0 || done == 0 || done >= total {
            return;
        }
        let tenth = done * 10 / total;
        if tenth == self.last_tenth && self.last.elapsed() < Duration::from_secs(30) {
            return;
        }
        self.last_tenth = tenth;
        self.last = Instant::now();
        let elapsed = self.started.elapsed().as_secs_f64().max(1e-3);
        let rate = done as f64 / elapsed;
        let eta = ((total - done) as f64 / rate.max(1e-9)) as u64;
        eprintln!(
            "exemplars of {}: {done}/{total} images ({}%), {rate:.0} images/s, ETA {}m {:02}s",
            self.layer,
            done * 100 / total,
            eta / 60,
            eta % 60
        );
    }
}

/// Computes (or loads from cache) the exemplars of `layer`, drawing a progress bar on
/// stderr and printing one summary line.
pub fn run_pass(
    model: &dyn TargetModel,
    layer: &str,
    data: &Path,
    k: usize,
    use_cache: bool,
) -> Result<LayerExemplars> {
    let bar = ProgressBar::new(0).with_style(
        ProgressStyle::with_template(
            "{spinner} exemplars [{bar:40}] {pos}/{len} images, {per_sec}, ETA {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    let started = Instant::now();
    // --no-cache recomputes, and the fresh result still replaces the cached one.
    let cache = cache_dir();
    // Where stderr is a log, not a terminal, the bar draws nothing: a plain line at every
    // tenth of the pass (and at least every 30 s) says how far it got instead.
    let mut log = (!std::io::stderr().is_terminal()).then(|| LogLines::new(layer));
    let (found, cached) = exemplars_with(
        model,
        layer,
        data,
        k,
        cache.as_deref(),
        use_cache,
        &mut |done, total| {
            bar.set_length(total as u64);
            bar.set_position(done as u64);
            if let Some(log) = log.as_mut() {
                log.update(done, total);
            }
        },
    )
    .with_context(|| format!("computing exemplars of {layer} over {}", data.display()))?;
    bar.finish_and_clear();
    eprintln!(
        "exemplars of {layer} over {} images{}: {} in {:.2} s",
        found.images - found.skipped,
        if found.skipped > 0 {
            format!(" ({} files skipped)", found.skipped)
        } else {
            String::new()
        },
        if cached { "from cache" } else { "computed" },
        started.elapsed().as_secs_f64()
    );
    if found.skipped > 0 {
        eprintln!(
            "skipped {} of {} files that could not be read or decoded:",
            found.skipped, found.images
        );
        for skip in &found.skipped_files {
            if skip.reason.contains(&skip.file) {
                eprintln!("  {}", skip.reason);
            } else {
                eprintln!("  {}: {}", skip.file, skip.reason);
            }
        }
        if found.skipped > found.skipped_files.len() {
            eprintln!("  … and {} more", found.skipped - found.skipped_files.len());
        }
    }
    if !found.damaged_shards.is_empty() {
        eprintln!("damaged tar shards (the members after the damage were not read):");
        for shard in &found.damaged_shards {
            eprintln!("  {shard}");
        }
    }
    Ok(found)
}
