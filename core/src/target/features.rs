//! Units that are features of a layer rather than its channels: a [`FeatureBasis`] (an
//! SAE's latents, a file of named directions) maps the layer's vector at every spatial
//! position or token to one value per feature, and [`FeatureTarget`] adds the companion
//! layer `L{suffix}` whose units are those features, with a map, a mask and an activation
//! exactly like a channel's.

use maia_plugin_sdk::Image;
use tch::{Kind, Tensor};

use super::{ImageMaxima, LayerInfo, ModelInfo, TargetError, TargetModel, UnitMap, UnitRef};

/// Features computed from a layer's vectors, position by position.
pub trait FeatureBasis: Send + Sync {
    /// What names the companion layer: `L{suffix}` (`:sae`, `:dir`).
    fn suffix(&self) -> &'static str;
    /// What the features are, for messages (`SAE /path`, `directions /path`).
    fn label(&self) -> String;
    /// Width of the vectors it reads.
    fn d_in(&self) -> i64;
    /// Number of features.
    fn count(&self) -> usize;
    /// Feature names, one per feature, or empty where features are numbered only.
    fn names(&self) -> Vec<String>;
    /// The layer it was made for, if it says.
    fn hook_name(&self) -> Option<&str>;
    /// A short hash of its content, for caches and resumes.
    fn hash(&self) -> &str;
    /// Features of `x` (`[..., positions, d_in]`, float32, CPU): `[..., positions, count]`.
    fn encode(&self, x: &Tensor) -> Tensor;

    /// Each feature's maximum over the positions of each image of `x` (`[images,
    /// positions, d_in]`): `[images, count]`. Bases whose maxima need less than the full
    /// encoding (TopK's few nonzero values) override it.
    fn maxima(&self, x: &Tensor) -> Tensor {
        self.encode(x).amax([1i64].as_slice(), false)
    }
}

/// At most this many feature values (`images × positions × count`) are computed at once
/// by the bulk path, about 256 MB of float32.
const BULK_VALUES: i64 = 1 << 26;

/// A target model plus a feature basis: `L{suffix}:N` is feature `N` over layer `L`;
/// every other unit is the inner model's.
pub struct FeatureTarget<B: FeatureBasis> {
    inner: Box<dyn TargetModel>,
    basis: B,
    info: ModelInfo,
}

/// The layer suffixes of every feature kind, so one basis never reads another's layer.
pub const FEATURE_SUFFIXES: [&str; 2] = [super::sae::SAE_SUFFIX, super::directions::DIR_SUFFIX];

fn is_feature_layer(name: &str) -> bool {
    FEATURE_SUFFIXES.iter().any(|s| name.ends_with(s))
}

impl<B: FeatureBasis> FeatureTarget<B> {
    /// Wraps `inner` with `basis`. The basis applies to the layer its `hook_name` names
    /// when the model has one, else to every layer whose width is its `d_in`; none
    /// fitting is an error naming the widths.
    pub fn new(inner: Box<dyn TargetModel>, basis: B) -> Result<FeatureTarget<B>, TargetError> {
        let layers = &inner.info().layers;
        let by_hook: Vec<&LayerInfo> = basis
            .hook_name()
            .and_then(|h| layers.iter().find(|l| l.name == h))
            .into_iter()
            .collect();
        if let Some(layer) = by_hook.first()
            && layer.units as i64 != basis.d_in()
        {
            return Err(width_mismatch(&basis, layer));
        }
        let fitting: Vec<&LayerInfo> = if by_hook.is_empty() {
            layers
                .iter()
                .filter(|l| l.units as i64 == basis.d_in() && !is_feature_layer(&l.name))
                .collect()
        } else {
            by_hook
        };
        if fitting.is_empty() {
            let widths: Vec<String> = layers
                .iter()
                .map(|l| format!("{} {}", l.name, l.units))
                .collect();
            return Err(bad(
                &basis,
                format!(
                    "d_in = {} fits no layer of {} (widths: {}){}",
                    basis.d_in(),
                    inner.info().name,
                    widths.join(", "),
                    trained_on(&basis)
                ),
            ));
        }
        let mut info = inner.info().clone();
        let mut with_features = Vec::with_capacity(info.layers.len() + fitting.len());
        for layer in &info.layers {
            with_features.push(layer.clone());
            if fitting.iter().any(|f| f.name == layer.name) {
                with_features.push(LayerInfo {
                    name: format!("{}{}", layer.name, basis.suffix()),
                    units: basis.count(),
                    unit_names: basis.names(),
                    ..layer.clone()
                });
            }
        }
        info.layers = with_features;
        Ok(FeatureTarget { inner, basis, info })
    }

    /// The feature basis.
    pub fn basis(&self) -> &B {
        &self.basis
    }

    /// The base layer of a feature layer name, checked: `Ok(None)` for a layer that is
    /// not one of this basis' layers.
    fn base<'a>(&self, layer: &'a str) -> Result<Option<&'a str>, TargetError> {
        let Some(base) = layer.strip_suffix(self.basis.suffix()) else {
            return Ok(None);
        };
        if self.info.layer(layer).is_some() {
            return Ok(Some(base));
        }
        match self.inner.info().layer(base) {
            Some(info) if info.units as i64 != self.basis.d_in() => {
                Err(width_mismatch(&self.basis, info))
            }
            Some(_) => Err(bad(
                &self.basis,
                format!(
                    "it was made for `{}`, not `{base}`; its units are {}",
                    self.basis.hook_name().unwrap_or("another layer"),
                    self.feature_layers().join(", ")
                ),
            )),
            None => {
                // The inner model names its layers in its own error.
                UnitRef {
                    layer: base.to_owned(),
                    unit: 0,
                }
                .validate(self.inner.info())?;
                Ok(None)
            }
        }
    }

    fn feature_layers(&self) -> Vec<String> {
        self.info
            .layers
            .iter()
            .filter(|l| l.name.ends_with(self.basis.suffix()))
            .map(|l| format!("{}:0..{}", l.name, l.units))
            .collect()
    }

    fn check_units(&self, layer: &str, units: &[usize]) -> Result<(), TargetError> {
        for &unit in units {
            UnitRef {
                layer: layer.to_owned(),
                unit,
            }
            .validate(&self.info)?;
        }
        Ok(())
    }

    /// The vectors of every position of `base` on each image: `[positions, d_in]` each,
    /// with the map's width and height.
    fn vectors(
        &self,
        images: &[&Image],
        base: &str,
    ) -> Result<Vec<(Tensor, u32, u32)>, TargetError> {
        let d_in = self.basis.d_in();
        let channels: Vec<usize> = (0..d_in as usize).collect();
        let maps = self.inner.activations(images, base, &channels)?;
        Ok(maps
            .into_iter()
            .map(|per_channel| {
                let (width, height) = per_channel.first().map_or((1, 1), |m| (m.width, m.height));
                let positions = i64::from(width * height);
                let mut flat = Vec::with_capacity(per_channel.len() * positions as usize);
                for map in &per_channel {
                    flat.extend_from_slice(&map.values);
                }
                // [d_in, P] -> [P, d_in]
                let x = Tensor::from_slice(&flat)
                    .view([d_in, positions])
                    .transpose(0, 1)
                    .contiguous();
                (x, width, height)
            })
            .collect())
    }

    /// Every feature's maximum over the positions of `base` on each image, the images
    /// encoded together in groups that bound the memory the encoding takes.
    fn maxima(&self, images: &[&Image], base: &str) -> Result<Vec<Tensor>, TargetError> {
        let vectors = self.vectors(images, base)?;
        let _no_grad = tch::no_grad_guard();
        let count = self.basis.count().max(1) as i64;
        let mut out = Vec::with_capacity(vectors.len());
        let mut start = 0;
        while start < vectors.len() {
            let positions = vectors[start].0.size()[0];
            let per_image = (positions * count).max(1);
            let group = (BULK_VALUES / per_image).max(1) as usize;
            // Images of one map size stack into one batch.
            let end = (start + 1..vectors.len().min(start + group))
                .find(|&i| vectors[i].0.size()[0] != positions)
                .unwrap_or(vectors.len().min(start + group));
            let batch: Vec<Tensor> = vectors[start..end]
                .iter()
                .map(|(x, _, _)| x.shallow_clone())
                .collect();
            let maxima = self.basis.maxima(&Tensor::stack(&batch, 0));
            out.extend((0..(end - start) as i64).map(|i| maxima.get(i)));
            start = end;
        }
        Ok(out)
    }
}

fn trained_on(basis: &impl FeatureBasis) -> String {
    basis
        .hook_name()
        .map(|h| format!("; it says it was made for `{h}`"))
        .unwrap_or_default()
}

fn bad(basis: &impl FeatureBasis, what: impl std::fmt::Display) -> TargetError {
    TargetError::Spec(format!("{}: {what}", basis.label()))
}

fn width_mismatch(basis: &impl FeatureBasis, layer: &LayerInfo) -> TargetError {
    bad(
        basis,
        format!(
            "d_in = {} does not match layer `{}`, which has {} units{}",
            basis.d_in(),
            layer.name,
            layer.units,
            trained_on(basis)
        ),
    )
}

fn index(units: &[usize]) -> Tensor {
    Tensor::from_slice(&units.iter().map(|&u| u as i64).collect::<Vec<_>>())
}

impl<B: FeatureBasis> TargetModel for FeatureTarget<B> {
    fn info(&self) -> &ModelInfo {
        &self.info
    }

    fn activations(
        &self,
        images: &[&Image],
        layer: &str,
        units: &[usize],
    ) -> Result<Vec<Vec<UnitMap>>, TargetError> {
        let Some(base) = self.base(layer)? else {
            return self.inner.activations(images, layer, units);
        };
        self.check_units(layer, units)?;
        let picked = index(units);
        let _no_grad = tch::no_grad_guard();
        self.vectors(images, base)?
            .into_iter()
            .map(|(x, width, height)| {
                // [P, U] -> [U, P]: one map per unit.
                let chosen = self
                    .basis
                    .encode(&x)
                    .index_select(1, &picked)
                    .transpose(0, 1)
                    .contiguous()
                    .to_kind(Kind::Float);
                let values = Vec::<f32>::try_from(chosen.flatten(0, -1))
                    .map_err(|e| TargetError::Compute(e.to_string()))?;
                let per = (width * height) as usize;
                Ok(values
                    .chunks(per.max(1))
                    .map(|v| UnitMap {
                        width,
                        height,
                        values: v.to_vec(),
                    })
                    .collect())
            })
            .collect()
    }

    fn fingerprint(&self) -> String {
        format!(
            "{}+{}:{}",
            self.inner.fingerprint(),
            self.basis.suffix().trim_start_matches(':'),
            self.basis.hash()
        )
    }

    fn ground_truth(&self, unit: &UnitRef) -> Option<String> {
        self.inner.ground_truth(unit)
    }

    fn input_view(&self, image: &[u8]) -> Result<Option<Vec<u8>>, TargetError> {
        self.inner.input_view(image)
    }

    fn unit_maxima(
        &self,
        images: &[&Image],
        layer: &str,
        units: &[usize],
    ) -> Result<Vec<ImageMaxima>, TargetError> {
        let Some(base) = self.base(layer)? else {
            return self.inner.unit_maxima(images, layer, units);
        };
        self.check_units(layer, units)?;
        // Bulk passes call this from one thread per core: the encoding stays on this one.
        let _threads = crate::target::torch::OneIntraOpThread::new();
        let picked = index(units);
        let maxima = |images: &[&Image]| -> Result<Vec<Vec<f32>>, TargetError> {
            self.maxima(images, base)?
                .into_iter()
                .map(|max| {
                    Vec::<f32>::try_from(max.index_select(0, &picked))
                        .map_err(|e| TargetError::Compute(e.to_string()))
                })
                .collect()
        };
        crate::target::isolating_bad_images(images, maxima)
    }
}
