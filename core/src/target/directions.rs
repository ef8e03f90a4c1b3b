//! Named directions as units: `LAYER:dir:NAME` is the projection of the layer's vector at
//! every position (or token) onto the direction `NAME` from `--directions FILE` — a
//! probe's weights, a difference of means — so a direction has a map, a mask and an
//! activation exactly like a channel's.
//!
//! The file:
//! - safetensors: one tensor per direction, named by the tensor (`[d]`, or `[1, d]`); a
//!   tensor of several vectors has no name for each and is refused. The optional metadata
//!   key `layer` names the layer the directions were made for.
//! - `.npy`: one vector (`[d]` or `[1, d]`), named after the file (`probe.npy` → `probe`).
//!
//! The projection is onto the unit vector, `x · v / ‖v‖`, so directions of any scale read
//! in the layer's own units. Directions are numbered in name order: `LAYER:dir:N` is the
//! `N`th name, and `maia model info --directions FILE` lists them.

use std::path::{Path, PathBuf};

use tch::{Kind, Tensor};

use super::TargetError;
use super::features::{FeatureBasis, FeatureTarget};

/// What names a directions layer: `L:dir`, so a direction is `L:dir:NAME`.
pub const DIR_SUFFIX: &str = ":dir";

/// A target model plus named directions: `L:dir:NAME` projects layer `L` onto `NAME`.
pub type DirectionsTarget = FeatureTarget<Directions>;

/// Named directions of one width, as unit vectors.
#[derive(Debug)]
pub struct Directions {
    /// The file they came from.
    pub path: PathBuf,
    /// Their names, in unit order.
    pub names: Vec<String>,
    /// Their width.
    pub d_in: i64,
    /// The layer the file says they were made for.
    pub layer: Option<String>,
    /// BLAKE3 of the file.
    pub hash: String,
    /// `[d_in, n]`: one unit vector per column.
    matrix: Tensor,
}

// SAFETY: as for the SAE's weights: the matrix is built in `Directions::load` and only
// ever read afterwards, by libtorch operators that allocate their results.
unsafe impl Sync for Directions {}

fn bad(path: &Path, what: impl std::fmt::Display) -> TargetError {
    TargetError::Spec(format!("directions {}: {what}", path.display()))
}

impl Directions {
    /// Reads a directions file (safetensors or `.npy`).
    pub fn load(path: &Path) -> Result<Directions, TargetError> {
        let bytes = std::fs::read(path).map_err(|e| {
            bad(
                path,
                format!(
                    "cannot read it ({e}); --directions names a safetensors file (one named tensor per direction) or a .npy file of one vector"
                ),
            )
        })?;
        let hash = blake3::hash(&bytes).to_hex()[..16].to_owned();
        let npy = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("npy"));
        let (vectors, layer) = if npy {
            (read_npy(path)?, None)
        } else {
            read_safetensors(path, &bytes)?
        };
        let Some((_, first)) = vectors.first() else {
            return Err(bad(path, "it holds no tensors"));
        };
        let d_in = first.size()[0];
        let mut named: Vec<(String, Tensor)> = Vec::with_capacity(vectors.len());
        for (name, vector) in vectors {
            if vector.size()[0] != d_in {
                return Err(bad(
                    path,
                    format!(
                        "`{name}` has {} values but `{}` has {d_in}; every direction in one file has the layer's width",
                        vector.size()[0],
                        named.first().map_or("the first", |(n, _)| n.as_str())
                    ),
                ));
            }
            if vector.isfinite().all().int64_value(&[]) != 1 {
                return Err(bad(path, format!("`{name}` holds NaN or infinite values")));
            }
            let norm = vector.norm().double_value(&[]);
            if norm == 0.0 {
                return Err(bad(
                    path,
                    format!("`{name}` is the zero vector, which has no direction"),
                ));
            }
            named.push((name, vector / norm));
        }
        named.sort_by(|a, b| a.0.cmp(&b.0));
        let columns: Vec<Tensor> = named.iter().map(|(_, v)| v.shallow_clone()).collect();
        let matrix = Tensor::stack(&columns, 1).contiguous();
        Ok(Directions {
            path: path.to_path_buf(),
            names: named.into_iter().map(|(n, _)| n).collect(),
            d_in,
            layer,
            hash,
            matrix,
        })
    }

    /// Where they came from and what they are, in one line.
    pub fn describe(&self) -> String {
        format!(
            "directions {} ({} of width {}{})",
            self.path.display(),
            self.names.len(),
            self.d_in,
            self.layer
                .as_deref()
                .map(|l| format!(", made for {l}"))
                .unwrap_or_default()
        )
    }
}

/// One vector from a tensor of shape `[d]` or `[1, d]`, as float32; anything else is
/// refused with `several` saying what to do instead.
fn one_vector(
    path: &Path,
    name: &str,
    tensor: Tensor,
    several: &str,
) -> Result<Tensor, TargetError> {
    if !matches!(
        tensor.kind(),
        Kind::Float | Kind::Double | Kind::Half | Kind::BFloat16
    ) {
        return Err(bad(
            path,
            format!(
                "`{name}` is {:?}; directions must be floating point",
                tensor.kind()
            ),
        ));
    }
    let size = tensor.size();
    let vector = match size.as_slice() {
        [d] if *d > 0 => tensor,
        [1, d] if *d > 0 => tensor.view([*d]),
        [n, d] if *n > 1 && *d > 0 => {
            return Err(bad(
                path,
                format!("`{name}` holds {n} vectors of width {d} and no name for each; {several}"),
            ));
        }
        other => {
            return Err(bad(
                path,
                format!("`{name}` has shape {other:?}; a direction is a vector [d] (or [1, d])"),
            ));
        }
    };
    Ok(vector.to_kind(Kind::Float).contiguous())
}

type Named = (Vec<(String, Tensor)>, Option<String>);

fn read_safetensors(path: &Path, bytes: &[u8]) -> Result<Named, TargetError> {
    let not = |e: &dyn std::fmt::Display| {
        bad(
            path,
            format!(
                "not a safetensors file ({e}); write one with safetensors' save_file({{name: vector, ...}}), or give a .npy file"
            ),
        )
    };
    let (_, metadata) = safetensors::SafeTensors::read_metadata(bytes).map_err(|e| not(&e))?;
    let layer = metadata
        .metadata()
        .as_ref()
        .and_then(|m| m.get("layer"))
        .filter(|l| !l.is_empty())
        .cloned();
    let parsed = safetensors::SafeTensors::deserialize(bytes).map_err(|e| not(&e))?;
    let mut vectors = Vec::new();
    for (name, view) in parsed.tensors() {
        let tensor = Tensor::try_from(view).map_err(|e| not(&e))?;
        let vector = one_vector(
            path,
            &name,
            tensor,
            "save each direction as its own named tensor",
        )?;
        vectors.push((name, vector));
    }
    Ok((vectors, layer))
}

fn read_npy(path: &Path) -> Result<Vec<(String, Tensor)>, TargetError> {
    let tensor = Tensor::read_npy(path).map_err(|e| {
        bad(
            path,
            format!("not a .npy array maia can read ({e}); save it with numpy.save"),
        )
    })?;
    let name = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "direction".to_owned());
    let vector = one_vector(
        path,
        &name,
        tensor,
        "a .npy file holds one direction, named after the file; put several in a safetensors file, one named tensor each",
    )?;
    Ok(vec![(name, vector)])
}

impl FeatureBasis for Directions {
    fn suffix(&self) -> &'static str {
        DIR_SUFFIX
    }

    fn label(&self) -> String {
        format!("directions {}", self.path.display())
    }

    fn d_in(&self) -> i64 {
        self.d_in
    }

    fn count(&self) -> usize {
        self.names.len()
    }

    fn names(&self) -> Vec<String> {
        self.names.clone()
    }

    fn hook_name(&self) -> Option<&str> {
        self.layer.as_deref()
    }

    fn hash(&self) -> &str {
        &self.hash
    }

    fn encode(&self, x: &Tensor) -> Tensor {
        x.matmul(&self.matrix)
    }
}
