//! Target models on libtorch: a TorchScript file plus a sidecar JSON that says how to feed
//! it and how to read what it returns.
//!
//! Two sidecar formats are understood (`<model>.json` beside `<model>`):
//! - `maia-model` (what users export, see the README's recipe): `forward` takes a
//!   normalized `[N, 3, S, S]` float batch and returns `Dict[str, Tensor]` of named layer
//!   outputs (`[N, C, H, W]` feature maps or `[N, C]` vectors);
//! - `maia-world-cnn` (the CNN `maia world train-cnn` and the ViT `maia world train-vit`
//!   train): `forward` returns one packed tensor that
//!   [`crate::world_cnn::Sidecar::unpack_one`] splits into named outputs; the ViT's token
//!   outputs carry their layout.
//!
//! Runs on `cuda:N` when asked and available, else CPU; batched; no grad; optional half
//! precision on GPU. Layers and their shapes are learned by one probe forward at load.
//! Images are decoded and resized in Rust ([`Preprocess`]), on the calling thread.
//!
//! A loaded module is shared, not locked: libtorch runs a TorchScript module's forward from
//! several threads at once, which is how a bulk pass ([`TargetModel::unit_maxima`]) keeps
//! every core busy with a small model. Such a call runs its forward on one intra-op thread
//! (libtorch's OpenMP pool slows down many times over when it competes with other busy
//! threads for the cores); a single [`activations`](TargetModel::activations) call keeps
//! libtorch's default, every core.

mod device;
mod layout;
mod model_spec;
mod preprocess;
mod resample;

pub use device::parse_device;
pub use layout::LayerLayout;
pub use model_spec::{ModelSidecar, SIDECAR_FORMAT};
pub use preprocess::Preprocess;
pub use resample::{EvalTransform, Interpolation};

use super::{ImageMaxima, LayerInfo, ModelInfo, TargetError, TargetModel, UnitMap};
use crate::world_cnn::Sidecar as WorldSidecar;
use layout::{CLASS_TOKEN_SUFFIX, Layout};
use maia_plugin_sdk::Image;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use tch::{CModule, Device, IValue, Kind, Tensor};

/// Images per forward pass.
pub const DEFAULT_BATCH: usize = 32;

enum Outputs {
    Dict,
    Packed(Box<WorldSidecar>),
}

/// A TorchScript model loaded with tch.
pub struct TorchModel {
    module: CModule,
    outputs: Outputs,
    preprocess: Preprocess,
    device: Device,
    half: bool,
    batch: usize,
    info: ModelInfo,
    /// How each layer that is not a plain map reads as maps (empty while probing).
    layouts: HashMap<String, Layout>,
    file_hash: String,
}

fn compute(e: impl std::fmt::Display) -> TargetError {
    TargetError::Compute(e.to_string())
}

impl TorchModel {
    /// Loads `path` and its sidecar onto `device`; `half` runs in float16 (GPU only).
    pub fn load(path: &Path, device: Device, half: bool) -> Result<Self, TargetError> {
        if !path.is_file() {
            return Err(TargetError::Spec(format!(
                "{}: no such model file; export one with scripts/export_model.py (see the README's export recipe)",
                path.display()
            )));
        }
        let sidecar_path = WorldSidecar::path_for(path);
        let text = std::fs::read_to_string(&sidecar_path).map_err(|e| {
            TargetError::Spec(format!(
                "{}: cannot read the model's sidecar {} ({e}); export the model with its sidecar (see the README's export recipe)",
                path.display(),
                sidecar_path.display()
            ))
        })?;
        let json = serde_json::from_str::<serde_json::Value>(&text).map_err(|e| {
            TargetError::Spec(format!(
                "{}: not valid JSON ({e}); export the model again to rewrite its sidecar",
                sidecar_path.display()
            ))
        })?;
        let format = json
            .get("format")
            .and_then(|f| f.as_str())
            .unwrap_or_default()
            .to_owned();
        let (outputs, preprocess, wanted_layers, declared) = match format.as_str() {
            crate::world_cnn::SIDECAR_FORMAT => {
                let sidecar = WorldSidecar::parse(&text)
                    .map_err(|r| TargetError::Spec(format!("{}: {r}", sidecar_path.display())))?;
                sidecar
                    .verify_model(path)
                    .map_err(|e| TargetError::Spec(e.to_string()))?;
                let pre = Preprocess {
                    size: sidecar.input.size,
                    mean: sidecar.input.mean,
                    std: sidecar.input.std,
                    // Trained on area-resized images rounded to whole bytes.
                    round_to_bytes: sidecar.input.resize == "area",
                    eval: None,
                };
                let layers: Vec<String> = sidecar.outputs.iter().map(|o| o.name.clone()).collect();
                // The world ViT's blocks say their token layout; the CNN's maps need none.
                let declared = sidecar
                    .outputs
                    .iter()
                    .filter_map(|o| o.layout.map(|l| (o.name.clone(), l)))
                    .collect();
                (
                    Outputs::Packed(Box::new(sidecar)),
                    pre,
                    Some(layers),
                    declared,
                )
            }
            SIDECAR_FORMAT => {
                let spec = ModelSidecar::parse(&text)
                    .map_err(|r| TargetError::Spec(format!("{}: {r}", sidecar_path.display())))?;
                let pre = Preprocess {
                    size: spec.input.size,
                    mean: spec.input.mean,
                    std: spec.input.std,
                    round_to_bytes: false,
                    eval: spec.input.eval_transform(),
                };
                (
                    Outputs::Dict,
                    pre,
                    spec.layers.clone(),
                    spec.layouts.clone(),
                )
            }
            other => {
                return Err(TargetError::Spec(format!(
                    "{}: unknown sidecar format `{other}`; expected `{SIDECAR_FORMAT}` or `{}`",
                    sidecar_path.display(),
                    crate::world_cnn::SIDECAR_FORMAT
                )));
            }
        };
        if half && !device.is_cuda() {
            return Err(TargetError::Spec(
                "--half needs a CUDA device; float16 on CPU is slow and inexact".into(),
            ));
        }
        let mut module = CModule::load_on_device(path, device).map_err(|e| {
            if let Some(kind) = checkpoint_kind(path) {
                return TargetError::Spec(format!(
                    "{}: this is {kind}, not TorchScript; maia loads a scripted or traced module: export it with torch.jit.script (or torch.jit.trace) and .save(), as scripts/export_model.py and the README's export recipe do",
                    path.display()
                ));
            }
            // libtorch's message ends in a C++ stack trace; its first line says it all.
            let text = e.to_string();
            let first = text.lines().next().unwrap_or_default().to_owned();
            TargetError::Spec(format!(
                "{}: not a loadable TorchScript module: {first}",
                path.display()
            ))
        })?;
        module.set_eval();
        if half {
            module.to(device, Kind::Half, false);
        }
        let bytes = std::fs::read(path)
            .map_err(|e| TargetError::Spec(format!("{}: {e}", path.display())))?;
        let file_hash = blake3::hash(&bytes).to_hex().to_string();
        let mut model = TorchModel {
            module,
            outputs,
            preprocess,
            device,
            half,
            batch: DEFAULT_BATCH,
            info: ModelInfo {
                name: path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                kind: "torch".into(),
                input_size: 0,
                device: device_name(device),
                layers: Vec::new(),
            },
            layouts: HashMap::new(),
            file_hash,
        };
        model.info.input_size = model.preprocess.size;
        let (layers, layouts) = model.probe_layers(wanted_layers.as_deref(), &declared)?;
        model.info.layers = layers;
        model.layouts = layouts;
        Ok(model)
    }

    /// Sets the number of images per forward pass.
    pub fn with_batch(mut self, batch: usize) -> Self {
        self.batch = batch.max(1);
        self
    }

    /// BLAKE3 of the TorchScript file (part of the exemplar cache key).
    pub fn file_hash(&self) -> &str {
        &self.file_hash
    }

    /// The preprocessing the model expects.
    pub fn preprocess(&self) -> &Preprocess {
        &self.preprocess
    }

    /// Every exposed layer's shape, from one forward on zeros, read as maps: its units, its
    /// map size and (for tokens and channels-last outputs) how to turn it into maps.
    fn probe_layers(
        &self,
        wanted: Option<&[String]>,
        declared: &BTreeMap<String, LayerLayout>,
    ) -> Result<(Vec<LayerInfo>, HashMap<String, Layout>), TargetError> {
        let s = i64::from(self.preprocess.size);
        let zeros = Tensor::zeros([1, 3, s, s], (Kind::Float, Device::Cpu));
        let named = self.forward_all(&zeros)?;
        let order: Vec<String> = match wanted {
            Some(w) => w.to_vec(),
            None => named.iter().map(|(n, _)| n.clone()).collect(),
        };
        if let Some(unknown) = declared.keys().find(|name| !order.contains(name)) {
            return Err(TargetError::Spec(format!(
                "the sidecar declares a layout for `{unknown}`, which is not one of its layers ({})",
                order.join(", ")
            )));
        }
        let mut layouts = HashMap::new();
        let layers = order
            .iter()
            .map(|name| {
                let (_, t) = named.iter().find(|(n, _)| n == name).ok_or_else(|| {
                    TargetError::Spec(format!(
                        "the sidecar names layer `{name}` but the model does not return it"
                    ))
                })?;
                let resolved = layout::resolve(name, &t.size(), declared.get(name).copied())?;
                let mut infos = vec![LayerInfo {
                    name: name.clone(),
                    units: resolved.units,
                    map_height: resolved.height,
                    map_width: resolved.width,
                    tokens: None,
                    unit_names: Vec::new(),
                }];
                match resolved.layout {
                    Layout::Maps => {}
                    Layout::Tokens(grid) => {
                        infos[0].tokens = Some(grid);
                        // The class token, as its own layer of scalar units.
                        if grid.prefix > 0 {
                            let cls = format!("{name}{CLASS_TOKEN_SUFFIX}");
                            layouts.insert(cls.clone(), Layout::ClassToken);
                            infos.push(LayerInfo {
                                name: cls,
                                units: resolved.units,
                                map_height: 1,
                                map_width: 1,
                                tokens: None,
                                unit_names: Vec::new(),
                            });
                        }
                    }
                    Layout::ChannelsLast | Layout::ClassToken => {}
                }
                if resolved.layout != Layout::Maps {
                    layouts.insert(name.clone(), resolved.layout);
                }
                Ok(infos)
            })
            .collect::<Result<Vec<_>, TargetError>>()?;
        Ok((layers.into_iter().flatten().collect(), layouts))
    }

    /// Runs the model on a normalized CPU batch; every named output, as float on CPU.
    fn forward_all(&self, batch: &Tensor) -> Result<Vec<(String, Tensor)>, TargetError> {
        self.forward_layers(batch, None)
    }

    /// Runs the model on a normalized CPU batch and returns `layer`'s output read as maps,
    /// as float on the model's device (`[N, C, H, W]` or `[N, C]`). A class-token layer
    /// (`NAME:cls`) reads token 0 of `NAME`'s output.
    fn forward_layer(&self, batch: &Tensor, layer: &str) -> Result<Tensor, TargetError> {
        let layout = self.layouts.get(layer).copied().unwrap_or(Layout::Maps);
        let source = match layout {
            Layout::ClassToken => layer.strip_suffix(CLASS_TOKEN_SUFFIX).unwrap_or(layer),
            _ => layer,
        };
        let raw = self
            .forward_layers(batch, Some(source))?
            .pop()
            .map(|(_, t)| t)
            .ok_or_else(|| compute(format!("the model did not return layer `{source}`")))?;
        Ok(layout.to_maps(raw))
    }

    /// The named outputs of one forward pass as the model returns them (not yet read as
    /// maps): all of them, or only `only`. Every output comes back as float on the CPU when
    /// `only` is `None`, on the model's device else.
    fn forward_layers(
        &self,
        batch: &Tensor,
        only: Option<&str>,
    ) -> Result<Vec<(String, Tensor)>, TargetError> {
        let mut input = batch.to_device(self.device);
        if self.half {
            input = input.to_kind(Kind::Half);
        }
        let out =
            tch::no_grad(|| self.module.forward_is(&[IValue::Tensor(input)])).map_err(compute)?;
        let wanted = |name: &str| only.is_none_or(|o| o == name);
        let finish = |t: Tensor| {
            let t = t.to_kind(Kind::Float);
            if only.is_none() {
                t.to_device(Device::Cpu)
            } else {
                t
            }
        };
        match (&self.outputs, out) {
            (Outputs::Dict, IValue::GenericDict(pairs)) => pairs
                .into_iter()
                .filter(|(k, _)| !matches!(k, IValue::String(name) if !wanted(name)))
                .map(|(k, v)| match (k, v) {
                    (IValue::String(name), IValue::Tensor(t)) => Ok((name, finish(t))),
                    (k, _) => Err(TargetError::Spec(format!(
                        "the model's output dict has a non-tensor entry {k:?}"
                    ))),
                })
                .collect(),
            (Outputs::Packed(sidecar), IValue::Tensor(packed)) => {
                let packed = packed.to_kind(Kind::Float);
                sidecar
                    .outputs
                    .iter()
                    .filter(|o| wanted(&o.name))
                    .map(|o| {
                        sidecar
                            .unpack_one(&packed, &o.name)
                            .map(|t| (o.name.clone(), finish(t)))
                            .map_err(compute)
                    })
                    .collect()
            }
            (Outputs::Dict, other) => Err(TargetError::Spec(format!(
                "forward returned {} but a maia-model must return Dict[str, Tensor] of layer outputs",
                ivalue_kind(&other)
            ))),
            (Outputs::Packed(_), other) => Err(TargetError::Spec(format!(
                "forward returned {} but a world CNN returns one packed tensor",
                ivalue_kind(&other)
            ))),
        }
    }

    /// Decodes, resizes and normalizes images into one `[N, 3, S, S]` float batch.
    pub fn input_batch(&self, images: &[&Image]) -> Result<Tensor, TargetError> {
        let mut values = Vec::with_capacity(images.len() * self.preprocess.input_len());
        for image in images {
            self.preprocess
                .append(&image.png, &mut values)
                .map_err(|e| TargetError::Input(format!("{}: {e}", name_of(image))))?;
        }
        Ok(self.batch_tensor(&values, images.len()))
    }

    /// `[n, 3, S, S]` from preprocessed values.
    fn batch_tensor(&self, values: &[f32], n: usize) -> Tensor {
        let s = i64::from(self.preprocess.size);
        Tensor::from_slice(values).view([n as i64, 3, s, s])
    }

    /// Checks `units` exist in `layer`.
    fn validate(&self, layer: &str, units: &[usize]) -> Result<(), TargetError> {
        if self.info.layer(layer).is_none() || units.is_empty() {
            // Reports the missing layer (with the list of layers) even when no unit is asked.
            super::UnitRef {
                layer: layer.to_owned(),
                unit: 0,
            }
            .validate(&self.info)?;
        }
        for &unit in units {
            super::UnitRef {
                layer: layer.to_owned(),
                unit,
            }
            .validate(&self.info)?;
        }
        Ok(())
    }
}

/// How errors name an image: its id, else its caption (a dataset file's name).
fn name_of(image: &Image) -> &str {
    if !image.id.is_unassigned() {
        image.id.as_str()
    } else if !image.caption.is_empty() {
        &image.caption
    } else {
        "an image"
    }
}

/// While alive, this thread's libtorch CPU ops use one intra-op thread: bulk passes run one
/// call per core instead. libtorch keeps the count per thread, but setting it also sets the
/// default of threads that start later, so the guard puts the previous count back.
pub(crate) struct OneIntraOpThread(Option<i32>);

impl OneIntraOpThread {
    pub(crate) fn new() -> Self {
        let before = tch::get_num_threads();
        if before == 1 {
            return OneIntraOpThread(None);
        }
        tch::set_num_threads(1);
        OneIntraOpThread(Some(before))
    }
}

impl Drop for OneIntraOpThread {
    fn drop(&mut self) {
        if let Some(before) = self.0 {
            tch::set_num_threads(before);
        }
    }
}

fn ivalue_kind(v: &IValue) -> &'static str {
    match v {
        IValue::Tensor(_) => "a tensor",
        IValue::Tuple(_) => "a tuple",
        IValue::GenericList(_) | IValue::TensorList(_) => "a list",
        IValue::GenericDict(_) => "a dict",
        _ => "another value",
    }
}

/// `cpu` / `cuda:N`.
pub fn device_name(device: Device) -> String {
    match device {
        Device::Cuda(n) => format!("cuda:{n}"),
        Device::Mps => "mps".into(),
        _ => "cpu".into(),
    }
}

impl TargetModel for TorchModel {
    fn info(&self) -> &ModelInfo {
        &self.info
    }

    fn fingerprint(&self) -> String {
        let mut fingerprint = format!(
            "torch:{}:{:?}:half={}",
            self.file_hash, self.preprocess, self.half
        );
        // How tokens are read changes the maps; models without such layers keep their
        // fingerprint (and their cached exemplars).
        if !self.layouts.is_empty() {
            let sorted: BTreeMap<&String, &Layout> = self.layouts.iter().collect();
            fingerprint.push_str(&format!(":layouts={sorted:?}"));
        }
        fingerprint
    }

    fn input_view(&self, image: &[u8]) -> Result<Option<Vec<u8>>, TargetError> {
        self.preprocess.view(image).map_err(TargetError::Input)
    }

    fn activations(
        &self,
        images: &[&Image],
        layer: &str,
        units: &[usize],
    ) -> Result<Vec<Vec<UnitMap>>, TargetError> {
        self.validate(layer, units)?;
        let index = Tensor::from_slice(&units.iter().map(|&u| u as i64).collect::<Vec<_>>())
            .to_device(self.device);
        let mut result = Vec::with_capacity(images.len());
        for chunk in images.chunks(self.batch) {
            let batch = self.input_batch(chunk)?;
            let out = self.forward_layer(&batch, layer)?;
            let out = if out.dim() == 2 {
                out.unsqueeze(-1).unsqueeze(-1)
            } else {
                out
            };
            let picked = out
                .index_select(1, &index)
                .to_device(Device::Cpu)
                .contiguous();
            let (n, c, h, w) = {
                let s = picked.size();
                (s[0] as usize, s[1] as usize, s[2] as u32, s[3] as u32)
            };
            let flat: Vec<f32> = Vec::<f32>::try_from(picked.flatten(0, -1)).map_err(compute)?;
            let per = (h * w) as usize;
            for i in 0..n {
                result.push(
                    (0..c)
                        .map(|u| {
                            let start = (i * c + u) * per;
                            UnitMap {
                                width: w,
                                height: h,
                                values: flat[start..start + per].to_vec(),
                            }
                        })
                        .collect(),
                );
            }
        }
        Ok(result)
    }

    fn unit_maxima(
        &self,
        images: &[&Image],
        layer: &str,
        units: &[usize],
    ) -> Result<Vec<ImageMaxima>, TargetError> {
        self.validate(layer, units)?;
        let _threads = (self.device == Device::Cpu).then(OneIntraOpThread::new);
        let index = Tensor::from_slice(&units.iter().map(|&u| u as i64).collect::<Vec<_>>())
            .to_device(self.device);
        let mut result: Vec<ImageMaxima> = Vec::with_capacity(images.len());
        for chunk in images.chunks(self.batch) {
            // Images that do not decode get their error; the others run together.
            let mut values = Vec::with_capacity(chunk.len() * self.preprocess.input_len());
            let mut good = Vec::with_capacity(chunk.len());
            for image in chunk {
                match self.preprocess.append(&image.png, &mut values) {
                    Ok(()) => {
                        good.push(result.len());
                        result.push(Ok(Vec::new()));
                    }
                    Err(e) => {
                        result.push(Err(TargetError::Input(format!("{}: {e}", name_of(image)))))
                    }
                }
            }
            if good.is_empty() {
                continue;
            }
            let out = self.forward_layer(&self.batch_tensor(&values, good.len()), layer)?;
            let maxima = if out.dim() == 4 {
                out.amax([2, 3], false)
            } else {
                out
            };
            let picked = maxima
                .index_select(1, &index)
                .to_device(Device::Cpu)
                .contiguous();
            let flat = Vec::<f32>::try_from(picked.flatten(0, -1)).map_err(compute)?;
            for (row, &at) in flat.chunks_exact(units.len().max(1)).zip(&good) {
                result[at] = Ok(row.to_vec());
            }
        }
        Ok(result)
    }
}

/// What a file that `torch.load` reads but TorchScript cannot is, if it is one: a
/// `torch.save` zip (a `data.pkl` and no `code/` folder, which every TorchScript archive
/// has) or a legacy pickle. Zip entry names are stored uncompressed, so a byte search of
/// the file finds them.
fn checkpoint_kind(path: &Path) -> Option<&'static str> {
    let bytes = std::fs::read(path).ok()?;
    let has = |needle: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
    if bytes.starts_with(b"PK\x03\x04") {
        return (has(b"data.pkl") && !has(b"/code/"))
            .then_some("a torch.save checkpoint (a state dict or a pickled module)");
    }
    // Pickle protocol 2+ starts with PROTO (0x80) and its version.
    (bytes.first() == Some(&0x80)).then_some("a pickled torch.save file")
}
