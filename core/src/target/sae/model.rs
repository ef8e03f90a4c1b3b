//! A target with an SAE applied next to it: every layer the SAE fits gains a companion
//! layer `L:sae` whose units are the SAE's latents over `L`'s positions (or tokens).

use super::{Sae, bad};
use crate::target::{
    ImageMaxima, LayerInfo, ModelInfo, TargetError, TargetModel, UnitMap, UnitRef,
};
use maia_plugin_sdk::Image;
use tch::{Kind, Tensor};

/// What names an SAE's companion layer: `L:sae`, so that its latents are `L:sae:N`.
pub const SAE_SUFFIX: &str = ":sae";

/// A target model plus an SAE: `L:sae:N` is latent `N` of the SAE over layer `L`; every
/// other unit is the inner model's.
pub struct SaeTarget {
    inner: Box<dyn TargetModel>,
    sae: Sae,
    info: ModelInfo,
}

impl SaeTarget {
    /// Wraps `inner` with `sae`. The SAE applies to the layer its `hook_name` names when
    /// the model has one, else to every layer whose width is its `d_in`; none fitting is an
    /// error naming the widths.
    pub fn new(inner: Box<dyn TargetModel>, sae: Sae) -> Result<SaeTarget, TargetError> {
        let layers = &inner.info().layers;
        let by_hook: Vec<&LayerInfo> = sae
            .hook_name
            .as_deref()
            .and_then(|h| layers.iter().find(|l| l.name == h))
            .into_iter()
            .collect();
        if let Some(layer) = by_hook.first()
            && layer.units as i64 != sae.d_in
        {
            return Err(width_mismatch(&sae, layer));
        }
        let fitting: Vec<&LayerInfo> = if by_hook.is_empty() {
            layers
                .iter()
                .filter(|l| l.units as i64 == sae.d_in && !l.name.ends_with(SAE_SUFFIX))
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
                &sae.dir,
                format!(
                    "d_in = {} fits no layer of {} (widths: {}){}",
                    sae.d_in,
                    inner.info().name,
                    widths.join(", "),
                    trained_on(&sae)
                ),
            ));
        }
        let mut info = inner.info().clone();
        let mut with_latents = Vec::with_capacity(info.layers.len() + fitting.len());
        for layer in &info.layers {
            with_latents.push(layer.clone());
            if fitting.iter().any(|f| f.name == layer.name) {
                with_latents.push(LayerInfo {
                    name: format!("{}{SAE_SUFFIX}", layer.name),
                    units: sae.d_sae as usize,
                    ..layer.clone()
                });
            }
        }
        info.layers = with_latents;
        Ok(SaeTarget { inner, sae, info })
    }

    /// The SAE.
    pub fn sae(&self) -> &Sae {
        &self.sae
    }

    /// The base layer of an SAE layer name, checked: `Ok(None)` for a layer that is not
    /// an SAE layer.
    fn base<'a>(&self, layer: &'a str) -> Result<Option<&'a str>, TargetError> {
        let Some(base) = layer.strip_suffix(SAE_SUFFIX) else {
            return Ok(None);
        };
        if self.info.layer(layer).is_some() {
            return Ok(Some(base));
        }
        match self.inner.info().layer(base) {
            Some(info) if info.units as i64 != self.sae.d_in => {
                Err(width_mismatch(&self.sae, info))
            }
            Some(_) => Err(bad(
                &self.sae.dir,
                format!(
                    "it was trained on `{}`, not `{base}`; its latents are {}",
                    self.sae.hook_name.as_deref().unwrap_or("another layer"),
                    self.sae_layers().join(", ")
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

    fn sae_layers(&self) -> Vec<String> {
        self.info
            .layers
            .iter()
            .filter(|l| l.name.ends_with(SAE_SUFFIX))
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

    /// The latents of every position of `base` on each image: `[positions, d_sae]` each.
    fn latents(
        &self,
        images: &[&Image],
        base: &str,
    ) -> Result<Vec<(Tensor, u32, u32)>, TargetError> {
        let channels: Vec<usize> = (0..self.sae.d_in as usize).collect();
        let maps = self.inner.activations(images, base, &channels)?;
        let _no_grad = tch::no_grad_guard();
        maps.into_iter()
            .map(|per_channel| {
                let (width, height) = per_channel.first().map_or((1, 1), |m| (m.width, m.height));
                let positions = (width * height) as i64;
                let mut flat = Vec::with_capacity(per_channel.len() * positions as usize);
                for map in &per_channel {
                    flat.extend_from_slice(&map.values);
                }
                // [d_in, P] -> [P, d_in]
                let x = Tensor::from_slice(&flat)
                    .view([self.sae.d_in, positions])
                    .transpose(0, 1)
                    .contiguous();
                Ok((self.sae.encode(&x), width, height))
            })
            .collect()
    }
}

fn trained_on(sae: &Sae) -> String {
    sae.hook_name
        .as_deref()
        .map(|h| format!("; its hook_name says it was trained on `{h}`"))
        .unwrap_or_default()
}

fn width_mismatch(sae: &Sae, layer: &LayerInfo) -> TargetError {
    bad(
        &sae.dir,
        format!(
            "d_in = {} does not match layer `{}`, which has {} units{}",
            sae.d_in,
            layer.name,
            layer.units,
            trained_on(sae)
        ),
    )
}

fn index(units: &[usize]) -> Tensor {
    Tensor::from_slice(&units.iter().map(|&u| u as i64).collect::<Vec<_>>())
}

impl TargetModel for SaeTarget {
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
        self.latents(images, base)?
            .into_iter()
            .map(|(latents, width, height)| {
                // [P, U] -> [U, P]: one map per unit.
                let chosen = latents
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
        format!("{}+sae:{}", self.inner.fingerprint(), self.sae.hash)
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
            self.latents(images, base)?
                .into_iter()
                .map(|(latents, _, _)| {
                    let max = latents
                        .amax([0i64].as_slice(), false)
                        .index_select(0, &picked);
                    Vec::<f32>::try_from(max).map_err(|e| TargetError::Compute(e.to_string()))
                })
                .collect()
        };
        crate::target::isolating_bad_images(images, maxima)
    }
}
