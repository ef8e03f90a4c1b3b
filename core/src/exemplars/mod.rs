//! Dataset exemplars: one streaming pass over an image folder computes the top-k images
//! of *every* unit of a layer at once (MAIA's `dataset_exemplars`). Decoding runs on a
//! reader thread while the model computes, and the result is cached on disk keyed by the
//! model's fingerprint, the layer, the dataset's content hash and k, so asking again is
//! instant. Masks are drawn on request, for the unit asked about.

mod cache;
mod dataset;
mod topk;

pub use cache::{cache_dir, cache_key};
pub use dataset::{Dataset, DatasetError};
pub use topk::TopK;

use crate::target::mask::{DEFAULT_TOP_QUANTILE, mask_overlay};
use crate::target::{TargetError, TargetModel};
use maia_plugin_sdk::Image;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::mpsc;

/// Exemplars kept per unit unless asked otherwise (MAIA uses 15).
pub const DEFAULT_K: usize = 15;

/// Images per forward pass in the exemplar pass.
const BATCH: usize = 32;

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
    /// Dataset folder, as given.
    pub data_dir: PathBuf,
    /// Images in the dataset.
    pub images: usize,
    /// Per unit, its exemplars, highest activation first.
    pub units: Vec<Vec<Exemplar>>,
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
    let key = cache_key(model, layer, &dataset.content_hash()?, k);
    if let Some(found) = cache.and_then(|dir| cache::load(dir, &key)) {
        return Ok((found, true));
    }
    let units: Vec<usize> = (0..layer_info.units).collect();
    let mut tops: Vec<TopK> = units.iter().map(|_| TopK::new(k)).collect();
    let total = dataset.len();
    let (tx, rx) = mpsc::sync_channel::<Result<Vec<(usize, Image)>, DatasetError>>(2);
    let result = std::thread::scope(|scope| -> Result<(), ExemplarError> {
        let reader = &dataset;
        scope.spawn(move || {
            for start in (0..total).step_by(BATCH) {
                let batch: Result<Vec<(usize, Image)>, DatasetError> = (start
                    ..(start + BATCH).min(total))
                    .map(|i| reader.image(i).map(|img| (i, img)))
                    .collect();
                let failed = batch.is_err();
                if tx.send(batch).is_err() || failed {
                    return;
                }
            }
        });
        let mut done = 0;
        progress(0, total);
        for batch in rx {
            let batch = batch?;
            let refs: Vec<&Image> = batch.iter().map(|(_, img)| img).collect();
            let maps = model.activations(&refs, layer, &units)?;
            for ((index, _), per_unit) in batch.iter().zip(maps) {
                for (top, map) in tops.iter_mut().zip(per_unit) {
                    top.offer(map.max(), *index);
                }
            }
            done += batch.len();
            progress(done, total);
        }
        Ok(())
    });
    result?;
    let exemplars = LayerExemplars {
        key: key.clone(),
        layer: layer.to_owned(),
        k,
        data_dir: data.to_path_buf(),
        images: total,
        units: tops
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
    };
    if let Some(dir) = cache {
        cache::store(dir, &exemplars);
    }
    Ok((exemplars, false))
}

impl LayerExemplars {
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
                let map = per_unit.pop().ok_or_else(|| TargetError::Compute("no map returned".into()))?;
                let png = mask_overlay(&image.png, &map, DEFAULT_TOP_QUANTILE)?;
                let caption = format!("exemplar {} of {}:{} (activation {:.3})", e.file, self.layer, unit, e.activation);
                Ok((e.clone(), Image::new(png, caption).with_meta(serde_json::json!({"exemplar_of": format!("{}:{unit}", self.layer), "file": e.file, "activation": e.activation}))))
            })
            .collect()
    }
}
