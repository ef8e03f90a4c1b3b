//! Dataset exemplars: one streaming pass over an image folder computes the top-k images
//! of *every* unit of a layer at once (MAIA's `dataset_exemplars`). The result is cached on
//! disk keyed by the model's fingerprint, the layer, the dataset's content hash and k, so
//! asking again is instant. Masks are drawn on request, for the unit asked about.
//!
//! The pass runs one worker per core (at most [`MAX_WORKERS`]); each takes the next batch
//! of files, reads them and asks the model for every unit's maximum
//! ([`TargetModel::unit_maxima`]), so decoding and resizing on some cores overlap the
//! forward passes on others. The main thread only merges each batch into the per-unit
//! top-k (which breaks ties by file order, so the result does not depend on which worker
//! finished first) and reports progress. A file that cannot be read or decoded is skipped
//! and counted ([`LayerExemplars::skipped`]), never fatal.

mod cache;
mod topk;

pub use crate::dataset::{Dataset, DatasetError};
pub use cache::{cache_dir, cache_key};
pub use topk::TopK;

use crate::target::mask::{DEFAULT_TOP_QUANTILE, mask_overlay};
use crate::target::{ImageMaxima, TargetError, TargetModel};
use maia_plugin_sdk::Image;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;

/// Exemplars kept per unit unless asked otherwise (MAIA uses 15).
pub const DEFAULT_K: usize = 15;

/// Images per model call in the exemplar pass.
const BATCH: usize = 32;

/// Most workers the pass runs, whatever the number of cores (each holds a batch of inputs
/// and activations in memory).
pub const MAX_WORKERS: usize = 8;

/// Skipped files named in [`LayerExemplars::skipped_files`]; the rest are only counted.
const NAMED_SKIPS: usize = 20;

/// One exemplar: a dataset image and the unit's activation on it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Exemplar {
    /// Index of the image in the dataset's sorted file list.
    pub index: usize,
    /// File name within the dataset folder.
    pub file: String,
    /// The unit's activation (spatial max).
    pub activation: f32,
}

/// The top-k exemplars of every unit of one layer over one dataset.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LayerExemplars {
    /// The cache key (model fingerprint, layer, dataset hash, k).
    pub key: String,
    /// Layer name.
    pub layer: String,
    /// Exemplars kept per unit.
    pub k: usize,
    /// Dataset folder, absolute: the one this result was asked for (a cache hit carries the
    /// folder asked for now, not the one first read).
    pub data_dir: PathBuf,
    /// Images in the dataset.
    pub images: usize,
    /// Per unit, its exemplars, highest activation first.
    pub units: Vec<Vec<Exemplar>>,
    /// Files skipped because they could not be read or decoded (included in `images`).
    #[serde(default)]
    pub skipped: usize,
    /// The first skipped files, with why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped_files: Vec<SkippedFile>,
    /// Tar shards damaged inside (a bad header): the members after the damage were not
    /// read, so they are in neither `images` nor `skipped`. `shard: why`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub damaged_shards: Vec<String>,
}

/// A dataset file the pass could not use.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SkippedFile {
    /// File name within the dataset folder.
    pub file: String,
    /// Why it was skipped.
    pub reason: String,
}

/// Why exemplars could not be computed.
#[derive(Debug, thiserror::Error)]
pub enum ExemplarError {
    /// The dataset could not be read.
    #[error(transparent)]
    Dataset(#[from] DatasetError),
    /// The model failed.
    #[error(transparent)]
    Target(#[from] TargetError),
    /// Not one image of the folder could be used.
    #[error(
        "none of the {images} images could be used; the first, {}, failed with: {}",
        .first.file,
        .first.reason
    )]
    NothingUsable {
        /// Images tried.
        images: usize,
        /// The first file and why it failed (boxed: errors stay small).
        first: Box<SkippedFile>,
    },
    /// A unit outside the layer.
    #[error("unit {unit} out of range for {layer} (0..{units})")]
    Unit {
        /// Layer.
        layer: String,
        /// Asked unit.
        unit: usize,
        /// Units in the layer.
        units: usize,
    },
}

/// Progress of the pass: images done of total.
pub type Progress<'a> = &'a mut dyn FnMut(usize, usize);

/// Loads the exemplars of `layer` from the cache, or computes and caches them.
/// Returns the exemplars and whether they came from the cache.
pub fn exemplars(
    model: &dyn TargetModel,
    layer: &str,
    data: &Path,
    k: usize,
    cache: Option<&Path>,
    progress: Progress<'_>,
) -> Result<(LayerExemplars, bool), ExemplarError> {
    exemplars_with(model, layer, data, k, cache, true, progress)
}

/// [`exemplars`], where `read_cache: false` recomputes even when `cache` holds the result
/// and then stores the fresh one there (`--no-cache`).
///
/// Whether cached or not, the result's [`LayerExemplars::data_dir`] is the folder asked
/// for now, made absolute: a cache entry is found by the data's content, wherever that
/// content was first read from.
pub fn exemplars_with(
    model: &dyn TargetModel,
    layer: &str,
    data: &Path,
    k: usize,
    cache: Option<&Path>,
    read_cache: bool,
    progress: Progress<'_>,
) -> Result<(LayerExemplars, bool), ExemplarError> {
    let info = model.info();
    let layer_info = info.layer(layer).ok_or_else(|| {
        let names: Vec<&str> = info.layers.iter().map(|l| l.name.as_str()).collect();
        TargetError::Unit(format!(
            "{} has no layer `{layer}`; its layers: {}",
            info.name,
            names.join(", ")
        ))
    })?;
    let dataset = Dataset::open(data)?;
    let data_dir = std::path::absolute(data).unwrap_or_else(|_| data.to_path_buf());
    let key = cache_key(model, layer, &dataset.manifest_hash(), k);
    if read_cache && let Some(mut found) = cache.and_then(|dir| cache::load(dir, &key)) {
        found.data_dir = data_dir;
        return Ok((found, true));
    }
    let units: Vec<usize> = (0..layer_info.units).collect();
    let pass = run_pass(model, layer, &units, &dataset, k, progress)?;
    if pass.skipped.len() == dataset.len()
        && let Some(first) = pass.skipped.first()
    {
        return Err(ExemplarError::NothingUsable {
            images: dataset.len(),
            first: Box::new(first.clone()),
        });
    }
    let exemplars = LayerExemplars {
        key: key.clone(),
        layer: layer.to_owned(),
        k,
        data_dir,
        images: dataset.len(),
        units: pass
            .tops
            .into_iter()
            .map(|top| {
                top.into_sorted()
                    .into_iter()
                    .map(|(activation, index)| Exemplar {
                        index,
                        file: dataset.file_name(index),
                        activation,
                    })
                    .collect()
            })
            .collect(),
        skipped: pass.skipped.len(),
        skipped_files: pass.skipped.into_iter().take(NAMED_SKIPS).collect(),
        damaged_shards: dataset.damaged().to_vec(),
    };
    if let Some(dir) = cache {
        cache::store(dir, &exemplars);
    }
    Ok((exemplars, false))
}

/// What the pass found: the top-k of every unit, and the files it skipped (in file order).
struct Pass {
    tops: Vec<TopK>,
    skipped: Vec<SkippedFile>,
}

/// One worker's answer for one batch: per image, its index and its unit maxima (or why it
/// was skipped).
type BatchResult = Result<Vec<(usize, ImageMaxima)>, ExemplarError>;

/// The streaming pass: workers compute batches, this thread keeps the top-k.
fn run_pass(
    model: &dyn TargetModel,
    layer: &str,
    units: &[usize],
    dataset: &Dataset,
    k: usize,
    progress: Progress<'_>,
) -> Result<Pass, ExemplarError> {
    let total = dataset.len();
    let batches = total.div_ceil(BATCH);
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, MAX_WORKERS)
        .min(batches.max(1));
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let mut tops: Vec<TopK> = units.iter().map(|_| TopK::new(k)).collect();
    let mut skipped = Vec::new();
    let (tx, rx) = mpsc::sync_channel::<BatchResult>(workers * 2);
    std::thread::scope(|scope| -> Result<(), ExemplarError> {
        for _ in 0..workers {
            let (tx, next, failed) = (tx.clone(), &next, &failed);
            scope.spawn(move || {
                while !failed.load(Ordering::Relaxed) {
                    let b = next.fetch_add(1, Ordering::Relaxed);
                    if b >= batches {
                        return;
                    }
                    let range = b * BATCH..((b + 1) * BATCH).min(total);
                    if tx
                        .send(compute_batch(model, layer, units, dataset, range))
                        .is_err()
                    {
                        return;
                    }
                }
            });
        }
        drop(tx);
        let mut done = 0;
        progress(0, total);
        for batch in rx {
            let batch = match batch {
                Ok(batch) => batch,
                Err(e) => {
                    failed.store(true, Ordering::Relaxed);
                    return Err(e);
                }
            };
            done += batch.len();
            for (index, maxima) in batch {
                match maxima {
                    // A broken model or input: NaN or infinite maxima rank nothing.
                    Ok(values) if values.iter().any(|v| !v.is_finite()) => {
                        skipped.push(SkippedFile {
                            file: dataset.file_name(index),
                            reason: not_finite(&values),
                        });
                    }
                    Ok(values) => {
                        for (top, value) in tops.iter_mut().zip(values) {
                            top.offer(value, index);
                        }
                    }
                    Err(e) => skipped.push(SkippedFile {
                        file: dataset.file_name(index),
                        reason: e.to_string(),
                    }),
                }
            }
            progress(done, total);
        }
        Ok(())
    })?;
    skipped.sort_by(|a: &SkippedFile, b: &SkippedFile| a.file.cmp(&b.file));
    Ok(Pass { tops, skipped })
}

/// Why an image whose unit maxima are not all finite is skipped.
fn not_finite(values: &[f32]) -> String {
    let bad = values.iter().filter(|v| !v.is_finite()).count();
    format!(
        "the model's activations are not finite (NaN or infinite) in {bad} of {} units on this image",
        values.len()
    )
}

/// Reads the files of `range` and asks the model for their unit maxima. A file that cannot
/// be read, or that the model cannot take, fails only its own entry.
fn compute_batch(
    model: &dyn TargetModel,
    layer: &str,
    units: &[usize],
    dataset: &Dataset,
    range: std::ops::Range<usize>,
) -> BatchResult {
    let mut out: Vec<(usize, ImageMaxima)> = Vec::with_capacity(range.len());
    let mut images = Vec::with_capacity(range.len());
    for index in range {
        match dataset.raw_image(index) {
            Ok(image) => images.push((index, image)),
            Err(e) => out.push((index, Err(TargetError::Input(e.to_string())))),
        }
    }
    if images.is_empty() {
        return Ok(out);
    }
    let refs: Vec<&Image> = images.iter().map(|(_, image)| image).collect();
    let maxima = model.unit_maxima(&refs, layer, units)?;
    if maxima.len() != images.len() {
        return Err(TargetError::Compute(format!(
            "the model answered for {} images when asked for {}",
            maxima.len(),
            images.len()
        ))
        .into());
    }
    out.extend(images.iter().map(|(index, _)| *index).zip(maxima));
    Ok(out)
}

impl LayerExemplars {
    /// The first `k` exemplars of each unit (as a pass with `k` would give, ties aside):
    /// one pass with more serves views that need fewer.
    pub fn truncated(&self, k: usize) -> LayerExemplars {
        if k >= self.k {
            return self.clone();
        }
        LayerExemplars {
            k,
            units: self
                .units
                .iter()
                .map(|u| u.iter().take(k).cloned().collect())
                .collect(),
            ..self.clone()
        }
    }

    /// The median over the layer's units of each unit's top activation: what "strong"
    /// means in this layer, so a unit is judged weak or dead against its neighbours, not
    /// against an absolute number. `None` for a layer with no exemplars.
    pub fn median_top_activation(&self) -> Option<f32> {
        let mut tops: Vec<f32> = self
            .units
            .iter()
            .filter_map(|u| u.first().map(|e| e.activation))
            .collect();
        if tops.is_empty() {
            return None;
        }
        tops.sort_by(f32::total_cmp);
        Some(tops[tops.len() / 2])
    }

    /// The exemplar images of `unit` with MAIA-style masks drawn over them (one forward
    /// pass over the k images).
    pub fn masked_images(
        &self,
        model: &dyn TargetModel,
        unit: usize,
    ) -> Result<Vec<(Exemplar, Image)>, ExemplarError> {
        let list = self.units.get(unit).ok_or_else(|| ExemplarError::Unit {
            layer: self.layer.clone(),
            unit,
            units: self.units.len(),
        })?;
        let dataset = Dataset::open(&self.data_dir)?;
        let images: Vec<Image> = list
            .iter()
            .map(|e| dataset.image(e.index))
            .collect::<Result<_, _>>()?;
        let refs: Vec<&Image> = images.iter().collect();
        let maps = model.activations(&refs, &self.layer, &[unit])?;
        list.iter()
            .zip(images.iter())
            .zip(maps)
            .map(|((e, image), mut per_unit)| {
                let map = per_unit
                    .pop()
                    .ok_or_else(|| TargetError::Compute("no map returned".into()))?;
                // The map covers what the model saw (a center crop, for an eval transform).
                let view = model.input_view(&image.png)?;
                let png = mask_overlay(
                    view.as_deref().unwrap_or(&image.png),
                    &map,
                    DEFAULT_TOP_QUANTILE,
                )?;
                let caption = format!(
                    "exemplar {} of {}:{} (activation {})",
                    e.file,
                    self.layer,
                    unit,
                    crate::target::format_activation(e.activation)
                );
                // The source image's meta (its class and, for shapes-world data, its scene
                // graph) travels with the masked copy, so callers need not read it again.
                let mut meta = image.meta.clone();
                meta["exemplar_of"] = format!("{}:{unit}", self.layer).into();
                meta["file"] = e.file.clone().into();
                meta["activation"] = e.activation.into();
                Ok((e.clone(), Image::new(png, caption).with_meta(meta)))
            })
            .collect()
    }
}

#[cfg(test)]
mod truncation_tests {
    use super::{Exemplar, LayerExemplars};

    #[test]
    fn a_longer_pass_truncated_keeps_each_units_first_k() {
        let unit = |n: usize| -> Vec<Exemplar> {
            (0..n)
                .map(|i| Exemplar {
                    index: i,
                    file: format!("{i}.png"),
                    activation: (n - i) as f32,
                })
                .collect()
        };
        let layer = LayerExemplars {
            key: "k".into(),
            layer: "l".into(),
            k: 5,
            data_dir: "d".into(),
            images: 9,
            units: vec![unit(5), unit(3)],
            skipped: 0,
            skipped_files: Vec::new(),
            damaged_shards: Vec::new(),
        };
        let short = layer.truncated(2);
        assert_eq!(short.k, 2);
        assert_eq!(short.units[0], unit(5)[..2].to_vec());
        assert_eq!(short.units[1].len(), 2);
        assert_eq!(layer.truncated(9), layer, "asking for more keeps all");
    }
}
