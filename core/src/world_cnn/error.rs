//! Why training, exporting or loading the world CNN failed.

use std::path::PathBuf;

use maia_shapes_world::RenderError;

/// Why the world CNN could not be trained, written, or read back.
#[derive(Debug, thiserror::Error)]
pub enum WorldCnnError {
    /// A configuration value is out of range.
    #[error("world CNN config: {field} = {value} is invalid; {hint}")]
    Config {
        /// The offending field.
        field: &'static str,
        /// Its value, as written.
        value: String,
        /// What would be accepted.
        hint: &'static str,
    },
    /// A tensor or name handed to the sidecar helpers does not fit the model.
    #[error("{what} {got} does not fit the world CNN; {hint}")]
    Input {
        /// What was passed ("image batch", "packed output", "output name").
        what: &'static str,
        /// What it was.
        got: String,
        /// What fits.
        hint: &'static str,
    },
    /// A training or held-out scene could not be drawn.
    #[error(
        "cannot render scene {index} of world seed {seed}: {source}; this is a bug in the shapes world, please report it"
    )]
    Render {
        /// Scene index.
        index: usize,
        /// World seed of the scene.
        seed: u64,
        /// The cause.
        source: RenderError,
    },
    /// libtorch refused an operation.
    #[error(
        "libtorch failed while {doing}: {source}; run 'maia doctor' to check the libtorch this build links"
    )]
    Torch {
        /// What was being done.
        doing: &'static str,
        /// The cause.
        source: tch::TchError,
    },
    /// The loss stopped being a finite number.
    #[error(
        "training diverged: the loss became {loss} at epoch {epoch}, step {step}; lower learning_rate (now {learning_rate})"
    )]
    Diverged {
        /// The loss value.
        loss: f64,
        /// 1-based epoch.
        epoch: usize,
        /// 1-based step within the epoch.
        step: usize,
        /// The configured learning rate.
        learning_rate: f64,
    },
    /// A file or directory could not be read or written.
    #[error(
        "cannot {doing} {path}: {source}; check that the directory exists and is writable, or choose another cache directory"
    )]
    Io {
        /// What was being done ("write", "create directory", …).
        doing: &'static str,
        /// The path.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A sidecar file is not a world CNN sidecar this version understands.
    #[error(
        "{path} is not a usable world CNN sidecar: {reason}; delete it and the model next to it to retrain"
    )]
    Sidecar {
        /// The sidecar path.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
}

impl WorldCnnError {
    pub(crate) fn torch(doing: &'static str) -> impl FnOnce(tch::TchError) -> WorldCnnError {
        move |source| WorldCnnError::Torch { doing, source }
    }

    pub(crate) fn io(
        doing: &'static str,
        path: &std::path::Path,
    ) -> impl FnOnce(std::io::Error) -> WorldCnnError {
        let path = path.to_path_buf();
        move |source| WorldCnnError::Io {
            doing,
            path,
            source,
        }
    }
}
