//! `--target` values: which model to open.
//!
//! - `world-cnn`, `world-vit` — the shapes world's CNN and ViT, trained on first use;
//! - `synthetic:NAME` — a catalogued synthetic unit (`maia world units` lists them);
//! - `synthetic:EXPR` — any concept expression, e.g. `synthetic:(circle|star) & !red`;
//! - `synthetic:all` — the whole catalogue as one layer, unit i = catalogue entry i;
//! - `remote:ADDR` — the model a `maia host serve` process serves (`remote:127.0.0.1:7878`,
//!   `remote:unix:/run/maia.sock`); `remote:ADDR,token-file=PATH` for a host that requires a
//!   token (else `MAIA_HOST_TOKEN` is used).

use super::{SyntheticTarget, TargetError, TargetModel};
use maia_shapes_world::{SyntheticUnit, catalogue, lookup};

/// Where `maia world train-cnn` and `train-vit` cache models (see [`crate::cache::cache_dir`]).
pub fn world_cnn_cache_dir() -> Option<std::path::PathBuf> {
    crate::cache::cache_dir("models")
}

/// The default world model of `config`'s kind from `cache`, trained there first if it is
/// not (minutes, once).
///
/// Training reports plain lines on stderr (see [`crate::world_cnn::ProgressLog`]), so a
/// command that needs the model shows what it waits for in a terminal and in a log alike.
fn world_model_trained_once(
    cache: &std::path::Path,
    config: crate::world_cnn::WorldModelConfig,
) -> Result<crate::world_cnn::TrainedWorldModel, TargetError> {
    use crate::world_cnn::{ProgressLog, cached, train_or_load_with};
    use std::time::{Duration, Instant};
    if let Some(model) = cached(cache, &config) {
        return Ok(model);
    }
    let label = config.label();
    eprintln!(
        "maia: the {label} is not trained yet; training it once into {} (a few minutes on a CPU; later runs load it)",
        cache.display()
    );
    let mut log = ProgressLog::new(Duration::from_secs(15)).with_label(label);
    let model = train_or_load_with(cache, &config, &mut |p| {
        if let Some(line) = log.line(p, Instant::now()) {
            eprintln!("maia: {line}");
        }
    })
    .map_err(|e| TargetError::Spec(format!("training the {label}: {e}")))?;
    let a = model.accuracies;
    eprintln!(
        "maia: {label} trained: held-out accuracy shape {:.1}%, color {:.1}%; cached as {}",
        a.shape * 100.0,
        a.color * 100.0,
        model.model_path.display()
    );
    Ok(model)
}

/// The world model a `--target` names, if it names one: `world-cnn` or `world-vit`, each
/// with its default config.
pub fn world_model_config(spec: &str) -> Option<crate::world_cnn::WorldModelConfig> {
    use crate::world_cnn::{WorldCnnConfig, WorldVitConfig};
    match spec.trim() {
        "world-cnn" => Some(WorldCnnConfig::default().into()),
        "world-vit" => Some(WorldVitConfig::default().into()),
        _ => None,
    }
}

/// `spec` with every file path in it made absolute against the current folder, so the
/// spec means the same from any folder (a resumed run, a batch worker started elsewhere):
/// `torch:PATH`, a bare `PATH.pt`/`.ts`/`.pth`, `remote:unix:PATH` and `,token-file=PATH`.
/// Other specs (`world-cnn`, `world-vit`, `synthetic:…`, TCP addresses) come back unchanged.
pub fn absolute_spec(spec: &str) -> String {
    let abs = |p: &str| {
        std::path::absolute(p)
            .map(|a| a.display().to_string())
            .unwrap_or_else(|_| p.to_owned())
    };
    let trimmed = spec.trim();
    if let Some(file) = trimmed.strip_prefix("torch:") {
        return format!("torch:{}", abs(file));
    }
    if let Some(rest) = trimmed.strip_prefix("remote:") {
        let (addr, options) = rest.split_once(',').unwrap_or((rest, ""));
        let addr = match addr.strip_prefix("unix:") {
            Some(path) => format!("unix:{}", abs(path)),
            None => addr.to_owned(),
        };
        let options: Vec<String> = options
            .split(',')
            .filter(|o| !o.is_empty())
            .map(|o| match o.strip_prefix("token-file=") {
                Some(path) => format!("token-file={}", abs(path)),
                None => o.to_owned(),
            })
            .collect();
        return if options.is_empty() {
            format!("remote:{addr}")
        } else {
            format!("remote:{addr},{}", options.join(","))
        };
    }
    let is_model_file = std::path::Path::new(trimmed)
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| matches!(e, "pt" | "ts" | "pth"));
    if is_model_file {
        return abs(trimmed);
    }
    spec.to_owned()
}

/// How to open a target: where a libtorch model runs, and an SAE to apply next to it.
#[derive(Clone, Debug)]
pub struct TorchOptions {
    /// `cpu`, `cuda`, `cuda:N` or `auto`.
    pub device: String,
    /// float16 on GPU.
    pub half: bool,
    /// An SAE folder in SAELens layout: its latents become units `LAYER:sae:N` of the
    /// layer it fits (see [`super::sae`]).
    pub sae: Option<std::path::PathBuf>,
    /// A file of named directions (safetensors or `.npy`): each becomes a unit
    /// `LAYER:dir:NAME` of the layer it fits (see [`super::directions`]).
    pub directions: Option<std::path::PathBuf>,
}

impl Default for TorchOptions {
    fn default() -> Self {
        TorchOptions {
            device: "auto".into(),
            half: false,
            sae: None,
            directions: None,
        }
    }
}

/// Opens the target a `--target` value names (torch models on the `auto` device).
pub fn open_target(spec: &str) -> Result<Box<dyn TargetModel>, TargetError> {
    open_target_with(spec, &TorchOptions::default())
}

/// Opens a target; `torch:FILE` (or a path to an existing `.pt`/`.ts` file) loads a
/// TorchScript model with `torch` options; `torch.sae` and `torch.directions` wrap any
/// target with an SAE's latents and named directions.
pub fn open_target_with(
    spec: &str,
    torch: &TorchOptions,
) -> Result<Box<dyn TargetModel>, TargetError> {
    let mut model = open_model(spec, torch)?;
    if let Some(dir) = &torch.sae {
        model = Box::new(super::sae::SaeTarget::new(
            model,
            super::sae::Sae::load(dir)?,
        )?);
    }
    if let Some(file) = &torch.directions {
        model = Box::new(super::directions::DirectionsTarget::new(
            model,
            super::directions::Directions::load(file)?,
        )?);
    }
    Ok(model)
}

fn open_model(spec: &str, torch: &TorchOptions) -> Result<Box<dyn TargetModel>, TargetError> {
    let spec = spec.trim();
    if let Some(addr) = spec.strip_prefix("remote:") {
        return Ok(Box::new(super::RemoteModel::connect(addr)?));
    }
    if let Some(config) = world_model_config(spec) {
        let cache = world_cnn_cache_dir().ok_or_else(|| {
            TargetError::Spec("no cache folder: set MAIA_CACHE_DIR or HOME".into())
        })?;
        let model = world_model_trained_once(&cache, config)?;
        let device = super::torch::parse_device(&torch.device)?;
        return Ok(Box::new(super::torch::TorchModel::load(
            &model.model_path,
            device,
            torch.half,
        )?));
    }
    let torch_file = spec.strip_prefix("torch:").map(str::to_owned).or_else(|| {
        let p = std::path::Path::new(spec);
        (p.is_file()
            && matches!(
                p.extension().and_then(|e| e.to_str()),
                Some("pt" | "ts" | "pth")
            ))
        .then(|| spec.to_owned())
    });
    let looks_like_a_file = std::path::Path::new(spec)
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| matches!(e, "pt" | "ts" | "pth"));
    if torch_file.is_none() && looks_like_a_file {
        return Err(TargetError::Spec(format!(
            "cannot open target `{spec}`: no such model file; give a TorchScript model as MODEL.pt or torch:MODEL.pt (with its sidecar MODEL.pt.json beside it)"
        )));
    }
    if let Some(file) = torch_file {
        let path = std::path::Path::new(&file);
        if !path.is_file() {
            return Err(TargetError::Spec(format!(
                "torch model {file} does not exist"
            )));
        }
        let device = super::torch::parse_device(&torch.device)?;
        return Ok(Box::new(super::torch::TorchModel::load(
            path, device, torch.half,
        )?));
    }
    if let Some(rest) = spec.strip_prefix("synthetic:") {
        let rest = rest.trim();
        if rest.is_empty() {
            return Err(TargetError::Spec(
                "`synthetic:` needs a unit name or a concept expression, e.g. synthetic:red_and_circle or 'synthetic:(circle|star) & !red'".into(),
            ));
        }
        if rest == "all" {
            return Ok(Box::new(SyntheticTarget::new("synthetic:all", catalogue())));
        }
        if let Some(unit) = lookup(rest) {
            return Ok(Box::new(SyntheticTarget::new(
                format!("synthetic:{rest}"),
                vec![unit],
            )));
        }
        return match SyntheticUnit::from_expr(rest) {
            Ok(unit) => Ok(Box::new(SyntheticTarget::new(
                format!("synthetic:{}", unit.name),
                vec![unit],
            ))),
            Err(e) => Err(TargetError::Spec(format!(
                "`{rest}` is neither a catalogued synthetic unit (`maia world units` lists them) nor a concept expression: {e}"
            ))),
        };
    }
    Err(TargetError::Spec(format!(
        "cannot open target `{spec}`: expected torch:MODEL.pt, world-cnn, world-vit, synthetic:NAME, synthetic:EXPR (e.g. synthetic:red, 'synthetic:circle & !red') or remote:ADDR (a `maia host serve` process, e.g. remote:127.0.0.1:7878)"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_with_paths_become_absolute_and_others_stay() {
        let cwd = std::env::current_dir().unwrap_or_else(|e| panic!("{e}"));
        let at = |p: &str| cwd.join(p).display().to_string();
        assert_eq!(
            absolute_spec("torch:../models/x.pt"),
            format!("torch:{}", at("../models/x.pt"))
        );
        assert_eq!(absolute_spec("models/x.pt"), at("models/x.pt"));
        assert_eq!(absolute_spec("torch:/abs/x.pt"), "torch:/abs/x.pt");
        assert_eq!(
            absolute_spec("remote:unix:run/maia.sock,token-file=tok"),
            format!(
                "remote:unix:{},token-file={}",
                at("run/maia.sock"),
                at("tok")
            )
        );
        for unchanged in [
            "remote:127.0.0.1:7878",
            "world-cnn",
            "synthetic:red & circle",
        ] {
            assert_eq!(absolute_spec(unchanged), unchanged);
        }
    }

    #[test]
    fn names_expressions_and_the_catalogue_open() {
        let named = open_target("synthetic:red").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(named.info().layers[0].units, 1);
        let expr = open_target("synthetic:(circle|star) & !red").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(expr.info().kind, "synthetic");
        let all = open_target("synthetic:all").unwrap_or_else(|e| panic!("{e}"));
        assert!(all.info().layers[0].units >= 60);
    }

    #[test]
    fn bad_specs_say_what_is_accepted() {
        for (spec, needle) in [
            ("synthetic:", "needs a unit name"),
            ("synthetic:circle &", "nor a concept expression"),
            ("resnet.pt", "no such model file"),
            ("torch:resnet.pt", "does not exist"),
            ("resnet", "expected torch:MODEL.pt"),
        ] {
            let msg = open_target(spec)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(msg.contains(needle), "{spec}: {msg}");
        }
    }
}
