//! The exemplar pass with a progress bar, shared by `maia exemplars` and `--data`.

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use maia_core::exemplars::{LayerExemplars, cache_dir, exemplars_with};
use maia_core::target::TargetModel;
use std::path::Path;
use std::time::Instant;

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
    Ok(found)
}
